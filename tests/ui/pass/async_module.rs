// A module built with `.await`, its `async fn` operations, and the futures `Send`.

#[lmms::module(name = "orders")]
pub struct Orders {
    rows: Vec<u32>,
}

impl lmms::AsyncLoad for Orders {
    type Error = std::io::Error;
    async fn load() -> Result<Self, Self::Error> {
        Ok(Orders { rows: vec![1, 2] })
    }

    fn close(self) -> Option<lmms::state::Closing> {
        Some(Box::pin(async move { drop(self.rows) }))
    }
}

#[lmms::operation(interface = "orders")]
pub async fn count(orders: &Orders) -> usize {
    orders.rows.len()
}

#[lmms::operation(interface = "orders", cache_ttl = "1m")]
pub async fn nth(orders: &Orders, index: usize) -> Result<u32, String> {
    orders.rows.get(index).copied().ok_or_else(|| format!("no row {index}"))
}

fn is_send<T: Send>(_: T) {}

fn main() {
    is_send(count::call());
    is_send(nth::call(0));
    is_send(Orders::get_async());
    is_send(lmms::state::load_together(&[Orders::cell_ref()]));
}

trait CellRef {
    fn cell_ref() -> &'static dyn lmms::state::Preload;
}

impl CellRef for Orders {
    fn cell_ref() -> &'static dyn lmms::state::Preload {
        <Orders as lmms::Module>::cell()
    }
}

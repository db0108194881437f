// An operation on a module built with `.await` must be an `async fn`.

#[lmms::module]
pub struct Orders {
    rows: Vec<u32>,
}

impl lmms::AsyncLoad for Orders {
    type Error = std::convert::Infallible;
    async fn load() -> Result<Self, Self::Error> {
        Ok(Orders { rows: vec![1, 2] })
    }
}

#[lmms::operation(interface = "orders")]
pub fn count(orders: &Orders) -> usize {
    orders.rows.len()
}

fn main() {}

#[lmms::operation(interface = "geo", cache_ttl = "1m")]
fn distance(km: f32) -> f32 {
    km * 2.0
}

#[lmms::operation(interface = "geo", cache_ttl = "1m")]
fn leg(point: (f64, f64)) -> usize {
    point.0 as usize
}

fn main() {}

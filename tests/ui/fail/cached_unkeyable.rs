#[lmms::operation(interface = "geo", cache_ttl = "1m")]
fn distance(km: f32) -> f32 {
    km * 2.0
}

#[lmms::operation(interface = "geo", cache_ttl = "1m")]
fn route(points: Vec<(f64, f64)>) -> usize {
    points.len()
}

fn main() {}

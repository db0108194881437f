#[lmms::module]
fn weather() {}

fn main() {}

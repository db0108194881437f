#[lmms::module]
struct Weather;

fn main() {}

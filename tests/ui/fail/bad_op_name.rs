#[lmms::operation(interface = "weather", name = "get.forecast")]
fn forecast(days: u8) -> u8 {
    days
}

#[lmms::operation(interface = "x²", name = "square")]
fn square(x: u8) -> u8 {
    x
}

fn main() {}

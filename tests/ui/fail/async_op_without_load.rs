// The same mistake with an `async fn` operation: one error, at the module.

#[lmms::module]
pub struct Weather {
    days: Vec<u32>,
}

#[lmms::operation(interface = "weather")]
pub async fn hottest(weather: &Weather) -> u32 {
    weather.days.iter().copied().max().unwrap_or(0)
}

fn main() {}

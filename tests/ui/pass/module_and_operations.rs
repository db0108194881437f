//! The shapes the attributes accept: a module with every key, a cached operation, one with
//! the defaults, a stateless one, an enum module, and a nested Rust module.

use std::convert::Infallible;

#[lmms::module(class = "core", grace = "250ms", name = "weather")]
pub struct Weather {
    table: Vec<u64>,
}

impl lmms::Load for Weather {
    type Error = Infallible;
    fn load() -> Result<Self, Infallible> {
        Ok(Weather { table: vec![1, 2, 3] })
    }
}

#[lmms::operation(interface = "weather", name = "forecast", cache_ttl = "1h")]
pub fn forecast(weather: &Weather, city: String, days: u8) -> u64 {
    weather.table[usize::from(days)] + city.len() as u64
}

#[lmms::operation]
fn total(weather: &Weather) -> u64 {
    weather.table.iter().sum()
}

#[lmms::operation(cache_ttl = "300s")]
fn square(x: u64) -> u64 {
    x * x
}

#[lmms::module(class = "feature")]
enum Mode {
    Fast,
}

impl lmms::Load for Mode {
    type Error = std::io::Error;
    fn load() -> Result<Self, std::io::Error> {
        Ok(Mode::Fast)
    }
}

mod tools {
    #[lmms::operation]
    pub(crate) fn shout(text: String) -> String {
        text.to_uppercase()
    }
}

fn main() -> Result<(), lmms::Error> {
    assert_eq!(forecast::call("Oslo".into(), 1)?, 6);
    assert_eq!(total::call()?, 6);
    assert_eq!(square::call(12)?, 144);
    assert_eq!(tools::shout::call("hi".into())?, "HI");
    assert!(matches!(*Mode::get()?, Mode::Fast));
    assert!(Weather::is_resident());
    assert_eq!(forecast::OP.def().interface(), "weather");
    assert_eq!(tools::shout::OP.def().interface(), "tools");
    Ok(())
}

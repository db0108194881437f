#[lmms::module]
pub struct Weather;

impl lmms::Load for Weather {
    type Error = std::convert::Infallible;
    fn load() -> Result<Self, Self::Error> {
        Ok(Weather)
    }
}

#[lmms::operation]
fn forecast(weather: Weather, days: u8) -> u8 {
    let _ = weather;
    days
}

fn main() {}

#[lmms::module]
struct Weather;
impl lmms::Load for Weather {
    type Error = std::convert::Infallible;
    fn load() -> Result<Self, Self::Error> { Ok(Weather) }
}

#[lmms::operation]
fn forecast(weather: &Weather, city: &str) -> usize { let _ = weather; city.len() }

fn main() {}

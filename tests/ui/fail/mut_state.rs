#[lmms::module]
struct Weather;
impl lmms::Load for Weather {
    type Error = std::convert::Infallible;
    fn load() -> Result<Self, Self::Error> { Ok(Weather) }
}

#[lmms::operation]
fn reset(weather: &mut Weather) { let _ = weather; }

fn main() {}

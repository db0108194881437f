#[lmms::module(clas = "core", class = "sometimes", grace = "soon", name = "")]
struct Weather;
impl lmms::Load for Weather {
    type Error = std::convert::Infallible;
    fn load() -> Result<Self, Self::Error> { Ok(Weather) }
}

fn main() {}

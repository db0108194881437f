// A module that says neither how to build its state (`lmms::Load`) nor how to build it with
// `.await` (`lmms::AsyncLoad`), used by a synchronous operation: one error, at the module,
// that says to implement one of them.

#[lmms::module]
pub struct Weather {
    days: Vec<u32>,
}

#[lmms::operation(interface = "weather")]
pub fn hottest(weather: &Weather) -> u32 {
    weather.days.iter().copied().max().unwrap_or(0)
}

fn main() {}

#[lmms::operation]
struct Forecast;

fn main() {}

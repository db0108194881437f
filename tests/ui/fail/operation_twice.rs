#[lmms::operation]
#[lmms::operation]
fn ping() -> u8 { 0 }

fn main() {}

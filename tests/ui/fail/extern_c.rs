#[lmms::operation]
extern "C" fn answer() -> u32 { 42 }

fn main() {}

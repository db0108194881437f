#[lmms::operation]
async fn fetch() -> u8 { 0 }

fn main() {}

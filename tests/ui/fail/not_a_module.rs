struct Settings;

#[lmms::operation]
fn read(settings: &Settings) -> u8 { let _ = settings; 0 }

fn main() {}

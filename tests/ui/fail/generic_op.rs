#[lmms::operation]
fn echo<T>(value: T) -> T { value }

fn main() {}

#[lmms::module]
struct Table<T>(Vec<T>);

fn main() {}

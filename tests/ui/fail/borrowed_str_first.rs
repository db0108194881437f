#[lmms::operation]
fn length(text: &str) -> usize {
    text.len()
}

fn main() {}

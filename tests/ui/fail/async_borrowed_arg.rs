#[lmms::operation]
async fn fetch(id: u32, url: &str) -> usize {
    url.len() + id as usize
}

fn main() {}

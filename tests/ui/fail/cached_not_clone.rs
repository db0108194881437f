// A cached operation's output is handed out again from the cache: it must be `Clone`.

pub struct Report {
    pub lines: Vec<String>,
}

#[lmms::operation(cache_ttl = "5m")]
pub fn report(days: u8) -> Report {
    Report { lines: vec![days.to_string()] }
}

fn main() {}

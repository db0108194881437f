#[lmms::operation(interface = "market", cache_errors = "true")]
fn quote(symbol: String) -> Result<u32, String> {
    Ok(symbol.len() as u32)
}

#[lmms::operation(interface = "market", cache_ttl = "1m", cache_errors = "sometimes")]
fn price(symbol: String) -> Result<u32, String> {
    Ok(symbol.len() as u32)
}

fn main() {}

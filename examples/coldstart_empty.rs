//! The cold-start benchmark's anchor: an empty `main` (printing as the others do).
//! Run by `cargo run --release --example coldstart`.

#[path = "coldstart/rss.rs"]
mod rss;

fn main() {
    println!("ready");
    println!("{}", rss::peak_rss_kib());
}

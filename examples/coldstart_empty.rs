//! The cold-start benchmark's anchor: an empty `main` (printing as the others do).
//! Run by `cargo run --release -p lmms-examples --example coldstart`.

use lmms_examples::rss;

fn main() {
    println!("ready");
    println!("{}", rss::peak_rss_kib());
}

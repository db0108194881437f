//! The cold-start benchmark's framework-cost binary: 50 modules and 500 operations
//! declared, none called. Run by `cargo run --release -p lmms-examples --example coldstart`.
#![allow(dead_code)]

#[path = "coldstart/app.rs"]
mod app;
use lmms_examples::rss;

fn main() {
    println!("ready");
    println!("{}", rss::peak_rss_kib());
}

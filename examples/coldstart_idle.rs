//! The cold-start benchmark's framework-cost binary: 50 modules and 500 operations
//! declared, none called. Run by `cargo run --release --example coldstart`.
#![allow(dead_code)]

#[path = "coldstart/app.rs"]
mod app;
#[path = "coldstart/rss.rs"]
mod rss;

fn main() {
    println!("ready");
    println!("{}", rss::peak_rss_kib());
}

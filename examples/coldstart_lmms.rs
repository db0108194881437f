//! The cold-start benchmark's lmms binary: the request loads the two modules it uses.
//! Run by `cargo run --release -p lmms-examples --example coldstart`.
#![allow(dead_code)]

#[path = "coldstart/app.rs"]
mod app;
use lmms_examples::rss;

fn main() {
    println!("{}", app::serve());
    println!("{}", rss::peak_rss_kib());
}

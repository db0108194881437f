//! The cold-start benchmark's eager binary: every module built in `main`, then the request.
//! Run by `cargo run --release -p lmms-examples --example coldstart`.
#![allow(dead_code)]

#[path = "coldstart/app.rs"]
mod app;
use lmms_examples::rss;

fn main() {
    let states = app::load_everything();
    println!("{}", app::serve_eager(&states));
    println!("{}", rss::peak_rss_kib());
}

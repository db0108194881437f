//! An empty `main`: the baseline that `startup` is measured against.
//!
//! `cargo run --release -p lmms-examples --example empty`

fn main() {}

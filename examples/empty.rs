//! An empty `main`: the baseline that `startup` is measured against.
//!
//! `cargo run --release --example empty`

fn main() {}

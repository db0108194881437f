//! What lmms's examples share: the peak resident set they print.
//!
//! The examples are a package of their own (`cargo run --release -p lmms-examples
//! --example smart_home`), so that running one builds lmms and what that example needs,
//! not the dependencies of lmms's tests and benches.

#[path = "coldstart/rss.rs"]
pub mod rss;

//! The function of twelve modules as a Rust function holds its state today: a `LazyLock`
//! per module, built on first use and never dropped.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use lmms_example_lambda::twelve::{self, State};
use serde_json::Value;
use std::sync::LazyLock;

static STATES: [LazyLock<State>; twelve::MODULES] = [
    LazyLock::new(|| twelve::build(0)),
    LazyLock::new(|| twelve::build(1)),
    LazyLock::new(|| twelve::build(2)),
    LazyLock::new(|| twelve::build(3)),
    LazyLock::new(|| twelve::build(4)),
    LazyLock::new(|| twelve::build(5)),
    LazyLock::new(|| twelve::build(6)),
    LazyLock::new(|| twelve::build(7)),
    LazyLock::new(|| twelve::build(8)),
    LazyLock::new(|| twelve::build(9)),
    LazyLock::new(|| twelve::build(10)),
    LazyLock::new(|| twelve::build(11)),
];

async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(twelve::serve(&event.payload, |i| &*STATES[i]).await?)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handler)).await
}

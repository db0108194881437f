//! The smallest function with lmms around it, as the README sets it up: what
//! `lmms_lambda::run` adds to a start-up and to an invocation (`tests/coldstart.py`).

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[global_allocator]
static ALLOC: lmms::memory::CountingAlloc = lmms::memory::CountingAlloc;

async fn echo(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lmms_lambda::run(service_fn(echo)).await
}

//! The smallest function, with `lambda_runtime::run` alone: the anchor of what
//! `lmms_lambda::run` adds to a start-up and to an invocation (`tests/coldstart.py`).

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

async fn echo(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(echo)).await
}

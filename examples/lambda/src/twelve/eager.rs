//! The function of twelve modules with every module built in `main`, before the first
//! invocation, and held for the life of the process.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use lmms_example_lambda::twelve::{self, State};
use serde_json::Value;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut states = Vec::new();
    for i in 0..twelve::MODULES {
        states.push(match i {
            4..=7 => twelve::on_the_blocking_pool(i).await,
            _ => twelve::build(i),
        });
    }
    let states: Arc<Vec<State>> = Arc::new(states);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let states = Arc::clone(&states);
        async move { Ok::<_, Error>(twelve::serve(&event.payload, |i| &states[i]).await?) }
    }))
    .await
}

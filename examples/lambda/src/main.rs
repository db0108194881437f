//! The function: lmms around the handler, the DynamoDB client built in the init when
//! provisioned concurrency runs it ahead of the first request.

use lambda_runtime::{service_fn, Error};
use lmms_example_lambda::Devices;

// Measures what each module's load kept and each unload freed: the EMF line's bytes and
// the memory budget are the heap's.
#[global_allocator]
static ALLOC: lmms::memory::CountingAlloc = lmms::memory::CountingAlloc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    // First, before anything uses lmms: the settings and the memory budget.
    let function = lmms_lambda::Function::from_env()?;
    // A provisioned environment's init runs before any request arrives, and its time is
    // not a caller's: the client every write needs is built there. An on-demand init
    // leaves it to the first request that needs it.
    if std::env::var("AWS_LAMBDA_INITIALIZATION_TYPE").as_deref() == Ok("provisioned-concurrency") {
        drop(Devices::get_async().await?);
    }
    function
        .on_shutdown(|| async { println!("smart-home: the shutdown hook ran") })
        // One invocation at a time on classic Lambda; `AWS_LAMBDA_MAX_CONCURRENCY` at once
        // on Lambda Managed Instances.
        .run_concurrent(service_fn(lmms_example_lambda::handler))
        .await
}

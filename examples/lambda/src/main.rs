//! The Lambda function's entry point.

use lambda_runtime::{service_fn, Error};

// Measures what each module's load kept and each unload freed, so that the EMF line's
// byte figures are the heap's, not unknown.
#[global_allocator]
static ALLOC: lmms::memory::CountingAlloc = lmms::memory::CountingAlloc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(lmms_example_lambda::handler)).await
}

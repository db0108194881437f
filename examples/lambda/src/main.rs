//! The function: lmms around the handler in one line.

use lambda_runtime::{service_fn, Error};

// Measures what each module's load kept and each unload freed: the EMF line's bytes and
// the memory budget are the heap's.
#[global_allocator]
static ALLOC: lmms::memory::CountingAlloc = lmms::memory::CountingAlloc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lmms_lambda::run(service_fn(lmms_example_lambda::handler)).await
}

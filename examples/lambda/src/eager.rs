//! The same function with its state built before the first invocation, as a function
//! without lmms builds it in `main`: the baseline of the cold-start figures
//! (BENCHMARKS.md, issue 19).

use lambda_runtime::{service_fn, Error};
use lmms_example_lambda::{Devices, Energy, Weather};

#[global_allocator]
static ALLOC: lmms::memory::CountingAlloc = lmms::memory::CountingAlloc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    // Every client and table, held for the life of the process.
    let _devices = Devices::get_async().await?;
    let _weather = Weather::get()?;
    let _energy = Energy::get()?;
    lambda_runtime::run(service_fn(lmms_example_lambda::handler)).await
}

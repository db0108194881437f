//! [lmms](https://docs.rs/lmms) on AWS Lambda, around a `lambda_runtime` handler in one line:
//!
//! ```no_run
//! use lambda_runtime::{service_fn, Error, LambdaEvent};
//!
//! async fn handler(event: LambdaEvent<serde_json::Value>) -> Result<serde_json::Value, Error> {
//!     Ok(event.payload) // route to lmms operations here: `lmms::execute_async(...)`
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Error> {
//!     lmms_lambda::run(service_fn(handler)).await
//! }
//! ```
//!
//! What it adds to the function:
//! - **a sweep after every invocation**, once its response is posted and before the next
//!   is asked for, and the invocation's figures as a CloudWatch EMF line on stdout (loads,
//!   unloads, bytes, cache hits; CloudWatch Logs turns them into metrics with no agent):
//!   the [`Lifecycle`] layer, which a function that builds its own
//!   `lambda_runtime::Runtime` adds with `.layer(lmms_lambda::Lifecycle::new())`;
//! - **a memory budget** from the function's memory size: [`SHARE`] of
//!   `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` less the process's resident set at start
//!   ([`runtime_from_env`]; `LMMS_MEMORY_BUDGET` overrides it). lmms keeps it when a module
//!   loads, so the peak, which decides the memory setting and whether the sandbox is
//!   killed, stays within the budget plus the largest module while one invocation runs at
//!   a time and what it holds at once fits;
//! - **a clean exit**: on `SIGTERM` every module is unloaded and its close awaited within
//!   Lambda's shutdown window ([`shutdown`]).
//!
//! Install [`lmms::memory::CountingAlloc`] as the global allocator for the bytes to be
//! measured: without it nothing measures a module, so no budget is set (the start-up line
//! says so) and the EMF line has no byte figures.

#![deny(missing_docs)]

mod budget;
mod lifecycle;
mod run;

pub use crate::budget::{budget, runtime_and_budget_from_env, runtime_from_env, Budget, SHARE};
pub use crate::lifecycle::{Lifecycle, LifecycleFuture, LifecycleService};
pub use crate::run::{run, shutdown, SHUTDOWN_WINDOW};

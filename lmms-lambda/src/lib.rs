//! [lmms](https://docs.rs/lmms) on AWS Lambda, around a `lambda_runtime` handler in one line:
//!
//! ```no_run
//! use lambda_runtime::{service_fn, LambdaEvent};
//! use lmms_lambda::HandlerError;
//!
//! // Measures what each module's load keeps and each unload frees: the memory budget and
//! // the reports' bytes are the heap's.
//! #[global_allocator]
//! static ALLOC: lmms::memory::CountingAlloc = lmms::memory::CountingAlloc;
//!
//! async fn handler(event: LambdaEvent<serde_json::Value>) -> Result<serde_json::Value, HandlerError> {
//!     Ok(event.payload) // route to lmms operations here: `lmms::execute_async(...)`
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), lambda_runtime::Error> {
//!     lmms_lambda::run(service_fn(handler)).await
//! }
//! ```
//!
//! What it adds to the function:
//! - **a sweep after every invocation**, once its response is posted and before the next
//!   is asked for, and what lmms did as a CloudWatch EMF line on stdout (loads, unloads,
//!   bytes, load times, cache hits, a cold start and what its init loaded; CloudWatch Logs
//!   turns them into metrics with no agent), or on the application's own
//!   `metrics_cloudwatch_embedded` line (feature `metrics`): the [`Lifecycle`] layer;
//! - **a memory budget** from the function's memory size: [`SHARE`] of
//!   `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` less the process's resident set at start
//!   ([`runtime_from_env`]; `LMMS_MEMORY_BUDGET` overrides it). lmms keeps it when a module
//!   loads, so the peak, which decides the memory setting and whether the sandbox is
//!   killed, stays within the budget plus the largest module while one invocation runs at
//!   a time and what it holds at once fits;
//! - **init-phase loading**: [`Function`] sets the runtime up first, so that `main` can load
//!   modules before the first request, with the environment's settings;
//! - **a clean exit**: on `SIGTERM` the application's hook, then every module unloaded and
//!   its close awaited within Lambda's shutdown window ([`Function::on_shutdown`],
//!   [`shutdown`]);
//! - **errors that keep their kind**: a handler that returns [`HandlerError`] has Lambda's
//!   `errorType` say `lmms.UnknownOperation`, `lmms.BadArguments`, `lmms.OperationFailed`
//!   ([`error_type`]);
//! - **concurrent invocations** on Lambda Managed Instances (feature `concurrency-tokio`,
//!   `Function::run_concurrent`).
//!
//! Install [`lmms::memory::CountingAlloc`] as the global allocator, as above, for the bytes
//! to be measured: without it nothing measures a module, so no budget is set (the start-up
//! line says so) and the reports have no byte figures.

#![deny(missing_docs)]

mod budget;
mod error;
mod function;
mod lifecycle;
mod report;
mod shutdown;

pub use crate::budget::{budget, runtime_and_budget_from_env, runtime_from_env, Budget, SHARE};
pub use crate::error::{error_type, HandlerError};
pub use crate::function::Function;
pub use crate::lifecycle::{Lifecycle, LifecycleFuture, LifecycleService};
pub use crate::shutdown::{shutdown, SHUTDOWN_WINDOW};

/// Runs `handler` with lmms around it: [`Function::from_env`] then [`Function::run`], for a
/// function that loads nothing in its init and has no shutdown hook of its own.
///
/// ```no_run
/// use lambda_runtime::{service_fn, Error, LambdaEvent};
///
/// async fn handler(event: LambdaEvent<serde_json::Value>) -> Result<serde_json::Value, Error> {
///     Ok(event.payload)
/// }
///
/// #[tokio::main]
/// async fn main() -> Result<(), Error> {
///     lmms_lambda::run(service_fn(handler)).await
/// }
/// ```
pub async fn run<A, F, R, B, S, D, E>(handler: F) -> Result<(), lambda_runtime::Error>
where
    F: lambda_runtime::tower::Service<lambda_runtime::LambdaEvent<A>, Response = R>,
    F::Future: std::future::Future<Output = Result<R, F::Error>>,
    F::Error: Into<lambda_runtime::Diagnostic> + std::fmt::Debug,
    A: for<'de> serde::Deserialize<'de>,
    R: lambda_runtime::IntoFunctionResponse<B, S>,
    B: serde::Serialize,
    S: futures_core::Stream<Item = Result<D, E>> + Unpin + Send + 'static,
    D: Into<bytes::Bytes> + Send,
    E: Into<lambda_runtime::Error> + Send + std::fmt::Debug,
{
    Function::from_env()?.run(handler).await
}

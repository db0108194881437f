//! The one line a function's `main` calls: the runtime from the environment, the
//! lifecycle layer, and the shutdown on `SIGTERM`.

use crate::budget::runtime_and_budget_from_env;
use crate::lifecycle::Lifecycle;
use lambda_runtime::tower::Service;
use lambda_runtime::{Diagnostic, IntoFunctionResponse, LambdaEvent};
use std::fmt::Debug;
use std::future::Future;
use std::time::Duration;

/// How long the shutdown may take: Lambda gives a function with an internal extension
/// 500 ms between `SIGTERM` and `SIGKILL`; the rest is the process's own exit.
pub const SHUTDOWN_WINDOW: Duration = Duration::from_millis(450);

/// Runs `handler` as `lambda_runtime::run` does, with lmms around it:
/// - the global runtime is [`runtime_from_env`](crate::runtime_from_env)'s (its memory
///   budget from the function's memory size), and one line on stderr says what budget it
///   set and where it came from ([`Budget`](crate::Budget)), unless the program set one, or
///   used the global runtime (a module's `get`, `lmms::stats()`), before: then that one
///   stays, and the line says so;
/// - after each invocation, the [`Lifecycle`] layer sweeps and prints the invocation's EMF
///   line;
/// - on `SIGTERM` or `SIGINT` (Unix), [`shutdown`] unloads every module and awaits their
///   closes within [`SHUTDOWN_WINDOW`]. Lambda sends `SIGTERM` only to a function with an
///   extension, so this registers `lambda_runtime`'s no-op one.
///
/// Its bounds are `lambda_runtime::run`'s: a handler whose future is not `Send` (one that
/// holds an `Rc` across an `.await`) runs as it would there.
///
/// ```no_run
/// # use lambda_runtime::{service_fn, Error, LambdaEvent};
/// async fn local(event: LambdaEvent<serde_json::Value>) -> Result<serde_json::Value, Error> {
///     let shared = std::rc::Rc::new(event.payload);
///     tokio::task::yield_now().await;
///     Ok((*shared).clone())
/// }
///
/// #[tokio::main(flavor = "current_thread")]
/// async fn main() -> Result<(), Error> {
///     lmms_lambda::run(service_fn(local)).await
/// }
/// ```
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
    F: Service<LambdaEvent<A>, Response = R>,
    F::Future: Future<Output = Result<R, F::Error>>,
    F::Error: Into<Diagnostic> + Debug,
    A: for<'de> serde::Deserialize<'de>,
    R: IntoFunctionResponse<B, S>,
    B: serde::Serialize,
    S: futures_core::Stream<Item = Result<D, E>> + Unpin + Send + 'static,
    D: Into<bytes::Bytes> + Send,
    E: Into<lambda_runtime::Error> + Send + Debug,
{
    let (runtime, budget) = runtime_and_budget_from_env()?;
    match lmms::Runtime::set_global(runtime) {
        Ok(()) => eprintln!("{budget}"),
        Err(lmms::Error::GlobalAlreadySet) => eprintln!(
            "lmms_lambda::run: the global runtime was set or used before; its settings stay (no memory budget from the function's memory size)"
        ),
        Err(other) => return Err(other.into()),
    }
    #[cfg(unix)]
    lambda_runtime::spawn_graceful_shutdown_handler(|| async {
        shutdown().await;
    })
    .await;
    lambda_runtime::Runtime::new(handler)
        .layer(lambda_runtime::layers::TracingLayer::new())
        .layer(Lifecycle::new())
        .run()
        .await
}

/// What the function does before it exits: unloads every module nothing holds and awaits
/// their closes ([`lmms::Runtime::shutdown`]) within [`SHUTDOWN_WINDOW`], then prints one
/// line that says what it did, `lmms shutdown: unloaded 3 modules (1048576 bytes), 1 kept`,
/// or that the window ran out.
///
/// The window bounds the awaited closes, not the states' `Drop`s, which run to their end
/// before the first close is awaited: keep `Drop` short and put slow work (flushing,
/// hanging up) in [`lmms::AsyncLoad::close`]. Closes handed to a spawner
/// ([`lmms::Runtime::spawn_closes`]) are the spawner's to await, not this one's.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// lmms_lambda::shutdown().await;
/// # });
/// ```
pub async fn shutdown() {
    let runtime = lmms::Runtime::global();
    match tokio::time::timeout(SHUTDOWN_WINDOW, runtime.shutdown()).await {
        Ok(report) => println!(
            "lmms shutdown: unloaded {} modules ({} bytes), {} kept",
            report.unloaded.len(),
            report.bytes_reclaimed(),
            report.kept.len(),
        ),
        Err(_) => println!(
            "lmms shutdown: the closes took longer than {} ms; exiting before they ended",
            SHUTDOWN_WINDOW.as_millis(),
        ),
    }
}

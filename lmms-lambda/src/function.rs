//! The function's `main` in a few lines: the global runtime from the environment, whatever
//! the init loads, then the handler run with the lifecycle layer and the shutdown on
//! `SIGTERM`.

use crate::budget::runtime_and_budget_from_env;
use crate::lifecycle::Lifecycle;
use crate::shutdown::{on_sigterm, Hook};
use lambda_runtime::tower::Service;
use lambda_runtime::{Diagnostic, IntoFunctionResponse, LambdaEvent};
use std::fmt::Debug;
use std::future::Future;
use std::io::Write;

/// A Lambda function with lmms around its handler, built in `main` in three steps:
///
/// 1. [`Function::from_env`] sets the global lmms runtime from the environment (the
///    `LMMS_*` settings and the memory budget from the function's memory size) and prints
///    one line that says what budget it set. Call it before anything uses lmms.
/// 2. The init: whatever `main` loads now (`Table::get()?`, `Client::get_async().await?`)
///    is built once, in Lambda's init phase, which provisioned concurrency runs ahead of
///    the first request; the first invocation's report says what it loaded (`InitLoads`,
///    `InitLoadMs`).
/// 3. [`Function::run`] serves the invocations: a sweep and a report after each one
///    ([`Lifecycle`]), and on `SIGTERM` the hook given to [`Function::on_shutdown`] and
///    then [`shutdown`](crate::shutdown).
///
/// ```no_run
/// use lambda_runtime::{service_fn, LambdaEvent};
/// use lmms_lambda::HandlerError;
///
/// #[lmms::module(name = "table")]
/// pub struct Table(Vec<u64>);
///
/// impl lmms::Load for Table {
///     type Error = std::convert::Infallible;
///     fn load() -> Result<Self, Self::Error> {
///         Ok(Table((0..1 << 20).collect()))
///     }
/// }
///
/// async fn handler(event: LambdaEvent<serde_json::Value>) -> Result<serde_json::Value, HandlerError> {
///     Ok(serde_json::json!(Table::get()?.0.len()))
/// }
///
/// #[tokio::main]
/// async fn main() -> Result<(), lambda_runtime::Error> {
///     let function = lmms_lambda::Function::from_env()?;
///     Table::get()?; // loaded in the init phase, not by the first request
///     function
///         .on_shutdown(|| async { eprintln!("flushing") })
///         .run(service_fn(handler))
///         .await
/// }
/// ```
#[must_use = "a function does nothing until it runs"]
pub struct Function {
    lifecycle: Lifecycle,
    hook: Option<Hook>,
    #[cfg(feature = "metrics")]
    metrics: Option<crate::report::Collector>,
}

impl Function {
    /// Sets the global runtime to [`runtime_from_env`](crate::runtime_from_env)'s and
    /// prints one line on stderr that says what memory budget it set and where it came
    /// from ([`Budget`](crate::Budget)). When the program set the global runtime or used
    /// it before (a module's `get`, `lmms::stats()`), that one stays, and the line says so
    /// and what budget it has.
    ///
    /// An `LMMS_*` variable or `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` that does not parse, or a
    /// budget with nothing to measure it, is an error that names the variable.
    ///
    /// ```
    /// let function = lmms_lambda::Function::from_env()?;
    /// # drop(function);
    /// # Ok::<(), lmms::Error>(())
    /// ```
    pub fn from_env() -> Result<Function, lmms::Error> {
        let (runtime, budget) = runtime_and_budget_from_env()?;
        let line = match lmms::Runtime::set_global(runtime) {
            Ok(()) => budget.to_string(),
            Err(lmms::Error::GlobalAlreadySet) => {
                let kept = match lmms::Runtime::global().config().memory_budget() {
                    Some(bytes) => format!("memory budget {} MiB", bytes >> 20),
                    None => "no memory budget".to_owned(),
                };
                format!("lmms: the global runtime was set or used before lmms_lambda::Function::from_env(); its settings stay ({kept})")
            }
            Err(other) => return Err(other),
        };
        // One write, which stderr's pieces-as-they-come would make a dozen of.
        let _ = std::io::stderr().write_all(format!("{line}\n").as_bytes());
        Ok(Function {
            lifecycle: Lifecycle::new(),
            hook: None,
            #[cfg(feature = "metrics")]
            metrics: None,
        })
    }

    /// Runs `hook` on `SIGTERM` (and so has Lambda send it, even to a function whose
    /// modules all load synchronously), before lmms unloads the modules (so that the hook may
    /// still flush through them), within the same [`SHUTDOWN_WINDOW`](crate::SHUTDOWN_WINDOW):
    /// a hook that panics is reported and lmms's shutdown still runs; one that takes the
    /// whole window leaves lmms's closes unawaited. Use this rather than calling
    /// `lambda_runtime::spawn_graceful_shutdown_handler` beside `run`: of two handlers, the
    /// first to finish exits the process under the other.
    ///
    /// ```
    /// let function = lmms_lambda::Function::from_env()?
    ///     .on_shutdown(|| async { eprintln!("flushing the log buffer") });
    /// # drop(function);
    /// # Ok::<(), lmms::Error>(())
    /// ```
    pub fn on_shutdown<F, Fut>(mut self, hook: F) -> Self
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.hook = Some(Box::new(move || Box::pin(hook())));
        self
    }

    /// Reports through `lifecycle` (a namespace, dimensions, no report) instead of
    /// [`Lifecycle::new`]'s line.
    ///
    /// ```
    /// let function = lmms_lambda::Function::from_env()?
    ///     .lifecycle(lmms_lambda::Lifecycle::in_namespace("smart-home")?.dimension("stage", "prod")?);
    /// # drop(function);
    /// # Ok::<(), lmms::Error>(())
    /// ```
    pub fn lifecycle(mut self, lifecycle: Lifecycle) -> Self {
        self.lifecycle = lifecycle;
        self
    }

    /// Puts lmms's figures on the application's `metrics_cloudwatch_embedded` line (feature
    /// `metrics`), whatever [`Function::lifecycle`] says about lines: they go through the
    /// `metrics` facade ([`Lifecycle::through_metrics`]) and `collector` is flushed after
    /// each invocation's sweep, as its own `run` would, with the invocation's request id
    /// and trace id and the cold-start metric it was built with; with
    /// [`Function::run_concurrent`] too, one invocation's flush at a time.
    ///
    /// ```no_run
    /// # #[cfg(feature = "metrics")]
    /// # async fn main_() -> Result<(), lambda_runtime::Error> {
    /// # async fn handler(event: lambda_runtime::LambdaEvent<serde_json::Value>) -> Result<serde_json::Value, lmms_lambda::HandlerError> { Ok(event.payload) }
    /// let metrics = metrics_cloudwatch_embedded::Builder::new()
    ///     .cloudwatch_namespace("smart-home")
    ///     .lambda_cold_start_metric("ColdStart")
    ///     .with_lambda_request_id("RequestId")
    ///     .init()?;
    /// lmms_lambda::Function::from_env()?
    ///     .metrics(metrics)
    ///     .run(lambda_runtime::service_fn(handler))
    ///     .await
    /// # }
    /// ```
    #[cfg(feature = "metrics")]
    pub fn metrics(mut self, collector: &'static metrics_cloudwatch_embedded::Collector) -> Self {
        self.metrics = Some(collector);
        self
    }

    /// Runs `handler` as `lambda_runtime::run` does, with the lifecycle layer around it and
    /// the shutdown on `SIGTERM`, one invocation at a time. Its bounds are
    /// `lambda_runtime::run`'s: a handler whose future is not `Send` (one that holds an
    /// `Rc` across an `.await`) runs as it would there.
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
    ///     lmms_lambda::Function::from_env()?.run(service_fn(local)).await
    /// }
    /// ```
    pub async fn run<A, F, R, B, S, D, E>(self, handler: F) -> Result<(), lambda_runtime::Error>
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
        let lifecycle = self.start().await;
        lambda_runtime::Runtime::new(handler)
            .layer(lambda_runtime::layers::TracingLayer::new())
            .layer(lifecycle)
            .run()
            .await
    }

    /// Runs `handler` as `lambda_runtime::run_concurrent` does (feature
    /// `concurrency-tokio`): `AWS_LAMBDA_MAX_CONCURRENCY` invocations at once on Lambda
    /// Managed Instances, one at a time where it is unset. Invocations that overlap share
    /// the modules, the memory budget (kept at each load, whichever invocation loads) and
    /// the reports (each line says what lmms did since the line before); a sweep after one
    /// invocation leaves alone what another holds.
    ///
    /// ```no_run
    /// # use lambda_runtime::{service_fn, Error, LambdaEvent};
    /// async fn handler(event: LambdaEvent<serde_json::Value>) -> Result<serde_json::Value, Error> {
    ///     Ok(event.payload)
    /// }
    ///
    /// #[tokio::main]
    /// async fn main() -> Result<(), Error> {
    ///     lmms_lambda::Function::from_env()?.run_concurrent(service_fn(handler)).await
    /// }
    /// ```
    #[cfg(feature = "concurrency-tokio")]
    pub async fn run_concurrent<A, F, R, B, S, D, E>(
        self,
        handler: F,
    ) -> Result<(), lambda_runtime::Error>
    where
        F: Service<LambdaEvent<A>, Response = R> + Clone + Send + 'static,
        F::Future: Future<Output = Result<R, F::Error>> + Send + 'static,
        F::Error: Into<Diagnostic> + Debug,
        A: for<'de> serde::Deserialize<'de> + Send + 'static,
        R: IntoFunctionResponse<B, S> + Send + 'static,
        B: serde::Serialize + Send + 'static,
        S: futures_core::Stream<Item = Result<D, E>> + Unpin + Send + 'static,
        D: Into<bytes::Bytes> + Send + 'static,
        E: Into<lambda_runtime::Error> + Send + Debug + 'static,
    {
        let lifecycle = self.start().await;
        lambda_runtime::Runtime::new(handler)
            .layer(lambda_runtime::layers::TracingLayer::new())
            .layer(lifecycle)
            .run_concurrent()
            .await
    }

    /// What both runners do first: the shutdown on `SIGTERM`, where there is something to
    /// do then: a hook, or a module that loads with `.await` and so may have a close to
    /// await. (A synchronous module's `Drop` frees memory that the process's exit frees
    /// too; one with an effect outside the process belongs in a close or the hook.)
    /// Lambda sends `SIGTERM` only to a function with an extension, so this registers
    /// `lambda_runtime`'s no-op one, which costs a request to Lambda in the init; a
    /// registration that fails (another handler registered it first) is reported and the
    /// function runs without.
    async fn start(self) -> Lifecycle {
        #[cfg(unix)]
        if self.hook.is_some() || lmms::registry::modules().any(|m| m.loads_async()) {
            let hook = self.hook;
            let registered =
                tokio::spawn(lambda_runtime::spawn_graceful_shutdown_handler(move || {
                    on_sigterm(hook)
                }))
                .await;
            if let Err(error) = registered {
                eprintln!("lmms: no shutdown on SIGTERM: {error}");
            }
        }
        #[cfg(feature = "metrics")]
        if let Some(collector) = self.metrics {
            return self.lifecycle.through_collector(collector);
        }
        self.lifecycle
    }
}

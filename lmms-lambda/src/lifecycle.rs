//! The layer around a function's invocations: after each one, a sweep and the invocation's
//! CloudWatch EMF line.

use lambda_runtime::tower::{Layer, Service};
use lambda_runtime::LambdaInvocation;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// What the layer's service returns, as `lambda_runtime`'s own layers do.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A `tower` layer for [`lambda_runtime::Runtime::layer`]: after each invocation has
/// posted its response, it sweeps the global lmms runtime (idle modules are unloaded, their
/// closes awaited) and prints the invocation's figures as one CloudWatch EMF line
/// ([`lmms::report::Emf`], [`lmms::Stats::since`]).
///
/// The sweep runs after the response is posted and before the runtime asks Lambda for the
/// next invocation: the caller does not wait for it, and it ends before Lambda freezes the
/// sandbox (a frozen sandbox runs nothing, so a sweep left for later would run only when the
/// next invocation thaws it). Its time counts in the invocation's billed duration.
///
/// ```no_run
/// use lambda_runtime::{service_fn, Error, LambdaEvent, Runtime};
///
/// async fn handler(event: LambdaEvent<serde_json::Value>) -> Result<serde_json::Value, Error> {
///     Ok(event.payload)
/// }
///
/// #[tokio::main]
/// async fn main() -> Result<(), Error> {
///     Runtime::new(service_fn(handler))
///         .layer(lmms_lambda::Lifecycle::new().dimension("stage", "prod"))
///         .run()
///         .await
/// }
/// ```
#[derive(Clone, Debug)]
pub struct Lifecycle {
    emf: Option<Arc<lmms::report::Emf>>,
}

impl Lifecycle {
    /// Sweeps and prints an EMF line in the namespace `lmms`, with the dimension `function`
    /// set to `AWS_LAMBDA_FUNCTION_NAME` (`local` outside Lambda).
    ///
    /// ```
    /// let layer = lmms_lambda::Lifecycle::new();
    /// # let _ = layer;
    /// ```
    pub fn new() -> Self {
        Lifecycle::in_namespace("lmms")
    }

    /// The same, with the EMF lines in `namespace`.
    ///
    /// ```
    /// let layer = lmms_lambda::Lifecycle::in_namespace("smart-home");
    /// # let _ = layer;
    /// ```
    pub fn in_namespace(namespace: &str) -> Self {
        let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "local".into());
        Lifecycle {
            emf: Some(Arc::new(
                lmms::report::Emf::new(namespace).dimension("function", function),
            )),
        }
    }

    /// Adds a dimension to the EMF lines.
    ///
    /// ```
    /// let layer = lmms_lambda::Lifecycle::new().dimension("stage", "prod");
    /// # let _ = layer;
    /// ```
    pub fn dimension(self, name: &str, value: &str) -> Self {
        Lifecycle {
            emf: self
                .emf
                .map(|emf| Arc::new((*emf).clone().dimension(name, value))),
        }
    }

    /// Sweeps without printing EMF lines.
    ///
    /// ```
    /// let layer = lmms_lambda::Lifecycle::new().without_emf();
    /// # let _ = layer;
    /// ```
    pub fn without_emf(self) -> Self {
        Lifecycle { emf: None }
    }
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle::new()
    }
}

impl<S> Layer<S> for Lifecycle {
    type Service = LifecycleService<S>;

    fn layer(&self, inner: S) -> LifecycleService<S> {
        LifecycleService {
            inner,
            emf: self.emf.clone(),
        }
    }
}

/// The service [`Lifecycle`] wraps a function's invocations in.
///
/// ```
/// use lambda_runtime::tower::Layer;
/// let service = lmms_lambda::Lifecycle::new().layer(());
/// # let _ = service;
/// ```
#[derive(Clone, Debug)]
pub struct LifecycleService<S> {
    inner: S,
    emf: Option<Arc<lmms::report::Emf>>,
}

impl<S> Service<LambdaInvocation> for LifecycleService<S>
where
    S: Service<LambdaInvocation, Response = (), Error = BoxError>,
{
    type Response = ();
    type Error = BoxError;
    type Future = LifecycleFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, invocation: LambdaInvocation) -> Self::Future {
        // The figures before, for the EMF line's "what this invocation did".
        let emf = self.emf.clone().map(|emf| (emf, lmms::stats()));
        LifecycleFuture {
            invoked: self.inner.call(invocation),
            emf,
            result: None,
            after: None,
        }
    }
}

pin_project_lite::pin_project! {
    /// An invocation through [`LifecycleService`]: the inner service's future (the handler
    /// and the response posted), then the sweep, its closes and the EMF line. It is `Send`
    /// when the inner future is.
    ///
    /// ```
    /// fn is_send<T: Send>() {}
    /// is_send::<lmms_lambda::LifecycleFuture<std::future::Ready<()>>>();
    /// ```
    pub struct LifecycleFuture<F> {
        #[pin]
        invoked: F,
        emf: Option<(Arc<lmms::report::Emf>, lmms::Stats)>,
        result: Option<Result<(), BoxError>>,
        after: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    }
}

impl<F: Future<Output = Result<(), BoxError>>> Future for LifecycleFuture<F> {
    type Output = Result<(), BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if this.after.is_none() {
            let Poll::Ready(result) = this.invoked.poll(cx) else {
                return Poll::Pending;
            };
            *this.result = Some(result);
            *this.after = Some(Box::pin(after_invocation(this.emf.take())));
        }
        let Some(after) = this.after.as_mut() else {
            unreachable!("set above")
        };
        if after.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        Poll::Ready(this.result.take().unwrap_or(Ok(())))
    }
}

/// The sweep, its closes and the EMF line. A sweep that panics (in a `tracing` layer or a
/// `metrics` recorder it ran) is reported and the function goes on: lmms counts it and
/// stays consistent, and one invocation's bookkeeping is no reason to lose the sandbox.
async fn after_invocation(emf: Option<(Arc<lmms::report::Emf>, lmms::Stats)>) {
    let runtime = lmms::Runtime::global();
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| runtime.sweep())) {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        eprintln!("lmms: the sweep after an invocation panicked: {message}");
        // Its payload is user code too: a `Drop` that panics again is contained.
        let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(payload)));
    }
    runtime.closes().await;
    if let Some((emf, before)) = emf {
        println!("{}", emf.line(&runtime.stats().since(&before)));
    }
}

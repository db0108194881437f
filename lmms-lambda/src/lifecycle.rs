//! The layer around a function's invocations: after each one, a sweep and the invocation's
//! report.

use crate::report::{Books, Invocation, Sink, Writer};
use lambda_runtime::tower::{Layer, Service};
use lambda_runtime::LambdaInvocation;
use std::future::Future;
use std::io::Write;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

/// What the layer's service returns, as `lambda_runtime`'s own layers do.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A `tower` layer for [`lambda_runtime::Runtime::layer`]: after each invocation has
/// posted its response, it sweeps the global lmms runtime (idle modules are unloaded, their
/// closes awaited) and reports what lmms did as one CloudWatch EMF line on stdout
/// ([`lmms::report::Emf`]), or through the `metrics` facade (`Lifecycle::through_metrics`,
/// feature `metrics`).
///
/// The sweep runs after the response is posted and before the runtime asks Lambda for the
/// next invocation: the caller does not wait for it, and it ends before Lambda freezes the
/// sandbox (a frozen sandbox runs nothing, so a sweep left for later would run only when the
/// next invocation thaws it). Its time counts in the invocation's billed duration.
///
/// A line reports what lmms did since the line before ([`lmms::report::figures`]: loads,
/// unloads, bytes, cache hits ...), so that overlapping invocations (a concurrent runner)
/// report each event once, each module's latest load time as `LoadMs`, and the invocation's
/// `RequestId` and `XRayTraceId` as properties. The first line also says `ColdStart: 1`
/// and what the init loaded before the layer was built (`InitLoads`, `InitBytesLoaded`,
/// `InitLoadMs`).
///
/// This layer is the part of [`Function`](crate::Function) for a function that builds its
/// own `lambda_runtime::Runtime`; the rest becomes the function's job: set the global
/// runtime from the environment first (`lmms::Runtime::set_global(lmms_lambda::runtime_from_env()?)`:
/// the `LMMS_*` settings and the memory budget), and on `SIGTERM` call
/// [`shutdown`](crate::shutdown) from `lambda_runtime::spawn_graceful_shutdown_handler`'s hook,
/// before or after its own work:
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
///     lmms::Runtime::set_global(lmms_lambda::runtime_from_env()?)?;
///     lambda_runtime::spawn_graceful_shutdown_handler(|| async {
///         lmms_lambda::shutdown().await;
///     })
///     .await;
///     Runtime::new(service_fn(handler))
///         .layer(lmms_lambda::Lifecycle::new().dimension("stage", "prod")?)
///         .run()
///         .await
/// }
/// ```
#[derive(Clone)]
pub struct Lifecycle {
    emf: lmms::report::Emf,
    writer: Option<Writer>,
    mode: Mode,
}

/// What a [`Lifecycle`] does with its figures, set apart from how a line looks, so that
/// the builder's calls may come in any order.
#[derive(Clone)]
enum Mode {
    Line,
    #[cfg(feature = "metrics")]
    Metrics(Option<crate::report::Collector>),
    Nothing,
}

/// The most dimensions a line may carry (EMF's limit for a dimension set).
const MAX_DIMENSIONS: usize = 30;

/// Members of the line a dimension may not take: EMF's metadata, the properties and the
/// metrics lmms writes.
const RESERVED: &[&str] = &[
    "_aws",
    "RequestId",
    "XRayTraceId",
    "ColdStart",
    "LoadMs",
    "InitLoads",
    "InitBytesLoaded",
    "InitLoadMs",
];

impl Lifecycle {
    /// Sweeps and prints an EMF line in the namespace `lmms`, with the dimension `function`
    /// set to `AWS_LAMBDA_FUNCTION_NAME` (`local` outside Lambda).
    ///
    /// ```
    /// let layer = lmms_lambda::Lifecycle::new();
    /// # let _ = layer;
    /// ```
    pub fn new() -> Self {
        Lifecycle::named("lmms")
    }

    fn named(namespace: &str) -> Self {
        let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME")
            .ok()
            .filter(|name| check("the function's name", name, 1024).is_ok())
            .unwrap_or_else(|| "local".into());
        Lifecycle {
            emf: lmms::report::Emf::new(namespace).dimension("function", function),
            writer: None,
            mode: Mode::Line,
        }
    }

    /// The same, with the EMF lines in `namespace`: 1 to 255 characters, none a control
    /// character, not starting with `AWS/` (CloudWatch's rules), or an error that says
    /// which rule it breaks.
    ///
    /// ```
    /// let layer = lmms_lambda::Lifecycle::in_namespace("smart-home")?;
    /// assert!(lmms_lambda::Lifecycle::in_namespace("").is_err());
    /// # let _ = layer;
    /// # Ok::<(), lmms::Error>(())
    /// ```
    pub fn in_namespace(namespace: &str) -> Result<Self, lmms::Error> {
        check("the namespace", namespace, 255).map_err(invalid("namespace"))?;
        if namespace.starts_with("AWS/") {
            return Err(invalid("namespace")(format!(
                "the namespace {namespace:?} starts with `AWS/`, which CloudWatch keeps for AWS's own metrics"
            )));
        }
        Ok(Lifecycle::named(namespace))
    }

    /// Adds a dimension to the EMF lines (nothing when they go through the `metrics`
    /// facade, whose recorder has dimensions of its own), or sets it again if the lines
    /// have it (`function`). A name or value that CloudWatch would refuse (empty, too
    /// long, a control character, a name the line uses for something else, a 31st
    /// dimension) is an error that says so: CloudWatch drops such a line without a word.
    ///
    /// ```
    /// let layer = lmms_lambda::Lifecycle::new().dimension("stage", "prod")?;
    /// let unset = std::env::var("STAGE").unwrap_or_default();
    /// assert!(lmms_lambda::Lifecycle::new().dimension("stage", &unset).is_err());
    /// # let _ = layer;
    /// # Ok::<(), lmms::Error>(())
    /// ```
    pub fn dimension(mut self, name: &str, value: &str) -> Result<Self, lmms::Error> {
        check("a dimension's name", name, 255).map_err(invalid("dimension"))?;
        check(&format!("dimension `{name}`'s value"), value, 1024).map_err(invalid("dimension"))?;
        let taken = RESERVED.contains(&name) || lmms::report::FIGURE_NAMES.contains(&name);
        if name.starts_with(':') || taken {
            return Err(invalid("dimension")(format!(
                "`{name}` cannot name a dimension: {}",
                if taken {
                    "the line uses it for a metric or a property"
                } else {
                    "CloudWatch's names do not start with `:`"
                }
            )));
        }
        let new = !self.emf.dimensions().any(|(n, _)| n == name);
        if new && self.emf.dimensions().count() == MAX_DIMENSIONS {
            return Err(invalid("dimension")(format!(
                "`{name}` would be a line's 31st dimension; CloudWatch takes {MAX_DIMENSIONS}"
            )));
        }
        self.emf = self.emf.dimension(name, value);
        Ok(self)
    }

    /// Writes the EMF lines to `writer` (a file, a log pipe) instead of stdout, where
    /// CloudWatch Logs reads them on Lambda.
    ///
    /// ```
    /// let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    /// let layer = lmms_lambda::Lifecycle::new().to_writer(lines.clone());
    /// # let _ = layer;
    /// ```
    pub fn to_writer(self, writer: Arc<Mutex<impl Write + Send + 'static>>) -> Self {
        Lifecycle {
            writer: Some(writer),
            ..self
        }
    }

    /// Sweeps without reporting.
    ///
    /// ```
    /// let layer = lmms_lambda::Lifecycle::new().without_emf();
    /// # let _ = layer;
    /// ```
    pub fn without_emf(self) -> Self {
        Lifecycle {
            mode: Mode::Nothing,
            ..self
        }
    }

    /// Reports through the [`metrics`](https://docs.rs/metrics) facade instead of a line
    /// of its own (feature `metrics`), so that a function that prints its metrics with
    /// `metrics_cloudwatch_embedded` has lmms's on the same line: each figure of the EMF
    /// line as `lmms.` and its name (`lmms.Loads`, `lmms.BytesLoaded`,
    /// `lmms.ResidentBytes`, `lmms.LoadMs` ...), counts as counters, levels as gauges,
    /// load times as histograms. The application's layer that flushes the recorder must
    /// wrap this one (be added after it), so that it flushes after the sweep; or let
    /// [`Function::metrics`](crate::Function::metrics) flush it, which also works with
    /// concurrent invocations.
    ///
    /// ```
    /// # #[cfg(feature = "metrics")] {
    /// use lambda_runtime::{service_fn, Error, LambdaEvent, Runtime};
    /// use metrics_cloudwatch_embedded::lambda::MetricsLayer;
    ///
    /// async fn handler(event: LambdaEvent<serde_json::Value>) -> Result<serde_json::Value, Error> {
    ///     Ok(event.payload)
    /// }
    ///
    /// # async fn main_() -> Result<(), Error> {
    /// let metrics = metrics_cloudwatch_embedded::Builder::new()
    ///     .cloudwatch_namespace("smart-home")
    ///     .lambda_cold_start_metric("ColdStart")
    ///     .with_lambda_request_id("RequestId")
    ///     .init()?;
    /// Runtime::new(service_fn(handler))
    ///     .layer(lmms_lambda::Lifecycle::new().through_metrics())
    ///     .layer(MetricsLayer::new(metrics))
    ///     .run()
    ///     .await
    /// # }
    /// # }
    /// ```
    #[cfg(feature = "metrics")]
    pub fn through_metrics(self) -> Self {
        Lifecycle {
            mode: Mode::Metrics(None),
            ..self
        }
    }

    /// Reports through the `metrics` facade ([`Lifecycle::through_metrics`]) and flushes
    /// the application's `metrics_cloudwatch_embedded` collector after each report, as its
    /// own `MetricsLayer` would (the invocation's request id and trace id as properties,
    /// the cold-start metric on the first), one invocation at a time, so that it works with
    /// concurrent invocations too, where that layer cannot (it cannot be cloned for each
    /// worker). What [`Function::metrics`](crate::Function::metrics) sets.
    ///
    /// ```
    /// # #[cfg(feature = "metrics")] {
    /// let metrics = metrics_cloudwatch_embedded::Builder::new()
    ///     .cloudwatch_namespace("smart-home")
    ///     .with_lambda_request_id("RequestId")
    ///     .init()
    ///     .unwrap();
    /// let layer = lmms_lambda::Lifecycle::new().through_collector(metrics);
    /// # let _ = layer;
    /// # }
    /// ```
    #[cfg(feature = "metrics")]
    pub fn through_collector(
        self,
        collector: &'static metrics_cloudwatch_embedded::Collector,
    ) -> Self {
        Lifecycle {
            mode: Mode::Metrics(Some(collector)),
            ..self
        }
    }

    fn sink(&self) -> Sink {
        match &self.mode {
            Mode::Line => Sink::Line(self.emf.clone(), self.writer.clone()),
            #[cfg(feature = "metrics")]
            Mode::Metrics(collector) => Sink::Metrics(*collector),
            Mode::Nothing => Sink::Nothing,
        }
    }
}

/// `text` if CloudWatch takes it as a name of at most `most` characters.
fn check(what: &str, text: &str, most: usize) -> Result<(), String> {
    let length = text.chars().count();
    if length == 0 {
        return Err(format!("{what} is empty"));
    }
    if length > most {
        return Err(format!(
            "{what} has {length} characters; CloudWatch takes {most}"
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(format!("{what} {text:?} holds a control character"));
    }
    Ok(())
}

fn invalid(field: &'static str) -> impl Fn(String) -> lmms::Error {
    move |reason| lmms::Error::InvalidConfig { field, reason }
}

impl std::fmt::Debug for Lifecycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Lifecycle").field(&self.sink()).finish()
    }
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle::new()
    }
}

impl<S> Layer<S> for Lifecycle {
    type Service = LifecycleService<S>;

    /// The service around `inner`; what lmms did before this call (the init: modules
    /// loaded in `main`) is reported with the first invocation.
    fn layer(&self, inner: S) -> LifecycleService<S> {
        LifecycleService {
            inner,
            books: Arc::new(Books::start(self.sink())),
        }
    }
}

/// The service [`Lifecycle`] wraps a function's invocations in. Its clones (one per
/// concurrent worker) share what has been reported, so that overlapping invocations
/// report each event once.
///
/// ```
/// use lambda_runtime::tower::Layer;
/// let service = lmms_lambda::Lifecycle::new().layer(());
/// # let _ = service;
/// ```
#[derive(Clone, Debug)]
pub struct LifecycleService<S> {
    inner: S,
    books: Arc<Books>,
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
        let ids = Invocation {
            request_id: invocation.context.request_id.clone(),
            xray_trace_id: invocation.context.xray_trace_id.clone(),
        };
        LifecycleFuture {
            invoked: self.inner.call(invocation),
            books: Some((self.books.clone(), ids)),
            result: None,
            after: None,
        }
    }
}

pin_project_lite::pin_project! {
    /// An invocation through [`LifecycleService`]: the inner service's future (the handler
    /// and the response posted), then the sweep, its closes and the report. It is `Send`
    /// when the inner future is.
    ///
    /// ```
    /// fn is_send<T: Send>() {}
    /// is_send::<lmms_lambda::LifecycleFuture<std::future::Ready<()>>>();
    /// ```
    pub struct LifecycleFuture<F> {
        #[pin]
        invoked: F,
        books: Option<(Arc<Books>, Invocation)>,
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
            *this.after = Some(Box::pin(after_invocation(this.books.take())));
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

/// The sweep, its closes and the report. A sweep or a report that panics (in a `tracing`
/// layer or a `metrics` recorder it ran) is reported and the function goes on: lmms counts
/// it and stays consistent, and one invocation's bookkeeping is no reason to lose the
/// sandbox.
async fn after_invocation(books: Option<(Arc<Books>, Invocation)>) {
    let runtime = lmms::Runtime::global();
    contained("the sweep after an invocation", || {
        runtime.sweep();
    });
    runtime.closes().await;
    if let Some((books, invocation)) = books {
        contained("the report of an invocation", || books.report(&invocation));
    }
}

fn contained(what: &str, f: impl FnOnce()) {
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(f)) {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        eprintln!("lmms: {what} panicked: {message}");
        // Its payload is user code too: a `Drop` that panics again is contained.
        let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(payload)));
    }
}

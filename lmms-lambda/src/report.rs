//! What an invocation reports: lmms's figures since the last report, with a cold start's
//! init, as a CloudWatch EMF line of its own or through the `metrics` facade onto the
//! application's line.

use lmms::report::{figures, Emf};
use lmms::Stats;
use serde_json::Value;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

/// Where the lines go instead of stdout.
pub(crate) type Writer = Arc<Mutex<dyn Write + Send>>;

/// The application's `metrics_cloudwatch_embedded` collector, flushed after each report.
#[cfg(feature = "metrics")]
pub(crate) type Collector = &'static metrics_cloudwatch_embedded::Collector;

/// Where the figures go.
#[derive(Clone)]
pub(crate) enum Sink {
    /// A line of lmms's own, on stdout or to a writer.
    Line(Emf, Option<Writer>),
    /// The `metrics` facade, whose recorder prints them; with the application's collector,
    /// flushed here after each report.
    #[cfg(feature = "metrics")]
    Metrics(Option<Collector>),
    /// Nowhere: the layer sweeps only.
    Nothing,
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sink::Line(emf, writer) => f
                .debug_tuple("Line")
                .field(emf)
                .field(&writer.as_ref().map(|_| "a writer"))
                .finish(),
            #[cfg(feature = "metrics")]
            Sink::Metrics(collector) => f
                .debug_tuple("Metrics")
                .field(&collector.map(|_| "a collector"))
                .finish(),
            Sink::Nothing => f.write_str("Nothing"),
        }
    }
}

/// The figures already reported, shared by every clone of the layer's service, so that
/// each event is reported once however invocations overlap.
#[derive(Debug)]
pub(crate) struct Books {
    sink: Sink,
    /// The snapshot the last report ended at; the first one is the init's end.
    last: Mutex<Last>,
}

#[derive(Debug)]
struct Last {
    stats: Stats,
    /// The init's figures until the first report takes them.
    init: Option<Stats>,
}

/// What the report says about the invocation besides lmms's figures.
#[derive(Debug, Default)]
pub(crate) struct Invocation {
    pub(crate) request_id: String,
    pub(crate) xray_trace_id: Option<String>,
}

/// Whether the process has reported its cold start: once per process, however many
/// runtimes it layers.
static COLD_START_REPORTED: AtomicBool = AtomicBool::new(false);

/// Most values one metric of an EMF line may carry.
const MAX_VALUES: usize = 100;

impl Books {
    /// Books that start now: whatever lmms did before (the init: modules loaded in `main`)
    /// goes into the first report.
    pub(crate) fn start(sink: Sink) -> Books {
        let stats = lmms::stats();
        Books {
            sink,
            last: Mutex::new(Last {
                init: Some(stats.clone()),
                stats,
            }),
        }
    }

    pub(crate) fn reports(&self) -> bool {
        !matches!(self.sink, Sink::Nothing)
    }

    /// Reports what lmms did since the last report.
    pub(crate) fn report(&self, invocation: &Invocation) {
        if !self.reports() {
            return;
        }
        // Under the lock, the snapshot and the report: two invocations ending together
        // report their intervals in order, each event once, and an application's
        // collector is flushed with the properties of the invocation it reports.
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        let now = lmms::stats();
        let interval = now.since(&last.stats);
        last.stats = now;
        let init = last.init.take();
        let init = init.filter(|_| !COLD_START_REPORTED.swap(true, Relaxed));
        let metrics = metrics(&interval, init.as_ref());
        match &self.sink {
            Sink::Line(emf, None) => println!("{}", line(emf, &metrics, invocation)),
            Sink::Line(emf, Some(writer)) => {
                let mut writer = writer.lock().unwrap_or_else(PoisonError::into_inner);
                if let Err(error) = writeln!(writer, "{}", line(emf, &metrics, invocation)) {
                    eprintln!("lmms: the report could not be written: {error}");
                }
            }
            #[cfg(feature = "metrics")]
            Sink::Metrics(collector) => {
                publish(&metrics);
                if let Some(collector) = collector {
                    flush(collector, invocation, init.is_some());
                }
            }
            Sink::Nothing => {}
        }
    }
}

/// One metric: its name, CloudWatch unit, value (a number or an array of numbers), and
/// whether it is a level (a gauge) rather than a count of events.
type Metric = (String, &'static str, Value, bool);

/// The figures of an interval: lmms's ([`figures`]), each module's latest load time as
/// `LoadMs`, and on the first report `ColdStart` and the init's loads.
fn metrics(interval: &Stats, init: Option<&Stats>) -> Vec<Metric> {
    let mut metrics: Vec<Metric> = figures(interval)
        .into_iter()
        .map(|figure| {
            let value = Value::from(figure.value);
            (figure.name.to_owned(), figure.unit, value, figure.level)
        })
        .collect();
    if let Some(times) = load_times(interval) {
        metrics.push(("LoadMs".into(), "Milliseconds", times, false));
    }
    if let Some(init) = init {
        metrics.push(("ColdStart".into(), "Count", Value::from(1), false));
        metrics.push(("InitLoads".into(), "Count", Value::from(init.loads), false));
        metrics.push((
            "InitBytesLoaded".into(),
            "Bytes",
            init.bytes_loaded.into(),
            false,
        ));
        if let Some(times) = load_times(init) {
            metrics.push(("InitLoadMs".into(), "Milliseconds", times, false));
        }
    }
    metrics
}

/// The latest load time of each module loaded in the interval, in the runtime's whole
/// milliseconds, at most [`MAX_VALUES`] of them (EMF's limit for one metric): a second load
/// of a module in one interval, or a 101st module, is counted in `Loads` alone.
fn load_times(interval: &Stats) -> Option<Value> {
    let times: Vec<Value> = interval
        .modules
        .iter()
        .filter(|module| module.loads > 0)
        .filter_map(|module| module.load_time)
        .map(|time| Value::from(time.as_secs_f64() * 1e3))
        .take(MAX_VALUES)
        .collect();
    (!times.is_empty()).then_some(Value::Array(times))
}

fn line(emf: &Emf, metrics: &[Metric], invocation: &Invocation) -> String {
    let metrics: Vec<(String, &str, Value)> = metrics
        .iter()
        .map(|(name, unit, value, _)| (name.clone(), *unit, value.clone()))
        .collect();
    let mut properties = Vec::new();
    if !invocation.request_id.is_empty() {
        properties.push(("RequestId".into(), invocation.request_id.as_str().into()));
    }
    if let Some(trace) = &invocation.xray_trace_id {
        properties.push(("XRayTraceId".into(), trace.as_str().into()));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64);
    emf.document(&metrics, &properties, now)
}

/// The application's collector flushed as its own `MetricsLayer` would after an
/// invocation: its request id and trace id properties set, its cold-start metric on the
/// first report, its documents on stdout.
#[cfg(feature = "metrics")]
fn flush(collector: Collector, invocation: &Invocation, cold: bool) {
    let config = &collector.config;
    if let Some(name) = config.lambda_request_id {
        collector.set_property(name, invocation.request_id.clone());
    }
    if let Some(name) = config.lambda_xray_trace_id {
        collector.set_property(name, invocation.xray_trace_id.clone());
    }
    let mut stdout = std::io::stdout().lock();
    let written = match config.lambda_cold_start {
        Some(name) if cold => {
            collector.write_single(name, Some(metrics::Unit::Count), 1, &mut stdout)
        }
        _ => Ok(()),
    };
    if let Err(error) = written.and_then(|()| collector.flush(&mut stdout)) {
        eprintln!("lmms: the metrics could not be written: {error}");
    }
}

/// The figures through the `metrics` facade, named `lmms.` and the EMF line's name: counts
/// as counter increments (the recorder sums them, or prints and resets them at its
/// flush), levels as gauges, load times as histogram values. `ColdStart` is left to the
/// recorder's own (`metrics_cloudwatch_embedded`'s `lambda_cold_start_metric`, which
/// [`flush`] writes).
#[cfg(feature = "metrics")]
fn publish(metrics: &[Metric]) {
    use metrics::Unit;
    for (name, unit, value, level) in metrics {
        if name == "ColdStart" {
            continue;
        }
        let key = format!("lmms.{name}");
        let unit = match *unit {
            "Bytes" => Unit::Bytes,
            "Milliseconds" => Unit::Milliseconds,
            _ => Unit::Count,
        };
        match value {
            Value::Array(values) => {
                metrics::describe_histogram!(key.clone(), unit, "");
                let histogram = metrics::histogram!(key);
                values
                    .iter()
                    .filter_map(Value::as_f64)
                    .for_each(|value| histogram.record(value));
            }
            value if *level => {
                metrics::describe_gauge!(key.clone(), unit, "");
                metrics::gauge!(key).set(value.as_f64().unwrap_or(0.0));
            }
            value => {
                metrics::describe_counter!(key.clone(), unit, "");
                metrics::counter!(key).increment(value.as_u64().unwrap_or(0));
            }
        }
    }
}

//! CloudWatch Embedded Metric Format (feature `json`): a [`Stats`] snapshot as one JSON
//! line that CloudWatch Logs turns into metrics, with no agent — print it from a Lambda
//! function and the figures appear under the namespace.
//!
//! The line carries the figures lmms counts: loads, load failures, unloads, bytes loaded and
//! reclaimed, resident modules and bytes, live heap and RSS where measured, hot paths, cache
//! hits and misses, promotions to the direct path and demotions, sweeps. Print the
//! [`since`](Stats::since) of two snapshots to report one invocation.

use crate::stats::Stats;
use serde_json::{json, Map, Value};
use std::time::{SystemTime, UNIX_EPOCH};

/// How [`Stats`] render as an EMF line: the namespace and the dimensions.
///
/// ```
/// let emf = lmms::report::Emf::new("smart-home").dimension("function", "alexa-skill");
/// let line = emf.line(&lmms::stats());
/// let parsed: serde_json::Value = serde_json::from_str(&line)?;
/// assert_eq!(parsed["_aws"]["CloudWatchMetrics"][0]["Namespace"], "smart-home");
/// assert_eq!(parsed["function"], "alexa-skill");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Emf {
    namespace: String,
    dimensions: Vec<(String, String)>,
}

impl Emf {
    /// Metrics under `namespace`, with no dimension yet.
    ///
    /// ```
    /// let emf = lmms::report::Emf::new("lmms");
    /// ```
    pub fn new(namespace: impl Into<String>) -> Self {
        Emf {
            namespace: namespace.into(),
            dimensions: Vec::new(),
        }
    }

    /// Adds a dimension: every metric of the line is recorded under `name` = `value`.
    ///
    /// ```
    /// let emf = lmms::report::Emf::new("lmms").dimension("function", "weather");
    /// ```
    pub fn dimension(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.dimensions.push((name.into(), value.into()));
        self
    }

    /// The line for `stats`, stamped now.
    ///
    /// ```
    /// let line = lmms::report::Emf::new("lmms").line(&lmms::stats());
    /// assert!(line.starts_with('{') && !line.contains('\n'));
    /// ```
    pub fn line(&self, stats: &Stats) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_millis() as u64);
        self.line_at(stats, now)
    }

    /// The line for `stats`, stamped `timestamp_ms` (milliseconds since the Unix epoch).
    ///
    /// ```
    /// let line = lmms::report::Emf::new("lmms").line_at(&lmms::stats(), 1_700_000_000_000);
    /// assert!(line.contains(r#""Timestamp":1700000000000"#));
    /// ```
    pub fn line_at(&self, stats: &Stats, timestamp_ms: u64) -> String {
        let metrics = figures(stats);
        let mut root = Map::new();
        root.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [self.dimensions.iter().map(|(name, _)| name).collect::<Vec<_>>()],
                    "Metrics": metrics
                        .iter()
                        .map(|(name, unit, _)| json!({"Name": name, "Unit": unit}))
                        .collect::<Vec<_>>(),
                }],
            }),
        );
        for (name, value) in &self.dimensions {
            root.insert(name.clone(), Value::from(value.as_str()));
        }
        for (name, _, value) in metrics {
            root.insert(name.into(), Value::from(value));
        }
        Value::Object(root).to_string()
    }
}

/// The metrics of a snapshot: name, CloudWatch unit, value.
fn figures(stats: &Stats) -> Vec<(&'static str, &'static str, u64)> {
    let mut figures = vec![
        ("Loads", "Count", stats.loads),
        ("LoadFailures", "Count", stats.load_failures),
        ("Unloads", "Count", stats.unloads),
        ("BytesLoaded", "Bytes", stats.bytes_loaded),
        ("BytesReclaimed", "Bytes", stats.bytes_reclaimed),
        ("ResidentModules", "Count", stats.resident_modules as u64),
        ("HotPaths", "Count", stats.hot_paths as u64),
        ("CacheHits", "Count", stats.cache.hits),
        ("CacheMisses", "Count", stats.cache.misses),
        ("Promotions", "Count", stats.promotions[1]),
        ("Demotions", "Count", stats.demotions.iter().sum()),
        ("Sweeps", "Count", stats.sweeps),
        ("BudgetUnloads", "Count", stats.budget_unloads),
        ("OverBudgetLoads", "Count", stats.over_budget_loads),
    ];
    if let Some(bytes) = stats.resident_bytes {
        figures.push(("ResidentBytes", "Bytes", bytes));
    }
    if let Some(heap) = stats.live_heap {
        figures.push(("LiveHeap", "Bytes", heap));
    }
    if let Some(rss) = stats.rss {
        figures.push(("Rss", "Bytes", rss));
    }
    figures
}

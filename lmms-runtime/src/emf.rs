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

    /// Adds a dimension: every metric of the line is recorded under `name` = `value`; a
    /// dimension the line has already takes the new value.
    ///
    /// ```
    /// let emf = lmms::report::Emf::new("lmms").dimension("function", "weather");
    /// let emf = emf.dimension("function", "climate");
    /// assert_eq!(emf.dimensions().collect::<Vec<_>>(), [("function", "climate")]);
    /// ```
    pub fn dimension(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let (name, value) = (name.into(), value.into());
        match self.dimensions.iter_mut().find(|(n, _)| *n == name) {
            Some(dimension) => dimension.1 = value,
            None => self.dimensions.push((name, value)),
        }
        self
    }

    /// The dimensions, in the order they were added: name, value.
    ///
    /// ```
    /// let emf = lmms::report::Emf::new("lmms").dimension("stage", "prod");
    /// assert_eq!(emf.dimensions().count(), 1);
    /// ```
    pub fn dimensions(&self) -> impl Iterator<Item = (&str, &str)> {
        self.dimensions
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
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
        let metrics: Vec<(String, &str, Value)> = figures(stats)
            .into_iter()
            .map(|figure| (figure.name.to_owned(), figure.unit, figure.value.into()))
            .collect();
        self.document(&metrics, &[], timestamp_ms)
    }

    /// A line of `metrics` (name, CloudWatch unit, a number or an array of up to 100
    /// numbers) and `properties` (members CloudWatch Logs keeps with the line but makes no
    /// metric of: a request id, a trace id), stamped `timestamp_ms`: what a caller with
    /// figures of its own beside a snapshot's ([`figures`]) prints.
    ///
    /// ```
    /// use serde_json::json;
    /// let emf = lmms::report::Emf::new("lmms");
    /// let line = emf.document(
    ///     &[("ColdStart".into(), "Count", json!(1)), ("LoadMs".into(), "Milliseconds", json!([12, 3]))],
    ///     &[("RequestId".into(), json!("8f5e"))],
    ///     1_700_000_000_000,
    /// );
    /// let parsed: serde_json::Value = serde_json::from_str(&line)?;
    /// assert_eq!(parsed["LoadMs"], json!([12, 3]));
    /// assert_eq!(parsed["RequestId"], "8f5e");
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn document(
        &self,
        metrics: &[(String, &str, Value)],
        properties: &[(String, Value)],
        timestamp_ms: u64,
    ) -> String {
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
        for (name, value) in properties {
            root.insert(name.clone(), value.clone());
        }
        for (name, value) in &self.dimensions {
            root.insert(name.clone(), Value::from(value.as_str()));
        }
        for (name, _, value) in metrics {
            root.insert(name.clone(), value.clone());
        }
        Value::Object(root).to_string()
    }
}

/// One figure of a [`Stats`] snapshot as CloudWatch takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Figure {
    /// The metric's name: `Loads`, `BytesLoaded`, `ResidentBytes` ...
    pub name: &'static str,
    /// Its CloudWatch unit: `Count` or `Bytes`.
    pub unit: &'static str,
    /// Its value.
    pub value: u64,
    /// Whether it is a level now (resident modules, bytes, heap, RSS, hot paths) rather
    /// than a count of events, which [`Stats::since`] gives for an interval.
    pub level: bool,
}

/// Each figure: name, unit, level or count, and its value in a snapshot (`None` where
/// unmeasured). The one list [`figures`] and [`FIGURE_NAMES`] both come from.
type Row = (&'static str, &'static str, bool, fn(&Stats) -> Option<u64>);

const ROWS: [Row; 17] = [
    ("Loads", "Count", false, |s| Some(s.loads)),
    ("LoadFailures", "Count", false, |s| Some(s.load_failures)),
    ("Unloads", "Count", false, |s| Some(s.unloads)),
    ("BytesLoaded", "Bytes", false, |s| Some(s.bytes_loaded)),
    ("BytesReclaimed", "Bytes", false, |s| {
        Some(s.bytes_reclaimed)
    }),
    ("ResidentModules", "Count", true, |s| {
        Some(s.resident_modules as u64)
    }),
    ("HotPaths", "Count", true, |s| Some(s.hot_paths as u64)),
    ("CacheHits", "Count", false, |s| Some(s.cache.hits)),
    ("CacheMisses", "Count", false, |s| Some(s.cache.misses)),
    ("Promotions", "Count", false, |s| Some(s.promotions[1])),
    ("Demotions", "Count", false, |s| {
        Some(s.demotions.iter().sum())
    }),
    ("Sweeps", "Count", false, |s| Some(s.sweeps)),
    ("BudgetUnloads", "Count", false, |s| Some(s.budget_unloads)),
    ("OverBudgetLoads", "Count", false, |s| {
        Some(s.over_budget_loads)
    }),
    ("ResidentBytes", "Bytes", true, |s| s.resident_bytes),
    ("LiveHeap", "Bytes", true, |s| s.live_heap),
    ("Rss", "Bytes", true, |s| s.rss),
];

/// The names of the figures [`figures`] gives, without a snapshot to take them from (and
/// so without touching the global runtime).
///
/// ```
/// assert!(lmms::report::FIGURE_NAMES.contains(&"BytesLoaded"));
/// ```
pub const FIGURE_NAMES: [&str; ROWS.len()] = {
    let mut names = [""; ROWS.len()];
    let mut i = 0;
    while i < ROWS.len() {
        names[i] = ROWS[i].0;
        i += 1;
    }
    names
};

/// The figures an EMF line carries for `stats` ([`Emf::line`]): loads, load failures,
/// unloads, bytes loaded and reclaimed, resident modules and bytes, live heap and RSS where
/// measured, hot paths, cache hits and misses, promotions and demotions, sweeps.
///
/// ```
/// let figures = lmms::report::figures(&lmms::stats());
/// assert!(figures.iter().any(|figure| figure.name == "Loads" && !figure.level));
/// ```
pub fn figures(stats: &Stats) -> Vec<Figure> {
    ROWS.iter()
        .filter_map(|&(name, unit, level, value)| {
            value(stats).map(|value| Figure {
                name,
                unit,
                value,
                level,
            })
        })
        .collect()
}

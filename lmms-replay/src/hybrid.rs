//! The hybrid histogram policy of Shahrad et al., "Serverless in the Wild" (USENIX ATC'20,
//! §4.2), the published baseline: each app's idle times in a histogram, and from it two
//! windows — how long after an invocation ends to unload the app and load it again before
//! its predicted next use (the pre-warm window), and how long to keep it after that (the
//! keep-alive window).
//!
//! What it does, with the paper's settings ([`Hybrid::default`]), each rule from §4.2:
//! - **an idle time is the application's**: from the end of its last running invocation,
//!   when it becomes idle, to the start of its next one. A start while another invocation
//!   of the app runs is no idle time (the app was not idle).
//! - the idle times are kept per app in 1-minute bins over 4 hours; longer ones are counted
//!   out of bounds;
//! - **too few idle times** to trust a histogram: the standard keep-alive, no pre-warm and
//!   the histogram's range, 4 hours. The paper does not say how few; we take
//!   [`Hybrid::min_idle_times`]: below `bins ÷ (1 + cv_threshold²)` idle times (48 for 240
//!   bins and a threshold of 2), the bins' coefficient of variation is at least the
//!   threshold however the idle times fall (each in a bin of its own), so the CV test below
//!   could not tell a pattern from its absence;
//! - **certain** pattern (the bins' counts have a coefficient of variation of at least 2,
//!   so the idle times are concentrated): pre-warm at the 5th percentile less 10%, keep
//!   until the 99th percentile plus 10%, both from the invocation's end;
//! - **uncertain** pattern (a CV below 2): no pre-warm, and a fixed keep-alive of the
//!   histogram's range, 4 hours;
//! - **out of bounds** (at least half the idle times longer than the range): the paper
//!   forecasts the next idle time with ARIMA. We use the forecast of ARIMA(0,1,0), the
//!   random walk: the last idle time. Pre-warm at 85% of it, keep until 115% of it (the
//!   paper's 15% margin either side), rather than fitting a model per app: a fit over a
//!   handful of idle times is mostly noise, and this keeps the replay fast and
//!   deterministic.
//!
//! Choices the paper leaves open, besides the minimum count: the CV is the sample's (n − 1),
//! a percentile is the first bin whose cumulative count reaches it, and the keep-alive
//! window counts from the invocation's end. Where DSLab FaaS (`osukhoroslov/dslab`,
//! `extra/hybrid_histogram.rs`) reads the paper differently, this follows the paper's
//! words: its keep-alive window runs from the pre-warm load for the whole tail (so the app
//! stays until head + tail), where here the app stays until the tail's percentile after the
//! invocation's end, which is what the 99th percentile is a percentile of.
//!
//! [`Hybrid::before_issue_32`] keeps this crate's earlier reading for comparison: idle times
//! per function from its own last end, even while the app runs, and no minimum count.

use std::time::Duration;

/// The policy's settings; [`Hybrid::default`] is the paper's.
///
/// ```
/// let hybrid = lmms_replay::Hybrid::default();
/// assert_eq!((hybrid.range, hybrid.bin), (std::time::Duration::from_secs(4 * 3600), std::time::Duration::from_secs(60)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hybrid {
    /// The histogram's range: idle times beyond it are out of bounds.
    pub range: Duration,
    /// A bin's width.
    pub bin: Duration,
    /// The percentile the pre-warm window comes from.
    pub head: f64,
    /// The percentile the keep-alive window comes from.
    pub tail: f64,
    /// The margin taken off the head and added to the tail.
    pub margin: f64,
    /// The coefficient of variation of the bins' counts below which the pattern is
    /// uncertain.
    pub cv_threshold: f64,
    /// The share of out-of-bounds idle times at which the forecast takes over.
    pub oob_threshold: f64,
    /// The forecast's margin, either side.
    pub forecast_margin: f64,
    /// The fewest idle times a histogram is trusted with; fewer fall back to the standard
    /// keep-alive. `None`: `bins ÷ (1 + cv_threshold²)` (see the module's docs).
    pub min_idle_times: Option<u64>,
    /// Whether an idle time is each function's, from its own last end even while another
    /// invocation of its app runs ([`Hybrid::before_issue_32`]), instead of the app's.
    pub per_function: bool,
}

impl Default for Hybrid {
    fn default() -> Self {
        Hybrid {
            range: Duration::from_secs(4 * 3600),
            bin: Duration::from_secs(60),
            head: 0.05,
            tail: 0.99,
            margin: 0.10,
            cv_threshold: 2.0,
            oob_threshold: 0.5,
            forecast_margin: 0.15,
            min_idle_times: None,
            per_function: false,
        }
    }
}

impl Hybrid {
    /// This crate's reading before issue 32, for comparison: idle times per function, taken
    /// while the app runs too, and a histogram trusted from its first idle time.
    ///
    /// ```
    /// let before = lmms_replay::Hybrid::before_issue_32();
    /// assert!(before.per_function && before.min_idle_times == Some(0));
    /// ```
    pub fn before_issue_32() -> Self {
        Hybrid {
            min_idle_times: Some(0),
            per_function: true,
            ..Hybrid::default()
        }
    }

    /// The fewest idle times a histogram is trusted with.
    ///
    /// ```
    /// assert_eq!(lmms_replay::Hybrid::default().min_idle_times(), 48);
    /// ```
    pub fn min_idle_times(&self) -> u64 {
        self.min_idle_times.unwrap_or_else(|| {
            let bins = (self.range.as_millis() / self.bin.as_millis()).max(1) as f64;
            (bins / (1.0 + self.cv_threshold * self.cv_threshold)).ceil() as u64
        })
    }
}

/// What to do once an app's last running invocation ends, in ms from that end: unload it
/// and load it again at `prewarm` (none when 0), and unload it at `until`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Windows {
    /// When to load it again, ms after the end (0: it is not unloaded first).
    pub(crate) prewarm: u64,
    /// When to unload it, ms after the end.
    pub(crate) until: u64,
}

/// One app's idle times.
#[derive(Clone, Debug)]
pub(crate) struct Histogram {
    bins: Vec<u64>,
    in_range: u64,
    out_of_bounds: u64,
    last: u64,
}

impl Histogram {
    pub(crate) fn new(settings: &Hybrid) -> Self {
        let bins = (settings.range.as_millis() / settings.bin.as_millis()).max(1) as usize;
        Histogram {
            bins: vec![0; bins],
            in_range: 0,
            out_of_bounds: 0,
            last: 0,
        }
    }

    /// Records an idle time of `ms`.
    pub(crate) fn record(&mut self, ms: u64, settings: &Hybrid) {
        self.last = ms;
        match self
            .bins
            .get_mut((ms / settings.bin.as_millis() as u64) as usize)
        {
            Some(count) => {
                *count += 1;
                self.in_range += 1;
            }
            None => self.out_of_bounds += 1,
        }
    }

    /// How many idle times it holds.
    #[cfg(test)]
    pub(crate) fn count(&self) -> u64 {
        self.in_range + self.out_of_bounds
    }

    /// The coefficient of variation of the bins' counts.
    fn cv(&self) -> f64 {
        let n = self.bins.len() as f64;
        let mean = self.in_range as f64 / n;
        if mean == 0.0 || n < 2.0 {
            return 0.0;
        }
        let variance = self
            .bins
            .iter()
            .map(|&count| (count as f64 - mean).powi(2))
            .sum::<f64>()
            / (n - 1.0);
        variance.sqrt() / mean
    }

    /// The bin holding the `p` percentile of the idle times in range.
    fn percentile(&self, p: f64) -> usize {
        let mut seen = 0;
        for (i, &count) in self.bins.iter().enumerate() {
            seen += count;
            if seen as f64 >= p * self.in_range as f64 {
                return i;
            }
        }
        self.bins.len() - 1
    }

    /// The windows for the app's next idle period.
    pub(crate) fn windows(&self, settings: &Hybrid) -> Windows {
        let total = self.in_range + self.out_of_bounds;
        let bin = settings.bin.as_millis() as f64;
        let standard = Windows {
            prewarm: 0,
            until: settings.range.as_millis() as u64,
        };
        if total < settings.min_idle_times() {
            return standard;
        }
        if total > 0 && self.out_of_bounds as f64 >= settings.oob_threshold * total as f64 {
            let forecast = self.last as f64;
            return Windows {
                prewarm: (forecast * (1.0 - settings.forecast_margin)) as u64,
                until: (forecast * (1.0 + settings.forecast_margin)) as u64,
            };
        }
        if self.cv() < settings.cv_threshold {
            return standard;
        }
        let head = self.percentile(settings.head) as f64 * bin;
        let tail = (self.percentile(settings.tail) + 1) as f64 * bin;
        Windows {
            prewarm: (head * (1.0 - settings.margin)) as u64,
            until: (tail * (1.0 + settings.margin)) as u64,
        }
    }
}

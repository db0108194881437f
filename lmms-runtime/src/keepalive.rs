//! The adaptive keep-alive: each module's own grace period, learned from the idle gaps it
//! has had — the per-application histogram policy of Shahrad et al., "Serverless in the
//! Wild" (USENIX ATC 2020), at module granularity.
//!
//! Every time a module is used after being idle for a second or more — the time from the
//! end of its last use to the start of this one, recorded when the use takes its guard or
//! loads the module — the gap goes into a histogram of powers of two of milliseconds (up to about 4.7 hours,
//! 25 buckets of atomic counts, so recording is a relaxed add). With [`Adaptive`] on, a sweep keeps a
//! utility module through the given percentile of its observed gaps — a module called every
//! 5 minutes stays loaded between calls, one called once a day goes after its fixed grace
//! period — and falls back to the fixed grace period while it has fewer samples than
//! [`Adaptive::min_samples`]. A module's own `grace` (`#[lmms::module(grace = "..")]`)
//! always wins.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Buckets: bucket `i` counts gaps in `[2^i, 2^(i+1))` ms; the last also counts longer ones.
const BUCKETS: usize = 25;

/// The adaptive keep-alive's settings: each utility module is kept idle through a
/// percentile of its own idle gaps (gaps of a second or more, from the end of one use to
/// the start of the next), once it has shown enough of them; until then the fixed grace
/// period applies, and a module's own `grace` always wins. Shahrad et al.'s per-application
/// histogram policy ("Serverless in the Wild", USENIX ATC 2020), at module granularity.
///
/// ```
/// use std::time::Duration;
/// let adaptive = lmms::Adaptive::default().percentile(0.95).max_keep(Duration::from_secs(1800));
/// let runtime = lmms::Runtime::builder().adaptive(adaptive).build()?;
/// assert_eq!(runtime.config().adaptive().unwrap().min_samples(), 8);
/// # Ok::<(), lmms::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Adaptive {
    /// The percentile in hundredths of a percent (so the settings compare exactly).
    percentile: u32,
    min_samples: u64,
    max_keep: Duration,
}

impl Default for Adaptive {
    /// Keep through the 99th percentile of the gaps seen (Shahrad et al.'s choice), learn
    /// from 8 gaps at least, never longer than 4 hours.
    fn default() -> Self {
        Adaptive {
            percentile: 9_900,
            min_samples: 8,
            max_keep: Duration::from_secs(4 * 3600),
        }
    }
}

impl Adaptive {
    /// Keep through this share of the observed gaps (0 to 1; default 0.99).
    ///
    /// ```
    /// assert_eq!(lmms::Adaptive::default().percentile(0.9).percentile_of(), 0.9);
    /// ```
    pub fn percentile(mut self, share: f64) -> Self {
        self.percentile = (share.clamp(0.0, 1.0) * 10_000.0).round() as u32;
        self
    }

    /// The share of gaps kept through.
    ///
    /// ```
    /// assert_eq!(lmms::Adaptive::default().percentile_of(), 0.99);
    /// ```
    pub fn percentile_of(&self) -> f64 {
        f64::from(self.percentile) / 10_000.0
    }

    /// Gaps a module must have shown before its own keep-alive replaces the fixed grace
    /// period (default 8).
    ///
    /// ```
    /// assert_eq!(lmms::Adaptive::default().min_samples(), 8);
    /// ```
    pub fn min_samples(&self) -> u64 {
        self.min_samples
    }

    /// Sets [`min_samples`](Adaptive::min_samples).
    ///
    /// ```
    /// let adaptive = lmms::Adaptive::default().learn_from(3);
    /// assert_eq!(adaptive.min_samples(), 3);
    /// ```
    pub fn learn_from(mut self, samples: u64) -> Self {
        self.min_samples = samples.max(1);
        self
    }

    /// The longest a module is kept idle, whatever its gaps (default 4 hours).
    ///
    /// ```
    /// use std::time::Duration;
    /// let adaptive = lmms::Adaptive::default().max_keep(Duration::from_secs(600));
    /// ```
    pub fn max_keep(mut self, longest: Duration) -> Self {
        self.max_keep = longest;
        self
    }

    /// The keep-alive for a module with these gaps, or `None` while it has too few.
    pub(crate) fn keep(&self, gaps: &IdleGaps) -> Option<Duration> {
        let counts: [u64; BUCKETS] = std::array::from_fn(|i| gaps.buckets[i].load(Relaxed));
        let total: u64 = counts.iter().sum();
        if total < self.min_samples {
            return None;
        }
        let wanted = (u128::from(self.percentile) * u128::from(total)).div_ceil(10_000) as u64;
        let mut seen = 0;
        for (i, count) in counts.iter().enumerate() {
            seen += count;
            if seen >= wanted.max(1) {
                // The bucket's upper bound: every gap in it is kept through.
                let keep = Duration::from_millis(1u64 << (i + 1));
                return Some(keep.min(self.max_keep));
            }
        }
        Some(self.max_keep)
    }
}

/// A module's idle gaps, as a histogram of powers of two of milliseconds.
pub(crate) struct IdleGaps {
    buckets: [AtomicU64; BUCKETS],
}

impl IdleGaps {
    /// The shortest gap that counts as idleness, in ms.
    pub(crate) const SHORTEST_MS: u64 = 1_000;

    pub(crate) const fn new() -> Self {
        IdleGaps {
            buckets: [const { AtomicU64::new(0) }; BUCKETS],
        }
    }

    /// Records a gap of `ms` milliseconds. Gaps under a second are not idleness but a
    /// module in steady use; counting them would teach a busy module to go at once.
    pub(crate) fn record(&self, ms: u64) {
        if ms < Self::SHORTEST_MS {
            return;
        }
        let bucket = (63 - ms.leading_zeros() as usize).min(BUCKETS - 1);
        self.buckets[bucket].fetch_add(1, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keep_alive_covers_the_percentile_of_the_gaps() {
        let gaps = IdleGaps::new();
        let adaptive = Adaptive::default();
        assert_eq!(adaptive.keep(&gaps), None, "no samples: fall back");
        // Every 5 minutes, ten times: kept through 2^19 ms ≈ 8.7 min.
        for _ in 0..10 {
            gaps.record(300_000);
        }
        assert_eq!(adaptive.keep(&gaps), Some(Duration::from_millis(1 << 19)));
        // One long gap among many short ones moves the 99th percentile, not the 50th.
        let gaps = IdleGaps::new();
        for _ in 0..99 {
            gaps.record(1_000);
        }
        gaps.record(3_600_000);
        gaps.record(20); // steady use, not idleness: not counted
        assert_eq!(
            adaptive.percentile(0.5).keep(&gaps),
            Some(Duration::from_millis(1024))
        );
        assert_eq!(adaptive.keep(&gaps), Some(Duration::from_millis(1024)));
        assert_eq!(
            adaptive.percentile(1.0).keep(&gaps),
            Some(Duration::from_millis(1 << 22))
        );
        assert_eq!(
            adaptive
                .percentile(1.0)
                .max_keep(Duration::from_secs(60))
                .keep(&gaps),
            Some(Duration::from_secs(60))
        );
    }
}

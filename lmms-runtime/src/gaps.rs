//! A module's idle gaps, as a histogram: what the adaptive keep-alive chooses from.
//!
//! Every time a module is used after being idle for a second or more — the time from the
//! end of its last use to the start of this one, recorded when the use takes its guard or
//! loads the module — the gap goes into a histogram with four buckets per doubling, from
//! 1 s to about 9 hours (60 atomic counts, each bucket's shortest and longest gap, and their
//! total: recording is two adds and a compare-and-swap, once per idle period).

use std::sync::atomic::{
    AtomicU64,
    Ordering::{Relaxed, Release},
};

/// Buckets per doubling of the gap.
pub(crate) const STEPS: u32 = 4;
/// The shortest gap recorded is 2^10 ms (about a second).
pub(crate) const FIRST_OCTAVE: u32 = 10;
/// 15 doublings: up to 2^25 ms, about 9.3 hours; longer gaps count in the last bucket.
pub(crate) const BUCKETS: usize = 15 * STEPS as usize;

/// A bucket's shortest gap, in the low half of its packed span.
const LOW: u64 = u32::MAX as u64;
/// A bucket's shortest and longest gap before it has seen one: the shortest above any
/// gap, the longest below.
const NOTHING_SEEN: u64 = LOW;

/// Bucket `i`'s gaps, in ms: `[low, high)`.
pub(crate) fn bounds(bucket: usize) -> (u64, u64) {
    let octave = FIRST_OCTAVE + bucket as u32 / STEPS;
    let step = u64::from(bucket as u32 % STEPS);
    let unit = 1u64 << (octave - STEPS.trailing_zeros());
    (
        (u64::from(STEPS) + step) * unit,
        (u64::from(STEPS) + step + 1) * unit,
    )
}

/// A module's idle gaps, as a histogram with [`STEPS`] buckets per doubling, and the
/// schedule last chosen from them.
pub(crate) struct IdleGaps {
    pub(crate) buckets: [AtomicU64; BUCKETS],
    /// The shortest and longest gap each bucket has seen, in ms, packed in the low and
    /// high 32 bits (the last bucket's are clamped to 32 bits and never read).
    seen: [AtomicU64; BUCKETS],
    /// Gaps recorded, all buckets together.
    pub(crate) samples: AtomicU64,
    /// The schedule last chosen, packed, and a mix of the sample count and size it was
    /// chosen for. Two sweeps racing may both choose, or one read the other's fresher
    /// choice: either way the answer is one the inputs gave a moment ago.
    pub(crate) chosen: AtomicU64,
    pub(crate) chosen_for: AtomicU64,
}

impl IdleGaps {
    /// The shortest gap that counts as idleness, in ms.
    pub(crate) const SHORTEST_MS: u64 = 1 << FIRST_OCTAVE;

    /// Gaps of `ms` milliseconds, each recorded `times` times: what the unit tests of this
    /// file and of the keep-alive start from.
    #[cfg(test)]
    pub(crate) fn of(ms: &[(u64, usize)]) -> Self {
        let gaps = IdleGaps::new();
        for &(gap, times) in ms {
            (0..times).for_each(|_| gaps.record(gap));
        }
        gaps
    }

    pub(crate) const fn new() -> Self {
        IdleGaps {
            buckets: [const { AtomicU64::new(0) }; BUCKETS],
            seen: [const { AtomicU64::new(NOTHING_SEEN) }; BUCKETS],
            samples: AtomicU64::new(0),
            chosen: AtomicU64::new(0),
            // Unreachable by a count under 2^24 (bits 40 up) mixed with a price under 2^40 ms.
            chosen_for: AtomicU64::new(u64::MAX),
        }
    }

    /// Records a gap of `ms` milliseconds. Gaps under a second are not idleness but a
    /// module in steady use; counting them would teach a busy module to go at once.
    pub(crate) fn record(&self, ms: u64) {
        if ms < Self::SHORTEST_MS {
            return;
        }
        let octave = 63 - ms.leading_zeros();
        let step = (ms >> (octave - STEPS.trailing_zeros())) as u32 - STEPS;
        let bucket = ((octave - FIRST_OCTAVE) * STEPS + step) as usize;
        let bucket = bucket.min(BUCKETS - 1);
        self.buckets[bucket].fetch_add(1, Relaxed);
        let ms = u64::from(u32::try_from(ms).unwrap_or(u32::MAX));
        // A gap is recorded once per idle period: the loop is not contended.
        let _ = self.seen[bucket].fetch_update(Relaxed, Relaxed, |seen| {
            Some((seen & LOW).min(ms) | (seen >> 32).max(ms) << 32)
        });
        // Released after the bucket and its span: a sweep that reads this count reads them
        // as they were when it was made.
        self.samples.fetch_add(1, Release);
    }

    /// Where a schedule may start and end in `bucket`: from a little before the shortest
    /// gap it has seen to a little after the longest (a thirty-second of the gap either
    /// side), within the bucket's bounds; the bounds themselves while it has seen none.
    /// Bucket bounds are a quarter octave wide, a window that loose would hold a module
    /// pre-warmed for up to a fifth of its gap.
    pub(crate) fn span(&self, bucket: usize) -> (u64, u64) {
        let (low, high) = bounds(bucket);
        let seen = self.seen[bucket].load(Relaxed);
        if seen == NOTHING_SEEN {
            return (low, high);
        }
        let (shortest, longest) = (seen & LOW, seen >> 32);
        (
            shortest.saturating_sub(shortest / 32).max(low),
            (longest + longest / 32 + 1).min(high),
        )
    }

    /// No gap recorded (`lmms::testing`).
    #[cfg(feature = "testing")]
    pub(crate) fn reset(&self) {
        let counts = [&self.samples, &self.chosen, &self.chosen_for];
        for count in self.buckets.iter().chain(counts) {
            count.store(0, Relaxed);
        }
        for seen in &self.seen {
            seen.store(NOTHING_SEEN, Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_gap_lands_in_the_bucket_that_bounds_it() {
        for ms in [
            1_024,
            1_279,
            1_280,
            2_047,
            2_048,
            299_999,
            300_000,
            (1 << 25) - 1,
        ] {
            let gaps = IdleGaps::of(&[(ms, 1)]);
            let bucket = gaps.buckets.iter().position(|b| b.load(Relaxed) == 1);
            let (low, high) = bounds(bucket.unwrap());
            assert!(low <= ms && ms < high, "{ms} in [{low}, {high})");
        }
        assert_eq!(
            IdleGaps::of(&[(u64::MAX, 1)]).buckets[BUCKETS - 1].load(Relaxed),
            1
        );
        assert!(IdleGaps::of(&[(1_023, 1)])
            .buckets
            .iter()
            .all(|b| b.load(Relaxed) == 0));
    }
}

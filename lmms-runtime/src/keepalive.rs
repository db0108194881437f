//! The adaptive keep-alive: each module's own grace period, chosen from the idle gaps it has
//! had — the per-application histogram of Shahrad et al., "Serverless in the Wild" (USENIX
//! ATC 2020), at module granularity, with the keep-alive picked by rent-or-buy.
//!
//! Every time a module is used after being idle for a second or more, the gap goes into
//! its histogram ([`IdleGaps`]).
//!
//! Keeping a module idle through a gap costs memory-time; unloading it costs a load at the
//! next call. The price of a load sets the exchange rate: by default a load is worth keeping
//! a module of the process's typical size idle for 2 minutes
//! ([`Adaptive::load_worth_typical`]). A module of that size is worth keeping through any
//! gap shorter than that time (its break-even), a module twice the size through gaps half as
//! long: every load costs the same, and memory is what a module pays to stay (the
//! cost-over-size of FaasCache's greedy-dual keep-alive, Fuerst and Sharma, ASPLOS 2021,
//! where keeping warm functions is caching them). At each sweep the keep-alive `K` is the
//! one that would have cost least over the module's own gaps:
//! `Σ min(gap, K) · size + loads(gaps > K) · price`, over `K` = 0 and the end of each
//! bucket's span (a little past the longest gap it has seen). With pre-warming
//! ([`Adaptive::prewarm`]) the same costs choose among schedules that unload a module and
//! load it again before its next use. The costs take a sweep as instant: a real schedule
//! starts up to one sweep interval early and ends up to one late, which matters for gaps
//! not many times the sweeps' interval. A module called every 5 minutes is kept between calls; one called
//! every hour, or at random, goes at the first sweep after its use, where a fixed grace
//! period would have held it idle for nothing. Until a module has shown
//! [`Adaptive::min_samples`] gaps it is kept for its break-even: the classic rent-or-buy
//! rule, which costs at most twice the best choice for any one gap.

use crate::gaps::{IdleGaps, BUCKETS, FIRST_OCTAVE, STEPS};
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::time::Duration;

/// The adaptive keep-alive's settings: each utility module is kept idle for the time that
/// would have cost least over its own idle gaps (see [`load_cost`](Adaptive::load_cost)),
/// once it has shown [`min_samples`](Adaptive::min_samples) of them, and for its
/// [`break_even`](Adaptive::break_even) until then. It replaces the runtime's fixed grace
/// period; a module's own `grace` still wins. From text or the environment:
/// `Builder::set("adaptive", "128MiB/60s")`, `LMMS_ADAPTIVE=on`.
///
/// ```
/// use std::time::Duration;
/// let adaptive = lmms::tuning::Adaptive::default().load_cost(256 << 20, Duration::from_secs(120));
/// let runtime = lmms::Runtime::builder().adaptive(adaptive).build()?;
/// assert_eq!(runtime.config().adaptive().unwrap().min_samples(), 8);
/// # Ok::<(), lmms::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Adaptive {
    /// A load costs as much as keeping `price_bytes` idle for `price_time`, where the rule
    /// says whose bytes count.
    price_bytes: u64,
    price_time: Duration,
    rule: Rule,
    min_samples: u64,
    max_keep: Duration,
    /// A pre-warm load's price, in percent of a load on the request path; `None`: no
    /// pre-warming.
    prewarm: Option<u8>,
}

/// Whose memory a load's price is counted in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rule {
    /// `price_bytes` of any module ([`Adaptive::load_cost`]).
    Bytes,
    /// The module's own ([`Adaptive::load_worth_idle`]).
    Own,
    /// A module of the process's typical size ([`Adaptive::load_worth_typical`]).
    Typical,
}

impl Default for Adaptive {
    /// A load is worth keeping a module of the process's typical size idle for 2 minutes
    /// ([`load_worth_typical`](Adaptive::load_worth_typical)); learn from 8 gaps at least;
    /// never keep longer than 4 hours; no pre-warming.
    ///
    /// The rule: a cold start is what a caller waits for, whichever module it loads, so
    /// every load is priced the same, and a module pays for staying in its own memory: a
    /// large one is kept through shorter gaps than a small one (FaasCache's cost over size).
    /// The offline optimum, which keeps a gap when `gap × size` is below one price, follows
    /// the same rule. The price is set against the process's own modules, so it means the
    /// same whatever their sizes. Two minutes is the break-even `lmms-replay --folds`
    /// chooses most often for this rule on held-out parts of a real trace (BENCHMARKS.md,
    /// issue 32); the earlier default, every module's own memory for 5 minutes
    /// ([`load_worth_idle`](Adaptive::load_worth_idle)), was 1.35–2.09× the offline front
    /// there, this one 1.26–1.60×.
    fn default() -> Self {
        Adaptive {
            price_bytes: 128 << 20,
            price_time: Duration::from_secs(120),
            rule: Rule::Typical,
            min_samples: 8,
            max_keep: Duration::from_secs(4 * 3600),
            prewarm: None,
        }
    }
}

impl Adaptive {
    /// Sets the price of a load: as much as keeping `bytes` of state idle for `time`
    /// (by default the price is [`load_worth_typical`](Adaptive::load_worth_typical)'s 2
    /// minutes of a typical module). A higher price keeps modules longer: fewer loads, more
    /// idle memory. A module's size is the heap its load kept, measured with
    /// [`CountingAlloc`](crate::memory::CountingAlloc); without it every module counts as
    /// `bytes` large, and the break-even is `time` for all.
    ///
    /// ```
    /// use std::time::Duration;
    /// let adaptive = lmms::tuning::Adaptive::default().load_cost(1 << 30, Duration::from_secs(10));
    /// assert_eq!(adaptive.break_even(1 << 30), Duration::from_secs(10));
    /// assert_eq!(adaptive.break_even(1 << 29), Duration::from_secs(20));
    /// ```
    pub fn load_cost(mut self, bytes: u64, time: Duration) -> Self {
        self.price_bytes = bytes.max(1);
        self.price_time = time;
        self.rule = Rule::Bytes;
        self
    }

    /// Sets the price of a module's load to keeping that module idle for `time`, whatever
    /// its size: every module's break-even is `time`, and its keep-alive is chosen from its
    /// own gaps against it. The price of a large module's load is then as much larger as
    /// its memory is (a load rebuilds what it holds).
    ///
    /// ```
    /// use std::time::Duration;
    /// let adaptive = lmms::tuning::Adaptive::default().load_worth_idle(Duration::from_secs(300));
    /// assert_eq!(adaptive.break_even(1 << 30), Duration::from_secs(300));
    /// assert_eq!(adaptive.break_even(1 << 10), Duration::from_secs(300));
    /// ```
    pub fn load_worth_idle(mut self, time: Duration) -> Self {
        self.price_time = time;
        self.rule = Rule::Own;
        self
    }

    /// Sets the price of any module's load to keeping a module of the process's typical
    /// size idle for `time` (the default, at 2 minutes): every load costs the same, and a
    /// module twice the typical size has half the break-even. The typical size is the mean
    /// of what the runtime's modules kept at their last load, measured with
    /// [`CountingAlloc`](crate::memory::CountingAlloc); without it every module counts as
    /// typical, and the break-even is `time` for all.
    ///
    /// ```
    /// use std::time::Duration;
    /// let adaptive = lmms::tuning::Adaptive::default().load_worth_typical(Duration::from_secs(60));
    /// assert_eq!(adaptive.break_even_among(2 << 20, 1 << 20), Duration::from_secs(30));
    /// assert_eq!(adaptive.break_even_among(1 << 19, 1 << 20), Duration::from_secs(120));
    /// ```
    pub fn load_worth_typical(mut self, time: Duration) -> Self {
        self.price_time = time;
        self.rule = Rule::Typical;
        self
    }

    /// How long a module of `bytes` is worth keeping idle instead of loading it again
    /// (`0` bytes: unknown size, the price's own time), when it is of the process's
    /// typical size: see [`break_even_among`](Adaptive::break_even_among).
    ///
    /// ```
    /// use std::time::Duration;
    /// let priced = lmms::tuning::Adaptive::default().load_cost(128 << 20, Duration::from_secs(60));
    /// assert_eq!(priced.break_even(0), Duration::from_secs(60));
    /// assert_eq!(priced.break_even(256 << 20), Duration::from_secs(30));
    /// assert_eq!(lmms::tuning::Adaptive::default().break_even(256 << 20), Duration::from_secs(120));
    /// ```
    pub fn break_even(&self, bytes: u64) -> Duration {
        self.break_even_among(bytes, bytes)
    }

    /// How long a module of `bytes` is worth keeping idle instead of loading it again, in a
    /// process whose modules are `typical` bytes on average (`0`: unknown, counted as
    /// the price's own time). Only [`load_worth_typical`](Adaptive::load_worth_typical)'s
    /// price depends on `typical`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let default = lmms::tuning::Adaptive::default();
    /// assert_eq!(default.break_even_among(4 << 20, 1 << 20), Duration::from_secs(30));
    /// let own = default.load_worth_idle(Duration::from_secs(300));
    /// assert_eq!(own.break_even_among(4 << 20, 1 << 20), Duration::from_secs(300));
    /// ```
    pub fn break_even_among(&self, bytes: u64, typical: u64) -> Duration {
        let price_bytes = match self.rule {
            Rule::Bytes => self.price_bytes,
            Rule::Own => bytes,
            Rule::Typical => typical,
        };
        if bytes == 0 || price_bytes == 0 {
            return self.price_time;
        }
        let scaled = self.price_time.as_nanos() * u128::from(price_bytes) / u128::from(bytes);
        Duration::from_nanos(u64::try_from(scaled).unwrap_or(u64::MAX))
    }

    /// Gaps a module must have shown before its keep-alive is chosen from them (default 8);
    /// until then it is kept for its [`break_even`](Adaptive::break_even).
    ///
    /// ```
    /// assert_eq!(lmms::tuning::Adaptive::default().min_samples(), 8);
    /// ```
    pub fn min_samples(&self) -> u64 {
        self.min_samples
    }

    /// Sets [`min_samples`](Adaptive::min_samples).
    ///
    /// ```
    /// let adaptive = lmms::tuning::Adaptive::default().learn_from(3);
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
    /// let adaptive = lmms::tuning::Adaptive::default().max_keep(Duration::from_secs(600));
    /// ```
    pub fn max_keep(mut self, longest: Duration) -> Self {
        self.max_keep = longest;
        self
    }

    /// Pre-warms, for long-running processes with a [`Reaper`](crate::tuning::Reaper): a module
    /// whose gaps are predictable — an hourly job, a poll every 5 minutes — is unloaded
    /// soon after its use and loaded again by the sweep just before its next use is due,
    /// then kept for the rest of the window its gaps fall in. Whether to, and when, is
    /// chosen like the keep-alive, from the module's own gaps: the schedule that would have
    /// cost least, a load a caller waited for at the full price, a pre-warm at `percent` of
    /// it (a pre-warm costs the same work, but no caller waits for it). A pre-warm is never
    /// a use: it records no gap and keeps no module longer.
    ///
    /// It does not apply in a frozen Lambda sandbox, where nothing runs between
    /// invocations; modules with an [`AsyncLoad`](crate::AsyncLoad) state are not
    /// pre-warmed (the sweep has no executor to run their load on), nor is one whose load
    /// would not fit in the [memory budget](crate::tuning::Builder::memory_budget). A failed or
    /// panicking pre-warm is counted as a failed load and leaves the module unloaded until
    /// its next use: one try per idle period. A loader that loads another module while it
    /// pre-warms loads that one as a use of it, as any load inside a loader is. `percent`
    /// above 100 counts as 100.
    ///
    /// ```
    /// let adaptive = lmms::tuning::Adaptive::default().prewarm(25);
    /// assert_eq!(adaptive.prewarm_percent(), Some(25));
    /// assert_eq!(lmms::tuning::Adaptive::default().prewarm_percent(), None);
    /// ```
    pub fn prewarm(mut self, percent: u8) -> Self {
        self.prewarm = Some(percent.min(100));
        self
    }

    /// A pre-warm's price in percent of a load on the request path, if
    /// [`prewarm`](Adaptive::prewarm) is on.
    ///
    /// ```
    /// assert_eq!(lmms::tuning::Adaptive::default().prewarm(250).prewarm_percent(), Some(100));
    /// ```
    pub fn prewarm_percent(&self) -> Option<u8> {
        self.prewarm
    }

    /// Whether the price depends on the modules' mean size: the sweep reads it only then.
    pub(crate) fn needs_typical(&self) -> bool {
        self.rule == Rule::Typical
    }

    /// What to do with an idle module of `bytes` with these gaps, among modules of
    /// `typical` bytes on average; pre-warming only if it is on and the module
    /// `can_prewarm` (the same for a module every time).
    pub(crate) fn schedule(
        &self,
        gaps: &IdleGaps,
        bytes: u64,
        typical: u64,
        can_prewarm: bool,
    ) -> Schedule {
        let samples = gaps.samples.load(Acquire);
        let break_even = self.break_even_among(bytes, typical);
        if samples < self.min_samples {
            // Nothing known yet: keep for the break-even, the rule that costs at most twice
            // the best choice for any one gap, however long it turns out to be.
            return Schedule::keep(break_even.min(self.max_keep));
        }
        // Sweeps far outnumber new gaps: choose again only when the gaps or the price moved.
        let price_ms = u64::try_from(break_even.as_millis()).unwrap_or(u64::MAX);
        let inputs = samples.rotate_left(40) ^ price_ms;
        let packed = if gaps.chosen_for.load(Acquire) == inputs {
            gaps.chosen.load(Relaxed)
        } else {
            let prewarm = self.prewarm.filter(|_| can_prewarm);
            let packed = Adaptive { prewarm, ..*self }
                .choose(gaps, break_even)
                .pack();
            gaps.chosen.store(packed, Relaxed);
            gaps.chosen_for.store(inputs, Release);
            packed
        };
        let mut schedule = Schedule::unpack(packed);
        schedule.keep = schedule.keep.min(self.max_keep);
        schedule
    }

    /// The schedule that would have cost least over the gaps in `gaps`, a load costing
    /// `break_even` of the module idle: keep-alive only, or (with pre-warming) kept for a
    /// while, unloaded, loaded again at the start of a bucket's span and kept until the end
    /// of a later one's (see [`IdleGaps::span`]).
    fn choose(&self, gaps: &IdleGaps, break_even: Duration) -> Schedule {
        let counts: [u64; BUCKETS] = std::array::from_fn(|i| gaps.buckets[i].load(Relaxed));
        let spans: [(u64, u64); BUCKETS] = std::array::from_fn(|i| gaps.span(i));
        // Costs in milliseconds of this module idle: a load costs its break-even. Each gap
        // is taken at the middle of the shortest and longest its bucket has seen; the last
        // bucket, unbounded, is never kept.
        let price = break_even.as_secs_f64() * 1000.0;
        let bound = |bucket: usize| spans[bucket].1 as f64;
        let middle = |bucket: usize| (spans[bucket].0 + spans[bucket].1) as f64 / 2.0;
        // Unloading at the start of bucket `j`: at once for the first, after the span of
        // the one before it otherwise, in ms.
        let unload_at = |j: usize| if j == 0 { 0 } else { spans[j - 1].1 };
        // `beyond[i]`: gaps in buckets `i` and up.
        let mut beyond = [0u64; BUCKETS + 1];
        for bucket in (0..BUCKETS).rev() {
            beyond[bucket] = beyond[bucket + 1] + counts[bucket];
        }
        // `kept[j]`: the idle time of keeping through buckets `..j` and unloading at their
        // end (`kept[0]`: unloading at once), every later gap costing a load.
        let mut kept = [0.0f64; BUCKETS];
        let mut through = 0.0;
        for j in 0..BUCKETS {
            kept[j] = through + beyond[j] as f64 * (unload_at(j) as f64 + price);
            through += counts[j] as f64 * middle(j);
        }
        let (mut best_cost, mut best) = (kept[0], Schedule::keep(Duration::ZERO));
        for (j, &cost) in kept.iter().enumerate().skip(1) {
            if cost < best_cost {
                let keep = Duration::from_millis(unload_at(j));
                (best_cost, best) = (cost, Schedule::keep(keep));
            }
        }
        let Some(percent) = self.prewarm else {
            return best;
        };
        let prewarm_price = price * f64::from(percent) / 100.0;
        let max_keep = self.max_keep.as_millis() as f64;
        // Unloaded at the start of bucket `j` (`kept[j]`), loaded again at the start of
        // bucket `b`'s span, kept until the end of bucket `e`'s: gaps in `j..b` are loads a
        // caller waits for, gaps from `b` on are pre-warmed (the load `kept[j]` counted for them becomes a
        // pre-warm), gaps past `e` are loads as well, after the whole window. The time
        // before the unload is the same either way, so the best `j` for each `b` is the
        // cheapest `kept[j]` below it.
        let mut unload = (kept[0], 0);
        for b in 1..BUCKETS - 1 {
            if kept[b - 1] < unload.0 {
                unload = (kept[b - 1], b - 1);
            }
            let warm = spans[b].0 as f64;
            let base = unload.0 + beyond[b] as f64 * (prewarm_price - price);
            let mut window = 0.0;
            for e in b..BUCKETS - 1 {
                if bound(e) > max_keep {
                    break;
                }
                window += counts[e] as f64 * (middle(e) - warm);
                let cost = base + window + beyond[e + 1] as f64 * (bound(e) - warm + price);
                if cost < best_cost {
                    best_cost = cost;
                    best = Schedule {
                        keep: Duration::from_millis(unload_at(unload.1)),
                        warm: Some((
                            Duration::from_millis(spans[b].0),
                            Duration::from_millis(spans[e].1),
                        )),
                    };
                }
            }
        }
        best
    }
}

/// What the adaptive keep-alive does with an idle module: keep it for `keep` after its
/// last use, then unload it; with pre-warming, load it again at `warm.0` after its last
/// use and keep it until `warm.1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Schedule {
    pub(crate) keep: Duration,
    pub(crate) warm: Option<(Duration, Duration)>,
}

/// A [`Schedule`]'s times are packed in units of this many ms, 20 bits each (the longest
/// bucket bound is 2^17 of them).
const PACK_UNIT_MS: u64 = 1 << (FIRST_OCTAVE - STEPS.trailing_zeros());
const PACK_BITS: u32 = 20;

impl Schedule {
    pub(crate) fn keep(keep: Duration) -> Self {
        Schedule { keep, warm: None }
    }

    /// Whether a module idle for `idle` is in its pre-warm window, loading `ahead` of it.
    pub(crate) fn in_window(&self, idle: Duration, ahead: Duration) -> bool {
        self.warm
            .is_some_and(|(warm, until)| idle + ahead >= warm && idle < until)
    }

    /// Whether a module idle for `idle` is before its pre-warm window's end.
    pub(crate) fn before_end(&self, idle: Duration) -> bool {
        self.warm.is_some_and(|(_, until)| idle < until)
    }

    /// Packed in units, the pre-warm rounded down and the ends of keeping up: a schedule
    /// packed covers at least the gaps it was chosen for.
    fn pack(self) -> u64 {
        let units = |time: Duration, up: bool| {
            let ms = time.as_millis() as u64 + if up { PACK_UNIT_MS - 1 } else { 0 };
            (ms / PACK_UNIT_MS).min((1 << PACK_BITS) - 1)
        };
        let (warm, until) = self.warm.unwrap_or_default();
        units(self.keep, true)
            | units(warm, false) << PACK_BITS
            | units(until, true) << (2 * PACK_BITS)
    }

    fn unpack(packed: u64) -> Self {
        let time = |field: u32| {
            Duration::from_millis(
                (packed >> (field * PACK_BITS) & ((1 << PACK_BITS) - 1)) * PACK_UNIT_MS,
            )
        };
        let (keep, warm, until) = (time(0), time(1), time(2));
        Schedule {
            keep,
            warm: (!warm.is_zero()).then_some((warm, until)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gaps::bounds;

    const MINUTE: u64 = 60_000;

    fn keep_of(adaptive: &Adaptive, gaps: &IdleGaps, bytes: u64) -> Duration {
        let schedule = adaptive.schedule(gaps, bytes, 0, true);
        assert_eq!(schedule.warm, None, "no pre-warming unless asked");
        schedule.keep
    }

    #[test]
    fn keeps_through_gaps_shorter_than_the_break_even_and_drops_longer_ones() {
        let adaptive = Adaptive::default().load_cost(1 << 20, Duration::from_secs(600));
        let few = IdleGaps::of(&[(60 * MINUTE, 7)]);
        assert_eq!(
            keep_of(&adaptive, &few, 0),
            Duration::from_secs(600),
            "the break-even"
        );
        // Every 5 minutes with a 10-minute break-even: kept through the bucket's end.
        let periodic = IdleGaps::of(&[(5 * MINUTE, 10)]);
        let keep = keep_of(&adaptive, &periodic, 0);
        assert!(keep >= Duration::from_secs(300) && keep < Duration::from_secs(360));
        // Four times the price's size: a 150 s break-even, no longer worth keeping.
        assert_eq!(keep_of(&adaptive, &periodic, 4 << 20), Duration::ZERO);
        // Every hour: dropped at once, where a fixed grace period would hold it idle.
        assert_eq!(
            keep_of(&adaptive, &IdleGaps::of(&[(60 * MINUTE, 10)]), 0),
            Duration::ZERO
        );
        // Mostly short gaps and a few long ones: keep through the short ones only.
        let mixed = IdleGaps::of(&[(2 * MINUTE, 90), (3 * 60 * MINUTE, 10)]);
        let keep = keep_of(&adaptive, &mixed, 0);
        assert!(keep >= Duration::from_secs(120) && keep < Duration::from_secs(160));
        assert_eq!(
            keep_of(&adaptive.max_keep(Duration::from_secs(60)), &mixed, 0),
            Duration::from_secs(60)
        );
        // New gaps make it choose again: now mostly long ones, so it drops the module.
        (0..500).for_each(|_| mixed.record(3 * 60 * MINUTE));
        assert_eq!(keep_of(&adaptive, &mixed, 0), Duration::ZERO);
    }

    #[test]
    fn prewarms_a_module_whose_gaps_are_predictable_and_keeps_one_whose_are_not() {
        let adaptive = Adaptive::default()
            .load_cost(1 << 20, Duration::from_secs(600))
            .prewarm(25);
        // Hourly: unloaded at once, loaded again at the lower bound of the hour's bucket,
        // kept to its upper bound.
        let hourly = IdleGaps::of(&[(60 * MINUTE, 10)]);
        let schedule = adaptive.schedule(&hourly, 0, 0, true);
        let (warm, until) = schedule.warm.expect("an hourly module is pre-warmed");
        assert_eq!(schedule.keep, Duration::ZERO);
        let hour = Duration::from_secs(3600);
        assert!(warm <= hour && hour < until, "{warm:?}..{until:?}");
        assert!(until - warm < Duration::from_secs(15 * 60));
        // Bursts of calls seconds apart, then an hour's pause: kept through the bursts,
        // pre-warmed for the hour.
        let bursts = IdleGaps::of(&[(5_000, 90), (60 * MINUTE, 10)]);
        let schedule = adaptive.schedule(&bursts, 0, 0, true);
        assert!(schedule.keep >= Duration::from_secs(5) && schedule.keep < Duration::from_secs(60));
        assert!(schedule.warm.is_some_and(|(warm, _)| warm <= hour));
        // Gaps spread from a minute to hours: no window worth a pre-warm.
        let spread: Vec<(u64, usize)> = (1..=240).map(|minutes| (minutes * MINUTE, 1)).collect();
        assert_eq!(
            adaptive.schedule(&IdleGaps::of(&spread), 0, 0, true).warm,
            None
        );
        // Without pre-warming, an hourly module is simply dropped.
        let plain = Adaptive::default().load_cost(1 << 20, Duration::from_secs(600));
        assert_eq!(
            keep_of(&plain, &IdleGaps::of(&[(60 * MINUTE, 10)]), 0),
            Duration::ZERO
        );
    }

    #[test]
    fn the_default_prices_every_load_alike_so_a_larger_module_goes_sooner() {
        let default = Adaptive::default();
        let every_100_s = IdleGaps::of(&[(100_000, 10)]);
        let schedule = |bytes| default.schedule(&every_100_s, bytes, 1 << 20, false).keep;
        // Of the mean size: a 2-minute break-even, worth keeping through 100 s gaps.
        assert!(schedule(1 << 20) >= Duration::from_secs(100));
        // Four times the mean: a 30 s break-even, dropped at once.
        assert_eq!(schedule(4 << 20), Duration::ZERO);
        // A quarter of it: kept, as under the earlier default of every module's own 5 min.
        assert!(schedule(1 << 18) >= Duration::from_secs(100));
        let before = default.load_worth_idle(Duration::from_secs(300));
        assert!(
            before.schedule(&every_100_s, 4 << 20, 1 << 20, false).keep >= Duration::from_secs(100)
        );
        // Unmeasured sizes: every module typical.
        assert!(default.schedule(&every_100_s, 0, 0, false).keep >= Duration::from_secs(100));
    }

    #[test]
    fn a_schedule_survives_its_packing() {
        for schedule in [
            Schedule::keep(Duration::ZERO),
            Schedule::keep(Duration::from_millis(bounds(BUCKETS - 2).1)),
            Schedule {
                keep: Duration::from_millis(bounds(3).1),
                warm: Some((
                    Duration::from_millis(bounds(20).0),
                    Duration::from_millis(bounds(BUCKETS - 2).1),
                )),
            },
        ] {
            assert_eq!(Schedule::unpack(schedule.pack()), schedule);
        }
    }
}

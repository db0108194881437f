//! A trace played through the real lmms runtime: one module per app whose state is a real
//! allocation sized from the app's memory, one use per invocation held for its duration,
//! the manual clock driven by the trace, and a sweep every 10 s of trace time.

use crate::trace::{App, Trace};
use lmms::{Adaptive, Guard, Handle, ManualClock, ModuleDef, Runtime};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// How often the replay sweeps, in trace time.
const SWEEP_EVERY_MS: u64 = 10_000;
/// The width of the resident-memory timeline's steps, in ms.
const STEP_MS: u64 = 60_000;

/// An unload policy to replay under.
#[derive(Clone, Debug, PartialEq)]
pub enum Policy {
    /// Every module loaded at the start, never unloaded.
    Eager,
    /// Unloaded after a fixed idle time (the seed's 30 s; AWS-like 10 min).
    Fixed(Duration),
    /// Unloaded least recently used first whenever the resident bytes pass the budget, and
    /// after `grace` idle otherwise.
    Budget {
        /// The memory budget, in bytes of state.
        bytes: u64,
        /// The idle time after which a module goes anyway.
        grace: Duration,
    },
    /// Each module kept for the time that would have cost least over its own idle gaps, at
    /// the adaptive keep-alive's price of a load (see [`lmms::Adaptive`]).
    Adaptive(Adaptive),
}

/// What a replay measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    /// Module loads: cold starts.
    pub loads: u64,
    /// Resident state over trace time, in MB-seconds (trace MB, before scaling).
    pub resident_mb_s: f64,
    /// The part of it resident but unused: no invocation running on the module.
    pub idle_mb_s: f64,
    /// Invocations played.
    pub invocations: u64,
    /// Operation results served from the cache. A trace carries no arguments, so its
    /// operations are not cached and this stays 0; it is read from the runtime all the same.
    pub cache_hits: u64,
    /// Resident MB, averaged over each minute of trace time.
    pub resident_mb: Vec<f64>,
    /// How long the replay took, in wall time.
    pub wall: Duration,
}

/// Plays `trace` under `policy` until its last invocation has ended and one sweep period
/// (10 s) has passed since its last start, whichever is later: past the trace's last
/// minute when an invocation runs on beyond it, so that every invocation is played whole.
/// Each app's state is `bytes_per_mb` bytes per MB of its memory (the real allocation),
/// while the figures are in the trace's own MB.
///
/// ```
/// use lmms_replay::{replay, Invocation, Policy, Trace};
/// use std::time::Duration;
/// let mut trace = Trace::default();
/// let app = trace.add_function("app", "f", Some(100.0));
/// trace.invocations.push(Invocation { at_ms: 0, function: app, duration_ms: 1_000 });
/// let outcome = replay(&trace, &Policy::Fixed(Duration::from_secs(30)), 1024)?;
/// assert_eq!(outcome.loads, 1);
/// // The replay ends one sweep period (10 s) after the last start: resident for all of it,
/// // idle for all but the running second.
/// assert_eq!(outcome.resident_mb_s.round(), 1000.0);
/// assert_eq!(outcome.idle_mb_s.round(), 900.0);
/// # Ok::<(), lmms::Error>(())
/// ```
pub fn replay(trace: &Trace, policy: &Policy, bytes_per_mb: u64) -> Result<Outcome, lmms::Error> {
    let started = Instant::now();
    let clock = ManualClock::new();
    let mut builder = Runtime::builder()
        .clock(clock.clone())
        .min_resident(0)
        .trim_threshold(None);
    builder = match policy {
        Policy::Eager => builder.grace(Duration::MAX),
        Policy::Fixed(grace) => builder.grace(*grace),
        Policy::Budget { bytes, grace } => builder.grace(*grace).memory_budget(*bytes),
        Policy::Adaptive(adaptive) => builder.adaptive(*adaptive),
    };
    let runtime = builder.build()?;
    let sizes: Vec<f64> = trace.apps.iter().map(App::mb).collect();
    let modules: Vec<Handle<Vec<u8>>> = sizes
        .iter()
        .enumerate()
        .map(|(i, mb)| {
            let bytes = (mb * bytes_per_mb as f64) as usize;
            runtime.register(ModuleDef::named(format!("app{i}")), move || {
                vec![1u8; bytes]
            })
        })
        .collect::<Result<_, _>>()?;
    // Guards of running invocations, per app, and when each ends.
    let mut guards: Vec<Vec<Guard<'_, Vec<u8>>>> = modules.iter().map(|_| Vec::new()).collect();
    let mut ends: BinaryHeap<Reverse<(u64, usize)>> = BinaryHeap::new();
    let _held: Vec<_> = match policy {
        Policy::Eager => modules.iter().map(Handle::get).collect::<Result<_, _>>()?,
        _ => Vec::new(),
    };
    let mut meter = Meter::new(sizes);
    meter.look(&modules);
    let last = trace.invocations.last().map_or(0, |i| i.at_ms) + SWEEP_EVERY_MS;
    let mut starts = trace.invocations.iter().peekable();
    let mut next_sweep = SWEEP_EVERY_MS;
    loop {
        // The next thing to happen: an invocation ending, one starting, or a sweep.
        let next_end = ends.peek().map(|Reverse((at, _))| *at);
        let next_start = starts.peek().map(|i| i.at_ms);
        if next_end.is_none() && next_start.is_none() && next_sweep > last {
            break;
        }
        let at = [next_end, next_start, Some(next_sweep)]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(next_sweep);
        meter.advance(at);
        clock.set(Duration::from_millis(at));
        if next_end == Some(at) {
            let Reverse((_, app)) = ends.pop().expect("peeked");
            guards[app].pop();
            meter.running[app] -= 1;
            meter.look(&modules);
        } else if next_start == Some(at) {
            let invocation = starts.next().expect("peeked");
            let app = trace.functions[invocation.function].app;
            guards[app].push(modules[app].get()?);
            ends.push(Reverse((at + invocation.duration_ms.max(1), app)));
            meter.running[app] += 1;
            meter.resident[app] = true;
            meter.outcome.invocations += 1;
        } else {
            runtime.sweep();
            meter.look(&modules);
            next_sweep += SWEEP_EVERY_MS;
        }
    }
    let mut outcome = meter.outcome;
    outcome.loads = modules.iter().map(|m| m.stats().loads).sum();
    outcome.cache_hits = runtime.stats().cache.hits;
    outcome.wall = started.elapsed();
    Ok(outcome)
}

/// Memory-time, accounted between events from what is resident and what runs.
struct Meter {
    /// Each app's memory, in MB.
    sizes: Vec<f64>,
    resident: Vec<bool>,
    /// Invocations running, per app.
    running: Vec<u32>,
    /// Trace time accounted up to, in ms.
    now: u64,
    outcome: Outcome,
}

impl Meter {
    fn new(sizes: Vec<f64>) -> Self {
        Meter {
            resident: vec![false; sizes.len()],
            running: vec![0; sizes.len()],
            sizes,
            now: 0,
            outcome: Outcome::default(),
        }
    }

    /// Reads which modules are resident (after a sweep, or a guard's drop, may unload).
    fn look(&mut self, modules: &[Handle<Vec<u8>>]) {
        for (resident, module) in self.resident.iter_mut().zip(modules) {
            *resident = module.is_resident();
        }
    }

    /// Accounts the memory held from the last event to `to` (ms).
    fn advance(&mut self, to: u64) {
        let seconds = to.saturating_sub(self.now) as f64 / 1000.0;
        let (mut held, mut idle) = (0.0, 0.0);
        for ((&size, &resident), &running) in
            self.sizes.iter().zip(&self.resident).zip(&self.running)
        {
            if resident {
                held += size;
                if running == 0 {
                    idle += size;
                }
            }
        }
        self.outcome.resident_mb_s += held * seconds;
        self.outcome.idle_mb_s += idle * seconds;
        spread_over_steps(&mut self.outcome.resident_mb, self.now, to, held);
        self.now = to;
    }
}

/// Adds `mb` held from `from` to `to` (ms) to the per-step averages in `steps`.
fn spread_over_steps(steps: &mut Vec<f64>, from: u64, to: u64, mb: f64) {
    let mut at = from;
    while at < to {
        let step = (at / STEP_MS) as usize;
        let until = to.min((step as u64 + 1) * STEP_MS);
        if steps.len() <= step {
            steps.resize(step + 1, 0.0);
        }
        steps[step] += mb * (until - at) as f64 / STEP_MS as f64;
        at = until;
    }
}

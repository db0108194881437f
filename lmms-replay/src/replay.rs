//! A trace played through the real lmms runtime: one module per app whose state is a real
//! allocation sized from the app's memory, one use per invocation held for its duration,
//! the manual clock driven by the trace, and a sweep every 10 s of trace time.

use crate::trace::{App, Trace};
use lmms::{Adaptive, ManualClock, ModuleDef, Runtime};
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

/// Plays `trace` under `policy`, to one sweep period after its last start; each app's state is `bytes_per_mb` bytes per MB of its
/// memory (the real allocation), while the figures are in the trace's own MB.
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
    let modules: Vec<_> = sizes
        .iter()
        .enumerate()
        .map(|(i, mb)| {
            let bytes = (mb * bytes_per_mb as f64) as usize;
            runtime.register(ModuleDef::named(format!("app{i}")), move || {
                vec![1u8; bytes]
            })
        })
        .collect::<Result<_, _>>()?;
    let mut running: Vec<u32> = vec![0; modules.len()];
    let mut resident: Vec<bool> = vec![false; modules.len()];
    // Guards of running invocations, by end time.
    let mut ends: BinaryHeap<Reverse<(u64, usize)>> = BinaryHeap::new();
    let mut guards: Vec<Vec<lmms::Guard<'_, Vec<u8>>>> =
        modules.iter().map(|_| Vec::new()).collect();
    let _held: Vec<_> = match policy {
        Policy::Eager => modules
            .iter()
            .map(|m| m.get().expect("infallible"))
            .collect(),
        _ => Vec::new(),
    };
    let mut outcome = Outcome::default();
    let mut now = 0u64;
    let mut swept = 0u64;
    let advance =
        |to: u64, resident: &[bool], running: &[u32], outcome: &mut Outcome, now: &mut u64| {
            let seconds = to.saturating_sub(*now) as f64 / 1000.0;
            let (mut held, mut idle) = (0.0, 0.0);
            for (i, &is) in resident.iter().enumerate() {
                if is {
                    held += sizes[i];
                    if running[i] == 0 {
                        idle += sizes[i];
                    }
                }
            }
            outcome.resident_mb_s += held * seconds;
            outcome.idle_mb_s += idle * seconds;
            spread_over_steps(&mut outcome.resident_mb, *now, to, held);
            *now = to;
            clock.set(Duration::from_millis(to));
        };
    let refresh = |resident: &mut [bool]| {
        for (i, module) in modules.iter().enumerate() {
            resident[i] = module.is_resident();
        }
    };
    refresh(&mut resident);
    let last = trace.invocations.last().map_or(0, |i| i.at_ms) + SWEEP_EVERY_MS;
    let mut events = trace.invocations.iter().peekable();
    loop {
        // The next thing to happen: an invocation ending, a sweep, or one starting.
        let next_end = ends.peek().map(|Reverse((at, _))| *at);
        let next_sweep = swept + SWEEP_EVERY_MS;
        let next_start = events.peek().map(|i| i.at_ms);
        let at = [next_end, Some(next_sweep), next_start]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(last);
        if at > last && next_start.is_none() && next_end.is_none() {
            break;
        }
        advance(at, &resident, &running, &mut outcome, &mut now);
        if next_end == Some(at) {
            let Reverse((_, app)) = ends.pop().expect("peeked");
            running[app] -= 1;
            guards[app].pop();
            refresh(&mut resident);
        } else if next_start == Some(at) {
            let invocation = events.next().expect("peeked");
            let app = trace.functions[invocation.function].app;
            guards[app].push(modules[app].get().expect("infallible load"));
            running[app] += 1;
            ends.push(Reverse((at + invocation.duration_ms.max(1), app)));
            outcome.invocations += 1;
            resident[app] = true;
        } else {
            swept = at;
            runtime.sweep();
            refresh(&mut resident);
        }
    }
    outcome.loads = modules.iter().map(|m| m.stats().loads).sum();
    outcome.cache_hits = runtime.stats().cache.hits;
    outcome.wall = started.elapsed();
    Ok(outcome)
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

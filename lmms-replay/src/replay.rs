//! A trace played through the real lmms runtime: one module per app whose state is a real
//! allocation sized from the app's memory, one use per invocation held for its duration,
//! the manual clock driven by the trace, and a sweep every 10 s of trace time.

use crate::trace::Trace;
use lmms::{Adaptive, ManualClock, ModuleDef, Runtime};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// How often the replay sweeps, in trace time.
const SWEEP_EVERY_MS: u64 = 10_000;
/// An app's memory when the trace does not give it, in MB.
const DEFAULT_MB: f64 = 128.0;

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
    /// Each module kept through a percentile of its own idle gaps, the fixed `grace` until
    /// it has enough of them.
    Adaptive {
        /// The percentile rule.
        adaptive: Adaptive,
        /// The fallback.
        grace: Duration,
    },
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
/// let outcome = replay(&trace, &Policy::Fixed(Duration::from_secs(30)), 1024);
/// assert_eq!(outcome.loads, 1);
/// // The replay ends one sweep period (10 s) after the last start: resident for all of it,
/// // idle for all but the running second.
/// assert_eq!(outcome.resident_mb_s.round(), 1000.0);
/// assert_eq!(outcome.idle_mb_s.round(), 900.0);
/// ```
pub fn replay(trace: &Trace, policy: &Policy, bytes_per_mb: u64) -> Outcome {
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
        Policy::Adaptive { adaptive, grace } => builder.grace(*grace).adaptive(*adaptive),
    };
    let runtime = builder.build().expect("valid settings");
    let sizes: Vec<f64> = trace
        .apps
        .iter()
        .map(|app| app.memory_mb.unwrap_or(DEFAULT_MB))
        .collect();
    let modules: Vec<_> = sizes
        .iter()
        .enumerate()
        .map(|(i, mb)| {
            let bytes = (mb * bytes_per_mb as f64) as usize;
            runtime
                .register(ModuleDef::named(format!("app{i}")), move || {
                    vec![1u8; bytes]
                })
                .expect("unique names")
        })
        .collect();
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
            for (i, &is) in resident.iter().enumerate() {
                if is {
                    outcome.resident_mb_s += sizes[i] * seconds;
                    if running[i] == 0 {
                        outcome.idle_mb_s += sizes[i] * seconds;
                    }
                }
            }
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
    outcome.wall = started.elapsed();
    outcome
}

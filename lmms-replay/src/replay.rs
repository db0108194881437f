//! A trace played through the real lmms runtime: one module per app whose state is a real
//! allocation sized from the app's memory, one use per invocation held for its duration,
//! the manual clock driven by the trace, and a sweep every 10 s of trace time.

use crate::hybrid::{Histogram, Hybrid};
use crate::trace::{App, Trace};
use lmms::{state::Handle, tuning::Adaptive, tuning::ManualClock, Guard, ModuleDef, Runtime};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// How often the replay sweeps, in trace time.
/// How often the replay sweeps, as a process's reaper would: a module past its keep-alive
/// goes at the next sweep, so a fixed keep-alive of `k` keeps it `k` to `k` + this.
pub const SWEEP_EVERY_MS: u64 = 10_000;
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
    /// the adaptive keep-alive's price of a load (see [`lmms::tuning::Adaptive`]).
    Adaptive(Adaptive),
    /// The published baseline: Shahrad et al.'s hybrid histogram, which unloads an app
    /// after an invocation and loads it again before its predicted next use ([`Hybrid`]).
    Hybrid(Hybrid),
}

/// What a replay measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    /// Module loads, pre-warms included.
    pub loads: u64,
    /// The loads a policy made ahead of a predicted use (the hybrid histogram's pre-warms,
    /// or the adaptive policy's with [`Adaptive::prewarm`]): `loads - prewarm_loads` were
    /// on the request path, cold starts a caller waited for.
    pub prewarm_loads: u64,
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

impl Outcome {
    /// The loads on the request path: cold starts a caller waited for.
    ///
    /// ```
    /// let outcome = lmms_replay::Outcome { loads: 10, prewarm_loads: 4, ..Default::default() };
    /// assert_eq!(outcome.request_loads(), 6);
    /// ```
    pub fn request_loads(&self) -> u64 {
        self.loads.saturating_sub(self.prewarm_loads)
    }
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
        // The policy unloads and pre-warms by itself; sweeps only count.
        Policy::Hybrid(_) => builder.grace(Duration::MAX),
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
    // Guards of running invocations, per app, and when each ends (with its function).
    let mut guards: Vec<Vec<Guard<'_, Vec<u8>>>> = modules.iter().map(|_| Vec::new()).collect();
    let mut ends: BinaryHeap<Reverse<(u64, usize, usize)>> = BinaryHeap::new();
    let mut hybrid = match policy {
        Policy::Hybrid(settings) => Some(HybridState::new(*settings, trace)),
        _ => None,
    };
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
        let next_end = ends.peek().map(|Reverse((at, _, _))| *at);
        let next_start = starts.peek().map(|i| i.at_ms);
        let next_timer = hybrid.as_mut().and_then(HybridState::next);
        if next_end.is_none() && next_start.is_none() && next_sweep > last {
            break;
        }
        let at = [next_end, next_start, next_timer, Some(next_sweep)]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(next_sweep);
        meter.advance(at);
        clock.set(Duration::from_millis(at));
        if next_end == Some(at) {
            let Reverse((_, app, function)) = ends.pop().expect("peeked");
            guards[app].pop();
            meter.running[app] -= 1;
            if let Some(hybrid) = &mut hybrid {
                hybrid.ended(at, app, function, guards[app].is_empty(), &modules[app]);
            }
            meter.look(&modules);
        } else if next_start == Some(at) {
            let invocation = starts.next().expect("peeked");
            let app = trace.functions[invocation.function].app;
            if let Some(hybrid) = &mut hybrid {
                hybrid.started(at, app, invocation.function);
            }
            guards[app].push(modules[app].get()?);
            ends.push(Reverse((
                at + invocation.duration_ms.max(1),
                app,
                invocation.function,
            )));
            meter.running[app] += 1;
            meter.resident[app] = true;
            meter.outcome.invocations += 1;
        } else if next_timer == Some(at) {
            let hybrid = hybrid.as_mut().expect("a timer is the hybrid policy's");
            hybrid.fire(at, &modules, &guards)?;
            meter.look(&modules);
        } else {
            runtime.sweep();
            meter.look(&modules);
            next_sweep += SWEEP_EVERY_MS;
        }
    }
    let mut outcome = meter.outcome;
    let stats: Vec<_> = modules.iter().map(|module| module.stats()).collect();
    outcome.loads = stats.iter().map(|m| m.loads).sum();
    // The hybrid policy pre-warms by itself; the adaptive one through the runtime's sweep.
    outcome.prewarm_loads =
        hybrid.map_or(0, |hybrid| hybrid.prewarms) + stats.iter().map(|m| m.prewarms).sum::<u64>();
    outcome.cache_hits = runtime.stats().cache.hits;
    outcome.wall = started.elapsed();
    Ok(outcome)
}

/// What the hybrid histogram policy keeps between events: each app's idle times, when each
/// function's last invocation ended, and the app's timers (a pre-warm, an unload), which a
/// new invocation cancels by moving the app's epoch on.
struct HybridState {
    settings: Hybrid,
    histograms: Vec<Histogram>,
    /// When each function's last invocation ended ([`Hybrid::per_function`]).
    ended: Vec<Option<u64>>,
    /// When each app became idle (its last running invocation ended), until it starts again.
    idle_since: Vec<Option<u64>>,
    epochs: Vec<u64>,
    timers: BinaryHeap<Reverse<(u64, usize, u64, Timer)>>,
    prewarms: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Prewarm,
    Unload,
}

impl HybridState {
    fn new(settings: Hybrid, trace: &Trace) -> Self {
        HybridState {
            settings,
            histograms: vec![Histogram::new(&settings); trace.apps.len()],
            ended: vec![None; trace.functions.len()],
            idle_since: vec![None; trace.apps.len()],
            epochs: vec![0; trace.apps.len()],
            timers: BinaryHeap::new(),
            prewarms: 0,
        }
    }

    /// When the next live timer fires; stale ones are dropped on the way.
    fn next(&mut self) -> Option<u64> {
        while let Some(&Reverse((at, app, epoch, _))) = self.timers.peek() {
            if epoch == self.epochs[app] {
                return Some(at);
            }
            self.timers.pop();
        }
        None
    }

    /// An invocation of `function` starts: the idle time it ends is recorded (the app's,
    /// if the app was idle; the function's since its last end, as before issue 32), the
    /// app's timers are cancelled.
    fn started(&mut self, at: u64, app: usize, function: usize) {
        let since = if self.settings.per_function {
            self.ended[function]
        } else {
            self.idle_since[app].take()
        };
        if let Some(end) = since {
            self.histograms[app].record(at.saturating_sub(end), &self.settings);
        }
        self.epochs[app] += 1;
    }

    /// An invocation of `function` ended; when it was the app's last one running, the
    /// app's windows are set: unloaded now and pre-warmed later, or kept until they end.
    fn ended(
        &mut self,
        at: u64,
        app: usize,
        function: usize,
        idle: bool,
        module: &Handle<Vec<u8>>,
    ) {
        self.ended[function] = Some(at);
        if !idle {
            return;
        }
        self.idle_since[app] = Some(at);
        self.epochs[app] += 1;
        let epoch = self.epochs[app];
        let windows = self.histograms[app].windows(&self.settings);
        if windows.prewarm > 0 {
            module.unload();
            self.timers
                .push(Reverse((at + windows.prewarm, app, epoch, Timer::Prewarm)));
        }
        self.timers.push(Reverse((
            at + windows.until.max(windows.prewarm),
            app,
            epoch,
            Timer::Unload,
        )));
    }

    /// Fires the timer due at `at`.
    fn fire(
        &mut self,
        at: u64,
        modules: &[Handle<Vec<u8>>],
        guards: &[Vec<Guard<'_, Vec<u8>>>],
    ) -> Result<(), lmms::Error> {
        let Reverse((due, app, _, timer)) = self.timers.pop().expect("next() found it");
        debug_assert_eq!(due, at);
        match timer {
            Timer::Prewarm if !modules[app].is_resident() => {
                drop(modules[app].get()?);
                self.prewarms += 1;
            }
            Timer::Prewarm => {}
            Timer::Unload if guards[app].is_empty() => {
                modules[app].unload();
            }
            Timer::Unload => {}
        }
        Ok(())
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Two functions of one app: `b` runs within `a`'s first run, starts again while `a`
    /// runs, then both end, then `a` starts again after 2 minutes.
    fn overlapping(settings: Hybrid) -> u64 {
        let mut trace = Trace::default();
        let a = trace.add_function("app", "a", Some(10.0));
        let b = trace.add_function("app", "b", Some(10.0));
        let mut state = HybridState::new(settings, &trace);
        let idle = |state: &mut HybridState, at, function, idle| {
            state.ended[function] = Some(at);
            if idle {
                state.idle_since[0] = Some(at);
            }
        };
        state.started(0, 0, a);
        state.started(100, 0, b);
        idle(&mut state, 500, b, false); // b ends while a runs
        idle(&mut state, 1_000, a, true); // a ends; the app is idle
        state.started(61_000, 0, a); // an idle time of 60 s, the app's
        state.started(62_000, 0, b); // b starts while a runs: the app was not idle
        idle(&mut state, 63_000, a, false);
        idle(&mut state, 64_000, b, true);
        state.started(184_000, 0, a); // 120 s after the app's last end
        state.histograms[0].count()
    }

    #[test]
    fn an_idle_time_is_the_apps_and_a_start_while_it_runs_is_none() {
        // The paper's: 60 s and 120 s. As read before: a's 60 s, b's 61.5 s since its own
        // end at 0.5 s (while a ran), a's 121 s since its own end at 63 s.
        assert_eq!(overlapping(Hybrid::default()), 2);
        assert_eq!(overlapping(Hybrid::before_issue_32()), 3);
    }
}

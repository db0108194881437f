//! The seed's own application, a smart-home skill (Alexa / Home Assistant on Lambda),
//! written with lmms as a user would, and its four scenarios replayed on the manual clock
//! beside an eager baseline: the same modules, all built at start and never dropped (the
//! seed's "traditional" function).
//!
//! `cargo run --release -p lmms-examples --example smart_home`
//!
//! Each scenario runs twice, eager and lmms, each in a fresh process (this program again,
//! with `--child`), so start-up and memory are a process's own. It prints, per scenario, a
//! short timeline, a table beside the baseline, and the seed's claims beside the measured
//! figures; it writes charts of live heap over time for scenarios 2 and 4.
//!
//! What is simulated and what is measured: the clock is manual, so minutes and days pass in
//! a blink; each invocation is billed 100 ms of device round trip (simulated: there is no
//! network) plus the compute it really took here. Memory is the live heap as the counting
//! allocator measures it: the modules' real allocations.

mod home;
mod report;
mod scenarios;

use lmms::memory::{live_heap, CountingAlloc};
use lmms::{tuning::ManualClock, Runtime};
use scenarios::{Scenario, Step};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// The device round trip each invocation is billed on top of its compute (simulated).
const ROUND_TRIP_MS: f64 = 100.0;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, scenario, mode] = args.as_slice() {
        if flag == "--child" {
            let number: usize = scenario.parse().expect("a scenario number");
            let scenario = scenarios::all()[number - 1]();
            println!("{}", run(&scenario, mode == "eager"));
            return;
        }
    }
    report::all();
}

/// A directive as the skill's handler takes it: route by name, run through lmms.
fn handle(directive: &Value) -> Result<Value, String> {
    let header = &directive["directive"]["header"];
    let (namespace, name) = (header["namespace"].as_str(), header["name"].as_str());
    let route = scenarios::ROUTES
        .iter()
        .find(|route| Some(route.0) == namespace && Some(route.1) == name)
        .ok_or_else(|| format!("no handler for {namespace:?}.{name:?}"))?;
    home::log_directive(&header.to_string()).map_err(|error| error.to_string())?;
    let args = json!({
        "device": directive["directive"]["endpoint"]["endpointId"],
        "value": directive["directive"]["payload"]["value"],
    });
    lmms::execute(route.2, route.3, args).map_err(|error| error.to_string())
}

/// Live heap over clock time: its integral (byte-milliseconds), peak, and samples.
struct Meter {
    at_ms: u64,
    bytes: u64,
    byte_ms: f64,
    peak: u64,
    samples: Vec<(f64, f64)>,
}

impl Meter {
    fn new() -> Self {
        let bytes = heap();
        Meter {
            at_ms: 0,
            bytes,
            byte_ms: 0.0,
            peak: bytes,
            samples: vec![(0.0, mib(bytes))],
        }
    }

    /// The clock moved to `at_ms` with the heap as it was; then the heap is measured anew.
    fn step(&mut self, at_ms: u64) {
        self.byte_ms += self.bytes as f64 * at_ms.saturating_sub(self.at_ms) as f64;
        self.samples.push((at_ms as f64 / 1000.0, mib(self.bytes)));
        self.at_ms = at_ms;
        self.bytes = heap();
        self.peak = self.peak.max(self.bytes);
        self.samples.push((at_ms as f64 / 1000.0, mib(self.bytes)));
    }
}

fn heap() -> u64 {
    live_heap().unwrap_or(0)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Each module's load and unload counts (with its bytes), and the operations on the
/// direct path: what the timeline compares step to step.
struct Snapshot {
    modules: BTreeMap<String, (u64, u64)>,
    hot: BTreeSet<String>,
    cache_hits: u64,
    bytes_loaded: u64,
    bytes_reclaimed: u64,
}

fn snapshot() -> Snapshot {
    let stats = lmms::stats();
    Snapshot {
        modules: stats
            .modules
            .iter()
            .map(|m| (m.name.to_string(), (m.loads, m.unloads)))
            .collect(),
        hot: stats
            .ops
            .iter()
            .filter(|op| op.hot_path)
            .map(|op| format!("{}.{}", op.interface, op.name))
            .collect(),
        cache_hits: stats.cache.hits,
        bytes_loaded: stats.bytes_loaded,
        bytes_reclaimed: stats.bytes_reclaimed,
    }
}

/// What changed since `before`, as a timeline line; returns the new snapshot.
fn changes(at_ms: u64, what: &str, before: &Snapshot, timeline: &mut Vec<String>) -> Snapshot {
    let after = snapshot();
    let (mut loaded, mut unloaded) = (Vec::new(), Vec::new());
    for (name, &(loads, unloads)) in &after.modules {
        let (loads_before, unloads_before) = before.modules.get(name).copied().unwrap_or_default();
        loaded.extend((loads_before..loads).map(|_| name.as_str()));
        unloaded.extend((unloads_before..unloads).map(|_| name.as_str()));
    }
    let mut events = Vec::new();
    if !loaded.is_empty() {
        let kib = (after.bytes_loaded - before.bytes_loaded) / 1024;
        events.push(format!("load {} ({kib} KiB)", loaded.join(", ")));
    }
    if !unloaded.is_empty() {
        let kib = (after.bytes_reclaimed - before.bytes_reclaimed) / 1024;
        events.push(format!(
            "unload {} ({kib} KiB reclaimed)",
            unloaded.join(", ")
        ));
    }
    events.extend(
        after
            .hot
            .difference(&before.hot)
            .map(|op| format!("promote {op} (hot, module pinned)")),
    );
    events.extend(
        before
            .hot
            .difference(&after.hot)
            .map(|op| format!("demote {op}")),
    );
    if after.cache_hits > before.cache_hits {
        events.push(format!(
            "cache hit ×{}",
            after.cache_hits - before.cache_hits
        ));
    }
    if !events.is_empty() {
        timeline.push(format!(
            "{:>7.1}s  {what}: {}",
            at_ms as f64 / 1000.0,
            events.join(", ")
        ));
    }
    after
}

/// One scenario in this process: eager (every module built first) or lmms.
fn run(scenario: &Scenario, eager: bool) -> Value {
    let started = Instant::now();
    let clock = ManualClock::new();
    let runtime = Runtime::builder()
        .clock(clock.clone())
        .min_resident(8) // the seed's setting, for its many-module function
        .build()
        .expect("the seed's settings");
    Runtime::set_global(runtime).expect("set before any module is used");
    if eager {
        home::load_everything();
    }
    let mut meter = Meter::new();
    let mut timeline = Vec::new();
    let mut state = snapshot();
    let mut first_response = None;
    let mut billed_byte_ms = 0.0;
    let mut errors = 0;
    let mut reaped_until = 0;
    for (i, step) in scenario.steps.iter().enumerate() {
        idle_until(
            scenario,
            step.at_ms,
            &clock,
            &mut meter,
            &mut reaped_until,
            &mut state,
            &mut timeline,
        );
        let directive = scenarios::directive(step, i);
        let computed = Instant::now();
        if handle(&directive).is_err() {
            errors += 1;
        }
        let compute = computed.elapsed();
        first_response.get_or_insert_with(|| started.elapsed());
        let duration_ms = ROUND_TRIP_MS + compute.as_secs_f64() * 1000.0;
        // Billed at the heap the invocation ran with (its modules loaded).
        billed_byte_ms += heap() as f64 * duration_ms;
        let end = step.at_ms + duration_ms as u64;
        clock.set(Duration::from_millis(end));
        meter.step(end);
        lmms::sweep(); // the end of the invocation
        meter.step(end);
        // The timeline and its statistics are for the short scenarios; a month of them
        // would cost more than the invocations.
        if scenario.steps.len() <= 100 {
            state = changes(end, &describe(step), &state, &mut timeline);
        }
        reaped_until = reaped_until.max(end);
    }
    // The busy window: up to the end of the last invocation (the seed's 30 s burst).
    let busy_byte_ms = meter.byte_ms;
    let last = scenario.steps.last().map_or(0, |step| step.at_ms);
    idle_until(
        scenario,
        last + scenario.tail_ms,
        &clock,
        &mut meter,
        &mut reaped_until,
        &mut state,
        &mut timeline,
    );
    let stats = lmms::stats();
    let calls = scenario.steps.len() as f64;
    let span_ms = meter.at_ms.max(1) as f64;
    json!({
        "first_response_ms": first_response.unwrap_or_default().as_secs_f64() * 1000.0,
        "peak_mib": mib(meter.peak),
        "sustained_mib": meter.byte_ms / span_ms / (1024.0 * 1024.0),
        "mb_seconds": meter.byte_ms / 1000.0 / (1024.0 * 1024.0),
        "mb_seconds_busy": busy_byte_ms / 1000.0 / (1024.0 * 1024.0),
        "gb_seconds_per_1000": billed_byte_ms / 1000.0 / (1024.0 * 1024.0 * 1024.0) / calls * 1000.0,
        "loads": stats.loads,
        "unloads": stats.unloads,
        "cache_hits": stats.cache.hits,
        "promotions": stats.promotions[1],
        "errors": errors,
        "span_s": span_ms / 1000.0,
        "invocations": scenario.steps.len(),
        "timeline": timeline,
        "samples": if scenario.steps.len() <= 100 { meter.samples } else { Vec::new() },
    })
}

/// Runs the clock to `until_ms`, sweeping every `reaper_ms` on the way if the scenario has
/// a background sweep.
fn idle_until(
    scenario: &Scenario,
    until_ms: u64,
    clock: &ManualClock,
    meter: &mut Meter,
    reaped_until: &mut u64,
    state: &mut Snapshot,
    timeline: &mut Vec<String>,
) {
    if scenario.reaper_ms > 0 {
        while *reaped_until + scenario.reaper_ms <= until_ms {
            *reaped_until += scenario.reaper_ms;
            clock.set(Duration::from_millis(*reaped_until));
            meter.step(*reaped_until);
            let report = lmms::sweep();
            meter.step(*reaped_until);
            if !report.unloaded.is_empty() && scenario.steps.len() <= 100 {
                *state = changes(*reaped_until, "idle sweep", state, timeline);
            }
        }
    }
    clock.set(Duration::from_millis(until_ms.max(meter.at_ms)));
    meter.step(until_ms.max(meter.at_ms));
}

fn describe(step: &Step) -> String {
    let (namespace, name, interface, operation) = scenarios::ROUTES[step.route];
    format!(
        "{namespace}.{name} {} → {interface}.{operation}",
        step.device
    )
}

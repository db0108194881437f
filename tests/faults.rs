//! Fault injection: every callback into user code is made to panic at its N-th call, for
//! a range of N, while 2 to 4 threads make random calls (typed and by name), move the clock,
//! sweep, invalidate and unload. After each run the runtime must be consistent: every hot
//! path demoted and released, no guard or pin left, loads − unloads = resident, no state
//! read after its drop, and every later call answered right.
//!
//! `LMMS_FAULT_N` (default 12) bounds N per callback kind and `LMMS_FAULT_ACTIONS` (default
//! 1,000) the actions per thread and run; `.ci/run` runs it in release, and under valgrind with
//! smaller counts. The summary it prints is in `RELIABILITY.md`.
#![allow(missing_docs)]

use lmms::op::{Body, Cached, Op, OpDef, Operation, Source};
use lmms::{tuning::ManualClock, tuning::Thresholds, Class, Load, ModuleCell, ModuleDef, Runtime};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::hash::{Hash, Hasher};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::OnceLock;
use std::thread;
use std::time::Duration;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// The callbacks into user code that the runs make panic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Load,
    StateDrop,
    KeyHash,
    KeyEq,
    KeyClone,
    KeyDrop,
    OutputClone,
    OutputDrop,
    Weigher,
    Deserialize,
    Serialize,
    Source,
    Layer,
}

const KINDS: [Kind; 13] = [
    Kind::Load,
    Kind::StateDrop,
    Kind::KeyHash,
    Kind::KeyEq,
    Kind::KeyClone,
    Kind::KeyDrop,
    Kind::OutputClone,
    Kind::OutputDrop,
    Kind::Weigher,
    Kind::Deserialize,
    Kind::Serialize,
    Kind::Source,
    Kind::Layer,
];

/// Which kind is armed (its index + 1, 0 for none), at which call, and what happened.
struct Plan {
    armed: AtomicUsize,
    at: AtomicU64,
    calls: AtomicU64,
    fired: [AtomicU64; KINDS.len()],
}

static PLAN: Plan = Plan {
    armed: AtomicUsize::new(0),
    at: AtomicU64::new(0),
    calls: AtomicU64::new(0),
    fired: [const { AtomicU64::new(0) }; KINDS.len()],
};

const INJECTED: &str = "injected fault";

/// A callback of `kind` runs: panics if it is the armed kind's N-th call.
fn fault(kind: Kind) {
    let index = kind as usize;
    if PLAN.armed.load(SeqCst) == index + 1
        && PLAN.calls.fetch_add(1, SeqCst) + 1 == PLAN.at.load(SeqCst)
    {
        PLAN.fired[index].fetch_add(1, SeqCst);
        panic!("{INJECTED}: {kind:?}");
    }
}

const ALIVE: u64 = 0xA11CE;
const DEAD: u64 = 0xDEAD;
/// Set when a body reads a state whose canary its drop poisoned.
static CORRUPT: AtomicBool = AtomicBool::new(false);

/// A state with a canary its `Drop` poisons, past the bytes an allocator reuses.
struct State {
    _pad: [u64; 8],
    canary: AtomicU64,
    base: u64,
}

impl State {
    fn build(base: u64) -> Self {
        fault(Kind::Load);
        State {
            _pad: [0; 8],
            canary: AtomicU64::new(ALIVE),
            base,
        }
    }

    fn read(&self) -> u64 {
        if self.canary.load(SeqCst) != ALIVE {
            CORRUPT.store(true, SeqCst);
        }
        self.base
    }
}

impl Drop for State {
    fn drop(&mut self) {
        self.canary.store(DEAD, SeqCst);
        fault(Kind::StateDrop);
    }
}

struct Alpha(State);
impl Load for Alpha {
    type Error = std::convert::Infallible;
    fn load() -> Result<Self, Self::Error> {
        Ok(Alpha(State::build(100)))
    }
}
static ALPHA: ModuleCell<Alpha> = ModuleCell::new(ModuleDef::new("alpha"));

struct Beta(State);
impl Load for Beta {
    type Error = std::convert::Infallible;
    fn load() -> Result<Self, Self::Error> {
        Ok(Beta(State::build(200)))
    }
}
static BETA: ModuleCell<Beta> = ModuleCell::new(ModuleDef::new("beta").class(Class::Feature));

/// A hand-written operation: its `source()` is user code.
struct AddA;
impl Operation for AddA {
    type State = Alpha;
    type Args = u64;
    type Output = u64;
    fn source() -> Source<Alpha> {
        fault(Kind::Source);
        Source::Module(&ALPHA)
    }
}
impl Body for AddA {
    fn run(state: &Alpha, x: u64) -> u64 {
        state.0.read() + x
    }
}
static ADD_A: Op<AddA> = Op::new(OpDef::new("faults", "add_a"));

/// A key whose `Hash`, `Eq`, `Clone` and `Drop` are user code.
#[derive(Debug)]
struct Key(u64);
impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        fault(Kind::KeyHash);
        self.0.hash(state);
    }
}
impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        fault(Kind::KeyEq);
        self.0 == other.0
    }
}
impl Eq for Key {}
impl Clone for Key {
    fn clone(&self) -> Self {
        fault(Kind::KeyClone);
        Key(self.0)
    }
}
impl Drop for Key {
    fn drop(&mut self) {
        fault(Kind::KeyDrop);
    }
}

/// An output whose `Clone` and `Drop` are user code.
#[derive(Debug, PartialEq)]
struct Out(u64);
impl Clone for Out {
    fn clone(&self) -> Self {
        fault(Kind::OutputClone);
        Out(self.0)
    }
}
impl Drop for Out {
    fn drop(&mut self) {
        fault(Kind::OutputDrop);
    }
}

fn weigh(_: &Key, _: &Out) -> u64 {
    fault(Kind::Weigher);
    1
}

/// A cached, weighed operation on a feature module.
struct AddB;
impl Operation for AddB {
    type State = Beta;
    type Args = Key;
    type Output = Out;
    fn source() -> Source<Beta> {
        Source::Module(&BETA)
    }
}
impl Body for AddB {
    fn run(state: &Beta, key: Key) -> Out {
        Out(state.0.read() + key.0)
    }
}
static ADD_B: Op<AddB, Cached<Key, Out>> = Op::cached_weighed(
    OpDef::new("faults", "add_b"),
    Duration::from_secs(5),
    16,
    weigh,
);

/// The module of the operation called by name.
#[lmms::module(name = "gamma")]
pub struct Gamma(State);

impl Load for Gamma {
    type Error = std::convert::Infallible;
    fn load() -> Result<Self, Self::Error> {
        Ok(Gamma(State::build(300)))
    }
}

/// An argument whose `Deserialize` is user code.
pub struct In(u64);
impl<'de> Deserialize<'de> for In {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        fault(Kind::Deserialize);
        u64::deserialize(deserializer).map(In)
    }
}

/// An output whose `Serialize` is user code.
pub struct Shown(u64);
impl Serialize for Shown {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        fault(Kind::Serialize);
        self.0.serialize(serializer)
    }
}

/// Called by name with JSON.
#[lmms::operation(interface = "faults")]
pub fn shown(gamma: &Gamma, x: In) -> Shown {
    Shown(gamma.0.read() + x.0)
}

/// A subscriber layer: user code on every event and span.
struct Faulty;
impl<S: tracing::Subscriber> Layer<S> for Faulty {
    fn on_event(&self, _: &tracing::Event<'_>, _: Context<'_, S>) {
        fault(Kind::Layer);
    }

    fn on_new_span(
        &self,
        _: &tracing::span::Attributes<'_>,
        _: &tracing::span::Id,
        _: Context<'_, S>,
    ) {
        fault(Kind::Layer);
    }
}

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// The test's clock, shared by every thread.
fn clock() -> &'static ManualClock {
    static CLOCK: OnceLock<ManualClock> = OnceLock::new();
    CLOCK.get_or_init(ManualClock::new)
}

/// One random action; a panic in it (an injected fault reaching the caller) is fine, a
/// wrong answer is not.
fn act(choice: u64, x: u64) {
    // Twice the cache's capacity: stores evict.
    let key = x % 32;
    let _ = panic::catch_unwind(AssertUnwindSafe(|| match choice % 9 {
        0 | 1 => {
            if let Ok(sum) = ADD_A.call(x) {
                assert_eq!(sum, 100 + x, "a wrong answer from add_a");
            }
        }
        2 | 3 => {
            if let Ok(out) = ADD_B.call(Key(key)) {
                assert_eq!(out.0, 200 + key, "a wrong answer from add_b");
            }
        }
        4 => {
            if let Ok(json) = lmms::execute("faults", "shown", serde_json::json!({ "x": x })) {
                assert_eq!(json, serde_json::json!(300 + x), "a wrong answer by name");
            }
        }
        5 => clock().advance(Duration::from_millis(x % 3_000)),
        6 => {
            lmms::sweep();
        }
        7 => ADD_B.invalidate(),
        _ => {
            ALPHA.unload();
        }
    }));
}

/// A small xorshift: each thread its own sequence.
fn random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Ends every hold: all operations cool and are demoted, every module idle is unloaded,
/// every cache entry expires.
fn settle() {
    for _ in 0..3 {
        clock().advance(Duration::from_secs(3_600));
        lmms::sweep();
    }
}

/// What must hold after a run; each broken rule, by name.
fn inconsistencies() -> Vec<String> {
    let mut wrong = Vec::new();
    // Nothing is armed now: a sweep that panics is a runtime left broken.
    if let Err(payload) = panic::catch_unwind(settle) {
        wrong.push(format!("a sweep panicked with no fault armed: {payload:?}"));
    }
    let stats = lmms::stats();
    if stats.hot_paths != 0
        || ADD_A.is_hot()
        || ADD_B.is_hot()
        || stats.ops.iter().any(|op| op.hot_path)
    {
        wrong.push(format!("hot paths left: {}", stats.hot_paths));
    }
    for module in &stats.modules {
        if module.guards != 0 || module.pins != 0 {
            wrong.push(format!(
                "{}: {} guards, {} pins left",
                module.name, module.guards, module.pins
            ));
        }
    }
    if stats.loads - stats.unloads != stats.resident_modules as u64 {
        wrong.push(format!(
            "loads {} − unloads {} ≠ resident {}",
            stats.loads, stats.unloads, stats.resident_modules
        ));
    }
    if stats.resident_modules != 0 {
        wrong.push(format!(
            "{} modules resident when idle",
            stats.resident_modules
        ));
    }
    if CORRUPT.swap(false, SeqCst) {
        wrong.push("a state was read after its drop".to_owned());
    }
    // Every later call right.
    let later = panic::catch_unwind(AssertUnwindSafe(|| {
        assert_eq!(ADD_A.call(5).unwrap(), 105);
        assert_eq!(ADD_B.call(Key(3)).unwrap(), Out(203));
        assert_eq!(ADD_B.call(Key(3)).unwrap(), Out(203));
        assert_eq!(
            lmms::execute("faults", "shown", serde_json::json!({ "x": 7 })).unwrap(),
            serde_json::json!(307)
        );
    }));
    if let Err(payload) = later {
        wrong.push(format!("a later call failed: {payload:?}"));
    }
    if let Err(payload) = panic::catch_unwind(settle) {
        wrong.push(format!("a sweep panicked with no fault armed: {payload:?}"));
    }
    wrong
}

#[test]
fn every_user_callback_may_panic_and_the_runtime_stays_consistent() {
    // The injected panics are expected by the thousand: keep them off the output.
    let report = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        let injected = info
            .payload()
            .downcast_ref::<String>()
            .is_some_and(|message| message.starts_with(INJECTED));
        if !injected {
            report(info);
        }
    }));
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Faulty)).unwrap();
    let runtime = Runtime::builder()
        .clock(clock().clone())
        .min_resident(0)
        .grace(Duration::from_secs(1))
        // Pre-warming on, so that sweeps run loaders too (a pre-warm's load is a sweep's).
        .adaptive(
            lmms::tuning::Adaptive::default()
                .load_worth_idle(Duration::from_secs(2))
                .learn_from(2)
                .prewarm(25),
        )
        .cool_every(Duration::from_secs(1))
        .max_hot_paths(2)
        .heat(Thresholds::new(2, 4, 8).unwrap())
        .build()
        .unwrap();
    Runtime::set_global(runtime).unwrap();

    let most = setting("LMMS_FAULT_N", 12);
    let actions = setting("LMMS_FAULT_ACTIONS", 1_000);
    let (mut runs, mut wrong) = (0u64, Vec::new());
    for (index, kind) in KINDS.iter().enumerate() {
        for at in 1..=most {
            let threads = 2 + runs % 3;
            PLAN.calls.store(0, SeqCst);
            PLAN.at.store(at, SeqCst);
            PLAN.armed.store(index + 1, SeqCst);
            thread::scope(|scope| {
                for thread in 0..threads {
                    scope.spawn(move || {
                        let mut state = (runs << 8 | thread) * 0x9E37_79B9 + 1;
                        for _ in 0..actions {
                            let choice = random(&mut state);
                            act(choice, random(&mut state) % 1_000);
                        }
                    });
                }
            });
            PLAN.armed.store(0, SeqCst);
            runs += 1;
            for rule in inconsistencies() {
                wrong.push(format!("{kind:?} at call {at}: {rule}"));
            }
        }
    }

    println!(
        "fault injection: {runs} runs, up to N = {most} per kind, {actions} actions per thread"
    );
    for (index, kind) in KINDS.iter().enumerate() {
        println!(
            "  {kind:?}: {} faults injected",
            PLAN.fired[index].load(SeqCst)
        );
    }
    let prewarms = lmms::Runtime::global().stats().prewarms;
    println!("  pre-warms (loaders the sweeps ran): {prewarms}");
    println!("  inconsistencies: {}", wrong.len());
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert!(
        prewarms > 0,
        "the sweeps never pre-warmed: the workload never reached it"
    );
    for (index, kind) in KINDS.iter().enumerate() {
        assert!(
            PLAN.fired[index].load(SeqCst) > 0,
            "no {kind:?} fault was ever injected: the workload never reached it"
        );
    }
}

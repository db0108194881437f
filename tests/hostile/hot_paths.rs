//! Where the hot path, the cache and unloading meet.

use super::*;

// --- 4. Where the hot path, the cache and unloading meet -----------------------------------

trivial!(LongA(Canary) = Canary::new(), LONG_A, LongAOp, class Class::Utility, loads LONG_A_LOADS);
trivial!(IdleB(Canary) = Canary::new(), IDLE_B, IdleBOp, class Class::Utility, loads IDLE_B_LOADS);
static LONG_PARKED: AtomicBool = AtomicBool::new(false);
static LONG_RELEASE: AtomicBool = AtomicBool::new(false);
impl Body for LongAOp {
    fn run(state: &LongA, x: u64) -> u64 {
        if x == 1 {
            LONG_PARKED.store(true, SeqCst);
            while !LONG_RELEASE.load(SeqCst) {
                std::hint::spin_loop();
            }
        }
        state.0.canary.load(SeqCst)
    }
}
impl Body for IdleBOp {
    fn run(state: &IdleB, _: u64) -> u64 {
        state.0.canary.load(SeqCst)
    }
}
static LONG_OP: Op<LongAOp> = Op::new(OpDef::new("hostile", "long"));
static IDLE_OP: Op<IdleBOp> = Op::new(OpDef::new("hostile", "idle"));

#[test]
fn a_long_direct_call_in_one_module_does_not_keep_another_pinned() {
    let (rt, clock) = common::quick_runtime();
    rt.add(&LONG_A).unwrap();
    rt.add(&IDLE_B).unwrap();
    for _ in 0..20 {
        LONG_OP.call(0).unwrap();
        IDLE_OP.call(0).unwrap();
    }
    assert!(LONG_OP.is_hot() && IDLE_OP.is_hot());
    let parked = thread::spawn(|| LONG_OP.call(1).unwrap());
    while !LONG_PARKED.load(SeqCst) {
        thread::yield_now();
    }
    clock.advance(secs(30));
    rt.sweep(); // both cool and are demoted; A's call is still running
    clock.advance(secs(30));
    rt.sweep();
    let b_resident = IDLE_B.is_resident();
    let b_pins = IDLE_B.stats().pins;
    let a_resident = LONG_A.is_resident();
    LONG_RELEASE.store(true, SeqCst);
    assert_eq!(parked.join().unwrap(), ALIVE);
    assert!(a_resident, "A's state stays while its direct call runs");
    assert_eq!(b_pins, 0, "B is not pinned by A's call");
    assert!(!b_resident, "idle, demoted and unpinned, B is unloaded");
}

trivial!(Cap1(Canary) = Canary::new(), CAP_1, Cap1Op, class Class::Utility, loads CAP_1_LOADS, run |_, x| x);
trivial!(Cap2(Canary) = Canary::new(), CAP_2, Cap2Op, class Class::Utility, loads CAP_2_LOADS, run |_, x| x);
trivial!(Cap3(Canary) = Canary::new(), CAP_3, Cap3Op, class Class::Utility, loads CAP_3_LOADS, run |_, x| x);
static CAP_OP_1: Op<Cap1Op> = Op::new(OpDef::new("hostile", "cap1"));
static CAP_OP_3: Op<Cap3Op> = Op::new(OpDef::new("hostile", "cap3"));
static CAP_OP_2: Op<Cap2Op> = Op::new(OpDef::new("hostile", "cap2"));

/// Runs `trials` rounds of `each` on two threads at once: `before` on this thread, then
/// both threads' `each(thread)` released together, then `after` once both are done.
/// Persistent threads spinning on barriers line the racing steps up closely.
fn race(
    trials: usize,
    mut before: impl FnMut(),
    each: impl Fn(usize) + Send + Sync + 'static,
    mut after: impl FnMut(),
) {
    let start = Arc::new(Barrier::new(3));
    let end = Arc::new(Barrier::new(3));
    let each = Arc::new(each);
    let threads: Vec<_> = (0..2)
        .map(|thread| {
            let (start, end, each) = (start.clone(), end.clone(), each.clone());
            thread::spawn(move || {
                for _ in 0..trials {
                    start.wait();
                    each(thread);
                    end.wait();
                }
            })
        })
        .collect();
    for _ in 0..trials {
        before();
        start.wait();
        end.wait();
        after();
    }
    for thread in threads {
        thread.join().unwrap();
    }
}

#[test]
fn the_hot_path_cap_holds_under_simultaneous_promotions() {
    let clock = ManualClock::new();
    let rt = Runtime::builder()
        .clock(clock.clone())
        .min_resident(0)
        .max_hot_paths(1)
        .cool_every(secs(1))
        .build()
        .unwrap();
    rt.add(&CAP_1).unwrap();
    rt.add(&CAP_2).unwrap();
    rt.add(&CAP_3).unwrap();
    let promoting = Arc::new(Barrier::new(2));
    let (mut over, mut lost) = (0, 0);
    let mut promoted = 0;
    race(
        20_000,
        || {
            // Cold again for the next trial: 64 idle windows take any heat to 0.
            clock.advance(secs(64));
            rt.sweep();
            assert!(!CAP_OP_1.is_hot() && !CAP_OP_2.is_hot() && !CAP_OP_3.is_hot());
            // A third operation holds the one place: both promotions must evict it, or each
            // other.
            for x in 0..20 {
                CAP_OP_3.call(x).unwrap();
            }
            clock.advance(Duration::from_millis(1));
        },
        move |thread| {
            let call = |x| match thread {
                0 => CAP_OP_1.call(x).unwrap(),
                _ => CAP_OP_2.call(x).unwrap(),
            };
            for x in 0..19 {
                call(x);
            }
            promoting.wait();
            call(19);
        },
        || {
            let hot = [CAP_OP_1.is_hot(), CAP_OP_2.is_hot(), CAP_OP_3.is_hot()]
                .into_iter()
                .filter(|&hot| hot)
                .count();
            let stats = rt.stats();
            over += usize::from(hot > 1 || stats.hot_paths > 1);
            // Three promotions a trial (the third operation's, then both racers', in some
            // order): a racer that met the other's promotion half done must not give up.
            lost += usize::from(stats.promotions[1] - promoted < 3);
            promoted = stats.promotions[1];
        },
    );
    assert_eq!(
        over, 0,
        "trials that ended with two hot paths under a cap of 1"
    );
    assert_eq!(lost, 0, "trials in which a promotion was lost");
}

trivial!(Cooled(Canary) = Canary::new(), COOLED, CooledOp, class Class::Utility, loads COOLED_LOADS, run |_, x| x);
static COOLED_OP: Op<CooledOp> = Op::new(OpDef::new("hostile", "cooled"));

#[test]
fn concurrent_sweeps_cool_one_window_once() {
    let clock = ManualClock::new();
    let rt = Runtime::builder()
        .clock(clock.clone())
        .min_resident(0)
        .heat(Thresholds::new(1_000, 2_000, 3_000).unwrap())
        .cool_every(secs(1))
        .build()
        .unwrap();
    rt.add(&COOLED).unwrap();
    let mut wrong = Vec::new();
    let mut trial = 0;
    let sweeper = rt.clone();
    race(
        20_000,
        || {
            // Back to zero heat, then 64 calls: one window halves them to 32.
            clock.advance(secs(64));
            rt.sweep();
            for x in 0..64 {
                COOLED_OP.call(x).unwrap();
            }
            clock.advance(secs(1));
        },
        move |_| {
            sweeper.sweep();
        },
        || {
            let calls = COOLED_OP.stats().calls;
            if calls != 32 {
                wrong.push((trial, calls));
            }
            trial += 1;
        },
    );
    assert!(wrong.is_empty(), "trials cooled twice: {wrong:?}");
}

trivial!(Stamp(Canary) = Canary::new(), STAMP, StampOp, class Class::Utility, loads STAMP_LOADS, run |_, x| x);
static STAMP_OP: Op<StampOp> = Op::new(OpDef::new("hostile", "stamp"));

#[test]
fn cooling_stamps_the_time_of_the_last_use_not_of_the_sweep() {
    let (rt, clock) = runtime();
    rt.add(&STAMP).unwrap();
    for x in 0..21 {
        STAMP_OP.call(x).unwrap();
    }
    assert_eq!(STAMP_OP.stats().direct_hits, 1, "the 21st call was direct");
    clock.advance(secs(181));
    let report = rt.sweep();
    assert!(!STAMP_OP.is_hot(), "three idle windows cooled it");
    assert_eq!(report.kept_because("STAMP"), None, "{report}");
    assert_eq!(report.unloaded.len(), 1, "{report}");
}

static HIT_BODY: AtomicUsize = AtomicUsize::new(0);
trivial!(Hits(Canary) = Canary::new(), HITS, HitsOp, class Class::Utility, loads HITS_LOADS);
impl Body for HitsOp {
    fn run(_: &Hits, x: u64) -> u64 {
        HIT_BODY.fetch_add(1, SeqCst);
        x + 1
    }
}
static HITS_OP: Op<HitsOp, Cached<u64, u64>> =
    Op::cached(OpDef::new("hostile", "hits"), Duration::from_secs(600), 64);

#[test]
fn cache_hits_answer_from_the_cache_and_pin_nothing_however_many() {
    let rt = Runtime::builder()
        .min_resident(0)
        .cache_keeps_modules(false)
        .build()
        .unwrap();
    rt.add(&HITS).unwrap();
    for _ in 0..50 {
        assert_eq!(HITS_OP.call(5).unwrap(), 6);
    }
    assert_eq!(HIT_BODY.load(SeqCst), 1, "one miss, 49 hits");
    assert!(!HITS_OP.is_hot(), "hits do not heat the operation");
    assert_eq!(HITS.stats().pins, 0);
    assert!(matches!(HITS.unload(), Unload::Unloaded { .. }));
    for _ in 0..50 {
        assert_eq!(HITS_OP.call(5).unwrap(), 6);
    }
    assert!(!HITS.is_resident(), "a hit loads nothing");
    assert_eq!(HITS_LOADS.load(SeqCst), 1);
    // Misses heat it: once hot, hits still come from the cache.
    for x in 100..120 {
        HITS_OP.call(x).unwrap();
    }
    assert_eq!(HITS_OP.heat(), Heat::Hot);
    assert!(HITS_OP.is_hot());
    let body = HIT_BODY.load(SeqCst);
    for _ in 0..5 {
        assert_eq!(HITS_OP.call(5).unwrap(), 6);
    }
    assert_eq!(
        HIT_BODY.load(SeqCst),
        body,
        "a hot operation's hits are hits"
    );
}

trivial!(Feat(Canary) = Canary::new(), FEAT, FeatOp, class Class::Feature, loads FEAT_LOADS, run |_, x| x);
static FEAT_OP: Op<FeatOp> = Op::new(OpDef::new("hostile", "feat"));

#[test]
fn the_call_that_promotes_a_feature_module_loads_it_once() {
    let (rt, _clock) = runtime();
    rt.add(&FEAT).unwrap();
    for x in 0..19 {
        FEAT_OP.call(x).unwrap();
        assert!(!FEAT.is_resident(), "a feature module goes after each use");
    }
    assert_eq!(FEAT_LOADS.load(SeqCst), 19);
    FEAT_OP.call(19).unwrap();
    assert!(FEAT_OP.is_hot());
    assert!(FEAT.is_resident(), "pinned by the hot path");
    assert_eq!(FEAT_LOADS.load(SeqCst), 20, "the promoting call loads once");
}

static SWEEP_AT_LOAD: AtomicUsize = AtomicUsize::new(usize::MAX);
static SWEEPY_LOADS: AtomicUsize = AtomicUsize::new(0);
static LOADER_RT: std::sync::OnceLock<(Runtime, ManualClock)> = std::sync::OnceLock::new();

/// A feature module whose loader, at the load the test names, moves the clock on and sweeps:
/// the sweep cools and demotes the very operation whose promotion may be loading it.
struct Sweepy;
impl Load for Sweepy {
    type Error = Infallible;
    fn load() -> Result<Self, Infallible> {
        let load = SWEEPY_LOADS.fetch_add(1, SeqCst) + 1;
        if load == SWEEP_AT_LOAD.load(SeqCst) {
            let (rt, clock) = LOADER_RT.get().unwrap();
            clock.advance(secs(600));
            rt.sweep();
        }
        Ok(Sweepy)
    }
}
static SWEEPY: ModuleCell<Sweepy> = ModuleCell::new(ModuleDef::new("sweepy").class(Class::Feature));
struct SweepyOp;
impl Operation for SweepyOp {
    type State = Sweepy;
    type Args = u64;
    type Output = u64;
    fn source() -> Source<Sweepy> {
        Source::Module(&SWEEPY)
    }
}
impl Body for SweepyOp {
    fn run(_: &Sweepy, x: u64) -> u64 {
        x
    }
}
static SWEEPY_OP: Op<SweepyOp> = Op::new(OpDef::new("hostile", "sweepy"));

#[test]
fn a_loader_that_sweeps_during_a_promotion_does_not_deadlock() {
    within("a sweep inside a promotion's load", || {
        let (rt, _clock) = LOADER_RT.get_or_init(runtime);
        rt.add(&SWEEPY).unwrap();
        // Calls 1..=20 load the feature module once each; a 21st load could only come from
        // the promotion, and that one sweeps.
        SWEEP_AT_LOAD.store(21, SeqCst);
        for x in 0..20 {
            SWEEPY_OP.call(x).unwrap();
        }
        assert!(SWEEPY_OP.is_hot());
        assert_eq!(SWEEPY_LOADS.load(SeqCst), 20);
    });
}

static SOURCE_CALLS: AtomicUsize = AtomicUsize::new(0);
struct Joined;
impl Load for Joined {
    type Error = Infallible;
    fn load() -> Result<Self, Infallible> {
        Ok(Joined)
    }
}
static JOINED: ModuleCell<Joined> = ModuleCell::new(ModuleDef::new("joined"));
/// A hand-written operation whose `source()` panics at its second call only: the first
/// call asks for it twice (to find the runtime, then to join it), so the panic strikes
/// while the operation joins its runtime.
struct Joining;
impl Operation for Joining {
    type State = Joined;
    type Args = u64;
    type Output = u64;
    fn source() -> Source<Joined> {
        let call = SOURCE_CALLS.fetch_add(1, SeqCst) + 1;
        assert!(call != 2, "source() panics at its second call");
        Source::Module(&JOINED)
    }
}
impl Body for Joining {
    fn run(_: &Joined, x: u64) -> u64 {
        x
    }
}
static JOINING: Op<Joining, Cached<u64, u64>> = Op::cached(
    OpDef::new("hostile", "joining"),
    Duration::from_secs(600),
    8,
);

#[test]
fn an_operation_whose_source_panics_while_joining_joins_whole_on_its_next_call() {
    let (rt, _clock) = runtime();
    rt.add(&JOINED).unwrap();
    let first = panic::catch_unwind(|| JOINING.call(1));
    assert!(first.is_err(), "the first call's source() panicked");
    assert_eq!(SOURCE_CALLS.load(SeqCst), 2, "while joining");
    assert_eq!(JOINING.call(1).unwrap(), 1);
    assert_eq!(JOINING.call(1).unwrap(), 1, "from the cache");
    let stats = rt.stats();
    let op = stats.ops.iter().find(|op| op.name == "joining");
    assert!(op.is_some(), "registered with its runtime: {:?}", stats.ops);
    assert_eq!(JOINING.stats().cache_entries, 1);
    JOINED.invalidate();
    assert_eq!(
        JOINING.stats().cache_entries,
        0,
        "its cache is its module's: invalidating the module clears it"
    );
}

struct Busy;
impl Operation for Busy {
    type State = ();
    type Args = u64;
    type Output = u64;
    fn source() -> Source<()> {
        Source::Stateless(&())
    }
}
impl Body for Busy {
    fn run(_: &(), x: u64) -> u64 {
        x
    }
}
static BUSY: Op<Busy> = Op::new(OpDef::new("hostile", "busy"));

#[test]
fn a_hot_path_used_right_after_a_sweep_counts_as_used_in_that_window() {
    let (rt, clock) = runtime();
    rt.add_op(&BUSY).unwrap();
    for x in 0..100 {
        BUSY.call(x).unwrap();
    }
    assert_eq!(BUSY.heat(), Heat::Critical);
    for _ in 0..5 {
        // The window starts with this sweep; the calls come at its first instant.
        clock.advance(secs(60));
        rt.sweep();
        for x in 0..1_000 {
            BUSY.call(x).unwrap();
        }
    }
    clock.advance(secs(60));
    rt.sweep();
    assert!(BUSY.is_hot(), "used in every window, it stays hot");
    assert_eq!(BUSY.heat(), Heat::Critical);
}

static HELPER_SAW: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
/// A loader that hands work to a scoped helper thread, which asks for the module being
/// loaded: with the loader's `LoadScope` entered, the helper is answered at once.
struct Helped;
impl Load for Helped {
    type Error = Infallible;
    fn load() -> Result<Self, Infallible> {
        let scope = lmms::state::LoadScope::current();
        let seen = thread::scope(|threads| {
            threads
                .spawn(move || scope.enter(|| HELPED.get().map(drop)))
                .join()
                .unwrap()
        });
        *HELPER_SAW.lock().unwrap() = Some(format!("{seen:?}"));
        Ok(Helped)
    }
}
static HELPED: ModuleCell<Helped> = ModuleCell::new(ModuleDef::new("helped"));

#[test]
fn a_helper_thread_in_its_loaders_scope_is_answered_not_blocked() {
    within("a helper thread asking for the module being loaded", || {
        let (rt, _clock) = runtime();
        rt.add(&HELPED).unwrap();
        drop(HELPED.get().unwrap());
        let seen = HELPER_SAW.lock().unwrap().clone().unwrap();
        assert!(seen.contains("ReentrantLoad"), "{seen}");
        assert_eq!(rt.stats().loads, 1);
    });
}

//! A `tracing` layer is user code too: one that panics on lmms's events must neither free a
//! hot path's state under a running direct call nor stop the reaper (feature `tracing`).

mod common;

use lmms::op::{Body, Op, OpDef, Operation, Source};
use lmms::{Load, ModuleCell, ModuleDef, Runtime};
use std::convert::Infallible;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::thread;
use std::time::{Duration, Instant};
use tracing_subscriber::layer::SubscriberExt;

use common::{Canary, Panicking, ALIVE};

struct Parked(Canary);
impl Load for Parked {
    type Error = Infallible;
    fn load() -> Result<Self, Infallible> {
        Ok(Parked(Canary::new()))
    }
}
static PARKED: ModuleCell<Parked> = ModuleCell::new(ModuleDef::new("parked"));
static INSIDE: AtomicBool = AtomicBool::new(false);
static RELEASE: AtomicBool = AtomicBool::new(false);

struct Park;
impl Operation for Park {
    type State = Parked;
    type Args = u64;
    type Output = u64;
    fn source() -> Source<Parked> {
        Source::Module(&PARKED)
    }
}
impl Body for Park {
    fn run(state: &Parked, x: u64) -> u64 {
        if x == 1 {
            INSIDE.store(true, SeqCst);
            while !RELEASE.load(SeqCst) {
                std::hint::spin_loop();
            }
        }
        state.0.canary.load(SeqCst)
    }
}
static PARK: Op<Park> = Op::new(OpDef::new("hostile", "park"));
static DEMOTED_PANICS: AtomicBool = AtomicBool::new(false);

#[test]
fn a_layer_that_panics_on_a_demotion_frees_nothing_under_a_direct_call() {
    let layer = Panicking {
        on: "demoted",
        armed: &DEMOTED_PANICS,
    };
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        let (rt, clock) = common::quick_runtime();
        rt.add(&PARKED).unwrap();
        for _ in 0..20 {
            PARK.call(0).unwrap();
        }
        assert!(PARK.is_hot());
        let parked = thread::spawn(|| PARK.call(1).unwrap());
        while !INSIDE.load(SeqCst) {
            thread::yield_now();
        }
        DEMOTED_PANICS.store(true, SeqCst);
        clock.advance(Duration::from_secs(30));
        let swept = panic::catch_unwind(AssertUnwindSafe(|| rt.sweep()));
        assert!(swept.is_err(), "the layer's panic reaches the caller");
        assert_eq!(rt.stats().sweep_panics, 1);
        DEMOTED_PANICS.store(false, SeqCst);
        clock.advance(Duration::from_secs(30));
        rt.sweep();
        let resident = PARKED.is_resident();
        RELEASE.store(true, SeqCst);
        assert_eq!(parked.join().unwrap(), ALIVE);
        assert!(
            resident,
            "the state was unloaded under a running direct call"
        );
        clock.advance(Duration::from_secs(30));
        rt.sweep();
        assert!(!PARKED.is_resident(), "once the call left, the state goes");
    });
}

static KEPT_PANICS: AtomicBool = AtomicBool::new(true);

#[test]
fn the_reaper_survives_a_panicking_sweep_and_counts_it() {
    let layer = Panicking {
        on: "kept by the sweep",
        armed: &KEPT_PANICS,
    };
    // Global: the reaper's thread reports to it.
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer)).unwrap();
    let rt = Runtime::builder().build().unwrap();
    let module = rt.register(ModuleDef::named("kept"), || 7u8).unwrap();
    drop(module.get().unwrap()); // resident, within grace: every sweep keeps it
    let reaper = rt.start_reaper(Duration::from_millis(1)).unwrap();
    // Waits for progress, bounded so that a dead reaper fails the test instead of hanging.
    let wait_for = |what: &str, done: &dyn Fn() -> bool| {
        let start = Instant::now();
        while !done() {
            assert!(start.elapsed() < Duration::from_secs(60), "{what}");
            thread::sleep(Duration::from_millis(1));
        }
    };
    wait_for("a panicking sweep", &|| rt.stats().sweep_panics >= 3);
    KEPT_PANICS.store(false, SeqCst);
    let sweeps = rt.stats().sweeps;
    wait_for("the reaper sweeps on", &|| rt.stats().sweeps > sweeps + 3);
    drop(reaper);
    assert!(module.is_resident());
}

//! A `tracing` layer is user code too: one that panics on lmms's events must neither free a
//! hot path's state under a running direct call nor stop the reaper (feature `tracing`).

mod common;

use lmms::{ModuleDef, Runtime};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::thread;
use std::time::{Duration, Instant};
use tracing_subscriber::layer::SubscriberExt;

use common::Panicking;

static DEMOTED_PANICS: AtomicBool = AtomicBool::new(false);

#[test]
fn a_layer_that_panics_on_a_demotion_frees_nothing_under_a_direct_call() {
    let layer = Panicking {
        on: "demoted",
        armed: &DEMOTED_PANICS,
    };
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        common::parked::demotion_frees_nothing_under_a_direct_call(&DEMOTED_PANICS, |rt, swept| {
            assert!(swept.is_err(), "the layer's panic reaches the caller");
            assert_eq!(rt.stats().sweep_panics, 1);
        });
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

//! Memory measured by the counting allocator: what a load keeps, what an unload frees, and
//! the memory budget.

use lmms::memory::{live_heap, CountingAlloc};
use lmms::{KeepReason, ManualClock, ModuleDef, Runtime, Unload};
use std::convert::Infallible;
use std::time::Duration;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// The live heap is process-wide: tests that read it take turns.
static HEAP: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn loads_and_unloads_record_the_state_bytes_and_the_heap_returns() {
    let _turn = HEAP.lock().unwrap_or_else(|e| e.into_inner());
    let runtime = Runtime::builder().build().unwrap();
    let m = runtime
        .register_fallible(ModuleDef::named("table"), || {
            Ok::<_, Infallible>((0..1000).map(|i| vec![i as u8; 1000]).collect::<Vec<_>>())
        })
        .unwrap();
    let before = live_heap().unwrap();
    drop(m.get().unwrap());
    let loaded = m
        .stats()
        .bytes
        .expect("the counting allocator is installed");
    assert!(loaded >= 1_000_000, "the load recorded {loaded} bytes");
    let Unload::Unloaded { bytes } = m.unload() else {
        panic!("unload refused")
    };
    assert_eq!(bytes, loaded, "the unload frees what the load kept");
    let after = live_heap().unwrap();
    assert!(after.abs_diff(before) <= 1024, "heap {before} -> {after}");
    let stats = runtime.stats();
    assert_eq!(
        (stats.bytes_loaded, stats.bytes_reclaimed),
        (loaded, loaded)
    );
}

#[test]
fn over_budget_sweeps_unload_inside_the_grace_period_least_recently_used_first() {
    let _turn = HEAP.lock().unwrap_or_else(|e| e.into_inner());
    let clock = ManualClock::new();
    let runtime = Runtime::builder()
        .clock(clock.clone())
        .memory_budget(2_500_000)
        .build()
        .unwrap();
    let modules: Vec<_> = (0..4)
        .map(|i| {
            runtime
                .register_fallible(ModuleDef::named(format!("m{i}")), || {
                    Ok::<_, Infallible>(vec![1u8; 1_000_000])
                })
                .unwrap()
        })
        .collect();
    for m in &modules {
        drop(m.get().unwrap());
        clock.advance(Duration::from_secs(1));
    }
    let pinned = modules[0].pin();
    let report = runtime.sweep();
    let unloaded: Vec<_> = report.unloaded.iter().map(|u| u.module.as_str()).collect();
    assert_eq!(
        unloaded,
        ["m1", "m2"],
        "LRU first, skipping the pinned one, until 2 MB fit"
    );
    assert_eq!(report.kept_because("m0"), Some(KeepReason::Pinned));
    assert_eq!(report.kept_because("m3"), Some(KeepReason::WithinGrace));
    assert!(runtime.stats().resident_bytes.unwrap() <= 2_500_000);
    drop(pinned);
}

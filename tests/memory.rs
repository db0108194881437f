//! Memory measured by the counting allocator: what a load keeps, what an unload frees, and
//! the memory budget, kept by sweeps and by loads.

mod common;

use common::{budgeted, megabytes, resident, MB};

use lmms::memory::{live_heap, CountingAlloc};
use lmms::{
    report::KeepReason, report::Unload, tuning::ManualClock, AsyncLoad, Load, ModuleCell,
    ModuleDef, Runtime,
};
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
    // The load is charged what other threads kept meanwhile too (the harness's, as the
    // file's other tests end): the two agree within that, not to the byte.
    assert!(
        bytes.abs_diff(loaded) <= 16 * 1024,
        "the unload frees what the load kept: {bytes} of {loaded}"
    );
    let after = live_heap().unwrap();
    // The live heap is the process's: the test harness allocates on other threads as the
    // file's other tests end (they take turns on the heap, not on the harness).
    assert!(
        after.abs_diff(before) <= 16 * 1024,
        "heap {before} -> {after}"
    );
    let stats = runtime.stats();
    assert_eq!((stats.bytes_loaded, stats.bytes_reclaimed), (loaded, bytes));
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
    // Loaded while all are in use, so no load can make room (see the tests below): the
    // sweep is what brings them within the budget.
    let guards: Vec<_> = modules.iter().map(|m| m.get().unwrap()).collect();
    assert_eq!(runtime.stats().over_budget_loads, 2);
    for guard in guards {
        drop(guard);
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

#[test]
fn a_load_makes_room_in_the_budget_least_recently_used_first() {
    let _turn = HEAP.lock().unwrap_or_else(|e| e.into_inner());
    let (clock, runtime) = budgeted(2_500_000);
    let modules = megabytes(&runtime, "m", 4);
    // No sweep runs: each load keeps the budget itself. A first load's size is known once
    // it is done, so the third one unloads the least recently used right after it.
    for m in &modules {
        drop(m.get().unwrap());
        clock.advance(Duration::from_secs(1));
        assert!(runtime.stats().resident_bytes.unwrap() <= 2_500_000);
    }
    assert_eq!(resident(&modules), [2, 3]);
    let stats = runtime.stats();
    assert_eq!((stats.budget_unloads, stats.over_budget_loads), (2, 0));
    assert_eq!(stats.sweeps, 0, "no sweep ran");

    // Loaded again, its size is known: room is made before the load runs, so resident
    // state never goes over the budget while it does.
    let before = live_heap().unwrap();
    let guard = modules[0].get().unwrap();
    assert_eq!(
        resident(&modules),
        [0, 3],
        "m2, the least recently used, made room"
    );
    assert!(live_heap().unwrap() <= before + MB as u64 + 64 * 1024);
    drop(guard);
    assert_eq!(runtime.stats().budget_unloads, 3);
}

#[test]
fn a_load_never_unloads_a_module_in_use_pinned_or_core_and_goes_ahead_over_budget() {
    let _turn = HEAP.lock().unwrap_or_else(|e| e.into_inner());
    let (_clock, runtime) = budgeted(1_500_000);
    let core = runtime
        .register_fallible(ModuleDef::named("core").class(lmms::Class::Core), || {
            Ok::<_, Infallible>(vec![1u8; MB])
        })
        .unwrap();
    drop(core.get().unwrap());
    let modules = megabytes(&runtime, "m", 3);
    let pinned = modules[0].pin();
    drop(modules[0].get().unwrap());
    let held = modules[1].get().unwrap();
    // Over budget with nothing it may unload: the load goes ahead, counted.
    let third = modules[2].get().unwrap();
    assert_eq!(resident(&modules), [0, 1, 2]);
    assert!(core.stats().resident);
    let stats = runtime.stats();
    assert_eq!((stats.budget_unloads, stats.over_budget_loads), (0, 3));
    drop((pinned, held, third));
    // Once they are idle, the next load makes room from them, the core module aside.
    let extra = megabytes(&runtime, "n", 1).pop().unwrap();
    drop(extra.get().unwrap());
    assert!(core.stats().resident);
    assert!(runtime.stats().resident_bytes.unwrap() <= 1_500_000 + MB as u64);
}

/// State whose `Drop` loads another module: unloading it to make room runs a load inside
/// a load.
struct Loads {
    _bytes: Vec<u8>,
    other: lmms::state::Handle<Vec<u8>>,
}

impl Drop for Loads {
    fn drop(&mut self) {
        drop(self.other.get().unwrap());
    }
}

#[test]
fn a_drop_that_loads_while_a_load_makes_room_neither_hangs_nor_recurses() {
    let _turn = HEAP.lock().unwrap_or_else(|e| e.into_inner());
    let (clock, runtime) = budgeted(1_500_000);
    let modules = megabytes(&runtime, "m", 2);
    let other = modules[1].clone();
    let loads = runtime
        .register_fallible(ModuleDef::named("loads"), move || {
            Ok::<_, Infallible>(Loads {
                _bytes: vec![1u8; MB],
                other: other.clone(),
            })
        })
        .unwrap();
    drop(loads.get().unwrap());
    clock.advance(Duration::from_secs(1));
    // Making room for m0 unloads `loads`, whose `Drop` loads m1 from inside: that load
    // leaves room-making to the outer one, which looks again and unloads m1 too.
    drop(modules[0].get().unwrap());
    assert!(!loads.stats().resident);
    assert_eq!(resident(&modules), [0]);
    assert!(runtime.stats().resident_bytes.unwrap() <= 1_500_000);
    assert_eq!(runtime.stats().over_budget_loads, 0);
    // The next load is not inside one, and makes room again.
    drop(loads.get().unwrap());
    assert!(runtime.stats().resident_bytes.unwrap() <= 1_500_000 + MB as u64);
}

#[test]
fn a_loader_that_loads_leaves_room_making_to_its_own_load() {
    let _turn = HEAP.lock().unwrap_or_else(|e| e.into_inner());
    let (clock, runtime) = budgeted(2_500_000);
    let modules = megabytes(&runtime, "m", 2);
    for m in &modules {
        drop(m.get().unwrap());
        clock.advance(Duration::from_secs(1));
    }
    // A's loader gets B, which does not fit beside m0 and m1: B makes no room inside A's
    // measured loader (it would be charged to A), A's own load does once it is done.
    let b = runtime
        .register_fallible(ModuleDef::named("b"), || Ok::<_, Infallible>(vec![1u8; MB]))
        .unwrap();
    let inner = b.clone();
    let a = runtime
        .register_fallible(ModuleDef::named("a"), move || {
            drop(inner.get().unwrap());
            Ok::<_, Infallible>(vec![1u8; MB])
        })
        .unwrap();
    drop(a.get().unwrap());
    // A is charged its own state: not B's (charged to B's load), nor what making room
    // freed.
    let kept = a.stats().bytes.unwrap();
    assert!(
        (MB as u64..MB as u64 + 64 * 1024).contains(&kept),
        "A's load kept {kept} bytes"
    );
    assert!((MB as u64..MB as u64 + 64 * 1024).contains(&b.stats().bytes.unwrap()));
    assert_eq!(
        resident(&modules),
        Vec::<usize>::new(),
        "m0 and m1 made room, after A's load"
    );
    assert!(runtime.stats().resident_bytes.unwrap() <= 2_500_000);
    assert_eq!(runtime.stats().over_budget_loads, 0);
}

struct Remote {
    _bytes: Vec<u8>,
}

impl AsyncLoad for Remote {
    type Error = Infallible;
    async fn load() -> Result<Self, Infallible> {
        common::YieldOnce::default().await;
        Ok(Remote {
            _bytes: vec![1u8; MB],
        })
    }
}

static REMOTE: ModuleCell<Remote> = ModuleCell::new(ModuleDef::new("remote"));

struct Local {
    _bytes: Vec<u8>,
}

impl Load for Local {
    type Error = Infallible;
    fn load() -> Result<Self, Infallible> {
        Ok(Local {
            _bytes: vec![1u8; MB],
        })
    }
}

static LOCAL: ModuleCell<Local> = ModuleCell::new(ModuleDef::new("local"));

#[test]
fn an_async_load_keeps_the_budget_too() {
    let _turn = HEAP.lock().unwrap_or_else(|e| e.into_inner());
    let (clock, runtime) = budgeted(1_500_000);
    runtime.add(&REMOTE).unwrap();
    runtime.add(&LOCAL).unwrap();
    drop(LOCAL.get().unwrap());
    clock.advance(Duration::from_secs(1));
    drop(common::block_on(REMOTE.get_async()).unwrap());
    assert!(
        !LOCAL.is_resident() && REMOTE.is_resident(),
        "made room after the first load"
    );
    clock.advance(Duration::from_secs(1));
    drop(LOCAL.get().unwrap());
    assert!(!REMOTE.is_resident());
    // Loaded again, of known size: room is made before its loader first runs.
    drop(common::block_on(REMOTE.get_async()).unwrap());
    assert!(!LOCAL.is_resident());
    assert_eq!(runtime.stats().budget_unloads, 3);
}

/// A module of 1 MB with an operation on it, for the hot path against the budget.
macro_rules! hot_megabyte {
    ($state:ident, $module:ident, $op:ident, $static_op:ident, $name:literal) => {
        struct $state(Vec<u8>);
        impl Load for $state {
            type Error = Infallible;
            fn load() -> Result<Self, Infallible> {
                Ok($state(vec![1; common::MB]))
            }
        }
        static $module: ModuleCell<$state> = ModuleCell::new(ModuleDef::new($name));
        struct $op;
        impl lmms::op::Operation for $op {
            type State = $state;
            type Args = usize;
            type Output = u8;
            fn source() -> lmms::op::Source<$state> {
                lmms::op::Source::Module(&$module)
            }
        }
        impl lmms::op::Body for $op {
            fn run(state: &$state, at: usize) -> u8 {
                state.0[at]
            }
        }
        static $static_op: lmms::op::Op<$op> =
            lmms::op::Op::new(lmms::op::OpDef::new("budget", $name));
    };
}

hot_megabyte!(HotA, HOT_A, ReadA, READ_A, "hot_a");
hot_megabyte!(HotB, HOT_B, ReadB, READ_B, "hot_b");
hot_megabyte!(HotC, HOT_C, ReadC, READ_C, "hot_c");

#[test]
fn the_budget_outranks_the_hot_path_least_recently_used_first() {
    let _turn = HEAP.lock().unwrap_or_else(|e| e.into_inner());
    let clock = ManualClock::new();
    let runtime = Runtime::builder()
        .clock(clock.clone())
        .memory_budget(2_500_000)
        .heat(lmms::tuning::Thresholds::new(2, 4, 8).unwrap())
        .build()
        .unwrap();
    runtime.add(&HOT_A).unwrap();
    runtime.add(&HOT_B).unwrap();
    runtime.add(&HOT_C).unwrap();
    runtime.add_op(&READ_A).unwrap();
    runtime.add_op(&READ_B).unwrap();
    runtime.add_op(&READ_C).unwrap();
    // A, then B turn hot and pin their modules: 2 MB resident, both kept by their pins.
    for at in 0..10 {
        READ_A.call(at).unwrap();
    }
    clock.advance(Duration::from_secs(1));
    for at in 0..10 {
        READ_B.call(at).unwrap();
    }
    assert!(READ_A.is_hot() && READ_B.is_hot());
    // C's load needs room that only A's and B's pins keep: A, used least recently, yields.
    clock.advance(Duration::from_secs(1));
    READ_C.call(0).unwrap();
    assert!(!READ_A.is_hot(), "the least recently used hot path yielded");
    assert!(READ_B.is_hot(), "one demotion made room");
    assert!(!HOT_A.is_resident() && HOT_B.is_resident() && HOT_C.is_resident());
    let stats = runtime.stats();
    assert_eq!(stats.over_budget_loads, 0, "{stats}");
    assert_eq!(stats.demotions, [0, 0, 1], "{stats}");
    assert_eq!(READ_A.stats().demotions, [0, 0, 1]);
    // The hot path comes back with use, room permitting.
    for at in 0..10 {
        READ_A.call(at).unwrap();
    }
    assert_eq!(READ_A.call(3).unwrap(), 1);
}

hot_megabyte!(HotD, HOT_D, ReadD, READ_D, "hot_d");
hot_megabyte!(HotE, HOT_E, ReadE, READ_E, "hot_e");

/// A hot path whose module the application holds in use is no room to gain: it is not
/// demoted for a load that cannot fit anyway.
#[test]
fn the_budget_demotes_no_hot_path_whose_module_stays_anyway() {
    let _turn = HEAP.lock().unwrap_or_else(|e| e.into_inner());
    let clock = ManualClock::new();
    let runtime = Runtime::builder()
        .clock(clock.clone())
        .memory_budget(1_500_000)
        .heat(lmms::tuning::Thresholds::new(2, 4, 8).unwrap())
        .build()
        .unwrap();
    runtime.add(&HOT_D).unwrap();
    runtime.add(&HOT_E).unwrap();
    runtime.add_op(&READ_D).unwrap();
    runtime.add_op(&READ_E).unwrap();
    let held = HOT_D.get().unwrap();
    for at in 0..10 {
        READ_D.call(at).unwrap();
    }
    assert!(READ_D.is_hot());
    READ_E.call(0).unwrap();
    assert!(
        READ_D.is_hot(),
        "demoting it would have freed nothing: it is in use"
    );
    let stats = runtime.stats();
    assert_eq!(stats.demotions, [0, 0, 0], "{stats}");
    assert_eq!(stats.over_budget_loads, 1, "{stats}");
    drop(held);
}

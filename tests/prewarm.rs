//! Pre-warming (`Adaptive::prewarm`) where it meets other parts of the runtime: sweeps at an
//! uneven pace, the memory budget, concurrent sweeps, slow loaders, modules it cannot
//! pre-warm, an explicit unload, and a loader's panic that panics again. Time is a manual
//! clock; a module is used on the hour and swept every 10 s.

use lmms::memory::CountingAlloc;
use lmms::{
    state::Handle, tuning::Adaptive, tuning::ManualClock, AsyncLoad, ModuleCell, ModuleDef, Runtime,
};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

// The budget test weighs modules by what their loads allocated.
#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const MIB: usize = 1 << 20;
const HOUR: Duration = Duration::from_secs(3600);
const STEP: Duration = Duration::from_secs(10);

/// A load worth 10 minutes of its module idle, learned from 3 gaps.
fn adaptive() -> Adaptive {
    Adaptive::default()
        .load_worth_idle(Duration::from_secs(600))
        .learn_from(3)
}

/// The tests take turns: a load is charged what other threads allocate meanwhile, and the
/// budget test weighs its modules exactly.
static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

type Turn = std::sync::MutexGuard<'static, ()>;

fn runtime(builder: lmms::tuning::Builder) -> (Runtime, ManualClock, Turn) {
    runtime_with(builder, adaptive().prewarm(25))
}

fn runtime_with(
    builder: lmms::tuning::Builder,
    adaptive: Adaptive,
) -> (Runtime, ManualClock, Turn) {
    let turn = TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let (runtime, clock) = build(builder, adaptive);
    (runtime, clock, turn)
}

/// A second runtime for a test that holds its turn already.
fn runtime_unturned(builder: lmms::tuning::Builder) -> (Runtime, ManualClock) {
    build(builder, adaptive().prewarm(25))
}

fn build(builder: lmms::tuning::Builder, adaptive: Adaptive) -> (Runtime, ManualClock) {
    let clock = ManualClock::new();
    let runtime = builder
        .clock(clock.clone())
        .min_resident(0)
        .adaptive(adaptive)
        .build()
        .unwrap();
    (runtime, clock)
}

/// A module of 1 KiB, to be used on the hour.
fn hourly(rt: &Runtime) -> Handle<Vec<u8>> {
    rt.register(ModuleDef::named("hourly"), || vec![0u8; 1024])
        .unwrap()
}

/// Sweeps every 10 s until the clock reaches `to`.
fn sweep_until(rt: &Runtime, clock: &ManualClock, to: Duration) {
    while clock.now() + STEP <= to {
        clock.advance(STEP);
        rt.sweep();
    }
    clock.set(to.max(clock.now()));
}

/// Uses `m` on each of the next `hours` hours (the first one now), sweeping in between;
/// returns, for each use, whether the module was resident when it came.
fn on_the_hour<T: Send + Sync + 'static>(
    rt: &Runtime,
    clock: &ManualClock,
    m: &Handle<T>,
    hours: u32,
) -> Vec<bool> {
    let start = clock.now();
    (0..hours)
        .map(|hour| {
            sweep_until(rt, clock, start + HOUR * hour);
            let warm = m.is_resident();
            drop(m.get().unwrap());
            warm
        })
        .collect()
}

/// Learns the hourly pattern (4 uses, 3 gaps), then sweeps until the sweep that pre-warms
/// `m`, and returns with that sweep done and the number of sweeps since the last use.
fn until_prewarmed<T: Send + Sync + 'static>(
    rt: &Runtime,
    clock: &ManualClock,
    m: &Handle<T>,
) -> usize {
    on_the_hour(rt, clock, m, 4);
    for step in 1..=360 {
        clock.advance(STEP);
        rt.sweep();
        if m.stats().prewarms > 0 {
            return step;
        }
    }
    panic!("never pre-warmed: {:?}", m.stats());
}

#[test]
fn a_prewarmed_module_stays_through_its_window_whatever_the_sweeps_pace() {
    let (rt, clock, _turn) = runtime(Runtime::builder());
    let m = hourly(&rt);
    until_prewarmed(&rt, &clock, &m);
    // Another sweep at once (an application's own, beside the reaper's): it must not undo
    // the pre-warm.
    let again = rt.sweep();
    assert!(m.is_resident(), "{again:?}");
    clock.advance(Duration::from_secs(1));
    rt.sweep();
    assert!(m.is_resident());
    assert_eq!(m.stats().prewarms, 1);
}

#[test]
fn an_unload_asked_for_in_the_window_is_not_undone_by_another_prewarm() {
    let (rt, clock, _turn) = runtime(Runtime::builder());
    let m = hourly(&rt);
    until_prewarmed(&rt, &clock, &m);
    assert!(matches!(m.unload(), lmms::report::Unload::Unloaded { .. }));
    for _ in 0..6 {
        clock.advance(STEP);
        assert!(rt.sweep().prewarmed.is_empty());
    }
    assert_eq!(m.stats().prewarms, 1);
}

#[test]
fn a_prewarm_never_unloads_another_module_even_when_it_comes_in_larger() {
    let (rt, clock, _turn) = runtime(Runtime::builder().memory_budget((5 * MIB / 2) as u64));
    let other = rt
        .register(
            ModuleDef::named("other").grace(Duration::from_secs(36_000)),
            || vec![1u8; MIB],
        )
        .unwrap();
    drop(other.get().unwrap());
    // 1 MiB while it learns, 2 MiB from its first pre-warm on: no longer fits beside the
    // other.
    let loads = AtomicUsize::new(0);
    let hourly = rt
        .register(ModuleDef::named("hourly"), move || {
            let size = if loads.fetch_add(1, SeqCst) < 4 {
                MIB
            } else {
                2 * MIB
            };
            vec![2u8; size]
        })
        .unwrap();
    until_prewarmed(&rt, &clock, &hourly);
    assert!(other.is_resident(), "{:?}", rt.stats());
    assert_eq!(rt.stats().budget_unloads, 0);
    // The pre-warm that did not fit was undone: the module is as it was.
    assert!(!hourly.is_resident());
}

#[test]
fn of_two_sweeps_at_once_only_the_one_that_loaded_reports_the_prewarm() {
    let (rt, clock, _turn) = runtime(Runtime::builder());
    let loads = AtomicUsize::new(0);
    let (started, loading) = std::sync::mpsc::sync_channel::<()>(1);
    let m = rt
        .register(ModuleDef::named("slow"), move || {
            if loads.fetch_add(1, SeqCst) >= 4 {
                // The pre-warm: says it has started, then stays in flight long enough for
                // the second sweep to come and wait for it (if that one came later, it
                // would find the module resident and the test would pass all the same).
                let _ = started.send(());
                std::thread::sleep(Duration::from_millis(200));
            }
            vec![0u8; 1024]
        })
        .unwrap();
    // The same module on a runtime of its own, to find the sweep that pre-warms it.
    let due = {
        let (rt, clock) = runtime_unturned(Runtime::builder());
        let m = rt.register(ModuleDef::named("slow"), || 0u8).unwrap();
        until_prewarmed(&rt, &clock, &m)
    };
    on_the_hour(&rt, &clock, &m, 4);
    for _ in 1..due {
        clock.advance(STEP);
        rt.sweep();
    }
    assert_eq!(m.stats().prewarms, 0);
    clock.advance(STEP);
    let first = {
        let rt = rt.clone();
        std::thread::spawn(move || rt.sweep())
    };
    // The second sweep, 5 s on, while the first's pre-warm is still loading: due as well.
    loading.recv_timeout(Duration::from_secs(10)).unwrap();
    clock.advance(Duration::from_secs(5));
    let second = rt.sweep();
    let first = first.join().unwrap();
    assert_eq!(m.stats().prewarms, 1);
    assert_eq!(
        first.prewarmed.len() + second.prewarmed.len(),
        1,
        "{first:?} {second:?}"
    );
}

#[test]
fn a_slow_load_is_prewarmed_early_enough_to_be_done_before_its_use() {
    let (rt, clock, _turn) = runtime(Runtime::builder());
    // Each load takes 10 minutes of the clock.
    let slow = clock.clone();
    let m = rt
        .register(ModuleDef::named("slow"), move || {
            slow.advance(Duration::from_secs(600));
            vec![0u8; 1024]
        })
        .unwrap();
    let warm = on_the_hour(&rt, &clock, &m, 12);
    assert!(warm[..4].iter().all(|&warm| !warm), "{warm:?}");
    // A gap runs from the end of a use to the next: 50 minutes after a cold start (its
    // load took 10), 60 after a warm one. The first warm use moves the gaps to the longer
    // ones, which the schedule misses once; then it holds.
    assert!(warm[6..].iter().all(|&warm| warm), "{warm:?}");
}

struct Remote(#[allow(dead_code)] Vec<u8>);

impl AsyncLoad for Remote {
    type Error = std::convert::Infallible;
    async fn load() -> Result<Self, Self::Error> {
        Ok(Remote(vec![0; 1024]))
    }
}

static KEPT: ModuleCell<Remote> = ModuleCell::new(ModuleDef::new("kept"));
static KEPT_WITH_PREWARMING_ON: ModuleCell<Remote> =
    ModuleCell::new(ModuleDef::new("kept_with_prewarming_on"));

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return value;
        }
    }
}

#[test]
fn prewarming_on_does_not_drop_the_keep_alive_of_a_module_it_cannot_prewarm() {
    // Used every 4 minutes, worth 10 minutes idle: kept between uses, pre-warming or not
    // (the sweep cannot run an async module's load).
    let mut cold = Vec::new();
    for (cell, prewarm) in [(&KEPT, None), (&KEPT_WITH_PREWARMING_ON, Some(25))] {
        let adaptive = match prewarm {
            Some(percent) => adaptive().prewarm(percent),
            None => adaptive(),
        };
        let (rt, clock, _turn) = runtime_with(Runtime::builder(), adaptive);
        rt.add(cell).unwrap();
        let mut loads_waited = 0;
        for _ in 0..30 {
            loads_waited += u32::from(!cell.is_resident());
            block_on(async { drop(cell.get_async().await.unwrap()) });
            for _ in 0..24 {
                clock.advance(STEP);
                rt.sweep();
            }
        }
        cold.push(loads_waited);
    }
    assert_eq!(cold, [1, 1]);
}

/// A panic payload whose own drop panics.
struct Bomb;

impl Drop for Bomb {
    fn drop(&mut self) {
        panic!("the payload's drop panics too");
    }
}

#[test]
fn a_loader_whose_panic_panics_again_when_dropped_is_an_error_not_a_panic() {
    let (rt, _clock, _turn) = runtime(Runtime::builder());
    let fired = Arc::new(AtomicUsize::new(0));
    let count = fired.clone();
    let m = rt
        .register(ModuleDef::named("bomb"), move || -> Vec<u8> {
            count.fetch_add(1, SeqCst);
            std::panic::panic_any(Bomb)
        })
        .unwrap();
    let got = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| m.get().map(drop)));
    match got {
        Ok(Err(lmms::Error::LoadPanicked { module, .. })) => assert_eq!(module, "bomb"),
        Ok(other) => panic!("expected LoadPanicked, got {other:?}"),
        Err(_) => panic!("the payload's panic escaped the load"),
    }
    assert_eq!((fired.load(SeqCst), rt.stats().load_failures), (1, 1));
    assert!(!m.is_resident());
}

#[test]
fn a_prewarm_whose_loader_panics_or_loads_a_sibling_and_sweeps_leaves_the_runtime_working() {
    static RUNTIME: std::sync::OnceLock<Runtime> = std::sync::OnceLock::new();
    let (rt, clock, _turn) = runtime(Runtime::builder());
    RUNTIME.set(rt.clone()).unwrap();
    let sibling = rt
        .register(ModuleDef::named("sibling"), || vec![0u8; 64])
        .unwrap();
    let loads = AtomicUsize::new(0);
    let m = rt
        .register(ModuleDef::named("hourly"), move || {
            let load = loads.fetch_add(1, SeqCst);
            // The 5th load is the first pre-warm: it panics. The ones after it load a
            // sibling module and sweep, from inside the sweep that pre-warms.
            if load == 4 {
                panic!("the pre-warm's loader panics");
            }
            if load > 4 {
                drop(sibling.get().unwrap());
                RUNTIME.get().unwrap().sweep();
            }
            vec![0u8; 1024]
        })
        .unwrap();
    let warm = on_the_hour(&rt, &clock, &m, 10);
    let stats = rt.stats();
    // Four cold starts while it learns. The fifth use's pre-warm panicked: contained in
    // the sweep and counted, the module left unloaded and not tried again before that
    // use, which was a cold start. Every pre-warm after it, sibling and nested sweep
    // included, was in time.
    assert_eq!((stats.load_failures, stats.sweep_panics), (1, 0));
    assert_eq!(
        warm,
        [false, false, false, false, false, true, true, true, true, true]
    );
    assert_eq!(m.stats().prewarms, 5);
    assert_eq!(m.stats().guards, 0);
    assert_eq!(
        rt.stats().modules.iter().map(|m| m.guards).sum::<usize>(),
        0
    );
}

//! Modules whose state is built with `.await`: loaded once however many tasks ask, a
//! cancelled load handed to the next waiter, a failure every waiter's, closes awaited.
#![allow(missing_docs)]

mod common;

use common::{block_on, poll_once};
use lmms::{AsyncLoad, Closing, Error, Module, Unload};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

fn yield_once() -> common::YieldOnce {
    common::YieldOnce::default()
}

/// Pending while its flag is down: network I/O that the test completes by hand.
struct Gate(&'static AtomicBool);

impl Future for Gate {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if self.0.load(SeqCst) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// A waker that remembers it was woken.
#[derive(Default)]
struct Woken(AtomicBool);

impl Wake for Woken {
    fn wake(self: Arc<Self>) {
        self.0.store(true, SeqCst);
    }
}

impl Woken {
    fn waker() -> (Arc<Woken>, Waker) {
        let woken = Arc::new(Woken::default());
        (woken.clone(), Waker::from(woken))
    }

    fn take(&self) -> bool {
        self.0.swap(false, SeqCst)
    }
}

type Boxed<T> = Pin<Box<dyn Future<Output = T> + Send>>;

fn poll_with<T>(future: &mut Boxed<T>, waker: &Waker) -> Poll<T> {
    future.as_mut().poll(&mut Context::from_waker(waker))
}

/// Polls every future until each is ready (each at most `bound` times), in turn.
fn drive_all<T>(futures: Vec<Boxed<T>>, bound: usize) -> Vec<T> {
    let mut running: Vec<_> = futures.into_iter().map(Some).collect();
    let mut outputs: Vec<Option<T>> = running.iter().map(|_| None).collect();
    for _ in 0..bound {
        for (slot, output) in running.iter_mut().zip(&mut outputs) {
            if let Some(future) = slot {
                if let Poll::Ready(ready) = poll_once(future.as_mut()) {
                    *output = Some(ready);
                    *slot = None;
                }
            }
        }
        if running.iter().all(Option::is_none) {
            return outputs.into_iter().map(|output| output.unwrap()).collect();
        }
    }
    panic!("a future was still pending after {bound} polls: a stuck load");
}

// ---------------------------------------------------------------- loaded once

#[lmms::module(name = "single_flight")]
pub struct SingleFlight {
    value: u64,
}

static SINGLE_FLIGHT_LOADS: AtomicUsize = AtomicUsize::new(0);

impl AsyncLoad for SingleFlight {
    type Error = Infallible;
    async fn load() -> Result<Self, Infallible> {
        SINGLE_FLIGHT_LOADS.fetch_add(1, SeqCst);
        tokio::time::sleep(Duration::from_millis(20)).await;
        Ok(SingleFlight { value: 7 })
    }
}

#[test]
fn a_thousand_tasks_on_a_multi_thread_runtime_share_one_load() {
    let (runtime, _clock) = common::quick_runtime();
    runtime.add(SingleFlight::cell()).unwrap();
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_time()
        .build()
        .unwrap();
    let values = tokio.block_on(async {
        let start = Arc::new(tokio::sync::Barrier::new(1000));
        let tasks: Vec<_> = (0..1000)
            .map(|_| {
                let start = start.clone();
                tokio::spawn(async move {
                    start.wait().await;
                    let guard = SingleFlight::get_async().await?;
                    // Held across an await: the guard is `Send`.
                    tokio::task::yield_now().await;
                    Ok::<u64, Error>(guard.value)
                })
            })
            .collect();
        let mut values = Vec::new();
        for task in tasks {
            values.push(task.await.unwrap().unwrap());
        }
        values
    });
    assert!(values.iter().all(|&value| value == 7));
    assert_eq!(SINGLE_FLIGHT_LOADS.load(SeqCst), 1);
    let stats = SingleFlight::stats();
    assert_eq!((stats.loads, stats.guards), (1, 0));
}

#[lmms::module(name = "current_thread")]
pub struct CurrentThread(u8);

static CURRENT_THREAD_LOADS: AtomicUsize = AtomicUsize::new(0);

impl AsyncLoad for CurrentThread {
    type Error = Infallible;
    async fn load() -> Result<Self, Infallible> {
        CURRENT_THREAD_LOADS.fetch_add(1, SeqCst);
        tokio::task::yield_now().await;
        Ok(CurrentThread(3))
    }
}

#[test]
fn tasks_on_a_current_thread_runtime_share_one_load() {
    let (runtime, _clock) = common::quick_runtime();
    runtime.add(CurrentThread::cell()).unwrap();
    let tokio = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    tokio.block_on(async {
        let local: Vec<_> = (0..50)
            .map(|_| tokio::spawn(async { CurrentThread::get_async().await.map(|g| g.0) }))
            .collect();
        for task in local {
            assert_eq!(task.await.unwrap().unwrap(), 3);
        }
    });
    assert_eq!(CURRENT_THREAD_LOADS.load(SeqCst), 1);
}

// ---------------------------------------------------------------- cancellation

#[lmms::module(name = "cancelled")]
pub struct Cancelled;

const CANCEL_STEPS: usize = 3;
static CANCEL_STARTS: AtomicUsize = AtomicUsize::new(0);
/// Loader frames alive now: never more than one, however loads are cancelled.
static CANCEL_FRAMES: AtomicIsize = AtomicIsize::new(0);
static CANCEL_MOST_FRAMES: AtomicIsize = AtomicIsize::new(0);

struct Frame;

impl Frame {
    fn enter() -> Frame {
        let now = CANCEL_FRAMES.fetch_add(1, SeqCst) + 1;
        CANCEL_MOST_FRAMES.fetch_max(now, SeqCst);
        Frame
    }
}

impl Drop for Frame {
    fn drop(&mut self) {
        CANCEL_FRAMES.fetch_sub(1, SeqCst);
    }
}

impl AsyncLoad for Cancelled {
    type Error = Infallible;
    async fn load() -> Result<Self, Infallible> {
        CANCEL_STARTS.fetch_add(1, SeqCst);
        let _frame = Frame::enter();
        for _ in 0..CANCEL_STEPS {
            yield_once().await;
        }
        Ok(Cancelled)
    }
}

fn get_cancelled() -> Boxed<Result<(), Error>> {
    Box::pin(async { Cancelled::get_async().await.map(drop) })
}

/// One test owns the `cancelled` module: the cancellation cases and the interleavings
/// model run one after the other.
static CANCELLED_TURN: Mutex<()> = Mutex::new(());

fn cancelled_runtime() -> std::sync::MutexGuard<'static, ()> {
    static BOUND: std::sync::OnceLock<lmms::Runtime> = std::sync::OnceLock::new();
    let turn = CANCELLED_TURN.lock().unwrap_or_else(|e| e.into_inner());
    BOUND.get_or_init(|| {
        let (runtime, _clock) = common::quick_runtime();
        runtime.add(Cancelled::cell()).unwrap();
        runtime
    });
    turn
}

#[test]
fn a_load_cancelled_at_each_await_point_passes_to_the_next_waiter() {
    let _turn = cancelled_runtime();
    for polls in 0..=CANCEL_STEPS {
        let starts = CANCEL_STARTS.load(SeqCst);
        let (_, leader_waker) = Woken::waker();
        let (woken, waiter_waker) = Woken::waker();
        let mut leader = get_cancelled();
        for _ in 0..polls {
            assert!(poll_with(&mut leader, &leader_waker).is_pending());
        }
        let mut waiter = get_cancelled();
        let first = poll_with(&mut waiter, &waiter_waker);
        if polls == 0 {
            // The leader never ran: the waiter leads at once.
            assert!(first.is_pending());
        } else {
            assert!(
                first.is_pending(),
                "the waiter waits for the load in flight"
            );
            woken.take();
            drop(leader);
            assert!(
                woken.take(),
                "the cancelled load wakes its waiter ({polls} polls)"
            );
        }
        assert_eq!(CANCEL_FRAMES.load(SeqCst), if polls == 0 { 1 } else { 0 });
        let mut ready = None;
        for _ in 0..=CANCEL_STEPS + 1 {
            if let Poll::Ready(done) = poll_with(&mut waiter, &waiter_waker) {
                ready = Some(done);
                break;
            }
        }
        ready.expect("the waiter took the load over").unwrap();
        let expected = if polls == 0 { 1 } else { 2 };
        assert_eq!(CANCEL_STARTS.load(SeqCst) - starts, expected);
        assert!(Cancelled::is_resident());
        assert!(matches!(Cancelled::unload(), Unload::Unloaded { .. }));
    }
    assert_eq!(CANCEL_MOST_FRAMES.load(SeqCst), 1);
}

#[test]
fn a_load_cancelled_with_no_waiter_leaves_the_module_loadable() {
    let _turn = cancelled_runtime();
    let (_, waker) = Woken::waker();
    let mut alone = get_cancelled();
    assert!(poll_with(&mut alone, &waker).is_pending());
    drop(alone);
    assert!(!Cancelled::is_resident());
    assert_eq!(CANCEL_FRAMES.load(SeqCst), 0);
    block_on(get_cancelled()).unwrap();
    assert!(Cancelled::is_resident());
    assert!(matches!(Cancelled::unload(), Unload::Unloaded { .. }));
}

/// Every interleaving, up to a depth, of: polling a first caller, polling a second,
/// cancelling the first, and unloading, each replayed from scratch. After each step at most
/// one loader runs; after each run the callers left finish (no cell stuck "loading"),
/// every guard is let go, and the module's loads and unloads add up.
#[test]
fn every_interleaving_of_loads_cancellation_and_unloads_stays_consistent() {
    #[derive(Clone, Copy, Debug)]
    enum Step {
        PollFirst,
        PollSecond,
        CancelFirst,
        Unload,
    }
    const STEPS: [Step; 4] = [
        Step::PollFirst,
        Step::PollSecond,
        Step::CancelFirst,
        Step::Unload,
    ];
    const DEPTH: usize = 8;

    fn replay(schedule: &[Step]) {
        let mut first = Some(get_cancelled());
        let mut second = Some(get_cancelled());
        let (mut first_done, mut second_done) = (false, false);
        for step in schedule {
            match step {
                Step::PollFirst => {
                    if let Some(future) = first.as_mut().filter(|_| !first_done) {
                        if let Poll::Ready(result) = poll_once(future.as_mut()) {
                            result.unwrap();
                            first_done = true;
                        }
                    }
                }
                Step::PollSecond => {
                    if let Some(future) = second.as_mut().filter(|_| !second_done) {
                        if let Poll::Ready(result) = poll_once(future.as_mut()) {
                            result.unwrap();
                            second_done = true;
                        }
                    }
                }
                Step::CancelFirst => first = None,
                Step::Unload => {
                    let _ = Cancelled::unload();
                }
            }
            assert!(
                CANCEL_FRAMES.load(SeqCst) <= 1,
                "two loaders at once: {schedule:?}"
            );
        }
        let left: Vec<_> = [(first, first_done), (second, second_done)]
            .into_iter()
            .filter_map(|(future, done)| future.filter(|_| !done))
            .collect();
        for result in drive_all(left, 4 * CANCEL_STEPS + 4) {
            result.unwrap();
        }
        assert_eq!(
            CANCEL_FRAMES.load(SeqCst),
            0,
            "a loader outlived its callers: {schedule:?}"
        );
        let stats = Cancelled::stats();
        assert_eq!(stats.guards, 0, "a guard left: {schedule:?}");
        assert_eq!(
            stats.loads - stats.unloads,
            u64::from(stats.resident),
            "{schedule:?}"
        );
        let _ = Cancelled::unload();
        assert!(!Cancelled::is_resident(), "{schedule:?}");
    }

    let _turn = cancelled_runtime();
    let mut runs = 0;
    let mut schedule = Vec::new();
    fn explore(schedule: &mut Vec<Step>, runs: &mut usize) {
        replay(schedule);
        *runs += 1;
        if schedule.len() == DEPTH {
            return;
        }
        for step in STEPS {
            schedule.push(step);
            explore(schedule, runs);
            schedule.pop();
        }
    }
    explore(&mut schedule, &mut runs);
    // 4^0 + 4^1 + ... + 4^8 schedules.
    assert_eq!(
        runs,
        (0..=DEPTH as u32)
            .map(|depth| 4usize.pow(depth))
            .sum::<usize>()
    );
    assert_eq!(CANCEL_MOST_FRAMES.load(SeqCst), 1);
}

// ---------------------------------------------------------------- failures

#[lmms::module(name = "failing")]
pub struct Failing;

static FAILING_ATTEMPTS: AtomicUsize = AtomicUsize::new(0);
static FAILING_OPEN: AtomicBool = AtomicBool::new(false);

impl AsyncLoad for Failing {
    type Error = std::io::Error;
    async fn load() -> Result<Self, std::io::Error> {
        FAILING_ATTEMPTS.fetch_add(1, SeqCst);
        Gate(&FAILING_OPEN).await;
        Err(std::io::Error::other("backend down"))
    }
}

#[test]
fn a_failed_load_is_every_waiters_error_and_the_next_call_retries_once() {
    let (runtime, _clock) = common::quick_runtime();
    runtime.add(Failing::cell()).unwrap();
    let mut callers: Vec<Boxed<Result<(), Error>>> = (0..100)
        .map(|_| Box::pin(async { Failing::get_async().await.map(drop) }) as Boxed<_>)
        .collect();
    for caller in &mut callers {
        assert!(poll_once(caller.as_mut()).is_pending());
    }
    assert_eq!(FAILING_ATTEMPTS.load(SeqCst), 1);
    FAILING_OPEN.store(true, SeqCst);
    let errors = drive_all(callers, 10);
    assert_eq!(errors.len(), 100);
    for error in errors {
        match error {
            Err(Error::Load { module, source }) => {
                assert_eq!(module, "failing");
                assert_eq!(source.to_string(), "backend down");
            }
            other => panic!("expected the load's error, got {other:?}"),
        }
    }
    assert_eq!(FAILING_ATTEMPTS.load(SeqCst), 1, "one load for 100 waiters");
    assert_eq!(runtime.stats().load_failures, 1);
    assert!(block_on(Failing::get_async()).is_err());
    assert_eq!(
        FAILING_ATTEMPTS.load(SeqCst),
        2,
        "the next call retries, once"
    );
    assert!(!Failing::is_resident());
}

#[lmms::module(name = "panicking_async")]
pub struct PanickingAsync;

impl AsyncLoad for PanickingAsync {
    type Error = Infallible;
    async fn load() -> Result<Self, Infallible> {
        yield_once().await;
        panic!("the model file is corrupt");
    }
}

#[test]
fn a_panicking_async_loader_is_an_error_for_every_waiter() {
    let (runtime, _clock) = common::quick_runtime();
    runtime.add(PanickingAsync::cell()).unwrap();
    let callers: Vec<Boxed<Result<(), Error>>> = (0..3)
        .map(|_| Box::pin(async { PanickingAsync::get_async().await.map(drop) }) as Boxed<_>)
        .collect();
    for result in drive_all(callers, 10) {
        match result {
            Err(Error::LoadPanicked { module, message }) => {
                assert_eq!(
                    (module.as_str(), message.as_str()),
                    ("panicking_async", "the model file is corrupt")
                );
            }
            other => panic!("expected a panicked load, got {other:?}"),
        }
    }
    assert_eq!(runtime.stats().load_failures, 1);
}

// ---------------------------------------------------------------- sweeps, sync gets

#[lmms::module(name = "in_flight")]
pub struct InFlight(u32);

static IN_FLIGHT_OPEN: AtomicBool = AtomicBool::new(false);

impl AsyncLoad for InFlight {
    type Error = Infallible;
    async fn load() -> Result<Self, Infallible> {
        Gate(&IN_FLIGHT_OPEN).await;
        Ok(InFlight(5))
    }
}

#[test]
fn a_sweep_during_an_async_load_neither_unloads_nor_counts_it_resident() {
    let (runtime, clock) = common::quick_runtime();
    runtime.add(InFlight::cell()).unwrap();
    let mut caller: Boxed<Result<u32, Error>> =
        Box::pin(async { InFlight::get_async().await.map(|g| g.0) });
    assert!(poll_once(caller.as_mut()).is_pending());
    clock.advance(Duration::from_secs(60));
    let report = runtime.sweep();
    assert!(report.unloaded.is_empty());
    assert_eq!(report.kept_because("in_flight"), None);
    assert_eq!(runtime.stats().resident_modules, 0);
    // Not resident, and not to be unloaded as such: its state is on its way.
    assert_eq!(InFlight::unload(), Unload::Kept(lmms::KeepReason::Loading));
    assert!(matches!(InFlight::get(), Err(Error::LoadsAsync { .. })));
    IN_FLIGHT_OPEN.store(true, SeqCst);
    assert_eq!(drive_all(vec![caller], 3)[0].as_ref().unwrap(), &5);
    assert_eq!(runtime.stats().resident_modules, 1);
    // Resident, an async module's state is there for synchronous code too.
    assert_eq!(InFlight::get().unwrap().0, 5);
    assert_eq!(InFlight::stats().loads, 1);
}

// ---------------------------------------------------------------- re-entrancy

#[lmms::module(name = "own_loader")]
pub struct OwnLoader;

static OWN_LOADER_SAW: Mutex<Option<String>> = Mutex::new(None);

impl AsyncLoad for OwnLoader {
    type Error = Infallible;
    async fn load() -> Result<Self, Infallible> {
        let inner = OwnLoader::get_async().await.map(drop);
        *OWN_LOADER_SAW.lock().unwrap() = Some(format!("{inner:?}"));
        Ok(OwnLoader)
    }
}

#[test]
fn an_async_loader_that_awaits_its_own_module_is_told_so() {
    let (runtime, _clock) = common::quick_runtime();
    runtime.add(OwnLoader::cell()).unwrap();
    block_on(OwnLoader::get_async()).unwrap();
    let saw = OWN_LOADER_SAW.lock().unwrap().clone().unwrap();
    assert!(saw.contains("ReentrantLoad"), "{saw}");
}

#[lmms::module(name = "cycle_a")]
pub struct CycleA;
#[lmms::module(name = "cycle_b")]
pub struct CycleB;

static CYCLE_START: std::sync::LazyLock<tokio::sync::Barrier> =
    std::sync::LazyLock::new(|| tokio::sync::Barrier::new(2));

impl AsyncLoad for CycleA {
    type Error = Error;
    async fn load() -> Result<Self, Error> {
        CYCLE_START.wait().await;
        CycleB::get_async().await?;
        Ok(CycleA)
    }
}

impl AsyncLoad for CycleB {
    type Error = Error;
    async fn load() -> Result<Self, Error> {
        CYCLE_START.wait().await;
        CycleA::get_async().await?;
        Ok(CycleB)
    }
}

#[test]
fn two_tasks_loading_a_cycle_get_errors_not_a_hang() {
    let (runtime, _clock) = common::quick_runtime();
    runtime.add(CycleA::cell()).unwrap();
    runtime.add(CycleB::cell()).unwrap();
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let (a, b) = tokio.block_on(async {
        let a = tokio::spawn(async { CycleA::get_async().await.map(drop) });
        let b = tokio::spawn(async { CycleB::get_async().await.map(drop) });
        // A bound, not a timing: a deadlock would never end.
        tokio::time::timeout(Duration::from_secs(60), async {
            (a.await.unwrap(), b.await.unwrap())
        })
        .await
        .expect("the two loads deadlocked")
    });
    assert!(a.is_err() && b.is_err(), "{a:?} {b:?}");
    let text = format!("{a:?} {b:?}");
    assert!(text.contains("ReentrantLoad"), "{text}");
    assert!(!CycleA::is_resident() && !CycleB::is_resident());
}

// ---------------------------------------------------------------- closing

#[lmms::module(name = "dropped")]
pub struct Dropped;

static DROPPED_DROPS: AtomicUsize = AtomicUsize::new(0);

impl Drop for Dropped {
    fn drop(&mut self) {
        DROPPED_DROPS.fetch_add(1, SeqCst);
    }
}

impl AsyncLoad for Dropped {
    type Error = Infallible;
    async fn load() -> Result<Self, Infallible> {
        yield_once().await;
        Ok(Dropped)
    }
}

#[lmms::module(name = "closed")]
pub struct Closed {
    lines: Vec<String>,
}

static CLOSED_FLUSHED: AtomicUsize = AtomicUsize::new(0);

impl AsyncLoad for Closed {
    type Error = Infallible;
    async fn load() -> Result<Self, Infallible> {
        Ok(Closed {
            lines: vec!["a".into(), "b".into()],
        })
    }

    fn close(self) -> Option<Closing> {
        Some(Box::pin(async move {
            yield_once().await; // the flush's I/O
            CLOSED_FLUSHED.fetch_add(self.lines.len(), SeqCst);
        }))
    }
}

#[lmms::module(name = "close_panics")]
pub struct ClosePanics;

impl AsyncLoad for ClosePanics {
    type Error = Infallible;
    async fn load() -> Result<Self, Infallible> {
        Ok(ClosePanics)
    }

    fn close(self) -> Option<Closing> {
        Some(Box::pin(async {
            yield_once().await;
            panic!("the connection was reset");
        }))
    }
}

#[test]
fn an_async_module_is_dropped_or_closed_when_unloaded_and_its_close_awaited() {
    let (runtime, clock) = common::quick_runtime();
    runtime.add(Dropped::cell()).unwrap();
    runtime.add(Closed::cell()).unwrap();
    runtime.add(ClosePanics::cell()).unwrap();
    block_on(lmms::load_together(&[
        Dropped::cell(),
        Closed::cell(),
        ClosePanics::cell(),
    ]))
    .unwrap();
    assert_eq!(runtime.stats().resident_modules, 3);

    clock.advance(Duration::from_secs(2));
    let report = runtime.sweep();
    assert_eq!(report.unloaded.len(), 3);
    assert_eq!(
        DROPPED_DROPS.load(SeqCst),
        1,
        "a sync `Drop` runs where it is unloaded"
    );
    let stats = runtime.stats();
    assert_eq!((stats.closing, stats.resident_modules), (2, 0));
    assert_eq!(
        CLOSED_FLUSHED.load(SeqCst),
        0,
        "its close waits to be awaited"
    );
    assert_eq!(block_on(runtime.closes()), 2);
    assert_eq!(CLOSED_FLUSHED.load(SeqCst), 2);
    let stats = runtime.stats();
    assert_eq!(
        (stats.closing, stats.drop_panics),
        (0, 1),
        "the panicking close is counted"
    );
}

#[lmms::module(name = "shut", class = "core")]
pub struct Shut {
    lines: Vec<String>,
}

static SHUT_FLUSHED: AtomicUsize = AtomicUsize::new(0);

impl AsyncLoad for Shut {
    type Error = Infallible;
    async fn load() -> Result<Self, Infallible> {
        Ok(Shut {
            lines: vec!["x".into()],
        })
    }

    fn close(self) -> Option<Closing> {
        Some(Box::pin(async move {
            yield_once().await;
            SHUT_FLUSHED.fetch_add(self.lines.len(), SeqCst);
        }))
    }
}

#[test]
fn shutdown_unloads_even_core_modules_within_grace_and_awaits_their_closes() {
    let (runtime, _clock) = common::quick_runtime();
    runtime.add(Shut::cell()).unwrap();
    let report = block_on(async {
        drop(Shut::get_async().await.unwrap());
        let kept = runtime.sweep();
        assert_eq!(kept.kept_because("shut"), Some(lmms::KeepReason::Core));
        runtime.shutdown().await
    });
    assert_eq!(report.unloaded.len(), 1);
    assert_eq!(report.unloaded[0].module, "shut");
    assert_eq!(SHUT_FLUSHED.load(SeqCst), 1);
    assert_eq!(runtime.stats().closing, 0);
}

// ---------------------------------------------------------------- loads together

#[lmms::module(name = "slow_a")]
pub struct SlowA;
#[lmms::module(name = "slow_b")]
pub struct SlowB;

static SLOW_OPEN: AtomicBool = AtomicBool::new(false);
static SLOW_STARTED: AtomicUsize = AtomicUsize::new(0);

impl AsyncLoad for SlowA {
    type Error = Infallible;
    async fn load() -> Result<Self, Infallible> {
        SLOW_STARTED.fetch_add(1, SeqCst);
        Gate(&SLOW_OPEN).await;
        Ok(SlowA)
    }
}

impl AsyncLoad for SlowB {
    type Error = Infallible;
    async fn load() -> Result<Self, Infallible> {
        SLOW_STARTED.fetch_add(1, SeqCst);
        Gate(&SLOW_OPEN).await;
        Ok(SlowB)
    }
}

#[test]
fn loads_started_together_are_in_flight_at_once_and_each_runs_once() {
    let (runtime, _clock) = common::quick_runtime();
    runtime.add(SlowA::cell()).unwrap();
    runtime.add(SlowB::cell()).unwrap();
    let mut together: Boxed<Result<(), Error>> =
        Box::pin(async { lmms::load_together(&[SlowA::cell(), SlowB::cell()]).await });
    let mut also: Boxed<Result<(), Error>> = Box::pin(async { SlowB::get_async().await.map(drop) });
    assert!(poll_once(together.as_mut()).is_pending());
    assert!(poll_once(also.as_mut()).is_pending());
    assert_eq!(
        SLOW_STARTED.load(SeqCst),
        2,
        "both loads in flight before either ends"
    );
    SLOW_OPEN.store(true, SeqCst);
    for result in drive_all(vec![together, also], 5) {
        result.unwrap();
    }
    assert_eq!(SLOW_STARTED.load(SeqCst), 2);
    assert_eq!((SlowA::stats().loads, SlowB::stats().loads), (1, 1));
}

// ---------------------------------------------------------------- fault injection

#[lmms::module(name = "faulty")]
pub struct Faulty {
    canary: common::Canary,
}

/// Polls of the loader and of the close so far, and how often one panics (every N-th; 0:
/// never).
static FAULT_POLLS: AtomicUsize = AtomicUsize::new(0);
static FAULT_AT: AtomicUsize = AtomicUsize::new(0);
static FAULTS_HIT: AtomicUsize = AtomicUsize::new(0);

fn maybe_fault(what: &str) {
    let poll = FAULT_POLLS.fetch_add(1, SeqCst) + 1;
    let every = FAULT_AT.load(SeqCst);
    if every != 0 && poll.is_multiple_of(every) {
        FAULTS_HIT.fetch_add(1, SeqCst);
        panic!("injected fault in the {what}, poll {poll}");
    }
}

/// A future whose every poll may be the faulty one.
struct Faulting(&'static str, usize);

impl Future for Faulting {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        maybe_fault(self.0);
        if self.1 == 0 {
            Poll::Ready(())
        } else {
            self.1 -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

impl AsyncLoad for Faulty {
    type Error = Infallible;
    async fn load() -> Result<Self, Infallible> {
        Faulting("loader", 2).await;
        Ok(Faulty {
            canary: common::Canary::new(),
        })
    }

    fn close(self) -> Option<Closing> {
        Some(Box::pin(async move {
            Faulting("close", 1).await;
            assert_eq!(self.canary.canary.load(SeqCst), common::ALIVE);
        }))
    }
}

/// The loader and the close panicking at every N-th poll, N = 1..=40, while 3 tasks on a
/// multi-thread runtime get the module (some cancelled mid-load), unload it, sweep and
/// await closes. After each run: no guard left, loads − unloads = resident, no state read
/// after its drop (canaries), and, the faults off, the next get and close work.
#[test]
fn faults_in_async_loaders_and_closes_leave_the_runtime_consistent() {
    // In a static, which the spawned tasks borrow (a leaked box would read as a leak).
    static RUNTIME: std::sync::OnceLock<(lmms::Runtime, lmms::ManualClock)> =
        std::sync::OnceLock::new();
    let (runtime, clock) = RUNTIME.get_or_init(common::quick_runtime);
    runtime.add(Faulty::cell()).unwrap();
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(3)
        .enable_time()
        .build()
        .unwrap();
    let runs: usize = std::env::var("LMMS_FAULT_N")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(40);
    for at in 1..=runs {
        FAULT_POLLS.store(0, SeqCst);
        FAULT_AT.store(at, SeqCst);
        tokio.block_on(async {
            let tasks: Vec<_> = (0..3u64)
                .map(|task| {
                    tokio::spawn(async move {
                        let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ (at as u64 * 31 + task);
                        for _ in 0..60 {
                            seed ^= seed << 13;
                            seed ^= seed >> 7;
                            seed ^= seed << 17;
                            match seed % 6 {
                                0 | 1 => {
                                    if let Ok(guard) = Faulty::get_async().await {
                                        assert_eq!(guard.canary.canary.load(SeqCst), common::ALIVE);
                                        tokio::task::yield_now().await;
                                    }
                                }
                                2 => {
                                    // Cancelled after one poll, mid-load or mid-wait.
                                    let get = Faulty::get_async();
                                    let _ = tokio::time::timeout(Duration::ZERO, get).await;
                                }
                                3 => {
                                    let _ = Faulty::unload();
                                }
                                4 => {
                                    let _ = runtime.closes().await;
                                }
                                _ => {
                                    let _ = std::panic::catch_unwind(|| runtime.sweep());
                                }
                            }
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
        });
        FAULT_AT.store(0, SeqCst);
        let stats = Faulty::stats();
        assert_eq!(stats.guards, 0, "run {at}");
        assert_eq!(
            stats.loads - stats.unloads,
            u64::from(stats.resident),
            "run {at}"
        );
        tokio.block_on(async {
            let guard = Faulty::get_async().await.expect("the next get loads");
            assert_eq!(guard.canary.canary.load(SeqCst), common::ALIVE);
            drop(guard);
            clock.advance(Duration::from_secs(5));
            runtime.sweep_async().await;
        });
        assert!(!Faulty::is_resident(), "run {at}");
        assert_eq!(runtime.stats().closing, 0, "run {at}");
    }
    let hit = FAULTS_HIT.load(SeqCst);
    assert!(hit >= runs, "faults injected: {hit}");
    println!("{runs} runs, {hit} faults injected in loaders and closes, 0 inconsistencies");
}

// ---------------------------------------------------------------- closes spawned

#[lmms::module(name = "spawned")]
pub struct Spawned;

static SPAWNED_CLOSED: AtomicBool = AtomicBool::new(false);
static SPAWNER: Mutex<Vec<Closing>> = Mutex::new(Vec::new());

impl AsyncLoad for Spawned {
    type Error = Infallible;
    async fn load() -> Result<Self, Infallible> {
        Ok(Spawned)
    }

    fn close(self) -> Option<Closing> {
        Some(Box::pin(async {
            yield_once().await;
            SPAWNED_CLOSED.store(true, SeqCst);
        }))
    }
}

#[test]
fn with_a_spawner_a_sync_sweep_hands_the_close_over_at_once() {
    let (runtime, clock) = common::quick_runtime();
    runtime.add(Spawned::cell()).unwrap();
    drop(block_on(Spawned::get_async()).unwrap());
    // Unloaded before the spawner is set: queued, then handed over when it is.
    assert!(matches!(Spawned::unload(), Unload::Unloaded { .. }));
    assert_eq!(runtime.stats().closing, 1);
    runtime
        .spawn_closes(|close| SPAWNER.lock().unwrap().push(close))
        .unwrap();
    assert_eq!(runtime.stats().closing, 0);
    drop(block_on(Spawned::get_async()).unwrap());
    clock.advance(Duration::from_secs(2));
    assert_eq!(runtime.sweep().unloaded.len(), 1);
    assert_eq!(runtime.stats().closing, 0, "nothing waits for `closes`");
    let spawned: Vec<Boxed<()>> = SPAWNER.lock().unwrap().drain(..).collect();
    assert_eq!(spawned.len(), 2);
    drive_all(spawned, 3);
    assert!(SPAWNED_CLOSED.load(SeqCst));
    assert!(runtime.spawn_closes(|_| {}).is_err());
}

//! Async state under ordinary and hostile code (issue 27): loaders that join gets, waits that
//! cross sync and async code, room-making that runs a `Drop` which gets a module, a `Drop`
//! that loads its own module again, and what a shutdown says of loads still in flight.
//!
//! A test that would hang runs its scenario on a thread of its own and waits for it a
//! minute: a bound, not a timing (a deadlock never ends).
#![allow(missing_docs)]

mod common;

use common::{block_on, poll_once, MB};
use lmms::memory::CountingAlloc;
use lmms::{report::KeepReason, report::Unload, AsyncLoad, Error, Load, Module};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Barrier, LazyLock};
use std::time::Duration;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// The tests that read byte figures take turns: the live heap is the process's.
static HEAP: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `scenario` on a thread of its own and returns its answer, or fails the test if it
/// has not answered within a minute.
fn within_a_minute<R: Send + 'static>(scenario: impl FnOnce() -> R + Send + 'static) -> R {
    let (send, answer) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = send.send(scenario());
    });
    answer
        .recv_timeout(Duration::from_secs(60))
        .expect("the scenario deadlocked")
}

/// A tokio executor on the calling thread, as a Lambda function's `main` often has.
fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

fn yield_once() -> common::YieldOnce {
    common::YieldOnce::default()
}

// ------------------------------------------------- 1. joins inside a loader

#[lmms::module(name = "joined_shared")]
pub struct JoinedShared;

impl AsyncLoad for JoinedShared {
    type Error = Error;
    async fn load() -> Result<Self, Error> {
        yield_once().await; // in flight when the second get asks
        Ok(JoinedShared)
    }
}

#[lmms::module(name = "joined_parent")]
pub struct JoinedParent;

impl AsyncLoad for JoinedParent {
    type Error = Error;
    async fn load() -> Result<Self, Error> {
        let (a, b) = tokio::join!(JoinedShared::get_async(), JoinedShared::get_async());
        a?;
        b?;
        Ok(JoinedParent)
    }
}

#[test]
fn a_loader_that_joins_two_gets_of_one_module_loads_it_once() {
    let (runtime, _clock) = common::quick_runtime();
    runtime.add(JoinedParent::cell()).unwrap();
    runtime.add(JoinedShared::cell()).unwrap();
    within_a_minute(|| block_on(JoinedParent::get_async()).map(drop)).unwrap();
    assert!(JoinedParent::is_resident() && JoinedShared::is_resident());
    assert_eq!(JoinedShared::cell().stats().loads, 1);
}

#[lmms::module(name = "together_parent")]
pub struct TogetherParent;
#[lmms::module(name = "together_b")]
pub struct TogetherB;
#[lmms::module(name = "together_c")]
pub struct TogetherC;
#[lmms::module(name = "together_d")]
pub struct TogetherD;

impl AsyncLoad for TogetherParent {
    type Error = Error;
    async fn load() -> Result<Self, Error> {
        lmms::state::load_together(&[
            TogetherB::cell(),
            TogetherC::cell() as &dyn lmms::state::Preload,
        ])
        .await?;
        Ok(TogetherParent)
    }
}

impl AsyncLoad for TogetherB {
    type Error = Error;
    async fn load() -> Result<Self, Error> {
        TogetherD::get_async().await?;
        Ok(TogetherB)
    }
}

impl AsyncLoad for TogetherC {
    type Error = Error;
    async fn load() -> Result<Self, Error> {
        TogetherD::get_async().await?;
        Ok(TogetherC)
    }
}

impl AsyncLoad for TogetherD {
    type Error = Error;
    async fn load() -> Result<Self, Error> {
        yield_once().await;
        Ok(TogetherD)
    }
}

#[test]
fn loads_started_together_inside_a_loader_wait_for_their_shared_cousin() {
    let (runtime, _clock) = common::quick_runtime();
    runtime.add(TogetherParent::cell()).unwrap();
    runtime.add(TogetherB::cell()).unwrap();
    runtime.add(TogetherC::cell()).unwrap();
    runtime.add(TogetherD::cell()).unwrap();
    within_a_minute(|| block_on(TogetherParent::get_async()).map(drop)).unwrap();
    assert!(TogetherB::is_resident() && TogetherC::is_resident() && TogetherD::is_resident());
    assert_eq!(TogetherD::cell().stats().loads, 1);
}

/// A sibling's load that reaches its parent is still a cycle: the parent is its ancestor.
#[lmms::module(name = "ancestor_parent")]
pub struct AncestorParent;
#[lmms::module(name = "ancestor_child")]
pub struct AncestorChild;

impl AsyncLoad for AncestorParent {
    type Error = Error;
    async fn load() -> Result<Self, Error> {
        let (a, b) = tokio::join!(AncestorChild::get_async(), AncestorChild::get_async());
        a?;
        b?;
        Ok(AncestorParent)
    }
}

impl AsyncLoad for AncestorChild {
    type Error = Error;
    async fn load() -> Result<Self, Error> {
        yield_once().await;
        AncestorParent::get_async().await?;
        Ok(AncestorChild)
    }
}

#[test]
fn a_joined_load_that_reaches_its_parent_is_told_so() {
    let (runtime, _clock) = common::quick_runtime();
    runtime.add(AncestorParent::cell()).unwrap();
    runtime.add(AncestorChild::cell()).unwrap();
    let answer = within_a_minute(|| block_on(AncestorParent::get_async()).map(drop));
    let text = format!("{answer:?}");
    assert!(text.contains("ReentrantLoad"), "{text}");
    assert!(!AncestorParent::is_resident() && !AncestorChild::is_resident());
}

// ------------------------------------- 2. a cycle through sync and async waits

#[lmms::module(name = "sync_blocks_on_async")]
pub struct SyncBlocks;
#[lmms::module(name = "async_gets_sync")]
pub struct AsyncGets;

static MIXED: LazyLock<Barrier> = LazyLock::new(|| Barrier::new(2));
/// Each loader meets the other at the barrier on its first run only: once one is refused,
/// the other thread may run the refused one's loader itself.
static SYNC_FIRST: AtomicBool = AtomicBool::new(true);
static ASYNC_FIRST: AtomicBool = AtomicBool::new(true);

impl Load for SyncBlocks {
    type Error = Error;
    fn load() -> Result<Self, Error> {
        if SYNC_FIRST.swap(false, SeqCst) {
            MIXED.wait();
        }
        block_on(AsyncGets::get_async())?;
        Ok(SyncBlocks)
    }
}

impl AsyncLoad for AsyncGets {
    type Error = Error;
    async fn load() -> Result<Self, Error> {
        if ASYNC_FIRST.swap(false, SeqCst) {
            MIXED.wait();
        }
        SyncBlocks::get()?;
        Ok(AsyncGets)
    }
}

#[test]
fn a_cycle_through_a_sync_loader_blocking_on_an_async_module_is_refused() {
    let (runtime, _clock) = common::quick_runtime();
    runtime.add(SyncBlocks::cell()).unwrap();
    runtime.add(AsyncGets::cell()).unwrap();
    let (sync, asynchronous) = within_a_minute(|| {
        let sync = std::thread::spawn(|| SyncBlocks::get().map(drop));
        let asynchronous = std::thread::spawn(|| block_on(AsyncGets::get_async()).map(drop));
        (sync.join().unwrap(), asynchronous.join().unwrap())
    });
    let text = format!("{sync:?} {asynchronous:?}");
    assert!(sync.is_err() && asynchronous.is_err(), "{text}");
    assert!(text.contains("ReentrantLoad"), "{text}");
    assert!(!SyncBlocks::is_resident() && !AsyncGets::is_resident());
}

// ----------------------------- 3. room-making whose `Drop` gets the module loading

#[lmms::module(name = "budget_async")]
pub struct BudgetAsync(#[allow(dead_code)] Vec<u8>);
#[lmms::module(name = "budget_drop_gets")]
pub struct DropGets(#[allow(dead_code)] Vec<u8>);

impl AsyncLoad for BudgetAsync {
    type Error = Error;
    async fn load() -> Result<Self, Error> {
        yield_once().await;
        Ok(BudgetAsync(vec![1; MB]))
    }
}

impl Load for DropGets {
    type Error = Error;
    fn load() -> Result<Self, Error> {
        Ok(DropGets(megabyte()))
    }
}

fn megabyte() -> Vec<u8> {
    vec![1; MB]
}

impl Drop for DropGets {
    fn drop(&mut self) {
        // A `Drop` that flushes through another module.
        let _ = block_on(BudgetAsync::get_async());
    }
}

#[test]
fn room_made_for_an_async_load_never_runs_a_drop_that_waits_for_it() {
    let _turn = HEAP.lock().unwrap_or_else(|e| e.into_inner());
    let (_clock, runtime) = common::budgeted(3 * MB as u64 / 2);
    runtime.add(BudgetAsync::cell()).unwrap();
    runtime.add(DropGets::cell()).unwrap();
    let got = within_a_minute(|| {
        let tokio = current_thread();
        tokio.block_on(async {
            BudgetAsync::get_async().await?;
            assert!(matches!(BudgetAsync::unload(), Unload::Unloaded { .. }));
            DropGets::get()?;
            // Room for `BudgetAsync` unloads `DropGets`, whose `Drop` gets `BudgetAsync`.
            BudgetAsync::get_async().await.map(drop)
        })
    });
    got.unwrap();
    assert!(BudgetAsync::is_resident());
    assert!(!DropGets::is_resident());
}

// ------------------------------------------- 6. a `Drop` that loads its own module

#[lmms::module(name = "drop_reloads")]
pub struct DropReloads(#[allow(dead_code)] Vec<u8>);

static RELOAD_ON_DROP: AtomicBool = AtomicBool::new(false);

impl Load for DropReloads {
    type Error = Error;
    fn load() -> Result<Self, Error> {
        Ok(DropReloads(vec![1; 256 * 1024]))
    }
}

impl Drop for DropReloads {
    fn drop(&mut self) {
        if RELOAD_ON_DROP.swap(false, SeqCst) {
            let _ = DropReloads::get();
        }
    }
}

#[test]
fn a_drop_that_loads_its_own_module_again_keeps_the_books_true() {
    let _turn = HEAP.lock().unwrap_or_else(|e| e.into_inner());
    let (runtime, _clock) = common::quick_runtime();
    runtime.add(DropReloads::cell()).unwrap();
    drop(DropReloads::get().unwrap());
    let loaded = DropReloads::cell().stats().bytes.unwrap();
    assert!(loaded >= 256 * 1024, "{loaded}");
    RELOAD_ON_DROP.store(true, SeqCst);
    let Unload::Unloaded { bytes } = DropReloads::unload() else {
        panic!("not unloaded")
    };
    // A load is charged what other threads kept meanwhile too (the file's other tests, here):
    // the figures agree within what they may have allocated, not to the byte.
    let close = |a: u64, b: u64| a.abs_diff(b) <= 16 * 1024;
    assert!(
        close(bytes, loaded),
        "the unload frees the state it dropped: {bytes} of {loaded}"
    );
    let stats = DropReloads::cell().stats();
    assert!(stats.resident, "the `Drop` loaded it again");
    let reloaded = stats.bytes.unwrap();
    assert!(
        close(reloaded, loaded),
        "the new load's bytes: {reloaded} of {loaded}"
    );
    let totals = runtime.stats();
    assert_eq!((totals.loads, totals.unloads), (2, 1));
    assert_eq!(
        totals.bytes_loaded - totals.bytes_reclaimed,
        reloaded + loaded - bytes
    );
}

// ------------------------------------------------------------ 7. shutdown

#[lmms::module(name = "shutdown_in_flight")]
pub struct InFlight;

static IN_FLIGHT_OPEN: AtomicBool = AtomicBool::new(false);

impl AsyncLoad for InFlight {
    type Error = Error;
    async fn load() -> Result<Self, Error> {
        std::future::poll_fn(|_| {
            if IN_FLIGHT_OPEN.load(SeqCst) {
                std::task::Poll::Ready(())
            } else {
                std::task::Poll::Pending
            }
        })
        .await;
        Ok(InFlight)
    }
}

#[test]
fn shutdown_reports_a_load_in_flight() {
    let (runtime, _clock) = common::quick_runtime();
    runtime.add(InFlight::cell()).unwrap();
    let mut load = Box::pin(InFlight::get_async());
    assert!(poll_once(load.as_mut()).is_pending());
    let report = block_on(runtime.shutdown());
    assert_eq!(
        report.kept_because("shutdown_in_flight"),
        Some(KeepReason::Loading)
    );
    IN_FLIGHT_OPEN.store(true, SeqCst);
    drop(block_on(load).unwrap());
    assert!(InFlight::is_resident());
}

// ----------------------------------------- 8. two linked modules of one name

mod first {
    #[lmms::module(name = "twin_module")]
    pub struct Twin;
    impl lmms::Load for Twin {
        type Error = std::convert::Infallible;
        fn load() -> Result<Self, Self::Error> {
            Ok(Twin)
        }
    }
}

mod second {
    #[lmms::module(name = "twin_module")]
    pub struct Twin;
    impl lmms::Load for Twin {
        type Error = std::convert::Infallible;
        fn load() -> Result<Self, Self::Error> {
            Ok(Twin)
        }
    }
}

#[test]
fn the_typed_call_names_both_places_of_two_modules_of_one_name() {
    // The global runtime: the typed call binds each module to it on first use.
    first::Twin::get().unwrap();
    let error = second::Twin::get()
        .err()
        .expect("a second module of one name");
    let Error::DuplicateModule { name, places } = &error else {
        panic!("{error:?}")
    };
    assert_eq!(name, "twin_module");
    let here = file!();
    assert_eq!(places.len(), 2, "{places:?}");
    assert!(
        places.iter().all(|place| place.starts_with(here)),
        "{places:?}"
    );
    assert_ne!(places[0], places[1]);
    let text = error.to_string();
    assert!(
        text.contains(&places[0]) && text.contains(&places[1]),
        "{text}"
    );
}

// ------------------------ room-making runs a `Drop` that reads the runtime's figures

#[lmms::module(name = "drop_reads_stats")]
pub struct DropReadsStats(#[allow(dead_code)] Vec<u8>);
#[lmms::module(name = "room_taker")]
pub struct RoomTaker(#[allow(dead_code)] Vec<u8>);

static STATS_OF: std::sync::OnceLock<&'static lmms::Runtime> = std::sync::OnceLock::new();

impl Load for DropReadsStats {
    type Error = Error;
    fn load() -> Result<Self, Error> {
        Ok(DropReadsStats(vec![1; MB]))
    }
}

impl Drop for DropReadsStats {
    fn drop(&mut self) {
        // A `Drop` that logs the runtime's figures: it reads the module list.
        if let Some(runtime) = STATS_OF.get() {
            let _ = runtime.stats();
        }
    }
}

impl Load for RoomTaker {
    type Error = Error;
    fn load() -> Result<Self, Error> {
        Ok(RoomTaker(vec![1; MB]))
    }
}

#[test]
fn room_making_runs_no_drop_under_the_module_list_lock() {
    let _turn = HEAP.lock().unwrap_or_else(|e| e.into_inner());
    let (_clock, runtime) = common::budgeted(3 * MB as u64 / 2);
    let runtime: &'static lmms::Runtime = Box::leak(Box::new(runtime));
    STATS_OF.set(runtime).unwrap();
    runtime.add(DropReadsStats::cell()).unwrap();
    runtime.add(RoomTaker::cell()).unwrap();
    within_a_minute(|| {
        drop(DropReadsStats::get()?);
        // Over the budget once loaded: room-making unloads `DropReadsStats`.
        RoomTaker::get().map(drop)
    })
    .unwrap();
    assert!(RoomTaker::is_resident() && !DropReadsStats::is_resident());
}

// ------------- an outside review's findings: a stale wait, a waiter making room, recursion

#[lmms::module(name = "stale_w")]
pub struct StaleW;
#[lmms::module(name = "stale_c")]
pub struct StaleC;

static STALE_C_FAILS: AtomicBool = AtomicBool::new(true);
static STALE_NOTE: LazyLock<tokio::sync::Notify> = LazyLock::new(tokio::sync::Notify::new);
static STALE_W_SAW: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

impl AsyncLoad for StaleW {
    type Error = Error;
    async fn load() -> Result<Self, Error> {
        // An optional dependency: its failure is tolerated.
        let c = StaleC::get_async().await.map(drop);
        *STALE_W_SAW.lock().unwrap() = Some(format!("{c:?}"));
        Ok(StaleW)
    }
}

impl AsyncLoad for StaleC {
    type Error = lmms::BoxError;
    async fn load() -> Result<Self, lmms::BoxError> {
        if STALE_C_FAILS.swap(false, SeqCst) {
            tokio::task::yield_now().await;
            STALE_NOTE.notify_one(); // a request that was waiting for a slot
            return Err("the backend is down".into());
        }
        StaleW::get_async().await?;
        Ok(StaleC)
    }
}

/// W waits for C's first load, which fails; before W runs again, another task's load of C
/// gets W. W's wait was for the load that ended, not for the new one: no cycle.
#[test]
fn a_wait_for_a_load_that_ended_is_not_a_wait_for_the_next() {
    let (runtime, _clock) = common::quick_runtime();
    runtime.add(StaleW::cell()).unwrap();
    runtime.add(StaleC::cell()).unwrap();
    let (first, w, second) = within_a_minute(|| {
        let tokio = current_thread();
        tokio.block_on(async {
            let first = tokio::spawn(async { StaleC::get_async().await.map(drop) });
            let w = tokio::spawn(async { StaleW::get_async().await.map(drop) });
            let second = tokio::spawn(async {
                STALE_NOTE.notified().await;
                StaleC::get_async().await.map(drop)
            });
            (
                first.await.unwrap(),
                w.await.unwrap(),
                second.await.unwrap(),
            )
        })
    });
    let text = format!("{first:?} {w:?} {second:?}");
    assert!(
        format!("{first:?}").contains("the backend is down"),
        "{text}"
    );
    assert!(w.is_ok() && second.is_ok(), "{text}");
    let saw = STALE_W_SAW.lock().unwrap().clone().unwrap();
    assert!(
        saw.contains("the backend is down"),
        "W saw its own load's failure: {saw}"
    );
}

#[lmms::module(name = "waiter_room_a")]
pub struct WaiterRoomA(#[allow(dead_code)] Vec<u8>);
#[lmms::module(name = "waiter_room_d")]
pub struct WaiterRoomD(#[allow(dead_code)] Vec<u8>);

static WAITER_ROOM_GATE: AtomicBool = AtomicBool::new(false);

impl AsyncLoad for WaiterRoomA {
    type Error = Error;
    async fn load() -> Result<Self, Error> {
        while !WAITER_ROOM_GATE.load(SeqCst) {
            tokio::task::yield_now().await;
        }
        Ok(WaiterRoomA(vec![1; MB]))
    }
}

impl Load for WaiterRoomD {
    type Error = Error;
    fn load() -> Result<Self, Error> {
        Ok(WaiterRoomD(megabyte()))
    }
}

impl Drop for WaiterRoomD {
    fn drop(&mut self) {
        let _ = block_on(WaiterRoomA::get_async());
    }
}

/// A task that only waits for another task's load makes no room: the `Drop` room-making
/// would run could wait for that load, which its thread cannot poll meanwhile.
#[test]
fn a_caller_that_only_waits_for_a_load_makes_no_room_for_it() {
    let _turn = HEAP.lock().unwrap_or_else(|e| e.into_inner());
    let (_clock, runtime) = common::budgeted(3 * MB as u64 / 2);
    runtime.add(WaiterRoomA::cell()).unwrap();
    runtime.add(WaiterRoomD::cell()).unwrap();
    let (waiter, leader) = within_a_minute(|| {
        let tokio = current_thread();
        tokio.block_on(async {
            WAITER_ROOM_GATE.store(true, SeqCst);
            WaiterRoomA::get_async().await?; // its size is known from now on
            WAITER_ROOM_GATE.store(false, SeqCst);
            assert!(matches!(WaiterRoomA::unload(), Unload::Unloaded { .. }));
            let leader = tokio::spawn(async { WaiterRoomA::get_async().await.map(drop) });
            tokio::task::yield_now().await; // the leader's load is in flight
            WaiterRoomD::get()?; // fits while A is not resident
            let waiter = tokio::spawn(async { WaiterRoomA::get_async().await.map(drop) });
            tokio::task::yield_now().await; // the waiter waits
            WAITER_ROOM_GATE.store(true, SeqCst);
            Ok::<_, Error>((waiter.await.unwrap(), leader.await.unwrap()))
        })
    })
    .unwrap();
    waiter.unwrap();
    leader.unwrap();
    assert!(WaiterRoomA::is_resident());
}

#[lmms::module(name = "feature_drop_gets_itself", class = "feature")]
pub struct FeatureDropGetsItself;

static FEATURE_DROPS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl Load for FeatureDropGetsItself {
    type Error = Error;
    fn load() -> Result<Self, Error> {
        Ok(FeatureDropGetsItself)
    }
}

impl Drop for FeatureDropGetsItself {
    fn drop(&mut self) {
        // A "flush" through its own module, with no flag to stop it.
        if FEATURE_DROPS.fetch_add(1, SeqCst) < 10_000 {
            let _ = FeatureDropGetsItself::get();
        }
    }
}

/// A feature module is unloaded as its last guard drops; a guard its own `Drop` takes is not
/// the start of another unload of it, or every drop would load and unload it again.
#[test]
fn a_feature_module_whose_drop_gets_itself_does_not_recurse() {
    let (runtime, _clock) = common::quick_runtime();
    runtime.add(FeatureDropGetsItself::cell()).unwrap();
    drop(FeatureDropGetsItself::get().unwrap());
    assert_eq!(FEATURE_DROPS.load(SeqCst), 1, "one unload, one drop");
    // The `Drop` loaded it again: resident, and unloaded by the next use's last guard.
    assert!(FeatureDropGetsItself::is_resident());
    let stats = runtime.stats();
    assert_eq!((stats.loads, stats.unloads), (2, 1));
}

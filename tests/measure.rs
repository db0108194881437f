//! Every byte a module's state owns, however it was built (issue 28): on the calling
//! thread, on a helper thread, on tokio's blocking pool, as many small strings. The byte
//! figure a load books is checked against what the unload frees and against what glibc
//! itself says it holds (`mallinfo2`), not against lmms's own count alone.
#![allow(missing_docs)]

mod common;

use lmms::memory::CountingAlloc;
use lmms::{report::Unload, AsyncLoad, Error, Load, Module};
use std::collections::HashMap;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// The tests read the process's heap: they take turns.
static HEAP: std::sync::Mutex<()> = std::sync::Mutex::new(());

const SIZE: usize = 8 << 20;

/// Bytes glibc holds for the program (in use in its arenas, and mapped for large blocks).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn glibc_in_use() -> i64 {
    // SAFETY: `mallinfo2` has no preconditions.
    let info = unsafe { libc::mallinfo2() };
    (info.uordblks + info.hblkhd) as i64
}

/// Loads and unloads `M` on `runtime`'s tokio executor and returns (booked by the load,
/// freed by the unload, what glibc's in-use bytes fell by over the unload).
fn load_and_unload<M: Module>(tokio: &tokio::runtime::Runtime) -> (u64, u64, i64) {
    tokio.block_on(M::cell().get_async()).map(drop).unwrap();
    let booked = M::cell().stats().bytes.expect("measured");
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    let before = glibc_in_use();
    let Unload::Unloaded { bytes: freed } = M::cell().unload() else {
        panic!("not unloaded")
    };
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    let fell = before - glibc_in_use();
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let fell = freed as i64;
    (booked, freed, fell)
}

fn within_a_tenth(measured: f64, truth: f64) -> bool {
    (0.9..=1.1).contains(&(measured / truth))
}

fn check<M: Module>(what: &str) {
    let _turn = HEAP.lock().unwrap_or_else(|e| e.into_inner());
    let (runtime, _clock) = common::quick_runtime();
    runtime.add(M::cell()).unwrap();
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let (booked, freed, fell) = load_and_unload::<M>(&tokio);
    assert!(
        within_a_tenth(booked as f64, fell as f64),
        "{what}: the load booked {booked} bytes, glibc's in-use bytes fell by {fell} at the unload"
    );
    assert!(
        within_a_tenth(freed as f64, fell as f64),
        "{what}: the unload reported {freed} bytes, glibc's in-use bytes fell by {fell}"
    );
}

#[lmms::module(name = "built_here")]
pub struct BuiltHere(#[allow(dead_code)] Vec<u8>);

impl Load for BuiltHere {
    type Error = Error;
    fn load() -> Result<Self, Error> {
        Ok(BuiltHere(vec![1; SIZE]))
    }
}

#[test]
fn state_built_on_the_loading_thread_is_counted() {
    check::<BuiltHere>("the loading thread");
}

#[lmms::module(name = "built_by_a_helper")]
pub struct BuiltByHelper(#[allow(dead_code)] Vec<u8>);

impl Load for BuiltByHelper {
    type Error = Error;
    fn load() -> Result<Self, Error> {
        let table = std::thread::scope(|s| s.spawn(|| vec![1u8; SIZE]).join().unwrap());
        Ok(BuiltByHelper(table))
    }
}

#[test]
fn state_built_on_a_helper_thread_is_counted() {
    check::<BuiltByHelper>("a scoped helper thread");
}

#[lmms::module(name = "built_blocking")]
pub struct BuiltBlocking(#[allow(dead_code)] Vec<u8>);

impl AsyncLoad for BuiltBlocking {
    type Error = Error;
    async fn load() -> Result<Self, Error> {
        let table = tokio::task::spawn_blocking(|| vec![1u8; SIZE])
            .await
            .unwrap();
        Ok(BuiltBlocking(table))
    }
}

#[test]
fn state_built_on_the_blocking_pool_is_counted() {
    check::<BuiltBlocking>("tokio's blocking pool");
}

#[lmms::module(name = "small_strings")]
pub struct SmallStrings(#[allow(dead_code)] HashMap<String, String>);

impl Load for SmallStrings {
    type Error = Error;
    fn load() -> Result<Self, Error> {
        let map = (0..100_000)
            .map(|i| (format!("k{i}"), format!("v{i}")))
            .collect();
        Ok(SmallStrings(map))
    }
}

#[test]
fn state_of_small_strings_is_counted_as_the_allocator_holds_it() {
    check::<SmallStrings>("small strings");
}

#[lmms::module(name = "small_strings_blocking")]
pub struct SmallStringsBlocking(#[allow(dead_code)] HashMap<String, String>);

impl AsyncLoad for SmallStringsBlocking {
    type Error = Error;
    async fn load() -> Result<Self, Error> {
        let map = tokio::task::spawn_blocking(|| {
            (0..100_000)
                .map(|i| (format!("k{i}"), format!("v{i}")))
                .collect()
        })
        .await
        .unwrap();
        Ok(SmallStringsBlocking(map))
    }
}

#[test]
fn small_strings_built_on_the_blocking_pool_are_counted() {
    check::<SmallStringsBlocking>("small strings on the blocking pool");
}

#[lmms::module(name = "closed_later")]
pub struct ClosedLater(Vec<u8>);

impl AsyncLoad for ClosedLater {
    type Error = Error;
    async fn load() -> Result<Self, Error> {
        Ok(ClosedLater(vec![1; SIZE]))
    }

    fn close(self) -> Option<lmms::state::Closing> {
        Some(Box::pin(async move {
            tokio::task::yield_now().await; // a flush's I/O
            drop(self.0);
        }))
    }
}

#[test]
fn a_close_books_what_it_freed_when_it_ends() {
    let _turn = HEAP.lock().unwrap_or_else(|e| e.into_inner());
    let (runtime, _clock) = common::quick_runtime();
    runtime.add(ClosedLater::cell()).unwrap();
    let tokio = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    tokio.block_on(ClosedLater::get_async()).map(drop).unwrap();
    let booked = ClosedLater::cell().stats().bytes.unwrap();
    let Unload::Unloaded { bytes } = ClosedLater::unload() else {
        panic!("not unloaded")
    };
    assert!(bytes < 1024, "the state lives on in its close: {bytes}");
    let before = runtime.stats().bytes_reclaimed;
    assert_eq!(tokio.block_on(runtime.closes()), 1);
    let closed = runtime.stats().bytes_reclaimed - before;
    assert!(
        within_a_tenth(closed as f64, booked as f64),
        "the close freed {closed} bytes of the {booked} its load booked"
    );
}

// ------------------------- loads and unloads overlapping on two threads (an outside review)

static STEP1: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static STEP2: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn wait(flag: &std::sync::atomic::AtomicBool) {
    while !flag.load(std::sync::atomic::Ordering::SeqCst) {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

fn raise(flag: &std::sync::atomic::AtomicBool) {
    flag.store(true, std::sync::atomic::Ordering::SeqCst);
}

#[lmms::module(name = "overlap_tiny")]
pub struct OverlapTiny(#[allow(dead_code)] Vec<u8>);
#[lmms::module(name = "overlap_big")]
pub struct OverlapBig(#[allow(dead_code)] Vec<u8>);

impl Load for OverlapTiny {
    type Error = Error;
    fn load() -> Result<Self, Error> {
        wait(&STEP1); // the other thread's loader holds its 8 MiB, still loading
        Ok(OverlapTiny(vec![1; 1000]))
    }
}

impl Load for OverlapBig {
    type Error = Error;
    fn load() -> Result<Self, Error> {
        let table = vec![1u8; SIZE];
        raise(&STEP1);
        wait(&STEP2); // until the tiny load is done
        Ok(OverlapBig(table))
    }
}

/// Another thread's load in flight is that load's, not the helpers' of a load that ends
/// meanwhile.
#[test]
fn a_load_is_not_charged_another_threads_load_in_flight() {
    let _turn = HEAP.lock().unwrap_or_else(|e| e.into_inner());
    let (runtime, _clock) = common::quick_runtime();
    runtime.add(OverlapTiny::cell()).unwrap();
    runtime.add(OverlapBig::cell()).unwrap();
    let big = std::thread::spawn(|| OverlapBig::get().map(drop));
    OverlapTiny::get().map(drop).unwrap();
    raise(&STEP2);
    big.join().unwrap().unwrap();
    let tiny = OverlapTiny::cell().stats().bytes.unwrap();
    let big = OverlapBig::cell().stats().bytes.unwrap();
    assert!(
        tiny < 64 * 1024,
        "the 1,000-byte state was charged {tiny} bytes"
    );
    assert!(
        within_a_tenth(big as f64, SIZE as f64),
        "the 8 MiB state was charged {big}"
    );
}

#[lmms::module(name = "close_frees_then_panics")]
pub struct CloseFreesThenPanics(Vec<u8>);

impl AsyncLoad for CloseFreesThenPanics {
    type Error = Error;
    async fn load() -> Result<Self, Error> {
        Ok(CloseFreesThenPanics(vec![1; SIZE]))
    }

    fn close(mut self) -> Option<lmms::state::Closing> {
        Some(Box::pin(async move {
            drop(std::mem::take(&mut self.0));
            panic!("the connection was reset after the flush");
        }))
    }
}

/// A close that panics has still freed what it freed before the panic.
#[test]
fn a_close_that_panics_books_what_it_freed() {
    let _turn = HEAP.lock().unwrap_or_else(|e| e.into_inner());
    let (runtime, _clock) = common::quick_runtime();
    runtime.add(CloseFreesThenPanics::cell()).unwrap();
    let tokio = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    tokio
        .block_on(CloseFreesThenPanics::get_async())
        .map(drop)
        .unwrap();
    let booked = CloseFreesThenPanics::cell().stats().bytes.unwrap();
    assert!(matches!(
        CloseFreesThenPanics::unload(),
        Unload::Unloaded { .. }
    ));
    let before = runtime.stats().bytes_reclaimed;
    // A quiet panic: the default hook's backtrace would allocate its debug info inside the
    // close's measure, which is not what the close kept.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let closes = tokio.block_on(runtime.closes());
    std::panic::set_hook(hook);
    assert_eq!(closes, 1);
    let stats = runtime.stats();
    assert_eq!(
        stats.drop_panics, 1,
        "the close's panic is contained and counted"
    );
    let closed = stats.bytes_reclaimed - before;
    assert!(
        within_a_tenth(closed as f64, booked as f64),
        "the close freed {closed} bytes of the {booked} its load booked"
    );
}

//! Loom models of the module cell, the direct path and the result cache: every interleaving
//! of the races below, within a preemption bound of 3 (set in `.ci/run` through
//! `LOOM_MAX_PREEMPTIONS`; loom's own default is unbounded, which takes hours for the
//! three-thread models).
//!
//! Built only for `--cfg loom` tests, where the whole crate runs on loom's primitives (see
//! `sync`). Run with
//! `RUSTFLAGS="--cfg loom" cargo test -p lmms-runtime --lib --release -- loom_tests::`.

use crate::cache::{CachePolicy, Cached, Lookup, ResultCache};
use crate::cell::{CellGuard, LoadFailure, StateCell, Take};
use crate::defer::inside;
use crate::dispatch::{drain, Direct, DirectCall, Retiring};
use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;
use std::panic::{self, AssertUnwindSafe};
use std::ptr::NonNull;

/// A state that records its own drop outside its memory, so a use after the drop is seen
/// even though the memory is gone.
struct Canary {
    dropped: Arc<AtomicBool>,
}

impl Canary {
    fn new(dropped: &Arc<AtomicBool>) -> Self {
        Canary {
            dropped: dropped.clone(),
        }
    }

    fn check(&self) {
        assert!(
            !self.dropped.load(SeqCst),
            "state used after it was dropped"
        );
    }
}

impl Drop for Canary {
    fn drop(&mut self) {
        self.dropped.store(true, SeqCst);
    }
}

/// A guard on the state, loading it with `load` if the cell is empty, as a module's get does.
fn get<T>(cell: &StateCell<T>, load: impl FnOnce() -> T) -> CellGuard<'_, T> {
    cell.try_get()
        .unwrap_or_else(|| match cell.load(|| Ok::<_, ()>(Box::new(load()))) {
            Ok(guard) => guard,
            Err(LoadFailure::Failed(()) | LoadFailure::Panicked(_) | LoadFailure::Reentrant) => {
                panic!("load failed")
            }
        })
}

/// Unloads a loaded cell if no guard holds it, dropping the state; whether it did.
fn unload<T>(cell: &StateCell<T>) -> bool {
    match cell.take() {
        Take::Taken(state) => {
            drop(state);
            true
        }
        Take::InUse => false,
        Take::Empty => panic!("the state was loaded"),
    }
}

#[test]
fn two_getters_racing_the_first_load_run_the_loader_once() {
    loom::model(|| {
        let cell = Arc::new(StateCell::<usize>::new());
        let loads = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (cell, loads) = (cell.clone(), loads.clone());
                thread::spawn(move || {
                    let guard = get(&cell, || {
                        loads.fetch_add(1, SeqCst);
                        7
                    });
                    assert_eq!(*guard.get(), 7);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(loads.load(SeqCst), 1);
    });
}

#[test]
fn a_guard_alive_during_an_unload_keeps_the_state() {
    loom::model(|| {
        let dropped = Arc::new(AtomicBool::new(false));
        let cell = Arc::new(StateCell::new());
        drop(get(&cell, || Canary::new(&dropped)));
        let guard = cell.try_get().expect("loaded");
        let unloader = {
            let cell = cell.clone();
            thread::spawn(move || matches!(cell.take(), Take::InUse))
        };
        guard.get().check();
        let refused = unloader.join().unwrap();
        assert!(refused, "an unload with a guard alive answers in use");
        guard.get().check();
        drop(guard);
        assert!(matches!(cell.take(), Take::Taken(_)));
        assert!(dropped.load(SeqCst));
    });
}

#[test]
fn getters_and_an_unloader_never_meet_a_dropped_state() {
    loom::model(|| {
        let dropped = Arc::new(AtomicBool::new(false));
        let cell = Arc::new(StateCell::new());
        drop(get(&cell, || Canary::new(&dropped)));
        let getter = {
            let cell = cell.clone();
            thread::spawn(move || {
                if let Some(guard) = cell.try_get() {
                    guard.get().check();
                }
            })
        };
        let taken = unload(&cell);
        getter.join().unwrap();
        assert_eq!(dropped.load(SeqCst), taken);
        assert_eq!(cell.holders(), 0, "no guard leaked");
    });
}

#[test]
fn an_unload_then_a_reload_builds_a_fresh_state() {
    loom::model(|| {
        let cell = Arc::new(StateCell::<usize>::new());
        drop(get(&cell, || 1));
        let reloader = {
            let cell = cell.clone();
            thread::spawn(move || {
                let guard = get(&cell, || 2);
                let seen = *guard.get();
                assert!(seen == 1 || seen == 2);
            })
        };
        let outcome = cell.take();
        reloader.join().unwrap();
        match outcome {
            Take::Taken(old) => assert_eq!(*old, 1),
            Take::InUse => assert!(cell.is_loaded()),
            Take::Empty => panic!("the state was loaded"),
        }
        assert_eq!(cell.holders(), 0);
    });
}

#[test]
fn a_guard_sent_to_another_thread_is_counted_off_there() {
    loom::model(|| {
        let dropped = Arc::new(AtomicBool::new(false));
        // Leaked so that a guard, which borrows its cell, can move to a spawned thread.
        let cell: &'static StateCell<Canary> = Box::leak(Box::new(StateCell::new()));
        let guard = get(cell, || Canary::new(&dropped));
        let holder = thread::spawn(move || {
            guard.get().check();
            drop(guard);
        });
        let unloaded = unload(cell);
        holder.join().unwrap();
        assert_eq!(cell.holders(), 0, "the foreign release was counted");
        if !unloaded {
            assert!(matches!(cell.take(), Take::Taken(_)));
        }
    });
}

/// ZAFP's switch: a hot operation holds a guard and publishes its state; a caller reads it
/// with no count of its own while the operation is demoted and an unload is attempted.
#[test]
fn promote_direct_call_demote_unload_never_meet_a_dropped_state() {
    loom::model(|| {
        let dropped = Arc::new(AtomicBool::new(false));
        let cell: &'static StateCell<Canary> = Box::leak(Box::new(StateCell::new()));
        let direct: &'static Direct<Canary> = Box::leak(Box::new(Direct::new()));
        let pin = get(cell, || Canary::new(&dropped));
        direct.publish(NonNull::from(pin.get()));
        let caller = thread::spawn(move || {
            let _ = direct.call_with((), |state, ()| state.check());
        });
        drop(direct.withdraw(Box::new(pin)));
        let unloaded = unload(cell);
        caller.join().unwrap();
        assert_eq!(
            drain(),
            0,
            "every retired guard is released once its callers left"
        );
        assert_eq!(cell.holders(), 0);
        if !unloaded {
            assert!(matches!(cell.take(), Take::Taken(_)));
        }
        assert!(
            matches!(direct.call_with((), |_, ()| ()), DirectCall::NotHot(())),
            "a withdrawn path stays withdrawn"
        );
    });
}

/// The key a store of `args` needs, from a lookup that misses.
fn key<Output: Clone + Send + Sync + 'static>(
    cache: &'static Cached<u8, Output>,
    args: u8,
) -> <Cached<u8, Output> as CachePolicy<u8, Output>>::Key {
    match cache.lookup(&args, 0) {
        Lookup::Hit(_) => panic!("a store's key from a lookup that hit"),
        Lookup::Miss(key) => key,
    }
}

/// The result cache's time to live in the model, in runtime milliseconds.
const TTL: u64 = 10;
/// Where the sweeper moves the clock: past the TTL of anything stored at 0.
const END: u64 = TTL + 5;

/// The cache path of managed calls racing a sweep: two callers look up, store on a miss and
/// look up again, while the sweeper moves the clock past the TTL and purges. Each operation
/// on quick_cache's map is one step (quick_cache is linearizable; its own shuttle tests cover
/// its inside); lmms's bookkeeping between the steps is what is explored. No lookup returns
/// an expired result, no live result is dropped, and every result stored is, at the end,
/// either still held or counted expired exactly once.
#[test]
fn cache_insert_expiry_and_sweep_lose_nothing_and_count_once() {
    loom::model(|| {
        let cache: &'static Cached<u8, u64> = Box::leak(Box::new(Cached::new(
            std::time::Duration::from_millis(TTL),
            8,
        )));
        let clock = Arc::new(AtomicU64::new(0));
        // A result stored at time 0, expiring at TTL.
        cache.store(key(cache, 1), &0, 0);
        let callers: Vec<_> = (0..2)
            .map(|_| {
                let clock = clock.clone();
                thread::spawn(move || {
                    // Results stored: in all, and those stored at `END` (live to the end).
                    let (mut stored, mut late) = (0, 0);
                    for _ in 0..2 {
                        let now = clock.load(SeqCst);
                        match cache.lookup(&1, now) {
                            // The output is the time it was stored at.
                            Lookup::Hit(at) => {
                                assert!(at + TTL > now, "an expired result was served")
                            }
                            Lookup::Miss(key) => {
                                cache.store(key, &now, now);
                                stored += 1;
                                late += u64::from(now == END);
                            }
                        }
                    }
                    (stored, late)
                })
            })
            .collect();
        clock.store(END, SeqCst);
        cache.purge(END);
        let (stored, late) = callers
            .into_iter()
            .map(|caller| caller.join().unwrap())
            .fold((0, 0), |(n, l), (s, late)| (n + s, l + late));
        let counts = cache.counts();
        // The first store's key came from a lookup too: five lookups, one more miss.
        assert_eq!(counts.hits + counts.misses, 5, "every lookup counted once");
        assert_eq!(counts.misses, stored + 1, "a store follows each miss");
        if late > 0 {
            assert_eq!(cache.len(), 1, "a live result was dropped");
        }
        // Only results whose time ran out count as expired (the first one, and those
        // stored before the clock moved), and none twice. (Two stores of the same key
        // replace one another uncounted, so the rest is a bound, not an equation.)
        assert!(
            counts.expired <= 1 + stored - late,
            "a live result counted expired"
        );
        assert!(cache.len() as u64 + counts.expired <= 1 + stored);
    });
}

/// A demotion whose user code (an `Operation::source`, a `tracing` layer) panics right after
/// the withdrawal, while a direct call may be reading the state: the hold is in the
/// [`Retiring`] the withdrawal returned, so the unwind retires it rather than dropping it,
/// and an unload racing the call never frees the state under it.
#[test]
fn a_demotion_that_unwinds_after_the_withdrawal_still_waits_for_the_call() {
    // The models' own panics are expected: keep them off the output.
    panic::set_hook(Box::new(|_| {}));
    loom::model(|| {
        let dropped = Arc::new(AtomicBool::new(false));
        let cell: &'static StateCell<Canary> = Box::leak(Box::new(StateCell::new()));
        let direct: &'static Direct<Canary> = Box::leak(Box::new(Direct::new()));
        let pin = get(cell, || Canary::new(&dropped));
        direct.publish(NonNull::from(pin.get()));
        let caller = thread::spawn(move || {
            let _ = direct.call_with((), |state, ()| state.check());
        });
        let retiring: Retiring = direct.withdraw(Box::new(pin));
        let unwound = panic::catch_unwind(AssertUnwindSafe(move || {
            let _retiring = retiring;
            panic!("user code run during the demotion");
        }));
        assert!(unwound.is_err());
        let unloaded = unload(cell);
        caller.join().unwrap();
        assert_eq!(drain(), 0, "the unwound demotion's hold is released");
        if !unloaded {
            assert!(matches!(cell.take(), Take::Taken(_)));
        }
        assert!(dropped.load(SeqCst), "and the state is gone in the end");
    });
    let _ = panic::take_hook();
}

/// Counts the drops of cached outputs, and checks each one happens outside the map.
struct Output {
    drops: Arc<AtomicUsize>,
}

impl Clone for Output {
    fn clone(&self) -> Self {
        Output {
            drops: self.drops.clone(),
        }
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        assert!(!inside(), "a cached output was dropped inside the map");
        self.drops.fetch_add(1, SeqCst);
    }
}

/// Deferred drops: a caller stores two results in a cache of capacity one (each store
/// evicts the entry before it, inside the store) while a sweeper purges the expired first
/// result; then an invalidation clears the rest. Every output the cache took is dropped
/// exactly once, and never while its thread is inside the map's lock.
#[test]
fn cached_outputs_are_dropped_once_each_and_only_outside_the_map() {
    loom::model(|| {
        let cache: &'static Cached<u8, Output> = Box::leak(Box::new(Cached::new(
            std::time::Duration::from_millis(TTL),
            1,
        )));
        let drops = Arc::new(AtomicUsize::new(0));
        let output = Output {
            drops: drops.clone(),
        };
        cache.store(key(cache, 0), &output, 0);
        let caller = {
            let output = output.clone();
            thread::spawn(move || {
                cache.store(key(cache, 1), &output, END);
                cache.store(key(cache, 2), &output, END);
                drop(output);
            })
        };
        cache.purge(END);
        caller.join().unwrap();
        cache.clear();
        drop(output);
        // Two outputs made by the test, three cloned into the cache.
        assert_eq!(drops.load(SeqCst), 5, "every output dropped exactly once");
        assert_eq!(cache.len(), 0);
    });
}

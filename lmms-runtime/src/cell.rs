//! The resettable lazy cell behind every module: "load on first use" and "drop when
//! idle" on one piece of memory.
//!
//! # Why not `once_cell` or `std::sync::OnceLock`
//!
//! A `OnceLock<T>` hands out `&T` for as long as the lock lives, so it can only be reset
//! through `&mut self` (`OnceLock::take`). A module lives in a `static`, where there is no
//! `&mut`; resetting it through `&self` while some thread still holds a `&'static T` from an
//! earlier `get` would be a use-after-free. once_cell's maintainers refused a `&self` reset
//! for exactly this reason (matklad/once_cell#127), and loom's authors ran into the same
//! wall when modelling statics (tokio-rs/loom#125). So the cell never returns a reference
//! that outlives a [`CellGuard`], and it counts the guards, so that an unload can tell
//! whether anyone can still reach the state.
//!
//! # Why striped counts
//!
//! The design was chosen by the `lifecycle` benchmark, which measures the candidates side
//! by side on a resident module (get, read, drop); the figures are in `BENCHMARKS.md`,
//! "Figures behind the code":
//!
//! - `RwLock<Option<T>>`: every read is a compare-and-swap on one shared word.
//! - `ArcSwapOption<T>::load`: a count, or arc-swap's debt slot, per call.
//! - **per-thread stripes** (this cell), the fastest, alone and with two threads calling
//!   at once. Threads take cache-line-padded stripes in the order they first get a guard,
//!   so two threads never write the same line; a get is one uncontended atomic add, a drop
//!   one atomic subtract, and an unload sums the stripes.
//! - not measured: one `AtomicUsize` of guards beside the pointer, which is the striped
//!   design with one stripe, so every thread writes the same line (a shared relaxed
//!   `fetch_add` costs about three times more with two threads than with one).
//!
//! A guard returned with a plain store instead of the subtract (stripes owned by one
//! thread each) measured no faster, and loom cannot check a store racing a
//! read-modify-write (tokio-rs/loom#254), so the cell keeps two atomic operations a call.
//!
//! # The protocol
//!
//! Every decision is made by read-modify-write operations on one stripe, so the stripe's
//! modification order alone decides every race; no `SeqCst` is needed (and loom, which
//! models `SeqCst` accesses only as acquire-release, can check all of it).
//!
//! - A getter increments its stripe (`Acquire`). If the stripe is not marked *closing*, it
//!   reads the state pointer (`Acquire`) and holds a guard; otherwise it takes its
//!   increment back and goes to the slow path, which waits on the load lock.
//! - An unload, under the load lock, marks every stripe closing (`fetch_or`, `AcqRel`) and
//!   reads the count each held at that moment. If any count is above zero, a getter
//!   incremented before the mark: the unload clears the marks and answers "in use".
//!   Otherwise every later getter sees the mark and backs off; the unload takes the
//!   pointer out, then clears the marks (`Release`), so a getter that increments after
//!   that sees the null pointer and loads afresh.
//! - A dropped guard decrements its stripe (`Release`), which the unload's `fetch_or`
//!   acquires: every read through the guard happens before the state is dropped.
//!
//! The loom models in `loom_tests.rs` check this protocol.

use crate::cycle;
use crate::defer;
use crate::sync::{
    local, AtomicPtr, AtomicUsize, Mutex,
    Ordering::{AcqRel, Acquire, Relaxed, Release},
    TryLockError, STRIPES,
};
use crossbeam_utils::CachePadded;
use std::any::Any;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::ptr::{self, NonNull};

/// The mark an unload puts on every stripe while it decides; the rest of the word counts
/// guards.
const CLOSING: usize = 1 << (usize::BITS - 1);

/// A lazily loaded value that can be dropped again while no guard is alive.
pub struct StateCell<T> {
    state: AtomicPtr<T>,
    holders: [CachePadded<AtomicUsize>; STRIPES],
    /// Serialises loads and unloads; the fast path never touches it.
    lock: Mutex<()>,
    /// The load running this cell's loader right now (its number in `cycle`), or 0.
    loader: AtomicUsize,
    _owns: PhantomData<T>,
}

/// Why [`StateCell::load`] produced no guard.
pub enum LoadFailure<E> {
    /// The loader returned an error.
    Failed(E),
    /// The loader panicked; the payload is the panic's.
    Panicked(Box<dyn Any + Send>),
    /// The loader, directly or not, asked for the cell it is loading.
    Reentrant,
}

/// What [`StateCell::take`] found.
pub enum Take<T> {
    /// The cell was empty.
    Empty,
    /// A guard was alive: the state stays.
    InUse,
    /// The state, now out of the cell; the caller drops it.
    Taken(Box<T>),
}

impl<T> StateCell<T> {
    crate::sync::const_fn! {
        /// An empty cell.
        pub const fn new() -> Self {
            StateCell {
                state: AtomicPtr::new(ptr::null_mut()),
                holders: crate::sync::repeat![CachePadded::new(AtomicUsize::new(0)); STRIPES],
                lock: Mutex::new(()),
                loader: AtomicUsize::new(0),
                _owns: PhantomData,
            }
        }
    }

    /// A guard on the state if it is loaded; never blocks, never loads.
    #[inline]
    pub fn try_get(&self) -> Option<CellGuard<'_, T>> {
        let stripe = stripe();
        let holders = &self.holders[stripe];
        if holders.fetch_add(1, Acquire) & CLOSING == 0 {
            if let Some(state) = NonNull::new(self.state.load(Acquire)) {
                return Some(CellGuard {
                    cell: self,
                    state,
                    stripe,
                });
            }
        }
        holders.fetch_sub(1, Release);
        None
    }

    /// A guard on the state, running `load` first if the cell is empty. Concurrent callers
    /// wait for one loader; a failed or panicking loader leaves the cell empty. A caller
    /// whose wait would close a cycle of loads (its own loader, directly or through other
    /// threads' loaders, waits for the loader it would wait for) gets
    /// [`LoadFailure::Reentrant`] instead of a deadlock.
    ///
    /// The loader returns the state boxed, so that a caller measuring it counts the box.
    pub fn load<E>(
        &self,
        load: impl FnOnce() -> Result<Box<T>, E>,
    ) -> Result<CellGuard<'_, T>, LoadFailure<E>> {
        if cycle::is_own(self.loader.load(Relaxed)) {
            return Err(LoadFailure::Reentrant);
        }
        let id = self as *const Self as usize;
        let _lock = match self.lock.try_lock() {
            Ok(lock) => lock,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            // Inside a result cache's map (its user code, under a shard lock, asked for this
            // module), waiting could close a cycle through that lock, which no record shows.
            Err(TryLockError::WouldBlock) if defer::inside() => return Err(LoadFailure::Reentrant),
            Err(TryLockError::WouldBlock) => {
                // The load holding the lock (0 for an unload, which waits for nothing).
                let awaited = self.loader.load(Relaxed);
                let _waiting = cycle::Waiting::start(id, awaited)
                    .map_err(|cycle::Cycle| LoadFailure::Reentrant)?;
                crate::sync::lock(&self.lock)
            }
        };
        if let Some(guard) = self.try_get() {
            return Ok(guard);
        }
        let loading = cycle::Loading::start(id);
        self.loader.store(loading.number(), Relaxed);
        let built =
            panic::catch_unwind(AssertUnwindSafe(|| cycle::running(loading.number(), load)));
        self.loader.store(0, Relaxed);
        drop(loading);
        match built {
            Ok(Ok(state)) => Ok(self.install(state)),
            Ok(Err(error)) => Err(LoadFailure::Failed(error)),
            Err(payload) => Err(LoadFailure::Panicked(payload)),
        }
    }

    /// Whether a load of this cell is running now (a snapshot).
    pub fn is_loading(&self) -> bool {
        self.loader.load(Relaxed) != 0
    }

    /// A guard on the state if it is loaded, waiting for an unload in progress to decide:
    /// unlike [`try_get`](StateCell::try_get), whose `None` may only mean that an unload
    /// is deciding, `None` here means the cell is empty. For an async load's leader, which
    /// must not build a state the cell still holds.
    pub fn get_settled(&self) -> Option<CellGuard<'_, T>> {
        let _lock = crate::sync::lock(&self.lock);
        // No unload marks the stripes while the lock is held.
        self.try_get()
    }

    /// Puts a state built outside the cell (by an async load, which never holds the lock
    /// across its awaits) into it, and returns a guard on it. The caller must be the only
    /// one that can fill the cell now, and have found it empty with
    /// [`get_settled`](StateCell::get_settled): an async module's cell is filled only here,
    /// by the one task that leads its load.
    pub fn publish(&self, state: Box<T>) -> CellGuard<'_, T> {
        let _lock = crate::sync::lock(&self.lock);
        debug_assert!(
            self.state.load(Relaxed).is_null(),
            "published into a full cell"
        );
        self.install(state)
    }

    /// Puts `state` into the empty cell, under its lock, with a guard counted on it.
    fn install(&self, state: Box<T>) -> CellGuard<'_, T> {
        let state = NonNull::from(Box::leak(state));
        let stripe = stripe();
        // Counted before it is published, so no unload can slip in between.
        self.holders[stripe].fetch_add(1, Acquire);
        self.state.store(state.as_ptr(), Release);
        CellGuard {
            cell: self,
            state,
            stripe,
        }
    }

    /// Takes the state out if no guard is alive. The caller drops what it gets, outside
    /// every lock, so a slow or panicking `Drop` blocks no getter.
    ///
    /// It never waits: a cell whose lock is held is being loaded (or unloaded by another
    /// thread) and counts as in use. Its loader, or a thread its loader waits for, may ask
    /// to unload it, and must not wait for the load it is part of.
    pub fn take(&self) -> Take<T> {
        let _lock = match self.lock.try_lock() {
            Ok(lock) => lock,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return Take::InUse,
        };
        // Loads and unloads both hold the lock, so the pointer cannot change under us.
        if self.state.load(Acquire).is_null() {
            return Take::Empty;
        }
        // Stops at the first stripe in use; clearing marks it never set is harmless.
        let in_use = self
            .holders
            .iter()
            .any(|stripe| stripe.fetch_or(CLOSING, AcqRel) & !CLOSING != 0);
        let state = if in_use {
            ptr::null_mut()
        } else {
            self.state.swap(ptr::null_mut(), Acquire)
        };
        for stripe in &self.holders {
            stripe.fetch_and(!CLOSING, Release);
        }
        if in_use {
            return Take::InUse;
        }
        // SAFETY: `state` came from `Box::leak` in `load` and is out of the cell, so no
        // later getter can see it; every stripe read zero holders when it was marked
        // closing, so no earlier getter still holds it (see the protocol above).
        Take::Taken(unsafe { Box::from_raw(state) })
    }

    /// How many guards are alive now (a snapshot).
    pub fn holders(&self) -> usize {
        self.holders.iter().fold(0usize, |sum, stripe| {
            sum.wrapping_add(stripe.load(Acquire) & !CLOSING)
        })
    }

    /// Whether the state is loaded now (a snapshot).
    pub fn is_loaded(&self) -> bool {
        !self.state.load(Acquire).is_null()
    }
}

impl<T> Drop for StateCell<T> {
    fn drop(&mut self) {
        let state = self.state.load(Acquire);
        if !state.is_null() {
            // SAFETY: `&mut self` proves no guard borrows the cell, and `state` came from
            // `Box::leak` in `load`.
            drop(unsafe { Box::from_raw(state) });
        }
    }
}

/// Proof that one holder is counted on a cell's state; dereferences to the state.
pub struct CellGuard<'a, T> {
    cell: &'a StateCell<T>,
    state: NonNull<T>,
    stripe: usize,
}

// SAFETY: the guard only gives out `&T`, so sending it or sharing it across threads is
// sharing `&T`, which needs `T: Sync`; dropping it on another thread decrements the stripe
// it incremented, which any thread may do.
unsafe impl<T: Sync> Send for CellGuard<'_, T> {}
// SAFETY: as for `Send`.
unsafe impl<T: Sync> Sync for CellGuard<'_, T> {}

impl<T> CellGuard<'_, T> {
    /// The state.
    #[inline]
    pub fn get(&self) -> &T {
        // SAFETY: the guard's count on `stripe` keeps `take` from freeing the state until
        // the guard is dropped (see the protocol in the module docs).
        unsafe { self.state.as_ref() }
    }
}

impl<T> Drop for CellGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.cell.holders[self.stripe].fetch_sub(1, Release);
    }
}

local! {
    /// This thread's number, from 1 in the order threads first touch a cell; 0 until then.
    static THREAD: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The loads running on a thread, to hand to the helper threads they wait for.
///
/// A loader that hands work to another thread and waits for it (a scoped thread, a rayon
/// job) deadlocks if that work asks for the module being loaded: the helper waits for the
/// load, the load waits for the helper, and lmms sees only the first of the two waits, as a
/// `Mutex` or a `OnceLock` would. Take the scope in the loader and [`enter`](LoadScope::enter)
/// it on the helper: there, a module that the loading thread is building answers
/// [`Error::ReentrantLoad`](crate::Error::ReentrantLoad) at once, as it would on the loading
/// thread itself, and a wait that would close a cycle through it is refused.
///
/// ```
/// use lmms::{Error, Load, state::LoadScope, ModuleCell, ModuleDef};
///
/// struct Index(Vec<u32>);
/// impl Load for Index {
///     type Error = Error;
///     fn load() -> Result<Self, Error> {
///         let scope = LoadScope::current();
///         // A helper that (by mistake) asks for the module being built.
///         let helper = std::thread::scope(|threads| {
///             threads.spawn(move || scope.enter(|| INDEX.get().map(drop))).join().unwrap()
///         });
///         assert!(matches!(helper, Err(Error::ReentrantLoad { .. })));
///         Ok(Index(vec![1, 2, 3]))
///     }
/// }
/// static INDEX: ModuleCell<Index> = ModuleCell::new(ModuleDef::new("index"));
///
/// assert_eq!(INDEX.get()?.0.len(), 3);
/// # Ok::<(), lmms::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct LoadScope {
    /// The innermost load running where the scope was taken, or 0.
    load: usize,
}

impl LoadScope {
    /// The scope of this thread's loads: taken inside a loader, the load in progress (and
    /// any it is nested in). On a thread that has entered a scope, that scope.
    ///
    /// ```
    /// let scope = lmms::state::LoadScope::current(); // outside a loader: no load, harmless
    /// assert_eq!(scope.enter(|| 1 + 1), 2);
    /// ```
    pub fn current() -> LoadScope {
        LoadScope {
            load: cycle::current(),
        }
    }

    /// Runs `f` on this thread as part of the scope's loads, for the duration of `f`: a
    /// load it starts is a child of the scope's, and a wait it makes is the scope's.
    ///
    /// ```
    /// let scope = lmms::state::LoadScope::current();
    /// let sum = std::thread::scope(|threads| {
    ///     threads.spawn(move || scope.enter(|| (1..=4).sum::<u32>())).join().unwrap()
    /// });
    /// assert_eq!(sum, 10);
    /// ```
    pub fn enter<R>(self, f: impl FnOnce() -> R) -> R {
        cycle::running(self.load, f)
    }
}

/// This thread's number: unique among live threads, and the key to its stripe.
#[inline]
fn thread_number() -> usize {
    THREAD.with(|number| match number.get() {
        0 => {
            let assigned = cycle::next_number();
            number.set(assigned);
            assigned
        }
        assigned => assigned,
    })
}

/// This thread's stripe: consecutive numbers take consecutive stripes, so the first
/// `STRIPES` threads never share one.
#[inline]
fn stripe() -> usize {
    thread_number() % STRIPES
}

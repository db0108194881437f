//! ZAFP's switch: a direct path that reads a hot operation's state with no guard count per
//! call, and the bookkeeping that makes turning it off safe.
//!
//! A promoted operation holds one long-lived guard on its module (so no unload can drop the
//! state) and publishes the state's address in a [`Direct`]. A direct call marks its thread
//! *inside* (a plain store of the current epoch to the thread's own [`Record`]), issues the
//! light barrier, reads the address and runs the body; leaving, it marks the thread
//! *outside*. Each withdrawal advances the epoch, so a call that starts after it leaves a
//! mark the withdrawal did not see, and is not waited for.
//!
//! Demotion clears the address first, then issues the heavy barrier: every call that
//! started before it is now visible as *inside*, and every call after it reads the cleared
//! address and takes the managed path. The long-lived guard is released only once every
//! thread seen inside has left ([`retire`]); until then it waits in a list that each
//! demotion and each sweep drains, so no thread ever blocks on another's call.

use crate::barrier;
use crate::sync::{AtomicPtr, AtomicUsize, Mutex, MutexGuard};
use crossbeam_utils::CachePadded;
use std::cell::Cell;
use std::marker::PhantomData;
use std::ptr::{self, NonNull};
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

/// The published state of a promoted operation, or null, without its type: all that
/// demotion needs (clear it, see who may still read it), so an operation's non-generic
/// core can hold it. [`Direct`] is its typed view.
pub struct RawDirect {
    state: AtomicPtr<()>,
}

impl RawDirect {
    /// An unpublished (null) direct path.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        RawDirect {
            state: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// An unpublished (null) direct path (loom's atomics cannot be built in a `const fn`).
    #[cfg(loom)]
    pub fn new() -> Self {
        RawDirect {
            state: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Clears the address and returns the calls that may still be reading it.
    pub fn withdraw(&self) -> InFlight {
        self.state.store(ptr::null_mut(), Release);
        epoch().fetch_add(2, Relaxed);
        barrier::heavy();
        InFlight::snapshot()
    }

    /// Whether a state is published now.
    pub fn is_published(&self) -> bool {
        !self.state.load(Relaxed).is_null()
    }
}

/// The typed view of a [`RawDirect`]: publishes and reads a `T`.
#[repr(transparent)]
pub struct Direct<T> {
    raw: RawDirect,
    _state: PhantomData<fn(&T)>,
}

impl<T> Direct<T> {
    /// An unpublished (null) direct path, on its own (the loom models; an operation keeps
    /// a `RawDirect` and views it typed).
    #[cfg(loom)]
    pub fn new() -> Self {
        Direct {
            raw: RawDirect::new(),
            _state: PhantomData,
        }
    }

    /// `raw` seen as publishing a `T`.
    ///
    /// # Safety
    /// Every address ever published in `raw` must be a `T`'s: `raw` is published through
    /// this view only, always with the same `T`.
    #[cfg(not(loom))]
    pub(crate) unsafe fn from_raw(raw: &RawDirect) -> &Direct<T> {
        // SAFETY: `Direct<T>` is `repr(transparent)` over `RawDirect` (its other field is a
        // zero-sized `PhantomData`), so the two have one layout; the caller vouches for the
        // type of what is published.
        unsafe { &*(raw as *const RawDirect).cast::<Direct<T>>() }
    }

    /// Publishes `state`. The caller keeps it alive (a guard) until [`retire`] releases it.
    pub fn publish(&self, state: NonNull<T>) {
        barrier::prepare();
        self.raw.state.store(state.as_ptr().cast(), Release);
    }

    /// Clears the address and returns the calls that may still be reading it.
    #[cfg(loom)]
    pub fn withdraw(&self) -> InFlight {
        self.raw.withdraw()
    }

    /// Runs `body` on the published state with `args`, or hands `args` back if there is no
    /// published state (or this thread is exiting and has no record left to mark).
    #[inline]
    pub fn call_with<A, R>(&self, args: A, body: impl FnOnce(&T, A) -> R) -> Result<R, A> {
        // A cheap first look spares managed calls the mark; the look that counts is the
        // one after it.
        if self.raw.state.load(Relaxed).is_null() {
            return Err(args);
        }
        let Some(_inside) = Inside::enter() else {
            return Err(args);
        };
        match NonNull::new(self.raw.state.load(Acquire).cast::<T>()) {
            // SAFETY: the address is a `T`'s (only `publish` stores one, typed), published
            // while a guard holds the state, and that guard is released only after
            // `withdraw` cleared the address, issued the heavy barrier and saw this thread
            // leave (the `Inside` mark set before this load).
            Some(state) => Ok(body(unsafe { state.as_ref() }, args)),
            None => Err(args),
        }
    }
}

/// One thread's mark: `epoch | 1` while the thread is inside a direct call (the outermost
/// one, if they nest), 0 outside. Padded to its own cache line, so two threads' marks never
/// share one. Written with plain stores by its thread only, and never computed from its own
/// previous value: a call's entry does not wait on the last call's exit.
pub struct Record {
    mark: CachePadded<AtomicUsize>,
}

/// Even; each withdrawal moves it on by 2, so a call that enters after a withdrawal writes
/// a mark the withdrawal's snapshot cannot have seen.
fn epoch() -> &'static AtomicUsize {
    #[cfg(not(loom))]
    {
        static EPOCH: AtomicUsize = AtomicUsize::new(2);
        &EPOCH
    }
    #[cfg(loom)]
    {
        loom::lazy_static! {
            static ref EPOCH: AtomicUsize = AtomicUsize::new(2);
        }
        &EPOCH
    }
}

/// The records of every thread that ever made a direct call; a record is reused after its
/// thread exits, so their number is the most threads that were calling at once.
struct Records {
    all: Vec<&'static Record>,
    free: Vec<&'static Record>,
}

fn records() -> &'static Mutex<Records> {
    #[cfg(not(loom))]
    {
        static RECORDS: Mutex<Records> = Mutex::new(Records {
            all: Vec::new(),
            free: Vec::new(),
        });
        &RECORDS
    }
    #[cfg(loom)]
    {
        loom::lazy_static! {
            static ref RECORDS: Mutex<Records> = Mutex::new(Records { all: Vec::new(), free: Vec::new() });
        }
        &RECORDS
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// This thread's record. No destructor, so reading it costs no more than a thread-local
/// load.
struct Local {
    record: Cell<Option<&'static Record>>,
}

crate::sync::local! {
    static LOCAL: Local = const {
        Local {
            record: Cell::new(None),
        }
    };
}

/// Hands the thread's record back for reuse when the thread exits; registered when the
/// thread takes a record.
#[cfg(not(loom))]
struct Returner(Cell<Option<&'static Record>>);

#[cfg(not(loom))]
impl Drop for Returner {
    fn drop(&mut self) {
        if let Some(record) = self.0.take() {
            let _ = LOCAL.try_with(|local| local.record.set(None));
            lock(records()).free.push(record);
        }
    }
}

#[cfg(not(loom))]
std::thread_local! {
    static RETURNER: Returner = const { Returner(Cell::new(None)) };
}

/// The mark of one direct call; leaving (or unwinding) restores the mark it found, which
/// is 0 unless this call is nested in another.
struct Inside {
    record: &'static Record,
    outermost: bool,
}

impl Inside {
    #[inline]
    fn enter() -> Option<Inside> {
        let record = LOCAL
            .try_with(|local| match local.record.get() {
                Some(record) => Some(record),
                None => register(local),
            })
            .ok()??;
        // Only this thread writes its record; a nested call leaves the outer mark alone.
        let outermost = record.mark.load(Relaxed) == 0;
        if outermost {
            record.mark.store(epoch().load(Relaxed) | 1, Relaxed);
        }
        barrier::light();
        Some(Inside { record, outermost })
    }
}

impl Drop for Inside {
    #[inline]
    fn drop(&mut self) {
        if self.outermost {
            self.record.mark.store(0, Release);
        }
    }
}

/// Gives this thread a record; `None` if the thread is too far into its exit to hand it
/// back later (such a thread takes the managed path).
#[cold]
fn register(local: &Local) -> Option<&'static Record> {
    let record = {
        let mut records = lock(records());
        records.free.pop().unwrap_or_else(|| {
            let record: &'static Record = Box::leak(Box::new(Record {
                mark: CachePadded::new(AtomicUsize::new(0)),
            }));
            records.all.push(record);
            record
        })
    };
    #[cfg(not(loom))]
    if RETURNER
        .try_with(|returner| returner.0.set(Some(record)))
        .is_err()
    {
        lock(records()).free.push(record);
        return None;
    }
    local.record.set(Some(record));
    Some(record)
}

/// The threads that were inside a direct call when a path was withdrawn, with the mark each
/// had then.
pub struct InFlight(Vec<(&'static Record, usize)>);

impl InFlight {
    fn snapshot() -> InFlight {
        let records = lock(records());
        InFlight(
            records
                .all
                .iter()
                .map(|record| (*record, record.mark.load(Acquire)))
                .filter(|&(_, mark)| mark != 0)
                .collect(),
        )
    }

    /// Whether every thread seen inside has left since: its mark changed (to 0, or to a
    /// later call's, which started after the withdrawal and read the cleared address).
    pub fn is_clear(&self) -> bool {
        self.0
            .iter()
            .all(|&(record, mark)| record.mark.load(Acquire) != mark)
    }
}

/// A guard (or anything whose drop releases a state) waiting for the calls that may still
/// read that state.
struct Retired {
    hold: Box<dyn Send>,
    in_flight: InFlight,
}

fn retired() -> &'static Mutex<Vec<Retired>> {
    #[cfg(not(loom))]
    {
        static RETIRED: Mutex<Vec<Retired>> = Mutex::new(Vec::new());
        &RETIRED
    }
    #[cfg(loom)]
    {
        loom::lazy_static! {
            static ref RETIRED: Mutex<Vec<Retired>> = Mutex::new(Vec::new());
        }
        &RETIRED
    }
}

/// Releases `hold` (drops it) once the calls in `in_flight` have left: now if they have,
/// otherwise at a later [`drain`].
pub fn retire(hold: Box<dyn Send>, in_flight: InFlight) {
    if in_flight.is_clear() {
        drop(hold);
        return;
    }
    lock(retired()).push(Retired { hold, in_flight });
    drain();
}

/// Drops every retired hold whose calls have all left; returns how many still wait.
pub fn drain() -> usize {
    let ready: Vec<Retired> = {
        let mut retired = lock(retired());
        let (ready, waiting) = std::mem::take(&mut *retired)
            .into_iter()
            .partition(|r| r.in_flight.is_clear());
        *retired = waiting;
        ready
    };
    let waiting = lock(retired()).len();
    // Dropped outside the lock: releasing a guard may unload a state, which runs its Drop.
    drop(ready.into_iter().map(|r| r.hold).collect::<Vec<_>>());
    waiting
}

//! The hot path's switch: a direct path that reads a hot operation's state with no guard count per
//! call, and the bookkeeping that makes turning it off safe.
//!
//! A promoted operation holds one long-lived guard on its module (so no unload can drop the
//! state) and publishes the state's address in a [`Direct`]. A direct call marks its thread
//! *inside that path* (a plain store of the path's identity, its `RawDirect`'s address, to
//! the thread's own [`Record`]), issues the light barrier, reads the address and runs the
//! body; leaving, it clears its mark. A direct call nested in another on the same path
//! leaves the mark alone; one nested in a call on another path takes the managed path, so
//! a thread is inside one path at a time and one word says which.
//!
//! Demotion clears the address first, then issues the heavy barrier: every call on that
//! path that started before it is now visible as *inside*, and every call after it reads
//! the cleared address and takes the managed path. The long-lived guard is released only
//! once every thread seen inside *that path* has left ([`Retiring`]); calls on other paths,
//! however long, are not waited for. Until then the guard waits in a list that sweeps (and
//! demotions that leave a guard waiting) drain, so no thread ever blocks on another's call.

use crate::barrier;
use crate::sync::{
    at_thread_exit, lock, AtomicPtr, AtomicUsize, Mutex,
    Ordering::{Acquire, Relaxed, Release},
};
use crossbeam_utils::CachePadded;
use std::cell::Cell;
use std::marker::PhantomData;
use std::ptr::{self, NonNull};

/// The published state of a promoted operation, or null, without its type: all that
/// demotion needs (clear it, see who may still read it), so an operation's non-generic
/// core can hold it. [`Direct`] is its typed view.
pub struct RawDirect {
    state: AtomicPtr<()>,
}

impl RawDirect {
    crate::sync::const_fn! {
        /// An unpublished (null) direct path.
        pub const fn new() -> Self {
            RawDirect {
                state: AtomicPtr::new(ptr::null_mut()),
            }
        }
    }

    /// Clears the address and hands `hold` (what keeps the published state alive) to a
    /// [`Retiring`], which retires it when dropped: from the withdrawal on, the hold is
    /// never in a plain local, so no unwind can drop it while a direct call may still read
    /// the state.
    pub fn withdraw(&self, hold: Box<dyn Send>) -> Retiring {
        self.state.store(ptr::null_mut(), Release);
        barrier::heavy();
        Retiring(Some(Retired {
            hold,
            in_flight: InFlight::snapshot(self.id()),
        }))
    }

    /// What a call on this path writes in its thread's record: the path's address, which
    /// is never 0 (the mark of a free slot).
    #[inline]
    fn id(&self) -> usize {
        self as *const RawDirect as usize
    }

    /// Whether a state is published now.
    pub fn is_published(&self) -> bool {
        !self.state.load(Relaxed).is_null()
    }
}

/// What [`Direct::call_with`] did.
pub enum DirectCall<R, A> {
    /// The body ran on the published state.
    Ran(R),
    /// No state is published (the operation is not hot): the arguments, back, for the
    /// managed call.
    NotHot(A),
}

/// The typed view of a [`RawDirect`]: publishes and reads a `T`.
#[repr(transparent)]
pub struct Direct<T> {
    raw: RawDirect,
    _state: PhantomData<fn(&T)>,
}

impl<T> Direct<T> {
    /// An unpublished (null) direct path, on its own (the tests; an operation keeps a
    /// `RawDirect` and views it typed).
    #[cfg(test)]
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
    pub(crate) unsafe fn from_raw(raw: &RawDirect) -> &Direct<T> {
        // SAFETY: `Direct<T>` is `repr(transparent)` over `RawDirect` (its other field is a
        // zero-sized `PhantomData`), so the two have one layout; the caller vouches for the
        // type of what is published.
        unsafe { &*(raw as *const RawDirect).cast::<Direct<T>>() }
    }

    /// Publishes `state`. The caller keeps it alive (a guard) until a withdrawal's
    /// [`Retiring`] releases it.
    pub fn publish(&self, state: NonNull<T>) {
        barrier::prepare();
        self.raw.state.store(state.as_ptr().cast(), Release);
    }

    /// Clears the address and hands `hold` over to be retired; see [`RawDirect::withdraw`].
    #[cfg(test)]
    pub fn withdraw(&self, hold: Box<dyn Send>) -> Retiring {
        self.raw.withdraw(hold)
    }

    /// Runs `body` on the published state with `args`, or hands `args` back if there is no
    /// published state (or this thread is exiting and has no record left to mark).
    #[inline]
    pub fn call_with<A, R>(&self, args: A, body: impl FnOnce(&T, A) -> R) -> DirectCall<R, A> {
        // A cheap first look spares managed calls the mark; the look that counts is the
        // one after it.
        if self.raw.state.load(Relaxed).is_null() {
            return DirectCall::NotHot(args);
        }
        let Some(_inside) = InCall::enter(self.raw.id()) else {
            return DirectCall::NotHot(args);
        };
        match NonNull::new(self.raw.state.load(Acquire).cast::<T>()) {
            // SAFETY: the address is a `T`'s (only `publish` stores one, typed), published
            // while a guard holds the state, and that guard is released only after
            // `withdraw` cleared the address, issued the heavy barrier and saw this thread
            // leave (the `InCall` mark set before this load).
            Some(state) => DirectCall::Ran(body(unsafe { state.as_ref() }, args)),
            None => DirectCall::NotHot(args),
        }
    }
}

/// One thread's mark: the path of the direct call it is inside (the outermost, if they nest
/// on one path), 0 outside. Padded to its own cache line, so two threads' marks never share
/// one. Written with plain stores by its thread only.
pub struct Record {
    mark: CachePadded<AtomicUsize>,
}

/// The records of every thread that ever made a direct call; a record is reused after its
/// thread exits, so their number is the most threads that were calling at once.
struct Records {
    all: Vec<&'static Record>,
    free: Vec<&'static Record>,
}

fn records() -> &'static Mutex<Records> {
    crate::sync::global! {
        static RECORDS: Mutex<Records> = Mutex::new(Records {
            all: Vec::new(),
            free: Vec::new(),
        });
    }
    &RECORDS
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

/// The mark of one direct call; leaving (or unwinding) clears it, unless the call is nested
/// in another on the same path.
struct InCall {
    record: &'static Record,
    outermost: bool,
}

impl InCall {
    #[inline]
    fn enter(path: usize) -> Option<InCall> {
        let record = LOCAL
            .try_with(|local| match local.record.get() {
                Some(record) => Some(record),
                None => register(local),
            })
            .ok()??;
        // Only this thread writes its record.
        let outermost = match record.mark.load(Relaxed) {
            0 => true,
            inside if inside == path => false,
            // InCall another path: one mark cannot say both, so this call goes managed.
            _ => return None,
        };
        if outermost {
            // Release, like the exit: a withdrawal that reads any later mark of this
            // record also sees every earlier call in it finished.
            record.mark.store(path, Release);
        }
        barrier::light();
        Some(InCall { record, outermost })
    }
}

impl Drop for InCall {
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
    // Hands the record back for reuse when the thread exits.
    let returner = move || {
        let _ = LOCAL.try_with(|local| local.record.set(None));
        lock(records()).free.push(record);
    };
    if let Err(returner) = at_thread_exit(Box::new(returner)) {
        returner();
        return None;
    }
    local.record.set(Some(record));
    Some(record)
}

/// The threads that were inside a path when it was withdrawn, and the path.
pub struct InFlight {
    path: usize,
    threads: Vec<&'static Record>,
}

impl InFlight {
    fn snapshot(path: usize) -> InFlight {
        let records = lock(records());
        let threads = records
            .all
            .iter()
            .filter(|record| record.mark.load(Acquire) == path)
            .copied()
            .collect();
        InFlight { path, threads }
    }

    /// Whether every thread seen inside has left since: its mark no longer holds the path
    /// (it was cleared, or holds a later call's mark, stored after the clear). A mark that
    /// holds the path again, for a later call, is waited for too: a delay, never an early
    /// release.
    pub fn is_clear(&self) -> bool {
        self.threads
            .iter()
            .all(|record| record.mark.load(Acquire) != self.path)
    }
}

/// A guard (or anything whose drop releases a state) waiting for the calls that may still
/// read that state.
struct Retired {
    hold: Box<dyn Send>,
    in_flight: InFlight,
}

fn retired_list() -> &'static Mutex<Vec<Retired>> {
    crate::sync::global! {
        static RETIRED: Mutex<Vec<Retired>> = Mutex::new(Vec::new());
    }
    &RETIRED
}

/// A withdrawn path's hold on its way to the retire list: dropped (at the end of the
/// demotion, or by an unwind through it), it releases the hold once the calls that may
/// still read the state have left — now if they have, otherwise at a later [`drain`].
#[must_use = "dropping it retires the hold now (released at once, or once the calls left)"]
pub struct Retiring(Option<Retired>);

impl Drop for Retiring {
    fn drop(&mut self) {
        let Some(retired) = self.0.take() else { return };
        if retired.in_flight.is_clear() {
            return;
        }
        lock(retired_list()).push(retired);
        drain();
    }
}

/// Drops every retired hold whose calls have all left; returns how many still wait.
pub fn drain() -> usize {
    let ready: Vec<Retired> = {
        let mut retired = lock(retired_list());
        let (ready, waiting) = std::mem::take(&mut *retired)
            .into_iter()
            .partition(|r| r.in_flight.is_clear());
        *retired = waiting;
        ready
    };
    let waiting = lock(retired_list()).len();
    // Released outside the lock, so that other demotions do not wait for the releases.
    drop(ready.into_iter().map(|r| r.hold).collect::<Vec<_>>());
    waiting
}

#[cfg(test)]
mod tests {
    use super::{Direct, DirectCall};
    use std::ptr::NonNull;

    #[test]
    fn a_withdrawn_path_hands_the_arguments_back() {
        let state = Box::new(7u32);
        let direct = Direct::<u32>::new();
        direct.publish(NonNull::from(&*state));
        let add = |state: &u32, x: u32| state + x;
        assert!(matches!(direct.call_with(1, add), DirectCall::Ran(8)));
        drop(direct.withdraw(Box::new(state)));
        assert!(matches!(direct.call_with(1, add), DirectCall::NotHot(1)));
        assert!(!direct.raw.is_published());
    }
}

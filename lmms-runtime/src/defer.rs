//! User values dropped only where no lock is held: while a thread is inside a result
//! cache's map (under one of quick_cache's shard locks), the drops of the keys and outputs
//! it removes are queued, and run once the thread is out, each with its panic contained.
//!
//! A user's `Drop` may call its own operation, sweep, or block on another thread that
//! calls it; run under the shard lock, any of those deadlocks, and a panic there unwinds
//! through quick_cache's bookkeeping. So a key or an output is never dropped in place inside
//! the map: [`Deferred`] wraps each, and its `Drop` queues the value while [`InMap`] is
//! alive on the thread.
//!
//! The same mark answers re-entrancy: user code that quick_cache itself runs under its lock
//! (an output's `Clone`, a key's `Eq`) and that calls back into a cache finds the thread
//! [`inside`], and the cache answers without touching its map (a miss, nothing stored).

use crate::sync::local;
use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};

/// A thread's standing with the caches' maps: whether it is inside one (1) or not (0; a
/// thread inside never enters another), whether values wait in [`LATER`], and how many
/// pieces of user code panicked (contained) since it entered. One thread-local, so entering
/// and leaving cost one access each.
struct Mark {
    depth: Cell<u32>,
    pending: Cell<bool>,
    panics: Cell<u32>,
}

local! {
    static MARK: Mark = const {
        Mark {
            depth: Cell::new(0),
            pending: Cell::new(false),
            panics: Cell::new(0),
        }
    };
}

local! {
    /// The values whose drop waits for this thread to leave the map.
    static LATER: RefCell<Vec<Box<dyn Any>>> = const { RefCell::new(Vec::new()) };
}

/// Whether this thread is inside a cache's map now.
#[inline]
pub fn inside() -> bool {
    MARK.try_with(|mark| mark.depth.get() > 0).unwrap_or(true)
}

/// Runs `f`, containing a panic in it; `None` if it panicked. Inside a map, the panic is
/// also counted for [`InMap::leave`] (outside, the caller answers the `None` itself).
#[inline]
pub(crate) fn contain<R>(f: impl FnOnce() -> R) -> Option<R> {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(value) => Some(value),
        Err(payload) => {
            contained(payload);
            None
        }
    }
}

#[cold]
fn contained(payload: Box<dyn Any + Send>) {
    // Dropping the payload runs user code too (its `Drop`): contain that as well.
    let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(payload)));
    let _ = MARK.try_with(|mark| {
        if mark.depth.get() > 0 {
            mark.panics.set(mark.panics.get() + 1);
        }
    });
}

/// The mark of a thread inside a cache's map.
pub(crate) struct InMap(());

impl InMap {
    /// Enters the map, unless the thread is inside already (then the caller, reached from
    /// user code the map runs, must leave the map alone).
    #[inline]
    pub(crate) fn enter() -> Option<InMap> {
        MARK.try_with(|mark| {
            if mark.depth.get() > 0 {
                return None;
            }
            mark.depth.set(1);
            Some(InMap(()))
        })
        .ok()
        .flatten()
    }

    /// Leaves the map and drops what was queued meanwhile. Returns how many pieces of user
    /// code panicked (contained) since the thread entered.
    #[inline]
    pub(crate) fn leave(self) -> u32 {
        std::mem::forget(self);
        let (pending, panics) = MARK
            .try_with(|mark| {
                mark.depth.set(0);
                (mark.pending.replace(false), mark.panics.replace(0))
            })
            .unwrap_or((false, 0));
        if pending {
            panics + flush()
        } else {
            panics
        }
    }
}

impl Drop for InMap {
    /// Only on an unwind (`leave` forgets it): the thread is out of the map all the same.
    fn drop(&mut self) {
        let _ = MARK.try_with(|mark| mark.depth.set(0));
    }
}

/// Drops the queued values, each contained, until the queue stays empty (a value's `Drop`
/// may queue more through the caches it calls); returns how many panicked.
#[cold]
fn flush() -> u32 {
    let mut panics = 0;
    loop {
        let batch = LATER
            .try_with(|later| std::mem::take(&mut *later.borrow_mut()))
            .unwrap_or_default();
        if batch.is_empty() {
            return panics;
        }
        for value in batch {
            panics += u32::from(contain(move || drop(value)).is_none());
        }
    }
}

/// A user value that the map may drop under its lock: inside the map its drop is queued.
pub(crate) struct Deferred<T: 'static>(Option<T>);

impl<T: 'static> Deferred<T> {
    #[inline]
    pub(crate) fn new(value: T) -> Self {
        Deferred(Some(value))
    }

    #[inline]
    pub(crate) fn get(&self) -> &T {
        // Only `Drop` and `into_inner` take the value, and nothing uses it after either.
        self.0
            .as_ref()
            .expect("a deferred value is present until dropped")
    }

    #[inline]
    pub(crate) fn into_inner(mut self) -> T {
        self.0
            .take()
            .expect("a deferred value is present until dropped")
    }
}

impl<T: Clone + 'static> Clone for Deferred<T> {
    #[inline]
    fn clone(&self) -> Self {
        Deferred::new(self.get().clone())
    }
}

impl<T: 'static> Drop for Deferred<T> {
    fn drop(&mut self) {
        if !std::mem::needs_drop::<T>() {
            return;
        }
        let Some(value) = self.0.take() else { return };
        if inside() {
            let _ = MARK.try_with(|mark| mark.pending.set(true));
            // A thread that is exiting has no queue left: then the value drops here.
            let _ = LATER.try_with(move |later| later.borrow_mut().push(Box::new(value)));
        } else {
            contain(move || drop(value));
        }
    }
}

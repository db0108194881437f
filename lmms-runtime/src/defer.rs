//! User values dropped only where no lock is held: while a thread is inside a result
//! cache's map (under one of quick_cache's shard locks), the drops of the keys and outputs
//! it removes are queued, and run once the thread is out, each with its panic contained.
//!
//! A user's `Drop` may call its own operation, sweep, or block on another thread that
//! calls it; run under the shard lock, any of those deadlocks, and a panic there unwinds
//! through quick_cache's bookkeeping. So a key or an output is never dropped in place inside
//! the map: [`Deferred`] wraps each, and its `Drop` queues the value while [`Inside`] is
//! alive on the thread.
//!
//! The same mark answers re-entrancy: user code that quick_cache itself runs under its lock
//! (an output's `Clone`, a key's `Eq`) and that calls back into a cache finds the thread
//! [`inside`], and the cache answers without touching its map (a miss, nothing stored).

use crate::sync::local;
use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};

local! {
    /// How many cache map operations this thread is inside (they nest only through user
    /// code the map runs).
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

local! {
    /// Whether user code run inside a map operation panicked (and was contained).
    static PANICKED: Cell<u32> = const { Cell::new(0) };
}

local! {
    /// The values whose drop waits for this thread to leave the map.
    static LATER: RefCell<Vec<Box<dyn Any>>> = const { RefCell::new(Vec::new()) };
}

/// Whether this thread is inside a cache's map now.
#[inline]
pub fn inside() -> bool {
    DEPTH.try_with(|depth| depth.get() > 0).unwrap_or(true)
}

/// Records that user code run inside a map operation panicked; [`Inside::leave`] reports it.
pub(crate) fn panicked() {
    let _ = PANICKED.try_with(|count| count.set(count.get() + 1));
}

/// Runs `f`, containing a panic in it; `None` if it panicked (counted for [`Inside::leave`]).
#[inline]
pub(crate) fn contain<R>(f: impl FnOnce() -> R) -> Option<R> {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(value) => Some(value),
        Err(payload) => {
            // Dropping the payload runs user code too (its `Drop`): contain that as well.
            let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(payload)));
            panicked();
            None
        }
    }
}

/// The mark of a thread inside a cache's map.
pub(crate) struct Inside(());

impl Inside {
    #[inline]
    pub(crate) fn enter() -> Inside {
        let _ = DEPTH.try_with(|depth| depth.set(depth.get() + 1));
        Inside(())
    }

    /// Leaves the map: at the outermost level, drops what was queued meanwhile. Returns how
    /// many pieces of user code panicked (contained) since the thread entered.
    #[inline]
    pub(crate) fn leave(self) -> u32 {
        let outermost = DEPTH
            .try_with(|depth| {
                depth.set(depth.get() - 1);
                depth.get() == 0
            })
            .unwrap_or(true);
        std::mem::forget(self);
        if outermost {
            flush();
            PANICKED.try_with(|count| count.replace(0)).unwrap_or(0)
        } else {
            0
        }
    }
}

impl Drop for Inside {
    /// Only on an unwind (`leave` forgets it): the thread is out of the map all the same.
    fn drop(&mut self) {
        let _ = DEPTH.try_with(|depth| depth.set(depth.get() - 1));
    }
}

/// Drops the queued values, each contained, until the queue stays empty (a value's `Drop`
/// may queue more through the caches it calls).
#[cold]
fn flush() {
    loop {
        let batch = LATER
            .try_with(|later| std::mem::take(&mut *later.borrow_mut()))
            .unwrap_or_default();
        if batch.is_empty() {
            return;
        }
        for value in batch {
            contain(move || drop(value));
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
        let Some(value) = self.0.take() else { return };
        if inside() {
            // A thread that is exiting has no queue left: then the value drops here.
            let _ = LATER.try_with(move |later| later.borrow_mut().push(Box::new(value)));
        } else {
            contain(move || drop(value));
        }
    }
}

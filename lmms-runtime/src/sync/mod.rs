//! The synchronisation primitives the runtime is built on: `std`'s normally (`native.rs`),
//! loom's under `--cfg loom` (`model.rs`), so the code loom checks is the code that ships.
//! Every difference between the two builds is in this folder: the rest of the crate is the
//! same code in both, and builds whole in both.
//!
//! Both files give the same names: the atomics and the lock; `Event`, what async waiters
//! sleep on; `local!` (a thread-local), `global!` (a process-wide `static`), `const_fn!` (a
//! constructor that is `const` normally) and `repeat!` (`[init; n]`); `step`, a scheduling
//! point between two steps of the result cache; `at_thread_exit`, a hook run when a thread
//! exits; `membarrier`, the process-wide barrier, where there is one; and `STRIPES`, the
//! size of a cell's guard count.

#[cfg(not(loom))]
mod native;
#[cfg(not(loom))]
pub(crate) use native::*;

#[cfg(loom)]
mod model;
#[cfg(loom)]
pub(crate) use model::*;

// The same in both builds: loom's atomics take std's orderings, and its lock std's errors.
pub(crate) use std::sync::atomic::{compiler_fence, Ordering};
pub(crate) use std::sync::TryLockError;

/// Locks `mutex`, whether or not a thread panicked while holding it: every structure
/// behind these locks is whole between statements (pushes, removals, swaps), so a panic
/// elsewhere cannot leave it half-written.
pub(crate) fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

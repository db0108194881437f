//! The synchronisation primitives the runtime is built on: `std`'s normally, loom's under
//! `--cfg loom`, so the code loom checks is the code that ships. Every difference between
//! the two builds is here (and the list of files loom leaves out, in `lib.rs`).

#[cfg(loom)]
pub(crate) use loom::sync::{
    atomic::{fence, AtomicPtr, AtomicUsize},
    Mutex, MutexGuard,
};
pub(crate) use std::sync::TryLockError;
#[cfg(not(loom))]
pub(crate) use std::sync::{
    atomic::{fence, AtomicPtr, AtomicUsize},
    Mutex, MutexGuard,
};

/// Locks `mutex`, whether or not a thread panicked while holding it: every structure
/// behind these locks is whole between statements (pushes, removals, swaps), so a panic
/// elsewhere cannot leave it half-written.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A thread-local with a `const` initialiser (loom's take a plain expression).
#[cfg(loom)]
macro_rules! local {
    ($(#[$attr:meta])* static $name:ident: $ty:ty = const { $init:expr };) => {
        loom::thread_local! { $(#[$attr])* static $name: $ty = $init; }
    };
}
#[cfg(not(loom))]
macro_rules! local {
    ($($tt:tt)*) => { std::thread_local! { $($tt)* } };
}
pub(crate) use local;

/// A process-wide `static`, used through auto-deref: a plain one normally, loom's
/// `lazy_static` (fresh in every model execution) under loom.
#[cfg(loom)]
macro_rules! global {
    ($(#[$attr:meta])* static $name:ident: $ty:ty = $init:expr;) => {
        loom::lazy_static! { $(#[$attr])* static ref $name: $ty = $init; }
    };
}
#[cfg(not(loom))]
macro_rules! global {
    ($(#[$attr:meta])* static $name:ident: $ty:ty = $init:expr;) => {
        $(#[$attr])* static $name: $ty = $init;
    };
}
pub(crate) use global;

/// A constructor that is a `const fn` normally; loom's atomics cannot be built in one.
#[cfg(loom)]
macro_rules! const_fn {
    ($(#[$attr:meta])* $vis:vis fn $name:ident() -> $ret:ty $body:block) => {
        $(#[$attr])* $vis fn $name() -> $ret $body
    };
}
#[cfg(not(loom))]
macro_rules! const_fn {
    ($(#[$attr:meta])* $vis:vis fn $name:ident() -> $ret:ty $body:block) => {
        $(#[$attr])* $vis const fn $name() -> $ret $body
    };
}
pub(crate) use const_fn;

/// A point where another thread may run, between two steps that are each atomic on their
/// own (two operations on the result cache's map): nothing normally; under loom, a
/// scheduling point, so the models explore what another thread does in between.
#[inline(always)]
pub(crate) fn step() {
    #[cfg(loom)]
    {
        global! {
            static POINT: AtomicUsize = AtomicUsize::new(0);
        }
        // A write, not a read: loom explores only the orders of conflicting accesses, and
        // the map's own accesses are invisible to it.
        POINT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// `[init; n]` for a value that is not `Copy`: a `const` block normally; loom's atomics
/// cannot be built in one.
#[cfg(loom)]
macro_rules! repeat {
    ($init:expr; $n:expr) => {
        std::array::from_fn(|_| $init)
    };
}
#[cfg(not(loom))]
macro_rules! repeat {
    ($init:expr; $n:expr) => {
        [const { $init }; $n]
    };
}
pub(crate) use repeat;

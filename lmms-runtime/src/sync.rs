//! The synchronisation primitives the cell is built on: `std`'s normally, loom's
//! under `--cfg loom`, so the code loom checks is the code that ships.

#[cfg(loom)]
pub(crate) use loom::sync::{
    atomic::{AtomicPtr, AtomicUsize},
    Mutex, MutexGuard,
};
pub(crate) use std::sync::TryLockError;
#[cfg(not(loom))]
pub(crate) use std::sync::{
    atomic::{AtomicPtr, AtomicUsize},
    Mutex, MutexGuard,
};

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

/// A point where another thread may run, between two steps that are each atomic on their
/// own (two operations on the result cache's map): nothing normally; under loom, a
/// scheduling point, so the models explore what another thread does in between.
#[cfg(not(loom))]
#[inline(always)]
pub(crate) fn step() {}

#[cfg(loom)]
pub(crate) fn step() {
    loom::lazy_static! {
        static ref POINT: loom::sync::atomic::AtomicUsize = loom::sync::atomic::AtomicUsize::new(0);
    }
    // A write, not a read: loom explores only the orders of conflicting accesses, and the
    // map's own accesses are invisible to it.
    POINT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}

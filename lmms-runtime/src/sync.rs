//! The synchronisation primitives the cell is built on: `std`'s normally, loom's
//! under `--cfg loom`, so the code loom checks is the code that ships.

#[cfg(loom)]
pub(crate) use loom::sync::{
    atomic::{AtomicPtr, AtomicUsize},
    Mutex, MutexGuard,
};
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

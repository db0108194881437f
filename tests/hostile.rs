//! Hostile user code, one regression test per way it once broke lmms: user code that panics
//! while lmms hands a hot path's hold over, values whose `Drop` calls back into their own
//! operation, loaders that unload or wait on each other across threads, weighers and keys
//! that panic, and the places where the hot path, the cache and unloading meet.
//!
//! A hang is caught by [`within`], which runs the scenario on its own thread and fails the
//! test if it has not finished after a minute: no figure is asserted, a deadlock just never
//! ends.

#[macro_use]
mod common;

use lmms::op::{Body, Cached, Op, OpDef, Operation, Source};
use lmms::report::Heat;
use lmms::{
    report::KeepReason, report::Unload, tuning::ManualClock, tuning::Thresholds, Class, Error,
    Load, ModuleCell, ModuleDef, Runtime,
};
use std::convert::Infallible;
use std::hash::{Hash, Hasher};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::Duration;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn runtime() -> (Runtime, ManualClock) {
    let clock = ManualClock::new();
    let runtime = Runtime::builder()
        .clock(clock.clone())
        .min_resident(0)
        .build()
        .unwrap();
    (runtime, clock)
}

/// Runs `scenario` on a thread of its own and returns what it returns; fails the test if it
/// deadlocks (has not returned after a minute) or panics.
fn within<R: Send + 'static>(what: &str, scenario: impl FnOnce() -> R + Send + 'static) -> R {
    let (done, finished) = mpsc::channel();
    thread::spawn(move || {
        let outcome = panic::catch_unwind(AssertUnwindSafe(scenario));
        let _ = done.send(outcome);
    });
    match finished.recv_timeout(Duration::from_secs(60)) {
        Ok(Ok(value)) => value,
        Ok(Err(payload)) => panic::resume_unwind(payload),
        Err(_) => panic!("{what}: deadlocked"),
    }
}

use common::{Canary, ALIVE};

#[path = "hostile/caches.rs"]
mod caches;
#[path = "hostile/hot_paths.rs"]
mod hot_paths;
#[path = "hostile/reentry.rs"]
mod reentry;

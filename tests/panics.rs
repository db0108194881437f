//! Panics in user code — an operation's body (sync, on the direct path, async), or code
//! holding a guard — leave the runtime consistent: no guard or pin left behind, counters
//! true, a typed error for the caller, and the next call works.

mod common;

use common::block_on;
use lmms::Error;
use std::sync::atomic::{AtomicBool, Ordering};

/// Three entries.
#[lmms::module(name = "ledger")]
pub struct Ledger(Vec<u64>);

impl lmms::Load for Ledger {
    type Error = std::convert::Infallible;
    fn load() -> Result<Self, Self::Error> {
        Ok(Ledger(vec![10, 20, 30]))
    }
}

/// Panics on an index past the end, like a real bug would.
#[lmms::operation(interface = "ledger")]
pub fn entry(ledger: &Ledger, index: usize) -> u64 {
    ledger.0[index]
}

/// The same, cached: a panicking call caches nothing.
#[lmms::operation(interface = "ledger", cache_ttl = "1m")]
pub fn cached_entry(ledger: &Ledger, index: usize) -> u64 {
    ledger.0[index]
}

static FAIL: AtomicBool = AtomicBool::new(false);

/// Hot after 20 calls; panics on the direct path when told to.
#[lmms::operation(interface = "ledger")]
pub fn hot_entry(ledger: &Ledger, index: usize) -> u64 {
    assert!(!FAIL.load(Ordering::SeqCst), "told to fail");
    ledger.0[index]
}

/// The same, async.
#[lmms::operation(interface = "ledger")]
pub async fn async_entry(ledger: &Ledger, index: usize) -> u64 {
    std::future::ready(()).await;
    ledger.0[index]
}

fn quietly<R>(f: impl FnOnce() -> R) -> R {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = f();
    std::panic::set_hook(hook);
    result
}

fn assert_panicked(result: Result<u64, Error>, operation: &str) {
    match result {
        Err(Error::OperationPanicked {
            operation: name,
            message,
        }) => {
            assert_eq!(name, operation);
            assert!(
                message.contains("out of bounds") || message.contains("told to fail"),
                "{message}"
            );
        }
        other => panic!("expected a panic error, got {other:?}"),
    }
}

// One test: the module and the operations are statics shared by every step.
#[test]
fn panics_in_user_code_leave_everything_consistent() {
    // A sync body panics on the managed path.
    assert_eq!(entry::call(1).unwrap(), 20);
    let calls = entry::OP.stats().calls;
    assert_panicked(quietly(|| entry::call(9)), "ledger.entry");
    assert_eq!(Ledger::stats().guards, 0, "the unwind released the guard");
    assert_eq!(
        entry::OP.stats().calls,
        calls,
        "a panicked call is not counted"
    );
    assert_eq!(entry::call(2).unwrap(), 30, "the next call works");

    // Cached: nothing is stored for the panicked arguments.
    assert_panicked(quietly(|| cached_entry::call(9)), "ledger.cached_entry");
    assert_eq!(cached_entry::OP.stats().cache_entries, 0);
    assert_eq!(cached_entry::call(0).unwrap(), 10);
    assert_eq!(cached_entry::OP.stats().cache_entries, 1);

    // On the direct path: the operation stays hot and its next call takes the path again.
    for _ in 0..25 {
        hot_entry::call(0).unwrap();
    }
    assert!(hot_entry::OP.is_hot());
    FAIL.store(true, Ordering::SeqCst);
    assert_panicked(quietly(|| hot_entry::call(0)), "ledger.hot_entry");
    FAIL.store(false, Ordering::SeqCst);
    assert!(hot_entry::OP.is_hot());
    let direct = hot_entry::OP.stats().direct_hits;
    assert_eq!(hot_entry::call(1).unwrap(), 20);
    assert!(
        hot_entry::OP.stats().direct_hits > direct
            || hot_entry::OP.stats().heat == lmms::report::Heat::Critical
    );
    assert_eq!(Ledger::stats().guards, 0, "the hot path's hold is a pin");
    assert_eq!(Ledger::stats().pins, 1);

    // An async body panics: the guard held across its awaits is released.
    assert_panicked(
        quietly(|| block_on(async_entry::call(9))),
        "ledger.async_entry",
    );
    assert_eq!(Ledger::stats().guards, 0, "the hot path's hold is a pin");
    assert_eq!(block_on(async_entry::call(0)).unwrap(), 10);

    // User code panicking while it holds a guard: the unwind drops the guard.
    let unwound = quietly(|| {
        std::panic::catch_unwind(|| {
            let ledger = Ledger::get().unwrap();
            assert_eq!(ledger.0.len(), 3);
            panic!("a bug while holding the ledger");
        })
    });
    assert!(unwound.is_err());
    assert_eq!(Ledger::stats().guards, 0, "the hot path's hold is a pin");
}

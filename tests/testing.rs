//! Testing an app built with the attributes (feature `testing`): each test starts from a
//! fresh global runtime — nothing loaded, no heat, no cache, counters at zero, its manual
//! clock at zero — whatever the tests before it did, in whatever order they ran.
#![allow(missing_docs)]

use lmms::testing;
use std::time::Duration;

#[lmms::module(name = "catalog")]
pub struct Catalog(Vec<u32>);

impl lmms::Load for Catalog {
    type Error = std::convert::Infallible;
    fn load() -> Result<Self, Self::Error> {
        Ok(Catalog((0..100).collect()))
    }
}

#[lmms::operation(interface = "shop", cache_ttl = "1m")]
pub fn price(catalog: &Catalog, item: u32) -> u32 {
    catalog.0[item as usize % 100]
}

/// What every test may assume at its start, and then does to the runtime.
fn use_the_runtime() {
    let stats = lmms::stats();
    assert_eq!(
        (stats.loads, stats.unloads, stats.cache.hits),
        (0, 0, 0),
        "{stats}"
    );
    assert!(!Catalog::is_resident());
    assert!(!price::OP.is_hot());
    assert_eq!(price::OP.stats().calls, 0);
    for item in 0..30 {
        price::call(item).unwrap();
        price::call(item).unwrap();
    }
    assert!(price::OP.is_hot());
    assert_eq!(lmms::stats().loads, 1);
    assert_eq!(price::OP.stats().cache.unwrap().hits, 30);
}

#[test]
fn a_first_test_starts_from_nothing() {
    let test = testing::begin().unwrap();
    assert_eq!(test.clock().now(), Duration::ZERO);
    use_the_runtime();
    test.clock().advance(Duration::from_secs(3600));
}

#[test]
fn a_second_test_starts_from_nothing_too() {
    let test = testing::begin().unwrap();
    assert_eq!(test.clock().now(), Duration::ZERO);
    use_the_runtime();
    // The clock drives the unload rules as usual.
    test.clock().advance(Duration::from_secs(31));
    price::OP.invalidate();
    lmms::sweep();
    lmms::sweep();
}

#[test]
fn a_reset_refuses_while_a_guard_is_alive_and_says_which() {
    let test = testing::begin().unwrap();
    let guard = Catalog::get().unwrap();
    let error = testing::reset().unwrap_err();
    assert!(
        matches!(&error, lmms::Error::ResetRefused { module, .. } if module == "catalog"),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        "cannot reset the runtime: module `catalog` is in use"
    );
    drop(guard);
    testing::reset().unwrap();
    assert!(!Catalog::is_resident());
    drop(test);
}

#[test]
fn a_nested_begin_on_the_thread_holding_the_turn_is_an_error_not_a_deadlock() {
    let (answer, answered) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let test = testing::begin().unwrap();
        // As a `Drop` that begins a test of its own would, while this one's turn is held.
        let nested = testing::begin().map(drop);
        drop(test);
        let _ = answer.send(nested);
    });
    // A bound, not a timing: a deadlock would never answer.
    let nested = answered
        .recv_timeout(Duration::from_secs(60))
        .expect("the nested begin deadlocked");
    let error = nested.unwrap_err();
    assert!(
        matches!(
            error,
            lmms::Error::InvalidConfig {
                field: "testing",
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("already holds"), "{error}");
    // The turn was let go: the next test begins.
    drop(testing::begin().unwrap());
}

#[lmms::module(name = "journal")]
pub struct Journal;

static JOURNAL_CLOSED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl lmms::AsyncLoad for Journal {
    type Error = std::convert::Infallible;
    async fn load() -> Result<Self, Self::Error> {
        Ok(Journal)
    }
    fn close(self) -> Option<lmms::state::Closing> {
        Some(Box::pin(async {
            JOURNAL_CLOSED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }))
    }
}

#[test]
fn a_close_left_queued_by_one_test_does_not_reach_the_next() {
    let executor = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let test = testing::begin().unwrap();
    executor.block_on(Journal::get_async()).unwrap();
    assert!(matches!(
        Journal::unload(),
        lmms::report::Unload::Unloaded { .. }
    ));
    assert_eq!(lmms::stats().closing, 1);
    drop(test); // ends with its close queued
    let _next = testing::begin().unwrap();
    assert_eq!(
        lmms::stats().closing,
        0,
        "the next test starts from nothing"
    );
    assert_eq!(executor.block_on(lmms::Runtime::global().closes()), 0);
    assert_eq!(JOURNAL_CLOSED.load(std::sync::atomic::Ordering::SeqCst), 0);
}

//! `async fn` operations: the same managed call, awaited, with the module's guard held
//! across the body's awaits.
#![allow(missing_docs)]

mod common;

use common::{block_on, poll_once};
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

#[lmms::module(name = "pages")]
pub struct Pages {
    bodies: Vec<String>,
}

impl lmms::Load for Pages {
    type Error = std::convert::Infallible;
    fn load() -> Result<Self, Self::Error> {
        Ok(Pages {
            bodies: vec!["<html>".to_owned(), "<svg>".to_owned()],
        })
    }
}

/// Pending until [`OPEN`] is set: stands in for network I/O.
static OPEN: AtomicBool = AtomicBool::new(true);

struct Gate;

impl Future for Gate {
    type Output = ();
    fn poll(self: std::pin::Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if OPEN.load(Ordering::SeqCst) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

#[lmms::operation(interface = "web")]
pub async fn page(pages: &Pages, index: usize) -> Option<usize> {
    Gate.await;
    pages.bodies.get(index).map(String::len)
}

#[lmms::operation(interface = "web", cache_ttl = "1m")]
pub async fn shout(text: String) -> String {
    Gate.await;
    text.to_uppercase()
}

#[lmms::operation(interface = "web")]
pub async fn parse(pages: &Pages, index: usize) -> Result<u32, std::num::ParseIntError> {
    Gate.await;
    pages.bodies[index].trim_matches(['<', '>']).parse()
}

fn assert_send<T: Send>(_: &T) {}

// One test: the gate and the module are shared, and the steps depend on each other.
#[test]
fn async_operations_hold_their_module_across_awaits() {
    // Loads on first use, like the sync call.
    assert!(!Pages::is_resident());
    assert_eq!(block_on(page::call(1)).unwrap(), Some(5));
    assert!(Pages::is_resident());
    assert_eq!(Pages::stats().guards, 0);

    // Suspended inside the body: the guard is held, so the module cannot be unloaded.
    OPEN.store(false, Ordering::SeqCst);
    let call = page::call(0);
    assert_send(&call);
    let mut call = pin!(call);
    assert!(poll_once(call.as_mut()).is_pending());
    assert_eq!(Pages::stats().guards, 1);
    assert_eq!(
        Pages::unload(),
        lmms::report::Unload::Kept(lmms::report::KeepReason::InUse)
    );
    OPEN.store(true, Ordering::SeqCst);
    assert!(matches!(poll_once(call.as_mut()), Poll::Ready(Ok(Some(6)))));
    assert_eq!(Pages::stats().guards, 0);
    assert!(matches!(
        Pages::unload(),
        lmms::report::Unload::Unloaded { .. }
    ));

    // A future dropped mid-await (cancelled) releases its guard and counts nothing.
    OPEN.store(false, Ordering::SeqCst);
    let calls_before = page::OP.stats().calls;
    {
        let mut cancelled = pin!(page::call(0));
        assert!(poll_once(cancelled.as_mut()).is_pending());
        assert_eq!(Pages::stats().guards, 1);
    }
    assert_eq!(Pages::stats().guards, 0);
    assert_eq!(page::OP.stats().calls, calls_before);
    OPEN.store(true, Ordering::SeqCst);

    // Stateless and cached: the second call is answered from the cache.
    assert_eq!(block_on(shout::call("hi".into())).unwrap(), "HI");
    assert_eq!(block_on(shout::call("hi".into())).unwrap(), "HI");
    assert_eq!(shout::OP.stats().cache.unwrap().hits, 1);

    // A fallible async operation unwraps once, like a sync one.
    let error = block_on(parse::call(0)).unwrap_err();
    assert!(error.operation().is_some(), "{error:?}");

    // Heat counts async calls: past the hot threshold the module is pinned.
    for _ in 0..25 {
        block_on(page::call(1)).unwrap();
    }
    assert!(page::OP.is_hot());
    assert_eq!(
        Pages::unload(),
        lmms::report::Unload::Kept(lmms::report::KeepReason::Pinned)
    );
}

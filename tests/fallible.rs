//! A cached operation that returns a `Result` keeps its `Ok`s and not its `Err`s, whatever
//! the `Result` is called in its signature: an alias, a renamed import, a crate's own
//! `Result<T>`. Its typed `call` gives the `Result` back whole when the signature does not
//! spell `Result<T, E>`.
#![allow(missing_docs)]

mod common;

use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

/// A `Result` behind an alias.
type Reply = Result<u32, String>;

/// Half of an even number, counting the runs of each operation's body in `runs`.
fn half(runs: &AtomicU32, x: u32) -> Reply {
    runs.fetch_add(1, Relaxed);
    if x.is_multiple_of(2) {
        Ok(x / 2)
    } else {
        Err(format!("{x} is odd"))
    }
}

static ALIASED: AtomicU32 = AtomicU32::new(0);

#[lmms::operation(interface = "fallible", cache_ttl = "1h")]
pub fn aliased(x: u32) -> Reply {
    half(&ALIASED, x)
}

static ALIASED_ASYNC: AtomicU32 = AtomicU32::new(0);

#[lmms::operation(interface = "fallible", cache_ttl = "1h")]
pub async fn aliased_async(x: u32) -> Reply {
    common::YieldOnce::default().await;
    half(&ALIASED_ASYNC, x)
}

static RENAMED: AtomicU32 = AtomicU32::new(0);

mod renamed {
    use std::result::Result as Outcome;

    #[lmms::operation(interface = "fallible", cache_ttl = "1h")]
    pub fn renamed(x: u32) -> Outcome<u32, String> {
        super::half(&super::RENAMED, x)
    }
}

static CRATE_STYLE: AtomicU32 = AtomicU32::new(0);

mod crate_style {
    pub type Result<T> = std::result::Result<T, String>;

    #[lmms::operation(interface = "fallible", cache_ttl = "1h")]
    pub fn crate_style(x: u32) -> Result<u32> {
        super::half(&super::CRATE_STYLE, x)
    }
}

static KEPT: AtomicU32 = AtomicU32::new(0);

#[lmms::operation(interface = "fallible", cache_ttl = "1h", cache_errors = "true")]
pub fn kept(x: u32) -> Reply {
    half(&KEPT, x)
}

/// Calls `call` with an odd and an even argument, twice each, and checks what its body ran.
fn keeps_its_oks_only(runs: &AtomicU32, mut call: impl FnMut(u32) -> Reply) {
    assert_eq!(call(7), Err("7 is odd".to_owned()));
    assert_eq!(call(7), Err("7 is odd".to_owned()));
    assert_eq!(
        runs.load(Relaxed),
        2,
        "an `Err` is not kept: the body ran again"
    );
    assert_eq!(call(8), Ok(4));
    assert_eq!(call(8), Ok(4));
    assert_eq!(
        runs.load(Relaxed),
        3,
        "an `Ok` is kept: the second call was a hit"
    );
}

#[test]
fn a_cached_result_behind_an_alias_keeps_its_oks_only() {
    // The typed call gives the alias back whole: `Result<Reply, lmms::Error>`.
    keeps_its_oks_only(&ALIASED, |x| aliased::call(x).unwrap());
    assert_eq!(aliased::OP.stats().cache.unwrap().hits, 1);
}

#[test]
fn an_async_cached_result_behind_an_alias_keeps_its_oks_only() {
    keeps_its_oks_only(&ALIASED_ASYNC, |x| {
        common::block_on(aliased_async::call(x)).unwrap()
    });
}

#[test]
fn a_cached_result_under_a_renamed_import_keeps_its_oks_only() {
    keeps_its_oks_only(&RENAMED, |x| renamed::renamed::call(x).unwrap());
}

#[test]
fn a_cached_crate_style_result_keeps_its_oks_only() {
    keeps_its_oks_only(&CRATE_STYLE, |x| crate_style::crate_style::call(x).unwrap());
}

#[test]
fn cache_errors_keeps_the_errors_of_an_alias_too() {
    assert_eq!(kept::call(7).unwrap(), Err("7 is odd".to_owned()));
    assert_eq!(kept::call(7).unwrap(), Err("7 is odd".to_owned()));
    assert_eq!(KEPT.load(Relaxed), 1, "asked to, the cache kept the `Err`");
}

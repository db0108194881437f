//! Testing an app built with the attributes (feature `testing`).
//!
//! Static modules and operations belong to the one global runtime, which lives as long as
//! the test binary: without help, what one test loads, heats or caches is there for the
//! next, and counts add up across tests in whatever order they run. [`begin`] gives each
//! test a fresh start instead: it waits for the tests before it to end (tests in one binary
//! run on several threads, and share the runtime), then resets the global runtime —
//! every hot path demoted, every cached result dropped, every module unloaded, heat and
//! counters at zero — on a manual clock set to zero, which the test advances by hand.
//!
//! ```
//! #[lmms::module(name = "catalog")]
//! pub struct Catalog(Vec<u32>);
//!
//! impl lmms::Load for Catalog {
//!     type Error = std::convert::Infallible;
//!     fn load() -> Result<Self, Self::Error> { Ok(Catalog((0..100).collect())) }
//! }
//!
//! #[lmms::operation(interface = "shop")]
//! pub fn price(catalog: &Catalog, item: u32) -> u32 { catalog.0[item as usize] }
//!
//! // In a test: `#[test] fn a_price_loads_the_catalog_once() -> Result<(), lmms::Error>`.
//! # fn main() -> Result<(), lmms::Error> {
//! let test = lmms::testing::begin()?;
//! assert_eq!(price::call(7)?, 7);
//! assert_eq!(lmms::stats().loads, 1); // this test's loads, whatever ran before
//! test.clock().advance(std::time::Duration::from_secs(31));
//! assert_eq!(lmms::sweep().unloaded.len(), 1);
//! # Ok(())
//! # }
//! ```
//!
//! The global runtime must run on a manual clock: the first [`begin`] or [`reset`] builds
//! it with one (and the default settings) if nothing used it yet; a test binary that wants
//! other settings sets it first, with [`Runtime::set_global`](crate::Runtime::set_global)
//! and a [`ManualClock`]. Tests
//! that call [`begin`] take turns; a test that does not may run beside them and see their
//! resets, so in a binary that uses it, every test that touches lmms should.

use crate::clock::ManualClock;
use crate::config::Config;
use crate::context::{Entry, RuntimeInner};
use crate::error::Error;
use crate::outcome::KeepReason;
use crate::sync::{lock, Mutex, MutexGuard};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

/// One test's turn with the global runtime: while it lives, no other [`begin`] returns.
/// Dropping it (at the end of the test, or as a failing test unwinds) lets the next one
/// start.
#[must_use = "the test's turn ends when it is dropped"]
pub struct Test {
    clock: ManualClock,
    _holding: Holding,
    _turn: MutexGuard<'static, ()>,
}

std::thread_local! {
    /// Whether this thread holds a test's turn: a second `begin` here would wait for itself.
    static HOLDING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks this thread as holding the turn, until dropped (with the [`Test`], on its thread:
/// the turn's guard cannot leave it).
struct Holding;

impl Holding {
    fn take() -> Result<Holding, Error> {
        if HOLDING.with(|holding| holding.replace(true)) {
            return Err(Error::invalid(
                "testing",
                "this thread already holds a test's turn: `testing::begin` was called again \
                 before that test's `Test` was dropped (from a `Drop`, or a helper the test \
                 calls); use the `Test` it has, or call `testing::reset`",
            ));
        }
        Ok(Holding)
    }
}

impl Drop for Holding {
    fn drop(&mut self) {
        HOLDING.with(|holding| holding.set(false));
    }
}

impl Test {
    /// The global runtime's clock, at zero when the test began.
    ///
    /// ```
    /// let test = lmms::testing::begin()?;
    /// test.clock().advance(std::time::Duration::from_secs(5));
    /// assert_eq!(lmms::Runtime::global().now().as_secs(), 5);
    /// # Ok::<(), lmms::Error>(())
    /// ```
    pub fn clock(&self) -> &ManualClock {
        &self.clock
    }
}

/// Waits for this test's turn, then [`reset`]s the global runtime for it. On a thread that
/// already holds a turn (a `Drop` or a helper that begins a test while the test's [`Test`]
/// lives) it answers [`Error::InvalidConfig`] for `testing` instead of waiting for itself.
///
/// ```
/// let test = lmms::testing::begin()?;
/// assert_eq!(lmms::stats().loads, 0);
/// # drop(test);
/// # Ok::<(), lmms::Error>(())
/// ```
pub fn begin() -> Result<Test, Error> {
    crate::sync::global! {
        static TURNS: Mutex<()> = Mutex::new(());
    }
    let holding = Holding::take()?;
    // A test that failed while holding its turn poisoned the lock: the next one goes on.
    let turn = lock(&TURNS);
    let clock = reset()?;
    Ok(Test {
        clock,
        _holding: holding,
        _turn: turn,
    })
}

/// Resets the global runtime: demotes every hot path, drops every cached result, unloads
/// every module, drops the closes still queued (a test that wants its closes run awaits
/// [`Runtime::closes`](crate::Runtime::closes) before it ends), sets heat and every
/// counter to zero and the manual clock to zero; returns that clock. It first checks that nothing of the caller's holds a module (a guard, a pin
/// or a dependent alive) and, if something does, answers [`Error::ResetRefused`] naming the
/// module, having reset nothing. A module held by what that check cannot see — a call in
/// progress on another thread, or the caller's own (reset from a loader, or from a hot
/// operation's body) — is answered the same way once hot paths and caches are reset, with
/// every figure left as it was. [`begin`] is this with turns; call this alone from a
/// harness that already runs its tests one at a time.
///
/// ```
/// let clock = lmms::testing::reset()?;
/// assert_eq!(clock.now(), std::time::Duration::ZERO);
/// # Ok::<(), lmms::Error>(())
/// ```
pub fn reset() -> Result<ManualClock, Error> {
    let home = global_on_a_manual_clock()?;
    let shared = &home.shared;
    let clock = shared.time.manual().expect("checked to be manual").clone();
    let entries = home.entries();
    for entry in &entries {
        if let Some(reason) = held_by_the_caller(&**entry) {
            return Err(Error::ResetRefused {
                module: entry.info().def.name().to_string(),
                reason,
            });
        }
    }
    for op in shared.ops() {
        op.reset(shared);
    }
    crate::dispatch::drain();
    for entry in &entries {
        entry.unload(shared);
    }
    // A call the first check cannot see (in progress on another thread, or the caller's
    // own, inside a loader or a hot path's body) still holds its module.
    if let Some(kept) = entries.iter().find(|entry| entry.is_resident()) {
        return Err(Error::ResetRefused {
            module: kept.info().def.name().to_string(),
            reason: KeepReason::InUse.as_str(),
        });
    }
    // Closes queued by these unloads or left by the last test are dropped, not run: the
    // test begins from nothing, and a close may need the executor that test ran on.
    for closing in shared.take_closing() {
        crate::error::quietly(|| drop(closing));
    }
    for entry in &entries {
        entry.info().reset();
    }
    shared.counters.reset();
    shared.cooled_until.store(0, Relaxed);
    shared.last_sweep.store(0, Relaxed);
    clock.set(Duration::ZERO);
    Ok(clock)
}

/// What of the caller's holds `entry`: its guards beyond the hot paths' holds, its pins,
/// its dependents.
fn held_by_the_caller(entry: &dyn Entry) -> Option<&'static str> {
    let info = entry.info();
    let hot = info.hot.load(Relaxed);
    if entry.guards() > hot {
        Some(KeepReason::InUse.as_str())
    } else if info.pins.load(Relaxed) > 0 {
        Some(KeepReason::Pinned.as_str())
    } else if info.dependents.load(Relaxed) > 0 {
        Some("depended on")
    } else {
        None
    }
}

/// The global runtime, built on a manual clock if nothing built it yet.
fn global_on_a_manual_clock() -> Result<&'static Arc<RuntimeInner>, Error> {
    let home =
        RuntimeInner::global_or(|| RuntimeInner::new(Config::default(), ManualClock::new().into()));
    match home.shared.time.manual() {
        Some(_) => Ok(home),
        None => Err(Error::invalid(
            "testing",
            "the global runtime runs on the system clock: it was used before the first \
             `lmms::testing::begin()`, or set without a `ManualClock`",
        )),
    }
}

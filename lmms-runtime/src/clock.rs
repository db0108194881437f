//! Time as the runtime sees it: the system's monotonic clock, or a manual clock that tests
//! and replays advance by hand.
//!
//! Calls never read the clock. Reading `Instant::now()` costs more than a whole guarded call
//! (`BENCHMARKS.md`, "Figures behind the code"), so each call stamps its module with the
//! runtime's *recent* time instead: one relaxed load. The recent time is refreshed whenever
//! the runtime does slow work (a load, a sweep, a reaper tick) and, with a manual clock, is
//! the manual clock itself. See [`Runtime::sweep`](crate::Runtime::sweep) for how a sweep
//! turns such a stamp into an exact idle time.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The clock a [`Runtime`](crate::Runtime) reads.
///
/// ```
/// use lmms::{tuning::Clock, tuning::ManualClock};
/// use std::time::Duration;
///
/// let manual = ManualClock::new();
/// let clock = Clock::from(manual.clone());
/// manual.advance(Duration::from_secs(30));
/// assert_eq!(clock.now(), Duration::from_secs(30));
/// ```
#[derive(Clone)]
pub struct Clock(Ticks);

#[derive(Clone)]
enum Ticks {
    System(Instant),
    Manual(ManualClock),
}

impl Clock {
    /// The system's monotonic clock, starting at zero now.
    ///
    /// ```
    /// let clock = lmms::tuning::Clock::system();
    /// assert!(clock.now() < std::time::Duration::from_secs(60));
    /// ```
    pub fn system() -> Self {
        Clock(Ticks::System(Instant::now()))
    }

    /// Time since this clock's origin.
    ///
    /// ```
    /// let clock = lmms::tuning::Clock::system();
    /// let earlier = clock.now();
    /// assert!(clock.now() >= earlier);
    /// ```
    pub fn now(&self) -> Duration {
        match &self.0 {
            Ticks::System(origin) => origin.elapsed(),
            Ticks::Manual(manual) => manual.now(),
        }
    }

    /// The manual clock behind this one, if it is one.
    pub(crate) fn manual(&self) -> Option<&ManualClock> {
        match &self.0 {
            Ticks::System(_) => None,
            Ticks::Manual(manual) => Some(manual),
        }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl From<ManualClock> for Clock {
    fn from(manual: ManualClock) -> Self {
        Clock(Ticks::Manual(manual))
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Ticks::System(_) => f.write_str("Clock::system"),
            Ticks::Manual(manual) => write!(f, "Clock::manual({:?})", manual.now()),
        }
    }
}

/// A clock that moves only when told to: 30 seconds of idle time without sleeping.
///
/// Clones share one time, so a test keeps a clone and hands the other to the runtime.
///
/// ```
/// use lmms::tuning::ManualClock;
/// use std::time::Duration;
///
/// let clock = ManualClock::new();
/// clock.advance(Duration::from_millis(250));
/// clock.set(Duration::from_secs(60));
/// assert_eq!(clock.now(), Duration::from_secs(60));
/// ```
#[derive(Clone, Default)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// A manual clock at zero.
    ///
    /// ```
    /// assert_eq!(lmms::tuning::ManualClock::new().now(), std::time::Duration::ZERO);
    /// ```
    pub fn new() -> Self {
        ManualClock::default()
    }

    /// Moves the clock forward by `by` (saturating at about 584 years).
    ///
    /// ```
    /// let clock = lmms::tuning::ManualClock::new();
    /// clock.advance(std::time::Duration::from_secs(5));
    /// assert_eq!(clock.now().as_secs(), 5);
    /// ```
    pub fn advance(&self, by: Duration) {
        let by = saturating_nanos(by);
        // `fetch_update` never fails with a closure that always returns `Some`.
        let _ = self
            .0
            .fetch_update(Relaxed, Relaxed, |now| Some(now.saturating_add(by)));
    }

    /// Sets the clock to `to`. Moving it backwards is allowed; idle times then read as zero
    /// until it passes the old time again.
    ///
    /// ```
    /// let clock = lmms::tuning::ManualClock::new();
    /// clock.set(std::time::Duration::from_secs(90));
    /// assert_eq!(clock.now().as_secs(), 90);
    /// ```
    pub fn set(&self, to: Duration) {
        self.0.store(saturating_nanos(to), Relaxed);
    }

    /// The time it shows.
    ///
    /// ```
    /// assert_eq!(lmms::tuning::ManualClock::new().now().as_nanos(), 0);
    /// ```
    pub fn now(&self) -> Duration {
        Duration::from_nanos(self.0.load(Relaxed))
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ManualClock").field(&self.now()).finish()
    }
}

fn saturating_nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// The runtime's time in whole milliseconds, with the cheap "recent" read calls use.
#[derive(Debug)]
pub(crate) struct Time {
    clock: Clock,
    /// For a system clock: the time at the last refresh, in ms. Unused for a manual clock,
    /// which is its own recent time.
    recent: AtomicU64,
}

impl Time {
    pub(crate) fn new(clock: Clock) -> Self {
        Time {
            clock,
            recent: AtomicU64::new(0),
        }
    }

    /// The manual clock behind this time, if it is one.
    pub(crate) fn manual(&self) -> Option<&ManualClock> {
        self.clock.manual()
    }

    /// A time no later than now and no earlier than the last refresh: one relaxed load.
    #[inline]
    pub(crate) fn recent(&self) -> u64 {
        match self.manual() {
            Some(manual) => millis(manual.now()),
            None => self.recent.load(Relaxed),
        }
    }

    /// Reads the clock and makes it the recent time.
    pub(crate) fn refresh(&self) -> u64 {
        let now = millis(self.clock.now());
        self.recent.fetch_max(now, Relaxed);
        now
    }
}

pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

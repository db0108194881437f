//! Heat: how often an operation was called lately, in four levels.

use crate::error::Error;
use std::fmt;

/// An operation's heat level, from its calls in the current heat window.
///
/// ```
/// use lmms::tuning::Thresholds;
/// use lmms::report::Heat;
/// let t = Thresholds::default();
/// assert_eq!(t.level(4), Heat::Cold);
/// assert_eq!(t.level(5), Heat::Warm);
/// assert_eq!(t.level(20), Heat::Hot);
/// assert_eq!(t.level(100), Heat::Critical);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum Heat {
    /// Fewer calls than the warm threshold: the managed path.
    Cold,
    /// Warm: still the managed path, counted.
    Warm,
    /// Hot: the module is pinned and calls take the direct path, still counted.
    Hot,
    /// Critical: the direct path with no per-call counting (only the stamp of the last use,
    /// a store when the runtime's recent time moved).
    Critical,
}

impl Heat {
    /// The level's name.
    ///
    /// ```
    /// assert_eq!(lmms::report::Heat::Critical.as_str(), "critical");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Heat::Cold => "cold",
            Heat::Warm => "warm",
            Heat::Hot => "hot",
            Heat::Critical => "critical",
        }
    }
}

impl fmt::Display for Heat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The call counts at which an operation becomes warm, hot and critical (5, 20 and 100 by
/// default), and below which a hot one cools back to the managed path (half the hot
/// threshold: the gap is the hysteresis that keeps an operation from flapping).
///
/// ```
/// let t = lmms::tuning::Thresholds::new(2, 10, 50)?;
/// assert_eq!(t.cool_below(), 5);
/// assert!(lmms::tuning::Thresholds::new(10, 10, 50).is_err());
/// # Ok::<(), lmms::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thresholds {
    warm: u64,
    hot: u64,
    critical: u64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            warm: 5,
            hot: 20,
            critical: 100,
        }
    }
}

impl Thresholds {
    /// Thresholds that must increase strictly, from at least 1.
    ///
    /// ```
    /// assert!(lmms::tuning::Thresholds::new(0, 20, 100).is_err());
    /// ```
    pub fn new(warm: u64, hot: u64, critical: u64) -> Result<Self, Error> {
        if warm == 0 || warm >= hot || hot >= critical {
            return Err(Error::invalid(
                "heat",
                format!("warm {warm}, hot {hot}, critical {critical}: they must increase, from at least 1"),
            ));
        }
        Ok(Thresholds {
            warm,
            hot,
            critical,
        })
    }

    /// The level of `calls` calls.
    ///
    /// ```
    /// assert_eq!(lmms::tuning::Thresholds::default().level(19), lmms::report::Heat::Warm);
    /// ```
    pub fn level(&self, calls: u64) -> Heat {
        if calls >= self.critical {
            Heat::Critical
        } else if calls >= self.hot {
            Heat::Hot
        } else if calls >= self.warm {
            Heat::Warm
        } else {
            Heat::Cold
        }
    }

    /// The count at which an operation turns warm.
    ///
    /// ```
    /// assert_eq!(lmms::tuning::Thresholds::default().warm(), 5);
    /// ```
    pub fn warm(&self) -> u64 {
        self.warm
    }

    /// The count at which an operation turns hot and takes the direct path.
    ///
    /// ```
    /// assert_eq!(lmms::tuning::Thresholds::default().hot(), 20);
    /// ```
    pub fn hot(&self) -> u64 {
        self.hot
    }

    /// The count at which per-call bookkeeping stops.
    ///
    /// ```
    /// assert_eq!(lmms::tuning::Thresholds::default().critical(), 100);
    /// ```
    pub fn critical(&self) -> u64 {
        self.critical
    }

    /// Below this count a hot operation is demoted when its heat cools.
    ///
    /// ```
    /// assert_eq!(lmms::tuning::Thresholds::default().cool_below(), 10);
    /// ```
    pub fn cool_below(&self) -> u64 {
        (self.hot / 2).max(1)
    }
}

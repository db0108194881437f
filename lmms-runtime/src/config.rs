//! The runtime's settings: the grace period and resident minimum, a memory budget, and
//! when to hand freed memory back to the operating system.

use crate::heat::Thresholds;
use crate::keepalive::Adaptive;
use std::time::Duration;

/// The unload policy's settings, fixed when the runtime is built.
///
/// ```
/// let config = lmms::tuning::Config::default();
/// assert_eq!(config.grace(), std::time::Duration::from_secs(30));
/// assert_eq!(config.min_resident(), 0);
/// assert_eq!(config.memory_budget(), None);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub(crate) heat: Thresholds,
    pub(crate) max_hot_paths: usize,
    pub(crate) cool_every: Duration,
    pub(crate) cache_keeps_modules: bool,
    pub(crate) grace: Duration,
    pub(crate) min_resident: usize,
    pub(crate) memory_budget: Option<u64>,
    pub(crate) trim_threshold: Option<u64>,
    pub(crate) adaptive: Option<Adaptive>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            heat: Thresholds::default(),
            max_hot_paths: 100,
            cool_every: Duration::from_secs(60),
            cache_keeps_modules: true,
            grace: Duration::from_secs(30),
            min_resident: 0,
            memory_budget: None,
            trim_threshold: Some(1 << 20),
            adaptive: None,
        }
    }
}

impl Config {
    /// The heat thresholds (default 5, 20, 100 calls).
    ///
    /// ```
    /// assert_eq!(lmms::tuning::Config::default().heat().hot(), 20);
    /// ```
    pub fn heat(&self) -> Thresholds {
        self.heat
    }

    /// Whether live cached results keep their module resident (default `true`).
    ///
    /// ```
    /// assert!(lmms::tuning::Config::default().cache_keeps_modules());
    /// ```
    pub fn cache_keeps_modules(&self) -> bool {
        self.cache_keeps_modules
    }

    /// At most this many operations on the direct path (default 100); past it the least
    /// recently used is demoted. 0 turns the hot path off.
    ///
    /// ```
    /// assert_eq!(lmms::tuning::Config::default().max_hot_paths(), 100);
    /// ```
    pub fn max_hot_paths(&self) -> usize {
        self.max_hot_paths
    }

    /// The cooling window: each one halves the heat of operations not used in it
    /// (default 60 s of the runtime clock).
    ///
    /// ```
    /// assert_eq!(lmms::tuning::Config::default().cool_every().as_secs(), 60);
    /// ```
    pub fn cool_every(&self) -> Duration {
        self.cool_every
    }

    /// How long a module must be idle before a sweep may unload it (unload check 4).
    ///
    /// ```
    /// assert_eq!(lmms::tuning::Config::default().grace().as_secs(), 30);
    /// ```
    pub fn grace(&self) -> Duration {
        self.grace
    }

    /// Sweeps unload only while more than this many modules are resident (unload check 5);
    /// default 0: every idle module goes once its grace period is over.
    ///
    /// ```
    /// assert_eq!(lmms::tuning::Config::default().min_resident(), 0);
    /// ```
    pub fn min_resident(&self) -> usize {
        self.min_resident
    }

    /// Resident bytes above which sweeps unload past the grace period and the minimum.
    ///
    /// ```
    /// assert_eq!(lmms::tuning::Config::default().memory_budget(), None);
    /// ```
    pub fn memory_budget(&self) -> Option<u64> {
        self.memory_budget
    }

    /// Unloads that free at least this many bytes hand memory back to the OS.
    ///
    /// ```
    /// assert_eq!(lmms::tuning::Config::default().trim_threshold(), Some(1 << 20));
    /// ```
    pub fn trim_threshold(&self) -> Option<u64> {
        self.trim_threshold
    }

    /// The adaptive keep-alive, if it is on.
    ///
    /// ```
    /// assert_eq!(lmms::tuning::Config::default().adaptive(), None);
    /// ```
    pub fn adaptive(&self) -> Option<Adaptive> {
        self.adaptive
    }
}

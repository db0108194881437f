//! What a sweep and an unload answer: the check that kept a module, what was unloaded,
//! and the byte counts they print.

use crate::name::Name;
use std::fmt;
use std::time::Duration;

/// The check that kept a module resident.
///
/// ```
/// assert_eq!(lmms::report::KeepReason::WithinGrace.to_string(), "within grace");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum KeepReason {
    /// A [`Class::Core`](crate::Class::Core) module: sweeps never unload it.
    Core,
    /// Check 1: a guard is alive.
    InUse,
    /// Check 2: the module is pinned (a hot operation, or [`ModuleCell::pin`](crate::ModuleCell::pin)).
    Pinned,
    /// Check 3: cache entries or other [`Dependent`](crate::state::Dependent)s rely on it.
    Dependents,
    /// Check 4: it was used less than the grace period ago.
    WithinGrace,
    /// Check 5: no more than the minimum number of modules are resident.
    AtMinimum,
    /// Not resident yet: a load is in flight, and its state goes into the module when it
    /// ends. An unload (or a [`shutdown`](crate::Runtime::shutdown)) cannot drop a state
    /// that is not built; unload again once the load has ended.
    Loading,
}

impl KeepReason {
    /// Every reason: the checks in the order they run, then a load in flight.
    ///
    /// ```
    /// assert_eq!(lmms::report::KeepReason::ALL.len(), 7);
    /// ```
    pub const ALL: [KeepReason; 7] = [
        KeepReason::Core,
        KeepReason::InUse,
        KeepReason::Pinned,
        KeepReason::Dependents,
        KeepReason::WithinGrace,
        KeepReason::AtMinimum,
        KeepReason::Loading,
    ];

    /// The reason in plain words.
    ///
    /// ```
    /// assert_eq!(lmms::report::KeepReason::InUse.as_str(), "in use");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            KeepReason::Core => "core",
            KeepReason::InUse => "in use",
            KeepReason::Pinned => "pinned",
            KeepReason::Dependents => "dependents",
            KeepReason::WithinGrace => "within grace",
            KeepReason::AtMinimum => "at minimum",
            KeepReason::Loading => "loading",
        }
    }
}

impl fmt::Display for KeepReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an unload did.
///
/// ```
/// let runtime = lmms::Runtime::builder().build()?;
/// let m = runtime.register(lmms::ModuleDef::named("m"), || 0u8)?;
/// assert_eq!(m.unload(), lmms::report::Unload::NotResident);
/// # Ok::<(), lmms::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Unload {
    /// The state was dropped; `bytes` of heap came back (0 without
    /// [`CountingAlloc`](crate::memory::CountingAlloc)).
    Unloaded {
        /// Heap bytes freed by dropping the state, as measured where it was dropped. A
        /// module with an async [`close`](crate::AsyncLoad::close) frees its state when the
        /// close ends: this is what the unload freed before it, and
        /// [`Stats::bytes_reclaimed`](crate::Stats::bytes_reclaimed) counts the rest then.
        bytes: u64,
    },
    /// There was no state to drop.
    NotResident,
    /// The state stays, for this reason.
    Kept(KeepReason),
}

/// One module a sweep unloaded.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Unloaded {
    /// The module's name.
    pub module: Name,
    /// Heap bytes freed.
    pub bytes: u64,
}

/// One resident module a sweep kept, with the first check that kept it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Kept {
    /// The module's name.
    pub module: Name,
    /// The first check that kept it.
    pub reason: KeepReason,
}

/// What a sweep did: see [`Runtime::sweep`](crate::Runtime::sweep).
///
/// ```
/// let report = lmms::Runtime::builder().build()?.sweep();
/// assert_eq!(report.bytes_reclaimed(), 0);
/// assert_eq!(report.to_string(), "sweep at 0.000s: unloaded nothing, kept nothing");
/// # Ok::<(), lmms::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct SweepReport {
    /// The runtime's time when the sweep ran.
    pub at: Duration,
    /// The modules unloaded, least recently used first.
    pub unloaded: Vec<Unloaded>,
    /// The resident modules kept.
    pub kept: Vec<Kept>,
    /// The modules loaded ahead of a predicted use ([`Adaptive::prewarm`](crate::tuning::Adaptive::prewarm)).
    pub prewarmed: Vec<Name>,
}

impl SweepReport {
    /// Heap bytes the sweep's unloads freed.
    ///
    /// ```
    /// assert_eq!(lmms::report::SweepReport::default().bytes_reclaimed(), 0);
    /// ```
    pub fn bytes_reclaimed(&self) -> u64 {
        self.unloaded.iter().map(|unloaded| unloaded.bytes).sum()
    }

    /// The reason a module was kept, if this sweep kept it.
    ///
    /// ```
    /// assert_eq!(lmms::report::SweepReport::default().kept_because("weather"), None);
    /// ```
    pub fn kept_because(&self, module: &str) -> Option<KeepReason> {
        self.kept
            .iter()
            .find(|kept| kept.module == module)
            .map(|kept| kept.reason)
    }
}

impl fmt::Display for SweepReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sweep at {:.3}s: unloaded ", self.at.as_secs_f64())?;
        if self.unloaded.is_empty() {
            f.write_str("nothing")?;
        }
        for (i, unloaded) in self.unloaded.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}{} ({})", unloaded.module, Bytes(unloaded.bytes))?;
        }
        f.write_str(", kept ")?;
        if self.kept.is_empty() {
            f.write_str("nothing")?;
        }
        for (i, kept) in self.kept.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}{} ({})", kept.module, kept.reason)?;
        }
        Ok(())
    }
}

/// A byte count in the largest binary unit that keeps it at or above 1.
pub(crate) struct Bytes(pub(crate) u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
        let mut value = self.0 as f64;
        let mut unit = 0;
        while value >= 1024.0 && unit + 1 < UNITS.len() {
            value /= 1024.0;
            unit += 1;
        }
        if unit == 0 {
            write!(f, "{} B", self.0)
        } else {
            write!(f, "{value:.1} {}", UNITS[unit])
        }
    }
}

/// A byte count where the platform tells one, `n/a` elsewhere.
pub(crate) struct Maybe(pub(crate) Option<u64>);

impl fmt::Display for Maybe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(bytes) => Bytes(bytes).fmt(f),
            None => f.write_str("n/a"),
        }
    }
}

/// Why a hot operation left the direct path; the index of its count in the figures.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Demotion {
    /// Its heat fell below the cooling threshold.
    Cooled = 0,
    /// The hot-path cap was reached and it was the least recently used.
    Evicted = 1,
    /// A load needed room in the memory budget that only its module's pin kept from it.
    Budget = 2,
}

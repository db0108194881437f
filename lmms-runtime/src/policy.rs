//! LUGS's decisions: the five-point check, the sweep, and what they answer.

use crate::module::Class;
use crate::runtime::{EntryRef, Shared};
use std::fmt;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

/// The check that kept a module resident.
///
/// ```
/// assert_eq!(lmms::KeepReason::WithinGrace.to_string(), "within grace");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum KeepReason {
    /// A [`Class::Core`] module: sweeps never unload it.
    Core,
    /// Check 1: a guard is alive.
    InUse,
    /// Check 2: the module is pinned (ZAFP hot path, or [`Module::pin`](crate::Module::pin)).
    Pinned,
    /// Check 3: cache entries or other [`Dependent`](crate::Dependent)s rely on it.
    Dependents,
    /// Check 4: it was used less than the grace period ago.
    WithinGrace,
    /// Check 5: no more than the minimum number of modules are resident.
    AtMinimum,
}

impl KeepReason {
    /// Every reason, in the order the checks run.
    ///
    /// ```
    /// assert_eq!(lmms::KeepReason::ALL.len(), 6);
    /// ```
    pub const ALL: [KeepReason; 6] = [
        KeepReason::Core,
        KeepReason::InUse,
        KeepReason::Pinned,
        KeepReason::Dependents,
        KeepReason::WithinGrace,
        KeepReason::AtMinimum,
    ];

    /// The reason in plain words.
    ///
    /// ```
    /// assert_eq!(lmms::KeepReason::InUse.as_str(), "in use");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            KeepReason::Core => "core",
            KeepReason::InUse => "in use",
            KeepReason::Pinned => "pinned",
            KeepReason::Dependents => "dependents",
            KeepReason::WithinGrace => "within grace",
            KeepReason::AtMinimum => "at minimum",
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
/// let m = runtime.register(lmms::ModuleDef::named("m"), || Ok(0u8))?;
/// assert_eq!(m.unload(), lmms::Unload::NotResident);
/// # Ok::<(), lmms::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Unload {
    /// The state was dropped; `bytes` of heap came back (0 without
    /// [`CountingAlloc`](crate::memory::CountingAlloc)).
    Unloaded {
        /// Heap bytes freed by dropping the state.
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
    pub module: String,
    /// Heap bytes freed.
    pub bytes: u64,
}

/// One resident module a sweep kept, with the first check that kept it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Kept {
    /// The module's name.
    pub module: String,
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
}

impl SweepReport {
    /// Heap bytes the sweep's unloads freed.
    ///
    /// ```
    /// assert_eq!(lmms::SweepReport::default().bytes_reclaimed(), 0);
    /// ```
    pub fn bytes_reclaimed(&self) -> u64 {
        self.unloaded.iter().map(|unloaded| unloaded.bytes).sum()
    }

    /// The reason a module was kept, if this sweep kept it.
    ///
    /// ```
    /// assert_eq!(lmms::SweepReport::default().kept_because("weather"), None);
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
            write!(f, "{sep}{} ({})", unloaded.module, crate::stats::Bytes(unloaded.bytes))?;
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

/// The sweep itself; [`Runtime::sweep`](crate::Runtime::sweep) documents the rules.
pub(crate) fn sweep(shared: &Shared, entries: &[EntryRef]) -> SweepReport {
    let config = &shared.config;
    // A stamp at or after the recent time before this refresh means "used since the last
    // refresh": count it as now, so the grace period is never cut short.
    let before = shared.time.recent();
    let now = shared.time.refresh();
    let mut resident: Vec<(&EntryRef, u64)> = entries
        .iter()
        .filter(|entry| entry.is_resident())
        .map(|entry| {
            let stamp = entry.info().last_use.load(Relaxed);
            (entry, if stamp >= before { now } else { stamp })
        })
        .collect();
    resident.sort_by_key(|&(_, last_use)| last_use);

    let mut count = resident.len();
    let mut bytes: u64 = resident
        .iter()
        .map(|(entry, _)| entry.info().bytes.load(Relaxed))
        .sum();
    let mut report = SweepReport {
        at: Duration::from_millis(now),
        ..SweepReport::default()
    };
    for (entry, last_use) in resident {
        let info = entry.info();
        let over_budget = config.memory_budget.is_some_and(|budget| bytes > budget);
        let grace = info.def.grace_of().unwrap_or(config.grace);
        let idle = Duration::from_millis(now.saturating_sub(last_use));
        let reason = match info.def.class_of() {
            Class::Core => Some(KeepReason::Core),
            _ if entry.guards() > 0 => Some(KeepReason::InUse),
            _ if info.held().is_some() => info.held(),
            Class::Feature => None,
            _ if over_budget => None,
            _ if idle < grace => Some(KeepReason::WithinGrace),
            _ if count <= config.min_resident => Some(KeepReason::AtMinimum),
            Class::Utility => None,
        };
        let kept_bytes = info.bytes.load(Relaxed);
        let outcome = match reason {
            Some(reason) => Unload::Kept(reason),
            None => entry.unload(shared),
        };
        let module = info.def.name().to_owned();
        match outcome {
            Unload::Unloaded { bytes: freed } => {
                count -= 1;
                bytes = bytes.saturating_sub(kept_bytes);
                report.unloaded.push(Unloaded {
                    module,
                    bytes: freed,
                });
            }
            Unload::NotResident => count -= 1,
            Unload::Kept(reason) => {
                shared.counters.blocked(reason);
                report.kept.push(Kept { module, reason });
            }
        }
    }
    shared.counters.swept();
    shared.reclaimed(report.bytes_reclaimed());
    report
}

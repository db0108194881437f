//! LUGS's decisions: the five-point check, the sweep, and what they answer.

use crate::module::Class;
use crate::name::Name;
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
    /// Check 2: the module is pinned (ZAFP hot path, or [`ModuleCell::pin`](crate::ModuleCell::pin)).
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
/// let m = runtime.register(lmms::ModuleDef::named("m"), || 0u8)?;
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
            write!(
                f,
                "{sep}{} ({})",
                unloaded.module,
                crate::stats::Bytes(unloaded.bytes)
            )?;
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

/// A sweep in progress; [`Runtime::sweep`](crate::Runtime::sweep) documents the rules.
///
/// Two passes keep it cheap for a thousand modules that all stay. [`Sweep::classify`],
/// under the module list's lock, settles every module a fixed reason keeps (class, guards,
/// pins, dependents, grace) without allocating a name or sorting. [`Sweep::finish`] sorts
/// the few left least recently used first and unloads them with the lock released, so a
/// state's `Drop` may use the runtime.
pub(crate) struct Sweep {
    now: u64,
    report: SweepReport,
    blocked: [u64; KeepReason::ALL.len()],
    resident: usize,
    bytes: u64,
    candidates: Vec<(EntryRef, u64)>,
}

impl Sweep {
    pub(crate) fn classify(shared: &Shared, entries: &[EntryRef]) -> Sweep {
        // A stamp at or after the recent time before this refresh means "used since the
        // last refresh": count it as now, so the grace period is never cut short.
        let before = shared.time.recent();
        let now = shared.time.refresh();
        let mut sweep = Sweep {
            now,
            report: SweepReport {
                at: Duration::from_millis(now),
                ..SweepReport::default()
            },
            blocked: [0; KeepReason::ALL.len()],
            resident: 0,
            bytes: 0,
            candidates: Vec::new(),
        };
        for entry in entries.iter().filter(|entry| entry.is_resident()) {
            let info = entry.info();
            sweep.resident += 1;
            sweep.bytes += info.bytes.load(Relaxed);
            let stamp = info.last_use.load(Relaxed);
            let last_use = if stamp >= before { now } else { stamp };
            let reason = match info.def.class_of() {
                Class::Core => Some(KeepReason::Core),
                // A hot operation's pin holds a guard of its own: it is not a use.
                _ if entry.guards() > info.hot.load(Relaxed) => Some(KeepReason::InUse),
                _ => info.held(shared),
            };
            match reason {
                Some(reason) => sweep.keep(info.def.name(), reason),
                None => sweep.candidates.push((entry.clone(), last_use)),
            }
        }
        if !sweep.over_budget(shared) {
            // Within budget, grace does not depend on the order: settle it before sorting.
            let mut candidates = std::mem::take(&mut sweep.candidates);
            candidates.retain(|(entry, last_use)| {
                let within = entry.info().def.class_of() == Class::Utility
                    && sweep.within_grace(shared, entry, *last_use);
                if within {
                    sweep.keep(entry.info().def.name(), KeepReason::WithinGrace);
                }
                !within
            });
            sweep.candidates = candidates;
        }
        sweep
    }

    pub(crate) fn finish(mut self, shared: &Shared) -> SweepReport {
        let mut candidates = std::mem::take(&mut self.candidates);
        candidates.sort_by_key(|&(_, last_use)| last_use);
        for (entry, last_use) in candidates {
            let info = entry.info();
            let reason = match info.def.class_of() {
                Class::Feature => None,
                _ if self.over_budget(shared) => None,
                _ if self.within_grace(shared, &entry, last_use) => Some(KeepReason::WithinGrace),
                _ if self.resident <= shared.config.min_resident => Some(KeepReason::AtMinimum),
                _ => None,
            };
            let kept_bytes = info.bytes.load(Relaxed);
            match reason.map_or_else(|| entry.unload(shared), Unload::Kept) {
                Unload::Unloaded { bytes } => {
                    self.resident -= 1;
                    self.bytes = self.bytes.saturating_sub(kept_bytes);
                    self.report.unloaded.push(Unloaded {
                        module: info.def.name().clone(),
                        bytes,
                    });
                }
                Unload::NotResident => self.resident -= 1,
                Unload::Kept(reason) => self.keep(info.def.name(), reason),
            }
        }
        for reason in KeepReason::ALL {
            shared
                .counters
                .blocked_by(reason, self.blocked[reason as usize]);
        }
        shared.counters.swept();
        shared.reclaimed(self.report.bytes_reclaimed());
        // Sent once the module list's lock is long released: a subscriber may call lmms.
        #[cfg(feature = "tracing")]
        for kept in &self.report.kept {
            crate::trace::event!(tracing::Level::DEBUG, module = %kept.module, reason = %kept.reason, "kept by the sweep");
        }
        self.report
    }

    fn keep(&mut self, module: &Name, reason: KeepReason) {
        self.blocked[reason as usize] += 1;
        self.report.kept.push(Kept {
            module: module.clone(),
            reason,
        });
    }

    fn over_budget(&self, shared: &Shared) -> bool {
        shared
            .config
            .memory_budget
            .is_some_and(|budget| self.bytes > budget)
    }

    fn within_grace(&self, shared: &Shared, entry: &EntryRef, last_use: u64) -> bool {
        let info = entry.info();
        let grace = info
            .def
            .grace_of()
            .unwrap_or_else(|| match shared.config.adaptive {
                Some(adaptive) => {
                    // Without the counting allocator only the state's inline size is known:
                    // treat the size as unknown rather than tiny.
                    let measured = crate::memory::live_heap().is_some();
                    let bytes = if measured {
                        info.bytes.load(Relaxed)
                    } else {
                        0
                    };
                    adaptive.keep(&info.gaps, bytes)
                }
                None => shared.config.grace,
            });
        Duration::from_millis(self.now.saturating_sub(last_use)) < grace
    }
}

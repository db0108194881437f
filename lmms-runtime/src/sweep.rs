//! The sweep: the unload rule (`rule`) applied to every resident module, least recently
//! used first, and the unloads it allows; and the same when a load makes room in the memory
//! budget.

use crate::context::{Context, EntryRef};
use crate::def::Class;
use crate::info::Info;
use crate::keepalive::Schedule;
use crate::name::Name;
use crate::outcome::{KeepReason, Kept, SweepReport, Unload, Unloaded};
use crate::rule::{self, Facts, Grace, Occasion, Verdict};
use crate::sync::local;
use std::cell::Cell;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

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
    /// Bytes a load is about to add, when this is one making room for it.
    reserve: Option<u64>,
    candidates: Vec<Candidate>,
    /// Making room: the modules (their bookkeeping's addresses) that only hot operations'
    /// pins keep, none of them in use.
    hot_held: Vec<usize>,
    /// How far ahead this sweep pre-warms, in ms: the time since the last one.
    lead: u64,
    /// Modules not resident whose predicted next use comes before the next sweep, each
    /// with the last use it was predicted from.
    prewarm: Vec<(EntryRef, u64)>,
    /// The mean of what the modules kept at their last load, in bytes, which the adaptive
    /// keep-alive's default price is set against (0: not measured, or not needed).
    typical: u64,
}

/// A resident module that nothing holds, with its class and when it was last used (ms):
/// whether it goes depends on the order of the unloads.
struct Candidate {
    entry: EntryRef,
    last_use: u64,
    class: Class,
}

local! {
    /// How deep this thread is in work a load's room-making waits for: making room (a
    /// `Drop` it runs may load), or running a loader (a loader that loads another module
    /// has that load measured as its own, so what room-making freed there would be charged
    /// to it). The outermost load makes room for all of it, once it is done.
    static BUSY: Cell<u32> = const { Cell::new(0) };
    /// Set when a load skipped its room-making because the thread was busy.
    static DEFERRED: Cell<bool> = const { Cell::new(false) };
}

/// Marks this thread busy while it lives, unwinding included.
struct Busy;

impl Busy {
    fn enter() -> Busy {
        BUSY.with(|busy| busy.set(busy.get() + 1));
        Busy
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        BUSY.with(|busy| busy.set(busy.get() - 1));
    }
}

/// Runs a loader (or one poll of one): a load inside it leaves room-making to the load
/// that runs it.
pub(crate) fn loading<R>(load: impl FnOnce() -> R) -> R {
    let _busy = Busy::enter();
    load()
}

/// Bytes unloads freed, handed back to the OS when dropped, unwinding included.
struct Reclaimed<'a>(&'a Context, u64);

impl Drop for Reclaimed<'_> {
    fn drop(&mut self) {
        self.0.reclaimed(self.1);
    }
}

/// How many times a make-room looks again when a `Drop` it ran loaded a module.
const PASSES: usize = 4;

/// Makes room in the memory budget for a load about to add `reserve` bytes: unloads idle
/// modules, least recently used first, until resident state and `reserve` fit in it. The
/// five checks apply as in a sweep over budget: a module in use, pinned, depended on, a
/// core one or one whose cached results hold it is never unloaded; the grace period and
/// the resident minimum do not protect one. Returns whether they fit (always, without a
/// budget, and when the thread is busy: see [`loading`]).
///
/// User code it runs (a state's `Drop`, a `tracing` layer) may panic: the panic is
/// contained and counted as a sweep's ([`Stats::sweep_panics`](crate::Stats)), and the load
/// goes ahead.
///
/// Still over once nothing idle is left, it asks `yield_hot` to demote a hot operation of
/// one of the modules that only hot paths keep (their bookkeeping's addresses; see
/// `hot::yield_to_budget`) and looks again: the budget outranks the hot path, which is
/// only an optimisation.
pub(crate) fn make_room(
    shared: &Context,
    reserve: u64,
    mut yield_hot: impl FnMut(&[usize]) -> bool,
) -> bool {
    if shared.config.memory_budget.is_none() {
        return true;
    }
    if BUSY.with(Cell::get) > 0 {
        DEFERRED.with(|deferred| deferred.set(true));
        return true;
    }
    let _busy = Busy::enter();
    let passes = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut looks = 0;
        // A demotion per look at most, and a bound for a hot path promoted again
        // meanwhile by another thread.
        let mut demotions = shared.config.max_hot_paths;
        loop {
            DEFERRED.with(|deferred| deferred.set(false));
            // The module list's lock ends with the classification: the unloads run user
            // `Drop`s, which may read the list (`Runtime::stats`) or add to it.
            let mut sweep = Sweep::classify(shared, &shared.modules(), Some(reserve));
            let hot_held = std::mem::take(&mut sweep.hot_held);
            let fits = sweep.make_room(shared);
            if DEFERRED.with(Cell::get) && looks < PASSES {
                looks += 1;
                continue;
            }
            if fits || demotions == 0 || hot_held.is_empty() || !yield_hot(&hot_held) {
                return fits;
            }
            demotions -= 1;
        }
    }));
    passes.unwrap_or_else(|payload| {
        crate::error::drop_payload(payload);
        shared.counters.sweep_panicked();
        true
    })
}

impl Sweep {
    /// `reserve`: the bytes of the load this makes room for, or `None` for a sweep.
    pub(crate) fn classify(shared: &Context, entries: &[EntryRef], reserve: Option<u64>) -> Sweep {
        // A stamp at or after the recent time before this refresh means "used since the
        // last refresh": count it as now, so the grace period is never cut short.
        let before = shared.time.recent();
        let now = shared.time.refresh();
        let prewarms = reserve.is_none()
            && shared
                .config
                .adaptive
                .is_some_and(|adaptive| adaptive.prewarm_percent().is_some());
        let lead = match reserve {
            // 0 is "no sweep yet": a first sweep does not know the pace.
            None => match shared.last_sweep.swap(now.max(1), Relaxed) {
                0 => 0,
                last => now.saturating_sub(last),
            },
            Some(_) => 0,
        };
        let mut sweep = Sweep {
            now,
            report: SweepReport {
                at: Duration::from_millis(now),
                ..SweepReport::default()
            },
            blocked: [0; KeepReason::ALL.len()],
            resident: 0,
            bytes: 0,
            reserve,
            candidates: Vec::new(),
            hot_held: Vec::new(),
            lead,
            prewarm: Vec::new(),
            // Room-making reads no grace, so no schedule and no price.
            typical: match shared.config.adaptive {
                Some(adaptive) if reserve.is_none() && adaptive.needs_typical() => typical(entries),
                _ => 0,
            },
        };
        for entry in entries {
            let info = entry.info();
            if !entry.is_resident() {
                if prewarms && sweep.warm_due(shared, entry) {
                    sweep
                        .prewarm
                        .push((entry.clone(), info.last_use.load(Relaxed)));
                }
                continue;
            }
            sweep.resident += 1;
            sweep.bytes += info.bytes.load(Relaxed);
            let stamp = info.last_use.load(Relaxed);
            let last_use = if stamp >= before { now } else { stamp };
            // A hot operation's pin holds a guard of its own: it is not a use.
            let facts = info.facts(&shared.config, entry.guards() > info.hot.load(Relaxed));
            // What keeps a module over budget keeps it whatever the order of the unloads.
            match rule::decide(&facts, Occasion::OverBudget) {
                Verdict::Keep(reason) => {
                    if reserve.is_some()
                        && reason == KeepReason::Pinned
                        && facts.held_by_hot_paths_alone()
                    {
                        sweep.hot_held.push(info as *const Info as usize);
                    }
                    sweep.keep(info.def.name(), reason);
                }
                Verdict::Unload => sweep.candidates.push(Candidate {
                    entry: entry.clone(),
                    last_use,
                    class: facts.class,
                }),
            }
        }
        if reserve.is_none() {
            // Within budget, grace does not depend on the order: settle it before sorting.
            // The minimum is left to `finish`, which reports it least recently used first.
            let mut candidates = std::mem::take(&mut sweep.candidates);
            candidates.retain(|candidate| match sweep.verdict(shared, candidate) {
                Verdict::Keep(KeepReason::AtMinimum) | Verdict::Unload => true,
                Verdict::Keep(reason) => {
                    sweep.keep(candidate.entry.info().def.name(), reason);
                    false
                }
            });
            sweep.candidates = candidates;
        }
        sweep
    }

    pub(crate) fn finish(mut self, shared: &Context) -> SweepReport {
        let mut candidates = std::mem::take(&mut self.candidates);
        candidates.sort_by_key(|candidate| candidate.last_use);
        for candidate in candidates {
            match self.verdict(shared, &candidate) {
                Verdict::Keep(reason) => self.keep(candidate.entry.info().def.name(), reason),
                Verdict::Unload => {
                    self.unload(shared, &candidate.entry);
                }
            }
        }
        for reason in KeepReason::ALL {
            shared
                .counters
                .blocked_by(reason, self.blocked[reason as usize]);
        }
        shared.counters.swept();
        shared.reclaimed(self.report.bytes_reclaimed());
        // After the sweep's books are kept: a pre-warm runs a loader and sends events,
        // user code that may unwind.
        for (entry, last_use) in std::mem::take(&mut self.prewarm) {
            self.prewarm(shared, &entry, last_use);
        }
        // Sent once the module list's lock is long released: a subscriber may call lmms.
        #[cfg(feature = "tracing")]
        for kept in &self.report.kept {
            crate::trace::event!(tracing::Level::DEBUG, module = %kept.module, reason = %kept.reason, "kept by the sweep");
        }
        self.report
    }

    /// [`make_room`]'s unloads, least recently used first while over budget; whether the
    /// reserve fits after them. The modules left are not reported: this is no sweep.
    fn make_room(mut self, shared: &Context) -> bool {
        let mut candidates = std::mem::take(&mut self.candidates);
        candidates.sort_by_key(|candidate| candidate.last_use);
        // Handed back to the OS once for all the unloads: a trim walks every free block.
        let mut reclaimed = Reclaimed(shared, 0);
        for Candidate { entry, .. } in candidates {
            if !self.over_budget(shared) {
                break;
            }
            // Booked one by one, and even when the unload's event panics once it is done:
            // the panic unwinds to `make_room`, which contains it.
            let unloads = entry.info().unloads.load(Relaxed);
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.unload(shared, &entry)
            })) {
                Ok(Some(bytes)) => {
                    shared.counters.budget_unloaded(1);
                    reclaimed.1 += bytes;
                }
                Ok(None) => {}
                Err(payload) => {
                    if entry.info().unloads.load(Relaxed) > unloads {
                        shared.counters.budget_unloaded(1);
                    }
                    std::panic::resume_unwind(payload);
                }
            }
        }
        !self.over_budget(shared)
    }

    /// Unloads `entry` if the checks it is made under still allow it, and books the result;
    /// the bytes it freed, if it was unloaded here.
    fn unload(&mut self, shared: &Context, entry: &EntryRef) -> Option<u64> {
        let info = entry.info();
        let kept_bytes = info.bytes.load(Relaxed);
        match entry.unload(shared) {
            Unload::Unloaded { bytes } => {
                self.resident -= 1;
                self.bytes = self.bytes.saturating_sub(kept_bytes);
                self.report.unloaded.push(Unloaded {
                    module: info.def.name().clone(),
                    bytes,
                });
                return Some(bytes);
            }
            // Unloaded elsewhere meanwhile: its bytes are no longer resident either.
            Unload::NotResident => {
                self.resident -= 1;
                self.bytes = self.bytes.saturating_sub(kept_bytes);
            }
            Unload::Kept(reason) => self.keep(info.def.name(), reason),
        }
        None
    }

    /// Loads `entry` ahead of the use predicted from its `last_use`, unless it was used
    /// since (the prediction is stale) or its last size would not fit in the memory
    /// budget: a guess is no reason to unload another module, so a pre-warm that comes in
    /// larger and does not fit is unloaded again. A failed load is counted as one, leaves
    /// it unloaded, and is not tried again before its next use (a loader that fails slowly
    /// would hold up every sweep of its window).
    fn prewarm(&mut self, shared: &Context, entry: &EntryRef, last_use: u64) {
        let info = entry.info();
        let fits = |bytes: u64| {
            shared
                .config
                .memory_budget
                .is_none_or(|budget| self.bytes.saturating_add(bytes) <= budget)
        };
        if !fits(info.last_bytes.load(Relaxed)) {
            return;
        }
        let loaded = match entry.prewarm(shared, last_use) {
            Ok(loaded) => loaded,
            Err(_) => {
                info.warmed_after.store(last_use, Relaxed);
                false
            }
        };
        if !loaded {
            return;
        }
        let bytes = info.bytes.load(Relaxed);
        if fits(bytes) {
            self.resident += 1;
            self.bytes += bytes;
            self.report.prewarmed.push(info.def.name().clone());
        } else if let Unload::Unloaded { bytes } = entry.unload(shared) {
            shared.reclaimed(bytes);
        }
    }

    fn keep(&mut self, module: &Name, reason: KeepReason) {
        self.blocked[reason as usize] += 1;
        self.report.kept.push(Kept {
            module: module.clone(),
            reason,
        });
    }

    fn over_budget(&self, shared: &Context) -> bool {
        shared
            .config
            .memory_budget
            .is_some_and(|budget| self.bytes.saturating_add(self.reserve.unwrap_or(0)) > budget)
    }

    /// The unload rule's verdict on `candidate` now; a module it keeps in its pre-warm
    /// window is marked as having reached it.
    fn verdict(&self, shared: &Context, candidate: &Candidate) -> Verdict {
        let facts = Facts::unheld(candidate.class);
        if self.over_budget(shared) {
            return rule::decide(&facts, Occasion::OverBudget);
        }
        let info = candidate.entry.info();
        // No schedule to compute for a module grace cannot keep.
        let grace = match rule::idleness_counts(candidate.class) {
            true => Grace::of(
                Duration::from_millis(self.now.saturating_sub(candidate.last_use)),
                schedule(shared, &candidate.entry, self.typical),
                || info.warmed_this_period(),
                || self.ahead(&candidate.entry),
            ),
            false => Grace::Past,
        };
        let occasion = Occasion::Sweep {
            grace,
            resident: self.resident,
            min_resident: shared.config.min_resident,
        };
        let verdict = rule::decide(&facts, occasion);
        if grace == Grace::EntersWindow && verdict == Verdict::Keep(KeepReason::WithinGrace) {
            info.warmed_after
                .store(info.last_use.load(Relaxed), Relaxed);
        }
        verdict
    }

    /// Whether `entry`, a module not resident, is due a pre-warm: a utility module used
    /// before and not pre-warmed (nor tried) since, whose schedule has it loaded before
    /// the next sweep (its load started early enough to be done) and kept past now.
    fn warm_due(&self, shared: &Context, entry: &EntryRef) -> bool {
        let info = entry.info();
        if info.def.class_of() != Class::Utility
            || info.loads.load(Relaxed) == 0
            || info.warmed_this_period()
        {
            return false;
        }
        let idle = Duration::from_millis(self.now.saturating_sub(info.last_use.load(Relaxed)));
        schedule(shared, entry, self.typical).in_window(idle, self.ahead(entry))
    }

    /// How far ahead of a predicted use this sweep loads `entry`: until the next sweep, if
    /// they keep their pace, and the time its last load took.
    fn ahead(&self, entry: &EntryRef) -> Duration {
        Duration::from_millis(self.lead + entry.info().load_ms.load(Relaxed))
    }
}

/// The mean of what `entries` kept at their last load, those loaded at least once, in
/// bytes; 0 without the counting allocator, where only inline sizes are known.
fn typical(entries: &[EntryRef]) -> u64 {
    if crate::memory::live_heap().is_none() {
        return 0;
    }
    let (mut sum, mut count) = (0u64, 0u64);
    for entry in entries {
        let bytes = entry.info().last_bytes.load(Relaxed);
        if bytes > 0 {
            sum = sum.saturating_add(bytes);
            count += 1;
        }
    }
    sum.checked_div(count).unwrap_or(0)
}

/// What the rules do with `entry` while it is idle: a module's own grace period, the
/// adaptive keep-alive's schedule (its price set against modules of `typical` bytes), or
/// the runtime's grace period.
fn schedule(shared: &Context, entry: &EntryRef, typical: u64) -> Schedule {
    let info = entry.info();
    if let Some(grace) = info.def.grace_of() {
        return Schedule::keep(grace);
    }
    match shared.config.adaptive {
        Some(adaptive) => {
            // Without the counting allocator only the state's inline size is known: treat
            // the size as unknown rather than tiny. A module not resident is as large as
            // its last load was.
            let measured = crate::memory::live_heap().is_some();
            let bytes = if measured {
                info.last_bytes.load(Relaxed)
            } else {
                0
            };
            adaptive.schedule(&info.gaps, bytes, typical, entry.can_prewarm())
        }
        None => Schedule::keep(shared.config.grace),
    }
}

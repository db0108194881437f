//! The figures: a snapshot of the runtime, each module and each operation, that prints as
//! a table and serialises (feature `serde`).

use crate::cache::CacheCounts;
use crate::def::{Class, OpDef};
use crate::heat::Heat;
use crate::name::Name;
use crate::outcome::{Bytes, KeepReason, Maybe};
use std::fmt;
use std::time::Duration;

/// How often each check kept a module, over the runtime's life.
///
/// ```
/// let blocked = lmms::Runtime::builder().build()?.stats().blocked;
/// assert_eq!(blocked.get(lmms::report::KeepReason::InUse), 0);
/// # Ok::<(), lmms::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Blocked {
    /// Kept because the module is [`Class::Core`].
    pub core: u64,
    /// Kept because a guard was alive.
    pub in_use: u64,
    /// Kept because the module was pinned.
    pub pinned: u64,
    /// Kept because something depended on it.
    pub dependents: u64,
    /// Kept because it was used within the grace period.
    pub within_grace: u64,
    /// Kept because no more than the minimum were resident.
    pub at_minimum: u64,
    /// Not unloaded because its load was in flight.
    pub loading: u64,
}

impl Blocked {
    /// The counts, each from `count` of its reason.
    pub(crate) fn by(count: impl Fn(KeepReason) -> u64) -> Blocked {
        Blocked {
            core: count(KeepReason::Core),
            in_use: count(KeepReason::InUse),
            pinned: count(KeepReason::Pinned),
            dependents: count(KeepReason::Dependents),
            within_grace: count(KeepReason::WithinGrace),
            at_minimum: count(KeepReason::AtMinimum),
            loading: count(KeepReason::Loading),
        }
    }

    /// The count for one reason.
    ///
    /// ```
    /// assert_eq!(lmms::report::Blocked::default().get(lmms::report::KeepReason::Core), 0);
    /// ```
    pub fn get(&self, reason: KeepReason) -> u64 {
        match reason {
            KeepReason::Core => self.core,
            KeepReason::InUse => self.in_use,
            KeepReason::Pinned => self.pinned,
            KeepReason::Dependents => self.dependents,
            KeepReason::WithinGrace => self.within_grace,
            KeepReason::AtMinimum => self.at_minimum,
            KeepReason::Loading => self.loading,
        }
    }
}

/// One module's figures.
///
/// ```
/// let runtime = lmms::Runtime::builder().build()?;
/// let m = runtime.register(lmms::ModuleDef::named("m"), || 0u8)?;
/// let stats = m.stats();
/// assert_eq!((stats.name.as_str(), stats.resident, stats.loads), ("m", false, 0));
/// # Ok::<(), lmms::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ModuleStats {
    /// The module's name.
    pub name: Name,
    /// Its class.
    pub class: Class,
    /// Whether its state is loaded.
    pub resident: bool,
    /// Heap bytes its state kept when loaded (0 when not resident); `None` without
    /// [`CountingAlloc`](crate::memory::CountingAlloc), the only way to measure them.
    pub bytes: Option<u64>,
    /// The bytes of its state when last measured, resident or not: what its last unload
    /// freed (exact: measured where the state was dropped), or what its last load kept if
    /// it has not been unloaded since or hands its state to an async close. The room its next load makes in the memory budget;
    /// `None` without the counting allocator or before its first load.
    pub size: Option<u64>,
    /// How long its last load took, in the runtime's time (`None` before its first).
    pub load_time: Option<Duration>,
    /// How long its last unload took to drop the state (or hand it to its close), in the
    /// runtime's time (`None` before its first).
    pub unload_time: Option<Duration>,
    /// Times its state was built.
    pub loads: u64,
    /// Of its loads, those the sweep made ahead of a predicted use
    /// ([`Adaptive::prewarm`](crate::tuning::Adaptive::prewarm)): no caller waited for them.
    pub prewarms: u64,
    /// Times its state was dropped.
    pub unloads: u64,
    /// Runtime time of its last use, if it was ever loaded.
    pub last_use: Option<Duration>,
    /// Guards alive now: users' and calls' (a hot operation's hold on its module is one
    /// of its `pins`).
    pub guards: usize,
    /// Pins alive now.
    pub pins: usize,
    /// Dependents alive now.
    pub dependents: usize,
}

/// A snapshot of a runtime: see [`Runtime::stats`](crate::Runtime::stats). Its `Display`
/// is an aligned table.
///
/// ```
/// let stats = lmms::Runtime::builder().build()?.stats();
/// assert!(stats.to_string().starts_with("lmms at "));
/// # Ok::<(), lmms::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Stats {
    /// The runtime's time when the snapshot was taken.
    pub at: Duration,
    /// States built.
    pub loads: u64,
    /// Of the loads, those the sweep made ahead of a predicted use
    /// ([`Adaptive::prewarm`](crate::tuning::Adaptive::prewarm)): `loads - prewarms` were on the
    /// request path.
    pub prewarms: u64,
    /// Loads that failed or panicked.
    pub load_failures: u64,
    /// States dropped.
    pub unloads: u64,
    /// Unloads whose state's `Drop` (or [`close`](crate::AsyncLoad::close)) panicked: the
    /// state is gone all the same.
    pub drop_panics: u64,
    /// Heap bytes kept by all loads.
    pub bytes_loaded: u64,
    /// Heap bytes freed by all unloads, as measured where each state was dropped: for a
    /// module with an async close, when the close ended.
    pub bytes_reclaimed: u64,
    /// Sweeps run.
    pub sweeps: u64,
    /// Sweeps cut short by a panic in user code they ran (a `tracing` layer, a `metrics`
    /// recorder): each left the runtime consistent, and a [`Reaper`](crate::tuning::Reaper) goes
    /// on sweeping after one.
    pub sweep_panics: u64,
    /// Modules unloaded to make room in the [memory
    /// budget](crate::tuning::Builder::memory_budget) for a load (counted in `unloads` too).
    pub budget_unloads: u64,
    /// Loads that took resident state over the memory budget because no idle module was
    /// left to unload: each went ahead (a load is never refused for the budget).
    pub over_budget_loads: u64,
    /// Times freed memory was handed back to the OS after unloads
    /// ([`Builder::trim_threshold`](crate::tuning::Builder::trim_threshold)): once per sweep or
    /// room-making that freed enough, once per unload asked for by name.
    pub trims: u64,
    /// What those took in all: glibc's trim walks every free block, so state of many
    /// small allocations costs most to give back.
    pub trim_time: Duration,
    /// Unloads refused, by the check that refused them.
    pub blocked: Blocked,
    /// Modules resident now.
    pub resident_modules: usize,
    /// Heap bytes held by resident modules now; `None` without
    /// [`CountingAlloc`](crate::memory::CountingAlloc).
    pub resident_bytes: Option<u64>,
    /// Live heap of the process, with [`CountingAlloc`](crate::memory::CountingAlloc).
    pub live_heap: Option<u64>,
    /// Resident set of the process, where the platform tells it.
    pub rss: Option<u64>,
    /// Operations on the direct path now.
    pub hot_paths: usize,
    /// Closes of unloaded modules that wait to be awaited by
    /// [`Runtime::closes`](crate::Runtime::closes).
    pub closing: usize,
    /// Direct calls counted (calls are counted until an operation is critical).
    pub direct_hits: u64,
    /// Promotions to warm, hot and critical, in that order.
    pub promotions: [u64; 3],
    /// Demotions from the direct path: cooled, evicted by the hot-path cap, then yielded
    /// to the memory budget (a load needed the room its module's pin kept).
    pub demotions: [u64; 3],
    /// Result cache totals over every operation.
    pub cache: CacheCounts,
    /// Every module's figures, in registration order.
    pub modules: Vec<ModuleStats>,
    /// Every operation's figures, in the order of their first calls.
    pub ops: Vec<OpStats>,
}

/// One operation's figures.
///
/// ```
/// # struct Ping;
/// # impl lmms::op::Operation for Ping {
/// #     type State = (); type Args = (); type Output = ();
/// #     fn source() -> lmms::op::Source<()> { lmms::op::Source::Stateless(&()) }
/// # }
/// # impl lmms::op::Body for Ping { fn run(_: &(), _: ()) {} }
/// static PING: lmms::op::Op<Ping> = lmms::op::Op::new(lmms::op::OpDef::new("health", "ping"));
/// let stats = PING.stats();
/// assert_eq!((stats.interface, stats.heat), ("health", lmms::report::Heat::Cold));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct OpStats {
    /// The operation's interface.
    pub interface: &'static str,
    /// Its name.
    pub name: &'static str,
    /// Its module, unless it is stateless.
    pub module: Option<Name>,
    /// Its heat now.
    pub heat: Heat,
    /// Calls in the current heat window: its heat, which each idle cooling window halves
    /// (frozen once critical).
    pub calls: u64,
    /// Calls counted since the operation was bound: managed calls, and direct calls until
    /// it turned critical (a critical operation's calls are not counted, so that its direct
    /// path writes nothing shared). Cache hits are in `cache`.
    pub calls_total: u64,
    /// Whether calls take the direct path now.
    pub hot_path: bool,
    /// Direct calls counted (until critical).
    pub direct_hits: u64,
    /// Promotions to warm, hot and critical.
    pub promotions: [u64; 3],
    /// Demotions from the direct path: cooled, evicted by the hot-path cap, then yielded
    /// to the memory budget (a load needed the room its module's pin kept).
    pub demotions: [u64; 3],
    /// Its result cache's totals, if it has one.
    pub cache: Option<CacheCounts>,
    /// Results cached now.
    pub cache_entries: usize,
}

impl Stats {
    /// What happened between `before` and this snapshot — what one invocation did: every
    /// counter (loads, unloads, bytes, sweeps, blocks, cache counts, promotions, demotions,
    /// direct hits; each module's loads and unloads) as the difference, every gauge
    /// (resident modules and bytes, live heap, RSS, hot paths; each module's residence and
    /// guards; each operation's heat) as it is now.
    ///
    /// ```
    /// let runtime = lmms::Runtime::builder().build()?;
    /// let m = runtime.register(lmms::ModuleDef::named("m"), || vec![0u8; 1024])?;
    /// drop(m.get()?);
    /// let before = runtime.stats();
    /// m.unload();
    /// drop(m.get()?);
    /// let invocation = runtime.stats().since(&before);
    /// assert_eq!((invocation.loads, invocation.unloads), (1, 1));
    /// assert_eq!(invocation.resident_modules, 1);
    /// # Ok::<(), lmms::Error>(())
    /// ```
    pub fn since(&self, before: &Stats) -> Stats {
        let minus = |now: u64, then: u64| now.saturating_sub(then);
        let pairwise = |now: &[u64], then: &[u64]| -> Vec<u64> {
            now.iter().zip(then).map(|(n, t)| minus(*n, *t)).collect()
        };
        let modules = self
            .modules
            .iter()
            .map(|module| {
                let then = before.modules.iter().find(|m| m.name == module.name);
                let (loads, prewarms, unloads) =
                    then.map_or((0, 0, 0), |m| (m.loads, m.prewarms, m.unloads));
                ModuleStats {
                    loads: minus(module.loads, loads),
                    prewarms: minus(module.prewarms, prewarms),
                    unloads: minus(module.unloads, unloads),
                    ..module.clone()
                }
            })
            .collect();
        let ops = self
            .ops
            .iter()
            .map(|op| {
                let then = before
                    .ops
                    .iter()
                    .find(|o| (o.interface, o.name) == (op.interface, op.name));
                let Some(then) = then else {
                    return op.clone();
                };
                let promotions = pairwise(&op.promotions, &then.promotions);
                let demotions = pairwise(&op.demotions, &then.demotions);
                OpStats {
                    direct_hits: minus(op.direct_hits, then.direct_hits),
                    calls_total: minus(op.calls_total, then.calls_total),
                    promotions: [promotions[0], promotions[1], promotions[2]],
                    demotions: [demotions[0], demotions[1], demotions[2]],
                    cache: op.cache.map(|c| c.since(&then.cache.unwrap_or_default())),
                    ..op.clone()
                }
            })
            .collect();
        let promotions = pairwise(&self.promotions, &before.promotions);
        let demotions = pairwise(&self.demotions, &before.demotions);
        let blocked = |reason| minus(self.blocked.get(reason), before.blocked.get(reason));
        Stats {
            at: self.at,
            loads: minus(self.loads, before.loads),
            prewarms: minus(self.prewarms, before.prewarms),
            load_failures: minus(self.load_failures, before.load_failures),
            unloads: minus(self.unloads, before.unloads),
            drop_panics: minus(self.drop_panics, before.drop_panics),
            bytes_loaded: minus(self.bytes_loaded, before.bytes_loaded),
            bytes_reclaimed: minus(self.bytes_reclaimed, before.bytes_reclaimed),
            sweeps: minus(self.sweeps, before.sweeps),
            sweep_panics: minus(self.sweep_panics, before.sweep_panics),
            budget_unloads: minus(self.budget_unloads, before.budget_unloads),
            over_budget_loads: minus(self.over_budget_loads, before.over_budget_loads),
            trims: minus(self.trims, before.trims),
            trim_time: self.trim_time.saturating_sub(before.trim_time),
            blocked: Blocked::by(blocked),
            direct_hits: minus(self.direct_hits, before.direct_hits),
            promotions: [promotions[0], promotions[1], promotions[2]],
            demotions: [demotions[0], demotions[1], demotions[2]],
            cache: self.cache.since(&before.cache),
            modules,
            ops,
            ..self.clone()
        }
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "lmms at {:.3}s: {} loads ({} failed), {} unloads, {} sweeps; {} loaded, {} reclaimed",
            self.at.as_secs_f64(),
            self.loads,
            self.load_failures,
            self.unloads,
            self.sweeps,
            Bytes(self.bytes_loaded),
            Bytes(self.bytes_reclaimed),
        )?;
        if self.prewarms > 0 {
            writeln!(
                f,
                "of the loads, {} pre-warms made ahead of a predicted use",
                self.prewarms
            )?;
        }
        if self.drop_panics + self.cache.panics + self.sweep_panics > 0 {
            writeln!(
                f,
                "panics in user code, contained: {} in states' drops, {} in cached keys and values, {} cut a sweep short",
                self.drop_panics, self.cache.panics, self.sweep_panics,
            )?;
        }
        write!(f, "unloads blocked:")?;
        for (i, reason) in KeepReason::ALL.into_iter().enumerate() {
            let sep = if i == 0 { " " } else { ", " };
            write!(f, "{sep}{reason} {}", self.blocked.get(reason))?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "resident: {} modules, {}; live heap {}, rss {}",
            self.resident_modules,
            Maybe(self.resident_bytes),
            Maybe(self.live_heap),
            Maybe(self.rss),
        )?;
        let header = [
            "module", "class", "resident", "bytes", "loads", "unloads", "last use", "guards",
            "pins", "deps",
        ];
        let rows: Vec<[String; 10]> = self
            .modules
            .iter()
            .map(|m| {
                [
                    m.name.to_string(),
                    m.class.to_string(),
                    if m.resident { "yes" } else { "no" }.to_owned(),
                    Maybe(m.bytes).to_string(),
                    m.loads.to_string(),
                    m.unloads.to_string(),
                    m.last_use
                        .map_or_else(|| "-".to_owned(), |t| format!("{:.3}s", t.as_secs_f64())),
                    m.guards.to_string(),
                    m.pins.to_string(),
                    m.dependents.to_string(),
                ]
            })
            .collect();
        table(f, header, &rows)?;
        if !self.ops.is_empty() {
            writeln!(
                f,
                "hot paths: {} now, {} direct calls counted, promotions warm {} hot {} critical {}, demotions cooled {} evicted {} for the budget {}; cache: {} hits, {} misses, {} expired, {} evicted",
                self.hot_paths,
                self.direct_hits,
                self.promotions[0],
                self.promotions[1],
                self.promotions[2],
                self.demotions[0],
                self.demotions[1],
                self.demotions[2],
                self.cache.hits,
                self.cache.misses,
                self.cache.expired,
                self.cache.evicted,
            )?;
            let header = [
                "operation",
                "module",
                "heat",
                "calls in window/total",
                "direct",
                "demoted cooled/evicted",
                "cache hit/miss",
                "entries",
            ];
            let rows: Vec<[String; 8]> = self
                .ops
                .iter()
                .map(|op| {
                    [
                        OpDef::new(op.interface, op.name).to_string(),
                        op.module
                            .as_ref()
                            .map_or_else(|| "-".to_owned(), Name::to_string),
                        format!("{}{}", op.heat, if op.hot_path { " (direct)" } else { "" }),
                        format!("{}/{}", op.calls, op.calls_total),
                        op.direct_hits.to_string(),
                        format!("{}/{}", op.demotions[0], op.demotions[1]),
                        op.cache
                            .map_or_else(|| "-".to_owned(), |c| format!("{}/{}", c.hits, c.misses)),
                        op.cache_entries.to_string(),
                    ]
                })
                .collect();
            table(f, header, &rows)?;
        }
        Ok(())
    }
}

/// Writes `rows` under `header` in left-aligned columns two spaces apart.
fn table<const N: usize>(
    f: &mut fmt::Formatter<'_>,
    header: [&str; N],
    rows: &[[String; N]],
) -> fmt::Result {
    let mut widths = header.map(str::len);
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let header = header.map(str::to_owned);
    for row in std::iter::once(&header).chain(rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        writeln!(f, "{}", line.join("  ").trim_end())?;
    }
    Ok(())
}

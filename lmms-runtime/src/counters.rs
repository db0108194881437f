//! The runtime's running totals, and the snapshot they make with every module's and
//! operation's figures.

use crate::cache::CacheCounts;
use crate::memory;
use crate::outcome::KeepReason;
use crate::stats::{Blocked, ModuleStats, OpStats, Stats};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

/// The runtime's running totals.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    loads: AtomicU64,
    prewarms: AtomicU64,
    load_failures: AtomicU64,
    unloads: AtomicU64,
    drop_panics: AtomicU64,
    bytes_loaded: AtomicU64,
    bytes_reclaimed: AtomicU64,
    /// Bytes freed by closes as they ended, wherever they ran (a spawner's executor).
    closed_bytes: Arc<AtomicU64>,
    sweeps: AtomicU64,
    sweep_panics: AtomicU64,
    budget_unloads: AtomicU64,
    over_budget_loads: AtomicU64,
    trims: AtomicU64,
    trim_nanos: AtomicU64,
    blocked: [AtomicU64; KeepReason::ALL.len()],
}

impl Counters {
    /// Every total back to zero (`lmms::testing`).
    #[cfg(feature = "testing")]
    pub(crate) fn reset(&self) {
        let blocked = self.blocked.iter();
        for counter in [
            &self.loads,
            &self.prewarms,
            &self.load_failures,
            &self.unloads,
            &self.drop_panics,
            &self.bytes_loaded,
            &self.bytes_reclaimed,
            &self.closed_bytes,
            &self.sweeps,
            &self.sweep_panics,
            &self.budget_unloads,
            &self.over_budget_loads,
            &self.trims,
            &self.trim_nanos,
        ]
        .into_iter()
        .chain(blocked)
        {
            counter.store(0, Relaxed);
        }
    }

    pub(crate) fn loaded(&self, bytes: u64) {
        self.loads.fetch_add(1, Relaxed);
        self.bytes_loaded.fetch_add(bytes, Relaxed);
    }

    /// A load was a pre-warm (counted in `loaded` as well).
    pub(crate) fn prewarmed(&self) {
        self.prewarms.fetch_add(1, Relaxed);
    }

    pub(crate) fn load_failed(&self) {
        self.load_failures.fetch_add(1, Relaxed);
    }

    pub(crate) fn unloaded(&self, bytes: u64, drop_panicked: bool) {
        self.unloads.fetch_add(1, Relaxed);
        self.bytes_reclaimed.fetch_add(bytes, Relaxed);
        if drop_panicked {
            self.drop_panics.fetch_add(1, Relaxed);
        }
    }

    /// Where a close books the bytes it freed when it ends.
    pub(crate) fn closed_bytes(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.closed_bytes)
    }

    /// A close awaited after its unload panicked: counted with the `Drop`s that panicked.
    pub(crate) fn close_panicked(&self) {
        self.drop_panics.fetch_add(1, Relaxed);
    }

    pub(crate) fn blocked(&self, reason: KeepReason) {
        self.blocked_by(reason, 1);
    }

    pub(crate) fn blocked_by(&self, reason: KeepReason, times: u64) {
        if times > 0 {
            self.blocked[reason as usize].fetch_add(times, Relaxed);
        }
    }

    pub(crate) fn swept(&self) {
        self.sweeps.fetch_add(1, Relaxed);
    }

    /// Unloads a load made to fit the memory budget (each also counted as an unload).
    pub(crate) fn budget_unloaded(&self, unloads: u64) {
        self.budget_unloads.fetch_add(unloads, Relaxed);
    }

    pub(crate) fn over_budget(&self) {
        self.over_budget_loads.fetch_add(1, Relaxed);
    }

    /// Freed memory handed back to the OS, which took `took`.
    pub(crate) fn trimmed(&self, took: Duration) {
        self.trims.fetch_add(1, Relaxed);
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.trim_nanos.fetch_add(nanos, Relaxed);
    }

    pub(crate) fn sweep_panicked(&self) {
        self.sweep_panics.fetch_add(1, Relaxed);
    }

    pub(crate) fn snapshot(
        &self,
        at: Duration,
        modules: Vec<ModuleStats>,
        ops: Vec<OpStats>,
        hot_paths: usize,
        closing: usize,
    ) -> Stats {
        let blocked = |reason: KeepReason| self.blocked[reason as usize].load(Relaxed);
        Stats {
            at,
            loads: self.loads.load(Relaxed),
            prewarms: self.prewarms.load(Relaxed),
            load_failures: self.load_failures.load(Relaxed),
            unloads: self.unloads.load(Relaxed),
            drop_panics: self.drop_panics.load(Relaxed),
            bytes_loaded: self.bytes_loaded.load(Relaxed),
            bytes_reclaimed: self.bytes_reclaimed.load(Relaxed) + self.closed_bytes.load(Relaxed),
            sweeps: self.sweeps.load(Relaxed),
            sweep_panics: self.sweep_panics.load(Relaxed),
            budget_unloads: self.budget_unloads.load(Relaxed),
            over_budget_loads: self.over_budget_loads.load(Relaxed),
            trims: self.trims.load(Relaxed),
            trim_time: Duration::from_nanos(self.trim_nanos.load(Relaxed)),
            blocked: Blocked::by(blocked),
            resident_modules: modules.iter().filter(|m| m.resident).count(),
            // Unknown without the counting allocator, even with no module to sum.
            resident_bytes: memory::live_heap().and(modules.iter().map(|m| m.bytes).sum()),
            live_heap: memory::live_heap(),
            rss: memory::rss(),
            hot_paths,
            closing,
            direct_hits: ops.iter().map(|op| op.direct_hits).sum(),
            promotions: ops.iter().fold([0; 3], |sum, op| {
                [
                    sum[0] + op.promotions[0],
                    sum[1] + op.promotions[1],
                    sum[2] + op.promotions[2],
                ]
            }),
            demotions: ops.iter().fold([0; 3], |sum, op| {
                [
                    sum[0] + op.demotions[0],
                    sum[1] + op.demotions[1],
                    sum[2] + op.demotions[2],
                ]
            }),
            cache: ops
                .iter()
                .filter_map(|op| op.cache)
                .fold(CacheCounts::default(), |sum, c| CacheCounts {
                    hits: sum.hits + c.hits,
                    misses: sum.misses + c.misses,
                    expired: sum.expired + c.expired,
                    evicted: sum.evicted + c.evicted,
                    panics: sum.panics + c.panics,
                }),
            modules,
            ops,
        }
    }
}

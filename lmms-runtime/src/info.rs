//! One module's bookkeeping, whatever its state's type: uses, loads, bytes, pins,
//! dependents and idle gaps — what the unload rules read.

use crate::cache::ResultCache;
use crate::config::Config;
use crate::def::ModuleDef;
use crate::gaps::IdleGaps;
use crate::rule::Facts;
use crate::sync::{lock, Mutex};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};

/// Runtime-side bookkeeping of one module, shared by all module kinds.
pub(crate) struct Info {
    pub(crate) def: ModuleDef,
    /// Runtime time of the last guard drop or load, in ms.
    pub(crate) last_use: AtomicU64,
    pub(crate) loads: AtomicU64,
    /// Loads made ahead of a predicted use.
    pub(crate) prewarms: AtomicU64,
    /// The `last_use` of the idle period it was last pre-warmed (or tried) in, or reached
    /// its pre-warm window resident in (`u64::MAX`: none): such a module is kept through
    /// its window and not pre-warmed again in it, whatever the sweeps' pace or an unload
    /// asked for meanwhile.
    pub(crate) warmed_after: AtomicU64,
    /// How long its last load took, in ms of the runtime's clock: how much earlier than
    /// its predicted use a pre-warm must start.
    pub(crate) load_ms: AtomicU64,
    /// How long its last unload took to drop the state (or hand it to its close), in ms of
    /// the runtime's clock.
    pub(crate) unload_ms: AtomicU64,
    pub(crate) unloads: AtomicU64,
    /// Heap bytes the current state kept when it was loaded.
    pub(crate) bytes: AtomicU64,
    /// Heap bytes its last load kept, resident or not: what its next load will need of the
    /// memory budget.
    pub(crate) last_bytes: AtomicU64,
    pub(crate) pins: AtomicUsize,
    /// Pins held by hot operations, each with a guard (so sweeps can tell them from users'
    /// guards).
    pub(crate) hot: AtomicUsize,
    pub(crate) dependents: AtomicUsize,
    /// The result caches of this module's operations: their entries depend on it.
    caches: Mutex<Vec<&'static dyn ResultCache>>,
    has_caches: AtomicBool,
    /// The idle gaps it has had, for the adaptive keep-alive.
    pub(crate) gaps: IdleGaps,
}

impl Info {
    /// Records a use at runtime time `at` (ms) unless a later one is recorded: how a
    /// demoted hot operation hands its direct calls' last use to the unload rules.
    pub(crate) fn touch(&self, at: u64) {
        self.last_use.fetch_max(at, Relaxed);
    }

    /// Whether it was pre-warmed (or tried), or reached its pre-warm window resident, in
    /// the idle period since its last use.
    pub(crate) fn warmed_this_period(&self) -> bool {
        self.warmed_after.load(Relaxed) == self.last_use.load(Relaxed)
    }

    crate::sync::const_fn! {
        pub(crate) const fn new(def: ModuleDef) -> Self {
            Info {
                def,
                last_use: AtomicU64::new(0),
                loads: AtomicU64::new(0),
                prewarms: AtomicU64::new(0),
                warmed_after: AtomicU64::new(u64::MAX),
                load_ms: AtomicU64::new(0),
                unload_ms: AtomicU64::new(0),
                unloads: AtomicU64::new(0),
                bytes: AtomicU64::new(0),
                last_bytes: AtomicU64::new(0),
                pins: AtomicUsize::new(0),
                hot: AtomicUsize::new(0),
                dependents: AtomicUsize::new(0),
                caches: Mutex::new(Vec::new()),
                has_caches: AtomicBool::new(false),
                gaps: IdleGaps::new(),
            }
        }
    }

    /// Back to a module never loaded (`lmms::testing`; the state is already gone).
    #[cfg(feature = "testing")]
    pub(crate) fn reset(&self) {
        for count in [
            &self.last_use,
            &self.loads,
            &self.prewarms,
            &self.load_ms,
            &self.unload_ms,
            &self.unloads,
            &self.bytes,
            &self.last_bytes,
        ] {
            count.store(0, Relaxed);
        }
        self.warmed_after.store(u64::MAX, Relaxed);
        self.gaps.reset();
    }

    /// Makes the entries of an operation's cache count as dependents of this module.
    pub(crate) fn attach_cache(&self, cache: &'static dyn ResultCache) {
        lock(&self.caches).push(cache);
        self.has_caches.store(true, Relaxed);
    }

    /// The caches of this module's operations, copied out of their lock: purging or
    /// clearing one drops user values, whose `Drop` may reach this module again.
    pub(crate) fn cache_list(&self) -> Vec<&'static dyn ResultCache> {
        if self.has_caches.load(Relaxed) {
            lock(&self.caches).clone()
        } else {
            Vec::new()
        }
    }

    /// Cached results of this module's operations held now (expired ones included until a
    /// sweep or an unload purges them).
    fn cached(&self) -> usize {
        if !self.has_caches.load(Relaxed) {
            return 0;
        }
        lock(&self.caches).iter().map(|cache| cache.len()).sum()
    }

    /// Drops the expired results of this module's operations.
    pub(crate) fn purge_caches(&self, now: u64) {
        for cache in self.cache_list() {
            cache.purge(now);
        }
    }

    /// Pins alive now, hot operations' included.
    pub(crate) fn pins(&self) -> usize {
        self.pins.load(Relaxed) + self.hot.load(Relaxed)
    }

    /// Dependents alive now, cached results included.
    pub(crate) fn dependents(&self) -> usize {
        self.dependents.load(Relaxed) + self.cached()
    }

    /// What the unload rule reads of it, `in_use` told by the caller (a guard count, or
    /// the cell's own take).
    pub(crate) fn facts(&self, config: &Config, in_use: bool) -> Facts {
        let pins = self.pins.load(Relaxed);
        let held = in_use || pins > 0;
        Facts {
            class: self.def.class_of(),
            in_use,
            pins,
            hot_pins: self.hot.load(Relaxed),
            depended_on: !held
                && (self.dependents.load(Relaxed) > 0
                    || (config.cache_keeps_modules && self.cached() > 0)),
        }
    }
}

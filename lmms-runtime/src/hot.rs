//! The hot path's bookkeeping, for every operation whatever its types: heat, promotion
//! counts, the hold that pins a hot operation's module, cooling, demotion and the cap on
//! hot paths. Compiled once for all operations rather than once per operation.

use crate::context::{Context, OpBinding, OpEntry};
use crate::def::OpDef;
use crate::dispatch::RawDirect;
use crate::error::{into_message, Error};
use crate::heat::Heat;
use crate::outcome::Demotion;
use crate::stats::OpStats;
use crate::sync::{lock, Mutex};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

/// Everything of an operation but its types: counters, heat, the direct path's address, the
/// hold that pins its module while hot. Cooling, demotion and statistics work on this alone,
/// so they are compiled once for all operations rather than once per operation (the
/// registry reaches every operation through this, and a generic vtable made rustc generate
/// them all for each).
pub(crate) struct OpCore {
    pub(crate) def: OpDef,
    /// Calls in the current heat window; frozen once critical.
    pub(crate) calls: AtomicU64,
    /// Counted calls that cooling took out of the window: with `calls`, the total.
    pub(crate) cooled: AtomicU64,
    /// Whether calls are still counted (false from critical on: no per-call counting).
    pub(crate) counting: AtomicBool,
    /// Runtime time (ms) of the last use while hot (the promotion, a direct call, a call
    /// that finished while hot): the hot-path LRU, and the last use a demotion hands to
    /// the module.
    pub(crate) last_hot_use: AtomicU64,
    /// The direct path's address, untyped; the `Op` reads it as its state's type.
    pub(crate) direct: RawDirect,
    /// While hot: the guard that pins the module, and the pin's count (a [`Hold`]).
    pub(crate) hold: Mutex<Option<Box<dyn Send>>>,
    pub(crate) binding: OpBinding,
    pub(crate) direct_hits: AtomicU64,
    pub(crate) promotions: [AtomicU64; 3],
    /// Demotions by cause: cooled, evicted by the hot-path cap, yielded to the budget.
    pub(crate) demotions: [AtomicU64; 3],
}

impl OpCore {
    crate::sync::const_fn! {
        pub(crate) const fn new(def: OpDef) -> Self {
            OpCore {
                def,
                calls: AtomicU64::new(0),
                cooled: AtomicU64::new(0),
                counting: AtomicBool::new(true),
                last_hot_use: AtomicU64::new(0),
                direct: RawDirect::new(),
                hold: Mutex::new(None),
                binding: OpBinding::new(),
                direct_hits: AtomicU64::new(0),
                promotions: [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)],
                demotions: [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)],
            }
        }
    }

    /// The error for a panic in this operation's body.
    #[cold]
    pub(crate) fn panicked(&self, payload: Box<dyn std::any::Any + Send>) -> Error {
        Error::OperationPanicked {
            operation: self.def.to_string(),
            message: into_message(payload),
        }
    }

    /// A promotion's event (nothing without the `tracing` feature).
    #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
    pub(crate) fn promoted(&self, from: &'static str, to: &'static str) {
        crate::trace::event!(
            tracing::Level::INFO,
            operation = %self.def,
            from,
            to,
            "promoted"
        );
    }

    /// Stamps a use while hot with the runtime's recent time: one relaxed load, and a store
    /// only when the time moved since the last call.
    #[inline]
    pub(crate) fn used_hot(&self) {
        if let Some(shared) = self.binding.runtime.get() {
            let now = shared.time.recent();
            if self.last_hot_use.load(Relaxed) != now {
                self.last_hot_use.store(now, Relaxed);
            }
        }
    }

    pub(crate) fn heat(&self) -> Heat {
        let thresholds = self
            .binding
            .runtime
            .get()
            .map_or_else(Default::default, |shared| shared.config.heat);
        thresholds.level(self.calls.load(Relaxed))
    }
}

impl OpEntry for OpCore {
    #[cfg(feature = "testing")]
    fn reset(&'static self, shared: &Context) {
        self.demote(shared, Demotion::Cooled);
        if let Some(cache) = self.cache() {
            cache.reset();
        }
        let counts = self.promotions.iter().chain(&self.demotions);
        for count in [
            &self.calls,
            &self.cooled,
            &self.last_hot_use,
            &self.direct_hits,
        ]
        .into_iter()
        .chain(counts)
        {
            count.store(0, Relaxed);
        }
        self.counting.store(true, Relaxed);
    }

    fn def(&self) -> &OpDef {
        &self.def
    }

    fn binding(&self) -> &OpBinding {
        &self.binding
    }

    fn stats(&'static self) -> OpStats {
        let cache = self.cache();
        OpStats {
            interface: self.def.interface(),
            name: self.def.name(),
            module: self.binding.module().map(|info| info.def.name().clone()),
            heat: self.heat(),
            calls: self.calls.load(Relaxed),
            calls_total: self.calls.load(Relaxed) + self.cooled.load(Relaxed),
            hot_path: self.direct.is_published(),
            direct_hits: self.direct_hits.load(Relaxed),
            promotions: [
                self.promotions[0].load(Relaxed),
                self.promotions[1].load(Relaxed),
                self.promotions[2].load(Relaxed),
            ],
            demotions: [
                self.demotions[0].load(Relaxed),
                self.demotions[1].load(Relaxed),
                self.demotions[2].load(Relaxed),
            ],
            cache: cache.map(|cache| cache.counts()),
            cache_entries: cache.map_or(0, |cache| cache.len()),
        }
    }

    fn is_hot(&self) -> bool {
        self.direct.is_published()
    }

    fn last_hot_use(&self) -> u64 {
        self.last_hot_use.load(Relaxed)
    }

    fn cool(&'static self, shared: &Context, windows: u64, since: u64) {
        // A window in which the operation was used while hot does not count against its
        // heat. Uses are stamped with the time of the last refresh, which a use inside the
        // window may share with the window's start: a stamp at the start counts as a use in
        // it (at worst, a use at the very end of the window before counts twice, and the
        // path stays hot a window longer).
        let used = self.is_hot() && self.last_hot_use.load(Relaxed) >= since;
        let halvings = if used { windows - 1 } else { windows };
        let before = self.calls.load(Relaxed);
        let calls = before >> halvings.min(63);
        // What cooling takes from the window stays in the total.
        self.cooled.fetch_add(before - calls, Relaxed);
        self.calls.store(calls, Relaxed);
        let heat = shared.config.heat;
        if calls < heat.critical() {
            self.counting.store(true, Relaxed);
        }
        if calls < heat.cool_below() {
            self.demote(shared, Demotion::Cooled);
        }
    }

    fn demote(&'static self, shared: &Context, cause: Demotion) -> bool {
        let retiring = {
            let mut hold = lock(&self.hold);
            let Some(held) = hold.take() else {
                return false;
            };
            // Switch back first (under the lock, so no promotion interleaves), then free the
            // place under the cap, so no more paths than the cap are ever published ...
            let retiring = self.direct.withdraw(held);
            shared.hot_paths.fetch_sub(1, Relaxed);
            // ... then unpin once no direct call can be reading the state: `retiring` owns
            // the hold from here, and retires it when dropped, by the end of this function
            // or by an unwind through what follows.
            retiring
        };
        if let Some(info) = self.binding.module() {
            // Direct calls stamp no module use; their last one does, now.
            info.touch(self.last_hot_use.load(Relaxed));
        }
        drop(retiring);
        self.demotions[cause as usize].fetch_add(1, Relaxed);
        crate::trace::event!(
            tracing::Level::INFO,
            operation = %self.def,
            from = "hot",
            to = "warm",
            why = match cause {
                Demotion::Cooled => "cooled",
                Demotion::Evicted => "evicted by the hot-path cap",
                Demotion::Budget => "its module's room was needed in the memory budget",
            },
            "demoted"
        );
        true
    }
}

/// Reserves a place under the hot-path cap for `promoting`, demoting the least recently
/// used other hot operation while the cap is full (least recently used first). The count
/// only ever moves by a compare-and-swap from below the cap, so however many promotions
/// race, no more than the cap are hot. `false` if `promoting` turned hot meanwhile.
pub(crate) fn reserve(shared: &Context, promoting: &'static dyn OpEntry) -> bool {
    let cap = shared.config.max_hot_paths;
    loop {
        if promoting.is_hot() {
            // Promoted meanwhile by another thread: evict nobody for it.
            return false;
        }
        let hot = shared.hot_paths.load(Relaxed);
        if hot < cap {
            if shared
                .hot_paths
                .compare_exchange_weak(hot, hot + 1, Relaxed, Relaxed)
                .is_ok()
            {
                return true;
            }
            continue;
        }
        let victim = shared
            .ops()
            .iter()
            .filter(|op| op.is_hot() && !std::ptr::addr_eq(*op, promoting))
            .min_by_key(|op| op.last_hot_use())
            .copied();
        match victim {
            // Demoted by us or by a racing demotion: either way a place may be free now.
            Some(victim) => {
                victim.demote(shared, Demotion::Evicted);
            }
            // The cap is full but no other path is published: one is between its
            // reservation and its publication, or between its withdrawal and freeing
            // its place. Neither step runs user code or waits, so this ends; giving up
            // instead would lose the promotion, as heat crosses the threshold once.
            None => std::thread::yield_now(),
        }
    }
}

/// Demotes the least recently used hot operation of one of `held`, the modules (their
/// bookkeeping's addresses) that room-making found kept by hot paths alone: the memory
/// budget outranks the hot path. Whether it demoted one.
pub(crate) fn yield_to_budget(shared: &Context, held: &[usize]) -> bool {
    let unpinnable = |op: &&&'static dyn OpEntry| {
        op.binding()
            .module()
            .is_some_and(|info| held.contains(&(info as *const _ as usize)))
    };
    let victim = shared
        .ops()
        .iter()
        .filter(|op| op.is_hot())
        .filter(unpinnable)
        .min_by_key(|op| op.last_hot_use())
        .copied();
    let Some(victim) = victim else {
        return false;
    };
    victim.demote(shared, Demotion::Budget);
    // Its hold is released now, or once the direct calls in it have left.
    crate::dispatch::drain();
    true
}

/// Applies the cooling windows that ended since the last call: each halves the heat of
/// every operation not used while hot in it, and demotes the ones that fell below the
/// cooling threshold. Of sweeps racing over the same windows, one applies them.
pub(crate) fn cool(shared: &Context, now: u64) {
    let window = crate::clock::millis(shared.config.cool_every).max(1);
    let since = shared.cooled_until.load(Relaxed);
    let windows = now.saturating_sub(since) / window;
    if windows == 0
        || shared
            .cooled_until
            .compare_exchange(since, since + windows * window, Relaxed, Relaxed)
            .is_err()
    {
        return;
    }
    // Every operation gets these windows, even if user code run by one's demotion (a
    // tracing layer) panics; the first panic goes on once all are cooled.
    let ops = shared.ops();
    let mut panicked = None;
    for op in ops {
        if let Err(payload) =
            panic::catch_unwind(AssertUnwindSafe(|| op.cool(shared, windows, since)))
        {
            panicked.get_or_insert(payload);
        }
    }
    if let Some(payload) = panicked {
        panic::resume_unwind(payload);
    }
}

//! What every call reads of its runtime — the settings, the time, the counters, the
//! operations and their hot paths — and the runtime's module list; and binding, the one
//! place where a static module or operation is tied to the runtime it reports to.
//!
//! A module points at its runtime's [`Context`], never at the module list: a run-time
//! module is held by the list and holds the context, so no reference cycle forms.

use crate::cache::ResultCache;
use crate::clock::{Clock, Time};
use crate::config::Config;
use crate::counters::Counters;
use crate::def::{ModuleDef, OpDef};
use crate::error::Error;
use crate::info::Info;
use crate::memory;
use crate::name::Name;
use crate::outcome::{Demotion, Unload};
use crate::stats::{ModuleStats, OpStats};
use crate::sync::{lock, Mutex, MutexGuard};
use std::collections::HashSet;
use std::future::Future;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The rest of a module's close, to be awaited: what [`AsyncLoad::close`](crate::AsyncLoad::close)
/// returns to finish closing with `.await`s.
///
/// ```
/// let closing: lmms::state::Closing = Box::pin(async { /* flush, disconnect */ });
/// # drop(closing);
/// ```
pub type Closing = std::pin::Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// What a module or an operation needs of its runtime on every call.
pub(crate) struct Context {
    pub(crate) config: Config,
    pub(crate) time: Time,
    pub(crate) counters: Counters,
    /// Every operation that reports here, in the order they were bound.
    ops: Mutex<Vec<&'static dyn OpEntry>>,
    /// Operations on the direct path now.
    pub(crate) hot_paths: AtomicUsize,
    /// Runtime time (ms) at which the last cooling window ended.
    pub(crate) cooled_until: AtomicU64,
    /// Runtime time (ms) of the last sweep, 0 before the first: how far ahead a sweep
    /// pre-warms (until the next one, if they keep their pace).
    pub(crate) last_sweep: AtomicU64,
    /// Closes of unloaded modules that wait to be awaited (`Runtime::closes`).
    closing: Mutex<Vec<Closing>>,
    /// Where closes go instead, once set (`Runtime::spawn_closes`).
    pub(crate) spawn: OnceLock<fn(Closing)>,
    /// Every module bound here: here rather than in [`RuntimeInner`] so that a load can make room
    /// in the memory budget.
    modules: Mutex<Modules>,
    /// The figures last published through the `metrics` facade, which gets what each
    /// count gained since.
    #[cfg(feature = "metrics")]
    pub(crate) published: Mutex<Option<crate::stats::Stats>>,
}

impl Context {
    /// The operations bound here, copied out of their lock: what is done with them runs
    /// user code (a demotion's event, a cached value's `Drop`), which may bind another.
    pub(crate) fn ops(&self) -> Vec<&'static dyn OpEntry> {
        lock(&self.ops).clone()
    }

    /// The module list, under its lock, which no user code runs under.
    pub(crate) fn modules(&self) -> MutexGuard<'_, impl Deref<Target = Vec<EntryRef>>> {
        lock(&self.modules)
    }

    /// Drops the expired entries of every operation's cache.
    pub(crate) fn purge_caches(&self, now: u64) {
        for cache in self.ops().iter().filter_map(|op| op.cache()) {
            cache.purge(now);
        }
    }

    pub(crate) fn op_stats(&self) -> Vec<OpStats> {
        self.ops().iter().map(|op| op.stats()).collect()
    }

    /// Hands the rest of an unloaded module's close to the spawner, if one is set, or
    /// queues it for the next `Runtime::closes`. A spawner that panics loses the close,
    /// which is counted with the panicking `Drop`s.
    pub(crate) fn close_later(&self, closing: Closing) {
        let closing = memory::measure_close(closing, self.counters.closed_bytes());
        match self.spawn.get() {
            Some(spawn) => {
                let spawned =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| spawn(closing)));
                if let Err(payload) = spawned {
                    crate::error::drop_payload(payload);
                    self.counters.close_panicked();
                }
            }
            None => lock(&self.closing).push(closing),
        }
    }

    /// The closes queued so far, taken out of the queue.
    pub(crate) fn take_closing(&self) -> Vec<Closing> {
        std::mem::take(&mut *lock(&self.closing))
    }

    /// How many closes wait to be awaited.
    pub(crate) fn closing(&self) -> usize {
        lock(&self.closing).len()
    }

    /// Hands memory back to the OS after unloads that freed `bytes`, if that is enough.
    pub(crate) fn reclaimed(&self, bytes: u64) {
        if self.config.trim_threshold.is_some_and(|at| bytes >= at) {
            let began = std::time::Instant::now();
            memory::trim();
            self.counters.trimmed(began.elapsed());
        }
    }

    /// Binds a static operation to this runtime unless it is bound already; returns the
    /// runtime it is bound to and whether it was bound just now. `module` and `cache` are
    /// the operation's, read by the caller before anything is set (reading them runs user
    /// code, which may panic): the module's bookkeeping, and the cache whose entries then
    /// depend on that module.
    pub(crate) fn bind_op(
        self: &Arc<Self>,
        op: &'static dyn OpEntry,
        module: Option<&'static Info>,
        cache: Option<&'static dyn ResultCache>,
    ) -> (&'static Context, bool) {
        let binding = op.binding();
        let mut fresh = false;
        let bound = binding.runtime.get_or_init(|| {
            fresh = true;
            Arc::clone(self)
        });
        if fresh {
            let _ = binding.module.set(module);
            lock(&bound.ops).push(op);
            if let Some(cache) = cache {
                let _ = binding.cache.set(cache);
                if let Some(module) = module {
                    module.attach_cache(cache);
                }
            }
        }
        (bound, fresh)
    }
}

/// Where an operation records its runtime, and what it learnt when it was bound.
pub(crate) struct OpBinding {
    pub(crate) runtime: OnceLock<Arc<Context>>,
    /// The operation's module, if it has one, so that no later step (a demotion, the
    /// stats) runs `Operation::source`.
    pub(crate) module: OnceLock<Option<&'static Info>>,
    pub(crate) cache: OnceLock<&'static dyn ResultCache>,
}

impl OpBinding {
    pub(crate) const fn new() -> Self {
        OpBinding {
            runtime: OnceLock::new(),
            module: OnceLock::new(),
            cache: OnceLock::new(),
        }
    }

    /// The operation's module's bookkeeping, once it is bound.
    pub(crate) fn module(&self) -> Option<&'static Info> {
        self.module.get().copied().flatten()
    }
}

/// What the runtime needs of an operation whatever its types: stats, cooling and the
/// hot-path cap.
pub(crate) trait OpEntry: Send + Sync {
    fn def(&self) -> &OpDef;
    fn binding(&self) -> &OpBinding;
    fn stats(&'static self) -> OpStats;
    fn is_hot(&self) -> bool;
    /// The runtime time of its last use while hot: the hot-path LRU's key.
    fn last_hot_use(&self) -> u64;
    /// Applies `windows` cooling windows, the first of which began at `since`; demotes if
    /// the heat fell.
    fn cool(&'static self, shared: &Context, windows: u64, since: u64);
    /// Switches the direct path off, then releases the pin once no call can be in it.
    fn demote(&'static self, shared: &Context, cause: Demotion) -> bool;

    fn cache(&self) -> Option<&'static dyn ResultCache> {
        self.binding().cache.get().copied()
    }

    /// Back to an operation never called: demoted, its cache cleared, its heat and counts
    /// at zero (`lmms::testing`).
    #[cfg(feature = "testing")]
    fn reset(&'static self, shared: &Context);
}

/// What the runtime needs of a module whatever its state type: the sweep's view.
pub(crate) trait Entry: Send + Sync {
    fn info(&self) -> &Info;
    /// Where a static module records its runtime.
    fn runtime(&self) -> &OnceLock<Arc<Context>>;
    fn guards(&self) -> usize;
    fn is_resident(&self) -> bool;
    fn unload(&self, shared: &Context) -> Unload;
    /// Whether the sweep can load it ahead of a predicted use: its load is not async.
    fn can_prewarm(&self) -> bool;
    /// Loads the state ahead of the use predicted from `last_use`, if it was not used since,
    /// is not resident and its load can run here; whether this call loaded it.
    fn prewarm(&self, shared: &Context, last_use: u64) -> Result<bool, Error>;

    fn stats(&self) -> ModuleStats {
        let info = self.info();
        let resident = self.is_resident();
        let loads = info.loads.load(Relaxed);
        ModuleStats {
            name: info.def.name().clone(),
            class: info.def.class_of(),
            resident,
            // Without the counting allocator only the state's inline size is known, which
            // says nothing of what it holds.
            bytes: memory::live_heap().map(|_| {
                if resident {
                    info.bytes.load(Relaxed)
                } else {
                    0
                }
            }),
            size: memory::live_heap()
                .filter(|_| loads > 0)
                .map(|_| info.last_bytes.load(Relaxed)),
            load_time: (loads > 0).then(|| Duration::from_millis(info.load_ms.load(Relaxed))),
            unload_time: (info.unloads.load(Relaxed) > 0)
                .then(|| Duration::from_millis(info.unload_ms.load(Relaxed))),
            loads,
            prewarms: info.prewarms.load(Relaxed),
            unloads: info.unloads.load(Relaxed),
            last_use: (loads > 0).then(|| Duration::from_millis(info.last_use.load(Relaxed))),
            // A hot path holds a guard of its own: it shows as the pin it is.
            guards: self.guards().saturating_sub(info.hot.load(Relaxed)),
            pins: info.pins(),
            dependents: info.dependents(),
        }
    }
}

/// A module in a runtime's list: a static one by reference, a run-time one shared with
/// its handles.
#[derive(Clone)]
pub(crate) enum EntryRef {
    Static(&'static dyn Entry),
    Shared(Arc<dyn Entry>),
}

impl Deref for EntryRef {
    type Target = dyn Entry;

    fn deref(&self) -> &(dyn Entry + 'static) {
        match self {
            EntryRef::Static(entry) => *entry,
            EntryRef::Shared(entry) => &**entry,
        }
    }
}

/// A runtime: its context and its modules. [`Runtime`](crate::Runtime) is the public
/// handle on one.
pub(crate) struct RuntimeInner {
    pub(crate) shared: Arc<Context>,
}

#[derive(Default)]
struct Modules {
    entries: Vec<EntryRef>,
    names: HashSet<Name>,
}

static GLOBAL: OnceLock<Arc<RuntimeInner>> = OnceLock::new();

impl RuntimeInner {
    pub(crate) fn new(config: Config, clock: Clock) -> Self {
        if config.trim_threshold.is_some() {
            memory::give_back_promptly();
        }
        RuntimeInner {
            shared: Arc::new(Context {
                config,
                time: Time::new(clock),
                counters: Counters::default(),
                ops: Mutex::default(),
                hot_paths: AtomicUsize::new(0),
                cooled_until: AtomicU64::new(0),
                last_sweep: AtomicU64::new(0),
                closing: Mutex::default(),
                spawn: OnceLock::new(),
                modules: Mutex::default(),
                #[cfg(feature = "metrics")]
                published: Mutex::default(),
            }),
        }
    }

    /// The process-wide runtime, with the default settings unless one was set first.
    pub(crate) fn global() -> &'static Arc<RuntimeInner> {
        RuntimeInner::global_or(|| RuntimeInner::new(Config::default(), Clock::system()))
    }

    /// The process-wide runtime, `init`'s unless one was set or built first.
    pub(crate) fn global_or(init: impl FnOnce() -> RuntimeInner) -> &'static Arc<RuntimeInner> {
        GLOBAL.get_or_init(|| Arc::new(init()))
    }

    pub(crate) fn set_global(home: Arc<RuntimeInner>) -> Result<(), Error> {
        GLOBAL.set(home).map_err(|_| Error::GlobalAlreadySet)
    }

    /// The module list, under its lock, which no user code runs under.
    pub(crate) fn modules(&self) -> MutexGuard<'_, impl Deref<Target = Vec<EntryRef>>> {
        self.shared.modules()
    }

    pub(crate) fn entries(&self) -> Vec<EntryRef> {
        self.shared.modules().to_vec()
    }

    /// Binds a static module to this runtime unless it is bound already; returns the
    /// runtime it is bound to and whether it was bound just now. A name the runtime has
    /// is [`Error::DuplicateModule`].
    pub(crate) fn bind(
        &self,
        module: &'static dyn Entry,
    ) -> Result<(&'static Arc<Context>, bool), Error> {
        let mut modules = lock(&self.shared.modules);
        if let Some(shared) = module.runtime().get() {
            return Ok((shared, false));
        }
        let def = &module.info().def;
        let name = def.name();
        modules.claim(def)?;
        let mut fresh = false;
        let bound = module.runtime().get_or_init(|| {
            fresh = true;
            Arc::clone(&self.shared)
        });
        if fresh {
            modules.entries.push(EntryRef::Static(module));
        } else {
            modules.names.remove(name.as_str());
        }
        Ok((bound, fresh))
    }

    /// Adds a run-time module that `make` builds on this runtime's context, under a name
    /// no other module here has.
    pub(crate) fn register<H>(
        &self,
        def: &ModuleDef,
        make: impl FnOnce(&Arc<Context>) -> (H, Arc<dyn Entry>),
    ) -> Result<H, Error> {
        let mut modules = lock(&self.shared.modules);
        modules.claim(def)?;
        let (handle, entry) = make(&self.shared);
        modules.entries.push(EntryRef::Shared(entry));
        Ok(handle)
    }
}

impl Drop for RuntimeInner {
    /// The module list lives in [`Context`], which a run-time module's entry holds in turn:
    /// the list is emptied when its runtime goes, so that the two do not keep each other
    /// alive. The entries drop after the lock is released (a state's `Drop` may use lmms).
    fn drop(&mut self) {
        let entries = std::mem::take(&mut lock(&self.shared.modules).entries);
        drop(entries);
    }
}

impl Deref for Modules {
    type Target = Vec<EntryRef>;

    fn deref(&self) -> &Vec<EntryRef> {
        &self.entries
    }
}

impl Modules {
    fn claim(&mut self, def: &ModuleDef) -> Result<(), Error> {
        if self.names.insert(def.name().clone()) {
            return Ok(());
        }
        let first = self
            .entries
            .iter()
            .map(|entry| &entry.info().def)
            .find(|first| first.name() == def.name());
        Err(Error::DuplicateModule {
            name: def.name().to_string(),
            places: first.into_iter().chain([def]).map(place).collect(),
        })
    }
}

/// Where a module is declared, as `file:line`.
pub(crate) fn place(def: &ModuleDef) -> String {
    let (file, line) = def.location();
    format!("{file}:{line}")
}

//! The runtime: the modules it manages, its policy, clock and statistics.

use crate::cache::CachePolicy;
use crate::clock::{Clock, Time};
use crate::config::{Builder, Config};
use crate::error::{BoxError, Error};
use crate::memory;
use crate::module::{Entry, Handle, ModuleCell, ModuleDef};
use crate::name::Name;
use crate::operation::{Demotion, Op, OpEntry, Operation};
use crate::policy::{Sweep, SweepReport};
use crate::stats::OpStats;
use crate::stats::{Counters, Stats};
use std::collections::HashSet;
use std::convert::Infallible;
use std::fmt;
use std::ops::Deref;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

/// One lmms runtime: a set of modules under one unload policy, one clock and one set of
/// statistics.
///
/// Static modules belong to the process-wide [`Runtime::global`], which they join on their
/// first get. Tests, replays and plugin hosts build their own with [`Runtime::builder`]
/// and [`register`](Runtime::register) modules at run time, or [`add`](Runtime::add)
/// static ones before their first use.
///
/// ```
/// use lmms::{ManualClock, ModuleDef, Runtime};
/// use std::time::Duration;
///
/// let clock = ManualClock::new();
/// let runtime = Runtime::builder().clock(clock.clone()).min_resident(0).build()?;
/// let table = runtime.register(ModuleDef::named("table"), || vec![0u64; 1024])?;
///
/// drop(table.get()?);
/// assert!(runtime.sweep().unloaded.is_empty()); // within its 30 s grace period
/// clock.advance(Duration::from_secs(30));
/// assert_eq!(runtime.sweep().unloaded[0].module, "table");
/// assert!(!table.is_resident());
/// # Ok::<(), lmms::Error>(())
/// ```
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    modules: Mutex<Modules>,
}

#[derive(Default)]
struct Modules {
    entries: Vec<EntryRef>,
    names: HashSet<Name>,
}

/// A registered module: a static one by reference, a run-time one shared with its handles.
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

/// What a module needs of its runtime on every call: kept apart from the module list so
/// that modules can point at it without a reference cycle.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) time: Time,
    pub(crate) counters: Counters,
    /// Every operation that reports here, in the order of their first calls.
    ops: Mutex<Vec<&'static dyn OpEntry>>,
    /// Operations on the direct path now.
    pub(crate) hot_paths: AtomicUsize,
    /// Runtime time (ms) at which the last cooling window ended.
    cooled_until: AtomicU64,
}

impl Shared {
    fn ops(&self) -> MutexGuard<'_, Vec<&'static dyn OpEntry>> {
        self.ops
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn register_op(&self, op: &'static dyn OpEntry) {
        self.ops().push(op);
    }

    /// Reserves a place under the hot-path cap for `promoting`, demoting the least recently
    /// used other hot operation while the cap is full (the seed's LRU eviction). The count
    /// only ever moves by a compare-and-swap from below the cap, so however many promotions
    /// race, no more than the cap are hot. `false` if `promoting` turned hot meanwhile.
    pub(crate) fn reserve_hot_path(&self, promoting: &'static dyn OpEntry) -> bool {
        let cap = self.config.max_hot_paths;
        loop {
            if promoting.is_hot() {
                // Promoted meanwhile by another thread: evict nobody for it.
                return false;
            }
            let hot = self.hot_paths.load(Relaxed);
            if hot < cap {
                if self
                    .hot_paths
                    .compare_exchange_weak(hot, hot + 1, Relaxed, Relaxed)
                    .is_ok()
                {
                    return true;
                }
                continue;
            }
            let victim = self
                .ops()
                .iter()
                .filter(|op| op.is_hot() && !std::ptr::addr_eq(**op, promoting))
                .min_by_key(|op| op.last_hot_use())
                .copied();
            match victim {
                // Demoted by us or by a racing demotion: either way a place may be free now.
                Some(victim) => {
                    victim.demote(self, Demotion::Evicted);
                }
                // The cap is full but no other path is published: one is between its
                // reservation and its publication, or between its withdrawal and freeing
                // its place. Neither step runs user code or waits, so this ends; giving up
                // instead would lose the promotion, as heat crosses the threshold once.
                None => std::thread::yield_now(),
            }
        }
    }

    /// Applies the cooling windows that ended since the last call: each halves the heat of
    /// every operation not used while hot in it, and demotes the ones that fell below the
    /// cooling threshold. Of sweeps racing over the same windows, one applies them.
    pub(crate) fn cool(&self, now: u64) {
        let window = crate::clock::millis(self.config.cool_every).max(1);
        let since = self.cooled_until.load(Relaxed);
        let windows = now.saturating_sub(since) / window;
        if windows == 0
            || self
                .cooled_until
                .compare_exchange(since, since + windows * window, Relaxed, Relaxed)
                .is_err()
        {
            return;
        }
        // Every operation gets these windows, even if user code run by one's demotion (a
        // tracing layer) panics; the first panic goes on once all are cooled.
        let ops = self.ops().clone();
        let mut panicked = None;
        for op in ops {
            if let Err(payload) =
                panic::catch_unwind(AssertUnwindSafe(|| op.cool(self, windows, since)))
            {
                panicked.get_or_insert(payload);
            }
        }
        if let Some(payload) = panicked {
            panic::resume_unwind(payload);
        }
    }

    /// Drops the expired entries of every operation's cache.
    pub(crate) fn purge_caches(&self, now: u64) {
        let ops = self.ops().clone();
        for cache in ops.iter().filter_map(|op| op.cache()) {
            cache.purge(now);
        }
    }

    pub(crate) fn op_stats(&self) -> Vec<OpStats> {
        let ops = self.ops().clone();
        ops.iter().map(|op| op.stats()).collect()
    }

    /// Hands memory back to the OS after unloads that freed `bytes`, if that is enough.
    pub(crate) fn reclaimed(&self, bytes: u64) {
        if self.config.trim_threshold.is_some_and(|at| bytes >= at) {
            memory::trim();
        }
    }
}

static GLOBAL: OnceLock<Runtime> = OnceLock::new();

impl Runtime {
    /// A builder with the seed's defaults: grace 30 s, 8 modules kept resident, no memory
    /// budget, the system clock.
    ///
    /// ```
    /// let runtime = lmms::Runtime::builder().build()?;
    /// assert_eq!(runtime.config(), &lmms::Config::default());
    /// # Ok::<(), lmms::Error>(())
    /// ```
    pub fn builder() -> Builder {
        Builder::default()
    }

    pub(crate) fn new(config: Config, clock: Clock) -> Self {
        Runtime {
            inner: Arc::new(Inner {
                shared: Arc::new(Shared {
                    config,
                    time: Time::new(clock),
                    counters: Counters::default(),
                    ops: Mutex::default(),
                    hot_paths: AtomicUsize::new(0),
                    cooled_until: AtomicU64::new(0),
                }),
                modules: Mutex::default(),
            }),
        }
    }

    /// The process-wide runtime that static modules join on first use. Created with the
    /// defaults the first time it is needed, unless [`Runtime::set_global`] came first.
    ///
    /// ```
    /// let stats = lmms::Runtime::global().stats();
    /// assert_eq!(stats.loads, 0);
    /// ```
    pub fn global() -> &'static Runtime {
        GLOBAL.get_or_init(|| Runtime::new(Config::default(), Clock::system()))
    }

    /// Makes `runtime` the global one. Call it at the start of `main`, before any static
    /// module is used; afterwards it answers [`Error::GlobalAlreadySet`].
    ///
    /// ```
    /// let runtime = lmms::Runtime::builder().grace(std::time::Duration::from_secs(600)).build()?;
    /// lmms::Runtime::set_global(runtime)?;
    /// assert_eq!(lmms::Runtime::global().config().grace().as_secs(), 600);
    /// # Ok::<(), lmms::Error>(())
    /// ```
    pub fn set_global(runtime: Runtime) -> Result<(), Error> {
        GLOBAL.set(runtime).map_err(|_| Error::GlobalAlreadySet)
    }

    /// The runtime's settings.
    ///
    /// ```
    /// assert_eq!(lmms::Runtime::builder().build()?.config().min_resident(), 8);
    /// # Ok::<(), lmms::Error>(())
    /// ```
    pub fn config(&self) -> &Config {
        &self.inner.shared.config
    }

    /// The time on the runtime's clock.
    ///
    /// ```
    /// let clock = lmms::ManualClock::new();
    /// let runtime = lmms::Runtime::builder().clock(clock.clone()).build()?;
    /// clock.advance(std::time::Duration::from_secs(3));
    /// assert_eq!(runtime.now().as_secs(), 3);
    /// # Ok::<(), lmms::Error>(())
    /// ```
    pub fn now(&self) -> Duration {
        Duration::from_millis(self.inner.shared.time.refresh())
    }

    /// Registers a module built by `load` rather than by a `Load` impl: a plugin, or one of
    /// many modules of one type (a replay's apps, each with its own size). Its state is
    /// built on the first [`Handle::get`], as for a static module. For a loader that can
    /// fail, see [`Runtime::register_fallible`].
    ///
    /// Fails with [`Error::DuplicateModule`] if the runtime already has a module of that
    /// name.
    ///
    /// ```
    /// let runtime = lmms::Runtime::builder().build()?;
    /// let sizes = [1usize << 10, 1 << 20];
    /// let apps = sizes
    ///     .iter()
    ///     .enumerate()
    ///     .map(|(i, &size)| runtime.register(lmms::ModuleDef::named(format!("app-{i}")), move || vec![0u8; size]))
    ///     .collect::<Result<Vec<_>, _>>()?;
    /// assert_eq!(apps[1].get()?.len(), 1 << 20);
    /// assert!(runtime.register(lmms::ModuleDef::named("app-0"), || ()).is_err());
    /// # Ok::<(), lmms::Error>(())
    /// ```
    pub fn register<T: Send + Sync + 'static>(
        &self,
        def: ModuleDef,
        load: impl Fn() -> T + Send + Sync + 'static,
    ) -> Result<Handle<T>, Error> {
        self.register_fallible(def, move || Ok::<_, Infallible>(load()))
    }

    /// Registers a module whose loader can fail: a failed load is
    /// [`Error::Load`] carrying the loader's error, and the next get tries again.
    ///
    /// ```
    /// let runtime = lmms::Runtime::builder().build()?;
    /// let config = runtime.register_fallible(lmms::ModuleDef::named("config"), || {
    ///     std::fs::read_to_string("/no/such/file")
    /// })?;
    /// assert!(matches!(config.get(), Err(lmms::Error::Load { .. })));
    /// # Ok::<(), lmms::Error>(())
    /// ```
    pub fn register_fallible<T, E>(
        &self,
        def: ModuleDef,
        load: impl Fn() -> Result<T, E> + Send + Sync + 'static,
    ) -> Result<Handle<T>, Error>
    where
        T: Send + Sync + 'static,
        E: Into<BoxError>,
    {
        let mut modules = self.modules();
        claim(&mut modules, def.name())?;
        let handle = Handle::new(def, move || load().map_err(Into::into), &self.inner.shared);
        modules.entries.push(EntryRef::Shared(handle.entry()));
        Ok(handle)
    }

    /// Adds a static module to this runtime instead of the global one. Do it before the
    /// module's first get: a module already in a runtime answers
    /// [`Error::DuplicateModule`].
    ///
    /// ```
    /// # struct Config;
    /// # impl lmms::Load for Config {
    /// #     type Error = std::convert::Infallible;
    /// #     fn load() -> Result<Self, Self::Error> { Ok(Config) }
    /// # }
    /// static CONFIG: lmms::ModuleCell<Config> = lmms::ModuleCell::new(lmms::ModuleDef::new("config"));
    ///
    /// let runtime = lmms::Runtime::builder().build()?;
    /// runtime.add(&CONFIG)?;
    /// drop(CONFIG.get()?);
    /// assert_eq!(runtime.stats().loads, 1);
    /// assert!(lmms::Runtime::builder().build()?.add(&CONFIG).is_err());
    /// # Ok::<(), lmms::Error>(())
    /// ```
    pub fn add<T: Send + Sync + 'static>(
        &self,
        module: &'static ModuleCell<T>,
    ) -> Result<(), Error> {
        match self.adopt(module)? {
            (_, true) => Ok(()),
            (_, false) => Err(Error::DuplicateModule {
                name: module.def().name().to_string(),
            }),
        }
    }

    /// Registers a static module with this runtime unless it is in one already; returns
    /// the runtime it is in and whether it just joined this one.
    pub(crate) fn adopt<T: Send + Sync + 'static>(
        &self,
        module: &'static ModuleCell<T>,
    ) -> Result<(&'static Arc<Shared>, bool), Error> {
        let mut modules = self.modules();
        if let Some(shared) = module.bound() {
            return Ok((shared, false));
        }
        claim(&mut modules, module.def().name())?;
        let (shared, fresh) = module.bind(&self.inner.shared);
        if fresh {
            modules.entries.push(EntryRef::Static(module));
        } else {
            modules.names.remove(module.def().name().as_str());
        }
        Ok((shared, fresh))
    }

    /// Makes this runtime the one an operation reports to (its heat, cache and hot path
    /// count here), before its first call. An operation on a module reports to the module's
    /// runtime by itself; this is for stateless operations outside the global runtime.
    /// Fails with [`Error::DuplicateOperation`] if it reports somewhere already.
    ///
    /// ```
    /// # struct Ping;
    /// # impl lmms::Operation for Ping {
    /// #     type State = (); type Args = (); type Output = ();
    /// #     fn source() -> lmms::Source<()> { lmms::Source::Stateless(&()) }
    /// # }
    /// # impl lmms::Body for Ping { fn run(_: &(), _: ()) {} }
    /// static PING: lmms::Op<Ping> = lmms::Op::new(lmms::OpDef::new("health", "ping"));
    /// let runtime = lmms::Runtime::builder().build()?;
    /// runtime.add_op(&PING)?;
    /// PING.call(())?;
    /// assert_eq!(runtime.stats().ops[0].calls, 1);
    /// # Ok::<(), lmms::Error>(())
    /// ```
    pub fn add_op<O, C>(&self, op: &'static Op<O, C>) -> Result<(), Error>
    where
        O: Operation,
        C: CachePolicy<O::Args, O::Output>,
    {
        match self.add_op_inner(op) {
            (_, true) => Ok(()),
            (_, false) => Err(Error::DuplicateOperation {
                interface: op.def().interface(),
                name: op.def().name(),
            }),
        }
    }

    pub(crate) fn add_op_inner<O, C>(&self, op: &'static Op<O, C>) -> (&'static Shared, bool)
    where
        O: Operation,
        C: CachePolicy<O::Args, O::Output>,
    {
        op.join(&self.inner.shared)
    }

    /// Runs LUGS's five-point check on every resident module, least recently used first,
    /// and unloads those that pass. Returns what it unloaded with the bytes each gave back,
    /// and for every module it kept, the first check that kept it.
    ///
    /// The checks, in order, for a [`Class::Utility`](crate::Class::Utility) module:
    /// 1. **in use**: a guard is alive;
    /// 2. **pinned**: a [`Pin`](crate::Pin) is alive (ZAFP pins hot operations' modules);
    /// 3. **dependents**: a [`Dependent`](crate::Dependent) is alive (cache entries);
    /// 4. **within grace**: idle for less than the grace period;
    /// 5. **at minimum**: no more than `min_resident` modules are resident.
    ///
    /// The seed's check 5 says "keep at least 8 resident" while its layer 5 calls 8 a
    /// maximum; lmms reads it as a floor: unload only while more than `min_resident` are
    /// resident, least recently used first. [`Class::Core`](crate::Class::Core) modules are
    /// never unloaded; [`Class::Feature`](crate::Class::Feature) modules skip checks 4 and
    /// 5. Over the [memory budget](crate::Builder::memory_budget), checks 4 and 5 are
    /// waived until the resident bytes fit.
    ///
    /// Calls stamp their module with the runtime's recent time, not the clock (see
    /// [`Clock`]). With a manual clock that is exact. With the system clock, a module used
    /// since the last refresh (a load, a sweep) counts as used now: the grace period is
    /// never cut short, and lasts at most one sweep interval longer.
    ///
    /// ```
    /// let runtime = lmms::Runtime::builder().build()?;
    /// let m = runtime.register(lmms::ModuleDef::named("m"), || 0u8)?;
    /// drop(m.get()?);
    /// let report = runtime.sweep();
    /// assert_eq!(report.kept[0].reason, lmms::KeepReason::WithinGrace);
    /// # Ok::<(), lmms::Error>(())
    /// ```
    ///
    /// User code a sweep runs — a state's `Drop`, a cached value's, a `tracing` layer, a
    /// `metrics` recorder — may panic: a `Drop`'s panic is contained and counted
    /// ([`Stats::drop_panics`], [`CacheCounts::panics`](crate::CacheCounts::panics)); any
    /// other leaves the runtime consistent, is counted in [`Stats::sweep_panics`], and
    /// reaches the caller.
    pub fn sweep(&self) -> SweepReport {
        match panic::catch_unwind(AssertUnwindSafe(|| self.sweep_once())) {
            Ok(report) => report,
            Err(payload) => {
                self.inner.shared.counters.sweep_panicked();
                panic::resume_unwind(payload)
            }
        }
    }

    fn sweep_once(&self) -> SweepReport {
        let shared = &self.inner.shared;
        let now = shared.time.refresh();
        shared.cool(now);
        shared.purge_caches(now);
        crate::dispatch::drain();
        // Classified under the module list's lock, which no user code runs under: the
        // sweep's events and unloads come after it is released.
        let sweep = Sweep::classify(shared, &self.modules().entries);
        let report = sweep.finish(shared);
        #[cfg(feature = "metrics")]
        self.publish_metrics();
        report
    }

    /// Publishes this runtime's figures through the `metrics` facade (feature `metrics`):
    /// every sweep does it; call it to publish between sweeps. The names are in the
    /// `lmms::observability` docs.
    ///
    /// ```
    /// lmms::Runtime::global().publish_metrics(); // a no-op without a recorder installed
    /// ```
    #[cfg(feature = "metrics")]
    pub fn publish_metrics(&self) {
        crate::metrics::publish(&self.stats());
    }

    /// A snapshot of the runtime's figures and of every module's.
    ///
    /// ```
    /// let runtime = lmms::Runtime::builder().build()?;
    /// let m = runtime.register(lmms::ModuleDef::named("m"), || 0u8)?;
    /// drop(m.get()?);
    /// let stats = runtime.stats();
    /// assert_eq!((stats.loads, stats.resident_modules), (1, 1));
    /// println!("{stats}");
    /// # Ok::<(), lmms::Error>(())
    /// ```
    pub fn stats(&self) -> Stats {
        let now = Duration::from_millis(self.inner.shared.time.refresh());
        let modules = self.entries().iter().map(|entry| entry.stats()).collect();
        let shared = &self.inner.shared;
        shared.counters.snapshot(
            now,
            modules,
            shared.op_stats(),
            shared.hot_paths.load(Relaxed),
        )
    }

    fn modules(&self) -> MutexGuard<'_, Modules> {
        // The list is only pushed to and read; a panic elsewhere cannot leave it half-written.
        self.inner
            .modules
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn entries(&self) -> Vec<EntryRef> {
        self.modules().entries.clone()
    }
}

fn claim(modules: &mut Modules, name: &Name) -> Result<(), Error> {
    if modules.names.insert(name.clone()) {
        Ok(())
    } else {
        Err(Error::DuplicateModule {
            name: name.to_string(),
        })
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("config", self.config())
            .field("modules", &self.modules().entries.len())
            .finish()
    }
}

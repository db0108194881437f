//! The runtime: the public handle on a set of modules under one unload policy, one clock
//! and one set of figures.

use crate::cache::CachePolicy;
use crate::clock::Clock;
use crate::config::Config;
use crate::context::{Closing, RuntimeInner};
use crate::def::ModuleDef;
use crate::error::{BoxError, Error};
use crate::handle::Handle;
use crate::hot;
use crate::join;
use crate::module::ModuleCell;
use crate::operation::{Op, Operation};
use crate::outcome::{Demotion, Kept, SweepReport, Unload, Unloaded};
use crate::stats::Stats;
use crate::sweep::Sweep;
use std::convert::Infallible;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, OnceLock};
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
/// use lmms::{tuning::ManualClock, ModuleDef, Runtime};
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
    home: Arc<RuntimeInner>,
}

impl Runtime {
    pub(crate) fn new(config: Config, clock: Clock) -> Self {
        Runtime {
            home: Arc::new(RuntimeInner::new(config, clock)),
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
        static GLOBAL: OnceLock<Runtime> = OnceLock::new();
        GLOBAL.get_or_init(|| Runtime {
            home: Arc::clone(RuntimeInner::global()),
        })
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
        RuntimeInner::set_global(runtime.home)
    }

    /// The runtime's settings.
    ///
    /// ```
    /// assert_eq!(lmms::Runtime::builder().build()?.config().min_resident(), 0);
    /// # Ok::<(), lmms::Error>(())
    /// ```
    pub fn config(&self) -> &Config {
        &self.home.shared.config
    }

    /// The time on the runtime's clock.
    ///
    /// ```
    /// let clock = lmms::tuning::ManualClock::new();
    /// let runtime = lmms::Runtime::builder().clock(clock.clone()).build()?;
    /// clock.advance(std::time::Duration::from_secs(3));
    /// assert_eq!(runtime.now().as_secs(), 3);
    /// # Ok::<(), lmms::Error>(())
    /// ```
    pub fn now(&self) -> Duration {
        Duration::from_millis(self.home.shared.time.refresh())
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
        self.home.register(&def.clone(), |shared| {
            let module = ModuleCell::with_loader(def, move || load().map_err(Into::into), shared);
            let handle = Handle::new(module, shared);
            let entry = handle.entry();
            (handle, entry)
        })
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
        match self.home.bind(module)? {
            (_, true) => Ok(()),
            (_, false) => Err(Error::DuplicateModule {
                name: module.def().name().to_string(),
                places: vec![crate::context::place(module.def())],
            }),
        }
    }

    /// Makes this runtime the one an operation reports to (its heat, cache and hot path
    /// count here), before its first call. An operation on a module reports to the module's
    /// runtime by itself; this is for stateless operations outside the global runtime.
    /// Fails with [`Error::DuplicateOperation`] if it reports somewhere already.
    ///
    /// ```
    /// # struct Ping;
    /// # impl lmms::op::Operation for Ping {
    /// #     type State = (); type Args = (); type Output = ();
    /// #     fn source() -> lmms::op::Source<()> { lmms::op::Source::Stateless(&()) }
    /// # }
    /// # impl lmms::op::Body for Ping { fn run(_: &(), _: ()) {} }
    /// static PING: lmms::op::Op<Ping> = lmms::op::Op::new(lmms::op::OpDef::new("health", "ping"));
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
        match op.bind(&self.home.shared) {
            (_, true) => Ok(()),
            (_, false) => Err(Error::DuplicateOperation {
                interface: op.def().interface(),
                name: op.def().name(),
            }),
        }
    }

    /// Runs the five-point unload check on every resident module, least recently used first,
    /// and unloads those that pass. Returns what it unloaded with the bytes each gave back,
    /// and for every module it kept, the first check that kept it.
    ///
    /// The checks, in order, for a [`Class::Utility`](crate::Class::Utility) module:
    /// 1. **in use**: a guard is alive;
    /// 2. **pinned**: a [`PinGuard`](crate::state::PinGuard) is alive (hot operations pin their modules);
    /// 3. **dependents**: a [`Dependent`](crate::state::Dependent) is alive (cache entries);
    /// 4. **within grace**: idle for less than the grace period;
    /// 5. **at minimum**: no more than `min_resident` modules are resident.
    ///
    /// `min_resident` is a floor: unload only while more than `min_resident` are
    /// resident, least recently used first. [`Class::Core`](crate::Class::Core) modules are
    /// never unloaded; [`Class::Feature`](crate::Class::Feature) modules skip checks 4 and
    /// 5. Over the [memory budget](crate::tuning::Builder::memory_budget), checks 4 and 5 are
    /// waived until the resident bytes fit (a load does the same before and after it
    /// runs, so the budget holds between sweeps too).
    ///
    /// With the [adaptive keep-alive](crate::tuning::Adaptive), a module's grace period is the one
    /// its own gaps chose; with [pre-warming](crate::tuning::Adaptive::prewarm), the sweep also
    /// loads, after its unloads, each utility module not resident whose predicted next use
    /// comes before the next sweep ([`SweepReport::prewarmed`]), and keeps it through the
    /// window its gaps fall in. A pre-warm whose loader fails or panics is counted in
    /// [`Stats::load_failures`] and leaves the module unloaded.
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
    /// assert_eq!(report.kept[0].reason, lmms::report::KeepReason::WithinGrace);
    /// # Ok::<(), lmms::Error>(())
    /// ```
    ///
    /// User code a sweep runs — a state's `Drop`, a cached value's, a `tracing` layer, a
    /// `metrics` recorder — may panic: a `Drop`'s panic is contained and counted
    /// ([`Stats::drop_panics`], [`CacheCounts::panics`](crate::report::CacheCounts::panics)); any
    /// other leaves the runtime consistent, is counted in [`Stats::sweep_panics`], and
    /// reaches the caller.
    pub fn sweep(&self) -> SweepReport {
        match panic::catch_unwind(AssertUnwindSafe(|| self.sweep_once())) {
            Ok(report) => report,
            Err(payload) => {
                self.home.shared.counters.sweep_panicked();
                panic::resume_unwind(payload)
            }
        }
    }

    fn sweep_once(&self) -> SweepReport {
        let shared = &self.home.shared;
        let now = shared.time.refresh();
        hot::cool(shared, now);
        shared.purge_caches(now);
        crate::dispatch::drain();
        // Classified under the module list's lock, which no user code runs under: the
        // sweep's events and unloads come after it is released.
        let sweep = Sweep::classify(shared, &self.home.modules(), None);
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
        crate::metrics::publish(&self.home.shared.published, || self.stats());
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
        let shared = &self.home.shared;
        let now = Duration::from_millis(shared.time.refresh());
        let modules = self
            .home
            .entries()
            .iter()
            .map(|entry| entry.stats())
            .collect();
        shared.counters.snapshot(
            now,
            modules,
            shared.op_stats(),
            shared.hot_paths.load(Relaxed),
            shared.closing(),
        )
    }

    /// Awaits the closes of the modules unloaded so far: the futures their
    /// [`AsyncLoad::close`](crate::AsyncLoad::close) returned, all at once on this task, and
    /// any queued meanwhile. Returns how many ended. A close that panics is contained and
    /// counted in [`Stats::drop_panics`].
    ///
    /// A sweep, the reaper and a feature module's last guard unload where they run, without
    /// `.await`: their modules' closes wait here. Call it from the async code that sweeps —
    /// or use [`sweep_async`](Runtime::sweep_async), which does both.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// assert_eq!(lmms::Runtime::global().closes().await, 0);
    /// # });
    /// ```
    pub async fn closes(&self) -> usize {
        let shared = &self.home.shared;
        let mut ended = 0;
        loop {
            let queued = shared.take_closing();
            if queued.is_empty() {
                return ended;
            }
            for closed in join::all(queued.into_iter().map(join::contained)).await {
                ended += 1;
                if closed.is_err() {
                    shared.counters.close_panicked();
                }
            }
        }
    }

    /// Hands every close to `spawn` from now on — those queued so far at once — instead of
    /// queueing them for [`closes`](Runtime::closes): for an app whose sweeps run without
    /// `.await` (the [`Reaper`](crate::tuning::Reaper), a feature module's last guard) and that has
    /// an executor to run them on. Set once: a second call answers
    /// [`Error::InvalidConfig`].
    ///
    /// ```
    /// let runtime = lmms::Runtime::builder().build()?;
    /// runtime.spawn_closes(|close| {
    ///     drop(tokio::spawn(close)); // on the app's tokio runtime
    /// })?;
    /// assert!(runtime.spawn_closes(|_| {}).is_err());
    /// # Ok::<(), lmms::Error>(())
    /// ```
    pub fn spawn_closes(&self, spawn: fn(Closing)) -> Result<(), Error> {
        let shared = &self.home.shared;
        shared.spawn.set(spawn).map_err(|_| {
            Error::invalid("spawn_closes", "a spawner is set already; it is set once")
        })?;
        for closing in shared.take_closing() {
            shared.close_later(closing);
        }
        Ok(())
    }

    /// A [`sweep`](Runtime::sweep), then the [`closes`](Runtime::closes) of what it (and
    /// earlier unloads) unloaded: the sweep for async code, at the end of an invocation.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let report = lmms::Runtime::global().sweep_async().await;
    /// assert!(report.unloaded.is_empty());
    /// # });
    /// ```
    pub async fn sweep_async(&self) -> SweepReport {
        let report = self.sweep();
        self.closes().await;
        report
    }

    /// Unloads every module that nothing holds, whatever its class, grace period or the
    /// resident minimum, and awaits every close: what a process does before it exits (a
    /// Lambda function on `SIGTERM`). Hot paths are demoted (counted as cooled) and cached
    /// results dropped first, so only a guard or a pin still alive keeps a module; those
    /// are in the report's `kept`, and so is a module whose load is in flight
    /// ([`KeepReason::Loading`](crate::report::KeepReason::Loading)): its state goes in when that
    /// load ends, after the shutdown.
    ///
    /// # Bounding it
    ///
    /// The unloads happen before the first `.await`; then this waits for every close, and a
    /// close that never ends makes it never return. Where the process has a deadline (a
    /// Lambda function has about 500 ms after `SIGTERM`), race it against a timer, as
    /// `lmms_lambda::shutdown` does: a timeout loses only the closes still running (their
    /// states are dropped with them), and [`Stats::closing`](crate::Stats::closing) counts
    /// what was left. A close that blocks its thread inside a poll cannot be cut short from
    /// the same thread, by this or any timer.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let runtime = lmms::Runtime::builder().build()?;
    /// let window = std::time::Duration::from_millis(500);
    /// match tokio::time::timeout(window, runtime.shutdown()).await {
    ///     Ok(report) => println!("{report}"),
    ///     Err(_) => eprintln!("closes still running after {window:?}"),
    /// }
    /// # Ok::<(), lmms::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let runtime = lmms::Runtime::builder().build()?;
    /// let words = runtime.register(lmms::ModuleDef::named("words"), || vec!["a", "b"])?;
    /// drop(words.get()?);
    /// let report = runtime.shutdown().await;
    /// assert_eq!(report.unloaded[0].module, "words");
    /// # Ok::<(), lmms::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn shutdown(&self) -> SweepReport {
        let shared = &self.home.shared;
        for op in shared.ops() {
            op.demote(shared, Demotion::Cooled);
            if let Some(cache) = op.cache() {
                cache.clear();
            }
        }
        crate::dispatch::drain();
        let mut report = SweepReport {
            at: Duration::from_millis(shared.time.refresh()),
            ..SweepReport::default()
        };
        for entry in self.home.entries() {
            let module = entry.info().def.name().clone();
            match entry.unload(shared) {
                Unload::Unloaded { bytes } => report.unloaded.push(Unloaded { module, bytes }),
                Unload::Kept(reason) => {
                    shared.counters.blocked(reason);
                    report.kept.push(Kept { module, reason });
                }
                Unload::NotResident => {}
            }
        }
        self.closes().await;
        report
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("config", self.config())
            .field("modules", &self.home.modules().len())
            .finish()
    }
}

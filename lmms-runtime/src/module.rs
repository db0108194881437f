//! Modules: a unit of state with a lifecycle, born on first use (LIGS), dropped when idle
//! (LUGS), born again when needed.

use crate::cache::ResultCache;
use crate::cell::{CellGuard, LoadFailure, StateCell, Take};
use crate::error::{BoxError, Error};
use crate::keepalive::IdleGaps;
use crate::memory;
use crate::name::Name;
use crate::policy::{KeepReason, Unload};
use crate::runtime::{Runtime, Shared};
use crate::stats::ModuleStats;
use std::fmt;
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::panic::{self, AssertUnwindSafe};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// How a module's state is built: LIGS's import, run on first use.
///
/// ```
/// struct Rates(Vec<f64>);
///
/// impl lmms::Load for Rates {
///     type Error = std::num::ParseFloatError;
///     fn load() -> Result<Self, Self::Error> {
///         "1.0 0.92 151.3".split(' ').map(str::parse).collect::<Result<_, _>>().map(Rates)
///     }
/// }
/// # assert_eq!(<Rates as lmms::Load>::load().unwrap().0.len(), 3);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not say how to build its state",
    label = "no `lmms::Load` impl",
    note = "implement `lmms::Load for {Self}`: its `load` builds the module's state on first use"
)]
pub trait Load: Sized + Send + Sync + 'static {
    /// What a failed load returns; [`std::convert::Infallible`] when loading cannot fail.
    type Error: Into<BoxError>;

    /// Builds the state. Runs on the first get after start or after an unload, on the
    /// calling thread, once however many threads ask at the same time.
    ///
    /// A loader may get other modules; one that reaches its own module, directly or through
    /// other loaders on any thread, gets [`Error::ReentrantLoad`]. A loader that hands work
    /// to a helper thread and waits for it should let the helper [`enter`](crate::LoadScope::enter)
    /// its [`LoadScope`](crate::LoadScope), or a helper that asks for this module waits for
    /// a load that waits for it.
    fn load() -> Result<Self, Self::Error>;
}

/// A state type tied to its static [`ModuleCell`]: what `#[lmms::module]` implements, and
/// what an operation's state parameter must be.
///
/// ```
/// use lmms::{Load, Module, ModuleCell, ModuleDef};
///
/// struct Table(Vec<u64>);
/// impl Load for Table {
///     type Error = std::convert::Infallible;
///     fn load() -> Result<Self, Self::Error> { Ok(Table(vec![1, 2, 3])) }
/// }
/// impl Module for Table {
///     fn cell() -> &'static ModuleCell<Self> {
///         static CELL: ModuleCell<Table> = ModuleCell::new(ModuleDef::new("table"));
///         &CELL
///     }
/// }
/// assert_eq!(Table::cell().get()?.0.len(), 3);
/// # Ok::<(), lmms::Error>(())
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an lmms module",
    label = "not a module's state",
    note = "add `#[lmms::module]` to the definition of `{Self}`"
)]
pub trait Module: Load {
    /// The static cell holding this type's state.
    fn cell() -> &'static ModuleCell<Self>;
}

/// Which unload rules apply to a module: the seed's protection matrix.
///
/// ```
/// use lmms::Class;
/// assert_eq!("feature".parse::<Class>().unwrap(), Class::Feature);
/// assert_eq!(Class::default(), Class::Utility);
/// assert!("sometimes".parse::<Class>().unwrap_err().to_string().contains("`core`, `utility` or `feature`"));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum Class {
    /// Never unloaded by a sweep: gateway-level infrastructure (logging, the cache).
    Core,
    /// Unloaded by a sweep once all five checks pass: idle past the grace period, and more
    /// modules resident than the minimum.
    #[default]
    Utility,
    /// Unloaded as soon as its last guard drops, unless pinned or depended on; the grace
    /// period and the resident minimum do not hold it.
    Feature,
}

impl Class {
    /// The class's name as the attribute spells it.
    ///
    /// ```
    /// assert_eq!(lmms::Class::Core.as_str(), "core");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Class::Core => "core",
            Class::Utility => "utility",
            Class::Feature => "feature",
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Class {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        match text {
            "core" => Ok(Class::Core),
            "utility" => Ok(Class::Utility),
            "feature" => Ok(Class::Feature),
            other => Err(Error::invalid(
                "class",
                format!("`{other}` is not a class; use `core`, `utility` or `feature`"),
            )),
        }
    }
}

/// A module's name, class and grace period.
///
/// ```
/// use lmms::{Class, ModuleDef};
/// use std::time::Duration;
///
/// const WEATHER: ModuleDef = ModuleDef::new("weather").class(Class::Feature).grace(Duration::from_secs(5));
/// assert_eq!(WEATHER.name(), "weather");
/// ```
#[derive(Clone, Debug)]
pub struct ModuleDef {
    name: Name,
    class: Class,
    grace: Option<Duration>,
}

impl ModuleDef {
    /// A utility module named `name`, with the runtime's grace period.
    ///
    /// ```
    /// assert_eq!(lmms::ModuleDef::new("cache").name(), "cache");
    /// ```
    pub const fn new(name: &'static str) -> Self {
        ModuleDef {
            name: Name::new(name),
            class: Class::Utility,
            grace: None,
        }
    }

    /// A module whose name is only known at run time (a plugin, a module from a trace).
    ///
    /// ```
    /// let def = lmms::ModuleDef::named(format!("app-{}", 7));
    /// assert_eq!(def.name(), "app-7");
    /// ```
    pub fn named(name: impl Into<String>) -> Self {
        ModuleDef {
            name: Name::from(name.into()),
            class: Class::Utility,
            grace: None,
        }
    }

    /// Sets the class (default [`Class::Utility`]).
    ///
    /// ```
    /// let def = lmms::ModuleDef::new("logging").class(lmms::Class::Core);
    /// assert_eq!(def.class_of(), lmms::Class::Core);
    /// ```
    pub const fn class(mut self, class: Class) -> Self {
        self.class = class;
        self
    }

    /// Overrides the runtime's grace period for this module.
    ///
    /// ```
    /// let def = lmms::ModuleDef::new("models").grace(std::time::Duration::from_secs(600));
    /// assert_eq!(def.grace_of(), Some(std::time::Duration::from_secs(600)));
    /// ```
    pub const fn grace(mut self, grace: Duration) -> Self {
        self.grace = Some(grace);
        self
    }

    /// The module's name.
    ///
    /// ```
    /// assert_eq!(lmms::ModuleDef::new("http").name(), "http");
    /// ```
    pub fn name(&self) -> &Name {
        &self.name
    }

    /// The module's class.
    ///
    /// ```
    /// assert_eq!(lmms::ModuleDef::new("http").class_of(), lmms::Class::Utility);
    /// ```
    pub const fn class_of(&self) -> Class {
        self.class
    }

    /// The module's own grace period, if it overrides the runtime's.
    ///
    /// ```
    /// assert_eq!(lmms::ModuleDef::new("http").grace_of(), None);
    /// ```
    pub const fn grace_of(&self) -> Option<Duration> {
        self.grace
    }
}

/// Builds a module's state: `T::load` for a static module, any closure for one registered
/// at run time.
enum Loader<T> {
    Trait(fn() -> Result<T, BoxError>),
    Closure(Box<dyn Fn() -> Result<T, BoxError> + Send + Sync>),
}

fn load_boxed<T: Load>() -> Result<T, BoxError> {
    T::load().map_err(Into::into)
}

/// A module: its state in a resettable cell, and what the unload policy needs to know
/// about it.
///
/// Declare one as a `static` (the `#[lmms::module]` attribute writes this for you) and
/// [`get`](ModuleCell::get) it where its state is needed: the first get loads it into the
/// global [`Runtime`], and a sweep drops it again once it is idle.
///
/// ```
/// use lmms::{Load, ModuleCell, ModuleDef};
/// use std::convert::Infallible;
///
/// struct Table(Vec<u64>);
/// impl Load for Table {
///     type Error = Infallible;
///     fn load() -> Result<Self, Infallible> {
///         Ok(Table((0..1000).collect()))
///     }
/// }
///
/// static TABLE: ModuleCell<Table> = ModuleCell::new(ModuleDef::new("table"));
///
/// assert!(!TABLE.is_resident());
/// let sum: u64 = TABLE.get().unwrap().0.iter().sum();
/// assert_eq!(sum, 499_500);
/// assert!(TABLE.is_resident());
/// assert!(matches!(TABLE.unload(), lmms::Unload::Unloaded { .. }));
/// assert!(!TABLE.is_resident());
/// ```
///
/// A module never hands out a reference that outlives a [`Guard`]: the state can only be
/// dropped while no guard is alive, so the borrow checker and the guard count together
/// make a use after unload impossible.
pub struct ModuleCell<T> {
    info: Info,
    cell: StateCell<T>,
    shared: OnceLock<Arc<Shared>>,
    loader: Loader<T>,
}

impl<T: Load> ModuleCell<T> {
    /// A module whose state `T::load` builds; nothing runs and nothing is allocated until
    /// the first [`get`](ModuleCell::get).
    ///
    /// ```
    /// # struct Config;
    /// # impl lmms::Load for Config {
    /// #     type Error = std::convert::Infallible;
    /// #     fn load() -> Result<Self, Self::Error> { Ok(Config) }
    /// # }
    /// static CONFIG: lmms::ModuleCell<Config> = lmms::ModuleCell::new(lmms::ModuleDef::new("config"));
    /// ```
    pub const fn new(def: ModuleDef) -> Self {
        ModuleCell {
            info: Info::new(def),
            cell: StateCell::new(),
            shared: OnceLock::new(),
            loader: Loader::Trait(load_boxed::<T>),
        }
    }
}

impl<T: Send + Sync + 'static> ModuleCell<T> {
    /// A guard on the state, loading it first if it is not resident.
    ///
    /// The first get of a static module registers it with the global runtime
    /// ([`Runtime::global`]). A failed or panicking load returns the error and leaves the
    /// module unloaded; the next get tries again. A loader that reaches its own module gets
    /// [`Error::ReentrantLoad`] rather than a deadlock.
    ///
    /// ```
    /// # struct Config { port: u16 }
    /// # impl lmms::Load for Config {
    /// #     type Error = std::convert::Infallible;
    /// #     fn load() -> Result<Self, Self::Error> { Ok(Config { port: 8080 }) }
    /// # }
    /// static CONFIG: lmms::ModuleCell<Config> = lmms::ModuleCell::new(lmms::ModuleDef::new("config"));
    /// assert_eq!(CONFIG.get()?.port, 8080);
    /// # Ok::<(), lmms::Error>(())
    /// ```
    #[inline]
    pub fn get(&'static self) -> Result<Guard<'static, T>, Error> {
        let shared = match self.shared.get() {
            Some(shared) => shared,
            None => Runtime::global().adopt(self)?.0,
        };
        self.guard(shared)
    }

    #[inline]
    fn guard<'a>(&'a self, shared: &'a Shared) -> Result<Guard<'a, T>, Error> {
        let inner = match self.cell.try_get() {
            Some(inner) => {
                // A use of a resident module after an idle gap: the time since the last use
                // ended, unless another use is still running (then it was never idle). A
                // load records its own gap.
                let idle = shared
                    .time
                    .recent()
                    .saturating_sub(self.info.last_use.load(Relaxed));
                if idle >= IdleGaps::SHORTEST_MS && self.cell.holders() == 1 {
                    self.info.gaps.record(idle);
                }
                inner
            }
            None => self.load(shared)?,
        };
        Ok(Guard {
            inner: ManuallyDrop::new(inner),
            module: self,
            shared,
        })
    }

    #[cold]
    fn load<'a>(&'a self, shared: &'a Shared) -> Result<CellGuard<'a, T>, Error> {
        #[cfg(feature = "tracing")]
        let _span = tracing::info_span!(target: "lmms", "lmms.load", module = %self.info.def.name, class = ?self.info.def.class).entered();
        #[cfg(feature = "tracing")]
        let started = std::time::Instant::now();
        // The "loaded" event is sent once the state is in the cell and the cell's lock
        // released: a subscriber that panics must not turn a counted load into a failed one.
        #[cfg(feature = "tracing")]
        let loaded = std::cell::Cell::new(None);
        let run = || {
            let (built, kept) = memory::measure(|| match &self.loader {
                Loader::Trait(load) => load(),
                Loader::Closure(load) => load(),
            });
            if built.is_ok() {
                // The cell boxes the state once the loader returns: count the box too.
                let kept = u64::try_from(kept).unwrap_or(0) + size_of::<T>() as u64;
                self.info.bytes.store(kept, Relaxed);
                let now = shared.time.refresh();
                if self.info.loads.fetch_add(1, Relaxed) > 0 {
                    // Loaded again: the time since its last use was an idle gap.
                    let last = self.info.last_use.load(Relaxed);
                    self.info.gaps.record(now.saturating_sub(last));
                }
                self.info.last_use.store(now, Relaxed);
                shared.counters.loaded(kept);
                #[cfg(feature = "tracing")]
                loaded.set(Some((kept, started.elapsed())));
            }
            built
        };
        let result = self.cell.load(run);
        #[cfg(feature = "tracing")]
        if let Some((bytes, took)) = loaded.get() {
            crate::trace::event!(
                tracing::Level::INFO,
                module = %self.info.def.name,
                bytes,
                ms = took.as_secs_f64() * 1000.0,
                "loaded"
            );
        }
        result.map_err(|failure| {
            let module = self.info.def.name.to_string();
            let error = match failure {
                LoadFailure::Failed(source) => {
                    shared.counters.load_failed();
                    Error::Load { module, source }
                }
                LoadFailure::Panicked(payload) => {
                    shared.counters.load_failed();
                    Error::LoadPanicked {
                        module,
                        message: panic_message(payload.as_ref()),
                    }
                }
                LoadFailure::Reentrant => Error::ReentrantLoad { module },
            };
            crate::trace::event!(tracing::Level::WARN, module = %self.info.def.name, error = %error, "load failed");
            error
        })
    }

    /// Drops the state now if it is safe to: no guard alive, not pinned, nothing depending
    /// on it. The grace period, the resident minimum and the class are the sweep's rules
    /// and do not apply to an unload asked for by name.
    ///
    /// ```
    /// # struct Config;
    /// # impl lmms::Load for Config {
    /// #     type Error = std::convert::Infallible;
    /// #     fn load() -> Result<Self, Self::Error> { Ok(Config) }
    /// # }
    /// static CONFIG: lmms::ModuleCell<Config> = lmms::ModuleCell::new(lmms::ModuleDef::new("config"));
    /// assert_eq!(CONFIG.unload(), lmms::Unload::NotResident);
    /// let guard = CONFIG.get()?;
    /// assert_eq!(CONFIG.unload(), lmms::Unload::Kept(lmms::KeepReason::InUse));
    /// drop(guard);
    /// assert!(matches!(CONFIG.unload(), lmms::Unload::Unloaded { .. }));
    /// # Ok::<(), lmms::Error>(())
    /// ```
    pub fn unload(&self) -> Unload {
        let Some(shared) = self.shared.get() else {
            return Unload::NotResident;
        };
        self.info.purge_caches(shared.time.recent());
        let outcome = self.unload_in(shared);
        match outcome {
            Unload::Unloaded { bytes } => shared.reclaimed(bytes),
            Unload::Kept(reason) => shared.counters.blocked(reason),
            Unload::NotResident => {}
        }
        outcome
    }

    /// Whether the state is loaded now.
    ///
    /// ```
    /// # struct Config;
    /// # impl lmms::Load for Config {
    /// #     type Error = std::convert::Infallible;
    /// #     fn load() -> Result<Self, Self::Error> { Ok(Config) }
    /// # }
    /// static CONFIG: lmms::ModuleCell<Config> = lmms::ModuleCell::new(lmms::ModuleDef::new("config"));
    /// assert!(!CONFIG.is_resident());
    /// ```
    pub fn is_resident(&self) -> bool {
        self.cell.is_loaded()
    }

    /// This module's figures: loads, bytes, guards alive, last use.
    ///
    /// ```
    /// # struct Config;
    /// # impl lmms::Load for Config {
    /// #     type Error = std::convert::Infallible;
    /// #     fn load() -> Result<Self, Self::Error> { Ok(Config) }
    /// # }
    /// static CONFIG: lmms::ModuleCell<Config> = lmms::ModuleCell::new(lmms::ModuleDef::new("config"));
    /// drop(CONFIG.get()?);
    /// assert_eq!(CONFIG.stats().loads, 1);
    /// # Ok::<(), lmms::Error>(())
    /// ```
    pub fn stats(&self) -> ModuleStats {
        Entry::stats(self)
    }

    /// Keeps the module resident while the returned [`Pin`] lives: sweeps answer
    /// [`KeepReason::Pinned`] (LUGS check 2). ZAFP pins the modules of hot operations; an
    /// application can pin a module around a batch of work.
    ///
    /// ```
    /// # struct Config;
    /// # impl lmms::Load for Config {
    /// #     type Error = std::convert::Infallible;
    /// #     fn load() -> Result<Self, Self::Error> { Ok(Config) }
    /// # }
    /// static CONFIG: lmms::ModuleCell<Config> = lmms::ModuleCell::new(lmms::ModuleDef::new("config"));
    /// drop(CONFIG.get()?);
    /// let pin = CONFIG.pin();
    /// assert_eq!(CONFIG.unload(), lmms::Unload::Kept(lmms::KeepReason::Pinned));
    /// drop(pin);
    /// # Ok::<(), lmms::Error>(())
    /// ```
    pub fn pin(&self) -> Pin<'_> {
        Pin::new(&self.info.pins)
    }

    /// Records that something outside the module (a cached result, say) depends on its
    /// state: while the returned [`Dependent`] lives, sweeps answer
    /// [`KeepReason::Dependents`] (LUGS check 3).
    ///
    /// ```
    /// # struct Config;
    /// # impl lmms::Load for Config {
    /// #     type Error = std::convert::Infallible;
    /// #     fn load() -> Result<Self, Self::Error> { Ok(Config) }
    /// # }
    /// static CONFIG: lmms::ModuleCell<Config> = lmms::ModuleCell::new(lmms::ModuleDef::new("config"));
    /// drop(CONFIG.get()?);
    /// let entry = CONFIG.depend();
    /// assert_eq!(CONFIG.unload(), lmms::Unload::Kept(lmms::KeepReason::Dependents));
    /// drop(entry);
    /// # Ok::<(), lmms::Error>(())
    /// ```
    pub fn depend(&self) -> Dependent<'_> {
        Dependent {
            _count: Pin::new(&self.info.dependents),
        }
    }

    /// The module's definition.
    ///
    /// ```
    /// # struct Config;
    /// # impl lmms::Load for Config {
    /// #     type Error = std::convert::Infallible;
    /// #     fn load() -> Result<Self, Self::Error> { Ok(Config) }
    /// # }
    /// static CONFIG: lmms::ModuleCell<Config> = lmms::ModuleCell::new(lmms::ModuleDef::new("config"));
    /// assert_eq!(CONFIG.def().name(), "config");
    /// ```
    pub fn def(&self) -> &ModuleDef {
        &self.info.def
    }

    pub(crate) fn bound(&'static self) -> Option<&'static Arc<Shared>> {
        self.shared.get()
    }

    /// The runtime this static module belongs to, joining the global one if it has none.
    pub(crate) fn runtime(&'static self) -> Result<&'static Arc<Shared>, Error> {
        match self.shared.get() {
            Some(shared) => Ok(shared),
            None => Runtime::global().adopt(self).map(|(shared, _)| shared),
        }
    }

    /// What a hot operation holds: a guard on the state (loaded if needed) that, unlike a
    /// [`Guard`], stamps no use when dropped, and a count in the module's hot pins.
    pub(crate) fn hold(&'static self) -> Result<(CellGuard<'static, T>, Pin<'static>), Error> {
        let shared = self.runtime()?;
        let inner = match self.cell.try_get() {
            Some(inner) => inner,
            None => self.load(shared)?,
        };
        Ok((inner, Pin::new(&self.info.hot)))
    }

    /// The module's bookkeeping, without its type.
    pub(crate) fn info(&self) -> &Info {
        &self.info
    }

    /// Makes the entries of an operation's cache count as dependents of this module.
    pub(crate) fn attach_cache(&self, cache: &'static dyn ResultCache) {
        self.info.caches().push(cache);
        self.info.has_caches.store(true, Relaxed);
    }

    /// Drops every cached result of this module's operations, so that they no longer keep
    /// it resident (LUGS check 3); call it before [`unload`](ModuleCell::unload) to unload a
    /// module whatever its cache holds.
    ///
    /// ```
    /// # struct Config;
    /// # impl lmms::Load for Config {
    /// #     type Error = std::convert::Infallible;
    /// #     fn load() -> Result<Self, Self::Error> { Ok(Config) }
    /// # }
    /// static CONFIG: lmms::ModuleCell<Config> = lmms::ModuleCell::new(lmms::ModuleDef::new("config"));
    /// CONFIG.invalidate();
    /// ```
    pub fn invalidate(&self) {
        for cache in self.info.cache_list() {
            cache.clear();
        }
    }

    /// Ties a static module to `shared`'s runtime unless it has one; returns the runtime it
    /// has and whether it is new.
    pub(crate) fn bind(&self, shared: &Arc<Shared>) -> (&Arc<Shared>, bool) {
        let mut fresh = false;
        let bound = self.shared.get_or_init(|| {
            fresh = true;
            Arc::clone(shared)
        });
        (bound, fresh)
    }

    fn unload_in(&self, shared: &Shared) -> Unload {
        if let Some(reason) = self.info.held(shared) {
            return Unload::Kept(reason);
        }
        let state = match self.cell.take() {
            Take::Empty => return Unload::NotResident,
            Take::InUse => return Unload::Kept(KeepReason::InUse),
            Take::Taken(state) => state,
        };
        let (dropped, freed) =
            memory::measure(|| panic::catch_unwind(AssertUnwindSafe(|| drop(state))));
        let bytes = u64::try_from(-freed).unwrap_or(0);
        self.info.bytes.store(0, Relaxed);
        self.info.unloads.fetch_add(1, Relaxed);
        shared.counters.unloaded(bytes, dropped.is_err());
        crate::trace::event!(
            tracing::Level::INFO,
            module = %self.info.def.name,
            bytes,
            rss = crate::memory::rss(),
            "unloaded"
        );
        Unload::Unloaded { bytes }
    }
}

/// Runtime-side bookkeeping of one module, shared by all module kinds.
pub(crate) struct Info {
    pub(crate) def: ModuleDef,
    /// Runtime time of the last guard drop or load, in ms.
    pub(crate) last_use: AtomicU64,
    pub(crate) loads: AtomicU64,
    pub(crate) unloads: AtomicU64,
    /// Heap bytes the current state kept when it was loaded.
    pub(crate) bytes: AtomicU64,
    pins: AtomicUsize,
    /// Pins held by hot operations, each with a guard (so sweeps can tell them from users'
    /// guards).
    pub(crate) hot: AtomicUsize,
    dependents: AtomicUsize,
    /// The result caches of this module's operations: their entries depend on it.
    caches: Mutex<Vec<&'static dyn ResultCache>>,
    has_caches: AtomicBool,
    /// The idle gaps it has had, for the adaptive keep-alive.
    pub(crate) gaps: IdleGaps,
}

impl Info {
    /// Records a use at runtime time `at` (ms) unless a later one is recorded: how a
    /// demoted hot operation hands its direct calls' last use to LUGS.
    pub(crate) fn touch(&self, at: u64) {
        self.last_use.fetch_max(at, Relaxed);
    }

    const fn new(def: ModuleDef) -> Self {
        Info {
            def,
            last_use: AtomicU64::new(0),
            loads: AtomicU64::new(0),
            unloads: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            pins: AtomicUsize::new(0),
            hot: AtomicUsize::new(0),
            dependents: AtomicUsize::new(0),
            caches: Mutex::new(Vec::new()),
            has_caches: AtomicBool::new(false),
            gaps: IdleGaps::new(),
        }
    }

    fn caches(&self) -> std::sync::MutexGuard<'_, Vec<&'static dyn ResultCache>> {
        self.caches
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The caches of this module's operations, copied out of their lock: purging or
    /// clearing one drops user values, whose `Drop` may reach this module again.
    fn cache_list(&self) -> Vec<&'static dyn ResultCache> {
        if self.has_caches.load(Relaxed) {
            self.caches().clone()
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
        self.caches().iter().map(|cache| cache.len()).sum()
    }

    /// Drops the expired results of this module's operations.
    pub(crate) fn purge_caches(&self, now: u64) {
        for cache in self.cache_list() {
            cache.purge(now);
        }
    }

    /// The first of LUGS checks 2 and 3 that holds the module, if any.
    pub(crate) fn held(&self, shared: &Shared) -> Option<KeepReason> {
        if self.pins.load(Relaxed) > 0 || self.hot.load(Relaxed) > 0 {
            Some(KeepReason::Pinned)
        } else if self.dependents.load(Relaxed) > 0
            || (shared.config.cache_keeps_modules && self.cached() > 0)
        {
            Some(KeepReason::Dependents)
        } else {
            None
        }
    }
}

/// What the runtime needs of a module whatever its state type: the sweep's view.
pub(crate) trait Entry: Send + Sync {
    fn info(&self) -> &Info;
    fn guards(&self) -> usize;
    fn is_resident(&self) -> bool;
    fn unload(&self, shared: &Shared) -> Unload;

    fn stats(&self) -> ModuleStats {
        let info = self.info();
        let resident = self.is_resident();
        ModuleStats {
            name: info.def.name.clone(),
            class: info.def.class,
            resident,
            bytes: if resident {
                info.bytes.load(Relaxed)
            } else {
                0
            },
            loads: info.loads.load(Relaxed),
            unloads: info.unloads.load(Relaxed),
            last_use: (info.loads.load(Relaxed) > 0)
                .then(|| Duration::from_millis(info.last_use.load(Relaxed))),
            guards: self.guards(),
            pins: info.pins.load(Relaxed) + info.hot.load(Relaxed),
            dependents: info.dependents.load(Relaxed) + info.cached(),
        }
    }
}

impl<T: Send + Sync + 'static> Entry for ModuleCell<T> {
    fn info(&self) -> &Info {
        &self.info
    }

    fn guards(&self) -> usize {
        self.cell.holders()
    }

    fn is_resident(&self) -> bool {
        self.cell.is_loaded()
    }

    fn unload(&self, shared: &Shared) -> Unload {
        self.unload_in(shared)
    }
}

/// A module registered with a [`Runtime`] at run time, with a loader of its own: a plugin,
/// or one of N modules replayed from a trace.
///
/// It dereferences to its [`ModuleCell`] for [`unload`](ModuleCell::unload),
/// [`stats`](ModuleCell::stats), [`pin`](ModuleCell::pin) and the rest.
///
/// ```
/// use lmms::{ModuleDef, Runtime};
///
/// let runtime = Runtime::builder().build()?;
/// let blob = runtime.register(ModuleDef::named("app-1"), || vec![0u8; 4096])?;
/// assert_eq!(blob.get()?.len(), 4096);
/// assert!(blob.is_resident());
/// # Ok::<(), lmms::Error>(())
/// ```
pub struct Handle<T> {
    module: Arc<ModuleCell<T>>,
    shared: Arc<Shared>,
}

impl<T: Send + Sync + 'static> Handle<T> {
    pub(crate) fn new(
        def: ModuleDef,
        load: impl Fn() -> Result<T, BoxError> + Send + Sync + 'static,
        shared: &Arc<Shared>,
    ) -> Self {
        Handle {
            module: Arc::new(ModuleCell {
                info: Info::new(def),
                cell: StateCell::new(),
                shared: OnceLock::from(Arc::clone(shared)),
                loader: Loader::Closure(Box::new(load)),
            }),
            shared: Arc::clone(shared),
        }
    }

    pub(crate) fn entry(&self) -> Arc<dyn Entry> {
        self.module.clone()
    }

    /// A guard on the state, loading it first if it is not resident; see [`ModuleCell::get`].
    ///
    /// ```
    /// let runtime = lmms::Runtime::builder().build()?;
    /// let answer = runtime.register(lmms::ModuleDef::named("answer"), || 42u32)?;
    /// assert_eq!(*answer.get()?, 42);
    /// # Ok::<(), lmms::Error>(())
    /// ```
    #[inline]
    pub fn get(&self) -> Result<Guard<'_, T>, Error> {
        self.module.guard(&self.shared)
    }
}

impl<T> Clone for Handle<T> {
    fn clone(&self) -> Self {
        Handle {
            module: Arc::clone(&self.module),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T> Deref for Handle<T> {
    type Target = ModuleCell<T>;

    fn deref(&self) -> &ModuleCell<T> {
        &self.module
    }
}

/// Access to a module's state for as long as it lives; the state cannot be unloaded
/// meanwhile. `Send` (when the state is `Sync`), so it can be held across `.await`.
///
/// Dropping the guard stamps the module's last use; a [`Class::Feature`] module is
/// unloaded right there if this was its last guard and nothing holds it.
///
/// ```
/// let runtime = lmms::Runtime::builder().build()?;
/// let words = runtime.register(lmms::ModuleDef::named("words"), || vec!["a", "b"])?;
/// let guard = words.get()?;
/// assert_eq!(guard.len(), 2);
/// assert_eq!(words.unload(), lmms::Unload::Kept(lmms::KeepReason::InUse));
/// drop(guard);
/// # Ok::<(), lmms::Error>(())
/// ```
pub struct Guard<'a, T: Send + Sync + 'static> {
    inner: ManuallyDrop<CellGuard<'a, T>>,
    module: &'a ModuleCell<T>,
    shared: &'a Shared,
}

impl<T: Send + Sync + 'static> Deref for Guard<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        self.inner.get()
    }
}

impl<T: Send + Sync + fmt::Debug + 'static> fmt::Debug for Guard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Guard").field(&**self).finish()
    }
}

impl<T: Send + Sync + 'static> Drop for Guard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        let info = &self.module.info;
        let now = self.shared.time.recent();
        // Most drops see the stamp already current; skipping the store keeps the line
        // shared between threads instead of bouncing it on every call.
        if info.last_use.load(Relaxed) != now {
            info.last_use.store(now, Relaxed);
        }
        // SAFETY: dropped exactly once, here, and `inner` is not used after.
        unsafe { ManuallyDrop::drop(&mut self.inner) };
        if info.def.class == Class::Feature && self.module.cell.holders() == 0 {
            // The unload runs user code (the state's `Drop`, contained there, and a tracing
            // subscriber). A drop may run during an unwind, where a second panic aborts the
            // process: once the state is gone and counted, a panic is only a lost event.
            let _ = panic::catch_unwind(AssertUnwindSafe(|| {
                if let Unload::Unloaded { bytes } = self.module.unload_in(self.shared) {
                    self.shared.reclaimed(bytes);
                }
            }));
        }
    }
}

/// Keeps a module resident while alive; see [`ModuleCell::pin`].
///
/// ```
/// let runtime = lmms::Runtime::builder().build()?;
/// let m = runtime.register(lmms::ModuleDef::named("m"), || 1u8)?;
/// let pin = m.pin();
/// assert_eq!(m.stats().pins, 1);
/// drop(pin);
/// assert_eq!(m.stats().pins, 0);
/// # Ok::<(), lmms::Error>(())
/// ```
#[must_use = "the module is pinned only while the `Pin` lives"]
#[derive(Debug)]
pub struct Pin<'a>(&'a AtomicUsize);

impl<'a> Pin<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Relaxed);
        Pin(count)
    }
}

impl Drop for Pin<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

/// Marks a module as depended on while alive; see [`ModuleCell::depend`].
///
/// ```
/// let runtime = lmms::Runtime::builder().build()?;
/// let m = runtime.register(lmms::ModuleDef::named("m"), || 1u8)?;
/// let dependent = m.depend();
/// assert_eq!(m.stats().dependents, 1);
/// drop(dependent);
/// # Ok::<(), lmms::Error>(())
/// ```
#[must_use = "the module is depended on only while the `Dependent` lives"]
#[derive(Debug)]
pub struct Dependent<'a> {
    _count: Pin<'a>,
}

pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

/// A compile-time check the operation attribute generates for a by-value first parameter:
/// `StateProbe::<T>::new().check()` resolves to the inherent method, whose bound fails with
/// a message, when `T` is a module's state, and to [`NotState`]'s otherwise.
#[doc(hidden)]
pub struct StateProbe<T>(std::marker::PhantomData<T>);

impl<T> StateProbe<T> {
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        StateProbe(std::marker::PhantomData)
    }
}

impl<T: Module> StateProbe<T> {
    pub fn check(&self)
    where
        T: StateByReference,
    {
    }
}

/// Never implemented: the message a module's state taken by value gets.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` is a module's state: an operation borrows it",
    label = "taken by value here",
    note = "write the first parameter as `&{Self}`: every call shares the one loaded state"
)]
pub trait StateByReference {}

/// The fallback of [`StateProbe::check`]: any type that is not a module's state.
#[doc(hidden)]
pub trait NotState {
    fn check(&self) {}
}

impl<T> NotState for StateProbe<T> {}

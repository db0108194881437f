//! Modules: a unit of state with a lifecycle, built on first use, dropped when idle,
//! built again when needed; and the guards, pins and dependents that hold it meanwhile.
//!
//! Its pieces, each answering one question: [`load`] how the state is built (the traits a
//! state type implements), `loading` how a load runs (sync and async, around one shared
//! step), `unload` how the state goes, [`guard`] what holds it meanwhile.

mod guard;
mod load;
mod loading;
mod unload;

pub use guard::{Dependent, Guard, PinGuard};
pub use load::{AsyncLoad, Load};

use crate::cell::{CellGuard, StateCell};
use crate::context::{Closing, Context, Entry, RuntimeInner};
use crate::def::ModuleDef;
use crate::error::{BoxError, Error};
use crate::flight::Flight;
use crate::gaps::IdleGaps;
use crate::info::Info;
use crate::outcome::Unload;
use crate::stats::ModuleStats;
use load::{load_async_boxed, Loader};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, OnceLock};

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
pub trait Module: AsyncLoad {
    /// The static cell holding this type's state.
    fn cell() -> &'static ModuleCell<Self>;
}

/// A module: its state in a resettable cell, and what the unload policy needs to know
/// about it.
///
/// Declare one as a `static` (the `#[lmms::module]` attribute writes this for you) and
/// [`get`](ModuleCell::get) it where its state is needed: the first get loads it into the
/// global [`Runtime`](crate::Runtime), and a sweep drops it again once it is idle.
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
/// assert!(matches!(TABLE.unload(), lmms::report::Unload::Unloaded { .. }));
/// assert!(!TABLE.is_resident());
/// ```
///
/// A module never hands out a reference that outlives a [`Guard`]: the state can only be
/// dropped while no guard is alive, so the borrow checker and the guard count together
/// make a use after unload impossible.
pub struct ModuleCell<T> {
    info: Info,
    cell: StateCell<T>,
    /// The runtime it is bound to: set on a static module's first use (or by
    /// [`Runtime::add`](crate::Runtime::add)), at once for a run-time one.
    runtime: OnceLock<Arc<Context>>,
    loader: Loader<T>,
    /// An async module's loads in progress.
    flight: Flight,
    /// An async module's [`AsyncLoad::close`].
    close: Option<fn(T) -> Option<Closing>>,
}

impl<T: AsyncLoad> ModuleCell<T> {
    crate::sync::const_fn! {
        /// A module whose state `T::load` builds ([`Load`], or [`AsyncLoad`] awaited by
        /// [`get_async`](ModuleCell::get_async)); nothing runs and nothing is allocated until
        /// the first get.
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
                runtime: OnceLock::new(),
                loader: match T::__SYNC {
                    Some(load) => Loader::Trait(load),
                    None => Loader::Async(load_async_boxed::<T>),
                },
                flight: Flight::new(),
                close: match T::__SYNC {
                    Some(_) => None,
                    None => Some(T::close),
                },
            }
        }
    }
}

impl<T: Send + Sync + 'static> ModuleCell<T> {
    /// A guard on the state, loading it first if it is not resident.
    ///
    /// The first get of a static module registers it with the global runtime
    /// ([`Runtime::global`](crate::Runtime::global)). A failed or panicking load returns the error and leaves the
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
        self.guard(self.runtime()?)
    }

    #[inline]
    pub(crate) fn guard<'a>(&'a self, shared: &'a Context) -> Result<Guard<'a, T>, Error> {
        let inner = match self.cell.try_get() {
            Some(inner) => {
                self.used(shared);
                inner
            }
            None => self.load(shared)?,
        };
        Ok(Guard::new(inner, self, shared))
    }

    /// A use of a resident module after an idle gap: records the time since the last use
    /// ended, unless another use is still running (then it was never idle). A load records
    /// its own gap.
    #[inline]
    fn used(&self, shared: &Context) {
        let idle = shared
            .time
            .recent()
            .saturating_sub(self.info.last_use.load(Relaxed));
        if idle >= IdleGaps::SHORTEST_MS && self.cell.holders() == 1 {
            self.info.gaps.record(idle);
        }
    }

    /// A guard on the state, loading it first if it is not resident, from async code: an
    /// [`AsyncLoad`] module's load is awaited, once however many tasks ask (see
    /// [`AsyncLoad`] for failures and cancellation); a [`Load`] module's runs at once, as in
    /// [`get`](ModuleCell::get). The guard can be held across `.await`s.
    ///
    /// ```
    /// # struct Model { weights: Vec<f32> }
    /// impl lmms::AsyncLoad for Model {
    ///     type Error = std::convert::Infallible;
    ///     async fn load() -> Result<Self, Self::Error> {
    ///         Ok(Model { weights: vec![0.5; 4] }) // fetched with `.await`s
    ///     }
    /// }
    /// static MODEL: lmms::ModuleCell<Model> = lmms::ModuleCell::new(lmms::ModuleDef::new("model"));
    ///
    /// async fn score() -> Result<f32, lmms::Error> {
    ///     Ok(MODEL.get_async().await?.weights.iter().sum())
    /// }
    /// # assert_eq!(tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(score()).unwrap(), 2.0);
    /// ```
    pub async fn get_async(&'static self) -> Result<Guard<'static, T>, Error> {
        let shared = self.runtime()?;
        self.guard_async(shared).await
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
    /// assert_eq!(CONFIG.unload(), lmms::report::Unload::NotResident);
    /// let guard = CONFIG.get()?;
    /// assert_eq!(CONFIG.unload(), lmms::report::Unload::Kept(lmms::report::KeepReason::InUse));
    /// drop(guard);
    /// assert!(matches!(CONFIG.unload(), lmms::report::Unload::Unloaded { .. }));
    /// # Ok::<(), lmms::Error>(())
    /// ```
    pub fn unload(&self) -> Unload {
        let Some(shared) = self.runtime.get() else {
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

    /// Keeps the module resident while the returned [`PinGuard`] lives: sweeps answer
    /// [`KeepReason::Pinned`](crate::report::KeepReason::Pinned) (unload check 2). Hot operations pin their modules; an
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
    /// assert_eq!(CONFIG.unload(), lmms::report::Unload::Kept(lmms::report::KeepReason::Pinned));
    /// drop(pin);
    /// # Ok::<(), lmms::Error>(())
    /// ```
    pub fn pin(&self) -> PinGuard<'_> {
        PinGuard::new(&self.info.pins)
    }

    /// Records that something outside the module (a cached result, say) depends on its
    /// state: while the returned [`Dependent`] lives, sweeps answer
    /// [`KeepReason::Dependents`](crate::report::KeepReason::Dependents) (unload check 3).
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
    /// assert_eq!(CONFIG.unload(), lmms::report::Unload::Kept(lmms::report::KeepReason::Dependents));
    /// drop(entry);
    /// # Ok::<(), lmms::Error>(())
    /// ```
    pub fn depend(&self) -> Dependent<'_> {
        Dependent {
            _count: PinGuard::new(&self.info.dependents),
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

    /// Whether it is bound to a runtime.
    pub(crate) fn is_bound(&self) -> bool {
        self.runtime.get().is_some()
    }

    /// Whether its state is built with `.await`, and so may have a close.
    pub(crate) fn loads_async(&self) -> bool {
        self.close.is_some()
    }

    /// The runtime this static module is bound to, binding it to the global one if it
    /// has none.
    #[inline]
    pub(crate) fn runtime(&'static self) -> Result<&'static Arc<Context>, Error> {
        match self.runtime.get() {
            Some(shared) => Ok(shared),
            None => self.bind_global(),
        }
    }

    #[cold]
    fn bind_global(&'static self) -> Result<&'static Arc<Context>, Error> {
        Ok(RuntimeInner::global().bind(self)?.0)
    }

    /// A module with its own loader, bound to `shared` from the start: a
    /// [`Handle`](crate::state::Handle)'s.
    pub(crate) fn with_loader(
        def: ModuleDef,
        load: impl Fn() -> Result<T, BoxError> + Send + Sync + 'static,
        shared: &Arc<Context>,
    ) -> Self {
        ModuleCell {
            info: Info::new(def),
            cell: StateCell::new(),
            runtime: OnceLock::from(Arc::clone(shared)),
            loader: Loader::Closure(Box::new(load)),
            flight: Flight::new(),
            close: None,
        }
    }

    /// What a hot operation holds: a guard on the state (loaded if needed) that, unlike a
    /// [`Guard`], stamps no use when dropped, and a count in the module's hot pins.
    pub(crate) fn hold(&'static self) -> Result<(CellGuard<'static, T>, PinGuard<'static>), Error> {
        let shared = self.runtime()?;
        let inner = match self.cell.try_get() {
            Some(inner) => inner,
            None => self.load(shared)?,
        };
        Ok((inner, PinGuard::new(&self.info.hot)))
    }

    /// The module's bookkeeping, without its type.
    pub(crate) fn info(&self) -> &Info {
        &self.info
    }

    /// Drops every cached result of this module's operations, so that they no longer keep
    /// it resident (unload check 3); call it before [`unload`](ModuleCell::unload) to unload a
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
}

impl<T: Send + Sync + 'static> Entry for ModuleCell<T> {
    fn info(&self) -> &Info {
        &self.info
    }

    fn runtime(&self) -> &OnceLock<Arc<Context>> {
        &self.runtime
    }

    fn guards(&self) -> usize {
        self.cell.holders()
    }

    fn is_resident(&self) -> bool {
        self.cell.is_loaded()
    }

    fn unload(&self, shared: &Context) -> Unload {
        self.unload_in(shared)
    }

    fn can_prewarm(&self) -> bool {
        !matches!(self.loader, Loader::Async(_))
    }

    fn prewarm(&self, shared: &Context, last_use: u64) -> Result<bool, Error> {
        if self.cell.is_loaded()
            || !self.can_prewarm()
            || self.info.last_use.load(Relaxed) != last_use
        {
            return Ok(false);
        }
        // A caller's load (or another sweep's pre-warm) may run meanwhile, and this one wait
        // for it: only a load made here counts. The cell's guard, not a `Guard`: dropping
        // it stamps no use.
        let (guard, loaded_here) = self.load_here(shared, true)?;
        drop(guard);
        Ok(loaded_here)
    }
}

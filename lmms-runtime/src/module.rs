//! Modules: a unit of state with a lifecycle, built on first use, dropped when idle,
//! built again when needed; and the guards, pins and dependents that hold it meanwhile.

use crate::cell::{CellGuard, LoadFailure, StateCell, Take};
use crate::def::{Class, ModuleDef};
use crate::error::{into_message, BoxError, Error};
use crate::flight::{Failure, Flight, Leading, SharedError, Turn};
use crate::gaps::IdleGaps;
use crate::hot;
use crate::info::Info;
use crate::memory;
use crate::outcome::{KeepReason, Unload};
use crate::shared::{Closing, Entry, Home, Shared};
use crate::stats::ModuleStats;
use crate::sweep;
use std::fmt;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::task::Poll;

/// How a module's state is built, on first use.
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
    /// a load that waits for it. A loader that blocks on an async module
    /// (`block_on(M::get_async())`) blocks its thread: if the task that runs this load also
    /// leads `M`'s load (both in one `load_together` or `join!`), nothing can poll it, and
    /// the two wait for ever; get async modules from an [`AsyncLoad`] loader instead.
    fn load() -> Result<Self, Self::Error>;
}

/// How a module's state is built with `.await`, on first use: an SDK client made from
/// `aws_config::load_from_env().await`, a pool's `connect().await`, a model fetched from
/// object storage. (Every [`Load`] type is an `AsyncLoad` too, whose load runs at once.)
///
/// Get such a module with [`get_async`](ModuleCell::get_async)`().await`, or call its
/// operations, which are `async fn`s. However many tasks and threads ask at once, one load
/// runs and the others wait for it without blocking a thread; a failed load is every
/// waiter's error, and the next get tries again. **If the task running the load is
/// cancelled (its future dropped), the next waiting task runs the load anew.** It works on
/// any executor.
///
/// ```
/// use lmms::{AsyncLoad, Closing};
///
/// #[lmms::module(name = "orders")]
/// pub struct Orders { rows: Vec<u32> }
///
/// impl AsyncLoad for Orders {
///     type Error = std::io::Error;
///     async fn load() -> Result<Self, Self::Error> {
///         let rows = fetch_rows().await?; // a database, an SDK client, object storage
///         Ok(Orders { rows })
///     }
///     fn close(self) -> Option<Closing> {
///         // Given the state when the module is unloaded: flush, close connections.
///         Some(Box::pin(async move { drop(self.rows) }))
///     }
/// }
/// # async fn fetch_rows() -> std::io::Result<Vec<u32>> { Ok(vec![7, 8]) }
///
/// async fn handler() -> Result<usize, lmms::Error> {
///     Ok(Orders::get_async().await?.rows.len())
/// }
/// # fn main() {
/// #     assert_eq!(tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(handler()).unwrap(), 2);
/// # }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not say how to build its state",
    label = "no `lmms::Load` or `lmms::AsyncLoad` impl",
    note = "implement `lmms::Load for {Self}` (or `lmms::AsyncLoad`, to build it with `.await`): it builds the module's state on first use"
)]
pub trait AsyncLoad: Sized + Send + Sync + 'static {
    /// What a failed load returns; [`std::convert::Infallible`] when loading cannot fail.
    type Error: Into<BoxError>;

    /// Builds the state. Runs on the first get after start or after an unload, in the task
    /// of the first caller, once however many ask at the same time.
    ///
    /// A loader may get other modules (joining several gets overlaps their loads); one that
    /// reaches its own module, directly or through other modules' loaders in any task, gets
    /// [`Error::ReentrantLoad`]. A loader that spawns a task and awaits it must not let that
    /// task get this module: lmms cannot see that the two tasks are one load.
    fn load() -> impl Future<Output = Result<Self, Self::Error>> + Send;

    /// Releases what the state holds when the module is unloaded: called with the state,
    /// where the unload happens (a sweep, the reaper, a feature module's last guard). The
    /// default, `None`, drops it. A future returned here finishes the close with `.await`s:
    /// [`Runtime::closes`](crate::Runtime::closes) (or [`sweep_async`](crate::Runtime::sweep_async),
    /// [`shutdown`](crate::Runtime::shutdown)) awaits it, unless the runtime hands closes
    /// to an executor ([`Runtime::spawn_closes`](crate::Runtime::spawn_closes)). Until
    /// then the state lives on in the close, and [`Stats::closing`](crate::Stats::closing)
    /// counts it.
    ///
    /// ```
    /// # struct Log(Vec<String>);
    /// # impl lmms::AsyncLoad for Log {
    /// #     type Error = std::convert::Infallible;
    /// #     async fn load() -> Result<Self, Self::Error> { Ok(Log(Vec::new())) }
    /// fn close(self) -> Option<lmms::Closing> {
    ///     Some(Box::pin(async move {
    ///         let lines = self.0.len(); // flush them, with `.await`s
    ///         # let _ = lines;
    ///     }))
    /// }
    /// # }
    /// ```
    fn close(self) -> Option<Closing> {
        None
    }

    /// The synchronous loader of a [`Load`] type, for the blanket impl; `None` otherwise.
    #[doc(hidden)]
    const __SYNC: Option<fn() -> Result<Self, BoxError>> = None;
}

impl<T: Load> AsyncLoad for T {
    type Error = T::Error;

    async fn load() -> Result<Self, Self::Error> {
        <T as Load>::load()
    }

    const __SYNC: Option<fn() -> Result<Self, BoxError>> = Some(load_boxed::<T>);
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
pub trait Module: AsyncLoad {
    /// The static cell holding this type's state.
    fn cell() -> &'static ModuleCell<Self>;
}

/// Builds a module's state: `T::load` for a static module (awaited for an async one), any
/// closure for one registered at run time.
enum Loader<T> {
    Trait(fn() -> Result<T, BoxError>),
    Async(fn() -> LoadFuture<T>),
    Closure(Box<dyn Fn() -> Result<T, BoxError> + Send + Sync>),
}

type LoadFuture<T> = std::pin::Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send>>;

fn load_boxed<T: Load>() -> Result<T, BoxError> {
    <T as Load>::load().map_err(Into::into)
}

fn load_async_boxed<T: AsyncLoad>() -> LoadFuture<T> {
    Box::pin(async { <T as AsyncLoad>::load().await.map_err(Into::into) })
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
    /// The runtime it is bound to: set on a static module's first use (or by
    /// [`Runtime::add`](crate::Runtime::add)), at once for a run-time one.
    runtime: OnceLock<Arc<Shared>>,
    loader: Loader<T>,
    /// An async module's loads in progress.
    flight: Flight,
    /// An async module's [`AsyncLoad::close`].
    close: Option<fn(T) -> Option<Closing>>,
}

impl<T: AsyncLoad> ModuleCell<T> {
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
    pub(crate) fn guard<'a>(&'a self, shared: &'a Shared) -> Result<Guard<'a, T>, Error> {
        let inner = match self.cell.try_get() {
            Some(inner) => {
                self.used(shared);
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

    /// A use of a resident module after an idle gap: records the time since the last use
    /// ended, unless another use is still running (then it was never idle). A load records
    /// its own gap.
    #[inline]
    fn used(&self, shared: &Shared) {
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

    pub(crate) async fn guard_async<'a>(
        &'a self,
        shared: &'a Shared,
    ) -> Result<Guard<'a, T>, Error> {
        let Loader::Async(load) = &self.loader else {
            return self.guard(shared);
        };
        if let Some(inner) = self.cell.try_get() {
            self.used(shared);
            return Ok(Guard {
                inner: ManuallyDrop::new(inner),
                module: self,
                shared,
            });
        }
        // Boxed: the waits and the load are large futures, and a resident module's get
        // should not carry them.
        Box::pin(self.wait_or_load(shared, *load)).await
    }

    #[cold]
    async fn wait_or_load<'a>(
        &'a self,
        shared: &'a Shared,
        load: fn() -> LoadFuture<T>,
    ) -> Result<Guard<'a, T>, Error> {
        let mut room_made = false;
        let inner = loop {
            if let Some(inner) = self.cell.try_get() {
                self.used(shared);
                break inner;
            }
            match self.flight.turn(self as *const Self as usize).await {
                Turn::Lead(leading) => match self.cell.get_settled() {
                    // Loaded by the load that ended between our look and our turn, or kept
                    // by an unload that was deciding when we looked.
                    Some(inner) => break inner,
                    // Room is made by the caller that leads, and outside its turn, as a sync
                    // load makes it before its cell's lock: a `Drop` that room-making runs
                    // may get this module, and must not wait for a load its own thread
                    // leads; a caller that only waits makes none, as its `Drop`s could wait
                    // for the leader, which this thread cannot poll meanwhile.
                    None if !room_made && self.needs_room(shared) => {
                        drop(leading);
                        self.make_room(shared);
                        room_made = true;
                    }
                    None => break self.load_async(shared, load, leading).await?,
                },
                Turn::Ended(None) => {}
                Turn::Ended(Some(failure)) => return Err(self.failed(failure)),
                Turn::Cycle => return Err(self.reentrant()),
            }
        };
        Ok(Guard {
            inner: ManuallyDrop::new(inner),
            module: self,
            shared,
        })
    }

    /// Runs an async module's load as the task that leads it: each poll of the loader is
    /// measured (what it allocates on the polling thread is what the state keeps) and
    /// contained (a panic is a failed load), and the state goes into the cell once built.
    #[cold]
    async fn load_async<'a>(
        &'a self,
        shared: &'a Shared,
        load: fn() -> LoadFuture<T>,
        leading: Leading<'_>,
    ) -> Result<CellGuard<'a, T>, Error> {
        #[cfg(feature = "tracing")]
        let span = tracing::info_span!(target: "lmms", "lmms.load", module = %self.info.def.name(), class = ?self.info.def.class_of());
        #[cfg(feature = "tracing")]
        let started = std::time::Instant::now();
        let asked = shared.time.refresh();
        let mut future = None;
        let window = memory::Window::open();
        let mut own = 0isize;
        let built = std::future::poll_fn(|cx| {
            #[cfg(feature = "tracing")]
            let _entered = span.enter();
            let (polled, net) = memory::measure_own(|| {
                sweep::loading(|| {
                    panic::catch_unwind(AssertUnwindSafe(|| {
                        leading.polling(|| {
                            let running = future.get_or_insert_with(load);
                            let polled = running.as_mut().poll(cx);
                            if polled.is_ready() {
                                // Inside the measure: the loader's own frame is not state.
                                future = None;
                            }
                            // Boxed inside the measure: the box is this load's too.
                            polled.map(|built| built.map(Box::new))
                        })
                    }))
                })
            });
            own = own.wrapping_add(net);
            match polled {
                Ok(Poll::Pending) => Poll::Pending,
                Ok(Poll::Ready(built)) => Poll::Ready(Ok(built)),
                Err(payload) => Poll::Ready(Err(payload)),
            }
        })
        .await;
        let failure = match built {
            Ok(Ok(state)) => {
                let _bytes = self.record_load(shared, own, window, asked, false);
                let inner = self.cell.publish(state);
                leading.end(None);
                self.fit(shared);
                #[cfg(feature = "tracing")]
                crate::trace::event!(
                    tracing::Level::INFO,
                    module = %self.info.def.name(),
                    bytes = _bytes,
                    ms = started.elapsed().as_secs_f64() * 1000.0,
                    "loaded"
                );
                return Ok(inner);
            }
            Ok(Err(error)) => Failure::Failed(Arc::new(error)),
            Err(payload) => Failure::Panicked(into_message(payload)),
        };
        leading.end(Some(failure.clone()));
        shared.counters.load_failed();
        let error = self.failed(failure);
        crate::trace::event!(tracing::Level::WARN, module = %self.info.def.name(), error = %error, "load failed");
        Err(error)
    }

    /// The error of a failed async load, for each task that waited for it.
    fn failed(&self, failure: Failure) -> Error {
        let module = self.info.def.name().to_string();
        match failure {
            Failure::Failed(source) => Error::Load {
                module,
                source: Box::new(SharedError(source)),
            },
            Failure::Panicked(message) => Error::LoadPanicked { module, message },
        }
    }

    fn reentrant(&self) -> Error {
        Error::ReentrantLoad {
            module: self.info.def.name().to_string(),
        }
    }

    /// Books a load whose polls kept `own` bytes on their threads (less nested loads'),
    /// helped by what was allocated outside every measure since `window` opened (see
    /// [`memory`]'s docs): the module's bytes, loads, idle gap and last use, and the
    /// runtime's totals. Returns the bytes booked. `asked`: the runtime's time when the
    /// load was asked for, where the idle gap ended (not when the load is done: a slow load
    /// would teach gaps longer than the calls keep). A load `ahead` of a predicted use (a
    /// pre-warm) is no use: the idle gap goes on until the next one, and is recorded then.
    fn record_load(
        &self,
        shared: &Shared,
        own: isize,
        window: memory::Window,
        asked: u64,
        ahead: bool,
    ) -> u64 {
        // Without the counting allocator nothing was measured: the state's inline size is
        // all there is to report (and no budget runs on it).
        let kept = match memory::live_heap() {
            // Other threads freeing memory meanwhile are no reason to charge less than
            // the load's own threads kept.
            Some(_) => own.wrapping_add(window.unmeasured().max(0)).max(0) as u64,
            None => size_of::<T>() as u64,
        };
        memory::book(kept as isize);
        self.info.bytes.store(kept, Relaxed);
        self.info.last_bytes.store(kept, Relaxed);
        let now = shared.time.refresh();
        self.info.load_ms.store(now.saturating_sub(asked), Relaxed);
        shared.counters.loaded(kept);
        let last = self.info.last_use.load(Relaxed);
        let loaded_before = self.info.loads.fetch_add(1, Relaxed) > 0;
        if ahead {
            self.info.prewarms.fetch_add(1, Relaxed);
            self.info.warmed_after.store(last, Relaxed);
            shared.counters.prewarmed();
            return kept;
        }
        if loaded_before {
            // Loaded again: the time since its last use was an idle gap.
            self.info.gaps.record(asked.saturating_sub(last));
        }
        self.info.last_use.store(now, Relaxed);
        kept
    }

    /// A caller that found a pre-warm's load under way and waited for it: the pre-warm
    /// recorded no gap, so the caller does (once, however many waited).
    fn waited_for_prewarm(&self, asked: u64) {
        let last = self.info.last_use.load(Relaxed);
        let claimed = self
            .info
            .warmed_after
            .compare_exchange(last, u64::MAX, Relaxed, Relaxed);
        if claimed.is_ok() {
            self.info.gaps.record(asked.saturating_sub(last));
        }
    }

    /// Whether a load would make room first: a budget is set and the module's size known.
    fn needs_room(&self, shared: &Shared) -> bool {
        shared.config.memory_budget.is_some() && self.info.last_bytes.load(Relaxed) > 0
    }

    /// Before a load: room in the memory budget for what this module's last load kept (a
    /// first load's size is not known until it is done; [`fit`](Self::fit) deals with it).
    fn make_room(&self, shared: &Shared) {
        let needs = self.info.last_bytes.load(Relaxed);
        if needs > 0 {
            sweep::make_room(shared, needs, |held| hot::yield_to_budget(shared, held));
        }
    }

    /// After a load, its guard held: if resident state is over the memory budget, idle
    /// modules are unloaded until it fits; a load that still does not fit went ahead, and
    /// is counted and reported.
    fn fit(&self, shared: &Shared) {
        if !sweep::make_room(shared, 0, |held| hot::yield_to_budget(shared, held)) {
            shared.counters.over_budget();
            // Its subscriber's panic is contained: the load is done and counted.
            crate::error::quietly(|| {
                crate::trace::event!(
                    tracing::Level::WARN,
                    module = %self.info.def.name(),
                    bytes = self.info.bytes.load(Relaxed),
                    "loaded over the memory budget: no idle module was left to unload"
                );
            });
        }
    }

    /// Loads the state for a caller.
    #[cold]
    fn load<'a>(&'a self, shared: &'a Shared) -> Result<CellGuard<'a, T>, Error> {
        self.load_here(shared, false).map(|(guard, _)| guard)
    }

    /// Loads the state, for a caller or `ahead` of a predicted use (a pre-warm), and says
    /// whether this thread ran the loader (another's load may have been under way). A
    /// pre-warm makes no room in the memory budget: the sweep that asks for it checks that
    /// it fits, and undoes it if it did not.
    #[cold]
    fn load_here<'a>(
        &'a self,
        shared: &'a Shared,
        ahead: bool,
    ) -> Result<(CellGuard<'a, T>, bool), Error> {
        #[cfg(feature = "tracing")]
        let _span = tracing::info_span!(target: "lmms", "lmms.load", module = %self.info.def.name(), class = ?self.info.def.class_of()).entered();
        #[cfg(feature = "tracing")]
        let started = std::time::Instant::now();
        // The "loaded" event is sent once the state is in the cell and the cell's lock
        // released: a subscriber that panics must not turn a counted load into a failed one.
        #[cfg(feature = "tracing")]
        let loaded = std::cell::Cell::new(None);
        let load = match &self.loader {
            Loader::Trait(load) => load as &dyn Fn() -> Result<T, BoxError>,
            Loader::Closure(load) => load,
            Loader::Async(_) => {
                return Err(Error::LoadsAsync {
                    module: self.info.def.name().to_string(),
                })
            }
        };
        let asked = shared.time.refresh();
        if !ahead {
            self.make_room(shared);
        }
        let loaded_here = std::cell::Cell::new(false);
        let run = || {
            let window = memory::Window::open();
            // Boxed inside the measure: the box is this load's too.
            let (built, own) = memory::measure_own(|| sweep::loading(load).map(Box::new));
            if built.is_ok() {
                loaded_here.set(true);
                let _kept = self.record_load(shared, own, window, asked, ahead);
                #[cfg(feature = "tracing")]
                loaded.set(Some((_kept, started.elapsed())));
            }
            built
        };
        let result = self.cell.load(run);
        #[cfg(feature = "tracing")]
        if let Some((bytes, took)) = loaded.get() {
            crate::trace::event!(
                tracing::Level::INFO,
                module = %self.info.def.name(),
                bytes,
                ms = took.as_secs_f64() * 1000.0,
                "loaded"
            );
        }
        if result.is_ok() && loaded_here.get() && !ahead {
            self.fit(shared);
        }
        if result.is_ok() && !loaded_here.get() && !ahead {
            self.waited_for_prewarm(asked);
        }
        result.map(|guard| (guard, loaded_here.get())).map_err(|failure| {
            let module = self.info.def.name().to_string();
            let error = match failure {
                LoadFailure::Failed(source) => {
                    shared.counters.load_failed();
                    Error::Load { module, source }
                }
                LoadFailure::Panicked(payload) => {
                    shared.counters.load_failed();
                    Error::LoadPanicked {
                        module,
                        message: into_message(payload),
                    }
                }
                LoadFailure::Reentrant => self.reentrant(),
            };
            crate::trace::event!(tracing::Level::WARN, module = %self.info.def.name(), error = %error, "load failed");
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

    /// Keeps the module resident while the returned [`Pin`] lives: sweeps answer
    /// [`KeepReason::Pinned`] (unload check 2). Hot operations pin their modules; an
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
    /// [`KeepReason::Dependents`] (unload check 3).
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
    pub(crate) fn runtime(&'static self) -> Result<&'static Arc<Shared>, Error> {
        match self.runtime.get() {
            Some(shared) => Ok(shared),
            None => self.bind_global(),
        }
    }

    #[cold]
    fn bind_global(&'static self) -> Result<&'static Arc<Shared>, Error> {
        Ok(Home::global().bind(self)?.0)
    }

    /// A module with its own loader, bound to `shared` from the start: a
    /// [`Handle`](crate::Handle)'s.
    pub(crate) fn with_loader(
        def: ModuleDef,
        load: impl Fn() -> Result<T, BoxError> + Send + Sync + 'static,
        shared: &Arc<Shared>,
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

    pub(crate) fn unload_in(&self, shared: &Shared) -> Unload {
        if let Some(reason) = self.info.held(&shared.config) {
            return Unload::Kept(reason);
        }
        let state = match self.cell.take() {
            Take::Empty if self.flight.is_leading() => return Unload::Kept(KeepReason::Loading),
            Take::Empty => return Unload::NotResident,
            Take::InUse if self.cell.is_loading() => return Unload::Kept(KeepReason::Loading),
            Take::InUse => return Unload::Kept(KeepReason::InUse),
            Take::Taken(state) => state,
        };
        // Off the books before user code runs: a `Drop` or a close may load this module
        // again, and that load books its own bytes.
        self.info.bytes.store(0, Relaxed);
        let began = shared.time.refresh();
        // Less what loads inside the `Drop` kept: the bytes freed are this state's alone.
        let (closed, freed) = memory::measure_own(|| {
            dropping(&self.info, || {
                panic::catch_unwind(AssertUnwindSafe(|| match self.close {
                    Some(close) => close(*state),
                    None => {
                        drop(state);
                        None
                    }
                }))
            })
        });
        memory::book(freed);
        let ended = shared.time.refresh();
        self.info
            .unload_ms
            .store(ended.saturating_sub(began), Relaxed);
        let bytes = u64::try_from(-freed).unwrap_or(0);
        let dropped = closed.map(|closing| match closing {
            // The state lives on in its close, which books what it frees when it ends.
            Some(closing) => shared.close_later(closing),
            // Measured where the state went, whatever threads built it: the room its next
            // load makes.
            None if memory::live_heap().is_some() && bytes > 0 => {
                self.info.last_bytes.store(bytes, Relaxed);
            }
            None => {}
        });
        self.info.unloads.fetch_add(1, Relaxed);
        let drop_panicked = dropped.is_err();
        if let Err(payload) = dropped {
            crate::error::drop_payload(payload);
        }
        shared.counters.unloaded(bytes, drop_panicked);
        crate::trace::event!(
            tracing::Level::INFO,
            module = %self.info.def.name(),
            bytes,
            rss = crate::memory::rss(),
            "unloaded"
        );
        Unload::Unloaded { bytes }
    }
}

impl<T: Send + Sync + 'static> Entry for ModuleCell<T> {
    fn info(&self) -> &Info {
        &self.info
    }

    fn runtime(&self) -> &OnceLock<Arc<Shared>> {
        &self.runtime
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

    fn can_prewarm(&self) -> bool {
        !matches!(self.loader, Loader::Async(_))
    }

    fn prewarm(&self, shared: &Shared, last_use: u64) -> Result<bool, Error> {
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

std::thread_local! {
    /// The module (its bookkeeping's address) whose state this thread drops now, or 0.
    static DROPPING: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Runs `drop` (a state's `Drop` or close) as the dropping of `info`'s module on this
/// thread; the thread's earlier mark is restored on return or unwind.
fn dropping<R>(info: &Info, drop: impl FnOnce() -> R) -> R {
    /// Restores the earlier mark.
    struct Restore(usize);
    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = DROPPING.try_with(|dropping| dropping.set(self.0));
        }
    }
    let me = info as *const Info as usize;
    let _restore = Restore(
        DROPPING
            .try_with(|dropping| dropping.replace(me))
            .unwrap_or(0),
    );
    drop()
}

fn is_dropping(info: &Info) -> bool {
    DROPPING.try_with(std::cell::Cell::get).unwrap_or(0) == info as *const Info as usize
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
        // Not when this thread is dropping this module's state: a guard its `Drop` took
        // would unload what that `Drop` loaded again, whose `Drop` would do the same.
        if info.def.class_of() == Class::Feature
            && self.module.cell.holders() == 0
            && !is_dropping(info)
        {
            // The unload runs user code (the state's `Drop`, contained there, and a tracing
            // subscriber). A drop may run during an unwind, where a second panic aborts the
            // process: once the state is gone and counted, a panic is only a lost event.
            crate::error::quietly(|| {
                if let Unload::Unloaded { bytes } = self.module.unload_in(self.shared) {
                    self.shared.reclaimed(bytes);
                }
            });
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
    pub(crate) fn new(count: &'a AtomicUsize) -> Self {
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

//! How a module's state is built: the [`Load`] and [`AsyncLoad`] traits a state type
//! implements, and the loader a cell keeps of them.

use crate::context::Closing;
use crate::error::BoxError;
use std::future::Future;

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
    /// other loaders on any thread, gets [`Error::ReentrantLoad`](crate::Error::ReentrantLoad). A loader that hands work
    /// to a helper thread and waits for it should let the helper [`enter`](crate::state::LoadScope::enter)
    /// its [`LoadScope`](crate::state::LoadScope), or a helper that asks for this module waits for
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
/// Get such a module with [`get_async`](super::ModuleCell::get_async)`().await`, or call its
/// operations, which are `async fn`s. However many tasks and threads ask at once, one load
/// runs and the others wait for it without blocking a thread; a failed load is every
/// waiter's error, and the next get tries again. **If the task running the load is
/// cancelled (its future dropped), the next waiting task runs the load anew.** It works on
/// any executor.
///
/// ```
/// use lmms::{AsyncLoad, state::Closing};
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
    /// [`Error::ReentrantLoad`](crate::Error::ReentrantLoad). A loader that spawns a task and awaits it must not let that
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
    /// fn close(self) -> Option<lmms::state::Closing> {
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

/// Builds a module's state: `T::load` for a static module (awaited for an async one), any
/// closure for one registered at run time.
pub(super) enum Loader<T> {
    Trait(fn() -> Result<T, BoxError>),
    Async(fn() -> LoadFuture<T>),
    Closure(Box<dyn Fn() -> Result<T, BoxError> + Send + Sync>),
}

pub(super) type LoadFuture<T> = std::pin::Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send>>;

fn load_boxed<T: Load>() -> Result<T, BoxError> {
    <T as Load>::load().map_err(Into::into)
}

pub(super) fn load_async_boxed<T: AsyncLoad>() -> LoadFuture<T> {
    Box::pin(async { <T as AsyncLoad>::load().await.map_err(Into::into) })
}

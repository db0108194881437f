//! Starting several modules' loads at once, so that the latencies of a request's async
//! loads overlap instead of adding up.

use crate::error::Error;
use crate::join;
use crate::module::ModuleCell;
use std::future::Future;
use std::pin::Pin;

/// A module whose load can be started without naming its state's type: every static
/// [`ModuleCell`], so every `#[lmms::module]` type's `cell()`. What
/// [`load_together`] takes.
///
/// ```
/// # struct Rates;
/// # impl lmms::Load for Rates {
/// #     type Error = std::convert::Infallible;
/// #     fn load() -> Result<Self, Self::Error> { Ok(Rates) }
/// # }
/// static RATES: lmms::ModuleCell<Rates> = lmms::ModuleCell::new(lmms::ModuleDef::new("rates"));
/// let module: &'static dyn lmms::state::Preload = &RATES;
/// assert_eq!(module.name(), "rates");
/// ```
pub trait Preload: Sync {
    /// The module's name.
    fn name(&self) -> &str;

    /// Loads the module if it is not resident (as [`ModuleCell::get_async`] does) and
    /// lets go of it.
    fn preload(&'static self) -> Pin<Box<dyn Future<Output = Result<(), Error>> + Send>>;
}

impl<T: Send + Sync + 'static> Preload for ModuleCell<T> {
    fn name(&self) -> &str {
        self.def().name()
    }

    fn preload(&'static self) -> Pin<Box<dyn Future<Output = Result<(), Error>> + Send>> {
        Box::pin(async move { self.get_async().await.map(drop) })
    }
}

/// Loads every module of `modules` that is not resident, all at once on this task: two
/// async loads of 50 ms each take about 50 ms together, not 100. Each module is still
/// loaded once, whoever else asks for it meanwhile. Call it where a request's needs are
/// known (a route that will use the database client and the model) before the work that
/// uses them; their gets then find them resident.
///
/// Every load runs to its end; the first error, in the order given, is the answer. A
/// loaded module is kept as a used one is: until its grace period has passed (a
/// [`Class::Feature`](crate::Class::Feature) module is unloaded again at once, so start
/// only utility and core modules this way).
///
/// ```
/// # struct Rates;
/// # impl lmms::Load for Rates {
/// #     type Error = std::convert::Infallible;
/// #     fn load() -> Result<Self, Self::Error> { Ok(Rates) }
/// # }
/// # struct Model;
/// # impl lmms::AsyncLoad for Model {
/// #     type Error = std::convert::Infallible;
/// #     async fn load() -> Result<Self, Self::Error> { Ok(Model) }
/// # }
/// static RATES: lmms::ModuleCell<Rates> = lmms::ModuleCell::new(lmms::ModuleDef::new("rates"));
/// static MODEL: lmms::ModuleCell<Model> = lmms::ModuleCell::new(lmms::ModuleDef::new("model"));
///
/// async fn handler() -> Result<(), lmms::Error> {
///     lmms::state::load_together(&[&RATES, &MODEL]).await?;
///     let (_rates, _model) = (RATES.get()?, MODEL.get()?); // both resident now
///     Ok(())
/// }
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(handler()).unwrap();
/// ```
pub async fn load_together(modules: &[&'static dyn Preload]) -> Result<(), Error> {
    join::all(modules.iter().map(|module| module.preload()))
        .await
        .into_iter()
        .collect()
}

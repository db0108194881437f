//! What the attributes' generated code needs beyond the public API — compile-time checks,
//! the questions it asks of a type, and the module's static cell — reached only through
//! `__private`.

use crate::def::ModuleDef;
use crate::module::{AsyncLoad, Load, Module, ModuleCell};
use std::marker::PhantomData;

/// A module's state: a type with `#[lmms::module]`, and its static cell, reached without
/// asking whether the type says how to build its state. The generated code reaches the cell
/// through this rather than [`Module`] (whose `AsyncLoad` bound would be one more error at
/// every place it is named), so that a module without `Load` is one error, at its cell's
/// initializer ([`new_cell`]).
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an lmms module",
    label = "not a module's state",
    note = "add `#[lmms::module]` to the definition of `{Self}`"
)]
pub trait ModuleState: Sized + Send + Sync + 'static {
    /// The static cell holding this type's state.
    fn cell() -> &'static ModuleCell<Self>;
}

/// A type that says how to build its state: [`AsyncLoad`], so [`Load`] too. What a module's
/// cell asks of it ([`new_cell`]), and the bound of the module attribute's `impl Module for
/// T where for<'a> T: Loads`: inside that impl the bound makes `Module`'s `AsyncLoad`
/// supertrait hold, so a type without a load gets no error there. (The `for<'a>` keeps it
/// from being a "trivial bound", one on no parameter, which rustc would check on the spot:
/// a second error.)
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not say how to build its state",
    label = "no `lmms::Load` or `lmms::AsyncLoad` impl",
    note = "implement `lmms::Load` for `{Self}`, or `lmms::AsyncLoad` to build it with `.await` (its operations are then `async fn`s)"
)]
pub trait Loads: AsyncLoad {}

impl<T: AsyncLoad> Loads for T {}

crate::sync::const_fn! {
    /// A module's static cell, as the module attribute builds it: the one place its generated
    /// code asks whether the type says how to build its state, so that a module without `Load`
    /// is one error that says so.
    #[doc(hidden)]
    pub const fn new_cell<T: Loads>(def: ModuleDef) -> ModuleCell<T> {
        ModuleCell::new(def)
    }
}

/// A compile-time check the operation attribute generates for a by-value first parameter:
/// `StateProbe::<T>::new().check()` resolves to the inherent method, whose bound fails with
/// a message, when `T` is a module's state, and to [`NotState`]'s otherwise.
#[doc(hidden)]
pub struct StateProbe<T>(PhantomData<T>);

impl<T> StateProbe<T> {
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        StateProbe(PhantomData)
    }
}

impl<T: ModuleState> StateProbe<T> {
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

/// A compile-time check the operation attribute generates for a synchronous operation's
/// state: `SyncProbe::<T>::new().check()` resolves to the inherent method, whose bound fails
/// with a message, when `T` is a module whose state is built with `.await`, and to
/// [`NotModule`]'s when `T` is no module at all or one that does not say how to build its
/// state (its own error says so, once, at its cell).
#[doc(hidden)]
pub struct SyncProbe<T>(PhantomData<T>);

impl<T> SyncProbe<T> {
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        SyncProbe(PhantomData)
    }
}

impl<T: Module> SyncProbe<T> {
    pub fn check(&self)
    where
        T: LoadsWithoutAwait,
    {
    }
}

/// What a synchronous operation's module must be: one that [`Load`]s without `.await`.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` builds its state with `.await`: an operation on it must be an `async fn`",
    label = "a module with `lmms::AsyncLoad`",
    note = "write `async fn` here (its `call` then awaits the load), or implement `lmms::Load` for `{Self}` instead"
)]
pub trait LoadsWithoutAwait {}

impl<T: Load> LoadsWithoutAwait for T {}

/// The fallback of [`SyncProbe::check`]: a type that is not a module.
#[doc(hidden)]
pub trait NotModule {
    fn check(&self) {}
}

impl<T> NotModule for SyncProbe<T> {}

/// Whether an operation's output is a `Result`, asked of its type rather than its spelling
/// (`Result<T, E>`, an alias, a renamed import, `io::Result<T>` alike): with [`NotResult`]
/// in scope, `<OutputProbe<T>>::IS_RESULT` names the inherent constant when `T` is a
/// `Result` and the trait's otherwise (a path picks an inherent item first, and takes it
/// only when its impl applies). The attribute asks at its expansion site, where the output
/// is a concrete type; generic code could not tell.
#[doc(hidden)]
pub struct OutputProbe<T>(PhantomData<T>);

impl<T, E> OutputProbe<Result<T, E>> {
    /// A `Result`: by name, its `Ok` is the answer and its `Err` an error.
    pub const IS_RESULT: bool = true;
    /// A cache keeps its `Ok`s only, so that one transient error is not the answer for a
    /// whole TTL.
    pub const KEEP: Keep<Result<T, E>> = Some(Result::is_ok);
}

/// The fallback of [`OutputProbe`]: an output that is not a `Result`, answered whole by name
/// and cached whatever it is.
#[doc(hidden)]
pub trait NotResult<T> {
    /// Not a `Result`.
    const IS_RESULT: bool = false;
    /// A cache keeps every output.
    const KEEP: Keep<T> = None;
}

impl<T> NotResult<T> for OutputProbe<T> {}

/// Which outputs a cache keeps: those the function says yes to, or all of them.
type Keep<T> = Option<fn(&T) -> bool>;

/// What a cached operation's output must be: `Clone`, since every hit hands out a copy. The
/// one place the operation attribute's generated code requires it.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "a cached operation's output must be `Clone`: `{Self}` is not",
    label = "each cache hit hands out a copy of this",
    note = "derive or implement `Clone` for `{Self}` (or return it in an `Arc`), or remove `cache_ttl`"
)]
pub trait CachedOutput {
    /// A copy for the next caller.
    fn copy(&self) -> Self;
}

impl<T: Clone> CachedOutput for T {
    #[inline]
    fn copy(&self) -> Self {
        self.clone()
    }
}

//! What the attributes' generated code needs beyond the public API — compile-time checks
//! and one small helper — reached only through `__private`.

use crate::module::{Load, Module};

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

/// A compile-time check the operation attribute generates for a synchronous operation's
/// state: `SyncProbe::<T>::new().check()` resolves to the inherent method, whose bound fails
/// with a message, when `T` is a module whose state is built with `.await`, and to
/// [`NotModule`]'s when `T` is no module at all (the `Module` bound says so elsewhere).
#[doc(hidden)]
pub struct SyncProbe<T>(std::marker::PhantomData<T>);

impl<T> SyncProbe<T> {
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        SyncProbe(std::marker::PhantomData)
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

/// What a fallible operation returns: a `Result`, however its crate spells it (`Result<T,
/// E>`, `io::Result<T>`, an alias of its own).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a `std::result::Result`, so lmms cannot tell its errors from its values",
    note = "give the operation `cache_errors = \"true\"` to cache every output, or return a `std::result::Result`"
)]
pub trait Outcome {
    /// Whether it is an `Ok`.
    fn is_ok(&self) -> bool;
}

impl<T, E> Outcome for Result<T, E> {
    fn is_ok(&self) -> bool {
        Result::is_ok(self)
    }
}

/// Whether a fallible operation's output is one its cache keeps by default: an `Ok`.
pub fn is_ok<R: Outcome>(output: &R) -> bool {
    output.is_ok()
}

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

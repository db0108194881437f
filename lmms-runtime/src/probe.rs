//! What the attributes' generated code needs beyond the public API — compile-time checks
//! and one small helper — reached only through `__private`.

use crate::module::Module;

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

/// Whether a fallible operation's output is one its cache keeps by default: an `Ok`.
pub fn is_ok<T, E>(output: &Result<T, E>) -> bool {
    output.is_ok()
}

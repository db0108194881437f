//! What holds a module's state meanwhile: a [`Guard`] on it, a [`PinGuard`] that keeps it
//! resident, a [`Dependent`] that says something outside it depends on it.

use super::unload::is_dropping;
use super::ModuleCell;
use crate::cell::CellGuard;
use crate::context::Context;
use crate::def::Class;
use crate::outcome::Unload;
use std::fmt;
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

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
/// assert_eq!(words.unload(), lmms::report::Unload::Kept(lmms::report::KeepReason::InUse));
/// drop(guard);
/// # Ok::<(), lmms::Error>(())
/// ```
pub struct Guard<'a, T: Send + Sync + 'static> {
    inner: ManuallyDrop<CellGuard<'a, T>>,
    module: &'a ModuleCell<T>,
    shared: &'a Context,
}

impl<'a, T: Send + Sync + 'static> Guard<'a, T> {
    pub(super) fn new(
        inner: CellGuard<'a, T>,
        module: &'a ModuleCell<T>,
        shared: &'a Context,
    ) -> Self {
        Guard {
            inner: ManuallyDrop::new(inner),
            module,
            shared,
        }
    }
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
        // The last guard is the occasion; the unload asks the rule (pins, dependents). Only
        // the last asks, so other drops take no lock.
        if info.def.class_of() == Class::Feature
            && self.module.cell.holders() == 0
            && !is_dropping(info)
        {
            // The unload runs user code (the state's `Drop`, contained there, a tracing
            // subscriber, a cache's length). A drop may run during an unwind, where a second
            // panic aborts the process: once the state is gone and counted, a panic is only a
            // lost event.
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
#[must_use = "the module is pinned only while the `PinGuard` lives"]
#[derive(Debug)]
pub struct PinGuard<'a>(&'a AtomicUsize);

impl<'a> PinGuard<'a> {
    pub(crate) fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Relaxed);
        PinGuard(count)
    }
}

impl Drop for PinGuard<'_> {
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
    pub(super) _count: PinGuard<'a>,
}

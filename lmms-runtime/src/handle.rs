//! Modules registered at run time, each with a loader of its own: a plugin, or one of N
//! modules replayed from a trace.

use crate::context::{Context, Entry};
use crate::error::Error;
use crate::module::{Guard, ModuleCell};
use std::ops::Deref;
use std::sync::Arc;

/// A module registered with a [`Runtime`](crate::Runtime) at run time, with a loader of its own: a plugin,
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
    shared: Arc<Context>,
}

impl<T: Send + Sync + 'static> Handle<T> {
    pub(crate) fn new(module: ModuleCell<T>, shared: &Arc<Context>) -> Self {
        Handle {
            module: Arc::new(module),
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

//! The primitives of the loom build: loom's, which explore every interleaving of the
//! accesses to them within `loom::model`, and nothing process-wide.

pub(crate) use event_listener::Event;
pub(crate) use loom::sync::{
    atomic::{fence, AtomicPtr, AtomicU64, AtomicUsize},
    Mutex, MutexGuard,
};

/// How many guard-count stripes each cell has: two, enough for the models' races and
/// half the accesses to explore.
pub(crate) const STRIPES: usize = 2;

/// A thread-local with a `const` initialiser (loom's take a plain expression).
macro_rules! local {
    ($(#[$attr:meta])* static $name:ident: $ty:ty = const { $init:expr }; $($rest:tt)*) => {
        loom::thread_local! { $(#[$attr])* static $name: $ty = $init; }
        $crate::sync::local! { $($rest)* }
    };
    () => {};
}
pub(crate) use local;

/// A process-wide `static`, used through auto-deref: loom's `lazy_static`, fresh in every
/// model execution.
macro_rules! global {
    ($(#[$attr:meta])* static $name:ident: $ty:ty = $init:expr;) => {
        loom::lazy_static! { $(#[$attr])* static ref $name: $ty = $init; }
    };
}
pub(crate) use global;

/// A constructor that is a plain `fn`: loom's atomics cannot be built in a `const` one.
macro_rules! const_fn {
    ($(#[$attr:meta])* $vis:vis const fn $($signature_and_body:tt)*) => {
        $(#[$attr])* $vis fn $($signature_and_body)*
    };
}
pub(crate) use const_fn;

/// `[init; n]` for a value that is not `Copy`, built one by one: loom's atomics cannot be
/// built in a `const` block.
macro_rules! repeat {
    ($init:expr; $n:expr) => {
        std::array::from_fn(|_| $init)
    };
}
pub(crate) use repeat;

/// A point where another thread may run, between two steps that are each atomic on their
/// own (two operations on the result cache's map): a scheduling point, so the models
/// explore what another thread does in between.
#[inline(always)]
pub(crate) fn step() {
    global! {
        static POINT: AtomicUsize = AtomicUsize::new(0);
    }
    // A write, not a read: loom explores only the orders of conflicting accesses, and
    // the map's own accesses are invisible to it.
    POINT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}

/// Drops `hook`: a model's threads end with the model, and what a hook would hand back
/// (a direct call's record) is fresh in every execution.
pub(crate) fn at_thread_exit(hook: Box<dyn FnOnce()>) -> Result<(), Box<dyn FnOnce()>> {
    drop(hook);
    Ok(())
}

/// No process-wide barrier: loom models `fence(SeqCst)` on both sides instead.
pub(crate) mod membarrier {
    /// Registers nothing.
    pub(crate) fn register() {}

    /// Never: `barrier` issues real fences on both sides.
    #[inline(always)]
    pub(crate) fn is_registered() -> bool {
        false
    }

    /// Never called (nothing is registered); answers that no barrier ran.
    pub(crate) fn issue() -> bool {
        false
    }
}

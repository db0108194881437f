//! The primitives of the build that ships: std's, and Linux's `membarrier`.

use std::cell::RefCell;

pub(crate) use event_listener::Event;
pub(crate) use std::sync::{
    atomic::{fence, AtomicPtr, AtomicU64, AtomicUsize},
    Mutex, MutexGuard,
};

/// How many guard-count stripes each cell has: enough that the threads of a small machine
/// rarely share one, few enough that an unload sums them in a few nanoseconds.
pub(crate) const STRIPES: usize = 4;

/// A thread-local with a `const` initialiser.
macro_rules! local {
    ($($tt:tt)*) => { std::thread_local! { $($tt)* } };
}
pub(crate) use local;

/// A process-wide `static`, used through auto-deref: a plain one.
macro_rules! global {
    ($(#[$attr:meta])* static $name:ident: $ty:ty = $init:expr;) => {
        $(#[$attr])* static $name: $ty = $init;
    };
}
pub(crate) use global;

/// A constructor that is a `const fn` (loom's atomics cannot be built in one).
macro_rules! const_fn {
    ($(#[$attr:meta])* $vis:vis const fn $($signature_and_body:tt)*) => {
        $(#[$attr])* $vis const fn $($signature_and_body)*
    };
}
pub(crate) use const_fn;

/// `[init; n]` for a value that is not `Copy`: a `const` block.
macro_rules! repeat {
    ($init:expr; $n:expr) => {
        [const { $init }; $n]
    };
}
pub(crate) use repeat;

/// A point where another thread may run, between two steps that are each atomic on their
/// own (two operations on the result cache's map): nothing here.
#[inline(always)]
pub(crate) fn step() {}

/// The hooks to run when this thread exits, in the order they were added.
struct ExitHooks(RefCell<Vec<Box<dyn FnOnce()>>>);

impl Drop for ExitHooks {
    fn drop(&mut self) {
        for hook in self.0.take() {
            hook();
        }
    }
}

std::thread_local! {
    static EXIT_HOOKS: ExitHooks = const { ExitHooks(RefCell::new(Vec::new())) };
}

/// Runs `hook` when this thread exits; hands it back if the thread is too far into its
/// exit to run it later.
pub(crate) fn at_thread_exit(hook: Box<dyn FnOnce()>) -> Result<(), Box<dyn FnOnce()>> {
    let mut hook = Some(hook);
    let _ = EXIT_HOOKS.try_with(|hooks| hooks.0.borrow_mut().extend(hook.take()));
    hook.map_or(Ok(()), Err)
}

/// Linux's `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`: a full barrier on every CPU
/// running a thread of the process, issued by one thread (see `barrier`).
pub(crate) mod membarrier {
    use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
    use std::sync::OnceLock;

    #[cfg(target_os = "linux")]
    const QUERY: libc::c_int = 0;
    #[cfg(target_os = "linux")]
    const PRIVATE_EXPEDITED: libc::c_int = 1 << 3;
    #[cfg(target_os = "linux")]
    const REGISTER_PRIVATE_EXPEDITED: libc::c_int = 1 << 4;

    /// Whether the process is registered, so [`issue`] runs the barrier. Set once the
    /// registration succeeded; a stale `false` only costs the caller a real fence.
    static REGISTERED: AtomicBool = AtomicBool::new(false);

    /// Registers the process for the expedited barrier (once; never elsewhere than on
    /// Linux, nor on kernels without the command).
    pub(crate) fn register() {
        static TRIED: OnceLock<bool> = OnceLock::new();
        let ok = *TRIED.get_or_init(|| {
            #[cfg(target_os = "linux")]
            {
                // SAFETY: `membarrier` takes two integers and touches no memory of ours.
                let supported = unsafe { libc::syscall(libc::SYS_membarrier, QUERY, 0) };
                let wanted = libc::c_long::from(PRIVATE_EXPEDITED | REGISTER_PRIVATE_EXPEDITED);
                // SAFETY: as above.
                supported >= 0
                    && supported & wanted == wanted
                    && unsafe { libc::syscall(libc::SYS_membarrier, REGISTER_PRIVATE_EXPEDITED, 0) }
                        == 0
            }
            #[cfg(not(target_os = "linux"))]
            false
        });
        REGISTERED.store(ok, Relaxed);
    }

    /// Whether [`register`] succeeded.
    #[inline]
    pub(crate) fn is_registered() -> bool {
        REGISTERED.load(Relaxed)
    }

    /// Issues the barrier, once [`register`] succeeded; whether the kernel ran it.
    pub(crate) fn issue() -> bool {
        #[cfg(target_os = "linux")]
        {
            // SAFETY: `membarrier` takes two integers and touches no memory of ours.
            unsafe { libc::syscall(libc::SYS_membarrier, PRIVATE_EXPEDITED, 0) == 0 }
        }
        #[cfg(not(target_os = "linux"))]
        false
    }
}

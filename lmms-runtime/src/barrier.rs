//! Asymmetric memory barriers: the hot path pays a compiler fence, the rare path (turning
//! a hot path off) pays a process-wide barrier.
//!
//! A direct call announces itself with a plain store and then reads the dispatch pointer;
//! a demotion clears the pointer and then reads the announcements. That is the
//! store-buffering pattern, which needs a full barrier on both sides — unless the slow side
//! issues one *for* every thread: Linux's `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`
//! runs a full barrier on every CPU running a thread of the process. It is paid
//! once per demotion instead of a `SeqCst` fence on every hot call (its cost is in
//! `BENCHMARKS.md`, "Figures behind the code").
//!
//! Elsewhere (macOS, Windows, Linux kernels without the command) and under loom both sides
//! issue `fence(SeqCst)`, which is correct everywhere and slower on the hot side.

#[cfg(not(loom))]
use std::sync::atomic::{compiler_fence, AtomicBool, Ordering::Relaxed};
#[cfg(not(loom))]
use std::sync::OnceLock;

use crate::sync::fence;
use std::sync::atomic::Ordering::SeqCst;

/// Whether `heavy` is the process-wide barrier, so `light` may be a compiler fence. Set
/// once `membarrier` registration succeeded; a stale `false` only costs a real fence.
#[cfg(not(loom))]
static EXPEDITED: AtomicBool = AtomicBool::new(false);

/// Registers the process for expedited `membarrier` (once); afterwards `light` is a
/// compiler fence. Call before the first hot path is published.
pub(crate) fn prepare() {
    #[cfg(all(target_os = "linux", not(loom)))]
    {
        static REGISTERED: OnceLock<bool> = OnceLock::new();
        let ok = *REGISTERED.get_or_init(|| {
            const QUERY: libc::c_int = 0;
            const PRIVATE_EXPEDITED: libc::c_int = 1 << 3;
            const REGISTER_PRIVATE_EXPEDITED: libc::c_int = 1 << 4;
            // SAFETY: `membarrier` takes two integers and touches no memory of ours.
            let supported = unsafe { libc::syscall(libc::SYS_membarrier, QUERY, 0) };
            let wanted = libc::c_long::from(PRIVATE_EXPEDITED | REGISTER_PRIVATE_EXPEDITED);
            // SAFETY: as above.
            supported >= 0
                && supported & wanted == wanted
                && unsafe { libc::syscall(libc::SYS_membarrier, REGISTER_PRIVATE_EXPEDITED, 0) }
                    == 0
        });
        EXPEDITED.store(ok, Relaxed);
    }
}

/// The hot side's barrier.
#[inline]
pub(crate) fn light() {
    #[cfg(not(loom))]
    if EXPEDITED.load(Relaxed) {
        compiler_fence(SeqCst);
        return;
    }
    fence(SeqCst);
}

/// The rare side's barrier: after it, every thread's stores before its last `light` are
/// visible here, and every thread's loads after its next `light` see what was stored
/// here before.
pub(crate) fn heavy() {
    #[cfg(all(target_os = "linux", not(loom)))]
    if EXPEDITED.load(Relaxed) {
        const PRIVATE_EXPEDITED: libc::c_int = 1 << 3;
        // SAFETY: `membarrier` takes two integers and touches no memory of ours.
        if unsafe { libc::syscall(libc::SYS_membarrier, PRIVATE_EXPEDITED, 0) } != 0 {
            // The kernel accepted the registration and now refuses the barrier it was
            // for; hot calls already ran on compiler fences that only this barrier could
            // order, so no state may be released safely. Stop rather than risk it.
            eprintln!("lmms: membarrier failed after registration; aborting");
            std::process::abort();
        }
        return;
    }
    fence(SeqCst);
}

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
//! Elsewhere (macOS, Windows, Linux kernels without the command) and under loom (whose
//! `membarrier` never registers) both sides issue `fence(SeqCst)`, which is correct
//! everywhere and slower on the hot side.

use crate::sync::{compiler_fence, fence, membarrier, Ordering::SeqCst};

/// Registers the process for expedited `membarrier` (once); afterwards `light` is a
/// compiler fence. Call before the first hot path is published.
pub(crate) fn prepare() {
    membarrier::register();
}

/// The hot side's barrier.
#[inline]
pub(crate) fn light() {
    if membarrier::is_registered() {
        compiler_fence(SeqCst);
        return;
    }
    fence(SeqCst);
}

/// The rare side's barrier: after it, every thread's stores before its last `light` are
/// visible here, and every thread's loads after its next `light` see what was stored
/// here before.
pub(crate) fn heavy() {
    if membarrier::is_registered() {
        if !membarrier::issue() {
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

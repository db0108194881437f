//! Memory measured, not estimated: an opt-in counting allocator, the process's resident
//! set, and handing freed memory back to the operating system.
//!
//! Install [`CountingAlloc`] as the global allocator to have every load record the heap
//! bytes its state kept and every unload the bytes it gave back:
//!
//! ```
//! #[global_allocator]
//! static ALLOC: lmms::memory::CountingAlloc = lmms::memory::CountingAlloc;
//!
//! let before = lmms::memory::live_heap().unwrap();
//! let table = vec![0u8; 1 << 20];
//! assert!(lmms::memory::live_heap().unwrap() >= before + (1 << 20));
//! drop(table);
//! ```
//!
//! Without it the runtime still works; a module's bytes, the resident bytes and
//! [`live_heap`] read as `None` (unknown), and the bytes an unload freed as 0.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering::Relaxed};

static LIVE: AtomicIsize = AtomicIsize::new(0);
static INSTALLED: AtomicBool = AtomicBool::new(false);

std::thread_local! {
    /// Bytes this thread allocated minus bytes it freed: what a loader on this thread
    /// kept, whatever other threads do meanwhile.
    static NET: Cell<isize> = const { Cell::new(0) };
}

/// The system allocator, counting live heap bytes: process-wide, and per thread so that a
/// load is charged exactly what its loader kept.
///
/// It costs one relaxed atomic add per allocation and per free on top of the system
/// allocator; a program that allocates heavily from many threads will feel that shared
/// counter, so it is opt-in.
///
/// ```
/// #[global_allocator]
/// static ALLOC: lmms::memory::CountingAlloc = lmms::memory::CountingAlloc;
/// # fn main() { assert!(lmms::memory::live_heap().is_some()); }
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct CountingAlloc;

fn count(delta: isize) {
    LIVE.fetch_add(delta, Relaxed);
    // `try_with` cannot fail for a const-initialised `Cell` (it has no destructor); it is
    // used anyway because an allocator must never panic.
    let _ = NET.try_with(|net| net.set(net.get().wrapping_add(delta)));
    if !INSTALLED.load(Relaxed) {
        INSTALLED.store(true, Relaxed);
    }
}

fn signed(size: usize) -> isize {
    isize::try_from(size).unwrap_or(isize::MAX)
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged and
// only counts what `System` reports; the counting neither allocates nor panics.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let block = unsafe { System.alloc(layout) };
        if !block.is_null() {
            count(signed(layout.size()));
        }
        block
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let block = unsafe { System.alloc_zeroed(layout) };
        if !block.is_null() {
            count(signed(layout.size()));
        }
        block
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(block, layout) };
        count(-signed(layout.size()));
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let moved = unsafe { System.realloc(block, layout, new_size) };
        if !moved.is_null() {
            count(signed(new_size) - signed(layout.size()));
        }
        moved
    }
}

/// Live heap bytes of the whole process, if [`CountingAlloc`] is the global allocator.
///
/// ```
/// // Without `CountingAlloc` installed there is nothing to report.
/// assert_eq!(lmms::memory::live_heap(), None);
/// ```
pub fn live_heap() -> Option<u64> {
    INSTALLED
        .load(Relaxed)
        .then(|| u64::try_from(LIVE.load(Relaxed)).unwrap_or(0))
}

/// The process's resident set size in bytes, where the platform tells it (Linux:
/// `/proc/self/statm`); `None` elsewhere.
///
/// ```
/// if cfg!(target_os = "linux") {
///     assert!(lmms::memory::rss().unwrap() > 0);
/// }
/// ```
pub fn rss() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
}

fn page_size() -> u64 {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `sysconf` has no preconditions.
        let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if let Ok(size) = u64::try_from(size) {
            return size;
        }
    }
    4096
}

/// Bytes this thread has allocated and not freed, by the counting allocator's count.
pub(crate) fn thread_net() -> isize {
    NET.try_with(Cell::get).unwrap_or(0)
}

/// Runs `f` and returns what it returned with the heap bytes it kept on this thread
/// (negative when it freed more than it allocated).
pub(crate) fn measure<R>(f: impl FnOnce() -> R) -> (R, isize) {
    let before = thread_net();
    let out = f();
    (out, thread_net().wrapping_sub(before))
}

std::thread_local! {
    /// What loads and unloads on this thread kept (or freed) in all, so that one around
    /// them can take it off its own: each load's bytes are its module's alone, and so are
    /// each unload's.
    static NESTED: Cell<isize> = const { Cell::new(0) };
}

/// Runs a loader (or one poll of one), or an unload's `Drop`, like [`measure`], less what
/// loads and unloads nested in it kept or freed: a loader that gets another module is
/// charged its own state, not that module's, and a `Drop` that loads a module again frees
/// the state it drops, not that less the new one.
pub(crate) fn measure_own<R>(f: impl FnOnce() -> R) -> (R, isize) {
    let before = NESTED.with(Cell::get);
    let (out, net) = measure(f);
    let nested = NESTED.with(Cell::get).wrapping_sub(before);
    NESTED.with(|kept| kept.set(before.wrapping_add(net)));
    (out, net.wrapping_sub(nested))
}

/// Books `bytes` this thread allocates for a load outside its [`measure_own`] (the box the
/// cell puts the state in) as that load's, so that a measure around it leaves them out.
pub(crate) fn also_nested(bytes: usize) {
    NESTED.with(|kept| kept.set(kept.get().wrapping_add(signed(bytes))));
}

/// Hands memory the allocator keeps cached back to the operating system, so RSS falls
/// after an unload as well as the live heap. glibc keeps freed small blocks in its arenas
/// until `malloc_trim`; other allocators and platforms return memory on their own terms,
/// so there this does nothing.
pub(crate) fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` has no preconditions; it only releases free memory.
    unsafe {
        libc::malloc_trim(0);
    }
}

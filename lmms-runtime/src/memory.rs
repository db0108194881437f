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
//! Without it the runtime still works, but nothing measures a module: a module's bytes,
//! the resident bytes and [`live_heap`] read as `None` (unknown), the bytes an unload freed
//! as 0, and a memory budget is refused (see
//! [`Builder::memory_budget`](crate::tuning::Builder::memory_budget)).
//!
//! # What a module is charged
//!
//! A load is charged what the threads polling its loader kept, less what the loads nested
//! in it kept (those are charged to their own modules), **plus what every other thread
//! kept meanwhile outside any load or unload**: the helper threads, the blocking pool
//! (`tokio::task::spawn_blocking`), the rayon jobs the loader started. The allocator keeps
//! one more count for that: what threads inside a load or an unload allocate and free, as
//! they do it, so another thread's load or unload in flight is never taken for a helper;
//! the rest of the process-wide change over a load is its helpers'. Other work that runs
//! at the same time outside lmms (another request on another thread) moves the figure
//! too: what it allocates is charged to the load, what it frees is taken off the helpers'
//! share (never off what the load's own threads kept), and loads that overlap in time
//! are each charged what the other's helpers allocated. An unload is measured on the
//! thread that drops the state, which is where every byte of it is freed, wherever it was
//! allocated: so the bytes an unload reports are exact, and the next load of that module
//! makes room for them.
//!
//! Bytes are counted as the allocator holds them, not as asked for: on Linux with glibc, a
//! block's usable size and its header (a 5-byte string takes a 32-byte chunk), so state of
//! many small allocations is not undercounted. Elsewhere the requested sizes are counted.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};

/// Bytes held, process-wide.
static LIVE: AtomicIsize = AtomicIsize::new(0);
/// The most bytes held at once since the start or the last [`reset_peak`].
static PEAK: AtomicIsize = AtomicIsize::new(0);
/// Bytes kept by measured code (loads and unloads), process-wide: see [`Window`].
static MEASURED: AtomicIsize = AtomicIsize::new(0);
static INSTALLED: AtomicBool = AtomicBool::new(false);

std::thread_local! {
    /// Bytes this thread allocated minus bytes it freed.
    static NET: Cell<isize> = const { Cell::new(0) };
    /// How many measures (loads' polls, unloads) this thread is inside: while above 0,
    /// what it allocates or frees is measured code's, counted in [`MEASURED`] as it happens.
    static MEASURING: Cell<u32> = const { Cell::new(0) };
}

/// The system allocator, counting the heap bytes it holds: process-wide, and per thread so
/// that a load and an unload are charged what they kept or freed (see the
/// [module docs](self) for how a load's helper threads are counted).
///
/// It costs one relaxed atomic add per allocation and per free on top of the system
/// allocator, and on Linux with glibc one `malloc_usable_size` call; a program that
/// allocates heavily from many threads will feel that shared counter, so it is opt-in.
///
/// ```
/// #[global_allocator]
/// static ALLOC: lmms::memory::CountingAlloc = lmms::memory::CountingAlloc;
/// # fn main() { assert!(lmms::memory::live_heap().is_some()); }
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct CountingAlloc;

fn count(delta: isize) {
    let live = LIVE.fetch_add(delta, Relaxed).wrapping_add(delta);
    // A load of a line that is rarely written: the peak moves only while the heap grows
    // past it.
    if live > PEAK.load(Relaxed) {
        PEAK.fetch_max(live, Relaxed);
    }
    // `try_with` cannot fail for a const-initialised `Cell` (it has no destructor); it is
    // used anyway because an allocator must never panic.
    let _ = NET.try_with(|net| net.set(net.get().wrapping_add(delta)));
    // Counted as it happens, not when the measure ends: a window that closes while
    // another thread's load is in flight must not take that load's bytes for its helpers'.
    if MEASURING.try_with(Cell::get).unwrap_or(0) > 0 {
        MEASURED.fetch_add(delta, Relaxed);
    }
    if !INSTALLED.load(Relaxed) {
        INSTALLED.store(true, Relaxed);
    }
}

fn signed(size: usize) -> isize {
    isize::try_from(size).unwrap_or(isize::MAX)
}

/// The bytes the allocator holds for the block at `block`, asked for with `layout`: its
/// usable size and its header, with glibc; the requested size elsewhere.
#[inline]
fn held(block: *mut u8, layout: Layout) -> isize {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let _ = layout;
        // SAFETY: `block` is a live block of the system allocator (malloc's, as `System`
        // is on this platform), which is all `malloc_usable_size` asks.
        let usable = unsafe { libc::malloc_usable_size(block.cast()) };
        signed(usable + size_of::<usize>())
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        let _ = block;
        signed(layout.size())
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged and
// only counts what `System` reports; the counting neither allocates nor panics.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let block = unsafe { System.alloc(layout) };
        if !block.is_null() {
            count(held(block, layout));
        }
        block
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let block = unsafe { System.alloc_zeroed(layout) };
        if !block.is_null() {
            count(held(block, layout));
        }
        block
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        // Read before the block is freed: its size goes with it.
        let held = held(block, layout);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(block, layout) };
        count(-held);
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let before = held(block, layout);
        // SAFETY: forwarded with the caller's guarantees.
        let moved = unsafe { System.realloc(block, layout, new_size) };
        if !moved.is_null() {
            // SAFETY: the caller guarantees that `new_size`, with `layout`'s alignment, is a
            // valid layout.
            let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
            count(held(moved, new_layout) - before);
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

/// The most heap bytes the process held at once since it started or since the last
/// [`reset_peak`], if [`CountingAlloc`] is the global allocator: what decides whether it
/// fits in a memory limit, where [`live_heap`] says only what it holds now.
///
/// ```
/// assert_eq!(lmms::memory::peak_heap(), None); // the system allocator here
/// ```
pub fn peak_heap() -> Option<u64> {
    live_heap().map(|_| u64::try_from(PEAK.load(Relaxed)).unwrap_or(0))
}

/// Starts a new [`peak_heap`] from what the heap holds now, and returns the peak until
/// now (`None` without [`CountingAlloc`]): the peak of one stretch of work.
///
/// ```
/// assert_eq!(lmms::memory::reset_peak(), None);
/// ```
pub fn reset_peak() -> Option<u64> {
    let peak = PEAK.swap(LIVE.load(Relaxed), Relaxed);
    live_heap().map(|_| u64::try_from(peak).unwrap_or(0))
}

/// Whether [`CountingAlloc`] is the global allocator: whether anything measures a
/// module's bytes.
///
/// ```
/// // Not in this doc test: it runs on the system allocator.
/// assert!(!lmms::memory::counting());
/// ```
pub fn counting() -> bool {
    // One allocation through the global allocator tells: only the counting one moves this
    // thread's count (a `CountingAlloc` called by hand beside another global allocator
    // does not make it the one that sees the modules' allocations).
    let before = thread_net();
    let probe = std::hint::black_box(Box::new(0u64));
    let counted = thread_net() != before;
    drop(probe);
    counted
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
    /// What loads and unloads that ended on this thread booked in all (see [`book`]), so
    /// that one around them takes it off its own.
    static BOOKED: Cell<isize> = const { Cell::new(0) };
}

/// Runs a loader (or one poll of one), or an unload's `Drop`, like [`measure`], less what
/// the loads and unloads nested in it booked: a loader that gets another module is
/// charged its own state, not that module's, and a `Drop` that loads a module again frees
/// the state it drops, not that less the new one. What `f` kept on this thread counts as
/// measured for every [`Window`] open meanwhile.
pub(crate) fn measure_own<R>(f: impl FnOnce() -> R) -> (R, isize) {
    /// Leaves the measure on return or unwind.
    struct Leave;
    impl Drop for Leave {
        fn drop(&mut self) {
            let _ = MEASURING.try_with(|depth| depth.set(depth.get().saturating_sub(1)));
        }
    }
    let booked = BOOKED.with(Cell::get);
    let _ = MEASURING.try_with(|depth| depth.set(depth.get() + 1));
    let leave = Leave;
    let (out, net) = measure(f);
    drop(leave);
    (
        out,
        net.wrapping_sub(BOOKED.with(Cell::get).wrapping_sub(booked)),
    )
}

/// Books `bytes` (negative for an unload) as a load's or an unload's, for whatever measure
/// is open around it on this thread to take off its own.
pub(crate) fn book(bytes: isize) {
    BOOKED.with(|booked| booked.set(booked.get().wrapping_add(bytes)));
}

/// `close` (an async module's rest of an unload), measured: the bytes its polls and its drop
/// free, wherever it runs, are added to `into` when it ends or is dropped unfinished.
pub(crate) fn measure_close(
    close: Pin<Box<dyn Future<Output = ()> + Send>>,
    into: Arc<AtomicU64>,
) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(MeasuredClose {
        close: Some(close),
        freed: 0,
        into,
    })
}

struct MeasuredClose {
    /// `None` once ended: dropped inside the last poll's measure, where the state goes.
    close: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    freed: isize,
    into: Arc<AtomicU64>,
}

impl Future for MeasuredClose {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        if this.close.is_none() {
            return Poll::Ready(());
        }
        // A close that panics has freed what it freed before: counted, then the panic goes
        // on to whoever polls (the closes' await contains it).
        let (polled, kept) = measure_own(|| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let polled = match this.close.as_mut() {
                    Some(close) => close.as_mut().poll(cx),
                    None => Poll::Ready(()),
                };
                if polled.is_ready() {
                    this.close = None;
                }
                polled
            }))
        });
        this.freed = this.freed.wrapping_sub(kept);
        match polled {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(())) => {
                this.book();
                Poll::Ready(())
            }
            Err(payload) => std::panic::resume_unwind(payload),
        }
    }
}

impl MeasuredClose {
    fn book(&mut self) {
        book(-self.freed);
        let freed = u64::try_from(std::mem::take(&mut self.freed)).unwrap_or(0);
        self.into.fetch_add(freed, Relaxed);
    }
}

impl Drop for MeasuredClose {
    fn drop(&mut self) {
        if let Some(close) = self.close.take() {
            let ((), kept) = measure_own(|| drop(close));
            self.freed = self.freed.wrapping_sub(kept);
            self.book();
        }
    }
}

/// A load's span of time, for what the rest of the process allocated meanwhile.
#[derive(Clone, Copy)]
pub(crate) struct Window {
    live: isize,
    measured: isize,
}

impl Window {
    /// Opens a window now.
    pub(crate) fn open() -> Window {
        Window {
            live: LIVE.load(Relaxed),
            measured: MEASURED.load(Relaxed),
        }
    }

    /// Bytes kept since the window opened by code outside every load's and unload's
    /// measure: the helper threads of the load the window is for, and whatever else ran.
    pub(crate) fn unmeasured(&self) -> isize {
        let live = LIVE.load(Relaxed).wrapping_sub(self.live);
        live.wrapping_sub(MEASURED.load(Relaxed).wrapping_sub(self.measured))
    }
}

/// Has the allocator hand memory back to the operating system as soon as it is freed,
/// whichever thread allocated it; once per process.
///
/// glibc raises its trim and `mmap` thresholds after the first large free (up to 32 and
/// 64 MiB), and trims a thread's arena only from its top as blocks are freed, never from
/// `malloc_trim`: a module built on a helper thread and unloaded would stay in the
/// process's resident set. Setting the two thresholds fixes them at glibc's documented
/// defaults (128 KiB), so large blocks are mapped and unmapped on their own, and every
/// arena gives back its free top. Small blocks freed go to glibc's fast bins, which
/// nothing merges until a trim walks them all (tens of ms for a map of small strings):
/// turning the fast bins off (each thread's cache of freed blocks still serves the hot
/// sizes) merges them as they are freed, so the trim after an unload is cheap. Other
/// allocators and platforms: nothing to do here.
pub(crate) fn give_back_promptly() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            const DEFAULT: libc::c_int = 128 * 1024;
            // SAFETY: `mallopt` has no preconditions; it only changes three settings.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, DEFAULT);
                libc::mallopt(libc::M_TRIM_THRESHOLD, DEFAULT);
                libc::mallopt(libc::M_MXFAST, 0);
            }
        });
    }
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

//! The result cache: an operation declared with a TTL answers repeated arguments from
//! memory, before its module is touched (a hit on an unloaded module loads nothing).
//!
//! Storage is [`quick_cache`]: its hit is an order of magnitude cheaper than moka's
//! (`BENCHMARKS.md`, "Figures behind the code"; `cargo bench --bench dispatch` measures
//! quick_cache's own `get` beside ours), and its lifecycle hook is enough to count
//! evictions. It has no TTL of its own, so
//! each entry carries its expiry in runtime milliseconds: a lookup that finds an expired
//! entry removes it and misses, and every sweep purges the expired ones first, so that
//! entries keep their module resident (unload check 3) only while they are live.
//!
//! Each operation on the map is one step for the loom models in `loom_tests.rs`: another
//! thread may run between any two (see `sync::step`).
//!
//! Its pieces: this file, what a cache is to an operation ([`CachePolicy`], [`NoCache`]) and
//! to the runtime ([`ResultCache`]); `key`, the arguments as the map keys them; `cached`,
//! [`Cached`], the map with its expiry, weights and counts.

mod cached;
mod key;

pub use cached::{cached_by, Cached};
pub use key::CacheKey;

/// How an operation's results are cached: [`NoCache`] or [`Cached`]. The call path is
/// generic over it, so an operation without a TTL carries no cache code at all.
pub trait CachePolicy<Args, Output>: Send + Sync + 'static {
    /// What a store needs of the arguments (a clone of them and their hash, or nothing).
    type Key;

    /// Whether results are cached at all: a caching operation answers from its cache
    /// before it takes its direct path.
    const CACHES: bool;

    /// A live cached result for `args`, or the key to store the body's result under, taken
    /// before the arguments move into the body.
    fn lookup(&self, args: &Args, now: u64) -> Lookup<Output, Self::Key>;

    /// Caches `output` for `key`. The cache lives in its operation's `static`.
    fn store(&'static self, key: Self::Key, output: &Output, now: u64);

    /// The cache as the runtime sees it (counts, purge, invalidation), if there is one.
    fn as_dyn(&'static self) -> Option<&'static dyn ResultCache>;
}

/// The runtime's view of one operation's cache.
pub trait ResultCache: Send + Sync {
    /// Live and expired entries held now.
    fn len(&self) -> usize;
    /// Whether it holds no entry.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Drops expired entries; returns how many.
    fn purge(&self, now: u64) -> usize;
    /// Drops every entry.
    fn clear(&self);
    /// Hits, misses, expirations, evictions and contained panics so far.
    fn counts(&self) -> CacheCounts;
    /// Drops every entry and sets every count to zero (`lmms::testing`).
    #[cfg(feature = "testing")]
    #[doc(hidden)]
    fn reset(&self) {
        self.clear();
    }
}

/// How a cached output is handed out again: [`ByClone`], its `Clone`. The generated code of
/// `#[lmms::operation]` names its own, so that an output that is not `Clone` is one error at
/// the output's type rather than one at every bound of the cache.
///
/// ```
/// use lmms::op::CloneOutput;
/// assert_eq!(lmms::op::ByClone::clone_output(&vec![1, 2]), vec![1, 2]);
/// ```
pub trait CloneOutput<Output> {
    /// A copy of `output` for the next caller.
    fn clone_output(output: &Output) -> Output;
}

/// [`CloneOutput`] by the output's `Clone`: what [`Cached`] uses unless told otherwise.
///
/// ```
/// let cache: lmms::op::Cached<u8, String, lmms::op::ByClone> =
///     lmms::op::Cached::new(std::time::Duration::from_secs(1), 8);
/// # let _ = cache;
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct ByClone;

impl<Output: Clone> CloneOutput<Output> for ByClone {
    #[inline]
    fn clone_output(output: &Output) -> Output {
        output.clone()
    }
}

/// A cache's running totals.
///
/// ```
/// assert_eq!(lmms::report::CacheCounts::default().hits, 0);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct CacheCounts {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that ran the body.
    pub misses: u64,
    /// Entries dropped because their TTL ran out.
    pub expired: u64,
    /// Entries dropped to stay within the capacity.
    pub evicted: u64,
    /// Panics in the user code the cache runs — the arguments' `Clone`, `Hash` and `Eq`, the
    /// output's `Clone` and `Drop`, the weigher — each contained: the call it happened in
    /// ran uncached (its body answered), and the cache stayed whole.
    pub panics: u64,
}

impl CacheCounts {
    /// The counts since `before`.
    ///
    /// ```
    /// let now = lmms::report::CacheCounts { hits: 5, misses: 3, ..Default::default() };
    /// let then = lmms::report::CacheCounts { hits: 2, misses: 3, ..Default::default() };
    /// assert_eq!(now.since(&then).hits, 3);
    /// ```
    pub fn since(&self, before: &CacheCounts) -> CacheCounts {
        CacheCounts {
            hits: self.hits.saturating_sub(before.hits),
            misses: self.misses.saturating_sub(before.misses),
            expired: self.expired.saturating_sub(before.expired),
            evicted: self.evicted.saturating_sub(before.evicted),
            panics: self.panics.saturating_sub(before.panics),
        }
    }
}

/// What a cache's [`lookup`](CachePolicy::lookup) found.
///
/// ```
/// use lmms::op::{CachePolicy, Lookup, NoCache};
/// let found: Lookup<u32, ()> = CachePolicy::<u8, u32>::lookup(&NoCache, &7, 0);
/// assert!(matches!(found, Lookup::Miss(())));
/// ```
#[derive(Debug)]
pub enum Lookup<Output, Key> {
    /// A live cached result: the call is answered without running the body.
    Hit(Output),
    /// No live result: the key to store the body's result under.
    Miss(Key),
}

/// No result cache: every call runs the body.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoCache;

impl<Args, Output> CachePolicy<Args, Output> for NoCache {
    type Key = ();
    const CACHES: bool = false;

    #[inline]
    fn lookup(&self, _: &Args, _: u64) -> Lookup<Output, ()> {
        Lookup::Miss(())
    }

    #[inline]
    fn store(&'static self, _: (), _: &Output, _: u64) {}

    fn as_dyn(&'static self) -> Option<&'static dyn ResultCache> {
        None
    }
}

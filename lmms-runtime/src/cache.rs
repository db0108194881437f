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
//! Each operation on the map is one step for the loom model in `tests/loom.rs`: another
//! thread may run between any two (see `sync::step`).

use crate::defer::{self, Deferred, Inside};
use crate::sync::step;
use quick_cache::sync::Cache;
use quick_cache::{DefaultHashBuilder, Equivalent, Lifecycle, Weighter};
use std::cell::Cell;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::OnceLock;
use std::time::Duration;

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

/// A result cache with a time to live and a capacity in entries.
///
/// The user code it runs — the arguments' `Clone`, `Hash`, `Eq` and `Drop`, the output's
/// `Clone` and `Drop`, the weigher — may panic or call back into lmms: a panic is contained
/// and counted ([`CacheCounts::panics`]), the call it happened in runs uncached, and no key
/// or output is ever dropped while the cache holds a lock.
///
/// ```
/// let cache = lmms::op::Cached::<(String, u8), u64>::new(std::time::Duration::from_secs(300), 1024);
/// assert_eq!(cache.ttl(), std::time::Duration::from_secs(300));
/// ```
pub struct Cached<Args: 'static, Output: 'static, Copier = ByClone> {
    ttl: u64,
    capacity: u64,
    weigh: Option<fn(&Args, &Output) -> u64>,
    /// Which outputs are kept: all, or those this says yes to.
    keep: Option<fn(&Output) -> bool>,
    map: OnceLock<Store<Args, Output, Copier>>,
    /// The length last read from the map, for a caller already inside it (which must not
    /// take its shard locks again).
    len: AtomicUsize,
    hits: AtomicU64,
    misses: AtomicU64,
    expired: AtomicU64,
    evicted: AtomicU64,
    panics: AtomicU64,
    copy: PhantomData<fn() -> Copier>,
}

/// The map and the hasher its keys' hashes are computed with, outside it.
struct Store<Args: 'static, Output: 'static, Copier> {
    map: Map<Args, Output, Copier>,
    hasher: DefaultHashBuilder,
}

type Map<Args, Output, Copier> = Cache<
    CacheKey<Args>,
    Entry<Output, Copier>,
    Weigher,
    BuildHasherDefault<Passthrough>,
    Evictions,
>;

/// A cached call's arguments with their hash, computed once outside the map, so that the
/// map never runs the arguments' `Hash`.
///
/// ```
/// use lmms::op::CachePolicy;
/// let cache: &'static lmms::op::Cached<u32, u32> =
///     Box::leak(Box::new(lmms::op::Cached::new(std::time::Duration::from_secs(1), 8)));
/// let found = cache.lookup(&7, 0);
/// assert!(
///     matches!(found, lmms::op::Lookup::Miss(Some(_))),
///     "a miss, and the key to store its result under"
/// );
/// ```
pub struct CacheKey<Args: 'static> {
    hash: u64,
    /// The entry's weight, weighed once when it is stored. Kept in the key, not beside the
    /// output: a hit clones the output's side, and a smaller clone is a faster hit.
    weight: u64,
    args: Deferred<Args>,
}

impl<Args: 'static> Hash for CacheKey<Args> {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl<Args: Eq + 'static> PartialEq for CacheKey<Args> {
    /// The map compares keys only while it searches, before it changes anything, so a
    /// panicking `Eq` unwinds out of the map leaving it whole, into the operation that ran
    /// it, which contains it.
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        Probe {
            hash: self.hash,
            args: self.args.get(),
        }
        .equivalent(other)
    }
}

impl<Args: Eq + 'static> Eq for CacheKey<Args> {}

/// A lookup's view of the arguments: their hash and a borrow, so that a hit clones nothing
/// of them.
struct Probe<'a, Args> {
    hash: u64,
    args: &'a Args,
}

impl<Args> Hash for Probe<'_, Args> {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl<Args: Eq + 'static> Equivalent<CacheKey<Args>> for Probe<'_, Args> {
    #[inline]
    fn equivalent(&self, key: &CacheKey<Args>) -> bool {
        self.hash == key.hash && self.args == key.args.get()
    }
}

/// The map's hasher: a key's hash is already computed, so it passes through.
#[derive(Default)]
struct Passthrough(u64);

impl Hasher for Passthrough {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }

    #[inline]
    fn write_u64(&mut self, hash: u64) {
        self.0 = hash;
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `CacheKey::hash` feeds this hasher, through `write_u64`.
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3);
        }
    }
}

/// Each entry's weight, weighed once when it was stored (the map asks again and again, and
/// must get the same answer every time).
#[derive(Clone)]
struct Weigher;

impl<Args, Output, Copier> Weighter<CacheKey<Args>, Entry<Output, Copier>> for Weigher {
    #[inline]
    fn weight(&self, key: &CacheKey<Args>, _: &Entry<Output, Copier>) -> u64 {
        key.weight
    }
}

/// A cached output and the runtime time (ms) at which it expires.
struct Entry<Output: 'static, Copier> {
    output: Deferred<Output>,
    expires: u64,
    copy: PhantomData<fn() -> Copier>,
}

impl<Output: 'static, Copier: CloneOutput<Output>> Clone for Entry<Output, Copier> {
    #[inline]
    fn clone(&self) -> Self {
        Entry {
            output: Deferred::new(Copier::clone_output(self.output.get())),
            expires: self.expires,
            copy: PhantomData,
        }
    }
}

/// Counts capacity evictions into the request's state, read once the map's lock is released
/// (so the event about them, which runs tracing's subscribers, is sent outside it too).
#[derive(Clone)]
struct Evictions;

impl<Args, Output, Copier> Lifecycle<CacheKey<Args>, Entry<Output, Copier>> for Evictions {
    type RequestState = u64;

    #[inline]
    fn on_evict(&self, evicted: &mut u64, _: CacheKey<Args>, _: Entry<Output, Copier>) {
        *evicted += 1;
    }
}

impl<Args, Output> Cached<Args, Output> {
    /// A cache keeping results for `ttl`, at most `capacity` of them (at least 1); nothing is
    /// allocated until the first store.
    ///
    /// ```
    /// let cache = lmms::op::Cached::<u32, u32>::new(std::time::Duration::from_millis(250), 64);
    /// assert_eq!(cache.capacity(), 64);
    /// ```
    pub const fn new(ttl: Duration, capacity: u64) -> Self {
        Cached::weighed_by(ttl, capacity, None)
    }

    /// A cache keeping results for `ttl` while the sum of their weights stays within
    /// `capacity`: `weigh` gives each result's weight (its heap bytes, say), so the bound is
    /// in bytes rather than entries. A result heavier than the whole capacity is not kept,
    /// nor is one whose weigher panicked.
    ///
    /// ```
    /// fn bytes(_: &String, page: &Vec<u8>) -> u64 { page.len() as u64 }
    /// let cache = lmms::op::Cached::<String, Vec<u8>>::weighed(std::time::Duration::from_secs(60), 1 << 20, bytes);
    /// assert_eq!(cache.capacity(), 1 << 20);
    /// ```
    pub const fn weighed(ttl: Duration, capacity: u64, weigh: fn(&Args, &Output) -> u64) -> Self {
        Cached::weighed_by(ttl, capacity, Some(weigh))
    }
}

/// The cache `#[lmms::operation(cache_ttl = …)]` generates, which hands its outputs out by
/// `Copier` (the operation's own [`CloneOutput`]) and keeps those `keep` says yes to, or all
/// of them without one (the attribute gives a `Result`'s `is_ok`, unless told
/// `cache_errors = "true"`).
pub const fn cached_by<Args, Output, Copier>(
    ttl: Duration,
    capacity: u64,
    keep: Option<fn(&Output) -> bool>,
) -> Cached<Args, Output, Copier> {
    let mut cache = Cached::weighed_by(ttl, capacity, None);
    cache.keep = keep;
    cache
}

impl<Args, Output, Copier> Cached<Args, Output, Copier> {
    const fn weighed_by(
        ttl: Duration,
        capacity: u64,
        weigh: Option<fn(&Args, &Output) -> u64>,
    ) -> Self {
        Cached {
            ttl: ttl.as_millis() as u64,
            capacity: if capacity == 0 { 1 } else { capacity },
            weigh,
            keep: None,
            map: OnceLock::new(),
            len: AtomicUsize::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            expired: AtomicU64::new(0),
            evicted: AtomicU64::new(0),
            panics: AtomicU64::new(0),
            copy: PhantomData,
        }
    }

    /// The same cache, keeping only the outputs `keep` says yes to: a fallible operation's
    /// `Ok` values, say, so that one transient error is not answered for a whole TTL
    /// (`#[lmms::operation]` does this for a `Result` unless given `cache_errors = "true"`).
    ///
    /// ```
    /// fn is_ok(output: &Result<u32, String>) -> bool { output.is_ok() }
    /// let cache = lmms::op::Cached::<String, Result<u32, String>>::new(std::time::Duration::from_secs(60), 64)
    ///     .keep_if(is_ok);
    /// # let _ = cache;
    /// ```
    pub const fn keep_if(mut self, keep: fn(&Output) -> bool) -> Self {
        self.keep = Some(keep);
        self
    }

    /// How long a result stays.
    ///
    /// ```
    /// assert_eq!(lmms::op::Cached::<u8, u8>::new(std::time::Duration::from_secs(1), 1).ttl().as_secs(), 1);
    /// ```
    pub const fn ttl(&self) -> Duration {
        Duration::from_millis(self.ttl)
    }

    /// How many results it keeps at most (their total weight, for a weighed cache).
    ///
    /// ```
    /// assert_eq!(lmms::op::Cached::<u8, u8>::new(std::time::Duration::from_secs(1), 0).capacity(), 1);
    /// ```
    pub const fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Runs `op` on the map as the thread's outermost step inside it: user values it
    /// drops are dropped after it, a panic in user code it runs is contained and counted.
    /// `None` if anything panicked: the caller treats the call as uncached.
    ///
    /// `None` too, without running `op`, when the thread is inside a map already: it was
    /// reached from user code the map runs under its lock, and must not take that lock again.
    #[inline]
    fn in_map<R>(&self, op: impl FnOnce() -> R) -> Option<R> {
        let mark = Inside::enter()?;
        let result = defer::contain(op);
        let panics = mark.leave();
        if panics > 0 {
            self.panicked(panics);
            return None;
        }
        result
    }

    #[cold]
    fn panicked(&self, panics: u32) {
        self.panics.fetch_add(u64::from(panics), Relaxed);
        crate::trace::event!(
            tracing::Level::WARN,
            panics,
            "user code run by a result cache panicked; the call ran uncached"
        );
    }
}

impl<Args, Output, Copier> Cached<Args, Output, Copier>
where
    Args: Hash + Eq + Clone + Send + Sync + 'static,
    Output: Send + Sync + 'static,
    Copier: CloneOutput<Output> + 'static,
{
    fn store_map(&self) -> &Store<Args, Output, Copier> {
        self.map.get_or_init(|| {
            // A weighed cache's capacity is not a count: guess entries of about 1 KiB.
            let items = match self.weigh {
                Some(_) => self.capacity / 1024,
                None => self.capacity,
            };
            Store {
                map: Cache::with(
                    usize::try_from(items.max(1)).unwrap_or(usize::MAX),
                    self.capacity,
                    Weigher,
                    BuildHasherDefault::default(),
                    Evictions,
                ),
                hasher: DefaultHashBuilder::default(),
            }
        })
    }
}

impl<Args, Output, Copier> CachePolicy<Args, Output> for Cached<Args, Output, Copier>
where
    Args: Hash + Eq + Clone + Send + Sync + 'static,
    Output: Send + Sync + 'static,
    Copier: CloneOutput<Output> + 'static,
{
    /// `None` when the arguments' `Clone` or `Hash` panicked: the call runs uncached.
    type Key = Option<CacheKey<Args>>;
    const CACHES: bool = true;

    /// Hashes the arguments, looks them up, and on a miss clones them into the key: all of
    /// it (the arguments' `Hash`, `Eq` and `Clone`, the output's `Clone`) in one step inside
    /// the map, whose panics are contained together.
    #[inline]
    fn lookup(&self, args: &Args, now: u64) -> Lookup<Output, Option<CacheKey<Args>>> {
        let store = self.store_map();
        step();
        let found = self.in_map(|| {
            let hash = store.hasher.hash_one(args);
            let probe = Probe { hash, args };
            let expired = match store.map.get(&probe) {
                Some(entry) if entry.expires > now => {
                    return Lookup::Hit(entry.output.into_inner())
                }
                Some(_) => {
                    // Another thread may store a fresh result meanwhile: remove only an
                    // expired one.
                    step();
                    store
                        .map
                        .remove_if(&probe, |entry| entry.expires <= now)
                        .is_some()
                }
                None => false,
            };
            Lookup::Miss((
                expired,
                CacheKey {
                    hash,
                    weight: 1,
                    args: Deferred::new(args.clone()),
                },
            ))
        });
        match found {
            Some(Lookup::Hit(output)) => {
                self.hits.fetch_add(1, Relaxed);
                Lookup::Hit(output)
            }
            Some(Lookup::Miss((expired, key))) => {
                if expired {
                    self.expired.fetch_add(1, Relaxed);
                }
                self.misses.fetch_add(1, Relaxed);
                Lookup::Miss(Some(key))
            }
            // A panic in user code, or a call from user code the map runs under its lock:
            // a miss whose result is not stored.
            None => {
                self.misses.fetch_add(1, Relaxed);
                Lookup::Miss(None)
            }
        }
    }

    fn store(&'static self, key: Option<CacheKey<Args>>, output: &Output, now: u64) {
        let Some(mut key) = key else { return };
        if self
            .keep
            .is_some_and(|keep| !defer::contain(|| keep(output)).unwrap_or(false))
        {
            return;
        }
        if defer::inside() {
            // As in `lookup`: not from inside the map. The key drops later, outside it.
            drop(key);
            return;
        }
        let store = self.store_map();
        // Weighed and cloned here, outside the map, with their panics contained.
        let entry = defer::contain(|| {
            key.weight = self.weigh.map_or(1, |weigh| weigh(key.args.get(), output));
            Entry {
                output: Deferred::new(Copier::clone_output(output)),
                expires: now.saturating_add(self.ttl),
                copy: PhantomData,
            }
        });
        let Some(entry) = entry else {
            self.panicked(1);
            self.in_map(|| drop(key));
            return;
        };
        step();
        let evicted = self.in_map(|| {
            let mut evicted = 0;
            store.map.insert_with_lifecycle(key, entry, &mut evicted);
            evicted
        });
        if let Some(evicted @ 1..) = evicted {
            self.evicted.fetch_add(evicted, Relaxed);
            crate::trace::event!(
                tracing::Level::TRACE,
                entries = evicted,
                "cache entries evicted to stay within capacity"
            );
        }
    }

    fn as_dyn(&'static self) -> Option<&'static dyn ResultCache> {
        Some(self)
    }
}

impl<Args, Output, Copier> ResultCache for Cached<Args, Output, Copier>
where
    Args: Hash + Eq + Clone + Send + Sync + 'static,
    Output: Send + Sync + 'static,
    Copier: CloneOutput<Output> + 'static,
{
    fn len(&self) -> usize {
        let Some(store) = self.map.get() else {
            return 0;
        };
        if defer::inside() {
            return self.len.load(Relaxed);
        }
        let len = store.map.len();
        self.len.store(len, Relaxed);
        len
    }

    fn purge(&self, now: u64) -> usize {
        let Some(store) = self.map.get() else {
            return 0;
        };
        if defer::inside() {
            return 0;
        }
        // Counted as they are dropped: the length before and after would also count what
        // other threads removed or added meanwhile (the loom model found both).
        let purged = Cell::new(0);
        step();
        self.in_map(|| {
            store.map.retain(|_, entry| {
                let live = entry.expires > now;
                purged.set(purged.get() + usize::from(!live));
                live
            });
        });
        let purged = purged.get();
        self.expired.fetch_add(purged as u64, Relaxed);
        if purged > 0 {
            crate::trace::event!(
                tracing::Level::TRACE,
                entries = purged,
                "cache entries expired"
            );
        }
        purged
    }

    fn clear(&self) {
        let Some(store) = self.map.get() else { return };
        if !defer::inside() {
            self.in_map(|| store.map.clear());
        }
    }

    fn counts(&self) -> CacheCounts {
        CacheCounts {
            hits: self.hits.load(Relaxed),
            misses: self.misses.load(Relaxed),
            expired: self.expired.load(Relaxed),
            evicted: self.evicted.load(Relaxed),
            panics: self.panics.load(Relaxed),
        }
    }

    #[cfg(feature = "testing")]
    fn reset(&self) {
        self.clear();
        let counts = [&self.hits, &self.misses, &self.expired, &self.evicted];
        for count in counts.into_iter().chain([&self.panics]) {
            count.store(0, Relaxed);
        }
    }
}

//! [`Cached`]: quick_cache's map, each entry with its expiry; the weights, the counts, and
//! user code (the arguments' `Hash`, `Eq` and `Clone`, the output's `Clone`, a weigher)
//! contained.

use super::key::{CacheKey, Passthrough, Probe};
use super::{ByClone, CacheCounts, CachePolicy, CloneOutput, Lookup, ResultCache};
use crate::defer::{self, Deferred, InMap};
use crate::sync::{step, AtomicU64, AtomicUsize, Ordering::Relaxed};
use quick_cache::sync::Cache;
use quick_cache::{DefaultHashBuilder, Lifecycle, Weighter};
use std::cell::Cell;
use std::hash::{BuildHasher, BuildHasherDefault, Hash};
use std::marker::PhantomData;
use std::sync::OnceLock;
use std::time::Duration;

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
    Slot<Output, Copier>,
    Weigher,
    BuildHasherDefault<Passthrough>,
    Evictions,
>;

/// Each entry's weight, weighed once when it was stored (the map asks again and again, and
/// must get the same answer every time).
#[derive(Clone)]
struct Weigher;

impl<Args, Output, Copier> Weighter<CacheKey<Args>, Slot<Output, Copier>> for Weigher {
    #[inline]
    fn weight(&self, key: &CacheKey<Args>, _: &Slot<Output, Copier>) -> u64 {
        key.weight
    }
}

/// A cached output and the runtime time (ms) at which it expires.
struct Slot<Output: 'static, Copier> {
    output: Deferred<Output>,
    expires: u64,
    copy: PhantomData<fn() -> Copier>,
}

impl<Output: 'static, Copier: CloneOutput<Output>> Clone for Slot<Output, Copier> {
    #[inline]
    fn clone(&self) -> Self {
        Slot {
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

impl<Args, Output, Copier> Lifecycle<CacheKey<Args>, Slot<Output, Copier>> for Evictions {
    type RequestState = u64;

    #[inline]
    fn on_evict(&self, evicted: &mut u64, _: CacheKey<Args>, _: Slot<Output, Copier>) {
        *evicted += 1;
    }
}

impl<Args, Output> Cached<Args, Output> {
    crate::sync::const_fn! {
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
    }

    crate::sync::const_fn! {
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
}

crate::sync::const_fn! {
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
}

impl<Args, Output, Copier> Cached<Args, Output, Copier> {
    crate::sync::const_fn! {
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
        let mark = InMap::enter()?;
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
            Slot {
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

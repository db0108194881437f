//! The result cache: an operation declared with a TTL answers repeated arguments from
//! memory, before its module is touched (a hit on an unloaded module loads nothing).
//!
//! Storage is [`quick_cache`]: its hit measured 17.5 ns against moka's 188 ns (the figures
//! the issue gives; `cargo bench --bench dispatch` measures quick_cache's own `get` beside
//! ours), and its lifecycle hook is enough to count evictions. It has no TTL of its own, so
//! each entry carries its expiry in runtime milliseconds: a lookup that finds an expired
//! entry removes it and misses, and every sweep purges the expired ones first, so that
//! entries keep their module resident (LUGS check 3) only while they are live.
//!
//! Each operation on the map is one step for the loom model in `tests/loom.rs`: another
//! thread may run between any two (see `sync::step`).

use crate::sync::step;
use quick_cache::sync::Cache;
use quick_cache::{DefaultHashBuilder, Lifecycle, Weighter};
use std::cell::Cell;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::OnceLock;
use std::time::Duration;

/// How an operation's results are cached: [`NoCache`] or [`Cached`]. The call path is
/// generic over it, so an operation without a TTL carries no cache code at all.
pub trait CachePolicy<Args, Output>: Send + Sync + 'static {
    /// What a lookup needs of the arguments (a clone of them, or nothing).
    type Key;

    /// The key for `args`, taken before they move into the body.
    fn key(&self, args: &Args) -> Self::Key;

    /// A live cached result for `key`.
    fn lookup(&self, key: &Self::Key, now: u64) -> Option<Output>;

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
    /// Hits, misses, expirations and evictions so far.
    fn counts(&self) -> CacheCounts;
}

/// A cache's running totals.
///
/// ```
/// assert_eq!(lmms::CacheCounts::default().hits, 0);
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
}

impl CacheCounts {
    /// The counts since `before`.
    ///
    /// ```
    /// let now = lmms::CacheCounts { hits: 5, misses: 3, expired: 1, evicted: 0 };
    /// let then = lmms::CacheCounts { hits: 2, misses: 3, expired: 0, evicted: 0 };
    /// assert_eq!(now.since(&then).hits, 3);
    /// ```
    pub fn since(&self, before: &CacheCounts) -> CacheCounts {
        CacheCounts {
            hits: self.hits.saturating_sub(before.hits),
            misses: self.misses.saturating_sub(before.misses),
            expired: self.expired.saturating_sub(before.expired),
            evicted: self.evicted.saturating_sub(before.evicted),
        }
    }
}

/// No result cache: every call runs the body.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoCache;

impl<Args, Output> CachePolicy<Args, Output> for NoCache {
    type Key = ();

    #[inline]
    fn key(&self, _: &Args) {}

    #[inline]
    fn lookup(&self, _: &(), _: u64) -> Option<Output> {
        None
    }

    #[inline]
    fn store(&'static self, _: (), _: &Output, _: u64) {}

    fn as_dyn(&'static self) -> Option<&'static dyn ResultCache> {
        None
    }
}

/// A result cache with a time to live and a capacity in entries.
///
/// ```
/// let cache = lmms::Cached::<(String, u8), u64>::new(std::time::Duration::from_secs(300), 1024);
/// assert_eq!(cache.ttl(), std::time::Duration::from_secs(300));
/// ```
pub struct Cached<Args, Output> {
    ttl: u64,
    capacity: u64,
    weigh: Option<fn(&Args, &Output) -> u64>,
    map: OnceLock<Map<Args, Output>>,
    hits: AtomicU64,
    misses: AtomicU64,
    expired: AtomicU64,
    evicted: AtomicU64,
}

type Map<Args, Output> =
    Cache<Args, Entry<Output>, Weigher<Args, Output>, DefaultHashBuilder, Evictions>;

/// Each entry's weight: 1, or what the operation's weigher says (its bytes, say).
struct Weigher<Args, Output>(Option<fn(&Args, &Output) -> u64>);

impl<Args, Output> Clone for Weigher<Args, Output> {
    fn clone(&self) -> Self {
        Weigher(self.0)
    }
}

impl<Args, Output> Weighter<Args, Entry<Output>> for Weigher<Args, Output> {
    fn weight(&self, args: &Args, entry: &Entry<Output>) -> u64 {
        self.0.map_or(1, |weigh| weigh(args, &entry.output))
    }
}

/// A cached output and the runtime time (ms) at which it expires.
#[derive(Clone)]
struct Entry<Output> {
    output: Output,
    expires: u64,
}

/// Counts capacity evictions into the cache's counter, which the cache outlives (both are
/// in the operation's `static`).
#[derive(Clone)]
struct Evictions(&'static AtomicU64);

impl<Args, Output> Lifecycle<Args, Entry<Output>> for Evictions {
    type RequestState = ();

    fn on_evict(&self, _: &mut (), _: Args, _: Entry<Output>) {
        self.0.fetch_add(1, Relaxed);
        crate::trace::event!(
            tracing::Level::TRACE,
            entries = 1,
            "cache entry evicted to stay within capacity"
        );
    }
}

impl<Args, Output> Cached<Args, Output> {
    /// A cache keeping results for `ttl`, at most `capacity` of them (at least 1); nothing is
    /// allocated until the first store.
    ///
    /// ```
    /// let cache = lmms::Cached::<u32, u32>::new(std::time::Duration::from_millis(250), 64);
    /// assert_eq!(cache.capacity(), 64);
    /// ```
    pub const fn new(ttl: Duration, capacity: u64) -> Self {
        Cached::weighed_by(ttl, capacity, None)
    }

    /// A cache keeping results for `ttl` while the sum of their weights stays within
    /// `capacity`: `weigh` gives each result's weight (its heap bytes, say), so the bound is
    /// in bytes rather than entries. A result heavier than the whole capacity is not kept.
    ///
    /// ```
    /// fn bytes(_: &String, page: &Vec<u8>) -> u64 { page.len() as u64 }
    /// let cache = lmms::Cached::<String, Vec<u8>>::weighed(std::time::Duration::from_secs(60), 1 << 20, bytes);
    /// assert_eq!(cache.capacity(), 1 << 20);
    /// ```
    pub const fn weighed(ttl: Duration, capacity: u64, weigh: fn(&Args, &Output) -> u64) -> Self {
        Cached::weighed_by(ttl, capacity, Some(weigh))
    }

    const fn weighed_by(
        ttl: Duration,
        capacity: u64,
        weigh: Option<fn(&Args, &Output) -> u64>,
    ) -> Self {
        Cached {
            ttl: ttl.as_millis() as u64,
            capacity: if capacity == 0 { 1 } else { capacity },
            weigh,
            map: OnceLock::new(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            expired: AtomicU64::new(0),
            evicted: AtomicU64::new(0),
        }
    }

    /// How long a result stays.
    ///
    /// ```
    /// assert_eq!(lmms::Cached::<u8, u8>::new(std::time::Duration::from_secs(1), 1).ttl().as_secs(), 1);
    /// ```
    pub const fn ttl(&self) -> Duration {
        Duration::from_millis(self.ttl)
    }

    /// How many results it keeps at most (their total weight, for a weighed cache).
    ///
    /// ```
    /// assert_eq!(lmms::Cached::<u8, u8>::new(std::time::Duration::from_secs(1), 0).capacity(), 1);
    /// ```
    pub const fn capacity(&self) -> u64 {
        self.capacity
    }
}

impl<Args, Output> Cached<Args, Output>
where
    Args: Hash + Eq + Clone + Send + Sync + 'static,
    Output: Clone + Send + Sync + 'static,
{
    fn map(&'static self) -> &'static Map<Args, Output> {
        self.map.get_or_init(|| {
            // A weighed cache's capacity is not a count: guess entries of about 1 KiB.
            let items = match self.weigh {
                Some(_) => self.capacity / 1024,
                None => self.capacity,
            };
            Cache::with(
                usize::try_from(items.max(1)).unwrap_or(usize::MAX),
                self.capacity,
                Weigher(self.weigh),
                DefaultHashBuilder::default(),
                Evictions(&self.evicted),
            )
        })
    }
}

impl<Args, Output> CachePolicy<Args, Output> for Cached<Args, Output>
where
    Args: Hash + Eq + Clone + Send + Sync + 'static,
    Output: Clone + Send + Sync + 'static,
{
    type Key = Args;

    #[inline]
    fn key(&self, args: &Args) -> Args {
        args.clone()
    }

    #[inline]
    fn lookup(&self, key: &Args, now: u64) -> Option<Output> {
        let Some(map) = self.map.get() else {
            self.misses.fetch_add(1, Relaxed);
            return None;
        };
        step();
        match map.get(key) {
            Some(entry) if entry.expires > now => {
                self.hits.fetch_add(1, Relaxed);
                Some(entry.output)
            }
            Some(_) => {
                // Another thread may store a fresh result meanwhile: remove only an
                // expired one.
                step();
                if map.remove_if(key, |entry| entry.expires <= now).is_some() {
                    self.expired.fetch_add(1, Relaxed);
                }
                self.misses.fetch_add(1, Relaxed);
                None
            }
            None => {
                self.misses.fetch_add(1, Relaxed);
                None
            }
        }
    }

    fn store(&'static self, key: Args, output: &Output, now: u64) {
        let entry = Entry {
            output: output.clone(),
            expires: now.saturating_add(self.ttl),
        };
        let map = self.map();
        step();
        map.insert(key, entry);
    }

    fn as_dyn(&'static self) -> Option<&'static dyn ResultCache> {
        Some(self)
    }
}

impl<Args, Output> ResultCache for Cached<Args, Output>
where
    Args: Hash + Eq + Clone + Send + Sync + 'static,
    Output: Clone + Send + Sync + 'static,
{
    fn len(&self) -> usize {
        self.map.get().map_or(0, Cache::len)
    }

    fn purge(&self, now: u64) -> usize {
        let Some(map) = self.map.get() else { return 0 };
        // Counted as they are dropped: the length before and after would also count what
        // other threads removed or added meanwhile (the loom model found both).
        let purged = Cell::new(0);
        step();
        map.retain(|_, entry| {
            let live = entry.expires > now;
            purged.set(purged.get() + usize::from(!live));
            live
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
        if let Some(map) = self.map.get() {
            map.clear();
        }
    }

    fn counts(&self) -> CacheCounts {
        CacheCounts {
            hits: self.hits.load(Relaxed),
            misses: self.misses.load(Relaxed),
            expired: self.expired.load(Relaxed),
            evicted: self.evicted.load(Relaxed),
        }
    }
}

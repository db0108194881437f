//! A cached call's arguments as the map keys them: hashed once, outside the map, so that
//! the map never runs the arguments' `Hash`, and looked up by reference.

use crate::defer::Deferred;
use quick_cache::Equivalent;
use std::hash::{Hash, Hasher};

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
    pub(super) hash: u64,
    /// The entry's weight, weighed once when it is stored. Kept in the key, not beside the
    /// output: a hit clones the output's side, and a smaller clone is a faster hit.
    pub(super) weight: u64,
    pub(super) args: Deferred<Args>,
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
pub(super) struct Probe<'a, Args> {
    pub(super) hash: u64,
    pub(super) args: &'a Args,
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
pub(super) struct Passthrough(u64);

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

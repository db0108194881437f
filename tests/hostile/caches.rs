//! Panicking weighers and keys.

use super::*;

// --- 3. Panicking weighers and keys --------------------------------------------------------

static WEIGH_PANICS: AtomicBool = AtomicBool::new(false);
fn weigh(_: &u64, _: &u64) -> u64 {
    assert!(!WEIGH_PANICS.load(SeqCst), "weigher told to panic");
    8
}
struct Weighed;
impl Operation for Weighed {
    type State = ();
    type Args = u64;
    type Output = u64;
    fn source() -> Source<()> {
        Source::Stateless(&())
    }
}
impl Body for Weighed {
    fn run(_: &(), x: u64) -> u64 {
        x * 2
    }
}
static WEIGHED: Op<Weighed, Cached<u64, u64>> = Op::cached_weighed(
    OpDef::new("hostile", "weighed"),
    Duration::from_secs(10),
    64,
    weigh,
);

#[test]
fn a_panicking_weigher_leaves_the_result_uncached_and_the_cache_whole() {
    let (rt, clock) = runtime();
    rt.add_op(&WEIGHED).unwrap();
    for x in 0..4 {
        WEIGHED.call(x).unwrap();
    }
    WEIGH_PANICS.store(true, SeqCst);
    assert_eq!(WEIGHED.call(100).unwrap(), 200, "answered, not cached");
    assert_eq!(WEIGHED.call(101).unwrap(), 202);
    WEIGH_PANICS.store(false, SeqCst);
    for x in 0..40 {
        assert_eq!(WEIGHED.call(x).unwrap(), 2 * x);
    }
    clock.advance(secs(11));
    rt.sweep();
    let stats = WEIGHED.stats();
    assert_eq!(stats.cache_entries, 0, "every entry expired and purged");
    assert!(stats.cache.unwrap().panics >= 2, "{stats:?}");
}

static HASH_PANICS: AtomicBool = AtomicBool::new(false);
#[derive(Clone, PartialEq, Eq, Debug)]
struct Touchy(u64);
impl Hash for Touchy {
    fn hash<H: Hasher>(&self, state: &mut H) {
        assert!(!HASH_PANICS.load(SeqCst), "hash told to panic");
        self.0.hash(state);
    }
}
struct TouchyOp;
impl Operation for TouchyOp {
    type State = ();
    type Args = Touchy;
    type Output = u64;
    fn source() -> Source<()> {
        Source::Stateless(&())
    }
}
impl Body for TouchyOp {
    fn run(_: &(), x: Touchy) -> u64 {
        x.0
    }
}
static TOUCHY: Op<TouchyOp, Cached<Touchy, u64>> =
    Op::cached(OpDef::new("hostile", "touchy"), Duration::from_secs(10), 64);

#[test]
fn a_key_whose_hash_panics_neither_breaks_sweeps_nor_calls() {
    let (rt, clock) = runtime();
    rt.add_op(&TOUCHY).unwrap();
    for x in 0..4 {
        TOUCHY.call(Touchy(x)).unwrap();
    }
    HASH_PANICS.store(true, SeqCst);
    assert_eq!(TOUCHY.call(Touchy(9)).unwrap(), 9, "answered uncached");
    clock.advance(secs(11));
    rt.sweep();
    rt.sweep();
    HASH_PANICS.store(false, SeqCst);
    assert_eq!(TOUCHY.stats().cache_entries, 0);
    assert_eq!(TOUCHY.call(Touchy(3)).unwrap(), 3);
    assert_eq!(TOUCHY.stats().cache_entries, 1);
}

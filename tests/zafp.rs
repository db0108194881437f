//! ZAFP and the result cache, driven by the manual clock: promotion at the thresholds,
//! pinning, cooling, the hot-path cap, and cache hits that load nothing.

#[macro_use]
mod common;

use lmms::op::{Body, Cached, Op, OpDef, Operation, Source};
use lmms::report::Heat;
use lmms::{
    report::KeepReason, report::Unload, tuning::ManualClock, tuning::Thresholds, Load, ModuleCell,
    ModuleDef, Runtime,
};
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

fn runtime() -> (Runtime, ManualClock) {
    let clock = ManualClock::new();
    let runtime = Runtime::builder()
        .clock(clock.clone())
        .min_resident(0)
        .build()
        .unwrap();
    (runtime, clock)
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

trivial!(Thr(u64) = 1000, THRESHOLDS_MODULE, AddThr, loads THR_LOADS, run |state, x| state.0 + x);
static THR_OP: Op<AddThr> = Op::new(OpDef::new("t", "add"));

#[test]
fn promotion_happens_exactly_at_the_thresholds_and_pins_the_module() {
    let (rt, clock) = runtime();
    rt.add(&THRESHOLDS_MODULE).unwrap();
    for i in 1..=4 {
        assert_eq!(THR_OP.call(i).unwrap(), 1000 + i);
    }
    assert_eq!(THR_OP.heat(), Heat::Cold);
    THR_OP.call(5).unwrap();
    assert_eq!(THR_OP.heat(), Heat::Warm);
    for i in 6..=19 {
        THR_OP.call(i).unwrap();
    }
    assert!(!THR_OP.is_hot(), "19 calls: still managed");
    THR_OP.call(20).unwrap();
    assert!(THR_OP.is_hot(), "the 20th call promotes");
    assert_eq!(THR_OP.heat(), Heat::Hot);

    clock.advance(secs(45));
    let report = rt.sweep();
    assert_eq!(
        report.kept_because("THRESHOLDS_MODULE"),
        Some(KeepReason::Pinned)
    );
    assert_eq!(THRESHOLDS_MODULE.unload(), Unload::Kept(KeepReason::Pinned));

    for i in 21..=150 {
        assert_eq!(
            THR_OP.call(i).unwrap(),
            1000 + i,
            "the direct path answers the same"
        );
    }
    let stats = THR_OP.stats();
    assert_eq!(stats.heat, Heat::Critical);
    assert_eq!(stats.calls, 100, "counting stops at critical");
    assert_eq!(
        stats.direct_hits, 80,
        "calls 21..=100 counted on the direct path"
    );
    assert_eq!(stats.promotions, [1, 1, 1]);
    assert_eq!(THR_LOADS.load(Ordering::SeqCst), 1);
    assert_eq!(rt.stats().hot_paths, 1);
}

trivial!(Cool(u64) = 1000, COOL_MODULE, AddCool, loads COOL_LOADS, run |state, x| state.0 + x);
static COOL_OP: Op<AddCool> = Op::new(OpDef::new("c", "add"));

#[test]
fn cooling_demotes_an_idle_hot_path_and_unpins_its_module() {
    let (rt, clock) = runtime();
    rt.add(&COOL_MODULE).unwrap();
    for i in 0..100 {
        COOL_OP.call(i).unwrap();
    }
    assert!(COOL_OP.is_hot());
    // Used in every window: stays hot. (A use at the very instant a window starts counts
    // in that window, so the uses come a second before each sweep.)
    for _ in 0..5 {
        clock.advance(secs(59));
        COOL_OP.call(1).unwrap();
        clock.advance(secs(1));
        rt.sweep();
        assert!(COOL_OP.is_hot(), "a hot path in use does not cool");
    }
    // Idle: 100 -> 50 -> 25 -> 12 -> 6 < 10 (half the hot threshold): demoted on the 4th.
    for window in 1..=3 {
        clock.advance(secs(60));
        rt.sweep();
        assert!(COOL_OP.is_hot(), "still hot after {window} idle windows");
    }
    clock.advance(secs(60));
    let report = rt.sweep();
    assert!(!COOL_OP.is_hot());
    assert_eq!(COOL_OP.stats().demotions, [1, 0, 0], "cooled, not evicted");
    assert_eq!(
        report.unloaded.len(),
        1,
        "unpinned and idle past grace: unloaded"
    );
    assert!(!COOL_MODULE.is_resident());
    assert_eq!(
        COOL_OP.call(2).unwrap(),
        1002,
        "and loaded again when called"
    );
    assert_eq!(COOL_LOADS.load(Ordering::SeqCst), 2);
}

trivial!(LruA(u64) = 1000, LRU_A, AddA, loads LRU_A_LOADS, run |state, x| state.0 + x);
trivial!(LruB(u64) = 1000, LRU_B, AddB, loads LRU_B_LOADS, run |state, x| state.0 + x);
static OP_A: Op<AddA> = Op::new(OpDef::new("lru", "a"));
static OP_B: Op<AddB> = Op::new(OpDef::new("lru", "b"));

#[test]
fn past_the_hot_path_cap_the_least_recently_used_is_demoted() {
    let clock = ManualClock::new();
    let rt = Runtime::builder()
        .clock(clock.clone())
        .min_resident(0)
        .max_hot_paths(1)
        .build()
        .unwrap();
    rt.add(&LRU_A).unwrap();
    rt.add(&LRU_B).unwrap();
    for i in 0..20 {
        OP_A.call(i).unwrap();
    }
    assert!(OP_A.is_hot());
    clock.advance(secs(1));
    for i in 0..20 {
        OP_B.call(i).unwrap();
    }
    assert!(OP_B.is_hot());
    assert!(!OP_A.is_hot(), "the older hot path was evicted");
    assert_eq!(OP_A.stats().demotions, [0, 1, 0]);
    assert_eq!(rt.stats().hot_paths, 1);
    clock.advance(secs(31));
    let report = rt.sweep();
    assert_eq!(report.kept_because("LRU_B"), Some(KeepReason::Pinned));
    assert!(
        report.unloaded.iter().any(|u| u.module == "LRU_A"),
        "{report}"
    );
}

static CACHE_LOADS: AtomicUsize = AtomicUsize::new(0);
struct Forecasts {
    days: Vec<u64>,
}
impl Load for Forecasts {
    type Error = Infallible;
    fn load() -> Result<Self, Infallible> {
        CACHE_LOADS.fetch_add(1, Ordering::SeqCst);
        Ok(Forecasts {
            days: (0..10).map(|d| d * 10).collect(),
        })
    }
}
static FORECASTS: ModuleCell<Forecasts> = ModuleCell::new(ModuleDef::new("forecasts"));
struct Forecast;
impl Operation for Forecast {
    type State = Forecasts;
    type Args = (String, usize);
    type Output = u64;
    fn source() -> Source<Forecasts> {
        Source::Module(&FORECASTS)
    }
}
impl Body for Forecast {
    fn run(state: &Forecasts, (_city, day): (String, usize)) -> u64 {
        state.days[day]
    }
}
static FORECAST: Op<Forecast, Cached<(String, usize), u64>> = Op::cached(
    OpDef::new("weather", "forecast"),
    Duration::from_secs(300),
    64,
);

#[test]
fn cached_results_keep_their_module_until_they_expire() {
    let (rt, clock) = runtime();
    rt.add(&FORECASTS).unwrap();
    assert_eq!(FORECAST.call(("Oslo".into(), 3)).unwrap(), 30);
    assert_eq!(FORECAST.call(("Oslo".into(), 3)).unwrap(), 30);
    let stats = FORECAST.stats();
    assert_eq!(stats.cache.unwrap().hits, 1);
    assert_eq!(stats.cache_entries, 1);
    clock.advance(secs(60));
    assert_eq!(
        rt.sweep().kept_because("forecasts"),
        Some(KeepReason::Dependents)
    );
    assert_eq!(FORECASTS.unload(), Unload::Kept(KeepReason::Dependents));
    clock.advance(secs(240));
    let report = rt.sweep();
    assert_eq!(
        report.unloaded.len(),
        1,
        "the entry expired: the sweep purged it and unloaded"
    );
    assert_eq!(FORECAST.stats().cache.unwrap().expired, 1);
    assert_eq!(
        FORECAST.call(("Oslo".into(), 3)).unwrap(),
        30,
        "a miss loads again"
    );
    assert_eq!(CACHE_LOADS.load(Ordering::SeqCst), 2);
    FORECASTS.invalidate();
    assert_eq!(FORECAST.stats().cache_entries, 0);
    assert!(matches!(FORECASTS.unload(), Unload::Unloaded { .. }));
}

static DETACHED_LOADS: AtomicUsize = AtomicUsize::new(0);
struct Table(u64);
impl Load for Table {
    type Error = Infallible;
    fn load() -> Result<Self, Infallible> {
        DETACHED_LOADS.fetch_add(1, Ordering::SeqCst);
        Ok(Table(7))
    }
}
static TABLE: ModuleCell<Table> = ModuleCell::new(ModuleDef::new("table"));
struct Lookup;
impl Operation for Lookup {
    type State = Table;
    type Args = u64;
    type Output = u64;
    fn source() -> Source<Table> {
        Source::Module(&TABLE)
    }
}
impl Body for Lookup {
    fn run(table: &Table, x: u64) -> u64 {
        table.0 * x
    }
}
static LOOKUP: Op<Lookup, Cached<u64, u64>> =
    Op::cached(OpDef::new("table", "lookup"), Duration::from_secs(600), 16);

#[test]
fn a_cache_hit_on_an_unloaded_module_does_not_load_it() {
    let clock = ManualClock::new();
    let rt = Runtime::builder()
        .clock(clock.clone())
        .min_resident(0)
        .cache_keeps_modules(false)
        .build()
        .unwrap();
    rt.add(&TABLE).unwrap();
    assert_eq!(LOOKUP.call(6).unwrap(), 42);
    clock.advance(secs(31));
    assert_eq!(rt.sweep().unloaded.len(), 1);
    assert!(!TABLE.is_resident());
    assert_eq!(LOOKUP.call(6).unwrap(), 42);
    assert!(!TABLE.is_resident(), "answered from the cache");
    assert_eq!(DETACHED_LOADS.load(Ordering::SeqCst), 1);
    assert_eq!(LOOKUP.call(7).unwrap(), 49, "a miss loads");
    assert_eq!(DETACHED_LOADS.load(Ordering::SeqCst), 2);
}

struct Double;
impl Operation for Double {
    type State = ();
    type Args = u64;
    type Output = u64;
    fn source() -> Source<()> {
        Source::Stateless(&())
    }
}
impl Body for Double {
    fn run(_: &(), x: u64) -> u64 {
        x * 2
    }
}
static DOUBLE: Op<Double> = Op::new(OpDef::new("math", "double"));

#[test]
fn stateless_operations_heat_up_too() {
    let rt = Runtime::builder()
        .heat(Thresholds::new(1, 2, 3).unwrap())
        .build()
        .unwrap();
    rt.add_op(&DOUBLE).unwrap();
    assert!(rt.add_op(&DOUBLE).is_err());
    for x in 0..5 {
        assert_eq!(DOUBLE.call(x).unwrap(), 2 * x);
    }
    assert!(DOUBLE.is_hot());
    let stats = rt.stats();
    assert_eq!(stats.ops[0].heat, Heat::Critical);
    assert!(stats.to_string().contains("math.double"), "{stats}");
}

#[test]
fn heat_settings_are_checked() {
    assert!(Thresholds::new(5, 5, 100).is_err());
    assert!(Runtime::builder().set("heat", "5,20").is_err());
    let err = Runtime::builder().set("heat", "20,5,100").unwrap_err();
    assert!(err.to_string().contains("must increase"), "{err}");
    let rt = Runtime::builder()
        .set("heat", "2, 4, 8")
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(rt.config().heat().critical(), 8);
}

struct Page;
impl Operation for Page {
    type State = ();
    type Args = u32;
    type Output = Vec<u8>;
    fn source() -> Source<()> {
        Source::Stateless(&())
    }
}
impl Body for Page {
    fn run(_: &(), n: u32) -> Vec<u8> {
        vec![n as u8; 2000]
    }
}
// The weigher's signature is the cache's: `fn(&Args, &Output)`, here `&Vec<u8>`.
#[allow(clippy::ptr_arg)]
fn page_bytes(_: &u32, page: &Vec<u8>) -> u64 {
    page.len() as u64
}
static PAGE: Op<Page, Cached<u32, Vec<u8>>> = Op::cached_weighed(
    OpDef::new("web", "page"),
    Duration::from_secs(600),
    4096,
    page_bytes,
);

#[test]
fn a_weighed_cache_stays_within_its_bytes() {
    let rt = Runtime::builder().max_hot_paths(0).build().unwrap();
    rt.add_op(&PAGE).unwrap();
    for n in 0..3 {
        assert_eq!(PAGE.call(n).unwrap().len(), 2000);
    }
    let stats = PAGE.stats();
    assert!(
        stats.cache_entries <= 2,
        "{} pages of 2000 bytes in 4096",
        stats.cache_entries
    );
    assert!(stats.cache.unwrap().evicted >= 1);
}

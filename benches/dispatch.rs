//! The cost of a call through ZAFP, the managed path and the cache, against the anchors
//! the issue names. `cargo bench --bench dispatch`; figures in `BENCHMARKS.md`.

mod common;
#[macro_use]
#[path = "../tests/common/trivial.rs"]
mod trivial;

use common::two_threads;
use criterion::{criterion_group, criterion_main, Criterion};
use lmms::op::{Cached, Op, OpDef};
use lmms::{tuning::Thresholds, Load, Runtime};
use once_cell::sync::Lazy;
use std::any::Any;
use std::collections::HashMap;
use std::convert::Infallible;
use std::hint::black_box;
use std::time::Duration;

// A trivial state and body: read a field, add the argument.
trivial!(
    HotState(u64) = 7,
    HOT_MODULE,
    HotAdd,
    run | state,
    x | state.0 + x
);
trivial!(
    WarmState(u64) = 7,
    WARM_MODULE,
    WarmAdd,
    run | state,
    x | state.0 + x
);
trivial!(
    CacheState(u64) = 7,
    CACHE_MODULE,
    CacheAdd,
    run | state,
    x | state.0 + x
);
static HOT: Op<HotAdd> = Op::new(OpDef::new("bench", "hot"));
static WARM: Op<WarmAdd> = Op::new(OpDef::new("bench", "warm"));
static CACHED: Op<CacheAdd, Cached<u64, u64>> = Op::cached(
    OpDef::new("bench", "cached"),
    Duration::from_secs(3600),
    1024,
);

/// The same trivial operation, written with the attributes: the generated path.
#[lmms::module(name = "generated")]
pub struct GenState {
    base: u64,
}

impl Load for GenState {
    type Error = Infallible;
    fn load() -> Result<Self, Infallible> {
        Ok(GenState { base: 7 })
    }
}

/// The trivial body, as an attributed operation.
#[lmms::operation(interface = "bench", name = "generated")]
pub fn gen_add(state: &GenState, x: u64) -> u64 {
    state.base + x
}

struct Plain {
    base: u64,
}
static LAZY: Lazy<Plain> = Lazy::new(|| Plain { base: 7 });

fn runtimes() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let hot = Runtime::builder().build().unwrap();
        hot.add(&HOT_MODULE).unwrap();
        // Never hot: every call is a counted managed call.
        let warm = Runtime::builder()
            .heat(Thresholds::new(1, 1 << 40, 1 << 41).unwrap())
            .build()
            .unwrap();
        warm.add(&WARM_MODULE).unwrap();
        // No direct path, so every call goes through the cache.
        let cache = Runtime::builder().max_hot_paths(0).build().unwrap();
        cache.add(&CACHE_MODULE).unwrap();
        std::mem::forget((hot, warm, cache));
        for x in 0..200 {
            gen_add::call(x).unwrap();
            HOT.call(x).unwrap();
            WARM.call(x).unwrap();
            CACHED.call(1).unwrap();
        }
        assert!(HOT.is_hot() && !WARM.is_hot() && !CACHED.is_hot() && gen_add::OP.is_hot());
        assert_eq!(HOT.heat(), lmms::report::Heat::Critical);
    });
}

type Gateway = HashMap<&'static str, Box<dyn Fn(Box<dyn Any>) -> Box<dyn Any> + Sync + Send>>;

/// The seed's gateway, the naive way: a map from names to boxed, type-erased functions.
fn naive_gateway() -> Gateway {
    let mut gateway: Gateway = HashMap::new();
    for name in [
        "http.get",
        "cache.get",
        "logging.info",
        "security.validate",
        "bench.warm",
    ] {
        gateway.insert(
            name,
            Box::new(|args: Box<dyn Any>| -> Box<dyn Any> {
                let x = *args.downcast::<u64>().expect("u64 argument");
                Box::new(LAZY.base + x)
            }),
        );
    }
    gateway
}

/// A CRITICAL typed call against a never-freed lazy static with the same body.
fn critical_call(c: &mut Criterion) {
    runtimes();
    let _ = &*LAZY;
    let mut group = c.benchmark_group("critical call");
    group.bench_function("lmms Op::call (critical, direct path)", |b| {
        b.iter(|| HOT.call(black_box(3)).unwrap())
    });
    group.bench_function("#[lmms::operation] call (critical, direct path)", |b| {
        b.iter(|| gen_add::call(black_box(3)).unwrap())
    });
    group.bench_function("once_cell Lazy deref + body", |b| {
        b.iter(|| black_box(&*LAZY).base + black_box(3))
    });
    group.finish();

    let mut group = c.benchmark_group("critical call, 2 threads");
    group.bench_function("lmms Op::call (critical, direct path)", |b| {
        b.iter_custom(|iters| two_threads(iters, || HOT.call(black_box(3)).unwrap()))
    });
    // The same anchor from two threads: what the machine itself does to a call when both
    // of its (possibly sibling) CPUs run one.
    group.bench_function("once_cell Lazy deref + body", |b| {
        b.iter_custom(|iters| two_threads(iters, || black_box(&*LAZY).base + black_box(3)))
    });
    group.finish();
}

/// A WARM managed call (resident module, counted, no cache) against the naive gateway.
fn warm_call(c: &mut Criterion) {
    runtimes();
    let gateway = naive_gateway();
    let mut group = c.benchmark_group("warm call");
    group.bench_function("lmms Op::call (warm, managed)", |b| {
        b.iter(|| WARM.call(black_box(3)).unwrap())
    });
    group.bench_function("naive gateway (HashMap + Box<dyn Any>)", |b| {
        b.iter(|| {
            let out = gateway[black_box("bench.warm")](Box::new(black_box(3u64)));
            *out.downcast::<u64>().expect("u64 output")
        })
    });
    group.finish();
}

/// A cache hit through the managed call against quick_cache's own `get`.
fn cache_hit(c: &mut Criterion) {
    runtimes();
    let anchor: quick_cache::sync::Cache<u64, u64> = quick_cache::sync::Cache::new(1024);
    anchor.insert(1, 8);
    let anchor2: quick_cache::sync::Cache<u64, (u64, u64)> = quick_cache::sync::Cache::new(1024);
    anchor2.insert(1, (8, 9));
    let mut group = c.benchmark_group("cache hit");
    group.bench_function("lmms Op::call (cache hit)", |b| {
        b.iter(|| CACHED.call(black_box(1)).unwrap())
    });
    group.bench_function("quick_cache get", |b| b.iter(|| anchor.get(black_box(&1))));
    // The same with a value the size of lmms's entries (output and expiry).
    group.bench_function("quick_cache get, (u64, u64) value", |b| {
        b.iter(|| anchor2.get(black_box(&1)))
    });
    group.finish();
}

criterion_group!(benches, critical_call, warm_call, cache_hit);
criterion_main!(benches);

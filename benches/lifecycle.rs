//! The cost of reaching a module's state, against the primitives it competes with.
//!
//! `cargo bench --bench lifecycle`; the figures and their targets are in `BENCHMARKS.md`.

use arc_swap::ArcSwapOption;
mod common;

use common::two_threads;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use lmms::{Load, ModuleCell, ModuleDef, Runtime};
use once_cell::sync::Lazy;
use std::convert::Infallible;
use std::hint::black_box;
use std::sync::RwLock;
use std::time::Duration;

struct State {
    value: u64,
}

impl Load for State {
    type Error = Infallible;
    fn load() -> Result<Self, Infallible> {
        Ok(State { value: 7 })
    }
}

static MODULE: ModuleCell<State> = ModuleCell::new(ModuleDef::new("bench-state"));
static LAZY: Lazy<State> = Lazy::new(|| State { value: 7 });
static RWLOCK: RwLock<Option<State>> = RwLock::new(Some(State { value: 7 }));

/// Guard get + deref + drop on a resident module, beside the anchors the issue names
/// (`Lazy` deref, `ArcSwapOption::load`) and the designs the cell was chosen against.
fn resident_get(c: &mut Criterion) {
    drop(MODULE.get().unwrap());
    let _ = &*LAZY;
    let swap = ArcSwapOption::from_pointee(State { value: 7 });
    let mut group = c.benchmark_group("resident get");
    group.bench_function("lmms ModuleCell::get", |b| {
        b.iter(|| black_box(MODULE.get().unwrap().value))
    });
    group.bench_function("once_cell Lazy deref", |b| {
        b.iter(|| black_box(black_box(&*LAZY).value))
    });
    group.bench_function("arc_swap ArcSwapOption::load", |b| {
        b.iter(|| black_box(swap.load().as_ref().map(|s| s.value)))
    });
    group.bench_function("arc_swap load_full (Arc clone)", |b| {
        b.iter(|| black_box(swap.load_full().map(|s| s.value)))
    });
    group.bench_function("std RwLock<Option<T>> read", |b| {
        b.iter(|| black_box(RWLOCK.read().unwrap().as_ref().map(|s| s.value)))
    });
    group.finish();
}

/// Per-call time of the same gets with two threads calling at once: does the guard count
/// write a line the other thread reads?
fn resident_get_two_threads(c: &mut Criterion) {
    drop(MODULE.get().unwrap());
    let swap = ArcSwapOption::from_pointee(State { value: 7 });
    let mut group = c.benchmark_group("resident get, 2 threads");
    group.bench_function("lmms ModuleCell::get", |b| {
        b.iter_custom(|iters| two_threads(iters, || black_box(MODULE.get().unwrap().value)))
    });
    group.bench_function("arc_swap ArcSwapOption::load", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, || black_box(swap.load().as_ref().map(|s| s.value)))
        })
    });
    group.finish();
}

/// A sweep over 1,000 resident modules that all stay (within their grace period), with the
/// fixed grace period and with the adaptive keep-alive (each module having shown 20 idle gaps
/// of a minute, so its keep-alive is chosen from its histogram).
fn sweep_resident(c: &mut Criterion) {
    let mut group = c.benchmark_group("sweep, 1000 resident modules kept");
    for adaptive in [false, true] {
        let clock = lmms::tuning::ManualClock::new();
        let mut builder = Runtime::builder().clock(clock.clone());
        if adaptive {
            builder = builder.adaptive(
                lmms::tuning::Adaptive::default().load_cost(1, Duration::from_secs(3600)),
            );
        }
        let runtime = builder.build().unwrap();
        let handles: Vec<_> = (0..1000)
            .map(|i| {
                runtime
                    .register(ModuleDef::named(format!("m{i}")), || 0u64)
                    .unwrap()
            })
            .collect();
        for _ in 0..20 {
            clock.advance(Duration::from_secs(60));
            runtime.sweep();
            for handle in &handles {
                drop(handle.get().unwrap());
            }
        }
        let name = if adaptive { "adaptive" } else { "fixed grace" };
        group.bench_function(name, |b| {
            b.iter(|| {
                let report = runtime.sweep();
                assert_eq!(report.kept.len(), 1000);
                report
            })
        });
    }
    group.finish();
}

/// Load + unload of a small module: the price of one LUGS cycle.
fn load_unload(c: &mut Criterion) {
    let runtime = Runtime::builder().build().unwrap();
    let m = runtime
        .register(ModuleDef::named("cycle"), || vec![0u8; 1024])
        .unwrap();
    c.bench_function("load + unload, 1 KiB state", |b| {
        b.iter_batched(
            || (),
            |()| {
                drop(m.get().unwrap());
                m.unload()
            },
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(
    benches,
    resident_get,
    resident_get_two_threads,
    sweep_resident,
    load_unload
);
criterion_main!(benches);

//! What measuring memory costs: the counting allocator against the system allocator it
//! wraps, per allocation; and a whole load and unload of a 1 MiB module, measured, against
//! building and dropping the same state by hand.
//!
//! `cargo bench --bench measure`; the figures are in `BENCHMARKS.md` (issue 28).

use criterion::{criterion_group, criterion_main, Criterion};
use lmms::memory::CountingAlloc;
use lmms::{report::Unload, ModuleDef, Runtime};
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;

// The load group measures lmms as its users run it: with the counting allocator.
#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// One allocation and its free, through `allocator`.
fn alloc_free(allocator: &impl GlobalAlloc, layout: Layout) {
    // SAFETY: `layout` has a non-zero size; the block is freed with the layout it was
    // allocated with, once.
    unsafe {
        let block = allocator.alloc(layout);
        assert!(!block.is_null());
        black_box(block);
        allocator.dealloc(block, layout);
    }
}

/// Does counting cost per allocation? The counting allocator (a usable-size query and a
/// shared counter) beside the system allocator alone, for a small block and a large one.
fn per_allocation(c: &mut Criterion) {
    for (name, size) in [("64 B", 64), ("1 MiB", 1 << 20)] {
        let layout = Layout::from_size_align(size, 8).unwrap();
        let mut group = c.benchmark_group(format!("allocate and free {name}"));
        group.bench_function("System", |b| b.iter(|| alloc_free(&System, layout)));
        group.bench_function("lmms CountingAlloc", |b| {
            b.iter(|| alloc_free(&CountingAlloc, layout))
        });
        group.finish();
    }
}

/// What does a measured load and unload cost beyond the state's own building and dropping?
/// A module of 1 MiB loaded and unloaded through lmms (window, measures, books, the
/// unload's measure), beside building and dropping the vector by hand.
fn load_and_unload(c: &mut Criterion) {
    let runtime = Runtime::builder().trim_threshold(None).build().unwrap();
    let module = runtime
        .register(ModuleDef::named("table"), || vec![1u8; 1 << 20])
        .unwrap();
    let mut group = c.benchmark_group("load and unload 1 MiB");
    group.bench_function("by hand: build and drop", |b| {
        b.iter(|| drop(black_box(vec![1u8; 1 << 20])))
    });
    group.bench_function("lmms: get, unload", |b| {
        b.iter(|| {
            drop(module.get().unwrap());
            assert!(matches!(module.unload(), Unload::Unloaded { .. }));
        })
    });
    group.finish();
}

criterion_group!(benches, per_allocation, load_and_unload);
criterion_main!(benches);

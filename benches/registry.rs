//! Calls by name over 1,000 linked operations: `lmms::registry::lookup` against the naive gateway
//! (`HashMap<String, Box<dyn Fn(Box<dyn Any>) -> Box<dyn Any>>>`, the seed's
//! `execute_operation` in Rust), serde excluded. `cargo bench --bench registry`; figures in
//! `BENCHMARKS.md`.

#[allow(dead_code, missing_docs, clippy::identity_op)]
mod ops {
    include!("generated/ops1000.rs");
}

use criterion::{criterion_group, criterion_main, Criterion};
use std::any::Any;
use std::collections::HashMap;
use std::hint::black_box;

type Handler = Box<dyn Fn(Box<dyn Any>) -> Box<dyn Any> + Send + Sync>;

/// The naive gateway: one boxed handler per `"interface.name"`, arguments and result boxed.
fn naive_gateway() -> HashMap<String, Handler> {
    let mut gateway: HashMap<String, Handler> = HashMap::new();
    for op in lmms::registry::operations() {
        let key = format!("{}.{}", op.interface(), op.name());
        // Same work as the operations' bodies: read a table, add.
        let table: Vec<u64> = vec![7; 64];
        gateway.insert(
            key,
            Box::new(move |args: Box<dyn Any>| {
                let x = *args.downcast::<u64>().expect("u64 argument");
                Box::new(table[(x as usize) % 64] + x) as Box<dyn Any>
            }),
        );
    }
    gateway
}

/// The next index, wrapping without a division (which would cost as much as a lookup).
fn next(i: usize, len: usize) -> usize {
    if i + 1 == len {
        0
    } else {
        i + 1
    }
}

fn names() -> Vec<(&'static str, &'static str)> {
    let mut names: Vec<_> = lmms::registry::operations()
        .map(|op| (op.interface(), op.name()))
        .collect();
    names.sort();
    assert_eq!(
        names.len(),
        1000,
        "the generated crate's operations are all linked"
    );
    names
}

fn by_name(c: &mut Criterion) {
    let names = names();
    let gateway = naive_gateway();
    lmms::registry::lookup("i0", "op0").expect("index built before timing");
    let mut group = c.benchmark_group("by_name");
    // Each iteration takes the next name, so the lookups walk the whole table.
    group.bench_function("lmms_lookup", |b| {
        let mut i = 0;
        b.iter(|| {
            i = next(i, names.len());
            let (interface, name) = names[i];
            black_box(lmms::registry::lookup(black_box(interface), black_box(name)).is_ok())
        })
    });
    group.bench_function("lmms_lookup_same_name", |b| {
        b.iter(|| black_box(lmms::registry::lookup(black_box("i17"), black_box("op367")).is_ok()))
    });
    group.bench_function("naive_gateway_lookup", |b| {
        let mut i = 0;
        b.iter(|| {
            i = next(i, names.len());
            let (interface, name) = names[i];
            let key = format!("{}.{}", black_box(interface), black_box(name));
            black_box(gateway.contains_key(&key))
        })
    });
    group.bench_function("naive_gateway_call", |b| {
        let mut i = 0;
        b.iter(|| {
            i = next(i, names.len());
            let (interface, name) = names[i];
            let key = format!("{}.{}", black_box(interface), black_box(name));
            let handler = gateway.get(&key).expect("known");
            let out = handler(Box::new(i as u64));
            black_box(*out.downcast::<u64>().expect("u64 result"))
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = by_name
}
criterion_main!(benches);

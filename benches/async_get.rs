//! Getting a resident async module from async code, against `tokio::sync::OnceCell::get`
//! and the synchronous guard, in the same run (issue 18).
//!
//! `cargo bench --bench async_get`
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion};
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

pub struct Model(Vec<u64>);

impl lmms::AsyncLoad for Model {
    type Error = std::convert::Infallible;
    async fn load() -> Result<Self, Self::Error> {
        Ok(Model(vec![7; 16]))
    }
}

static MODEL: lmms::ModuleCell<Model> = lmms::ModuleCell::new(lmms::ModuleDef::new("model"));
static ONCE: tokio::sync::OnceCell<Model> = tokio::sync::OnceCell::const_new();

/// Polls a future that is ready at once (a resident module's get) with a no-op waker: what
/// awaiting it costs inside a task, without an executor's own cost.
#[inline]
fn ready<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => unreachable!("a resident module's get is ready at once"),
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        drop(MODEL.get_async().await.unwrap());
        ONCE.get_or_init(|| async { Model(vec![7; 16]) }).await;
    });
    let mut group = c.benchmark_group("async_get");
    group.bench_function("tokio OnceCell::get (anchor)", |b| {
        b.iter(|| black_box(ONCE.get().unwrap().0[3]))
    });
    group.bench_function("lmms get_async, awaited", |b| {
        b.iter(|| black_box(ready(MODEL.get_async()).unwrap().0[3]))
    });
    group.bench_function("lmms get (sync guard)", |b| {
        b.iter(|| black_box(MODEL.get().unwrap().0[3]))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

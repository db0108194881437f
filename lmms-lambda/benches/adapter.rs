//! What the lifecycle layer adds to an invocation: the sweep (and its closes) and the EMF
//! line, against the bare handler's work, a call by name on a resident module.
//! `cargo bench -p lmms-lambda --bench adapter`.

#[path = "../tests/common/mod.rs"]
#[allow(dead_code)]
mod common;

use common::{invocation, Handler};
use criterion::{criterion_group, criterion_main, Criterion};
use lambda_runtime::tower::{Layer, Service};
use std::hint::black_box;

/// A table the handler reads.
#[lmms::module(name = "weather")]
pub struct Weather(Vec<i32>);

impl lmms::Load for Weather {
    type Error = std::convert::Infallible;
    fn load() -> Result<Self, Self::Error> {
        Ok(Weather((0..4096).collect()))
    }
}

/// The handler's one call by name.
#[lmms::operation(interface = "weather")]
pub fn forecast(weather: &Weather, day: usize) -> i32 {
    weather.0[day % weather.0.len()]
}

/// The handler: one call by name, as the example's directives are routed.
fn handle(body: &[u8]) {
    let day = serde_json::json!({ "day": body.len() });
    black_box(lmms::execute("weather", "forecast", day).unwrap());
}

fn adapter(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let mut bare = Handler(handle);
    let mut swept = lmms_lambda::Lifecycle::new()
        .without_emf()
        .layer(Handler(handle));
    rt.block_on(bare.call(invocation("{}"))).unwrap();
    let mut reported = lmms_lambda::Lifecycle::new()
        .to_writer(std::sync::Arc::new(std::sync::Mutex::new(std::io::sink())))
        .layer(Handler(handle));
    let mut group = c.benchmark_group("invocation");
    group.bench_function("bare handler", |b| {
        b.iter(|| rt.block_on(bare.call(invocation("{}"))).unwrap())
    });
    group.bench_function("with the lifecycle layer (sweep, no EMF)", |b| {
        b.iter(|| rt.block_on(swept.call(invocation("{}"))).unwrap())
    });
    // The report as the layer builds it, written to nowhere (stdout is one write more).
    group.bench_function("with the lifecycle layer (sweep and EMF line)", |b| {
        b.iter(|| rt.block_on(reported.call(invocation("{}"))).unwrap())
    });
    group.finish();
}

criterion_group!(benches, adapter);
criterion_main!(benches);

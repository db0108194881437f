//! What the lifecycle layer adds to an invocation: the sweep (and its closes) and the EMF
//! line, against the bare handler's work, a call by name on a resident module.
//! `cargo bench -p lmms-lambda --bench adapter`.

use criterion::{criterion_group, criterion_main, Criterion};
use lambda_runtime::tower::{Layer, Service};
use lambda_runtime::{Context, LambdaInvocation};
use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::task::Poll;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

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
#[derive(Clone)]
struct Handler;

impl Service<LambdaInvocation> for Handler {
    type Response = ();
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, invocation: LambdaInvocation) -> Self::Future {
        let day = invocation.body.len();
        black_box(lmms::execute("weather", "forecast", serde_json::json!({ "day": day })).unwrap());
        Box::pin(async { Ok(()) })
    }
}

fn invocation() -> LambdaInvocation {
    LambdaInvocation {
        parts: http::Response::new(()).into_parts().0,
        body: bytes::Bytes::from_static(b"{}"),
        context: Context::default(),
    }
}

fn adapter(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let mut bare = Handler;
    let mut swept = lmms_lambda::Lifecycle::new().without_emf().layer(Handler);
    rt.block_on(bare.call(invocation())).unwrap();
    let emf = lmms::report::Emf::new("lmms").dimension("function", "bench");
    let mut group = c.benchmark_group("invocation");
    group.bench_function("bare handler", |b| {
        b.iter(|| rt.block_on(bare.call(invocation())).unwrap())
    });
    group.bench_function("with the lifecycle layer (sweep, no EMF)", |b| {
        b.iter(|| rt.block_on(swept.call(invocation())).unwrap())
    });
    // The EMF line as the layer builds it (its `println!` is one write to stdout more).
    group.bench_function("the EMF line alone", |b| {
        b.iter(|| {
            let before = lmms::stats();
            black_box(emf.line(&lmms::stats().since(&before)))
        })
    });
    group.finish();
}

criterion_group!(benches, adapter);
criterion_main!(benches);

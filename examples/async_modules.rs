//! The figures of async modules (issue 18), as ratios against anchors of the same run:
//!
//! - 1,000 tasks asking for a module whose async load takes 50 ms, at once: how many loads
//!   ran, and the wall time ÷ one load's time;
//! - two independent modules of 50 ms async load each, needed by one request: the time to
//!   have both, started together (`lmms::state::load_together`) ÷ one after the other.
//!
//! `cargo run --release -p lmms-examples --example async_modules`
#![allow(missing_docs)]

use lmms::{AsyncLoad, Module};
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

const LOAD: Duration = Duration::from_millis(50);

static LOADS: AtomicUsize = AtomicUsize::new(0);

macro_rules! slow_module {
    ($name:ident, $text:literal) => {
        #[lmms::module(name = $text)]
        pub struct $name(u64);

        impl AsyncLoad for $name {
            type Error = Infallible;
            async fn load() -> Result<Self, Infallible> {
                LOADS.fetch_add(1, SeqCst);
                tokio::time::sleep(LOAD).await; // an SDK client's set-up, a model's download
                Ok($name(1))
            }
        }
    };
}

slow_module!(Client, "client");
slow_module!(Model, "model");
slow_module!(Shared, "shared");

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        // The anchor: one load alone, awaited by one task.
        let mut alone = Vec::new();
        let mut crowd = Vec::new();
        let mut loads = Vec::new();
        for _ in 0..5 {
            let started = Instant::now();
            drop(Shared::get_async().await.unwrap());
            alone.push(started.elapsed().as_secs_f64());
            assert!(matches!(Shared::unload(), lmms::report::Unload::Unloaded { .. }));

            let before = LOADS.load(SeqCst);
            let started = Instant::now();
            let tasks: Vec<_> = (0..1000)
                .map(|_| tokio::spawn(async { Shared::get_async().await.map(|g| g.0) }))
                .collect();
            for task in tasks {
                task.await.unwrap().unwrap();
            }
            crowd.push(started.elapsed().as_secs_f64());
            loads.push(LOADS.load(SeqCst) - before);
            assert!(matches!(Shared::unload(), lmms::report::Unload::Unloaded { .. }));
        }
        println!(
            "1,000 first callers: loads {:?}; wall {:.1} ms ÷ one load {:.1} ms = {:.2}×",
            loads,
            median(crowd.clone()) * 1e3,
            median(alone.clone()) * 1e3,
            median(crowd) / median(alone)
        );

        let mut sequential = Vec::new();
        let mut together = Vec::new();
        for _ in 0..5 {
            let started = Instant::now();
            let client = Client::get_async().await.unwrap().0;
            let model = Model::get_async().await.unwrap().0;
            assert_eq!(client + model, 2);
            sequential.push(started.elapsed().as_secs_f64());
            Client::unload();
            Model::unload();

            let started = Instant::now();
            lmms::state::load_together(&[Client::cell(), Model::cell()]).await.unwrap();
            together.push(started.elapsed().as_secs_f64());
            Client::unload();
            Model::unload();
        }
        println!(
            "two 50 ms loads: together {:.1} ms ÷ one after the other {:.1} ms = {:.2}× (target ≤ 0.55×)",
            median(together.clone()) * 1e3,
            median(sequential.clone()) * 1e3,
            median(together) / median(sequential)
        );
    });
}

//! What the benches share.

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

/// Runs `call` `iters` times on each of two fresh threads started together; the time per
/// call is the slower thread's. Fresh threads first touch lmms one after the other, so they
/// take neighbouring stripes and marks, as a server's long-lived workers do.
pub fn two_threads<R>(iters: u64, call: impl Fn() -> R + Sync) -> Duration {
    let start = Barrier::new(2);
    std::thread::scope(|s| {
        let run = || {
            start.wait();
            let t = Instant::now();
            for _ in 0..iters {
                black_box(call());
            }
            t.elapsed()
        };
        let (a, b) = (s.spawn(run), s.spawn(run));
        a.join().unwrap().max(b.join().unwrap())
    })
}

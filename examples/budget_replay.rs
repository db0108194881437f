//! The memory budget over a replay of a mixed request sequence, as a Lambda function sees
//! one: twelve modules of 128 KiB to 4 MiB, each request holding one to three of them, a
//! sweep after each request. Replayed with no budget, then with a budget of half the peak
//! that replay reached: the peak of resident state must stay within the budget plus the
//! largest module, and the figures say how many loads the budget added.
//!
//! `cargo run --release -p lmms-examples --example budget_replay`

use lmms::memory::{live_heap, CountingAlloc};
use lmms::{tuning::ManualClock, ModuleDef, Runtime};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const KIB: usize = 1024;
const SIZES: [usize; 12] = [
    4096 * KIB,
    2048 * KIB,
    2048 * KIB,
    1024 * KIB,
    1024 * KIB,
    1024 * KIB,
    512 * KIB,
    512 * KIB,
    512 * KIB,
    256 * KIB,
    256 * KIB,
    128 * KIB,
];
const REQUESTS: usize = 3000;

/// The live heap at its highest, sampled by every loader once its state is built (when a
/// first load's state is there and nothing has been unloaded for it yet) and after every
/// request.
static PEAK: AtomicU64 = AtomicU64::new(0);

fn sample() {
    PEAK.fetch_max(
        live_heap().expect("the counting allocator is installed"),
        Relaxed,
    );
}

/// A small deterministic generator (64-bit LCG), so both replays see the same requests.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

/// The requests: which modules each holds, and the idle gap before it. Skewed: the small
/// modules are the popular ones, and the large ones come in bursts.
fn requests() -> Vec<(Vec<usize>, u64)> {
    let mut rng = Lcg(7);
    (0..REQUESTS)
        .map(|_| {
            let touched = 1 + rng.next(3) as usize;
            let mut modules: Vec<usize> = (0..touched)
                .map(|_| {
                    // Module i with weight ~ (i + 1): the tail (small modules) most often.
                    let total = SIZES.len() * (SIZES.len() + 1) / 2;
                    let mut pick = rng.next(total as u64) as usize;
                    let mut i = 0;
                    while pick > i {
                        pick -= i + 1;
                        i += 1;
                    }
                    i.min(SIZES.len() - 1)
                })
                .collect();
            modules.sort_unstable();
            modules.dedup();
            (modules, 1 + rng.next(5))
        })
        .collect()
}

struct Replay {
    peak: u64,
    loads: u64,
    budget_unloads: u64,
    over_budget_loads: u64,
}

fn replay(budget: Option<u64>, requests: &[(Vec<usize>, u64)]) -> Replay {
    let clock = ManualClock::new();
    let mut builder = Runtime::builder().clock(clock.clone()).min_resident(0);
    if let Some(bytes) = budget {
        builder = builder.memory_budget(bytes);
    }
    let runtime = builder.build().unwrap();
    let modules: Vec<_> = SIZES
        .iter()
        .enumerate()
        .map(|(i, &size)| {
            runtime
                .register(ModuleDef::named(format!("m{i}")), move || {
                    let state = vec![1u8; size];
                    sample();
                    state
                })
                .unwrap()
        })
        .collect();
    let baseline = live_heap().unwrap();
    PEAK.store(baseline, Relaxed);
    for (touched, gap) in requests {
        clock.advance(Duration::from_secs(*gap));
        let guards: Vec<_> = touched.iter().map(|&i| modules[i].get().unwrap()).collect();
        sample();
        drop(guards);
        runtime.sweep();
    }
    let stats = runtime.stats();
    Replay {
        peak: PEAK.load(Relaxed) - baseline,
        loads: stats.loads,
        budget_unloads: stats.budget_unloads,
        over_budget_loads: stats.over_budget_loads,
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

fn main() {
    let requests = requests();
    let free = replay(None, &requests);
    let budget = free.peak / 2;
    let bounded = replay(Some(budget), &requests);
    let largest = *SIZES.iter().max().unwrap() as u64;
    println!(
        "{REQUESTS} requests over {} modules ({:.1} MiB in all), a sweep after each",
        SIZES.len(),
        mib(SIZES.iter().sum::<usize>() as u64)
    );
    println!("| | peak resident | loads | unloads to make room | loads over budget |");
    println!("|---|---|---|---|---|");
    for (name, replay) in [("no budget", &free), ("budget = half that peak", &bounded)] {
        println!(
            "| {name} | {:.2} MiB | {} | {} | {} |",
            mib(replay.peak),
            replay.loads,
            replay.budget_unloads,
            replay.over_budget_loads
        );
    }
    println!(
        "budget {:.2} MiB, budget + largest module {:.2} MiB; peak / (budget + largest) = {:.2}; loads added: {:+.1}%",
        mib(budget),
        mib(budget + largest),
        bounded.peak as f64 / (budget + largest) as f64,
        (bounded.loads as f64 / free.loads as f64 - 1.0) * 100.0
    );
    assert!(
        bounded.peak <= budget + largest + (64 * KIB) as u64,
        "the peak went past the budget plus the largest module"
    );
}

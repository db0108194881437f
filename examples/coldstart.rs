//! Cold start as a process: the same application built eager (every module built in `main`
//! before serving, the seed's "traditional" function) and with lmms, each serving one
//! request that uses 2 of its 50 modules (about 2 MB of state each) and exiting; beside
//! them an empty `main`, and the lmms binary with its 50 modules and 500 operations
//! declared but none called (the framework's own start-up cost).
//!
//! `cargo run --release -p lmms-examples --example coldstart` builds the four binaries,
//! launches each 100 times (`LMMS_COLDSTART_RUNS` to change), rotating the order every
//! round, and reports the
//! median and spread of the time to first response (spawn to the first line read) and of
//! peak RSS (`VmHWM`, reported by each process at its end), with the ratios.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Instant;

const BINARIES: [&str; 4] = [
    "coldstart_eager",
    "coldstart_lmms",
    "coldstart_empty",
    "coldstart_idle",
];

fn main() {
    let built = Command::new(env!("CARGO"))
        .args(["build", "--release", "--quiet", "-p", "lmms-examples"])
        .args(BINARIES.iter().flat_map(|name| ["--example", name]))
        .status()
        .expect("cargo runs");
    assert!(built.success(), "building the benchmark's binaries failed");
    let dir = std::env::current_exe()
        .expect("own path")
        .with_file_name("");
    let runs: usize = std::env::var("LMMS_COLDSTART_RUNS")
        .ok()
        .and_then(|runs| runs.parse().ok())
        .unwrap_or(100);
    let mut samples: Vec<(Vec<f64>, Vec<f64>)> = vec![(Vec::new(), Vec::new()); BINARIES.len()];
    for round in 0..runs {
        for k in 0..BINARIES.len() {
            let which = (round + k) % BINARIES.len();
            let (ms, kib) = launch(&dir.join(BINARIES[which]));
            samples[which].0.push(ms);
            samples[which].1.push(kib);
        }
    }
    println!("{runs} launches each, order rotated every round\n");
    println!("| binary | time to first response, median (p10–p90) | peak RSS, median (p10–p90) |");
    println!("|---|---:|---:|");
    let mut medians = Vec::new();
    for (name, (times, rss)) in BINARIES.iter().zip(&mut samples) {
        let (t, r) = (spread(times), spread(rss));
        println!(
            "| {name} | {:.2} ms ({:.2}–{:.2}) | {:.1} MiB ({:.1}–{:.1}) |",
            t.0,
            t.1,
            t.2,
            r.0 / 1024.0,
            r.1 / 1024.0,
            r.2 / 1024.0
        );
        medians.push((t.0, r.0));
    }
    println!();
    println!(
        "lmms ÷ eager: time to first response {:.3}×, peak RSS {:.3}×  (targets ≤ 0.1×, ≤ 0.1×)",
        medians[1].0 / medians[0].0,
        medians[1].1 / medians[0].1
    );
    println!(
        "declared-but-unused ÷ empty main: time {:.3}×, peak RSS {:.3}×  (target 1.0× within noise)",
        medians[3].0 / medians[2].0,
        medians[3].1 / medians[2].1
    );
}

/// Runs one binary: milliseconds from spawn to its first line, and its peak RSS in KiB.
fn launch(path: &std::path::Path) -> (f64, f64) {
    let started = Instant::now();
    let mut child = Command::new(path)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start {}: {error}", path.display()));
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    let _response = lines.next().expect("a response line").expect("readable");
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let kib: f64 = lines
        .next()
        .expect("a peak RSS line")
        .expect("readable")
        .parse()
        .expect("a number");
    assert!(child.wait().expect("the child exits").success());
    (ms, kib)
}

/// Median, 10th and 90th percentiles.
fn spread(samples: &mut [f64]) -> (f64, f64, f64) {
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.1), at(0.9))
}

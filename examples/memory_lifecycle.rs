//! Memory over time for the cold-start benchmark's application (50 modules of 2 MiB): a
//! seeded burst of requests, then an idle stretch, replayed on the manual clock three ways —
//! eager (every module loaded at start and held), lmms without unloading (never swept), and
//! lmms (swept every 10 s of clock) — each in its own process, sampling live heap and RSS.
//!
//! `cargo run --release -p lmms-examples --example memory_lifecycle` prints MB-seconds for each and writes
//! `target/memory_lifecycle.svg`.
#![allow(dead_code)]

#[path = "coldstart/app.rs"]
mod app;

use lmms::memory::{live_heap, rss, CountingAlloc};
use plotters::prelude::*;
use std::process::Command;
use std::time::Duration;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const MODES: [&str; 3] = ["eager", "lmms, never swept", "lmms"];
/// The burst: 300 requests over 60 s to 12 of the 50 modules, most to a few.
const REQUESTS: u64 = 300;
const BURST_MS: u64 = 60_000;
/// Then 10 idle minutes.
const IDLE_MS: u64 = 600_000;
const SWEEP_EVERY_MS: u64 = 10_000;

fn main() {
    if let [_, flag, mode] = std::env::args().collect::<Vec<_>>().as_slice() {
        if flag == "--child" {
            child(mode.parse().expect("a mode index"));
            return;
        }
    }
    let exe = std::env::current_exe().expect("own path");
    let runs: Vec<Vec<(f64, f64, f64)>> = (0..MODES.len())
        .map(|mode| {
            let out = Command::new(&exe)
                .args(["--child", &mode.to_string()])
                .output()
                .expect("child runs");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(|line| {
                    let v: Vec<f64> = line
                        .split(' ')
                        .map(|x| x.parse().expect("a number"))
                        .collect();
                    (v[0], v[1], v[2])
                })
                .collect()
        })
        .collect();
    println!("| | live heap MB-s | RSS MB-s | peak live heap (MiB) | live heap at the end (MiB) | ÷ eager (live heap MB-s) |");
    println!("|---|---:|---:|---:|---:|---:|");
    let eager = mb_seconds(&runs[0], |s| s.1);
    for (mode, samples) in MODES.iter().zip(&runs) {
        let heap = mb_seconds(samples, |s| s.1);
        let resident = mb_seconds(samples, |s| s.2);
        let peak = samples.iter().map(|s| s.1).fold(0.0, f64::max);
        let end = samples.last().map_or(0.0, |s| s.1);
        println!(
            "| {mode} | {heap:.0} | {resident:.0} | {peak:.1} | {end:.1} | {:.2}× |",
            heap / eager
        );
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/memory_lifecycle.svg");
    match chart(&path, &runs) {
        Ok(()) => println!("\nchart: {}", path.display()),
        Err(error) => println!("\nno chart: {error}"),
    }
}

/// The integral of a sampled MiB figure over clock seconds (piecewise constant).
fn mb_seconds(samples: &[(f64, f64, f64)], figure: impl Fn(&(f64, f64, f64)) -> f64) -> f64 {
    samples
        .windows(2)
        .map(|w| figure(&w[0]) * (w[1].0 - w[0].0))
        .sum()
}

/// One mode in this process: prints `seconds live_heap_mib rss_mib` after every event.
fn child(mode: usize) {
    let clock = lmms::tuning::ManualClock::new();
    let runtime = lmms::Runtime::builder()
        .clock(clock.clone())
        .min_resident(0)
        .build()
        .expect("settings");
    lmms::Runtime::set_global(runtime).expect("first");
    let mib = |bytes: Option<u64>| bytes.unwrap_or(0) as f64 / (1024.0 * 1024.0);
    let sample = |ms: u64| println!("{} {} {}", ms as f64 / 1000.0, mib(live_heap()), mib(rss()));
    sample(0);
    let _held = (mode == 0).then(app::hold_everything);
    sample(0);
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut swept_at = 0;
    let step = |ms: u64, swept_at: &mut u64| {
        clock.set(Duration::from_millis(ms));
        if mode == 2 && ms >= *swept_at + SWEEP_EVERY_MS {
            *swept_at = ms;
            lmms::sweep();
        }
        sample(ms);
    };
    for i in 0..REQUESTS {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        // Skewed: half the requests to 3 modules, the rest over 12.
        let module = if x.is_multiple_of(2) {
            (x >> 8) % 3
        } else {
            (x >> 8) % 12
        } as usize;
        app::CALLS[module * 4 % 50](x).expect("infallible");
        step(i * BURST_MS / REQUESTS, &mut swept_at);
    }
    let mut ms = BURST_MS;
    while ms <= BURST_MS + IDLE_MS {
        step(ms, &mut swept_at);
        ms += SWEEP_EVERY_MS / 2;
    }
}

fn chart(
    path: &std::path::Path,
    runs: &[Vec<(f64, f64, f64)>],
) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(path, (900, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let x_max = (BURST_MS + IDLE_MS) as f64 / 1000.0;
    let y_max = runs
        .iter()
        .flatten()
        .map(|s| s.1.max(s.2))
        .fold(1.0, f64::max)
        * 1.1;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "a burst, then idle: live heap (solid) and RSS (thin)",
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(52)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)?;
    chart
        .configure_mesh()
        .x_desc("clock time (s)")
        .y_desc("MiB")
        .draw()?;
    for ((mode, samples), color) in MODES.iter().zip(runs).zip([RED, MAGENTA, BLUE]) {
        chart
            .draw_series(LineSeries::new(
                samples.iter().map(|s| (s.0, s.1)),
                color.stroke_width(2),
            ))?
            .label(*mode)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        chart.draw_series(LineSeries::new(samples.iter().map(|s| (s.0, s.2)), color))?;
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE)
        .draw()?;
    root.present()?;
    Ok(())
}

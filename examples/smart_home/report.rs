//! The parent process: runs each scenario eager and with lmms in child processes, prints
//! the timelines, the tables beside the baseline and the seed's claims, and draws the
//! charts.

use crate::scenarios;
use plotters::prelude::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The seed's figures per scenario (`seed/LMMS.md`, "Real-World Performance"): what it
/// claims for the traditional function and for LMMS, and the ratio it implies.
const CLAIMS: [&[(&str, f64, f64)]; 4] = [
    &[
        ("first request (ms)", 1130.0, 430.0),
        ("memory (MB)", 45.0, 17.0),
    ],
    &[
        ("MB-seconds over the 30 s burst", 1350.0, 760.0),
        ("peak memory (MB)", 45.0, 28.0),
    ],
    &[("GB-seconds per 1,000 invocations", 6.3, 3.213)],
    &[
        ("cold start (ms)", 950.0, 270.0),
        ("memory after idle (MB)", 45.0, 15.0),
    ],
];

pub fn all() {
    let started = std::time::Instant::now();
    let charts = chart_dir();
    for make in scenarios::all() {
        let scenario = make();
        let eager = child(scenario.number, "eager");
        let lmms = child(scenario.number, "lmms");
        println!("\n## Scenario {}: {}\n", scenario.number, scenario.title);
        timeline(&lmms);
        table(&eager, &lmms);
        claims(scenario.number, &eager, &lmms);
        if matches!(scenario.number, 2 | 4) {
            let path = charts.join(format!("scenario{}.svg", scenario.number));
            match chart(&path, scenario.title, &eager, &lmms) {
                Ok(()) => println!("\nchart of live heap over time: {}", path.display()),
                Err(error) => println!("\nno chart ({}): {error}", path.display()),
            }
        }
    }
    println!(
        "\nall four scenarios, eight processes: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

fn chart_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("smart_home");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// This program again, as `--child <scenario> <mode>`: its one line of JSON.
fn child(scenario: u8, mode: &str) -> Value {
    let exe = std::env::current_exe().expect("the running program's path");
    let out = Command::new(exe)
        .args(["--child", &scenario.to_string(), mode])
        .output()
        .expect("the child process starts");
    assert!(
        out.status.success(),
        "scenario {scenario} ({mode}) failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the child prints one JSON object")
}

fn timeline(lmms: &Value) {
    let lines = lmms["timeline"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if lines.is_empty() {
        println!(
            "(timeline omitted for {} invocations)\n",
            lmms["invocations"]
        );
        return;
    }
    println!("lmms timeline (loads, unloads, promotions, demotions, cache hits):");
    const SHOWN: usize = 14;
    for line in lines.iter().take(SHOWN) {
        println!("  {}", line.as_str().unwrap_or_default());
    }
    if lines.len() > SHOWN {
        println!("  ... {} more events", lines.len() - SHOWN);
    }
    println!();
}

fn table(eager: &Value, lmms: &Value) {
    let rows = [
        ("time to first response (ms)", "first_response_ms", 1),
        ("peak live heap (MiB)", "peak_mib", 1),
        ("sustained live heap (MiB)", "sustained_mib", 1),
        ("MB-seconds, until the last response", "mb_seconds_busy", 0),
        ("MB-seconds, whole clock span", "mb_seconds", 0),
        ("GB-seconds per 1,000 calls", "gb_seconds_per_1000", 3),
        ("module loads", "loads", 0),
    ];
    println!("| | eager | lmms | lmms ÷ eager |\n|---|---:|---:|---:|");
    for (label, key, digits) in rows {
        let (e, l) = (
            eager[key].as_f64().unwrap_or(0.0),
            lmms[key].as_f64().unwrap_or(0.0),
        );
        println!(
            "| {label} | {e:.digits$} | {l:.digits$} | {:.2}× |",
            l / e.max(f64::MIN_POSITIVE)
        );
    }
    println!(
        "(lmms: {} unloads, {} cache hits, {} promotions; {} errors; clock span {:.0} s)",
        lmms["unloads"],
        lmms["cache_hits"],
        lmms["promotions"],
        lmms["errors"],
        lmms["span_s"].as_f64().unwrap_or(0.0)
    );
}

fn claims(number: u8, eager: &Value, lmms: &Value) {
    let measured = |key: &str| {
        let (e, l) = (
            eager[key].as_f64().unwrap_or(0.0),
            lmms[key].as_f64().unwrap_or(0.0),
        );
        (e, l, l / e.max(f64::MIN_POSITIVE))
    };
    let ours = match number {
        1 => vec![measured("first_response_ms"), measured("peak_mib")],
        2 => vec![measured("mb_seconds_busy"), measured("peak_mib")],
        3 => vec![measured("gb_seconds_per_1000")],
        _ => vec![measured("first_response_ms"), (0.0, 0.0, 0.0)],
    };
    println!("\nthe seed's claims beside ours (ratios are lmms ÷ eager; lower is better):");
    for (i, (what, before, after)) in CLAIMS[usize::from(number) - 1].iter().enumerate() {
        let (e, l, ratio) = ours[i];
        let ours = if e == 0.0 && l == 0.0 {
            format!(
                "see the table: {:.1} MiB sustained",
                lmms["sustained_mib"].as_f64().unwrap_or(0.0)
            )
        } else {
            format!("{e:.1} → {l:.1}, {ratio:.2}×")
        };
        let verdict = if ratio > after / before && e != 0.0 {
            " (lmms measures worse than the seed claims)"
        } else {
            ""
        };
        println!(
            "  {what}: seed {before} → {after}, {:.2}×; measured {ours}{verdict}",
            after / before
        );
    }
}

fn chart(
    path: &Path,
    title: &str,
    eager: &Value,
    lmms: &Value,
) -> Result<(), Box<dyn std::error::Error>> {
    let series = |run: &Value| -> Vec<(f64, f64)> {
        run["samples"]
            .as_array()
            .map(|samples| {
                samples
                    .iter()
                    .filter_map(|pair| Some((pair[0].as_f64()?, pair[1].as_f64()?)))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (eager, lmms) = (series(eager), series(lmms));
    let x_max = eager.iter().chain(&lmms).map(|p| p.0).fold(1.0, f64::max);
    let y_max = eager.iter().chain(&lmms).map(|p| p.1).fold(1.0, f64::max) * 1.1;
    let root = SVGBackend::new(path, (900, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("live heap over time: {title}"), ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(52)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)?;
    chart
        .configure_mesh()
        .x_desc("clock time (s)")
        .y_desc("live heap (MiB)")
        .draw()?;
    chart
        .draw_series(LineSeries::new(eager, &RED))?
        .label("eager: every module built at start")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED));
    chart
        .draw_series(LineSeries::new(lmms, &BLUE))?
        .label("lmms")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE)
        .draw()?;
    root.present()?;
    Ok(())
}

//! `lmms-advise`: which Lambda memory size to choose, from one run's measured modules and a
//! request log, before deploying (see `lmms_replay::advise`).
//!
//! ```text
//! cargo run --release -p lmms-replay --bin lmms-advise -- \
//!     --modules stats.json --trace requests.jsonl --baseline-mib 12 --max-extra-ms 500
//! ```

use clap::Parser;
use lmms::memory::CountingAlloc;
use lmms_replay::advise::{self, Module, Process, Request, Sized};
use plotters::prelude::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

// The replay's budget weighs each module by the bytes its load allocated.
#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Predicts, for each Lambda memory size, the extra loads lmms makes under the budget it
/// sets there, the time they add and the GB-seconds billed, and the smallest size whose
/// extra time stays under a bound.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// The modules as a run measured them: `lmms::stats()` serialised to JSON (feature
    /// `serde`), whose modules give `name`, `size` and `load_time`.
    #[arg(long)]
    modules: PathBuf,
    /// The requests, one JSON object a line: `{"use": ["m0", "m4"], "ms": 3.5}`, the
    /// modules each uses (by name) and its own run time in ms, loads not included.
    #[arg(long)]
    trace: PathBuf,
    /// The process's own memory at start, before any module loads, in MiB: its anonymous
    /// pages (`RssAnon` in `/proc/<pid>/status`), which a memory limit cannot reclaim. The
    /// `lmms_lambda` start-up line's resident set is an upper bound: it also counts the
    /// code's pages, which the kernel drops under a limit before it kills.
    #[arg(long, value_parser = non_negative)]
    baseline_mib: f64,
    /// The process's resident set at start, in MiB, which `lmms_lambda` sets the budget
    /// from: the start-up line's "the process's N MiB at start" (default: the baseline).
    #[arg(long, value_parser = non_negative)]
    start_rss_mib: Option<f64>,
    /// The allocator's slack over the modules' counted bytes, as a share. The counting
    /// allocator counts what the allocator holds for each block already; raise it for
    /// state that leaves the heap fragmented.
    #[arg(long, default_value_t = 0.0, value_parser = non_negative)]
    slack: f64,
    /// The extra time that loads may add over the whole trace, in ms.
    #[arg(long, default_value_t = 1000.0, value_parser = non_negative)]
    max_extra_ms: f64,
    /// The first size, in MiB (Lambda's smallest is 128).
    #[arg(long, default_value_t = 128)]
    from: u64,
    /// The step between sizes, in MiB (Lambda's memory sizes go by 1 MiB; 64 keeps the
    /// table short).
    #[arg(long, default_value_t = 64)]
    step: u64,
    /// Where the chart goes.
    #[arg(long, default_value = "target/lmms-advise")]
    out: PathBuf,
}

/// A number of zero or more, for sizes, shares and times.
fn non_negative(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if value.is_finite() && value >= 0.0 => Ok(value),
        Ok(_) => Err(format!("`{text}` must be a number of zero or more")),
        Err(error) => Err(format!("`{text}` is not a number: {error}")),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    match advise(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("lmms-advise: {error}");
            ExitCode::FAILURE
        }
    }
}

type Error = Box<dyn std::error::Error>;

fn advise(args: &Args) -> Result<(), Error> {
    let (modules, trim) = read_modules(&args.modules)?;
    let requests = read_requests(&args.trace, &modules)?;
    let process = Process {
        trim,
        baseline: (args.baseline_mib * f64::from(1 << 20)) as u64,
        start_rss: (args.start_rss_mib.unwrap_or(args.baseline_mib) * f64::from(1 << 20)) as u64,
        slack: args.slack,
    };
    let table = advise::sizes(&modules, &requests, process, args.from, args.step)?;
    let eager_mib = advise::eager_mib(&modules, process);
    // An eager build pays every load once, in its init (billed, at its size), and no more.
    let eager_billed: Duration = requests
        .iter()
        .map(|request| request.duration)
        .sum::<Duration>()
        + modules.iter().map(|module| module.load).sum::<Duration>();
    let eager_gb_s = eager_mib as f64 / 1024.0 * eager_billed.as_secs_f64();
    println!(
        "{} requests over {} modules ({} MiB); an eager build needs {eager_mib} MiB and bills {eager_gb_s:.3} GB-s",
        requests.len(),
        modules.len(),
        modules.iter().map(|m| m.bytes).sum::<u64>() >> 20,
    );
    println!("| memory | budget | loads | extra loads | extra time | GB-s | saved against eager | predicted peak | fits |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for sized in &table {
        println!(
            "| {} MiB | {} | {} | {} | {:.0} ms | {:.3} | {:.0}% | {:.1} MiB | {} |",
            sized.memory_mib,
            sized
                .budget
                .map_or("none".into(), |bytes| format!("{} MiB", bytes >> 20)),
            sized.loads,
            sized.extra_loads,
            sized.extra_time.as_secs_f64() * 1000.0,
            sized.gb_seconds,
            100.0 * (1.0 - sized.gb_seconds / eager_gb_s.max(f64::MIN_POSITIVE)),
            sized.peak as f64 / f64::from(1 << 20),
            if sized.fits() { "yes" } else { "no: killed" },
        );
    }
    let bound = Duration::from_secs_f64(args.max_extra_ms.max(0.0) / 1000.0);
    match advise::smallest(&table, bound) {
        Some(best) => println!(
            "choose {} MiB: {} extra loads add {:.0} ms (bound {:.0} ms), {:.3} GB-s against the eager build's {:.3} at {eager_mib} MiB",
            best.memory_mib,
            best.extra_loads,
            best.extra_time.as_secs_f64() * 1000.0,
            args.max_extra_ms,
            best.gb_seconds,
            eager_gb_s,
        ),
        None => println!(
            "no size up to {eager_mib} MiB keeps the extra time under {:.0} ms",
            args.max_extra_ms
        ),
    }
    std::fs::create_dir_all(&args.out)?;
    let chart = args.out.join("memory-sizes.svg");
    draw(&table, &chart)?;
    println!("chart: {}", chart.display());
    Ok(())
}

/// The modules of a serialised `lmms::stats()`, and what handing memory back took on
/// average in that run.
fn read_modules(path: &Path) -> Result<(Vec<Module>, Duration), Error> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let stats: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
    let list = stats["modules"].as_array().ok_or_else(|| {
        format!(
            "{}: no `modules` list (a serialised `lmms::stats()`)",
            path.display()
        )
    })?;
    let trims = u32::try_from(stats["trims"].as_u64().unwrap_or(0)).unwrap_or(u32::MAX);
    let trim = duration(&stats["trim_time"]).unwrap_or_default() / trims.max(1);
    let modules = list
        .iter()
        .enumerate()
        // A module never loaded in the run has no size to go by; a request that uses it is
        // an error naming it.
        .filter(|(_, module)| !module["size"].is_null())
        .map(|(i, module)| {
            let field = |name: &str| format!("{}: modules[{i}] has no `{name}`", path.display());
            let name = module["name"].as_str().ok_or_else(|| field("name"))?;
            let bytes = module["size"].as_u64().ok_or_else(|| field("size"))?;
            let load = duration(&module["load_time"]).ok_or_else(|| field("load_time"))?;
            // A module never unloaded in the run: its unloads taken as free.
            let unload = duration(&module["unload_time"]).unwrap_or_default();
            Ok(Module {
                name: name.to_owned(),
                bytes,
                load,
                unload,
            })
        })
        .collect::<Result<_, String>>()?;
    Ok((modules, trim))
}

/// A serialised `Duration` (`{"secs": 1, "nanos": 5}`), if there is one.
fn duration(value: &Value) -> Option<Duration> {
    let secs = value["secs"].as_u64()?;
    Some(Duration::from_secs(secs) + Duration::from_nanos(value["nanos"].as_u64().unwrap_or(0)))
}

/// The requests of a JSON-lines log, their modules by name.
fn read_requests(path: &Path, modules: &[Module]) -> Result<Vec<Request>, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(n, line)| {
            let at = format!("{}:{}", path.display(), n + 1);
            let request: Value =
                serde_json::from_str(line).map_err(|e| format!("{at}: not JSON: {e}"))?;
            let uses = request["use"]
                .as_array()
                .ok_or_else(|| format!("{at}: no `use` list"))?
                .iter()
                .map(|name| {
                    let name = name.as_str().unwrap_or_default();
                    modules
                        .iter()
                        .position(|module| module.name == name)
                        .ok_or_else(|| {
                            format!("{at}: `use`: no module named `{name}` in the modules")
                        })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let ms = request["ms"]
                .as_f64()
                .filter(|ms| *ms >= 0.0)
                .ok_or_else(|| {
                    format!("{at}: `ms` must be the request's own run time, a number of ms")
                })?;
            Ok(Request {
                uses,
                duration: Duration::from_secs_f64(ms / 1000.0),
            })
        })
        .collect::<Result<_, String>>()
        .map_err(Into::into)
}

/// GB-seconds and the extra time against the memory size.
fn draw(table: &[Sized], path: &Path) -> Result<(), Error> {
    let root = SVGBackend::new(path, (900, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let sizes =
        table.first().map_or(0, |s| s.memory_mib)..table.last().map_or(1, |s| s.memory_mib + 1);
    let gb_s = table.iter().map(|s| s.gb_seconds).fold(0.0, f64::max) * 1.1 + 1e-9;
    let extra = table
        .iter()
        .map(|s| s.extra_time.as_secs_f64())
        .fold(0.0, f64::max)
        * 1.1
        + 1e-9;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "GB-seconds billed and the time extra loads add, by memory size",
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .right_y_label_area_size(60)
        .build_cartesian_2d(sizes.clone(), 0.0..gb_s)?
        .set_secondary_coord(sizes, 0.0..extra);
    chart
        .configure_mesh()
        .x_desc("memory size (MiB)")
        .y_desc("GB-seconds")
        .draw()?;
    chart
        .configure_secondary_axes()
        .y_desc("extra time (s)")
        .draw()?;
    let blue = RGBColor(31, 119, 180);
    let orange = RGBColor(255, 127, 14);
    chart
        .draw_series(LineSeries::new(
            table.iter().map(|s| (s.memory_mib, s.gb_seconds)),
            blue.stroke_width(2),
        ))?
        .label("GB-seconds")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], blue));
    chart
        .draw_secondary_series(LineSeries::new(
            table
                .iter()
                .map(|s| (s.memory_mib, s.extra_time.as_secs_f64())),
            orange.stroke_width(2),
        ))?
        .label("extra time (s)")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], orange));
    chart
        .draw_series(
            table
                .iter()
                .filter(|s| !s.fits())
                .map(|s| Cross::new((s.memory_mib, s.gb_seconds), 6, RED)),
        )?
        .label("killed: the peak does not fit")
        .legend(|(x, y)| Cross::new((x + 10, y), 6, RED));
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE)
        .draw()?;
    root.present()?;
    Ok(())
}

//! `lmms-replay`: plays a real serverless trace through the lmms runtime under several
//! unload policies side by side, prints a table per policy and draws the charts.
//!
//! ```text
//! cargo run --release -p lmms-replay -- data/azure2019-100
//! cargo run --release -p lmms-replay -- --format azure2021 AzureFunctionsInvocationTraceForTwoWeeksJan2021.txt
//! ```

mod chart;

use clap::{Parser, ValueEnum};
use lmms::memory::CountingAlloc;
use lmms_replay::{replay, App, Front, Hybrid, Outcome, Policy, Trace, Verdict};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

// The budget policy weighs each module by the bytes its load allocated.
#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Replays a serverless trace through the lmms runtime under eager, fixed-grace, budget and
/// adaptive unload policies, and compares them with the offline-optimal front.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// The trace: a directory of `inv.csv`, `run.csv` and `mem.csv` (azure2019), or one
    /// CSV file of `app,func,end_timestamp,duration` rows (azure2021).
    path: PathBuf,
    /// The trace's format.
    #[arg(long, value_enum, default_value_t = Format::Azure2019)]
    format: Format,
    /// The seed that spreads each minute's arrivals (azure2019).
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Bytes of real state allocated per MB of an app's memory (the figures stay in the
    /// trace's MB).
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..))]
    scale: u64,
    /// The LRU policy's memory budget, as a share of the apps' memory together.
    #[arg(long, default_value_t = 0.3, value_parser = positive)]
    budget: f64,
    /// The adaptive policy's price of a load, in MB-s: keeping an app of that many MB idle
    /// for a second costs as much as loading it once. One adaptive run per value.
    #[arg(long, value_delimiter = ',', default_values_t = [1e5, 1e6], value_parser = positive)]
    load_cost: Vec<f64>,
    /// Where the charts go.
    #[arg(long, default_value = "target/lmms-replay")]
    out: PathBuf,
    /// Validates the adaptive policy's price as a model is validated, instead of the
    /// comparison: the price chosen on all apps but one fold's (of this many), judged on
    /// that fold, each fold in turn; then the day's halves likewise.
    #[arg(long, value_parser = clap::value_parser!(u64).range(2..=100))]
    folds: Option<u64>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// Azure Functions 2019: per-minute counts, durations and memory per app.
    Azure2019,
    /// Azure Functions 2021: one row per invocation.
    Azure2021,
}

/// A number above zero, for shares and prices.
fn positive(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if value.is_finite() && value > 0.0 => Ok(value),
        Ok(_) => Err(format!("`{text}` must be a number above zero")),
        Err(error) => Err(format!("`{text}` is not a number: {error}")),
    }
}

/// One policy's run.
struct Run {
    name: String,
    policy: Policy,
    outcome: Outcome,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("lmms-replay: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    writable(&args.out)?;
    let trace = match args.format {
        Format::Azure2019 if args.path.is_file() => {
            return Err(format!(
                "{}: is a file, and the azure2019 format is a directory of inv.csv, run.csv and mem.csv: for one CSV of `app,func,end_timestamp,duration` rows, pass `--format azure2021`",
                args.path.display()
            )
            .into())
        }
        Format::Azure2019 => lmms_replay::azure2019::read(&args.path, args.seed)?,
        Format::Azure2021 => lmms_replay::azure2021::read(&args.path)?,
    };
    println!(
        "{}: {} apps, {} functions, {} invocations over {:.1} h, read in {:.2} s",
        args.path.display(),
        trace.apps.len(),
        trace.functions.len(),
        trace.invocations.len(),
        trace.invocations.last().map_or(0, |i| i.at_ms) as f64 / 3.6e6,
        started.elapsed().as_secs_f64(),
    );
    for note in &trace.notes {
        println!("note: {note}");
    }
    fits_in_memory(&trace, args.scale)?;
    if let Some(k) = args.folds {
        return validate(&trace, k as usize, args.scale);
    }
    let front = Front::of(&trace);
    let runs = policies(&trace, args)
        .into_iter()
        .map(|(name, policy)| {
            let outcome = replay(&trace, &policy, args.scale)
                .map_err(|error| format!("policy `{name}`: {error}"))?;
            Ok(Run {
                name,
                outcome,
                policy,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    table(&runs, &front);
    compare(&runs, &front);
    let pareto = args.out.join("pareto.svg");
    chart::pareto(&pareto, &runs, &front)?;
    let timeline = args.out.join("resident.svg");
    chart::resident(&timeline, &best_three(&runs, &front))?;
    println!("charts: {} and {}", pareto.display(), timeline.display());
    Ok(())
}

const SECOND: Duration = Duration::from_secs(1);

/// The policies compared, with their names in the table.
fn policies(trace: &Trace, args: &Args) -> Vec<(String, Policy)> {
    let total_mb: f64 = trace.apps.iter().map(App::mb).sum();
    let budget_mb = total_mb * args.budget;
    let mut policies = vec![
        ("eager".into(), Policy::Eager),
        ("fixed 30 s".into(), Policy::Fixed(30 * SECOND)),
        ("fixed 10 min".into(), Policy::Fixed(600 * SECOND)),
        (
            format!("LRU, {budget_mb:.0} MB budget"),
            Policy::Budget {
                bytes: (budget_mb * args.scale as f64) as u64,
                grace: 600 * SECOND,
            },
        ),
    ];
    for &mb_s in &args.load_cost {
        policies.push((
            format!("adaptive, load = {mb_s:.1e} MB-s"),
            lmms_replay::priced(mb_s, args.scale),
        ));
    }
    policies.push((
        "adaptive, default".into(),
        Policy::Adaptive(lmms::tuning::Adaptive::default()),
    ));
    policies.push((
        format!(
            "adaptive, default, pre-warm {}%",
            lmms_replay::PREWARM_PERCENT
        ),
        lmms_replay::prewarming(),
    ));
    policies.push((
        "adaptive, default before issue 32".into(),
        lmms_replay::before_issue_32(false),
    ));
    policies.push((
        format!(
            "adaptive, before 32, pre-warm {}%",
            lmms_replay::PREWARM_PERCENT
        ),
        lmms_replay::before_issue_32(true),
    ));
    policies.push(("hybrid histogram".into(), Policy::Hybrid(Hybrid::default())));
    policies.push((
        "hybrid histogram, as read before".into(),
        Policy::Hybrid(Hybrid::before_issue_32()),
    ));
    policies
}

/// How far a run is from the offline optimum.
struct Distance {
    /// Its loads over the fewest possible at its idle memory-time.
    loads: f64,
    /// Its loads on the request path over the same fewest: below 1 only with pre-warming.
    request: f64,
    /// Its idle memory-time over the least possible with its loads.
    idle: f64,
}

fn distance(outcome: &Outcome, front: &Front) -> Distance {
    let fewest = front.loads_at(outcome.idle_mb_s);
    Distance {
        loads: outcome.loads as f64 / fewest,
        request: outcome.request_loads() as f64 / fewest,
        idle: outcome.idle_mb_s / front.idle_at(outcome.loads as f64),
    }
}

fn table(runs: &[Run], front: &Front) {
    println!(
        "\n{:<32} {:>9} {:>9} {:>14} {:>14} {:>10} {:>9} {:>18} {:>14}",
        "policy",
        "loads",
        "pre-warm",
        "resident MB-s",
        "idle MB-s",
        "cache hits",
        "replay",
        "÷ optimum: loads, idle",
        "request path"
    );
    for Run { name, outcome, .. } in runs {
        let distance = distance(outcome, front);
        println!(
            "{:<32} {:>9} {:>9} {:>14.3e} {:>14.3e} {:>10} {:>7.2} s {:>11.2}×, {:>5.2}× {:>13.2}×",
            name,
            outcome.loads,
            outcome.prewarm_loads,
            outcome.resident_mb_s,
            outcome.idle_mb_s,
            outcome.cache_hits,
            outcome.wall.as_secs_f64(),
            distance.loads,
            distance.idle,
            distance.request,
        );
    }
    println!(
        "\nloads: every load, pre-warms included (`pre-warm`: loaded ahead of a predicted use, \
         which no caller waited for). ÷ optimum: loads over the fewest any policy could have at \
         the same idle MB-s, and idle MB-s over the least any could have with as many loads, \
         knowing the future (the offline rent-or-buy front); request path: the loads callers waited for over the same fewest, where only pre-warming can go below 1."
    );
    let sweep = lmms_replay::SWEEP_EVERY_MS / 1000;
    println!(
        "keep-alives as a process sees them: the replay sweeps every {sweep} s of trace time, as a \
         reaper would, so a module past its keep-alive goes at the next sweep: fixed 30 s keeps \
         an idle module 30 to {} s, fixed 10 min 10 min to 10 min {sweep} s; the adaptive \
         policy's and the budget's decisions wait for a sweep the same way (the hybrid \
         histogram's timers fire at their exact times).",
        30 + sweep
    );
}

/// What was chosen on all but each part, and the policies judged on that part.
fn validate(trace: &Trace, k: usize, scale: u64) -> Result<(), Box<dyn std::error::Error>> {
    println!(
        "chosen on the rest, nearest the offline front by loads: the adaptive price among {:?} MB-s, the size-scaled break-even among {:?} s, and the mean size's break-even among {:?} s; judged on the part held out",
        lmms_replay::PRICES,
        lmms_replay::BREAK_EVENS,
        lmms_replay::TYPICAL_BREAK_EVENS
    );
    let mut folds = lmms_replay::k_fold(trace, k, scale)?;
    folds.extend(lmms_replay::halves(trace, scale)?);
    for fold in &folds {
        println!(
            "\n{}: price {:.0e} MB-s, break-even {} s, mean size's break-even {} s",
            fold.name, fold.price, fold.break_even, fold.typical
        );
        for (name, outcome) in &fold.runs {
            let distance = distance(outcome, &fold.front);
            println!(
                "  {name:<34} loads {:>7} (on the request path {:>6})  idle MB-s {:>10.3e}  ÷ offline front at its idle: loads {:>5.2}×, request path {:>5.2}×",
                outcome.loads,
                outcome.request_loads(),
                outcome.idle_mb_s,
                distance.loads,
                distance.request,
            );
        }
        let [thirty, ten] = [0, 1].map(|i| &fold.runs[i].1);
        for (name, learned) in fold.runs.iter().skip(2) {
            println!(
                "  {name} ÷ fixed 30 s: {}; ÷ fixed 10 min: {}",
                Verdict::of(learned, thirty),
                Verdict::of(learned, ten)
            );
            if learned.prewarm_loads > 0 {
                println!(
                    "    on the request path ÷ fixed 30 s: {}; ÷ fixed 10 min: {}",
                    Verdict::on_request_path(learned, thirty),
                    Verdict::on_request_path(learned, ten)
                );
            }
        }
        let needs = fold.front.loads_at(thirty.idle_mb_s);
        let can = if needs > ten.loads as f64 { "no" } else { "a" };
        println!(
            "  at fixed 30 s's idle MB-s the offline keep-alive optimum needs {needs:.0} loads, fixed 10 min has {}: {can} keep-alive policy can dominate both here",
            ten.loads
        );
    }
    Ok(())
}

/// Refuses a scale whose state would not fit in this machine's memory before anything is
/// allocated: the eager policy holds every app's state at once.
fn fits_in_memory(trace: &Trace, scale: u64) -> Result<(), String> {
    let mb: f64 = trace.apps.iter().map(App::mb).sum();
    let bytes = mb * scale as f64;
    let Some(available) = available_memory() else {
        return Ok(());
    };
    if bytes <= available as f64 {
        return Ok(());
    }
    let gib = |bytes: f64| bytes / (1u64 << 30) as f64;
    Err(format!(
        "--scale {scale} would allocate {:.1} GiB of state ({mb:.0} MB of apps at {scale} bytes per MB), more than the {:.1} GiB this machine has available: lower --scale",
        gib(bytes),
        gib(available as f64)
    ))
}

/// `MemAvailable` of `/proc/meminfo`, in bytes; `None` where there is none.
fn available_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo
        .lines()
        .find(|line| line.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Each adaptive run, and the hybrid histogram, against each fixed one, as the
/// [`Verdict`] it is.
fn compare(runs: &[Run], front: &Front) {
    let fixed: Vec<&Run> = runs
        .iter()
        .filter(|run| matches!(run.policy, Policy::Fixed(_)))
        .collect();
    let adaptive = runs
        .iter()
        .filter(|run| matches!(run.policy, Policy::Adaptive(_) | Policy::Hybrid(_)));
    println!();
    for learned in adaptive {
        for set in &fixed {
            let verdict = Verdict::of(&learned.outcome, &set.outcome);
            println!("{} ÷ {}: {verdict}", learned.name, set.name);
            if learned.outcome.prewarm_loads > 0 {
                let verdict = Verdict::on_request_path(&learned.outcome, &set.outcome);
                println!("  on the request path: {verdict}");
            }
        }
    }
    // Whether one policy could beat every fixed one at once: at the least idle of them,
    // even the offline optimum needs this many loads.
    let least_idle = fixed
        .iter()
        .map(|run| run.outcome.idle_mb_s)
        .min_by(f64::total_cmp);
    let fewest_loads = fixed.iter().map(|run| run.outcome.loads).min();
    if let (Some(idle), Some(loads)) = (least_idle, fewest_loads) {
        println!(
            "at {idle:.3e} idle MB-s the offline optimum needs {:.0} loads; the fewest loads of a \
             fixed policy is {loads}",
            front.loads_at(idle),
        );
    }
}

/// The three runs nearest the offline front, eager aside (it is the baseline, not a
/// policy), each with its index among the runs.
fn best_three<'a>(runs: &'a [Run], front: &Front) -> Vec<(usize, &'a Run)> {
    let mut ranked: Vec<(usize, &Run)> = runs
        .iter()
        .enumerate()
        .filter(|(_, run)| run.policy != Policy::Eager)
        .collect();
    ranked.sort_by(|(_, a), (_, b)| {
        let loads = |run: &Run| distance(&run.outcome, front).loads;
        loads(a).total_cmp(&loads(b))
    });
    ranked.truncate(3);
    ranked
}

/// The charts' folder, created and written to before a replay that may take minutes: one
/// that cannot be is an error naming it now, not after the replay.
fn writable(out: &std::path::Path) -> Result<(), String> {
    let probe = out.join(".lmms-replay-write-check");
    std::fs::create_dir_all(out)
        .and_then(|()| std::fs::write(&probe, b""))
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|error| {
            format!(
                "{}: the charts cannot be written there (--out): {error}",
                out.display()
            )
        })
}

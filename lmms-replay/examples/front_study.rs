//! What the offline front does that a keep-alive does not (issue 32): families of keep-alive
//! rules priced against the offline rent-or-buy front on a trace's own idle gaps, each read
//! at the same idle MB-s, so that each line isolates one way of falling short.
//!
//! ```text
//! cargo run --release -p lmms-replay --example front_study -- data/azure2019-100
//! ```
//!
//! - *rent-or-buy, no learning*: each app kept `T` after each use (a load priced as `T` of
//!   the app's own memory: the default before issue 32 until it learns, and a fixed grace
//!   period), or `λ ÷ size` (a load priced `λ` MB-s whatever the app, the front's own rule);
//! - *in hindsight*: each app's one keep-alive that would have cost least over its whole
//!   day at price `λ` (the best a histogram of its gaps can converge to), with the replay's
//!   10 s sweeps, and one keep-alive per app and context (the hour of the day, as
//!   IceBreaker's time-series forecast would use; the last gap's octave, a Markov chain);
//! - *online*: before each gap, the keep-alive that would have cost least over the app's
//!   gaps so far, exactly (no histogram), alone or never below the break-even while it keeps
//!   every gap seen (the robust hedge of learning-augmented ski rental, Purohit et al.,
//!   NeurIPS 2018);
//! - the runtime's two rules through the real replay: a load priced in the module's own
//!   memory (before issue 32) and in a module of the mean size (the default since).

use lmms::memory::CountingAlloc;
use lmms::tuning::Adaptive;
use lmms_replay::{replay, Front, Policy, Trace};
use std::collections::BTreeMap;
use std::time::Duration;

// The runtime's rules read each module's size from the bytes its load allocated.
#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// One app's size (MB) and idle gaps: `(idle since, gap)`, in ms.
struct Gaps {
    size: f64,
    gaps: Vec<(u64, u64)>,
}

impl Gaps {
    fn mb_s(&self, gap: u64) -> f64 {
        gap as f64 / 1000.0 * self.size
    }
}

/// Each app's gaps, as the front counts them: from the end of its last running invocation
/// to its next start.
fn gaps_of(trace: &Trace) -> Vec<Gaps> {
    let mut apps: Vec<Gaps> = trace
        .apps
        .iter()
        .map(|app| Gaps {
            size: app.mb(),
            gaps: Vec::new(),
        })
        .collect();
    let mut ends: Vec<Option<u64>> = vec![None; trace.apps.len()];
    for invocation in &trace.invocations {
        let app = trace.functions[invocation.function].app;
        let end = invocation.at_ms + invocation.duration_ms.max(1);
        if let Some(last) = ends[app].filter(|&last| invocation.at_ms > last) {
            apps[app].gaps.push((last, invocation.at_ms - last));
        }
        ends[app] = Some(ends[app].map_or(end, |last| last.max(end)));
    }
    apps
}

/// Idle MB-s and loads (each app's first load aside) of keeping each gap `keep(app, gap
/// index)` ms, unloading at once past it or, with `sweep`, at the first sweep past it.
fn cost(apps: &[Gaps], keep: impl Fn(usize, usize) -> u64, sweep: Option<u64>) -> (f64, f64) {
    let (mut idle, mut loads) = (0.0, 0.0);
    for (a, app) in apps.iter().enumerate() {
        for (i, &(since, gap)) in app.gaps.iter().enumerate() {
            let k = keep(a, i);
            let goes = sweep.map_or(k, |every| {
                (since.saturating_add(k)).div_ceil(every).max(1) * every - since
            });
            if gap <= goes {
                idle += app.mb_s(gap);
            } else {
                idle += app.mb_s(goes);
                loads += 1.0;
            }
        }
    }
    (idle, loads)
}

/// The keep-alive that would have cost least over `gaps` (sorted) at `price` MB-s a load.
fn best_keep(app: &Gaps, gaps: &[u64], price: f64) -> u64 {
    let (mut best, mut keep) = (gaps.len() as f64 * price, 0);
    let mut through = 0.0;
    for (i, &gap) in gaps.iter().enumerate() {
        through += app.mb_s(gap);
        let total = through + (gaps.len() - i - 1) as f64 * (app.mb_s(gap) + price);
        if total < best {
            (best, keep) = (total, gap);
        }
    }
    keep
}

/// Each gap's keep-alive in hindsight: the best over all the app's gaps in its context.
fn hindsight(apps: &[Gaps], price: f64, context: impl Fn(&Gaps, usize) -> u64) -> Vec<Vec<u64>> {
    apps.iter()
        .map(|app| {
            let mut groups: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
            for (i, &(_, gap)) in app.gaps.iter().enumerate() {
                groups.entry(context(app, i)).or_default().push(gap);
            }
            let keeps: BTreeMap<u64, u64> = groups
                .into_iter()
                .map(|(key, mut gaps)| {
                    gaps.sort_unstable();
                    (key, best_keep(app, &gaps, price))
                })
                .collect();
            (0..app.gaps.len())
                .map(|i| keeps[&context(app, i)])
                .collect()
        })
        .collect()
}

/// Each gap's keep-alive learnt online: the best over the app's earlier gaps, chosen again
/// once a sixteenth of them are new; the break-even before any. With `hedge`, never below
/// the break-even while the choice keeps every gap seen.
fn online(apps: &[Gaps], price: f64, hedge: bool) -> Vec<Vec<u64>> {
    apps.iter()
        .map(|app| {
            let break_even = (price / app.size * 1000.0) as u64;
            let (mut keep, mut chosen_at) = (break_even, 0);
            let mut keeps = Vec::with_capacity(app.gaps.len());
            for i in 0..app.gaps.len() {
                if i > 0 && i > chosen_at + chosen_at / 16 {
                    let mut past: Vec<u64> = app.gaps[..i].iter().map(|&(_, g)| g).collect();
                    past.sort_unstable();
                    keep = best_keep(app, &past, price);
                    if hedge && past.last().is_some_and(|&longest| keep >= longest) {
                        keep = keep.max(break_even);
                    }
                    chosen_at = i;
                }
                keeps.push(keep);
            }
            keeps
        })
        .collect()
}

/// A family's loads over the front's at each of `targets` idle MB-s, along the family's own
/// curve (`points`: idle MB-s and loads, first loads aside), interpolated.
fn ratios(mut points: Vec<(f64, f64)>, front: &Front, first: f64, targets: &[f64]) -> Vec<f64> {
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    targets
        .iter()
        .map(|&target| {
            let at = points
                .partition_point(|p| p.0 <= target)
                .clamp(1, points.len() - 1);
            let ((x0, y0), (x1, y1)) = (points[at - 1], points[at]);
            let loads = y0 + (y1 - y0) * ((target - x0) / (x1 - x0)).clamp(0.0, 1.0);
            (loads + first) / front.loads_at(target)
        })
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or("data/azure2019-100".into());
    let trace = lmms_replay::azure2019::read(std::path::Path::new(&path), 7)?;
    let apps = gaps_of(&trace);
    let front = Front::of(&trace);
    let first = apps.len() as f64;
    // About fixed 30 s's idle MB-s on the shared day, the two defaults', fixed 10 min's.
    let targets = [8.1e8, 1.0e9, 1.9e9, 2.7e9];
    let prices: Vec<f64> = (0..50).map(|i| 1e3 * 10f64.powf(i as f64 / 10.0)).collect();
    let times: Vec<u64> = (0..60)
        .map(|i| (1e3 * 10f64.powf(i as f64 / 12.0)) as u64)
        .collect();
    let sweep = Some(lmms_replay::SWEEP_EVERY_MS);
    let octave = |gap: u64| u64::from(64 - (gap / 1000).leading_zeros());
    let hour = |app: &Gaps, i: usize| app.gaps[i].0 / 3_600_000;
    let last_octave = |app: &Gaps, i: usize| i.checked_sub(1).map_or(99, |l| octave(app.gaps[l].1));
    let priced = |keeps: &dyn Fn(f64) -> Vec<Vec<u64>>, sweep| -> Vec<(f64, f64)> {
        prices
            .iter()
            .map(|&price| {
                let keeps = keeps(price);
                cost(&apps, |a, i| keeps[a][i], sweep)
            })
            .collect()
    };
    let families: Vec<(&str, Vec<(f64, f64)>)> = vec![
        (
            "rent-or-buy, keep T",
            times.iter().map(|&t| cost(&apps, |_, _| t, None)).collect(),
        ),
        (
            "rent-or-buy, keep λ ÷ size",
            prices
                .iter()
                .map(|&p| cost(&apps, |a, _| (p / apps[a].size * 1000.0) as u64, None))
                .collect(),
        ),
        (
            "hindsight, one keep per app",
            priced(&|p| hindsight(&apps, p, |_, _| 0), None),
        ),
        (
            "the same, 10 s sweeps",
            priced(&|p| hindsight(&apps, p, |_, _| 0), sweep),
        ),
        (
            "hindsight, per app and hour",
            priced(&|p| hindsight(&apps, p, hour), None),
        ),
        (
            "hindsight, per app and last gap",
            priced(&|p| hindsight(&apps, p, last_octave), None),
        ),
        (
            "online, every gap so far",
            priced(&|p| online(&apps, p, false), None),
        ),
        ("online, hedged", priced(&|p| online(&apps, p, true), None)),
    ];
    println!("{path}: loads ÷ the front's at idle MB-s of {targets:?}");
    for (name, points) in families {
        let row = ratios(points, &front, first, &targets);
        println!("  {name:<34} {row:.2?}");
    }
    println!("\nthe runtime through the replay (whole day): break-even, idle MB-s, loads, ÷ front");
    let own = |t| Adaptive::default().load_worth_idle(Duration::from_secs(t));
    let typical = |t| Adaptive::default().load_worth_typical(Duration::from_secs(t));
    for (rule, adaptive) in [
        ("own memory", &own as &dyn Fn(u64) -> Adaptive),
        ("mean size", &typical),
    ] {
        for t in [60, 120, 300] {
            let run = replay(&trace, &Policy::Adaptive(adaptive(t)), 1024)?;
            let distance = run.loads as f64 / front.loads_at(run.idle_mb_s);
            println!(
                "  {rule:<10} {t:>4} s {:>10.3e} {:>6} {distance:>6.2}×",
                run.idle_mb_s, run.loads
            );
        }
    }
    // What the front keeps per app at the old default's idle: one price, so a break-even
    // that falls as the app grows, where the old default kept every app 5 minutes.
    let points = front.points();
    let at = points
        .partition_point(|&(idle, _)| idle <= targets[2])
        .min(points.len() - 1);
    let price = points[at].0 - points[at.saturating_sub(1)].0;
    println!(
        "\nthe front at {:.1e} idle MB-s keeps a gap when gap × size < {price:.2e} MB-s; every fifth app by size:",
        targets[2]
    );
    let mut rows: Vec<&Gaps> = apps.iter().collect();
    rows.sort_by(|a, b| a.size.total_cmp(&b.size));
    println!(
        "  {:>6} {:>6} {:>13} {:>14}",
        "MB", "gaps", "median gap s", "front keeps s"
    );
    for app in rows.iter().step_by(5) {
        let mut gaps: Vec<u64> = app.gaps.iter().map(|&(_, g)| g).collect();
        gaps.sort_unstable();
        let median = gaps.get(gaps.len() / 2).map_or(0.0, |&g| g as f64 / 1000.0);
        println!(
            "  {:>6.0} {:>6} {median:>13.1} {:>14.1}",
            app.size,
            gaps.len(),
            price / app.size
        );
    }
    Ok(())
}

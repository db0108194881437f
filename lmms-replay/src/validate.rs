//! Choosing the adaptive policy's price on some of a trace and judging it on the rest, the
//! way a model is validated: k folds over the apps, and the day in halves.
//!
//! Three ways to price a load are validated: one price for every module ([`PRICES`], in
//! MB-s, [`lmms::tuning::Adaptive::load_cost`]), a price that scales with each module's size, one
//! break-even for all ([`BREAK_EVENS`], [`lmms::tuning::Adaptive::load_worth_idle`]), and one price
//! for every load set against the modules' mean size ([`TYPICAL_BREAK_EVENS`],
//! [`lmms::tuning::Adaptive::load_worth_typical`], the runtime's default rule). The rule that
//! chooses, for each: among its candidates, the one whose replay on the training part is
//! nearest the offline front along the loads axis (its loads over the fewest any policy
//! could have at its idle memory-time). The chosen ones are then replayed on the held-out
//! part beside fixed 30 s, fixed 10 min and the hybrid histogram, which nothing was chosen
//! for, and beside the runtime's default ([`lmms::tuning::Adaptive::default`]) and the default
//! before issue 32 ([`before_issue_32`]), with and without pre-warming ([`prewarming`]).
//! The default's break-even is a constant: the one chosen most often here, so a part's
//! figure for it is not held out from that choice as the chosen runs' are.

use crate::front::Front;
use crate::hybrid::Hybrid;
use crate::replay::{replay, Outcome, Policy};
use crate::trace::Trace;
use lmms::tuning::Adaptive;
use std::time::Duration;

/// The adaptive policy's candidate prices of a load, in MB-s.
pub const PRICES: [f64; 6] = [1e4, 3e4, 1e5, 3e5, 1e6, 3e6];

/// The candidate break-evens of the size-scaled price, in seconds.
pub const BREAK_EVENS: [u64; 7] = [30, 60, 120, 300, 600, 1200, 2400];

/// The candidate break-evens of a module of the mean size, for one price a load, in
/// seconds.
pub const TYPICAL_BREAK_EVENS: [u64; 6] = [30, 60, 120, 180, 300, 600];

/// A pre-warm's price in the replay's pre-warming policy, in percent of a load a caller
/// waits for ([`lmms::tuning::Adaptive::prewarm`]): stated, not chosen.
pub const PREWARM_PERCENT: u8 = 25;

/// The runtime's default adaptive policy with pre-warming on at [`PREWARM_PERCENT`].
///
/// ```
/// let lmms_replay::Policy::Adaptive(adaptive) = lmms_replay::prewarming() else { unreachable!() };
/// assert_eq!(adaptive.prewarm_percent(), Some(lmms_replay::PREWARM_PERCENT));
/// ```
pub fn prewarming() -> Policy {
    Policy::Adaptive(Adaptive::default().prewarm(PREWARM_PERCENT))
}

/// The runtime's default adaptive policy before issue 32: a load worth its own module idle
/// for 5 minutes, whatever its size; with pre-warming at [`PREWARM_PERCENT`] if `prewarm`.
///
/// ```
/// let lmms_replay::Policy::Adaptive(before) = lmms_replay::before_issue_32(false) else { unreachable!() };
/// assert_eq!(before.break_even_among(4 << 20, 1 << 20).as_secs(), 300);
/// ```
pub fn before_issue_32(prewarm: bool) -> Policy {
    let before = Adaptive::default().load_worth_idle(Duration::from_secs(300));
    Policy::Adaptive(match prewarm {
        true => before.prewarm(PREWARM_PERCENT),
        false => before,
    })
}

/// One held-out part: what was chosen without it, and each policy's run on it.
#[derive(Clone, Debug)]
pub struct Fold {
    /// Which part was held out.
    pub name: String,
    /// The price chosen on the rest, in MB-s.
    pub price: f64,
    /// The size-scaled price's break-even chosen on the rest, in seconds.
    pub break_even: u64,
    /// The break-even of a module of the mean size chosen on the rest, in seconds.
    pub typical: u64,
    /// The runs on the held-out part: fixed 30 s, fixed 10 min, the hybrid histogram (as
    /// published, as read before), adaptive at the chosen price, at the chosen size-scaled
    /// break-even and at the chosen mean-size break-even, the default adaptive policy and
    /// the same with pre-warming, the default before issue 32 and the same with
    /// pre-warming, in that order.
    pub runs: Vec<(String, Outcome)>,
    /// The offline front of the held-out part, to measure each run's distance from.
    pub front: Front,
}

/// The adaptive policy at `mb_s` MB-s a load (MB of trace memory for a second), in the
/// replay's bytes at `bytes_per_mb`.
///
/// ```
/// let policy = lmms_replay::priced(1e5, 1024);
/// assert!(matches!(policy, lmms_replay::Policy::Adaptive(_)));
/// ```
pub fn priced(mb_s: f64, bytes_per_mb: u64) -> Policy {
    Policy::Adaptive(
        Adaptive::default().load_cost((mb_s * bytes_per_mb as f64) as u64, Duration::from_secs(1)),
    )
}

/// The adaptive policy with a load worth keeping its own module idle for `seconds`.
fn scaled(seconds: u64) -> Policy {
    Policy::Adaptive(Adaptive::default().load_worth_idle(Duration::from_secs(seconds)))
}

/// The adaptive policy with any load worth keeping a module of the mean size idle for
/// `seconds`.
fn typical(seconds: u64) -> Policy {
    Policy::Adaptive(Adaptive::default().load_worth_typical(Duration::from_secs(seconds)))
}

/// The candidate the rule chooses on `training`: the one nearest the offline front by
/// loads.
fn nearest<T: Copy>(
    training: &Trace,
    candidates: &[T],
    policy: impl Fn(T) -> Policy,
    bytes_per_mb: u64,
) -> Result<T, lmms::Error> {
    let front = Front::of(training);
    let mut best = (f64::INFINITY, candidates[0]);
    for &candidate in candidates {
        let run = replay(training, &policy(candidate), bytes_per_mb)?;
        let distance = run.loads as f64 / front.loads_at(run.idle_mb_s);
        if distance < best.0 {
            best = (distance, candidate);
        }
    }
    Ok(best.1)
}

/// The price among [`PRICES`], the break-even among [`BREAK_EVENS`] and the one among
/// [`TYPICAL_BREAK_EVENS`] the rule chooses on `training`.
pub fn choose(training: &Trace, bytes_per_mb: u64) -> Result<(f64, u64, u64), lmms::Error> {
    Ok((
        nearest(
            training,
            &PRICES,
            |price| priced(price, bytes_per_mb),
            bytes_per_mb,
        )?,
        nearest(training, &BREAK_EVENS, scaled, bytes_per_mb)?,
        nearest(training, &TYPICAL_BREAK_EVENS, typical, bytes_per_mb)?,
    ))
}

/// The policies on `held_out`, adaptive at the chosen price and break-evens.
fn judge(
    name: String,
    (price, break_even, typical_break_even): (f64, u64, u64),
    held_out: &Trace,
    bytes_per_mb: u64,
) -> Result<Fold, lmms::Error> {
    let policies = [
        (
            "fixed 30 s".to_owned(),
            Policy::Fixed(Duration::from_secs(30)),
        ),
        (
            "fixed 10 min".to_owned(),
            Policy::Fixed(Duration::from_secs(600)),
        ),
        (
            "hybrid histogram".to_owned(),
            Policy::Hybrid(Hybrid::default()),
        ),
        (
            "hybrid histogram, as read before".to_owned(),
            Policy::Hybrid(Hybrid::before_issue_32()),
        ),
        (
            format!("adaptive, load = {price:.0e} MB-s"),
            priced(price, bytes_per_mb),
        ),
        (
            format!("adaptive, break-even {break_even} s"),
            scaled(break_even),
        ),
        (
            format!("adaptive, mean size's break-even {typical_break_even} s"),
            typical(typical_break_even),
        ),
        (
            "adaptive, default".to_owned(),
            Policy::Adaptive(Adaptive::default()),
        ),
        (
            format!("adaptive, default, pre-warm {PREWARM_PERCENT}%"),
            prewarming(),
        ),
        (
            "adaptive, default before issue 32".to_owned(),
            before_issue_32(false),
        ),
        (
            format!("adaptive, default before issue 32, pre-warm {PREWARM_PERCENT}%"),
            before_issue_32(true),
        ),
    ];
    let runs = policies
        .into_iter()
        .map(|(name, policy)| Ok((name, replay(held_out, &policy, bytes_per_mb)?)))
        .collect::<Result<_, lmms::Error>>()?;
    Ok(Fold {
        name,
        price,
        break_even,
        typical: typical_break_even,
        runs,
        front: Front::of(held_out),
    })
}

/// `k` folds over the apps (app `i` in fold `i % k`): each fold held out in turn, the
/// price and break-evens chosen on the other folds.
///
/// ```
/// let mut trace = lmms_replay::Trace::default();
/// for app in 0..4 {
///     let f = trace.add_function(&format!("app{app}"), "f", Some(100.0));
///     for call in 0..20 {
///         trace.invocations.push(lmms_replay::Invocation { at_ms: call * 300_000 + app, function: f, duration_ms: 1_000 });
///     }
/// }
/// trace.invocations.sort_by_key(|i| i.at_ms);
/// let folds = lmms_replay::k_fold(&trace, 2, 1024)?;
/// assert_eq!(folds.len(), 2);
/// assert!(folds.iter().all(|fold| fold.runs.len() == 11));
/// # Ok::<(), lmms::Error>(())
/// ```
pub fn k_fold(trace: &Trace, k: usize, bytes_per_mb: u64) -> Result<Vec<Fold>, lmms::Error> {
    (0..k)
        .map(|fold| {
            let (held_out, training): (Vec<usize>, Vec<usize>) =
                (0..trace.apps.len()).partition(|app| app % k == fold);
            judge(
                format!(
                    "fold {} of {k} ({} apps held out)",
                    fold + 1,
                    held_out.len()
                ),
                choose(&trace.subset(&training), bytes_per_mb)?,
                &trace.subset(&held_out),
                bytes_per_mb,
            )
        })
        .collect()
}

/// The day in halves: each half held out in turn, the price and break-evens chosen on
/// the other.
pub fn halves(trace: &Trace, bytes_per_mb: u64) -> Result<Vec<Fold>, lmms::Error> {
    let end = trace.invocations.last().map_or(0, |i| i.at_ms) + 1;
    let middle = end / 2;
    let (first, second) = (trace.window(0, middle), trace.window(middle, end));
    Ok(vec![
        judge(
            "second half, chosen on the first".into(),
            choose(&first, bytes_per_mb)?,
            &second,
            bytes_per_mb,
        )?,
        judge(
            "first half, chosen on the second".into(),
            choose(&second, bytes_per_mb)?,
            &first,
            bytes_per_mb,
        )?,
    ])
}

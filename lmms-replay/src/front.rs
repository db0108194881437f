//! The yardstick: the best any keep-alive policy could do on a trace, knowing the future.
//!
//! Unloading is a rent-or-buy decision per idle gap. Keeping an app of `size` MB through a
//! gap of `g` seconds costs `g·size` idle MB-s; dropping it costs one load at the next call.
//! For a price `λ` in MB-s per load, the offline optimum keeps through a gap exactly when
//! `g·size < λ`; sweeping `λ` traces the lowest loads possible for each amount of idle
//! memory-time. Every app's first invocation is a load whatever the policy.

use crate::trace::Trace;

/// The offline-optimal front of a trace: its points, from fewest loads (every gap kept) to
/// least idle memory-time (every gap dropped).
///
/// ```
/// use lmms_replay::{Front, Invocation, Trace};
/// let mut trace = Trace::default();
/// let f = trace.add_function("app", "f", Some(100.0));
/// // Calls at 0 s, 10 s and 1,000 s, each running 1 s: gaps of 9 s and 989 s.
/// for at_ms in [0, 10_000, 1_000_000] {
///     trace.invocations.push(Invocation { at_ms, function: f, duration_ms: 1_000 });
/// }
/// let front = Front::of(&trace);
/// assert_eq!(front.loads_at(0.0), 3.0);
/// assert_eq!(front.loads_at(900.0), 2.0); // keep through the 9 s gap: 900 MB-s
/// assert_eq!(front.loads_at(1e9), 1.0);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Front {
    /// `(idle MB-s, loads)`, idle ascending, loads descending.
    points: Vec<(f64, f64)>,
}

impl Front {
    /// The front of `trace`: each app's gaps (from the end of its last running invocation to
    /// the next start), kept cheapest first.
    pub fn of(trace: &Trace) -> Front {
        let mut ends: Vec<Option<u64>> = vec![None; trace.apps.len()];
        // (cost of keeping through the gap in MB-s): each one kept saves a load.
        let mut gaps = Vec::new();
        for invocation in &trace.invocations {
            let app = trace.functions[invocation.function].app;
            let size = trace.apps[app].mb();
            let end = invocation.at_ms + invocation.duration_ms.max(1);
            match ends[app] {
                Some(last) if invocation.at_ms > last => {
                    gaps.push((invocation.at_ms - last) as f64 / 1000.0 * size);
                }
                _ => {}
            }
            ends[app] = Some(ends[app].map_or(end, |last| last.max(end)));
        }
        gaps.sort_by(f64::total_cmp);
        let first_loads = ends.iter().filter(|end| end.is_some()).count() as f64;
        let mut loads = first_loads + gaps.len() as f64;
        let mut idle = 0.0;
        let mut points = Vec::with_capacity(gaps.len() + 1);
        points.push((idle, loads));
        for cost in gaps {
            idle += cost;
            loads -= 1.0;
            points.push((idle, loads));
        }
        Front { points }
    }

    /// The fewest loads possible with at most `idle_mb_s` of idle memory-time.
    pub fn loads_at(&self, idle_mb_s: f64) -> f64 {
        let kept = self.points.partition_point(|&(idle, _)| idle <= idle_mb_s);
        self.points[kept.saturating_sub(1)].1
    }

    /// The least idle memory-time possible with at most `loads` loads.
    ///
    /// ```
    /// # use lmms_replay::{Front, Invocation, Trace};
    /// # let mut trace = Trace::default();
    /// # let f = trace.add_function("app", "f", Some(100.0));
    /// # for at_ms in [0, 10_000, 1_000_000] {
    /// #     trace.invocations.push(Invocation { at_ms, function: f, duration_ms: 1_000 });
    /// # }
    /// let front = Front::of(&trace);
    /// assert_eq!(front.idle_at(2.0), 900.0);
    /// ```
    pub fn idle_at(&self, loads: f64) -> f64 {
        self.points
            .iter()
            .find(|&&(_, at)| at <= loads)
            .map_or(f64::INFINITY, |&(idle, _)| idle)
    }

    /// The front's points, `(idle MB-s, loads)`, for charts.
    pub fn points(&self) -> &[(f64, f64)] {
        &self.points
    }
}

//! How one policy's run compares with another's on the two axes that matter: loads (cold
//! starts) and idle memory-time.

use crate::replay::Outcome;
use std::fmt;

/// One run against another. Dominance is Pareto dominance: no more loads and no more idle
/// MB-s, and fewer of one; anything else is the trade it is, with both ratios.
///
/// ```
/// use lmms_replay::{Outcome, Verdict};
/// let run = |loads, idle_mb_s| Outcome { loads, idle_mb_s, ..Outcome::default() };
/// assert_eq!(Verdict::of(&run(90, 1e6), &run(100, 1e6)), Verdict::Dominates { loads: 0.9, idle: 1.0 });
/// let trade = Verdict::of(&run(105, 5e5), &run(100, 1e6));
/// assert_eq!(trade.to_string(), "loads 1.050×, idle MB-s 0.500× — a trade: less idle for more loads");
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Verdict {
    /// No more of either, fewer of one.
    Dominates {
        /// Its loads over the other's.
        loads: f64,
        /// Its idle MB-s over the other's.
        idle: f64,
    },
    /// No fewer of either, more of one.
    Dominated {
        /// Its loads over the other's.
        loads: f64,
        /// Its idle MB-s over the other's.
        idle: f64,
    },
    /// The same on both.
    Equal,
    /// Fewer of one for more of the other.
    Trade {
        /// Its loads over the other's.
        loads: f64,
        /// Its idle MB-s over the other's.
        idle: f64,
    },
}

impl Verdict {
    /// `run` against `other`.
    ///
    /// ```
    /// use lmms_replay::{Outcome, Verdict};
    /// let run = Outcome { loads: 3, idle_mb_s: 10.0, ..Outcome::default() };
    /// assert_eq!(Verdict::of(&run, &run), Verdict::Equal);
    /// ```
    pub fn of(run: &Outcome, other: &Outcome) -> Verdict {
        Verdict::between((run.loads, run.idle_mb_s), (other.loads, other.idle_mb_s))
    }

    /// `run` against `other` counting only the loads on the request path
    /// ([`Outcome::request_loads`]): what callers wait for, where pre-warming pays.
    ///
    /// ```
    /// use lmms_replay::{Outcome, Verdict};
    /// let warmed = Outcome { loads: 12, prewarm_loads: 8, idle_mb_s: 5.0, ..Outcome::default() };
    /// let fixed = Outcome { loads: 10, idle_mb_s: 6.0, ..Outcome::default() };
    /// assert!(!Verdict::of(&warmed, &fixed).dominates());
    /// assert!(Verdict::on_request_path(&warmed, &fixed).dominates());
    /// ```
    pub fn on_request_path(run: &Outcome, other: &Outcome) -> Verdict {
        Verdict::between(
            (run.request_loads(), run.idle_mb_s),
            (other.request_loads(), other.idle_mb_s),
        )
    }

    /// `(loads, idle MB-s)` against another's.
    fn between(run: (u64, f64), other: (u64, f64)) -> Verdict {
        use std::cmp::Ordering::*;
        let ratio = |a: f64, b: f64| {
            if b == 0.0 {
                if a == 0.0 {
                    1.0
                } else {
                    f64::INFINITY
                }
            } else {
                a / b
            }
        };
        let loads = ratio(run.0 as f64, other.0 as f64);
        let idle = ratio(run.1, other.1);
        match (run.0.cmp(&other.0), run.1.total_cmp(&other.1)) {
            (Equal, Equal) => Verdict::Equal,
            (Less | Equal, Less | Equal) => Verdict::Dominates { loads, idle },
            (Greater | Equal, Greater | Equal) => Verdict::Dominated { loads, idle },
            _ => Verdict::Trade { loads, idle },
        }
    }

    /// Whether it is Pareto dominance.
    ///
    /// ```
    /// use lmms_replay::{Outcome, Verdict};
    /// let run = |loads| Outcome { loads, idle_mb_s: 1.0, ..Outcome::default() };
    /// assert!(Verdict::of(&run(1), &run(2)).dominates());
    /// ```
    pub fn dominates(&self) -> bool {
        matches!(self, Verdict::Dominates { .. })
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Verdict::Equal => write!(f, "loads 1.000×, idle MB-s 1.000× — the same"),
            // Equal on one axis and better on the other is weak dominance: said so, not
            // taken for the strict kind.
            Verdict::Dominates { loads, idle } => {
                let weakly = if loads == 1.0 || idle == 1.0 {
                    "weakly "
                } else {
                    ""
                };
                write!(
                    f,
                    "loads {loads:.3}×, idle MB-s {idle:.3}× — {weakly}dominates"
                )
            }
            Verdict::Dominated { loads, idle } => {
                let weakly = if loads == 1.0 || idle == 1.0 {
                    "weakly "
                } else {
                    ""
                };
                write!(
                    f,
                    "loads {loads:.3}×, idle MB-s {idle:.3}× — {weakly}dominated"
                )
            }
            Verdict::Trade { loads, idle } => {
                let trade = if loads < 1.0 {
                    "fewer loads for more idle"
                } else {
                    "less idle for more loads"
                };
                write!(
                    f,
                    "loads {loads:.3}×, idle MB-s {idle:.3}× — a trade: {trade}"
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_on_one_axis_is_weak_dominance_and_says_so() {
        let weak = Verdict::between((100, 880.0), (100, 1000.0));
        assert!(weak.dominates());
        assert!(weak.to_string().ends_with("— weakly dominates"), "{weak}");
        let strict = Verdict::between((90, 880.0), (100, 1000.0));
        assert!(strict.to_string().ends_with("— dominates"), "{strict}");
        let weakly_dominated = Verdict::between((100, 1000.0), (100, 880.0));
        assert!(weakly_dominated.to_string().ends_with("— weakly dominated"));
    }
}

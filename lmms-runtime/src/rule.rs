//! The unload rule: whether a module's state may go now and, if not, the check that keeps
//! it. One function over plain values, for every path that unloads: a sweep, a load
//! making room in the memory budget, an unload the application asks for, a feature
//! module's last guard. Where the values come from (guards, pins, the clock, the
//! keep-alive's schedule) is the callers' business; what they mean is decided here alone.

use crate::def::Class;
use crate::keepalive::Schedule;
use crate::outcome::KeepReason;
use std::time::Duration;

/// What the rule reads of one module, as plain values.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Facts {
    pub(crate) class: Class,
    /// Check 1: a guard is alive (a hot operation's pin holds one of its own: not a use).
    pub(crate) in_use: bool,
    /// Check 2: pins the application holds.
    pub(crate) pins: usize,
    /// Check 2: pins hot operations hold.
    pub(crate) hot_pins: usize,
    /// Check 3: dependents alive, and the module's cached results when they count. Not
    /// looked at (false) when a guard or an application's pin holds the module: no
    /// occasion reads it then, and a cache's length is user code.
    pub(crate) depended_on: bool,
}

impl Facts {
    /// A module of `class` that nothing holds: no guard, pin or dependent.
    pub(crate) const fn unheld(class: Class) -> Facts {
        Facts {
            class,
            in_use: false,
            pins: 0,
            hot_pins: 0,
            depended_on: false,
        }
    }

    /// Whether hot operations' pins are all that keep it (no pin of the application's, no
    /// dependent): demoting them would let it go.
    pub(crate) fn held_by_hot_paths_alone(&self) -> bool {
        self.hot_pins > 0 && self.pins == 0 && !self.depended_on
    }
}

/// How far a module idle for a while is into what the keep-alive allows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Grace {
    /// Kept: idle for less than its keep-alive, or pre-warmed (or reached resident) in this
    /// idle period and not past its pre-warm window's end.
    Within,
    /// Kept: past its keep-alive but in its pre-warm window, seen for the first time in
    /// this idle period. The caller marks the period, so later looks answer `Within` to the
    /// window's end whatever their lead.
    EntersWindow,
    /// Past all of it.
    Past,
}

impl Grace {
    /// `idle`: since its last use; `warmed`: pre-warmed (or tried), or seen in its window,
    /// in this idle period; `ahead`: how long before a predicted use a load must start.
    /// The last two are asked only past the keep-alive, as most modules a sweep looks at
    /// are within it.
    #[inline]
    pub(crate) fn of(
        idle: Duration,
        schedule: Schedule,
        warmed: impl FnOnce() -> bool,
        ahead: impl FnOnce() -> Duration,
    ) -> Grace {
        if idle < schedule.keep {
            Grace::Within
        } else if warmed() {
            match schedule.before_end(idle) {
                true => Grace::Within,
                false => Grace::Past,
            }
        } else if schedule.in_window(idle, ahead()) {
            Grace::EntersWindow
        } else {
            Grace::Past
        }
    }
}

/// Why an unload is considered: each occasion waives some of the checks.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Occasion {
    /// The application asks (an unload, a feature module's last guard, a shutdown): only
    /// what holds the state keeps it (use, pins, dependents), whatever its class.
    Asked,
    /// Resident state is over the memory budget (a sweep over it, or a load making room
    /// in it): a core module is kept too; the grace period and the resident minimum do not
    /// protect one.
    OverBudget,
    /// A sweep within the memory budget: all five checks, and a core module is kept. A
    /// feature module is not held by grace or the minimum.
    Sweep {
        grace: Grace,
        /// Resident modules now, this one included.
        resident: usize,
        min_resident: usize,
    },
}

/// Whether grace and the resident minimum can keep a module of `class`: a utility one's
/// (a core module is kept anyway, a feature one goes at once).
pub(crate) const fn idleness_counts(class: Class) -> bool {
    matches!(class, Class::Utility)
}

/// What the rule says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Unload,
    Keep(KeepReason),
}

/// The five-point check: the first check that keeps the module on this occasion, or
/// [`Verdict::Unload`].
#[inline]
pub(crate) fn decide(facts: &Facts, occasion: Occasion) -> Verdict {
    use KeepReason::*;
    let reason = if facts.class == Class::Core && !matches!(occasion, Occasion::Asked) {
        Core
    } else if facts.in_use {
        InUse
    } else if facts.pins > 0 || facts.hot_pins > 0 {
        Pinned
    } else if facts.depended_on {
        Dependents
    } else {
        match occasion {
            Occasion::Sweep {
                grace,
                resident,
                min_resident,
            } if idleness_counts(facts.class) => {
                if grace != Grace::Past {
                    WithinGrace
                } else if resident <= min_resident {
                    AtMinimum
                } else {
                    return Verdict::Unload;
                }
            }
            _ => return Verdict::Unload,
        }
    };
    Verdict::Keep(reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    const IDLE: Facts = Facts::unheld(Class::Utility);

    fn sweep(grace: Grace) -> Occasion {
        Occasion::Sweep {
            grace,
            resident: 2,
            min_resident: 0,
        }
    }

    /// The grace of a module last used at `last_use` on `clock`, kept 30 s, with a
    /// pre-warm window from 60 s to 90 s of idleness.
    fn grace_at(clock: &ManualClock, last_use: Duration, warmed: bool) -> Grace {
        let schedule = Schedule {
            keep: Duration::from_secs(30),
            warm: Some((Duration::from_secs(60), Duration::from_secs(90))),
        };
        Grace::of(
            clock.now() - last_use,
            schedule,
            || warmed,
            || Duration::from_secs(5),
        )
    }

    #[test]
    fn grace_follows_the_clock_through_the_schedule() {
        let clock = ManualClock::new();
        let used = clock.now();
        clock.advance(Duration::from_secs(29));
        assert_eq!(grace_at(&clock, used, false), Grace::Within);
        clock.advance(Duration::from_secs(2));
        assert_eq!(grace_at(&clock, used, false), Grace::Past);
        // 55 s idle, loading 5 s ahead: the window opens.
        clock.advance(Duration::from_secs(24));
        assert_eq!(grace_at(&clock, used, false), Grace::EntersWindow);
        // Once marked, kept to the window's end whatever the lead.
        assert_eq!(grace_at(&clock, used, true), Grace::Within);
        clock.advance(Duration::from_secs(35));
        assert_eq!(grace_at(&clock, used, true), Grace::Past);
        assert_eq!(grace_at(&clock, used, false), Grace::Past);
    }

    #[test]
    fn a_sweep_runs_the_five_checks_in_order() {
        let facts = Facts {
            in_use: true,
            pins: 1,
            depended_on: true,
            ..IDLE
        };
        let occasion = sweep(Grace::Within);
        assert_eq!(decide(&facts, occasion), Verdict::Keep(KeepReason::InUse));
        let facts = Facts {
            in_use: false,
            ..facts
        };
        assert_eq!(decide(&facts, occasion), Verdict::Keep(KeepReason::Pinned));
        let facts = Facts { pins: 0, ..facts };
        assert_eq!(
            decide(&facts, occasion),
            Verdict::Keep(KeepReason::Dependents)
        );
        assert_eq!(
            decide(&IDLE, occasion),
            Verdict::Keep(KeepReason::WithinGrace)
        );
        let at_minimum = Occasion::Sweep {
            grace: Grace::Past,
            resident: 2,
            min_resident: 2,
        };
        assert_eq!(
            decide(&IDLE, at_minimum),
            Verdict::Keep(KeepReason::AtMinimum)
        );
        assert_eq!(decide(&IDLE, sweep(Grace::Past)), Verdict::Unload);
    }

    #[test]
    fn a_hot_paths_pin_is_a_pin_and_its_guard_no_use() {
        let facts = Facts {
            hot_pins: 1,
            ..IDLE
        };
        assert!(facts.held_by_hot_paths_alone());
        assert_eq!(
            decide(&facts, Occasion::OverBudget),
            Verdict::Keep(KeepReason::Pinned)
        );
        let facts = Facts { pins: 1, ..facts };
        assert!(!facts.held_by_hot_paths_alone());
    }

    #[test]
    fn classes_differ_in_what_holds_them() {
        let core = Facts {
            class: Class::Core,
            ..IDLE
        };
        let feature = Facts {
            class: Class::Feature,
            ..IDLE
        };
        assert_eq!(
            decide(&core, sweep(Grace::Past)),
            Verdict::Keep(KeepReason::Core)
        );
        assert_eq!(
            decide(&core, Occasion::OverBudget),
            Verdict::Keep(KeepReason::Core)
        );
        // An unload the application asks for drops even a core module.
        assert_eq!(decide(&core, Occasion::Asked), Verdict::Unload);
        // Neither grace nor the minimum holds a feature module.
        let at_minimum = Occasion::Sweep {
            grace: Grace::Within,
            resident: 1,
            min_resident: 5,
        };
        assert_eq!(decide(&feature, at_minimum), Verdict::Unload);
    }

    #[test]
    fn over_budget_waives_grace_and_the_minimum_not_what_holds_the_state() {
        assert_eq!(decide(&IDLE, Occasion::OverBudget), Verdict::Unload);
        let held = Facts {
            depended_on: true,
            ..IDLE
        };
        assert_eq!(
            decide(&held, Occasion::OverBudget),
            Verdict::Keep(KeepReason::Dependents)
        );
        assert_eq!(
            decide(&held, Occasion::Asked),
            Verdict::Keep(KeepReason::Dependents)
        );
    }
}

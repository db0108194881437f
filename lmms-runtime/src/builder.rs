//! Building a runtime: every setting by method, by name (`set`), or from the environment.

use crate::clock::Clock;
use crate::config::Config;
use crate::error::Error;
use crate::heat::Thresholds;
use crate::keepalive::Adaptive;
use crate::runtime::Runtime;
use std::time::Duration;

impl Runtime {
    /// A builder with the defaults: grace 30 s, no modules kept resident past it, no memory
    /// budget, the system clock.
    ///
    /// ```
    /// let runtime = lmms::Runtime::builder().build()?;
    /// assert_eq!(runtime.config(), &lmms::tuning::Config::default());
    /// # Ok::<(), lmms::Error>(())
    /// ```
    pub fn builder() -> Builder {
        Builder::default()
    }
}

/// Builds a [`Runtime`]; every setting has a default.
///
/// ```
/// use lmms::{tuning::ManualClock, Runtime};
/// use std::time::Duration;
///
/// let clock = ManualClock::new();
/// let runtime = Runtime::builder()
///     .grace(Duration::from_secs(10))
///     .min_resident(2)
///     .trim_threshold(Some(4 << 20))
///     .clock(clock.clone())
///     .build()?;
/// assert_eq!(runtime.config().min_resident(), 2);
/// # Ok::<(), lmms::Error>(())
/// ```
#[derive(Debug, Default)]
#[must_use = "a builder does nothing until `build`"]
pub struct Builder {
    config: Config,
    clock: Clock,
    /// Where the memory budget was set, for an error about it: the method, or the
    /// environment variable it was read from.
    budget_from: &'static str,
}

impl Builder {
    /// The heat thresholds; see [`Thresholds::new`] for what is valid.
    ///
    /// ```
    /// let rt = lmms::Runtime::builder().heat(lmms::tuning::Thresholds::new(2, 4, 8)?).build()?;
    /// # Ok::<(), lmms::Error>(())
    /// ```
    pub fn heat(mut self, thresholds: Thresholds) -> Self {
        self.config.heat = thresholds;
        self
    }

    /// The most operations on the direct path at once (default 100); 0 turns the hot path
    /// off.
    ///
    /// ```
    /// let rt = lmms::Runtime::builder().max_hot_paths(0).build()?;
    /// # Ok::<(), lmms::Error>(())
    /// ```
    pub fn max_hot_paths(mut self, paths: usize) -> Self {
        self.config.max_hot_paths = paths;
        self
    }

    /// Whether live cached results keep their module resident (unload check 3; default
    /// `true`). A cached result is an owned copy that needs nothing of the
    /// module, so `false` lets sweeps unload an idle module while its results are still
    /// served, loading nothing, until they expire.
    ///
    /// ```
    /// let rt = lmms::Runtime::builder().cache_keeps_modules(false).build()?;
    /// assert!(!rt.config().cache_keeps_modules());
    /// # Ok::<(), lmms::Error>(())
    /// ```
    pub fn cache_keeps_modules(mut self, keeps: bool) -> Self {
        self.config.cache_keeps_modules = keeps;
        self
    }

    /// The cooling window (default 60 s); must not be zero.
    ///
    /// Windows are aligned to the runtime's clock (0–60 s, 60–120 s, … by default), and a
    /// sweep applies those that ended since the last one; the window in progress is not
    /// counted. Each ended window halves an operation's heat (its call count), unless the
    /// operation was used on its hot path during it, and a hot operation whose count falls
    /// below half the hot threshold is demoted. With the defaults (hot at 20 calls): an
    /// operation called 40 times in the first minute and then left idle is hot from its
    /// 20th call; the windows that end at 2, 3 and 4 minutes halve it to 20, 10 and 5,
    /// and the sweep after the fourth minute demotes it (5 < 10). A count below the
    /// critical threshold is counted again from there.
    ///
    /// ```
    /// assert!(lmms::Runtime::builder().cool_every(std::time::Duration::ZERO).build().is_err());
    /// ```
    pub fn cool_every(mut self, window: Duration) -> Self {
        self.config.cool_every = window;
        self
    }

    /// Grace period after a module's last use (default 30 s).
    ///
    /// ```
    /// let rt = lmms::Runtime::builder().grace(std::time::Duration::ZERO).build()?;
    /// # Ok::<(), lmms::Error>(())
    /// ```
    pub fn grace(mut self, grace: Duration) -> Self {
        self.config.grace = grace;
        self
    }

    /// Modules kept resident however idle, the most recently used (a floor: see
    /// [`Runtime::sweep`]). Default 0, so that a small app's idle modules go once their
    /// grace period is over; the seed keeps 8 for a function of 50 modules, where the few
    /// used most often are worth keeping whatever their idle time.
    ///
    /// ```
    /// let like_the_seed = lmms::Runtime::builder().min_resident(8).build()?;
    /// # Ok::<(), lmms::Error>(())
    /// ```
    pub fn min_resident(mut self, modules: usize) -> Self {
        self.config.min_resident = modules;
        self
    }

    /// A budget for the bytes resident modules hold (default: none), kept when a module
    /// loads and at every sweep, so that the peak, not only the state after a sweep, is
    /// bounded.
    ///
    /// ```
    /// #[global_allocator] // what measures the bytes: required with a budget
    /// static ALLOC: lmms::memory::CountingAlloc = lmms::memory::CountingAlloc;
    ///
    /// # fn main() -> Result<(), lmms::Error> {
    /// let rt = lmms::Runtime::builder().memory_budget(256 << 20).build()?;
    /// # Ok(()) }
    /// ```
    ///
    /// # How it is kept
    ///
    /// Before a module loads again, idle modules are unloaded least recently used first
    /// until what its last load kept fits; a first load's size is known once it is done,
    /// and the same happens right after it. A sweep that finds more resident does the same.
    /// Either way the grace period and the resident minimum do not protect a module. **The
    /// budget outranks the hot path**: when only hot operations' pins keep the room a load
    /// needs, the least recently used is demoted (counted in
    /// [`Stats::demotions`](crate::Stats::demotions)`[2]`) and its module unloaded; a path
    /// whose module something else keeps is left alone. A demoted path turns hot again as
    /// any does: its heat cools, then rises with use. A module in use, pinned by the
    /// application ([`ModuleCell::pin`](crate::ModuleCell::pin)), depended on or core
    /// still stays: when nothing else is left to unload, the load goes ahead over the
    /// budget (never an error), counted in
    /// [`Stats::over_budget_loads`](crate::Stats::over_budget_loads) and reported by a
    /// `WARN` event; the unloads it made are
    /// [`Stats::budget_unloads`](crate::Stats::budget_unloads).
    ///
    /// # What is counted
    ///
    /// The bytes [`CountingAlloc`](crate::memory::CountingAlloc) counts, as the allocator
    /// holds them (with glibc, a block's usable size and header): what a load kept on the
    /// threads that polled it, and what its helper threads (scoped threads, a blocking
    /// pool, rayon) kept meanwhile; an unload is measured where it drops the state, so its
    /// figure is exact and the next load of that module makes room for it (see
    /// [`memory`](crate::memory) for the rule). Not counted: the process's baseline (code,
    /// the executor, what `main` holds), thread stacks, and the allocator's free memory
    /// not yet given back. Without the counting allocator nothing measures a module, and
    /// [`build`](Builder::build) refuses the budget rather than keep it on `size_of`
    /// figures.
    ///
    /// # Memory going back to the operating system
    ///
    /// Bytes freed by an unload leave the live heap at once; the
    /// [trim threshold](Builder::trim_threshold) (on by default) has glibc hand them back
    /// to the OS too, whichever thread allocated them, so the resident set falls with the
    /// heap. With another allocator, use its own setting for returning memory (jemalloc's
    /// `dirty_decay_ms`, mimalloc's `purge_delay`).
    ///
    /// # When the bound holds
    ///
    /// While loads run one at a time and what is in use or pinned by the application fits,
    /// the modules' bytes stay within the budget plus the largest module (the one loading
    /// before room is made for a first load). Loads running at once on several threads may
    /// each add theirs before room is made, and a load inside another module's loader, or
    /// inside a `Drop` that room-making runs, leaves room-making to the outer load, which
    /// looks again once it is done. Under a memory limit (a Lambda function's memory size,
    /// a container's), leave room beside the budget for the baseline, the requests' own
    /// memory and the allocator's slack: `lmms_lambda` gives modules half of what the
    /// limit leaves after the baseline.
    pub fn memory_budget(mut self, bytes: u64) -> Self {
        self.config.memory_budget = Some(bytes);
        self.budget_from = "memory_budget";
        self
    }

    /// Unloads freeing at least this many bytes call the allocator's trim (glibc's
    /// `malloc_trim`) so that RSS falls with the live heap (default 1 MiB; `None` never).
    ///
    /// With glibc, a runtime built with a threshold also fixes malloc's trim and `mmap`
    /// thresholds at glibc's documented defaults (128 KiB) and turns its fast bins off,
    /// once per process: glibc otherwise raises the thresholds after the first large free
    /// and never trims the arena of a thread other than the main one, so a module built on
    /// a helper thread or a blocking pool would stay resident after its unload, and small
    /// blocks would wait in the fast bins until a trim that walks them all (tens of ms for
    /// a map of small strings). Blocks of 128 KiB and more are then always mapped on their
    /// own: a program that allocates and frees such blocks at a high rate pays a system
    /// call for each; `None` leaves the allocator as it is.
    ///
    /// ```
    /// let rt = lmms::Runtime::builder().trim_threshold(None).build()?;
    /// # Ok::<(), lmms::Error>(())
    /// ```
    pub fn trim_threshold(mut self, bytes: Option<u64>) -> Self {
        self.config.trim_threshold = bytes;
        self
    }

    /// Chooses each utility module's keep-alive from its own idle gaps and size instead of
    /// the fixed grace period (off by default; see [`Adaptive`]). A module's own `grace`
    /// still wins.
    ///
    /// ```
    /// let rt = lmms::Runtime::builder().adaptive(lmms::tuning::Adaptive::default()).build()?;
    /// # Ok::<(), lmms::Error>(())
    /// ```
    pub fn adaptive(mut self, adaptive: Adaptive) -> Self {
        self.config.adaptive = Some(adaptive);
        self
    }

    /// The clock to read (default: the system's monotonic clock).
    ///
    /// ```
    /// let rt = lmms::Runtime::builder().clock(lmms::tuning::ManualClock::new()).build()?;
    /// # Ok::<(), lmms::Error>(())
    /// ```
    pub fn clock(mut self, clock: impl Into<Clock>) -> Self {
        self.clock = clock.into();
        self
    }

    /// Sets one setting from text, as a configuration file or an environment variable
    /// gives it: `grace` (`"30s"`, `"5m"`, `"250ms"`), `min_resident` (`"8"`),
    /// `memory_budget` (`"512MiB"`, `"2GB"`, `"1048576"`), `trim_threshold` (bytes, or
    /// `"off"`), `heat` (`"5,20,100"`), `max_hot_paths`, `cool_every`,
    /// `cache_keeps_modules` (`"true"`, `"false"`) and `adaptive` (`"on"`, `"off"`, or a
    /// load's price as bytes per time, `"128MiB/60s"`: see [`Adaptive::load_cost`]; with
    /// `"+prewarm"` after it to pre-warm at 25%, or `"+prewarm=40%"`: see
    /// [`Adaptive::prewarm`]). The error names the setting and says what was wrong.
    ///
    /// ```
    /// let builder = lmms::Runtime::builder().set("grace", "2m")?.set("trim_threshold", "4MiB")?;
    /// assert_eq!(builder.build()?.config().trim_threshold(), Some(4 << 20));
    ///
    /// let adaptive = lmms::Runtime::builder().set("adaptive", "1GiB/2m")?.build()?;
    /// assert_eq!(adaptive.config().adaptive().unwrap().break_even(0).as_secs(), 120);
    /// let warmed = lmms::Runtime::builder().set("adaptive", "on+prewarm")?.build()?;
    /// assert_eq!(warmed.config().adaptive().unwrap().prewarm_percent(), Some(25));
    ///
    /// let err = lmms::Runtime::builder().set("grace", "-5s").unwrap_err();
    /// assert_eq!(err.to_string(), "invalid configuration for `grace`: `-5s` is negative; a duration counts up from zero");
    /// # Ok::<(), lmms::Error>(())
    /// ```
    pub fn set(self, setting: &str, value: &str) -> Result<Self, Error> {
        Ok(match setting {
            "grace" => self.grace(parse_duration("grace", value)?),
            "min_resident" => self.min_resident(parse_count("min_resident", value, "modules")?),
            "memory_budget" => self.memory_budget(parse_bytes("memory_budget", value)?),
            "cool_every" => self.cool_every(cooling_window(parse_duration("cool_every", value)?)?),
            "max_hot_paths" => {
                self.max_hot_paths(parse_count("max_hot_paths", value, "operations")?)
            }
            "heat" => {
                let levels: Vec<_> = value.split(',').map(|level| level.trim().parse::<u64>()).collect();
                match levels[..] {
                    [Ok(warm), Ok(hot), Ok(critical)] => self.heat(Thresholds::new(warm, hot, critical)?),
                    _ => {
                        return Err(Error::invalid(
                            "heat",
                            format!("`{value}` is not three call counts; write them as `5,20,100`"),
                        ))
                    }
                }
            }
            "cache_keeps_modules" => match value.trim() {
                "true" | "yes" | "on" => self.cache_keeps_modules(true),
                "false" | "no" | "off" => self.cache_keeps_modules(false),
                _ => {
                    return Err(Error::invalid(
                        "cache_keeps_modules",
                        format!("`{value}` is not a yes or a no; write `true` or `false`"),
                    ))
                }
            },
            "trim_threshold" => match value.trim() {
                "off" | "none" => self.trim_threshold(None),
                bytes => self.trim_threshold(Some(parse_bytes("trim_threshold", bytes)?)),
            },
            "adaptive" => {
                let (keep, prewarm) = match value.split_once('+') {
                    Some((keep, prewarm)) => (keep, Some(parse_prewarm(value, prewarm)?)),
                    None => (value, None),
                };
                let adaptive = match keep.trim() {
                    "off" | "none" if prewarm.is_some() => {
                        return Err(Error::invalid(
                            "adaptive",
                            format!("in `{value}`: pre-warming is part of the adaptive keep-alive; turn it on (`on+prewarm`) or drop `+prewarm`"),
                        ))
                    }
                    "off" | "none" => None,
                    "on" => Some(Adaptive::default()),
                    price => match price.split_once('/') {
                        Some((bytes, time)) => {
                            // Say which price the bad half came from.
                            let whole = |error: Error| match error {
                                Error::InvalidConfig { reason, .. } => {
                                    Error::invalid("adaptive", format!("in `{value}`: {reason}"))
                                }
                                other => other,
                            };
                            let bytes = parse_bytes("adaptive", bytes.trim()).map_err(whole)?;
                            let time = parse_duration("adaptive", time.trim()).map_err(whole)?;
                            Some(Adaptive::default().load_cost(bytes, time))
                        }
                        None => {
                            return Err(Error::invalid(
                                "adaptive",
                                format!("`{value}` is not `on`, `off` or a load's price as bytes per time, like `128MiB/60s`, with `+prewarm` or `+prewarm=25%` after it to pre-warm"),
                            ))
                        }
                    },
                };
                let mut set = self;
                set.config.adaptive = match prewarm {
                    Some(percent) => adaptive.map(|adaptive| adaptive.prewarm(percent)),
                    None => adaptive,
                };
                set
            }
            other => {
                return Err(Error::InvalidConfig {
                    field: "setting",
                    reason: format!(
                        "`{other}` is not a setting; use `grace`, `min_resident`, `memory_budget`, `trim_threshold`, `heat`, `max_hot_paths`, `cool_every`, `cache_keeps_modules` or `adaptive`"
                    ),
                })
            }
        })
    }

    /// Reads `LMMS_GRACE`, `LMMS_MIN_RESIDENT`, `LMMS_MEMORY_BUDGET`,
    /// `LMMS_TRIM_THRESHOLD`, `LMMS_HEAT`, `LMMS_MAX_HOT_PATHS`, `LMMS_COOL_EVERY`,
    /// `LMMS_CACHE_KEEPS_MODULES` and `LMMS_ADAPTIVE` from the environment, where set,
    /// through [`Builder::set`]: a function's settings can then change without a rebuild.
    /// An error names the variable; a value that is not UTF-8 text is refused, not
    /// skipped.
    ///
    /// ```
    /// let runtime = lmms::Runtime::builder().from_env()?.build()?;
    /// # Ok::<(), lmms::Error>(())
    /// ```
    pub fn from_env(self) -> Result<Self, Error> {
        [
            ("grace", "LMMS_GRACE"),
            ("min_resident", "LMMS_MIN_RESIDENT"),
            ("memory_budget", "LMMS_MEMORY_BUDGET"),
            ("trim_threshold", "LMMS_TRIM_THRESHOLD"),
            ("heat", "LMMS_HEAT"),
            ("max_hot_paths", "LMMS_MAX_HOT_PATHS"),
            ("cool_every", "LMMS_COOL_EVERY"),
            ("cache_keeps_modules", "LMMS_CACHE_KEEPS_MODULES"),
            ("adaptive", "LMMS_ADAPTIVE"),
        ]
        .into_iter()
        .try_fold(self, |builder, (setting, variable)| {
            match std::env::var(variable) {
                Ok(value) => match builder.set(setting, &value) {
                    Ok(builder) if setting == "memory_budget" => Ok(Builder {
                        budget_from: variable,
                        ..builder
                    }),
                    Ok(builder) => Ok(builder),
                    Err(Error::InvalidConfig { reason, .. }) => {
                        Err(Error::invalid(variable, reason))
                    }
                    Err(other) => Err(other),
                },
                Err(std::env::VarError::NotPresent) => Ok(builder),
                Err(std::env::VarError::NotUnicode(value)) => Err(Error::invalid(
                    variable,
                    format!("{value:?} is not UTF-8 text"),
                )),
            }
        })
    }

    /// Checks the settings and builds the runtime.
    ///
    /// ```
    /// assert!(lmms::Runtime::builder().memory_budget(0).build().is_err());
    /// ```
    pub fn build(self) -> Result<Runtime, Error> {
        cooling_window(self.config.cool_every)?;
        if self.config.memory_budget == Some(0) {
            return Err(Error::invalid(
                self.budget_from,
                "a budget of 0 bytes would unload every module; leave it unset for no budget",
            ));
        }
        if self.config.memory_budget.is_some() && !crate::memory::counting() {
            return Err(Error::invalid(
                self.budget_from,
                "nothing measures a module's bytes: install the counting allocator \
                 (`#[global_allocator] static ALLOC: lmms::memory::CountingAlloc = \
                 lmms::memory::CountingAlloc;`), or set no budget",
            ));
        }
        Ok(Runtime::new(self.config, self.clock))
    }
}

/// `window` if it can be a cooling window: checked where it is set from text too, so that
/// the error names the variable it came from.
fn cooling_window(window: Duration) -> Result<Duration, Error> {
    if window.is_zero() {
        return Err(Error::invalid(
            "cool_every",
            "a zero cooling window would cool every operation at every sweep; use at least a millisecond",
        ));
    }
    Ok(window)
}

/// The pre-warm part of an `adaptive` setting, after its `+`: `prewarm` (25%) or
/// `prewarm=N%`, N from 0 to 100.
fn parse_prewarm(value: &str, part: &str) -> Result<u8, Error> {
    let bad = |why: &str| Error::invalid("adaptive", format!("in `{value}`: {why}"));
    match part.trim().split_once('=') {
        None if part.trim() == "prewarm" => Ok(25),
        Some((name, percent)) if name.trim() == "prewarm" => {
            let percent = percent.trim();
            match percent
                .strip_suffix('%')
                .unwrap_or(percent)
                .trim()
                .parse::<u8>()
            {
                Ok(percent) if percent <= 100 => Ok(percent),
                _ => Err(bad(&format!(
                    "`{percent}` is not a share from 0% to 100% of a load's price"
                ))),
            }
        }
        _ => Err(bad(&format!(
            "`{}` is not `prewarm` or `prewarm=25%`",
            part.trim()
        ))),
    }
}

/// A duration in the grammar attributes and settings share (`"250ms"`, `"5m"`); `field`
/// names the setting in the error.
fn parse_duration(field: &'static str, text: &str) -> Result<Duration, Error> {
    lmms_values::duration_ms(text)
        .map(Duration::from_millis)
        .map_err(|invalid| Error::invalid(field, invalid.reason()))
}

/// Parses a whole number of `what` (modules, operations).
fn parse_count(field: &'static str, text: &str, what: &str) -> Result<usize, Error> {
    text.trim()
        .parse()
        .map_err(|_| Error::invalid(field, format!("`{text}` is not a whole number of {what}")))
}

/// A byte count in the grammar the settings share (`"512MiB"`, `"2GB"`, `"1048576"`).
fn parse_bytes(field: &'static str, text: &str) -> Result<u64, Error> {
    lmms_values::bytes(text).map_err(|invalid| Error::invalid(field, invalid.reason()))
}

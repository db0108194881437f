//! The runtime's settings: LUGS's grace period and resident minimum, a memory budget, and
//! when to hand freed memory back to the operating system.

use crate::clock::Clock;
use crate::error::Error;
use crate::heat::Thresholds;
use crate::keepalive::Adaptive;
use crate::runtime::Runtime;
use std::time::Duration;

/// The unload policy's settings, fixed when the runtime is built.
///
/// ```
/// let config = lmms::Config::default();
/// assert_eq!(config.grace(), std::time::Duration::from_secs(30));
/// assert_eq!(config.min_resident(), 8);
/// assert_eq!(config.memory_budget(), None);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub(crate) heat: Thresholds,
    pub(crate) max_hot_paths: usize,
    pub(crate) cool_every: Duration,
    pub(crate) cache_keeps_modules: bool,
    pub(crate) grace: Duration,
    pub(crate) min_resident: usize,
    pub(crate) memory_budget: Option<u64>,
    pub(crate) trim_threshold: Option<u64>,
    pub(crate) adaptive: Option<Adaptive>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            heat: Thresholds::default(),
            max_hot_paths: 100,
            cool_every: Duration::from_secs(60),
            cache_keeps_modules: true,
            grace: Duration::from_secs(30),
            min_resident: 8,
            memory_budget: None,
            trim_threshold: Some(1 << 20),
            adaptive: None,
        }
    }
}

impl Config {
    /// ZAFP's heat thresholds (default 5, 20, 100 calls).
    ///
    /// ```
    /// assert_eq!(lmms::Config::default().heat().hot(), 20);
    /// ```
    pub fn heat(&self) -> Thresholds {
        self.heat
    }

    /// Whether live cached results keep their module resident (default `true`).
    ///
    /// ```
    /// assert!(lmms::Config::default().cache_keeps_modules());
    /// ```
    pub fn cache_keeps_modules(&self) -> bool {
        self.cache_keeps_modules
    }

    /// At most this many operations on the direct path (default 100); past it the least
    /// recently used is demoted. 0 turns ZAFP off.
    ///
    /// ```
    /// assert_eq!(lmms::Config::default().max_hot_paths(), 100);
    /// ```
    pub fn max_hot_paths(&self) -> usize {
        self.max_hot_paths
    }

    /// The cooling window: each one halves the heat of operations not used in it
    /// (default 60 s of the runtime clock).
    ///
    /// ```
    /// assert_eq!(lmms::Config::default().cool_every().as_secs(), 60);
    /// ```
    pub fn cool_every(&self) -> Duration {
        self.cool_every
    }

    /// How long a module must be idle before a sweep may unload it (LUGS check 4).
    ///
    /// ```
    /// assert_eq!(lmms::Config::default().grace().as_secs(), 30);
    /// ```
    pub fn grace(&self) -> Duration {
        self.grace
    }

    /// Sweeps unload only while more than this many modules are resident (LUGS check 5).
    ///
    /// ```
    /// assert_eq!(lmms::Config::default().min_resident(), 8);
    /// ```
    pub fn min_resident(&self) -> usize {
        self.min_resident
    }

    /// Resident bytes above which sweeps unload past the grace period and the minimum.
    ///
    /// ```
    /// assert_eq!(lmms::Config::default().memory_budget(), None);
    /// ```
    pub fn memory_budget(&self) -> Option<u64> {
        self.memory_budget
    }

    /// Unloads that free at least this many bytes hand memory back to the OS.
    ///
    /// ```
    /// assert_eq!(lmms::Config::default().trim_threshold(), Some(1 << 20));
    /// ```
    pub fn trim_threshold(&self) -> Option<u64> {
        self.trim_threshold
    }

    /// The adaptive keep-alive, if it is on.
    ///
    /// ```
    /// assert_eq!(lmms::Config::default().adaptive(), None);
    /// ```
    pub fn adaptive(&self) -> Option<Adaptive> {
        self.adaptive
    }
}

/// Builds a [`Runtime`]; every setting has the seed's default.
///
/// ```
/// use lmms::{ManualClock, Runtime};
/// use std::time::Duration;
///
/// let clock = ManualClock::new();
/// let runtime = Runtime::builder()
///     .grace(Duration::from_secs(10))
///     .min_resident(2)
///     .memory_budget(64 << 20)
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
}

impl Builder {
    /// ZAFP's heat thresholds; see [`Thresholds::new`] for what is valid.
    ///
    /// ```
    /// let rt = lmms::Runtime::builder().heat(lmms::Thresholds::new(2, 4, 8)?).build()?;
    /// # Ok::<(), lmms::Error>(())
    /// ```
    pub fn heat(mut self, thresholds: Thresholds) -> Self {
        self.config.heat = thresholds;
        self
    }

    /// The most operations on the direct path at once (default 100, the seed's
    /// `MAX_HOT_PATHS`); 0 turns ZAFP off.
    ///
    /// ```
    /// let rt = lmms::Runtime::builder().max_hot_paths(0).build()?;
    /// # Ok::<(), lmms::Error>(())
    /// ```
    pub fn max_hot_paths(mut self, paths: usize) -> Self {
        self.config.max_hot_paths = paths;
        self
    }

    /// Whether live cached results keep their module resident (LUGS check 3; default
    /// `true`, as in the seed). A cached result is an owned copy that needs nothing of the
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
    /// ```
    /// assert!(lmms::Runtime::builder().cool_every(std::time::Duration::ZERO).build().is_err());
    /// ```
    pub fn cool_every(mut self, window: Duration) -> Self {
        self.config.cool_every = window;
        self
    }

    /// Grace period after a module's last use (default 30 s, the seed's `UNLOAD_DELAY`).
    ///
    /// ```
    /// let rt = lmms::Runtime::builder().grace(std::time::Duration::ZERO).build()?;
    /// # Ok::<(), lmms::Error>(())
    /// ```
    pub fn grace(mut self, grace: Duration) -> Self {
        self.config.grace = grace;
        self
    }

    /// Modules kept resident however idle (default 8, the seed's `MAX_RESIDENT_MODULES`,
    /// read as a floor: see [`Runtime::sweep`]).
    ///
    /// ```
    /// let rt = lmms::Runtime::builder().min_resident(0).build()?;
    /// # Ok::<(), lmms::Error>(())
    /// ```
    pub fn min_resident(mut self, modules: usize) -> Self {
        self.config.min_resident = modules;
        self
    }

    /// A budget for the bytes resident modules hold (default: none). While a sweep finds
    /// more resident, it unloads modules least recently used first even inside their
    /// grace period or at the resident minimum; modules in use, pinned or depended on
    /// still stay. Bytes are measured by [`CountingAlloc`](crate::memory::CountingAlloc);
    /// without it every module weighs nothing and the budget never binds.
    ///
    /// ```
    /// let rt = lmms::Runtime::builder().memory_budget(256 << 20).build()?;
    /// # Ok::<(), lmms::Error>(())
    /// ```
    pub fn memory_budget(mut self, bytes: u64) -> Self {
        self.config.memory_budget = Some(bytes);
        self
    }

    /// Unloads freeing at least this many bytes call the allocator's trim (glibc's
    /// `malloc_trim`) so that RSS falls with the live heap (default 1 MiB; `None` never).
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
    /// let rt = lmms::Runtime::builder().adaptive(lmms::Adaptive::default()).build()?;
    /// # Ok::<(), lmms::Error>(())
    /// ```
    pub fn adaptive(mut self, adaptive: Adaptive) -> Self {
        self.config.adaptive = Some(adaptive);
        self
    }

    /// The clock to read (default: the system's monotonic clock).
    ///
    /// ```
    /// let rt = lmms::Runtime::builder().clock(lmms::ManualClock::new()).build()?;
    /// # Ok::<(), lmms::Error>(())
    /// ```
    pub fn clock(mut self, clock: impl Into<Clock>) -> Self {
        self.clock = clock.into();
        self
    }

    /// Sets one setting from text, as a configuration file or an environment variable
    /// gives it: `grace` (`"30s"`, `"5m"`, `"250ms"`), `min_resident` (`"8"`),
    /// `memory_budget` (`"512MiB"`, `"2GB"`, `"1048576"`), `trim_threshold` (bytes, or
    /// `"off"`), `heat` (`"5,20,100"`), `max_hot_paths`, `cool_every`, and `adaptive`
    /// (`"on"`, `"off"`, or a load's price as bytes per time, `"128MiB/60s"`: see
    /// [`Adaptive::load_cost`]). The error names the setting and says what was wrong.
    ///
    /// ```
    /// let builder = lmms::Runtime::builder().set("grace", "2m")?.set("memory_budget", "64MiB")?;
    /// assert_eq!(builder.build()?.config().memory_budget(), Some(64 << 20));
    ///
    /// let adaptive = lmms::Runtime::builder().set("adaptive", "1GiB/2m")?.build()?;
    /// assert_eq!(adaptive.config().adaptive().unwrap().break_even(0).as_secs(), 120);
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
            "cool_every" => self.cool_every(parse_duration("cool_every", value)?),
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
            "trim_threshold" => match value.trim() {
                "off" | "none" => self.trim_threshold(None),
                bytes => self.trim_threshold(Some(parse_bytes("trim_threshold", bytes)?)),
            },
            "adaptive" => match value.trim() {
                "off" | "none" => {
                    let mut fixed = self;
                    fixed.config.adaptive = None;
                    fixed
                }
                "on" => self.adaptive(Adaptive::default()),
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
                        self.adaptive(Adaptive::default().load_cost(bytes, time))
                    }
                    None => {
                        return Err(Error::invalid(
                            "adaptive",
                            format!("`{value}` is not `on`, `off` or a load's price as bytes per time, like `128MiB/60s`"),
                        ))
                    }
                },
            },
            other => {
                return Err(Error::InvalidConfig {
                    field: "setting",
                    reason: format!(
                        "`{other}` is not a setting; use `grace`, `min_resident`, `memory_budget`, `trim_threshold`, `heat`, `max_hot_paths`, `cool_every` or `adaptive`"
                    ),
                })
            }
        })
    }

    /// Reads `LMMS_GRACE`, `LMMS_MIN_RESIDENT`, `LMMS_MEMORY_BUDGET`,
    /// `LMMS_TRIM_THRESHOLD`, `LMMS_HEAT`, `LMMS_MAX_HOT_PATHS`, `LMMS_COOL_EVERY` and
    /// `LMMS_ADAPTIVE` from
    /// the environment, where set, through [`Builder::set`]: a
    /// function's settings can then change without a rebuild.
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
            ("adaptive", "LMMS_ADAPTIVE"),
        ]
        .into_iter()
        .try_fold(self, |builder, (setting, variable)| {
            match std::env::var(variable) {
                Ok(value) => builder.set(setting, &value),
                Err(_) => Ok(builder),
            }
        })
    }

    /// Checks the settings and builds the runtime.
    ///
    /// ```
    /// assert!(lmms::Runtime::builder().memory_budget(0).build().is_err());
    /// ```
    pub fn build(self) -> Result<Runtime, Error> {
        if self.config.cool_every.is_zero() {
            return Err(Error::invalid(
                "cool_every",
                "a zero cooling window would cool every operation at every sweep; use at least a millisecond",
            ));
        }
        if self.config.memory_budget == Some(0) {
            return Err(Error::invalid(
                "memory_budget",
                "a budget of 0 bytes would unload every module; leave it unset for no budget",
            ));
        }
        Ok(Runtime::new(self.config, self.clock))
    }
}

/// Parses a duration as the attributes and settings write it: a whole number and a unit,
/// `ms`, `s`, `m` or `h` (`"250ms"`, `"300s"`, `"5m"`, `"1h"`). `field` names the setting
/// in the error.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(lmms::parse_duration("cache_ttl", "5m")?, Duration::from_secs(300));
/// assert_eq!(lmms::parse_duration("grace", "250ms")?, Duration::from_millis(250));
/// assert!(lmms::parse_duration("grace", "5 parsecs").is_err());
/// # Ok::<(), lmms::Error>(())
/// ```
pub fn parse_duration(field: &'static str, text: &str) -> Result<Duration, Error> {
    const UNITS: &[(&str, u64)] = &[("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000)];
    parse_quantity(
        field,
        text,
        UNITS,
        "a duration",
        "`250ms`, `30s`, `5m` or `1h`",
    )
    .map(Duration::from_millis)
}

/// Parses a whole number of `what` (modules, operations).
fn parse_count(field: &'static str, text: &str, what: &str) -> Result<usize, Error> {
    text.trim()
        .parse()
        .map_err(|_| Error::invalid(field, format!("`{text}` is not a whole number of {what}")))
}

/// Parses a byte count: a whole number with an optional unit.
fn parse_bytes(field: &'static str, text: &str) -> Result<u64, Error> {
    const UNITS: &[(&str, u64)] = &[
        ("", 1),
        ("B", 1),
        ("KB", 1_000),
        ("MB", 1_000_000),
        ("GB", 1_000_000_000),
        ("KiB", 1 << 10),
        ("MiB", 1 << 20),
        ("GiB", 1 << 30),
    ];
    parse_quantity(
        field,
        text,
        UNITS,
        "a byte count",
        "`512MiB`, `2GB` or `1048576`",
    )
}

/// A whole number followed by one of `units`, scaled by that unit.
fn parse_quantity(
    field: &'static str,
    text: &str,
    units: &[(&str, u64)],
    what: &str,
    examples: &str,
) -> Result<u64, Error> {
    let trimmed = text.trim();
    if trimmed.starts_with('-') {
        return Err(Error::invalid(
            field,
            format!("`{text}` is negative; {what} counts up from zero"),
        ));
    }
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (digits, unit) = trimmed.split_at(split);
    let scale = units
        .iter()
        .find(|(name, _)| *name == unit.trim())
        .map(|&(_, scale)| scale)
        .ok_or_else(|| {
            Error::invalid(
                field,
                format!("`{text}` is not {what}; write a whole number and a unit: {examples}"),
            )
        })?;
    digits
        .parse::<u64>()
        .ok()
        .and_then(|count| count.checked_mul(scale))
        .ok_or_else(|| {
            Error::invalid(
                field,
                format!("`{text}` needs a whole number before its unit, small enough to fit"),
            )
        })
}

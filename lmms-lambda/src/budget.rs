//! The memory budget a function's modules get by default: a share of the memory Lambda
//! gives the function, less what the process holds before any module loads.

/// The share of the memory left after the baseline that modules may hold: the rest is the
/// handler's per-invocation memory, buffers, and the allocator's slack.
pub const SHARE: f64 = 0.5;

/// The default memory budget of a function with `memory_mib` MiB (what Lambda's
/// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` says) whose process holds `baseline` bytes before any
/// module loads: [`SHARE`] of what is left, or `None` when nothing is left.
///
/// ```
/// // A 512 MiB function whose process starts at 12 MiB: modules may hold 250 MiB.
/// assert_eq!(lmms_lambda::budget(512, 12 << 20), Some(250 << 20));
/// assert_eq!(lmms_lambda::budget(128, 200 << 20), None);
/// assert_eq!(lmms_lambda::budget(u64::MAX, 0), None); // no such memory size
/// ```
pub fn budget(memory_mib: u64, baseline: u64) -> Option<u64> {
    let left = memory_mib.checked_mul(1 << 20)?.checked_sub(baseline)?;
    Some((left as f64 * SHARE) as u64).filter(|&bytes| bytes > 0)
}

/// The runtime [`run`](crate::run) installs: the `LMMS_*` settings
/// ([`lmms::tuning::Builder::from_env`]), and unless `LMMS_MEMORY_BUDGET` is set, a memory budget
/// of [`budget`]`(AWS_LAMBDA_FUNCTION_MEMORY_SIZE, the process's resident set now)`; see
/// [`runtime_and_budget_from_env`] for where that comes from.
///
/// ```
/// let runtime = lmms_lambda::runtime_from_env()?;
/// # let _ = runtime;
/// # Ok::<(), lmms::Error>(())
/// ```
pub fn runtime_from_env() -> Result<lmms::Runtime, lmms::Error> {
    runtime_and_budget_from_env().map(|(runtime, _)| runtime)
}

/// Where a function's memory budget came from: what [`run`](crate::run) prints at
/// start-up, in one line on stderr.
///
/// ```
/// let budget = lmms_lambda::Budget::MemorySize { bytes: 250 << 20, memory_mib: 512, baseline: 12 << 20 };
/// assert_eq!(
///     budget.to_string(),
///     "lmms: memory budget 250 MiB for modules: half of the 500 MiB that the function's 512 MiB (AWS_LAMBDA_FUNCTION_MEMORY_SIZE) leave after the process's 12 MiB at start",
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Budget {
    /// `LMMS_MEMORY_BUDGET` set it.
    Variable {
        /// The budget.
        bytes: u64,
    },
    /// [`budget`] of the function's memory size.
    MemorySize {
        /// The budget.
        bytes: u64,
        /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`.
        memory_mib: u64,
        /// The process's resident set when the budget was set.
        baseline: u64,
    },
    /// No budget: the function's memory size is known, but nothing measures a module's
    /// bytes (the global allocator is not [`lmms::memory::CountingAlloc`]), and a budget
    /// on no measure would be no bound.
    Unmeasured {
        /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`.
        memory_mib: u64,
    },
    /// No budget: the process's resident set at start leaves no room for modules in the
    /// function's memory size, or cannot be read.
    NoRoom {
        /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`.
        memory_mib: u64,
        /// The process's resident set, where it could be read.
        baseline: Option<u64>,
    },
    /// No budget: not on Lambda (no `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`) and no
    /// `LMMS_MEMORY_BUDGET`.
    None,
}

impl std::fmt::Display for Budget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mib = |bytes: u64| bytes >> 20;
        match *self {
            Budget::Variable { bytes } => write!(f, "lmms: memory budget {} MiB for modules (LMMS_MEMORY_BUDGET)", mib(bytes)),
            Budget::MemorySize { bytes, memory_mib, baseline } => write!(
                f,
                "lmms: memory budget {} MiB for modules: half of the {} MiB that the function's {memory_mib} MiB (AWS_LAMBDA_FUNCTION_MEMORY_SIZE) leave after the process's {} MiB at start",
                mib(bytes),
                mib(memory_mib.saturating_mul(1 << 20).saturating_sub(baseline)),
                mib(baseline),
            ),
            Budget::Unmeasured { memory_mib } => write!(
                f,
                "lmms: no memory budget for this {memory_mib} MiB function: nothing measures a module's bytes; install the counting allocator (`#[global_allocator] static ALLOC: lmms::memory::CountingAlloc = lmms::memory::CountingAlloc;`)",
            ),
            Budget::NoRoom { memory_mib, baseline: Some(baseline) } => write!(
                f,
                "lmms: no memory budget: the process holds {} MiB at start, which leaves no room for modules in the function's {memory_mib} MiB",
                mib(baseline),
            ),
            Budget::NoRoom { memory_mib, baseline: None } => write!(
                f,
                "lmms: no memory budget for this {memory_mib} MiB function: the process's resident set cannot be read here",
            ),
            Budget::None => f.write_str("lmms: no memory budget (no AWS_LAMBDA_FUNCTION_MEMORY_SIZE, no LMMS_MEMORY_BUDGET)"),
        }
    }
}

/// [`runtime_from_env`], and where its memory budget came from. A budget that nothing
/// can measure is not set from the memory size (and [`Budget::Unmeasured`] says why); one
/// asked for by `LMMS_MEMORY_BUDGET` is refused, naming the variable, as
/// [`lmms::tuning::Builder::build`] refuses it. Outside Lambda (no
/// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, or no resident set to read) there is no default
/// budget. Pre-warming (`LMMS_ADAPTIVE=on+prewarm`) is refused: a frozen sandbox runs
/// nothing between invocations, so each sweep after one would pre-warm every module its
/// schedule has due, in billed time, for a use that may never come.
///
/// ```
/// let (runtime, budget) = lmms_lambda::runtime_and_budget_from_env()?;
/// eprintln!("{budget}");
/// # let _ = runtime;
/// # Ok::<(), lmms::Error>(())
/// ```
pub fn runtime_and_budget_from_env() -> Result<(lmms::Runtime, Budget), lmms::Error> {
    let mut builder = lmms::Runtime::builder().from_env()?;
    let budget = match std::env::var_os("LMMS_MEMORY_BUDGET") {
        Some(_) => None,
        None => Some(default_budget()?),
    };
    if let Some(Budget::MemorySize { bytes, .. }) = budget {
        builder = builder.memory_budget(bytes);
    }
    let runtime = builder.build()?;
    if let Some(percent) = runtime
        .config()
        .adaptive()
        .and_then(|a| a.prewarm_percent())
    {
        return Err(lmms::Error::InvalidConfig {
            field: "LMMS_ADAPTIVE",
            reason: format!("pre-warming ({percent}%) needs a process that runs between invocations, and a Lambda sandbox is frozen between them: drop `+prewarm` from LMMS_ADAPTIVE"),
        });
    }
    let budget = budget.unwrap_or_else(|| Budget::Variable {
        bytes: runtime.config().memory_budget().unwrap_or(0),
    });
    Ok((runtime, budget))
}

fn default_budget() -> Result<Budget, lmms::Error> {
    const VARIABLE: &str = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE";
    let Some(value) = std::env::var_os(VARIABLE) else {
        return Ok(Budget::None);
    };
    let memory_mib = value
        .to_str()
        .and_then(|text| text.trim().parse::<u64>().ok())
        .ok_or_else(|| lmms::Error::InvalidConfig {
            field: VARIABLE,
            reason: format!("{value:?} is not a whole number of MiB"),
        })?;
    if !lmms::memory::counting() {
        return Ok(Budget::Unmeasured { memory_mib });
    }
    let baseline = lmms::memory::rss();
    Ok(
        match baseline.and_then(|baseline| budget(memory_mib, baseline)) {
            Some(bytes) => Budget::MemorySize {
                bytes,
                memory_mib,
                baseline: baseline.unwrap_or(0),
            },
            None => Budget::NoRoom {
                memory_mib,
                baseline,
            },
        },
    )
}

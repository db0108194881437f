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
/// ```
pub fn budget(memory_mib: u64, baseline: u64) -> Option<u64> {
    let left = (memory_mib << 20).checked_sub(baseline)?;
    Some((left as f64 * SHARE) as u64).filter(|&bytes| bytes > 0)
}

/// The runtime [`run`](crate::run) installs: the `LMMS_*` settings
/// ([`lmms::Builder::from_env`]), and unless `LMMS_MEMORY_BUDGET` is set, a memory budget
/// of [`budget`]`(AWS_LAMBDA_FUNCTION_MEMORY_SIZE, the process's resident set now)`.
/// Outside Lambda (no `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, or no resident set to read) there
/// is no default budget. Pre-warming (`LMMS_ADAPTIVE=on+prewarm`) is refused: a frozen
/// sandbox runs nothing between invocations, so each sweep after one would pre-warm every
/// module its schedule has due, in billed time, for a use that may never come.
///
/// ```
/// let runtime = lmms_lambda::runtime_from_env()?;
/// # let _ = runtime;
/// # Ok::<(), lmms::Error>(())
/// ```
pub fn runtime_from_env() -> Result<lmms::Runtime, lmms::Error> {
    let mut builder = lmms::Runtime::builder().from_env()?;
    if std::env::var_os("LMMS_MEMORY_BUDGET").is_none() {
        if let Some(bytes) = default_budget()? {
            builder = builder.memory_budget(bytes);
        }
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
    Ok(runtime)
}

fn default_budget() -> Result<Option<u64>, lmms::Error> {
    const VARIABLE: &str = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE";
    let Some(value) = std::env::var_os(VARIABLE) else {
        return Ok(None);
    };
    let mib = value
        .to_str()
        .and_then(|text| text.trim().parse::<u64>().ok())
        .ok_or_else(|| lmms::Error::InvalidConfig {
            field: VARIABLE,
            reason: format!("{value:?} is not a whole number of MiB"),
        })?;
    Ok(lmms::memory::rss().and_then(|baseline| budget(mib, baseline)))
}

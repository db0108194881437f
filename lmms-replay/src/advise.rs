//! Which Lambda memory size to choose, predicted from a replay before deploying: a
//! function's requests (which modules each uses, how long it runs) played through the real
//! runtime at each memory size, under the budget `lmms_lambda` would set there, with
//! modules of their measured sizes. For each size: the loads, the extra loads and the time
//! they add against a size where everything fits, the GB-seconds billed, and whether the
//! process's peak fits under the size at all.
//!
//! The anchor is AWS Lambda Power Tuning, which finds the cheapest size by running the
//! function at each one; this predicts it from one run's figures (`lmms::stats()`'s
//! modules, their `size` and `load_time`) and a request log.

use lmms::{state::Handle, tuning::ManualClock, Guard, ModuleDef, Runtime};
use std::time::Duration;

/// A module of the function, as a run measured it.
#[derive(Clone, Debug, PartialEq)]
pub struct Module {
    /// Its name.
    pub name: String,
    /// The bytes its state holds ([`lmms::report::ModuleStats::size`]).
    pub bytes: u64,
    /// How long a load takes ([`lmms::report::ModuleStats::load_time`]).
    pub load: Duration,
    /// How long an unload takes ([`lmms::report::ModuleStats::unload_time`]): a request
    /// pays it when room is made for its load.
    pub unload: Duration,
}

/// One request: the modules it uses, held together, and how long it runs besides loads.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    /// Indices into the module list, in the order the request gets them.
    pub uses: Vec<usize>,
    /// Its own run time, loads not included.
    pub duration: Duration,
}

/// What running the requests at one memory size costs.
#[derive(Clone, Debug, PartialEq)]
pub struct Sized {
    /// The memory size, in MiB.
    pub memory_mib: u64,
    /// The budget `lmms_lambda` sets at that size, if any.
    pub budget: Option<u64>,
    /// Module loads over the requests.
    pub loads: u64,
    /// Loads beyond those a size with room for everything makes (one per module used).
    pub extra_loads: u64,
    /// The time those extra loads add.
    pub extra_time: Duration,
    /// Billed time: the requests' run times and every load's.
    pub billed: Duration,
    /// GB-seconds billed: the size times the billed time.
    pub gb_seconds: f64,
    /// The process's predicted peak: its baseline, and the most module bytes the replay
    /// held at once (the live heap's high-water mark: a load before room is made for it
    /// included) with the allocator's slack on them.
    pub peak: u64,
}

impl Sized {
    /// Whether the predicted peak fits under the memory size: whether the function
    /// survives at it.
    ///
    /// ```
    /// let sized = lmms_replay::advise::Sized {
    ///     memory_mib: 128, budget: None, loads: 0, extra_loads: 0,
    ///     extra_time: Default::default(), billed: Default::default(), gb_seconds: 0.0,
    ///     peak: 100 << 20,
    /// };
    /// assert!(sized.fits());
    /// ```
    pub fn fits(&self) -> bool {
        self.peak <= self.memory_mib << 20
    }
}

/// What the process holds besides its modules, how much more than their counted bytes
/// the allocator keeps for them, and what handing freed memory back to the OS costs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Process {
    /// What handing memory back to the OS took, on average ([`lmms::Stats::trim_time`]
    /// over [`lmms::Stats::trims`]): a request pays it once when room is made for it.
    pub trim: Duration,
    /// The process's own memory at start, before any module loads: its anonymous pages,
    /// which a memory limit cannot reclaim (code pages it can). The peak's floor.
    pub baseline: u64,
    /// Its resident set at start, code pages included: what `lmms_lambda` sets the budget
    /// from (the start-up line's figure).
    pub start_rss: u64,
    /// The allocator's slack over the modules' counted bytes, as a share (0.05: 5%).
    pub slack: f64,
}

/// Plays `requests` one at a time (as a Lambda sandbox runs them) at `memory_mib`, with a
/// sweep after each, under the budget `lmms_lambda::budget` gives that size.
///
/// ```
/// use lmms_replay::advise::{at_size, Module, Process, Request};
/// use std::time::Duration;
///
/// #[global_allocator] // the budget weighs the modules' real allocations
/// static ALLOC: lmms::memory::CountingAlloc = lmms::memory::CountingAlloc;
///
/// # fn main() -> Result<(), lmms::Error> {
/// let modules = vec![
///     Module { name: "a".into(), bytes: 20 << 20, load: Duration::from_millis(30), unload: Duration::ZERO },
///     Module { name: "b".into(), bytes: 20 << 20, load: Duration::from_millis(30), unload: Duration::ZERO },
/// ];
/// let requests: Vec<Request> = [0, 1, 0, 1]
///     .iter()
///     .map(|&m| Request { uses: vec![m], duration: Duration::from_millis(5) })
///     .collect();
/// let process = Process { trim: Duration::ZERO, baseline: 10 << 20, start_rss: 10 << 20, slack: 0.05 };
/// // 64 MiB leave a budget of 27 MiB: the two modules take turns.
/// let small = at_size(&modules, &requests, process, 64)?;
/// assert_eq!((small.loads, small.extra_loads), (4, 2));
/// // 256 MiB hold both.
/// let large = at_size(&modules, &requests, process, 256)?;
/// assert_eq!((large.loads, large.extra_loads), (2, 0));
/// assert!(small.gb_seconds < large.gb_seconds);
/// # Ok(()) }
/// ```
pub fn at_size(
    modules: &[Module],
    requests: &[Request],
    process: Process,
    memory_mib: u64,
) -> Result<Sized, lmms::Error> {
    let budget = lmms_lambda::budget(memory_mib, process.start_rss);
    let clock = ManualClock::new();
    let mut builder = Runtime::builder()
        .clock(clock.clone())
        .min_resident(0)
        .trim_threshold(None);
    if let Some(bytes) = budget {
        builder = builder.memory_budget(bytes);
    }
    let runtime = builder.build()?;
    let handles: Vec<Handle<Vec<u8>>> = modules
        .iter()
        .map(|module| {
            // Counted as the allocator holds it: the module's measured bytes, less the
            // block's header and the state's box.
            let bytes = usize::try_from(module.bytes.saturating_sub(64)).unwrap_or(usize::MAX);
            runtime.register(ModuleDef::named(module.name.clone()), move || {
                vec![0u8; bytes]
            })
        })
        .collect::<Result<_, _>>()?;
    let mut billed = Duration::ZERO;
    let unloads = |handles: &[Handle<Vec<u8>>]| -> Vec<u64> {
        handles
            .iter()
            .map(|handle| handle.stats().unloads)
            .collect()
    };
    // The replay's own heap: what is above it is the modules'.
    let floor = lmms::memory::live_heap().unwrap_or(0);
    lmms::memory::reset_peak();
    for request in requests {
        let mut guards: Vec<Guard<'_, Vec<u8>>> = Vec::new();
        let mut spent = request.duration;
        let before = unloads(&handles);
        for &module in &request.uses {
            let (Some(handle), Some(measured)) = (handles.get(module), modules.get(module)) else {
                continue;
            };
            if !handle.is_resident() {
                spent += measured.load;
            }
            guards.push(handle.get()?);
        }
        // The unloads room-making made for this request's loads, which it waited for, and
        // the memory they handed back.
        let mut made_room = false;
        for ((after, before), module) in unloads(&handles).iter().zip(before).zip(modules) {
            made_room |= *after > before;
            spent += module.unload * u32::try_from(after - before).unwrap_or(u32::MAX);
        }
        if made_room {
            spent += process.trim;
        }
        billed += spent;
        clock.advance(spent);
        drop(guards);
        runtime.sweep();
    }
    let held = lmms::memory::peak_heap().unwrap_or(0).saturating_sub(floor);
    let loads = runtime.stats().loads;
    let used = requests
        .iter()
        .flat_map(|request| request.uses.iter().copied())
        .filter(|&module| module < modules.len())
        .collect::<std::collections::BTreeSet<_>>();
    let extra_loads = loads.saturating_sub(used.len() as u64);
    let mean_load = mean_load(modules, &used);
    Ok(Sized {
        memory_mib,
        budget,
        loads,
        extra_loads,
        extra_time: mean_load * u32::try_from(extra_loads).unwrap_or(u32::MAX),
        billed,
        gb_seconds: memory_mib as f64 / 1024.0 * billed.as_secs_f64(),
        peak: process.baseline + (held as f64 * (1.0 + process.slack)) as u64,
    })
}

fn mean_load(modules: &[Module], used: &std::collections::BTreeSet<usize>) -> Duration {
    let count = u32::try_from(used.len().max(1)).unwrap_or(u32::MAX);
    used.iter()
        .filter_map(|&module| modules.get(module))
        .map(|module| module.load)
        .sum::<Duration>()
        / count
}

/// [`at_size`] at every size from `from` MiB up in `step` MiB steps, until a size where
/// everything the requests use fits at once (as an eager build needs).
///
/// ```
/// use lmms_replay::advise::{sizes, Module, Process, Request};
/// use std::time::Duration;
///
/// #[global_allocator]
/// static ALLOC: lmms::memory::CountingAlloc = lmms::memory::CountingAlloc;
///
/// # fn main() -> Result<(), lmms::Error> {
/// let modules = vec![Module { name: "a".into(), bytes: 100 << 20, load: Duration::from_millis(50), unload: Duration::ZERO }];
/// let requests = vec![Request { uses: vec![0], duration: Duration::from_millis(5) }];
/// let table = sizes(&modules, &requests, Process { trim: Duration::ZERO, baseline: 10 << 20, start_rss: 10 << 20, slack: 0.05 }, 128, 64)?;
/// assert_eq!(table.first().unwrap().memory_mib, 128);
/// assert!(table.last().unwrap().memory_mib >= 115);
/// # Ok(()) }
/// ```
pub fn sizes(
    modules: &[Module],
    requests: &[Request],
    process: Process,
    from: u64,
    step: u64,
) -> Result<Vec<Sized>, lmms::Error> {
    let eager = eager_mib(modules, process);
    let step = step.max(1);
    let mut table = Vec::new();
    let mut memory_mib = from.max(step);
    loop {
        table.push(at_size(modules, requests, process, memory_mib)?);
        if memory_mib >= eager {
            return Ok(table);
        }
        memory_mib += step;
    }
}

/// The memory an eager build needs: the baseline and every module, with the slack.
///
/// ```
/// use lmms_replay::advise::{eager_mib, Module, Process};
/// let modules = vec![Module { name: "a".into(), bytes: 90 << 20, load: Default::default(), unload: Default::default() }];
/// assert_eq!(eager_mib(&modules, Process { trim: Default::default(), baseline: 10 << 20, start_rss: 10 << 20, slack: 0.0 }), 100);
/// ```
pub fn eager_mib(modules: &[Module], process: Process) -> u64 {
    let bytes: u64 = modules.iter().map(|module| module.bytes).sum();
    let total = process.baseline + (bytes as f64 * (1.0 + process.slack)) as u64;
    total.div_ceil(1 << 20)
}

/// The smallest size of `table` that fits and adds at most `bound` of extra time.
///
/// ```
/// use lmms_replay::advise::{smallest, Sized};
/// use std::time::Duration;
/// let at = |memory_mib, extra_ms, peak_mib: u64| Sized {
///     memory_mib, budget: None, loads: 0, extra_loads: 0,
///     extra_time: Duration::from_millis(extra_ms), billed: Duration::ZERO, gb_seconds: 0.0,
///     peak: peak_mib << 20,
/// };
/// let table = [at(64, 900, 80), at(128, 500, 100), at(192, 50, 150), at(256, 0, 200)];
/// assert_eq!(smallest(&table, Duration::from_millis(100)).unwrap().memory_mib, 192);
/// ```
pub fn smallest(table: &[Sized], bound: Duration) -> Option<&Sized> {
    table
        .iter()
        .find(|sized| sized.fits() && sized.extra_time <= bound)
}

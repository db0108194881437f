//! The runtime behind [lmms](https://docs.rs/lmms): module state that is built on first
//! use, dropped when idle after a five-point safety check, operations that switch to a
//! direct call when hot and cache their results, all of it counted.
//!
//! Depend on the `lmms` facade crate rather than on this one; it re-exports everything
//! here.
//!
//! ```
//! use lmms::{Load, ModuleCell, ModuleDef};
//!
//! struct Geo { cities: Vec<&'static str> }
//! impl Load for Geo {
//!     type Error = std::convert::Infallible;
//!     fn load() -> Result<Self, Self::Error> {
//!         Ok(Geo { cities: vec!["Lisbon", "Oslo"] })
//!     }
//! }
//! static GEO: ModuleCell<Geo> = ModuleCell::new(ModuleDef::new("geo"));
//!
//! fn main() -> Result<(), lmms::Error> {
//!     assert_eq!(GEO.get()?.cities.len(), 2); // loaded here, on first use
//!     let report = lmms::sweep(); // kept: used less than 30 s ago
//!     assert_eq!(report.kept_because("geo"), Some(lmms::report::KeepReason::WithinGrace));
//!     println!("{}", lmms::stats());
//!     Ok(())
//! }
//! ```
//!
//! # How the crate is built
//!
//! In floors: a file imports only from the floors below it, so there is no import circle.
//! (`lib.rs` is the roof: it declares the files and the public modules `op`, `report`,
//! `registry` and `__private`, which re-export from them.)
//!
//! 0. Leaves. `sync`: std's or loom's primitives (a folder: what both builds share, the
//!    std file, the loom file), the one place the loom build differs.
//!    `trace`: the `tracing` events, or nothing. `clock`: the runtime's time. `memory`: the
//!    counting allocator and RSS. `name`: module names. `error`: every error. `join`:
//!    awaiting several futures at once. `gaps`: a module's idle gaps, as a histogram.
//! 1. Words and primitives. `def`: what a module and an operation are (`ModuleDef`,
//!    `OpDef`, `Class`). `outcome`: what a sweep or an unload answers. `heat`: heat levels
//!    and thresholds. `keepalive`: the adaptive keep-alive. `barrier`: the asymmetric
//!    fences. `defer`: drops postponed out of the cache's locks. `cycle`: the wait-for graph
//!    of loads.
//! 2. `cell`: the resettable state cell. `flight`: an async load, once however many tasks
//!    ask. `cache`: the result cache (a folder: the policy, the keys, the map). `dispatch`:
//!    the direct path and its retirement. `config`: the settings. `rule`: the unload rule,
//!    the five-point check over plain values, for every path that unloads.
//! 3. `info`: one module's bookkeeping. `stats`: the figures. `loom_tests`: the loom
//!    models of the cell, the cache and the direct path.
//! 4. `counters`: the running totals. `emf`: CloudWatch's metric format. `metrics`: the
//!    `metrics` facade.
//! 5. `context`: what every call reads of its runtime (`Context`), the runtime behind its
//!    handle (`RuntimeInner`: the context and the module list), and binding a static module
//!    or operation to its runtime.
//! 6. `hot`: heat counting, cooling, demotion and the hot-path cap. `sweep`: the
//!    unload rule applied to every resident module, in a sweep and when a load makes room
//!    in the memory budget.
//! 7. `module`: the module cell, how its state loads and unloads, its guards and pins (a
//!    folder of one file per question). `testing`: a fresh global runtime
//!    for each test (feature `testing`).
//! 8. `operation`: the typed operation and its managed call. `handle`: modules registered
//!    at run time. `probe`: the attributes' compile-time checks. `together`: loads started
//!    at once.
//! 9. `running`: the managed call in two halves, for `async fn`. `runtime`: the public
//!    runtime. `link`: what the attributes link into the binary.
//! 10. `builder`: settings by method, name or environment. `reaper`: the background
//!     sweeper. `lookup`: finding what is linked, by name.
//! 11. `json`: calls by name with JSON arguments.
//!
//! Under `--cfg loom` the whole crate is built, the same code on loom's primitives (every
//! difference is in `sync`), and its tests are the models in `loom_tests`, which check the
//! cell, the cache and the direct path.

#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod barrier;
mod builder;
mod cache;
mod cell;
mod clock;
mod config;
mod context;
mod counters;
mod cycle;
mod def;
mod defer;
mod dispatch;
#[cfg(feature = "json")]
mod emf;
mod error;
mod flight;
mod gaps;
mod handle;
mod heat;
mod hot;
mod info;
mod join;
#[cfg(feature = "json")]
mod json;
mod keepalive;
mod link;
mod lookup;
// The loom models: built for `--cfg loom` tests only.
#[cfg(all(test, loom))]
mod loom_tests;
pub mod memory;
#[cfg(feature = "metrics")]
mod metrics;
mod module;
mod name;
mod operation;
mod outcome;
mod probe;
mod reaper;
mod rule;
mod running;
mod runtime;
mod stats;
mod sweep;
mod sync;
#[cfg(feature = "testing")]
pub mod testing;
mod together;
mod trace;

pub use crate::{
    def::{Class, ModuleDef},
    error::{BoxError, CallError, Error},
    module::{AsyncLoad, Guard, Load, Module, ModuleCell},
    runtime::Runtime,
    stats::Stats,
};

/// How the runtime decides, and when: its settings ([`Config`](tuning::Config), built
/// by [`Builder`](tuning::Builder)), the heat thresholds of the hot path, the adaptive
/// keep-alive, the background sweeper, and the clock it reads.
///
/// ```
/// use lmms::tuning::{Adaptive, Thresholds};
/// let runtime = lmms::Runtime::builder()
///     .heat(Thresholds::default())
///     .adaptive(Adaptive::default())
///     .build()?;
/// # drop(runtime);
/// # Ok::<(), lmms::Error>(())
/// ```
pub mod tuning {
    pub use crate::builder::Builder;
    pub use crate::clock::{Clock, ManualClock};
    pub use crate::config::Config;
    pub use crate::heat::Thresholds;
    pub use crate::keepalive::Adaptive;
    pub use crate::reaper::Reaper;
}

/// Holding and loading module state beyond a [`Guard`]: a [`PinGuard`](state::PinGuard) that
/// keeps a module resident, a [`Dependent`](state::Dependent), loads started together,
/// a loader's scope for its helper threads, an async module's close, and modules
/// registered at run time ([`Handle`](state::Handle)).
///
/// ```
/// let runtime = lmms::Runtime::builder().build()?;
/// let words: lmms::state::Handle<Vec<&str>> =
///     runtime.register(lmms::ModuleDef::named("words"), || vec!["a"])?;
/// let pin: lmms::state::PinGuard<'_> = words.pin();
/// # drop(pin);
/// # Ok::<(), lmms::Error>(())
/// ```
pub mod state {
    pub use crate::cell::LoadScope;
    pub use crate::context::Closing;
    pub use crate::handle::Handle;
    pub use crate::module::{Dependent, PinGuard};
    pub use crate::together::{load_together, Preload};
}

/// Sweeps the global runtime: [`Runtime::sweep`] on [`Runtime::global`].
///
/// ```
/// let report = lmms::sweep();
/// assert!(report.unloaded.is_empty());
/// ```
pub fn sweep() -> report::SweepReport {
    Runtime::global().sweep()
}

/// The global runtime's figures: [`Runtime::stats`] on [`Runtime::global`], with every
/// `#[lmms::module]` linked into the binary and not yet used listed too, with its zeros
/// (a module joins the global runtime on its first use).
///
/// ```
/// assert_eq!(lmms::stats().loads, 0);
/// ```
pub fn stats() -> Stats {
    let mut stats = Runtime::global().stats();
    for link in crate::lookup::modules() {
        if !link.is_bound()
            && !stats
                .modules
                .iter()
                .any(|module| module.name == link.name())
        {
            stats.modules.push(link.stats());
        }
    }
    stats
}

/// Operations written by hand rather than with `#[lmms::operation]`: the descriptor,
/// the traits an operation implements, the managed call in two halves, and the result
/// cache.
///
/// ```
/// use lmms::op::{Body, Op, OpDef, Operation, Source};
///
/// struct Double;
/// impl Operation for Double {
///     type State = ();
///     type Args = u32;
///     type Output = u32;
///     fn source() -> Source<()> { Source::Stateless(&()) }
/// }
/// impl Body for Double {
///     fn run(_: &(), x: u32) -> u32 { 2 * x }
/// }
/// static DOUBLE: Op<Double> = Op::new(OpDef::new("math", "double"));
/// assert_eq!(DOUBLE.call(21)?, 42);
/// # Ok::<(), lmms::Error>(())
/// ```
pub mod op {
    pub use crate::cache::{
        ByClone, CacheKey, CachePolicy, Cached, CloneOutput, Lookup, NoCache, ResultCache,
    };
    pub use crate::def::OpDef;
    pub use crate::operation::{Body, Op, Operation, Source};
    pub use crate::running::{Begin, Running};
}

/// The figures in detail: each module's and operation's, a sweep's decisions, cache
/// counts and heat.
///
/// ```
/// let stats: lmms::Stats = lmms::stats();
/// let modules: &[lmms::report::ModuleStats] = &stats.modules;
/// assert!(modules.is_empty());
/// ```
pub mod report {
    pub use crate::cache::CacheCounts;
    #[cfg(feature = "json")]
    pub use crate::emf::{figures, Emf, Figure, FIGURE_NAMES};
    pub use crate::heat::Heat;
    pub use crate::name::Name;
    pub use crate::outcome::{KeepReason, Kept, SweepReport, Unload, Unloaded};
    pub use crate::stats::{Blocked, ModuleStats, OpStats};
}

/// What is linked into the binary, for tools: every operation and module, the
/// build-time tables, and the check that they agree.
///
/// ```
/// assert!(lmms::registry::check_registry().is_ok());
/// assert_eq!(lmms::registry::operations().count(), 0);
/// ```
pub mod registry {
    pub use crate::error::Drift;
    pub use crate::link::{ModuleLink, OpLink, Param, Table, TableEntry};
    pub use crate::lookup::{check_registry, lookup, modules, operations};
}

/// What the attributes' and the build script's generated code needs beyond the public
/// API.
#[doc(hidden)]
pub mod __private {
    pub use crate::cache::{cached_by, Cached, CloneOutput};
    pub use crate::def::{Class, ModuleDef, OpDef};
    pub use crate::error::{CallError, Error};
    #[cfg(feature = "json")]
    pub use crate::json::{
        not_callable, not_callable_async, ArgsNotSerde, AsyncJsonProbe, JsonProbe, NoAsyncJson,
        NoJson, OutputNotSerde, SerdeProbe,
    };
    #[cfg(feature = "json")]
    pub use crate::link::{AsyncJsonCall, JsonCall};
    pub use crate::link::{
        ModuleLink, OpLink, Param, Table, TableEntry, MODULES, OPERATIONS, TABLES,
    };
    pub use crate::lookup::{lookup, unknown_operation};
    pub use crate::module::{Guard, Module, ModuleCell};
    pub use crate::operation::{Body, Op, Operation, Source};
    pub use crate::outcome::Unload;
    pub use crate::probe::{
        new_cell, CachedOutput, Loads, LoadsWithoutAwait, ModuleState, NotModule, NotResult,
        NotState, OutputProbe, StateByReference, StateProbe, SyncProbe,
    };
    pub use crate::running::Begin;
    pub use crate::stats::ModuleStats;
    pub use linkme;
}

#[cfg(feature = "json")]
pub use crate::{
    error::ExecError,
    json::{execute, execute_async, execute_str},
};

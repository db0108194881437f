//! # lmms: a memory lifecycle for application state
//!
//! A Rust binary's code costs nothing until it runs; its *state* — clients, parsed tables,
//! compiled regexes, models — costs start-up time and memory from the moment it is built.
//! lmms manages that state the way the LMMS system manages Python modules in serverless
//! functions:
//!
//! - **load** (LIGS): a module's state is built on first use, never at start-up;
//! - **unload** (LUGS): idle state is dropped after a five-point safety check, and built
//!   again when it is needed — after a fixed grace period, or after a keep-alive each
//!   module earns from its own idle gaps and size ([`Adaptive`]);
//! - **reflex** (ZAFP): an [`Operation`] called often enough runs on its pinned module with
//!   no guard bookkeeping per call, until its heat cools;
//! - **cache**: an operation declared with a TTL answers repeated arguments without touching
//!   its module;
//! - **stats**: every decision is counted, and memory is measured, not estimated.
//!
//! ```
//! use lmms::{Load, ModuleCell, ModuleDef};
//!
//! struct Forecasts { table: Vec<u64> }
//!
//! impl Load for Forecasts {
//!     type Error = std::convert::Infallible;
//!     fn load() -> Result<Self, Self::Error> {
//!         Ok(Forecasts { table: (0..365).collect() })
//!     }
//! }
//!
//! static FORECASTS: ModuleCell<Forecasts> = ModuleCell::new(ModuleDef::new("forecasts"));
//!
//! fn forecast(day: usize) -> Result<u64, lmms::Error> {
//!     Ok(FORECASTS.get()?.table[day])
//! }
//!
//! assert_eq!(forecast(10)?, 10);
//! lmms::sweep(); // at the end of each invocation: unload what has been idle for 30 s
//! # Ok::<(), lmms::Error>(())
//! ```
//!
//! The runtime lives in [`lmms-runtime`](lmms_runtime); this crate re-exports it and is the
//! one to depend on.

#![deny(missing_docs)]

pub use lmms_runtime::*;

pub use lmms_macros::{module, operation};

/// Includes the operation registry `lmms-build` generated for this crate: a typed enum of
/// its operations, `OpName`, and its build-time table, `REGISTRY`. Put it once in the
/// crate, after calling `lmms_build::generate()` from `build.rs`.
///
/// ```ignore
/// // build.rs
/// fn main() {
///     lmms_build::generate().unwrap();
/// }
///
/// // src/main.rs
/// lmms::include_registry!();
///
/// fn route(operation: &str) -> Result<OpName, lmms_build::UnknownOperation> {
///     operation.parse() // "weather.forecast" → OpName::WeatherForecast
/// }
/// ```
#[macro_export]
macro_rules! include_registry {
    () => {
        ::core::include!(::core::concat!(
            ::core::env!("OUT_DIR"),
            "/lmms_registry.rs"
        ));
    };
}

/// An operation's registry entry, with its JSON entry point when the `json` feature is on.
#[cfg(feature = "json")]
#[doc(hidden)]
#[macro_export]
macro_rules! __json_link {
    ($link:expr, $op:ident) => {
        $link.json({
            fn json() -> ::core::option::Option<&'static dyn $crate::__private::JsonCall> {
                #[allow(unused_imports)]
                use $crate::__private::NoJson as _;
                $crate::__private::JsonProbe(&$op).json()
            }
            json
        })
    };
}

/// An operation's registry entry (the `json` feature is off: no JSON entry point).
#[cfg(not(feature = "json"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __json_link {
    ($link:expr, $op:ident) => {
        $link
    };
}

/// What the attributes' generated code uses; not part of the public API. (Absent from
/// loom builds, which model the runtime's cell and dispatch alone.)
#[cfg(not(loom))]
#[doc(hidden)]
pub mod __private {
    pub use lmms_runtime::__private::*;
    pub use lmms_runtime::{
        Begin, Body, Cached, CallError, Class, Error, Guard, Module, ModuleCell, ModuleDef,
        ModuleStats, NotState, Op, OpDef, Operation, Source, StateProbe, Unload,
    };
    pub use lmms_runtime::{ModuleLink, OpLink, Param, Table, TableEntry};
    pub use std::time::Duration;

    pub use crate::__json_link as json_link;

    /// How many results a `cache_ttl` operation keeps at most.
    pub const DEFAULT_CACHE_CAPACITY: u64 = 1024;
}

/// What lmms reports, and how to see it.
///
/// **Statistics** are always there: [`stats()`] is a [`Stats`] snapshot (a table when
/// printed, `serde::Serialize` with the `serde` feature), and [`Stats::since`] the
/// difference of two — what one invocation did.
///
/// **CloudWatch** (feature `json`): `Emf` renders a snapshot as one Embedded Metric Format
/// line; print it at the end of each invocation and CloudWatch records `Loads`,
/// `LoadFailures`, `Unloads`, `BytesLoaded`, `BytesReclaimed`, `ResidentModules`,
/// `ResidentBytes`, `HotPaths`, `CacheHits`, `CacheMisses`, `Promotions`, `Demotions`,
/// `Sweeps`, `LiveHeap` and `Rss` under your namespace and dimensions, with no agent
/// (`examples/lambda` does).
///
/// **tracing** (feature `tracing`): every lifecycle decision is an event under the target
/// `lmms` — a span `lmms.load` around each load (`module`, `class`); `loaded` (`module`,
/// `bytes`, `ms`); `load failed` (warn: `module`, `error`); `unloaded` (`module`, `bytes`,
/// `rss`); `kept by the sweep` (debug: `module`, `reason`); `promoted` and `demoted`
/// (`operation`, `from`, `to`, and for a demotion `why`); cache entries expired or evicted
/// (trace: `entries`). Calls themselves emit nothing, so the warm path costs the same with
/// the feature on. Without the feature there is no trace of it in the code.
///
/// **metrics** (feature `metrics`): at the end of every sweep (or on
/// `Runtime::publish_metrics`) the snapshot goes through the `metrics` facade, to whatever
/// exporter the application installed: counters `lmms_loads_total` and `lmms_unloads_total`
/// (label `module`), `lmms_load_failures_total`, `lmms_sweeps_total`,
/// `lmms_bytes_loaded_total`, `lmms_bytes_reclaimed_total`, `lmms_cache_hits_total`,
/// `lmms_cache_misses_total`, `lmms_promotions_total`, `lmms_demotions_total` (label
/// `operation`); gauges `lmms_resident_modules`, `lmms_resident_bytes`, `lmms_hot_paths`,
/// `lmms_live_heap_bytes`, `lmms_rss_bytes`. Never per call.
///
/// ```no_run
/// # #[cfg(feature = "tracing")]
/// # fn main() {
/// tracing_subscriber::fmt().with_max_level(tracing::Level::DEBUG).init();
/// // ... the application; a load then prints, for example:
/// // INFO lmms.load{module=weather class=Utility}: lmms: loaded module=weather bytes=2097200 ms=1.9
/// // DEBUG lmms: kept by the sweep module=weather reason=within grace
/// // INFO lmms: promoted operation=weather.forecast from="warm" to="hot"
/// # }
/// # #[cfg(not(feature = "tracing"))]
/// # fn main() {}
/// ```
pub mod observability {}

/// The README's code blocks, compiled and run as doc tests (they call by name, so they
/// need the `json` feature).
#[cfg(all(doctest, feature = "json"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

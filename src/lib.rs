//! # lmms: a memory lifecycle for application state
//!
//! A Rust binary's code costs nothing until it runs; its *state* — clients, parsed tables,
//! compiled regexes, models — costs start-up time and memory from the moment it is built.
//! lmms manages that state the way the LMMS system manages Python modules in serverless
//! functions:
//!
//! - **load**: a module's state is built on first use, never at start-up;
//! - **unload**: idle state is dropped after a five-point safety check, and built
//!   again when it is needed — after a fixed grace period, or after a keep-alive each
//!   module earns from its own idle gaps and size ([`tuning::Adaptive`]);
//! - **hot path**: an [`Operation`](crate::op::Operation) called often enough runs on its
//!   pinned module with no guard bookkeeping per call, until its heat cools;
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
//! # Where things are
//!
//! The root holds what every user writes: the attributes, [`Load`] and [`AsyncLoad`],
//! [`ModuleCell`] and [`ModuleDef`] for a module written by hand, [`Guard`], [`Runtime`],
//! [`Error`], [`sweep`] and [`stats`] (and, with the `json` feature, the calls by name).
//! The rest is in modules named for what they hold: [`tuning`] (settings, heat thresholds,
//! the adaptive keep-alive, the reaper, clocks), [`state`] (pins, dependents, loads
//! started together, run-time modules, async closes), [`report`] (what a sweep, an unload
//! or a snapshot answers), [`op`] (operations written by hand), [`registry`] (what is
//! linked into the binary), [`memory`] (the counting allocator) and `testing`.
//!
//! # For readers of the LMMS design
//!
//! lmms translates LMMS, which manages Python modules in serverless functions, and its
//! three mechanisms have plain names here: LIGS (lazy import) is **load on first use**,
//! LUGS (lazy unload with its five checks) is **unload when idle**, checked by a sweep,
//! and ZAFP (the fast path of hot operations) is the **hot path**. The seed's
//! `UNLOAD_DELAY` is the grace period, `MAX_RESIDENT_MODULES` the resident minimum (read as
//! a floor), `MAX_HOT_PATHS` the hot-path cap, its protection matrix the module
//! [`Class`], and `execute_operation(interface, operation, **kwargs)` the call by name,
//! `lmms::execute` (feature `json`). One difference in the call flow: lmms looks in an
//! operation's cache before its hot path, so that a hit never loads or pins a module.
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
/// The example needs a build script, so it is not a doc test here: it is compiled and
/// tested as the `lmms-fixture-app` crate (`fixtures/app`, its `route`).
///
/// ```ignore
/// // build.rs
/// fn main() {
///     lmms_build::generate().unwrap();
/// }
///
/// // src/lib.rs
/// lmms::include_registry!();
///
/// pub fn route(operation: &str) -> Result<OpName, lmms::Error> {
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
            fn json() -> ::core::result::Result<
                &'static dyn $crate::__private::JsonCall,
                ::std::string::String,
            > {
                #[allow(unused_imports)]
                use $crate::__private::{ArgsNotSerde as _, NoJson as _, OutputNotSerde as _};
                $crate::__private::JsonProbe(&$op).json().ok_or_else(|| {
                    let probe = $crate::__private::SerdeProbe(&$op);
                    $crate::__private::not_callable(probe.args(), probe.output())
                })
            }
            json
        })
    };
}

/// An `async fn` operation's registry entry, with its JSON entry point when the `json`
/// feature is on.
#[cfg(feature = "json")]
#[doc(hidden)]
#[macro_export]
macro_rules! __json_link_async {
    ($link:expr, $managed:ident, $op:ident) => {
        $link.json_async({
            fn json() -> ::core::result::Result<
                &'static dyn $crate::__private::AsyncJsonCall,
                ::std::string::String,
            > {
                #[allow(unused_imports)]
                use $crate::__private::{ArgsNotSerde as _, NoAsyncJson as _, OutputNotSerde as _};
                $crate::__private::AsyncJsonProbe::new($managed)
                    .json()
                    .ok_or_else(|| {
                        let probe = $crate::__private::SerdeProbe(&$op);
                        $crate::__private::not_callable_async(probe.args(), probe.output())
                    })
            }
            json
        })
    };
}

/// An `async fn` operation's registry entry (the `json` feature is off).
#[cfg(not(feature = "json"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __json_link_async {
    ($link:expr, $managed:ident, $op:ident) => {
        $link
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

/// What the attributes' generated code uses; not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use lmms_runtime::__private::*;
    pub use std::time::Duration;

    pub use crate::__json_link as json_link;
    pub use crate::__json_link_async as json_link_async;

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
/// **tracing** (feature `tracing`): every lifecycle decision is an event with structured
/// fields under the target `lmms`. Calls themselves emit nothing, so the warm path costs
/// the same with the feature on; without the feature there is no trace of it in the code.
///
/// | event | level | fields |
/// |---|---|---|
/// | a span around each load, `lmms.load` | info | `module`, `class` |
/// | load finished | info | `module`, `bytes`, `ms` |
/// | load failed / panicked | warn | `module`, `error` |
/// | unloaded | info | `module`, `bytes` (reclaimed), `rss` (after, where known) |
/// | kept by a sweep | debug | `module`, `reason` (the check that kept it) |
/// | promoted | info | `operation`, `from`, `to` (`warm`, `hot`, `critical`) |
/// | demoted | info | `operation`, `from`, `to`, `why` (`cooled` or `evicted by the hot-path cap`) |
/// | cache expired / evicted | trace | `operation`, `entries` |
/// | user code run by a result cache panicked (contained; the call ran uncached) | warn | `panics` |
/// | a reaper's sweep panicked (counted in `Stats::sweep_panics`; sweeping goes on) | warn | `error` |
///
/// **metrics** (feature `metrics`): at the end of every sweep (or on
/// `Runtime::publish_metrics`) the snapshot goes through the `metrics` facade, to whatever
/// exporter the application installed (Prometheus, StatsD, CloudWatch), never per call:
/// each counter is incremented by what it gained since the last publication (a recorder
/// that keeps totals sums them; one that prints and resets at each flush, as
/// `metrics_cloudwatch_embedded` does, prints the interval's), gauges are set to their
/// values now. Labels are bounded by the modules and operations the program declares. On
/// Lambda, `lmms-lambda`'s feature `metrics` puts an invocation's figures, unlabelled, on
/// the application's own `metrics_cloudwatch_embedded` line instead.
///
/// | name | kind | labels |
/// |---|---|---|
/// | `lmms_loads_total`, `lmms_unloads_total` | counter | `module` |
/// | `lmms_prewarms_total` (of the loads, those made ahead of a predicted use) | counter | `module` |
/// | `lmms_load_failures_total`, `lmms_sweeps_total` | counter | — |
/// | `lmms_bytes_loaded_total`, `lmms_bytes_reclaimed_total` | counter | — |
/// | `lmms_resident_modules`, `lmms_hot_paths` | gauge | — |
/// | `lmms_resident_bytes`, `lmms_live_heap_bytes`, `lmms_rss_bytes` | gauge (where measured) | — |
/// | `lmms_cache_hits_total`, `lmms_cache_misses_total` | counter | `operation` |
/// | `lmms_promotions_total`, `lmms_demotions_total` | counter | `operation` |
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

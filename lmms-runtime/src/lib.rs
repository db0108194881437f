//! The runtime behind [lmms](https://docs.rs/lmms): module state that is built on first
//! use (LIGS), dropped when idle after a five-point safety check (LUGS), operations that
//! switch to a direct call when hot (ZAFP) and cache their results, all of it counted.
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
//!     assert_eq!(GEO.get()?.cities.len(), 2); // LIGS: built here, on first use
//!     let report = lmms::sweep(); // LUGS: kept, used less than 30 s ago
//!     assert_eq!(report.kept_because("geo"), Some(lmms::KeepReason::WithinGrace));
//!     println!("{}", lmms::stats());
//!     Ok(())
//! }
//! ```

#![deny(missing_docs)]
#![cfg_attr(loom, allow(dead_code, unused_imports))]

mod barrier;
mod cache;
mod cell;
mod cycle;
mod defer;
mod dispatch;
mod sync;

#[cfg(not(loom))]
mod clock;
#[cfg(not(loom))]
mod config;
#[cfg(all(not(loom), feature = "json"))]
mod emf;
#[cfg(not(loom))]
mod error;
#[cfg(not(loom))]
mod heat;
#[cfg(all(not(loom), feature = "json"))]
mod json;
#[cfg(not(loom))]
mod keepalive;
#[cfg(not(loom))]
pub mod memory;
#[cfg(all(not(loom), feature = "metrics"))]
mod metrics;
#[cfg(not(loom))]
mod module;
#[cfg(not(loom))]
mod name;
#[cfg(not(loom))]
mod operation;
#[cfg(not(loom))]
mod policy;
#[cfg(not(loom))]
mod reaper;
#[cfg(not(loom))]
mod registry;
#[cfg(not(loom))]
mod runtime;
#[cfg(not(loom))]
mod stats;
mod trace;

pub use crate::cell::LoadScope;
#[cfg(not(loom))]
pub use crate::{
    cache::{CacheCounts, CacheKey, CachePolicy, Cached, NoCache, ResultCache},
    clock::{Clock, ManualClock},
    config::{parse_duration, Builder, Config},
    error::{BoxError, CallError, Error},
    heat::{Heat, Thresholds},
    keepalive::Adaptive,
    module::{
        Class, Dependent, Guard, Handle, Load, Module, ModuleCell, ModuleDef, NotState, Pin,
        StateByReference, StateProbe,
    },
    name::Name,
    operation::{Begin, Body, Op, OpDef, Operation, Running, Source},
    policy::{KeepReason, Kept, SweepReport, Unload, Unloaded},
    reaper::Reaper,
    registry::{
        check_registry, lookup, modules, operations, Drift, ModuleLink, OpLink, Param, Table,
        TableEntry,
    },
    runtime::Runtime,
    stats::{Blocked, ModuleStats, OpStats, Stats},
};

#[cfg(all(not(loom), feature = "json"))]
pub use crate::{
    emf::Emf,
    json::{execute, execute_str, ExecError},
};

/// What the attributes' generated code needs beyond the public API.
#[cfg(not(loom))]
#[doc(hidden)]
pub mod __private {
    #[cfg(feature = "json")]
    pub use crate::json::{JsonCall, JsonProbe, NoJson};
    pub use crate::registry::{unknown_operation, MODULES, OPERATIONS, TABLES};
    pub use linkme;
}

/// Sweeps the global runtime: [`Runtime::sweep`] on [`Runtime::global`].
///
/// ```
/// let report = lmms::sweep();
/// assert!(report.unloaded.is_empty());
/// ```
#[cfg(not(loom))]
pub fn sweep() -> SweepReport {
    Runtime::global().sweep()
}

/// The global runtime's figures: [`Runtime::stats`] on [`Runtime::global`].
///
/// ```
/// assert_eq!(lmms::stats().loads, 0);
/// ```
#[cfg(not(loom))]
pub fn stats() -> Stats {
    Runtime::global().stats()
}

/// The cell alone, for the loom models in `tests/loom.rs`.
#[cfg(loom)]
#[doc(hidden)]
pub mod __loom {
    pub use crate::cache::{CachePolicy, Cached, ResultCache};
    pub use crate::cell::{CellGuard, LoadFailure, StateCell, Take};
    pub use crate::defer::inside;
    pub use crate::dispatch::{drain, Direct, Retiring};
}

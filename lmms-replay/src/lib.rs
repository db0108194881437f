//! Real serverless traces, read into one shape for replays through the lmms runtime: the
//! Azure Functions 2019 format (per-minute counts, durations, memory per app) and the Azure
//! Functions 2021 format (one row per invocation).
//!
//! ```
//! let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/azure2019-100");
//! let trace = lmms_replay::azure2019::read(&dir, 7)?;
//! assert_eq!(trace.invocations.len(), 621_128);
//! assert_eq!(trace.apps.len(), 100);
//! # Ok::<(), lmms_replay::TraceError>(())
//! ```

#![deny(missing_docs)]

pub mod advise;
pub mod azure2019;
pub mod azure2021;
mod error;
mod front;
mod hybrid;
mod replay;
mod trace;
mod validate;
mod verdict;

pub use crate::error::TraceError;
pub use crate::front::Front;
pub use crate::hybrid::Hybrid;
pub use crate::replay::{replay, Outcome, Policy, SWEEP_EVERY_MS};
pub use crate::trace::{App, Function, Invocation, Trace};
pub use crate::validate::{
    before_issue_32, choose, halves, k_fold, prewarming, priced, Fold, BREAK_EVENS,
    PREWARM_PERCENT, PRICES, TYPICAL_BREAK_EVENS,
};
pub use crate::verdict::Verdict;

//! Lifecycle events for [`tracing`](https://docs.rs/tracing) (feature `tracing`). Without
//! the feature these macros expand to nothing: no code, no argument evaluated.
//!
//! Every decision is an event with structured fields, under the target `lmms`:
//!
//! | event | level | fields |
//! |---|---|---|
//! | a span around each load, `lmms.load` | info | `module`, `class` |
//! | load finished | info | `module`, `bytes`, `ms` |
//! | load failed / panicked | warn | `module`, `error` |
//! | unloaded | info | `module`, `bytes` (reclaimed), `rss` (after, where known) |
//! | kept by a sweep | debug | `module`, `reason` (the check that kept it) |
//! | promoted | info | `operation`, `from`, `to` (`warm`, `hot`, `critical`) |
//! | demoted | info | `operation`, `from`, `to`, `why` (`cooled` or `evicted by the hot-path cap`) |
//! | cache expired / evicted | trace | `operation`, `entries` |
//! | user code run by a result cache panicked (contained; the call ran uncached) | warn | `panics` |
//! | a reaper's sweep panicked (counted in `Stats::sweep_panics`; sweeping goes on) | warn | `error` |

/// An event, or nothing without the `tracing` feature.
macro_rules! event {
    ($($arg:tt)*) => {
        #[cfg(feature = "tracing")]
        {
            ::tracing::event!(target: "lmms", $($arg)*);
        }
    };
}

pub(crate) use event;

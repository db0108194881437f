//! Lifecycle events for [`tracing`](https://docs.rs/tracing) (feature `tracing`). Without
//! the feature these macros expand to nothing: no code, no argument evaluated.
//!
//! The events and their fields are listed once, in the `lmms::observability` docs.

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

//! The opt-in background sweeper, for long-running processes. On Lambda, where a frozen
//! sandbox runs no thread, call [`Runtime::sweep`] at the end of each invocation instead.

use crate::error::Error;
use crate::runtime::Runtime;
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// A thread that sweeps its runtime at a fixed interval until dropped; dropping it stops
/// the thread and waits for it.
///
/// ```
/// let runtime = lmms::Runtime::builder().build()?;
/// let reaper = runtime.start_reaper(std::time::Duration::from_millis(10))?;
/// std::thread::sleep(std::time::Duration::from_millis(50));
/// drop(reaper);
/// assert!(runtime.stats().sweeps >= 1);
/// # Ok::<(), lmms::Error>(())
/// ```
#[derive(Debug)]
#[must_use = "the reaper stops when dropped"]
pub struct Reaper {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Runtime {
    /// Starts a [`Reaper`] that sweeps every `every` of real time (whatever the runtime's
    /// clock). Fails on a zero interval, or if the thread cannot be spawned.
    ///
    /// ```
    /// let runtime = lmms::Runtime::builder().build()?;
    /// assert!(runtime.start_reaper(std::time::Duration::ZERO).is_err());
    /// # Ok::<(), lmms::Error>(())
    /// ```
    pub fn start_reaper(&self, every: Duration) -> Result<Reaper, Error> {
        if every.is_zero() {
            return Err(Error::invalid(
                "reaper interval",
                "a zero interval would sweep without pause; use at least a millisecond",
            ));
        }
        let (stop, stopped) = mpsc::channel::<()>();
        let runtime = self.clone();
        let thread = thread::Builder::new()
            .name("lmms-reaper".to_owned())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    // A panicking sweep is counted (`Stats::sweep_panics`) and reported;
                    // the next one runs as usual.
                    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| runtime.sweep())) {
                        let message = crate::error::into_message(payload);
                        // The report itself goes through the same user code that panicked.
                        crate::error::quietly(|| {
                            crate::trace::event!(tracing::Level::WARN, error = %message, "a sweep of the reaper panicked; sweeping goes on");
                        });
                        drop(message);
                    }
                }
            })
            .map_err(Error::ReaperSpawn)?;
        Ok(Reaper {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

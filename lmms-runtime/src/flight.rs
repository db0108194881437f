//! One async load at a time per module, however many tasks ask: the first caller leads the
//! load, the others wait for it without blocking a thread, and a cancelled leader hands
//! the load to the next waiter.
//!
//! The anchors are `tokio::sync::OnceCell::get_or_try_init` (a cancelled initialiser's turn
//! passes to the next caller) and moka's coalescing `get_with` (one failure is every
//! waiter's answer). The lock here is held only to read or change the flight's state, never
//! across an `.await`; waiters sleep on an [`Event`], which any executor can wake.
//!
//! Each load has its own number in the wait-for graph of `cycle`, a child of the load whose
//! poll started it; a load that waits for another module's load is recorded there, so
//! that a wait for the waiter's own load or an ancestor's, directly or through other
//! loads' waits on any task or thread, is refused instead of waiting for ever. Siblings
//! (two gets joined in one loader) wait for each other as any two tasks do.

use crate::cycle;
use crate::error::BoxError;
use crate::sync::{lock, Event, Mutex};
use std::fmt;
use std::sync::Arc;

/// Why an async load produced no state: what each of the tasks that waited for it gets.
#[derive(Clone)]
pub(crate) enum Failure {
    /// The loader returned an error, shared by every waiter.
    Failed(Arc<BoxError>),
    /// The loader panicked, with this message.
    Panicked(String),
}

/// The error of one failed load, as each task that waited for it sees it.
pub(crate) struct SharedError(pub(crate) Arc<BoxError>);

impl fmt::Debug for SharedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self.0, f)
    }
}

impl fmt::Display for SharedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self.0, f)
    }
}

impl std::error::Error for SharedError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// A module's async loads: who runs one now, and how the last one ended.
pub(crate) struct Flight {
    state: Mutex<State>,
    ended: Event,
}

struct State {
    /// The number of the load a task runs now (see `cycle`), or 0 when none runs.
    leader: usize,
    /// Loads that ran to their end, with a state or a failure; a cancelled one does not
    /// count.
    ended: u64,
    /// How the last ended load failed, if it did: the answer of the tasks that waited for
    /// that load, and of no other.
    failure: Option<Failure>,
}

/// What [`Flight::turn`] gives a caller that found the cell empty.
pub(crate) enum Turn<'a> {
    /// No load runs: this caller runs it, and ends it with [`Leading::end`].
    Lead(Leading<'a>),
    /// A load this caller waited for ended: with this failure, or (`None`) with a state,
    /// which the caller looks for again (it may have been unloaded since).
    Ended(Option<Failure>),
    /// Waiting would wait for the waiter's own load or an ancestor's.
    Cycle,
}

impl Flight {
    crate::sync::const_fn! {
        pub const fn new() -> Self {
            Flight {
                state: Mutex::new(State {
                    leader: 0,
                    ended: 0,
                    failure: None,
                }),
                ended: Event::new(),
            }
        }
    }

    /// Waits until this caller may run the load of `cell` (its address, for the wait-for
    /// graph) or a load it waited for has ended. Cancel-safe: a caller dropped while it
    /// waits leaves nothing behind.
    pub(crate) async fn turn(&self, cell: usize) -> Turn<'_> {
        let mut seen = None;
        loop {
            let listener = {
                let mut state = lock(&self.state);
                match seen {
                    // The load waited for ended, and it was the last to.
                    Some(seen) if state.ended == seen + 1 => {
                        return Turn::Ended(state.failure.clone())
                    }
                    // Later loads ended too: how the awaited one ended is not known, so
                    // the caller looks again rather than answer with another's failure.
                    Some(seen) if state.ended != seen => return Turn::Ended(None),
                    _ => {}
                }
                if state.leader == 0 {
                    // Registered before the lock is released: a waiter that sees the
                    // flight led finds its load in the graph.
                    let loading = cycle::Loading::start(cell);
                    state.leader = loading.number();
                    return Turn::Lead(Leading {
                        flight: self,
                        failure: None,
                        ended: false,
                        loading: Some(loading),
                    });
                }
                seen.get_or_insert(state.ended);
                // Listening before the lock is released: an end after this wakes it.
                (self.ended.listen(), state.leader)
            };
            let (listener, awaited) = listener;
            let _waiting = match cycle::Waiting::start(cell, awaited) {
                Ok(waiting) => waiting,
                Err(cycle::Cycle) => return Turn::Cycle,
            };
            listener.await;
        }
    }

    /// Whether a task runs the load now (a snapshot).
    pub(crate) fn is_leading(&self) -> bool {
        lock(&self.state).leader != 0
    }
}

/// The right to run a module's load, held by the task that runs it. Dropped without
/// [`end`](Leading::end) — the task was cancelled, or the load turned out not to be needed
/// — it hands the turn to the next waiter; a cell is never left "loading".
pub(crate) struct Leading<'a> {
    flight: &'a Flight,
    failure: Option<Failure>,
    ended: bool,
    /// `Some` until dropped: out of the graph before the next leader is let in.
    loading: Option<cycle::Loading>,
}

impl Leading<'_> {
    /// Runs one poll of the loader as this load's code (see `cycle::running`).
    pub(crate) fn polling<R>(&self, poll: impl FnOnce() -> R) -> R {
        let load = self.loading.as_ref().map_or(0, cycle::Loading::number);
        cycle::running(load, poll)
    }

    /// Ends the load: with its failure, or with `None` once the state is in the cell.
    pub(crate) fn end(mut self, failure: Option<Failure>) {
        self.failure = failure;
        self.ended = true;
    }
}

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        let mut state = lock(&self.flight.state);
        drop(self.loading.take());
        state.leader = 0;
        if self.ended {
            state.ended += 1;
            state.failure = self.failure.take();
        }
        drop(state);
        self.flight.ended.notify(usize::MAX);
    }
}

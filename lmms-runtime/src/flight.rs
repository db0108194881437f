//! One async load at a time per module, however many tasks ask: the first caller leads the
//! load, the others wait for it without blocking a thread, and a cancelled leader hands
//! the load to the next waiter.
//!
//! The anchors are `tokio::sync::OnceCell::get_or_try_init` (a cancelled initialiser's turn
//! passes to the next caller) and moka's coalescing `get_with` (one failure is every
//! waiter's answer). The lock here is held only to read or change the flight's state, never
//! across an `.await`; waiters sleep on an [`Event`], which any executor can wake.
//!
//! A load that waits for another module's load is recorded in the wait-for graph of
//! `cycle`, by the number of the task's outermost load (its *root*): two tasks whose
//! loaders each wait for the other's module are told so instead of waiting for ever, and a
//! loader that reaches its own module (directly, or through the loads it polls inline) is
//! told at once.

use crate::cycle;
use crate::error::BoxError;
use crate::sync::{local, lock, Mutex};
use event_listener::Event;
use std::cell::Cell;
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
    /// The root of the task running the load now, or 0 when none is.
    leader: usize,
    /// Loads that ran to their end, with a state or a failure; a cancelled one does not
    /// count.
    ended: u64,
    /// How the last ended load failed, if it did.
    failure: Option<Failure>,
}

/// What [`Flight::turn`] gives a caller that found the cell empty.
pub(crate) enum Turn<'a> {
    /// No load runs: this caller runs it, and ends it with [`Leading::end`].
    Lead(Leading<'a>),
    /// A load this caller waited for ended: with this failure, or (`None`) with a state,
    /// which the caller looks for again (it may have been unloaded since).
    Ended(Option<Failure>),
    /// Waiting would wait for this task's own load.
    Cycle,
}

impl Flight {
    crate::sync::const_fn! {
        pub fn new() -> Self {
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
        let root = root();
        let mut seen = None;
        loop {
            let listener = {
                let mut state = lock(&self.state);
                if seen.is_some_and(|seen| seen != state.ended) {
                    return Turn::Ended(state.failure.clone());
                }
                if state.leader == 0 {
                    // A load polled inside another load's poll belongs to the same task.
                    let leader = if root == 0 {
                        cycle::next_number()
                    } else {
                        root
                    };
                    state.leader = leader;
                    return Turn::Lead(Leading {
                        flight: self,
                        leader,
                        failure: None,
                        ended: false,
                        _loading: cycle::Loading::start(cell, leader),
                    });
                }
                if root != 0 && state.leader == root {
                    return Turn::Cycle;
                }
                seen.get_or_insert(state.ended);
                // Listening before the lock is released: an end after this wakes it.
                self.ended.listen()
            };
            // Only a task inside a load can close a cycle: nothing waits for any other.
            let _waiting = match root {
                0 => None,
                root => match cycle::Waiting::start(cell, root, 0) {
                    Ok(waiting) => Some(waiting),
                    Err(cycle::Cycle) => return Turn::Cycle,
                },
            };
            listener.await;
        }
    }
}

/// The right to run a module's load, held by the task that runs it. Dropped without
/// [`end`](Leading::end) — the task was cancelled, or the load turned out not to be needed
/// — it hands the turn to the next waiter; a cell is never left "loading".
pub(crate) struct Leading<'a> {
    flight: &'a Flight,
    leader: usize,
    failure: Option<Failure>,
    ended: bool,
    _loading: cycle::Loading,
}

impl Leading<'_> {
    /// The root this load's loader is polled under (see [`polling`]).
    pub(crate) fn root(&self) -> usize {
        self.leader
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
        state.leader = 0;
        if self.ended {
            state.ended += 1;
            state.failure = self.failure.take();
        }
        drop(state);
        self.flight.ended.notify(usize::MAX);
    }
}

local! {
    /// The root of the load whose loader this thread is polling now, or 0.
    static ROOT: Cell<usize> = const { Cell::new(0) };
}

fn root() -> usize {
    ROOT.try_with(Cell::get).unwrap_or(0)
}

/// Runs `poll` (one poll of a loader) as part of the load rooted at `leader`, unless this
/// thread is already polling a load: then it is part of that one, the task's outermost.
pub(crate) fn polling<R>(leader: usize, poll: impl FnOnce() -> R) -> R {
    /// Restores the thread's earlier root, on return or unwind.
    struct Restore(usize);
    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = ROOT.try_with(|root| root.set(self.0));
        }
    }
    let earlier = root();
    let _restore = Restore(earlier);
    if earlier == 0 {
        let _ = ROOT.try_with(|root| root.set(leader));
    }
    poll()
}

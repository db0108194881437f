//! Load cycles across threads: which thread is running which cell's loader, and which cell
//! each blocked thread waits for, so that a wait that would close a cycle is refused.
//!
//! Within one thread a loader that reaches its own cell is caught by the cell's loader
//! token. Across threads the same cycle is two loaders each waiting for the other's cell:
//! thread 1 loads A, whose loader needs B, while thread 2 loads B, whose loader needs A.
//! Each thread registers its load before running the loader and its wait before blocking,
//! both under one lock; the last thread of a cycle to ask therefore finds the whole chain
//! (the cell it wants is loaded by a thread that waits for a cell loaded by ... itself) and
//! is answered "re-entrant" instead of blocking. Its loader fails, its cell's lock is
//! released, and the others go on.
//!
//! Cells and threads are numbers here: a cell's address (stable while it is registered) and
//! the cell module's thread number. Only the slow path of a load touches this.

use crate::sync::{Mutex, MutexGuard};

#[derive(Default)]
struct Graph {
    /// (cell, thread): the thread is running the cell's loader.
    loading: Vec<(usize, usize)>,
    /// (thread, cell): the thread is blocked until the cell's loader is done.
    waiting: Vec<(usize, usize)>,
}

impl Graph {
    fn loader_of(&self, cell: usize) -> Option<usize> {
        self.loading
            .iter()
            .find(|&&(loading, _)| loading == cell)
            .map(|&(_, thread)| thread)
    }

    fn awaited_by(&self, thread: usize) -> Option<usize> {
        self.waiting
            .iter()
            .find(|&&(waiting, _)| waiting == thread)
            .map(|&(_, cell)| cell)
    }
}

fn graph() -> MutexGuard<'static, Graph> {
    crate::sync::global! {
        static GRAPH: Mutex<Graph> = Mutex::new(Graph {
            loading: Vec::new(),
            waiting: Vec::new(),
        });
    }
    crate::sync::lock(&GRAPH)
}

/// A thread's load of a cell, registered until dropped.
pub(crate) struct Loading(usize);

impl Loading {
    pub(crate) fn start(cell: usize, thread: usize) -> Loading {
        graph().loading.push((cell, thread));
        Loading(cell)
    }
}

impl Drop for Loading {
    fn drop(&mut self) {
        let mut graph = graph();
        if let Some(at) = graph.loading.iter().position(|&(cell, _)| cell == self.0) {
            graph.loading.swap_remove(at);
        }
    }
}

/// A thread's wait for a cell, registered until dropped.
pub(crate) struct Waiting(usize);

/// Waiting would close a cycle of loads.
pub(crate) struct Cycle;

impl Waiting {
    /// Registers that `thread` is about to block on `cell`, unless the chain of waits from
    /// `cell`'s loader leads back to `thread`, or to the thread whose loads it works for
    /// (`acting`, 0 for none: see `LoadScope`).
    pub(crate) fn start(cell: usize, thread: usize, acting: usize) -> Result<Waiting, Cycle> {
        let mut graph = graph();
        let mut wanted = cell;
        // Each step moves to another waiting thread, and a thread waits for one cell: the
        // chain is no longer than the waiting threads.
        for _ in 0..=graph.waiting.len() {
            let Some(loader) = graph.loader_of(wanted) else {
                break;
            };
            if loader == thread || (acting != 0 && loader == acting) {
                return Err(Cycle);
            }
            let Some(next) = graph.awaited_by(loader) else {
                break;
            };
            wanted = next;
        }
        graph.waiting.push((thread, cell));
        Ok(Waiting(thread))
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let mut graph = graph();
        if let Some(at) = graph
            .waiting
            .iter()
            .position(|&(thread, _)| thread == self.0)
        {
            graph.waiting.swap_remove(at);
        }
    }
}

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
//! Async loads take part as tasks: a task's number is that of its outermost load (its
//! root, see `flight`), drawn from the same counter as the threads' numbers, and one task
//! may wait for several cells at once (a loader that joins two gets).
//!
//! Cells and threads are numbers here: a cell's address (stable while it is registered) and
//! a thread's or task's number. Only the slow path of a load touches this.

use crate::sync::{AtomicUsize, Mutex, MutexGuard};
use std::sync::atomic::Ordering::Relaxed;

#[derive(Default)]
struct Graph {
    /// (cell, thread): the thread is running the cell's loader.
    loading: Vec<(usize, usize)>,
    /// (thread, cell): the thread (or task) is blocked until the cell's loader is done.
    waiting: Vec<(usize, usize)>,
}

impl Graph {
    fn loader_of(&self, cell: usize) -> Option<usize> {
        self.loading
            .iter()
            .find(|&&(loading, _)| loading == cell)
            .map(|&(_, thread)| thread)
    }

    /// Whether the chain of loads and waits from `cell` reaches `thread` (or `acting`, if
    /// not 0): a depth-first walk, each waiting thread or task visited once.
    fn leads_to(&self, cell: usize, thread: usize, acting: usize) -> bool {
        let mut cells = vec![cell];
        let mut visited = Vec::new();
        while let Some(cell) = cells.pop() {
            let Some(loader) = self.loader_of(cell) else {
                continue;
            };
            if loader == thread || (acting != 0 && loader == acting) {
                return true;
            }
            if visited.contains(&loader) {
                continue;
            }
            visited.push(loader);
            cells.extend(
                self.waiting
                    .iter()
                    .filter(|&&(waiting, _)| waiting == loader)
                    .map(|&(_, cell)| cell),
            );
        }
        false
    }
}

/// A number unique among live threads and async loads: a thread's, from 1 in the order
/// threads first touch a cell, or an async load's.
pub(crate) fn next_number() -> usize {
    crate::sync::global! {
        static NEXT: AtomicUsize = AtomicUsize::new(1);
    }
    NEXT.fetch_add(1, Relaxed)
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

/// A thread's (or task's) wait for a cell, registered until dropped.
pub(crate) struct Waiting {
    thread: usize,
    cell: usize,
}

/// Waiting would close a cycle of loads.
pub(crate) struct Cycle;

impl Waiting {
    /// Registers that `thread` is about to block on `cell`, unless the chain of waits from
    /// `cell`'s loader leads back to `thread`, or to the thread whose loads it works for
    /// (`acting`, 0 for none: see `LoadScope`).
    pub(crate) fn start(cell: usize, thread: usize, acting: usize) -> Result<Waiting, Cycle> {
        let mut graph = graph();
        if graph.leads_to(cell, thread, acting) {
            return Err(Cycle);
        }
        graph.waiting.push((thread, cell));
        Ok(Waiting { thread, cell })
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let mut graph = graph();
        let me = (self.thread, self.cell);
        if let Some(at) = graph.waiting.iter().position(|&wait| wait == me) {
            graph.waiting.swap_remove(at);
        }
    }
}

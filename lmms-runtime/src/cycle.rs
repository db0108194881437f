//! The wait-for graph of loads: which load builds which cell, which load each started in,
//! and which cells each load waits for, so that a wait that would close a cycle is refused.
//!
//! Every load, sync or async, has a number of its own and a parent: the load that was
//! running on the thread when it started (0 for none). A sync load runs its loader on the
//! thread; an async load's loader runs in the polls of the task that leads it, so a load
//! started inside another's poll (a loader that joins two gets, or calls `load_together`)
//! is that load's child. [`current`] is the load whose code this thread runs now: set by
//! [`running`] for a sync loader or one poll of an async one, and by a helper thread that
//! entered a load's `LoadScope`.
//!
//! A wait is re-entrant only when the load it waits for is the waiter's own or one of its
//! ancestors: those cannot end before the waiter does. Siblings and cousins wait for each
//! other. Across loads the same cycle is longer: A's loader waits for B, whose loader
//! waits for A. A load cannot end before the loads it waits for, nor before its children
//! (they run inside it), so the walk from the cell a load would wait for follows its
//! loader, then every cell that loader or one of its descendants waits for, and refuses
//! the wait if it reaches the waiter or an ancestor. Loads and waits are registered under
//! one lock before anyone blocks, so the last wait of a cycle finds the whole chain.
//!
//! Every wait lmms makes is here: a thread blocked on a sync cell's lock and a task
//! waiting for an async load alike, so a cycle through both (a sync loader that blocks on
//! an async module whose loader gets the sync one) is refused like any other. A wait made
//! outside every load (`current() == 0`) is not recorded: nothing waits for such a caller.
//!
//! Cells and loads are numbers here: a cell's address (stable while it is registered) and a
//! load's number. Only the slow path of a load touches this.

use crate::sync::{local, AtomicUsize, Mutex, MutexGuard};
use std::cell::Cell;
use std::sync::atomic::Ordering::Relaxed;

/// A load in progress.
#[derive(Clone, Copy)]
struct Running {
    cell: usize,
    load: usize,
    /// The load it started in, or 0.
    parent: usize,
}

#[derive(Default)]
struct Graph {
    loading: Vec<Running>,
    waiting: Vec<Wait>,
}

/// A load (or a helper in its scope) blocked until a load of a cell is done.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Wait {
    load: usize,
    cell: usize,
    /// The load of `cell` it waits for: once that one has ended, the wait waits for no
    /// later load of the cell, though it stays registered until its waiter runs again.
    awaited: usize,
}

impl Graph {
    fn loader_of(&self, cell: usize) -> Option<usize> {
        self.loading
            .iter()
            .find(|running| running.cell == cell)
            .map(|running| running.load)
    }

    fn parent_of(&self, load: usize) -> usize {
        self.loading
            .iter()
            .find(|running| running.load == load)
            .map_or(0, |running| running.parent)
    }

    /// Whether `ancestor` is `load` or one of the loads it started in.
    fn within(&self, mut load: usize, ancestor: usize) -> bool {
        // Parents are registered before their children, so the chain ends; the bound is
        // for a graph that a bug left inconsistent.
        for _ in 0..=self.loading.len() {
            if load == 0 {
                return false;
            }
            if load == ancestor {
                return true;
            }
            load = self.parent_of(load);
        }
        false
    }

    /// Whether waiting for `cell` would wait, through loads and their waits, for `waiter`
    /// or one of its ancestors: a depth-first walk, each load visited once.
    fn leads_to(&self, cell: usize, awaited: usize, waiter: usize) -> bool {
        let mut cells = vec![(cell, awaited)];
        let mut visited = Vec::new();
        while let Some((cell, awaited)) = cells.pop() {
            let Some(loader) = self.loader_of(cell).filter(|&loader| loader == awaited) else {
                continue;
            };
            if self.within(waiter, loader) {
                return true;
            }
            if visited.contains(&loader) {
                continue;
            }
            visited.push(loader);
            // The loader ends only once its own waits and its children's have.
            cells.extend(
                self.waiting
                    .iter()
                    .filter(|wait| self.within(wait.load, loader))
                    .map(|wait| (wait.cell, wait.awaited)),
            );
        }
        false
    }
}

/// A number unique in the process: a load's, or a thread's (for its guard-count stripe).
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

local! {
    /// The load whose code this thread runs now (see the module docs), or 0.
    static CURRENT: Cell<usize> = const { Cell::new(0) };
}

/// The load whose code this thread runs now, or 0.
pub(crate) fn current() -> usize {
    CURRENT.try_with(Cell::get).unwrap_or(0)
}

/// Runs `f` as the code of `load` (a loader, one poll of one, or a helper in its scope);
/// the thread's earlier load is restored on return or unwind.
pub(crate) fn running<R>(load: usize, f: impl FnOnce() -> R) -> R {
    /// Restores the thread's earlier load.
    struct Restore(usize);
    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = CURRENT.try_with(|current| current.set(self.0));
        }
    }
    let _restore = Restore(
        CURRENT
            .try_with(|current| current.replace(load))
            .unwrap_or(0),
    );
    f()
}

/// Whether `load` is the load running here now or one of its ancestors: a wait for it
/// would wait for itself.
pub(crate) fn is_own(load: usize) -> bool {
    let current = current();
    load != 0 && (load == current || (current != 0 && graph().within(current, load)))
}

/// A load of a cell, registered until dropped.
pub(crate) struct Loading {
    load: usize,
}

impl Loading {
    /// Registers a new load of `cell`, started in the load running here now.
    pub(crate) fn start(cell: usize) -> Loading {
        let load = next_number();
        let parent = current();
        graph().loading.push(Running { cell, load, parent });
        Loading { load }
    }

    /// The load's number, to run its code under (see [`running`]).
    pub(crate) fn number(&self) -> usize {
        self.load
    }
}

impl Drop for Loading {
    fn drop(&mut self) {
        let mut graph = graph();
        if let Some(at) = graph
            .loading
            .iter()
            .position(|running| running.load == self.load)
        {
            graph.loading.swap_remove(at);
        }
    }
}

/// A load's wait for a cell, registered until dropped.
pub(crate) struct Waiting(Wait);

/// Waiting would close a cycle of loads.
pub(crate) struct Cycle;

impl Waiting {
    /// Registers that the load running here now is about to wait for `cell`'s load
    /// `awaited`, unless the chain of waits from it leads back to the waiter or to one of
    /// its ancestors. Outside every load there is nothing to register (`None`): nothing
    /// waits for it.
    pub(crate) fn start(cell: usize, awaited: usize) -> Result<Option<Waiting>, Cycle> {
        let load = current();
        if load == 0 {
            return Ok(None);
        }
        let mut graph = graph();
        if graph.leads_to(cell, awaited, load) {
            return Err(Cycle);
        }
        let wait = Wait {
            load,
            cell,
            awaited,
        };
        graph.waiting.push(wait);
        Ok(Some(Waiting(wait)))
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let mut graph = graph();
        if let Some(at) = graph.waiting.iter().position(|&wait| wait == self.0) {
            graph.waiting.swap_remove(at);
        }
    }
}

//! Unloading a module's state: taken from its cell if nothing holds it, then dropped or
//! closed, measured, and booked.

use super::ModuleCell;
use crate::cell::Take;
use crate::context::Context;
use crate::info::Info;
use crate::memory;
use crate::outcome::{KeepReason, Unload};
use crate::rule::{self, Occasion, Verdict};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering::Relaxed;

impl<T: Send + Sync + 'static> ModuleCell<T> {
    pub(crate) fn unload_in(&self, shared: &Context) -> Unload {
        // In use or not, the cell's take tells, at once with taking the state.
        let facts = self.info.facts(&shared.config, false);
        if let Verdict::Keep(reason) = rule::decide(&facts, Occasion::Asked) {
            return Unload::Kept(reason);
        }
        let state = match self.cell.take() {
            Take::Empty if self.flight.is_leading() => return Unload::Kept(KeepReason::Loading),
            Take::Empty => return Unload::NotResident,
            Take::InUse if self.cell.is_loading() => return Unload::Kept(KeepReason::Loading),
            Take::InUse => return Unload::Kept(KeepReason::InUse),
            Take::Taken(state) => state,
        };
        // Off the books before user code runs: a `Drop` or a close may load this module
        // again, and that load books its own bytes.
        self.info.bytes.store(0, Relaxed);
        let began = shared.time.refresh();
        // Less what loads inside the `Drop` kept: the bytes freed are this state's alone.
        let (closed, freed) = memory::measure_own(|| {
            dropping(&self.info, || {
                panic::catch_unwind(AssertUnwindSafe(|| match self.close {
                    Some(close) => close(*state),
                    None => {
                        drop(state);
                        None
                    }
                }))
            })
        });
        memory::book(freed);
        let ended = shared.time.refresh();
        self.info
            .unload_ms
            .store(ended.saturating_sub(began), Relaxed);
        let bytes = u64::try_from(-freed).unwrap_or(0);
        let dropped = closed.map(|closing| match closing {
            // The state lives on in its close, which books what it frees when it ends.
            Some(closing) => shared.close_later(closing),
            // Measured where the state went, whatever threads built it: the room its next
            // load makes.
            None if memory::live_heap().is_some() && bytes > 0 => {
                self.info.last_bytes.store(bytes, Relaxed);
            }
            None => {}
        });
        self.info.unloads.fetch_add(1, Relaxed);
        let drop_panicked = dropped.is_err();
        if let Err(payload) = dropped {
            crate::error::drop_payload(payload);
        }
        shared.counters.unloaded(bytes, drop_panicked);
        crate::trace::event!(
            tracing::Level::INFO,
            module = %self.info.def.name(),
            bytes,
            rss = crate::memory::rss(),
            "unloaded"
        );
        Unload::Unloaded { bytes }
    }
}

std::thread_local! {
    /// The module (its bookkeeping's address) whose state this thread drops now, or 0.
    static DROPPING: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Runs `drop` (a state's `Drop` or close) as the dropping of `info`'s module on this
/// thread; the thread's earlier mark is restored on return or unwind.
fn dropping<R>(info: &Info, drop: impl FnOnce() -> R) -> R {
    /// Restores the earlier mark.
    struct Restore(usize);
    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = DROPPING.try_with(|dropping| dropping.set(self.0));
        }
    }
    let me = info as *const Info as usize;
    let _restore = Restore(
        DROPPING
            .try_with(|dropping| dropping.replace(me))
            .unwrap_or(0),
    );
    drop()
}

pub(super) fn is_dropping(info: &Info) -> bool {
    DROPPING.try_with(std::cell::Cell::get).unwrap_or(0) == info as *const Info as usize
}

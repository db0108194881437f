//! Loading a module's state: the synchronous load, the async one (once however many tasks
//! ask), and [`LoadRun`], what both do around the loader — the memory budget, the books,
//! the errors and the events — written once.

use super::guard::Guard;
use super::load::{LoadFuture, Loader};
use super::ModuleCell;
use crate::cell::{CellGuard, LoadFailure};
use crate::context::Context;
use crate::error::{into_message, BoxError, Error};
use crate::flight::{Failure, Leading, SharedError, Turn};
use crate::hot;
use crate::memory;
use crate::sweep;
use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::task::Poll;

impl<T: Send + Sync + 'static> ModuleCell<T> {
    pub(crate) async fn guard_async<'a>(
        &'a self,
        shared: &'a Context,
    ) -> Result<Guard<'a, T>, Error> {
        let Loader::Async(load) = &self.loader else {
            return self.guard(shared);
        };
        if let Some(inner) = self.cell.try_get() {
            self.used(shared);
            return Ok(Guard::new(inner, self, shared));
        }
        // Boxed: the waits and the load are large futures, and a resident module's get
        // should not carry them.
        Box::pin(self.wait_or_load(shared, *load)).await
    }

    #[cold]
    async fn wait_or_load<'a>(
        &'a self,
        shared: &'a Context,
        load: fn() -> LoadFuture<T>,
    ) -> Result<Guard<'a, T>, Error> {
        let mut room_made = false;
        let inner = loop {
            if let Some(inner) = self.cell.try_get() {
                self.used(shared);
                break inner;
            }
            match self.flight.turn(self as *const Self as usize).await {
                Turn::Lead(leading) => match self.cell.get_settled() {
                    // Loaded by the load that ended between our look and our turn, or kept
                    // by an unload that was deciding when we looked.
                    Some(inner) => break inner,
                    // Room is made by the caller that leads, and outside its turn, as a sync
                    // load makes it before its cell's lock: a `Drop` that room-making runs
                    // may get this module, and must not wait for a load its own thread
                    // leads; a caller that only waits makes none, as its `Drop`s could wait
                    // for the leader, which this thread cannot poll meanwhile.
                    None if !room_made && self.needs_room(shared) => {
                        drop(leading);
                        self.make_room(shared);
                        room_made = true;
                    }
                    None => break self.load_async(shared, load, leading).await?,
                },
                Turn::Ended(None) => {}
                Turn::Ended(Some(failure)) => return Err(self.load_error(failure)),
                Turn::Cycle => return Err(self.reentrant()),
            }
        };
        Ok(Guard::new(inner, self, shared))
    }

    /// Runs an async module's load as the task that leads it: each poll of the loader is
    /// measured (what it allocates on the polling thread is what the state keeps) and
    /// contained (a panic is a failed load), and the state goes into the cell once built.
    #[cold]
    async fn load_async<'a>(
        &'a self,
        shared: &'a Context,
        load: fn() -> LoadFuture<T>,
        leading: Leading<'_>,
    ) -> Result<CellGuard<'a, T>, Error> {
        let run = LoadRun::start(self, shared);
        let mut future = None;
        let window = memory::Window::open();
        let mut own = 0isize;
        let built = std::future::poll_fn(|cx| {
            let _entered = run.enter();
            let (polled, net) = memory::measure_own(|| {
                sweep::loading(|| {
                    panic::catch_unwind(AssertUnwindSafe(|| {
                        leading.polling(|| {
                            let running = future.get_or_insert_with(load);
                            let polled = running.as_mut().poll(cx);
                            if polled.is_ready() {
                                // Inside the measure: the loader's own frame is not state.
                                future = None;
                            }
                            // Boxed inside the measure: the box is this load's too.
                            polled.map(|built| built.map(Box::new))
                        })
                    }))
                })
            });
            own = own.wrapping_add(net);
            match polled {
                Ok(Poll::Pending) => Poll::Pending,
                Ok(Poll::Ready(built)) => Poll::Ready(Ok(built)),
                Err(payload) => Poll::Ready(Err(payload)),
            }
        })
        .await;
        let failure = match built {
            Ok(Ok(state)) => {
                let bytes = run.built(own, window, false);
                let inner = self.cell.publish(state);
                leading.end(None);
                run.done(bytes, false);
                return Ok(inner);
            }
            Ok(Err(error)) => Failure::Failed(Arc::new(error)),
            Err(payload) => Failure::Panicked(into_message(payload)),
        };
        leading.end(Some(failure.clone()));
        Err(run.failed(self.load_error(failure)))
    }

    /// The error of a failed async load, for each task that waited for it.
    fn load_error(&self, failure: Failure) -> Error {
        let module = self.info.def.name().to_string();
        match failure {
            Failure::Failed(source) => Error::Load {
                module,
                source: Box::new(SharedError(source)),
            },
            Failure::Panicked(message) => Error::LoadPanicked { module, message },
        }
    }

    fn reentrant(&self) -> Error {
        Error::ReentrantLoad {
            module: self.info.def.name().to_string(),
        }
    }

    /// A caller that found a pre-warm's load under way and waited for it: the pre-warm
    /// recorded no gap, so the caller does (once, however many waited).
    fn waited_for_prewarm(&self, asked: u64) {
        let last = self.info.last_use.load(Relaxed);
        let claimed = self
            .info
            .warmed_after
            .compare_exchange(last, u64::MAX, Relaxed, Relaxed);
        if claimed.is_ok() {
            self.info.gaps.record(asked.saturating_sub(last));
        }
    }

    /// Whether a load would make room first: a budget is set and the module's size known.
    fn needs_room(&self, shared: &Context) -> bool {
        shared.config.memory_budget.is_some() && self.info.last_bytes.load(Relaxed) > 0
    }

    /// Before a load: room in the memory budget for what this module's last load kept (a
    /// first load's size is not known until it is done; [`LoadRun::done`] deals with it).
    fn make_room(&self, shared: &Context) {
        let needs = self.info.last_bytes.load(Relaxed);
        if needs > 0 {
            sweep::make_room(shared, needs, |held| hot::yield_to_budget(shared, held));
        }
    }

    /// Loads the state for a caller.
    #[cold]
    pub(super) fn load<'a>(&'a self, shared: &'a Context) -> Result<CellGuard<'a, T>, Error> {
        self.load_here(shared, false).map(|(guard, _)| guard)
    }

    /// Loads the state, for a caller or `ahead` of a predicted use (a pre-warm), and says
    /// whether this thread ran the loader (another's load may have been under way). A
    /// pre-warm makes no room in the memory budget: the sweep that asks for it checks that
    /// it fits, and undoes it if it did not.
    #[cold]
    pub(super) fn load_here<'a>(
        &'a self,
        shared: &'a Context,
        ahead: bool,
    ) -> Result<(CellGuard<'a, T>, bool), Error> {
        let load = match &self.loader {
            Loader::Trait(load) => load as &dyn Fn() -> Result<T, BoxError>,
            Loader::Closure(load) => load,
            Loader::Async(_) => {
                return Err(Error::LoadsAsync {
                    module: self.info.def.name().to_string(),
                })
            }
        };
        let run = LoadRun::start(self, shared);
        let _entered = run.enter();
        if !ahead {
            self.make_room(shared);
        }
        // The bytes booked, once this thread has run the loader. Its "loaded" event is sent
        // once the state is in the cell and the cell's lock released: a subscriber that
        // panics must not turn a counted load into a failed one.
        let booked = Cell::new(None);
        let result = self.cell.load(|| {
            let window = memory::Window::open();
            // Boxed inside the measure: the box is this load's too.
            let (built, own) = memory::measure_own(|| sweep::loading(load).map(Box::new));
            if built.is_ok() {
                booked.set(Some(run.built(own, window, ahead)));
            }
            built
        });
        match (result, booked.get()) {
            (Ok(guard), Some(bytes)) => {
                run.done(bytes, ahead);
                Ok((guard, true))
            }
            (Ok(guard), None) => {
                if !ahead {
                    self.waited_for_prewarm(run.asked);
                }
                Ok((guard, false))
            }
            (Err(failure), _) => {
                let module = self.info.def.name().to_string();
                Err(run.failed(match failure {
                    LoadFailure::Failed(source) => Error::Load { module, source },
                    LoadFailure::Panicked(payload) => Error::LoadPanicked {
                        module,
                        message: into_message(payload),
                    },
                    LoadFailure::Reentrant => self.reentrant(),
                }))
            }
        }
    }
}

/// One load of a module, from when it was asked for to its end, by the caller that runs
/// the loader: what a synchronous and an async load do around their loader — the books,
/// the memory budget, the failure's count and the events — so each is written once.
struct LoadRun<'a, T> {
    module: &'a ModuleCell<T>,
    shared: &'a Context,
    /// The runtime's time when the load was asked for, where the idle gap ended (not when
    /// the load is done: a slow load would teach gaps longer than the calls keep).
    asked: u64,
    #[cfg(feature = "tracing")]
    span: tracing::Span,
    #[cfg(feature = "tracing")]
    started: std::time::Instant,
}

impl<'a, T: Send + Sync + 'static> LoadRun<'a, T> {
    fn start(module: &'a ModuleCell<T>, shared: &'a Context) -> Self {
        LoadRun {
            module,
            shared,
            asked: shared.time.refresh(),
            #[cfg(feature = "tracing")]
            span: tracing::info_span!(target: "lmms", "lmms.load", module = %module.info.def.name(), class = ?module.info.def.class_of()),
            #[cfg(feature = "tracing")]
            started: std::time::Instant::now(),
        }
    }

    /// Enters the load's span while the loader runs (a sync load: all of it; an async one:
    /// each poll), or nothing without the `tracing` feature.
    fn enter(&self) -> impl Sized + '_ {
        #[cfg(feature = "tracing")]
        let entered = self.span.enter();
        #[cfg(not(feature = "tracing"))]
        let entered = std::marker::PhantomData::<&Self>;
        entered
    }

    /// Books a load whose loader kept `own` bytes on its threads (less nested loads'),
    /// helped by what was allocated outside every measure since `window` opened (see
    /// [`memory`]'s docs): the module's bytes, loads, idle gap and last use, and the
    /// runtime's totals. Returns the bytes booked. A load `ahead` of a predicted use (a
    /// pre-warm) is no use: the idle gap goes on until the next one, and is recorded then.
    fn built(&self, own: isize, window: memory::Window, ahead: bool) -> u64 {
        let (info, shared) = (&self.module.info, self.shared);
        // Without the counting allocator nothing was measured: the state's inline size is
        // all there is to report (and no budget runs on it).
        let kept = match memory::live_heap() {
            // Other threads freeing memory meanwhile are no reason to charge less than
            // the load's own threads kept.
            Some(_) => own.wrapping_add(window.unmeasured().max(0)).max(0) as u64,
            None => size_of::<T>() as u64,
        };
        memory::book(kept as isize);
        info.bytes.store(kept, Relaxed);
        info.last_bytes.store(kept, Relaxed);
        let now = shared.time.refresh();
        info.load_ms.store(now.saturating_sub(self.asked), Relaxed);
        shared.counters.loaded(kept);
        let last = info.last_use.load(Relaxed);
        let loaded_before = info.loads.fetch_add(1, Relaxed) > 0;
        if ahead {
            info.prewarms.fetch_add(1, Relaxed);
            info.warmed_after.store(last, Relaxed);
            shared.counters.prewarmed();
            return kept;
        }
        if loaded_before {
            // Loaded again: the time since its last use was an idle gap.
            info.gaps.record(self.asked.saturating_sub(last));
        }
        info.last_use.store(now, Relaxed);
        kept
    }

    /// The state is in the cell, the cell's locks released, its guard held: the "loaded"
    /// event, then, for a caller's load, the memory budget. If resident state is over it,
    /// idle modules are unloaded until it fits; a load that still does not fit went ahead,
    /// and is counted and reported. (A pre-warm's fit is its sweep's to check.)
    fn done(&self, _bytes: u64, ahead: bool) {
        let shared = self.shared;
        crate::trace::event!(
            tracing::Level::INFO,
            module = %self.module.info.def.name(),
            bytes = _bytes,
            ms = self.started.elapsed().as_secs_f64() * 1000.0,
            "loaded"
        );
        if ahead || sweep::make_room(shared, 0, |held| hot::yield_to_budget(shared, held)) {
            return;
        }
        shared.counters.over_budget();
        // Its subscriber's panic is contained: the load is done and counted.
        crate::error::quietly(|| {
            crate::trace::event!(
                tracing::Level::WARN,
                module = %self.module.info.def.name(),
                bytes = _bytes,
                "loaded over the memory budget: no idle module was left to unload"
            );
        });
    }

    /// The load ended without state: a failed or panicking loader is counted (a loader
    /// that reached its own module is no failed load), and every one is reported.
    fn failed(&self, error: Error) -> Error {
        if matches!(error, Error::Load { .. } | Error::LoadPanicked { .. }) {
            self.shared.counters.load_failed();
        }
        crate::trace::event!(tracing::Level::WARN, module = %self.module.info.def.name(), error = %error, "load failed");
        error
    }
}

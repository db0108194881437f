//! Closes: dropped or awaited when unloaded, at shutdown, handed to a spawner; loads started
//! together; faults injected into loaders and closes.

use super::*;

#[lmms::module(name = "dropped")]
pub struct Dropped;

static DROPPED_DROPS: AtomicUsize = AtomicUsize::new(0);

impl Drop for Dropped {
    fn drop(&mut self) {
        DROPPED_DROPS.fetch_add(1, SeqCst);
    }
}

impl AsyncLoad for Dropped {
    type Error = Infallible;
    async fn load() -> Result<Self, Infallible> {
        yield_once().await;
        Ok(Dropped)
    }
}

#[lmms::module(name = "closed")]
pub struct Closed {
    lines: Vec<String>,
}

static CLOSED_FLUSHED: AtomicUsize = AtomicUsize::new(0);

impl AsyncLoad for Closed {
    type Error = Infallible;
    async fn load() -> Result<Self, Infallible> {
        Ok(Closed {
            lines: vec!["a".into(), "b".into()],
        })
    }

    fn close(self) -> Option<Closing> {
        Some(Box::pin(async move {
            yield_once().await; // the flush's I/O
            CLOSED_FLUSHED.fetch_add(self.lines.len(), SeqCst);
        }))
    }
}

#[lmms::module(name = "close_panics")]
pub struct ClosePanics;

impl AsyncLoad for ClosePanics {
    type Error = Infallible;
    async fn load() -> Result<Self, Infallible> {
        Ok(ClosePanics)
    }

    fn close(self) -> Option<Closing> {
        Some(Box::pin(async {
            yield_once().await;
            panic!("the connection was reset");
        }))
    }
}

#[test]
fn an_async_module_is_dropped_or_closed_when_unloaded_and_its_close_awaited() {
    let (runtime, clock) = common::quick_runtime();
    runtime.add(Dropped::cell()).unwrap();
    runtime.add(Closed::cell()).unwrap();
    runtime.add(ClosePanics::cell()).unwrap();
    block_on(lmms::state::load_together(&[
        Dropped::cell(),
        Closed::cell(),
        ClosePanics::cell(),
    ]))
    .unwrap();
    assert_eq!(runtime.stats().resident_modules, 3);

    clock.advance(Duration::from_secs(2));
    let report = runtime.sweep();
    assert_eq!(report.unloaded.len(), 3);
    assert_eq!(
        DROPPED_DROPS.load(SeqCst),
        1,
        "a sync `Drop` runs where it is unloaded"
    );
    let stats = runtime.stats();
    assert_eq!((stats.closing, stats.resident_modules), (2, 0));
    assert_eq!(
        CLOSED_FLUSHED.load(SeqCst),
        0,
        "its close waits to be awaited"
    );
    assert_eq!(block_on(runtime.closes()), 2);
    assert_eq!(CLOSED_FLUSHED.load(SeqCst), 2);
    let stats = runtime.stats();
    assert_eq!(
        (stats.closing, stats.drop_panics),
        (0, 1),
        "the panicking close is counted"
    );
}

#[lmms::module(name = "shut", class = "core")]
pub struct Shut {
    lines: Vec<String>,
}

static SHUT_FLUSHED: AtomicUsize = AtomicUsize::new(0);

impl AsyncLoad for Shut {
    type Error = Infallible;
    async fn load() -> Result<Self, Infallible> {
        Ok(Shut {
            lines: vec!["x".into()],
        })
    }

    fn close(self) -> Option<Closing> {
        Some(Box::pin(async move {
            yield_once().await;
            SHUT_FLUSHED.fetch_add(self.lines.len(), SeqCst);
        }))
    }
}

#[test]
fn shutdown_unloads_even_core_modules_within_grace_and_awaits_their_closes() {
    let (runtime, _clock) = common::quick_runtime();
    runtime.add(Shut::cell()).unwrap();
    let report = block_on(async {
        drop(Shut::get_async().await.unwrap());
        let kept = runtime.sweep();
        assert_eq!(
            kept.kept_because("shut"),
            Some(lmms::report::KeepReason::Core)
        );
        runtime.shutdown().await
    });
    assert_eq!(report.unloaded.len(), 1);
    assert_eq!(report.unloaded[0].module, "shut");
    assert_eq!(SHUT_FLUSHED.load(SeqCst), 1);
    assert_eq!(runtime.stats().closing, 0);
}

// ---------------------------------------------------------------- loads together

#[lmms::module(name = "slow_a")]
pub struct SlowA;
#[lmms::module(name = "slow_b")]
pub struct SlowB;

static SLOW_OPEN: AtomicBool = AtomicBool::new(false);
static SLOW_STARTED: AtomicUsize = AtomicUsize::new(0);

impl AsyncLoad for SlowA {
    type Error = Infallible;
    async fn load() -> Result<Self, Infallible> {
        SLOW_STARTED.fetch_add(1, SeqCst);
        Gate(&SLOW_OPEN).await;
        Ok(SlowA)
    }
}

impl AsyncLoad for SlowB {
    type Error = Infallible;
    async fn load() -> Result<Self, Infallible> {
        SLOW_STARTED.fetch_add(1, SeqCst);
        Gate(&SLOW_OPEN).await;
        Ok(SlowB)
    }
}

#[test]
fn loads_started_together_are_in_flight_at_once_and_each_runs_once() {
    let (runtime, _clock) = common::quick_runtime();
    runtime.add(SlowA::cell()).unwrap();
    runtime.add(SlowB::cell()).unwrap();
    let mut together: Boxed<Result<(), Error>> =
        Box::pin(async { lmms::state::load_together(&[SlowA::cell(), SlowB::cell()]).await });
    let mut also: Boxed<Result<(), Error>> = Box::pin(async { SlowB::get_async().await.map(drop) });
    assert!(poll_once(together.as_mut()).is_pending());
    assert!(poll_once(also.as_mut()).is_pending());
    assert_eq!(
        SLOW_STARTED.load(SeqCst),
        2,
        "both loads in flight before either ends"
    );
    SLOW_OPEN.store(true, SeqCst);
    for result in drive_all(vec![together, also], 5) {
        result.unwrap();
    }
    assert_eq!(SLOW_STARTED.load(SeqCst), 2);
    assert_eq!((SlowA::stats().loads, SlowB::stats().loads), (1, 1));
}

// ---------------------------------------------------------------- fault injection

#[lmms::module(name = "faulty")]
pub struct Faulty {
    canary: common::Canary,
}

/// Polls of the loader and of the close so far, and how often one panics (every N-th; 0:
/// never).
static FAULT_POLLS: AtomicUsize = AtomicUsize::new(0);
static FAULT_AT: AtomicUsize = AtomicUsize::new(0);
static FAULTS_HIT: AtomicUsize = AtomicUsize::new(0);

fn maybe_fault(what: &str) {
    let poll = FAULT_POLLS.fetch_add(1, SeqCst) + 1;
    let every = FAULT_AT.load(SeqCst);
    if every != 0 && poll.is_multiple_of(every) {
        FAULTS_HIT.fetch_add(1, SeqCst);
        panic!("injected fault in the {what}, poll {poll}");
    }
}

/// A future whose every poll may be the faulty one.
struct Faulting(&'static str, usize);

impl Future for Faulting {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        maybe_fault(self.0);
        if self.1 == 0 {
            Poll::Ready(())
        } else {
            self.1 -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

impl AsyncLoad for Faulty {
    type Error = Infallible;
    async fn load() -> Result<Self, Infallible> {
        Faulting("loader", 2).await;
        Ok(Faulty {
            canary: common::Canary::new(),
        })
    }

    fn close(self) -> Option<Closing> {
        Some(Box::pin(async move {
            Faulting("close", 1).await;
            assert_eq!(self.canary.canary.load(SeqCst), common::ALIVE);
        }))
    }
}

/// The loader and the close panicking at every N-th poll, N = 1..=40, while 3 tasks on a
/// multi-thread runtime get the module (some cancelled mid-load), unload it, sweep and
/// await closes. After each run: no guard left, loads − unloads = resident, no state read
/// after its drop (canaries), and, the faults off, the next get and close work.
#[test]
fn faults_in_async_loaders_and_closes_leave_the_runtime_consistent() {
    // In a static, which the spawned tasks borrow (a leaked box would read as a leak).
    static RUNTIME: std::sync::OnceLock<(lmms::Runtime, lmms::tuning::ManualClock)> =
        std::sync::OnceLock::new();
    let (runtime, clock) = RUNTIME.get_or_init(common::quick_runtime);
    runtime.add(Faulty::cell()).unwrap();
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(3)
        .enable_time()
        .build()
        .unwrap();
    let runs: usize = std::env::var("LMMS_FAULT_N")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(40);
    for at in 1..=runs {
        FAULT_POLLS.store(0, SeqCst);
        FAULT_AT.store(at, SeqCst);
        tokio.block_on(async {
            let tasks: Vec<_> = (0..3u64)
                .map(|task| {
                    tokio::spawn(async move {
                        let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ (at as u64 * 31 + task);
                        for _ in 0..60 {
                            seed ^= seed << 13;
                            seed ^= seed >> 7;
                            seed ^= seed << 17;
                            match seed % 6 {
                                0 | 1 => {
                                    if let Ok(guard) = Faulty::get_async().await {
                                        assert_eq!(guard.canary.canary.load(SeqCst), common::ALIVE);
                                        tokio::task::yield_now().await;
                                    }
                                }
                                2 => {
                                    // Cancelled after one poll, mid-load or mid-wait.
                                    let get = Faulty::get_async();
                                    let _ = tokio::time::timeout(Duration::ZERO, get).await;
                                }
                                3 => {
                                    let _ = Faulty::unload();
                                }
                                4 => {
                                    let _ = runtime.closes().await;
                                }
                                _ => {
                                    let _ = std::panic::catch_unwind(|| runtime.sweep());
                                }
                            }
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
        });
        FAULT_AT.store(0, SeqCst);
        let stats = Faulty::stats();
        assert_eq!(stats.guards, 0, "run {at}");
        assert_eq!(
            stats.loads - stats.unloads,
            u64::from(stats.resident),
            "run {at}"
        );
        tokio.block_on(async {
            let guard = Faulty::get_async().await.expect("the next get loads");
            assert_eq!(guard.canary.canary.load(SeqCst), common::ALIVE);
            drop(guard);
            clock.advance(Duration::from_secs(5));
            runtime.sweep_async().await;
        });
        assert!(!Faulty::is_resident(), "run {at}");
        assert_eq!(runtime.stats().closing, 0, "run {at}");
    }
    let hit = FAULTS_HIT.load(SeqCst);
    assert!(hit >= runs, "faults injected: {hit}");
    println!("{runs} runs, {hit} faults injected in loaders and closes, 0 inconsistencies");
}

// ---------------------------------------------------------------- closes spawned

#[lmms::module(name = "spawned")]
pub struct Spawned;

static SPAWNED_CLOSED: AtomicBool = AtomicBool::new(false);
static SPAWNER: Mutex<Vec<Closing>> = Mutex::new(Vec::new());

impl AsyncLoad for Spawned {
    type Error = Infallible;
    async fn load() -> Result<Self, Infallible> {
        Ok(Spawned)
    }

    fn close(self) -> Option<Closing> {
        Some(Box::pin(async {
            yield_once().await;
            SPAWNED_CLOSED.store(true, SeqCst);
        }))
    }
}

#[test]
fn with_a_spawner_a_sync_sweep_hands_the_close_over_at_once() {
    let (runtime, clock) = common::quick_runtime();
    runtime.add(Spawned::cell()).unwrap();
    drop(block_on(Spawned::get_async()).unwrap());
    // Unloaded before the spawner is set: queued, then handed over when it is.
    assert!(matches!(Spawned::unload(), Unload::Unloaded { .. }));
    assert_eq!(runtime.stats().closing, 1);
    runtime
        .spawn_closes(|close| SPAWNER.lock().unwrap().push(close))
        .unwrap();
    assert_eq!(runtime.stats().closing, 0);
    drop(block_on(Spawned::get_async()).unwrap());
    clock.advance(Duration::from_secs(2));
    assert_eq!(runtime.sweep().unloaded.len(), 1);
    assert_eq!(runtime.stats().closing, 0, "nothing waits for `closes`");
    let spawned: Vec<Boxed<()>> = SPAWNER.lock().unwrap().drain(..).collect();
    assert_eq!(spawned.len(), 2);
    drive_all(spawned, 3);
    assert!(SPAWNED_CLOSED.load(SeqCst));
    assert!(runtime.spawn_closes(|_| {}).is_err());
}

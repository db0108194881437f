//! Failed and panicking loaders, a sweep during a load, and loaders that reach their own
//! module.

use super::*;

#[lmms::module(name = "failing")]
pub struct Failing;

static FAILING_ATTEMPTS: AtomicUsize = AtomicUsize::new(0);
static FAILING_OPEN: AtomicBool = AtomicBool::new(false);

impl AsyncLoad for Failing {
    type Error = std::io::Error;
    async fn load() -> Result<Self, std::io::Error> {
        FAILING_ATTEMPTS.fetch_add(1, SeqCst);
        Gate(&FAILING_OPEN).await;
        Err(std::io::Error::other("backend down"))
    }
}

#[test]
fn a_failed_load_is_every_waiters_error_and_the_next_call_retries_once() {
    let (runtime, _clock) = common::quick_runtime();
    runtime.add(Failing::cell()).unwrap();
    let mut callers: Vec<Boxed<Result<(), Error>>> = (0..100)
        .map(|_| Box::pin(async { Failing::get_async().await.map(drop) }) as Boxed<_>)
        .collect();
    for caller in &mut callers {
        assert!(poll_once(caller.as_mut()).is_pending());
    }
    assert_eq!(FAILING_ATTEMPTS.load(SeqCst), 1);
    FAILING_OPEN.store(true, SeqCst);
    let errors = drive_all(callers, 10);
    assert_eq!(errors.len(), 100);
    for error in errors {
        match error {
            Err(Error::Load { module, source }) => {
                assert_eq!(module, "failing");
                assert_eq!(source.to_string(), "backend down");
            }
            other => panic!("expected the load's error, got {other:?}"),
        }
    }
    assert_eq!(FAILING_ATTEMPTS.load(SeqCst), 1, "one load for 100 waiters");
    assert_eq!(runtime.stats().load_failures, 1);
    assert!(block_on(Failing::get_async()).is_err());
    assert_eq!(
        FAILING_ATTEMPTS.load(SeqCst),
        2,
        "the next call retries, once"
    );
    assert!(!Failing::is_resident());
}

#[lmms::module(name = "panicking_async")]
pub struct PanickingAsync;

impl AsyncLoad for PanickingAsync {
    type Error = Infallible;
    async fn load() -> Result<Self, Infallible> {
        yield_once().await;
        panic!("the model file is corrupt");
    }
}

#[test]
fn a_panicking_async_loader_is_an_error_for_every_waiter() {
    let (runtime, _clock) = common::quick_runtime();
    runtime.add(PanickingAsync::cell()).unwrap();
    let callers: Vec<Boxed<Result<(), Error>>> = (0..3)
        .map(|_| Box::pin(async { PanickingAsync::get_async().await.map(drop) }) as Boxed<_>)
        .collect();
    for result in drive_all(callers, 10) {
        match result {
            Err(Error::LoadPanicked { module, message }) => {
                assert_eq!(
                    (module.as_str(), message.as_str()),
                    ("panicking_async", "the model file is corrupt")
                );
            }
            other => panic!("expected a panicked load, got {other:?}"),
        }
    }
    assert_eq!(runtime.stats().load_failures, 1);
}

// ---------------------------------------------------------------- sweeps, sync gets

#[lmms::module(name = "in_flight")]
pub struct InFlight(u32);

static IN_FLIGHT_OPEN: AtomicBool = AtomicBool::new(false);

impl AsyncLoad for InFlight {
    type Error = Infallible;
    async fn load() -> Result<Self, Infallible> {
        Gate(&IN_FLIGHT_OPEN).await;
        Ok(InFlight(5))
    }
}

#[test]
fn a_sweep_during_an_async_load_neither_unloads_nor_counts_it_resident() {
    let (runtime, clock) = common::quick_runtime();
    runtime.add(InFlight::cell()).unwrap();
    let mut caller: Boxed<Result<u32, Error>> =
        Box::pin(async { InFlight::get_async().await.map(|g| g.0) });
    assert!(poll_once(caller.as_mut()).is_pending());
    clock.advance(Duration::from_secs(60));
    let report = runtime.sweep();
    assert!(report.unloaded.is_empty());
    assert_eq!(report.kept_because("in_flight"), None);
    assert_eq!(runtime.stats().resident_modules, 0);
    // Not resident, and not to be unloaded as such: its state is on its way.
    assert_eq!(
        InFlight::unload(),
        Unload::Kept(lmms::report::KeepReason::Loading)
    );
    assert!(matches!(InFlight::get(), Err(Error::LoadsAsync { .. })));
    IN_FLIGHT_OPEN.store(true, SeqCst);
    assert_eq!(drive_all(vec![caller], 3)[0].as_ref().unwrap(), &5);
    assert_eq!(runtime.stats().resident_modules, 1);
    // Resident, an async module's state is there for synchronous code too.
    assert_eq!(InFlight::get().unwrap().0, 5);
    assert_eq!(InFlight::stats().loads, 1);
}

// ---------------------------------------------------------------- re-entrancy

#[lmms::module(name = "own_loader")]
pub struct OwnLoader;

static OWN_LOADER_SAW: Mutex<Option<String>> = Mutex::new(None);

impl AsyncLoad for OwnLoader {
    type Error = Infallible;
    async fn load() -> Result<Self, Infallible> {
        let inner = OwnLoader::get_async().await.map(drop);
        *OWN_LOADER_SAW.lock().unwrap() = Some(format!("{inner:?}"));
        Ok(OwnLoader)
    }
}

#[test]
fn an_async_loader_that_awaits_its_own_module_is_told_so() {
    let (runtime, _clock) = common::quick_runtime();
    runtime.add(OwnLoader::cell()).unwrap();
    block_on(OwnLoader::get_async()).unwrap();
    let saw = OWN_LOADER_SAW.lock().unwrap().clone().unwrap();
    assert!(saw.contains("ReentrantLoad"), "{saw}");
}

#[lmms::module(name = "cycle_a")]
pub struct CycleA;
#[lmms::module(name = "cycle_b")]
pub struct CycleB;

static CYCLE_START: std::sync::LazyLock<tokio::sync::Barrier> =
    std::sync::LazyLock::new(|| tokio::sync::Barrier::new(2));

impl AsyncLoad for CycleA {
    type Error = Error;
    async fn load() -> Result<Self, Error> {
        CYCLE_START.wait().await;
        CycleB::get_async().await?;
        Ok(CycleA)
    }
}

impl AsyncLoad for CycleB {
    type Error = Error;
    async fn load() -> Result<Self, Error> {
        CYCLE_START.wait().await;
        CycleA::get_async().await?;
        Ok(CycleB)
    }
}

#[test]
fn two_tasks_loading_a_cycle_get_errors_not_a_hang() {
    let (runtime, _clock) = common::quick_runtime();
    runtime.add(CycleA::cell()).unwrap();
    runtime.add(CycleB::cell()).unwrap();
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let (a, b) = tokio.block_on(async {
        let a = tokio::spawn(async { CycleA::get_async().await.map(drop) });
        let b = tokio::spawn(async { CycleB::get_async().await.map(drop) });
        // A bound, not a timing: a deadlock would never end.
        tokio::time::timeout(Duration::from_secs(60), async {
            (a.await.unwrap(), b.await.unwrap())
        })
        .await
        .expect("the two loads deadlocked")
    });
    assert!(a.is_err() && b.is_err(), "{a:?} {b:?}");
    let text = format!("{a:?} {b:?}");
    assert!(text.contains("ReentrantLoad"), "{text}");
    assert!(!CycleA::is_resident() && !CycleB::is_resident());
}

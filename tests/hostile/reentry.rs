//! A panic while a hot path's hold is handed over, and user code that calls back into lmms.

use super::*;

// --- 1. A panic while a hot path's hold is handed over --------------------------------------

#[test]
fn a_panic_in_user_code_during_a_demotion_frees_nothing_under_a_direct_call() {
    // Whether the user code's panic reaches the sweep or not, the hold must survive it.
    common::parked::demotion_frees_nothing_under_a_direct_call(
        &common::parked::SOURCE_PANICS,
        |_, _| {},
    );
}

// --- 2. Re-entrant user code ------------------------------------------------------------------

static REENTER: AtomicBool = AtomicBool::new(false);

/// An output whose `Drop` calls its own operation when told to.
#[derive(Clone, Debug, PartialEq)]
struct Echo(u64);
impl Drop for Echo {
    fn drop(&mut self) {
        // Only the test's own values call back, so the chain ends.
        if REENTER.load(SeqCst) && self.0 < 1000 {
            let _ = ECHO.call(self.0 + 1000);
        }
    }
}

struct EchoOp;
impl Operation for EchoOp {
    type State = ();
    type Args = u64;
    type Output = Echo;
    fn source() -> Source<()> {
        Source::Stateless(&())
    }
}
impl Body for EchoOp {
    fn run(_: &(), x: u64) -> Echo {
        Echo(x)
    }
}
static ECHO: Op<EchoOp, Cached<u64, Echo>> =
    Op::cached(OpDef::new("hostile", "echo"), Duration::from_secs(10), 4);

#[test]
fn a_cached_output_whose_drop_calls_its_own_operation_does_not_deadlock() {
    within("cache drops", || {
        let (rt, clock) = runtime();
        rt.add_op(&ECHO).unwrap();
        REENTER.store(true, SeqCst);
        // Capacity evictions inside the store.
        for x in 0..32 {
            assert_eq!(ECHO.call(x).unwrap(), Echo(x));
        }
        // The sweep's purge of expired entries.
        clock.advance(secs(11));
        rt.sweep();
        // Invalidation.
        for x in 0..4 {
            ECHO.call(x).unwrap();
        }
        ECHO.invalidate();
        REENTER.store(false, SeqCst);
        ECHO.invalidate();
        assert_eq!(ECHO.stats().cache_entries, 0);
        assert_eq!(ECHO.call(7).unwrap(), Echo(7));
    });
}

static UNLOAD_FROM_LOADER: AtomicBool = AtomicBool::new(false);
struct SelfUnload;
impl Load for SelfUnload {
    type Error = Infallible;
    fn load() -> Result<Self, Infallible> {
        if UNLOAD_FROM_LOADER.load(SeqCst) {
            assert_eq!(SELF_UNLOAD.unload(), Unload::Kept(KeepReason::Loading));
        }
        Ok(SelfUnload)
    }
}
static SELF_UNLOAD: ModuleCell<SelfUnload> = ModuleCell::new(ModuleDef::new("self_unload"));

#[test]
fn a_loader_that_unloads_its_own_module_is_told_it_is_loading() {
    within("unload from the loader", || {
        let (rt, _clock) = runtime();
        rt.add(&SELF_UNLOAD).unwrap();
        UNLOAD_FROM_LOADER.store(true, SeqCst);
        drop(SELF_UNLOAD.get().unwrap());
        assert!(SELF_UNLOAD.is_resident());
        assert_eq!(rt.stats().loads, 1);
    });
}

static CROSS: AtomicBool = AtomicBool::new(false);
static CROSS_BARRIER: std::sync::OnceLock<Barrier> = std::sync::OnceLock::new();

/// Two modules whose loaders need each other, each loaded first on its own thread: both
/// first loaders are inside (the barrier) before either asks for the other.
macro_rules! crossed {
    ($state:ident, $module:ident, $other:ident, $first:ident) => {
        static $first: AtomicBool = AtomicBool::new(true);
        struct $state;
        impl Load for $state {
            type Error = Error;
            fn load() -> Result<Self, Error> {
                if CROSS.load(SeqCst) {
                    if $first.swap(false, SeqCst) {
                        CROSS_BARRIER.get().unwrap().wait();
                    }
                    drop($other.get()?);
                }
                Ok($state)
            }
        }
        static $module: ModuleCell<$state> = ModuleCell::new(ModuleDef::new(stringify!($module)));
    };
}
crossed!(CrossA, CROSS_A, CROSS_B, CROSS_A_FIRST);
crossed!(CrossB, CROSS_B, CROSS_A, CROSS_B_FIRST);

#[test]
fn two_threads_loading_a_cycle_get_errors_not_a_deadlock() {
    within("a load cycle across threads", || {
        let (rt, _clock) = runtime();
        rt.add(&CROSS_A).unwrap();
        rt.add(&CROSS_B).unwrap();
        CROSS_BARRIER.set(Barrier::new(2)).unwrap();
        CROSS.store(true, SeqCst);
        let a = thread::spawn(|| CROSS_A.get().map(drop));
        let b = thread::spawn(|| CROSS_B.get().map(drop));
        let (a, b) = (a.join().unwrap(), b.join().unwrap());
        assert!(
            a.is_err() && b.is_err(),
            "a cycle cannot load: {a:?}, {b:?}"
        );
        let cause = format!("{a:?} {b:?}");
        assert!(cause.contains("ReentrantLoad"), "{cause}");
        assert!(!CROSS_A.is_resident() && !CROSS_B.is_resident());
        CROSS.store(false, SeqCst);
        drop(CROSS_A.get().unwrap());
        drop(CROSS_B.get().unwrap());
    });
}

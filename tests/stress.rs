//! Two threads calling while a third sweeps with zero grace: every use checks a canary
//! that the state's `Drop` poisons, so a use after unload cannot pass unnoticed.

use lmms::{ModuleDef, Runtime};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

const ALIVE: u64 = 0xA11C_E5A1_1CE5_A11C;
const POISONED: u64 = 0xDEAD_DEAD_DEAD_DEAD;

struct Canary {
    word: AtomicU64,
    value: u64,
}

impl Drop for Canary {
    fn drop(&mut self) {
        self.word.store(POISONED, Ordering::SeqCst);
    }
}

/// Calls per caller thread: a million in release, fewer in a debug build.
const CALLS: u64 = if cfg!(debug_assertions) {
    100_000
} else {
    1_000_000
};

/// Runs two caller threads, each calling `call` with `CALLS` pseudo-random numbers, while a
/// third sweeps `runtime` without pause until both are done (or one fails).
fn race_callers_against_sweeps(runtime: &Runtime, call: impl Fn(u64) + Sync) {
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let callers: Vec<_> = (0..2u64)
            .map(|t| {
                let (done, call) = (&done, &call);
                s.spawn(move || {
                    // A failing caller stops the sweeper too, so the test fails, not hangs.
                    let _stop = Stop(done);
                    let mut x = t + 1;
                    for _ in 0..CALLS {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        call(x);
                    }
                })
            })
            .collect();
        s.spawn(|| {
            while !done.load(Ordering::SeqCst) {
                runtime.sweep();
            }
        });
        for caller in callers {
            caller.join().unwrap();
        }
        done.store(true, Ordering::SeqCst);
    });
}

/// Sets its flag when dropped by a panicking thread.
struct Stop<'a>(&'a AtomicBool);

impl Drop for Stop<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::SeqCst);
        }
    }
}

#[test]
fn callers_and_a_zero_grace_sweeper_never_meet_a_dropped_state() {
    let runtime = Runtime::builder()
        .grace(Duration::ZERO)
        .min_resident(0)
        .build()
        .unwrap();
    let modules: Vec<_> = (0..20)
        .map(|i| {
            runtime
                .register_fallible(ModuleDef::named(format!("m{i}")), move || {
                    Ok::<_, std::convert::Infallible>(Canary {
                        word: AtomicU64::new(ALIVE),
                        value: i,
                    })
                })
                .unwrap()
        })
        .collect();
    race_callers_against_sweeps(&runtime, |x| {
        let i = (x % 20) as usize;
        let state = modules[i].get().unwrap();
        assert_eq!(state.word.load(Ordering::SeqCst), ALIVE, "use after unload");
        assert_eq!(state.value, i as u64);
    });
    let stats = runtime.stats();
    assert!(
        stats.unloads > 0,
        "the sweeper unloaded nothing: the test proved nothing"
    );
    assert_eq!(stats.loads - stats.unloads, stats.resident_modules as u64);
    assert!(
        stats.modules.iter().all(|m| m.guards == 0),
        "a guard leaked"
    );
    let per_module: u64 = stats.modules.iter().map(|m| m.loads).sum();
    assert_eq!(per_module, stats.loads, "module and runtime counters agree");
}

mod hot_paths {
    //! Calls through operations while a third thread sweeps with zero grace and cools every
    //! millisecond, with room for one hot path only: operations are promoted, evicted,
    //! cooled and demoted under the callers' feet, and no call may meet a dropped state.

    use super::{race_callers_against_sweeps, Canary, ALIVE};
    use lmms::{
        Body, Load, ModuleCell, ModuleDef, Op, OpDef, Operation, Runtime, Source, Thresholds,
    };
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    macro_rules! modules {
        ($($state:ident $module:ident $op:ident $desc:ident = $value:expr;)*) => {$(
            struct $state(Canary);
            impl Load for $state {
                type Error = std::convert::Infallible;
                fn load() -> Result<Self, Self::Error> {
                    Ok($state(Canary { word: AtomicU64::new(ALIVE), value: $value }))
                }
            }
            static $module: ModuleCell<$state> = ModuleCell::new(ModuleDef::new(stringify!($module)));
            struct $op;
            impl Operation for $op {
                type State = $state;
                type Args = u64;
                type Output = u64;
                fn source() -> Source<$state> {
                    Source::Module(&$module)
                }
            }
            impl Body for $op {
                fn run(state: &$state, x: u64) -> u64 {
                    assert_eq!(state.0.word.load(Ordering::SeqCst), ALIVE, "use after unload");
                    state.0.value + x
                }
            }
            static $desc: Op<$op> = Op::new(OpDef::new("stress", stringify!($op)));
        )*};
    }

    modules! {
        S0 M0 O0 D0 = 0;
        S1 M1 O1 D1 = 1;
        S2 M2 O2 D2 = 2;
        S3 M3 O3 D3 = 3;
    }

    #[test]
    fn callers_meet_no_dropped_state_while_hot_paths_churn() {
        let runtime = Runtime::builder()
            .grace(Duration::ZERO)
            .min_resident(0)
            .heat(Thresholds::new(1, 2, 1_000_000_000).unwrap())
            .cool_every(Duration::from_millis(1))
            .max_hot_paths(1)
            .build()
            .unwrap();
        runtime.add(&M0).unwrap();
        runtime.add(&M1).unwrap();
        runtime.add(&M2).unwrap();
        runtime.add(&M3).unwrap();
        race_callers_against_sweeps(&runtime, |x| {
            let arg = x % 1000;
            let (out, base) = match x % 4 {
                0 => (D0.call(arg), 0),
                1 => (D1.call(arg), 1),
                2 => (D2.call(arg), 2),
                _ => (D3.call(arg), 3),
            };
            assert_eq!(out.unwrap(), base + arg);
        });
        let stats = runtime.stats();
        assert!(
            stats.promotions[1] > 1 && stats.demotions.iter().sum::<u64>() > 0,
            "no churn: {stats}"
        );
        assert!(stats.hot_paths <= 1);
        assert_eq!(stats.loads - stats.unloads, stats.resident_modules as u64);
    }
}

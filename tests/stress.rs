//! Two threads calling while a third sweeps with zero grace: every use checks a canary
//! that the state's `Drop` poisons, so a use after unload cannot pass unnoticed.

#[macro_use]
mod common;

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
    use lmms::op::{Op, OpDef};
    use lmms::{tuning::Thresholds, Runtime};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    macro_rules! modules {
        ($($state:ident $module:ident $op:ident $desc:ident = $value:expr;)*) => {$(
            trivial!(
                $state(Canary) = Canary { word: AtomicU64::new(ALIVE), value: $value },
                $module,
                $op,
                run |state, x| {
                    assert_eq!(state.0.word.load(Ordering::SeqCst), ALIVE, "use after unload");
                    state.0.value + x
                }
            );
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

mod operations {
    //! The full load: 100 operations over 20 modules through the attributes' managed
    //! call (a fifth of them cached, 1 ms TTL), two callers with random arguments, and a
    //! third thread that sweeps with zero grace, cools every millisecond and invalidates
    //! caches, on the global runtime. Every state carries a canary.

    use super::{Canary, ALIVE, CALLS};
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::time::Duration;

    macro_rules! modules {
        ($($state:ident $value:literal [$($op:ident)*] cached $cached:ident;)*) => {
            $(
                #[lmms::module]
                pub struct $state(Canary);

                impl lmms::Load for $state {
                    type Error = std::convert::Infallible;
                    fn load() -> Result<Self, Self::Error> {
                        Ok($state(Canary { word: AtomicU64::new(ALIVE), value: $value }))
                    }
                }

                $(
                    #[lmms::operation(interface = "stress")]
                    pub fn $op(state: &$state, x: u64) -> u64 {
                        assert_eq!(state.0.word.load(Ordering::SeqCst), ALIVE, "use after unload");
                        state.0.value * 1000 + x % 1000
                    }
                )*

                #[lmms::operation(interface = "stress", cache_ttl = "1ms")]
                pub fn $cached(state: &$state, x: u64) -> u64 {
                    assert_eq!(state.0.word.load(Ordering::SeqCst), ALIVE, "use after unload");
                    state.0.value * 1000 + x % 1000
                }
            )*

            /// Calls operation `i % 100` with `x`; returns the answer and the module's value.
            fn call(i: u64, x: u64) -> (Result<u64, lmms::Error>, u64) {
                let calls: &[(fn(u64) -> Result<u64, lmms::Error>, u64)] =
                    &[$($(($op::call, $value),)* ($cached::call, $value),)*];
                let (call, value) = calls[(i % 100) as usize];
                (call(x), value)
            }

            /// Drops every cached result of the operation `i % 100`.
            fn invalidate(i: u64) {
                let ops: &[&dyn Fn()] = &[$($(&|| $op::OP.invalidate(),)* &|| $cached::OP.invalidate(),)*];
                ops[(i % 100) as usize]();
            }
        };
    }

    modules! {
    S0 0 [op0 op1 op2 op3] cached op4;
    S1 1 [op5 op6 op7 op8] cached op9;
    S2 2 [op10 op11 op12 op13] cached op14;
    S3 3 [op15 op16 op17 op18] cached op19;
    S4 4 [op20 op21 op22 op23] cached op24;
    S5 5 [op25 op26 op27 op28] cached op29;
    S6 6 [op30 op31 op32 op33] cached op34;
    S7 7 [op35 op36 op37 op38] cached op39;
    S8 8 [op40 op41 op42 op43] cached op44;
    S9 9 [op45 op46 op47 op48] cached op49;
    S10 10 [op50 op51 op52 op53] cached op54;
    S11 11 [op55 op56 op57 op58] cached op59;
    S12 12 [op60 op61 op62 op63] cached op64;
    S13 13 [op65 op66 op67 op68] cached op69;
    S14 14 [op70 op71 op72 op73] cached op74;
    S15 15 [op75 op76 op77 op78] cached op79;
    S16 16 [op80 op81 op82 op83] cached op84;
    S17 17 [op85 op86 op87 op88] cached op89;
    S18 18 [op90 op91 op92 op93] cached op94;
    S19 19 [op95 op96 op97 op98] cached op99;
    }

    #[test]
    fn a_hundred_operations_meet_no_dropped_state_under_sweeps_cooling_and_invalidation() {
        let runtime = lmms::Runtime::builder()
            .grace(Duration::ZERO)
            .min_resident(0)
            .cool_every(Duration::from_millis(1))
            .max_hot_paths(10)
            .build()
            .unwrap();
        lmms::Runtime::set_global(runtime).unwrap();
        let done = AtomicBool::new(false);
        std::thread::scope(|s| {
            let callers: Vec<_> = (0..2u64)
                .map(|t| {
                    let done = &done;
                    s.spawn(move || {
                        let _stop = super::Stop(done);
                        let mut x = t + 7;
                        for _ in 0..CALLS {
                            x ^= x << 13;
                            x ^= x >> 7;
                            x ^= x << 17;
                            let (answer, value) = call(x >> 32, x);
                            assert_eq!(answer.unwrap(), value * 1000 + x % 1000);
                        }
                    })
                })
                .collect();
            s.spawn(|| {
                let mut i = 0u64;
                while !done.load(Ordering::SeqCst) {
                    lmms::sweep();
                    invalidate(i);
                    i = i.wrapping_add(37);
                }
            });
            for caller in callers {
                caller.join().unwrap();
            }
            done.store(true, Ordering::SeqCst);
        });
        // Idle: cooling demotes every hot path, and the sweep after it unloads the rest.
        std::thread::sleep(Duration::from_millis(100));
        lmms::sweep();
        lmms::sweep();
        let stats = lmms::stats();
        assert!(
            stats.unloads > 0 && stats.promotions[1] > 0,
            "no churn: {stats}"
        );
        assert_eq!(stats.hot_paths, 0, "cooled to nothing");
        assert_eq!(stats.loads - stats.unloads, stats.resident_modules as u64);
        assert!(
            stats.modules.iter().all(|m| m.guards == 0 && m.pins == 0),
            "a guard or pin leaked"
        );
        let per_module: u64 = stats.modules.iter().map(|m| m.loads).sum();
        assert_eq!(per_module, stats.loads, "module and runtime counters agree");
        let hits: u64 = stats
            .ops
            .iter()
            .filter_map(|op| op.cache.map(|c| c.hits))
            .sum();
        assert_eq!(
            hits, stats.cache.hits,
            "operation and runtime cache counters agree"
        );
        let promoted: u64 = stats.ops.iter().map(|op| op.promotions[1]).sum();
        let demoted: u64 = stats
            .ops
            .iter()
            .map(|op| op.demotions.iter().sum::<u64>())
            .sum();
        assert_eq!(promoted, demoted, "every promotion was undone");
    }
}

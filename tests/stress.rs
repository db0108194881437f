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

#[test]
fn callers_and_a_zero_grace_sweeper_never_meet_a_dropped_state() {
    let calls_per_thread: u64 = if cfg!(debug_assertions) {
        100_000
    } else {
        1_000_000
    };
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
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let callers: Vec<_> = (0..2u64)
            .map(|t| {
                let modules = &modules;
                s.spawn(move || {
                    let mut x = t + 1;
                    for _ in 0..calls_per_thread {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        let i = (x % 20) as usize;
                        let state = modules[i].get().unwrap();
                        assert_eq!(state.word.load(Ordering::SeqCst), ALIVE, "use after unload");
                        assert_eq!(state.value, i as u64);
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

//! A `tracing` layer that panics inside a load's room-making: the load still answers, the
//! unload it made is counted, and the panic is counted as a sweep's.
#![allow(missing_docs)]

mod common;

use common::{budgeted, megabytes, Panicking, MB};
use lmms::memory::CountingAlloc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::Duration;
use tracing_subscriber::layer::SubscriberExt;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

static ON_UNLOAD: AtomicBool = AtomicBool::new(false);
static ON_OVER: AtomicBool = AtomicBool::new(false);

#[test]
fn a_panic_in_user_code_a_load_s_room_making_runs_is_contained_and_counted() {
    let subscriber = tracing_subscriber::registry()
        .with(Panicking {
            on: "unloaded",
            armed: &ON_UNLOAD,
        })
        .with(Panicking {
            on: "loaded over the memory budget: no idle module was left to unload",
            armed: &ON_OVER,
        });
    tracing::subscriber::with_default(subscriber, || {
        let (clock, runtime) = budgeted(1_500_000);
        let modules = megabytes(&runtime, "m", 3);
        drop(modules[0].get().unwrap());
        clock.advance(Duration::from_secs(1));
        // m1's load unloads m0 to make room; the "unloaded" event's subscriber panics.
        ON_UNLOAD.store(true, SeqCst);
        drop(modules[1].get().expect("the load answers"));
        ON_UNLOAD.store(false, SeqCst);
        assert!(!modules[0].stats().resident && modules[1].stats().resident);
        let stats = runtime.stats();
        assert_eq!((stats.budget_unloads, stats.sweep_panics), (1, 1));
        // Over budget with nothing to unload (m1 held), the over-budget event panics too.
        let held = modules[1].get().unwrap();
        ON_OVER.store(true, SeqCst);
        drop(modules[2].get().expect("the load answers"));
        ON_OVER.store(false, SeqCst);
        assert_eq!(runtime.stats().over_budget_loads, 1);
        drop(held);
        // Room-making works on after both.
        clock.advance(Duration::from_secs(1));
        drop(modules[0].get().unwrap());
        assert!(runtime.stats().resident_bytes.unwrap() <= 1_500_000 + MB as u64);
    });
}

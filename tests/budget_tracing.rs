//! A `tracing` layer that panics inside a load's room-making: the load still answers, the
//! unload it made is counted, and the panic is counted as a sweep's.
#![allow(missing_docs)]

use lmms::memory::CountingAlloc;
use lmms::{ManualClock, ModuleDef, Runtime};
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::Duration;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

static ARMED: AtomicBool = AtomicBool::new(false);

struct Panicking;

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Panicking {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut message = Message(String::new());
        event.record(&mut message);
        let armed = ARMED.load(SeqCst);
        if armed
            && matches!(
                message.0.as_str(),
                "unloaded" | "loaded over the memory budget: no idle module was left to unload"
            )
        {
            ARMED.store(false, SeqCst);
            panic!("a tracing layer that panics on `{}`", message.0);
        }
    }
}

#[test]
fn a_panic_in_user_code_a_load_s_room_making_runs_is_contained_and_counted() {
    let subscriber = tracing_subscriber::registry().with(Panicking);
    tracing::subscriber::with_default(subscriber, || {
        let clock = ManualClock::new();
        let runtime = Runtime::builder()
            .clock(clock.clone())
            .memory_budget(1_500_000)
            .build()
            .unwrap();
        let modules: Vec<_> = (0..3)
            .map(|i| {
                runtime
                    .register_fallible(ModuleDef::named(format!("m{i}")), || {
                        Ok::<_, Infallible>(vec![1u8; 1_000_000])
                    })
                    .unwrap()
            })
            .collect();
        drop(modules[0].get().unwrap());
        clock.advance(Duration::from_secs(1));
        // m1's load unloads m0 to make room; the "unloaded" event's subscriber panics.
        ARMED.store(true, SeqCst);
        drop(modules[1].get().expect("the load answers"));
        assert!(!modules[0].stats().resident && modules[1].stats().resident);
        let stats = runtime.stats();
        assert_eq!((stats.budget_unloads, stats.sweep_panics), (1, 1));
        // Over budget with nothing to unload (m1 held), the over-budget event panics too.
        let held = modules[1].get().unwrap();
        ARMED.store(true, SeqCst);
        drop(modules[2].get().expect("the load answers"));
        assert_eq!(runtime.stats().over_budget_loads, 1);
        drop(held);
        // Room-making works on after both.
        clock.advance(Duration::from_secs(1));
        drop(modules[0].get().unwrap());
        assert!(runtime.stats().resident_bytes.unwrap() <= 1_500_000 + 1_000_000);
    });
}

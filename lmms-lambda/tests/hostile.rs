#![allow(missing_docs)]
//! User code the layer runs that panics: a `tracing` layer panicking inside the sweep
//! after an invocation. The invocation still answers, the function goes on, and the next
//! sweep works.

mod common;

use common::{invocation, Handler};
use lambda_runtime::tower::{Layer, Service};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::Duration;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};

static ARMED: AtomicBool = AtomicBool::new(false);

/// Panics on lmms's "unloaded" event while armed.
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
        if message.0 == "unloaded" && ARMED.swap(false, SeqCst) {
            panic!("a tracing layer that panics on `unloaded`");
        }
    }
}

#[lmms::module(name = "table", grace = "1s")]
pub struct Table(#[allow(dead_code)] Vec<u8>);

impl lmms::Load for Table {
    type Error = std::convert::Infallible;
    fn load() -> Result<Self, Self::Error> {
        Ok(Table(vec![0; 1024]))
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_sweep_that_panics_after_an_invocation_loses_neither_the_answer_nor_the_function() {
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Panicking))
        .unwrap();
    let clock = common::global_runtime();
    let mut service = lmms_lambda::Lifecycle::new()
        .without_emf()
        .layer(Handler(|_: &[u8]| {
            drop(Table::get().unwrap());
        }));
    service.call(invocation("")).await.unwrap();
    clock.advance(Duration::from_secs(2));
    ARMED.store(true, SeqCst);
    let mut idle = lmms_lambda::Lifecycle::new()
        .without_emf()
        .layer(Handler(|_: &[u8]| {}));
    idle.call(invocation(""))
        .await
        .expect("the invocation answers though its sweep panicked");
    assert_eq!(lmms::stats().sweep_panics, 1);
    assert!(
        !Table::is_resident(),
        "the unload was done before the event"
    );
    // The function goes on: the next invocations load and sweep.
    service.call(invocation("")).await.unwrap();
    clock.advance(Duration::from_secs(2));
    idle.call(invocation("")).await.unwrap();
    assert!(!Table::is_resident());
    assert_eq!(lmms::stats().sweep_panics, 1);
}

#![allow(missing_docs)]
//! The layer around invocations and the shutdown, on the global runtime with a manual
//! clock, as a function's process has it.

mod common;

use common::{invocation, Handler};
use lambda_runtime::tower::{Layer, Service};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

#[lmms::module(name = "tables", grace = "10s")]
pub struct Tables(Vec<u64>);

impl lmms::Load for Tables {
    type Error = std::convert::Infallible;
    fn load() -> Result<Self, Self::Error> {
        Ok(Tables((0..1024).collect()))
    }
}

static CLOSED: AtomicUsize = AtomicUsize::new(0);

/// A client whose close is awaited: a connection to hang up.
#[lmms::module(name = "client")]
pub struct Client;

impl lmms::AsyncLoad for Client {
    type Error = std::convert::Infallible;
    async fn load() -> Result<Self, Self::Error> {
        Ok(Client)
    }
    fn close(self) -> Option<lmms::state::Closing> {
        Some(Box::pin(async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            CLOSED.fetch_add(1, SeqCst);
        }))
    }
}

#[lmms::operation(interface = "tables")]
pub fn lookup(tables: &Tables, index: usize) -> u64 {
    tables.0[index]
}

fn use_tables(body: &[u8]) {
    let index: usize = std::str::from_utf8(body).unwrap().parse().unwrap();
    lmms::execute("tables", "lookup", serde_json::json!({ "index": index })).unwrap();
}

// One test: the global runtime and its modules are the process's, as in a sandbox.
#[tokio::test(flavor = "current_thread")]
async fn each_invocation_is_swept_after_its_response_and_shutdown_closes_everything() {
    let clock = common::global_runtime();
    let mut service = lmms_lambda::Lifecycle::new().layer(Handler(use_tables));

    service.call(invocation("3")).await.unwrap();
    assert!(Tables::is_resident(), "within its grace period");
    assert_eq!(lmms::stats().sweeps, 1, "one sweep per invocation");

    // Idle past the grace period: the next invocation's sweep unloads it once answered.
    clock.advance(Duration::from_secs(11));
    let mut idle = lmms_lambda::Lifecycle::new().layer(Handler(|_: &[u8]| {}));
    idle.call(invocation("")).await.unwrap();
    assert!(!Tables::is_resident());

    // An async module with a close, then SIGTERM's path: every module unloaded, the close
    // awaited before `shutdown` returns.
    drop(Client::get_async().await.unwrap());
    service.call(invocation("5")).await.unwrap();
    lmms_lambda::shutdown().await;
    assert!(!Tables::is_resident() && !Client::is_resident());
    assert_eq!(CLOSED.load(SeqCst), 1);
    assert_eq!(lmms::stats().closing, 0);
}

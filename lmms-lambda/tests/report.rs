//! The invocations' reports as CloudWatch reads them: every line valid EMF, the first one
//! with the cold start and what the init loaded, each with its request and trace ids, and
//! overlapping invocations reporting each load once.

mod common;
#[path = "common/emf_spec.rs"]
mod emf_spec;

use common::{invocation, BoxError, Handler};
use lambda_runtime::tower::{Layer, Service};
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use tokio::sync::oneshot;

#[global_allocator]
static ALLOC: lmms::memory::CountingAlloc = lmms::memory::CountingAlloc;

/// What the init loads.
#[lmms::module(name = "table")]
pub struct Table(Vec<u8>);

impl lmms::Load for Table {
    type Error = std::convert::Infallible;
    fn load() -> Result<Self, Self::Error> {
        Ok(Table(vec![1; 1 << 20]))
    }
}

/// What the first request loads.
#[lmms::module(name = "rates")]
pub struct Rates(Vec<u8>);

impl lmms::Load for Rates {
    type Error = std::convert::Infallible;
    fn load() -> Result<Self, Self::Error> {
        Ok(Rates(vec![2; 64 << 10]))
    }
}

/// What two overlapping invocations load.
#[lmms::module(name = "left")]
pub struct Left(Vec<u8>);

impl lmms::Load for Left {
    type Error = std::convert::Infallible;
    fn load() -> Result<Self, Self::Error> {
        Ok(Left(vec![3; 4096]))
    }
}

/// The other.
#[lmms::module(name = "right")]
pub struct Right(Vec<u8>);

impl lmms::Load for Right {
    type Error = std::convert::Infallible;
    fn load() -> Result<Self, Self::Error> {
        Ok(Right(vec![4; 4096]))
    }
}

/// An inner service whose invocations load a module by their body and end when the test
/// says, so that two of them overlap.
#[derive(Clone)]
struct Gated(Arc<Mutex<Vec<oneshot::Sender<()>>>>);

impl Service<lambda_runtime::LambdaInvocation> for Gated {
    type Response = ();
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, invocation: lambda_runtime::LambdaInvocation) -> Self::Future {
        match &invocation.body[..] {
            b"left" => assert_eq!(Left::get().unwrap().0[0], 3),
            _ => assert_eq!(Right::get().unwrap().0[0], 4),
        }
        let (send, receive) = oneshot::channel();
        self.0.lock().unwrap().push(send);
        Box::pin(async move {
            let _ = receive.await;
            Ok(())
        })
    }
}

fn lines(written: &Mutex<Vec<u8>>) -> Vec<Value> {
    let written = std::mem::take(&mut *written.lock().unwrap());
    String::from_utf8(written)
        .unwrap()
        .lines()
        .map(|line| {
            assert_eq!(emf_spec::violations(line), Vec::<String>::new(), "{line}");
            serde_json::from_str(line).unwrap()
        })
        .collect()
}

fn metric_names(line: &Value) -> Vec<&str> {
    line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|metric| metric["Name"].as_str().unwrap())
        .collect()
}

// One test: the global runtime and its modules are the process's, as in a sandbox.
#[tokio::test(flavor = "current_thread")]
async fn reports_are_valid_emf_with_the_init_and_each_load_once() {
    let _clock = common::global_runtime();
    assert_eq!(Table::get().unwrap().0.len(), 1 << 20); // the init, in `main`
    let written = Arc::new(Mutex::new(Vec::new()));
    let layer = lmms_lambda::Lifecycle::in_namespace("smart-home")
        .unwrap()
        .to_writer(written.clone());
    let mut service = layer.layer(Handler(|body: &[u8]| {
        if body == b"rates" {
            assert_eq!(Rates::get().unwrap().0[0], 2);
        }
    }));

    let mut first = invocation("rates");
    first.context.request_id = "8f5e-first".into();
    first.context.xray_trace_id = Some("Root=1-5759e988-bd862e3fe1be46a994272793".into());
    service.call(first).await.unwrap();
    service.call(invocation("")).await.unwrap();
    let [cold, warm] = &lines(&written)[..] else {
        panic!("one line per invocation")
    };

    assert_eq!(cold["ColdStart"], 1);
    assert_eq!(cold["InitLoads"], 1, "the table, loaded in the init");
    assert!(
        cold["InitBytesLoaded"].as_u64().unwrap() >= 1 << 20,
        "{cold}"
    );
    assert_eq!(cold["InitLoadMs"].as_array().unwrap().len(), 1);
    assert_eq!(cold["Loads"], 1, "the rates, loaded by the first request");
    assert_eq!(cold["LoadMs"].as_array().unwrap().len(), 1);
    assert_eq!(cold["RequestId"], "8f5e-first");
    assert_eq!(
        cold["XRayTraceId"],
        "Root=1-5759e988-bd862e3fe1be46a994272793"
    );
    assert_eq!(
        cold["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "smart-home"
    );
    for name in [
        "ColdStart",
        "InitLoads",
        "InitLoadMs",
        "LoadMs",
        "Loads",
        "ResidentBytes",
    ] {
        assert!(metric_names(cold).contains(&name), "{name} in {cold}");
    }
    for name in [
        "ColdStart",
        "InitLoads",
        "InitBytesLoaded",
        "InitLoadMs",
        "LoadMs",
    ] {
        assert!(!metric_names(warm).contains(&name), "{name} in {warm}");
        assert!(warm.get(name).is_none(), "{name} in {warm}");
    }
    assert_eq!(warm["Loads"], 0);

    // Two invocations that overlap, on the service's clones as a concurrent runner has
    // them: each load is reported once, by whichever line comes first after it.
    let gates = Gated(Arc::new(Mutex::new(Vec::new())));
    let mut left = layer.layer(gates.clone());
    let mut right = left.clone();
    let left = tokio::spawn(left.call(invocation("left")));
    let right = tokio::spawn(right.call(invocation("right")));
    tokio::task::yield_now().await;
    let mut senders = std::mem::take(&mut *gates.0.lock().unwrap());
    assert_eq!(senders.len(), 2, "both invocations started");
    senders.pop().unwrap().send(()).unwrap();
    right.await.unwrap().unwrap();
    senders.pop().unwrap().send(()).unwrap();
    left.await.unwrap().unwrap();
    let overlapped = lines(&written);
    assert_eq!(overlapped.len(), 2);
    let loads: u64 = overlapped
        .iter()
        .map(|line| line["Loads"].as_u64().unwrap())
        .sum();
    assert_eq!(loads, 2, "left and right, once each: {overlapped:?}");
}

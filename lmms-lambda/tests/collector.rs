//! The layer that flushes the application's `metrics_cloudwatch_embedded` collector itself
//! (feature `metrics`), as `Function::metrics` sets it and concurrent runners need it.

mod common;
#[path = "common/emf_spec.rs"]
mod emf_spec;
#[path = "common/collector.rs"]
mod shared;

use common::{invocation, Handler};
use lambda_runtime::tower::{Layer, Service};
use serde_json::Value;
use shared::{flush, Catalog};

// The layer that flushes the collector itself (`Function::metrics`, and so concurrent
// runners): after the invocation, the collector holds no lmms count left to flush, and its
// properties are the invocation's.
#[tokio::test(flavor = "current_thread")]
async fn a_layer_with_the_collector_flushes_it_with_the_invocations_ids() {
    let _clock = common::global_runtime();
    let collector = metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace("shop")
        .with_lambda_request_id("RequestId")
        .with_lambda_xray_trace_id("XRayTraceId")
        .init()
        .unwrap();
    let layer = lmms_lambda::Lifecycle::new().through_collector(collector);
    let mut service = layer.layer(Handler(|_: &[u8]| {
        assert_eq!(Catalog::get().unwrap().0[0], 7);
    }));
    let mut call = invocation("");
    call.context.request_id = "req-7".into();
    call.context.xray_trace_id = Some("Root=1-7".into());
    service.call(call).await.unwrap();
    let after = flush(collector);
    let unlabelled: Vec<&Value> = after
        .iter()
        .filter(|doc| doc.get("module").is_none())
        .collect();
    assert!(!unlabelled.is_empty(), "the gauges stay: {after:?}");
    for doc in unlabelled {
        assert_eq!(doc["RequestId"], "req-7");
        assert_eq!(doc["XRayTraceId"], "Root=1-7");
        assert!(doc.get("lmms.Loads").is_none(), "already flushed: {doc}");
    }
}

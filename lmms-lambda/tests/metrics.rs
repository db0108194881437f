//! lmms's figures on the application's own `metrics_cloudwatch_embedded` line (feature
//! `metrics`): one document with the application's metric and lmms's, valid EMF, each
//! count the invocation's.

mod common;
#[path = "common/emf_spec.rs"]
mod emf_spec;
#[path = "common/collector.rs"]
mod shared;

use common::{invocation, Handler};
use lambda_runtime::tower::{Layer, Service};
use serde_json::Value;
use shared::{flush, Catalog};

// One test: the global runtime and the global recorder are the process's.
#[tokio::test(flavor = "current_thread")]
async fn lmms_figures_share_the_applications_line() {
    let _clock = common::global_runtime();
    let collector = metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace("shop")
        .with_dimension("function", "orders")
        .init()
        .unwrap();
    let layer = lmms_lambda::Lifecycle::new().through_metrics();
    let mut service = layer.layer(Handler(|_: &[u8]| {
        metrics::counter!("orders").increment(1);
        assert_eq!(Catalog::get().unwrap().0[0], 7);
    }));

    service.call(invocation("")).await.unwrap();
    let first = flush(collector);
    // With lmms's own `metrics` feature on too (the workspace's tests unify features), the
    // sweep also publishes its labelled figures, on documents of their own.
    let first: Vec<Value> = first
        .into_iter()
        .filter(|doc| doc.get("module").is_none())
        .collect();
    let [line] = &first[..] else {
        panic!("one document: {first:?}")
    };
    assert_eq!(line["orders"], 1);
    assert_eq!(line["lmms.Loads"], 1);
    assert_eq!(line["lmms.Sweeps"], 1);
    assert_eq!(line["lmms.LoadMs"].as_array().map(Vec::len), Some(1));
    assert_eq!(line["function"], "orders");
    let units: Vec<&Value> = line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|metric| metric["Name"] == "lmms.BytesLoaded")
        .map(|metric| &metric["Unit"])
        .collect();
    assert_eq!(units, [&Value::from("Bytes")]);

    // The second invocation loads nothing: its line has no load.
    service.call(invocation("")).await.unwrap();
    let second: Vec<Value> = flush(collector)
        .into_iter()
        .filter(|doc| doc.get("module").is_none())
        .collect();
    assert_eq!(second.len(), 1, "{second:?}");
    assert_eq!(second[0]["orders"], 1);
    assert!(second[0].get("lmms.Loads").is_none(), "{second:?}");
    assert!(second[0].get("lmms.LoadMs").is_none(), "{second:?}");
    assert_eq!(second[0]["lmms.Sweeps"], 1);
}

//! Namespaces and dimensions CloudWatch would refuse are errors when the layer is built,
//! not lines CloudWatch drops without a word.

mod common;
#[path = "common/emf_spec.rs"]
mod emf_spec;

use common::{invocation, Handler};
use lambda_runtime::tower::{Layer, Service};
use lmms_lambda::Lifecycle;
use std::sync::{Arc, Mutex};

fn reason(result: Result<Lifecycle, lmms::Error>) -> (&'static str, String) {
    match result {
        Err(lmms::Error::InvalidConfig { field, reason }) => (field, reason),
        other => panic!("not refused: {other:?}"),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn bad_names_are_refused_and_good_ones_make_valid_lines() {
    let _clock = common::global_runtime();
    assert_eq!(
        reason(Lifecycle::in_namespace("")),
        ("namespace", "the namespace is empty".into())
    );
    assert!(reason(Lifecycle::in_namespace("a\nb"))
        .1
        .contains("control character"));
    assert!(reason(Lifecycle::in_namespace("AWS/Lambda"))
        .1
        .contains("AWS/"));
    assert!(reason(Lifecycle::in_namespace(&"n".repeat(256)))
        .1
        .contains("255"));
    let stage = Lifecycle::new().dimension("stage", "");
    assert_eq!(
        reason(stage),
        ("dimension", "dimension `stage`'s value is empty".into())
    );
    for taken in ["Loads", "_aws", "RequestId", "ColdStart"] {
        let (_, why) = reason(Lifecycle::new().dimension(taken, "x"));
        assert!(why.contains("uses it"), "{taken}: {why}");
    }
    assert!(reason(Lifecycle::new().dimension("", "x"))
        .1
        .contains("empty"));
    assert!(reason(Lifecycle::new().dimension(":stage", "x"))
        .1
        .contains(':'));
    let mut full = Lifecycle::new();
    for i in 1..30 {
        full = full.dimension(&format!("d{i}"), "x").unwrap();
    }
    assert!(reason(full.clone().dimension("d30", "x"))
        .1
        .contains("31st"));

    // Thirty dimensions, `function` set again: a line CloudWatch takes.
    let written = Arc::new(Mutex::new(Vec::new()));
    let layer = full
        .dimension("function", "checkout")
        .unwrap()
        .to_writer(written.clone());
    layer
        .layer(Handler(|_: &[u8]| {}))
        .call(invocation(""))
        .await
        .unwrap();
    let line = String::from_utf8(written.lock().unwrap().clone()).unwrap();
    assert_eq!(
        emf_spec::violations(line.trim_end()),
        Vec::<String>::new(),
        "{line}"
    );
    let parsed: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(parsed["function"], "checkout");
    let dimensions = &parsed["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0];
    assert_eq!(dimensions.as_array().unwrap().len(), 30);
}

//! The function across a sequence of invocations, on the manual clock.

use lambda_runtime::{Context, LambdaEvent};
use lmms_example_lambda::{handler, Lights, Weather};
use serde_json::{json, Value};
use std::time::Duration;

fn directive(namespace: &str, name: &str, payload: Value) -> LambdaEvent<Value> {
    let payload = json!({
        "directive": {"header": {"namespace": namespace, "name": name}, "payload": payload}
    });
    LambdaEvent::new(payload, Context::default())
}

async fn invoke(namespace: &str, name: &str, payload: Value) -> Value {
    handler(directive(namespace, name, payload))
        .await
        .expect("the handler answers")
}

fn turn_on(room: &str) -> (&'static str, &'static str, Value) {
    (
        "Alexa.PowerController",
        "TurnOn",
        json!({"room": room, "brightness": 80}),
    )
}

// One test: the runtime, its clock and the modules are the process's, shared by every
// invocation, as in a Lambda sandbox.
#[tokio::test(flavor = "current_thread")]
async fn the_lifecycle_across_invocations() {
    let clock = lmms::ManualClock::new();
    let runtime = lmms::Runtime::builder()
        .clock(clock.clone())
        .min_resident(0)
        .build()
        .unwrap();
    lmms::Runtime::set_global(runtime).unwrap();

    // Nothing is loaded before the first invocation; the first loads only what it uses.
    assert!(!Lights::is_resident() && !Weather::is_resident());
    let (ns, name, payload) = turn_on("kitchen");
    let response = invoke(ns, name, payload).await;
    assert_eq!(
        response["event"]["header"]["name"], "Response",
        "{response}"
    );
    assert_eq!(response["event"]["payload"]["brightness"], 80);
    assert!(Lights::is_resident() && !Weather::is_resident());

    // Warm: later invocations within the grace period reload nothing.
    for _ in 0..3 {
        clock.advance(Duration::from_secs(5));
        let (ns, name, payload) = turn_on("bedroom");
        invoke(ns, name, payload).await;
    }
    assert_eq!(Lights::stats().loads, 1);

    // Idle past the grace period: the next invocation's sweep unloads what it did not use.
    clock.advance(Duration::from_secs(31));
    let forecast = invoke("Alexa.WeatherReport", "Forecast", json!({"day": 2})).await;
    assert_eq!(forecast["event"]["payload"], json!(-3));
    assert!(!Lights::is_resident(), "lights idled 31 s and were swept");
    assert!(Weather::is_resident());

    // Needed again: loaded again.
    let (ns, name, payload) = turn_on("kitchen");
    invoke(ns, name, payload).await;
    assert_eq!(Lights::stats().loads, 2);

    // Hot: after 20 calls the operation pins its module and takes the direct path; the
    // sweep keeps a pinned module even past its grace period.
    for _ in 0..20 {
        let (ns, name, payload) = turn_on("living_room");
        invoke(ns, name, payload).await;
    }
    assert!(lmms_example_lambda::turn_on::OP.is_hot());
    clock.advance(Duration::from_secs(31));
    invoke("Alexa.WeatherReport", "Forecast", json!({"day": 2})).await;
    assert!(Lights::is_resident(), "pinned by its hot operation");

    // Clear error responses, and the function keeps working after them.
    let unknown = invoke("Alexa.Cooking", "Bake", json!({})).await;
    assert_eq!(unknown["event"]["header"]["name"], "ErrorResponse");
    assert_eq!(unknown["event"]["payload"]["type"], "INVALID_DIRECTIVE");
    assert_eq!(
        unknown["event"]["payload"]["message"],
        "no handler for `Alexa.Cooking.Bake`"
    );
    let bad = invoke(
        "Alexa.PowerController",
        "TurnOn",
        json!({"room": "kitchen", "brightness": 900}),
    )
    .await;
    assert_eq!(bad["event"]["payload"]["type"], "INVALID_VALUE");
    assert_eq!(
        bad["event"]["payload"]["message"],
        "lights.turn_on: argument `brightness` is not a valid u8: invalid value: integer `900`, expected u8"
    );
    let no_room = invoke(
        "Alexa.PowerController",
        "TurnOn",
        json!({"room": "attic", "brightness": 10}),
    )
    .await;
    assert_eq!(
        no_room["event"]["header"]["name"], "ErrorResponse",
        "{no_room}"
    );
    assert_eq!(no_room["event"]["payload"]["type"], "NO_SUCH_ENDPOINT");
    assert_eq!(
        no_room["event"]["payload"]["message"],
        "lights.turn_on failed: no lights in `attic`"
    );
    // No call left a guard behind (the hot path's hold on its module is a pin).
    assert_eq!(Lights::stats().guards, 0);
}

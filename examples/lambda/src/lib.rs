//! A smart-home skill as a real AWS Lambda function: each invocation is an Alexa-style
//! directive, routed by name to an lmms operation; the state behind it is loaded on first
//! use and swept at the end of each invocation (a frozen Lambda sandbox runs no thread, so
//! the sweep runs while the invocation still does).
//!
//! `cargo lambda deploy` (or any zip of the `bootstrap` binary) ships it; the tests drive
//! [`handler`] with `LambdaEvent::new(payload, Context::default())`.

use lambda_runtime::{Error, LambdaEvent};
use serde_json::{json, Value};
use std::convert::Infallible;

/// The lights of the home, by room: brightness per room.
#[lmms::module(class = "utility", name = "lights")]
pub struct Lights {
    rooms: Vec<(&'static str, u8)>,
    /// The device tables a real skill would hold (real bytes: 512 KiB).
    devices: Vec<u64>,
}

impl lmms::Load for Lights {
    type Error = Infallible;
    fn load() -> Result<Self, Self::Error> {
        Ok(Lights {
            rooms: vec![("living_room", 0), ("kitchen", 0), ("bedroom", 0)],
            devices: (0..64 * 1024).collect(),
        })
    }
}

/// A week of forecasts: a large table, cached answers.
#[lmms::module(class = "utility", name = "weather")]
pub struct Weather {
    days: Vec<i32>,
}

impl lmms::Load for Weather {
    type Error = Infallible;
    fn load() -> Result<Self, Self::Error> {
        Ok(Weather {
            days: (0..512 * 1024).map(|i: i32| i % 30 - 5).collect(),
        })
    }
}

/// Turns a room's lights on, at a brightness.
#[lmms::operation(interface = "lights")]
pub fn turn_on(lights: &Lights, room: String, brightness: u8) -> Result<Value, String> {
    if !lights.rooms.iter().any(|(name, _)| *name == room) {
        return Err(format!("no lights in `{room}`"));
    }
    let device = lights.devices[room.len() % lights.devices.len()];
    Ok(json!({"room": room, "brightness": brightness, "device": device}))
}

/// The forecast for a day ahead (0 = today).
#[lmms::operation(interface = "weather", cache_ttl = "5m")]
pub fn forecast(weather: &Weather, day: u8) -> i32 {
    weather.days[usize::from(day) % weather.days.len()]
}

/// Directive `(namespace, name)` → operation `(interface, name)`.
const ROUTES: &[(&str, &str, &str, &str)] = &[
    ("Alexa.PowerController", "TurnOn", "lights", "turn_on"),
    ("Alexa.WeatherReport", "Forecast", "weather", "forecast"),
];

/// One invocation: route the directive by name, run it through lmms, sweep.
///
/// An unknown directive or a bad payload gets an Alexa `ErrorResponse` that says what was
/// wrong; the function itself does not fail, so Lambda does not retry it.
pub async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let before = lmms::stats();
    let response = respond(&event.payload);
    lmms::sweep();
    // What this invocation did, as a CloudWatch EMF line: CloudWatch Logs records the
    // figures as metrics with no agent.
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "local".into());
    let emf = lmms::report::Emf::new("lmms").dimension("function", function);
    println!("{}", emf.line(&lmms::stats().since(&before)));
    Ok(response)
}

fn respond(directive: &Value) -> Value {
    let header = &directive["directive"]["header"];
    let namespace = header["namespace"].as_str().unwrap_or_default();
    let name = header["name"].as_str().unwrap_or_default();
    let Some(&(_, _, interface, operation)) = ROUTES
        .iter()
        .find(|route| route.0 == namespace && route.1 == name)
    else {
        return error(
            "INVALID_DIRECTIVE",
            format!("no handler for `{namespace}.{name}`"),
        );
    };
    let payload = directive["directive"]["payload"].clone();
    match lmms::execute(interface, operation, payload) {
        Ok(value) => json!({
            "event": {
                "header": {"namespace": "Alexa", "name": "Response"},
                "payload": value,
            }
        }),
        Err(failed @ lmms::ExecError::Failed { .. }) => {
            error("NO_SUCH_ENDPOINT", failed.to_string())
        }
        Err(lmms::ExecError::Runtime(runtime)) => error("INTERNAL_ERROR", runtime.to_string()),
        Err(invalid) => error("INVALID_VALUE", invalid.to_string()),
    }
}

fn error(kind: &str, message: String) -> Value {
    json!({
        "event": {
            "header": {"namespace": "Alexa", "name": "ErrorResponse"},
            "payload": {"type": kind, "message": message},
        }
    })
}

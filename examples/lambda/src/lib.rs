//! A smart-home skill as a real AWS Lambda function: each invocation is an Alexa-style
//! directive, routed by name to an lmms operation. Its state is what real functions hold:
//! - `devices`: a DynamoDB client, built with `.await` (the SDK's configuration chain) the
//!   first time a directive needs it, and closed when it is unloaded;
//! - `weather`: a large table, its forecasts cached;
//! - `energy`: a feature module, a report built for one directive and dropped right after.
//!
//! The function's `main` is one line, [`lmms_lambda::run`]: after each invocation a sweep
//! and an EMF line, a memory budget from the function's memory size, everything closed on
//! `SIGTERM`. `tests/lambda.py` runs it under `cargo lambda watch` against a local
//! `moto_server`; the README says how to deploy it.

pub mod twelve;

use lambda_runtime::LambdaEvent;
use lmms_lambda::HandlerError;
use serde_json::{json, Value};
use std::convert::Infallible;

/// The table the lights live in: `LMMS_TABLE`, or `lmms-devices`.
pub fn table() -> String {
    std::env::var("LMMS_TABLE").unwrap_or_else(|_| "lmms-devices".into())
}

/// The DynamoDB client, configured from the environment (`AWS_ENDPOINT_URL` points it at a
/// local moto server in the tests).
#[lmms::module(class = "utility", name = "devices")]
pub struct Devices {
    client: aws_sdk_dynamodb::Client,
}

impl lmms::AsyncLoad for Devices {
    type Error = Infallible;

    async fn load() -> Result<Self, Self::Error> {
        let config = aws_config::load_from_env().await;
        Ok(Devices {
            client: aws_sdk_dynamodb::Client::new(&config),
        })
    }

    fn close(self) -> Option<lmms::state::Closing> {
        Some(Box::pin(async move {
            drop(self.client);
            println!("devices: the DynamoDB client is closed");
        }))
    }
}

/// An SDK call's error as the operation's: what it did, to which room, and the SDK's whole
/// chain of causes.
fn failed(doing: &str, room: &str, error: impl std::error::Error) -> String {
    format!(
        "cannot {doing} `{room}`: {}",
        aws_sdk_dynamodb::error::DisplayErrorContext(error)
    )
}

fn attribute(value: impl Into<String>) -> aws_sdk_dynamodb::types::AttributeValue {
    aws_sdk_dynamodb::types::AttributeValue::S(value.into())
}

/// Sets a room's lights to a brightness, in the table.
#[lmms::operation(interface = "lights")]
pub async fn set(devices: &Devices, room: String, brightness: u8) -> Result<Value, String> {
    devices
        .client
        .put_item()
        .table_name(table())
        .item("room", attribute(&room))
        .item(
            "brightness",
            aws_sdk_dynamodb::types::AttributeValue::N(brightness.to_string()),
        )
        .send()
        .await
        .map_err(|error| failed("write", &room, error))?;
    Ok(json!({"room": room, "brightness": brightness}))
}

/// A room's lights, from the table; a room never set is an error.
#[lmms::operation(interface = "lights")]
pub async fn get(devices: &Devices, room: String) -> Result<Value, String> {
    let found = devices
        .client
        .get_item()
        .table_name(table())
        .key("room", attribute(&room))
        .send()
        .await
        .map_err(|error| failed("read", &room, error))?;
    let item = found.item.ok_or_else(|| format!("no lights in `{room}`"))?;
    let brightness = item
        .get("brightness")
        .and_then(|value| value.as_n().ok())
        .and_then(|n| n.parse::<u8>().ok())
        .ok_or_else(|| format!("`{room}` has no brightness"))?;
    Ok(json!({"room": room, "brightness": brightness}))
}

/// A year of forecasts, by hour: a large table (2 MiB), its answers cached.
#[lmms::module(class = "utility", name = "weather")]
pub struct Weather {
    hours: Vec<i32>,
}

impl lmms::Load for Weather {
    type Error = Infallible;
    fn load() -> Result<Self, Self::Error> {
        Ok(Weather {
            hours: (0..512 * 1024).map(|i: i32| i % 30 - 5).collect(),
        })
    }
}

/// The forecast for a day ahead (0 = today), at noon.
#[lmms::operation(interface = "weather", cache_ttl = "5m")]
pub fn forecast(weather: &Weather, day: u16) -> i32 {
    weather.hours[(usize::from(day) * 24 + 12) % weather.hours.len()]
}

/// The energy report's tables: built for the directive that asks, dropped right after.
#[lmms::module(class = "feature", name = "energy")]
pub struct Energy {
    meters: Vec<u64>,
}

impl lmms::Load for Energy {
    type Error = Infallible;
    fn load() -> Result<Self, Self::Error> {
        Ok(Energy {
            meters: (0..256 * 1024).collect(),
        })
    }
}

/// The energy used over the last `days` days.
#[lmms::operation(interface = "energy")]
pub fn report(energy: &Energy, days: u16) -> u64 {
    energy.meters.iter().take(usize::from(days) * 96).sum()
}

/// Directive `(namespace, name)` → operation `(interface, name)`.
const ROUTES: &[(&str, &str, &str, &str)] = &[
    ("Alexa.PowerController", "TurnOn", "lights", "set"),
    ("Alexa.PowerController", "ReportState", "lights", "get"),
    ("Alexa.WeatherReport", "Forecast", "weather", "forecast"),
    ("Alexa.EnergyReport", "Report", "energy", "report"),
];

/// One invocation: the directive routed by name and run through lmms. What lmms does
/// around it (the sweep, the EMF line) is `lmms_lambda`'s layer.
///
/// An unknown directive or a bad payload gets an Alexa `ErrorResponse` that says what was
/// wrong; the function itself does not fail, so Lambda does not retry it.
///
/// The function's own tools call an operation directly instead, `{"operation":
/// "weather.forecast", "args": {"day": 2}}`: its output is the response, and an error
/// fails the invocation, with Lambda's `errorType` saying which kind
/// (`lmms.UnknownOperation`, `lmms.BadArguments`, `lmms.OperationFailed`).
pub async fn handler(event: LambdaEvent<Value>) -> Result<Value, HandlerError> {
    if let Some(operation) = event.payload["operation"].as_str() {
        let (interface, name) = operation.split_once('.').unwrap_or(("", operation));
        let args = event.payload["args"].clone();
        return Ok(lmms::execute_async(interface, name, args).await?);
    }
    Ok(respond(&event.payload).await)
}

async fn respond(directive: &Value) -> Value {
    match route(directive) {
        Ok((interface, operation, payload)) => {
            answer(lmms::execute_async(interface, operation, payload).await)
        }
        Err(unrouted) => unrouted,
    }
}

/// The operation `(interface, name)` a directive routes to, and its arguments; an Alexa
/// `ErrorResponse` for a directive with no route.
pub fn route(directive: &Value) -> Result<(&'static str, &'static str, Value), Value> {
    let header = &directive["directive"]["header"];
    let namespace = header["namespace"].as_str().unwrap_or_default();
    let name = header["name"].as_str().unwrap_or_default();
    let Some(&(_, _, interface, operation)) = ROUTES
        .iter()
        .find(|route| route.0 == namespace && route.1 == name)
    else {
        return Err(error(
            "INVALID_DIRECTIVE",
            format!("no handler for `{namespace}.{name}`"),
        ));
    };
    Ok((
        interface,
        operation,
        directive["directive"]["payload"].clone(),
    ))
}

/// An operation's result as the Alexa response: its value, or an `ErrorResponse` whose
/// type says what was wrong.
pub fn answer(result: Result<Value, lmms::ExecError>) -> Value {
    match result {
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

//! The same function as Rust code without lmms holds its state: each client and table in
//! a static, built by the first request that needs it and never dropped. The
//! "lazy-never-dropped" baseline of the cold-start figures (`tests/coldstart.py`).

use lambda_runtime::{service_fn, Error, LambdaEvent};
use lmms::{AsyncLoad, Load};
use lmms_example_lambda::{answer, route, Devices, Energy, Weather};
use serde_json::{json, Value};
use std::sync::LazyLock;
use tokio::sync::OnceCell;

static DEVICES: OnceCell<Devices> = OnceCell::const_new();
static WEATHER: LazyLock<Weather> = LazyLock::new(|| <Weather as Load>::load().unwrap());
static ENERGY: LazyLock<Energy> = LazyLock::new(|| <Energy as Load>::load().unwrap());

async fn devices() -> &'static Devices {
    DEVICES
        .get_or_init(|| async { <Devices as AsyncLoad>::load().await.unwrap() })
        .await
}

/// An argument of the payload, as the operation's parameter.
fn arg<T: serde::de::DeserializeOwned>(payload: &Value, name: &str) -> Result<T, String> {
    serde_json::from_value(payload[name].clone()).map_err(|error| format!("`{name}`: {error}"))
}

async fn call(interface: &str, operation: &str, payload: &Value) -> Result<Value, String> {
    match (interface, operation) {
        ("lights", "set") => {
            let (room, brightness) = (arg(payload, "room")?, arg(payload, "brightness")?);
            lmms_example_lambda::set(devices().await, room, brightness).await
        }
        ("lights", "get") => lmms_example_lambda::get(devices().await, arg(payload, "room")?).await,
        ("weather", "forecast") => Ok(json!(lmms_example_lambda::forecast(
            &WEATHER,
            arg(payload, "day")?
        ))),
        _ => Ok(json!(lmms_example_lambda::report(
            &ENERGY,
            arg(payload, "days")?
        ))),
    }
}

async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(match route(&event.payload) {
        Ok((interface, operation, payload)) => answer(
            call(interface, operation, &payload)
                .await
                .map_err(|message| lmms::ExecError::Failed {
                    operation: format!("{interface}.{operation}"),
                    message,
                    error: Value::Null,
                }),
        ),
        Err(unrouted) => unrouted,
    })
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handler)).await
}

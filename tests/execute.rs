//! Calls by name (feature `json`): the same managed path as the typed call, and every
//! error names what was wrong.
#![allow(missing_docs)]

mod common;

use lmms::ExecError;
use serde_json::json;

#[lmms::module(name = "forecasts")]
pub struct Forecasts {
    days: Vec<u32>,
}

impl lmms::Load for Forecasts {
    type Error = std::convert::Infallible;
    fn load() -> Result<Self, Self::Error> {
        Ok(Forecasts {
            days: (0..14).map(|day| 10 + day).collect(),
        })
    }
}

#[lmms::operation(interface = "weather", cache_ttl = "5m")]
pub fn forecast(forecasts: &Forecasts, city: String, days: u8) -> Vec<String> {
    forecasts.days[..usize::from(days)]
        .iter()
        .map(|temperature| format!("{city}: {temperature}°"))
        .collect()
}

#[lmms::operation(interface = "weather")]
pub fn hottest(forecasts: &Forecasts) -> u32 {
    forecasts.days.iter().copied().max().unwrap_or(0)
}

#[lmms::operation(interface = "weather")]
pub fn parse_city(code: String) -> Result<u16, String> {
    code.parse()
        .map_err(|_| format!("`{code}` is not a city code"))
}

#[lmms::operation(interface = "weather")]
pub async fn radar(city: String) -> usize {
    city.len()
}

/// Not serde: callable by its typed call, not by name.
pub struct Opaque(pub u8);

#[lmms::operation(interface = "weather")]
pub fn opaque(value: u8) -> Opaque {
    Opaque(value)
}

fn no_guard_left() {
    assert_eq!(Forecasts::stats().guards, 0);
}

#[test]
fn a_call_by_name_takes_the_managed_path() {
    let output = lmms::execute("weather", "forecast", json!({"city": "Oslo", "days": 2})).unwrap();
    assert_eq!(output, json!(["Oslo: 10°", "Oslo: 11°"]));
    assert!(Forecasts::is_resident());
    // The cache answers the second call, as it does for the typed call.
    lmms::execute("weather", "forecast", json!({"days": 2, "city": "Oslo"})).unwrap();
    assert_eq!(forecast::OP.stats().cache.unwrap().hits, 1);
    assert_eq!(forecast::call("Oslo".into(), 2).unwrap().len(), 2);
    assert_eq!(forecast::OP.stats().cache.unwrap().hits, 2);
    no_guard_left();
}

#[test]
fn operations_without_arguments_take_an_empty_object_or_null() {
    assert_eq!(
        lmms::execute("weather", "hottest", json!({})).unwrap(),
        json!(23)
    );
    assert_eq!(
        lmms::execute("weather", "hottest", json!(null)).unwrap(),
        json!(23)
    );
}

#[test]
fn a_fallible_operation_answers_its_value_or_an_error() {
    assert_eq!(
        lmms::execute("weather", "parse_city", json!({"code": "42"})).unwrap(),
        json!(42)
    );
    let error = lmms::execute("weather", "parse_city", json!({"code": "x"})).unwrap_err();
    match &error {
        ExecError::Failed {
            operation, error, ..
        } => {
            assert_eq!(operation, "weather.parse_city");
            assert_eq!(error, &json!("`x` is not a city code"));
        }
        other => panic!("not the operation's error: {other:?}"),
    }
    assert_eq!(
        error.to_string(),
        "weather.parse_city failed: `x` is not a city code"
    );
}

#[derive(serde::Serialize)]
pub struct Outage {
    backend: &'static str,
    retry_in_s: u32,
}

#[lmms::operation(interface = "weather")]
pub fn alerts(region: String) -> Result<Vec<String>, Outage> {
    Err(Outage {
        backend: "alerts",
        retry_in_s: region.len() as u32,
    })
}

#[test]
fn an_error_that_is_not_text_comes_back_as_its_json() {
    let error = lmms::execute("weather", "alerts", json!({"region": "north"})).unwrap_err();
    let ExecError::Failed { error: json, .. } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(json, &json!({"backend": "alerts", "retry_in_s": 5}));
    assert_eq!(
        error.to_string(),
        r#"weather.alerts failed: {"backend":"alerts","retry_in_s":5}"#
    );
}

#[lmms::operation(interface = "weather")]
pub fn outlook(city: String, days: Option<u8>) -> String {
    format!("{city}: {} days", days.unwrap_or(3))
}

#[test]
fn a_missing_option_argument_is_none() {
    assert_eq!(
        lmms::execute("weather", "outlook", json!({"city": "Oslo"})).unwrap(),
        json!("Oslo: 3 days")
    );
    assert_eq!(
        lmms::execute("weather", "outlook", json!({"city": "Oslo", "days": 5})).unwrap(),
        json!("Oslo: 5 days")
    );
    let error = lmms::execute("weather", "outlook", json!({"days": 5})).unwrap_err();
    assert_eq!(
        error.to_string(),
        "weather.outlook: missing argument `city` (expected String)"
    );
}

#[test]
fn the_registry_check_is_an_error_usable_with_the_question_mark() {
    fn check() -> Result<(), Box<dyn std::error::Error>> {
        lmms::registry::check_registry()?;
        Ok(())
    }
    check().unwrap();
}

#[test]
fn a_huge_unknown_name_is_answered_without_a_search() {
    let name = "x".repeat(1 << 20);
    let error = lmms::execute("weather", &name, json!({})).unwrap_err();
    match error {
        ExecError::Runtime(lmms::Error::UnknownOperation { did_you_mean, .. }) => {
            assert!(did_you_mean.is_empty())
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_unknown_operation_names_the_closest() {
    let error = lmms::execute("weather", "forcast", json!({})).unwrap_err();
    match &error {
        ExecError::Runtime(lmms::Error::UnknownOperation {
            operation,
            did_you_mean,
        }) => {
            assert_eq!(operation, "weather.forcast");
            assert_eq!(
                did_you_mean.first().map(String::as_str),
                Some("weather.forecast")
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        error.to_string().contains("did you mean weather.forecast"),
        "{error}"
    );
    let error = lmms::execute("nothing", "like_it_at_all", json!({})).unwrap_err();
    assert_eq!(
        error.to_string(),
        "unknown operation `nothing.like_it_at_all`"
    );
}

#[test]
fn argument_errors_name_the_field_and_the_type() {
    let calls = forecast::OP.stats().calls;
    let cases = [
        (json!({"city": "Oslo"}), "weather.forecast: missing argument `days` (expected u8)"),
        (
            json!({"city": "Oslo", "days": 2, "hours": 3}),
            "weather.forecast: unexpected argument `hours`; the parameters are `city: String`, `days: u8`",
        ),
        (
            json!({"city": "Oslo", "days": 300}),
            "weather.forecast: argument `days` is not a valid u8: invalid value: integer `300`, expected u8",
        ),
        (
            json!({"city": 7, "days": 1}),
            "weather.forecast: argument `city` is not a valid String: invalid type: integer `7`, expected a string",
        ),
        (
            json!({"city": "Oslo", "days": {"deep": [1, 2, {"deeper": null}]}}),
            "weather.forecast: argument `days` is not a valid u8: invalid type: map, expected u8",
        ),
        (
            json!(["Oslo", 2]),
            "weather.forecast: the arguments must be a JSON object keyed by parameter name, not an array",
        ),
    ];
    for (args, message) in cases {
        let error = lmms::execute("weather", "forecast", args).unwrap_err();
        assert_eq!(error.to_string(), message);
    }
    // Nothing ran: no call counted, no guard taken.
    assert_eq!(forecast::OP.stats().calls, calls);
    no_guard_left();
}

#[test]
fn text_that_is_not_json_is_a_parse_error() {
    for text in ["{", r#"{"code": "\ud800"}"#, "{\"code\": 1e999999}"] {
        let error = lmms::execute_str("weather", "parse_city", text).unwrap_err();
        assert!(matches!(error, ExecError::Parse(_)), "{text}: {error:?}");
    }
}

#[test]
fn async_and_non_serde_operations_say_why_they_cannot_be_called_by_name() {
    let error = lmms::execute("weather", "radar", json!({"city": "Oslo"})).unwrap_err();
    assert_eq!(
        error.to_string(),
        "weather.radar: cannot be called by name: it is an `async fn`: call it with `lmms::execute_async`"
    );
    let error = lmms::execute("weather", "opaque", json!({"value": 1})).unwrap_err();
    assert!(matches!(error, ExecError::NotCallable { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        "weather.opaque: cannot be called by name: its output `execute::Opaque` does not implement `serde::Serialize`"
    );
    assert_eq!(opaque::call(3).unwrap().0, 3);
}

#[test]
fn linked_operations_and_modules_are_listed() {
    assert!(
        lmms::registry::operations().any(|op| op.interface() == "weather" && op.name() == "radar")
    );
    let module = lmms::registry::modules()
        .find(|module| module.name() == "forecasts")
        .unwrap();
    assert_eq!(module.class(), lmms::Class::Utility);
    assert!(module.location().0.ends_with("execute.rs"));
    let op = lmms::registry::lookup("weather", "forecast").unwrap();
    assert_eq!(
        op.params()[0],
        lmms::registry::Param {
            name: "city",
            ty: "String"
        }
    );
    assert!(lmms::registry::check_registry().is_ok());
}

// ---------------------------------------------------------------- async, by name

#[lmms::module(name = "inventory")]
pub struct Inventory {
    stock: Vec<u32>,
}

impl lmms::AsyncLoad for Inventory {
    type Error = std::convert::Infallible;
    async fn load() -> Result<Self, Self::Error> {
        common::YieldOnce::default().await; // the database
        Ok(Inventory {
            stock: vec![4, 0, 9],
        })
    }
}

#[lmms::operation(interface = "shop")]
pub async fn stock(inventory: &Inventory, item: usize) -> Result<u32, String> {
    common::YieldOnce::default().await;
    inventory
        .stock
        .get(item)
        .copied()
        .ok_or_else(|| format!("no item {item}"))
}

#[lmms::operation(interface = "shop")]
pub async fn local_only(item: usize) -> usize {
    let here = std::rc::Rc::new(item);
    common::YieldOnce::default().await;
    *here
}

#[test]
fn async_operations_are_called_by_name_with_execute_async() {
    let run = |name: &str, args: serde_json::Value| {
        common::block_on(lmms::execute_async("shop", name, args))
    };
    assert_eq!(run("stock", json!({"item": 2})).unwrap(), json!(9));
    assert_eq!(Inventory::stats().loads, 1);
    // The same argument checks and errors as `execute`.
    let error = run("stock", json!({})).unwrap_err();
    assert!(
        matches!(error, ExecError::MissingArgument { field: "item", .. }),
        "{error:?}"
    );
    let error = run("stock", json!({"item": "two"})).unwrap_err();
    assert!(matches!(error, ExecError::Argument { .. }), "{error:?}");
    match run("stock", json!({"item": 7})).unwrap_err() {
        ExecError::Failed { message, .. } => assert_eq!(message, "no item 7"),
        other => panic!("expected the operation's error, got {other:?}"),
    }
    // A synchronous operation runs as `execute` runs it.
    assert_eq!(
        common::block_on(lmms::execute_async(
            "weather",
            "parse_city",
            json!({"code": "0047"})
        ))
        .unwrap(),
        lmms::execute("weather", "parse_city", json!({"code": "0047"})).unwrap()
    );
    let error = run("local_only", json!({"item": 1})).unwrap_err();
    assert_eq!(
        error.to_string(),
        "shop.local_only: cannot be called by name: its future is not `Send`"
    );
    assert_eq!(common::block_on(local_only::call(5)).unwrap(), 5);
}

// ------------------------------------------- a `Result` known by its type, not its spelling

/// The answer of a failing call by name: the operation's error, or why it is not one.
fn failure(answer: Result<serde_json::Value, ExecError>) -> serde_json::Value {
    match answer {
        Err(ExecError::Failed { error, .. }) => error,
        other => panic!("expected the operation's error, got {other:?}"),
    }
}

/// A `Result` behind an alias of the crate's own.
type Reply = Result<u32, String>;

/// Half of an even number.
fn half(x: u32) -> Reply {
    if x.is_multiple_of(2) {
        Ok(x / 2)
    } else {
        Err(format!("{x} is odd"))
    }
}

#[lmms::operation(interface = "spelling")]
pub fn aliased(x: u32) -> Reply {
    half(x)
}

#[lmms::operation(interface = "spelling")]
pub async fn aliased_async(x: u32) -> Reply {
    common::YieldOnce::default().await;
    half(x)
}

/// `Result` imported under another name.
mod renamed {
    use std::result::Result as Outcome;

    #[lmms::operation(interface = "spelling")]
    pub fn renamed(x: u32) -> Outcome<u32, String> {
        super::half(x)
    }

    #[lmms::operation(interface = "spelling")]
    pub async fn renamed_async(x: u32) -> Outcome<u32, String> {
        super::common::YieldOnce::default().await;
        super::half(x)
    }
}

/// A crate's own `Result<T>`, its error fixed, as `io::Result<T>` is.
mod crate_style {
    #[derive(Debug, serde::Serialize)]
    pub struct Odd {
        pub odd: u32,
    }

    pub type Result<T> = std::result::Result<T, Odd>;

    #[lmms::operation(interface = "spelling")]
    pub fn crate_style(x: u32) -> Result<u32> {
        super::half(x).map_err(|_| Odd { odd: x })
    }

    #[lmms::operation(interface = "spelling")]
    pub async fn crate_style_async(x: u32) -> Result<u32> {
        super::common::YieldOnce::default().await;
        crate_style(x)
    }

    #[lmms::operation(interface = "spelling")]
    pub fn io_style(path: String) -> std::io::Result<u64> {
        Ok(path.len() as u64)
    }
}

/// A type of the crate's own that only looks like one: its answer by name is the value.
mod lookalike {
    #[derive(serde::Serialize)]
    pub enum Result<T> {
        Ok(T),
        Err(String),
    }

    #[lmms::operation(interface = "spelling")]
    pub fn lookalike(x: u32) -> Result<u32> {
        match super::half(x) {
            Ok(half) => Result::Ok(half),
            Err(error) => Result::Err(error),
        }
    }
}

#[test]
fn a_result_behind_an_alias_answers_its_value_or_an_error_by_name() {
    for name in ["aliased", "renamed", "crate_style"] {
        let call = |x: u32| lmms::execute("spelling", name, json!({ "x": x }));
        let call_async = |x: u32| {
            let name = format!("{name}_async");
            common::block_on(lmms::execute_async("spelling", &name, json!({ "x": x })))
        };
        assert_eq!(call(8).unwrap(), json!(4), "{name}");
        assert_eq!(call_async(8).unwrap(), json!(4), "{name}_async");
        // A synchronous operation, called from async code.
        let sync_from_async =
            common::block_on(lmms::execute_async("spelling", name, json!({ "x": 6 })));
        assert_eq!(sync_from_async.unwrap(), json!(3), "{name}");
        let expected = match name {
            "crate_style" => json!({ "odd": 7 }),
            _ => json!("7 is odd"),
        };
        assert_eq!(failure(call(7)), expected, "{name}");
        assert_eq!(failure(call_async(7)), expected, "{name}_async");
        assert!(
            lmms::registry::lookup("spelling", name)
                .unwrap()
                .is_fallible(),
            "{name}"
        );
    }
    assert!(lmms::registry::lookup("spelling", "io_style")
        .unwrap()
        .is_fallible());
}

#[test]
fn a_type_that_only_looks_like_a_result_answers_its_value() {
    assert!(!lmms::registry::lookup("spelling", "lookalike")
        .unwrap()
        .is_fallible());
    assert_eq!(
        lmms::execute("spelling", "lookalike", json!({ "x": 7 })).unwrap(),
        json!({ "Err": "7 is odd" })
    );
}

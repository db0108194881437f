//! Lambda's `errorType` for lmms's errors: what `?` into `lambda_runtime::Error` reports
//! (the box's type, whatever went wrong), and what `HandlerError` reports instead.

use lambda_runtime::Diagnostic;
use lmms_lambda::HandlerError;
use serde_json::json;

/// A table the operations read.
#[lmms::module(name = "rates")]
pub struct Rates(Vec<u32>);

impl lmms::Load for Rates {
    type Error = std::convert::Infallible;
    fn load() -> Result<Self, Self::Error> {
        Ok(Rates(vec![7; 16]))
    }
}

/// An operation that answers.
#[lmms::operation(interface = "prices")]
pub fn rate(rates: &Rates, region: usize) -> u32 {
    rates.0[region % rates.0.len()]
}

/// An operation that fails for an unknown currency.
#[lmms::operation(interface = "prices")]
pub fn convert(rates: &Rates, currency: String) -> Result<u32, String> {
    match currency.as_str() {
        "EUR" => Ok(rates.0[0]),
        other => Err(format!("no rate for {other}")),
    }
}

/// A failing load.
#[lmms::module(name = "broken")]
pub struct Broken;

impl lmms::Load for Broken {
    type Error = std::io::Error;
    fn load() -> Result<Self, Self::Error> {
        Err(std::io::Error::other("the bucket is gone"))
    }
}

/// An operation on it.
#[lmms::operation(interface = "broken")]
pub fn read(_: &Broken) -> u32 {
    0
}

/// The `errorType` through `?` into `lambda_runtime::Error`, and through `HandlerError`,
/// of a call by name that fails.
fn error_types(interface: &str, name: &str, args: serde_json::Value) -> (String, String) {
    let call = || lmms::execute(interface, name, args.clone()).unwrap_err();
    let boxed = Diagnostic::from(lambda_runtime::Error::from(call())).error_type;
    (
        boxed,
        Diagnostic::from(HandlerError::from(call())).error_type,
    )
}

#[test]
fn each_kind_of_failure_has_its_error_type() {
    let cases = [
        ("prices", "rait", json!({}), "lmms.UnknownOperation"),
        (
            "prices",
            "rate",
            json!({"region": "x"}),
            "lmms.BadArguments",
        ),
        ("prices", "rate", json!({}), "lmms.BadArguments"),
        ("prices", "rate", json!([1]), "lmms.BadArguments"),
        (
            "prices",
            "rate",
            json!({"region": 1, "day": 2}),
            "lmms.BadArguments",
        ),
        (
            "prices",
            "convert",
            json!({"currency": "XYZ"}),
            "lmms.OperationFailed",
        ),
        ("broken", "read", json!({}), "lmms.Load"),
    ];
    for (interface, name, args, expected) in cases {
        let (boxed, typed) = error_types(interface, name, args);
        // Through `?` into `lambda_runtime::Error`, every kind reads the same.
        assert!(boxed.contains("Box<dyn core::error::Error"), "{boxed}");
        assert_eq!(typed, expected, "{interface}.{name}");
    }
}

#[test]
fn other_errors_keep_their_type_name_and_a_wrapped_lmms_error_is_found() {
    let io = HandlerError::from(std::io::Error::other("disk full"));
    assert_eq!(io.error_type(), "std::io::error::Error");
    assert_eq!(Diagnostic::from(io).error_message, "disk full");

    /// An application's error around an lmms one, as `thiserror`'s `#[source]` makes it.
    #[derive(Debug)]
    struct Checkout(lmms::Error);
    impl std::fmt::Display for Checkout {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("checkout failed")
        }
    }
    impl std::error::Error for Checkout {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }
    let wrapped = HandlerError::from(Checkout(lmms::Error::GlobalAlreadySet));
    assert_eq!(wrapped.error_type(), "lmms.GlobalAlreadySet");
    assert_eq!(wrapped.to_string(), "checkout failed");
}

/// An error whose `source` is itself.
#[derive(Debug)]
struct Cyclic;

impl std::fmt::Display for Cyclic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a cycle")
    }
}

impl std::error::Error for Cyclic {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self)
    }
}

/// An error whose `Display` panics.
#[derive(Debug)]
struct PanicsWhenShown;

impl std::fmt::Display for PanicsWhenShown {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        panic!("the error's own bug")
    }
}

impl std::error::Error for PanicsWhenShown {}

#[test]
fn hostile_errors_end_and_panic_where_the_handler_can_contain_it() {
    // A cycle of sources ends.
    assert_eq!(HandlerError::from(Cyclic).error_type(), "errors::Cyclic");
    // A `Display` that panics does so where the error converts, in the handler (which
    // `lambda_runtime` contains), not when the error is reported.
    let converted = std::panic::catch_unwind(|| HandlerError::from(PanicsWhenShown));
    assert!(converted.is_err());
}

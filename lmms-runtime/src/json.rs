//! Calls by name with JSON arguments (feature `json`); the rules are in [`execute`]'s docs.

use crate::cache::CachePolicy;
use crate::error::{into_message, Error, ExecError};
use crate::link::{AsyncJsonCall, JsonCall, OpLink, Param};
use crate::lookup::lookup;
use crate::operation::{Body, Op, Operation};
use serde::de::{self, DeserializeOwned, DeserializeSeed, SeqAccess, Visitor};
use serde::Serialize;
use serde_json::{Map, Value};
use std::cell::Cell;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;

/// Runs the operation `interface.name` with `args`, a JSON object keyed by parameter name,
/// through the managed path, and returns its output as JSON.
///
/// - **Which operations.** Any `#[lmms::operation]` linked into the binary whose argument
///   types implement `serde::Deserialize` and whose output implements `serde::Serialize`.
///   Others answer [`ExecError::NotCallable`], saying which type lacks its impl, and so do
///   `async fn` operations: call those with [`execute_async`].
/// - **Arguments.** A JSON object keyed by parameter name (`null` or `{}` for none). Each
///   value is deserialized into its parameter's type; a missing key reads as `null`, so an
///   `Option` parameter may be left out (it is `None`) and any other is
///   [`ExecError::MissingArgument`]. An unknown key is [`ExecError::UnexpectedArgument`], a
///   value of the wrong type [`ExecError::Argument`]; the first such parameter, in the
///   signature's order, is the one named.
/// - **The path.** The typed call's: cache, hot path, load, unload, heat — a call by name
///   is counted as a typed call is.
/// - **Results.** The output, serialized. An operation that returns a `Result` answers its
///   `Ok` value, or [`ExecError::Failed`] carrying its `Err` (as text and as JSON). A panic
///   in the body is [`ExecError::Runtime`] with [`Error::OperationPanicked`](crate::Error::OperationPanicked);
///   one in a `Deserialize` or `Serialize` impl names the argument or the output.
///
/// ```
/// #[lmms::operation(interface = "weather")]
/// fn forecast(city: String, days: u8) -> Vec<String> {
///     (0..days).map(|day| format!("{city} +{day}: sun")).collect()
/// }
///
/// # fn main() -> Result<(), lmms::ExecError> {
/// let output = lmms::execute("weather", "forecast", serde_json::json!({"city": "Oslo", "days": 2}))?;
/// assert_eq!(output, serde_json::json!(["Oslo +0: sun", "Oslo +1: sun"]));
///
/// let error = lmms::execute("weather", "forecast", serde_json::json!({"city": "Oslo", "days": 300}));
/// assert!(error.unwrap_err().to_string().contains("argument `days` is not a valid u8"));
/// # Ok(())
/// # }
/// ```
pub fn execute(interface: &str, name: &str, args: Value) -> Result<Value, ExecError> {
    let link = lookup(interface, name)?;
    let call = link.json_call().map_err(|reason| ExecError::NotCallable {
        operation: link.key(),
        reason: if link.is_async() {
            "it is an `async fn`: call it with `lmms::execute_async`".to_owned()
        } else {
            reason
        },
    })?;
    call.call_json(link, args)
}

/// [`execute`] from async code, for every operation callable by name: an `async fn`
/// operation's body is awaited (its module loaded with `.await` if it is an
/// [`AsyncLoad`](crate::AsyncLoad) one), a synchronous operation runs as [`execute`] runs
/// it. The rules, the argument checks and the errors are [`execute`]'s; an `async fn`
/// operation is callable by name when its future is also `Send`.
///
/// ```
/// #[lmms::operation(interface = "web")]
/// async fn title(url: String) -> String {
///     format!("title of {url}") // fetched with `.await`s
/// }
///
/// # fn main() -> Result<(), lmms::ExecError> {
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let output = lmms::execute_async("web", "title", serde_json::json!({"url": "a.io"})).await?;
/// assert_eq!(output, serde_json::json!("title of a.io"));
/// # Ok(())
/// # })
/// # }
/// ```
pub async fn execute_async(interface: &str, name: &str, args: Value) -> Result<Value, ExecError> {
    let link = lookup(interface, name)?;
    if !link.is_async() {
        let call = link.json_call().map_err(|reason| ExecError::NotCallable {
            operation: link.key(),
            reason,
        })?;
        return call.call_json(link, args);
    }
    let call = link
        .json_async_call()
        .map_err(|reason| ExecError::NotCallable {
            operation: link.key(),
            reason,
        })?;
    call.call_json(link, args).await
}

/// [`execute`] with the arguments as JSON text.
///
/// ```
/// #[lmms::operation(interface = "math")]
/// fn double(x: i64) -> i64 { 2 * x }
///
/// # fn main() -> Result<(), lmms::ExecError> {
/// assert_eq!(lmms::execute_str("math", "double", r#"{"x": 21}"#)?, serde_json::json!(42));
/// assert!(matches!(lmms::execute_str("math", "double", "{"), Err(lmms::ExecError::Parse(_))));
/// # Ok(())
/// # }
/// ```
pub fn execute_str(interface: &str, name: &str, args: &str) -> Result<Value, ExecError> {
    let args = serde_json::from_str(args).map_err(ExecError::Parse)?;
    execute(interface, name, args)
}

impl<O, C> JsonCall for Op<O, C>
where
    O: Body,
    O::Args: DeserializeOwned,
    O::Output: Serialize,
    C: CachePolicy<O::Args, O::Output>,
{
    /// The arguments' `Deserialize` and the output's `Serialize` are user code: a panic in
    /// either is answered as an error naming it, not unwound to the caller.
    fn call_json(&'static self, link: &OpLink, args: Value) -> Result<Value, ExecError> {
        let args = arguments::<O::Args>(link, args)?;
        serialized(link, self.call(args)?)
    }
}

/// An operation's output as its answer by name.
fn serialized<T: Serialize>(link: &OpLink, output: T) -> Result<Value, ExecError> {
    let json = panic::catch_unwind(AssertUnwindSafe(|| serde_json::to_value(&output)));
    // The answer is made: a panic in the output's `Drop` cannot change it.
    let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(output)));
    let reason = match json {
        Ok(Ok(json)) if link.is_fallible() => return answer(link, json),
        Ok(Ok(json)) => return Ok(json),
        Ok(Err(error)) => error.to_string(),
        Err(payload) => format!("its `Serialize` panicked: {}", into_message(payload)),
    };
    Err(ExecError::Output {
        operation: link.key(),
        reason,
    })
}

/// Finds an `async fn` operation's [`AsyncJsonCall`] when its types allow one, as
/// [`JsonProbe`] does for a synchronous one: `managed` is the generated managed call (the
/// arguments as one tuple, the output unflattened), and the inherent `json` applies when
/// its arguments deserialize, its output serializes and its future is `Send`.
#[doc(hidden)]
pub struct AsyncJsonProbe<G, A, F, T>(G, PhantomData<fn(A) -> (F, T)>);

impl<G, A, F, T> AsyncJsonProbe<G, A, F, T>
where
    G: Fn(A) -> F,
    F: Future<Output = Result<T, Error>>,
{
    pub fn new(managed: G) -> Self {
        AsyncJsonProbe(managed, PhantomData)
    }
}

impl<G, A, F, T> AsyncJsonProbe<G, A, F, T>
where
    G: Fn(A) -> F + Copy + Send + Sync + 'static,
    A: DeserializeOwned + Send + 'static,
    F: Future<Output = Result<T, Error>> + Send + 'static,
    T: Serialize + 'static,
{
    pub fn json(&self) -> Option<&'static dyn AsyncJsonCall> {
        // The managed call is a function item, so the box is empty: nothing is allocated.
        Some(Box::leak(Box::new(AsyncJsonProbe(self.0, PhantomData))))
    }
}

/// The fallback of [`AsyncJsonProbe`]: not callable by name.
#[doc(hidden)]
pub trait NoAsyncJson {
    fn json(&self) -> Option<&'static dyn AsyncJsonCall> {
        None
    }
}

impl<G, A, F, T> NoAsyncJson for AsyncJsonProbe<G, A, F, T> {}

impl<G, A, F, T> AsyncJsonCall for AsyncJsonProbe<G, A, F, T>
where
    G: Fn(A) -> F + Copy + Send + Sync + 'static,
    A: DeserializeOwned + Send + 'static,
    F: Future<Output = Result<T, Error>> + Send + 'static,
    T: Serialize + 'static,
{
    fn call_json(
        &'static self,
        link: &'static OpLink,
        args: Value,
    ) -> Pin<Box<dyn Future<Output = Result<Value, ExecError>> + Send>> {
        let managed = self.0;
        Box::pin(async move {
            let args = arguments::<A>(link, args)?;
            let output = managed(args).await?;
            serialized(link, output)
        })
    }
}

/// A fallible operation's answer from its serialized `Result`: the `Ok` value, or its
/// `Err` as [`ExecError::Failed`].
fn answer(link: &OpLink, json: Value) -> Result<Value, ExecError> {
    let Value::Object(mut object) = json else {
        return Ok(json);
    };
    if object.len() == 1 {
        if let Some(ok) = object.remove("Ok") {
            return Ok(ok);
        }
        if let Some(error) = object.remove("Err") {
            let message = match &error {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            return Err(ExecError::Failed {
                operation: link.key(),
                message,
                error,
            });
        }
    }
    Ok(Value::Object(object))
}

/// Finds an operation's [`JsonCall`] when its types allow one: the inherent `json` applies
/// when the bounds hold, [`NoJson::json`] otherwise (method resolution picks the inherent
/// method first, and skips it when its bounds fail).
#[doc(hidden)]
pub struct JsonProbe<O: Operation, C: 'static>(pub &'static Op<O, C>);

impl<O, C> JsonProbe<O, C>
where
    O: Body,
    O::Args: DeserializeOwned,
    O::Output: Serialize,
    C: CachePolicy<O::Args, O::Output>,
{
    pub fn json(&self) -> Option<&'static dyn JsonCall> {
        Some(self.0)
    }
}

/// The fallback of [`JsonProbe`]: not callable by name.
#[doc(hidden)]
pub trait NoJson {
    fn json(&self) -> Option<&'static dyn JsonCall> {
        None
    }
}

impl<O: Operation, C> NoJson for JsonProbe<O, C> {}

/// Which of an operation's types lacks its serde impl, found as [`JsonProbe`] finds its
/// entry point: the inherent methods answer `None` when the bound holds, the traits'
/// (`ArgsNotSerde`, `OutputNotSerde`) say what is missing otherwise.
#[doc(hidden)]
pub struct SerdeProbe<O: Operation, C: 'static>(pub &'static Op<O, C>);

impl<O: Operation, C> SerdeProbe<O, C>
where
    O::Args: DeserializeOwned,
{
    pub fn args(&self) -> Option<String> {
        None
    }
}

impl<O: Operation, C> SerdeProbe<O, C>
where
    O::Output: Serialize,
{
    pub fn output(&self) -> Option<String> {
        None
    }
}

#[doc(hidden)]
pub trait ArgsNotSerde {
    fn args(&self) -> Option<String>;
}

impl<O: Operation, C> ArgsNotSerde for SerdeProbe<O, C> {
    fn args(&self) -> Option<String> {
        Some(format!(
            "its arguments `{}` do not all implement `serde::Deserialize`",
            std::any::type_name::<O::Args>()
        ))
    }
}

#[doc(hidden)]
pub trait OutputNotSerde {
    fn output(&self) -> Option<String>;
}

impl<O: Operation, C> OutputNotSerde for SerdeProbe<O, C> {
    fn output(&self) -> Option<String> {
        Some(format!(
            "its output `{}` does not implement `serde::Serialize`",
            std::any::type_name::<O::Output>()
        ))
    }
}

/// Why an operation is not callable by name, from what its [`SerdeProbe`] found.
#[doc(hidden)]
pub fn not_callable(args: Option<String>, output: Option<String>) -> String {
    match (args, output) {
        (Some(args), Some(output)) => format!("{args}, and {output}"),
        (Some(one), None) | (None, Some(one)) => one,
        (None, None) => "its types have no serde entry point".to_owned(),
    }
}

/// Why an `async fn` operation is not callable by name: what its [`SerdeProbe`] found, or,
/// when its types have their serde impls, its future.
#[doc(hidden)]
pub fn not_callable_async(args: Option<String>, output: Option<String>) -> String {
    match (args, output) {
        (None, None) => "its future is not `Send`".to_owned(),
        (args, output) => not_callable(args, output),
    }
}

/// The arguments tuple from a JSON object keyed by parameter name, with errors naming the
/// field.
fn arguments<A: DeserializeOwned>(link: &OpLink, args: Value) -> Result<A, ExecError> {
    let params = link.params();
    let mut object = match args {
        Value::Object(object) => object,
        Value::Null if params.is_empty() => Map::new(),
        other => {
            return Err(ExecError::NotAnObject {
                operation: link.key(),
                found: kind(&other),
            })
        }
    };
    if let Some(field) = object
        .keys()
        .find(|field| !params.iter().any(|param| param.name == field.as_str()))
    {
        return Err(ExecError::UnexpectedArgument {
            operation: link.key(),
            field: field.clone(),
            expected: listed(params),
        });
    }
    // serde's rule for a missing field: it reads as `null`, which an `Option` takes (as
    // `None`) and any other type refuses, as a missing argument.
    let missing: Vec<bool> = params
        .iter()
        .map(|param| !object.contains_key(param.name))
        .collect();
    let values: Vec<Value> = params
        .iter()
        .map(|param| object.remove(param.name).unwrap_or(Value::Null))
        .collect();
    let at = Cell::new(0);
    let read = panic::catch_unwind(AssertUnwindSafe(|| {
        A::deserialize(Fields {
            values: values.into_iter(),
            at: &at,
        })
        .map_err(|error| error.to_string())
    }))
    .unwrap_or_else(|payload| {
        Err(format!(
            "its `Deserialize` panicked: {}",
            into_message(payload)
        ))
    });
    read.map_err(|reason| {
        let failed = at.get().min(params.len().saturating_sub(1));
        let param = params[failed];
        if missing.get(failed) == Some(&true) {
            return ExecError::MissingArgument {
                operation: link.key(),
                field: param.name,
                expected: param.ty,
            };
        }
        ExecError::Argument {
            operation: link.key(),
            field: param.name,
            expected: param.ty,
            reason,
        }
    })
}

fn listed(params: &[Param]) -> String {
    if params.is_empty() {
        return "none".to_owned();
    }
    params
        .iter()
        .map(|param| format!("`{}: {}`", param.name, param.ty))
        .collect::<Vec<_>>()
        .join(", ")
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The argument values in parameter order, as a sequence for the arguments tuple, noting
/// which one is being read so an error can name its field.
struct Fields<'a> {
    values: std::vec::IntoIter<Value>,
    at: &'a Cell<usize>,
}

impl<'de> de::Deserializer<'de> for Fields<'_> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_seq(self)
    }

    /// An operation without parameters takes `()`.
    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier
        ignored_any
    }
}

impl<'de> SeqAccess<'de> for Fields<'_> {
    type Error = serde_json::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Self::Error> {
        let Some(value) = self.values.next() else {
            return Ok(None);
        };
        let element = seed.deserialize(value)?;
        self.at.set(self.at.get() + 1);
        Ok(Some(element))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.values.len())
    }
}

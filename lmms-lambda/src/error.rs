//! A handler's error that keeps its kind on the way to Lambda: the `errorType` of the
//! invocation's error says whether lmms found no such operation, was given bad arguments,
//! or ran an operation that failed.

use lambda_runtime::Diagnostic;
use std::error::Error as StdError;
use std::fmt;

/// The error a handler returns for Lambda to report: any error `?` meets converts into it,
/// and Lambda's `errorType` names its kind where a `Box<dyn Error>` would name only
/// `Box<dyn Error>` ([`error_type`]).
///
/// ```
/// use lambda_runtime::{Diagnostic, LambdaEvent};
/// use lmms_lambda::HandlerError;
/// use serde_json::{json, Value};
///
/// async fn handler(event: LambdaEvent<Value>) -> Result<Value, HandlerError> {
///     let name = event.payload["op"].as_str().unwrap_or_default();
///     Ok(lmms::execute_async("weather", name, event.payload["args"].clone()).await?)
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let event = LambdaEvent::new(json!({"op": "forcast", "args": {}}), Default::default());
/// let diagnostic = Diagnostic::from(handler(event).await.unwrap_err());
/// assert_eq!(diagnostic.error_type, "lmms.UnknownOperation");
/// # });
/// ```
pub struct HandlerError {
    error_type: String,
    /// The error's text, rendered where it converts: inside the handler, where
    /// `lambda_runtime` contains a `Display` that panics, not where it reports the error.
    message: String,
}

impl HandlerError {
    /// An error of the type `error_type`, saying `message`: what a handler returns for a
    /// failure of its own (an event it cannot route).
    ///
    /// ```
    /// let error = lmms_lambda::HandlerError::new("Routing.UnknownDirective", "no handler for Alexa.Foo");
    /// let diagnostic = lambda_runtime::Diagnostic::from(error);
    /// assert_eq!(diagnostic.error_type, "Routing.UnknownDirective");
    /// assert_eq!(diagnostic.error_message, "no handler for Alexa.Foo");
    /// ```
    pub fn new(error_type: impl Into<String>, message: impl Into<String>) -> Self {
        HandlerError {
            error_type: error_type.into(),
            message: message.into(),
        }
    }

    /// A boxed error (what `lambda_runtime::Error` is): typed by the lmms error it holds
    /// ([`error_type`]), `lambda_runtime::Error` otherwise, since a box no longer knows
    /// its type's name.
    ///
    /// ```
    /// let boxed: lambda_runtime::Error = lmms::Error::GlobalAlreadySet.into();
    /// assert_eq!(lmms_lambda::HandlerError::from_boxed(boxed).error_type(), "lmms.GlobalAlreadySet");
    /// let boxed: lambda_runtime::Error = std::io::Error::other("disk full").into();
    /// assert_eq!(lmms_lambda::HandlerError::from_boxed(boxed).error_type(), "lambda_runtime::Error");
    /// ```
    pub fn from_boxed(error: lambda_runtime::Error) -> Self {
        HandlerError {
            error_type: error_type(&*error).unwrap_or_else(|| "lambda_runtime::Error".into()),
            message: error.to_string(),
        }
    }

    /// The `errorType` Lambda reports for it.
    ///
    /// ```
    /// let error = lmms_lambda::HandlerError::from(lmms::Error::GlobalAlreadySet);
    /// assert_eq!(error.error_type(), "lmms.GlobalAlreadySet");
    /// ```
    pub fn error_type(&self) -> &str {
        &self.error_type
    }
}

impl<E: StdError + Send + Sync + 'static> From<E> for HandlerError {
    fn from(error: E) -> Self {
        let error_type =
            error_type(&error).unwrap_or_else(|| std::any::type_name::<E>().to_owned());
        HandlerError {
            error_type,
            message: error.to_string(),
        }
    }
}

impl From<HandlerError> for Diagnostic {
    fn from(error: HandlerError) -> Self {
        Diagnostic {
            error_type: error.error_type,
            error_message: error.message,
        }
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the error's own `Debug`, which would be user code run where `lambda_runtime`
        // logs the error, outside its panic guard.
        write!(f, "{}: {}", self.error_type, self.message)
    }
}

/// The `errorType` of an lmms error found in `error` or its sources, `None` when there is
/// none (the caller names the error's own type instead):
///
/// | error | `errorType` |
/// |---|---|
/// | no operation of that name (`lmms::Error::UnknownOperation`) | `lmms.UnknownOperation` |
/// | arguments that are not the operation's (missing, unexpected, mistyped, not JSON) | `lmms.BadArguments` |
/// | the operation ran and returned its `Err` ([`lmms::ExecError::Failed`]) | `lmms.OperationFailed` |
/// | an operation that cannot be called by name, or whose output does not serialize | `lmms.NotCallable`, `lmms.Output` |
/// | any other [`lmms::Error`]: a load that failed or panicked, a cycle of loads ... | `lmms.` and its variant: `lmms.Load`, `lmms.LoadPanicked` ... |
///
/// ```
/// let error = lmms::ExecError::MissingArgument { operation: "weather.forecast".into(), field: "day", expected: "u32" };
/// assert_eq!(lmms_lambda::error_type(&error).as_deref(), Some("lmms.BadArguments"));
/// assert_eq!(lmms_lambda::error_type(&std::fmt::Error), None);
/// ```
pub fn error_type(error: &(dyn StdError + 'static)) -> Option<String> {
    // At most this many links: a chain that loops (a `source` that returns itself) ends.
    const MOST_SOURCES: usize = 32;
    std::iter::successors(Some(error), |&error| error.source())
        .take(MOST_SOURCES)
        .find_map(lmms_type)
}

fn lmms_type(error: &(dyn StdError + 'static)) -> Option<String> {
    use lmms::ExecError;
    if let Some(error) = error.downcast_ref::<ExecError>() {
        return Some(match error {
            ExecError::Runtime(error) => runtime_type(error),
            ExecError::NotCallable { .. } => "lmms.NotCallable".into(),
            ExecError::Failed { .. } => "lmms.OperationFailed".into(),
            ExecError::Output { .. } => "lmms.Output".into(),
            _ => "lmms.BadArguments".into(),
        });
    }
    error.downcast_ref::<lmms::Error>().map(runtime_type)
}

/// `lmms.` and the variant's name.
fn runtime_type(error: &lmms::Error) -> String {
    use lmms::Error;
    let variant = match error {
        Error::Load { .. } => "Load",
        Error::LoadPanicked { .. } => "LoadPanicked",
        Error::ReentrantLoad { .. } => "ReentrantLoad",
        Error::LoadsAsync { .. } => "LoadsAsync",
        Error::InvalidConfig { .. } => "InvalidConfig",
        Error::DuplicateModule { .. } => "DuplicateModule",
        Error::GlobalAlreadySet => "GlobalAlreadySet",
        Error::DuplicateOperation { .. } => "DuplicateOperation",
        Error::OperationPanicked { .. } => "OperationPanicked",
        Error::UnknownOperation { .. } => "UnknownOperation",
        Error::RegistryDrift(_) => "RegistryDrift",
        Error::ResetRefused { .. } => "ResetRefused",
        Error::ReaperSpawn(_) => "ReaperSpawn",
        _ => "Error",
    };
    format!("lmms.{variant}")
}

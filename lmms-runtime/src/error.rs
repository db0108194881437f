//! What the runtime answers instead of a result: its errors, and the words for a panic
//! it contained.

use std::fmt;

/// A boxed error from a module's loader.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything the runtime can answer instead of a result.
///
/// A guard that is still alive is not an error: [`ModuleCell::unload`](crate::ModuleCell::unload)
/// answers [`Unload::Kept`](crate::report::Unload::Kept) with the reason.
///
/// ```
/// use lmms::{Error, Runtime};
///
/// let err = Runtime::builder().min_resident(0).memory_budget(0).build().unwrap_err();
/// assert!(matches!(err, Error::InvalidConfig { field: "memory_budget", .. }));
/// assert_eq!(
///     err.to_string(),
///     "invalid configuration for `memory_budget`: a budget of 0 bytes would unload every module; leave it unset for no budget",
/// );
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The module's loader returned an error; the module stays unloaded and the next get
    /// tries again.
    #[error("loading module `{module}` failed: {source}")]
    Load {
        /// The module's name.
        module: String,
        /// The loader's own error; downcast it to the loader's error type. An async load's
        /// error is shared by every task that waited for it: there `source` shows the
        /// loader's error (its message and its sources) but does not downcast to it.
        #[source]
        source: BoxError,
    },
    /// The module's loader panicked; the module stays unloaded and the next get tries again.
    #[error("loading module `{module}` panicked: {message}")]
    LoadPanicked {
        /// The module's name.
        module: String,
        /// The panic's message, when it was a string.
        message: String,
    },
    /// A loader asked for its own module, directly or through other modules' loaders.
    /// Answered instead of deadlocking.
    #[error(
        "module `{module}` was asked for while it was being loaded: its loader reaches it again, directly or through another module's loader"
    )]
    ReentrantLoad {
        /// The module's name.
        module: String,
    },
    /// A module whose state is built with `.await` ([`AsyncLoad`](crate::AsyncLoad)) was
    /// asked for from synchronous code while not resident: get it with `get_async().await`,
    /// or call its operations, which are `async fn`s.
    #[error(
        "module `{module}` builds its state with `.await` and is not loaded: get it with `get_async().await`"
    )]
    LoadsAsync {
        /// The module's name.
        module: String,
    },
    /// A configuration value is out of range or does not parse.
    #[error("invalid configuration for `{field}`: {reason}")]
    InvalidConfig {
        /// The setting, named where the value came from, so the user finds it where they
        /// wrote it: the environment variable for a value read from the environment
        /// (`LMMS_GRACE`, by [`Builder::from_env`](crate::tuning::Builder::from_env)); otherwise the
        /// method that set it (`memory_budget`, `spawn_closes`), which is also the setting's
        /// name in [`Builder::set`](crate::tuning::Builder::set); `testing` for `lmms::testing`.
        ///
        /// ```
        /// std::env::set_var("LMMS_GRACE", "soon");
        /// let err = lmms::Runtime::builder().from_env().unwrap_err();
        /// assert!(matches!(err, lmms::Error::InvalidConfig { field: "LMMS_GRACE", .. }));
        /// let err = lmms::Runtime::builder().set("grace", "soon").unwrap_err();
        /// assert!(matches!(err, lmms::Error::InvalidConfig { field: "grace", .. }));
        /// # std::env::remove_var("LMMS_GRACE");
        /// ```
        field: &'static str,
        /// What was wrong with it.
        reason: String,
    },
    /// A second module under a name the runtime already has, or a static module that
    /// already joined another runtime.
    #[error("a module named `{name}` is already registered with this runtime ({}); module names must be unique", places.join(" and "))]
    DuplicateModule {
        /// The name both modules have.
        name: String,
        /// Where each is declared, `file:line`: the one the runtime has first, then the one
        /// refused (one place when a static module asks to join a second runtime).
        places: Vec<String>,
    },
    /// [`Runtime::set_global`](crate::Runtime::set_global) after the global runtime was
    /// set or first used.
    #[error("the global runtime is already set: call `Runtime::set_global` once, before any static module is used")]
    GlobalAlreadySet,
    /// An operation already reports to another runtime.
    #[error("operation `{interface}.{name}` already reports to a runtime; add it before its first call, to one runtime")]
    DuplicateOperation {
        /// The operation's interface.
        interface: &'static str,
        /// The operation's name.
        name: &'static str,
    },
    /// The operation's body panicked. The unwind released what the call held; the call is
    /// not counted, nothing was cached, and the next call runs as usual.
    #[error("operation `{operation}` panicked: {message}")]
    OperationPanicked {
        /// `interface.name`.
        operation: String,
        /// The panic's message, when it was a string.
        message: String,
    },
    /// No operation of that interface and name is linked into the binary.
    #[error("unknown operation `{operation}`{}", suggestions(.did_you_mean))]
    UnknownOperation {
        /// `interface.name` as asked.
        operation: String,
        /// The closest known operations, nearest first (possibly none).
        did_you_mean: Vec<String>,
    },
    /// The operations linked into the binary disagree with the build-time tables; see
    /// [`Drift`].
    #[error("the operation registry does not match the build: {0}")]
    RegistryDrift(Box<Drift>),
    /// `lmms::testing::reset` (feature `testing`) found a module it cannot unload: a guard,
    /// pin or dependent of the test's own is still alive. Nothing was reset past it.
    #[error("cannot reset the runtime: module `{module}` is {reason}")]
    ResetRefused {
        /// The module's name.
        module: String,
        /// What holds it: `in use`, `pinned` or `depended on`.
        reason: &'static str,
    },
    /// The reaper's thread could not be spawned.
    #[error("cannot start the reaper thread: {0}")]
    ReaperSpawn(#[source] std::io::Error),
}

fn suggestions(near: &[String]) -> String {
    match near {
        [] => String::new(),
        [one] => format!("; did you mean {one}?"),
        [first @ .., last] => format!("; did you mean {} or {last}?", first.join(", ")),
    }
}

impl Error {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidConfig {
            field,
            reason: reason.into(),
        }
    }
}

/// What a managed call of a fallible operation returns instead of a nested `Result`: the
/// operation's own error, still typed, or lmms's (its module failed to load, say).
///
/// `#[lmms::operation]` on a function returning `Result<T, E>` makes `call` return
/// `Result<T, CallError<E>>`, so the caller unwraps once. `?` converts an [`Error`] into
/// it, and it converts into a boxed error, so either fits in a caller's own `Result`.
///
/// ```
/// use lmms::{CallError, Error};
///
/// fn parse(text: &str) -> Result<u8, CallError<std::num::ParseIntError>> {
///     text.parse().map_err(CallError::Operation)
/// }
/// match parse("x") {
///     Err(CallError::Operation(e)) => assert_eq!(e.to_string(), "invalid digit found in string"),
///     other => panic!("{other:?}"),
/// }
/// let from_lmms: CallError<std::num::ParseIntError> = Error::GlobalAlreadySet.into();
/// assert!(matches!(from_lmms, CallError::Runtime(_)));
/// ```
#[derive(Debug, thiserror::Error)]
pub enum CallError<E> {
    /// The operation ran and returned its own error.
    #[error(transparent)]
    Operation(E),
    /// lmms could not run it: the module's load failed or panicked, or re-entered itself.
    #[error(transparent)]
    Runtime(#[from] Error),
}

impl<E> CallError<E> {
    /// A managed call of a fallible operation, unwrapped once: the body's `Err` becomes
    /// [`CallError::Operation`], lmms's own failure [`CallError::Runtime`].
    ///
    /// ```
    /// use lmms::{CallError, Error};
    /// let ran: Result<Result<u8, &str>, Error> = Ok(Err("no such city"));
    /// assert!(matches!(CallError::flatten(ran), Err(CallError::Operation("no such city"))));
    /// let failed: Result<Result<u8, &str>, Error> = Err(Error::GlobalAlreadySet);
    /// assert!(matches!(CallError::flatten(failed), Err(CallError::Runtime(_))));
    /// ```
    pub fn flatten<T>(call: Result<Result<T, E>, Error>) -> Result<T, CallError<E>> {
        match call {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(CallError::Operation(error)),
            Err(error) => Err(CallError::Runtime(error)),
        }
    }

    /// The operation's own error, if that is what this is.
    ///
    /// ```
    /// let err: lmms::CallError<&str> = lmms::CallError::Operation("no such city");
    /// assert_eq!(err.operation(), Some(&"no such city"));
    /// ```
    pub fn operation(&self) -> Option<&E> {
        match self {
            CallError::Operation(error) => Some(error),
            CallError::Runtime(_) => None,
        }
    }
}

/// Where the build-time tables and the linked operations disagree: each entry is an
/// operation's `interface.name` and where it was seen.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Drift {
    /// In a crate's build-time table, not linked: compiled out (a `cfg` the build script
    /// read differently), or dropped by the linker. A crate root none of whose operations
    /// is linked is another target of the crate (a binary's `src/main.rs`, seen from the
    /// crate's integration tests) and is not counted.
    pub not_linked: Vec<String>,
    /// Linked, missing from its crate's table: made by `macro_rules!` or `cfg_attr`, which
    /// the build script cannot see, or a table built from older sources — a crate root
    /// added since the build script last ran (a new `src/main.rs`), which it does not
    /// watch: touch `build.rs` once.
    pub not_in_table: Vec<String>,
    /// The same `interface.name` linked twice (from two crates), or two modules of one
    /// name (two crates, or two types): each with both places. Whichever such module is
    /// used second would answer [`Error::DuplicateModule`].
    pub duplicates: Vec<String>,
}

impl Drift {
    pub(crate) fn is_empty(&self) -> bool {
        self.not_linked.is_empty() && self.not_in_table.is_empty() && self.duplicates.is_empty()
    }
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if !self.not_linked.is_empty() {
            parts.push(format!(
                "in the build-time table but not linked: {}",
                self.not_linked.join(", ")
            ));
        }
        if !self.not_in_table.is_empty() {
            parts.push(format!(
                "linked but missing from the build-time table: {}",
                self.not_in_table.join(", ")
            ));
        }
        if !self.duplicates.is_empty() {
            parts.push(format!("linked twice: {}", self.duplicates.join(", ")));
        }
        f.write_str(&parts.join("; "))
    }
}

/// Why a call by name did not return the operation's output.
///
/// ```
/// #[lmms::operation(interface = "math")]
/// fn add(a: u8, b: u8) -> u16 { u16::from(a) + u16::from(b) }
///
/// # fn main() -> Result<(), lmms::Error> {
/// let error = lmms::execute("math", "add", serde_json::json!({"a": 1})).unwrap_err();
/// assert!(matches!(error, lmms::ExecError::MissingArgument { field: "b", .. }));
/// assert_eq!(error.to_string(), "math.add: missing argument `b` (expected u8)");
/// # Ok(())
/// # }
/// ```
#[cfg(feature = "json")]
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecError {
    /// Not run: the operation is unknown, the registry drifted, or its module failed to
    /// load.
    #[error(transparent)]
    Runtime(#[from] Error),
    /// The operation cannot be called by name.
    #[error("{operation}: cannot be called by name: {reason}")]
    NotCallable {
        /// `interface.name`.
        operation: String,
        /// Why not, naming the type that lacks its serde impl.
        reason: String,
    },
    /// The arguments are not a JSON object.
    #[error(
        "{operation}: the arguments must be a JSON object keyed by parameter name, not {found}"
    )]
    NotAnObject {
        /// `interface.name`.
        operation: String,
        /// What was given: `an array`, `a string` ...
        found: &'static str,
    },
    /// A parameter has no argument.
    #[error("{operation}: missing argument `{field}` (expected {expected})")]
    MissingArgument {
        /// `interface.name`.
        operation: String,
        /// The parameter's name.
        field: &'static str,
        /// Its type, as written.
        expected: &'static str,
    },
    /// An argument names no parameter.
    #[error("{operation}: unexpected argument `{field}`; the parameters are {expected}")]
    UnexpectedArgument {
        /// `interface.name`.
        operation: String,
        /// The key given.
        field: String,
        /// The parameters, listed.
        expected: String,
    },
    /// An argument does not deserialize into its parameter's type.
    #[error("{operation}: argument `{field}` is not a valid {expected}: {reason}")]
    Argument {
        /// `interface.name`.
        operation: String,
        /// The parameter's name.
        field: &'static str,
        /// Its type, as written.
        expected: &'static str,
        /// serde's message.
        reason: String,
    },
    /// The operation ran and returned its error: by name, a fallible operation answers
    /// its `Ok` value, or this with its `Err`.
    #[error("{operation} failed: {message}")]
    Failed {
        /// `interface.name`.
        operation: String,
        /// The error as text: itself if it serializes to a string, its JSON otherwise.
        message: String,
        /// The error as it serializes.
        error: serde_json::Value,
    },
    /// The text is not JSON (`execute_str`).
    #[error("the arguments are not valid JSON: {0}")]
    Parse(#[source] serde_json::Error),
    /// The output did not serialize.
    #[error("{operation}: the output does not serialize to JSON: {reason}")]
    Output {
        /// `interface.name`.
        operation: String,
        /// serde's message.
        reason: String,
    },
}

/// A panic's message, and its payload dropped with any panic of its own `Drop` contained:
/// a payload is user code too.
pub(crate) fn into_message(payload: Box<dyn std::any::Any + Send>) -> String {
    let message = panic_message(&*payload);
    drop_payload(payload);
    message
}

/// Runs `f`, whose panic is of no consequence (an event's subscriber, a report): the
/// panic is contained, and so is its payload's `Drop`.
pub(crate) fn quietly(f: impl FnOnce()) {
    if let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        drop_payload(payload);
    }
}

/// Drops a panic's payload, containing a panic of its own `Drop`.
pub(crate) fn drop_payload(payload: Box<dyn std::any::Any + Send>) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(payload)));
}

/// A panic's message, when its payload is a string.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

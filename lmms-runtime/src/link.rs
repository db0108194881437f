//! What is linked into the binary: every `#[lmms::operation]` and `#[lmms::module]`
//! registers itself in a [linkme] distributed slice, whichever crate defines it, and every
//! crate that includes its `lmms-build` registry adds its build-time table.
//!
//! linkme works on Linux, macOS, iOS, Windows, FreeBSD, OpenBSD, illumos and Android;
//! not on WebAssembly. An operation in a library crate is linked only if the binary uses
//! the crate: a dependency that nothing names is not linked at all (dtolnay/linkme#36,
//! #61). Name it once, `use plugin_crate as _;`, and its operations are found.

use crate::cache::CachePolicy;
use crate::context::OpEntry;
use crate::def::Class;
#[cfg(feature = "json")]
use crate::error::ExecError;
use crate::operation::{Op, Operation};
use crate::probe::ModuleState;
use crate::stats::{ModuleStats, OpStats};
use linkme::distributed_slice;
use std::fmt;

/// Every operation linked into the binary.
#[doc(hidden)]
#[distributed_slice]
pub static OPERATIONS: [OpLink];

/// Every module linked into the binary.
#[doc(hidden)]
#[distributed_slice]
pub static MODULES: [ModuleLink];

/// The build-time table of every crate that includes its registry.
#[doc(hidden)]
#[distributed_slice]
pub static TABLES: [&'static Table];

/// A parameter of an operation, as written: `days: u8`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Param {
    /// Its name; a call by name gives the argument under this key.
    pub name: &'static str,
    /// Its type, as written in the signature.
    pub ty: &'static str,
}

/// An operation as linked into the binary: what a call by name reaches.
///
/// ```
/// #[lmms::operation(interface = "math")]
/// fn square(x: u64) -> u64 { x * x }
///
/// # fn main() -> Result<(), lmms::Error> {
/// let op = lmms::registry::lookup("math", "square")?;
/// assert_eq!(op.params()[0].name, "x");
/// assert_eq!(op.stats().calls, 0);
/// # Ok(())
/// # }
/// ```
pub struct OpLink {
    op: &'static dyn OpEntry,
    module_path: &'static str,
    params: &'static [Param],
    pub(crate) file: &'static str,
    pub(crate) line: u32,
    is_async: bool,
    fallible: bool,
    #[cfg(feature = "json")]
    json: fn() -> Result<&'static dyn JsonCall, String>,
    #[cfg(feature = "json")]
    json_async: fn() -> Result<&'static dyn AsyncJsonCall, String>,
}

impl OpLink {
    #[doc(hidden)]
    pub const fn new<O, C>(
        op: &'static Op<O, C>,
        module_path: &'static str,
        params: &'static [Param],
        file: &'static str,
        line: u32,
    ) -> Self
    where
        O: Operation,
        C: CachePolicy<O::Args, O::Output>,
    {
        OpLink {
            op: op.core(),
            module_path,
            params,
            file,
            line,
            is_async: false,
            fallible: false,
            #[cfg(feature = "json")]
            json: || Err("it has no JSON entry point".to_owned()),
            #[cfg(feature = "json")]
            json_async: || Err("it has no JSON entry point".to_owned()),
        }
    }

    /// Marks an `async fn` operation: not callable by name from sync code.
    #[doc(hidden)]
    pub const fn asynchronous(mut self) -> Self {
        self.is_async = true;
        self
    }

    /// Whether the operation returns a `Result`, as its output's type says (the attribute
    /// asks the type, not its spelling): by name, its `Ok` is the answer and its `Err` an
    /// error.
    #[doc(hidden)]
    pub const fn fallible(mut self, fallible: bool) -> Self {
        self.fallible = fallible;
        self
    }

    /// Whether it returns a `Result`, however the signature spells it (`Result<T, E>`, an
    /// alias, a renamed import, `io::Result<T>`): called by name, its `Err` comes back as
    /// [`ExecError::Failed`](crate::ExecError::Failed) (feature `json`).
    ///
    /// ```
    /// type Half = Result<u32, String>;
    ///
    /// #[lmms::operation(interface = "math")]
    /// fn checked_half(x: u32) -> Half {
    ///     if x % 2 == 0 { Ok(x / 2) } else { Err(format!("{x} is odd")) }
    /// }
    ///
    /// # fn main() -> Result<(), lmms::Error> {
    /// assert!(lmms::registry::lookup("math", "checked_half")?.is_fallible());
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_fallible(&self) -> bool {
        self.fallible
    }

    /// How to call it with JSON, if its arguments and output have serde impls.
    #[doc(hidden)]
    #[cfg(feature = "json")]
    pub const fn json(mut self, json: fn() -> Result<&'static dyn JsonCall, String>) -> Self {
        self.json = json;
        self
    }

    #[cfg(feature = "json")]
    pub(crate) fn json_call(&self) -> Result<&'static dyn JsonCall, String> {
        (self.json)()
    }

    /// How to call an `async fn` operation with JSON, if its arguments and output have
    /// serde impls and its future is `Send`.
    #[doc(hidden)]
    #[cfg(feature = "json")]
    pub const fn json_async(
        mut self,
        json: fn() -> Result<&'static dyn AsyncJsonCall, String>,
    ) -> Self {
        self.json_async = json;
        self
    }

    #[cfg(feature = "json")]
    pub(crate) fn json_async_call(&self) -> Result<&'static dyn AsyncJsonCall, String> {
        (self.json_async)()
    }

    /// Its interface.
    ///
    /// ```
    /// #[lmms::operation(interface = "math")]
    /// fn triple(x: u64) -> u64 { 3 * x }
    ///
    /// # fn main() -> Result<(), lmms::Error> {
    /// assert_eq!(lmms::registry::lookup("math", "triple")?.interface(), "math");
    /// # Ok(())
    /// # }
    /// ```
    pub fn interface(&self) -> &'static str {
        self.op.def().interface()
    }

    /// Its name within the interface.
    ///
    /// ```
    /// #[lmms::operation(interface = "math")]
    /// fn negate(x: i64) -> i64 { -x }
    ///
    /// # fn main() -> Result<(), lmms::Error> {
    /// assert_eq!(lmms::registry::lookup("math", "negate")?.name(), "negate");
    /// # Ok(())
    /// # }
    /// ```
    pub fn name(&self) -> &'static str {
        self.op.def().name()
    }

    /// Its parameters after the state, in order.
    ///
    /// ```
    /// #[lmms::operation(interface = "text")]
    /// fn repeat(text: String, times: usize) -> String { text.repeat(times) }
    ///
    /// # fn main() -> Result<(), lmms::Error> {
    /// let params = lmms::registry::lookup("text", "repeat")?.params();
    /// assert_eq!((params[1].name, params[1].ty), ("times", "usize"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn params(&self) -> &'static [Param] {
        self.params
    }

    /// Where it is defined: file and line.
    ///
    /// ```
    /// #[lmms::operation(interface = "text")]
    /// fn shout(text: String) -> String { text.to_uppercase() }
    ///
    /// # fn main() -> Result<(), lmms::Error> {
    /// let (file, line) = lmms::registry::lookup("text", "shout")?.location();
    /// assert!(file.ends_with(".rs") && line > 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn location(&self) -> (&'static str, u32) {
        (self.file, self.line)
    }

    /// Whether it is an `async fn` operation.
    ///
    /// ```
    /// #[lmms::operation(interface = "text")]
    /// async fn whisper(text: String) -> String { text.to_lowercase() }
    ///
    /// # fn main() -> Result<(), lmms::Error> {
    /// assert!(lmms::registry::lookup("text", "whisper")?.is_async());
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_async(&self) -> bool {
        self.is_async
    }

    /// Its figures, as [`Op::stats`] gives them.
    ///
    /// ```
    /// #[lmms::operation(interface = "math")]
    /// fn halve(x: u64) -> u64 { x / 2 }
    ///
    /// # fn main() -> Result<(), lmms::Error> {
    /// halve::call(8)?;
    /// assert_eq!(lmms::registry::lookup("math", "halve")?.stats().calls, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn stats(&self) -> OpStats {
        self.op.stats()
    }

    /// The crate that defines it, from its module path.
    pub(crate) fn krate(&self) -> &'static str {
        crate_of(self.module_path)
    }

    /// `interface.name`.
    pub(crate) fn key(&self) -> String {
        self.op.def().to_string()
    }
}

impl fmt::Debug for OpLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpLink")
            .field("interface", &self.interface())
            .field("name", &self.name())
            .field("file", &self.file)
            .field("line", &self.line)
            .finish_non_exhaustive()
    }
}

/// A module as linked into the binary.
///
/// ```
/// #[lmms::module(name = "dictionary")]
/// pub struct Dictionary(Vec<&'static str>);
/// impl lmms::Load for Dictionary {
///     type Error = std::convert::Infallible;
///     fn load() -> Result<Self, Self::Error> { Ok(Dictionary(vec!["a"])) }
/// }
///
/// # fn main() -> Result<(), lmms::Error> {
/// let module = lmms::registry::modules().find(|m| m.name() == "dictionary").unwrap();
/// assert!(!module.stats().resident);
/// # Ok(())
/// # }
/// ```
pub struct ModuleLink {
    name: &'static str,
    class: Class,
    stats: fn() -> ModuleStats,
    bound: fn() -> bool,
    loads_async: fn() -> bool,
    file: &'static str,
    line: u32,
}

impl ModuleLink {
    /// A module's entry; it reaches the cell without its `Load`, so that a module without one
    /// is a single error, at its cell.
    #[doc(hidden)]
    pub const fn new<T: ModuleState>(
        name: &'static str,
        class: Class,
        file: &'static str,
        line: u32,
    ) -> Self {
        ModuleLink {
            name,
            class,
            stats: stats_of::<T>,
            bound: bound::<T>,
            loads_async: loads_async::<T>,
            file,
            line,
        }
    }

    /// Whether it joined a runtime (on its first use, or by
    /// [`Runtime::add`](crate::Runtime::add)).
    ///
    /// ```
    /// assert!(lmms::registry::modules().all(|m| !m.is_bound()));
    /// ```
    pub fn is_bound(&self) -> bool {
        (self.bound)()
    }

    /// Whether it loads with `.await` ([`AsyncLoad`](crate::AsyncLoad)): then it may
    /// have a close to await when it is unloaded, which a synchronous module never has.
    ///
    /// ```
    /// let closes = lmms::registry::modules().any(|m| m.loads_async());
    /// # let _ = closes;
    /// ```
    pub fn loads_async(&self) -> bool {
        (self.loads_async)()
    }

    /// Its name.
    ///
    /// ```
    /// assert!(lmms::registry::modules().all(|m| !m.name().is_empty()));
    /// ```
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Its class.
    ///
    /// ```
    /// assert!(lmms::registry::modules().all(|m| m.class() != lmms::Class::Core || !m.name().is_empty()));
    /// ```
    pub fn class(&self) -> Class {
        self.class
    }

    /// Its figures now (resident or not, loads, bytes).
    ///
    /// ```
    /// for module in lmms::registry::modules() {
    ///     println!("{}: {} loads", module.name(), module.stats().loads);
    /// }
    /// ```
    pub fn stats(&self) -> ModuleStats {
        (self.stats)()
    }

    /// Where its type is defined: file and line.
    ///
    /// ```
    /// for module in lmms::registry::modules() {
    ///     let (file, _line) = module.location();
    ///     assert!(file.ends_with(".rs"));
    /// }
    /// ```
    pub fn location(&self) -> (&'static str, u32) {
        (self.file, self.line)
    }
}

impl fmt::Debug for ModuleLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModuleLink")
            .field("name", &self.name)
            .field("class", &self.class)
            .finish_non_exhaustive()
    }
}

fn stats_of<T: ModuleState>() -> ModuleStats {
    T::cell().stats()
}

fn bound<T: ModuleState>() -> bool {
    T::cell().is_bound()
}

fn loads_async<T: ModuleState>() -> bool {
    T::cell().loads_async()
}

/// A crate's operations as `lmms-build` found them in its sources: what
/// `lmms::include_registry!()` puts in the crate, built with no start-up work.
#[derive(Debug)]
pub struct Table {
    /// The crate, from the module path where the registry was included.
    pub module_path: &'static str,
    /// Its operations, in source order.
    pub operations: &'static [TableEntry],
}

/// One operation of a [`Table`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableEntry {
    /// Its interface.
    pub interface: &'static str,
    /// Its name.
    pub name: &'static str,
    /// Its module's state type as written (`None`: stateless).
    pub module: Option<&'static str>,
    /// That module's class, when `lmms-build` found its `#[lmms::module]`.
    pub class: Option<Class>,
    /// Its `cache_ttl` in milliseconds, if it has one.
    pub cache_ttl_ms: Option<u64>,
    /// Its signature, as written.
    pub signature: &'static str,
    /// Whether it is an `async fn`.
    pub is_async: bool,
    /// The file that defines it, relative to the crate's manifest directory.
    pub file: &'static str,
    /// The line of its `fn`.
    pub line: u32,
    /// The crate root its file is reached from (`src/lib.rs`, `src/main.rs`): which of the
    /// crate's targets compiles it.
    pub root: &'static str,
}

impl Table {
    /// The crate this table describes.
    ///
    /// ```
    /// let table = lmms::registry::Table { module_path: "app::routes", operations: &[] };
    /// assert_eq!(table.krate(), "app");
    /// ```
    pub fn krate(&self) -> &'static str {
        crate_of(self.module_path)
    }
}

fn crate_of(module_path: &'static str) -> &'static str {
    module_path.split("::").next().unwrap_or(module_path)
}

/// What a call by name needs of an operation: implemented (in `json.rs`) by every
/// [`Op`] whose arguments deserialize and whose output serializes.
#[cfg(feature = "json")]
#[doc(hidden)]
pub trait JsonCall: Sync {
    fn call_json(
        &'static self,
        link: &OpLink,
        args: serde_json::Value,
    ) -> Result<serde_json::Value, ExecError>;
}

/// What a call by name needs of an `async fn` operation: implemented (in `json.rs`) for
/// its generated managed call when its arguments deserialize, its output serializes and
/// its future is `Send`.
#[cfg(feature = "json")]
#[doc(hidden)]
pub trait AsyncJsonCall: Sync {
    fn call_json(
        &'static self,
        link: &'static OpLink,
        args: serde_json::Value,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<serde_json::Value, ExecError>> + Send>,
    >;
}

#[cfg(test)]
mod tests {
    #[test]
    fn crate_is_the_first_segment() {
        assert_eq!(super::crate_of("app::a::b"), "app");
        assert_eq!(super::crate_of("app"), "app");
    }
}

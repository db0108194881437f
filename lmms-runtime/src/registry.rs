//! What is linked into the binary, found by name: every `#[lmms::operation]` and
//! `#[lmms::module]` registers itself in a [linkme] distributed slice, whichever crate
//! defines it, and every crate that includes its `lmms-build` registry adds its build-time
//! table. The first lookup by name indexes the operations (no start-up work) and checks
//! that the two agree.
//!
//! linkme works on Linux, macOS, iOS, Windows, FreeBSD, OpenBSD, illumos and Android;
//! not on WebAssembly. An operation in a library crate is linked only if the binary uses
//! the crate: a dependency that nothing names is not linked at all (dtolnay/linkme#36,
//! #61). Name it once, `use plugin_crate as _;`, and its operations are found.

use crate::cache::CachePolicy;
use crate::error::Error;
use crate::module::{Class, Module};
use crate::operation::{Op, OpEntry, Operation};
use crate::stats::{ModuleStats, OpStats};
use linkme::distributed_slice;
use rustc_hash::FxHashMap;
use std::fmt;
use std::sync::OnceLock;

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
/// let op = lmms::lookup("math", "square")?;
/// assert_eq!(op.params()[0].name, "x");
/// assert_eq!(op.stats().calls, 0);
/// # Ok(())
/// # }
/// ```
pub struct OpLink {
    op: &'static dyn OpEntry,
    module_path: &'static str,
    params: &'static [Param],
    file: &'static str,
    line: u32,
    is_async: bool,
    #[cfg(feature = "json")]
    json: fn() -> Option<&'static dyn crate::json::JsonCall>,
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
            op,
            module_path,
            params,
            file,
            line,
            is_async: false,
            #[cfg(feature = "json")]
            json: || None,
        }
    }

    /// Marks an `async fn` operation: not callable by name from sync code.
    #[doc(hidden)]
    pub const fn asynchronous(mut self) -> Self {
        self.is_async = true;
        self
    }

    /// How to call it with JSON, if its arguments and output have serde impls.
    #[doc(hidden)]
    #[cfg(feature = "json")]
    pub const fn json(mut self, json: fn() -> Option<&'static dyn crate::json::JsonCall>) -> Self {
        self.json = json;
        self
    }

    #[cfg(feature = "json")]
    pub(crate) fn json_call(&self) -> Option<&'static dyn crate::json::JsonCall> {
        (self.json)()
    }

    /// Its interface.
    ///
    /// ```
    /// #[lmms::operation(interface = "math")]
    /// fn triple(x: u64) -> u64 { 3 * x }
    ///
    /// # fn main() -> Result<(), lmms::Error> {
    /// assert_eq!(lmms::lookup("math", "triple")?.interface(), "math");
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
    /// assert_eq!(lmms::lookup("math", "negate")?.name(), "negate");
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
    /// let params = lmms::lookup("text", "repeat")?.params();
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
    /// let (file, line) = lmms::lookup("text", "shout")?.location();
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
    /// assert!(lmms::lookup("text", "whisper")?.is_async());
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
    /// assert_eq!(lmms::lookup("math", "halve")?.stats().calls, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn stats(&self) -> OpStats {
        self.op.stats()
    }

    /// The crate that defines it, from its module path.
    fn krate(&self) -> &'static str {
        crate_of(self.module_path)
    }

    fn key(&self) -> String {
        format!("{}.{}", self.interface(), self.name())
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
/// let module = lmms::modules().find(|m| m.name() == "dictionary").unwrap();
/// assert!(!module.stats().resident);
/// # Ok(())
/// # }
/// ```
pub struct ModuleLink {
    name: &'static str,
    class: Class,
    stats: fn() -> ModuleStats,
    file: &'static str,
    line: u32,
}

impl ModuleLink {
    #[doc(hidden)]
    pub const fn new<T: Module>(
        name: &'static str,
        class: Class,
        file: &'static str,
        line: u32,
    ) -> Self {
        ModuleLink {
            name,
            class,
            stats: stats_of::<T>,
            file,
            line,
        }
    }

    /// Its name.
    ///
    /// ```
    /// assert!(lmms::modules().all(|m| !m.name().is_empty()));
    /// ```
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Its class.
    ///
    /// ```
    /// assert!(lmms::modules().all(|m| m.class() != lmms::Class::Core || !m.name().is_empty()));
    /// ```
    pub fn class(&self) -> Class {
        self.class
    }

    /// Its figures now (resident or not, loads, bytes).
    ///
    /// ```
    /// for module in lmms::modules() {
    ///     println!("{}: {} loads", module.name(), module.stats().loads);
    /// }
    /// ```
    pub fn stats(&self) -> ModuleStats {
        (self.stats)()
    }

    /// Where its type is defined: file and line.
    ///
    /// ```
    /// for module in lmms::modules() {
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

fn stats_of<T: Module>() -> ModuleStats {
    T::cell().stats()
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
}

impl Table {
    /// The crate this table describes.
    ///
    /// ```
    /// let table = lmms::Table { module_path: "app::routes", operations: &[] };
    /// assert_eq!(table.krate(), "app");
    /// ```
    pub fn krate(&self) -> &'static str {
        crate_of(self.module_path)
    }
}

fn crate_of(module_path: &'static str) -> &'static str {
    module_path.split("::").next().unwrap_or(module_path)
}

/// Where the build-time tables and the linked operations disagree: each entry is an
/// operation's `interface.name` and where it was seen.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Drift {
    /// In a crate's build-time table, not linked: compiled out (a `cfg` the build script
    /// read differently), or dropped by the linker.
    pub not_linked: Vec<String>,
    /// Linked, missing from its crate's table: made by `macro_rules!` or `cfg_attr`, which
    /// the build script cannot see, or a table built from older sources.
    pub not_in_table: Vec<String>,
    /// The same `interface.name` linked twice (from two crates).
    pub duplicates: Vec<String>,
}

impl Drift {
    fn is_empty(&self) -> bool {
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

/// The index of linked operations, built on the first lookup.
struct Registry {
    by_name: FxHashMap<(&'static str, &'static str), &'static OpLink>,
    drift: Option<Drift>,
}

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| Registry::index(&OPERATIONS, &TABLES))
}

impl Registry {
    fn index(linked: &'static [OpLink], tables: &[&'static Table]) -> Registry {
        let mut by_name = FxHashMap::default();
        let mut drift = Drift::default();
        for op in linked {
            if by_name.insert((op.interface(), op.name()), op).is_some() {
                drift
                    .duplicates
                    .push(format!("{} ({}:{})", op.key(), op.file, op.line));
            }
        }
        for table in tables {
            for entry in table.operations {
                if !by_name.contains_key(&(entry.interface, entry.name)) {
                    drift.not_linked.push(format!(
                        "{}.{} ({}:{})",
                        entry.interface, entry.name, entry.file, entry.line
                    ));
                }
            }
        }
        for op in linked {
            let tabled = tables.iter().filter(|table| table.krate() == op.krate());
            let mut tabled = tabled.peekable();
            if tabled.peek().is_none() {
                // A crate without a build-time table: nothing to check it against.
                continue;
            }
            let listed = tabled.any(|table| {
                table
                    .operations
                    .iter()
                    .any(|entry| (entry.interface, entry.name) == (op.interface(), op.name()))
            });
            if !listed {
                drift
                    .not_in_table
                    .push(format!("{} ({}:{})", op.key(), op.file, op.line));
            }
        }
        Registry {
            by_name,
            drift: (!drift.is_empty()).then_some(drift),
        }
    }

    fn lookup(&self, interface: &str, name: &str) -> Result<&'static OpLink, Error> {
        if let Some(drift) = &self.drift {
            return Err(Error::RegistryDrift(Box::new(drift.clone())));
        }
        match self.by_name.get(&(interface, name)) {
            Some(op) => Ok(op),
            None => Err(self.unknown(interface, name)),
        }
    }

    #[cold]
    fn unknown(&self, interface: &str, name: &str) -> Error {
        let known = self.by_name.values().map(|op| op.key());
        unknown_operation(&format!("{interface}.{name}"), known)
    }
}

/// An unknown operation `wanted` (`interface.name`), with the `known` ones closest to it.
#[doc(hidden)]
#[cold]
pub fn unknown_operation(wanted: &str, known: impl Iterator<Item = String>) -> Error {
    // Within a third of the name's length, and only the nearest (ties kept): a typo has
    // one likely meaning, and a list of loose matches hides it.
    let mut near: Vec<(usize, String)> = known
        .map(|key| (strsim::levenshtein(wanted, &key), key))
        .filter(|(distance, key)| *distance <= key.len().max(wanted.len()) / 3)
        .collect();
    near.sort();
    let best = near.first().map(|(distance, _)| *distance);
    Error::UnknownOperation {
        operation: wanted.to_owned(),
        did_you_mean: near
            .into_iter()
            .take_while(|(distance, _)| Some(*distance) == best)
            .take(3)
            .map(|(_, key)| key)
            .collect(),
    }
}

/// The operation `interface.name` linked into this binary, for a call by name: the seed's
/// `execute_operation` lookup. O(1) with no start-up cost: the index is built on the first
/// call.
///
/// The first call also checks that the operations linked agree with the build-time tables
/// (`lmms-build`) of the crates that have one; if they do not, every lookup returns
/// [`Error::RegistryDrift`] naming each operation found on one side only, instead of
/// routing around it. An unknown name returns [`Error::UnknownOperation`] with the closest
/// known names.
///
/// ```
/// #[lmms::operation(interface = "weather")]
/// fn forecast(days: u8) -> u8 { days }
///
/// # fn main() -> Result<(), lmms::Error> {
/// assert_eq!(lmms::lookup("weather", "forecast")?.name(), "forecast");
/// let error = lmms::lookup("weather", "forcast").unwrap_err();
/// assert!(error.to_string().contains("did you mean weather.forecast?"), "{error}");
/// # Ok(())
/// # }
/// ```
pub fn lookup(interface: &str, name: &str) -> Result<&'static OpLink, Error> {
    registry().lookup(interface, name)
}

/// Every operation linked into this binary, in no particular order.
///
/// ```
/// #[lmms::operation(interface = "health")]
/// fn ping() -> &'static str { "pong" }
///
/// # fn main() -> Result<(), lmms::Error> {
/// assert!(lmms::operations().any(|op| (op.interface(), op.name()) == ("health", "ping")));
/// # Ok(())
/// # }
/// ```
pub fn operations() -> impl Iterator<Item = &'static OpLink> {
    OPERATIONS.iter()
}

/// Every module linked into this binary, in no particular order.
///
/// ```
/// assert!(lmms::modules().all(|module| !module.name().is_empty()));
/// ```
pub fn modules() -> impl Iterator<Item = &'static ModuleLink> {
    MODULES.iter()
}

/// Checks that the linked operations agree with the build-time tables, as the first
/// lookup does; call it at start-up or in a test to fail early.
///
/// ```
/// lmms::check_registry()?;
/// # Ok::<(), lmms::Drift>(())
/// ```
pub fn check_registry() -> Result<(), Drift> {
    match &registry().drift {
        Some(drift) => Err(drift.clone()),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crate_is_the_first_segment() {
        assert_eq!(crate_of("app::a::b"), "app");
        assert_eq!(crate_of("app"), "app");
    }
}

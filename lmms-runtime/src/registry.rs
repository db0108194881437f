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
            op: op.core(),
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

/// The error every lookup answers once the registry has drifted from the build.
#[cold]
#[inline(never)]
fn drifted(drift: &Drift) -> Error {
    Error::RegistryDrift(Box::new(drift.clone()))
}

/// The index of linked operations, built on the first lookup.
struct Registry {
    by_name: Slots,
    /// Long names whose key another operation holds: looked through when the key's
    /// holder is not the one asked for (rare; none among short names).
    shared_keys: Vec<&'static OpLink>,
    drift: Option<Drift>,
}

#[inline]
fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| Registry::index(OPERATIONS.static_slice(), &TABLES))
}

/// An `(interface, name)` pair as a few machine words, read with a handful of loads: for
/// names up to 16 bytes the words are the names themselves (length, first and last bytes,
/// overlapping), so a hit needs no string comparison; longer names share a key only when
/// their lengths and first and last 8 bytes agree, and are then told apart by comparing.
/// Hashing and comparing the strings byte by byte was most of a lookup's time.
#[derive(Clone, Copy, Debug)]
struct NameKey([u64; 5]);

impl NameKey {
    /// Equality without `memcmp` (the derived impl calls it for the array, and that call
    /// cost more than the rest of a lookup).
    #[inline]
    fn same(&self, other: &Self) -> bool {
        let [a, b, c, d, e] = self.0;
        let [p, q, r, s, t] = other.0;
        (a ^ p) | (b ^ q) | (c ^ r) | (d ^ s) | (e ^ t) == 0
    }

    /// A hash of the words whose high bits are well mixed (a multiply, then the high bits).
    #[inline]
    fn hash(&self) -> u64 {
        let [a, b, c, d, e] = self.0;
        let folded =
            a ^ b.rotate_left(13) ^ c.rotate_left(29) ^ d.rotate_left(41) ^ e.rotate_left(53);
        let wide = u128::from(folded) * 0x9E37_79B9_7F4A_7C15;
        (wide >> 64) as u64 ^ wide as u64
    }
}

/// The index itself: open addressing over a power-of-two table at most half full, filled
/// once. A lookup is one hash, usually one slot, and a five-word comparison.
struct Slots {
    slots: Box<[Option<(NameKey, &'static OpLink)>]>,
    mask: usize,
}

impl Slots {
    fn with_room(entries: usize) -> Self {
        let size = (entries * 2).next_power_of_two().max(16);
        Slots {
            slots: vec![None; size].into_boxed_slice(),
            mask: size - 1,
        }
    }

    fn insert(&mut self, key: NameKey, op: &'static OpLink) {
        let mut at = key.hash() as usize & self.mask;
        while self.slots[at].is_some() {
            at = (at + 1) & self.mask;
        }
        self.slots[at] = Some((key, op));
    }

    #[inline]
    fn get(&self, key: &NameKey) -> Option<&'static OpLink> {
        let mut at = key.hash() as usize & self.mask;
        loop {
            match &self.slots[at] {
                Some((held, op)) if held.same(key) => return Some(op),
                Some(_) => at = (at + 1) & self.mask,
                None => return None,
            }
        }
    }

    fn values(&self) -> impl Iterator<Item = &'static OpLink> + '_ {
        self.slots.iter().flatten().map(|(_, op)| *op)
    }
}

impl NameKey {
    // `#[inline]` on these two: without it they stay calls across the crate boundary.
    #[inline]
    fn of(interface: &str, name: &str) -> Self {
        let (a, b) = (interface.as_bytes(), name.as_bytes());
        let (a0, a1) = words(a);
        let (b0, b1) = words(b);
        NameKey([a0, a1, b0, b1, (a.len() as u64) << 32 | b.len() as u64])
    }

    /// Whether the key alone identifies the names: both fit in its words.
    #[inline]
    fn exact(interface: &str, name: &str) -> bool {
        interface.len() <= 16 && name.len() <= 16
    }
}

/// Two words that, with the length, hold every byte of `bytes` up to 16 of them.
#[inline]
fn words(bytes: &[u8]) -> (u64, u64) {
    let n = bytes.len();
    let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or([0; 8]));
    let half = |at: usize| {
        u64::from(u32::from_le_bytes(
            bytes[at..at + 4].try_into().unwrap_or([0; 4]),
        ))
    };
    match n {
        8.. => (word(0), word(n - 8)),
        4..=7 => (half(0) | half(n - 4) << 32, 0),
        1..=3 => {
            let byte = |at: usize| u64::from(bytes[at]);
            (byte(0) | byte(n / 2) << 8 | byte(n - 1) << 16, 0)
        }
        0 => (0, 0),
    }
}

impl Registry {
    fn index(linked: &'static [OpLink], tables: &[&'static Table]) -> Registry {
        let mut registry = Registry {
            by_name: Slots::with_room(linked.len()),
            shared_keys: Vec::new(),
            drift: None,
        };
        let mut drift = Drift::default();
        for op in linked {
            if registry.find(op.interface(), op.name()).is_some() {
                let place = format!("{} ({}:{})", op.key(), op.file, op.line);
                drift.duplicates.push(place);
                continue;
            }
            let key = NameKey::of(op.interface(), op.name());
            if registry.by_name.get(&key).is_some() {
                registry.shared_keys.push(op);
            } else {
                registry.by_name.insert(key, op);
            }
        }
        for table in tables {
            for entry in table.operations {
                if registry.find(entry.interface, entry.name).is_none() {
                    drift.not_linked.push(format!(
                        "{}.{} ({}:{})",
                        entry.interface, entry.name, entry.file, entry.line
                    ));
                }
            }
        }
        for op in linked {
            let mut tabled = tables
                .iter()
                .filter(|table| table.krate() == op.krate())
                .peekable();
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
                let place = format!("{} ({}:{})", op.key(), op.file, op.line);
                drift.not_in_table.push(place);
            }
        }
        registry.drift = (!drift.is_empty()).then_some(drift);
        registry
    }

    #[inline]
    fn find(&self, interface: &str, name: &str) -> Option<&'static OpLink> {
        let op = self.by_name.get(&NameKey::of(interface, name))?;
        let named = |op: &OpLink| op.interface() == interface && op.name() == name;
        if NameKey::exact(interface, name) || named(op) {
            return Some(op);
        }
        self.shared_keys.iter().copied().find(|op| named(op))
    }

    #[inline]
    fn lookup(&self, interface: &str, name: &str) -> Result<&'static OpLink, Error> {
        if let Some(drift) = &self.drift {
            return Err(drifted(drift));
        }
        match self.find(interface, name) {
            Some(op) => Ok(op),
            None => Err(self.unknown(interface, name)),
        }
    }

    #[cold]
    #[inline(never)]
    fn unknown(&self, interface: &str, name: &str) -> Error {
        let known = self
            .by_name
            .values()
            .chain(self.shared_keys.iter().copied())
            .map(|op| op.key());
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
#[inline]
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
    fn short_names_are_their_keys_and_long_ones_are_told_apart() {
        let names = [
            "",
            "a",
            "ab",
            "abc",
            "abcd",
            "abcdefg",
            "abcdefgh",
            "abcdefghijklmnop",
        ];
        for (i, a) in names.iter().enumerate() {
            for b in &names[i + 1..] {
                assert!(!NameKey::of(a, "x").same(&NameKey::of(b, "x")), "{a} / {b}");
            }
        }
        assert!(!NameKey::of("ab", "c").same(&NameKey::of("a", "bc")));
        assert!(!NameKey::of("aXc", "x").same(&NameKey::of("abc", "x")));
        // Longer than 16 bytes, same length and ends: the same key, so `find` compares.
        let (x, y) = ("get_user_by_id_or_name", "get_user_by_ip_or_name");
        assert!(NameKey::of(x, "i").same(&NameKey::of(y, "i")));
        assert!(!NameKey::exact(x, "i"));
    }

    #[test]
    fn crate_is_the_first_segment() {
        assert_eq!(crate_of("app::a::b"), "app");
        assert_eq!(crate_of("app"), "app");
    }
}

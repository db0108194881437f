//! Finding what is linked by name: the first lookup indexes the linked operations (no
//! start-up work) and checks that they agree with the build-time tables; an unknown name
//! is answered with the nearest known ones.

use crate::error::{Drift, Error};
use crate::link::{ModuleLink, OpLink, Table, MODULES, OPERATIONS, TABLES};
use std::collections::HashMap;
use std::sync::OnceLock;

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
    REGISTRY
        .get_or_init(|| Registry::index(OPERATIONS.static_slice(), MODULES.static_slice(), &TABLES))
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
    fn index(
        linked: &'static [OpLink],
        modules: &'static [ModuleLink],
        tables: &[&'static Table],
    ) -> Registry {
        let mut registry = Registry {
            by_name: Slots::with_room(linked.len()),
            shared_keys: Vec::new(),
            drift: None,
        };
        let mut drift = Drift::default();
        for op in linked {
            if let Some(first) = registry.find(op.interface(), op.name()) {
                drift.duplicates.push(format!(
                    "{} ({}:{} and {}:{})",
                    op.key(),
                    first.file,
                    first.line,
                    op.file,
                    op.line
                ));
                continue;
            }
            let key = NameKey::of(op.interface(), op.name());
            if registry.by_name.get(&key).is_some() {
                registry.shared_keys.push(op);
            } else {
                registry.by_name.insert(key, op);
            }
        }
        let mut names: HashMap<&str, &ModuleLink> = HashMap::new();
        for module in modules {
            if let Some(first) = names.insert(module.name(), module) {
                let ((file, line), (first_file, first_line)) =
                    (module.location(), first.location());
                drift.duplicates.push(format!(
                    "module `{}` ({first_file}:{first_line} and {file}:{line})",
                    module.name()
                ));
            }
        }
        for table in tables {
            // A binary's root none of whose operations is linked is another target of the
            // crate (seen from its integration tests, which link the lib alone): its
            // operations are not this binary's to miss. The lib's are always expected.
            let linked_roots: Vec<&str> = table
                .operations
                .iter()
                .filter(|entry| registry.find(entry.interface, entry.name).is_some())
                .map(|entry| entry.root)
                .collect();
            for entry in table.operations {
                if entry.root != "src/lib.rs" && !linked_roots.contains(&entry.root) {
                    continue;
                }
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
    // one likely meaning, and a list of loose matches hides it. A name whose length alone
    // puts it further than that from a known one is not compared at all, so the search
    // costs no more than the known names' lengths, however long the name asked for.
    let mut near: Vec<(usize, String)> = known
        .filter(|key| key.len().abs_diff(wanted.len()) <= key.len().max(wanted.len()) / 3)
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

/// The operation `interface.name` linked into this binary, for a call by name. O(1) with no start-up cost: the index is built on the first
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
/// assert_eq!(lmms::registry::lookup("weather", "forecast")?.name(), "forecast");
/// let error = lmms::registry::lookup("weather", "forcast").unwrap_err();
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
/// assert!(lmms::registry::operations().any(|op| (op.interface(), op.name()) == ("health", "ping")));
/// # Ok(())
/// # }
/// ```
pub fn operations() -> impl Iterator<Item = &'static OpLink> {
    OPERATIONS.iter()
}

/// Every module linked into this binary, in no particular order.
///
/// ```
/// assert!(lmms::registry::modules().all(|module| !module.name().is_empty()));
/// ```
pub fn modules() -> impl Iterator<Item = &'static ModuleLink> {
    MODULES.iter()
}

/// Checks that the linked operations agree with the build-time tables, as the first
/// lookup does; call it at start-up or in a test to fail early.
///
/// The answer is the error every lookup would give, [`Error::RegistryDrift`], so `?`
/// takes it into any error type.
///
/// ```
/// lmms::registry::check_registry()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn check_registry() -> Result<(), Error> {
    match &registry().drift {
        Some(drift) => Err(drifted(drift)),
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
}

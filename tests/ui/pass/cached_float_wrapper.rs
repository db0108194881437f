//! A float inside a key type that is `Eq + Hash` (as `OrderedFloat<f64>` is) is a fine
//! cache key.

use std::hash::{Hash, Hasher};

/// A float by its bits.
#[derive(Clone, Copy)]
pub struct Bits<T>(T);

impl PartialEq for Bits<f64> {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl Eq for Bits<f64> {}

impl Hash for Bits<f64> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.to_bits().hash(state);
    }
}

#[lmms::operation(interface = "geo", cache_ttl = "1m")]
fn scaled(by: Bits<f64>) -> u64 {
    (by.0 * 2.0) as u64
}

fn main() {
    assert_eq!(scaled::call(Bits(2.0)).unwrap(), 4);
}

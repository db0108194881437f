//! The module the `metrics` tests load: 2,048 numbers, named "inventory".

/// A module the test loads (and, in some, unloads).
#[lmms::module(name = "inventory")]
pub struct Inventory(pub Vec<u64>);

impl lmms::Load for Inventory {
    type Error = std::convert::Infallible;
    fn load() -> Result<Self, Self::Error> {
        Ok(Inventory(vec![3; 2048]))
    }
}

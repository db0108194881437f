//! What the tests of `metrics_cloudwatch_embedded`'s line share: a module to load, and the
//! collector's documents, each checked against the EMF specification.

use serde_json::Value;

/// What an invocation loads.
#[lmms::module(name = "catalog")]
pub struct Catalog(pub Vec<u8>);

impl lmms::Load for Catalog {
    type Error = std::convert::Infallible;
    fn load() -> Result<Self, Self::Error> {
        Ok(Catalog(vec![7; 8192]))
    }
}

/// The documents one flush of `collector` prints, each valid EMF.
pub fn flush(collector: &metrics_cloudwatch_embedded::Collector) -> Vec<Value> {
    let mut written = Vec::new();
    collector.flush(&mut written).unwrap();
    String::from_utf8(written)
        .unwrap()
        .lines()
        .map(|line| {
            assert_eq!(
                super::emf_spec::violations(line),
                Vec::<String>::new(),
                "{line}"
            );
            serde_json::from_str(line).unwrap()
        })
        .collect()
}

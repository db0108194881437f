//! Statistics as data: the difference of two snapshots, and the CloudWatch EMF line.

use serde_json::Value;

#[lmms::module(name = "thermostat", class = "utility")]
/// A small state.
pub struct Thermostat(Vec<u8>);

impl lmms::Load for Thermostat {
    type Error = std::convert::Infallible;
    fn load() -> Result<Self, Self::Error> {
        Ok(Thermostat(vec![21; 4096]))
    }
}

/// The set point, cached.
#[lmms::operation(interface = "climate", cache_ttl = "1m")]
pub fn set_point(thermostat: &Thermostat, room: u8) -> u8 {
    thermostat.0[usize::from(room)]
}

#[test]
fn one_invocation_as_a_difference_and_as_an_emf_line() {
    let before = lmms::stats();
    set_point::call(1).unwrap();
    set_point::call(1).unwrap();
    let invocation = lmms::stats().since(&before);
    assert_eq!(invocation.loads, 1);
    assert_eq!((invocation.cache.hits, invocation.cache.misses), (1, 1));
    let module = invocation
        .modules
        .iter()
        .find(|m| m.name == "thermostat")
        .unwrap();
    assert_eq!((module.loads, module.resident), (1, true));

    let emf = lmms::report::Emf::new("smart-home").dimension("function", "climate-skill");
    let line = emf.line_at(&invocation, 1_700_000_000_123);
    assert!(!line.contains('\n'), "one line");
    let parsed: Value = serde_json::from_str(&line).unwrap();
    let aws = &parsed["_aws"];
    assert_eq!(aws["Timestamp"], 1_700_000_000_123u64);
    let directive = &aws["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], "smart-home");
    assert_eq!(directive["Dimensions"], serde_json::json!([["function"]]));
    assert_eq!(parsed["function"], "climate-skill");
    let metrics = directive["Metrics"].as_array().unwrap();
    let expected = [
        ("Loads", "Count", invocation.loads),
        ("Unloads", "Count", invocation.unloads),
        ("CacheHits", "Count", invocation.cache.hits),
        ("CacheMisses", "Count", invocation.cache.misses),
        (
            "ResidentModules",
            "Count",
            invocation.resident_modules as u64,
        ),
        ("BytesLoaded", "Bytes", invocation.bytes_loaded),
    ];
    for (name, unit, value) in expected {
        let metric = metrics
            .iter()
            .find(|m| m["Name"] == name)
            .unwrap_or_else(|| panic!("{name}"));
        assert_eq!(metric["Unit"], unit, "{name}");
        assert_eq!(parsed[name], value, "{name} equals the snapshot's");
    }
    // Without the counting allocator the resident bytes are unknown: left out, not 0.
    assert_eq!(invocation.resident_bytes, None);
    assert!(metrics.iter().all(|m| m["Name"] != "ResidentBytes"));
    // Every declared metric has its value at the root.
    for metric in metrics {
        let name = metric["Name"].as_str().unwrap();
        assert!(parsed[name].is_u64(), "{name}");
    }
}

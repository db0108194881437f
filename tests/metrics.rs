//! lmms's figures through the `metrics` facade (feature `metrics`), captured by
//! `metrics-util`'s debugging recorder.

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use metrics_util::MetricKind;

#[path = "common/inventory.rs"]
mod inventory;
use inventory::Inventory;

/// A cached operation on it.
#[lmms::operation(interface = "stock", cache_ttl = "1m")]
pub fn count(inventory: &Inventory, item: u64) -> u64 {
    inventory.0[(item % 2048) as usize]
}

/// A recorded metric: name, labels, kind, value.
type Metric = (String, Vec<(String, String)>, MetricKind, DebugValue);

#[test]
fn a_sweep_publishes_counters_and_gauges_with_bounded_labels() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        count::call(1).unwrap();
        count::call(1).unwrap();
        lmms::sweep();
    });
    let metrics: Vec<Metric> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let labels = key
                .key()
                .labels()
                .map(|label| (label.key().to_owned(), label.value().to_owned()))
                .collect();
            (key.key().name().to_owned(), labels, key.kind(), value)
        })
        .collect();
    let find = |name: &str, label: Option<(&str, &str)>| -> &DebugValue {
        &metrics
            .iter()
            .find(|(n, labels, _, _)| {
                n == name
                    && label.is_none_or(|(k, v)| labels.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .unwrap_or_else(|| panic!("no {name} {label:?} among {metrics:#?}"))
            .3
    };
    assert_eq!(
        find("lmms_loads_total", Some(("module", "inventory"))),
        &DebugValue::Counter(1)
    );
    assert_eq!(
        find("lmms_cache_hits_total", Some(("operation", "stock.count"))),
        &DebugValue::Counter(1)
    );
    assert_eq!(
        find(
            "lmms_cache_misses_total",
            Some(("operation", "stock.count"))
        ),
        &DebugValue::Counter(1)
    );
    assert_eq!(find("lmms_sweeps_total", None), &DebugValue::Counter(1));
    let resident = find("lmms_resident_modules", None);
    assert!(
        matches!(resident, DebugValue::Gauge(value) if value.into_inner() == 1.0),
        "{resident:?}"
    );
    assert!(metrics.iter().all(|(name, ..)| name.starts_with("lmms_")));
}

//! lmms's figures through the `metrics` facade onto `metrics_cloudwatch_embedded`'s lines,
//! a recorder that prints what each counter gained since its last flush and resets it.

use serde_json::Value;

#[path = "common/inventory.rs"]
mod inventory;
use inventory::Inventory;

/// An operation on it.
#[lmms::operation(interface = "stock")]
pub fn count(inventory: &Inventory, item: u64) -> u64 {
    inventory.0[(item % 2048) as usize]
}

/// The documents one flush prints.
fn flush(collector: &metrics_cloudwatch_embedded::Collector) -> Vec<Value> {
    let mut written = Vec::new();
    collector.flush(&mut written).unwrap();
    String::from_utf8(written)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// The value of `name` in the document whose dimensions include `label`, if printed.
fn find(documents: &[Value], name: &str, label: Option<(&str, &str)>) -> Option<u64> {
    documents
        .iter()
        .filter(|doc| label.is_none_or(|(key, value)| doc[key] == value))
        .find_map(|doc| doc.get(name).and_then(Value::as_u64))
}

#[test]
fn each_flush_prints_what_lmms_did_since_the_last() {
    let collector = metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace("shop")
        .init()
        .unwrap();
    let inventory = Some(("module", "inventory"));

    count::call(1).unwrap();
    lmms::sweep();
    let first = flush(collector);
    assert_eq!(
        find(&first, "lmms_loads_total", inventory),
        Some(1),
        "{first:?}"
    );
    assert_eq!(
        find(&first, "lmms_sweeps_total", None),
        Some(1),
        "{first:?}"
    );

    // A second sweep and nothing loaded: one more sweep, no load.
    lmms::sweep();
    let second = flush(collector);
    assert_eq!(
        find(&second, "lmms_sweeps_total", None),
        Some(1),
        "{second:?}"
    );
    assert_eq!(
        find(&second, "lmms_loads_total", inventory),
        None,
        "{second:?}"
    );
}

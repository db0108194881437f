//! A `metrics` recorder that panics halfway through a publication: the next publication
//! does not publish the first half again.

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};

#[path = "common/inventory.rs"]
mod inventory;
use inventory::Inventory;

/// A recorder that panics the first time `lmms_sweeps_total` is registered (after the
/// modules' counters), and otherwise hands on to the debugging recorder.
struct PanicsOnce {
    inner: DebuggingRecorder,
    armed: AtomicBool,
}

impl metrics::Recorder for PanicsOnce {
    fn describe_counter(
        &self,
        key: metrics::KeyName,
        unit: Option<metrics::Unit>,
        text: metrics::SharedString,
    ) {
        self.inner.describe_counter(key, unit, text)
    }
    fn describe_gauge(
        &self,
        key: metrics::KeyName,
        unit: Option<metrics::Unit>,
        text: metrics::SharedString,
    ) {
        self.inner.describe_gauge(key, unit, text)
    }
    fn describe_histogram(
        &self,
        key: metrics::KeyName,
        unit: Option<metrics::Unit>,
        text: metrics::SharedString,
    ) {
        self.inner.describe_histogram(key, unit, text)
    }
    fn register_counter(
        &self,
        key: &metrics::Key,
        metadata: &metrics::Metadata<'_>,
    ) -> metrics::Counter {
        if key.name() == "lmms_sweeps_total" && self.armed.swap(false, SeqCst) {
            panic!("the recorder's own bug");
        }
        self.inner.register_counter(key, metadata)
    }
    fn register_gauge(
        &self,
        key: &metrics::Key,
        metadata: &metrics::Metadata<'_>,
    ) -> metrics::Gauge {
        self.inner.register_gauge(key, metadata)
    }
    fn register_histogram(
        &self,
        key: &metrics::Key,
        metadata: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        self.inner.register_histogram(key, metadata)
    }
}

#[test]
fn a_recorder_that_panics_halfway_does_not_have_the_first_half_published_twice() {
    let inner = DebuggingRecorder::new();
    let snapshotter = inner.snapshotter();
    let recorder = PanicsOnce {
        inner,
        armed: AtomicBool::new(true),
    };
    metrics::with_local_recorder(&recorder, || {
        assert_eq!(Inventory::get().unwrap().0.len(), 2048);
        let panicked = std::panic::catch_unwind(lmms::sweep);
        assert!(
            panicked.is_err(),
            "the recorder's panic reaches the sweep's caller"
        );
        lmms::sweep();
    });
    let loads = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .find(|(key, ..)| key.key().name() == "lmms_loads_total")
        .map(|(.., value)| value);
    assert_eq!(
        loads,
        Some(DebugValue::Counter(1)),
        "one load, published once"
    );
    assert_eq!(lmms::stats().loads, 1);
}

//! `Stats` and `SweepReport` as data (feature `serde`).

use lmms::{tuning::ManualClock, ModuleDef, Runtime};
use std::time::Duration;

#[test]
fn stats_and_sweep_reports_serialize() {
    let clock = ManualClock::new();
    let rt = Runtime::builder()
        .clock(clock.clone())
        .min_resident(0)
        .build()
        .unwrap();
    let m = rt
        .register(ModuleDef::named("weather"), || vec![0u8; 64])
        .unwrap();
    drop(m.get().unwrap());
    clock.advance(Duration::from_secs(31));
    let report = serde_json::to_value(rt.sweep()).unwrap();
    assert_eq!(report["unloaded"][0]["module"], "weather");
    assert_eq!(report["at"]["secs"], 31);
    let stats = serde_json::to_value(rt.stats()).unwrap();
    assert_eq!(stats["loads"], 1);
    assert_eq!(stats["unloads"], 1);
    assert_eq!(stats["modules"][0]["class"], "utility");
    assert_eq!(stats["blocked"]["within_grace"], 0);
}

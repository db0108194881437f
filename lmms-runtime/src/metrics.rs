//! lmms's figures through the [`metrics`](https://docs.rs/metrics) facade (feature
//! `metrics`), so whatever exporter the application runs (Prometheus, StatsD, CloudWatch)
//! picks them up without lmms knowing it.
//!
//! They are published from a [`Stats`] snapshot at the end of every sweep (and by
//! [`Runtime::publish_metrics`](crate::Runtime::publish_metrics)), never per call: each
//! counter is incremented by what it gained since the last publication, which a recorder
//! that keeps totals (Prometheus) sums and one that prints and resets them at each flush
//! (`metrics_cloudwatch_embedded`) prints as the interval's; gauges are set to their values
//! now. Labels are bounded by the modules and operations the program declares.
//!
//! The names, kinds and labels are listed once, in the `lmms::observability` docs.

use crate::def::OpDef;
use crate::stats::Stats;
use crate::sync::{lock, Mutex};

/// Publishes `now()`'s figures, incremented from `published`'s, which they replace first,
/// under the lock: two sweeps publishing at once publish each gain once, and a recorder
/// that panics halfway loses the rest of this publication rather than publishing its first
/// half twice. The recorder (user code, which may call back into lmms) runs after the lock
/// is released.
pub(crate) fn publish(published: &Mutex<Option<Stats>>, now: impl FnOnce() -> Stats) {
    let (stats, last) = {
        let mut published = lock(published);
        let stats = now();
        let last = published.replace(stats.clone());
        (stats, last)
    };
    let last = last.as_ref();
    let gained = |now: u64, then: Option<u64>| now.saturating_sub(then.unwrap_or(0));
    for module in &stats.modules {
        let then = last.and_then(|last| last.modules.iter().find(|m| m.name == module.name));
        let name = module.name.to_string();
        metrics::counter!("lmms_loads_total", "module" => name.clone())
            .increment(gained(module.loads, then.map(|m| m.loads)));
        metrics::counter!("lmms_prewarms_total", "module" => name.clone())
            .increment(gained(module.prewarms, then.map(|m| m.prewarms)));
        metrics::counter!("lmms_unloads_total", "module" => name)
            .increment(gained(module.unloads, then.map(|m| m.unloads)));
    }
    let total = |field: fn(&Stats) -> u64| gained(field(&stats), last.map(field));
    metrics::counter!("lmms_load_failures_total").increment(total(|s| s.load_failures));
    metrics::counter!("lmms_sweeps_total").increment(total(|s| s.sweeps));
    metrics::counter!("lmms_bytes_loaded_total").increment(total(|s| s.bytes_loaded));
    metrics::counter!("lmms_bytes_reclaimed_total").increment(total(|s| s.bytes_reclaimed));
    metrics::gauge!("lmms_resident_modules").set(stats.resident_modules as f64);
    if let Some(bytes) = stats.resident_bytes {
        metrics::gauge!("lmms_resident_bytes").set(bytes as f64);
    }
    metrics::gauge!("lmms_hot_paths").set(stats.hot_paths as f64);
    if let Some(heap) = stats.live_heap {
        metrics::gauge!("lmms_live_heap_bytes").set(heap as f64);
    }
    if let Some(rss) = stats.rss {
        metrics::gauge!("lmms_rss_bytes").set(rss as f64);
    }
    for op in &stats.ops {
        let then = last.and_then(|last| {
            last.ops
                .iter()
                .find(|o| (o.interface, o.name) == (op.interface, op.name))
        });
        let name = OpDef::new(op.interface, op.name).to_string();
        if let Some(cache) = op.cache {
            let before = then.and_then(|o| o.cache);
            metrics::counter!("lmms_cache_hits_total", "operation" => name.clone())
                .increment(gained(cache.hits, before.map(|c| c.hits)));
            metrics::counter!("lmms_cache_misses_total", "operation" => name.clone())
                .increment(gained(cache.misses, before.map(|c| c.misses)));
        }
        metrics::counter!("lmms_promotions_total", "operation" => name.clone())
            .increment(gained(op.promotions[1], then.map(|o| o.promotions[1])));
        let demotions = |o: &crate::stats::OpStats| o.demotions.iter().sum::<u64>();
        metrics::counter!("lmms_demotions_total", "operation" => name)
            .increment(gained(demotions(op), then.map(demotions)));
    }
}

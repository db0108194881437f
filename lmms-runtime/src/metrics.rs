//! lmms's figures through the [`metrics`](https://docs.rs/metrics) facade (feature
//! `metrics`), so whatever exporter the application runs (Prometheus, StatsD, CloudWatch)
//! picks them up without lmms knowing it.
//!
//! They are published from a [`Stats`] snapshot at the end of every sweep (and by
//! [`Runtime::publish_metrics`](crate::Runtime::publish_metrics)), never per call: counters
//! are set to their absolute totals, gauges to their values now. Labels are bounded by the
//! modules and operations the program declares.
//!
//! The names, kinds and labels are listed once, in the `lmms::observability` docs.

use crate::def::OpDef;
use crate::stats::Stats;

pub(crate) fn publish(stats: &Stats) {
    for module in &stats.modules {
        let name = module.name.to_string();
        metrics::counter!("lmms_loads_total", "module" => name.clone()).absolute(module.loads);
        metrics::counter!("lmms_prewarms_total", "module" => name.clone())
            .absolute(module.prewarms);
        metrics::counter!("lmms_unloads_total", "module" => name).absolute(module.unloads);
    }
    metrics::counter!("lmms_load_failures_total").absolute(stats.load_failures);
    metrics::counter!("lmms_sweeps_total").absolute(stats.sweeps);
    metrics::counter!("lmms_bytes_loaded_total").absolute(stats.bytes_loaded);
    metrics::counter!("lmms_bytes_reclaimed_total").absolute(stats.bytes_reclaimed);
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
        let name = OpDef::new(op.interface, op.name).to_string();
        if let Some(cache) = op.cache {
            metrics::counter!("lmms_cache_hits_total", "operation" => name.clone())
                .absolute(cache.hits);
            metrics::counter!("lmms_cache_misses_total", "operation" => name.clone())
                .absolute(cache.misses);
        }
        metrics::counter!("lmms_promotions_total", "operation" => name.clone())
            .absolute(op.promotions[1]);
        metrics::counter!("lmms_demotions_total", "operation" => name)
            .absolute(op.demotions.iter().sum());
    }
}

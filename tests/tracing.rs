//! The lifecycle events (feature `tracing`), captured by a test subscriber with their
//! fields.

use lmms::{tuning::ManualClock, tuning::Thresholds, ModuleDef, Runtime};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// Every event and span opened, as `message {field=value ...}` lines.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<String>>>);

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0.insert_str(0, &format!("{value:?}"));
        } else {
            self.0.push_str(&format!(" {}={value:?}", field.name()));
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for Captured {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut fields = Fields(format!(" level={}", event.metadata().level()));
        event.record(&mut fields);
        self.0.lock().unwrap().push(fields.0);
    }

    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        _: &tracing::span::Id,
        _: Context<'_, S>,
    ) {
        let mut fields = Fields(format!("span {}", attrs.metadata().name()));
        attrs.record(&mut fields);
        self.0.lock().unwrap().push(fields.0);
    }
}

impl Captured {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut self.0.lock().unwrap())
    }

    fn find(&self, lines: &[String], start: &str) -> String {
        lines
            .iter()
            .find(|line| line.starts_with(start))
            .unwrap_or_else(|| panic!("no `{start}` among {lines:#?}"))
            .clone()
    }
}

#[lmms::module(name = "rules")]
/// The module the operation reads.
pub struct Rules(Vec<u64>);

impl lmms::Load for Rules {
    type Error = std::convert::Infallible;
    fn load() -> Result<Self, Self::Error> {
        Ok(Rules(vec![1; 1024]))
    }
}

/// An operation that turns hot and cools.
#[lmms::operation(interface = "security")]
pub fn check(rules: &Rules, x: u64) -> u64 {
    rules.0[(x % 1024) as usize]
}

/// A second operation on the module: its promotion evicts `check` (one hot path allowed).
#[lmms::operation(interface = "security")]
pub fn audit(rules: &Rules, x: u64) -> u64 {
    rules.0[(x % 7) as usize]
}

/// A cached operation, for expiry.
#[lmms::operation(interface = "security", cache_ttl = "1s")]
pub fn lookup(rules: &Rules, x: u64) -> u64 {
    rules.0[(x % 3) as usize]
}

#[test]
fn every_lifecycle_decision_is_an_event_with_its_fields() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::registry().with(captured.clone());
    tracing::subscriber::with_default(subscriber, || {
        let clock = ManualClock::new();
        let runtime = Runtime::builder()
            .clock(clock.clone())
            .min_resident(0)
            .heat(Thresholds::new(2, 4, 8).unwrap())
            .cool_every(Duration::from_secs(60))
            .max_hot_paths(1)
            .build()
            .unwrap();
        Runtime::set_global(runtime).unwrap();

        // A load: a span around it, and its result.
        check::call(1).unwrap();
        let lines = captured.take();
        assert_eq!(
            captured.find(&lines, "span lmms.load"),
            r#"span lmms.load module=rules class=Utility"#
        );
        let loaded = captured.find(&lines, "loaded");
        assert!(
            loaded.starts_with("loaded level=INFO module=rules bytes="),
            "{loaded}"
        );
        assert!(loaded.contains(" ms="), "{loaded}");

        // Promotions at each threshold.
        for x in 0..10 {
            check::call(x).unwrap();
        }
        let lines = captured.take();
        let promotions: Vec<&String> = lines.iter().filter(|l| l.starts_with("promoted")).collect();
        assert_eq!(promotions.len(), 3, "{lines:#?}");
        assert_eq!(
            *promotions[1],
            r#"promoted level=INFO operation=security.check from="warm" to="hot""#
        );

        // A sweep that keeps the module says why, at debug level.
        lmms::sweep();
        let kept = captured.find(&captured.take(), "kept by the sweep");
        assert_eq!(
            kept,
            r#"kept by the sweep level=DEBUG module=rules reason=pinned"#
        );

        // A second hot operation over the cap of one evicts the first.
        for x in 0..5 {
            audit::call(x).unwrap();
        }
        assert_eq!(
            captured.find(&captured.take(), "demoted"),
            r#"demoted level=INFO operation=security.check from="hot" to="warm" why="evicted by the hot-path cap""#
        );

        // A cached result expires, and the sweep purges it.
        lookup::call(1).unwrap();
        clock.advance(Duration::from_secs(2));
        lmms::sweep();
        assert_eq!(
            captured.find(&captured.take(), "cache entries expired"),
            "cache entries expired level=TRACE entries=1"
        );

        // Cooling demotes; the module, idle since its last use (not since the demotion),
        // is unloaded by the same sweep, with the bytes.
        clock.advance(Duration::from_secs(600));
        lmms::sweep();
        let lines = captured.take();
        assert_eq!(
            captured.find(&lines, "demoted"),
            r#"demoted level=INFO operation=security.audit from="hot" to="warm" why="cooled""#
        );
        let unloaded = captured.find(&lines, "unloaded");
        assert!(
            unloaded.starts_with("unloaded level=INFO module=rules bytes="),
            "{unloaded}"
        );

        // A failing load is a warning with the error.
        let failing = lmms::Runtime::global()
            .register_fallible(ModuleDef::named("broken"), || "x".parse::<u8>())
            .unwrap();
        assert!(failing.get().is_err());
        let failed = captured.find(&captured.take(), "load failed");
        assert!(
            failed.starts_with(
                "load failed level=WARN module=broken error=loading module `broken` failed"
            ),
            "{failed}"
        );
    });
}

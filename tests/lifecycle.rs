//! The module lifecycle rules, each driven by the manual clock.

use lmms::{
    report::KeepReason, report::Unload, tuning::ManualClock, Class, Error, Load, ModuleCell,
    ModuleDef, Runtime,
};
use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

fn runtime(min_resident: usize) -> (Runtime, ManualClock) {
    let clock = ManualClock::new();
    let runtime = Runtime::builder()
        .clock(clock.clone())
        .min_resident(min_resident)
        .build()
        .unwrap();
    (runtime, clock)
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[path = "lifecycle/failures.rs"]
mod failures;

#[test]
fn state_is_built_on_first_use_and_once() {
    let (rt, _) = runtime(0);
    let built = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = built.clone();
    let m = rt
        .register_fallible(ModuleDef::named("m"), move || {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok::<_, Infallible>(vec![1u32, 2, 3])
        })
        .unwrap();
    assert_eq!(
        built.load(Ordering::SeqCst),
        0,
        "nothing is built at registration"
    );
    assert!(!m.is_resident());
    assert_eq!(m.get().unwrap().len(), 3);
    assert_eq!(m.get().unwrap()[2], 3);
    assert_eq!(built.load(Ordering::SeqCst), 1);
    let stats = rt.stats();
    assert_eq!(
        (stats.loads, stats.unloads, stats.resident_modules),
        (1, 0, 1)
    );
    assert_eq!(stats.modules[0].loads, 1);
}

#[test]
fn unload_is_refused_while_a_guard_lives_and_reload_follows() {
    let (rt, _) = runtime(0);
    let m = rt.register(ModuleDef::named("m"), || 7u64).unwrap();
    let guard = m.get().unwrap();
    assert_eq!(m.unload(), Unload::Kept(KeepReason::InUse));
    assert_eq!(*guard, 7, "the state is intact after a refused unload");
    assert_eq!(m.stats().guards, 1);
    drop(guard);
    assert_eq!(m.stats().guards, 0);
    assert!(matches!(m.unload(), Unload::Unloaded { .. }));
    assert!(!m.is_resident());
    assert_eq!(*m.get().unwrap(), 7);
    let stats = rt.stats();
    assert_eq!((stats.loads, stats.unloads), (2, 1));
    assert_eq!(stats.blocked.in_use, 1);
}

#[test]
fn grace_period_is_exact_with_the_manual_clock() {
    let (rt, clock) = runtime(0);
    let m = rt.register(ModuleDef::named("m"), || 0u8).unwrap();
    drop(m.get().unwrap());
    assert_eq!(rt.sweep().kept_because("m"), Some(KeepReason::WithinGrace));
    clock.advance(Duration::from_millis(29_999));
    assert_eq!(rt.sweep().kept_because("m"), Some(KeepReason::WithinGrace));
    clock.advance(Duration::from_millis(1));
    let report = rt.sweep();
    assert_eq!(report.unloaded.len(), 1);
    assert_eq!(report.unloaded[0].module, "m");
    assert!(!m.is_resident());
    assert_eq!(rt.stats().blocked.within_grace, 2);
}

#[test]
fn each_use_restarts_the_grace_period() {
    let (rt, clock) = runtime(0);
    let m = rt.register(ModuleDef::named("m"), || 0u8).unwrap();
    drop(m.get().unwrap());
    clock.advance(secs(20));
    drop(m.get().unwrap());
    clock.advance(secs(20));
    assert_eq!(rt.sweep().kept_because("m"), Some(KeepReason::WithinGrace));
    clock.advance(secs(10));
    assert_eq!(rt.sweep().unloaded.len(), 1);
}

#[test]
fn a_module_grace_overrides_the_runtime_grace() {
    let (rt, clock) = runtime(0);
    let long = ModuleDef::named("long").grace(secs(300));
    let m = rt.register(long, || 0u8).unwrap();
    drop(m.get().unwrap());
    clock.advance(secs(299));
    assert_eq!(
        rt.sweep().kept_because("long"),
        Some(KeepReason::WithinGrace)
    );
    clock.advance(secs(1));
    assert_eq!(rt.sweep().unloaded.len(), 1);
}

#[test]
fn the_resident_minimum_keeps_the_most_recently_used() {
    let (rt, clock) = runtime(2);
    let modules: Vec<_> = (0..4)
        .map(|i| {
            rt.register_fallible(ModuleDef::named(format!("m{i}")), || {
                Ok::<_, Infallible>(0u8)
            })
            .unwrap()
        })
        .collect();
    for m in &modules {
        drop(m.get().unwrap());
        clock.advance(secs(1));
    }
    clock.advance(secs(60));
    let report = rt.sweep();
    let unloaded: Vec<_> = report.unloaded.iter().map(|u| u.module.as_str()).collect();
    assert_eq!(
        unloaded,
        ["m0", "m1"],
        "least recently used first, down to the minimum"
    );
    assert_eq!(report.kept_because("m2"), Some(KeepReason::AtMinimum));
    assert_eq!(report.kept_because("m3"), Some(KeepReason::AtMinimum));
    assert_eq!(rt.stats().resident_modules, 2);
}

#[test]
fn a_sweep_reports_its_kept_modules_grace_first_then_the_minimum_least_recently_used_first() {
    let (rt, clock) = runtime(5);
    // Registered in another order than they are used.
    let [m1, m0, m2] = ["m1", "m0", "m2"].map(|name| {
        rt.register_fallible(ModuleDef::named(name), || Ok::<_, Infallible>(0u8))
            .unwrap()
    });
    for (module, idle) in [(&m0, 5), (&m1, 95), (&m2, 20)] {
        drop(module.get().unwrap());
        clock.advance(secs(idle));
    }
    let report = rt.sweep();
    let kept: Vec<_> = report
        .kept
        .iter()
        .map(|kept| (kept.module.as_str(), kept.reason))
        .collect();
    assert_eq!(
        kept,
        [
            ("m2", KeepReason::WithinGrace),
            ("m0", KeepReason::AtMinimum),
            ("m1", KeepReason::AtMinimum),
        ]
    );
}

#[test]
fn core_modules_are_never_swept() {
    let (rt, clock) = runtime(0);
    let def = ModuleDef::named("log").class(Class::Core);
    let m = rt.register(def, || 0u8).unwrap();
    drop(m.get().unwrap());
    clock.advance(secs(3600));
    assert_eq!(rt.sweep().kept_because("log"), Some(KeepReason::Core));
    assert!(m.is_resident());
    assert_eq!(rt.stats().blocked.core, 1);
}

#[test]
fn feature_modules_unload_when_their_last_guard_drops() {
    let (rt, _) = runtime(8);
    let def = ModuleDef::named("automations").class(Class::Feature);
    let m = rt.register(def, || vec![0u8; 64]).unwrap();
    let first = m.get().unwrap();
    let second = m.get().unwrap();
    drop(first);
    assert!(m.is_resident(), "a guard is still alive");
    drop(second);
    assert!(
        !m.is_resident(),
        "grace and the resident minimum do not hold a feature module"
    );
    assert_eq!(m.get().unwrap().len(), 64);
    assert_eq!(rt.stats().loads, 2);
}

#[test]
fn pins_and_dependents_hold_feature_and_utility_modules() {
    let (rt, clock) = runtime(0);
    let feature = rt
        .register_fallible(ModuleDef::named("f").class(Class::Feature), || {
            Ok::<_, Infallible>(0u8)
        })
        .unwrap();
    let utility = rt.register(ModuleDef::named("u"), || 0u8).unwrap();
    let pin = feature.pin();
    drop(feature.get().unwrap());
    assert!(feature.is_resident(), "pinned: not unloaded after use");
    drop(utility.get().unwrap());
    let dependent = utility.depend();
    clock.advance(secs(60));
    let report = rt.sweep();
    assert_eq!(report.kept_because("f"), Some(KeepReason::Pinned));
    assert_eq!(report.kept_because("u"), Some(KeepReason::Dependents));
    drop((pin, dependent));
    assert_eq!(rt.sweep().unloaded.len(), 2);
    let blocked = rt.stats().blocked;
    assert_eq!((blocked.pinned, blocked.dependents), (1, 1));
}

#[test]
fn a_guard_alive_during_a_sweep_keeps_its_module() {
    let (rt, clock) = runtime(0);
    let m = rt.register(ModuleDef::named("m"), || 0u8).unwrap();
    let guard = m.get().unwrap();
    clock.advance(secs(60));
    assert_eq!(rt.sweep().kept_because("m"), Some(KeepReason::InUse));
    drop(guard);
    // The drop is a use: the grace period starts again.
    assert_eq!(rt.sweep().kept_because("m"), Some(KeepReason::WithinGrace));
}

#[derive(Debug)]
struct Refused;
impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the config file is missing")
    }
}
impl std::error::Error for Refused {}

#[test]
fn configuration_errors_name_the_setting() {
    let budget = Runtime::builder().memory_budget(0).build().unwrap_err();
    assert!(matches!(
        budget,
        Error::InvalidConfig {
            field: "memory_budget",
            ..
        }
    ));
    for (setting, value) in [
        ("grace", "-5s"),
        ("grace", "5 parsecs"),
        ("grace", "s"),
        ("min_resident", "-1"),
        ("memory_budget", "lots"),
        ("memory_budget", "99999999999999999999GiB"),
        ("adaptive", "sometimes"),
        ("adaptive", "lots/60s"),
        ("adaptive", "128MiB/soon"),
        ("adaptive", "on+prewarm=150%"),
        ("adaptive", "on+warm"),
        ("adaptive", "off+prewarm"),
    ] {
        match Runtime::builder().set(setting, value) {
            Err(Error::InvalidConfig { field, reason }) => {
                assert_eq!(field, setting);
                assert!(reason.contains(value), "{reason}");
            }
            other => panic!("{setting} = {value}: expected an error, got {other:?}"),
        }
    }
    let on = Runtime::builder()
        .set("adaptive", "on")
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(
        on.config().adaptive(),
        Some(lmms::tuning::Adaptive::default())
    );
    let off = Runtime::builder()
        .set("adaptive", "on")
        .unwrap()
        .set("adaptive", "off");
    assert_eq!(off.unwrap().build().unwrap().config().adaptive(), None);
    for (value, prewarm) in [
        ("on+prewarm", lmms::tuning::Adaptive::default().prewarm(25)),
        (
            "128MiB/60s + prewarm=40%",
            lmms::tuning::Adaptive::default()
                .load_cost(128 << 20, secs(60))
                .prewarm(40),
        ),
    ] {
        let rt = Runtime::builder().set("adaptive", value).unwrap().build();
        assert_eq!(rt.unwrap().config().adaptive(), Some(prewarm), "{value}");
    }
    let unknown = Runtime::builder().set("grase", "30s").unwrap_err();
    assert!(unknown.to_string().contains("`grase` is not a setting"));
    let rt = Runtime::builder()
        .set("trim_threshold", "off")
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(rt.config().trim_threshold(), None);
}

#[test]
fn guards_are_send_and_live_across_await() {
    fn assert_send<T: Send>(_: &T) {}
    let (rt, _) = runtime(0);
    let m = rt.register(ModuleDef::named("m"), || vec![1u8]).unwrap();
    let task = async {
        let guard = m.get().unwrap();
        std::future::ready(()).await;
        guard.len()
    };
    assert_send(&task);
    let mut task = std::pin::pin!(task);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert_eq!(task.as_mut().poll(&mut cx), std::task::Poll::Ready(1));
    let guard = m.get().unwrap();
    std::thread::scope(|s| {
        s.spawn(move || assert_eq!(guard[0], 1));
    });
    assert_eq!(
        m.stats().guards,
        0,
        "a guard dropped on another thread is counted off"
    );
}

#[test]
fn stats_print_as_a_table() {
    let (rt, _) = runtime(0);
    let m = rt.register(ModuleDef::named("weather"), || 0u8).unwrap();
    drop(m.get().unwrap());
    let table = rt.stats().to_string();
    assert!(
        table.starts_with("lmms at 0.000s: 1 loads (0 failed), 0 unloads"),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("module ") && l.contains("last use")),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("weather  utility  yes")),
        "{table}"
    );
}

#[test]
fn the_reaper_sweeps_until_dropped() {
    let rt = Runtime::builder()
        .grace(Duration::ZERO)
        .min_resident(0)
        .build()
        .unwrap();
    let m = rt.register(ModuleDef::named("m"), || 0u8).unwrap();
    drop(m.get().unwrap());
    let reaper = rt.start_reaper(Duration::from_millis(1)).unwrap();
    while m.is_resident() {
        std::thread::yield_now();
    }
    drop(reaper);
    let sweeps = rt.stats().sweeps;
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(
        rt.stats().sweeps,
        sweeps,
        "no sweep after the reaper is dropped"
    );
}

/// A module used every 5 minutes, swept between uses: how many times it is built.
fn loads_of_a_periodic_module(builder: lmms::tuning::Builder) -> u64 {
    let clock = ManualClock::new();
    let runtime = builder
        .clock(clock.clone())
        .min_resident(0)
        .build()
        .unwrap();
    let m = runtime
        .register(ModuleDef::named("report"), || vec![0u8; 1024])
        .unwrap();
    for _ in 0..12 {
        drop(m.get().unwrap());
        clock.advance(secs(300));
        runtime.sweep();
    }
    m.stats().loads
}

#[test]
fn the_adaptive_keep_alive_keeps_a_periodic_module_worth_keeping() {
    // Fixed 30 s: unloaded after every use, built 12 times.
    assert_eq!(loads_of_a_periodic_module(Runtime::builder()), 12);
    // Adaptive, a load worth 10 minutes of the module (about 1 KiB) idle: kept between uses.
    let adaptive = lmms::tuning::Adaptive::default()
        .load_cost(1 << 10, secs(600))
        .learn_from(3);
    assert_eq!(
        loads_of_a_periodic_module(Runtime::builder().adaptive(adaptive)),
        1
    );
    // Worth only a minute: unloaded after every use, like the fixed grace.
    let cheap = adaptive.load_cost(1 << 10, secs(60));
    assert_eq!(
        loads_of_a_periodic_module(Runtime::builder().adaptive(cheap)),
        12
    );
    // A module's own grace wins over what is learned.
    let clock = ManualClock::new();
    let rt = Runtime::builder()
        .clock(clock.clone())
        .min_resident(0)
        .adaptive(adaptive)
        .build()
        .unwrap();
    let m = rt
        .register(ModuleDef::named("strict").grace(secs(10)), || 1u8)
        .unwrap();
    for _ in 0..5 {
        drop(m.get().unwrap());
        clock.advance(secs(300));
        rt.sweep();
    }
    assert_eq!(m.stats().loads, 5);
}

/// An hourly module under pre-warming, swept every 10 s: `calls` uses an hour apart. The
/// loader runs `on_load` with its count first (it may panic). Returns, for each use,
/// whether the module was resident when it came and whether it was at the half hour.
fn hourly_under_prewarming(
    calls: usize,
    on_load: impl Fn(usize) + Send + Sync + 'static,
) -> (lmms::report::ModuleStats, Vec<(bool, bool)>, lmms::Stats) {
    let clock = ManualClock::new();
    let rt = Runtime::builder()
        .clock(clock.clone())
        .min_resident(0)
        .adaptive(
            lmms::tuning::Adaptive::default()
                .load_worth_idle(secs(600))
                .learn_from(3)
                .prewarm(25),
        )
        .build()
        .unwrap();
    let count = AtomicUsize::new(0);
    let m = rt
        .register(ModuleDef::named("hourly"), move || {
            on_load(count.fetch_add(1, Ordering::SeqCst));
            vec![0u8; 1024]
        })
        .unwrap();
    let mut seen = Vec::new();
    for _ in 0..calls {
        let resident_at_call = m.is_resident();
        drop(m.get().unwrap());
        let mut resident_at_half = false;
        for step in 1..=360 {
            clock.advance(secs(10));
            rt.sweep();
            if step == 180 {
                resident_at_half = m.is_resident();
            }
        }
        seen.push((resident_at_call, resident_at_half));
    }
    (m.stats(), seen, rt.stats())
}

#[test]
fn an_hourly_module_is_unloaded_between_uses_and_prewarmed_before_each() {
    let (module, seen, stats) = hourly_under_prewarming(8, |_| {});
    // Learning (3 gaps, kept its 10-minute break-even): a cold start at each call.
    assert!(seen[..4].iter().all(|&(at_call, _)| !at_call), "{seen:?}");
    // Then unloaded through the hour and loaded again before each call.
    assert!(
        seen[4..]
            .iter()
            .all(|&(at_call, at_half)| at_call && !at_half),
        "{seen:?}"
    );
    // Four cold starts, and five pre-warms: one before each later call, and one after
    // the last, for a call an hour on that never comes.
    assert_eq!(module.prewarms, 5);
    assert_eq!(module.loads, 9);
    assert_eq!((stats.prewarms, stats.loads), (5, 9));
    // A pre-warm is no use: the gaps stayed an hour long, or it would not have gone on.
    assert_eq!(module.last_use, Some(secs(7 * 3600)));
}

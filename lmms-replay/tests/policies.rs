//! Policies on hand-made traces whose right answer is known.

use lmms::memory::CountingAlloc;
use lmms::tuning::Adaptive;
use lmms_replay::{replay, Invocation, Policy, Trace};
use std::time::Duration;

// The budget policy weighs modules by the bytes their loads allocated.
#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// One function of a 100 MB app, called every `period` for `calls` times, running 1 s.
fn periodic(period: Duration, calls: u64) -> Trace {
    let mut trace = Trace::default();
    let f = trace.add_function("reports", "nightly", Some(100.0));
    trace.invocations = (0..calls)
        .map(|i| Invocation {
            at_ms: i * period.as_millis() as u64,
            function: f,
            duration_ms: 1_000,
        })
        .collect();
    trace
}

const SECOND: Duration = Duration::from_secs(1);

/// The adaptive policy with a load worth keeping the 100 MB app (102,400 bytes at 1,024
/// bytes per MB) idle for `break_even`, learning from 3 gaps.
fn adaptive(break_even: Duration) -> Policy {
    Policy::Adaptive(
        Adaptive::default()
            .load_cost(100 * 1024, break_even)
            .learn_from(3),
    )
}

#[test]
fn a_function_every_5_minutes_adaptive_keeps_it_fixed_30_s_reloads_it() {
    let trace = periodic(300 * SECOND, 24);
    let fixed = replay(&trace, &Policy::Fixed(30 * SECOND), 1024).unwrap();
    assert_eq!(fixed.loads, 24, "reloaded every time");
    let learned = replay(&trace, &adaptive(600 * SECOND), 1024).unwrap();
    assert_eq!(learned.loads, 1, "kept between calls");
    let long = replay(&trace, &Policy::Fixed(600 * SECOND), 1024).unwrap();
    assert_eq!(long.loads, 1);
    let eager = replay(&trace, &Policy::Eager, 1024).unwrap();
    assert_eq!(eager.loads, 1);
    // Idle memory-time: fixed 30 s the least; adaptive no more than fixed 10 min.
    assert!(fixed.idle_mb_s < learned.idle_mb_s && learned.idle_mb_s <= long.idle_mb_s);
    assert_eq!(fixed.invocations, 24);
    assert_eq!(fixed.cache_hits, 0);
}

#[test]
fn a_function_every_hour_with_prewarming_waits_for_no_load_once_learned() {
    let trace = periodic(3600 * SECOND, 24);
    // A load worth 10 minutes of the app idle: not worth keeping it through the hour,
    // worth pre-warming it in the window its gaps fall in (a quarter octave, 52–61 min).
    let Policy::Adaptive(plain) = adaptive(600 * SECOND) else {
        unreachable!()
    };
    let dropped = replay(&trace, &Policy::Adaptive(plain), 1024).unwrap();
    let warmed = replay(&trace, &Policy::Adaptive(plain.prewarm(25)), 1024).unwrap();
    // Learning from 3 gaps, the first 4 calls are cold starts; each later one finds the
    // module pre-warmed by the sweep before it.
    assert_eq!(dropped.request_loads(), 24);
    assert_eq!(warmed.request_loads(), 4);
    assert_eq!(warmed.prewarm_loads, 20);
    // Unloaded through the hour, held only in the window before each call: far less idle
    // memory than keeping it, more than dropping it.
    let kept = replay(&trace, &Policy::Fixed(3700 * SECOND), 1024).unwrap();
    assert!(dropped.idle_mb_s < warmed.idle_mb_s && warmed.idle_mb_s < kept.idle_mb_s / 4.0);
}

#[test]
fn a_function_every_hour_adaptive_drops_it_at_once_once_learned() {
    let trace = periodic(3600 * SECOND, 24);
    let fixed = replay(&trace, &Policy::Fixed(30 * SECOND), 1024).unwrap();
    let learned = replay(&trace, &adaptive(60 * SECOND), 1024).unwrap();
    // An hour is far past the break-even: reloaded every time under both.
    assert_eq!((fixed.loads, learned.loads), (24, 24));
    // Fixed 30 s holds it idle 39 s each time (sweeps every 10 s); adaptive holds it for
    // the break-even (69 s) until it has seen 3 gaps, at the fourth load, then drops it at
    // the first sweep, 9 s after use. The replay ends 9 s after the last use.
    let held = |outcome: &lmms_replay::Outcome| outcome.idle_mb_s / 100.0;
    assert_eq!(held(&fixed).round(), 23.0 * 39.0 + 9.0);
    assert_eq!(held(&learned).round(), 3.0 * 69.0 + 21.0 * 9.0);
}

#[test]
fn the_default_keeps_a_small_app_through_gaps_a_large_one_is_reloaded_after() {
    // Two apps called every 90 s, 45 s apart: 100 MB and 900 MB, a mean of 500 MB.
    let mut trace = Trace::default();
    let small = trace.add_function("small", "f", Some(100.0));
    let large = trace.add_function("large", "g", Some(900.0));
    trace.invocations = (0..40)
        .map(|i| Invocation {
            at_ms: i * 45_000,
            function: if i % 2 == 0 { small } else { large },
            duration_ms: 1_000,
        })
        .collect();
    let loads = |policy: Policy| {
        let outcome = replay(&trace, &policy, 1024).unwrap();
        (outcome.loads, outcome.invocations)
    };
    // Every load priced alike: the small app's break-even is 10 min, the large one's 67 s.
    assert_eq!(loads(Policy::Adaptive(Adaptive::default())), (1 + 20, 40));
    // Before issue 32 each app's own memory for 5 minutes: both kept.
    assert_eq!(loads(lmms_replay::before_issue_32(false)), (2, 40));
}

#[test]
fn a_budget_unloads_the_least_recently_used_app_first() {
    let mut trace = Trace::default();
    let a = trace.add_function("a", "f", Some(100.0));
    let b = trace.add_function("b", "g", Some(100.0));
    trace.invocations = vec![
        Invocation {
            at_ms: 0,
            function: a,
            duration_ms: 100,
        },
        Invocation {
            at_ms: 20_000,
            function: b,
            duration_ms: 100,
        },
        Invocation {
            at_ms: 40_000,
            function: a,
            duration_ms: 100,
        },
    ];
    // Room for one app's state (100 MB × 1,024 bytes per MB, and a little).
    let budget = Policy::Budget {
        bytes: 150 * 1024,
        grace: 600 * SECOND,
    };
    let outcome = replay(&trace, &budget, 1024).unwrap();
    assert_eq!(
        outcome.loads, 3,
        "a, then b (a unloaded over budget), then a again"
    );
    let roomy = replay(&trace, &Policy::Fixed(600 * SECOND), 1024).unwrap();
    assert_eq!(roomy.loads, 2);
}

#[test]
fn the_hybrid_histogram_pre_warms_a_function_every_5_minutes() {
    let trace = periodic(300 * SECOND, 100);
    let hybrid = replay(
        &trace,
        &Policy::Hybrid(lmms_replay::Hybrid::default()),
        1024,
    )
    .unwrap();
    // The first call is cold. Until 48 idle times are seen the standard keep-alive (4 h)
    // holds the app; from then on the pattern is certain: the app is unloaded after each
    // call and loaded again at 90% of the 5th percentile's bin (4 min), ahead of the next.
    assert_eq!(
        hybrid.loads - hybrid.prewarm_loads,
        1,
        "one load on the request path"
    );
    assert_eq!(hybrid.prewarm_loads, 100 - 1 - 48);
    // As read before issue 32, one idle time was enough to trust the histogram.
    let before = replay(
        &periodic(300 * SECOND, 24),
        &Policy::Hybrid(lmms_replay::Hybrid::before_issue_32()),
        1024,
    )
    .unwrap();
    assert_eq!(
        (before.loads - before.prewarm_loads, before.prewarm_loads),
        (1, 22)
    );
    let long = replay(&trace, &Policy::Fixed(600 * SECOND), 1024).unwrap();
    assert!(
        hybrid.idle_mb_s < long.idle_mb_s,
        "{} vs {}",
        hybrid.idle_mb_s,
        long.idle_mb_s
    );
    assert_eq!(long.prewarm_loads, 0, "no other policy pre-warms");
}

#[test]
fn the_hybrid_histogram_keeps_4_hours_while_uncertain_and_forecasts_out_of_bounds_gaps() {
    // Every 5 hours: past the histogram's 4 hours.
    let trace = periodic(5 * 3600 * SECOND, 60);
    let hybrid = replay(
        &trace,
        &Policy::Hybrid(lmms_replay::Hybrid::default()),
        1024,
    )
    .unwrap();
    // Too few idle times for the first 49 calls: kept 4 h, gone at the next (cold). Then
    // every idle time is out of bounds: the next is forecast as the last one, and the app
    // is loaded again at 85% of it.
    assert_eq!(hybrid.loads - hybrid.prewarm_loads, 49);
    assert_eq!(hybrid.prewarm_loads, 60 - 49);
}

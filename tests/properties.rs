//! Property tests: calls by name with arbitrary JSON never panic and answer exactly as a
//! model of the operation says; and for any sequence of calls, clock advances and sweeps,
//! the unload rules hold.
//!
//! Cases: `LMMS_PROPTEST_CASES` (default 100,000 for calls by name with JSON values, half
//! that for JSON text, a twentieth for the policy, whose cases are sequences of up to 40
//! actions).

use lmms::{tuning::ManualClock, Class, ExecError, ModuleDef, Runtime};
use proptest::prelude::*;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// A table the operation reads: it is loaded and released by every successful call.
#[lmms::module(name = "labels")]
pub struct Labels(Vec<String>);

impl lmms::Load for Labels {
    type Error = std::convert::Infallible;
    fn load() -> Result<Self, Self::Error> {
        Ok(Labels(vec!["sun".into(), "rain".into(), "snow".into()]))
    }
}

/// The module of the text test's operation, apart from `labels` (the tests run at once).
#[lmms::module(name = "words")]
pub struct Words(Vec<String>);

impl lmms::Load for Words {
    type Error = std::convert::Infallible;
    fn load() -> Result<Self, Self::Error> {
        Ok(Words(vec!["a".into()]))
    }
}

/// The same shape as `label`, for the text test.
#[lmms::operation(interface = "prop")]
pub fn word(words: &Words, city: String, days: u8) -> String {
    format!("{city}{days}{}", words.0[0])
}

/// The operation under test: two typed arguments, a module, a cache.
#[lmms::operation(interface = "prop", cache_ttl = "1m")]
pub fn label(labels: &Labels, city: String, days: u8) -> String {
    format!("{city}: {}", labels.0[usize::from(days) % labels.0.len()])
}

fn cases(divisor: u32) -> u32 {
    std::env::var("LMMS_PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(100_000)
        / divisor
}

/// Any JSON: scalars (huge and negative numbers, floats, odd strings) nested in arrays and
/// objects up to 6 deep, with keys that are often the parameters' names.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (0u64..300).prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |x| x.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(6, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..5)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("city".to_owned()),
        Just("days".to_owned()),
        "[a-z]{1,6}"
    ]
}

/// Arguments built to be near-valid: the two fields, each present or not, well typed or
/// not, plus sometimes an extra one.
fn near_valid() -> impl Strategy<Value = Value> {
    (
        prop::option::of(prop_oneof![".{0,10}".prop_map(Value::from), json()]),
        prop::option::of(prop_oneof![(0u64..400).prop_map(Value::from), json()]),
        prop::option::of(("[a-z]{1,6}", json())),
    )
        .prop_map(|(city, days, extra)| {
            let mut object = Map::new();
            if let Some(city) = city {
                object.insert("city".into(), city);
            }
            if let Some(days) = days {
                object.insert("days".into(), days);
            }
            if let Some((key, value)) = extra {
                object.insert(key, value);
            }
            Value::Object(object)
        })
}

/// What the call must answer, by a model of the operation and of the argument rules.
fn expected(args: &Value) -> Result<Value, &'static str> {
    let Some(object) = args.as_object() else {
        return Err("not an object");
    };
    if object.keys().any(|key| key != "city" && key != "days") {
        return Err("unexpected");
    }
    // The parameters in order: the first that is missing or invalid is the answer.
    let city = match object.get("city") {
        None => return Err("missing"),
        Some(city) => city.as_str().ok_or("argument")?,
    };
    let days = match object.get("days") {
        None => return Err("missing"),
        Some(days) => days
            .as_u64()
            .filter(|days| *days <= 255)
            .ok_or("argument")?,
    };
    let labels = ["sun", "rain", "snow"];
    Ok(Value::from(format!(
        "{city}: {}",
        labels[days as usize % 3]
    )))
}

/// No call left a guard: the only one allowed is the hot path's hold, once the operation
/// is hot (after 20 successful calls).
fn no_guard_left() -> Result<(), TestCaseError> {
    let allowed = usize::from(label::OP.is_hot());
    prop_assert!(
        Labels::stats().guards <= allowed,
        "{} guards",
        Labels::stats().guards
    );
    Ok(())
}

fn kind(error: &ExecError) -> &'static str {
    match error {
        ExecError::NotAnObject { .. } => "not an object",
        ExecError::UnexpectedArgument { .. } => "unexpected",
        ExecError::MissingArgument { .. } => "missing",
        ExecError::Argument { .. } => "argument",
        _ => "other",
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(1)))]

    #[test]
    fn a_call_by_name_answers_as_the_model_says(args in prop_oneof![json(), near_valid()]) {
        let answer = lmms::execute("prop", "label", args.clone());
        match (answer, expected(&args)) {
            (Ok(output), Ok(want)) => prop_assert_eq!(output, want),
            (Err(error), Err(want)) => prop_assert_eq!(kind(&error), want, "{}", error),
            (got, want) => prop_assert!(false, "{args}: got {got:?}, want {want:?}"),
        }
        no_guard_left()?;
    }

}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(2)))]

    #[test]
    fn json_text_never_panics(text in prop_oneof![
        ".{0,40}",
        r#"\{"city": "[a-z\\\\u0-9"]{0,12}", "days": -?[0-9]{1,25}(\.[0-9]+)?(e[0-9]{1,4})?\}"#,
    ]) {
        match lmms::execute_str("prop", "word", &text) {
            Ok(_) | Err(ExecError::Parse(_)) => {}
            Err(error) => prop_assert_ne!(kind(&error), "other", "{}", error),
        }
        prop_assert!(Words::stats().guards <= usize::from(word::OP.is_hot()));
    }
}

/// One step of a policy case.
#[derive(Clone, Debug)]
enum Action {
    /// Take a guard and drop it: a use.
    Use(usize),
    /// Take a guard and keep it.
    Hold(usize),
    /// Drop the oldest kept guard of that module.
    Release(usize),
    Pin(usize),
    Unpin(usize),
    Advance(u64),
    Sweep,
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        3 => (0..MODULES).prop_map(Action::Use),
        1 => (0..MODULES).prop_map(Action::Hold),
        1 => (0..MODULES).prop_map(Action::Release),
        1 => (0..MODULES).prop_map(Action::Pin),
        1 => (0..MODULES).prop_map(Action::Unpin),
        2 => (0u64..45_000).prop_map(Action::Advance),
        2 => Just(Action::Sweep),
    ]
}

const MODULES: usize = 5;
const GRACE_MS: u64 = 30_000;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(20)))]

    #[test]
    fn sweeps_never_break_the_unload_rules(
        min_resident in 0usize..4,
        classes in prop::collection::vec(prop_oneof![Just(Class::Core), Just(Class::Utility), Just(Class::Feature)], MODULES),
        actions in prop::collection::vec(action(), 1..40),
    ) {
        let clock = ManualClock::new();
        let runtime = Runtime::builder().clock(clock.clone()).min_resident(min_resident).build().unwrap();
        let handles: Vec<&'static lmms::state::Handle<Vec<u8>>> = classes
            .iter()
            .enumerate()
            .map(|(i, class)| {
                let def = ModuleDef::named(format!("m{i}")).class(*class);
                &*Box::leak(Box::new(runtime.register(def, || vec![7u8; 4096]).unwrap()))
            })
            .collect();
        let mut held: BTreeMap<usize, Vec<lmms::Guard<'static, Vec<u8>>>> = BTreeMap::new();
        let mut pins: BTreeMap<usize, Vec<lmms::state::PinGuard<'static>>> = BTreeMap::new();
        let mut last_use: BTreeMap<usize, u64> = BTreeMap::new();
        let mut now = 0u64;
        for action in actions {
            let resident_before: Vec<bool> = handles.iter().map(|h| h.is_resident()).collect();
            match action {
                Action::Use(i) => {
                    drop(handles[i].get().unwrap());
                    last_use.insert(i, now);
                }
                Action::Hold(i) => {
                    held.entry(i).or_default().push(handles[i].get().unwrap());
                    last_use.insert(i, now);
                }
                Action::Release(i) => {
                    if let Some(guard) = held.get_mut(&i).and_then(|guards| guards.pop()) {
                        drop(guard);
                        last_use.insert(i, now);
                    }
                }
                Action::Pin(i) => pins.entry(i).or_default().push(handles[i].pin()),
                Action::Unpin(i) => drop(pins.get_mut(&i).and_then(|pins| pins.pop())),
                Action::Advance(ms) => {
                    now += ms;
                    clock.set(Duration::from_millis(now));
                }
                Action::Sweep => {
                    let resident_before = handles.iter().filter(|h| h.is_resident()).count();
                    let report = runtime.sweep();
                    let resident_after = handles.iter().filter(|h| h.is_resident()).count();
                    for unloaded in &report.unloaded {
                        let i: usize = unloaded.module.to_string()[1..].parse().unwrap();
                        prop_assert!(held.get(&i).is_none_or(Vec::is_empty), "m{i} unloaded while in use");
                        prop_assert!(pins.get(&i).is_none_or(Vec::is_empty), "m{i} unloaded while pinned");
                        prop_assert!(classes[i] != Class::Core, "m{i} is core");
                        // The grace period is a utility module's; a feature module goes as
                        // soon as nothing holds it.
                        let idle = now - last_use.get(&i).copied().unwrap_or(0);
                        let graced = classes[i] == Class::Feature || idle >= GRACE_MS;
                        prop_assert!(graced, "m{i} unloaded {idle} ms after its last use");
                    }
                    // The minimum is a floor for utility modules (feature modules go
                    // whatever the count): a utility module is unloaded only while more
                    // than the minimum are resident.
                    let index = |name: &lmms::report::Name| -> usize { name.to_string()[1..].parse().unwrap() };
                    let features = report.unloaded.iter().filter(|u| classes[index(&u.module)] == Class::Feature).count();
                    if report.unloaded.len() > features {
                        prop_assert!(
                            resident_after + features >= min_resident.min(resident_before),
                            "{resident_before} resident → {resident_after} ({features} feature), minimum {min_resident}"
                        );
                    }
                }
            }
            // Whatever happened: a module in use is resident, and a pinned one that was
            // resident still is (a pin keeps, it does not load).
            for (i, guards) in &held {
                prop_assert!(guards.is_empty() || handles[*i].is_resident(), "m{i} in use, not resident");
            }
            for (i, module_pins) in &pins {
                let kept = module_pins.is_empty() || !resident_before[*i] || handles[*i].is_resident();
                prop_assert!(kept, "m{i} pinned and resident, then unloaded");
            }
        }
    }
}

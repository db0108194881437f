//! What a new user meets in their first week: the defaults, the settings, and the answers
//! of a call by name, each as the README and the rustdoc promise them.

use lmms::{tuning::ManualClock, ModuleDef, Runtime};
use std::time::Duration;

#[test]
fn a_small_app_unloads_its_idle_modules_with_the_default_settings() {
    let clock = ManualClock::new();
    let runtime = Runtime::builder().clock(clock.clone()).build().unwrap();
    let modules: Vec<_> = (0..3)
        .map(|i| {
            runtime
                .register(ModuleDef::named(format!("m{i}")), || vec![0u8; 64])
                .unwrap()
        })
        .collect();
    for module in &modules {
        drop(module.get().unwrap());
    }
    clock.advance(Duration::from_secs(31));
    let report = runtime.sweep();
    assert_eq!(report.unloaded.len(), 3, "{report}");
    assert!(modules.iter().all(|module| !module.is_resident()));
}

/// The environment is the process's: the tests that set it take turns.
static ENV: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn a_bad_environment_variable_is_named_in_the_error() {
    let _turn = ENV.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    std::env::set_var("LMMS_MIN_RESIDENT", "eight");
    let error = Runtime::builder().from_env().unwrap_err();
    std::env::remove_var("LMMS_MIN_RESIDENT");
    assert!(
        matches!(
            error,
            lmms::Error::InvalidConfig {
                field: "LMMS_MIN_RESIDENT",
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        "invalid configuration for `LMMS_MIN_RESIDENT`: `eight` is not a whole number of modules"
    );
}

#[test]
fn a_zero_cooling_window_from_the_environment_names_the_variable() {
    let _turn = ENV.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    std::env::set_var("LMMS_COOL_EVERY", "0ms");
    let result = Runtime::builder()
        .from_env()
        .and_then(|builder| builder.build());
    std::env::remove_var("LMMS_COOL_EVERY");
    let error = result.unwrap_err();
    assert!(
        matches!(
            error,
            lmms::Error::InvalidConfig {
                field: "LMMS_COOL_EVERY",
                ..
            }
        ),
        "{error}"
    );
}

#[cfg(unix)]
#[test]
fn a_variable_that_is_not_text_is_refused_not_ignored() {
    use std::os::unix::ffi::OsStrExt;
    let _turn = ENV.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    std::env::set_var("LMMS_GRACE", std::ffi::OsStr::from_bytes(b"5\xffs"));
    let result = Runtime::builder().from_env();
    std::env::remove_var("LMMS_GRACE");
    let error = result.unwrap_err();
    assert!(
        matches!(
            error,
            lmms::Error::InvalidConfig {
                field: "LMMS_GRACE",
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn whether_cached_results_keep_their_module_can_be_set_by_name_and_from_the_environment() {
    let set = Runtime::builder()
        .set("cache_keeps_modules", "false")
        .unwrap()
        .build()
        .unwrap();
    assert!(!set.config().cache_keeps_modules());
    let _turn = ENV.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    std::env::set_var("LMMS_CACHE_KEEPS_MODULES", "no");
    let from_env = Runtime::builder().from_env();
    std::env::remove_var("LMMS_CACHE_KEEPS_MODULES");
    assert!(!from_env
        .unwrap()
        .build()
        .unwrap()
        .config()
        .cache_keeps_modules());
    let error = Runtime::builder()
        .set("cache_keeps_modules", "sometimes")
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("`sometimes` is not a yes or a no"),
        "{error}"
    );
}

/// Two modules of one name, as two crates (or two types) may declare them.
#[lmms::module(name = "settings")]
/// The first module named `settings`.
pub struct Settings;

impl lmms::Load for Settings {
    type Error = std::convert::Infallible;
    fn load() -> Result<Self, Self::Error> {
        Ok(Settings)
    }
}

#[lmms::module(name = "settings")]
/// The second module named `settings`.
pub struct OtherSettings;

impl lmms::Load for OtherSettings {
    type Error = std::convert::Infallible;
    fn load() -> Result<Self, Self::Error> {
        Ok(OtherSettings)
    }
}

#[test]
fn two_modules_of_one_name_are_caught_by_the_registry_check_naming_both_places() {
    let Err(lmms::Error::RegistryDrift(drift)) = lmms::registry::check_registry() else {
        panic!("two modules named `settings` pass the registry check");
    };
    let [duplicate] = &drift.duplicates[..] else {
        panic!("{drift:?}");
    };
    assert!(duplicate.starts_with("module `settings` ("), "{duplicate}");
    assert_eq!(
        duplicate.matches("first_week.rs:").count(),
        2,
        "{duplicate}"
    );
}

struct Echo;

impl lmms::op::Operation for Echo {
    type State = ();
    type Args = u32;
    type Output = u32;
    fn source() -> lmms::op::Source<()> {
        lmms::op::Source::Stateless(&())
    }
}

impl lmms::op::Body for Echo {
    fn run(_: &(), x: u32) -> u32 {
        x
    }
}

static ECHO: lmms::op::Op<Echo> = lmms::op::Op::new(lmms::op::OpDef::new("first_week", "echo"));

#[test]
fn cooling_counts_windows_as_the_builder_docs_say() {
    let clock = ManualClock::new();
    let runtime = Runtime::builder().clock(clock.clone()).build().unwrap();
    runtime.add_op(&ECHO).unwrap();
    clock.advance(Duration::from_secs(10));
    runtime.sweep();
    for x in 0..40 {
        ECHO.call(x).unwrap();
    }
    assert!(ECHO.is_hot());
    let mut heat = Vec::new();
    for at in [65, 125, 185, 245] {
        clock.set(Duration::from_secs(at));
        runtime.sweep();
        heat.push((ECHO.stats().calls, ECHO.is_hot()));
    }
    assert_eq!(heat, [(40, true), (20, true), (10, true), (5, false)]);
    // The heat window cools; the total does not.
    assert_eq!(ECHO.stats().calls_total, 40);
}

/// A module whose one operation is made hot.
#[lmms::module(name = "rates")]
pub struct Rates(u32);

impl lmms::Load for Rates {
    type Error = std::convert::Infallible;
    fn load() -> Result<Self, Self::Error> {
        Ok(Rates(7))
    }
}

/// Converts at the rate.
#[lmms::operation(interface = "first_week")]
pub fn convert(rates: &Rates, amount: u32) -> u32 {
    rates.0 * amount
}

#[test]
fn a_hot_module_nobody_uses_shows_no_guard_only_its_pin() {
    for amount in 0..40 {
        convert::call(amount).unwrap();
    }
    assert!(convert::OP.is_hot());
    let stats = Rates::stats();
    assert_eq!((stats.guards, stats.pins), (0, 1), "{stats:?}");
}

static BACKEND_DOWN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// A backend call that fails while the backend is down.
#[lmms::operation(interface = "first_week", cache_ttl = "5m")]
pub fn quote(symbol: String) -> Result<u32, String> {
    if BACKEND_DOWN.load(std::sync::atomic::Ordering::SeqCst) {
        Err(format!("backend down for {symbol}"))
    } else {
        Ok(symbol.len() as u32)
    }
}

/// The same, but caching its errors too, as asked.
#[lmms::operation(interface = "first_week", cache_ttl = "5m", cache_errors = "true")]
pub fn sticky_quote(symbol: String) -> Result<u32, String> {
    if BACKEND_DOWN.load(std::sync::atomic::Ordering::SeqCst) {
        Err(format!("backend down for {symbol}"))
    } else {
        Ok(symbol.len() as u32)
    }
}

#[test]
fn a_cached_fallible_operation_caches_its_values_not_its_errors_unless_asked() {
    assert!(quote::call("ACME".into()).is_err());
    assert!(sticky_quote::call("ACME".into()).is_err());
    BACKEND_DOWN.store(false, std::sync::atomic::Ordering::SeqCst);
    // The transient error was not kept: the backend is asked again, and its value kept.
    assert_eq!(quote::call("ACME".into()).unwrap(), 4);
    assert_eq!(quote::call("ACME".into()).unwrap(), 4);
    assert_eq!(quote::OP.stats().cache.unwrap().hits, 1);
    // Asked to, the cache keeps the error for its TTL.
    assert!(sticky_quote::call("ACME".into()).is_err());
}

#[test]
fn without_the_counting_allocator_a_module_s_bytes_are_unknown_not_its_inline_size() {
    // This test binary installs no `CountingAlloc`: the heap a load kept cannot be known.
    let runtime = Runtime::builder().build().unwrap();
    let table = runtime
        .register(ModuleDef::named("table"), || vec![0u8; 512 << 10])
        .unwrap();
    drop(table.get().unwrap());
    assert_eq!(table.stats().bytes, None);
    assert_eq!(runtime.stats().resident_bytes, None);
}

#[test]
fn the_global_figures_list_every_linked_module_used_or_not() {
    let stats = lmms::stats();
    let settings = stats
        .modules
        .iter()
        .find(|module| module.name == "settings")
        .expect("a module never used is listed");
    assert_eq!((settings.loads, settings.resident), (0, false));
}

/// A crate's own one-argument `Result`, as many crates have.
pub type Fallible<T> = std::result::Result<T, String>;

mod aliased {
    /// The crate's alias, under the name such aliases have.
    pub type Result<T> = super::Fallible<T>;

    static DOWN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

    /// Fails while the backend is down, through the alias.
    #[lmms::operation(interface = "first_week", cache_ttl = "5m")]
    pub fn flaky(x: u32) -> Result<u32> {
        if DOWN.swap(false, std::sync::atomic::Ordering::SeqCst) {
            Err("transient".to_owned())
        } else {
            Ok(x)
        }
    }
}

#[test]
fn a_result_through_a_one_argument_alias_does_not_cache_its_errors() {
    assert!(matches!(aliased::flaky::call(1), Ok(Err(_))));
    assert_eq!(aliased::flaky::call(1).unwrap(), Ok(1));
}

/// This binary runs on the system allocator: nothing measures a module's bytes.
#[test]
fn a_budget_nothing_can_measure_is_refused_naming_where_it_was_set() {
    let error = Runtime::builder()
        .memory_budget(64 << 20)
        .build()
        .unwrap_err();
    assert!(
        matches!(
            error,
            lmms::Error::InvalidConfig {
                field: "memory_budget",
                ..
            }
        ),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("nothing measures a module's bytes"),
        "{error}"
    );
    let _turn = ENV.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    std::env::set_var("LMMS_MEMORY_BUDGET", "64MiB");
    let built = Runtime::builder()
        .from_env()
        .and_then(|builder| builder.build());
    std::env::remove_var("LMMS_MEMORY_BUDGET");
    assert!(
        matches!(
            built,
            Err(lmms::Error::InvalidConfig {
                field: "LMMS_MEMORY_BUDGET",
                ..
            })
        ),
        "{built:?}"
    );
}

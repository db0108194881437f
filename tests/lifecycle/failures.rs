//! Loads that fail, panic or reach their own module, states whose `Drop` panics, and
//! modules that claim a name or a runtime twice.

use super::*;

#[test]
fn a_failed_load_leaves_the_module_empty_and_the_next_get_retries() {
    let (rt, _) = runtime(0);
    let attempts = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = attempts.clone();
    let m = rt
        .register_fallible(ModuleDef::named("flaky"), move || {
            if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                Err(Refused)
            } else {
                Ok(5u8)
            }
        })
        .unwrap();
    let err = m.get().unwrap_err();
    assert_eq!(
        err.to_string(),
        "loading module `flaky` failed: the config file is missing"
    );
    let Error::Load { module, source } = err else {
        panic!("expected Error::Load")
    };
    assert_eq!(module, "flaky");
    assert!(
        source.downcast_ref::<Refused>().is_some(),
        "the loader's error stays typed"
    );
    assert!(!m.is_resident());
    let stats = rt.stats();
    assert_eq!(
        (stats.loads, stats.load_failures, stats.modules[0].guards),
        (0, 1, 0)
    );
    assert_eq!(*m.get().unwrap(), 5);
    assert_eq!(rt.stats().loads, 1);
}

#[test]
fn a_panicking_load_is_an_error_and_the_next_get_retries() {
    let (rt, _) = runtime(0);
    let attempts = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = attempts.clone();
    let m = rt
        .register_fallible(ModuleDef::named("boom"), move || {
            if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                panic!("table corrupt");
            }
            Ok::<_, Infallible>(1u8)
        })
        .unwrap();
    match m.get() {
        Err(Error::LoadPanicked { module, message }) => {
            assert_eq!(
                (module.as_str(), message.as_str()),
                ("boom", "table corrupt")
            );
        }
        other => panic!("expected LoadPanicked, got {:?}", other.map(|g| *g)),
    }
    assert!(!m.is_resident());
    assert_eq!(*m.get().unwrap(), 1);
    let stats = rt.stats();
    assert_eq!((stats.loads, stats.load_failures), (1, 1));
}

#[test]
fn a_state_whose_drop_panics_is_still_unloaded_and_counted() {
    static PANICKED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    struct Grumpy;
    impl Drop for Grumpy {
        fn drop(&mut self) {
            if !PANICKED.swap(true, Ordering::SeqCst) {
                panic!("drop failed");
            }
        }
    }
    let (rt, _) = runtime(0);
    let m = rt.register(ModuleDef::named("grumpy"), || Grumpy).unwrap();
    drop(m.get().unwrap());
    assert!(matches!(m.unload(), Unload::Unloaded { .. }));
    assert!(!m.is_resident());
    let stats = rt.stats();
    assert_eq!((stats.unloads, stats.drop_panics), (1, 1));
    drop(m.get().unwrap());
}

#[derive(Debug)]
struct SelfLoader;
static SELF_LOADER: ModuleCell<SelfLoader> = ModuleCell::new(ModuleDef::new("self-loader"));
impl Load for SelfLoader {
    type Error = Error;
    fn load() -> Result<Self, Error> {
        SELF_LOADER.get().map(|_| SelfLoader)
    }
}

struct Base(u32);
static BASE: ModuleCell<Base> = ModuleCell::new(ModuleDef::new("base"));
impl Load for Base {
    type Error = Infallible;
    fn load() -> Result<Self, Infallible> {
        Ok(Base(40))
    }
}
struct Derived(u32);
static DERIVED: ModuleCell<Derived> = ModuleCell::new(ModuleDef::new("derived"));
impl Load for Derived {
    type Error = Error;
    fn load() -> Result<Self, Error> {
        Ok(Derived(BASE.get()?.0 + 2))
    }
}

#[derive(Debug)]
struct CycleA;
struct CycleB;
static CYCLE_A: ModuleCell<CycleA> = ModuleCell::new(ModuleDef::new("cycle-a"));
static CYCLE_B: ModuleCell<CycleB> = ModuleCell::new(ModuleDef::new("cycle-b"));
impl Load for CycleA {
    type Error = Error;
    fn load() -> Result<Self, Error> {
        CYCLE_B.get().map(|_| CycleA)
    }
}
impl Load for CycleB {
    type Error = Error;
    fn load() -> Result<Self, Error> {
        CYCLE_A.get().map(|_| CycleB)
    }
}

#[test]
fn a_loader_reaching_its_own_module_gets_an_error_not_a_deadlock() {
    let err = SELF_LOADER.get().unwrap_err();
    let Error::Load { module, source } = err else {
        panic!("expected Error::Load")
    };
    assert_eq!(module, "self-loader");
    assert!(matches!(
        source.downcast_ref::<Error>(),
        Some(Error::ReentrantLoad { module }) if module == "self-loader"
    ));
    assert!(!SELF_LOADER.is_resident());
}

#[test]
fn a_loader_may_load_another_module() {
    assert_eq!(DERIVED.get().unwrap().0, 42);
    assert!(BASE.is_resident());
}

#[test]
fn a_cycle_of_two_modules_is_an_error() {
    let err = CYCLE_A.get().unwrap_err();
    assert!(err.to_string().starts_with("loading module `cycle-a` failed: loading module `cycle-b` failed: module `cycle-a` was asked for while it was being loaded"), "{err}");
    assert!(!CYCLE_A.is_resident() && !CYCLE_B.is_resident());
}

#[test]
fn module_names_are_unique_within_a_runtime() {
    let (rt, _) = runtime(0);
    rt.register(ModuleDef::named("twin"), || 0u8).unwrap();
    let err = rt.register(ModuleDef::named("twin"), || 1u8).err().unwrap();
    assert!(matches!(err, Error::DuplicateModule { ref name, .. } if name == "twin"));
    assert_eq!(rt.stats().modules.len(), 1);
}

struct Counter(u32);
static STATIC_ONE: ModuleCell<Counter> = ModuleCell::new(ModuleDef::new("static-one"));
impl Load for Counter {
    type Error = Infallible;
    fn load() -> Result<Self, Infallible> {
        Ok(Counter(1))
    }
}

#[test]
fn a_static_module_joins_one_runtime_only() {
    let (rt, clock) = runtime(0);
    rt.add(&STATIC_ONE).unwrap();
    assert!(matches!(
        rt.add(&STATIC_ONE),
        Err(Error::DuplicateModule { .. })
    ));
    let (other, _) = runtime(0);
    assert!(other.add(&STATIC_ONE).is_err());
    assert_eq!(STATIC_ONE.get().unwrap().0, 1);
    assert_eq!(rt.stats().loads, 1);
    clock.advance(secs(30));
    assert_eq!(rt.sweep().unloaded[0].module, "static-one");
}

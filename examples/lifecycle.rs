//! The module lifecycle end to end: modules load on first use, a sweep unloads the idle
//! ones after the grace period, and they load again when needed; an operation called often
//! turns hot, pins its module and takes the direct path, then cools and lets it go. Time is
//! a manual clock, so minutes pass in a blink; memory is measured by the counting
//! allocator.
//!
//! `cargo run --release -p lmms-examples --example lifecycle`

use lmms::memory::CountingAlloc;
use lmms::op::{Body, Op, OpDef, Operation, Source};
use lmms::{tuning::ManualClock, Class, Load, ModuleCell, ModuleDef, Runtime};
use std::convert::Infallible;
use std::time::Duration;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Gateway-level logging: core, never unloaded.
struct Logging {
    lines: Vec<String>,
}
impl Load for Logging {
    type Error = Infallible;
    fn load() -> Result<Self, Infallible> {
        Ok(Logging {
            lines: Vec::with_capacity(1024),
        })
    }
}

/// A weather table: a utility module, unloaded after 30 s idle.
struct Weather {
    table: Vec<u64>,
}
impl Load for Weather {
    type Error = Infallible;
    fn load() -> Result<Self, Infallible> {
        Ok(Weather {
            table: (0..2 << 20).collect(),
        })
    }
}

/// Security rules: a utility module with a longer grace period.
struct Security {
    rules: Vec<[u8; 64]>,
}
impl Load for Security {
    type Error = Infallible;
    fn load() -> Result<Self, Infallible> {
        Ok(Security {
            rules: vec![[0; 64]; 16 << 10],
        })
    }
}

/// Automations: a feature module, unloaded right after use.
struct Automations {
    scripts: Vec<String>,
}
impl Load for Automations {
    type Error = Infallible;
    fn load() -> Result<Self, Infallible> {
        Ok(Automations {
            scripts: (0..10_000).map(|i| format!("script {i}")).collect(),
        })
    }
}

static LOGGING: ModuleCell<Logging> = ModuleCell::new(ModuleDef::new("logging").class(Class::Core));
static WEATHER: ModuleCell<Weather> = ModuleCell::new(ModuleDef::new("weather"));
static SECURITY: ModuleCell<Security> =
    ModuleCell::new(ModuleDef::new("security").grace(Duration::from_secs(120)));
static AUTOMATIONS: ModuleCell<Automations> =
    ModuleCell::new(ModuleDef::new("automations").class(Class::Feature));

fn forecast(day: usize) -> Result<u64, lmms::Error> {
    LOGGING.get()?.lines.len();
    Ok(WEATHER.get()?.table[day])
}

/// The same lookup as an operation, so ZAFP can make it a reflex.
struct Forecast;
impl Operation for Forecast {
    type State = Weather;
    type Args = usize;
    type Output = u64;
    fn source() -> Source<Weather> {
        Source::Module(&WEATHER)
    }
}
impl Body for Forecast {
    fn run(weather: &Weather, day: usize) -> u64 {
        weather.table[day]
    }
}
static FORECAST: Op<Forecast> = Op::new(OpDef::new("weather", "forecast"));

fn run_automation(i: usize) -> Result<usize, lmms::Error> {
    let _rules = SECURITY.get()?.rules.len();
    Ok(AUTOMATIONS.get()?.scripts[i].len())
}

fn heap() -> String {
    lmms::memory::live_heap().map_or("n/a".into(), |b| format!("{:.1} MiB", b as f64 / 1048576.0))
}

fn main() -> Result<(), lmms::Error> {
    let clock = ManualClock::new();
    Runtime::set_global(
        Runtime::builder()
            .clock(clock.clone())
            .min_resident(0)
            .build()?,
    )?;
    println!("start: live heap {}, nothing loaded\n", heap());

    println!("t=0s    forecast(3) = {}", forecast(3)?);
    println!("t=0s    automation(7) = {}", run_automation(7)?);
    println!(
        "        automations resident after use? {}",
        AUTOMATIONS.is_resident()
    );
    println!("        live heap {}\n", heap());

    clock.advance(Duration::from_secs(10));
    println!("t=10s   {}", lmms::sweep());
    clock.advance(Duration::from_secs(25));
    println!("t=35s   {}", lmms::sweep());
    println!("        live heap {}\n", heap());

    println!(
        "t=35s   forecast(9) = {} (weather loads again)",
        forecast(9)?
    );
    clock.advance(Duration::from_secs(120));
    println!("t=155s  {}", lmms::sweep());
    println!("        live heap {}\n", heap());

    // A morning burst: 150 forecasts. The 20th call makes the operation hot (its module is
    // pinned and calls go direct); from the 100th on nothing is counted per call.
    let sum: u64 = (0..150)
        .map(|day| FORECAST.call(day % 365))
        .sum::<Result<_, _>>()?;
    println!(
        "t=155s  150 forecasts (sum {sum}): {} heat, direct path {}",
        FORECAST.heat(),
        FORECAST.is_hot()
    );
    clock.advance(Duration::from_secs(60));
    println!("t=215s  {}", lmms::sweep());
    // Idle: each minute halves the heat; under 10 the operation is demoted, the pin goes.
    for minute in 2..=5 {
        clock.advance(Duration::from_secs(60));
        let report = lmms::sweep();
        println!(
            "t={}s  {} heat, direct path {}; {report}",
            155 + minute * 60,
            FORECAST.heat(),
            FORECAST.is_hot()
        );
    }
    println!("        live heap {}\n", heap());

    println!("{}", lmms::stats());
    Ok(())
}

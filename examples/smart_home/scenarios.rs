//! The seed's four scenarios as schedules of directives on the manual clock, and the
//! skill's routing from a directive to an operation by name.

use serde_json::{json, Value};

/// Directive `(namespace, name)` → operation `(interface, name)`: the skill's router.
/// Alexa's own interfaces where one fits, `Home.*` for the rest.
pub const ROUTES: &[(&str, &str, &str, &str)] = &[
    ("Alexa.PowerController", "TurnOn", "lights", "turn_on"),
    ("Alexa.PowerController", "TurnOff", "lights", "turn_off"),
    (
        "Alexa.BrightnessController",
        "SetBrightness",
        "lights",
        "set_brightness",
    ),
    (
        "Alexa.ThermostatController",
        "SetTargetTemperature",
        "climate",
        "set_temperature",
    ),
    (
        "Alexa.TemperatureSensor",
        "ReportState",
        "climate",
        "report_temperature",
    ),
    ("Alexa.LockController", "Lock", "locks", "lock"),
    ("Alexa.LockController", "Unlock", "locks", "unlock"),
    (
        "Alexa.LockController",
        "ReportState",
        "locks",
        "report_lock",
    ),
    ("Alexa.ModeController", "OpenBlinds", "blinds", "open"),
    ("Alexa.ModeController", "CloseBlinds", "blinds", "close"),
    ("Home.Kitchen", "Brew", "coffee", "brew"),
    ("Alexa.PlaybackController", "Play", "media", "play"),
    ("Alexa.PlaybackController", "Pause", "media", "pause"),
    (
        "Alexa.CameraStreamController",
        "Snapshot",
        "cameras",
        "snapshot",
    ),
    ("Alexa.SecurityPanelController", "Arm", "alarm", "arm"),
    ("Alexa.SecurityPanelController", "Disarm", "alarm", "disarm"),
    ("Home.Cleaning", "Start", "vacuum", "start_cleaning"),
    ("Home.Garden", "Water", "garden", "water"),
    ("Home.Energy", "ReportUsage", "energy", "report_usage"),
    ("Home.Weather", "Forecast", "weather", "forecast"),
    ("Home.Calendar", "Today", "calendar", "today"),
    ("Home.News", "Briefing", "news", "briefing"),
    ("Home.Traffic", "Commute", "traffic", "commute"),
    ("Home.Shopping", "AddItem", "shopping", "add_item"),
    ("Home.Timers", "Start", "timers", "start_timer"),
    ("Home.Intercom", "Announce", "intercom", "announce"),
    ("Home.Presence", "WhoIsHome", "presence", "who_is_home"),
    (
        "Alexa.SceneController",
        "Activate",
        "scenes",
        "activate_scene",
    ),
    ("Home.Routines", "Run", "routines", "run_routine"),
    ("Home.Automations", "Trigger", "automations", "trigger"),
    ("Home.Scripts", "Run", "scripts", "run_script"),
    ("Home.Notifications", "Notify", "notifications", "notify"),
    (
        "Alexa.DoorbellEventSource",
        "History",
        "doorbell",
        "ring_history",
    ),
    ("Home.Pets", "Feed", "pets", "feed"),
    ("Home.Pool", "Heat", "pool", "heat_pool"),
    ("Home.Irrigation", "Schedule", "irrigation", "schedule"),
    ("Home.Voice", "Identify", "voice", "identify"),
];

/// One directive at a time on the clock.
pub struct Step {
    pub at_ms: u64,
    pub route: usize,
    pub device: &'static str,
    pub value: i64,
}

/// A scenario: its directives, how long the clock runs after the last one, and how often
/// a background sweep runs while idle (0: only at the end of each invocation, as on
/// Lambda, where a frozen sandbox runs no thread).
pub struct Scenario {
    pub number: u8,
    pub title: &'static str,
    pub steps: Vec<Step>,
    pub tail_ms: u64,
    pub reaper_ms: u64,
}

fn route(interface: &str, name: &str) -> usize {
    ROUTES
        .iter()
        .position(|route| route.2 == interface && route.3 == name)
        .unwrap_or_else(|| panic!("no route to {interface}.{name}"))
}

/// The Alexa-style directive for a step.
pub fn directive(step: &Step, id: usize) -> Value {
    let (namespace, name, _, _) = ROUTES[step.route];
    json!({
        "directive": {
            "header": {"namespace": namespace, "name": name, "messageId": format!("msg-{id}")},
            "endpoint": {"endpointId": step.device},
            "payload": {"value": step.value},
        }
    })
}

/// A deterministic generator (xorshift64*), so every run replays the same traffic.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const SECOND: u64 = 1_000;
const MINUTE: u64 = 60 * SECOND;
const DAY: u64 = 24 * 60 * MINUTE;

const ROOMS: &[&str] = &["living_room", "kitchen", "bedroom", "office", "hall"];

/// Scenario 1: "turn on the living room lights", the same command again, then idle.
pub fn single() -> Scenario {
    let on = route("lights", "turn_on");
    Scenario {
        number: 1,
        title: "a single command over time",
        steps: vec![
            Step {
                at_ms: 0,
                route: on,
                device: "living_room",
                value: 1,
            },
            Step {
                at_ms: 5 * SECOND,
                route: on,
                device: "living_room",
                value: 1,
            },
        ],
        tail_ms: 60 * SECOND,
        reaper_ms: 10 * SECOND,
    }
}

/// Scenario 2: a morning routine, 50 commands in 30 s, then two idle minutes. The
/// bedroom light ramps up like a sunrise, 24 brightness steps, interleaved with the rest of
/// the routine; the ramp's operation turns hot.
pub fn burst() -> Scenario {
    let routine: Vec<(usize, &'static str)> = vec![
        (route("lights", "turn_on"), "bedroom"),
        (route("blinds", "open"), "bedroom"),
        (route("climate", "set_temperature"), "living_room"),
        (route("coffee", "brew"), "kitchen"),
        (route("weather", "forecast"), "home"),
        (route("calendar", "today"), "home"),
        (route("news", "briefing"), "home"),
        (route("lights", "turn_on"), "kitchen"),
        (route("traffic", "commute"), "office"),
        (route("climate", "report_temperature"), "living_room"),
    ];
    let ramp = route("lights", "set_brightness");
    let steps = (0..50)
        .map(|i| {
            let (route, device, value) = if i % 2 == 1 && i < 49 {
                (ramp, "bedroom", 4 * (i as i64 / 2 + 1))
            } else {
                let (route, device) = routine[(i / 2) % routine.len()];
                (route, device, 1)
            };
            Step {
                at_ms: i as u64 * 600,
                route,
                device,
                value,
            }
        })
        .collect();
    Scenario {
        number: 2,
        title: "the morning burst, 50 commands in 30 s",
        steps,
        tail_ms: 2 * MINUTE,
        reaper_ms: 10 * SECOND,
    }
}

/// Scenario 3: a month of an active home, 50,000 invocations (~1,667 a day), clustered in
/// the morning and the evening; compressed in time by the manual clock, same arithmetic.
/// Sweeps at the end of each invocation only, as on Lambda.
pub fn month() -> Scenario {
    let mut rng = Rng::new(2026);
    // Popularity: lights and climate dominate a home's traffic.
    let weighted: Vec<usize> = ROUTES
        .iter()
        .enumerate()
        .flat_map(|(i, route)| {
            let weight = match route.2 {
                "lights" => 12,
                "climate" | "locks" => 5,
                "media" | "weather" | "presence" => 3,
                _ => 1,
            };
            std::iter::repeat_n(i, weight)
        })
        .collect();
    let invocations = 50_000u64;
    let mut times: Vec<u64> = (0..invocations)
        .map(|_| {
            let day = rng.below(30) * DAY;
            let hour = match rng.below(100) {
                0..=39 => 7 + rng.below(2),   // morning: 40%
                40..=84 => 18 + rng.below(5), // evening: 45%
                _ => rng.below(24),
            };
            day + hour * 60 * MINUTE + rng.below(60 * MINUTE)
        })
        .collect();
    times.sort_unstable();
    let steps = times
        .into_iter()
        .map(|at_ms| Step {
            at_ms,
            route: weighted[rng.below(weighted.len() as u64) as usize],
            device: ROOMS[rng.below(ROOMS.len() as u64) as usize],
            value: rng.below(100) as i64,
        })
        .collect();
    Scenario {
        number: 3,
        title: "a month, 50,000 invocations",
        steps,
        tail_ms: 0,
        reaper_ms: 0,
    }
}

/// Scenario 4: one container reused across idle gaps of 10 and 20 minutes, with a
/// background sweep every 10 s (a long-running process; see the README for Lambda).
pub fn reuse() -> Scenario {
    let mut steps = Vec::new();
    let mut at = 0;
    // (idle gap before the visit, its commands as (interface, operation, device))
    type Visit = (u64, &'static [(&'static str, &'static str, &'static str)]);
    let visits: &[Visit] = &[
        (
            0,
            &[
                ("lights", "turn_on", "hall"),
                ("locks", "unlock", "front_door"),
                ("climate", "set_temperature", "living_room"),
            ],
        ),
        (
            10 * MINUTE,
            &[
                ("lights", "turn_on", "hall"),
                ("media", "play", "living_room"),
            ],
        ),
        (
            20 * MINUTE,
            &[
                ("lights", "turn_off", "hall"),
                ("locks", "lock", "front_door"),
                ("alarm", "arm", "home"),
            ],
        ),
        (5 * MINUTE, &[("lights", "turn_on", "bedroom")]),
    ];
    for (gap, commands) in visits {
        at += gap;
        for (i, (interface, name, device)) in commands.iter().enumerate() {
            steps.push(Step {
                at_ms: at + i as u64 * 2 * SECOND,
                route: route(interface, name),
                device,
                value: 1,
            });
        }
    }
    Scenario {
        number: 4,
        title: "container reuse across idle gaps",
        steps,
        tail_ms: 5 * MINUTE,
        reaper_ms: 10 * SECOND,
    }
}

pub fn all() -> [fn() -> Scenario; 4] {
    [single, burst, month, reuse]
}

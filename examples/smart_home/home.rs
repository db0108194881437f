//! The smart home's state and operations, as a user of lmms writes them: 40 modules whose
//! state is real memory (tables, maps, text — no network needed), in the classes of the
//! seed's protection matrix, and the operations the skill's directives reach.

use serde::Serialize;
use std::collections::HashMap;
use std::convert::Infallible;

const LOREM: &str = "home assistant keeps every device, rule and phrase in memory for the skill";

/// The shapes state takes: a numeric table (rules, forecasts, metrics), a keyed map
/// (registries, sessions), or text (logs, phrases, news).
pub enum Store {
    Table(Vec<u64>),
    Map(HashMap<u64, u64>),
    Text(Vec<Box<str>>),
}

impl Store {
    /// About `kib` KiB of state of this shape, built the way a loader would: computed,
    /// not copied, so building it costs time in proportion to its size.
    fn build(shape: &str, kib: usize, seed: u64) -> Store {
        let mix = |i: u64| (i ^ seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 7;
        match shape {
            "table" => Store::Table((0..kib as u64 * 128).map(mix).collect()),
            // A map entry with its share of buckets and control bytes is ~32 bytes.
            "map" => Store::Map((0..kib as u64 * 32).map(|i| (mix(i), i)).collect()),
            // A line is ~48 bytes of text plus its 16-byte pointer and length.
            _ => Store::Text(
                (0..kib * 16)
                    .map(|i| Box::from(&LOREM[i % 16..i % 16 + 48]))
                    .collect(),
            ),
        }
    }

    /// A value derived from `key`: what an operation reads from its state.
    pub fn probe(&self, key: &str) -> u64 {
        let h = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        match self {
            Store::Table(table) => table[(h % table.len() as u64) as usize],
            Store::Map(map) => map.get(&(h % 1024)).copied().unwrap_or(map.len() as u64),
            Store::Text(lines) => lines[(h % lines.len() as u64) as usize].len() as u64,
        }
    }
}

/// What every operation answers: the device, its new state, and a figure.
#[derive(Clone, Debug, Serialize)]
pub struct Reply {
    pub device: String,
    pub state: &'static str,
    pub value: i64,
}

macro_rules! modules {
    ($($class:tt $ty:ident $name:tt $shape:literal $kib:literal;)*) => {
        $(
            #[lmms::module(class = $class, name = $name)]
            pub struct $ty(pub Store);

            impl lmms::Load for $ty {
                type Error = Infallible;
                fn load() -> Result<Self, Infallible> {
                    Ok($ty(Store::build($shape, $kib, $kib)))
                }
            }
        )*

        /// Every module, built now and held for the life of the process: the eager
        /// baseline, the seed's "traditional" function. Returns how many.
        pub fn load_everything() -> usize {
            static HELD: std::sync::Mutex<Vec<Box<dyn std::any::Any + Send>>> =
                std::sync::Mutex::new(Vec::new());
            let mut held = HELD.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            $(held.push(Box::new($ty::get().expect("an infallible load")));)*
            held.len()
        }
    };
}

modules! {
    // Core: the gateway's own, never unloaded.
    "core" Logging "logging" "text" 256;
    "core" Sessions "sessions" "map" 384;
    // Utility: shared services, unloaded after the grace period.
    "utility" HttpPool "http_pool" "table" 2048;
    "utility" Security "security" "map" 1536;
    "utility" Metrics "metrics" "table" 768;
    "utility" DeviceRegistry "device_registry" "map" 3072;
    "utility" Auth "auth" "map" 320;
    "utility" Settings "settings" "map" 128;
    "utility" Locale "locale" "text" 1024;
    "utility" Geo "geo" "table" 1536;
    "utility" Tls "tls" "table" 640;
    // Feature: one skill each, unloaded as soon as nothing holds them.
    "feature" Lights "lights" "table" 512;
    "feature" Climate "climate" "table" 768;
    "feature" Locks "locks" "map" 384;
    "feature" Blinds "blinds" "table" 256;
    "feature" Coffee "coffee" "table" 192;
    "feature" Media "media" "text" 2048;
    "feature" Cameras "cameras" "table" 4096;
    "feature" Alarm "alarm" "map" 512;
    "feature" Vacuum "vacuum" "table" 640;
    "feature" Garden "garden" "table" 384;
    "feature" Energy "energy" "table" 2048;
    "feature" Weather "weather" "table" 3072;
    "feature" Calendar "calendar" "text" 1024;
    "feature" News "news" "text" 1536;
    "feature" Traffic "traffic" "table" 2048;
    "feature" Shopping "shopping" "text" 256;
    "feature" Timers "timers" "table" 128;
    "feature" Intercom "intercom" "table" 768;
    "feature" Presence "presence" "map" 512;
    "feature" Scenes "scenes" "map" 384;
    "feature" Routines "routines" "text" 640;
    "feature" Automations "automations" "text" 2048;
    "feature" Scripts "scripts" "text" 1536;
    "feature" Notifications "notifications" "text" 640;
    "feature" VoiceProfiles "voice_profiles" "table" 3072;
    "feature" Doorbell "doorbell" "table" 1024;
    "feature" Pets "pets" "map" 256;
    "feature" Pool "pool" "table" 384;
    "feature" Irrigation "irrigation" "table" 512;
}

/// Every device command is checked against the security rules first, so a first command
/// loads two modules: its skill's and `security`.
fn authorize(device: &str) -> Result<u64, lmms::Error> {
    Ok(Security::get()?.0.probe(device))
}

fn reply(device: String, state: &'static str, value: i64) -> Reply {
    Reply {
        device,
        state,
        value,
    }
}

/// Declares device operations of the shape every directive shares: `(device, value)`.
macro_rules! device_ops {
    ($($interface:tt $name:ident $module:ident $state:literal $(cache $ttl:tt)? $(uses $service:ident)?;)*) => {
        $(
            #[lmms::operation(interface = $interface $(, cache_ttl = $ttl)?)]
            pub fn $name(module: &$module, device: String, value: i64) -> Reply {
                let rule = authorize(&device).unwrap_or(0);
                // A shared service the skill calls (an HTTP client, the geo tables ...).
                $(let rule = rule ^ $service::get().map_or(0, |service| service.0.probe(&device));)?
                let figure = module.0.probe(&device) ^ rule;
                reply(device, $state, value.wrapping_add((figure % 7) as i64))
            }
        )*
    };
}

device_ops! {
    "lights" turn_on Lights "on" cache "10s";
    "lights" turn_off Lights "off" cache "10s";
    "lights" set_brightness Lights "dimmed";
    "climate" set_temperature Climate "heating";
    "climate" report_temperature Climate "reported" cache "1m";
    "locks" lock Locks "locked";
    "locks" unlock Locks "unlocked";
    "locks" report_lock Locks "reported" cache "30s";
    "blinds" open Blinds "open";
    "blinds" close Blinds "closed";
    "coffee" brew Coffee "brewing";
    "media" play Media "playing";
    "media" pause Media "paused";
    "cameras" snapshot Cameras "captured" uses Tls;
    "alarm" arm Alarm "armed";
    "alarm" disarm Alarm "disarmed";
    "vacuum" start_cleaning Vacuum "cleaning";
    "garden" water Garden "watering";
    "energy" report_usage Energy "reported" cache "5m" uses Metrics;
    "weather" forecast Weather "forecast" cache "5m" uses HttpPool;
    "calendar" today Calendar "listed" cache "5m" uses Auth;
    "news" briefing News "read" cache "10m" uses HttpPool;
    "traffic" commute Traffic "estimated" cache "2m" uses Geo;
    "shopping" add_item Shopping "added";
    "timers" start_timer Timers "running";
    "intercom" announce Intercom "announced";
    "presence" who_is_home Presence "reported" cache "30s" uses DeviceRegistry;
    "scenes" activate_scene Scenes "active" uses DeviceRegistry;
    "routines" run_routine Routines "running" uses Settings;
    "automations" trigger Automations "triggered";
    "scripts" run_script Scripts "running";
    "notifications" notify Notifications "sent" uses Locale;
    "doorbell" ring_history Doorbell "listed" cache "1m";
    "pets" feed Pets "fed";
    "pool" heat_pool Pool "heating";
    "irrigation" schedule Irrigation "scheduled";
    "voice" identify VoiceProfiles "identified" cache "1m";
}

/// The gateway's own work on every directive: log it (core), touch the session.
pub fn log_directive(line: &str) -> Result<usize, lmms::Error> {
    let logging = Logging::get()?;
    let sessions = Sessions::get()?;
    Ok(logging.0.probe(line) as usize + sessions.0.probe(line) as usize % 3)
}

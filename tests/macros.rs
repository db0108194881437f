//! The attributes end to end: what they generate works as the design says.
#![allow(missing_docs)]

use std::convert::Infallible;

#[lmms::module(class = "utility", grace = "30s", name = "weather")]
pub struct Weather {
    table: Vec<u64>,
}

impl lmms::Load for Weather {
    type Error = Infallible;
    fn load() -> Result<Self, Infallible> {
        Ok(Weather {
            table: (0..10).map(|d| d * 10).collect(),
        })
    }
}

/// A forecast: the city's name length plus the table's value for the day.
#[lmms::operation(interface = "weather", name = "forecast", cache_ttl = "5m")]
pub fn forecast(weather: &Weather, city: String, days: u8) -> u64 {
    weather.table[usize::from(days)] + city.len() as u64
}

#[lmms::operation]
fn ping() -> &'static str {
    "pong"
}

mod geo {
    #[lmms::module(class = "feature")]
    pub struct CityTable(pub Vec<&'static str>);

    impl lmms::Load for CityTable {
        type Error = std::convert::Infallible;
        fn load() -> Result<Self, Self::Error> {
            Ok(CityTable(vec!["Lisbon", "Oslo"]))
        }
    }

    #[lmms::operation]
    pub fn city(table: &CityTable, index: usize) -> Option<&'static str> {
        table.0.get(index).copied()
    }
}

#[test]
fn the_managed_call_loads_caches_and_answers() {
    assert!(!Weather::is_resident());
    assert_eq!(forecast::call("Oslo".into(), 3).unwrap(), 34);
    assert!(Weather::is_resident());
    assert_eq!(forecast::call("Oslo".into(), 3).unwrap(), 34);
    let stats = forecast::OP.stats();
    assert_eq!((stats.interface, stats.name), ("weather", "forecast"));
    assert_eq!(stats.cache.unwrap().hits, 1);
    assert_eq!(Weather::stats().name, "weather");
}

#[test]
fn the_function_stays_callable_as_written() {
    let weather = Weather { table: vec![7; 10] };
    assert_eq!(forecast(&weather, "Rome".into(), 0), 11);
}

#[test]
fn defaults_name_the_operation_and_interface_after_the_code() {
    assert_eq!(ping::call().unwrap(), "pong");
    assert_eq!(ping::OP.def().name(), "ping");
    assert_eq!(ping::OP.def().interface(), "crate");
    assert_eq!(geo::city::OP.def().interface(), "geo");
    assert_eq!(geo::city::call(1).unwrap(), Some("Oslo"));
    assert_eq!(geo::CityTable::stats().name, "city_table");
    assert!(
        !geo::CityTable::is_resident(),
        "a feature module unloads after use"
    );
}

#[derive(Debug, PartialEq)]
pub struct UnknownCity(String);

#[lmms::module]
pub struct Codes(Vec<(&'static str, u64)>);

impl lmms::Load for Codes {
    type Error = Infallible;
    fn load() -> Result<Self, Infallible> {
        Ok(Codes(vec![("Oslo", 10)]))
    }
}

#[lmms::operation(interface = "weather")]
pub fn city_code(codes: &Codes, city: String) -> Result<u64, UnknownCity> {
    match codes.0.iter().find(|(name, _)| *name == city) {
        Some(&(_, code)) => Ok(code),
        None => Err(UnknownCity(city)),
    }
}

#[test]
fn a_fallible_operation_unwraps_once() {
    assert_eq!(city_code::call("Oslo".into()).unwrap(), 10);
    match city_code::call("Atlantis".into()) {
        Err(lmms::CallError::Operation(UnknownCity(city))) => assert_eq!(city, "Atlantis"),
        other => panic!("expected the operation's own error, got {other:?}"),
    }
}

//! The state of a function of twelve modules, built the ways real functions build theirs,
//! for the memory-limit test (`tests/memory_limit.py`) and the memory-size advisor's check:
//! modules 0–3 are built on the calling thread, 4–7 on tokio's blocking pool
//! (`spawn_blocking` inside an async load), 8–9 on a scoped helper thread, 10–11 are maps of
//! small strings. Each holds [`SIZE`] bytes, as the allocator holds them, touched so that they
//! are resident.
//!
//! Three builds of one function use it: `twelve` (lmms: each module a `#[lmms::module]`,
//! loaded on first use, unloaded under the memory budget), `twelve-eager` (every module
//! built in `main`) and `twelve-lazylock` (a `LazyLock` per module, what a Rust function
//! holds today: built on first use, never dropped).

use serde_json::{json, Value};
use std::collections::HashMap;

/// How many modules.
pub const MODULES: usize = 12;

/// Each module's size: 20 MiB, 240 MiB in all.
pub const SIZE: usize = 20 << 20;

/// A module's state.
pub enum State {
    /// A table of bytes.
    Bytes(Vec<u8>),
    /// Small strings, keyed by small strings.
    Strings(HashMap<String, String>),
}

impl State {
    /// A value that reads the state, so that no build keeps it unread.
    pub fn read(&self, key: u64) -> u64 {
        match self {
            State::Bytes(bytes) => u64::from(bytes[key as usize % bytes.len()]),
            State::Strings(map) => map
                .get(&format!("k{}", key % map.len() as u64))
                .map_or(0, |value| value.len() as u64),
        }
    }
}

/// Module `i`'s table, built on the calling thread.
pub fn on_this_thread(i: usize) -> State {
    State::Bytes(vec![i as u8 + 1; SIZE])
}

/// Module `i`'s table, built on a scoped helper thread.
pub fn on_a_helper(i: usize) -> State {
    std::thread::scope(|threads| threads.spawn(|| on_this_thread(i)).join().unwrap())
}

/// Module `i`'s table, built on tokio's blocking pool.
pub async fn on_the_blocking_pool(i: usize) -> State {
    tokio::task::spawn_blocking(move || on_this_thread(i))
        .await
        .unwrap()
}

/// About [`SIZE`] bytes of small strings, as glibc holds them: a 32-byte chunk for each
/// key and each value, and the map's table.
pub fn strings(i: usize) -> State {
    let entries = SIZE / 120;
    State::Strings(
        (0..entries)
            .map(|n| (format!("k{n}"), format!("v{i}-{n}")))
            .collect(),
    )
}

/// Module `i` built as its build says, blocking where the build is async: what `main`
/// and a `LazyLock` do.
pub fn build(i: usize) -> State {
    match i {
        0..=3 => on_this_thread(i),
        4..=7 => std::thread::spawn(move || on_this_thread(i))
            .join()
            .unwrap(),
        8..=9 => on_a_helper(i),
        _ => strings(i),
    }
}

/// What a request asks: the modules it uses, a key to read, and how long it waits on I/O
/// besides (`{"use": [3, 7], "key": 12, "work_ms": 20}`).
pub struct Request {
    /// The modules it uses, held at once.
    pub used: Vec<usize>,
    /// What it reads of each.
    pub key: u64,
    /// Its own time, waiting as on a database or an API.
    pub work: std::time::Duration,
}

impl Request {
    /// The request's I/O, awaited.
    pub async fn work(&self) {
        tokio::time::sleep(self.work).await;
    }
}

/// The request of an event; an index out of range is an error naming it.
pub fn request(event: &Value) -> Result<Request, String> {
    let used = event["use"]
        .as_array()
        .ok_or("the request has no `use` list of module indices")?
        .iter()
        .map(|index| match index.as_u64() {
            Some(i) if (i as usize) < MODULES => Ok(i as usize),
            _ => Err(format!(
                "`use`: {index} is not a module index (0 to {})",
                MODULES - 1
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Request {
        used,
        key: event["key"].as_u64().unwrap_or(0),
        work: std::time::Duration::from_millis(event["work_ms"].as_u64().unwrap_or(0)),
    })
}

/// Answers `event` as the builds without lmms do: reads each module it uses from `state`,
/// then waits its I/O.
pub async fn serve<'a>(event: &Value, state: impl Fn(usize) -> &'a State) -> Result<Value, String> {
    let started = std::time::Instant::now();
    let request = request(event)?;
    let sum = request
        .used
        .iter()
        .map(|&i| state(i).read(request.key))
        .sum();
    request.work().await;
    Ok(answer(sum, started))
}

/// The answer: what the request read, and how long the handler took since `started`, in
/// ms (what the memory-limit test bills).
pub fn answer(sum: u64, started: std::time::Instant) -> Value {
    json!({ "sum": sum, "ms": started.elapsed().as_secs_f64() * 1000.0 })
}

//! The function of twelve modules with lmms: each module a `#[lmms::module]` loaded on
//! first use, each with an operation a request calls, unloaded under the memory budget
//! that `lmms_lambda::run` sets from the function's memory size.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use lmms_example_lambda::twelve::{self, State};
use serde_json::Value;

#[global_allocator]
static ALLOC: lmms::memory::CountingAlloc = lmms::memory::CountingAlloc;

/// Declares module `$state` (named `$name`) built by `$build`, and its operation `$op`.
macro_rules! sync_module {
    ($state:ident, $op:ident, $name:literal, $i:literal, $build:path) => {
        #[lmms::module(name = $name)]
        pub struct $state(State);

        impl lmms::Load for $state {
            type Error = std::convert::Infallible;
            fn load() -> Result<Self, Self::Error> {
                Ok($state($build($i)))
            }
        }

        #[lmms::operation(interface = "twelve")]
        pub fn $op(state: &$state, key: u64) -> u64 {
            state.0.read(key)
        }
    };
}

/// The same for a module built on the blocking pool, with `.await`.
macro_rules! async_module {
    ($state:ident, $op:ident, $name:literal, $i:literal) => {
        #[lmms::module(name = $name)]
        pub struct $state(State);

        impl lmms::AsyncLoad for $state {
            type Error = std::convert::Infallible;
            async fn load() -> Result<Self, Self::Error> {
                Ok($state(twelve::on_the_blocking_pool($i).await))
            }
        }

        #[lmms::operation(interface = "twelve")]
        pub async fn $op(state: &$state, key: u64) -> u64 {
            state.0.read(key)
        }
    };
}

sync_module!(M0, op0, "m0", 0, twelve::on_this_thread);
sync_module!(M1, op1, "m1", 1, twelve::on_this_thread);
sync_module!(M2, op2, "m2", 2, twelve::on_this_thread);
sync_module!(M3, op3, "m3", 3, twelve::on_this_thread);
async_module!(M4, op4, "m4", 4);
async_module!(M5, op5, "m5", 5);
async_module!(M6, op6, "m6", 6);
async_module!(M7, op7, "m7", 7);
sync_module!(M8, op8, "m8", 8, twelve::on_a_helper);
sync_module!(M9, op9, "m9", 9, twelve::on_a_helper);
sync_module!(M10, op10, "m10", 10, twelve::strings);
sync_module!(M11, op11, "m11", 11, twelve::strings);

/// Calls module `i`'s operation.
async fn call(i: usize, key: u64) -> Result<u64, lmms::Error> {
    match i {
        0 => op0::call(key),
        1 => op1::call(key),
        2 => op2::call(key),
        3 => op3::call(key),
        4 => op4::call(key).await,
        5 => op5::call(key).await,
        6 => op6::call(key).await,
        7 => op7::call(key).await,
        8 => op8::call(key),
        9 => op9::call(key),
        10 => op10::call(key),
        _ => op11::call(key),
    }
}

/// A guard on module `i`, held while the request uses another.
async fn hold(i: usize) -> Result<Box<dyn Send>, lmms::Error> {
    Ok(match i {
        0 => Box::new(M0::get()?),
        1 => Box::new(M1::get()?),
        2 => Box::new(M2::get()?),
        3 => Box::new(M3::get()?),
        4 => Box::new(M4::get_async().await?),
        5 => Box::new(M5::get_async().await?),
        6 => Box::new(M6::get_async().await?),
        7 => Box::new(M7::get_async().await?),
        8 => Box::new(M8::get()?),
        9 => Box::new(M9::get()?),
        10 => Box::new(M10::get()?),
        _ => Box::new(M11::get()?),
    })
}

async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    // What `lmms-advise` reads: each module's measured size and load time.
    // With `"unload": true`, every module is unloaded first, one by one as room-making
    // would: each module's size is then exact (measured where it was dropped), and its
    // unload's and the memory's return to the OS known.
    if event.payload["stats"] == true {
        if event.payload["unload"] == true {
            let _ = [
                M0::unload(),
                M1::unload(),
                M2::unload(),
                M3::unload(),
                M4::unload(),
                M5::unload(),
                M6::unload(),
                M7::unload(),
                M8::unload(),
                M9::unload(),
                M10::unload(),
                M11::unload(),
            ];
        }
        return Ok(serde_json::to_value(lmms::stats())?);
    }
    let started = std::time::Instant::now();
    let in_flight = InFlight::enter();
    let request = twelve::request(&event.payload)?;
    let mut sum = 0;
    // The first module stays held while the request uses the others.
    let _first = match request.used.first() {
        Some(&first) => Some(hold(first).await?),
        None => None,
    };
    for &i in &request.used {
        sum += call(i, request.key).await?;
    }
    request.work().await;
    let mut answer = twelve::answer(sum, started);
    answer["in_flight"] = in_flight.0.into();
    Ok(answer)
}

/// How many invocations the handler runs at once, this one included, counted at its
/// start: more than one only under a concurrent runner (`tests/concurrency.py`).
struct InFlight(usize);

static IN_FLIGHT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl InFlight {
    fn enter() -> InFlight {
        InFlight(IN_FLIGHT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    // `AWS_LAMBDA_MAX_CONCURRENCY` invocations at once where it is set (Lambda Managed
    // Instances), one at a time where it is not.
    lmms_lambda::Function::from_env()?
        .run_concurrent(service_fn(handler))
        .await
}

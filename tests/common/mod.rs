//! What the integration tests share: the hand-written module-and-operation fixture
//! (`trivial!`), a minimal executor for the async operations, the
//! memory-budget tests' runtime and modules, a `tracing` layer that panics, and a hot
//! operation whose direct call parks (`parked`).
#![allow(dead_code)] // each test binary uses part of it

#[macro_use]
mod trivial;
pub mod parked;

use std::future::Future;
use std::pin::{pin, Pin};
use std::task::{Context, Poll, Waker};

/// Polls `future` once, with a waker that does nothing.
pub fn poll_once<F: Future + ?Sized>(future: Pin<&mut F>) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(Waker::noop()))
}

/// Runs `future` to completion on this thread, spinning while it is pending.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = poll_once(future.as_mut()) {
            return output;
        }
        std::thread::yield_now();
    }
}

/// Pending once (waking its waker at once), then ready: one await point.
#[derive(Default)]
pub struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// A runtime on a manual clock that keeps nothing longer than it must: no resident minimum,
/// a 1 s grace period and 1 s cooling windows, so a test moves a hot path through cooling,
/// demotion and unloading with a few clock moves.
pub fn quick_runtime() -> (lmms::Runtime, lmms::tuning::ManualClock) {
    let clock = lmms::tuning::ManualClock::new();
    let runtime = lmms::Runtime::builder()
        .clock(clock.clone())
        .min_resident(0)
        .grace(std::time::Duration::from_secs(1))
        .cool_every(std::time::Duration::from_secs(1))
        .build()
        .expect("valid settings");
    (runtime, clock)
}

/// What a [`Canary`] reads while its state lives.
pub const ALIVE: u64 = 0xA11CE;
/// What a [`Canary`] reads once its state was dropped.
pub const DEAD: u64 = 0xDEAD;

/// A state's canary: its `Drop` poisons it, so a read after the drop is seen. Placed past
/// the first bytes, which an allocator reuses for its own lists once the block is freed.
pub struct Canary {
    _pad: [u64; 8],
    pub canary: std::sync::atomic::AtomicU64,
}

impl Canary {
    pub fn new() -> Self {
        Canary {
            _pad: [0; 8],
            canary: std::sync::atomic::AtomicU64::new(ALIVE),
        }
    }
}

impl Drop for Canary {
    fn drop(&mut self) {
        self.canary.store(DEAD, std::sync::atomic::Ordering::SeqCst);
    }
}

#[cfg(feature = "tracing")]
mod panicking {
    /// A layer that panics on the event whose message it is given, while its flag is set.
    pub struct Panicking {
        pub on: &'static str,
        pub armed: &'static std::sync::atomic::AtomicBool,
    }

    struct Message(String);

    impl tracing::field::Visit for Message {
        fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
            if field.name() == "message" {
                self.0 = format!("{value:?}");
            }
        }
    }

    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Panicking {
        fn on_event(
            &self,
            event: &tracing::Event<'_>,
            _: tracing_subscriber::layer::Context<'_, S>,
        ) {
            let mut message = Message(String::new());
            event.record(&mut message);
            if message.0 == self.on && self.armed.load(std::sync::atomic::Ordering::SeqCst) {
                panic!("a layer that panics on `{}`", self.on);
            }
        }
    }
}
#[cfg(feature = "tracing")]
#[allow(unused_imports)] // each test binary uses part of it
pub use panicking::Panicking;

pub const MB: usize = 1_000_000;

/// A runtime on a manual clock with a memory budget of `bytes`.
pub fn budgeted(bytes: u64) -> (lmms::tuning::ManualClock, lmms::Runtime) {
    let clock = lmms::tuning::ManualClock::new();
    let runtime = lmms::Runtime::builder()
        .clock(clock.clone())
        .memory_budget(bytes)
        .build()
        .unwrap();
    (clock, runtime)
}

/// `n` modules of 1 MB each on `runtime`, named `{prefix}0` on.
pub fn megabytes(
    runtime: &lmms::Runtime,
    prefix: &str,
    n: usize,
) -> Vec<lmms::state::Handle<Vec<u8>>> {
    (0..n)
        .map(|i| {
            runtime
                .register_fallible(lmms::ModuleDef::named(format!("{prefix}{i}")), || {
                    Ok::<_, std::convert::Infallible>(vec![1u8; MB])
                })
                .unwrap()
        })
        .collect()
}

pub fn resident(modules: &[lmms::state::Handle<Vec<u8>>]) -> Vec<usize> {
    (0..modules.len())
        .filter(|&i| modules[i].stats().resident)
        .collect()
}

//! Modules whose state is built with `.await`: loaded once however many tasks ask, a
//! cancelled load handed to the next waiter, a failure every waiter's, closes awaited.
#![allow(missing_docs)]

mod common;

use common::{block_on, poll_once};
use lmms::{report::Unload, state::Closing, AsyncLoad, Error, Module};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

fn yield_once() -> common::YieldOnce {
    common::YieldOnce::default()
}

/// Pending while its flag is down: network I/O that the test completes by hand.
struct Gate(&'static AtomicBool);

impl Future for Gate {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if self.0.load(SeqCst) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// A waker that remembers it was woken.
#[derive(Default)]
struct Woken(AtomicBool);

impl Wake for Woken {
    fn wake(self: Arc<Self>) {
        self.0.store(true, SeqCst);
    }
}

impl Woken {
    fn waker() -> (Arc<Woken>, Waker) {
        let woken = Arc::new(Woken::default());
        (woken.clone(), Waker::from(woken))
    }

    fn take(&self) -> bool {
        self.0.swap(false, SeqCst)
    }
}

type Boxed<T> = Pin<Box<dyn Future<Output = T> + Send>>;

fn poll_with<T>(future: &mut Boxed<T>, waker: &Waker) -> Poll<T> {
    future.as_mut().poll(&mut Context::from_waker(waker))
}

/// Polls every future until each is ready (each at most `bound` times), in turn.
fn drive_all<T>(futures: Vec<Boxed<T>>, bound: usize) -> Vec<T> {
    let mut running: Vec<_> = futures.into_iter().map(Some).collect();
    let mut outputs: Vec<Option<T>> = running.iter().map(|_| None).collect();
    for _ in 0..bound {
        for (slot, output) in running.iter_mut().zip(&mut outputs) {
            if let Some(future) = slot {
                if let Poll::Ready(ready) = poll_once(future.as_mut()) {
                    *output = Some(ready);
                    *slot = None;
                }
            }
        }
        if running.iter().all(Option::is_none) {
            return outputs.into_iter().map(|output| output.unwrap()).collect();
        }
    }
    panic!("a future was still pending after {bound} polls: a stuck load");
}

// ---------------------------------------------------------------- loaded once

#[lmms::module(name = "single_flight")]
pub struct SingleFlight {
    value: u64,
}

static SINGLE_FLIGHT_LOADS: AtomicUsize = AtomicUsize::new(0);

impl AsyncLoad for SingleFlight {
    type Error = Infallible;
    async fn load() -> Result<Self, Infallible> {
        SINGLE_FLIGHT_LOADS.fetch_add(1, SeqCst);
        tokio::time::sleep(Duration::from_millis(20)).await;
        Ok(SingleFlight { value: 7 })
    }
}

#[test]
fn a_thousand_tasks_on_a_multi_thread_runtime_share_one_load() {
    let (runtime, _clock) = common::quick_runtime();
    runtime.add(SingleFlight::cell()).unwrap();
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_time()
        .build()
        .unwrap();
    let values = tokio.block_on(async {
        let start = Arc::new(tokio::sync::Barrier::new(1000));
        let tasks: Vec<_> = (0..1000)
            .map(|_| {
                let start = start.clone();
                tokio::spawn(async move {
                    start.wait().await;
                    let guard = SingleFlight::get_async().await?;
                    // Held across an await: the guard is `Send`.
                    tokio::task::yield_now().await;
                    Ok::<u64, Error>(guard.value)
                })
            })
            .collect();
        let mut values = Vec::new();
        for task in tasks {
            values.push(task.await.unwrap().unwrap());
        }
        values
    });
    assert!(values.iter().all(|&value| value == 7));
    assert_eq!(SINGLE_FLIGHT_LOADS.load(SeqCst), 1);
    let stats = SingleFlight::stats();
    assert_eq!((stats.loads, stats.guards), (1, 0));
}

#[lmms::module(name = "current_thread")]
pub struct CurrentThread(u8);

static CURRENT_THREAD_LOADS: AtomicUsize = AtomicUsize::new(0);

impl AsyncLoad for CurrentThread {
    type Error = Infallible;
    async fn load() -> Result<Self, Infallible> {
        CURRENT_THREAD_LOADS.fetch_add(1, SeqCst);
        tokio::task::yield_now().await;
        Ok(CurrentThread(3))
    }
}

#[test]
fn tasks_on_a_current_thread_runtime_share_one_load() {
    let (runtime, _clock) = common::quick_runtime();
    runtime.add(CurrentThread::cell()).unwrap();
    let tokio = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    tokio.block_on(async {
        let local: Vec<_> = (0..50)
            .map(|_| tokio::spawn(async { CurrentThread::get_async().await.map(|g| g.0) }))
            .collect();
        for task in local {
            assert_eq!(task.await.unwrap().unwrap(), 3);
        }
    });
    assert_eq!(CURRENT_THREAD_LOADS.load(SeqCst), 1);
}

#[path = "async_modules/cancel.rs"]
mod cancel;
#[path = "async_modules/closing.rs"]
mod closing;
#[path = "async_modules/failures.rs"]
mod failures;

//! A load cancelled at each await point, with or without waiters, and every interleaving
//! of loads, cancellations and unloads.

use super::*;

#[lmms::module(name = "cancelled")]
pub struct Cancelled;

const CANCEL_STEPS: usize = 3;
static CANCEL_STARTS: AtomicUsize = AtomicUsize::new(0);
/// Loader frames alive now: never more than one, however loads are cancelled.
static CANCEL_FRAMES: AtomicIsize = AtomicIsize::new(0);
static CANCEL_MOST_FRAMES: AtomicIsize = AtomicIsize::new(0);

struct Frame;

impl Frame {
    fn enter() -> Frame {
        let now = CANCEL_FRAMES.fetch_add(1, SeqCst) + 1;
        CANCEL_MOST_FRAMES.fetch_max(now, SeqCst);
        Frame
    }
}

impl Drop for Frame {
    fn drop(&mut self) {
        CANCEL_FRAMES.fetch_sub(1, SeqCst);
    }
}

impl AsyncLoad for Cancelled {
    type Error = Infallible;
    async fn load() -> Result<Self, Infallible> {
        CANCEL_STARTS.fetch_add(1, SeqCst);
        let _frame = Frame::enter();
        for _ in 0..CANCEL_STEPS {
            yield_once().await;
        }
        Ok(Cancelled)
    }
}

fn get_cancelled() -> Boxed<Result<(), Error>> {
    Box::pin(async { Cancelled::get_async().await.map(drop) })
}

/// One test owns the `cancelled` module: the cancellation cases and the interleavings
/// model run one after the other.
static CANCELLED_TURN: Mutex<()> = Mutex::new(());

fn cancelled_runtime() -> std::sync::MutexGuard<'static, ()> {
    static BOUND: std::sync::OnceLock<lmms::Runtime> = std::sync::OnceLock::new();
    let turn = CANCELLED_TURN.lock().unwrap_or_else(|e| e.into_inner());
    BOUND.get_or_init(|| {
        let (runtime, _clock) = common::quick_runtime();
        runtime.add(Cancelled::cell()).unwrap();
        runtime
    });
    turn
}

#[test]
fn a_load_cancelled_at_each_await_point_passes_to_the_next_waiter() {
    let _turn = cancelled_runtime();
    for polls in 0..=CANCEL_STEPS {
        let starts = CANCEL_STARTS.load(SeqCst);
        let (_, leader_waker) = Woken::waker();
        let (woken, waiter_waker) = Woken::waker();
        let mut leader = get_cancelled();
        for _ in 0..polls {
            assert!(poll_with(&mut leader, &leader_waker).is_pending());
        }
        let mut waiter = get_cancelled();
        let first = poll_with(&mut waiter, &waiter_waker);
        if polls == 0 {
            // The leader never ran: the waiter leads at once.
            assert!(first.is_pending());
        } else {
            assert!(
                first.is_pending(),
                "the waiter waits for the load in flight"
            );
            woken.take();
            drop(leader);
            assert!(
                woken.take(),
                "the cancelled load wakes its waiter ({polls} polls)"
            );
        }
        assert_eq!(CANCEL_FRAMES.load(SeqCst), if polls == 0 { 1 } else { 0 });
        let mut ready = None;
        for _ in 0..=CANCEL_STEPS + 1 {
            if let Poll::Ready(done) = poll_with(&mut waiter, &waiter_waker) {
                ready = Some(done);
                break;
            }
        }
        ready.expect("the waiter took the load over").unwrap();
        let expected = if polls == 0 { 1 } else { 2 };
        assert_eq!(CANCEL_STARTS.load(SeqCst) - starts, expected);
        assert!(Cancelled::is_resident());
        assert!(matches!(Cancelled::unload(), Unload::Unloaded { .. }));
    }
    assert_eq!(CANCEL_MOST_FRAMES.load(SeqCst), 1);
}

#[test]
fn a_load_cancelled_with_no_waiter_leaves_the_module_loadable() {
    let _turn = cancelled_runtime();
    let (_, waker) = Woken::waker();
    let mut alone = get_cancelled();
    assert!(poll_with(&mut alone, &waker).is_pending());
    drop(alone);
    assert!(!Cancelled::is_resident());
    assert_eq!(CANCEL_FRAMES.load(SeqCst), 0);
    block_on(get_cancelled()).unwrap();
    assert!(Cancelled::is_resident());
    assert!(matches!(Cancelled::unload(), Unload::Unloaded { .. }));
}

/// Every interleaving, up to a depth, of: polling a first caller, polling a second,
/// cancelling the first, and unloading, each replayed from scratch. After each step at most
/// one loader runs; after each run the callers left finish (no cell stuck "loading"),
/// every guard is let go, and the module's loads and unloads add up.
#[test]
fn every_interleaving_of_loads_cancellation_and_unloads_stays_consistent() {
    #[derive(Clone, Copy, Debug)]
    enum Step {
        PollFirst,
        PollSecond,
        CancelFirst,
        Unload,
    }
    const STEPS: [Step; 4] = [
        Step::PollFirst,
        Step::PollSecond,
        Step::CancelFirst,
        Step::Unload,
    ];
    const DEPTH: usize = 8;

    fn replay(schedule: &[Step]) {
        let mut first = Some(get_cancelled());
        let mut second = Some(get_cancelled());
        let (mut first_done, mut second_done) = (false, false);
        for step in schedule {
            match step {
                Step::PollFirst => {
                    if let Some(future) = first.as_mut().filter(|_| !first_done) {
                        if let Poll::Ready(result) = poll_once(future.as_mut()) {
                            result.unwrap();
                            first_done = true;
                        }
                    }
                }
                Step::PollSecond => {
                    if let Some(future) = second.as_mut().filter(|_| !second_done) {
                        if let Poll::Ready(result) = poll_once(future.as_mut()) {
                            result.unwrap();
                            second_done = true;
                        }
                    }
                }
                Step::CancelFirst => first = None,
                Step::Unload => {
                    let _ = Cancelled::unload();
                }
            }
            assert!(
                CANCEL_FRAMES.load(SeqCst) <= 1,
                "two loaders at once: {schedule:?}"
            );
        }
        let left: Vec<_> = [(first, first_done), (second, second_done)]
            .into_iter()
            .filter_map(|(future, done)| future.filter(|_| !done))
            .collect();
        for result in drive_all(left, 4 * CANCEL_STEPS + 4) {
            result.unwrap();
        }
        assert_eq!(
            CANCEL_FRAMES.load(SeqCst),
            0,
            "a loader outlived its callers: {schedule:?}"
        );
        let stats = Cancelled::stats();
        assert_eq!(stats.guards, 0, "a guard left: {schedule:?}");
        assert_eq!(
            stats.loads - stats.unloads,
            u64::from(stats.resident),
            "{schedule:?}"
        );
        let _ = Cancelled::unload();
        assert!(!Cancelled::is_resident(), "{schedule:?}");
    }

    let _turn = cancelled_runtime();
    let mut runs = 0;
    let mut schedule = Vec::new();
    fn explore(schedule: &mut Vec<Step>, runs: &mut usize) {
        replay(schedule);
        *runs += 1;
        if schedule.len() == DEPTH {
            return;
        }
        for step in STEPS {
            schedule.push(step);
            explore(schedule, runs);
            schedule.pop();
        }
    }
    explore(&mut schedule, &mut runs);
    // 4^0 + 4^1 + ... + 4^8 schedules.
    assert_eq!(
        runs,
        (0..=DEPTH as u32)
            .map(|depth| 4usize.pow(depth))
            .sum::<usize>()
    );
    assert_eq!(CANCEL_MOST_FRAMES.load(SeqCst), 1);
}

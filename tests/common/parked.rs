//! A hot operation whose direct call parks, for the tests of what a demotion whose user
//! code panics may free meanwhile: nothing under a running direct call.

use super::{quick_runtime, Canary, ALIVE};
use lmms::op::{Body, Op, OpDef, Operation, Source};
use lmms::report::SweepReport;
use lmms::{Load, ModuleCell, ModuleDef, Runtime};
use std::convert::Infallible;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::thread;
use std::time::Duration;

pub struct Parked(Canary);
impl Load for Parked {
    type Error = Infallible;
    fn load() -> Result<Self, Infallible> {
        Ok(Parked(Canary::new()))
    }
}
pub static PARKED: ModuleCell<Parked> = ModuleCell::new(ModuleDef::new("parked"));

/// Makes [`Park`]'s `source()` panic while set.
pub static SOURCE_PANICS: AtomicBool = AtomicBool::new(false);
static INSIDE: AtomicBool = AtomicBool::new(false);
static RELEASE: AtomicBool = AtomicBool::new(false);
static SAW_DEAD: AtomicBool = AtomicBool::new(false);

/// A hand-written operation whose body parks on argument 1, reading the state's canary
/// until released.
pub struct Park;
impl Operation for Park {
    type State = Parked;
    type Args = u64;
    type Output = u64;
    fn source() -> Source<Parked> {
        assert!(!SOURCE_PANICS.load(SeqCst), "source() told to panic");
        Source::Module(&PARKED)
    }
}
impl Body for Park {
    fn run(state: &Parked, x: u64) -> u64 {
        if x == 1 {
            INSIDE.store(true, SeqCst);
            while !RELEASE.load(SeqCst) {
                if state.0.canary.load(SeqCst) != ALIVE {
                    SAW_DEAD.store(true, SeqCst);
                }
                std::hint::spin_loop();
            }
        }
        state.0.canary.load(SeqCst)
    }
}
pub static PARK: Op<Park> = Op::new(OpDef::new("hostile", "park"));

/// Makes [`PARK`] hot, parks a direct call in it, and sweeps past the cooling window with
/// `armed` set (what that sweep did goes to `swept`), then again without; asserts that the
/// state stayed under the running call, that the call read it alive, and that it goes once
/// the call left.
pub fn demotion_frees_nothing_under_a_direct_call(
    armed: &AtomicBool,
    swept: impl FnOnce(&Runtime, thread::Result<SweepReport>),
) {
    let (rt, clock) = quick_runtime();
    rt.add(&PARKED).unwrap();
    for _ in 0..20 {
        PARK.call(0).unwrap();
    }
    assert!(PARK.is_hot());
    let parked = thread::spawn(|| PARK.call(1).unwrap());
    while !INSIDE.load(SeqCst) {
        thread::yield_now();
    }
    armed.store(true, SeqCst);
    clock.advance(Duration::from_secs(30));
    swept(&rt, panic::catch_unwind(AssertUnwindSafe(|| rt.sweep())));
    armed.store(false, SeqCst);
    clock.advance(Duration::from_secs(30));
    rt.sweep();
    let resident = PARKED.is_resident();
    RELEASE.store(true, SeqCst);
    assert_eq!(parked.join().unwrap(), ALIVE);
    assert!(
        resident,
        "the state was unloaded under a running direct call"
    );
    assert!(
        !SAW_DEAD.load(SeqCst),
        "the direct call read a dropped state"
    );
    clock.advance(Duration::from_secs(30));
    rt.sweep();
    assert!(!PARK.is_hot());
    assert!(!PARKED.is_resident(), "once the call left, the state goes");
}

//! Pre-warming in a long-running process, on the real clock with a reaper: a job that runs
//! every 2 seconds needs a module whose load takes 50 ms. Time is scaled down — read the
//! 2 s as an hour and the load as a model fetched from storage — so that the run takes
//! half a minute.
//!
//! Three policies, one after the other: the fixed grace period (500 ms, shorter than the
//! gap, so every job waits for a load), the adaptive keep-alive (which learns that keeping
//! the module costs more than loading it, and unloads it at once), and the same with
//! pre-warming (which learns when the next job comes, unloads the module after each job
//! and loads it again just before the next). For each it prints the loads the jobs waited
//! for, the pre-warms, and how long the module was resident.
//!
//! `cargo run --release -p lmms-examples --example prewarm`

use lmms::{tuning::Adaptive, ModuleDef, Runtime};
use std::time::{Duration, Instant};

const JOBS: u32 = 14;
const EVERY: Duration = Duration::from_millis(2_000);
const LOAD: Duration = Duration::from_millis(50);
const SWEEP_EVERY: Duration = Duration::from_millis(100);

/// What one policy's run measured.
struct Run {
    waited: u64,
    prewarms: u64,
    resident: Duration,
    slowest_late_job: Duration,
}

fn run(builder: lmms::tuning::Builder) -> Result<Run, lmms::Error> {
    let runtime = builder.min_resident(0).build()?;
    let model = runtime.register(ModuleDef::named("model"), || {
        std::thread::sleep(LOAD);
        vec![0u8; 1 << 20]
    })?;
    let _reaper = runtime.start_reaper(SWEEP_EVERY)?;
    let started = Instant::now();
    // Resident time, sampled at the reaper's pace between jobs.
    let mut resident = Duration::ZERO;
    let mut slowest_late_job = Duration::ZERO;
    for job in 0..JOBS {
        let due = started + EVERY * job;
        while Instant::now() < due {
            let step = SWEEP_EVERY
                .min(due.saturating_duration_since(Instant::now()))
                .max(Duration::from_millis(1));
            std::thread::sleep(step);
            if model.is_resident() {
                resident += step;
            }
        }
        let job_started = Instant::now();
        let guard = model.get()?;
        std::hint::black_box(guard.len());
        drop(guard);
        // The last jobs, once the policy has learned.
        if job >= JOBS - 4 {
            slowest_late_job = slowest_late_job.max(job_started.elapsed());
        }
    }
    let stats = model.stats();
    Ok(Run {
        waited: stats.loads - stats.prewarms,
        prewarms: stats.prewarms,
        resident,
        slowest_late_job,
    })
}

fn main() -> Result<(), lmms::Error> {
    // A load is worth keeping the module idle for a second: less than the 2 s gap, so
    // keeping it between jobs does not pay, and unloading it does.
    let adaptive = Adaptive::default()
        .load_worth_idle(Duration::from_secs(1))
        .learn_from(4);
    let policies = [
        (
            "fixed grace 500 ms",
            Runtime::builder().grace(Duration::from_millis(500)),
        ),
        ("adaptive", Runtime::builder().adaptive(adaptive)),
        (
            "adaptive, pre-warm 25%",
            Runtime::builder().adaptive(adaptive.prewarm(25)),
        ),
    ];
    println!(
        "{JOBS} jobs every {} ms, a {} ms load, a sweep every {} ms\n",
        EVERY.as_millis(),
        LOAD.as_millis(),
        SWEEP_EVERY.as_millis()
    );
    println!(
        "{:<24} {:>14} {:>9} {:>16} {:>22}",
        "policy", "jobs waited", "pre-warms", "resident", "slowest of last 4 jobs"
    );
    for (name, builder) in policies {
        let run = run(builder)?;
        println!(
            "{name:<24} {:>14} {:>9} {:>14.1} s {:>19.1} ms",
            run.waited,
            run.prewarms,
            run.resident.as_secs_f64(),
            run.slowest_late_job.as_secs_f64() * 1000.0,
        );
    }
    Ok(())
}

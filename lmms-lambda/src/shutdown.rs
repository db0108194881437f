//! What the function does on `SIGTERM`: the application's hook, then every module unloaded
//! and its close awaited, within Lambda's shutdown window.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use tokio::time::Instant;

/// How long the shutdown may take: Lambda gives a function with an internal extension
/// 500 ms between `SIGTERM` and `SIGKILL`; the rest is the process's own exit.
pub const SHUTDOWN_WINDOW: Duration = Duration::from_millis(450);

/// The application's own work on `SIGTERM` ([`Function::on_shutdown`](crate::Function::on_shutdown)).
pub(crate) type Hook = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// What the function does before it exits: unloads every module nothing holds and awaits
/// their closes ([`lmms::Runtime::shutdown`]) within [`SHUTDOWN_WINDOW`], then prints one
/// line that says what it did, `lmms shutdown: unloaded 3 modules (1048576 bytes), 1 kept`,
/// or that the window ran out.
///
/// The window bounds the awaited closes, not the states' `Drop`s, which run to their end
/// before the first close is awaited: keep `Drop` short and put slow work (flushing,
/// hanging up) in [`lmms::AsyncLoad::close`]. Closes handed to a spawner
/// ([`lmms::Runtime::spawn_closes`]) are the spawner's to await, not this one's.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// lmms_lambda::shutdown().await;
/// # });
/// ```
pub async fn shutdown() {
    shutdown_by(Instant::now() + SHUTDOWN_WINDOW).await;
}

/// On `SIGTERM`: the application's hook first, while the modules it may flush through are
/// still loaded, its panic contained and its time bounded by the window; then lmms's
/// shutdown in what is left of it. The hook runs on a blocking thread of its own, so that
/// one that blocks its thread (a synchronous flush) cannot hold the window's timer.
pub(crate) async fn on_sigterm(hook: Option<Hook>) {
    let deadline = Instant::now() + SHUTDOWN_WINDOW;
    if let Some(hook) = hook {
        let runtime = tokio::runtime::Handle::current();
        let hook = tokio::task::spawn_blocking(move || runtime.block_on(hook()));
        match tokio::time::timeout_at(deadline, hook).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("lmms: the shutdown hook failed: {error}"),
            Err(_) => eprintln!(
                "lmms: the shutdown hook took the whole {} ms window",
                SHUTDOWN_WINDOW.as_millis()
            ),
        }
    }
    shutdown_by(deadline).await;
}

async fn shutdown_by(deadline: Instant) {
    let runtime = lmms::Runtime::global();
    match tokio::time::timeout_at(deadline, runtime.shutdown()).await {
        Ok(report) => println!(
            "lmms shutdown: unloaded {} modules ({} bytes), {} kept",
            report.unloaded.len(),
            report.bytes_reclaimed(),
            report.kept.len(),
        ),
        Err(_) => println!(
            "lmms shutdown: the closes took longer than {} ms; exiting before they ended",
            SHUTDOWN_WINDOW.as_millis(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(f: impl Future<Output = ()> + Send + 'static) -> Option<Hook> {
        Some(Box::new(move || Box::pin(f)))
    }

    // The global runtime is the test binary's: one test runs the hooks in turn. Its tokio
    // runtime is never dropped, as the function's is not (the process exits after the
    // shutdown): a drop would wait for the hook that never ends.
    #[test]
    fn a_hook_that_panics_blocks_or_hangs_leaves_lmms_its_shutdown() {
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        tokio.block_on(async {
            let runtime = lmms::Runtime::global();
            let module = runtime
                .register(lmms::ModuleDef::named("hooked"), || vec![1u8; 64])
                .unwrap();
            for (name, hook) in [
                ("panics", hook(async { panic!("the hook's own bug") })),
                (
                    "blocks its thread for an hour",
                    hook(async { std::thread::sleep(std::time::Duration::from_secs(3600)) }),
                ),
                ("never ends", hook(std::future::pending())),
                ("returns", hook(async {})),
            ] {
                drop(module.get().unwrap());
                assert!(module.is_resident(), "{name}");
                on_sigterm(hook).await;
                assert!(
                    !module.is_resident(),
                    "the module is unloaded after a hook that {name}"
                );
            }
        });
        std::mem::forget(tokio);
    }
}

//! An invocation as `lambda_runtime` hands it to its layers, and an inner service that
//! stands for the handler and the response posting.

use lambda_runtime::tower::Service;
use lambda_runtime::{Context, LambdaInvocation};
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub fn invocation(body: &str) -> LambdaInvocation {
    LambdaInvocation {
        parts: http::Response::new(()).into_parts().0,
        body: body.as_bytes().to_vec().into(),
        context: Context::default(),
    }
}

/// The handler: runs `work` on each invocation's body, as the runtime's inner layers run
/// the user's handler and post its response.
#[derive(Clone)]
pub struct Handler<F>(pub F);

impl<F: FnMut(&[u8]) + Clone + Send + 'static> Service<LambdaInvocation> for Handler<F> {
    type Response = ();
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, invocation: LambdaInvocation) -> Self::Future {
        (self.0)(&invocation.body);
        Box::pin(async { Ok(()) })
    }
}

/// Sets the process's global runtime, on a manual clock (returned) and with no resident
/// minimum, as a function's process would have it.
pub fn global_runtime() -> lmms::tuning::ManualClock {
    let clock = lmms::tuning::ManualClock::new();
    let runtime = lmms::Runtime::builder()
        .clock(clock.clone())
        .min_resident(0)
        .build()
        .unwrap();
    lmms::Runtime::set_global(runtime).unwrap();
    clock
}

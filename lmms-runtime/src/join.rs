//! Awaiting several futures at once on the awaiting task, with no executor of our own:
//! the loads a request starts together, and the closes a shutdown waits for.

use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::task::Poll;

/// Awaits every future of `futures` together, polling each that has not ended whenever the
/// task is woken, and returns their outputs in order.
pub(crate) fn all<F: Future>(
    futures: impl IntoIterator<Item = F>,
) -> impl Future<Output = Vec<F::Output>> {
    let mut running: Vec<_> = futures.into_iter().map(|f| Some(Box::pin(f))).collect();
    let mut outputs: Vec<Option<F::Output>> = running.iter().map(|_| None).collect();
    std::future::poll_fn(move |cx| {
        let mut pending = false;
        for (slot, output) in running.iter_mut().zip(&mut outputs) {
            if let Some(future) = slot {
                match future.as_mut().poll(cx) {
                    Poll::Ready(ended) => {
                        *output = Some(ended);
                        *slot = None;
                    }
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(outputs.iter_mut().filter_map(Option::take).collect())
        }
    })
}

/// `future`, with a panic in any of its polls answered as `Err(())`: one panicking close
/// must not stop the others.
pub(crate) async fn contained<F: Future>(future: F) -> Result<F::Output, ()> {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(|cx| {
        match panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => {
                // The payload is user code too: a `Drop` that panics again is contained.
                let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(payload)));
                Poll::Ready(Err(()))
            }
        }
    })
    .await
}

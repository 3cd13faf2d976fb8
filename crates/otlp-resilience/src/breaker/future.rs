//! The future of one request through a [`Breaker`](super::Breaker).

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use otlp_core::Retryable;
use pin_project_lite::pin_project;

use super::state::Permit;
use super::BreakerError;

pin_project! {
    /// Fails at once with [`BreakerError::Open`] when the breaker refused the
    /// request; otherwise resolves to the inner service's answer and records
    /// its outcome.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    #[derive(Debug)]
    enum Kind<F> {
        Rejected { retry_in: Duration },
        Called { #[pin] future: F, permit: Option<Permit> },
    }
}

impl<F> ResponseFuture<F> {
    pub(super) fn rejected(retry_in: Duration) -> Self {
        Self {
            kind: Kind::Rejected { retry_in },
        }
    }

    pub(super) fn called(future: F, permit: Permit) -> Self {
        Self {
            kind: Kind::Called {
                future,
                permit: Some(permit),
            },
        }
    }
}

impl<F, T, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Retryable,
{
    type Output = Result<T, BreakerError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Rejected { retry_in } => Poll::Ready(Err(BreakerError::Open {
                retry_in: *retry_in,
            })),
            KindProj::Called { future, permit } => {
                let result = ready!(future.poll(cx));
                if let Some(permit) = permit.take() {
                    // Only errors worth retrying say the endpoint is in
                    // trouble; a 400 proves it is up and answering.
                    permit.complete(matches!(&result, Err(e) if e.is_retryable()));
                }
                Poll::Ready(result.map_err(BreakerError::Inner))
            }
        }
    }
}

//! The future of one request through [`Retry`](super::Retry).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use otlp_core::Retryable;
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};
use tower::Service;

use super::{Decision, Shared};

pin_project! {
    /// Resolves to the first success, or to the last error once retrying
    /// stops (permanent error, budget empty, or max elapsed time reached).
    pub struct ResponseFuture<S, Req>
    where
        S: Service<Req>,
    {
        #[pin]
        state: State<S::Future>,
        service: S,
        request: Req,
        shared: Arc<Shared>,
        started: Instant,
        retries: u32,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Calling { #[pin] future: F },
        Sleeping { #[pin] sleep: Sleep },
        Polling,
    }
}

impl<S, Req> ResponseFuture<S, Req>
where
    S: Service<Req>,
{
    pub(super) fn new(future: S::Future, service: S, request: Req, shared: Arc<Shared>) -> Self {
        Self {
            state: State::Calling { future },
            service,
            request,
            shared,
            started: Instant::now(),
            retries: 0,
        }
    }
}

impl<S, Req> Future for ResponseFuture<S, Req>
where
    S: Service<Req>,
    S::Error: Retryable,
    Req: Clone,
{
    type Output = Result<S::Response, S::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let mut this = self.as_mut().project();
            match this.state.as_mut().project() {
                StateProj::Calling { future } => {
                    let error = match ready!(future.poll(cx)) {
                        Ok(response) => return Poll::Ready(Ok(response)),
                        Err(error) => error,
                    };
                    match this.shared.decide(&error, *this.started, *this.retries) {
                        Decision::Retry { delay } => {
                            *this.retries += 1;
                            this.state.set(State::Sleeping {
                                sleep: tokio::time::sleep(delay),
                            });
                        }
                        Decision::GiveUp(_) => return Poll::Ready(Err(error)),
                    }
                }
                StateProj::Sleeping { sleep } => {
                    ready!(sleep.poll(cx));
                    this.state.set(State::Polling);
                }
                StateProj::Polling => {
                    // A readiness error means the service itself is broken
                    // (tower's contract), so it is returned, not retried.
                    ready!(this.service.poll_ready(cx))?;
                    let future = this.service.call(this.request.clone());
                    this.state.set(State::Calling { future });
                }
            }
        }
    }
}

impl<S, Req> std::fmt::Debug for ResponseFuture<S, Req>
where
    S: Service<Req>,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("retries", &self.retries)
            .field("started", &self.started)
            .finish_non_exhaustive()
    }
}

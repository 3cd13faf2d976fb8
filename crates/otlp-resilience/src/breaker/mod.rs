//! A circuit breaker: stop sending to an endpoint that keeps failing, probe
//! it now and then, resume when it answers.
//!
//! # States
//!
//! * **Closed** — requests flow; outcomes are kept in a rolling [`Window`]
//!   (the last N calls, or the last stretch of time). Once the window holds
//!   at least [`min_calls`](BreakerConfig::min_calls) outcomes and the
//!   share of failures reaches [`failure_ratio`](BreakerConfig::failure_ratio),
//!   the breaker opens.
//! * **Open** — requests fail at once with [`BreakerError::Open`] carrying
//!   the time left, without touching the endpoint. After
//!   [`open_duration`](BreakerConfig::open_duration) the breaker goes
//!   half-open.
//! * **HalfOpen** — up to [`half_open_probes`](BreakerConfig::half_open_probes)
//!   requests go through; the rest fail fast. If all probes succeed the
//!   breaker closes with a clean window; the first failed probe opens it
//!   again for another `open_duration`.
//!
//! # What counts as a failure
//!
//! Only errors whose [`Retryable::is_retryable`](otlp_core::Retryable) is
//! true: unavailable, overloaded, timed out, connection refused. A 400 or a
//! 401 means the endpoint is up and answering — opening the breaker on them
//! would stop healthy traffic because of one bad payload, and would never
//! heal, since the probes would fail the same way. Those count as successes.
//! Outcomes of calls admitted before a state change (a slow request that
//! finishes after the breaker opened) are ignored, so they cannot close a
//! breaker that just opened.
//!
//! # Composing with retries
//!
//! [`BreakerError::Open`] is retryable with `retry_after = retry_in`, so a
//! [`RetryLayer`](crate::retry::RetryLayer) *above* the breaker sleeps until
//! the breaker will let a probe through instead of spinning on fast
//! failures, and its budget and max elapsed time still bound the wait.
//!
//! The decision to admit is made in `poll_ready` and used by the next
//! `call`: a refused request still gets `Ready(Ok)` and then a future that
//! fails immediately, because in tower an error from `poll_ready` means the
//! service is broken for good (a `Buffer` would fail every later request).
//! The inner service is not polled for readiness while the breaker is open.

mod config;
mod error;
mod future;
mod layer;
mod state;

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use otlp_core::Retryable;
use tower::Service;

pub use config::{BreakerConfig, BreakerConfigBuilder, Window};
pub use error::{BreakerError, ConfigError};
pub use future::ResponseFuture;
pub use layer::BreakerLayer;

use state::{Permit, Shared};

/// Where a breaker is in its cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BreakerState {
    /// Requests flow normally.
    Closed,
    /// Requests fail fast.
    Open,
    /// A few probe requests are let through (or the open period is over and
    /// the next request will be a probe).
    HalfOpen,
}

/// A cheap, cloneable view of a breaker, for stats and health checks.
#[derive(Debug, Clone)]
pub struct BreakerHandle {
    shared: Arc<Shared>,
}

impl BreakerHandle {
    /// The current state.
    pub fn state(&self) -> BreakerState {
        self.shared.state()
    }

    /// Requests refused without being sent.
    pub fn rejected(&self) -> u64 {
        self.shared.rejected()
    }

    /// How many times the breaker opened (from closed or half-open).
    pub fn times_opened(&self) -> u64 {
        self.shared.times_opened()
    }
}

/// A service behind a circuit breaker; built by [`BreakerLayer`].
#[derive(Debug)]
pub struct Breaker<S> {
    inner: S,
    shared: Arc<Shared>,
    /// Admission decided by the last `poll_ready`, used by the next `call`.
    decision: Option<Result<Permit, Duration>>,
}

impl<S: Clone> Clone for Breaker<S> {
    fn clone(&self) -> Self {
        // A clone has not been polled ready: it must not share a permit.
        Self::from_shared(self.inner.clone(), Arc::clone(&self.shared))
    }
}

impl<S> Breaker<S> {
    /// Wraps `inner` in its own breaker. Use a [`BreakerLayer`] to share one
    /// breaker between several services.
    pub fn new(inner: S, config: BreakerConfig) -> Self {
        Self::from_shared(inner, Arc::new(Shared::new(config)))
    }

    fn from_shared(inner: S, shared: Arc<Shared>) -> Self {
        Self {
            inner,
            shared,
            decision: None,
        }
    }

    /// A handle to watch the breaker.
    pub fn handle(&self) -> BreakerHandle {
        BreakerHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, Req> Service<Req> for Breaker<S>
where
    S: Service<Req>,
    S::Error: Retryable,
{
    type Response = S::Response;
    type Error = BreakerError<S::Error>;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // A refusal is re-examined on every poll: the open period may be over.
        if !matches!(self.decision, Some(Ok(_))) {
            self.decision = Some(self.shared.admit());
        }
        if let Some(Err(_)) = self.decision {
            return Poll::Ready(Ok(()));
        }
        match self.inner.poll_ready(cx) {
            Poll::Ready(Err(error)) => {
                if let Some(Ok(permit)) = self.decision.take() {
                    permit.complete(error.is_retryable());
                }
                Poll::Ready(Err(BreakerError::Inner(error)))
            }
            other => other.map_err(BreakerError::Inner),
        }
    }

    fn call(&mut self, request: Req) -> Self::Future {
        // Without a prior `poll_ready` (a caller bug), decide now and leave
        // enforcing the readiness contract to the inner service.
        let decision = self.decision.take().unwrap_or_else(|| self.shared.admit());
        match decision {
            Ok(permit) => ResponseFuture::called(self.inner.call(request), permit),
            Err(retry_in) => ResponseFuture::rejected(retry_in),
        }
    }
}

#[cfg(test)]
mod tests;

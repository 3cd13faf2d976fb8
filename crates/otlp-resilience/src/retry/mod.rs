//! Retries with exponential backoff, server delay hints and a retry budget.
//!
//! [`RetryLayer`] wraps any [`tower::Service`] whose error implements
//! [`otlp_core::Retryable`]. A failed request is sent again only when the
//! error says it may succeed later ([`Retryable::is_retryable`]: gRPC
//! `UNAVAILABLE`, HTTP 429/502/503/504, a refused connection); a 400 or an
//! authentication failure is returned at once.
//!
//! # Why a budget and not a maximum number of retries
//!
//! A per-request limit ("retry up to 5 times") multiplies load exactly when
//! the backend can least take it: during an outage every request becomes
//! six, and clients that all failed at the same moment come back together.
//! A budget caps retries as a share of the traffic a layer actually sends:
//! every request deposits [`RetryPolicy::retry_ratio`] of a retry (20 % by
//! default), every retry withdraws one, plus a small reserve
//! ([`RetryPolicy::min_retries_per_second`]) so that a low-traffic exporter
//! still retries. During a full outage the endpoint therefore sees at most
//! about 1.2× the normal request rate, however many requests are in flight;
//! during a blip, when few requests fail, each of them may retry freely
//! until [`RetryPolicy::max_elapsed_time`]. A retry refused by an empty
//! budget returns the error and is counted in
//! [`RetryStats::gave_up_budget`]. The accounting follows Finagle's
//! `RetryBudget` and tower's `TpsBudget`, but reads the clock through
//! `tokio::time`, so tests with paused time are deterministic.
//!
//! # Delays
//!
//! The schedule is the Collector exporterhelper's (see [`RetryPolicy`]).
//! A delay the server asked for ([`Retryable::retry_after`], from
//! `Retry-After` or gRPC `RetryInfo`, or from an open
//! [circuit breaker](crate::breaker) below this layer) is a floor: the layer
//! waits at least that long, even beyond `max_interval`, but never past
//! `max_elapsed_time` — if the hint does not fit in the time left, it gives
//! up at once rather than sleeping only to fail. Waiting is a
//! `tokio::time::sleep`; no thread is ever blocked.
//!
//! # Scheduling attempts yourself
//!
//! [`Retrier`] makes the same decisions (same schedule, same budget, same
//! counters) for code that runs attempts itself instead of through the
//! layer: a delivery queue whose batches must let go of their send slot
//! while they wait, say. One of the two should own the retrying of a given
//! request; wrapping a service in the layer *and* retrying its errors with
//! a `Retrier` would retry twice and spend the budget twice.
//!
//! The layer needs `Req: Clone` (each attempt sends a clone; encoded
//! requests hold `Bytes`, so this is a reference-count bump) and
//! `S: Clone` (the future owns a handle to the service for its retries, as
//! in `tower::retry`).

mod budget;
mod error;
mod future;
mod layer;
mod policy;
mod retrier;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use otlp_core::Retryable;
use tokio::time::Instant;
use tower::Service;

pub use error::ConfigError;
pub use future::ResponseFuture;
pub use layer::RetryLayer;
pub use policy::{RetryPolicy, RetryPolicyBuilder};
pub use retrier::{Decision, GiveUp, Retrier};

use budget::Budget;

/// A service that retries failed requests; built by [`RetryLayer`].
#[derive(Debug, Clone)]
pub struct Retry<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> Retry<S> {
    /// Wraps `inner` with its own budget and counters. Use a [`RetryLayer`]
    /// to share them between several services.
    pub fn new(inner: S, policy: RetryPolicy) -> Self {
        Self::from_shared(inner, Arc::new(Shared::new(policy)))
    }

    fn from_shared(inner: S, shared: Arc<Shared>) -> Self {
        Self { inner, shared }
    }

    /// The counters shared with the layer this service came from.
    pub fn stats(&self) -> RetryStats {
        self.shared.stats.clone()
    }

    /// The policy in use.
    pub fn policy(&self) -> &RetryPolicy {
        &self.shared.policy
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

impl<S, Req> Service<Req> for Retry<S>
where
    S: Service<Req> + Clone,
    S::Error: Retryable,
    Req: Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S, Req>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        self.shared.record_request();
        // The ready service makes the first call; the clone left behind is
        // polled for readiness before the next request, as tower requires.
        let clone = self.inner.clone();
        let mut service = std::mem::replace(&mut self.inner, clone);
        let future = service.call(request.clone());
        ResponseFuture::new(future, service, request, Arc::clone(&self.shared))
    }
}

/// State shared by every service of one layer.
#[derive(Debug)]
pub(crate) struct Shared {
    policy: RetryPolicy,
    budget: Budget,
    stats: RetryStats,
}

impl Shared {
    fn new(policy: RetryPolicy) -> Self {
        Self {
            budget: Budget::new(&policy),
            policy,
            stats: RetryStats::default(),
        }
    }

    /// Records a first attempt: counted, and it earns the budget its share.
    fn record_request(&self) {
        self.budget.deposit();
        self.stats.inner.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// What to do after `error`: wait and retry, or give up (counted by
    /// reason).
    fn decide<E: Retryable>(&self, error: &E, started: Instant, retries: u32) -> Decision {
        let stats = &self.stats.inner;
        if !error.is_retryable() {
            stats.gave_up_permanent.fetch_add(1, Ordering::Relaxed);
            return Decision::GiveUp(GiveUp::Permanent);
        }
        let hint = error.retry_after();
        let delay = self.policy.delay(retries, fastrand::f64(), hint);
        let start_of_next = Instant::now()
            .saturating_duration_since(started)
            .saturating_add(delay);
        if start_of_next > self.policy.max_elapsed_time() {
            stats.gave_up_elapsed.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(
                retries,
                ?delay,
                "retry: max elapsed time reached, giving up"
            );
            return Decision::GiveUp(GiveUp::Elapsed { delay });
        }
        // Checked last so that requests which would give up anyway do not
        // spend budget other requests could use.
        if !self.budget.withdraw() {
            stats.gave_up_budget.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(retries, "retry: budget exhausted, giving up");
            return Decision::GiveUp(GiveUp::Budget { delay });
        }
        stats.retries.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(retry = retries + 1, ?delay, ?hint, "retry: backing off");
        Decision::Retry { delay }
    }
}

/// Counters of a [`RetryLayer`]; cheap to clone, all clones see the same
/// numbers. Every request that fails ends in exactly one of the `gave_up_*`
/// counters or eventually succeeds.
#[derive(Debug, Clone, Default)]
pub struct RetryStats {
    inner: Arc<StatsInner>,
}

#[derive(Debug, Default)]
struct StatsInner {
    requests: AtomicU64,
    retries: AtomicU64,
    gave_up_budget: AtomicU64,
    gave_up_elapsed: AtomicU64,
    gave_up_permanent: AtomicU64,
}

impl RetryStats {
    /// Requests received (first attempts only).
    pub fn requests(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    /// Retries started (attempts after the first).
    pub fn retries(&self) -> u64 {
        self.inner.retries.load(Ordering::Relaxed)
    }

    /// Retryable errors returned (or, through a [`Retrier`], retries put
    /// off) because the retry budget was empty.
    pub fn gave_up_budget(&self) -> u64 {
        self.inner.gave_up_budget.load(Ordering::Relaxed)
    }

    /// Retryable errors returned because the next attempt would have started
    /// after the max elapsed time.
    pub fn gave_up_elapsed(&self) -> u64 {
        self.inner.gave_up_elapsed.load(Ordering::Relaxed)
    }

    /// Errors returned at once because they are not retryable.
    pub fn gave_up_permanent(&self) -> u64 {
        self.inner.gave_up_permanent.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests;

//! [`Retrier`]: the retry layer's decisions, for code that schedules its
//! own attempts.

use std::sync::Arc;
use std::time::Duration;

use otlp_core::Retryable;
use tokio::time::Instant;

use super::{RetryLayer, RetryPolicy, RetryStats, Shared};

/// The decisions of a [`RetryLayer`] — the policy's schedule, the retry
/// budget and the counters — for a caller that makes each attempt itself
/// (see the [module documentation](super)).
///
/// ```
/// use std::time::Duration;
/// use otlp_resilience::retry::{Decision, GiveUp, Retrier, RetryPolicy};
/// # #[derive(Debug)] struct Unavailable;
/// # impl otlp_core::Retryable for Unavailable {
/// #     fn is_retryable(&self) -> bool { true }
/// #     fn retry_after(&self) -> Option<Duration> { Some(Duration::from_secs(3600)) }
/// # }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let retrier = Retrier::new(RetryPolicy::default());
/// let started = tokio::time::Instant::now();
/// retrier.record_request();
/// // The server asks for an hour; the policy allows five minutes in all.
/// let decision = retrier.decide(&Unavailable, started, 0);
/// assert!(matches!(decision, Decision::GiveUp(GiveUp::Elapsed { .. })));
/// assert_eq!(retrier.stats().gave_up_elapsed(), 1);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Retrier {
    shared: Arc<Shared>,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decision {
    /// Wait `delay`, then send again (a retry was taken from the budget).
    Retry {
        /// How long to wait: the backoff, at least the server's hint.
        delay: Duration,
    },
    /// Do not retry now, for the reason given.
    GiveUp(GiveUp),
}

/// Why a [`Retrier`] gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GiveUp {
    /// The error is not retryable.
    Permanent,
    /// The next attempt, `delay` from now, would start after the policy's
    /// maximum elapsed time (a server delay longer than the time left
    /// included).
    Elapsed {
        /// The delay that did not fit.
        delay: Duration,
    },
    /// The retry budget is spent; `delay` is what the retry would have
    /// waited.
    Budget {
        /// The delay the retry would have waited.
        delay: Duration,
    },
}

impl Retrier {
    /// Decisions by `policy`, with a fresh budget and counters.
    pub fn new(policy: RetryPolicy) -> Self {
        RetryLayer::new(policy).retrier()
    }

    pub(super) fn from_shared(shared: Arc<Shared>) -> Self {
        Retrier { shared }
    }

    /// Counts a first attempt; it earns the budget its share of a retry.
    /// Call it once per request, not per retry.
    pub fn record_request(&self) {
        self.shared.record_request();
    }

    /// What to do after `error`, for a request first sent at `started`
    /// that has been retried `retries` times. A [`Decision::Retry`] takes a
    /// retry from the budget and counts it; every give-up is counted by
    /// reason in [`stats`](Self::stats).
    pub fn decide<E: Retryable>(&self, error: &E, started: Instant, retries: u32) -> Decision {
        self.shared.decide(error, started, retries)
    }

    /// The policy in use.
    pub fn policy(&self) -> &RetryPolicy {
        &self.shared.policy
    }

    /// The counters.
    pub fn stats(&self) -> RetryStats {
        self.shared.stats.clone()
    }
}

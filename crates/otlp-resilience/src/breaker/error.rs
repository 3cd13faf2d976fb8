//! Errors of the circuit breaker.

use std::time::Duration;

use otlp_core::Retryable;

/// The error of a [`Breaker`](super::Breaker): either the breaker refused
/// the request, or the wrapped service failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BreakerError<E> {
    /// The breaker is open (the endpoint is failing) and the request was not
    /// sent. Retryable, with `retry_in` as the delay hint, so a retry layer
    /// above waits for the breaker instead of hammering it.
    #[error("circuit breaker is open; next attempt allowed in {retry_in:?}")]
    Open {
        /// Time until the breaker lets a probe through. Zero while it is
        /// half-open with every probe slot taken: the probes' outcome is due
        /// soon, so the caller's own backoff decides.
        retry_in: Duration,
    },
    /// The wrapped service failed.
    #[error(transparent)]
    Inner(E),
}

impl<E> BreakerError<E> {
    /// The wrapped service's error, if that is what this is.
    pub fn into_inner(self) -> Option<E> {
        match self {
            Self::Inner(error) => Some(error),
            Self::Open { .. } => None,
        }
    }

    /// Whether the breaker refused the request.
    pub fn is_open(&self) -> bool {
        matches!(self, Self::Open { .. })
    }
}

impl<E: Retryable> Retryable for BreakerError<E> {
    fn is_retryable(&self) -> bool {
        match self {
            Self::Open { .. } => true,
            Self::Inner(error) => error.is_retryable(),
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Open { retry_in } => Some(*retry_in),
            Self::Inner(error) => error.retry_after(),
        }
    }
}

/// A [`BreakerConfig`](super::BreakerConfig) setting that cannot work.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The failure ratio is outside `(0, 1]`.
    #[error("breaker failure ratio must be within (0, 1], got {0}")]
    InvalidFailureRatio(f64),
    /// A window of zero calls or zero time would never see a failure.
    #[error("breaker window must be non-empty")]
    EmptyWindow,
    /// `min_calls` is zero, or larger than a count window can hold (the
    /// breaker could never trip).
    #[error("breaker minimum calls must be within 1..={max}, got {min_calls}")]
    InvalidMinCalls {
        /// The configured minimum.
        min_calls: u32,
        /// The largest value that can work with the configured window.
        max: u32,
    },
    /// A zero open duration would not shed any load.
    #[error("breaker open duration must be greater than zero")]
    ZeroOpenDuration,
    /// At least one probe is needed to ever close again.
    #[error("breaker needs at least one half-open probe")]
    ZeroProbes,
}

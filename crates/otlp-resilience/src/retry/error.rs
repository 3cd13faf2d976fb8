//! Errors raised while configuring retries.
//!
//! Retrying itself adds no error of its own: when the layer gives up, the
//! caller gets the inner service's last error unchanged, so a delay hint or a
//! permanent-failure code still reaches whoever sits above.

use std::time::Duration;

/// A [`RetryPolicy`](super::RetryPolicy) setting that cannot work.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The first delay must be longer than zero, or retries would hammer the
    /// endpoint with no pause at all.
    #[error("retry initial interval must be greater than zero")]
    ZeroInitialInterval,
    /// The longest delay is shorter than the first one.
    #[error("retry max interval ({max:?}) is shorter than the initial interval ({initial:?})")]
    MaxIntervalBelowInitial {
        /// The configured initial interval.
        initial: Duration,
        /// The configured max interval.
        max: Duration,
    },
    /// The growth factor is below 1 or not a finite number.
    #[error("retry multiplier must be a finite number >= 1, got {0}")]
    InvalidMultiplier(f64),
    /// The randomization factor is outside `0.0..=1.0`.
    #[error("retry jitter (randomization factor) must be within 0..=1, got {0}")]
    InvalidJitter(f64),
    /// A zero max elapsed time would never allow a retry.
    #[error("retry max elapsed time must be greater than zero")]
    ZeroMaxElapsedTime,
    /// The budget's retry ratio is negative or not a finite number.
    #[error("retry budget ratio must be a finite number >= 0, got {0}")]
    InvalidRetryRatio(f64),
    /// The budget window is outside the supported 1 s ..= 60 s.
    #[error("retry budget window must be within 1s..=60s, got {0:?}")]
    InvalidBudgetWindow(Duration),
}

//! Backoff schedule and retry budget settings.

use std::time::Duration;

use super::ConfigError;

/// When and how often to retry a failed export.
///
/// The schedule follows the OpenTelemetry Collector's exporterhelper: the
/// `n`-th retry waits `initial_interval * multiplier^n`, capped at
/// `max_interval`, randomized by `± jitter` of itself, and never less than
/// the delay the server asked for. Retrying stops for good once the next
/// attempt would start later than `max_elapsed_time` after the first one.
///
/// How many retries happen at all is governed by the retry budget (see the
/// [module documentation](super)), not by a per-request count.
///
/// ```
/// use std::time::Duration;
/// use otlp_resilience::retry::RetryPolicy;
///
/// let policy = RetryPolicy::builder()
///     .with_initial_interval(Duration::from_millis(500))
///     .with_max_elapsed_time(Duration::from_secs(60))
///     .build()?;
/// assert_eq!(policy.max_interval(), Duration::from_secs(30));
/// # Ok::<(), otlp_resilience::retry::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    initial_interval: Duration,
    max_interval: Duration,
    multiplier: f64,
    jitter: f64,
    max_elapsed_time: Duration,
    retry_ratio: f64,
    min_retries_per_second: u32,
    budget_window: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            initial_interval: Duration::from_secs(1),
            max_interval: Duration::from_secs(30),
            multiplier: 1.5,
            jitter: 0.5,
            max_elapsed_time: Duration::from_secs(300),
            retry_ratio: 0.2,
            min_retries_per_second: 10,
            budget_window: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// Starts from the defaults: initial interval 1 s, multiplier 1.5,
    /// jitter 0.5, max interval 30 s, max elapsed time 5 min, and a budget of
    /// 20 % of requests plus 10 retries per second over a 10 s window.
    pub fn builder() -> RetryPolicyBuilder {
        RetryPolicyBuilder {
            policy: Self::default(),
        }
    }

    /// Delay before the first retry, before jitter.
    pub fn initial_interval(&self) -> Duration {
        self.initial_interval
    }

    /// Cap on the computed delay (a server hint may exceed it).
    pub fn max_interval(&self) -> Duration {
        self.max_interval
    }

    /// Growth factor of the delay from one retry to the next.
    pub fn multiplier(&self) -> f64 {
        self.multiplier
    }

    /// Randomization factor: each delay is drawn from
    /// `[d * (1 - jitter), d * (1 + jitter)]`, then capped at `max_interval`.
    pub fn jitter(&self) -> f64 {
        self.jitter
    }

    /// No attempt starts later than this after the first one.
    pub fn max_elapsed_time(&self) -> Duration {
        self.max_elapsed_time
    }

    /// Retries allowed per request, on top of the per-second floor (0.2: at
    /// most one retry for every five requests).
    pub fn retry_ratio(&self) -> f64 {
        self.retry_ratio
    }

    /// Retries always allowed per second, whatever the request rate, averaged
    /// over the budget window.
    pub fn min_retries_per_second(&self) -> u32 {
        self.min_retries_per_second
    }

    /// How long requests and retries are remembered by the budget.
    pub fn budget_window(&self) -> Duration {
        self.budget_window
    }

    /// The delay before the `retry`-th retry (0-based) before jitter and
    /// hints: `initial * multiplier^retry`, capped at `max_interval`.
    pub(crate) fn base_interval(&self, retry: u32) -> Duration {
        let exponent = i32::try_from(retry).unwrap_or(i32::MAX);
        let secs = self.initial_interval.as_secs_f64() * self.multiplier.powi(exponent);
        Duration::try_from_secs_f64(secs)
            .unwrap_or(self.max_interval)
            .min(self.max_interval)
    }

    /// The delay before the `retry`-th retry. `unit` is a random number in
    /// `0.0..1.0` that picks the point within the jitter range; `hint` is the
    /// server's requested delay, used as a floor.
    pub(crate) fn delay(&self, retry: u32, unit: f64, hint: Option<Duration>) -> Duration {
        let base = self.base_interval(retry).as_secs_f64();
        let spread = self.jitter * (2.0 * unit - 1.0);
        let jittered = Duration::try_from_secs_f64((base * (1.0 + spread)).max(0.0))
            .unwrap_or(self.max_interval)
            .min(self.max_interval);
        match hint {
            Some(hint) => jittered.max(hint),
            None => jittered,
        }
    }
}

/// Builds a validated [`RetryPolicy`]; see [`RetryPolicy::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct RetryPolicyBuilder {
    policy: RetryPolicy,
}

impl RetryPolicyBuilder {
    /// Delay before the first retry, before jitter. Must be above zero.
    pub fn with_initial_interval(mut self, interval: Duration) -> Self {
        self.policy.initial_interval = interval;
        self
    }

    /// Cap on the computed delay. Must be at least the initial interval.
    pub fn with_max_interval(mut self, interval: Duration) -> Self {
        self.policy.max_interval = interval;
        self
    }

    /// Growth factor from one delay to the next. Must be finite and `>= 1`.
    pub fn with_multiplier(mut self, multiplier: f64) -> Self {
        self.policy.multiplier = multiplier;
        self
    }

    /// Randomization factor within `0.0..=1.0`; 0 disables jitter. Jitter
    /// spreads the retries of many clients that failed at the same moment.
    pub fn with_jitter(mut self, jitter: f64) -> Self {
        self.policy.jitter = jitter;
        self
    }

    /// Give up when the next attempt would start later than this after the
    /// first one. Must be above zero.
    pub fn with_max_elapsed_time(mut self, max: Duration) -> Self {
        self.policy.max_elapsed_time = max;
        self
    }

    /// Retries the budget earns per request (finite, `>= 0`; 0.2 = 20 %).
    pub fn with_retry_ratio(mut self, ratio: f64) -> Self {
        self.policy.retry_ratio = ratio;
        self
    }

    /// Retries per second the budget always allows, even with no traffic.
    pub fn with_min_retries_per_second(mut self, per_second: u32) -> Self {
        self.policy.min_retries_per_second = per_second;
        self
    }

    /// How long the budget remembers requests and retries, 1 s ..= 60 s.
    pub fn with_budget_window(mut self, window: Duration) -> Self {
        self.policy.budget_window = window;
        self
    }

    /// Checks the settings and returns the policy.
    pub fn build(self) -> Result<RetryPolicy, ConfigError> {
        let p = self.policy;
        if p.initial_interval.is_zero() {
            return Err(ConfigError::ZeroInitialInterval);
        }
        if p.max_interval < p.initial_interval {
            return Err(ConfigError::MaxIntervalBelowInitial {
                initial: p.initial_interval,
                max: p.max_interval,
            });
        }
        if !p.multiplier.is_finite() || p.multiplier < 1.0 {
            return Err(ConfigError::InvalidMultiplier(p.multiplier));
        }
        if !(0.0..=1.0).contains(&p.jitter) {
            return Err(ConfigError::InvalidJitter(p.jitter));
        }
        if p.max_elapsed_time.is_zero() {
            return Err(ConfigError::ZeroMaxElapsedTime);
        }
        if !p.retry_ratio.is_finite() || p.retry_ratio < 0.0 {
            return Err(ConfigError::InvalidRetryRatio(p.retry_ratio));
        }
        if !(Duration::from_secs(1)..=Duration::from_secs(60)).contains(&p.budget_window) {
            return Err(ConfigError::InvalidBudgetWindow(p.budget_window));
        }
        Ok(p)
    }
}

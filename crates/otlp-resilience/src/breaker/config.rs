//! Circuit breaker settings.

use std::time::Duration;

use super::ConfigError;

/// Which recent outcomes the failure ratio is computed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Window {
    /// The last `n` calls, however old.
    LastCalls(u32),
    /// The calls that completed within this much time (tracked in ten
    /// buckets, so outcomes age out in steps of a tenth of the window).
    Time(Duration),
}

/// Settings of a circuit breaker; see the [module documentation](super).
///
/// ```
/// use std::time::Duration;
/// use otlp_resilience::breaker::{BreakerConfig, Window};
///
/// let config = BreakerConfig::builder()
///     .with_failure_ratio(0.5)
///     .with_window(Window::Time(Duration::from_secs(30)))
///     .with_min_calls(10)
///     .with_open_duration(Duration::from_secs(5))
///     .with_half_open_probes(2)
///     .build()?;
/// assert_eq!(config.half_open_probes(), 2);
/// # Ok::<(), otlp_resilience::breaker::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerConfig {
    failure_ratio: f64,
    window: Window,
    min_calls: u32,
    open_duration: Duration,
    half_open_probes: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_ratio: 0.5,
            window: Window::LastCalls(100),
            min_calls: 20,
            open_duration: Duration::from_secs(10),
            half_open_probes: 3,
        }
    }
}

impl BreakerConfig {
    /// Starts from the defaults: trip at 50 % failures over the last 100
    /// calls once at least 20 were seen, stay open 10 s, close after 3
    /// successful probes.
    pub fn builder() -> BreakerConfigBuilder {
        BreakerConfigBuilder {
            config: Self::default(),
        }
    }

    /// Share of retryable failures in the window at which the breaker opens.
    pub fn failure_ratio(&self) -> f64 {
        self.failure_ratio
    }

    /// The outcomes the ratio is computed over.
    pub fn window(&self) -> Window {
        self.window
    }

    /// Outcomes the window must hold before the breaker may open.
    pub fn min_calls(&self) -> u32 {
        self.min_calls
    }

    /// How long the breaker stays open before probing.
    pub fn open_duration(&self) -> Duration {
        self.open_duration
    }

    /// Probe requests let through when half-open; all must succeed to close.
    pub fn half_open_probes(&self) -> u32 {
        self.half_open_probes
    }
}

/// Builds a validated [`BreakerConfig`]; see [`BreakerConfig::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct BreakerConfigBuilder {
    config: BreakerConfig,
}

impl BreakerConfigBuilder {
    /// Failure share that opens the breaker, within `(0, 1]`.
    pub fn with_failure_ratio(mut self, ratio: f64) -> Self {
        self.config.failure_ratio = ratio;
        self
    }

    /// The outcomes the ratio is computed over.
    pub fn with_window(mut self, window: Window) -> Self {
        self.config.window = window;
        self
    }

    /// Outcomes needed before the breaker may open (at least 1, at most the
    /// size of a [`Window::LastCalls`] window), so that one early failure
    /// does not count as 100 %.
    pub fn with_min_calls(mut self, min_calls: u32) -> Self {
        self.config.min_calls = min_calls;
        self
    }

    /// How long to fail fast before probing again. Must be above zero.
    pub fn with_open_duration(mut self, duration: Duration) -> Self {
        self.config.open_duration = duration;
        self
    }

    /// Probe requests let through when half-open (at least 1).
    pub fn with_half_open_probes(mut self, probes: u32) -> Self {
        self.config.half_open_probes = probes;
        self
    }

    /// Checks the settings and returns the configuration.
    pub fn build(self) -> Result<BreakerConfig, ConfigError> {
        let c = self.config;
        if !(c.failure_ratio > 0.0 && c.failure_ratio <= 1.0) {
            return Err(ConfigError::InvalidFailureRatio(c.failure_ratio));
        }
        let max_min_calls = match c.window {
            Window::LastCalls(0) => return Err(ConfigError::EmptyWindow),
            Window::Time(d) if d.is_zero() => return Err(ConfigError::EmptyWindow),
            Window::LastCalls(n) => n,
            Window::Time(_) => u32::MAX,
        };
        if c.min_calls == 0 || c.min_calls > max_min_calls {
            return Err(ConfigError::InvalidMinCalls {
                min_calls: c.min_calls,
                max: max_min_calls,
            });
        }
        if c.open_duration.is_zero() {
            return Err(ConfigError::ZeroOpenDuration);
        }
        if c.half_open_probes == 0 {
            return Err(ConfigError::ZeroProbes);
        }
        Ok(c)
    }
}

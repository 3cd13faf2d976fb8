use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use otlp_core::Retryable;
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt};

use super::*;

#[derive(Debug, Clone, PartialEq)]
struct TestError {
    retryable: bool,
    hint: Option<Duration>,
}

const UNAVAILABLE: TestError = TestError {
    retryable: true,
    hint: None,
};
const BAD_REQUEST: TestError = TestError {
    retryable: false,
    hint: None,
};

impl Retryable for TestError {
    fn is_retryable(&self) -> bool {
        self.retryable
    }
    fn retry_after(&self) -> Option<Duration> {
        self.hint
    }
}

/// A service answering from a script (then succeeding), recording when each
/// call arrived.
#[derive(Clone, Default)]
struct Scripted {
    script: Arc<Mutex<VecDeque<Result<u32, TestError>>>>,
    calls: Arc<Mutex<Vec<Instant>>>,
}

impl Scripted {
    fn new(script: impl IntoIterator<Item = Result<u32, TestError>>) -> Self {
        Self {
            script: Arc::new(Mutex::new(script.into_iter().collect())),
            calls: Arc::default(),
        }
    }

    fn failing(error: TestError, times: usize) -> Self {
        Self::new(std::iter::repeat_n(Err(error), times))
    }

    /// Delays between consecutive calls.
    fn gaps(&self) -> Vec<Duration> {
        let calls = self.calls.lock().unwrap();
        calls.windows(2).map(|w| w[1] - w[0]).collect()
    }

    fn calls(&self) -> usize {
        self.calls.lock().unwrap().len()
    }
}

impl Service<u32> for Scripted {
    type Response = u32;
    type Error = TestError;
    type Future = std::future::Ready<Result<u32, TestError>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), TestError>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: u32) -> Self::Future {
        self.calls.lock().unwrap().push(Instant::now());
        let answer = self
            .script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Ok(request));
        std::future::ready(answer)
    }
}

fn no_jitter() -> RetryPolicyBuilder {
    RetryPolicy::builder()
        .with_initial_interval(Duration::from_secs(1))
        .with_multiplier(2.0)
        .with_max_interval(Duration::from_secs(10))
        .with_jitter(0.0)
        .with_max_elapsed_time(Duration::from_secs(600))
}

/// Retries every 10 ms, so budget tests stay within one budget window.
fn fast_retries() -> RetryPolicyBuilder {
    no_jitter()
        .with_initial_interval(Duration::from_millis(10))
        .with_multiplier(1.0)
}

fn secs(s: &[u64]) -> Vec<Duration> {
    s.iter().copied().map(Duration::from_secs).collect()
}

#[tokio::test(start_paused = true)]
async fn delays_grow_up_to_max_interval() {
    let inner = Scripted::failing(UNAVAILABLE, 6);
    let mut service = Retry::new(inner.clone(), no_jitter().build().unwrap());
    assert_eq!(service.ready().await.unwrap().call(7).await, Ok(7));
    assert_eq!(inner.gaps(), secs(&[1, 2, 4, 8, 10, 10]));
    assert_eq!(service.stats().retries(), 6);
    assert_eq!(service.stats().requests(), 1);
}

#[test]
fn jitter_stays_within_bounds() {
    let policy = RetryPolicy::builder()
        .with_initial_interval(Duration::from_secs(2))
        .with_multiplier(1.5)
        .with_jitter(0.5)
        .with_max_interval(Duration::from_secs(30))
        .build()
        .unwrap();
    for retry in 0..12 {
        let base = policy.base_interval(retry);
        let low = base.mul_f64(0.5);
        let high = base.mul_f64(1.5).min(Duration::from_secs(30));
        assert_eq!(policy.delay(retry, 0.0, None), low);
        assert_eq!(policy.delay(retry, 0.5, None), base);
        for _ in 0..200 {
            let delay = policy.delay(retry, fastrand::f64(), None);
            assert!(
                low <= delay && delay <= high,
                "{delay:?} outside {low:?}..={high:?}"
            );
        }
    }
    assert_eq!(policy.base_interval(u32::MAX), Duration::from_secs(30));
}

#[tokio::test(start_paused = true)]
async fn jittered_retries_wait_within_bounds() {
    let policy = no_jitter().with_jitter(0.5).build().unwrap();
    let inner = Scripted::failing(UNAVAILABLE, 5);
    let mut service = Retry::new(inner.clone(), policy.clone());
    service.ready().await.unwrap().call(1).await.unwrap();
    for (retry, gap) in inner.gaps().into_iter().enumerate() {
        let base = policy.base_interval(retry as u32);
        assert!(gap >= base.mul_f64(0.5) && gap <= base.mul_f64(1.5).min(policy.max_interval()));
    }
}

#[tokio::test(start_paused = true)]
async fn server_hint_is_a_floor() {
    let hinted = |s| TestError {
        retryable: true,
        hint: Some(Duration::from_secs(s)),
    };
    // 7 s beats the 1 s backoff (and the 10 s max interval does not cap a
    // hint of 12 s); a 1 s hint loses to the 4 s backoff.
    let inner = Scripted::new([Err(hinted(7)), Err(hinted(12)), Err(hinted(1))]);
    let mut service = Retry::new(inner.clone(), no_jitter().build().unwrap());
    service.ready().await.unwrap().call(1).await.unwrap();
    assert_eq!(inner.gaps(), secs(&[7, 12, 4]));
}

#[tokio::test(start_paused = true)]
async fn max_elapsed_time_is_respected() {
    let policy = no_jitter()
        .with_max_elapsed_time(Duration::from_secs(10))
        .build()
        .unwrap();
    let inner = Scripted::failing(UNAVAILABLE, 100);
    let mut service = Retry::new(inner.clone(), policy);
    let start = Instant::now();
    let result = service.ready().await.unwrap().call(1).await;
    assert_eq!(result, Err(UNAVAILABLE));
    // Attempts at 0, 1, 3, 7 s; the next would start at 15 s > 10 s.
    assert_eq!(inner.gaps(), secs(&[1, 2, 4]));
    assert_eq!(start.elapsed(), Duration::from_secs(7));
    assert_eq!(service.stats().gave_up_elapsed(), 1);
}

#[tokio::test(start_paused = true)]
async fn hint_beyond_remaining_time_gives_up_at_once() {
    let policy = no_jitter()
        .with_max_elapsed_time(Duration::from_secs(30))
        .build()
        .unwrap();
    let error = TestError {
        retryable: true,
        hint: Some(Duration::from_secs(31)),
    };
    let inner = Scripted::failing(error.clone(), 1);
    let mut service = Retry::new(inner.clone(), policy);
    let start = Instant::now();
    assert_eq!(service.ready().await.unwrap().call(1).await, Err(error));
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(inner.calls(), 1);
    assert_eq!(service.stats().gave_up_elapsed(), 1);
}

#[tokio::test(start_paused = true)]
async fn permanent_errors_are_not_retried() {
    let inner = Scripted::failing(BAD_REQUEST, 1);
    let mut service = Retry::new(inner.clone(), no_jitter().build().unwrap());
    assert_eq!(
        service.ready().await.unwrap().call(1).await,
        Err(BAD_REQUEST)
    );
    assert_eq!(inner.calls(), 1);
    let stats = service.stats();
    assert_eq!((stats.retries(), stats.gave_up_permanent()), (0, 1));
}

#[tokio::test(start_paused = true)]
async fn empty_budget_stops_retries() {
    // Reserve of exactly one retry per 1 s window, nothing earned by
    // requests; retries every 10 ms, well within the window.
    let policy = fast_retries()
        .with_retry_ratio(0.0)
        .with_min_retries_per_second(1)
        .with_budget_window(Duration::from_secs(1))
        .build()
        .unwrap();
    let inner = Scripted::failing(UNAVAILABLE, 100);
    let mut service = Retry::new(inner.clone(), policy);
    assert!(service.ready().await.unwrap().call(1).await.is_err());
    assert_eq!(inner.calls(), 2, "one retry, then the budget is empty");
    let stats = service.stats();
    assert_eq!((stats.retries(), stats.gave_up_budget()), (1, 1));

    // Once the window has passed, the reserve is back.
    tokio::time::advance(Duration::from_millis(1100)).await;
    assert!(service.ready().await.unwrap().call(2).await.is_err());
    assert_eq!(inner.calls(), 4);
    assert_eq!((stats.retries(), stats.gave_up_budget()), (2, 2));
}

#[tokio::test(start_paused = true)]
async fn requests_earn_retries_and_the_budget_is_shared_by_the_layer() {
    let policy = fast_retries()
        .with_retry_ratio(0.5)
        .with_min_retries_per_second(0)
        .build()
        .unwrap();
    let layer = RetryLayer::new(policy);
    let stats = layer.stats();
    let healthy = Scripted::default();
    let mut earner = layer.layer(healthy);
    for i in 0..10 {
        earner.ready().await.unwrap().call(i).await.unwrap();
    }
    // Ten requests at 50 % bought five retries, spent by another service of
    // the same layer (whose own request adds half a retry).
    let inner = Scripted::failing(UNAVAILABLE, 100);
    let mut spender = layer.layer(inner.clone());
    assert!(spender.ready().await.unwrap().call(1).await.is_err());
    assert_eq!(inner.calls(), 6);
    assert_eq!(
        (stats.requests(), stats.retries(), stats.gave_up_budget()),
        (11, 5, 1)
    );
}

#[tokio::test(start_paused = true)]
async fn concurrent_requests_share_one_budget() {
    let policy = no_jitter()
        .with_retry_ratio(0.2)
        .with_min_retries_per_second(0)
        .build()
        .unwrap();
    let inner = Scripted::failing(UNAVAILABLE, 1000);
    let service = Retry::new(inner.clone(), policy);
    let stats = service.stats();
    let calls = (0..100).map(|i| service.clone().oneshot(i));
    let results = futures_util::future::join_all(calls).await;
    assert!(results.iter().all(Result::is_err));
    // 100 requests earn 20 retries during a full outage, not 100 × N.
    assert_eq!(stats.retries(), 20);
    assert_eq!(inner.calls(), 120);
    assert_eq!(stats.gave_up_budget(), 100);
}

#[test]
fn invalid_settings_are_rejected() {
    let d = Duration::from_secs;
    let cases = [
        (
            RetryPolicy::builder().with_initial_interval(d(0)),
            ConfigError::ZeroInitialInterval,
        ),
        (
            RetryPolicy::builder().with_max_interval(Duration::from_millis(10)),
            ConfigError::MaxIntervalBelowInitial {
                initial: d(1),
                max: Duration::from_millis(10),
            },
        ),
        (
            RetryPolicy::builder().with_multiplier(0.5),
            ConfigError::InvalidMultiplier(0.5),
        ),
        (
            RetryPolicy::builder().with_jitter(1.5),
            ConfigError::InvalidJitter(1.5),
        ),
        (
            RetryPolicy::builder().with_max_elapsed_time(d(0)),
            ConfigError::ZeroMaxElapsedTime,
        ),
        (
            RetryPolicy::builder().with_retry_ratio(-1.0),
            ConfigError::InvalidRetryRatio(-1.0),
        ),
        (
            RetryPolicy::builder().with_budget_window(d(61)),
            ConfigError::InvalidBudgetWindow(d(61)),
        ),
    ];
    for (builder, expected) in cases {
        assert_eq!(builder.build(), Err(expected));
    }
    assert!(matches!(
        RetryPolicy::builder().with_multiplier(f64::NAN).build(),
        Err(ConfigError::InvalidMultiplier(_))
    ));
    assert_eq!(RetryPolicy::builder().build(), Ok(RetryPolicy::default()));
}

#[tokio::test(start_paused = true)]
async fn absurd_hint_gives_up_without_overflow() {
    let error = TestError {
        retryable: true,
        hint: Some(Duration::MAX),
    };
    let inner = Scripted::failing(error.clone(), 1);
    let mut service = Retry::new(inner, RetryPolicy::default());
    assert_eq!(service.ready().await.unwrap().call(1).await, Err(error));
    assert_eq!(service.stats().gave_up_elapsed(), 1);
}

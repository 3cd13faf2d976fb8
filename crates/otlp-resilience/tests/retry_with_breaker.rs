//! A retry layer above a circuit breaker: the breaker's `Open { retry_in }`
//! hint makes the retries wait for the breaker instead of hammering it, and
//! the endpoint only sees the probes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use otlp_core::Retryable;
use otlp_resilience::breaker::{BreakerConfig, BreakerLayer, BreakerState, Window};
use otlp_resilience::retry::{RetryLayer, RetryPolicy};
use tokio::time::Instant;
use tower::{ServiceBuilder, ServiceExt};

#[derive(Debug, Clone, PartialEq)]
struct Unavailable;

impl Retryable for Unavailable {
    fn is_retryable(&self) -> bool {
        true
    }
    fn retry_after(&self) -> Option<Duration> {
        None
    }
}

#[tokio::test(start_paused = true)]
async fn retries_wait_for_the_breaker() {
    let start = Instant::now();
    let up_at = start + Duration::from_secs(20);
    let calls = Arc::new(Mutex::new(Vec::new()));
    let endpoint = {
        let calls = Arc::clone(&calls);
        tower::service_fn(move |request: u32| {
            let now = Instant::now();
            calls
                .lock()
                .unwrap()
                .push(now.duration_since(start).as_secs());
            async move {
                if now >= up_at {
                    Ok(request)
                } else {
                    Err(Unavailable)
                }
            }
        })
    };

    let breaker = BreakerLayer::new(
        BreakerConfig::builder()
            .with_window(Window::LastCalls(10))
            .with_min_calls(3)
            .with_failure_ratio(0.5)
            .with_open_duration(Duration::from_secs(10))
            .with_half_open_probes(1)
            .build()
            .unwrap(),
    );
    let retry = RetryLayer::new(
        RetryPolicy::builder()
            .with_initial_interval(Duration::from_secs(1))
            .with_multiplier(1.0)
            .with_jitter(0.0)
            .with_max_elapsed_time(Duration::from_secs(60))
            .build()
            .unwrap(),
    );
    let (handle, stats) = (breaker.handle(), retry.stats());
    let service = ServiceBuilder::new()
        .layer(retry)
        .layer(breaker)
        .service(endpoint);

    assert_eq!(service.oneshot(7).await, Ok(7));
    assert_eq!(start.elapsed(), Duration::from_secs(22));
    // Three failures trip the breaker at 2 s; the retry at 3 s is refused
    // and sleeps the 9 s left; the probe at 12 s fails (open again until
    // 22 s); the retry at 13 s sleeps 9 s; the probe at 22 s succeeds.
    assert_eq!(*calls.lock().unwrap(), [0, 1, 2, 12, 22]);
    assert_eq!(handle.state(), BreakerState::Closed);
    assert_eq!((handle.rejected(), handle.times_opened()), (2, 2));
    assert_eq!(stats.retries(), 6);
}

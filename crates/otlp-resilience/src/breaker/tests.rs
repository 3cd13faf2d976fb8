use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use otlp_core::Retryable;
use tower::{Service, ServiceExt};

use super::*;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Answer {
    Ok,
    Unavailable,
    BadRequest,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct TestError(Answer);

impl Retryable for TestError {
    fn is_retryable(&self) -> bool {
        self.0 == Answer::Unavailable
    }
    fn retry_after(&self) -> Option<Duration> {
        None
    }
}

/// An endpoint whose answer (and latency) the test switches.
#[derive(Clone)]
struct Endpoint {
    answer: Arc<Mutex<(Answer, Duration)>>,
    calls: Arc<AtomicUsize>,
}

impl Endpoint {
    fn new(answer: Answer) -> Self {
        Self {
            answer: Arc::new(Mutex::new((answer, Duration::ZERO))),
            calls: Arc::default(),
        }
    }
    fn set(&self, answer: Answer) {
        self.answer.lock().unwrap().0 = answer;
    }
    fn set_latency(&self, latency: Duration) {
        self.answer.lock().unwrap().1 = latency;
    }
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Service<()> for Endpoint {
    type Response = ();
    type Error = TestError;
    type Future = Pin<Box<dyn Future<Output = Result<(), TestError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), TestError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, (): ()) -> Self::Future {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let (answer, latency) = *self.answer.lock().unwrap();
        Box::pin(async move {
            tokio::time::sleep(latency).await;
            match answer {
                Answer::Ok => Ok(()),
                other => Err(TestError(other)),
            }
        })
    }
}

fn config() -> BreakerConfig {
    BreakerConfig::builder()
        .with_window(Window::LastCalls(10))
        .with_min_calls(4)
        .with_failure_ratio(0.5)
        .with_open_duration(Duration::from_secs(5))
        .with_half_open_probes(2)
        .build()
        .unwrap()
}

async fn send(service: &mut Breaker<Endpoint>) -> Result<(), BreakerError<TestError>> {
    service.ready().await?.call(()).await
}

/// A breaker over a failing endpoint, tripped.
async fn tripped() -> (Breaker<Endpoint>, Endpoint) {
    let endpoint = Endpoint::new(Answer::Unavailable);
    let mut breaker = Breaker::new(endpoint.clone(), config());
    for _ in 0..4 {
        assert_eq!(
            send(&mut breaker).await,
            Err(BreakerError::Inner(TestError(Answer::Unavailable)))
        );
    }
    assert_eq!(breaker.handle().state(), BreakerState::Open);
    (breaker, endpoint)
}

#[tokio::test(start_paused = true)]
async fn opens_once_min_calls_reached_and_fails_fast() {
    let endpoint = Endpoint::new(Answer::Unavailable);
    let mut breaker = Breaker::new(endpoint.clone(), config());
    let handle = breaker.handle();
    for _ in 0..3 {
        send(&mut breaker).await.unwrap_err();
        assert_eq!(handle.state(), BreakerState::Closed, "below min_calls");
    }
    send(&mut breaker).await.unwrap_err();
    assert_eq!(handle.state(), BreakerState::Open);

    tokio::time::advance(Duration::from_secs(2)).await;
    let error = send(&mut breaker).await.unwrap_err();
    assert_eq!(
        error,
        BreakerError::Open {
            retry_in: Duration::from_secs(3)
        }
    );
    assert!(error.is_retryable());
    assert_eq!(error.retry_after(), Some(Duration::from_secs(3)));
    assert_eq!(
        endpoint.calls(),
        4,
        "no call reached the endpoint while open"
    );
    assert_eq!((handle.rejected(), handle.times_opened()), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn stays_closed_below_the_ratio() {
    let endpoint = Endpoint::new(Answer::Ok);
    let mut breaker = Breaker::new(endpoint.clone(), config());
    // 4 failures out of 10 in the window: 40 % < 50 %.
    for i in 0..30 {
        endpoint.set(if i % 5 >= 3 {
            Answer::Unavailable
        } else {
            Answer::Ok
        });
        let _ = send(&mut breaker).await;
        assert_eq!(breaker.handle().state(), BreakerState::Closed);
    }
}

#[tokio::test(start_paused = true)]
async fn permanent_errors_do_not_trip() {
    let endpoint = Endpoint::new(Answer::BadRequest);
    let mut breaker = Breaker::new(endpoint.clone(), config());
    for _ in 0..50 {
        let error = send(&mut breaker).await.unwrap_err();
        assert!(!error.is_retryable());
    }
    assert_eq!(breaker.handle().state(), BreakerState::Closed);
    assert_eq!(endpoint.calls(), 50);
}

#[tokio::test(start_paused = true)]
async fn half_open_probes_close_the_breaker() {
    let (breaker, endpoint) = tripped().await;
    let handle = breaker.handle();
    endpoint.set(Answer::Ok);
    tokio::time::advance(Duration::from_secs(5)).await;
    assert_eq!(handle.state(), BreakerState::HalfOpen);

    // Two probes hold the two slots; a third request is refused with a zero
    // hint (the probes' outcome is imminent).
    let (mut a, mut b, mut c) = (breaker.clone(), breaker.clone(), breaker.clone());
    a.ready().await.unwrap();
    b.ready().await.unwrap();
    let refused = c.ready().await.unwrap().call(()).await;
    assert_eq!(
        refused,
        Err(BreakerError::Open {
            retry_in: Duration::ZERO
        })
    );

    a.call(()).await.unwrap();
    assert_eq!(
        handle.state(),
        BreakerState::HalfOpen,
        "one probe is not enough"
    );
    b.call(()).await.unwrap();
    assert_eq!(handle.state(), BreakerState::Closed);
    assert_eq!(endpoint.calls(), 6);
}

#[tokio::test(start_paused = true)]
async fn failed_probe_opens_again() {
    let (mut breaker, endpoint) = tripped().await;
    tokio::time::advance(Duration::from_secs(5)).await;
    send(&mut breaker).await.unwrap_err();
    assert_eq!(endpoint.calls(), 5);
    assert_eq!(breaker.handle().state(), BreakerState::Open);
    assert_eq!(breaker.handle().times_opened(), 2);
    assert_eq!(
        send(&mut breaker).await,
        Err(BreakerError::Open {
            retry_in: Duration::from_secs(5)
        })
    );
}

#[tokio::test(start_paused = true)]
async fn abandoned_probe_frees_its_slot() {
    let (breaker, endpoint) = tripped().await;
    endpoint.set(Answer::Ok);
    tokio::time::advance(Duration::from_secs(5)).await;
    for _ in 0..5 {
        // Ready, then dropped without a call.
        let mut probe = breaker.clone();
        probe.ready().await.unwrap();
    }
    // Cancelled in flight.
    let mut probe = breaker.clone();
    probe.ready().await.unwrap();
    endpoint.set_latency(Duration::from_secs(1));
    drop(probe.call(()));
    endpoint.set_latency(Duration::ZERO);

    let mut breaker = breaker;
    send(&mut breaker).await.unwrap();
    send(&mut breaker).await.unwrap();
    assert_eq!(breaker.handle().state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn late_outcomes_from_before_a_transition_are_ignored() {
    let endpoint = Endpoint::new(Answer::Ok);
    let breaker = Breaker::new(endpoint.clone(), config());
    // A slow success admitted while closed...
    endpoint.set_latency(Duration::from_secs(10));
    let slow = tokio::spawn(breaker.clone().oneshot(()));
    tokio::task::yield_now().await;
    endpoint.set_latency(Duration::ZERO);
    // ...the breaker trips, goes half-open and admits one probe...
    endpoint.set(Answer::Unavailable);
    let mut breaker = breaker;
    for _ in 0..4 {
        send(&mut breaker).await.unwrap_err();
    }
    tokio::time::advance(Duration::from_secs(6)).await;
    endpoint.set(Answer::Ok);
    send(&mut breaker).await.unwrap();
    // ...then the slow success lands: it must not count as the second probe.
    tokio::time::advance(Duration::from_secs(5)).await;
    slow.await.unwrap().unwrap();
    assert_eq!(breaker.handle().state(), BreakerState::HalfOpen);
    send(&mut breaker).await.unwrap();
    assert_eq!(breaker.handle().state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn time_window_forgets_old_failures() {
    let config = BreakerConfig::builder()
        .with_window(Window::Time(Duration::from_secs(10)))
        .with_min_calls(3)
        .with_failure_ratio(1.0)
        .build()
        .unwrap();
    let endpoint = Endpoint::new(Answer::Unavailable);
    let mut breaker = Breaker::new(endpoint, config);
    send(&mut breaker).await.unwrap_err();
    send(&mut breaker).await.unwrap_err();
    tokio::time::advance(Duration::from_secs(11)).await;
    send(&mut breaker).await.unwrap_err();
    send(&mut breaker).await.unwrap_err();
    assert_eq!(
        breaker.handle().state(),
        BreakerState::Closed,
        "only 2 in the window"
    );
    send(&mut breaker).await.unwrap_err();
    assert_eq!(breaker.handle().state(), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn layer_shares_one_breaker() {
    use tower::Layer;
    let layer = BreakerLayer::new(config());
    let endpoint = Endpoint::new(Answer::Unavailable);
    let mut one = layer.layer(endpoint.clone());
    let mut two = layer.layer(endpoint.clone());
    for _ in 0..2 {
        send(&mut one).await.unwrap_err();
        send(&mut two).await.unwrap_err();
    }
    assert_eq!(layer.handle().state(), BreakerState::Open);
    assert!(send(&mut two).await.unwrap_err().is_open());
}

#[test]
fn invalid_settings_are_rejected() {
    let b = BreakerConfig::builder;
    assert_eq!(
        b().with_failure_ratio(0.0).build(),
        Err(ConfigError::InvalidFailureRatio(0.0))
    );
    assert!(b().with_failure_ratio(f64::NAN).build().is_err());
    assert_eq!(
        b().with_window(Window::LastCalls(0)).build(),
        Err(ConfigError::EmptyWindow)
    );
    assert_eq!(
        b().with_window(Window::Time(Duration::ZERO)).build(),
        Err(ConfigError::EmptyWindow)
    );
    assert_eq!(
        b().with_window(Window::LastCalls(5))
            .with_min_calls(6)
            .build(),
        Err(ConfigError::InvalidMinCalls {
            min_calls: 6,
            max: 5
        })
    );
    assert_eq!(
        b().with_open_duration(Duration::ZERO).build(),
        Err(ConfigError::ZeroOpenDuration)
    );
    assert_eq!(
        b().with_half_open_probes(0).build(),
        Err(ConfigError::ZeroProbes)
    );
    assert_eq!(b().build(), Ok(BreakerConfig::default()));
}

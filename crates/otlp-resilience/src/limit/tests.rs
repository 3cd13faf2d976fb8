use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tower::{service_fn, Layer};

#[derive(Default)]
struct Gauge {
    now: AtomicUsize,
    peak: AtomicUsize,
}

/// Ten one-second calls through a limit of three, on clones of two
/// services from the same layer: never more than three at once, and
/// every call completes.
#[tokio::test(start_paused = true)]
async fn no_more_calls_at_once_than_the_limit_across_services_and_clones() {
    let gauge = Arc::new(Gauge::default());
    let layer = ConcurrencyLimitLayer::new(3);
    let make = || {
        let gauge = Arc::clone(&gauge);
        layer.layer(service_fn(move |n: usize| {
            let gauge = Arc::clone(&gauge);
            async move {
                let now = gauge.now.fetch_add(1, Ordering::SeqCst) + 1;
                gauge.peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(1)).await;
                gauge.now.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, std::convert::Infallible>(n)
            }
        }))
    };
    let (a, b) = (make(), make());
    let calls: Vec<_> = (0..10)
        .map(|n| {
            let service = if n % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(service.oneshot(n))
        })
        .collect();
    for (n, call) in calls.into_iter().enumerate() {
        assert_eq!(call.await.unwrap().unwrap(), n);
    }
    assert_eq!(gauge.peak.load(Ordering::SeqCst), 3);
    assert_eq!(layer.in_use(), 0);
}

/// A slot is held only while a call runs: between calls, none is taken,
/// and a call that is dropped half-way gives its slot back.
#[tokio::test(start_paused = true)]
async fn slots_are_held_only_during_calls() {
    let layer = ConcurrencyLimitLayer::new(1);
    let service = layer.layer(service_fn(|()| async {
        tokio::time::sleep(Duration::from_secs(60)).await;
        Ok::<_, std::convert::Infallible>(())
    }));
    let ready = service.clone();
    assert_eq!(layer.in_use(), 0, "a ready service holds no slot");
    let first = tokio::spawn(service.clone().oneshot(()));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(layer.in_use(), 1);
    first.abort();
    let _ = first.await;
    assert_eq!(layer.in_use(), 0, "an abandoned call gives its slot back");
    ready.oneshot(()).await.unwrap();
    assert_eq!(layer.in_use(), 0);
}

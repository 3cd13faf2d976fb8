//! The client with several endpoints: spans routed by trace id, metrics
//! and logs by `service.name`, pushes spread over the ring, and the
//! figures of each endpoint.

use opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _};
use opentelemetry::trace::Tracer as _;
use otlp::transport::receiver::{ReceivedRequest, Receiver, Reply, RunningReceiver};
use otlp::{EnhancedOtlpClient, HealthCheck, Protocol, Signal, TelemetryData};
use std::sync::{Arc, Mutex};

type Seen = Arc<Mutex<Vec<Signal>>>;

fn start(rt: &tokio::runtime::Runtime) -> (RunningReceiver, Seen) {
    let seen = Seen::default();
    let log = Arc::clone(&seen);
    let receiver = rt.block_on(async move {
        Receiver::builder()
            .with_grpc_addr("127.0.0.1:0".parse().unwrap())
            .serve(move |req: ReceivedRequest| {
                log.lock().unwrap().push(req.request.signal());
                async { Reply::Accept }
            })
            .await
            .unwrap()
    });
    (receiver, seen)
}

#[test]
fn the_client_routes_every_signal_over_several_endpoints() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (a, seen_a) = start(&rt);
    let (b, seen_b) = start(&rt);
    let endpoints =
        [a.grpc_addr().unwrap(), b.grpc_addr().unwrap()].map(|addr| format!("http://{addr}"));
    let client = EnhancedOtlpClient::builder()
        .with_endpoints(endpoints.clone())
        .with_protocol(Protocol::Grpc)
        .with_service_name("checkout")
        .with_health_check(HealthCheck::grpc())
        .build()
        .unwrap();
    let tracer = client.tracer("endpoints");
    for i in 0..200 {
        tracer.in_span(format!("op {i}"), |_| {});
    }
    client
        .meter("endpoints")
        .u64_counter("orders")
        .build()
        .add(1, &[]);
    let logger = client.logger_provider().logger("endpoints");
    let mut record = logger.create_log_record();
    record.set_body("hello".into());
    logger.emit(record);
    for i in 0..4 {
        let pushed = rt
            .block_on(client.send_batch(vec![TelemetryData::span(format!("pushed {i}")).build()]));
        pushed.unwrap();
    }
    client.shutdown().unwrap();

    let traces = client.exporter_stats(Signal::Traces).unwrap();
    let per_endpoint = traces.endpoints();
    assert_eq!(
        per_endpoint
            .iter()
            .map(|e| e.endpoint.clone())
            .collect::<Vec<_>>(),
        endpoints.to_vec()
    );
    assert!(
        per_endpoint.iter().all(|e| e.stats.items_exported > 0),
        "{per_endpoint:?}"
    );
    assert_eq!(traces.snapshot().items_exported, 200);
    // Metrics and logs of one service go to one endpoint.
    let count = |seen: &Seen, signal| {
        seen.lock()
            .unwrap()
            .iter()
            .filter(|s| **s == signal)
            .count()
    };
    for signal in [Signal::Metrics, Signal::Logs] {
        let (at_a, at_b) = (count(&seen_a, signal), count(&seen_b, signal));
        assert!(
            at_a + at_b > 0 && (at_a == 0 || at_b == 0),
            "{signal}: {at_a} and {at_b}"
        );
    }
    // Four pushes, in turn over the two endpoints.
    let pushed = client.push_stats(Signal::Traces).unwrap();
    assert_eq!(pushed.snapshot().items_exported, 4);
    assert!(pushed
        .endpoints()
        .iter()
        .all(|e| e.stats.items_exported == 2));
    rt.block_on(async {
        a.shutdown().await;
        b.shutdown().await;
    });
}

//! The client's `stats()` against what a receiver counted: items per signal,
//! requests, and the bytes on the wire, for the SDK path and the push API,
//! over every protocol.

use opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::trace::Tracer as _;
use opentelemetry::KeyValue;
use otlp::core::Retryable as _;
use otlp::transport::receiver::{ReceivedRequest, Receiver, Reply, RunningReceiver};
use otlp::{Compression, EnhancedOtlpClient, Protocol, PushError, Signal, TelemetryData};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the receiver saw of one signal.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Seen {
    items: u64,
    requests: u64,
    /// Request bodies as received (over gRPC with the 5-byte prefix).
    wire_bytes: u64,
}

type Counts = Arc<Mutex<[Seen; 3]>>;

fn index(signal: Signal) -> usize {
    Signal::STABLE.iter().position(|s| *s == signal).unwrap()
}

/// A receiver on both protocols that counts what arrives and answers with
/// `reply(signal)`.
fn start(rt: &tokio::runtime::Runtime, reply: fn(Signal) -> Reply) -> (RunningReceiver, Counts) {
    let counts = Counts::default();
    let seen = Arc::clone(&counts);
    let receiver = rt.block_on(async move {
        Receiver::builder()
            .with_grpc_addr("127.0.0.1:0".parse().unwrap())
            .with_http_addr("127.0.0.1:0".parse().unwrap())
            .serve(move |req: ReceivedRequest| {
                let seen = Arc::clone(&seen);
                async move {
                    let signal = req.request.signal();
                    let mut seen = seen.lock().unwrap();
                    let s = &mut seen[index(signal)];
                    s.items += req.request.item_count() as u64;
                    s.requests += 1;
                    s.wire_bytes += req.wire_bytes as u64;
                    reply(signal)
                }
            })
            .await
            .unwrap()
    });
    (receiver, counts)
}

fn endpoint(receiver: &RunningReceiver, protocol: Protocol) -> String {
    match protocol {
        Protocol::Grpc => format!("http://{}", receiver.grpc_addr().unwrap()),
        _ => format!("http://{}", receiver.http_addr().unwrap()),
    }
}

fn client(
    receiver: &RunningReceiver,
    protocol: Protocol,
    compression: Compression,
) -> EnhancedOtlpClient {
    EnhancedOtlpClient::builder()
        .with_endpoint(endpoint(receiver, protocol))
        .with_service_name("stats-test")
        .with_protocol(protocol)
        .with_compression(compression)
        // Only the export at shutdown, so the data points are counted once.
        .with_metric_export_interval(Duration::from_secs(3600))
        .build()
        .unwrap()
}

const SPANS: u64 = 25;
const LOGS: u64 = 7;
/// Two counter series and one histogram.
const POINTS: u64 = 3;

/// Emits `SPANS` spans, `POINTS` data points and `LOGS` log records through
/// the SDK.
fn emit(client: &EnhancedOtlpClient) {
    let tracer = client.tracer("stats");
    for i in 0..SPANS {
        tracer.in_span(format!("op {i}"), |_cx| {});
    }
    let meter = client.meter("stats");
    let counter = meter.u64_counter("requests").build();
    counter.add(1, &[KeyValue::new("route", "/a")]);
    counter.add(2, &[KeyValue::new("route", "/b")]);
    meter.f64_histogram("latency").build().record(1.5, &[]);
    let logger = client.logger_provider().logger("stats");
    for i in 0..LOGS {
        let mut record = logger.create_log_record();
        record.set_severity_number(Severity::Info);
        record.set_body(format!("line {i}").into());
        logger.emit(record);
    }
}

/// Two spans, one data point and three log records, in one batch.
fn pushed_batch() -> Vec<TelemetryData> {
    vec![
        TelemetryData::span("pushed a").build(),
        TelemetryData::log("pushed 1").build(),
        TelemetryData::metric("pushed.gauge").gauge(1.0),
        TelemetryData::span("pushed b").build(),
        TelemetryData::log("pushed 2").build(),
        TelemetryData::log("pushed 3").build(),
    ]
}

#[test]
fn stats_match_what_the_receiver_counted() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    // With SRT, the byte counters count the bodies the receiver accepted
    // (OTLP + zstd first, SRT frames once the receiver offered SRT).
    let mut cases = vec![
        (Protocol::Grpc, Compression::gzip()),
        (Protocol::HttpProtobuf, Compression::gzip()),
        (Protocol::HttpJson, Compression::gzip()),
    ];
    if cfg!(feature = "srt") {
        cases.extend([
            (Protocol::Grpc, Compression::srt()),
            (Protocol::HttpProtobuf, Compression::srt()),
        ]);
    }
    for (protocol, compression) in cases {
        let (receiver, counts) = start(&rt, |_| Reply::Accept);
        let client = client(&receiver, protocol, compression);
        emit(&client);
        let pushed = rt.block_on(client.send_batch(pushed_batch())).unwrap();
        assert_eq!((pushed.accepted, pushed.rejected), (6, 0), "{protocol}");
        let one = rt
            .block_on(
                client
                    .send_trace("pushed c")
                    .with_attribute("k", 1)
                    .finish(),
            )
            .unwrap();
        assert_eq!(one.accepted, 1);
        client.shutdown().unwrap();

        let stats = client.stats();
        let seen = *counts.lock().unwrap();
        let expected_items = [SPANS + 3, POINTS + 1, LOGS + 3];
        let prefix = match protocol {
            Protocol::Grpc => 5,
            _ => 0,
        };
        for signal in Signal::STABLE {
            let sdk = stats.signal(signal).unwrap();
            let push = stats.pushed.signal(signal).unwrap();
            let seen = seen[index(signal)];
            let what = format!("{protocol} {compression} {signal}: {sdk:?} {push:?} {seen:?}");
            assert_eq!(seen.items, expected_items[index(signal)], "{what}");
            assert_eq!(
                sdk.items_exported + push.items_exported,
                seen.items,
                "{what}"
            );
            assert_eq!(sdk.requests + push.requests, seen.requests, "{what}");
            assert_eq!(
                sdk.bytes_sent + push.bytes_sent + prefix * seen.requests,
                seen.wire_bytes,
                "{what}"
            );
            assert_eq!((sdk.export_errors, push.export_errors), (0, 0), "{what}");
            assert_eq!(sdk.dropped.total(), 0, "{what}");
            assert_eq!(push.dropped.total(), 0, "{what}");
            assert_eq!(push.items_accepted, push.items_exported, "{what}");
            // Compressed: the bodies are smaller than the encoded requests
            // (the pushes' requests of one or two records are too small for
            // SRT's and zstd's headers to pay).
            assert!(sdk.bytes_sent < sdk.bytes_uncompressed, "{what}");
            if compression == Compression::gzip() {
                assert!(push.bytes_sent < push.bytes_uncompressed, "{what}");
            }
        }
        assert_eq!(stats.traces.items_exported, SPANS);
        assert_eq!(stats.metrics.items_exported, POINTS);
        assert_eq!(stats.logs.items_exported, LOGS);
        assert_eq!(stats.pushed.traces.items_exported, 3);
        assert_eq!(stats.pushed.traces.requests, 2);
        assert_eq!(stats.pushed.metrics.items_exported, 1);
        assert_eq!(stats.pushed.logs.items_exported, 3);

        // After shutdown the push API refuses, and counts nothing.
        let err = rt.block_on(client.send_batch(pushed_batch())).unwrap_err();
        assert!(matches!(err, PushError::ShutDown), "{err}");
        assert_eq!(client.stats(), stats);
        rt.block_on(receiver.shutdown());
    }
}

#[test]
fn rejections_and_failures_are_counted() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (receiver, counts) = start(&rt, |signal| match signal {
        Signal::Traces => Reply::partial_success(1, "one span too old"),
        Signal::Logs => Reply::invalid_argument("logs are not wanted here"),
        _ => Reply::Accept,
    });
    let client = client(&receiver, Protocol::HttpProtobuf, Compression::gzip());
    emit(&client);
    let pushed = rt
        .block_on(client.send_batch(vec![TelemetryData::span("pushed").build()]))
        .unwrap();
    assert_eq!((pushed.accepted, pushed.rejected), (0, 1));
    let err = rt
        .block_on(client.send_log("refused").finish())
        .unwrap_err();
    assert!(
        matches!(
            err,
            PushError::Export {
                signal: Signal::Logs,
                items: 1,
                ..
            }
        ),
        "{err}"
    );
    assert!(!err.is_retryable(), "{err}");
    // Shutting down reports what was dropped: the refused logs, the span
    // rejected by the receiver; nothing else may fail.
    if let Err(err) = client.shutdown() {
        assert!(
            err.failures
                .iter()
                .all(|(s, _)| matches!(s, Signal::Logs | Signal::Traces)),
            "{err}"
        );
    }

    let stats = client.stats();
    let seen = *counts.lock().unwrap();
    assert_eq!(seen[index(Signal::Logs)].items, LOGS + 1);
    assert_eq!(stats.logs.items_exported, 0);
    assert_eq!(stats.logs.dropped.export_failed, LOGS);
    assert!(stats.logs.export_errors >= 1, "{:?}", stats.logs);
    assert_eq!(stats.pushed.logs.dropped.returned, 1);
    assert_eq!(stats.pushed.logs.export_errors, 1);
    let last = stats.pushed.logs.last_error.as_ref().unwrap();
    assert!(last.message.contains("logs are not wanted"), "{last:?}");

    assert_eq!(
        stats.traces.requests,
        seen[index(Signal::Traces)].requests - 1
    );
    assert_eq!(
        stats.traces.dropped.rejected_by_receiver,
        stats.traces.requests
    );
    assert_eq!(
        stats.traces.items_exported,
        SPANS - stats.traces.requests,
        "{:?}",
        stats.traces
    );
    assert_eq!(stats.pushed.traces.dropped.rejected_by_receiver, 1);
    assert_eq!(stats.metrics.items_exported, POINTS);
    rt.block_on(receiver.shutdown());
}

//! Our exporters, driven by the real SDK, against our receiver: every
//! protocol and compression, all three signals. The traces that arrive are
//! compared message for message with what opentelemetry-proto's transform
//! makes of the same spans (captured by an in-memory exporter).

use opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{Link, SpanKind, TraceId};
use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{
    InMemorySpanExporter, SamplingDecision, SamplingResult, SdkTracerProvider, ShouldSample,
};
use opentelemetry_sdk::Resource;
use otlp_core::proto::collector::trace::v1::ExportTraceServiceRequest;
use otlp_core::proto::common::v1::any_value::Value as PValue;
use otlp_core::proto::metrics::v1::metric::Data;
use otlp_core::ExportRequest;
use otlp_exporter::{
    Algorithm, Compression, ExporterBuilder, OtlpLogExporter, OtlpMetricExporter, OtlpSpanExporter,
    OtlpSpanProcessor, Overflow, Protocol,
};
use otlp_transport::receiver::{ReceivedRequest, Receiver, ReceiverProtocol, RunningReceiver};
use std::time::Duration;
use tokio::sync::mpsc;

struct Harness {
    rt: tokio::runtime::Runtime,
    receiver: Option<RunningReceiver>,
    rx: mpsc::Receiver<ReceivedRequest>,
}

impl Harness {
    fn start() -> Harness {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let (receiver, rx) = rt.block_on(async {
            Receiver::builder()
                .with_grpc_addr("127.0.0.1:0".parse().unwrap())
                .with_http_addr("127.0.0.1:0".parse().unwrap())
                .serve_channel(64)
                .await
                .unwrap()
        });
        Harness {
            rt,
            receiver: Some(receiver),
            rx,
        }
    }

    fn endpoint(&self, protocol: Protocol) -> String {
        let r = self.receiver.as_ref().unwrap();
        match protocol {
            Protocol::Grpc => format!("http://{}", r.grpc_addr().unwrap()),
            _ => format!("http://{}", r.http_addr().unwrap()),
        }
    }

    /// `builder` sending to this receiver with `protocol` and `compression`.
    fn aim<E>(
        &self,
        builder: ExporterBuilder<E>,
        protocol: Protocol,
        compression: Compression,
    ) -> ExporterBuilder<E> {
        builder
            .with_endpoint(self.endpoint(protocol))
            .with_protocol(protocol)
            .with_compression(compression)
    }

    fn next(&mut self) -> ReceivedRequest {
        let rx = &mut self.rx;
        self.rt
            .block_on(async { tokio::time::timeout(Duration::from_secs(10), rx.recv()).await })
            .expect("a request within 10 s")
            .expect("receiver running")
    }

    fn assert_idle(&mut self) {
        assert!(self.rx.try_recv().is_err(), "unexpected extra request");
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(r) = self.receiver.take() {
            self.rt.block_on(r.shutdown());
        }
    }
}

fn combos() -> Vec<(Protocol, Compression)> {
    let mut v = Vec::new();
    for c in [
        Compression::none(),
        Compression::gzip(),
        Compression::zstd(),
    ] {
        v.push((Protocol::Grpc, c));
    }
    for p in [Protocol::HttpProtobuf, Protocol::HttpJson] {
        for c in [
            Compression::none(),
            Compression::gzip(),
            Compression::zstd(),
            Compression::brotli(),
        ] {
            v.push((p, c));
        }
    }
    v
}

fn resource() -> Resource {
    Resource::builder_empty()
        .with_service_name("roundtrip")
        .with_attributes([KeyValue::new("deployment.environment.name", "test")])
        .build()
}

fn check_arrival(req: &ReceivedRequest, protocol: Protocol, compression: Compression) {
    let transport = if protocol == Protocol::Grpc {
        ReceiverProtocol::Grpc
    } else {
        ReceiverProtocol::Http
    };
    assert_eq!(req.transport, transport);
    assert_eq!(req.format, protocol.format());
    assert_eq!(req.compression, compression.algorithm());
    if compression.algorithm() != Algorithm::None {
        assert!(
            req.wire_bytes < req.decoded_bytes,
            "{protocol} {compression}"
        );
    }
}

#[test]
fn traces_arrive_exactly() {
    let mut h = Harness::start();
    for (protocol, compression) in combos() {
        let exporter = h
            .aim(OtlpSpanExporter::builder(), protocol, compression)
            .build()
            .unwrap();
        let stats = exporter.stats();
        let flush = exporter.flush_handle();
        let memory = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_resource(resource())
            .with_batch_exporter(exporter)
            .with_simple_exporter(memory.clone())
            .build();
        let tracer = provider.tracer("roundtrip-test");
        for i in 0..20_i64 {
            let mut span = tracer.start(format!("op-{i}"));
            span.set_attribute(KeyValue::new("i", i));
            span.set_attribute(KeyValue::new("text", "ünïcödé \"quoted\""));
            span.set_attribute(KeyValue::new("ratio", 0.25));
            span.add_event("evt", vec![KeyValue::new("ok", true)]);
            span.end();
        }
        provider.force_flush().unwrap();
        let req = h.next();
        check_arrival(&req, protocol, compression);
        let ExportRequest::Traces(got) = req.request else {
            panic!("not traces")
        };
        let spans = memory.get_finished_spans().unwrap();
        assert_eq!(spans.len(), 20);
        let expected = ExportTraceServiceRequest {
            resource_spans: group_spans_by_resource_and_scope(
                spans,
                &ResourceAttributesWithSchema::from(&resource()),
            ),
        };
        let sorted = |mut r: ExportTraceServiceRequest| {
            for rs in &mut r.resource_spans {
                if let Some(res) = &mut rs.resource {
                    res.attributes.sort_by(|a, b| a.key.cmp(&b.key));
                }
            }
            r
        };
        assert_eq!(sorted(got), sorted(expected), "{protocol} {compression}");
        // The SDK's flush returns once the batch is queued; ours waits for
        // the answer.
        flush.flush(Duration::from_secs(10)).unwrap();
        let snap = stats.snapshot();
        assert_eq!(
            (snap.items_exported, snap.requests, snap.export_errors),
            (20, 1, 0)
        );
        assert_eq!((snap.items_accepted, snap.queued_items), (20, 0));
        // Over gRPC the receiver counts the 5-byte message prefix too.
        let prefix = if protocol == Protocol::Grpc { 5 } else { 0 };
        assert_eq!(snap.bytes_sent, (req.wire_bytes - prefix) as u64);
        assert_eq!(snap.bytes_uncompressed, req.decoded_bytes as u64);
        assert!(snap.max_latency >= snap.mean_latency && snap.mean_latency > Duration::ZERO);
        provider.shutdown().unwrap();
        h.assert_idle();
    }
}

/// Samples (records) every span but leaves those named `unsampled*`
/// unsampled, so they reach processors without being exportable.
#[derive(Debug, Clone)]
struct RecordOnlySome;

impl ShouldSample for RecordOnlySome {
    fn should_sample(
        &self,
        _: Option<&opentelemetry::Context>,
        _: TraceId,
        name: &str,
        _: &SpanKind,
        _: &[KeyValue],
        _: &[Link],
    ) -> SamplingResult {
        SamplingResult {
            decision: if name.starts_with("unsampled") {
                SamplingDecision::RecordOnly
            } else {
                SamplingDecision::RecordAndSample
            },
            attributes: Vec::new(),
            trace_state: Default::default(),
        }
    }
}

/// Spans of a request, flattened to (scope name, span), sorted by name.
fn flat_spans(r: ExportTraceServiceRequest) -> Vec<(String, otlp_core::proto::trace::v1::Span)> {
    let mut v: Vec<_> = r
        .resource_spans
        .into_iter()
        .flat_map(|rs| rs.scope_spans)
        .flat_map(|ss| {
            let scope = ss.scope.map(|s| s.name).unwrap_or_default();
            ss.spans.into_iter().map(move |s| (scope.clone(), s))
        })
        .collect();
    v.sort_by(|a, b| a.1.name.cmp(&b.1.name));
    v
}

#[test]
fn processor_traces_arrive_exactly() {
    let mut h = Harness::start();
    for (protocol, compression) in combos() {
        let processor = h
            .aim(OtlpSpanProcessor::builder(), protocol, compression)
            .with_max_batch_size(8)
            .build()
            .unwrap();
        let stats = processor.stats();
        let memory = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_resource(resource())
            .with_sampler(RecordOnlySome)
            .with_span_processor(processor)
            .with_simple_exporter(memory.clone())
            .build();
        let tracers = [provider.tracer("scope-a"), provider.tracer("scope-b")];
        for i in 0..20_i64 {
            let mut span = tracers[(i % 3 % 2) as usize].start(format!("op-{i:02}"));
            span.set_attribute(KeyValue::new("i", i));
            span.add_event("evt", vec![KeyValue::new("ok", true)]);
            span.end();
            if i == 10 {
                tracers[0].start("unsampled").end();
            }
        }
        provider.force_flush().unwrap();
        // Two full batches of 8, then the 4 left by the flush.
        let mut got = Vec::new();
        let mut sizes = Vec::new();
        for _ in 0..3 {
            let req = h.next();
            check_arrival(&req, protocol, compression);
            sizes.push(req.request.item_count());
            let ExportRequest::Traces(r) = req.request else {
                panic!("not traces")
            };
            got.extend(flat_spans(r));
        }
        sizes.sort_unstable();
        assert_eq!(sizes, [4, 8, 8], "{protocol} {compression}");
        got.sort_by(|a, b| a.1.name.cmp(&b.1.name));
        let spans = memory.get_finished_spans().unwrap();
        assert_eq!(spans.len(), 20, "the unsampled span is not exported");
        let expected = flat_spans(ExportTraceServiceRequest {
            resource_spans: group_spans_by_resource_and_scope(
                spans,
                &ResourceAttributesWithSchema::from(&resource()),
            ),
        });
        assert_eq!(got, expected, "{protocol} {compression}");
        let snap = stats.snapshot();
        assert_eq!(
            (snap.items_accepted, snap.items_exported, snap.requests),
            (20, 20, 3)
        );
        provider.shutdown().unwrap();
        h.assert_idle();
    }
}

#[test]
fn processor_sends_a_partial_batch_after_the_delay() {
    let mut h = Harness::start();
    let processor = OtlpSpanProcessor::builder()
        .with_endpoint(h.endpoint(Protocol::Grpc))
        .with_protocol(Protocol::Grpc)
        .with_scheduled_delay(Duration::from_millis(200))
        .build()
        .unwrap();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .build();
    let tracer = provider.tracer("scheduled");
    for i in 0..3 {
        tracer.start(format!("op-{i}")).end();
    }
    // No flush: the timer sends the three.
    assert_eq!(h.next().request.item_count(), 3);
    provider.shutdown().unwrap();
    h.assert_idle();
}

/// Spans ended on many threads fill separate batches; every span arrives
/// once, no request is larger than the batch size, and what a flush finds
/// in several partly filled batches goes out merged in one request.
#[test]
fn processor_batches_spans_of_many_threads() {
    let mut h = Harness::start();
    let processor = OtlpSpanProcessor::builder()
        .with_endpoint(h.endpoint(Protocol::Grpc))
        .with_protocol(Protocol::Grpc)
        .with_max_batch_size(64)
        .build()
        .unwrap();
    let stats = processor.stats();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .build();
    let end_on_threads = |threads: usize, per_thread: usize, tag: &str| {
        std::thread::scope(|scope| {
            for t in 0..threads {
                let tracer = provider.tracer("threads");
                scope.spawn(move || {
                    for i in 0..per_thread {
                        tracer.start(format!("{tag}-{t}-{i}")).end();
                    }
                });
            }
        });
        provider.force_flush().unwrap();
    };
    // Fewer spans per thread than a batch holds, on more threads than
    // there are batches: one request.
    end_on_threads(8, 5, "small");
    let req = h.next();
    assert_eq!(req.request.item_count(), 40);
    h.assert_idle();
    // Many full batches.
    end_on_threads(8, 100, "many");
    let mut names = std::collections::BTreeSet::new();
    while names.len() < 800 {
        let req = h.next();
        let ExportRequest::Traces(r) = req.request else {
            panic!("not traces")
        };
        let spans = flat_spans(r);
        assert!(spans.len() <= 64, "a request of {} spans", spans.len());
        for (_, span) in spans {
            assert!(names.insert(span.name.clone()), "{} twice", span.name);
        }
    }
    h.assert_idle();
    let snap = stats.snapshot();
    assert_eq!((snap.items_accepted, snap.items_exported), (840, 840));
    provider.shutdown().unwrap();
}

#[test]
fn processor_drops_and_counts_spans_when_delivery_is_stuck() {
    // An endpoint that takes connections and never answers: one request in
    // flight, one batch in the queue, then every queue push waits.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let processor = OtlpSpanProcessor::builder()
        .with_endpoint(format!("http://{}", listener.local_addr().unwrap()))
        .with_protocol(Protocol::HttpProtobuf)
        .with_timeout(Duration::from_secs(60))
        .with_max_concurrent_exports(1)
        .with_queue_limits(10, 1 << 20)
        .with_overflow(Overflow::Block {
            deadline: Duration::from_secs(60),
        })
        .with_max_batch_size(10)
        .build()
        .unwrap();
    let stats = processor.stats();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .build();
    let tracer = provider.tracer("stuck");
    for i in 0..300 {
        tracer.start(format!("op-{i}")).end();
    }
    // Held: at most four batches out of the queue (one sending, three
    // waiting for the send slot), one queued, 16 waiting for the queue and
    // one being filled, 10 spans each. The rest was dropped and counted,
    // and ending spans never waited for the queue.
    let dropped = stats.snapshot().dropped.queue_full;
    assert!((80..=300).contains(&dropped), "dropped {dropped}");
    let _ = provider.shutdown_with_timeout(Duration::from_millis(100));
    drop(listener);
}

#[test]
fn logs_arrive() {
    let mut h = Harness::start();
    for (protocol, compression) in combos() {
        let exporter = h
            .aim(OtlpLogExporter::builder(), protocol, compression)
            .build()
            .unwrap();
        let provider = SdkLoggerProvider::builder()
            .with_resource(resource())
            .with_batch_exporter(exporter)
            .build();
        let logger = provider.logger("roundtrip-test");
        for i in 0..10 {
            let mut r = logger.create_log_record();
            r.set_severity_number(Severity::Warn);
            r.set_body(format!("message {i}").into());
            r.add_attribute("i", i as i64);
            logger.emit(r);
        }
        provider.force_flush().unwrap();
        let req = h.next();
        check_arrival(&req, protocol, compression);
        let ExportRequest::Logs(got) = req.request else {
            panic!("not logs")
        };
        let records = &got.resource_logs[0].scope_logs[0].log_records;
        let bodies: Vec<_> = records
            .iter()
            .map(|r| r.body.clone().unwrap().value.unwrap())
            .collect();
        let expected: Vec<_> = (0..10)
            .map(|i| PValue::StringValue(format!("message {i}")))
            .collect();
        assert_eq!(bodies, expected, "{protocol} {compression}");
        assert!(records.iter().all(|r| r.severity_number == 13));
        provider.shutdown().unwrap();
        h.assert_idle();
    }
}

#[test]
fn metrics_arrive() {
    let mut h = Harness::start();
    for (protocol, compression) in combos() {
        let exporter = h
            .aim(OtlpMetricExporter::builder(), protocol, compression)
            .build()
            .unwrap();
        let provider = SdkMeterProvider::builder()
            .with_resource(resource())
            .with_reader(
                PeriodicReader::builder(exporter)
                    .with_interval(Duration::from_secs(3600))
                    .build(),
            )
            .build();
        let meter = provider.meter("roundtrip-test");
        let counter = meter.u64_counter("requests").build();
        let histogram = meter.f64_histogram("latency").with_unit("ms").build();
        for i in 0..10 {
            counter.add(2, &[KeyValue::new("route", "/a")]);
            histogram.record(f64::from(i), &[]);
        }
        provider.force_flush().unwrap();
        let req = h.next();
        check_arrival(&req, protocol, compression);
        let ExportRequest::Metrics(got) = req.request else {
            panic!("not metrics")
        };
        let metrics = &got.resource_metrics[0].scope_metrics[0].metrics;
        let find = |name: &str| {
            metrics
                .iter()
                .find(|m| m.name == name)
                .unwrap_or_else(|| panic!("{name} missing"))
        };
        let Some(Data::Sum(sum)) = &find("requests").data else {
            panic!()
        };
        assert_eq!(
            sum.data_points[0].value,
            Some(otlp_core::proto::metrics::v1::number_data_point::Value::AsInt(20))
        );
        let Some(Data::Histogram(hist)) = &find("latency").data else {
            panic!()
        };
        assert_eq!(hist.data_points[0].count, 10);
        assert_eq!(hist.data_points[0].sum, Some(45.0));
        provider.shutdown().unwrap();
        // Shutdown collects and exports once more; the receiver has queued
        // that request before answering, so it is here now.
        let last = h.next();
        check_arrival(&last, protocol, compression);
        h.assert_idle();
    }
}

/// A retry policy that gives up quickly, for tests of failure paths.
fn impatient() -> otlp_exporter::RetryPolicy {
    otlp_exporter::RetryPolicy::builder()
        .with_initial_interval(Duration::from_millis(20))
        .with_max_interval(Duration::from_millis(100))
        .with_max_elapsed_time(Duration::from_millis(500))
        .build()
        .unwrap()
}

#[test]
fn unreachable_endpoint_fails_within_the_timeout() {
    use opentelemetry_sdk::trace::SpanExporter as _;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let spans = {
        let memory = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(memory.clone())
            .build();
        provider.tracer("t").in_span("s", |_| {});
        memory.get_finished_spans().unwrap()
    };
    for protocol in [Protocol::Grpc, Protocol::HttpProtobuf] {
        let exporter = OtlpSpanExporter::builder()
            .with_endpoint(format!("http://127.0.0.1:{port}"))
            .with_protocol(protocol)
            .with_timeout(Duration::from_secs(2))
            .with_retry_policy(impatient())
            .build()
            .unwrap();
        let stats = exporter.stats();
        // Queued at once; the senders retry in the background, then give
        // up when the retry policy's time runs out, and the flush says so
        // (rather than timing out).
        futures_lite_block_on(exporter.export(spans.clone())).unwrap();
        let e = exporter.force_flush().unwrap_err();
        assert!(
            e.to_string()
                .contains("1 (out of retry time 1) items dropped"),
            "{protocol}: {e}"
        );
        let snap = stats.snapshot();
        assert_eq!(
            (snap.items_exported, snap.export_errors),
            (0, 1),
            "{protocol}"
        );
        assert_eq!(snap.dropped.retry_expired, 1);
        assert!(snap.retries >= 1, "{snap:?}");
    }
}

fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn stats_count_partial_success_and_failures() {
    use opentelemetry_sdk::trace::SpanExporter as _;
    use otlp_transport::receiver::Reply;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let receiver = rt.block_on(async {
        Receiver::builder()
            .with_http_addr("127.0.0.1:0".parse().unwrap())
            .serve(async |_r: ReceivedRequest| Reply::partial_success(3, "too old"))
            .await
            .unwrap()
    });
    let memory = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(memory.clone())
        .build();
    let tracer = provider.tracer("stats");
    for _ in 0..10 {
        tracer.in_span("s", |_| {});
    }
    let spans = memory.get_finished_spans().unwrap();
    let exporter = OtlpSpanExporter::builder()
        .with_endpoint(format!("http://{}", receiver.http_addr().unwrap()))
        .with_retry_policy(impatient())
        .build()
        .unwrap();
    let stats = exporter.stats();
    rt.block_on(exporter.export(spans.clone())).unwrap();
    let e = exporter.force_flush().unwrap_err();
    assert!(e.to_string().contains("rejected by the receiver 3"), "{e}");
    let snap = stats.snapshot();
    assert_eq!(snap.items_exported, 7);
    assert_eq!(snap.dropped.rejected_by_receiver, 3);
    rt.block_on(receiver.shutdown());

    // Now nothing listens there: once the retry policy gives up, the whole
    // batch is counted as failed.
    rt.block_on(exporter.export(spans)).unwrap();
    let e = exporter.force_flush().unwrap_err();
    assert!(e.to_string().contains("out of retry time 10"), "{e}");
    let snap = stats.snapshot();
    assert_eq!((snap.requests, snap.export_errors), (1, 1));
    assert_eq!(snap.dropped.retry_expired, 10);
    assert_eq!(snap.items_exported, 7);
}

/// A profiles request arrives exactly, over every protocol and
/// compression, and is counted in profiles.
#[test]
fn profiles_arrive() {
    use otlp_core::proto::collector::profiles::v1development::ExportProfilesServiceRequest;
    use otlp_core::proto::profiles::v1development as p;
    use otlp_exporter::OtlpProfileExporter;
    let mut h = Harness::start();
    let profile = p::Profile {
        samples: vec![p::Sample {
            stack_index: 0,
            values: vec![4],
            timestamps_unix_nano: vec![1_700_000_000_000_000_000],
            ..Default::default()
        }],
        time_unix_nano: 1_700_000_000_000_000_000,
        profile_id: vec![3; 16],
        ..Default::default()
    };
    let request = ExportProfilesServiceRequest {
        resource_profiles: vec![p::ResourceProfiles {
            scope_profiles: vec![p::ScopeProfiles {
                profiles: vec![profile.clone(), profile],
                ..Default::default()
            }],
            ..Default::default()
        }],
        dictionary: Some(p::ProfilesDictionary {
            string_table: vec![String::new(), "burn".into()],
            stack_table: vec![p::Stack {
                location_indices: vec![],
            }],
            ..Default::default()
        }),
    };
    for (protocol, compression) in combos() {
        let exporter = h
            .aim(OtlpProfileExporter::builder(), protocol, compression)
            .build()
            .unwrap();
        let stats = exporter.stats();
        futures_lite_block_on(exporter.export(&request)).unwrap();
        let req = h.next();
        check_arrival(&req, protocol, compression);
        assert_eq!(
            req.request,
            ExportRequest::Profiles(request.clone()),
            "{protocol} {compression}"
        );
        exporter.shutdown(Duration::from_secs(5)).unwrap();
        let snap = stats.snapshot();
        assert_eq!((snap.items_accepted, snap.items_exported), (2, 2));
    }
    h.assert_idle();
}

//! The stock Rust exporters (`opentelemetry-otlp` 0.33) send traces,
//! metrics and logs to our receiver (`otlp_transport::receiver`) over gRPC
//! (uncompressed, gzip, zstd), HTTP/protobuf and HTTP/JSON. The receiver
//! must decode exactly the request the exporter built, and the content
//! (names, attributes, values, bodies) must be what the SDK recorded.
//!
//! The telemetry is recorded with the SDK into its in-memory exporters and
//! then handed to the stock exporter's `export` directly, so each signal
//! is one request with fixed content. (Its batch processors and periodic
//! reader run exports on their own threads, where the async `reqwest`
//! client this workspace enables has no Tokio runtime.) The expected
//! request comes from `opentelemetry-proto`'s transform, the code the
//! exporter itself uses to build it.
//!
//! The same exporters also send to the Python receiver (grpcio and the
//! Python protobuf runtime), so the official Rust and Python stacks are
//! checked against each other too.

use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{
    Span as _, SpanContext, SpanId, SpanKind, Status, TraceContextExt as _, TraceFlags, TraceId,
    TraceState, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Array, InstrumentationScope, KeyValue, StringValue, Value};
use opentelemetry_otlp::{Compression, Protocol, WithExportConfig, WithTonicConfig};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as PValue;
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point};
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::logs::tonic::group_logs_by_resource_and_scope;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::logs::{InMemoryLogExporter, LogBatch, LogExporter as _, SdkLoggerProvider};
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter as _;
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{
    InMemorySpanExporter, SdkTracerProvider, SpanData, SpanExporter as _,
};
use opentelemetry_sdk::Resource;
use otlp_compression::Algorithm;
use otlp_core::{ExportRequest, Format, Signal};
use otlp_interop_tests::PythonReceiver;
use otlp_transport::receiver::{ReceivedRequest, Receiver, ReceiverProtocol, RunningReceiver};
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(20);

/// 2024-01-02T03:04:05Z plus `ms` milliseconds.
fn at(ms: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_704_164_645) + Duration::from_millis(ms)
}

fn resource() -> Resource {
    Resource::builder_empty()
        .with_attributes([
            KeyValue::new("service.name", "stock-otlp-sender"),
            KeyValue::new("service.instance.id", "i-1"),
        ])
        .build()
}

/// One span attribute of every type the Rust API has.
fn every_attribute_type() -> Vec<KeyValue> {
    vec![
        KeyValue::new("attr.string", "hello ✓ wörld"),
        KeyValue::new("attr.bool", true),
        KeyValue::new("attr.i64", i64::MIN),
        KeyValue::new("attr.f64", -0.125),
        KeyValue::new(
            "attr.string_array",
            Value::Array(Array::String(vec![
                StringValue::from("a"),
                StringValue::from(""),
            ])),
        ),
        KeyValue::new(
            "attr.bool_array",
            Value::Array(Array::Bool(vec![true, false])),
        ),
        KeyValue::new(
            "attr.i64_array",
            Value::Array(Array::I64(vec![1, -2, i64::MAX])),
        ),
        KeyValue::new("attr.f64_array", Value::Array(Array::F64(vec![0.5, 1e300]))),
    ]
}

// ------------------------------------------------------------------ data

fn record_spans() -> Vec<SpanData> {
    let memory = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(memory.clone())
        .with_resource(resource())
        .build();
    let tracer = provider.tracer_with_scope(
        InstrumentationScope::builder("stock.tracer")
            .with_version("0.33.0")
            .with_attributes([KeyValue::new("scope.attr", 1)])
            .build(),
    );
    let mut root = tracer
        .span_builder("GET /orders/{id}")
        .with_kind(SpanKind::Server)
        .with_start_time(at(0))
        .with_attributes(every_attribute_type())
        .start(&tracer);
    root.add_event_with_timestamp(
        "cache.miss",
        at(1),
        vec![KeyValue::new("cache.key", "order:17")],
    );
    let linked = SpanContext::new(
        TraceId::from_bytes([0xa1; 16]),
        SpanId::from_bytes([0xb2; 8]),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    root.add_link(linked, vec![KeyValue::new("link.reason", "retry-of")]);
    let cx = opentelemetry::Context::current_with_span(root);
    for (i, kind) in [
        SpanKind::Internal,
        SpanKind::Client,
        SpanKind::Producer,
        SpanKind::Consumer,
    ]
    .into_iter()
    .enumerate()
    {
        let mut child = tracer
            .span_builder(format!("child-{i}"))
            .with_kind(kind)
            .with_start_time(at(10 + i as u64))
            .with_attributes([KeyValue::new("child.index", i as i64)])
            .start_with_context(&tracer, &cx);
        if i == 1 {
            child.set_status(Status::error("upstream said no"));
        }
        child.end_with_timestamp(at(20 + i as u64));
    }
    let span = cx.span();
    span.set_status(Status::Ok);
    span.end_with_timestamp(at(50));
    provider.force_flush().expect("flush");
    let spans = memory.get_finished_spans().expect("spans");
    assert_eq!(spans.len(), 5);
    spans
}

fn record_metrics() -> ResourceMetrics {
    let memory = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(memory.clone()).build())
        .with_resource(resource())
        .build();
    let meter = provider.meter("stock.meter");
    let route = |r: &'static str| [KeyValue::new("http.route", r)];

    let requests = meter
        .u64_counter("http.requests")
        .with_unit("{request}")
        .build();
    requests.add(3, &route("/orders"));
    requests.add(4, &route("/orders"));
    requests.add(1, &route("/health"));
    let bytes = meter.f64_counter("bytes.sent").with_unit("By").build();
    bytes.add(1.5, &[]);
    let in_flight = meter.i64_up_down_counter("requests.in_flight").build();
    in_flight.add(5, &[]);
    in_flight.add(-7, &[]);
    let latency = meter
        .f64_histogram("http.latency")
        .with_unit("ms")
        .with_boundaries(vec![1.0, 5.0, 10.0])
        .build();
    for v in [0.5, 2.0, 7.0, 42.0] {
        latency.record(v, &route("/orders"));
    }
    let temperature = meter.f64_gauge("room.temperature").with_unit("Cel").build();
    temperature.record(21.5, &[KeyValue::new("room", "kitchen")]);

    provider.force_flush().expect("flush");
    let mut all = memory.get_finished_metrics().expect("metrics");
    all.pop().expect("one collection")
}

fn record_logs() -> (
    Vec<(opentelemetry_sdk::logs::SdkLogRecord, InstrumentationScope)>,
    Resource,
) {
    let memory = InMemoryLogExporter::default();
    let provider = SdkLoggerProvider::builder()
        .with_simple_exporter(memory.clone())
        .with_resource(resource())
        .build();
    let logger = provider.logger("stock.logger");

    let mut record = logger.create_log_record();
    record.set_timestamp(at(0));
    record.set_observed_timestamp(at(1));
    record.set_severity_number(Severity::Error);
    record.set_severity_text("ERROR");
    record.set_body(AnyValue::from("payment failed: ✗"));
    record.add_attribute("order.id", 17);
    record.add_attribute("retry", true);
    record.add_attribute("amount", 9.99);
    record.add_attribute(
        "tags",
        AnyValue::ListAny(Box::new(vec!["a".into(), 2.into()])),
    );
    record.set_event_name("payment.failure");
    record.set_trace_context(
        TraceId::from_bytes([7; 16]),
        SpanId::from_bytes([8; 8]),
        Some(TraceFlags::SAMPLED),
    );
    logger.emit(record);

    let mut record = logger.create_log_record();
    record.set_timestamp(at(2));
    record.set_severity_number(Severity::Info);
    record.set_body(AnyValue::Map(Box::new(
        [("message".into(), AnyValue::from("structured"))]
            .into_iter()
            .collect(),
    )));
    logger.emit(record);

    let mut record = logger.create_log_record();
    record.set_observed_timestamp(at(3));
    record.set_body(AnyValue::Bytes(Box::new(vec![0, 0xff])));
    logger.emit(record);

    provider.force_flush().expect("flush");
    let logs = memory.get_emitted_logs().expect("logs");
    assert_eq!(logs.len(), 3);
    let resource = logs[0].resource.clone().into_owned();
    (
        logs.into_iter()
            .map(|l| (l.record, l.instrumentation))
            .collect(),
        resource,
    )
}

// ------------------------------------------------------------- variants

#[derive(Debug, Clone, Copy)]
enum Variant {
    Grpc(Option<Compression>),
    Http(Protocol),
}

impl Variant {
    fn transport(self) -> ReceiverProtocol {
        match self {
            Variant::Grpc(_) => ReceiverProtocol::Grpc,
            Variant::Http(_) => ReceiverProtocol::Http,
        }
    }

    fn format(self) -> Format {
        match self {
            Variant::Http(Protocol::HttpJson) => Format::Json,
            _ => Format::Protobuf,
        }
    }

    fn compression(self) -> Algorithm {
        match self {
            Variant::Grpc(Some(Compression::Gzip)) => Algorithm::Gzip,
            Variant::Grpc(Some(Compression::Zstd)) => Algorithm::Zstd,
            _ => Algorithm::None,
        }
    }
}

/// Builds a stock exporter of type `$exporter` for `$variant`.
macro_rules! stock_exporter {
    ($exporter:ty, $variant:expr, $addrs:expr, $signal:expr) => {{
        let builder = <$exporter>::builder();
        match $variant {
            Variant::Grpc(compression) => {
                let mut b = builder
                    .with_tonic()
                    .with_endpoint(format!("http://{}", $addrs.0));
                if let Some(c) = compression {
                    b = b.with_compression(c);
                }
                b.build()
            }
            Variant::Http(protocol) => builder
                .with_http()
                .with_protocol(protocol)
                .with_endpoint(format!("http://{}{}", $addrs.1, $signal.http_path()))
                .build(),
        }
        .expect("stock exporter builds")
    }};
}

async fn start_receiver() -> (RunningReceiver, mpsc::Receiver<ReceivedRequest>) {
    let localhost = "127.0.0.1:0".parse().unwrap();
    Receiver::builder()
        .with_grpc_addr(localhost)
        .with_http_addr(localhost)
        .serve_channel(16)
        .await
        .expect("receiver starts")
}

/// Records the fixed telemetry and exports it with the stock exporters for
/// `variant` to `grpc` or `http` (one request per signal, in signal order),
/// returning the requests they must have sent.
async fn export_with_stock(
    variant: Variant,
    grpc: SocketAddr,
    http: SocketAddr,
) -> Vec<ExportRequest> {
    let addrs = (grpc, http);

    let spans = record_spans();
    let res = resource();
    let traces = ExportTraceServiceRequest {
        resource_spans: group_spans_by_resource_and_scope(
            spans.clone(),
            &ResourceAttributesWithSchema::from(&res),
        ),
    };
    let mut exporter = stock_exporter!(
        opentelemetry_otlp::SpanExporter,
        variant,
        addrs,
        Signal::Traces
    );
    exporter.set_resource(&res);
    exporter.export(spans).await.expect("span export");

    let metrics = record_metrics();
    let exporter = stock_exporter!(
        opentelemetry_otlp::MetricExporter,
        variant,
        addrs,
        Signal::Metrics
    );
    exporter.export(&metrics).await.expect("metric export");
    let metrics = ExportMetricsServiceRequest::from(&metrics);

    let (logs, res) = record_logs();
    let refs: Vec<_> = logs.iter().map(|(r, s)| (r, s)).collect();
    let logs = ExportLogsServiceRequest {
        resource_logs: group_logs_by_resource_and_scope(
            &LogBatch::new(&refs),
            &ResourceAttributesWithSchema::from(&res),
        ),
    };
    let mut exporter = stock_exporter!(
        opentelemetry_otlp::LogExporter,
        variant,
        addrs,
        Signal::Logs
    );
    exporter.set_resource(&res);
    exporter
        .export(LogBatch::new(&refs))
        .await
        .expect("log export");

    vec![
        ExportRequest::Traces(traces),
        ExportRequest::Metrics(metrics),
        ExportRequest::Logs(logs),
    ]
}

async fn stock_exporters_to_our_receiver(variant: Variant) {
    let (receiver, mut requests) = start_receiver().await;
    let expected = export_with_stock(
        variant,
        receiver.grpc_addr().unwrap(),
        receiver.http_addr().unwrap(),
    )
    .await;
    for want in &expected {
        let signal = want.signal();
        // Each export returned after its reply, so its request is queued.
        let received = tokio::time::timeout(WAIT, requests.recv())
            .await
            .unwrap_or_else(|_| panic!("{variant:?} {signal}: nothing received"))
            .expect("receiver running");
        assert_eq!(
            received.transport,
            variant.transport(),
            "{variant:?} {signal}"
        );
        assert_eq!(received.format, variant.format(), "{variant:?} {signal}");
        assert_eq!(
            received.compression,
            variant.compression(),
            "{variant:?} {signal}"
        );
        assert_eq!(&received.request, want, "{variant:?} {signal}");
        check_content(&received.request);
    }
    assert!(requests.try_recv().is_err(), "{variant:?}: extra requests");
    receiver.shutdown().await;
}

/// The same exporters against the Python receiver (grpcio and the
/// protobuf runtime's parsers): the official Rust and Python stacks agree.
async fn stock_exporters_to_python_receiver(variant: Variant) {
    let Some(rx) = PythonReceiver::start_or_skip() else {
        return;
    };
    let expected = export_with_stock(variant, rx.grpc_addr(), rx.http_addr()).await;
    let got = tokio::task::spawn_blocking(move || rx.wait_for(3, WAIT))
        .await
        .unwrap();
    assert_eq!(got.len(), 3, "{variant:?}");
    for (received, want) in got.iter().zip(&expected) {
        assert_eq!(received.transport, variant.transport(), "{variant:?}");
        assert_eq!(received.format, variant.format(), "{variant:?}");
        assert_eq!(&received.request, want, "{variant:?} {}", want.signal());
        check_content(&received.request);
    }
}

// --------------------------------------------------- independent checks
//
// The exact comparison above trusts opentelemetry-proto's transform; these
// spell out by hand what must be on the wire.

fn attr<'a>(
    attrs: &'a [opentelemetry_proto::tonic::common::v1::KeyValue],
    key: &str,
) -> &'a PValue {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
        .unwrap_or_else(|| panic!("no attribute {key} in {attrs:?}"))
}

fn check_content(got: &ExportRequest) {
    match got.signal() {
        Signal::Traces => check_traces(got),
        Signal::Metrics => check_metrics(got),
        Signal::Logs => check_logs(got),
        other => panic!("unexpected {other} request"),
    }
}

fn check_traces(got: &ExportRequest) {
    let ExportRequest::Traces(r) = got else {
        panic!("not traces")
    };
    let rs = &r.resource_spans[0];
    let res = &rs.resource.as_ref().unwrap().attributes;
    assert_eq!(
        attr(res, "service.name"),
        &PValue::StringValue("stock-otlp-sender".into())
    );
    let ss = &rs.scope_spans[0];
    let scope = ss.scope.as_ref().unwrap();
    assert_eq!(
        (scope.name.as_str(), scope.version.as_str()),
        ("stock.tracer", "0.33.0")
    );
    let mut names: Vec<_> = ss.spans.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "GET /orders/{id}",
            "child-0",
            "child-1",
            "child-2",
            "child-3"
        ]
    );

    let root = ss
        .spans
        .iter()
        .find(|s| s.name == "GET /orders/{id}")
        .unwrap();
    assert_eq!(root.kind, 2, "SPAN_KIND_SERVER");
    assert_eq!(
        root.end_time_unix_nano - root.start_time_unix_nano,
        50_000_000
    );
    assert_eq!(root.status.as_ref().unwrap().code, 1, "STATUS_CODE_OK");
    assert_eq!(
        attr(&root.attributes, "attr.string"),
        &PValue::StringValue("hello ✓ wörld".into())
    );
    assert_eq!(
        attr(&root.attributes, "attr.bool"),
        &PValue::BoolValue(true)
    );
    assert_eq!(
        attr(&root.attributes, "attr.i64"),
        &PValue::IntValue(i64::MIN)
    );
    assert_eq!(
        attr(&root.attributes, "attr.f64"),
        &PValue::DoubleValue(-0.125)
    );
    let PValue::ArrayValue(ints) = attr(&root.attributes, "attr.i64_array") else {
        panic!("not an array")
    };
    let ints: Vec<_> = ints
        .values
        .iter()
        .map(|v| v.value.clone().unwrap())
        .collect();
    assert_eq!(
        ints,
        [
            PValue::IntValue(1),
            PValue::IntValue(-2),
            PValue::IntValue(i64::MAX)
        ]
    );
    assert_eq!(root.events[0].name, "cache.miss");
    assert_eq!(root.links[0].trace_id, [0xa1; 16]);
    assert_eq!(root.links[0].span_id, [0xb2; 8]);

    let client = ss.spans.iter().find(|s| s.name == "child-1").unwrap();
    assert_eq!(client.kind, 3, "SPAN_KIND_CLIENT");
    assert_eq!(client.parent_span_id, root.span_id);
    assert_eq!(client.trace_id, root.trace_id);
    let status = client.status.as_ref().unwrap();
    assert_eq!(
        (status.code, status.message.as_str()),
        (2, "upstream said no")
    );
}

fn check_metrics(got: &ExportRequest) {
    let ExportRequest::Metrics(r) = got else {
        panic!("not metrics")
    };
    let metrics = &r.resource_metrics[0].scope_metrics[0].metrics;
    let find = |name: &str| {
        metrics
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("no metric {name}"))
    };
    let Some(Data::Sum(requests)) = &find("http.requests").data else {
        panic!("not a sum")
    };
    assert!(requests.is_monotonic);
    let mut values: Vec<_> = requests
        .data_points
        .iter()
        .map(|p| (attr(&p.attributes, "http.route").clone(), p.value))
        .collect();
    values.sort_by_key(|(route, _)| format!("{route:?}"));
    assert_eq!(
        values,
        [
            (
                PValue::StringValue("/health".into()),
                Some(number_data_point::Value::AsInt(1))
            ),
            (
                PValue::StringValue("/orders".into()),
                Some(number_data_point::Value::AsInt(7))
            ),
        ]
    );
    let Some(Data::Sum(bytes)) = &find("bytes.sent").data else {
        panic!("not a sum")
    };
    assert_eq!(
        bytes.data_points[0].value,
        Some(number_data_point::Value::AsDouble(1.5))
    );
    let Some(Data::Sum(in_flight)) = &find("requests.in_flight").data else {
        panic!("not a sum")
    };
    assert!(!in_flight.is_monotonic);
    assert_eq!(
        in_flight.data_points[0].value,
        Some(number_data_point::Value::AsInt(-2))
    );
    let Some(Data::Histogram(latency)) = &find("http.latency").data else {
        panic!("not a histogram")
    };
    let p = &latency.data_points[0];
    assert_eq!(
        (p.count, p.sum, p.min, p.max),
        (4, Some(51.5), Some(0.5), Some(42.0))
    );
    assert_eq!(p.explicit_bounds, [1.0, 5.0, 10.0]);
    assert_eq!(p.bucket_counts, [1, 1, 1, 1]);
    let Some(Data::Gauge(temperature)) = &find("room.temperature").data else {
        panic!("not a gauge")
    };
    assert_eq!(
        temperature.data_points[0].value,
        Some(number_data_point::Value::AsDouble(21.5))
    );
    assert_eq!(find("room.temperature").unit, "Cel");
}

fn check_logs(got: &ExportRequest) {
    let ExportRequest::Logs(r) = got else {
        panic!("not logs")
    };
    let sl = &r.resource_logs[0].scope_logs[0];
    assert_eq!(sl.scope.as_ref().unwrap().name, "stock.logger");
    let records = &sl.log_records;
    assert_eq!(records.len(), 3);
    let first = &records[0];
    assert_eq!(
        first.body.as_ref().unwrap().value,
        Some(PValue::StringValue("payment failed: ✗".into()))
    );
    assert_eq!(
        (first.severity_number, first.severity_text.as_str()),
        (17, "ERROR")
    );
    assert_eq!(first.event_name, "payment.failure");
    assert_eq!(first.trace_id, [7; 16]);
    assert_eq!(first.span_id, [8; 8]);
    assert_eq!(first.flags & 0xff, 1);
    assert_eq!(attr(&first.attributes, "order.id"), &PValue::IntValue(17));
    assert_eq!(
        attr(&first.attributes, "amount"),
        &PValue::DoubleValue(9.99)
    );
    let Some(PValue::KvlistValue(map)) = &records[1].body.as_ref().unwrap().value else {
        panic!("not a map body")
    };
    assert_eq!(
        attr(&map.values, "message"),
        &PValue::StringValue("structured".into())
    );
    assert_eq!(
        records[2].body.as_ref().unwrap().value,
        Some(PValue::BytesValue(vec![0, 0xff]))
    );
}

// ---------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_grpc_uncompressed() {
    stock_exporters_to_our_receiver(Variant::Grpc(None)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_grpc_gzip() {
    stock_exporters_to_our_receiver(Variant::Grpc(Some(Compression::Gzip))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_grpc_zstd() {
    stock_exporters_to_our_receiver(Variant::Grpc(Some(Compression::Zstd))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_http_protobuf() {
    stock_exporters_to_our_receiver(Variant::Http(Protocol::HttpBinary)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_http_json() {
    stock_exporters_to_our_receiver(Variant::Http(Protocol::HttpJson)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_grpc_gzip_to_python_receiver() {
    stock_exporters_to_python_receiver(Variant::Grpc(Some(Compression::Gzip))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_http_protobuf_to_python_receiver() {
    stock_exporters_to_python_receiver(Variant::Http(Protocol::HttpBinary)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_http_json_to_python_receiver() {
    stock_exporters_to_python_receiver(Variant::Http(Protocol::HttpJson)).await;
}

//! Our exporters, driven by the SDK, against a receiver written with the
//! official Python `opentelemetry-proto` and `grpcio` packages: what the
//! Python side decodes must be exactly what we meant to send.
//!
//! gRPC is tested uncompressed and with gzip; grpcio has no zstd decoder.
//! HTTP is tested with protobuf and JSON bodies, each uncompressed and with
//! gzip, zstd and brotli (the Python receiver decodes those with the
//! `zstandard` and `brotli` packages).

use opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use otlp_core::proto::collector::trace::v1::ExportTraceServiceRequest;
use otlp_core::proto::common::v1::any_value::Value as PValue;
use otlp_core::proto::metrics::v1::metric::Data;
use otlp_core::ExportRequest;
use otlp_exporter::{Compression, OtlpLogExporter, OtlpMetricExporter, OtlpSpanExporter, Protocol};
use otlp_interop_tests::{PythonReceiver, ReceiverProtocol};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

fn combos() -> Vec<(Protocol, Compression, &'static str)> {
    let mut v = vec![
        (Protocol::Grpc, Compression::none(), "unknown"),
        (Protocol::Grpc, Compression::gzip(), "unknown"),
    ];
    for p in [Protocol::HttpProtobuf, Protocol::HttpJson] {
        v.push((p, Compression::none(), "none"));
        v.push((p, Compression::gzip(), "gzip"));
        v.push((p, Compression::zstd(), "zstd"));
        v.push((p, Compression::brotli(), "br"));
    }
    v
}

fn endpoint(py: &PythonReceiver, protocol: Protocol) -> String {
    if protocol == Protocol::Grpc {
        py.grpc_endpoint()
    } else {
        py.http_endpoint()
    }
}

fn resource() -> Resource {
    Resource::builder_empty()
        .with_service_name("interop")
        .with_attributes([KeyValue::new("host.name", "ci")])
        .build()
}

fn sorted(mut r: ExportTraceServiceRequest) -> ExportTraceServiceRequest {
    for rs in &mut r.resource_spans {
        if let Some(res) = &mut rs.resource {
            res.attributes.sort_by(|a, b| a.key.cmp(&b.key));
        }
    }
    r
}

#[test]
fn traces_decode_exactly_in_python() {
    let Some(py) = PythonReceiver::start_or_skip() else {
        return;
    };
    let mut seen = 0;
    for (protocol, compression, encoding) in combos() {
        let exporter = OtlpSpanExporter::builder()
            .with_endpoint(endpoint(&py, protocol))
            .with_protocol(protocol)
            .with_compression(compression)
            .build()
            .unwrap();
        let memory = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_resource(resource())
            .with_batch_exporter(exporter)
            .with_simple_exporter(memory.clone())
            .build();
        let tracer = provider.tracer("interop");
        for i in 0..10_i64 {
            let mut span = tracer.start(format!("op {i} ünïcödé"));
            span.set_attribute(KeyValue::new("i", i));
            span.set_attribute(KeyValue::new("f", 1.5));
            span.set_attribute(KeyValue::new("b", true));
            span.set_attribute(KeyValue::new(
                "tags",
                opentelemetry::Value::Array(vec![opentelemetry::StringValue::from("x")].into()),
            ));
            span.add_event("evt \"quoted\"", vec![KeyValue::new("n", -7_i64)]);
            span.set_status(opentelemetry::trace::Status::error("bad"));
            span.end();
        }
        provider.force_flush().unwrap();
        // The in-memory exporter forgets its spans at shutdown: take them first.
        let spans = memory.get_finished_spans().unwrap();
        assert_eq!(spans.len(), 10);
        provider.shutdown().unwrap();
        seen += 1;
        let got = py.wait_for(seen, WAIT).pop().unwrap();
        assert_eq!(
            got.transport,
            if protocol == Protocol::Grpc {
                ReceiverProtocol::Grpc
            } else {
                ReceiverProtocol::Http
            }
        );
        assert_eq!(got.format, protocol.format());
        assert_eq!(got.encoding, encoding, "{protocol} {compression}");
        let ExportRequest::Traces(got) = got.request else {
            panic!("not traces")
        };
        let expected = ExportTraceServiceRequest {
            resource_spans: group_spans_by_resource_and_scope(
                spans,
                &ResourceAttributesWithSchema::from(&resource()),
            ),
        };
        assert_eq!(sorted(got), sorted(expected), "{protocol} {compression}");
    }
}

#[test]
fn logs_decode_in_python() {
    let Some(py) = PythonReceiver::start_or_skip() else {
        return;
    };
    let mut seen = 0;
    for (protocol, compression, encoding) in combos() {
        let exporter = OtlpLogExporter::builder()
            .with_endpoint(endpoint(&py, protocol))
            .with_protocol(protocol)
            .with_compression(compression)
            .build()
            .unwrap();
        let provider = SdkLoggerProvider::builder()
            .with_resource(resource())
            .with_batch_exporter(exporter)
            .build();
        let logger = provider.logger("interop");
        for i in 0..5 {
            let mut r = logger.create_log_record();
            r.set_severity_number(Severity::Error);
            r.set_severity_text("ERROR");
            r.set_body(format!("line {i}").into());
            r.add_attribute(
                "bytes",
                opentelemetry::logs::AnyValue::Bytes(Box::new(vec![0, 255, i])),
            );
            logger.emit(r);
        }
        provider.force_flush().unwrap();
        provider.shutdown().unwrap();
        seen += 1;
        let got = py.wait_for(seen, WAIT).pop().unwrap();
        assert_eq!(got.encoding, encoding, "{protocol} {compression}");
        let ExportRequest::Logs(got) = got.request else {
            panic!("not logs")
        };
        let records = &got.resource_logs[0].scope_logs[0].log_records;
        assert_eq!(records.len(), 5);
        for (i, r) in records.iter().enumerate() {
            assert_eq!(
                r.body.clone().unwrap().value,
                Some(PValue::StringValue(format!("line {i}")))
            );
            assert_eq!((r.severity_number, r.severity_text.as_str()), (17, "ERROR"));
            assert_eq!(
                r.attributes[0].value.clone().unwrap().value,
                Some(PValue::BytesValue(vec![0, 255, i as u8]))
            );
        }
    }
}

#[test]
fn metrics_decode_in_python() {
    let Some(py) = PythonReceiver::start_or_skip() else {
        return;
    };
    for (protocol, compression, encoding) in combos() {
        let before = py.received().len();
        let exporter = OtlpMetricExporter::builder()
            .with_endpoint(endpoint(&py, protocol))
            .with_protocol(protocol)
            .with_compression(compression)
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
        let meter = provider.meter("interop");
        let counter = meter.u64_counter("requests").build();
        let histogram = meter.f64_histogram("latency").build();
        let gauge = meter.i64_gauge("queue").build();
        for i in 0..4 {
            counter.add(5, &[KeyValue::new("route", "/r")]);
            histogram.record(f64::from(i) * 10.0, &[]);
        }
        gauge.record(-3, &[]);
        provider.force_flush().unwrap();
        let got = py.wait_for(before + 1, WAIT).pop().unwrap();
        provider.shutdown().unwrap();
        assert_eq!(got.encoding, encoding, "{protocol} {compression}");
        assert_eq!(got.format, protocol.format());
        let ExportRequest::Metrics(got) = got.request else {
            panic!("not metrics")
        };
        let metrics = &got.resource_metrics[0].scope_metrics[0].metrics;
        let find = |n: &str| {
            metrics
                .iter()
                .find(|m| m.name == n)
                .unwrap_or_else(|| panic!("{n}"))
        };
        use otlp_core::proto::metrics::v1::number_data_point::Value as N;
        let Some(Data::Sum(s)) = &find("requests").data else {
            panic!()
        };
        assert_eq!(s.data_points[0].value, Some(N::AsInt(20)));
        let Some(Data::Histogram(h)) = &find("latency").data else {
            panic!()
        };
        assert_eq!(
            (h.data_points[0].count, h.data_points[0].sum),
            (4, Some(60.0))
        );
        let Some(Data::Gauge(g)) = &find("queue").data else {
            panic!()
        };
        assert_eq!(g.data_points[0].value, Some(N::AsInt(-3)));
        // The shutdown export arrives too; let it land before the next round.
        py.wait_for(before + 2, WAIT);
    }
}

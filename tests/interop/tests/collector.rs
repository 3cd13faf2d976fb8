//! Compliance against the OpenTelemetry Collector (core v0.165.0, built
//! from `tests/collector/`) and the OpenTelemetry Go SDK v1.47.0, in both
//! directions:
//!
//! - our exporters -> Collector `otlp` receiver -> Collector `otlp_grpc`
//!   exporter -> our receiver, for every protocol, encoding and compression
//!   our exporters offer that the Collector's receiver takes;
//! - the Collector's `otlp_grpc` and `otlp_http` (proto and json)
//!   exporters -> our receiver, with every compression they can be set to;
//! - the Go SDK exporters -> our receiver;
//! - our retry against a Collector that refuses while its exporter's
//!   destination is down.
//!
//! What the Collector is documented to change: nothing, for these
//! pipelines. It re-encodes what it receives (pdata), and its pass-through
//! of OTLP keeps every field; batching and the sending queue, which would
//! regroup requests, are off (`sending_queue: {enabled: false}`), so each
//! request arrives as one request. The comparisons are therefore exact, and
//! a difference fails with the path of the field (see
//! `otlp_interop_tests::compare`).
//!
//! One Collector process serves each test; the exporters it forwards with
//! are told apart by an `x-otlp-via` header they add.

use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{
    Span as _, SpanKind, Status, TraceContextExt as _, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Array, InstrumentationScope, KeyValue, StringValue, Value};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider, Temporality};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use otlp_compression::Algorithm;
use otlp_core::{ExportRequest, Format, Signal};
use otlp_exporter::{
    Compression, OtlpLogExporter, OtlpMetricExporter, OtlpSpanExporter, Protocol, RetryPolicy,
};
use otlp_interop_tests::collector::{run_go_sender, Collector, Exporter, GoProtocol};
use otlp_interop_tests::{assert_same_requests, compare, sample, skip_or_fail};
use otlp_transport::client::{OtlpClient, Payload};
use otlp_transport::receiver::{
    ReceivedRequest, Receiver, ReceiverAuth, ReceiverProtocol, ReceiverTls, RunningReceiver,
};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(30);
const VIA: &str = "x-otlp-via";

/// Our receiver, on a runtime of its own, handing requests to the test.
struct Ours {
    rt: tokio::runtime::Runtime,
    receiver: Option<RunningReceiver>,
    rx: mpsc::Receiver<ReceivedRequest>,
}

impl Ours {
    /// gRPC and HTTP on `grpc` and `http` (port 0: a free one).
    fn start(grpc: Option<SocketAddr>, http: Option<SocketAddr>) -> Ours {
        Ours::start_with(grpc, http, None, None)
    }

    /// [`start`](Self::start), over TLS if `tls` is given, requiring a
    /// token if `auth` is.
    fn start_with(
        grpc: Option<SocketAddr>,
        http: Option<SocketAddr>,
        tls: Option<ReceiverTls>,
        auth: Option<ReceiverAuth>,
    ) -> Ours {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let mut builder = Receiver::builder();
        if let Some(addr) = grpc {
            builder = builder.with_grpc_addr(addr);
        }
        if let Some(addr) = http {
            builder = builder.with_http_addr(addr);
        }
        if let Some(tls) = tls {
            builder = builder.with_tls(tls);
        }
        if let Some(auth) = auth {
            builder = builder.with_auth(auth);
        }
        let (receiver, rx) = rt.block_on(builder.serve_channel(256)).unwrap();
        Ours {
            rt,
            receiver: Some(receiver),
            rx,
        }
    }

    fn both() -> Ours {
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        Ours::start(Some(any), Some(any))
    }

    fn grpc(&self) -> SocketAddr {
        self.receiver.as_ref().unwrap().grpc_addr().unwrap()
    }

    fn http(&self) -> SocketAddr {
        self.receiver.as_ref().unwrap().http_addr().unwrap()
    }

    /// Waits for `n` more requests (each within [`WAIT`]).
    fn take(&mut self, n: usize, what: &str) -> Vec<ReceivedRequest> {
        let mut got = Vec::with_capacity(n);
        while got.len() < n {
            let next = self
                .rt
                .block_on(async { tokio::time::timeout(WAIT, self.rx.recv()).await });
            match next {
                Ok(Some(r)) => got.push(r),
                _ => panic!("{what}: got {} of {n} requests within {WAIT:?}", got.len()),
            }
        }
        got
    }
}

impl Drop for Ours {
    fn drop(&mut self) {
        if let Some(receiver) = self.receiver.take() {
            self.rt.block_on(receiver.shutdown());
        }
    }
}

fn via(r: &ReceivedRequest) -> Option<&str> {
    r.headers.get(VIA).and_then(|v| v.to_str().ok())
}

/// A Collector exporter settings map that forwards request for request:
/// no queue (which batches), no retries (so a failure reaches the sender).
fn forwarding(settings: &str, id: &str) -> String {
    format!(
        "{{{settings}, headers: {{{VIA}: \"{id}\"}}, sending_queue: {{enabled: false}}, retry_on_failure: {{enabled: false}}}}"
    )
}

// ------------------------------------------- our exporters -> Collector

/// Sends every metric export to two exporters: the same `ResourceMetrics`,
/// so both requests must be equal.
struct Tee(OtlpMetricExporter, OtlpMetricExporter);

impl PushMetricExporter for Tee {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        self.0.export(metrics).await?;
        self.1.export(metrics).await
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()?;
        self.1.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)?;
        self.1.shutdown_with_timeout(timeout)
    }

    fn temporality(&self) -> Temporality {
        Temporality::Cumulative
    }
}

fn resource() -> Resource {
    Resource::builder_empty()
        .with_attributes([
            KeyValue::new("service.name", "otlp-rust-through-collector"),
            KeyValue::new("host.cpu.count", 2),
        ])
        .build()
}

fn scope() -> InstrumentationScope {
    InstrumentationScope::builder("collector.interop")
        .with_version("1.0.0")
        .with_schema_url("https://opentelemetry.io/schemas/1.26.0")
        .with_attributes([KeyValue::new("scope.attr", true)])
        .build()
}

fn attributes() -> Vec<KeyValue> {
    vec![
        KeyValue::new("s", "grüße ✓"),
        KeyValue::new("b", false),
        KeyValue::new("i", i64::MIN),
        KeyValue::new("f", -0.125),
        KeyValue::new(
            "sa",
            Value::Array(Array::String(vec![StringValue::from("a"), "".into()])),
        ),
        KeyValue::new("ba", Value::Array(Array::Bool(vec![true, false]))),
        KeyValue::new("ia", Value::Array(Array::I64(vec![1, -2, i64::MAX]))),
        KeyValue::new("fa", Value::Array(Array::F64(vec![0.5, 1e300]))),
    ]
}

/// Exports the same telemetry through `exporter` settings twice: straight
/// to `direct` (gRPC) and through the Collector, and returns nothing; the
/// caller compares what arrived.
fn export_twice(direct: &str, collector: &str, protocol: Protocol, compression: Compression) {
    let spans = |endpoint: &str, protocol, compression| {
        OtlpSpanExporter::builder()
            .with_endpoint(endpoint)
            .with_protocol(protocol)
            .with_compression(compression)
            .build()
            .unwrap()
    };
    let tracer_provider = SdkTracerProvider::builder()
        .with_resource(resource())
        .with_batch_exporter(spans(direct, Protocol::Grpc, Compression::none()))
        .with_batch_exporter(spans(collector, protocol, compression))
        .build();
    let tracer = tracer_provider.tracer_with_scope(scope());
    let mut root = tracer
        .span_builder("GET /orders/{id}")
        .with_kind(SpanKind::Server)
        .with_attributes(attributes())
        .start(&tracer);
    root.add_event("cache.miss", vec![KeyValue::new("key", "order:17")]);
    let cx = opentelemetry::Context::current_with_span(root);
    for kind in [SpanKind::Client, SpanKind::Producer, SpanKind::Consumer] {
        let mut child = tracer
            .span_builder(format!("child {kind:?}"))
            .with_kind(kind)
            .start_with_context(&tracer, &cx);
        child.set_status(Status::error("downstream failed"));
        child.end();
    }
    cx.span().set_status(Status::Ok);
    cx.span().end();
    tracer_provider.force_flush().unwrap();
    tracer_provider.shutdown().unwrap();

    let logs = |endpoint: &str, protocol, compression| {
        OtlpLogExporter::builder()
            .with_endpoint(endpoint)
            .with_protocol(protocol)
            .with_compression(compression)
            .build()
            .unwrap()
    };
    let logger_provider = SdkLoggerProvider::builder()
        .with_resource(resource())
        .with_batch_exporter(logs(direct, Protocol::Grpc, Compression::none()))
        .with_batch_exporter(logs(collector, protocol, compression))
        .build();
    let logger = logger_provider.logger_with_scope(scope());
    let bodies = [
        AnyValue::from("plain line"),
        AnyValue::Int(-42),
        AnyValue::Bytes(Box::new(vec![0, 1, 255])),
        AnyValue::ListAny(Box::new(vec![AnyValue::from("x"), AnyValue::Boolean(true)])),
        AnyValue::Map(Box::new(
            [("k".into(), AnyValue::Double(2.5))].into_iter().collect(),
        )),
    ];
    for (i, body) in bodies.into_iter().enumerate() {
        let mut r = logger.create_log_record();
        r.set_severity_number(Severity::Warn);
        r.set_severity_text("WARN");
        r.set_event_name("interop.event");
        r.set_body(body);
        r.add_attribute("i", i as i64);
        r.add_attributes([
            ("s", AnyValue::from("grüße ✓")),
            ("b", AnyValue::Boolean(false)),
            ("f", AnyValue::Double(-0.125)),
            ("bytes", AnyValue::Bytes(Box::new(vec![7, 0]))),
        ]);
        logger.emit(r);
    }
    logger_provider.force_flush().unwrap();
    logger_provider.shutdown().unwrap();

    let metrics = |endpoint: &str, protocol, compression| {
        OtlpMetricExporter::builder()
            .with_endpoint(endpoint)
            .with_protocol(protocol)
            .with_compression(compression)
            .build()
            .unwrap()
    };
    let tee = Tee(
        metrics(direct, Protocol::Grpc, Compression::none()),
        metrics(collector, protocol, compression),
    );
    let meter_provider = SdkMeterProvider::builder()
        .with_resource(resource())
        .with_reader(
            PeriodicReader::builder(tee)
                .with_interval(Duration::from_secs(3600))
                .build(),
        )
        .build();
    let meter = meter_provider.meter_with_scope(scope());
    let counter = meter.u64_counter("requests").with_unit("{request}").build();
    let updown = meter.i64_up_down_counter("queue.depth").build();
    let histogram = meter
        .f64_histogram("latency")
        .with_unit("ms")
        .with_description("request latency")
        .build();
    let gauge = meter.f64_gauge("temperature").build();
    for i in 0..5 {
        counter.add(i, &[KeyValue::new("route", "/a")]);
        counter.add(1, &[KeyValue::new("route", "/b")]);
        updown.add(3 - i as i64, &[]);
        histogram.record(f64::from(i as u32) * 7.5, &attributes());
    }
    gauge.record(-40.25, &[KeyValue::new("sensor", "s1")]);
    meter_provider.force_flush().unwrap();
    meter_provider.shutdown().unwrap();
}

/// Our exporters, all three signals, through the Collector to our
/// receiver: gRPC none/gzip/zstd, HTTP protobuf none/gzip/zstd, HTTP JSON
/// none/gzip. What arrives through the Collector equals, field for field,
/// what the same exporters sent straight to our receiver.
#[test]
fn our_exporters_through_the_collector_arrive_as_sent() {
    let mut ours = Ours::both();
    let out = Exporter::new(
        "otlp_grpc/out",
        forwarding(
            &format!(
                "endpoint: \"{}\", tls: {{insecure: true}}, compression: none",
                ours.grpc()
            ),
            "collector",
        ),
    );
    let Some(collector) = Collector::start_or_skip(&[out]) else {
        return;
    };
    let direct = format!("http://{}", ours.grpc());
    let combos = [
        (Protocol::Grpc, Compression::none()),
        (Protocol::Grpc, Compression::gzip()),
        (Protocol::Grpc, Compression::zstd()),
        (Protocol::HttpProtobuf, Compression::none()),
        (Protocol::HttpProtobuf, Compression::gzip()),
        (Protocol::HttpProtobuf, Compression::zstd()),
        (Protocol::HttpJson, Compression::none()),
        (Protocol::HttpJson, Compression::gzip()),
    ];
    for (protocol, compression) in combos {
        let what = format!("{protocol} {compression}");
        let endpoint = match protocol {
            Protocol::Grpc => collector.grpc_endpoint(),
            _ => collector.http_endpoint(),
        };
        export_twice(&direct, &endpoint, protocol, compression);
        // Per path: one traces and one logs request, and two metrics
        // requests (the flush, then the final collection at shutdown).
        let got = ours.take(8, &what);
        let (through, straight): (Vec<_>, Vec<_>) =
            got.into_iter().partition(|r| via(r) == Some("collector"));
        let requests = |v: Vec<ReceivedRequest>| -> Vec<ExportRequest> {
            v.into_iter().map(|r| r.request).collect()
        };
        let (through, straight) = (requests(through), requests(straight));
        for signal in Signal::STABLE {
            let count = |v: &[ExportRequest]| v.iter().filter(|r| r.signal() == signal).count();
            assert_eq!(count(&through), count(&straight), "{what} {signal}");
            assert!(count(&through) > 0, "{what} {signal}");
        }
        assert_same_requests(&straight, &through);
        assert!(
            through.iter().all(|r| r.item_count() > 0),
            "{what}: empty request"
        );
    }
    drop(collector);
}

// ------------------------------------------- Collector exporters -> ours

/// Every compression the Collector's exporters can be set to in v0.165
/// (`configcompression`), with the encoding our receiver must see.
const GRPC_COMPRESSIONS: [(&str, &str); 4] = [
    ("none", "none"),
    ("gzip", "gzip"),
    ("zstd", "zstd"),
    // The Collector's gRPC snappy codec writes the framing format.
    ("snappy", "x-snappy-framed"),
];
const HTTP_COMPRESSIONS: [(&str, &str); 8] = [
    ("none", "none"),
    ("gzip", "gzip"),
    ("zstd", "zstd"),
    ("zlib", "deflate"),
    ("deflate", "deflate"),
    ("snappy", "snappy"),
    ("x-snappy-framed", "x-snappy-framed"),
    ("lz4", "lz4"),
];

/// `request` as the Collector forwards it. Its pdata keeps `resource`,
/// `scope` and a span's `status` as non-nullable messages
/// (`(gogoproto.nullable) = false` in the Collector's copy of the OTLP
/// protos), so where a request leaves one out, what the Collector sends on
/// has an empty one. Nothing else changes.
fn as_collector_forwards(request: &ExportRequest) -> ExportRequest {
    let mut r = request.clone();
    match &mut r {
        ExportRequest::Traces(t) => {
            for rs in &mut t.resource_spans {
                rs.resource.get_or_insert_with(Default::default);
                for ss in &mut rs.scope_spans {
                    ss.scope.get_or_insert_with(Default::default);
                    for span in &mut ss.spans {
                        span.status.get_or_insert_with(Default::default);
                    }
                }
            }
        }
        ExportRequest::Metrics(m) => {
            for rm in &mut m.resource_metrics {
                rm.resource.get_or_insert_with(Default::default);
                for sm in &mut rm.scope_metrics {
                    sm.scope.get_or_insert_with(Default::default);
                }
            }
        }
        ExportRequest::Logs(l) => {
            for rl in &mut l.resource_logs {
                rl.resource.get_or_insert_with(Default::default);
                for sl in &mut rl.scope_logs {
                    sl.scope.get_or_insert_with(Default::default);
                }
            }
        }
        other => panic!("no Collector forwarding rule for {:?}", other.signal()),
    }
    r
}

/// A Collector forwarding to `exporters`, a runtime and a gRPC client of
/// the Collector; `None` when the Collector is skipped.
fn collector_with_client(
    exporters: &[Exporter],
) -> Option<(Collector, tokio::runtime::Runtime, OtlpClient)> {
    let collector = Collector::start_or_skip(exporters)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = OtlpClient::builder(otlp_transport::Protocol::Grpc)
        .with_endpoint(collector.grpc_endpoint())
        .build()
        .unwrap();
    Some((collector, rt, client))
}

/// The Collector's `otlp_grpc` and `otlp_http` (proto and json) exporters,
/// one per compression, all fed by the same requests: each delivers every
/// request to our receiver, decoded exactly.
#[test]
fn collector_exporters_reach_our_receiver_with_every_compression() {
    let mut ours = Ours::both();
    // id -> (transport, format, encoding)
    let mut expected: BTreeMap<String, (ReceiverProtocol, Format, &str)> = BTreeMap::new();
    let mut exporters = Vec::new();
    for (compression, encoding) in GRPC_COMPRESSIONS {
        let id = format!("otlp_grpc/{compression}");
        let settings = format!(
            "endpoint: \"{}\", tls: {{insecure: true}}, compression: {compression}",
            ours.grpc()
        );
        exporters.push(Exporter::new(&id, forwarding(&settings, &id)));
        expected.insert(id, (ReceiverProtocol::Grpc, Format::Protobuf, encoding));
    }
    for (json, format) in [("proto", Format::Protobuf), ("json", Format::Json)] {
        for (compression, encoding) in HTTP_COMPRESSIONS {
            let id = format!("otlp_http/{json}-{compression}");
            let settings = format!(
                "endpoint: \"http://{}\", encoding: {json}, compression: {compression}",
                ours.http()
            );
            exporters.push(Exporter::new(&id, forwarding(&settings, &id)));
            expected.insert(id, (ReceiverProtocol::Http, format, encoding));
        }
    }
    let Some((collector, rt, client)) = collector_with_client(&exporters) else {
        return;
    };
    for signal in Signal::STABLE {
        let sent = sample::request(signal);
        let body = sent.encode_protobuf();
        let forwarded = as_collector_forwards(&sent);
        rt.block_on(client.export(signal, Payload::new(body, Algorithm::None)))
            .unwrap_or_else(|e| panic!("{signal} to the Collector: {e}\n{}", collector.stderr()));
        let got = ours.take(expected.len(), &format!("{signal} from every exporter"));
        let mut seen = BTreeMap::new();
        for r in got {
            let id = via(&r).unwrap_or("<no header>").to_owned();
            let Some(&(transport, format, encoding)) = expected.get(&id) else {
                panic!("a request from an unknown exporter {id}");
            };
            let what = format!("{signal} from {id}");
            assert_eq!(r.transport, transport, "{what}");
            assert_eq!(r.format, format, "{what}");
            assert_eq!(r.compression.as_str(), encoding, "{what}");
            if let Some(d) = compare::first_difference(&forwarded, &r.request) {
                panic!("{what}: {d}");
            }
            *seen.entry(id).or_insert(0) += 1;
        }
        assert!(
            seen.values().all(|&n| n == 1) && seen.len() == expected.len(),
            "{signal}: {seen:?}"
        );
    }
}

/// PEM files of a test PKI in a directory of their own: a CA, a
/// certificate for 127.0.0.1 and one for a client, both from the CA.
struct PkiFiles {
    dir: std::path::PathBuf,
}

impl PkiFiles {
    fn new() -> PkiFiles {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "otlp-interop-tls-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        for (name, san) in [("server", "127.0.0.1"), ("client", "client.test")] {
            let key = KeyPair::generate().unwrap();
            let cert = CertificateParams::new(vec![san.to_owned()])
                .unwrap()
                .signed_by(&key, &issuer)
                .unwrap();
            std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
            std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
        }
        PkiFiles { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

impl Drop for PkiFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The Collector's `otlp_grpc` and `otlp_http` exporters reach our
/// receiver over TLS, trusting our CA (`tls: {ca_file}`); and with mutual
/// TLS, where our receiver requires a client certificate from the CA and
/// the exporters present one (`cert_file`, `key_file`). Our receiver also
/// requires a bearer token, which the exporters send as a header; an
/// exporter with a wrong one delivers nothing.
#[test]
fn collector_exporters_reach_our_receiver_over_tls() {
    let pki = PkiFiles::new();
    for mutual in [false, true] {
        let mut tls = ReceiverTls::from_pem_files(pki.path("server.pem"), pki.path("server.key"));
        let mut client_tls = format!("ca_file: \"{}\"", pki.path("ca.pem"));
        if mutual {
            tls = tls.with_client_ca_pem_file(pki.path("ca.pem"));
            client_tls.push_str(&format!(
                ", cert_file: \"{}\", key_file: \"{}\"",
                pki.path("client.pem"),
                pki.path("client.key")
            ));
        }
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let auth = ReceiverAuth::new().with_token("collector", "s3cret");
        let mut ours = Ours::start_with(Some(any), Some(any), Some(tls), Some(auth));
        let exporter = |id: &str, endpoint: String, token: &str| {
            Exporter::new(
                id,
                format!(
                    "{{endpoint: \"{endpoint}\", tls: {{{client_tls}}}, headers: {{{VIA}: \"{id}\", authorization: \"Bearer {token}\"}}, sending_queue: {{enabled: false}}, retry_on_failure: {{enabled: false}}}}"
                ),
            )
        };
        let exporters = [
            exporter("otlp_grpc/tls", ours.grpc().to_string(), "s3cret"),
            exporter(
                "otlp_http/tls",
                format!("https://{}", ours.http()),
                "s3cret",
            ),
            exporter("otlp_grpc/wrong-token", ours.grpc().to_string(), "guess"),
            exporter(
                "otlp_http/wrong-token",
                format!("https://{}", ours.http()),
                "guess",
            ),
        ];
        let Some((collector, rt, client)) = collector_with_client(&exporters) else {
            return;
        };
        let sent = sample::request(Signal::Traces);
        let forwarded = as_collector_forwards(&sent);
        // The exporters with the wrong token fail, so the Collector's
        // receiver answers with an error: what matters is what arrives.
        let _ = rt.block_on(client.export(
            Signal::Traces,
            Payload::new(sent.encode_protobuf(), Algorithm::None),
        ));
        let what = if mutual {
            "over mutual TLS"
        } else {
            "over TLS"
        };
        let mut seen: Vec<String> = ours
            .take(2, what)
            .iter()
            .map(|r| {
                let id = via(r).unwrap_or("<no header>").to_owned();
                if let Some(d) = compare::first_difference(&forwarded, &r.request) {
                    panic!("{id} {what}: {d}");
                }
                assert_eq!(r.tenant.as_deref(), Some("collector"), "{id}");
                id
            })
            .collect();
        seen.sort();
        assert_eq!(
            seen,
            ["otlp_grpc/tls", "otlp_http/tls"],
            "{what}\n{}",
            collector.stderr()
        );
        // The Collector logs each exporter's failure (read from its stderr
        // as it comes).
        for id in ["otlp_grpc/wrong-token", "otlp_http/wrong-token"] {
            let refused = |stderr: &str| {
                stderr
                    .lines()
                    .any(|l| l.contains(id) && (l.contains("Unauthenticated") || l.contains("401")))
            };
            let deadline = Instant::now() + WAIT;
            while !refused(&collector.stderr()) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let stderr = collector.stderr();
            assert!(refused(&stderr), "{id} refused for its token:\n{stderr}");
        }
    }
}

// ------------------------------------------------------ Go SDK -> ours

/// The official Go SDK exporters (gRPC and HTTP/protobuf, none and gzip)
/// export all three signals to our receiver, which decodes exactly what
/// they put on the wire.
#[test]
fn go_sdk_exports_to_our_receiver() {
    let mut ours = Ours::both();
    for protocol in [GoProtocol::Grpc, GoProtocol::HttpProtobuf] {
        for gzip in [false, true] {
            let what = format!("Go SDK {} gzip={gzip}", protocol.as_str());
            let addr = match protocol {
                GoProtocol::Grpc => ours.grpc(),
                GoProtocol::HttpProtobuf => ours.http(),
            };
            let sent = match run_go_sender(addr, protocol, gzip) {
                Ok(sent) => sent,
                Err(e) => return skip_or_fail(e).unwrap_or(()),
            };
            for signal in Signal::STABLE {
                assert!(
                    sent.iter()
                        .any(|r| r.signal() == signal && r.item_count() > 0),
                    "{what}: sent no {signal}"
                );
            }
            let got = ours.take(sent.len(), &what);
            for r in &got {
                let transport = match protocol {
                    GoProtocol::Grpc => ReceiverProtocol::Grpc,
                    GoProtocol::HttpProtobuf => ReceiverProtocol::Http,
                };
                assert_eq!(r.transport, transport, "{what}");
                let want = if gzip {
                    Algorithm::Gzip
                } else {
                    Algorithm::None
                };
                assert_eq!(r.compression, want, "{what}");
            }
            let got: Vec<_> = got.into_iter().map(|r| r.request).collect();
            assert_same_requests(&sent, &got);
        }
    }
}

// -------------------------------------------- retry against a refusal

/// The Collector refuses while the destination of its exporter is down
/// (no sending queue, no retries: the failure reaches its receiver, which
/// answers gRPC `UNAVAILABLE` / HTTP 503). Our exporter retries until the
/// destination, our receiver, comes up; nothing is lost.
#[test]
fn our_retry_outlasts_a_refusing_collector() {
    for protocol in [Protocol::Grpc, Protocol::HttpProtobuf] {
        let port = otlp_interop_tests::collector::free_port();
        let down: SocketAddr = ([127, 0, 0, 1], port).into();
        let out = Exporter::new(
            "otlp_http/down",
            forwarding(
                &format!("endpoint: \"http://{down}\", timeout: 5s"),
                "collector",
            ),
        );
        let Some(collector) = Collector::start_or_skip(&[out]) else {
            return;
        };
        let endpoint = match protocol {
            Protocol::Grpc => collector.grpc_endpoint(),
            _ => collector.http_endpoint(),
        };
        let retry = RetryPolicy::builder()
            .with_initial_interval(Duration::from_millis(100))
            .with_max_interval(Duration::from_millis(500))
            .with_max_elapsed_time(Duration::from_secs(120))
            .build()
            .unwrap();
        let exporter = OtlpSpanExporter::builder()
            .with_endpoint(endpoint)
            .with_protocol(protocol)
            .with_retry_policy(retry)
            .build()
            .unwrap();
        let stats = exporter.stats();
        let provider = SdkTracerProvider::builder()
            .with_resource(resource())
            .with_batch_exporter(exporter)
            .build();
        let tracer = provider.tracer("retry");
        const SPANS: u64 = 50;
        for i in 0..SPANS {
            tracer.in_span(format!("op {i}"), |_| {});
        }
        // Export in the background: force_flush waits for delivery.
        let flusher = {
            let provider = provider.clone();
            std::thread::spawn(move || provider.force_flush())
        };
        // Wait until the Collector has refused a few times.
        let deadline = Instant::now() + WAIT;
        while stats.snapshot().retries < 3 {
            assert!(
                Instant::now() < deadline,
                "{protocol}: no retries: {:?}\n{}",
                stats.snapshot(),
                collector.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(stats.snapshot().items_exported, 0, "{protocol}");
        let mut ours = Ours::start(None, Some(down));
        let got = ours.take(1, &format!("{protocol} after the refusals"));
        flusher.join().unwrap().unwrap();
        provider.shutdown().unwrap();
        let spans: usize = got.iter().map(|r| r.request.item_count()).sum();
        assert_eq!(spans as u64, SPANS, "{protocol}");
        assert_eq!(via(&got[0]), Some("collector"));
        let s = stats.snapshot();
        assert_eq!(
            (
                s.items_accepted,
                s.items_exported,
                s.dropped.total(),
                s.export_errors
            ),
            (SPANS, SPANS, 0, 0),
            "{protocol}: {s:?}"
        );
        assert!(s.retries >= 3, "{s:?}");
    }
}

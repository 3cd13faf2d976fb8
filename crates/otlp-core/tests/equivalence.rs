//! Our encoder against the reference: for random SDK data, the bytes we
//! write (protobuf and JSON) decode to exactly the message that
//! opentelemetry-proto's own `transform` builds from the same data.

use opentelemetry::logs::{
    AnyValue as LogValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity,
};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{
    Event, Link, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{Array, InstrumentationScope, Key, KeyValue, StringValue, Value};
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::{
    logs::tonic::group_logs_by_resource_and_scope, trace::tonic::group_spans_by_resource_and_scope,
};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogBatch, SdkLogRecord, SdkLoggerProvider};
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{
    Aggregation, Instrument, PeriodicReader, SdkMeterProvider, Stream, Temporality,
};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use opentelemetry_sdk::Resource;
use otlp_core::proto::collector::logs::v1::ExportLogsServiceRequest;
use otlp_core::proto::collector::metrics::v1::ExportMetricsServiceRequest;
use otlp_core::proto::collector::trace::v1::ExportTraceServiceRequest;
use otlp_core::{Encoder, ExportRequest, Format, Signal, SpanBatch};
use proptest::collection::vec;
use proptest::prelude::*;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

// ------------------------------------------------------------ strategies

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z._]{0,12}",
        // Every length the short-copy paths distinguish (up to 64 bytes).
        "[a-z0-9/:. -]{13,80}",
        any::<String>(),
        // Long enough that lengths take two varint bytes.
        "[a-z]{120,300}",
        Just("quote\" backslash\\ newline\n tab\t nul\u{0}".to_owned()),
    ]
}

fn finite() -> impl Strategy<Value = f64> {
    any::<f64>().prop_filter("finite", |f| f.is_finite())
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::I64),
        finite().prop_map(Value::F64),
        text().prop_map(|s| Value::String(s.into())),
        vec(any::<bool>(), 0..4).prop_map(|v| Value::Array(Array::Bool(v))),
        vec(any::<i64>(), 0..4).prop_map(|v| Value::Array(Array::I64(v))),
        vec(finite(), 0..4).prop_map(|v| Value::Array(Array::F64(v))),
        vec(text(), 0..4).prop_map(|v| Value::Array(Array::String(
            v.into_iter().map(StringValue::from).collect()
        ))),
    ]
}

fn attrs() -> impl Strategy<Value = Vec<KeyValue>> {
    vec(
        (text(), value()).prop_map(|(k, v)| KeyValue::new(k, v)),
        0..6,
    )
}

fn time() -> impl Strategy<Value = SystemTime> {
    prop_oneof![
        (0u64..4_000_000_000_000_000_000).prop_map(|n| UNIX_EPOCH + Duration::from_nanos(n)),
        Just(UNIX_EPOCH - Duration::from_secs(5)),
    ]
}

fn scopes() -> Vec<InstrumentationScope> {
    vec![
        InstrumentationScope::builder("checkout").build(),
        InstrumentationScope::builder("db")
            .with_version("1.2.3")
            .with_schema_url("https://opentelemetry.io/schemas/1.26.0")
            .with_attributes([KeyValue::new("a", 1), KeyValue::new("b", "x")])
            .build(),
        // Same as the previous one with attributes in another order: one group.
        InstrumentationScope::builder("db")
            .with_version("1.2.3")
            .with_schema_url("https://opentelemetry.io/schemas/1.26.0")
            .with_attributes([KeyValue::new("b", "x"), KeyValue::new("a", 1)])
            .build(),
    ]
}

fn trace_state() -> impl Strategy<Value = TraceState> {
    prop_oneof![
        Just(TraceState::default()),
        "[a-z]{1,5}=[a-z0-9]{1,5}(,[a-z]{1,5}=[a-z0-9]{1,5}){0,2}"
            .prop_map(|s| s.parse().unwrap_or_default()),
    ]
}

fn span_context() -> impl Strategy<Value = SpanContext> {
    (
        any::<u128>(),
        any::<u64>(),
        any::<u8>(),
        any::<bool>(),
        trace_state(),
    )
        .prop_map(|(t, s, f, remote, ts)| {
            SpanContext::new(
                TraceId::from(t),
                SpanId::from(s),
                TraceFlags::new(f),
                remote,
                ts,
            )
        })
}

fn kind() -> impl Strategy<Value = SpanKind> {
    prop_oneof![
        Just(SpanKind::Internal),
        Just(SpanKind::Server),
        Just(SpanKind::Client),
        Just(SpanKind::Producer),
        Just(SpanKind::Consumer),
    ]
}

fn status() -> impl Strategy<Value = Status> {
    prop_oneof![
        Just(Status::Unset),
        Just(Status::Ok),
        text().prop_map(|d| Status::Error {
            description: d.into()
        }),
    ]
}

fn span() -> impl Strategy<Value = SpanData> {
    let events = vec((text(), time(), attrs(), 0u32..3), 0..3);
    let links = vec((span_context(), attrs(), 0u32..3), 0..3);
    (
        (
            span_context(),
            prop_oneof![Just(0u64), any::<u64>()],
            any::<bool>(),
            kind(),
            text(),
        ),
        (time(), time(), attrs(), 0u32..5),
        (events, 0u32..3, links, 0u32..3, status(), 0usize..3),
    )
        .prop_map(
            |(
                (cx, parent, parent_remote, kind, name),
                (start, end, attributes, dropped),
                (events, dropped_events, links, dropped_links, status, scope),
            )| {
                let mut span_events = SpanEvents::default();
                span_events.events = events
                    .into_iter()
                    .map(|(n, t, a, d)| Event::new(n, t, a, d))
                    .collect();
                span_events.dropped_count = dropped_events;
                let mut span_links = SpanLinks::default();
                span_links.links = links
                    .into_iter()
                    .map(|(cx, a, d)| Link::new(cx, a, d))
                    .collect();
                span_links.dropped_count = dropped_links;
                SpanData {
                    span_context: cx,
                    parent_span_id: SpanId::from(parent),
                    parent_span_is_remote: parent_remote,
                    span_kind: kind,
                    name: Cow::Owned(name),
                    start_time: start,
                    end_time: end,
                    attributes,
                    dropped_attributes_count: dropped,
                    events: span_events,
                    links: span_links,
                    status,
                    instrumentation_scope: scopes()[scope].clone(),
                }
            },
        )
}

fn resource() -> impl Strategy<Value = Resource> {
    (attrs(), any::<bool>()).prop_map(|(attrs, schema)| {
        let b = if schema {
            Resource::builder_empty().with_schema_url(
                Vec::<KeyValue>::new(),
                "https://opentelemetry.io/schemas/1.26.0",
            )
        } else {
            Resource::builder_empty()
        };
        b.with_attributes(attrs).build()
    })
}

// ------------------------------------------------------------ helpers

fn decode_both(
    encoder: &Encoder,
    signal: Signal,
    proto: &[u8],
    json: &[u8],
) -> (ExportRequest, ExportRequest) {
    let _ = encoder;
    let p = ExportRequest::decode(signal, Format::Protobuf, proto).expect("our protobuf decodes");
    let j = ExportRequest::decode(signal, Format::Json, json)
        .unwrap_or_else(|e| panic!("our JSON decodes: {e}\n{}", String::from_utf8_lossy(json)));
    (p, j)
}

/// Resource attribute order comes from a hash map; the scope order of
/// `transform`'s log grouping too. Neither is meaningful in OTLP.
fn normalize_resource(r: &mut Option<otlp_core::proto::resource::v1::Resource>) {
    if let Some(r) = r {
        r.attributes.sort_by(|a, b| a.key.cmp(&b.key));
    }
}

/// Equality with a readable report: the first differing lines of the two
/// pretty-printed messages.
fn diff<T: std::fmt::Debug + PartialEq>(label: &str, got: &T, expected: &T) -> Result<(), String> {
    if got == expected {
        return Ok(());
    }
    let (g, e) = (format!("{got:#?}"), format!("{expected:#?}"));
    let (g, e): (Vec<_>, Vec<_>) = (g.lines().collect(), e.lines().collect());
    let at = g
        .iter()
        .zip(&e)
        .position(|(a, b)| a != b)
        .unwrap_or(g.len().min(e.len()));
    let from = at.saturating_sub(12);
    Err(format!(
        "{label}: differs at line {at}\n--- got\n{}\n--- expected\n{}",
        g[from..(at + 3).min(g.len())].join("\n"),
        e[from..(at + 3).min(e.len())].join("\n")
    ))
}

// ------------------------------------------------------------ traces

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn spans_match_transform(resource in resource(), spans in vec(span(), 1..12)) {
        let mut expected = ExportTraceServiceRequest {
            resource_spans: group_spans_by_resource_and_scope(
                spans.clone(),
                &ResourceAttributesWithSchema::from(&resource),
            ),
        };
        let mut proto = Vec::new();
        let mut json = Vec::new();
        Encoder::new(Format::Protobuf).with_resource(&resource).encode_spans(&spans, &mut proto);
        let enc = Encoder::new(Format::Json).with_resource(&resource);
        enc.encode_spans(&spans, &mut json);
        let (p, j) = decode_both(&enc, Signal::Traces, &proto, &json);
        for rs in &mut expected.resource_spans {
            normalize_resource(&mut rs.resource);
        }
        for (label, got) in [("protobuf", p), ("json", j)] {
            let ExportRequest::Traces(mut got) = got else { panic!() };
            for rs in &mut got.resource_spans {
                normalize_resource(&mut rs.resource);
            }
            diff(label, &got, &expected).map_err(TestCaseError::fail)?;
        }
    }

    /// Spans pushed one by one into a `SpanBatch` (reused across
    /// batches) frame into the very bytes `encode_spans` writes.
    #[test]
    fn span_batch_matches_encode_spans(
        resource in resource(),
        first in vec(span(), 0..12),
        second in vec(span(), 1..12),
    ) {
        for format in [Format::Protobuf, Format::Json] {
            let enc = Encoder::new(format).with_resource(&resource);
            let mut batch = SpanBatch::new(format);
            for spans in [&first, &second] {
                for s in spans.iter() {
                    batch.push(s);
                }
                prop_assert_eq!(batch.len(), spans.len());
                let mut expected = Vec::new();
                enc.encode_spans(spans, &mut expected);
                let mut got = Vec::new();
                enc.encode_span_batch(&mut batch, &mut got);
                prop_assert!(batch.is_empty());
                prop_assert_eq!(got, expected, "{:?}", format);
            }
        }
    }

    /// Two batches appended frame into the bytes of one batch that took
    /// all their spans, in the same order; a batch of another format is
    /// refused and left as it was.
    #[test]
    fn appended_span_batches_match_one_batch(
        resource in resource(),
        first in vec(span(), 0..12),
        second in vec(span(), 0..12),
        extra in span(),
    ) {
        for format in [Format::Protobuf, Format::Json] {
            let enc = Encoder::new(format).with_resource(&resource);
            let mut a = SpanBatch::new(format);
            let mut b = SpanBatch::new(format);
            first.iter().for_each(|s| a.push(s));
            second.iter().for_each(|s| b.push(s));
            let mut other = SpanBatch::new(match format {
                Format::Protobuf => Format::Json,
                _ => Format::Protobuf,
            });
            other.push(&extra);
            prop_assert!(!a.append(&mut other));
            prop_assert_eq!(other.len(), 1);
            prop_assert!(a.append(&mut b));
            prop_assert!(b.is_empty());
            prop_assert_eq!(a.len(), first.len() + second.len());
            let all: Vec<_> = first.iter().chain(&second).cloned().collect();
            let mut expected = Vec::new();
            enc.encode_spans(&all, &mut expected);
            let mut single = SpanBatch::new(format);
            all.iter().for_each(|s| single.push(s));
            prop_assert_eq!(a.encoded_len(), single.encoded_len());
            let mut got = Vec::new();
            enc.encode_span_batch(&mut a, &mut got);
            prop_assert_eq!(got, expected, "{:?}", format);
        }
    }
}

// ------------------------------------------------------------ logs

fn log_value(depth: u32) -> BoxedStrategy<LogValue> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(LogValue::Int),
        finite().prop_map(LogValue::Double),
        text().prop_map(|s| LogValue::String(s.into())),
        any::<bool>().prop_map(LogValue::Boolean),
        vec(any::<u8>(), 0..20).prop_map(|b| LogValue::Bytes(Box::new(b))),
    ];
    if depth == 0 {
        return leaf.boxed();
    }
    prop_oneof![
        3 => leaf,
        1 => vec(log_value(depth - 1), 0..4).prop_map(|v| LogValue::ListAny(Box::new(v))),
        1 => vec((text(), log_value(depth - 1)), 0..4).prop_map(|kv| {
            LogValue::Map(Box::new(kv.into_iter().map(|(k, v)| (Key::from(k), v)).collect::<HashMap<_, _>>()))
        }),
    ]
    .boxed()
}

#[derive(Debug, Clone)]
struct LogSpec {
    time: Option<SystemTime>,
    observed: SystemTime,
    severity: Option<(u8, Option<&'static str>)>,
    body: Option<LogValue>,
    attrs: Vec<(String, LogValue)>,
    trace: Option<(SpanContext, bool)>,
    event_name: Option<&'static str>,
    target: Option<String>,
    scope: usize,
}

fn log_spec() -> impl Strategy<Value = LogSpec> {
    (
        (
            proptest::option::of(time()),
            time(),
            proptest::option::of((1u8..=24, proptest::option::of(Just("WARN")))),
        ),
        (
            proptest::option::of(log_value(2)),
            vec((text(), log_value(1)), 0..5),
        ),
        (
            proptest::option::of((span_context(), any::<bool>())),
            proptest::option::of(Just("app.started")),
            proptest::option::of(prop_oneof![Just("db".to_owned()), "[a-z]{1,3}"]),
            0usize..3,
        ),
    )
        .prop_map(
            |((time, observed, severity), (body, attrs), (trace, event_name, target, scope))| {
                LogSpec {
                    time,
                    observed,
                    severity,
                    body,
                    attrs,
                    trace,
                    event_name,
                    target,
                    scope,
                }
            },
        )
}

fn severity(n: u8) -> Severity {
    use Severity::*;
    [
        Trace, Trace2, Trace3, Trace4, Debug, Debug2, Debug3, Debug4, Info, Info2, Info3, Info4,
        Warn, Warn2, Warn3, Warn4, Error, Error2, Error3, Error4, Fatal, Fatal2, Fatal3, Fatal4,
    ][usize::from(n - 1)]
}

fn build_record(spec: &LogSpec) -> SdkLogRecord {
    let provider = SdkLoggerProvider::builder().build();
    let logger = provider.logger("unused");
    let mut r = logger.create_log_record();
    if let Some(t) = spec.time {
        r.set_timestamp(t);
    }
    r.set_observed_timestamp(spec.observed);
    if let Some((n, text)) = spec.severity {
        r.set_severity_number(severity(n));
        if let Some(text) = text {
            r.set_severity_text(text);
        }
    }
    if let Some(b) = &spec.body {
        r.set_body(b.clone());
    }
    for (k, v) in &spec.attrs {
        r.add_attribute(k.clone(), v.clone());
    }
    if let Some((cx, with_flags)) = &spec.trace {
        r.set_trace_context(
            cx.trace_id(),
            cx.span_id(),
            with_flags.then(|| cx.trace_flags()),
        );
    }
    if let Some(e) = spec.event_name {
        r.set_event_name(e);
    }
    if let Some(t) = &spec.target {
        r.set_target(t.clone());
    }
    r
}

fn sort_scopes(req: &mut ExportLogsServiceRequest) {
    for rl in &mut req.resource_logs {
        normalize_resource(&mut rl.resource);
        rl.scope_logs.sort_by(|a, b| {
            let key = |s: &otlp_core::proto::logs::v1::ScopeLogs| {
                let sc = s.scope.clone().unwrap_or_default();
                (
                    sc.name,
                    sc.version,
                    s.schema_url.clone(),
                    sc.attributes.len(),
                )
            };
            key(a).cmp(&key(b))
        });
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn logs_match_transform(resource in resource(), specs in vec(log_spec(), 1..10)) {
        let scopes = scopes();
        let records: Vec<SdkLogRecord> = specs.iter().map(build_record).collect();
        let items: Vec<(&SdkLogRecord, &InstrumentationScope)> =
            records.iter().zip(&specs).map(|(r, s)| (r, &scopes[s.scope])).collect();
        let batch = LogBatch::new(&items);
        let mut expected = ExportLogsServiceRequest {
            resource_logs: group_logs_by_resource_and_scope(&batch, &ResourceAttributesWithSchema::from(&resource)),
        };
        sort_scopes(&mut expected);
        let mut proto = Vec::new();
        let mut json = Vec::new();
        Encoder::new(Format::Protobuf).with_resource(&resource).encode_logs(&batch, &mut proto);
        let enc = Encoder::new(Format::Json).with_resource(&resource);
        enc.encode_logs(&batch, &mut json);
        let (p, j) = decode_both(&enc, Signal::Logs, &proto, &json);
        for (label, got) in [("protobuf", p), ("json", j)] {
            let ExportRequest::Logs(mut got) = got else { panic!() };
            sort_scopes(&mut got);
            diff(label, &got, &expected).map_err(TestCaseError::fail)?;
        }
        // Some of the records, as an exporter routing by trace id encodes
        // each endpoint's: the bytes of a batch of those records alone.
        let proto_enc = Encoder::new(Format::Protobuf).with_resource(&resource);
        for enc in [&proto_enc, &enc] {
            for part in [&items[..], &items[items.len() / 2..], &items[..1]] {
                let (mut whole, mut some) = (Vec::new(), Vec::new());
                enc.encode_logs(&LogBatch::new(part), &mut whole);
                enc.encode_log_records(part, &mut some);
                prop_assert_eq!(&whole, &some);
            }
        }
    }
}

// ------------------------------------------------------------ metrics

/// A push exporter that checks every export it receives.
#[derive(Clone)]
struct Checker {
    temporality: Temporality,
    failures: Arc<Mutex<Vec<String>>>,
    exports: Arc<Mutex<usize>>,
}

impl PushMetricExporter for Checker {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let mut expected = ExportMetricsServiceRequest::from(metrics);
        for rm in &mut expected.resource_metrics {
            normalize_resource(&mut rm.resource);
        }
        for format in [Format::Protobuf, Format::Json] {
            let mut buf = Vec::new();
            Encoder::new(format).encode_metrics(metrics, &mut buf);
            match ExportRequest::decode(Signal::Metrics, format, &buf) {
                Ok(ExportRequest::Metrics(mut got)) => {
                    for rm in &mut got.resource_metrics {
                        normalize_resource(&mut rm.resource);
                    }
                    if let Err(e) = diff(&format.to_string(), &got, &expected) {
                        self.failures.lock().unwrap().push(e);
                    }
                }
                other => self
                    .failures
                    .lock()
                    .unwrap()
                    .push(format!("{format}: {other:?}")),
            }
        }
        *self.exports.lock().unwrap() += 1;
        Ok(())
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
        Ok(())
    }
    fn temporality(&self) -> Temporality {
        self.temporality
    }
}

#[derive(Debug, Clone)]
enum Measure {
    CounterU64(u64),
    CounterF64(f64),
    UpDownI64(i64),
    HistogramF64(f64),
    HistogramU64(u64),
    ExpHistogram(f64),
    GaugeI64(i64),
    GaugeU64(u64),
    GaugeF64(f64),
}

fn measure() -> impl Strategy<Value = Measure> {
    let small = -1e6f64..1e6;
    prop_oneof![
        (0u64..1 << 40).prop_map(Measure::CounterU64),
        (0f64..1e9).prop_map(Measure::CounterF64),
        any::<i32>().prop_map(|i| Measure::UpDownI64(i64::from(i))),
        small.clone().prop_map(Measure::HistogramF64),
        (0u64..100_000).prop_map(Measure::HistogramU64),
        (0.001f64..1e6).prop_map(Measure::ExpHistogram),
        any::<i64>().prop_map(Measure::GaugeI64),
        (0u64..=i64::MAX as u64).prop_map(Measure::GaugeU64),
        small.prop_map(Measure::GaugeF64),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn metrics_match_transform(
        resource in resource(),
        delta in any::<bool>(),
        measures in vec((measure(), 0usize..3, 0usize..3), 1..40),
    ) {
        let checker = Checker {
            temporality: if delta { Temporality::Delta } else { Temporality::Cumulative },
            failures: Arc::default(),
            exports: Arc::default(),
        };
        let provider = SdkMeterProvider::builder()
            .with_resource(resource)
            .with_reader(PeriodicReader::builder(checker.clone()).with_interval(Duration::from_secs(3600)).build())
            .with_view(|i: &Instrument| {
                (i.name() == "exp").then(|| {
                    Stream::builder()
                        .with_aggregation(Aggregation::Base2ExponentialHistogram {
                            max_size: 20,
                            max_scale: 10,
                            record_min_max: true,
                        })
                        .build()
                        .expect("valid stream")
                })
            })
            .build();
        let scopes = scopes();
        let attr_sets = [vec![], vec![KeyValue::new("route", "/a")], vec![KeyValue::new("route", "/b"), KeyValue::new("code", 200)]];
        for (m, scope, attrs) in &measures {
            let meter = provider.meter_with_scope(scopes[*scope].clone());
            let a = &attr_sets[*attrs];
            match m {
                Measure::CounterU64(v) => meter.u64_counter("requests").with_unit("1").with_description("all requests").build().add(*v, a),
                Measure::CounterF64(v) => meter.f64_counter("bytes").build().add(*v, a),
                Measure::UpDownI64(v) => meter.i64_up_down_counter("inflight").build().add(*v, a),
                Measure::HistogramF64(v) => meter.f64_histogram("latency").with_unit("ms").build().record(*v, a),
                Measure::HistogramU64(v) => meter.u64_histogram("size").with_boundaries(vec![10.0, 100.0, 1000.0]).build().record(*v, a),
                Measure::ExpHistogram(v) => meter.f64_histogram("exp").build().record(*v, a),
                Measure::GaugeI64(v) => meter.i64_gauge("temp").build().record(*v, a),
                Measure::GaugeU64(v) => meter.u64_gauge("free").build().record(*v, a),
                Measure::GaugeF64(v) => meter.f64_gauge("load").build().record(*v, a),
            }
        }
        provider.force_flush().expect("flush");
        provider.shutdown().expect("shutdown");
        prop_assert!(*checker.exports.lock().unwrap() >= 1);
        let failures = checker.failures.lock().unwrap();
        prop_assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}

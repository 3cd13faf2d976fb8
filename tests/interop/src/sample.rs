//! Known OTLP requests built field by field, for testing peers with exact
//! expectations. They touch the corners that encoders get wrong: every
//! `AnyValue` kind (nested arrays and maps, bytes, empty strings, extreme
//! numbers), ids in spans, links, log records and exemplars (hex in
//! OTLP/JSON, not base64), non-ASCII text, every metric data type, and
//! 64-bit values JSON must carry as strings.

use otlp_core::proto::collector::logs::v1::ExportLogsServiceRequest;
use otlp_core::proto::collector::metrics::v1::ExportMetricsServiceRequest;
use otlp_core::proto::collector::trace::v1::ExportTraceServiceRequest;
use otlp_core::proto::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use otlp_core::proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};
use otlp_core::proto::metrics::v1::{
    exponential_histogram_data_point::Buckets, metric::Data, number_data_point,
    summary_data_point::ValueAtQuantile, AggregationTemporality, Exemplar, ExponentialHistogram,
    ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use otlp_core::proto::resource::v1::Resource;
use otlp_core::proto::trace::v1::{
    span::{Event, Link, SpanKind},
    status::StatusCode,
    ResourceSpans, ScopeSpans, Span, Status,
};
use otlp_core::{ExportRequest, Signal};

/// 2024-01-02T03:04:05Z in Unix nanoseconds: above 2^53, so a JSON encoder
/// that writes it as a float loses digits.
pub const T0: u64 = 1_704_164_645_123_456_789;

/// The trace id the samples use.
pub const TRACE_ID: [u8; 16] = [
    0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c,
];
/// The span id of the sample root span.
pub const SPAN_ID: [u8; 8] = [0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74];

/// A known request for `signal` (see the module docs for what it covers).
pub fn request(signal: Signal) -> ExportRequest {
    match signal {
        Signal::Traces => ExportRequest::Traces(traces()),
        Signal::Metrics => ExportRequest::Metrics(metrics()),
        Signal::Logs => ExportRequest::Logs(logs()),
        other => panic!("no sample request for the {other} signal"),
    }
}

/// An attribute.
pub fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

/// A string attribute.
pub fn kv_str(key: &str, value: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(value.to_owned()))
}

fn any(value: any_value::Value) -> AnyValue {
    AnyValue { value: Some(value) }
}

fn array(values: Vec<any_value::Value>) -> any_value::Value {
    any_value::Value::ArrayValue(ArrayValue {
        values: values.into_iter().map(any).collect(),
    })
}

/// One attribute of every `AnyValue` kind, with nesting.
pub fn every_value_kind() -> Vec<KeyValue> {
    use any_value::Value as V;
    vec![
        kv_str("string", "hello ✓ wörld \"quoted\" \\ \n newline"),
        kv_str("empty", ""),
        kv("bool", V::BoolValue(true)),
        kv("int", V::IntValue(-42)),
        kv("int.max", V::IntValue(i64::MAX)),
        kv("int.min", V::IntValue(i64::MIN)),
        kv("double", V::DoubleValue(3.25)),
        kv("double.tiny", V::DoubleValue(-1.5e-300)),
        kv("bytes", V::BytesValue(vec![0, 1, 0xfe, 0xff])),
        kv(
            "array",
            array(vec![
                V::StringValue("a".into()),
                V::IntValue(7),
                V::BoolValue(false),
                V::DoubleValue(0.5),
            ]),
        ),
        kv("array.empty", array(vec![])),
        kv(
            "map",
            V::KvlistValue(KeyValueList {
                values: vec![
                    kv_str("k", "v"),
                    kv(
                        "nested",
                        array(vec![V::KvlistValue(KeyValueList {
                            values: vec![kv("deep", V::IntValue(1))],
                        })]),
                    ),
                ],
            }),
        ),
    ]
}

fn resource() -> Option<Resource> {
    Some(Resource {
        attributes: vec![
            kv_str("service.name", "interop-sample"),
            kv_str("service.version", "1.2.3"),
        ],
        dropped_attributes_count: 1,
        ..Default::default()
    })
}

fn scope(name: &str) -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: name.to_owned(),
        version: "0.1.0".to_owned(),
        attributes: vec![kv_str("scope.attr", "x")],
        dropped_attributes_count: 0,
    })
}

/// A trace request: a server root span with every attribute kind, events,
/// a link and an error status, and children of every other kind.
pub fn traces() -> ExportTraceServiceRequest {
    let root = Span {
        trace_id: TRACE_ID.to_vec(),
        span_id: SPAN_ID.to_vec(),
        trace_state: "vendor=value".to_owned(),
        parent_span_id: vec![],
        flags: 0x301,
        name: "GET /orders/{id}".to_owned(),
        kind: SpanKind::Server as i32,
        start_time_unix_nano: T0,
        end_time_unix_nano: T0 + 50_000_000,
        attributes: every_value_kind(),
        dropped_attributes_count: 2,
        events: vec![
            Event {
                time_unix_nano: T0 + 1_000,
                name: "cache.miss".to_owned(),
                attributes: vec![kv_str("cache.key", "order:17")],
                dropped_attributes_count: 0,
            },
            Event {
                time_unix_nano: T0 + 2_000,
                name: String::new(),
                attributes: vec![],
                dropped_attributes_count: 3,
            },
        ],
        dropped_events_count: 4,
        links: vec![Link {
            trace_id: vec![0xa1; 16],
            span_id: vec![0xb2; 8],
            trace_state: String::new(),
            attributes: vec![kv_str("link.reason", "retry-of")],
            dropped_attributes_count: 0,
            flags: 0x101,
        }],
        dropped_links_count: 5,
        status: Some(Status {
            message: "root failed".to_owned(),
            code: StatusCode::Error as i32,
        }),
    };
    let kinds = [
        SpanKind::Unspecified,
        SpanKind::Internal,
        SpanKind::Client,
        SpanKind::Producer,
        SpanKind::Consumer,
    ];
    let children = kinds.iter().zip(1u8..).map(|(kind, i)| Span {
        trace_id: TRACE_ID.to_vec(),
        span_id: vec![0, 0, 0, 0, 0, 0, 0, i],
        parent_span_id: SPAN_ID.to_vec(),
        name: format!("child {kind:?}"),
        kind: *kind as i32,
        start_time_unix_nano: T0 + u64::from(i) * 1_000_000,
        end_time_unix_nano: T0 + u64::from(i) * 2_000_000,
        status: Some(Status {
            message: String::new(),
            code: StatusCode::Ok as i32,
        }),
        ..Default::default()
    });
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(),
            scope_spans: vec![
                ScopeSpans {
                    scope: scope("interop.tracer"),
                    spans: std::iter::once(root).chain(children).collect(),
                    schema_url: "https://opentelemetry.io/schemas/1.24.0".to_owned(),
                },
                ScopeSpans {
                    scope: None,
                    spans: vec![Span {
                        trace_id: vec![0x11; 16],
                        span_id: vec![0x22; 8],
                        name: "no scope".to_owned(),
                        ..Default::default()
                    }],
                    schema_url: String::new(),
                },
            ],
            schema_url: "https://opentelemetry.io/schemas/1.24.0".to_owned(),
        }],
    }
}

fn exemplar(value: f64) -> Exemplar {
    Exemplar {
        filtered_attributes: vec![kv_str("user", "u1")],
        time_unix_nano: T0 + 7,
        span_id: SPAN_ID.to_vec(),
        trace_id: TRACE_ID.to_vec(),
        value: Some(otlp_core::proto::metrics::v1::exemplar::Value::AsDouble(
            value,
        )),
    }
}

fn number(value: number_data_point::Value, attrs: Vec<KeyValue>) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attrs,
        start_time_unix_nano: T0,
        time_unix_nano: T0 + 10_000_000_000,
        exemplars: vec![],
        flags: 0,
        value: Some(value),
    }
}

fn metric(name: &str, unit: &str, data: Data) -> Metric {
    Metric {
        name: name.to_owned(),
        description: format!("{name} description"),
        unit: unit.to_owned(),
        metadata: vec![],
        data: Some(data),
    }
}

/// A metrics request with a sum, a gauge, a histogram with exemplars, an
/// exponential histogram and a summary.
pub fn metrics() -> ExportMetricsServiceRequest {
    use number_data_point::Value as N;
    let cumulative = AggregationTemporality::Cumulative as i32;
    let mut counter_point = number(N::AsInt(i64::MAX), vec![kv_str("http.route", "/orders")]);
    counter_point.exemplars = vec![exemplar(1.0)];
    let metrics = vec![
        metric(
            "http.requests",
            "{request}",
            Data::Sum(Sum {
                data_points: vec![counter_point, number(N::AsInt(0), vec![])],
                aggregation_temporality: cumulative,
                is_monotonic: true,
            }),
        ),
        metric(
            "in_flight",
            "",
            Data::Sum(Sum {
                data_points: vec![number(N::AsDouble(-2.5), vec![kv_str("pool", "a")])],
                aggregation_temporality: AggregationTemporality::Delta as i32,
                is_monotonic: false,
            }),
        ),
        metric(
            "room.temperature",
            "Cel",
            Data::Gauge(Gauge {
                data_points: vec![
                    number(N::AsDouble(21.5), vec![kv_str("room", "kitchen")]),
                    number(N::AsInt(-19), vec![kv_str("room", "hall")]),
                ],
            }),
        ),
        metric(
            "http.latency",
            "ms",
            Data::Histogram(Histogram {
                data_points: vec![HistogramDataPoint {
                    attributes: vec![kv_str("http.route", "/orders")],
                    start_time_unix_nano: T0,
                    time_unix_nano: T0 + 10_000_000_000,
                    count: 6,
                    sum: Some(159.0),
                    bucket_counts: vec![1, 1, 2, 1, 1],
                    explicit_bounds: vec![1.0, 5.0, 10.0, 50.0],
                    exemplars: vec![exemplar(42.0)],
                    flags: 0,
                    min: Some(0.5),
                    max: Some(100.0),
                }],
                aggregation_temporality: cumulative,
            }),
        ),
        metric(
            "payload.size",
            "By",
            Data::ExponentialHistogram(ExponentialHistogram {
                data_points: vec![ExponentialHistogramDataPoint {
                    attributes: vec![],
                    start_time_unix_nano: T0,
                    time_unix_nano: T0 + 10_000_000_000,
                    count: 7,
                    sum: Some(1234.5),
                    scale: -2,
                    zero_count: 1,
                    positive: Some(Buckets {
                        offset: 3,
                        bucket_counts: vec![1, 0, 4],
                    }),
                    negative: Some(Buckets {
                        offset: -1,
                        bucket_counts: vec![1],
                    }),
                    flags: 1,
                    exemplars: vec![],
                    min: Some(-3.0),
                    max: Some(800.0),
                    zero_threshold: 1e-9,
                }],
                aggregation_temporality: AggregationTemporality::Delta as i32,
            }),
        ),
        metric(
            "rpc.duration",
            "s",
            Data::Summary(Summary {
                data_points: vec![SummaryDataPoint {
                    attributes: vec![],
                    start_time_unix_nano: T0,
                    time_unix_nano: T0 + 10_000_000_000,
                    count: 3,
                    sum: 0.75,
                    quantile_values: vec![
                        ValueAtQuantile {
                            quantile: 0.0,
                            value: 0.1,
                        },
                        ValueAtQuantile {
                            quantile: 1.0,
                            value: 0.4,
                        },
                    ],
                    flags: 0,
                }],
            }),
        ),
    ];
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource(),
            scope_metrics: vec![ScopeMetrics {
                scope: scope("interop.meter"),
                metrics,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

/// A logs request: records with a string, map and bytes body, trace
/// context, every attribute kind and an event name.
pub fn logs() -> ExportLogsServiceRequest {
    use any_value::Value as V;
    let records = vec![
        LogRecord {
            time_unix_nano: T0,
            observed_time_unix_nano: T0 + 1,
            severity_number: SeverityNumber::Error as i32,
            severity_text: "ERROR".to_owned(),
            body: Some(any(V::StringValue("payment failed: ✗".to_owned()))),
            attributes: every_value_kind(),
            dropped_attributes_count: 1,
            flags: 1,
            trace_id: TRACE_ID.to_vec(),
            span_id: SPAN_ID.to_vec(),
            event_name: "payment.failure".to_owned(),
        },
        LogRecord {
            time_unix_nano: 0,
            observed_time_unix_nano: T0 + 2,
            severity_number: SeverityNumber::Info as i32,
            body: Some(any(V::KvlistValue(KeyValueList {
                values: vec![kv_str("message", "structured"), kv("count", V::IntValue(3))],
            }))),
            ..Default::default()
        },
        LogRecord {
            observed_time_unix_nano: T0 + 3,
            severity_number: SeverityNumber::Fatal4 as i32,
            body: Some(any(V::BytesValue(b"\x00binary\xff".to_vec()))),
            ..Default::default()
        },
    ];
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource(),
            scope_logs: vec![ScopeLogs {
                scope: scope("interop.logger"),
                log_records: records,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

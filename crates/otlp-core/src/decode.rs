//! Decoding of OTLP export requests, for receivers.
//!
//! Decoding builds opentelemetry-proto's prost message types: a receiver
//! hands whole messages to its caller, so there is nothing to gain from a
//! custom decoder, and those types are what the rest of the Rust
//! OpenTelemetry ecosystem speaks.

use crate::json;
use crate::limits::{self, DecodeLimits, Footprint, LimitError};
use crate::proto::collector::logs::v1::ExportLogsServiceRequest;
use crate::proto::collector::metrics::v1::ExportMetricsServiceRequest;
use crate::proto::collector::profiles::v1development::ExportProfilesServiceRequest;
use crate::proto::collector::trace::v1::ExportTraceServiceRequest;
use crate::proto::metrics::v1::metric::Data;
use crate::{Format, Signal};
use prost::Message;

/// A decoded OTLP export request of any signal.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ExportRequest {
    /// A trace export request.
    Traces(ExportTraceServiceRequest),
    /// A metrics export request.
    Metrics(ExportMetricsServiceRequest),
    /// A logs export request.
    Logs(ExportLogsServiceRequest),
    /// A profiles export request (`v1development`).
    Profiles(ExportProfilesServiceRequest),
}

/// Why a request body could not be decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The body is not a valid protobuf message of the expected type.
    #[error("invalid OTLP protobuf {signal} request: {source}")]
    Protobuf {
        /// The signal the request was sent for.
        signal: Signal,
        /// What prost reported.
        #[source]
        source: prost::DecodeError,
    },
    /// The body is not valid OTLP/JSON for the expected type: the message
    /// names the field (as a path from the request) and what is wrong.
    #[error("invalid OTLP/JSON {signal} request: {source}")]
    Json {
        /// The signal the request was sent for.
        signal: Signal,
        /// What the JSON parser reported (with line and column).
        #[source]
        source: serde_json::Error,
    },
    /// A trace, span or profile id of a length other than 16 or 8 bytes
    /// (an empty one is no id): the Collector's decoder refuses such a
    /// request too.
    #[error(
        "invalid OTLP {signal} request: {field} has {len} bytes (an id has {expected}, or none)"
    )]
    InvalidId {
        /// The signal the request was sent for.
        signal: Signal,
        /// The id's field, such as `span.trace_id`.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The length an id of that field has.
        expected: usize,
    },
    /// The request would exceed the [`DecodeLimits`] once decoded, or its
    /// protobuf is malformed in a way found before decoding
    /// ([`LimitError::Malformed`]).
    #[error("cannot decode OTLP {signal} request: {source}")]
    Limit {
        /// The signal the request was sent for.
        signal: Signal,
        /// The limit exceeded.
        #[source]
        source: LimitError,
    },
}

impl DecodeError {
    /// Whether the request was refused for its size (too many items or too
    /// much decoded memory) rather than for being invalid: a receiver
    /// answers `413` / `RESOURCE_EXHAUSTED`.
    pub fn is_too_large(&self) -> bool {
        matches!(
            self,
            DecodeError::Limit {
                source: LimitError::TooLarge { .. } | LimitError::TooManyItems { .. },
                ..
            }
        )
    }
}

/// The first trace, span or profile id of `request` whose length is
/// neither the id's (16 or 8 bytes) nor 0, with that length and the id's.
fn wrong_id(request: &ExportRequest) -> Option<(&'static str, usize, usize)> {
    use crate::proto::metrics::v1::Exemplar;
    let check = |field: &'static str, id: &[u8], expected: usize| {
        (!id.is_empty() && id.len() != expected).then_some((field, id.len(), expected))
    };
    let exemplars = |e: &[Exemplar]| {
        e.iter().find_map(|e| {
            check("exemplar.trace_id", &e.trace_id, 16)
                .or_else(|| check("exemplar.span_id", &e.span_id, 8))
        })
    };
    match request {
        ExportRequest::Traces(r) => r
            .resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| &ss.spans)
            .find_map(|s| {
                check("span.trace_id", &s.trace_id, 16)
                    .or_else(|| check("span.span_id", &s.span_id, 8))
                    .or_else(|| check("span.parent_span_id", &s.parent_span_id, 8))
                    .or_else(|| {
                        s.links.iter().find_map(|l| {
                            check("link.trace_id", &l.trace_id, 16)
                                .or_else(|| check("link.span_id", &l.span_id, 8))
                        })
                    })
            }),
        ExportRequest::Logs(r) => r
            .resource_logs
            .iter()
            .flat_map(|rl| &rl.scope_logs)
            .flat_map(|sl| &sl.log_records)
            .find_map(|l| {
                check("log_record.trace_id", &l.trace_id, 16)
                    .or_else(|| check("log_record.span_id", &l.span_id, 8))
            }),
        ExportRequest::Metrics(r) => r
            .resource_metrics
            .iter()
            .flat_map(|rm| &rm.scope_metrics)
            .flat_map(|sm| &sm.metrics)
            .find_map(|m| match &m.data {
                Some(Data::Gauge(g)) => g.data_points.iter().find_map(|p| exemplars(&p.exemplars)),
                Some(Data::Sum(g)) => g.data_points.iter().find_map(|p| exemplars(&p.exemplars)),
                Some(Data::Histogram(g)) => {
                    g.data_points.iter().find_map(|p| exemplars(&p.exemplars))
                }
                Some(Data::ExponentialHistogram(g)) => {
                    g.data_points.iter().find_map(|p| exemplars(&p.exemplars))
                }
                Some(Data::Summary(_)) | None => None,
            }),
        ExportRequest::Profiles(r) => r
            .resource_profiles
            .iter()
            .flat_map(|rp| &rp.scope_profiles)
            .flat_map(|sp| &sp.profiles)
            .find_map(|p| check("profile.profile_id", &p.profile_id, 16))
            .or_else(|| {
                r.dictionary
                    .iter()
                    .flat_map(|d| &d.link_table)
                    .find_map(|l| {
                        check("dictionary.link.trace_id", &l.trace_id, 16)
                            .or_else(|| check("dictionary.link.span_id", &l.span_id, 8))
                    })
            }),
    }
}

impl ExportRequest {
    /// Decodes `body`, serialized as `format`, as an export request for
    /// `signal`, without limits on what it decodes into: for trusted input.
    /// A receiver uses [`decode_limited`](Self::decode_limited).
    pub fn decode(signal: Signal, format: Format, body: &[u8]) -> Result<Self, DecodeError> {
        Self::decode_limited(signal, format, body, DecodeLimits::unlimited())
            .map(|(request, _)| request)
    }

    /// Decodes `body` like [`decode`](Self::decode), but first checks, without
    /// allocating, that the request stays within `limits` (see
    /// [`crate::limits`]); returns the request and its footprint.
    ///
    /// OTLP/JSON is transcoded to protobuf (within the same limits) and then takes the protobuf path,
    /// so both formats are held to the same limits. It follows the OTLP/JSON
    /// mapping strictly: `"NaN"`, `"Infinity"` and `"-Infinity"` doubles are
    /// kept, while integers out of range, ids of the wrong length, and
    /// arrays where objects belong are errors naming the field.
    pub fn decode_limited(
        signal: Signal,
        format: Format,
        body: &[u8],
        limits: DecodeLimits,
    ) -> Result<(Self, Footprint), DecodeError> {
        let transcoded;
        let protobuf = match format {
            Format::Protobuf => body,
            Format::Json => {
                transcoded = json::to_protobuf(signal, body, limits).map_err(|error| {
                    let limit = |source| DecodeError::Limit { signal, source };
                    match error {
                        json::JsonError::TooLarge { limit: l } => {
                            limit(LimitError::TooLarge { limit: l })
                        }
                        json::JsonError::TooManyItems { limit: l } => {
                            limit(LimitError::TooManyItems { limit: l })
                        }
                        json::JsonError::Invalid(source) => DecodeError::Json { signal, source },
                    }
                })?;
                &transcoded[..]
            }
        };
        let footprint = limits::measure(signal, protobuf, limits)
            .map_err(|source| DecodeError::Limit { signal, source })?;
        let err = |source| DecodeError::Protobuf { signal, source };
        let request = match signal {
            Signal::Traces => {
                ExportRequest::Traces(ExportTraceServiceRequest::decode(protobuf).map_err(err)?)
            }
            Signal::Metrics => {
                ExportRequest::Metrics(ExportMetricsServiceRequest::decode(protobuf).map_err(err)?)
            }
            Signal::Logs => {
                ExportRequest::Logs(ExportLogsServiceRequest::decode(protobuf).map_err(err)?)
            }
            Signal::Profiles => ExportRequest::Profiles(
                ExportProfilesServiceRequest::decode(protobuf).map_err(err)?,
            ),
        };
        if let Some((field, len, expected)) = wrong_id(&request) {
            return Err(DecodeError::InvalidId {
                signal,
                field,
                len,
                expected,
            });
        }
        Ok((request, footprint))
    }

    /// The request's signal.
    pub fn signal(&self) -> Signal {
        match self {
            ExportRequest::Traces(_) => Signal::Traces,
            ExportRequest::Metrics(_) => Signal::Metrics,
            ExportRequest::Logs(_) => Signal::Logs,
            ExportRequest::Profiles(_) => Signal::Profiles,
        }
    }

    /// The number of items in the request: spans, metric data points, log
    /// records or profiles (the unit OTLP partial success counts in).
    pub fn item_count(&self) -> usize {
        match self {
            ExportRequest::Traces(r) => r
                .resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .map(|ss| ss.spans.len())
                .sum(),
            ExportRequest::Logs(r) => r
                .resource_logs
                .iter()
                .flat_map(|rl| &rl.scope_logs)
                .map(|sl| sl.log_records.len())
                .sum(),
            ExportRequest::Metrics(r) => r
                .resource_metrics
                .iter()
                .flat_map(|rm| &rm.scope_metrics)
                .flat_map(|sm| &sm.metrics)
                .map(|m| match &m.data {
                    Some(Data::Gauge(g)) => g.data_points.len(),
                    Some(Data::Sum(s)) => s.data_points.len(),
                    Some(Data::Histogram(h)) => h.data_points.len(),
                    Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
                    Some(Data::Summary(s)) => s.data_points.len(),
                    None => 0,
                })
                .sum(),
            ExportRequest::Profiles(r) => r
                .resource_profiles
                .iter()
                .flat_map(|rp| &rp.scope_profiles)
                .map(|sp| sp.profiles.len())
                .sum(),
        }
    }

    /// Serializes the request as protobuf.
    pub fn encode_protobuf(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_protobuf_into(&mut out);
        out
    }

    /// Appends the request, serialized as protobuf, to `out` (reserving
    /// its exact size once).
    pub fn encode_protobuf_into(&self, out: &mut Vec<u8>) {
        let message: &dyn EncodeInto = match self {
            ExportRequest::Traces(r) => r,
            ExportRequest::Metrics(r) => r,
            ExportRequest::Logs(r) => r,
            ExportRequest::Profiles(r) => r,
        };
        message.encode_into(out);
    }

    /// Serializes the request as OTLP/JSON, following the specification's
    /// mapping (ids in hex, 64-bit integers as strings, NaN and infinite
    /// doubles as `"NaN"`, `"Infinity"`, `"-Infinity"`).
    pub fn to_json(&self) -> String {
        json::from_protobuf(self.signal(), &self.encode_protobuf())
    }
}

/// A prost message written to a `Vec`, as a trait object.
trait EncodeInto {
    fn encode_into(&self, out: &mut Vec<u8>);
}

impl<M: Message> EncodeInto for M {
    fn encode_into(&self, out: &mut Vec<u8>) {
        out.reserve(self.encoded_len());
        // A Vec grows as needed, so encoding into it cannot fail.
        let _ = self.encode(out);
    }
}

#[cfg(test)]
mod json_tests {
    use super::*;
    use crate::proto::common::v1::any_value::Value as V;

    /// How the Collector writes empty lists: the protobuf JSON mapping
    /// leaves out empty repeated fields.
    #[test]
    fn empty_array_and_kvlist_without_values_decode() {
        let body = br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"arrayValue":{}},
            "attributes":[{"key":"m","value":{"kvlistValue":{}}},
                          {"key":"n","value":{"arrayValue":{"values":[{"kvlistValue":{}}]}}}]}]}]}]}"#;
        let ExportRequest::Logs(logs) =
            ExportRequest::decode(Signal::Logs, Format::Json, body).unwrap()
        else {
            panic!("not logs")
        };
        let record = &logs.resource_logs[0].scope_logs[0].log_records[0];
        let value =
            |v: &Option<crate::proto::common::v1::AnyValue>| v.clone().unwrap().value.unwrap();
        assert!(matches!(value(&record.body), V::ArrayValue(a) if a.values.is_empty()));
        assert!(
            matches!(value(&record.attributes[0].value), V::KvlistValue(l) if l.values.is_empty())
        );
        let V::ArrayValue(nested) = value(&record.attributes[1].value) else {
            panic!("not an array")
        };
        assert!(matches!(&nested.values[0].value, Some(V::KvlistValue(l)) if l.values.is_empty()));
    }

    /// A profiles request with every field set: what the OTLP/JSON mapping
    /// writes of it reads back to the same request, and the pre-pass
    /// counts its profiles.
    #[test]
    fn profiles_round_trip_through_json() {
        use crate::proto::collector::profiles::v1development::ExportProfilesServiceRequest;
        use crate::proto::common::v1::{AnyValue, InstrumentationScope};
        use crate::proto::profiles::v1development as p;
        use crate::proto::resource::v1::Resource;
        let value_type = Some(p::ValueType {
            type_strindex: 1,
            unit_strindex: 2,
        });
        let profile = p::Profile {
            sample_type: value_type,
            samples: vec![p::Sample {
                stack_index: 1,
                attribute_indices: vec![0, 1],
                link_index: 1,
                values: vec![7, -3],
                timestamps_unix_nano: vec![1_700_000_000_000_000_001, u64::MAX],
            }],
            time_unix_nano: 1_700_000_000_000_000_000,
            duration_nano: 10_000_000_000,
            period_type: value_type,
            period: 52_631_578,
            profile_id: (1..=16).collect(),
            dropped_attributes_count: 3,
            original_payload_format: "pprof".into(),
            original_payload: vec![0, 255, 7],
            attribute_indices: vec![1],
        };
        let request = ExportProfilesServiceRequest {
            resource_profiles: vec![p::ResourceProfiles {
                resource: Some(Resource::default()),
                scope_profiles: vec![p::ScopeProfiles {
                    scope: Some(InstrumentationScope {
                        name: "otlp-ebpf".into(),
                        ..Default::default()
                    }),
                    profiles: vec![profile.clone(), profile],
                    schema_url: "https://opentelemetry.io/schemas/1.30.0".into(),
                }],
                schema_url: String::new(),
            }],
            dictionary: Some(p::ProfilesDictionary {
                mapping_table: vec![p::Mapping {
                    memory_start: 0x1000,
                    memory_limit: u64::MAX,
                    file_offset: 0x200,
                    filename_strindex: 3,
                    attribute_indices: vec![0],
                }],
                location_table: vec![p::Location {
                    mapping_index: 0,
                    address: 0x1234,
                    lines: vec![p::Line {
                        function_index: 0,
                        line: 42,
                        column: -1,
                    }],
                    attribute_indices: vec![],
                }],
                function_table: vec![p::Function {
                    name_strindex: 4,
                    system_name_strindex: 4,
                    filename_strindex: 3,
                    start_line: 40,
                }],
                link_table: vec![p::Link {
                    trace_id: vec![9; 16],
                    span_id: vec![8; 8],
                }],
                string_table: ["", "samples", "count", "/bin/burn", "burn_cpu"]
                    .map(String::from)
                    .to_vec(),
                attribute_table: vec![p::KeyValueAndUnit {
                    key_strindex: 1,
                    value: Some(AnyValue {
                        value: Some(crate::proto::common::v1::any_value::Value::IntValue(5)),
                    }),
                    unit_strindex: 2,
                }],
                stack_table: vec![p::Stack {
                    location_indices: vec![0, 0],
                }],
            }),
        };
        let request = ExportRequest::Profiles(request);
        let body = request.encode_protobuf();
        let (decoded, footprint) = ExportRequest::decode_limited(
            Signal::Profiles,
            Format::Protobuf,
            &body,
            DecodeLimits::unlimited(),
        )
        .unwrap();
        assert_eq!(decoded, request);
        assert_eq!((footprint.items, request.item_count()), (2, 2));
        let json = request.to_json();
        assert!(
            json.contains(r#""profileId":"0102030405060708090a0b0c0d0e0f10""#),
            "{json}"
        );
        let again = ExportRequest::decode(Signal::Profiles, Format::Json, json.as_bytes()).unwrap();
        assert_eq!(again, request, "{json}");
        let refused = ExportRequest::decode_limited(
            Signal::Profiles,
            Format::Protobuf,
            &body,
            DecodeLimits::new(1, usize::MAX),
        );
        assert!(refused.is_err_and(|e| e.is_too_large()));
    }

    /// A metric with two kinds of data keeps the last, as protobuf does;
    /// the footprint counted both, so it bounds the items from above.
    #[test]
    fn a_metric_with_two_kinds_of_data_keeps_the_last() {
        let body = br#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"m",
            "sum":{"dataPoints":[{"asDouble":5}]},
            "gauge":{"dataPoints":[{"asInt":"1"},{"asInt":"2"}]}}]}]}]}"#;
        let (request, footprint) = ExportRequest::decode_limited(
            Signal::Metrics,
            Format::Json,
            body,
            DecodeLimits::unlimited(),
        )
        .unwrap();
        assert_eq!(request.item_count(), 2);
        assert_eq!(footprint.items, 3);
        let again =
            ExportRequest::decode(Signal::Metrics, Format::Json, request.to_json().as_bytes())
                .unwrap();
        assert_eq!(again.encode_protobuf(), request.encode_protobuf());
    }

    #[test]
    fn bad_json_is_refused_naming_the_field() {
        let err = ExportRequest::decode(
            Signal::Traces,
            Format::Json,
            br#"{"resourceSpans":[{"x":}]}"#,
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::Json {
                    signal: Signal::Traces,
                    ..
                }
            ),
            "{err}"
        );
        let err = ExportRequest::decode(
            Signal::Traces,
            Format::Json,
            br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":7,"attributes":[{"key":"a","value":{"arrayValue":{}}}]}]}]}]}"#,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("resourceSpans[0].scopeSpans[0].spans[0].name"),
            "{err}"
        );
    }
}

#[cfg(test)]
mod id_tests {
    use super::*;
    use crate::proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use crate::proto::metrics::v1::{
        Exemplar, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
    };
    use crate::proto::trace::v1::{span::Link, ResourceSpans, ScopeSpans, Span};

    fn traces(span: Span) -> Vec<u8> {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![span],
                    ..ScopeSpans::default()
                }],
                ..ResourceSpans::default()
            }],
        }
        .encode_to_vec()
    }

    fn refused(signal: Signal, body: &[u8]) -> Option<(&'static str, usize)> {
        match ExportRequest::decode(signal, Format::Protobuf, body) {
            Err(DecodeError::InvalidId { field, len, .. }) => Some((field, len)),
            Err(e) => panic!("{e}"),
            Ok(_) => None,
        }
    }

    #[test]
    fn ids_of_a_wrong_length_are_refused_as_the_collector_does() {
        let good = Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            ..Span::default()
        };
        assert_eq!(refused(Signal::Traces, &traces(good.clone())), None);
        // No id at all is no id, not a wrong one.
        assert_eq!(refused(Signal::Traces, &traces(Span::default())), None);
        let cases = [
            (
                Span {
                    trace_id: vec![1; 5],
                    ..good.clone()
                },
                ("span.trace_id", 5),
            ),
            (
                Span {
                    span_id: vec![1; 16],
                    ..good.clone()
                },
                ("span.span_id", 16),
            ),
            (
                Span {
                    parent_span_id: vec![1; 7],
                    ..good.clone()
                },
                ("span.parent_span_id", 7),
            ),
            (
                Span {
                    links: vec![Link {
                        trace_id: vec![1; 17],
                        span_id: vec![1; 8],
                        ..Link::default()
                    }],
                    ..good.clone()
                },
                ("link.trace_id", 17),
            ),
        ];
        for (span, want) in cases {
            assert_eq!(refused(Signal::Traces, &traces(span)), Some(want));
        }
        let logs = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                scope_logs: vec![ScopeLogs {
                    log_records: vec![LogRecord {
                        span_id: vec![1; 4],
                        ..LogRecord::default()
                    }],
                    ..ScopeLogs::default()
                }],
                ..ResourceLogs::default()
            }],
        };
        assert_eq!(
            refused(Signal::Logs, &logs.encode_to_vec()),
            Some(("log_record.span_id", 4))
        );
        let metrics = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![Metric {
                        data: Some(Data::Gauge(Gauge {
                            data_points: vec![NumberDataPoint {
                                exemplars: vec![Exemplar {
                                    trace_id: vec![1; 15],
                                    ..Exemplar::default()
                                }],
                                ..NumberDataPoint::default()
                            }],
                        })),
                        ..Metric::default()
                    }],
                    ..ScopeMetrics::default()
                }],
                ..ResourceMetrics::default()
            }],
        };
        let err =
            ExportRequest::decode(Signal::Metrics, Format::Protobuf, &metrics.encode_to_vec())
                .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid OTLP metrics request: exemplar.trace_id has 15 bytes (an id has 16, or none)"
        );
    }

    /// Profiles carry ids too: each profile's, and the trace and span ids
    /// of the dictionary's links (pdata's `ProfileID`, `TraceID` and
    /// `SpanID` refuse other lengths).
    #[test]
    fn profile_ids_of_a_wrong_length_are_refused() {
        use crate::proto::collector::profiles::v1development::ExportProfilesServiceRequest;
        use crate::proto::profiles::v1development as p;
        let request = |profile_id: Vec<u8>, link: p::Link| {
            ExportProfilesServiceRequest {
                resource_profiles: vec![p::ResourceProfiles {
                    scope_profiles: vec![p::ScopeProfiles {
                        profiles: vec![p::Profile {
                            profile_id,
                            ..p::Profile::default()
                        }],
                        ..p::ScopeProfiles::default()
                    }],
                    ..p::ResourceProfiles::default()
                }],
                dictionary: Some(p::ProfilesDictionary {
                    link_table: vec![p::Link::default(), link],
                    ..p::ProfilesDictionary::default()
                }),
            }
            .encode_to_vec()
        };
        let link = |trace: usize, span: usize| p::Link {
            trace_id: vec![3; trace],
            span_id: vec![4; span],
        };
        let cases = [
            (vec![1; 16], link(16, 8), None),
            (vec![], link(0, 0), None),
            (vec![1; 15], link(16, 8), Some(("profile.profile_id", 15))),
            (
                vec![1; 16],
                link(8, 8),
                Some(("dictionary.link.trace_id", 8)),
            ),
            (
                vec![1; 16],
                link(16, 16),
                Some(("dictionary.link.span_id", 16)),
            ),
        ];
        for (profile_id, link, want) in cases {
            assert_eq!(refused(Signal::Profiles, &request(profile_id, link)), want);
        }
    }
}

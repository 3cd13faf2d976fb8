//! Decoding of OTLP export requests, for receivers.
//!
//! Decoding builds opentelemetry-proto's prost message types: a receiver
//! hands whole messages to its caller, so there is nothing to gain from a
//! custom decoder, and those types are what the rest of the Rust
//! OpenTelemetry ecosystem speaks.

use crate::proto::collector::logs::v1::ExportLogsServiceRequest;
use crate::proto::collector::metrics::v1::ExportMetricsServiceRequest;
use crate::proto::collector::trace::v1::ExportTraceServiceRequest;
use crate::proto::metrics::v1::metric::Data;
use crate::{Format, Signal};
use prost::Message;

/// A decoded OTLP export request of any signal.
#[derive(Debug, Clone, PartialEq)]
pub enum ExportRequest {
    /// A trace export request.
    Traces(ExportTraceServiceRequest),
    /// A metrics export request.
    Metrics(ExportMetricsServiceRequest),
    /// A logs export request.
    Logs(ExportLogsServiceRequest),
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
    /// The body is not valid OTLP/JSON for the expected type.
    #[error("invalid OTLP/JSON {signal} request: {source}")]
    Json {
        /// The signal the request was sent for.
        signal: Signal,
        /// What the JSON parser reported (with line and column).
        #[source]
        source: serde_json::Error,
    },
}

impl ExportRequest {
    /// Decodes `body`, serialized as `format`, as an export request for `signal`.
    pub fn decode(signal: Signal, format: Format, body: &[u8]) -> Result<Self, DecodeError> {
        match format {
            Format::Protobuf => {
                let err = |source| DecodeError::Protobuf { signal, source };
                Ok(match signal {
                    Signal::Traces => {
                        ExportRequest::Traces(ExportTraceServiceRequest::decode(body).map_err(err)?)
                    }
                    Signal::Metrics => ExportRequest::Metrics(
                        ExportMetricsServiceRequest::decode(body).map_err(err)?,
                    ),
                    Signal::Logs => {
                        ExportRequest::Logs(ExportLogsServiceRequest::decode(body).map_err(err)?)
                    }
                })
            }
            Format::Json => {
                let err = |source| DecodeError::Json { signal, source };
                let first = match Self::from_json(signal, body) {
                    Ok(request) => return Ok(request),
                    Err(first) => first,
                };
                // The protobuf JSON mapping lets a sender leave out empty
                // repeated fields, and the Collector does for an empty
                // `arrayValue` or `kvlistValue`; opentelemetry-proto's serde
                // types insist on their `values`. Fill those in and try
                // again; only bodies that failed pay for the second parse.
                let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(body) else {
                    return Err(err(first));
                };
                if !fill_empty_value_lists(&mut value) {
                    return Err(err(first));
                }
                Self::from_json_value(signal, value).map_err(|_| err(first))
            }
        }
    }

    fn from_json(signal: Signal, body: &[u8]) -> Result<Self, serde_json::Error> {
        Ok(match signal {
            Signal::Traces => ExportRequest::Traces(serde_json::from_slice(body)?),
            Signal::Metrics => ExportRequest::Metrics(serde_json::from_slice(body)?),
            Signal::Logs => ExportRequest::Logs(serde_json::from_slice(body)?),
        })
    }

    fn from_json_value(
        signal: Signal,
        value: serde_json::Value,
    ) -> Result<Self, serde_json::Error> {
        Ok(match signal {
            Signal::Traces => ExportRequest::Traces(serde_json::from_value(value)?),
            Signal::Metrics => ExportRequest::Metrics(serde_json::from_value(value)?),
            Signal::Logs => ExportRequest::Logs(serde_json::from_value(value)?),
        })
    }

    /// The request's signal.
    pub fn signal(&self) -> Signal {
        match self {
            ExportRequest::Traces(_) => Signal::Traces,
            ExportRequest::Metrics(_) => Signal::Metrics,
            ExportRequest::Logs(_) => Signal::Logs,
        }
    }

    /// The number of items in the request: spans, metric data points, or log
    /// records (the unit OTLP partial success counts in).
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
        }
    }

    /// Serializes the request as protobuf.
    pub fn encode_protobuf(&self) -> Vec<u8> {
        match self {
            ExportRequest::Traces(r) => r.encode_to_vec(),
            ExportRequest::Metrics(r) => r.encode_to_vec(),
            ExportRequest::Logs(r) => r.encode_to_vec(),
        }
    }

    /// Serializes the request as OTLP/JSON.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        match self {
            ExportRequest::Traces(r) => serde_json::to_string(r),
            ExportRequest::Metrics(r) => serde_json::to_string(r),
            ExportRequest::Logs(r) => serde_json::to_string(r),
        }
    }
}

/// Adds `"values": []` to every `arrayValue` and `kvlistValue` object that
/// has none, returning whether it added any. (The tree's depth is bounded
/// by serde_json's recursion limit, so recursing here is too.)
fn fill_empty_value_lists(value: &mut serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut filled = false;
            for (key, field) in map.iter_mut() {
                if matches!(key.as_str(), "arrayValue" | "kvlistValue") {
                    if let Value::Object(list) = field {
                        if !list.contains_key("values") {
                            list.insert("values".into(), Value::Array(Vec::new()));
                            filled = true;
                        }
                    }
                }
                filled |= fill_empty_value_lists(field);
            }
            filled
        }
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |filled, item| fill_empty_value_lists(item) | filled),
        _ => false,
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

    #[test]
    fn bad_json_keeps_its_first_error() {
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
        assert!(err.to_string().contains("invalid type"), "{err}");
    }
}

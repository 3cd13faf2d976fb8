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
#[non_exhaustive]
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
                Ok(match signal {
                    Signal::Traces => {
                        ExportRequest::Traces(serde_json::from_slice(body).map_err(err)?)
                    }
                    Signal::Metrics => {
                        ExportRequest::Metrics(serde_json::from_slice(body).map_err(err)?)
                    }
                    Signal::Logs => ExportRequest::Logs(serde_json::from_slice(body).map_err(err)?),
                })
            }
        }
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

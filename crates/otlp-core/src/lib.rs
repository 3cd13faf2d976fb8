//! OTLP data model, encoding and decoding.
#![forbid(unsafe_code)]

mod decode;
mod encode;
mod json;
pub mod limits;
mod model;
mod retry;
mod schema;
mod signal;

pub use decode::{DecodeError, ExportRequest};
pub use encode::{Encoder, SpanBatch};
pub use model::{
    LogBuilder, LogRecord, MetricBuilder, MetricRecord, MetricValue, SpanBuilder, SpanRecord,
    TelemetryData,
};
pub use retry::Retryable;
pub use signal::{Format, ParseError, Signal};

/// The OTLP protobuf message types (from `opentelemetry-proto`), used for
/// decoding and in tests.
pub use opentelemetry_proto::tonic as proto;

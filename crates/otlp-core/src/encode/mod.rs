//! Direct encoding of OpenTelemetry SDK data into OTLP requests.
//!
//! The stock path (`opentelemetry-proto`'s `transform` and then `prost`)
//! first builds a tree of prost messages, cloning every string into it, and
//! then walks that tree twice: once to compute lengths and once to write.
//! [`Encoder`] walks the SDK's own structures once and writes bytes as it
//! goes, into a buffer the caller reuses. Nested-message lengths are
//! reserved and patched in place, so nothing is computed twice; the
//! exporter's resource, which is the same in every request, is encoded once
//! when it is set. See `docs/benchmarks.md` for the measured difference.
//!
//! Both formats come from one traversal (see `writer.rs`), so a field added
//! to one cannot be missing from the other.

mod common;
mod logs;
mod metrics;
mod records;
mod trace;
pub(crate) mod writer;

pub use trace::SpanBatch;

use crate::{Format, Signal, TelemetryData};
use common::EncodedResource;
use opentelemetry::InstrumentationScope;
use opentelemetry_sdk::logs::{LogBatch, SdkLogRecord};
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::trace::SpanData;
use opentelemetry_sdk::Resource;
use writer::{JsonWriter, ProtoWriter};

/// Runs an encoding body with the writer for `format`, replacing `out`.
macro_rules! encode_with {
    ($format:expr, $out:expr, |$w:ident| $body:expr) => {{
        let out: &mut Vec<u8> = $out;
        out.clear();
        match $format {
            Format::Protobuf => {
                let $w = &mut ProtoWriter::new(out);
                $body
            }
            Format::Json => JsonWriter::object(out, |$w| $body),
        }
    }};
}

/// Encodes SDK spans, log batches and metrics into OTLP export requests.
///
/// An `Encoder` holds the format and the exporter's resource (pre-encoded).
/// Encoding methods take `&self`, so one encoder can serve several threads.
///
/// ```
/// use otlp_core::{Encoder, Format, ExportRequest, Signal};
/// use opentelemetry_sdk::Resource;
///
/// let resource = Resource::builder_empty().with_service_name("checkout").build();
/// let encoder = Encoder::new(Format::Protobuf).with_resource(&resource);
/// let mut buf = Vec::new();
/// encoder.encode_spans(&[], &mut buf);
/// assert!(buf.is_empty()); // an empty batch is an empty request
///
/// let decoded = ExportRequest::decode(Signal::Traces, Format::Protobuf, &buf).unwrap();
/// assert_eq!(decoded.item_count(), 0);
/// ```
#[derive(Debug, Clone)]
pub struct Encoder {
    format: Format,
    resource: EncodedResource,
}

impl Encoder {
    /// An encoder for `format` with an empty resource.
    pub fn new(format: Format) -> Self {
        Encoder {
            format,
            resource: EncodedResource::default(),
        }
    }

    /// Sets the resource that spans and logs are reported under.
    pub fn with_resource(mut self, resource: &Resource) -> Self {
        self.set_resource(resource);
        self
    }

    /// Sets the resource that spans and logs are reported under. (Metrics
    /// carry their own resource.)
    pub fn set_resource(&mut self, resource: &Resource) {
        self.resource = EncodedResource::new(resource);
    }

    /// The output format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Replaces the contents of `out` with an `ExportTraceServiceRequest`
    /// holding `spans`, grouped by instrumentation scope in order of first
    /// appearance.
    pub fn encode_spans(&self, spans: &[SpanData], out: &mut Vec<u8>) {
        encode_with!(self.format, out, |w| trace::request(
            w,
            &self.resource,
            spans
        ));
    }

    /// Replaces the contents of `out` with an `ExportTraceServiceRequest`
    /// holding the spans of `batch`, in the batch's format, and empties the
    /// batch. The bytes are those [`encode_spans`](Self::encode_spans)
    /// writes for the same spans pushed in the same order.
    pub fn encode_span_batch(&self, batch: &mut SpanBatch, out: &mut Vec<u8>) {
        encode_with!(batch.format(), out, |w| trace::batch_request(
            w,
            &self.resource,
            batch
        ));
        batch.clear();
    }

    /// Replaces the contents of `out` with an `ExportLogsServiceRequest`
    /// holding `batch`, grouped by instrumentation scope (a record's target,
    /// when set, names its scope).
    pub fn encode_logs(&self, batch: &LogBatch<'_>, out: &mut Vec<u8>) {
        encode_with!(self.format, out, |w| logs::request(
            w,
            &self.resource,
            batch
        ));
    }

    /// [`encode_logs`](Self::encode_logs) of some of a batch's records
    /// (an exporter routing records by their trace id encodes each
    /// endpoint's part so), in the order given.
    pub fn encode_log_records(
        &self,
        records: &[(&SdkLogRecord, &InstrumentationScope)],
        out: &mut Vec<u8>,
    ) {
        encode_with!(self.format, out, |w| logs::request_of(
            w,
            &self.resource,
            || records.iter().copied()
        ));
    }

    /// Replaces the contents of `out` with an `ExportMetricsServiceRequest`
    /// holding `metrics` (with its own resource).
    pub fn encode_metrics(&self, metrics: &ResourceMetrics, out: &mut Vec<u8>) {
        encode_with!(self.format, out, |w| metrics::request(w, metrics));
    }

    /// Replaces the contents of `out` with an export request of `signal`
    /// holding those of `records` that belong to it, reported under this
    /// encoder's resource and `scope`. Returns how many records that was.
    pub fn encode_records(
        &self,
        signal: Signal,
        scope: &InstrumentationScope,
        records: &[TelemetryData],
        out: &mut Vec<u8>,
    ) -> usize {
        encode_with!(self.format, out, |w| records::request(
            w,
            &self.resource,
            scope,
            signal,
            records
        ))
    }
}

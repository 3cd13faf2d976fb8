//! The push API: [`TelemetryData`] records sent without the SDK.
//!
//! Records are grouped by signal, encoded with the same
//! [`Encoder`](otlp_core::Encoder) the SDK exporters use (under the
//! client's resource and an `otlp` instrumentation scope), compressed once
//! and sent by the client the exporters send through: the exporters'
//! builder, on the same [`ExportThread`](otlp_exporter::ExportThread),
//! hands it out
//! ([`ExporterBuilder::build_client`](otlp_exporter::ExporterBuilder::build_client)),
//! so pushes go where the SDK's exports go, over the same connections.
//! Each call is one request per signal it holds: for many records, batch
//! them into one [`send_batch`](EnhancedOtlpClient::send_batch).
//!
//! The requests are sent from the export thread, so a push can be awaited
//! in any executor, not only in a tokio runtime.

use crate::EnhancedOtlpClient;
use bytes::Bytes;
use opentelemetry::logs::{AnyValue, Severity};
use opentelemetry::{InstrumentationScope, Key, Value};
use opentelemetry_sdk::Resource;
use otlp_compression::{Algorithm, CompressionError, Compressor};
use otlp_core::{
    Encoder, LogBuilder, MetricBuilder, Retryable, Signal, SpanBuilder, TelemetryData,
};
use otlp_exporter::{ExportStats, ExporterBuilder, ResolvedClient, StatsSnapshot};
use otlp_transport::client::{ExportError, Payload};
use std::sync::{Arc, Mutex, PoisonError};

/// What the receiver accepted of a push.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PushResponse {
    /// Items the receiver kept.
    pub accepted: u64,
    /// Items the receiver rejected in a partial success.
    pub rejected: u64,
}

/// Why a push failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
    /// [`EnhancedOtlpClient::shutdown`] was called (or the client's export
    /// thread stopped).
    #[error("the OTLP client has been shut down")]
    ShutDown,
    /// Compressing the request failed.
    #[error("compressing the {signal} request failed: {source}")]
    Compression {
        /// The signal whose request it was.
        signal: Signal,
        /// What the codec reported.
        #[source]
        source: CompressionError,
    },
    /// The export request failed; its items were not delivered.
    /// [`ExportError::is_retryable`] and [`ExportError::retry_after`] say
    /// whether sending the same records again may help.
    #[error("{signal} export of {items} items failed: {source}")]
    Export {
        /// The signal whose request failed.
        signal: Signal,
        /// How many items it held.
        items: u64,
        /// Why it failed.
        #[source]
        source: ExportError,
    },
}

/// Only a failed export may be worth repeating; the other failures would
/// fail the same way again.
impl Retryable for PushError {
    fn is_retryable(&self) -> bool {
        match self {
            PushError::Export { source, .. } => source.is_retryable(),
            _ => false,
        }
    }

    fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            PushError::Export { source, .. } => source.retry_after(),
            _ => None,
        }
    }
}

/// The push API's three lanes (in [`Signal::STABLE`] order) and the scope
/// its records are sent under.
#[derive(Debug)]
pub(crate) struct Lanes {
    lanes: [Lane; 3],
    scope: InstrumentationScope,
}

impl Lanes {
    /// A lane per signal, with the client `exporter` gives for it; on
    /// failure, the signal and why.
    pub(crate) fn new<E>(
        exporter: &ExporterBuilder<E>,
        resource: &Resource,
    ) -> Result<Self, (Signal, otlp_exporter::BuildError)> {
        let lane = |signal| {
            exporter
                .build_client(signal)
                .and_then(|client| Lane::new(signal, client, resource))
                .map_err(|e| (signal, e))
        };
        Ok(Lanes {
            lanes: [
                lane(Signal::Traces)?,
                lane(Signal::Metrics)?,
                lane(Signal::Logs)?,
            ],
            scope: InstrumentationScope::builder("otlp")
                .with_version(env!("CARGO_PKG_VERSION"))
                .build(),
        })
    }

    /// The handle to `signal`'s counters.
    pub(crate) fn export_stats(&self, signal: Signal) -> Option<ExportStats> {
        self.lanes
            .iter()
            .find(|lane| lane.signal == signal)
            .map(|lane| lane.client.stats())
    }

    /// Each lane's counters, in [`Signal::STABLE`] order.
    pub(crate) fn stats(&self) -> [StatsSnapshot; 3] {
        self.lanes
            .each_ref()
            .map(|lane| lane.client.stats().snapshot())
    }

    /// Sends `records`: one request per signal present, all sent even if
    /// one fails. Needs a tokio runtime (the export thread's).
    async fn send(&self, records: &[TelemetryData]) -> Result<PushResponse, PushError> {
        let mut total = PushResponse::default();
        let mut first_error = None;
        for lane in &self.lanes {
            match lane.send(&self.scope, records).await {
                Ok(response) => {
                    total.accepted += response.accepted;
                    total.rejected += response.rejected;
                }
                Err(err) => {
                    first_error.get_or_insert(err);
                }
            }
        }
        match first_error {
            Some(err) => Err(err),
            None => Ok(total),
        }
    }
}

/// Encodes, compresses and sends one signal's pushes.
#[derive(Debug)]
struct Lane {
    signal: Signal,
    client: ResolvedClient,
    encoder: Encoder,
    algorithm: Algorithm,
    /// The reusable compressor and the buffer requests are encoded into.
    compressor: Mutex<(Compressor, Vec<u8>)>,
}

impl Lane {
    fn new(
        signal: Signal,
        client: ResolvedClient,
        resource: &Resource,
    ) -> Result<Self, otlp_exporter::BuildError> {
        Ok(Lane {
            signal,
            encoder: Encoder::new(client.protocol.format()).with_resource(resource),
            algorithm: client.compression.algorithm(),
            // SRT is applied by the client, per attempt, to the plain request.
            compressor: Mutex::new((
                match client.compression.algorithm() {
                    Algorithm::Srt => Compressor::new(otlp_compression::Compression::none())?,
                    _ => Compressor::new(client.compression)?,
                },
                Vec::new(),
            )),
            client,
        })
    }

    /// Encodes and compresses those of `records` that are of this signal:
    /// the request, its items and its size before compression; `None` if
    /// there are none.
    fn prepare(
        &self,
        scope: &InstrumentationScope,
        records: &[TelemetryData],
    ) -> Result<Option<(Payload, u64, usize)>, PushError> {
        let mut guard = self
            .compressor
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (compressor, scratch) = &mut *guard;
        let items = self
            .encoder
            .encode_records(self.signal, scope, records, scratch);
        if items == 0 {
            return Ok(None);
        }
        let uncompressed = scratch.len();
        let body = if matches!(self.algorithm, Algorithm::None | Algorithm::Srt) {
            // The encoded request is the body; the next one gets a new buffer.
            std::mem::take(scratch)
        } else {
            let mut out = Vec::new();
            compressor
                .compress(scratch, &mut out)
                .map_err(|source| PushError::Compression {
                    signal: self.signal,
                    source,
                })?;
            out
        };
        Ok(Some((
            Payload::new(Bytes::from(body), self.algorithm),
            items as u64,
            uncompressed,
        )))
    }

    /// Sends this signal's records, if `records` holds any.
    async fn send(
        &self,
        scope: &InstrumentationScope,
        records: &[TelemetryData],
    ) -> Result<PushResponse, PushError> {
        let Some((payload, items, uncompressed)) = self.prepare(scope, records)? else {
            return Ok(PushResponse::default());
        };
        let result = self
            .client
            .export(self.signal, payload, items, uncompressed)
            .await;
        match result {
            Ok(response) => {
                let rejected = response.rejected_items.min(items);
                Ok(PushResponse {
                    accepted: items - rejected,
                    rejected,
                })
            }
            Err(source) => {
                // Counted by the client as returned to the caller.
                Err(PushError::Export {
                    signal: self.signal,
                    items,
                    source,
                })
            }
        }
    }
}

impl EnhancedOtlpClient {
    /// Sends `records` (of any signals) to the collector: one request per
    /// signal present, all sent even if one fails.
    ///
    /// Returns what the receiver accepted in all, or the first failure.
    /// Counted in [`stats`](Self::stats) beside the SDK's exports.
    ///
    /// The requests are sent from the client's export thread: the future
    /// can be awaited in any executor, inside a tokio runtime or not.
    pub async fn send_batch(&self, records: Vec<TelemetryData>) -> Result<PushResponse, PushError> {
        if self.is_shut_down() {
            return Err(PushError::ShutDown);
        }
        let lanes = Arc::clone(self.lanes());
        self.export_thread()
            .run(async move { lanes.send(&records).await })
            .await
            .unwrap_or(Err(PushError::ShutDown))
    }

    /// Starts a span named `name`, starting now; [`PendingSpan::finish`]
    /// ends and sends it.
    pub fn send_trace(&self, name: impl Into<std::borrow::Cow<'static, str>>) -> PendingSpan<'_> {
        PendingSpan {
            client: self,
            span: TelemetryData::span(name),
        }
    }

    /// Starts a data point of the metric `name`; [`PendingMetric::gauge`],
    /// [`sum`](PendingMetric::sum) or [`histogram`](PendingMetric::histogram)
    /// sets its value and sends it.
    pub fn send_metric(
        &self,
        name: impl Into<std::borrow::Cow<'static, str>>,
    ) -> PendingMetric<'_> {
        PendingMetric {
            client: self,
            metric: TelemetryData::metric(name),
        }
    }

    /// Starts a log record with `body`; [`PendingLog::finish`] sends it.
    pub fn send_log(&self, body: impl Into<AnyValue>) -> PendingLog<'_> {
        PendingLog {
            client: self,
            log: TelemetryData::log(body),
        }
    }
}

/// A span being built for [`EnhancedOtlpClient::send_trace`]; nothing is
/// sent until [`finish`](Self::finish) is awaited.
#[derive(Debug)]
#[must_use = "nothing is sent until `finish` is awaited"]
pub struct PendingSpan<'c> {
    client: &'c EnhancedOtlpClient,
    span: SpanBuilder,
}

impl PendingSpan<'_> {
    /// Adds an attribute.
    pub fn with_attribute(mut self, key: impl Into<Key>, value: impl Into<Value>) -> Self {
        self.span = self.span.with_attribute(key, value);
        self
    }

    /// Changes anything else [`SpanBuilder`] can set (kind, parent, times,
    /// events, status).
    pub fn map(mut self, f: impl FnOnce(SpanBuilder) -> SpanBuilder) -> Self {
        self.span = f(self.span);
        self
    }

    /// Ends the span now (unless an end time was set) and sends it.
    pub async fn finish(self) -> Result<PushResponse, PushError> {
        self.client.send_batch(vec![self.span.finish()]).await
    }
}

/// A metric data point being built for
/// [`EnhancedOtlpClient::send_metric`]; nothing is sent until one of the
/// value methods is awaited.
#[derive(Debug)]
#[must_use = "nothing is sent until `gauge`, `sum` or `histogram` is awaited"]
pub struct PendingMetric<'c> {
    client: &'c EnhancedOtlpClient,
    metric: MetricBuilder,
}

impl PendingMetric<'_> {
    /// Adds an attribute.
    pub fn with_attribute(mut self, key: impl Into<Key>, value: impl Into<Value>) -> Self {
        self.metric = self.metric.with_attribute(key, value);
        self
    }

    /// Changes anything else [`MetricBuilder`] can set (description, unit,
    /// times).
    pub fn map(mut self, f: impl FnOnce(MetricBuilder) -> MetricBuilder) -> Self {
        self.metric = f(self.metric);
        self
    }

    /// Sends the point as a gauge reading.
    pub async fn gauge(self, value: f64) -> Result<PushResponse, PushError> {
        self.client.send_batch(vec![self.metric.gauge(value)]).await
    }

    /// Sends the point as a cumulative sum; `monotonic` for counters.
    pub async fn sum(self, value: f64, monotonic: bool) -> Result<PushResponse, PushError> {
        let point = self.metric.sum(value, monotonic);
        self.client.send_batch(vec![point]).await
    }

    /// Sends the point as a histogram of `observations` over buckets bounded
    /// by `bounds`.
    pub async fn histogram(
        self,
        bounds: Vec<f64>,
        observations: &[f64],
    ) -> Result<PushResponse, PushError> {
        let point = self.metric.histogram(bounds, observations);
        self.client.send_batch(vec![point]).await
    }
}

/// A log record being built for [`EnhancedOtlpClient::send_log`]; nothing
/// is sent until [`finish`](Self::finish) is awaited.
#[derive(Debug)]
#[must_use = "nothing is sent until `finish` is awaited"]
pub struct PendingLog<'c> {
    client: &'c EnhancedOtlpClient,
    log: LogBuilder,
}

impl PendingLog<'_> {
    /// Adds an attribute.
    pub fn with_attribute(mut self, key: impl Into<Key>, value: impl Into<AnyValue>) -> Self {
        self.log = self.log.with_attribute(key, value);
        self
    }

    /// Sets the severity.
    pub fn with_severity(mut self, severity: Severity) -> Self {
        self.log = self.log.with_severity(severity);
        self
    }

    /// Changes anything else [`LogBuilder`] can set (time, trace context,
    /// event name).
    pub fn map(mut self, f: impl FnOnce(LogBuilder) -> LogBuilder) -> Self {
        self.log = f(self.log);
        self
    }

    /// Sends the record.
    pub async fn finish(self) -> Result<PushResponse, PushError> {
        self.client.send_batch(vec![self.log.build()]).await
    }
}

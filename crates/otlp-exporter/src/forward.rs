//! Sending requests that arrived as OTLP on through the same delivery as
//! the SDK exporters: the gateway case (`otlp receive --forward`).

use opentelemetry_sdk::error::OTelSdkResult;
use otlp_core::{ExportRequest, Format, Signal};
use std::time::{Duration, Instant};

use crate::pipeline::Pipeline;
use crate::stats::ExportStats;
use crate::{BuildError, ExportThread, ExporterBuilder};

/// Forwards decoded OTLP requests of every signal to one destination,
/// through the exporters' delivery: queue, retry, circuit breaker,
/// persistence and stats, one pipeline per signal on one export thread
/// (and so one transport client).
///
/// A request is re-encoded in the destination's format and compressed
/// as configured: SRT between two of our peers, OTLP + zstd to a stock
/// Collector. With a persistent queue, each signal keeps its own
/// directory under the one given (`traces`, `metrics`, `logs`,
/// `profiles`).
///
/// ```no_run
/// use otlp_exporter::{OtlpForwarder, Protocol};
///
/// # async fn run(request: otlp_core::ExportRequest) -> Result<(), Box<dyn std::error::Error>> {
/// let forwarder = OtlpForwarder::builder()
///     .with_protocol(Protocol::Grpc)
///     .with_endpoint("http://collector:4317")
///     .build()?;
/// // A request accepted from a client: queued, then delivered.
/// forwarder.forward(&request).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct OtlpForwarder {
    /// In [`Signal::ALL`] order.
    pipelines: Vec<Pipeline>,
    format: Format,
}

impl OtlpForwarder {
    /// A builder; see the [crate docs](crate) for the settings.
    pub fn builder() -> ExporterBuilder<OtlpForwarder> {
        ExporterBuilder::new()
    }

    /// Queues `request` for delivery. An error when it cannot be queued
    /// (the queue is full and refuses more, or the forwarder is shut
    /// down): what the client that sent it should be told to retry.
    pub async fn forward(&self, request: &ExportRequest) -> OTelSdkResult {
        let signal = request.signal();
        let pipeline = &self.pipelines[signal.index()];
        let items = request.item_count() as u64;
        let format = self.format;
        pipeline
            .export(items, |_, out| match format {
                Format::Json => out.extend_from_slice(request.to_json().as_bytes()),
                _ => request.encode_protobuf_into(out),
            })
            .await
    }

    /// The counters of one signal's pipeline.
    pub fn stats(&self, signal: Signal) -> ExportStats {
        self.pipelines[signal.index()].stats.clone()
    }

    /// The counters of the metrics the processors derive from the
    /// forwarded spans (span metrics), when the chain has such a step: data
    /// points accepted, exported and dropped, apart from the forwarded
    /// metrics' [`stats`](Self::stats).
    #[cfg(feature = "processors")]
    pub fn derived_metrics_stats(&self) -> Option<ExportStats> {
        self.pipelines[Signal::Traces.index()].derived_metrics_stats()
    }

    /// Stops taking requests and waits up to `timeout` for every queue to
    /// drain; an error if something was left or dropped.
    pub fn shutdown(&self, timeout: Duration) -> OTelSdkResult {
        let deadline = Instant::now() + timeout;
        let mut verdict = Ok(());
        for pipeline in &self.pipelines {
            if let Err(error) = pipeline.shutdown_until(deadline, timeout) {
                verdict = Err(error);
            }
        }
        verdict
    }
}

impl ExporterBuilder<OtlpForwarder> {
    /// Builds the forwarder: a pipeline for each signal on one export
    /// thread.
    pub fn build(self) -> Result<OtlpForwarder, BuildError> {
        let thread = match &self.thread {
            Some(thread) => thread.clone(),
            None => ExportThread::new()?,
        };
        let builder = self.with_export_thread(&thread);
        let mut pipelines = Vec::with_capacity(Signal::ALL.len());
        let mut format = Format::Protobuf;
        for signal in Signal::ALL {
            let mut builder = builder.clone();
            if let Some(dir) = &builder.persist_dir {
                builder.persist_dir = Some(dir.join(signal.as_str()));
            }
            format = builder.resolve(signal)?.protocol.format();
            #[allow(unused_mut)]
            let mut pipeline = builder.pipeline(signal)?;
            // Requests arrive decoded, not as SDK spans ending: the chain
            // runs on each request.
            #[cfg(feature = "processors")]
            pipeline.process_batches_only();
            pipelines.push(pipeline);
        }
        Ok(OtlpForwarder { pipelines, format })
    }
}

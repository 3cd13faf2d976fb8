//! [`EnhancedOtlpClient`]: the SDK's three providers wired to our span
//! processor and exporters, plus the push API, behind one builder.

use crate::push::Lane;
use crate::stats::{ClientStats, PushStats};
use opentelemetry::metrics::{Meter, MeterProvider as _};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::error::OTelSdkError;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use otlp_compression::Compression;
use otlp_core::Signal;
use otlp_exporter::{
    ExportStats, ExporterBuilder, FlushHandle, OtlpLogExporter, OtlpMetricExporter,
    OtlpSpanExporter, OtlpSpanProcessor, Protocol, ResolvedClient, TlsConfig,
};
use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How long `force_flush` waits for each exporter's queue to drain.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(30);

/// Why [`EnhancedOtlpClientBuilder::build`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// One signal's SDK exporter or push client could not be built: a bad
    /// setting, an `OTEL_EXPORTER_OTLP_*` variable that cannot be parsed, a
    /// protocol or codec left out of the build. Both are built by
    /// `otlp-exporter` from the same settings.
    #[error("cannot build the {signal} exporter: {source}")]
    Exporter {
        /// The exporter's signal.
        signal: Signal,
        /// What the exporter reported.
        #[source]
        source: otlp_exporter::BuildError,
    },
}

/// Some providers failed to flush or shut down.
#[derive(Debug, thiserror::Error)]
#[error("{}", describe(.failures))]
#[non_exhaustive]
pub struct ProviderError {
    /// Each provider that failed, by signal, with what the SDK reported.
    pub failures: Vec<(Signal, OTelSdkError)>,
}

fn describe(failures: &[(Signal, OTelSdkError)]) -> String {
    let parts: Vec<String> = failures
        .iter()
        .map(|(signal, err)| format!("{signal} provider: {err}"))
        .collect();
    parts.join("; ")
}

/// The settings given in code; `None` and empty mean "not set", and the
/// exporters then read the `OTEL_*` variables.
#[derive(Debug, Clone, Default)]
pub(crate) struct Settings {
    pub(crate) endpoint: Option<String>,
    pub(crate) protocol: Option<Protocol>,
    pub(crate) compression: Option<Compression>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) tls: Option<TlsConfig>,
}

impl Settings {
    /// Passes on to an exporter builder only what was set in code.
    fn apply<E>(&self, mut builder: ExporterBuilder<E>) -> ExporterBuilder<E> {
        if let Some(endpoint) = &self.endpoint {
            builder = builder.with_endpoint(endpoint.clone());
        }
        if let Some(protocol) = self.protocol {
            builder = builder.with_protocol(protocol);
        }
        if let Some(compression) = self.compression {
            builder = builder.with_compression(compression);
        }
        if !self.headers.is_empty() {
            builder = builder.with_headers(self.headers.clone());
        }
        if let Some(timeout) = self.timeout {
            builder = builder.with_timeout(timeout);
        }
        if let Some(tls) = &self.tls {
            builder = builder.with_tls(tls.clone());
        }
        builder
    }
}

/// The OpenTelemetry SDK's tracer, meter and logger providers, exporting
/// through otlp-rust's exporters, and a push API for records built without
/// the SDK. See the [crate docs](crate) for an example.
///
/// The SDK shuts a provider down when its last handle is dropped, so
/// dropping the client (and every provider handle taken from it) flushes
/// too, but silently and with the same blocking as
/// [`shutdown`](Self::shutdown); call that to see the outcome.
pub struct EnhancedOtlpClient {
    tracer_provider: SdkTracerProvider,
    meter_provider: SdkMeterProvider,
    logger_provider: SdkLoggerProvider,
    /// The SDK exporters' counters, in [`Signal::STABLE`] order.
    exporter_stats: [ExportStats; 3],
    /// Waits for each exporter's queue to drain (traces, metrics, logs).
    flush_handles: [FlushHandle; 3],
    /// The push API's clients, in [`Signal::STABLE`] order.
    lanes: [Lane; 3],
    push_scope: InstrumentationScope,
    shut_down: AtomicBool,
}

impl EnhancedOtlpClient {
    /// A builder with nothing set: everything comes from the `OTEL_*`
    /// variables or their defaults.
    pub fn builder() -> EnhancedOtlpClientBuilder {
        EnhancedOtlpClientBuilder::default()
    }

    /// A tracer from the client's tracer provider.
    pub fn tracer(&self, name: impl Into<Cow<'static, str>>) -> SdkTracer {
        self.tracer_provider.tracer(name)
    }

    /// A meter from the client's meter provider.
    pub fn meter(&self, name: &'static str) -> Meter {
        self.meter_provider.meter(name)
    }

    /// The tracer provider, e.g. for
    /// `opentelemetry::global::set_tracer_provider(client.tracer_provider().clone())`.
    pub fn tracer_provider(&self) -> &SdkTracerProvider {
        &self.tracer_provider
    }

    /// The meter provider, e.g. for `opentelemetry::global::set_meter_provider`.
    pub fn meter_provider(&self) -> &SdkMeterProvider {
        &self.meter_provider
    }

    /// The logger provider, to hand to a log bridge (such as
    /// `opentelemetry-appender-tracing` or `opentelemetry-appender-log`) or
    /// to emit records with the `opentelemetry::logs` API.
    pub fn logger_provider(&self) -> &SdkLoggerProvider {
        &self.logger_provider
    }

    /// What has been exported so far: each SDK exporter's counters, and the
    /// push API's.
    pub fn stats(&self) -> ClientStats {
        let [traces, metrics, logs] = &self.exporter_stats;
        let mut pushed = PushStats::default();
        for (lane, signal) in self.lanes.iter().zip(Signal::STABLE) {
            if let Some(slot) = pushed.signal_mut(signal) {
                *slot = lane.counters.snapshot();
            }
        }
        ClientStats {
            traces: traces.snapshot(),
            metrics: metrics.snapshot(),
            logs: logs.snapshot(),
            pushed,
        }
    }

    /// Exports everything the providers hold now: spans and log records
    /// buffered by the batch processors, and the metrics as they stand.
    ///
    /// Blocks until the exports are answered; see [`shutdown`](Self::shutdown).
    pub fn force_flush(&self) -> Result<(), ProviderError> {
        self.each_provider(
            SdkTracerProvider::force_flush,
            SdkMeterProvider::force_flush,
            SdkLoggerProvider::force_flush,
        )?;
        // The providers return once our exporters have queued the batches;
        // wait for the queues to drain too.
        let failures: Vec<_> = Signal::STABLE
            .into_iter()
            .zip(&self.flush_handles)
            .filter_map(|(signal, h)| h.flush(FLUSH_TIMEOUT).err().map(|e| (signal, e)))
            .collect();
        match failures.is_empty() {
            true => Ok(()),
            false => Err(ProviderError { failures }),
        }
    }

    /// Flushes and shuts down the three providers, and stops the push API.
    ///
    /// Blocks the calling thread until the last exports are answered (or
    /// time out). The exporters send from threads of their own, so this
    /// works from any thread; inside an async task, prefer
    /// [`spawn_blocking`](tokio::task::spawn_blocking) so that the wait
    /// does not hold a runtime worker.
    pub fn shutdown(&self) -> Result<(), ProviderError> {
        self.shut_down.store(true, Ordering::Relaxed);
        self.each_provider(
            SdkTracerProvider::shutdown,
            SdkMeterProvider::shutdown,
            SdkLoggerProvider::shutdown,
        )
    }

    fn each_provider(
        &self,
        traces: fn(&SdkTracerProvider) -> Result<(), OTelSdkError>,
        metrics: fn(&SdkMeterProvider) -> Result<(), OTelSdkError>,
        logs: fn(&SdkLoggerProvider) -> Result<(), OTelSdkError>,
    ) -> Result<(), ProviderError> {
        let results = [
            (Signal::Traces, traces(&self.tracer_provider)),
            (Signal::Metrics, metrics(&self.meter_provider)),
            (Signal::Logs, logs(&self.logger_provider)),
        ];
        let failures: Vec<_> = results
            .into_iter()
            .filter_map(|(signal, result)| result.err().map(|err| (signal, err)))
            .collect();
        match failures.is_empty() {
            true => Ok(()),
            false => Err(ProviderError { failures }),
        }
    }

    pub(crate) fn is_shut_down(&self) -> bool {
        self.shut_down.load(Ordering::Relaxed)
    }

    pub(crate) fn lanes(&self) -> &[Lane; 3] {
        &self.lanes
    }

    pub(crate) fn push_scope(&self) -> &InstrumentationScope {
        &self.push_scope
    }
}

impl fmt::Debug for EnhancedOtlpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnhancedOtlpClient")
            .field("lanes", &self.lanes)
            .field("shut_down", &self.shut_down)
            .finish_non_exhaustive()
    }
}

/// Configures an [`EnhancedOtlpClient`]; made by
/// [`EnhancedOtlpClient::builder`].
///
/// What is set here wins over the environment; what is not comes from the
/// standard variables: `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`
/// (read by the SDK's [`Resource::builder`]), `OTEL_EXPORTER_OTLP_*` (read
/// by the exporters, general and per signal) and
/// `OTEL_METRIC_EXPORT_INTERVAL` (read by the SDK's periodic reader).
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct EnhancedOtlpClientBuilder {
    settings: Settings,
    service_name: Option<String>,
    resource_attributes: Vec<KeyValue>,
    metric_export_interval: Option<Duration>,
}

impl EnhancedOtlpClientBuilder {
    /// The collector's endpoint for all three signals: for gRPC, e.g.
    /// `http://localhost:4317`; for HTTP, a base such as
    /// `http://localhost:4318` (the signal paths `/v1/traces`, ... are
    /// added). Replaces `OTEL_EXPORTER_OTLP_ENDPOINT` and the per-signal
    /// endpoint variables.
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.settings.endpoint = Some(endpoint.into());
        self
    }

    /// The `service.name` resource attribute; replaces `OTEL_SERVICE_NAME`.
    pub fn with_service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// More resource attributes; they win over `OTEL_RESOURCE_ATTRIBUTES`.
    pub fn with_resource_attributes(
        mut self,
        attributes: impl IntoIterator<Item = KeyValue>,
    ) -> Self {
        self.resource_attributes.extend(attributes);
        self
    }

    /// gRPC, HTTP with protobuf (the default), or HTTP with JSON.
    pub fn with_protocol(mut self, protocol: Protocol) -> Self {
        self.settings.protocol = Some(protocol);
        self
    }

    /// How requests are compressed (none by default). The codec must be
    /// compiled in (features `gzip`, `zstd`, `brotli`).
    pub fn with_compression(mut self, compression: impl Into<Compression>) -> Self {
        self.settings.compression = Some(compression.into());
        self
    }

    /// Headers (gRPC metadata) for every request, added to and overriding
    /// those of `OTEL_EXPORTER_OTLP_HEADERS`.
    pub fn with_headers<K, V>(mut self, headers: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        self.settings
            .headers
            .extend(headers.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// The time allowed for one export request (10 s by default).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.settings.timeout = Some(timeout);
        self
    }

    /// TLS settings: custom CA, client certificate; replaces what the
    /// `_CERTIFICATE`, `_CLIENT_*` and `_INSECURE` variables would give.
    pub fn with_tls(mut self, tls: TlsConfig) -> Self {
        self.settings.tls = Some(tls);
        self
    }

    /// How often the metrics are collected and exported (60 s by default);
    /// replaces `OTEL_METRIC_EXPORT_INTERVAL`.
    pub fn with_metric_export_interval(mut self, interval: Duration) -> Self {
        self.metric_export_interval = Some(interval);
        self
    }

    /// Builds the span processor, the exporters, the providers and the push
    /// clients. No connection is made until the first export.
    ///
    /// Spans go through [`OtlpSpanProcessor`]; it and the metric and log
    /// exporters each send from a thread of their own, inside a Tokio
    /// runtime or not.
    pub fn build(self) -> Result<EnhancedOtlpClient, BuildError> {
        let mut resource = Resource::builder();
        if let Some(name) = self.service_name {
            resource = resource.with_service_name(name);
        }
        let resource = resource.with_attributes(self.resource_attributes).build();

        let settings = &self.settings;
        let exporter_error = |signal| move |source| BuildError::Exporter { signal, source };
        let spans = settings
            .apply(OtlpSpanProcessor::builder())
            .build()
            .map_err(exporter_error(Signal::Traces))?;
        let metrics = settings
            .apply(OtlpMetricExporter::builder())
            .build()
            .map_err(exporter_error(Signal::Metrics))?;
        let logs = settings
            .apply(OtlpLogExporter::builder())
            .build()
            .map_err(exporter_error(Signal::Logs))?;
        let exporter_stats = [spans.stats(), metrics.stats(), logs.stats()];
        let flush_handles = [
            spans.flush_handle(),
            metrics.flush_handle(),
            logs.flush_handle(),
        ];

        // The push clients come from the exporters' builders, given the same
        // settings, so pushes go where the SDK's exports go.
        let lane = |signal, client: Result<ResolvedClient, _>| {
            client
                .and_then(|client| Lane::new(signal, client, &resource))
                .map_err(exporter_error(signal))
        };
        let lanes = [
            lane(
                Signal::Traces,
                settings
                    .apply(OtlpSpanExporter::builder())
                    .build_client(Signal::Traces),
            )?,
            lane(
                Signal::Metrics,
                settings
                    .apply(OtlpMetricExporter::builder())
                    .build_client(Signal::Metrics),
            )?,
            lane(
                Signal::Logs,
                settings
                    .apply(OtlpLogExporter::builder())
                    .build_client(Signal::Logs),
            )?,
        ];

        let tracer_provider = SdkTracerProvider::builder()
            .with_resource(resource.clone())
            .with_span_processor(spans)
            .build();
        let mut reader = PeriodicReader::builder(metrics);
        if let Some(interval) = self.metric_export_interval {
            reader = reader.with_interval(interval);
        }
        let meter_provider = SdkMeterProvider::builder()
            .with_resource(resource.clone())
            .with_reader(reader.build())
            .build();
        let logger_provider = SdkLoggerProvider::builder()
            .with_resource(resource)
            .with_batch_exporter(logs)
            .build();

        Ok(EnhancedOtlpClient {
            tracer_provider,
            meter_provider,
            logger_provider,
            exporter_stats,
            flush_handles,
            lanes,
            push_scope: InstrumentationScope::builder("otlp")
                .with_version(env!("CARGO_PKG_VERSION"))
                .build(),
            shut_down: AtomicBool::new(false),
        })
    }
}

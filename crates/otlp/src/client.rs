//! [`EnhancedOtlpClient`]: the SDK's three providers wired to our span
//! processor and exporters, plus the push API, behind one builder.

use crate::push::Lanes;
use crate::stats::{ClientStats, PushStats};
use opentelemetry::metrics::{Meter, MeterProvider as _};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_sdk::error::OTelSdkError;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use otlp_compression::Compression;
use otlp_core::Signal;
use otlp_exporter::{
    ExportStats, ExportThread, ExporterBuilder, FlushHandle, HealthCheck, OtlpLogExporter,
    OtlpMetricExporter, OtlpSpanProcessor, Protocol, Resolver, Routing, TlsConfig,
    DEFAULT_FLUSH_TIMEOUT,
};
use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

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
    /// The thread the exporters and the push API send from could not be
    /// started.
    #[error("cannot start the export thread: {0}")]
    ExportThread(#[source] otlp_exporter::BuildError),
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

/// The OpenTelemetry SDK's tracer, meter and logger providers, exporting
/// through otlp-rust's exporters, and a push API for records built without
/// the SDK. See the [crate docs](crate) for an example.
///
/// The SDK shuts a provider down when its last handle is dropped, so
/// dropping the client (and every provider handle taken from it) flushes
/// too, but silently and with the same blocking as
/// [`shutdown`](Self::shutdown); call that to see the outcome.
///
/// The three signals' exporters and the push API send from one thread
/// (an [`ExportThread`]) and, as long as the signals' settings resolve
/// alike, through one transport client: one connection to the collector
/// over gRPC, one connection pool over HTTP.
pub struct EnhancedOtlpClient {
    tracer_provider: SdkTracerProvider,
    meter_provider: SdkMeterProvider,
    logger_provider: SdkLoggerProvider,
    /// The SDK exporters' counters, in [`Signal::STABLE`] order.
    exporter_stats: [ExportStats; 3],
    /// Waits for each exporter's queue to drain (traces, metrics, logs).
    flush_handles: [FlushHandle; 3],
    /// The push API's clients, shared with the tasks that send on the
    /// export thread.
    lanes: Arc<Lanes>,
    thread: ExportThread,
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
        let [pushed_traces, pushed_metrics, pushed_logs] = self.lanes.stats();
        let pushed = PushStats {
            traces: pushed_traces,
            metrics: pushed_metrics,
            logs: pushed_logs,
        };
        ClientStats {
            traces: traces.snapshot(),
            metrics: metrics.snapshot(),
            logs: logs.snapshot(),
            pushed,
        }
    }

    /// A handle to the counters of `signal`'s SDK exporter (`None` for a
    /// signal the client has no exporter for): the same figures as
    /// [`stats`](Self::stats), and a way to wait for them to change
    /// ([`ExportStats::wait_for`], [`ExportStats::until`]) instead of
    /// polling.
    pub fn exporter_stats(&self, signal: Signal) -> Option<&ExportStats> {
        let [traces, metrics, logs] = &self.exporter_stats;
        match signal {
            Signal::Traces => Some(traces),
            Signal::Metrics => Some(metrics),
            Signal::Logs => Some(logs),
            _ => None,
        }
    }

    /// A handle to the push API's counters for `signal`, like
    /// [`exporter_stats`](Self::exporter_stats).
    pub fn push_stats(&self, signal: Signal) -> Option<ExportStats> {
        self.lanes.export_stats(signal)
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
            .filter_map(|(signal, h)| h.flush(DEFAULT_FLUSH_TIMEOUT).err().map(|e| (signal, e)))
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

    pub(crate) fn lanes(&self) -> &Arc<Lanes> {
        &self.lanes
    }

    pub(crate) fn export_thread(&self) -> &ExportThread {
        &self.thread
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
/// The connection and delivery settings are those of an `otlp-exporter`
/// [`ExporterBuilder`], used for all three signals and the push API: the
/// common ones have a method here, the rest (retry policy, queue limits,
/// persistent queue, batching) are set on the exporter builder itself with
/// [`with_exporter`](Self::with_exporter).
///
/// What is set here wins over the environment; what is not comes from the
/// standard variables: `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`
/// (read by the SDK's [`Resource::builder`]), `OTEL_EXPORTER_OTLP_*` (read
/// by the exporter builder, general and per signal) and
/// `OTEL_METRIC_EXPORT_INTERVAL` (read by the SDK's periodic reader).
#[derive(Debug, Clone)]
#[must_use]
pub struct EnhancedOtlpClientBuilder {
    exporter: ExporterBuilder<OtlpSpanProcessor>,
    service_name: Option<String>,
    resource_attributes: Vec<KeyValue>,
    metric_export_interval: Option<Duration>,
}

impl Default for EnhancedOtlpClientBuilder {
    fn default() -> Self {
        EnhancedOtlpClientBuilder {
            exporter: OtlpSpanProcessor::builder(),
            service_name: None,
            resource_attributes: Vec::new(),
            metric_export_interval: None,
        }
    }
}

impl EnhancedOtlpClientBuilder {
    /// The collector's endpoint for all three signals; see
    /// [`ExporterBuilder::with_endpoint`].
    pub fn with_endpoint(self, endpoint: impl Into<String>) -> Self {
        self.with_exporter(|b| b.with_endpoint(endpoint))
    }

    /// Several collectors for all three signals and the push API, each
    /// with its own queue, retries and breaker: spans routed by trace id
    /// (every span of a trace at one collector), metrics and logs by
    /// `service.name`, unless [`with_routing`](Self::with_routing) says
    /// otherwise; see [`ExporterBuilder::with_endpoints`]. Per-endpoint
    /// figures are in [`ExportStats::endpoints`] of
    /// [`exporter_stats`](EnhancedOtlpClient::exporter_stats).
    ///
    /// ```no_run
    /// # #[cfg(feature = "grpc")]
    /// # fn main() -> Result<(), otlp::BuildError> {
    /// use otlp::{EnhancedOtlpClient, HealthCheck, Protocol};
    ///
    /// let client = EnhancedOtlpClient::builder()
    ///     .with_endpoints(["http://collector-a:4317", "http://collector-b:4317"])
    ///     .with_protocol(Protocol::Grpc)
    ///     .with_health_check(HealthCheck::grpc())
    ///     .build()?;
    /// # Ok(())
    /// # }
    /// # #[cfg(not(feature = "grpc"))] fn main() {}
    /// ```
    pub fn with_endpoints<S: Into<String>>(self, endpoints: impl IntoIterator<Item = S>) -> Self {
        self.with_exporter(|b| b.with_endpoints(endpoints))
    }

    /// Every address of a DNS name as an endpoint, resolved again at an
    /// interval (a Kubernetes headless service); see
    /// [`ExporterBuilder::with_resolver`]. Needs the `dns` feature.
    pub fn with_resolver(self, resolver: Resolver) -> Self {
        self.with_exporter(|b| b.with_resolver(resolver))
    }

    /// How batches are spread over several endpoints; see
    /// [`ExporterBuilder::with_routing`].
    pub fn with_routing(self, routing: Routing) -> Self {
        self.with_exporter(|b| b.with_routing(routing))
    }

    /// Active health checks of several endpoints; see
    /// [`ExporterBuilder::with_health_check`].
    pub fn with_health_check(self, check: HealthCheck) -> Self {
        self.with_exporter(|b| b.with_health_check(check))
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

    /// gRPC, HTTP with protobuf, or HTTP with JSON; see
    /// [`ExporterBuilder::with_protocol`].
    pub fn with_protocol(self, protocol: Protocol) -> Self {
        self.with_exporter(|b| b.with_protocol(protocol))
    }

    /// How requests are compressed; see
    /// [`ExporterBuilder::with_compression`]. The codec must be compiled in
    /// (features `gzip`, `zstd`, `brotli`).
    pub fn with_compression(self, compression: impl Into<Compression>) -> Self {
        self.with_exporter(|b| b.with_compression(compression))
    }

    /// Headers (gRPC metadata) for every request; see
    /// [`ExporterBuilder::with_headers`].
    pub fn with_headers<K, V>(self, headers: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        self.with_exporter(|b| b.with_headers(headers))
    }

    /// The time allowed for one export request; see
    /// [`ExporterBuilder::with_timeout`].
    pub fn with_timeout(self, timeout: Duration) -> Self {
        self.with_exporter(|b| b.with_timeout(timeout))
    }

    /// TLS settings; see [`ExporterBuilder::with_tls`].
    pub fn with_tls(self, tls: TlsConfig) -> Self {
        self.with_exporter(|b| b.with_tls(tls))
    }

    /// Any other exporter setting, for all three signals: retry policy,
    /// circuit breaker, queue limits and overflow, a persistent queue (one
    /// subdirectory per signal), span batching.
    ///
    /// ```no_run
    /// use otlp::exporter::Overflow;
    /// use otlp::EnhancedOtlpClient;
    ///
    /// # fn main() -> Result<(), otlp::BuildError> {
    /// let client = EnhancedOtlpClient::builder()
    ///     .with_endpoint("http://localhost:4317")
    ///     .with_exporter(|b| b.with_queue_limits(10_000, 16 << 20).with_overflow(Overflow::DropOldest))
    ///     .build()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_exporter(
        mut self,
        configure: impl FnOnce(ExporterBuilder<OtlpSpanProcessor>) -> ExporterBuilder<OtlpSpanProcessor>,
    ) -> Self {
        self.exporter = configure(self.exporter);
        self
    }

    /// Processors run on the SDK's spans before they leave the process
    /// (sampling, filter, attributes, redaction, span metrics); see
    /// [`ExporterBuilder::with_processors`]. Spans sent through the push
    /// API are not processed. Needs the `processors` feature.
    ///
    /// ```no_run
    /// use otlp::exporter::processors::chain_from_toml;
    /// use otlp::EnhancedOtlpClient;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let chain = chain_from_toml(r#"
    /// [[processor]]
    /// type = "redaction"
    /// allow_all_keys = true
    /// blocked_patterns = ["email", "card"]
    /// "#)?;
    /// let client = EnhancedOtlpClient::builder()
    ///     .with_endpoint("http://localhost:4317")
    ///     .with_processors(chain)
    ///     .build()?;
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "processors")]
    pub fn with_processors(self, chain: otlp_exporter::processors::Chain) -> Self {
        self.with_exporter(|b| b.with_processors(chain))
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
    /// Spans go through [`OtlpSpanProcessor`]. It, the metric and log
    /// exporters and the push API send from one [`ExportThread`], whatever
    /// runtime the application uses (or none).
    pub fn build(self) -> Result<EnhancedOtlpClient, BuildError> {
        let mut resource = Resource::builder();
        if let Some(name) = self.service_name {
            resource = resource.with_service_name(name);
        }
        let resource = resource.with_attributes(self.resource_attributes).build();

        let thread = ExportThread::new().map_err(BuildError::ExportThread)?;
        let exporter = self.exporter.with_export_thread(&thread);
        let exporter_error = |signal| move |source| BuildError::Exporter { signal, source };
        let spans = exporter
            .clone()
            .build()
            .map_err(exporter_error(Signal::Traces))?;
        let metrics = exporter
            .clone()
            .for_exporter::<OtlpMetricExporter>()
            .build()
            .map_err(exporter_error(Signal::Metrics))?;
        let logs = exporter
            .clone()
            .for_exporter::<OtlpLogExporter>()
            .build()
            .map_err(exporter_error(Signal::Logs))?;
        let exporter_stats = [spans.stats(), metrics.stats(), logs.stats()];
        let flush_handles = [
            spans.flush_handle(),
            metrics.flush_handle(),
            logs.flush_handle(),
        ];
        // The push clients come from the same builder on the same thread:
        // pushes go where the SDK's exports go, through the same client.
        let lanes = Lanes::new(&exporter, &resource)
            .map_err(|(signal, source)| BuildError::Exporter { signal, source })?;

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
            lanes: Arc::new(lanes),
            thread,
            shut_down: AtomicBool::new(false),
        })
    }
}

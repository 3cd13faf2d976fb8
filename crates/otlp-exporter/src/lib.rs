//! OpenTelemetry SDK exporters for OTLP: [`OtlpSpanExporter`],
//! [`OtlpLogExporter`] and [`OtlpMetricExporter`].
//!
//! They plug into the standard `opentelemetry_sdk` providers in place of
//! `opentelemetry-otlp`'s exporters. Each batch the SDK hands over is
//! encoded once, straight from the SDK's structures into OTLP bytes
//! ([`otlp_core::Encoder`]), compressed once with a reused context
//! ([`otlp_compression`]), and sent as those bytes over gRPC or HTTP
//! ([`otlp_transport::client`]).
//!
//! For spans, [`OtlpSpanProcessor`] goes one step further and replaces the
//! SDK's `BatchSpanProcessor` too: each span is encoded on the thread that
//! ends it, into the current batch, and batches go to the same delivery.
//!
//! # Delivery
//! The SDK's export call only encodes, compresses and queues the batch: it
//! never waits for the network. Senders drain the queue, up to
//! [`with_max_concurrent_exports`](ExporterBuilder::with_max_concurrent_exports)
//! requests at once, retrying retryable failures with backoff, the server's
//! delay hints and a retry budget ([`RetryPolicy`]), behind a
//! [`BreakerConfig`]. The queue is bounded
//! ([`with_queue_limits`](ExporterBuilder::with_queue_limits),
//! [`Overflow`]) or durable
//! ([`with_persistent_queue`](ExporterBuilder::with_persistent_queue)).
//! A batch waiting for its next attempt holds no send slot, so a server
//! asking one batch to wait an hour holds up no other; a delay longer than
//! the retry policy's time left ends the batch at once.
//! Because the SDK's `force_flush` returns once batches are queued, use
//! [`FlushHandle::flush`] (or the exporter's own `force_flush`) to wait for
//! delivery; shutting the provider down drains the queue up to its timeout.
//! Both return an error naming the items dropped since the last flush, and
//! why. What happened to every item is in [`ExportStats`]: every dropped
//! item is counted by reason, and accepted (plus recovered from disk) =
//! exported + dropped + queued + in flight at every moment.
//!
//! ```no_run
//! use opentelemetry::trace::{Tracer, TracerProvider as _};
//! use opentelemetry_sdk::trace::SdkTracerProvider;
//! use otlp_exporter::{Compression, OtlpSpanExporter, Protocol};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let exporter = OtlpSpanExporter::builder()
//!     .with_endpoint("http://localhost:4317")
//!     .with_protocol(Protocol::Grpc)
//!     .with_compression("zstd".parse::<Compression>()?)
//!     .build()?;
//! let provider = SdkTracerProvider::builder()
//!     .with_batch_exporter(exporter)
//!     .build();
//! provider.tracer("checkout").in_span("charge", |_cx| {});
//! provider.shutdown()?;
//! # Ok(())
//! # }
//! ```
//!
//! # Configuration
//! Every setting can come from code or from the standard environment
//! variables (`OTEL_EXPORTER_OTLP_ENDPOINT`, `_PROTOCOL`, `_COMPRESSION`,
//! `_HEADERS`, `_TIMEOUT`, `_CERTIFICATE`, `_CLIENT_KEY`,
//! `_CLIENT_CERTIFICATE`, `_INSECURE`, each also per signal, e.g.
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`). Code wins over the environment;
//! a value that cannot be parsed is a [`BuildError`], not a silent default.
//!
//! [`ExporterBuilder::build_client`] resolves the same settings into a bare
//! transport client, for code that sends OTLP bytes of its own (the `otlp`
//! facade's push API) to where the exporter of that signal would.
//!
//! An exporter can be built and called from any thread, inside a tokio
//! runtime or not: its senders run on a thread of its own (a one-worker
//! tokio runtime), never on the application's runtime. Exporters given one
//! [`ExportThread`] share that thread, and those whose connection settings
//! resolve alike share one transport client (one gRPC connection, one HTTP
//! pool).
//!
//! # Several endpoints
//! [`with_endpoints`](ExporterBuilder::with_endpoints) (or a DNS name,
//! [`with_resolver`](ExporterBuilder::with_resolver)) spreads batches over
//! several collectors by [`Routing`]: spans by trace id with rendezvous
//! hashing (the span processor partitions spans by endpoint as it encodes
//! them) and log records by theirs (to the endpoint of their trace's
//! spans), records without a trace id and metrics by `service.name`, or
//! round robin / least pending. Each endpoint has its own queue, retries, breaker and stats
//! ([`ExportStats::endpoints`]); one that is unhealthy (breaker open, or
//! failing [`with_health_check`](ExporterBuilder::with_health_check))
//! leaves the ring, and what was queued for it goes whole to the next
//! owner of its traces. One endpoint pays nothing for this.
//!
//! What an exporter did is in its [`ExportStats`]; a caller waiting for a
//! figure waits on them ([`ExportStats::wait_for`], [`ExportStats::until`])
//! instead of polling.
//!
//! # Feature flags
//!
//! | feature | default | what it turns on |
//! |---|---|---|
//! | `grpc` | yes | OTLP/gRPC (`otlp-transport/grpc`) |
//! | `http` | yes | OTLP/HTTP, protobuf and JSON bodies (`otlp-transport/http`) |
//! | `gzip`, `zstd`, `brotli` | yes | each codec (`otlp-compression/*`, `otlp-transport/*`) |
//! | `dns` | no | endpoints from a DNS name re-resolved while running ([`Resolver`], with hickory-resolver) |
//!
//! A protocol or codec left out still parses by name; asking for it is a
//! [`BuildError`] naming the feature to enable.
#![forbid(unsafe_code)]

mod delivery;
mod env;
mod forward;
mod pipeline;
#[cfg(feature = "processors")]
mod processing;
mod processor;
mod profiles;
mod route;
mod runtime;
mod stats;

use delivery::DeliveryConfig;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogBatch, LogExporter, SdkLogRecord};
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use opentelemetry_sdk::Resource;
use pipeline::Pipeline;

/// How long `force_flush` waits for the queue to drain; a good timeout
/// for [`FlushHandle::flush`] too.
pub const DEFAULT_FLUSH_TIMEOUT: Duration = Duration::from_secs(30);
use DEFAULT_FLUSH_TIMEOUT as FLUSH_TIMEOUT;

/// Waits for an exporter's queue to drain; see
/// [`OtlpSpanExporter::flush_handle`].
#[derive(Debug, Clone)]
pub struct FlushHandle(pipeline::Sink);

impl FlushHandle {
    /// Blocks until every batch handed to the exporter has been delivered
    /// or dropped, or `timeout` passes. An error if it timed out, or if
    /// items were dropped since the last flush (or shutdown) answered: the
    /// message names how many and why (the stats have the same figures).
    pub fn flush(&self, timeout: Duration) -> OTelSdkResult {
        self.0.flush(timeout)
    }
}
use std::marker::PhantomData;
use std::path::PathBuf;
#[cfg(feature = "processors")]
use std::sync::Arc;
use std::sync::PoisonError;
use std::time::Duration;

pub use env::DEFAULT_TIMEOUT;
pub use forward::OtlpForwarder;
pub use otlp_compression::{Algorithm, Compression};
pub use otlp_core::Signal;
pub use otlp_resilience::breaker::{BreakerConfig, BreakerState};
pub use otlp_resilience::disk::{DiskQueueConfig, FsyncPolicy};
pub use otlp_resilience::queue::Overflow;
pub use otlp_resilience::retry::RetryPolicy;
pub use otlp_transport::client::TlsConfig;
pub use otlp_transport::Protocol;
/// The batch processors of `otlp-simd` and their TOML configuration, for
/// [`ExporterBuilder::with_processors`].
#[cfg(feature = "processors")]
pub mod processors {
    pub use otlp_simd::config::{chain_from_toml, ConfigError};
    pub use otlp_simd::processor::*;
}
#[cfg(feature = "processors")]
pub use processing::METRICS_INTERVAL;
pub use processor::{OtlpSpanProcessor, DEFAULT_MAX_BATCH_SIZE, DEFAULT_SCHEDULED_DELAY};
pub use profiles::OtlpProfileExporter;
pub use route::{
    HealthCheck, HealthProbe, ParseError, Resolver, Routing, DEFAULT_HEALTH_INTERVAL,
    DEFAULT_RESOLVE_INTERVAL,
};
pub use runtime::ExportThread;
pub use stats::{
    DiskSnapshot, Dropped, EndpointSnapshot, ErrorKind, ExportStats, LastError, StatsSnapshot,
};

/// Why an exporter could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// An `OTEL_*` environment variable holds a value we do not understand.
    #[error("environment variable {name}={value:?} is invalid: {reason}")]
    InvalidEnv {
        /// The variable.
        name: String,
        /// Its value.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A header the protocol itself sets was configured (in
    /// `OTEL_EXPORTER_OTLP_*HEADERS` or with `with_headers`):
    /// `content-length`, `content-type`, `te`, `host`, or a `:` pseudo-header.
    /// Sending it would break the request.
    #[error("header {name:?} is set by the protocol and cannot be configured")]
    ReservedHeader {
        /// The header, as configured.
        name: String,
    },
    /// The transport rejected the configuration (endpoint, headers, TLS).
    #[error(transparent)]
    Transport(#[from] otlp_transport::client::BuildError),
    /// The compression settings are invalid.
    #[error(transparent)]
    Compression(#[from] otlp_compression::CompressionError),
    /// The persistent queue could not be opened (locked by another process,
    /// unreadable, ...).
    #[error("persistent export queue: {0}")]
    PersistentQueue(#[from] otlp_resilience::disk::DiskError),
    /// The protocol cannot carry the chosen compression: gRPC has no brotli
    /// encoding (it speaks gzip and zstd).
    #[error(
        "{algorithm} compression cannot be sent over {protocol} \
         (setting: with_compression or OTEL_EXPORTER_OTLP_COMPRESSION)"
    )]
    CompressionNotSupported {
        /// The resolved protocol.
        protocol: Protocol,
        /// The resolved compression.
        algorithm: Algorithm,
    },
    /// SRT compression was asked for, and left out of this build: the
    /// `srt` feature (of this crate, or of `otlp`) is not enabled.
    #[error(
        "srt compression was not compiled in; enable the `srt` feature of otlp-exporter (or otlp)"
    )]
    SrtDisabled,
    /// A setting that must be above zero is zero: it would refuse every
    /// item or never send.
    #[error("{setting} must be greater than zero")]
    Zero {
        /// The setting (builder method, or environment variable).
        setting: &'static str,
    },
    /// The export timeout given in code is zero or longer than the
    /// longest allowed.
    #[error("with_timeout: {timeout:?} is out of range (1ms to {max:?})")]
    TimeoutOutOfRange {
        /// The timeout given.
        timeout: std::time::Duration,
        /// The longest timeout allowed.
        max: std::time::Duration,
    },
    /// Disk queue settings were given, but no persistent queue for them to
    /// apply to: they would do nothing.
    #[error("with_disk_queue_config was set without with_persistent_queue")]
    DiskConfigWithoutPersistentQueue,
    /// `with_endpoints` was given no endpoint.
    #[error("with_endpoints: no endpoint given")]
    NoEndpoints,
    /// Several endpoints (`with_endpoints`, `with_resolver`) with a
    /// persistent queue: one queue directory per endpoint is not
    /// supported; batches of several endpoints are queued in memory.
    #[error("with_persistent_queue cannot be combined with several endpoints (with_endpoints or with_resolver)")]
    PersistentQueueWithSeveralEndpoints,
    /// The health check cannot be asked over the exporter's protocol: the
    /// gRPC health check needs OTLP/gRPC, an HTTP path OTLP/HTTP.
    #[error("with_health_check: {probe:?} cannot be sent over {protocol}")]
    HealthCheckProtocol {
        /// The probe configured.
        probe: HealthProbe,
        /// The resolved protocol.
        protocol: Protocol,
    },
    /// A setting of several endpoints cannot work: a zero interval, a
    /// health check or routing without several endpoints, no DNS resolver
    /// in this build.
    #[error("{reason}")]
    Resolver {
        /// What is wrong.
        reason: String,
    },
    /// The exporter's runtime thread could not be started.
    #[error("could not start the exporter's runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

/// A transport client configured like one signal's exporter, made by
/// [`ExporterBuilder::build_client`], with what is needed to send through
/// it, and counters of what was sent through [`export`](Self::export).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ResolvedClient {
    /// Sends to the resolved endpoint, with the resolved headers, timeout
    /// and TLS settings.
    pub client: otlp_transport::client::OtlpClient,
    /// The protocol the client speaks; its [`format`](Protocol::format) is
    /// the encoding the endpoint expects.
    pub protocol: Protocol,
    /// How request bodies are to be compressed; its codec is compiled in.
    pub compression: Compression,
    /// The URL requests go to (for HTTP, with the signal's path), as
    /// resolved from code and the `OTEL_EXPORTER_OTLP_*` variables.
    pub endpoint: String,
    /// The time allowed for one export request.
    pub timeout: Duration,
    stats: ExportStats,
    /// With several endpoints: the ring requests are spread over.
    router: Option<std::sync::Arc<route::router::Router>>,
}

impl ResolvedClient {
    /// Sends one request of `items` items once: no queue, no retry, the
    /// outcome goes to the caller. Counted in [`stats`](Self::stats) as an
    /// exporter counts its batches: a failure's items as
    /// [`Dropped::returned`], with the error as the last error.
    ///
    /// `uncompressed` is the size of the encoded request before
    /// compression, for the byte counters. Must run in a tokio runtime
    /// (such as an [`ExportThread`]'s, with [`ExportThread::run`]).
    pub async fn export(
        &self,
        signal: Signal,
        payload: otlp_transport::client::Payload,
        items: u64,
        uncompressed: usize,
    ) -> Result<otlp_transport::client::ExportResponse, otlp_transport::client::ExportError> {
        // An SRT body is made by the client, and counted once accepted.
        let srt = payload.compression == Algorithm::Srt;
        let produced = if srt { 0 } else { payload.body.len() };
        self.stats.record_encoded(uncompressed, produced);
        // With several endpoints, each request to the next in the ring,
        // booked in that endpoint's stats (and so in the total).
        let (client, stats) = match self.router.as_ref().and_then(|r| r.next_member()) {
            Some((client, stats)) => (client, stats),
            None => (self.client.clone(), self.stats.clone()),
        };
        stats.record_sending(items);
        let started = std::time::Instant::now();
        let result = client.export(signal, payload).await;
        match &result {
            Ok(response) => {
                if let Some(bytes) = response.encoded_bytes {
                    self.stats.record_encoded(0, bytes);
                }
                stats.record_success(items, response.rejected_items, started.elapsed());
            }
            Err(error) => {
                stats.record_error(error);
                stats.record_failure(items, stats::Reason::Returned, started.elapsed());
            }
        }
        result
    }

    /// What was sent through [`export`](Self::export) (and through clones
    /// of this client); with several endpoints, each one's in
    /// [`ExportStats::endpoints`].
    pub fn stats(&self) -> ExportStats {
        self.stats.clone()
    }
}

/// Builds an exporter of type `E`; see [`OtlpSpanExporter::builder`].
#[derive(Debug)]
#[must_use]
pub struct ExporterBuilder<E> {
    settings: env::Settings,
    delivery: DeliveryConfig,
    persist_dir: Option<PathBuf>,
    disk_config: Option<DiskQueueConfig>,
    temporality: Option<Temporality>,
    batch: BatchSettings,
    thread: Option<ExportThread>,
    route: route::RouteSettings,
    #[cfg(feature = "processors")]
    processors: Option<Arc<std::sync::Mutex<processors::Chain>>>,
    _exporter: PhantomData<fn() -> E>,
}

// Not derived: that would ask for `E: Clone`.
impl<E> Clone for ExporterBuilder<E> {
    fn clone(&self) -> Self {
        ExporterBuilder {
            settings: self.settings.clone(),
            delivery: self.delivery.clone(),
            persist_dir: self.persist_dir.clone(),
            disk_config: self.disk_config.clone(),
            temporality: self.temporality,
            batch: self.batch.clone(),
            thread: self.thread.clone(),
            route: self.route.clone(),
            #[cfg(feature = "processors")]
            processors: self.processors.clone(),
            _exporter: PhantomData,
        }
    }
}

/// Batching settings of an [`OtlpSpanProcessor`]; `None` means "not set".
#[derive(Debug, Clone, Default)]
struct BatchSettings {
    max_batch: Option<usize>,
    delay: Option<Duration>,
}

impl<E> ExporterBuilder<E> {
    fn new() -> Self {
        ExporterBuilder {
            settings: env::Settings::default(),
            delivery: DeliveryConfig::default(),
            persist_dir: None,
            disk_config: None,
            temporality: None,
            batch: BatchSettings::default(),
            thread: None,
            route: route::RouteSettings::default(),
            #[cfg(feature = "processors")]
            processors: None,
            _exporter: PhantomData,
        }
    }

    /// The same settings, to build another kind of exporter: e.g. the log
    /// exporter for the collector a span exporter's settings name. Settings
    /// the other kind has no use for (batching, temporality) are kept but
    /// do nothing there.
    pub fn for_exporter<F>(self) -> ExporterBuilder<F> {
        ExporterBuilder {
            settings: self.settings,
            delivery: self.delivery,
            persist_dir: self.persist_dir,
            disk_config: self.disk_config,
            temporality: self.temporality,
            batch: self.batch,
            thread: self.thread,
            route: self.route,
            #[cfg(feature = "processors")]
            processors: self.processors,
            _exporter: PhantomData,
        }
    }

    /// Sends from `thread`, shared with other exporters, instead of a
    /// thread of this exporter's own; exporters on one thread whose
    /// connection settings resolve alike also share one transport client
    /// (see [`ExportThread`]).
    pub fn with_export_thread(mut self, thread: &ExportThread) -> Self {
        self.thread = Some(thread.clone());
        self
    }

    /// The collector's endpoint. For gRPC, e.g. `http://localhost:4317`; for
    /// HTTP, a base such as `http://localhost:4318` (the signal path
    /// `/v1/traces` is added) or a full URL with a path of its own (used as
    /// it is). Without a scheme, `https://` is assumed unless
    /// `OTEL_EXPORTER_OTLP_INSECURE=true`.
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.settings.endpoint = Some(endpoint.into());
        self
    }

    /// Sends to several collectors (each URL as for
    /// [`with_endpoint`](Self::with_endpoint), which this replaces),
    /// routed by [`with_routing`](Self::with_routing) (by trace id
    /// unless set), each with its own queue, retries, circuit breaker and
    /// [stats](ExportStats::endpoints). An endpoint that is unhealthy
    /// (its breaker open, or failing [`with_health_check`](Self::with_health_check))
    /// leaves the ring until it is healthy again, and what was queued for
    /// it goes to the next endpoint. One URL is the same as
    /// `with_endpoint`. See the [crate docs](crate#several-endpoints).
    pub fn with_endpoints<S: Into<String>>(
        mut self,
        endpoints: impl IntoIterator<Item = S>,
    ) -> Self {
        self.route.members = Some(route::Members::Static(
            endpoints.into_iter().map(Into::into).collect(),
        ));
        self
    }

    /// Sends to every address a DNS name resolves to, resolved again at
    /// the resolver's interval (a Kubernetes headless service, say); like
    /// [`with_endpoints`](Self::with_endpoints) otherwise. Needs the
    /// `dns` feature.
    pub fn with_resolver(mut self, resolver: Resolver) -> Self {
        self.route.members = Some(route::Members::Dns(resolver));
        self
    }

    /// How batches are spread over several endpoints (default
    /// [`Routing::TraceId`]); refused by `build` without several.
    pub fn with_routing(mut self, routing: Routing) -> Self {
        self.route.routing = Some(routing);
        self
    }

    /// Checks each of several endpoints' health at an interval; one that
    /// is not serving leaves the ring until it is again. Refused by
    /// `build` without several endpoints.
    pub fn with_health_check(mut self, check: HealthCheck) -> Self {
        self.route.health = Some(check);
        self
    }

    /// gRPC, HTTP with protobuf, or HTTP with JSON.
    pub fn with_protocol(mut self, protocol: Protocol) -> Self {
        self.settings.protocol = Some(protocol);
        self
    }

    /// How request bodies are compressed (none by default).
    pub fn with_compression(mut self, compression: impl Into<Compression>) -> Self {
        self.settings.compression = Some(compression.into());
        self
    }

    /// Headers (gRPC metadata) sent with every request; they are added to,
    /// and override, those from `OTEL_EXPORTER_OTLP_HEADERS`.
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

    /// TLS settings: custom CA, client certificate. Replaces what the
    /// `_CERTIFICATE`, `_CLIENT_*` and `_INSECURE` variables would give.
    pub fn with_tls(mut self, tls: TlsConfig) -> Self {
        self.settings.tls = Some(tls);
        self
    }

    /// How batches are retried (default: [`RetryPolicy::default`], 1 s
    /// growing 1.5x to 30 s, for up to 5 minutes, within a retry budget).
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.delivery.retry = policy;
        self
    }

    /// When to stop sending to a failing endpoint for a while (default:
    /// [`BreakerConfig::default`]).
    pub fn with_circuit_breaker(mut self, breaker: BreakerConfig) -> Self {
        self.delivery.breaker = breaker;
        self
    }

    /// How many requests may be in flight at once (default 4; at least 1).
    pub fn with_max_concurrent_exports(mut self, n: usize) -> Self {
        self.delivery.max_concurrent = n;
        self
    }

    /// Bounds of the queue between the SDK and the senders: items (spans,
    /// data points, log records) and bytes of encoded requests (default
    /// 65,536 items and 64 MiB; neither may be zero).
    pub fn with_queue_limits(mut self, max_items: u64, max_bytes: usize) -> Self {
        self.delivery.max_queue_items = max_items;
        self.delivery.max_queue_bytes = max_bytes;
        self
    }

    /// What happens to a batch that does not fit in the queue (default:
    /// [`Overflow::DropNewest`]); every dropped item is counted in the
    /// stats.
    pub fn with_overflow(mut self, overflow: Overflow) -> Self {
        self.delivery.overflow = overflow;
        self
    }

    /// Keeps queued batches in `dir` (one subdirectory per signal) instead
    /// of memory: they survive crashes and restarts and leave the disk only
    /// once the endpoint accepted them (at-least-once delivery; a batch in
    /// flight at a crash is sent again). Batches found there at start are
    /// sent first. Two exporters, or processes, cannot share a directory.
    pub fn with_persistent_queue(mut self, dir: impl Into<PathBuf>) -> Self {
        self.persist_dir = Some(dir.into());
        self
    }

    /// Tunes the persistent queue (segment size, disk budget, fsync policy,
    /// overflow); see [`DiskQueueConfig`]. Needs
    /// [`with_persistent_queue`](Self::with_persistent_queue): without it,
    /// `build` fails with [`BuildError::DiskConfigWithoutPersistentQueue`].
    pub fn with_disk_queue_config(mut self, config: DiskQueueConfig) -> Self {
        self.disk_config = Some(config);
        self
    }

    /// Runs `chain` on every batch before it is queued: sampling,
    /// filtering, attributes, redaction, span metrics, or your own
    /// [`Processor`](processors::Processor)s, so that what they remove
    /// never leaves the process. Spans go through every step; log records
    /// and metrics through the steps that handle them (the filter) and
    /// past the others. Build a chain in code or from TOML with
    /// [`processors::chain_from_toml`].
    ///
    /// A chain whose steps all work span by span (sampling, filter,
    /// redaction: [`Chain::span_chain`](processors::Chain::span_chain))
    /// runs on each span as it ends, before it is encoded, and on the
    /// resource once when it is set. Any other chain runs on the export
    /// thread over the batch (decoded, processed and encoded again); the
    /// span processor still encodes each span as it ends. Removed items are counted in
    /// [`StatsSnapshot::items_removed`] by processor and reason. Metrics the
    /// chain derives are sent, with these settings, to the metrics endpoint
    /// at most every [`METRICS_INTERVAL`] while spans flow and at every
    /// flush and shutdown; with a persistent queue, they wait on disk too,
    /// under `derived-metrics` in its directory, with a disk budget of
    /// their own of the same size. Shutdown waits up to a second past its
    /// timeout for the last of them to be queued.
    ///
    /// Log and metric exporters built from these settings (see
    /// [`for_exporter`](Self::for_exporter)), and the forwarder's logs and
    /// metrics, run the same chain (one chain, shared); profiles pass.
    #[cfg(feature = "processors")]
    pub fn with_processors(mut self, chain: processors::Chain) -> Self {
        self.processors = Some(Arc::new(std::sync::Mutex::new(chain)));
        self
    }

    /// Resolves the endpoint, protocol, compression, headers, timeout and
    /// TLS settings for `signal` as the exporters' `build` does
    /// (code over the `OTEL_EXPORTER_OTLP_*` variables, see the
    /// [crate docs](crate)), and builds a transport client from them.
    ///
    /// For code that encodes and sends requests itself but must send where
    /// the exporter of `signal` sends; the queue, retry and breaker
    /// settings are not used. With an
    /// [`export thread`](Self::with_export_thread), the client is the one
    /// the thread's exporters of the same settings use. No connection is
    /// made, and no runtime is needed, until the first export.
    ///
    /// Fails as `build` would: on an environment variable that cannot be
    /// parsed, on settings the transport rejects, or when the protocol or
    /// codec was left out of this build.
    ///
    /// With several endpoints ([`with_endpoints`](Self::with_endpoints),
    /// [`with_resolver`](Self::with_resolver)) the client sends each
    /// request to the next endpoint of the ring (membership and health as
    /// the exporters follow them, on the export thread); `client` and
    /// `endpoint` are then the first endpoint's (for a DNS name, the name
    /// itself, resolved when connecting).
    pub fn build_client(&self, signal: Signal) -> Result<ResolvedClient, BuildError> {
        let cfg = self.resolve(signal)?;
        let algorithm = cfg.compression.algorithm();
        if !algorithm.is_supported() {
            return Err(otlp_compression::CompressionError::Unsupported { algorithm }.into());
        }
        if let Some(members) = self.several() {
            return self.build_routed_client(signal, members);
        }
        let client = match &self.thread {
            Some(thread) => thread.client(signal, &cfg, &self.settings, &read_env)?,
            None => {
                env::ClientKey::new(signal, &cfg, &self.settings, &read_env)
                    .build_for(signal)?
                    .1
            }
        };
        Ok(ResolvedClient {
            client,
            protocol: cfg.protocol,
            compression: cfg.compression,
            endpoint: cfg.url,
            timeout: cfg.timeout,
            stats: ExportStats::default(),
            router: None,
        })
    }

    /// [`build_client`](Self::build_client) with several endpoints.
    fn build_routed_client(
        &self,
        signal: Signal,
        members: route::Members,
    ) -> Result<ResolvedClient, BuildError> {
        let thread = match &self.thread {
            Some(thread) => thread.clone(),
            None => ExportThread::new()?,
        };
        let first = match &members {
            route::Members::Static(urls) => urls.first().cloned().ok_or(BuildError::NoEndpoints)?,
            route::Members::Dns(r) => format!("{}://{}:{}", r.scheme, r.host, r.port),
        };
        let mut settings = self.settings.clone();
        settings.endpoint = Some(first);
        let cfg = self.resolve_with(signal, &settings)?;
        let client = thread.client(signal, &cfg, &settings, &read_env)?;
        let stats = ExportStats::default();
        let router = route::router::Router::start(
            signal,
            self.router_config(signal, &cfg, members, &thread, &self.delivery)?,
            thread.runtime(),
            std::sync::Arc::new(pipeline::BufferPool::new(1)),
            &stats,
        )?;
        Ok(ResolvedClient {
            client,
            protocol: cfg.protocol,
            compression: cfg.compression,
            endpoint: cfg.url,
            timeout: cfg.timeout,
            stats,
            router: Some(router),
        })
    }

    fn resolve(&self, signal: Signal) -> Result<env::Resolved, BuildError> {
        let mut cfg = env::resolve(signal, &self.settings, &read_env)?;
        let algorithm = cfg.compression.algorithm();
        let refused = match algorithm {
            Algorithm::Brotli => cfg.protocol == Protocol::Grpc,
            // SRT frames carry protobuf.
            Algorithm::Srt => cfg.protocol == Protocol::HttpJson,
            _ => false,
        };
        if refused {
            return Err(BuildError::CompressionNotSupported {
                protocol: cfg.protocol,
                algorithm,
            });
        }
        if algorithm == Algorithm::Srt && !cfg!(feature = "srt") {
            return Err(BuildError::SrtDisabled);
        }
        if algorithm == Algorithm::Srt && signal != Signal::Traces {
            // SRT models spans; the other signals go as OTLP + zstd at
            // the same level, as SRT's own fallback does.
            let level = cfg.compression.level().unwrap_or(3);
            cfg.compression = Compression::zstd().with_level(level)?;
        }
        Ok(cfg)
    }

    /// The pipeline of an exporter, with its export thread.
    fn pipeline(&self, signal: Signal) -> Result<Pipeline, BuildError> {
        let cfg = self.resolve(signal)?;
        let mut delivery = self.delivery.clone();
        delivery.persist = match (&self.persist_dir, &self.disk_config) {
            (Some(dir), config) => Some((dir.clone(), config.clone().unwrap_or_default())),
            (None, Some(_)) => return Err(BuildError::DiskConfigWithoutPersistentQueue),
            (None, None) => None,
        };
        delivery.validate()?;
        let thread = match &self.thread {
            Some(thread) => thread.clone(),
            None => ExportThread::new()?,
        };
        let target = match self.several() {
            Some(members) => {
                if delivery.persist.is_some() {
                    return Err(BuildError::PersistentQueueWithSeveralEndpoints);
                }
                pipeline::Target::Many(
                    self.router_config(signal, &cfg, members, &thread, &delivery)?,
                )
            }
            None => {
                if self.route.routing.is_some() || self.route.health.is_some() {
                    return Err(BuildError::Resolver {
                        reason: "with_routing and with_health_check need several endpoints \
                                 (with_endpoints or with_resolver)"
                            .to_owned(),
                    });
                }
                let mut settings = self.settings.clone();
                if let Some(route::Members::Static(urls)) = &self.route.members {
                    settings.endpoint = urls.first().cloned();
                }
                let one = match &self.route.members {
                    Some(_) => self.resolve_with(signal, &settings)?,
                    None => cfg.clone(),
                };
                pipeline::Target::One(thread.client(signal, &one, &settings, &read_env)?)
            }
        };
        #[allow(unused_mut)]
        let mut pipeline = Pipeline::new(signal, cfg, delivery, thread.runtime().clone(), target)?;
        #[cfg(feature = "processors")]
        if let Some(chain) = &self.processors {
            let derived = match signal {
                // Derived metrics (span metrics) go out through a metrics
                // pipeline of the same settings on the same thread; with a
                // persistent queue, theirs is under `derived-metrics` in
                // its directory (beside the traces' queue, and apart from
                // a metrics exporter's on the same directory).
                Signal::Traces => {
                    let mut metrics = self.clone();
                    metrics.processors = None;
                    metrics.persist_dir = self
                        .persist_dir
                        .as_ref()
                        .map(|dir| dir.join(DERIVED_METRICS_DIR));
                    metrics.thread = Some(thread.clone());
                    Some(metrics.pipeline(Signal::Metrics)?)
                }
                _ => None,
            };
            if signal != Signal::Profiles {
                pipeline.set_processing(processing::Processing::new(
                    Arc::clone(chain),
                    signal,
                    derived,
                ));
            }
        }
        Ok(pipeline)
    }

    /// The endpoints when there are several (a DNS name counts as several,
    /// whatever it answers); `None` for one.
    fn several(&self) -> Option<route::Members> {
        match &self.route.members {
            Some(route::Members::Static(urls)) if urls.len() <= 1 => None,
            other => other.clone(),
        }
    }

    fn resolve_with(
        &self,
        signal: Signal,
        settings: &env::Settings,
    ) -> Result<env::Resolved, BuildError> {
        let cfg = env::resolve(signal, settings, &read_env)?;
        let algorithm = cfg.compression.algorithm();
        if cfg.protocol == Protocol::Grpc && algorithm == Algorithm::Brotli {
            return Err(BuildError::CompressionNotSupported {
                protocol: cfg.protocol,
                algorithm,
            });
        }
        Ok(cfg)
    }

    fn router_config(
        &self,
        signal: Signal,
        cfg: &env::Resolved,
        members: route::Members,
        thread: &ExportThread,
        delivery: &DeliveryConfig,
    ) -> Result<route::router::RouterConfig, BuildError> {
        if let Some(check) = &self.route.health {
            let fits = match &check.probe {
                HealthProbe::Grpc { .. } => cfg.protocol == Protocol::Grpc,
                HealthProbe::Http { .. } => cfg.protocol != Protocol::Grpc,
                _ => false,
            };
            if !fits {
                return Err(BuildError::HealthCheckProtocol {
                    probe: check.probe.clone(),
                    protocol: cfg.protocol,
                });
            }
            if check.interval.is_zero() {
                return Err(BuildError::Zero {
                    setting: "with_health_check interval",
                });
            }
        }
        match &members {
            route::Members::Static(urls) if urls.is_empty() => return Err(BuildError::NoEndpoints),
            route::Members::Dns(r) if r.interval.is_zero() => {
                return Err(BuildError::Zero {
                    setting: "with_resolver interval",
                })
            }
            _ => {}
        }
        let (settings, thread) = (self.settings.clone(), thread.clone());
        let make_client: route::router::MakeClient = std::sync::Arc::new(move |url: &str| {
            let mut settings = settings.clone();
            settings.endpoint = Some(url.to_owned());
            let cfg = env::resolve(signal, &settings, &read_env)?;
            thread.client(signal, &cfg, &settings, &read_env)
        });
        Ok(route::router::RouterConfig {
            members,
            routing: self.route.routing.unwrap_or_default(),
            health: self.route.health.clone(),
            make_client,
            delivery: delivery.clone(),
        })
    }
}

fn read_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

// ------------------------------------------------------------------ traces

/// An SDK [`SpanExporter`] sending OTLP traces.
#[derive(Debug)]
pub struct OtlpSpanExporter {
    pipeline: Pipeline,
}

impl OtlpSpanExporter {
    /// A builder; see the [crate docs](crate) for the settings.
    pub fn builder() -> ExporterBuilder<OtlpSpanExporter> {
        ExporterBuilder::new()
    }

    /// A handle to this exporter's counters; it stays valid after the
    /// exporter is handed to the SDK.
    pub fn stats(&self) -> ExportStats {
        self.pipeline.stats.clone()
    }

    /// The counters of the metrics the processors derive (span metrics;
    /// items are data points), when [`with_processors`](ExporterBuilder::with_processors)
    /// set a chain.
    #[cfg(feature = "processors")]
    pub fn derived_metrics_stats(&self) -> Option<ExportStats> {
        self.pipeline.derived_metrics_stats()
    }

    /// A handle to wait for this exporter's queue to drain; it stays valid
    /// after the exporter is handed to the SDK (whose `force_flush` waits
    /// only until batches are queued).
    pub fn flush_handle(&self) -> FlushHandle {
        FlushHandle(self.pipeline.delivery.clone())
    }
}

impl ExporterBuilder<OtlpSpanExporter> {
    /// Builds the exporter.
    pub fn build(self) -> Result<OtlpSpanExporter, BuildError> {
        Ok(OtlpSpanExporter {
            pipeline: self.pipeline(Signal::Traces)?,
        })
    }
}

impl SpanExporter for OtlpSpanExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        if let Some(router) = self.pipeline.trace_router() {
            return export_by_trace(&self.pipeline, router, batch).await;
        }
        #[cfg(feature = "processors")]
        if self.pipeline.has_processing() {
            return export_processed(&self.pipeline, batch).await;
        }
        let items = batch.len() as u64;
        let prepared = self
            .pipeline
            .prepare_counted(items, |e, out| e.encode_spans(&batch, out))?;
        // The SDK's spans are not needed once encoded.
        drop(batch);
        self.pipeline.submit(prepared).await
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.pipeline.flush(FLUSH_TIMEOUT)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.pipeline.shutdown(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        set_resource(&self.pipeline, resource);
    }
}

/// Spans of several endpoints routed by trace id: encoded into one batch
/// per (owner, next owner) of their traces, each sent whole to its owner.
async fn export_by_trace(
    pipeline: &Pipeline,
    router: &route::router::Router,
    batch: Vec<SpanData>,
) -> OTelSdkResult {
    let ring = router.ring();
    let format = pipeline
        .encoder
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .format();
    type Group = ((u32, u32), [u8; 16]);
    let mut parts: Vec<(Group, [u8; 16], otlp_core::SpanBatch)> = Vec::new();
    let mut batch = batch;
    for span in &mut batch {
        #[cfg(feature = "processors")]
        let Some(trace_state) = pipeline.end_span(span) else {
            continue;
        };
        #[cfg(not(feature = "processors"))]
        let trace_state: Option<&str> = None;
        let trace = span.span_context.trace_id().to_bytes();
        let group = ring.group_of(&trace);
        let i = match parts.iter().position(|(g, _, _)| *g == group) {
            Some(i) => i,
            None => {
                parts.push((group, trace, otlp_core::SpanBatch::new(format)));
                parts.len() - 1
            }
        };
        parts[i]
            .2
            .push_with_trace_state(span, trace_state.as_deref());
    }
    drop(batch);
    let mut result = Ok(());
    for (_, trace, mut part) in parts {
        let items = part.len() as u64;
        let sent =
            match pipeline.prepare_counted(items, |e, out| e.encode_span_batch(&mut part, out)) {
                Ok(prepared) => {
                    pipeline
                        .submit_prepared(prepared, Some(bytes::Bytes::copy_from_slice(&trace)))
                        .await
                }
                Err(e) => Err(e),
            };
        if result.is_ok() {
            result = sent;
        }
    }
    result
}

/// Spans through the processors as each one ends (or their early
/// decision), then encoded into one request.
#[cfg(feature = "processors")]
async fn export_processed(pipeline: &Pipeline, mut batch: Vec<SpanData>) -> OTelSdkResult {
    let format = pipeline
        .encoder
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .format();
    let mut part = otlp_core::SpanBatch::new(format);
    for span in &mut batch {
        if let Some(trace_state) = pipeline.end_span(span) {
            part.push_with_trace_state(span, trace_state.as_deref());
        }
    }
    drop(batch);
    if part.is_empty() {
        return Ok(());
    }
    let items = part.len() as u64;
    let prepared = pipeline.prepare_counted(items, |e, out| e.encode_span_batch(&mut part, out))?;
    pipeline.submit(prepared).await
}

fn set_resource(pipeline: &Pipeline, resource: &Resource) {
    pipeline.set_route_resource(resource);
    #[cfg(feature = "processors")]
    let processed = pipeline.process_resource(resource);
    #[cfg(feature = "processors")]
    let resource = processed.as_ref().unwrap_or(resource);
    pipeline
        .encoder
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .set_resource(resource);
}

/// Where, in a persistent queue's directory, the metrics the processors
/// derive (span metrics) wait.
#[cfg(feature = "processors")]
const DERIVED_METRICS_DIR: &str = "derived-metrics";

// -------------------------------------------------------------------- logs

/// An SDK [`LogExporter`] sending OTLP logs.
#[derive(Debug)]
pub struct OtlpLogExporter {
    pipeline: Pipeline,
}

impl OtlpLogExporter {
    /// A builder; see the [crate docs](crate) for the settings.
    pub fn builder() -> ExporterBuilder<OtlpLogExporter> {
        ExporterBuilder::new()
    }

    /// A handle to this exporter's counters; it stays valid after the
    /// exporter is handed to the SDK.
    pub fn stats(&self) -> ExportStats {
        self.pipeline.stats.clone()
    }

    /// A handle to wait for this exporter's queue to drain; it stays valid
    /// after the exporter is handed to the SDK (whose `force_flush` waits
    /// only until batches are queued).
    pub fn flush_handle(&self) -> FlushHandle {
        FlushHandle(self.pipeline.delivery.clone())
    }
}

impl ExporterBuilder<OtlpLogExporter> {
    /// Builds the exporter.
    pub fn build(self) -> Result<OtlpLogExporter, BuildError> {
        Ok(OtlpLogExporter {
            pipeline: self.pipeline(Signal::Logs)?,
        })
    }
}

impl LogExporter for OtlpLogExporter {
    async fn export(&self, batch: LogBatch<'_>) -> OTelSdkResult {
        if let Some(router) = self.pipeline.trace_router() {
            return export_logs_by_trace(&self.pipeline, router, &batch).await;
        }
        let items = batch.iter().count() as u64;
        self.pipeline
            .export(items, |e, out| e.encode_logs(&batch, out))
            .await
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.pipeline.shutdown(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        set_resource(&self.pipeline, resource);
    }
}

/// Log records of several endpoints routed by trace id: one request per
/// (owner, next owner) of their traces, each sent whole to its owner (the
/// endpoint their trace's spans go to), and one of the records without a
/// trace id, routed by the resource's `service.name`.
async fn export_logs_by_trace(
    pipeline: &Pipeline,
    router: &route::router::Router,
    batch: &LogBatch<'_>,
) -> OTelSdkResult {
    type Part<'a> = (
        Option<(((u32, u32), [u8; 16]), [u8; 16])>,
        Vec<(&'a SdkLogRecord, &'a opentelemetry::InstrumentationScope)>,
    );
    let ring = router.ring();
    let mut parts: Vec<Part<'_>> = Vec::new();
    for item in batch.iter() {
        let trace = item
            .0
            .trace_context()
            .map(|c| c.trace_id.to_bytes())
            .filter(|t| *t != [0; 16]);
        let group = trace.map(|t| (ring.group_of(&t), t));
        let i = match parts
            .iter()
            .position(|(g, _)| g.map(|g| g.0) == group.map(|g| g.0))
        {
            Some(i) => i,
            None => {
                parts.push((group, Vec::new()));
                parts.len() - 1
            }
        };
        parts[i].1.push(item);
    }
    let mut result = Ok(());
    for (group, records) in parts {
        let items = records.len() as u64;
        let key = match group {
            Some((_, trace)) => Some(bytes::Bytes::copy_from_slice(&trace)),
            None => pipeline.key(),
        };
        let sent =
            match pipeline.prepare_counted(items, |e, out| e.encode_log_records(&records, out)) {
                Ok(prepared) => pipeline.submit_prepared(prepared, key).await,
                Err(e) => Err(e),
            };
        if result.is_ok() {
            result = sent;
        }
    }
    result
}

// ----------------------------------------------------------------- metrics

/// The number of data points in an export, the unit OTLP counts metrics in.
fn data_points(metrics: &ResourceMetrics) -> u64 {
    use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
    fn points<T>(d: &MetricData<T>) -> usize {
        match d {
            MetricData::Gauge(g) => g.data_points().count(),
            MetricData::Sum(s) => s.data_points().count(),
            MetricData::Histogram(h) => h.data_points().count(),
            MetricData::ExponentialHistogram(h) => h.data_points().count(),
        }
    }
    metrics
        .scope_metrics()
        .flat_map(|sm| sm.metrics())
        .map(|m| match m.data() {
            AggregatedMetrics::F64(d) => points(d),
            AggregatedMetrics::U64(d) => points(d),
            AggregatedMetrics::I64(d) => points(d),
        } as u64)
        .sum()
}

/// An SDK [`PushMetricExporter`] sending OTLP metrics.
#[derive(Debug)]
pub struct OtlpMetricExporter {
    pipeline: Pipeline,
    temporality: Temporality,
}

impl OtlpMetricExporter {
    /// A builder; see the [crate docs](crate) for the settings.
    pub fn builder() -> ExporterBuilder<OtlpMetricExporter> {
        ExporterBuilder::new()
    }

    /// A handle to this exporter's counters; it stays valid after the
    /// exporter is handed to the SDK.
    pub fn stats(&self) -> ExportStats {
        self.pipeline.stats.clone()
    }

    /// A handle to wait for this exporter's queue to drain; it stays valid
    /// after the exporter is handed to the SDK (whose `force_flush` waits
    /// only until batches are queued).
    pub fn flush_handle(&self) -> FlushHandle {
        FlushHandle(self.pipeline.delivery.clone())
    }
}

impl ExporterBuilder<OtlpMetricExporter> {
    /// The aggregation temporality to ask the SDK for. Default: cumulative,
    /// or what `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` says
    /// (`cumulative`, `delta` or `lowmemory`).
    pub fn with_temporality(mut self, temporality: Temporality) -> Self {
        self.temporality = Some(temporality);
        self
    }

    /// Builds the exporter.
    pub fn build(self) -> Result<OtlpMetricExporter, BuildError> {
        let temporality = match self.temporality {
            Some(t) => t,
            None => env::temporality(&read_env)?,
        };
        Ok(OtlpMetricExporter {
            pipeline: self.pipeline(Signal::Metrics)?,
            temporality,
        })
    }
}

impl PushMetricExporter for OtlpMetricExporter {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        self.pipeline
            .export_of(data_points(metrics), metrics.resource(), |e, out| {
                e.encode_metrics(metrics, out)
            })
            .await
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.pipeline.flush(FLUSH_TIMEOUT)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.pipeline.shutdown(timeout)
    }

    fn temporality(&self) -> Temporality {
        self.temporality
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builder() -> ExporterBuilder<OtlpSpanExporter> {
        OtlpSpanExporter::builder().with_endpoint("http://127.0.0.1:4317")
    }

    #[test]
    #[cfg(feature = "http")]
    fn a_resolved_client_says_where_it_sends_and_how_long_it_waits() {
        // A base URL gets the signal's path; the timeout given in code wins.
        let resolved = OtlpSpanExporter::builder()
            .with_endpoint("http://127.0.0.1:4318/")
            .with_protocol(Protocol::HttpProtobuf)
            .with_timeout(Duration::from_millis(1500))
            .build_client(Signal::Logs)
            .unwrap();
        assert_eq!(resolved.endpoint, "http://127.0.0.1:4318/v1/logs");
        assert_eq!(resolved.timeout, Duration::from_millis(1500));
    }

    #[test]
    #[cfg(feature = "grpc")]
    fn a_resolved_grpc_client_sends_to_the_endpoint_as_given() {
        let resolved = builder()
            .with_protocol(Protocol::Grpc)
            .build_client(Signal::Metrics)
            .unwrap();
        assert_eq!(resolved.endpoint, "http://127.0.0.1:4317");
    }

    #[test]
    #[cfg(feature = "srt")]
    fn srt_is_for_traces_in_protobuf() {
        let srt = builder().with_compression("srt:5".parse::<Compression>().unwrap());
        assert_eq!(
            srt.resolve(Signal::Traces).unwrap().compression,
            "srt:5".parse().unwrap()
        );
        // The other signals go as OTLP + zstd at the same level.
        for signal in [Signal::Logs, Signal::Metrics] {
            let compression = srt.resolve(signal).unwrap().compression;
            assert_eq!(compression, "zstd:5".parse().unwrap(), "{signal}");
        }
        let e = srt
            .clone()
            .with_protocol(Protocol::HttpJson)
            .build()
            .unwrap_err();
        assert!(
            matches!(
                e,
                BuildError::CompressionNotSupported {
                    protocol: Protocol::HttpJson,
                    algorithm: Algorithm::Srt
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn settings_that_cannot_work_are_refused_at_build() {
        let e = builder()
            .with_protocol(Protocol::Grpc)
            .with_compression(Compression::brotli())
            .build()
            .unwrap_err();
        assert!(
            matches!(
                e,
                BuildError::CompressionNotSupported {
                    protocol: Protocol::Grpc,
                    algorithm: Algorithm::Brotli
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("with_compression"), "{e}");
        let e = builder()
            .with_protocol(Protocol::Grpc)
            .with_compression(Compression::brotli())
            .build_client(Signal::Logs)
            .unwrap_err();
        assert!(
            matches!(e, BuildError::CompressionNotSupported { .. }),
            "{e}"
        );

        for (b, setting) in [
            (
                builder().with_max_concurrent_exports(0),
                "with_max_concurrent_exports",
            ),
            (
                builder().with_queue_limits(0, 1024),
                "with_queue_limits max_items",
            ),
            (
                builder().with_queue_limits(10, 0),
                "with_queue_limits max_bytes",
            ),
        ] {
            let e = b.build().unwrap_err();
            assert!(
                matches!(e, BuildError::Zero { setting: s } if s == setting),
                "{e}"
            );
            assert!(e.to_string().contains(setting), "{e}");
        }

        let e = builder()
            .with_disk_queue_config(DiskQueueConfig::default())
            .build()
            .unwrap_err();
        assert!(
            matches!(e, BuildError::DiskConfigWithoutPersistentQueue),
            "{e}"
        );
        assert!(e.to_string().contains("with_persistent_queue"), "{e}");
    }
}

//! `otlp send`: generate telemetry with the OpenTelemetry SDK, export it
//! with our exporters, and report what the receiver accepted.
//!
//! # Why the generator waits for the exporter
//! The SDK's batch processors drop items when their queue is full, and a
//! metric stream merges series beyond its cardinality limit. A load
//! generator that quietly loses items measures nothing, so this one is
//! flow-controlled: item `i` is generated only once fewer than `window`
//! items are between the generator and a settled export (accepted by the
//! receiver or given up, as the exporter's [`ExportStats`] count them).
//! Everything in between (the SDK's queue, the exporter's queue, requests
//! in flight or being retried) is then at most `window` items, so no queue
//! can overflow and memory stays bounded however large `--count` is. The
//! counts are the exporter's own; [`Tracked`] only wraps it to see the
//! SDK's export calls.
//!
//! Metrics are pushed the same way: with delta temporality every series
//! recorded since the last collection is exported once, and a flusher
//! thread asks the periodic reader for a collection every `--batch-size`
//! recorded data points, so a request carries about that many points.
//!
//! # Giving up
//! The exporter retries failed batches in the background. A load generator
//! should not wait minutes for an endpoint that is not there, so retries
//! stop after `--timeout` (10 s by default), and once a batch has been
//! given up before anything was delivered, generating stops and the run
//! reports why (see [`crate::diagnose`]). An open circuit breaker is not
//! reason enough: it opens within seconds of an outage, and an endpoint
//! that is back within `--timeout` should get every item.
//!
//! # `--persist DIR`
//! With a persistent queue an item is safe once it is on disk: it leaves
//! the disk only when the endpoint accepted it, survives a crash, and is
//! sent first by the next run on the same directory. So the window then
//! counts items the queue has *taken*, not items delivered: a down
//! endpoint does not slow the generator, the disk absorbs the backlog, and
//! memory stays bounded by the SDK's queue. Delivery is retried for as long
//! as the command runs, and `--timeout` becomes the command's deadline:
//! it exits 0 once the disk queue is empty (everything generated, and
//! whatever an earlier run left, delivered), and 1 when the deadline
//! passes with batches still on disk. `--count 0` generates nothing and
//! only drains what earlier runs left, for every signal with a queue in DIR.

use crate::diagnose;
use crate::error::CliError;
use crate::generate::{self, Instruments, SCOPE};
use crate::SendArgs;
use opentelemetry::logs::LoggerProvider as _;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::InstrumentationScope;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::logs::{BatchLogProcessor, LogBatch, LogExporter, SdkLoggerProvider};
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{
    Instrument, PeriodicReader, SdkMeterProvider, Stream, Temporality,
};
use opentelemetry_sdk::trace::{
    BatchSpanProcessor, Sampler, SdkTracerProvider, SpanData, SpanExporter,
};
use opentelemetry_sdk::Resource;
use otlp_core::Signal;
use otlp_exporter::{
    Algorithm, BreakerConfig, BreakerState, BuildError, Compression, DiskSnapshot, ExportStats,
    ExporterBuilder, OtlpLogExporter, OtlpMetricExporter, OtlpSpanExporter, Protocol, RetryPolicy,
    StatsSnapshot,
};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};
use tokio::runtime::Handle;

/// What to send, and how. `None` leaves a setting to the
/// `OTEL_EXPORTER_OTLP_*` variables, read by the exporter builder.
#[derive(Debug, Clone)]
pub(crate) struct SendOptions {
    pub(crate) endpoint: Option<String>,
    pub(crate) protocol: Option<Protocol>,
    pub(crate) compression: Option<Compression>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) signal: Signal,
    pub(crate) count: u64,
    /// Items per second; `None` or 0 for as fast as possible.
    pub(crate) rate: Option<f64>,
    pub(crate) batch_size: usize,
    pub(crate) workers: usize,
    /// Keep the export queue on disk in this directory (one subdirectory
    /// per signal); `--timeout` is then the command's deadline.
    pub(crate) persist: Option<PathBuf>,
}

/// How a run went.
#[derive(Debug, Clone)]
pub(crate) struct SendReport {
    pub(crate) signal: Signal,
    pub(crate) requested: u64,
    /// Items handed to the SDK (fewer than requested if the run gave up).
    pub(crate) generated: u64,
    pub(crate) stats: StatsSnapshot,
    /// From the first generated item to the end of the providers' shutdown.
    pub(crate) elapsed: Duration,
    /// Why not every item was accepted (`None` when all were).
    pub(crate) reason: Option<String>,
    /// Nothing was delivered because the endpoint cannot be reached.
    pub(crate) unreachable: bool,
    /// Where the items went, for messages.
    pub(crate) target: String,
    /// The signal's persistent queue directory, with `--persist`.
    pub(crate) disk_dir: Option<PathBuf>,
    /// Batches an earlier run left on disk, found at the start.
    pub(crate) backlog: u64,
}

impl SendReport {
    /// Whether the receiver accepted every requested item (and, with a
    /// persistent queue, everything found on disk).
    pub(crate) fn delivered_all(&self) -> bool {
        let s = &self.stats;
        let delivered = match s.disk {
            // Items found on disk are exported too, so `items_exported`
            // can exceed what was generated: every item the queue took is
            // delivered when the disk is empty and nothing was dropped.
            // A damaged record is not counted against the run: a crash in
            // the middle of a write leaves one, which the crashed run
            // never counted as queued.
            Some(disk) => {
                s.items_accepted == self.generated
                    && disk.queued_batches == 0
                    && disk.evicted_batches == 0
            }
            None => s.items_exported == self.requested,
        };
        self.generated == self.requested
            && delivered
            && s.dropped.total() == 0
            && s.export_errors == 0
    }

    pub(crate) fn items_per_second(&self) -> f64 {
        self.stats.items_exported as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub(crate) fn wire_bytes_per_item(&self) -> f64 {
        let s = &self.stats;
        // Bytes are counted as batches are encoded: those the queue took,
        // or refused (all counted as accepted).
        let encoded = s.items_accepted;
        s.bytes_sent as f64 / encoded.max(1) as f64
    }

    /// The failure as one line, or `Ok` if every item was accepted.
    pub(crate) fn outcome(&self) -> Result<(), CliError> {
        if self.delivered_all() {
            return Ok(());
        }
        let reason = self.reason.as_deref().unwrap_or("reason unknown");
        if let (Some(dir), Some(disk)) = (&self.disk_dir, self.stats.disk) {
            // Nothing is lost by stopping: say what waits for the next run.
            let left = if disk.queued_batches > 0 {
                format!(
                    "; {} batches ({} bytes) remain on disk in {} for the next run",
                    disk.queued_batches,
                    disk.queued_bytes,
                    dir.display()
                )
            } else {
                String::new()
            };
            return Err(CliError::Failed(format!(
                "{} {} delivered to {}{left}: {reason}",
                self.stats.items_exported,
                unit(self.signal),
                self.target,
            )));
        }
        let message = format!(
            "{} of {} {} delivered to {}: {reason}",
            self.stats.items_exported,
            self.requested,
            unit(self.signal),
            self.target,
        );
        Err(if self.unreachable {
            CliError::Unreachable(message)
        } else {
            CliError::Failed(message)
        })
    }

    /// The human-readable summary `otlp send` prints.
    pub(crate) fn summary(&self) -> String {
        let s = &self.stats;
        let ratio = if s.bytes_sent > 0 && s.bytes_sent != s.bytes_uncompressed {
            format!(
                " ({:.2}x smaller)",
                s.bytes_uncompressed as f64 / s.bytes_sent as f64
            )
        } else {
            String::new()
        };
        let pace = format!(
            "in {:.3} s ({:.0} items/s)",
            self.elapsed.as_secs_f64(),
            self.items_per_second()
        );
        let unit = unit(self.signal);
        let head = match (self.requested, self.backlog) {
            (0, backlog) => format!(
                "{} {unit} from {backlog} batches found on disk accepted by {} {pace}",
                s.items_exported, self.target
            ),
            (requested, 0) => format!(
                "{} of {requested} {unit} accepted by {} {pace}",
                s.items_exported, self.target
            ),
            (requested, backlog) => format!(
                "{} {unit} accepted by {} {pace}: {requested} requested, \
                 plus {backlog} batches found on disk",
                s.items_exported, self.target
            ),
        };
        let wire = if self.requested == 0 {
            // Recovered batches were encoded (and counted) by the run that
            // queued them.
            "batches as an earlier run encoded them".to_owned()
        } else {
            format!(
                "{} bytes ({:.1} B/item), {} bytes before compression{ratio}",
                s.bytes_sent,
                self.wire_bytes_per_item(),
                s.bytes_uncompressed
            )
        };
        let memory_bytes = s
            .queued_bytes
            .saturating_sub(s.disk.map_or(0, |d| d.queued_bytes));
        let mut queued = format!("{} items ({memory_bytes} bytes) in memory", s.queued_items);
        let mut lost_on_disk = String::new();
        if let (Some(dir), Some(disk)) = (&self.disk_dir, s.disk) {
            let DiskSnapshot {
                queued_batches,
                queued_bytes,
                evicted_batches,
                corrupted_batches,
                ..
            } = disk;
            queued.push_str(&format!(
                ", {queued_batches} batches ({queued_bytes} bytes) on disk in {}",
                dir.display()
            ));
            let crash = if corrupted_batches > 0 {
                " (a crash in the middle of a write leaves one)"
            } else {
                ""
            };
            lost_on_disk = format!(
                "; on disk {evicted_batches} batches evicted, \
                 {corrupted_batches} damaged records skipped{crash}"
            );
        }
        format!(
            "{head}\n  \
             items      {} generated, {} accepted into the export queue, {} exported\n  \
             dropped    {} rejected by the receiver, {} given up, {} by a full queue{lost_on_disk}\n  \
             requests   {} ok, {} given up, {} retries, {} requeued; \
             latency mean {:.1} ms, max {:.1} ms\n  \
             queued     {queued}\n  \
             breaker    {}\n  \
             wire       {wire}",
            self.generated,
            s.items_accepted,
            s.items_exported,
            s.dropped.rejected_by_receiver,
            s.dropped.export_failed,
            s.dropped.queue_full,
            s.requests,
            s.export_errors,
            s.retries,
            s.requeued,
            s.mean_latency.as_secs_f64() * 1e3,
            s.max_latency.as_secs_f64() * 1e3,
            breaker_state(s.breaker),
        )
    }
}

fn breaker_state(state: BreakerState) -> &'static str {
    match state {
        BreakerState::Closed => "closed",
        BreakerState::Open => "open (failing fast until the endpoint recovers)",
        BreakerState::HalfOpen => "half-open (probing the endpoint)",
    }
}

fn unit(signal: Signal) -> &'static str {
    match signal {
        Signal::Traces => "spans",
        Signal::Metrics => "metric data points",
        Signal::Logs => "log records",
        _ => "items",
    }
}

/// The cause from an exporter error, without the wrapping that repeats
/// the signal and the URL ("traces export to URL failed: connection to
/// URL failed: ..."). Connection refusals, the commonest case, are named
/// plainly.
fn short_reason(error: &str) -> String {
    let mut rest = error;
    for prefix in [" export to ", "connection to "] {
        if rest.contains(prefix) {
            if let Some((_, after)) = rest.split_once(" failed: ") {
                rest = after;
            }
        }
    }
    if rest.to_ascii_lowercase().contains("connection refused") {
        "connection refused".to_owned()
    } else {
        rest.to_owned()
    }
}

/// `otlp send`.
pub(crate) fn command(args: SendArgs, runtime: &Handle) -> Result<(), CliError> {
    let options = SendOptions {
        endpoint: args.endpoint,
        protocol: args.protocol,
        compression: args.compression,
        headers: args.headers,
        timeout: args.timeout,
        signal: args.signal,
        count: args.count,
        rate: args.rate,
        batch_size: args.batch_size,
        workers: args.workers,
        persist: args.persist,
    };
    if options.count > 0 {
        let report = run(&options, runtime)?;
        crate::outln(format_args!("{}", report.summary()));
        return report.outcome();
    }
    let Some(dir) = &options.persist else {
        return Err(CliError::Usage(
            "--count 0 generates nothing; it only sends what a persistent queue holds, \
             so it needs --persist DIR"
                .into(),
        ));
    };
    check_combination(&options)?;
    let _entered = runtime.enter();
    let reports = drain_disk(&options, dir)?;
    if reports.is_empty() {
        crate::outln(format_args!("nothing queued in {}", dir.display()));
        return Ok(());
    }
    for report in &reports {
        crate::outln(format_args!("{}", report.summary()));
    }
    let failures: Vec<String> = reports
        .iter()
        .filter_map(|r| r.outcome().err())
        .map(|e| e.to_string())
        .collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(CliError::Failed(failures.join("; ")))
    }
}

/// Sends `options.count` items of `options.signal`; export requests run on
/// `runtime`.
pub(crate) fn run(options: &SendOptions, runtime: &Handle) -> Result<SendReport, CliError> {
    check_combination(options)?;
    // With a persistent queue, --timeout bounds the whole command.
    let deadline = options
        .persist
        .as_ref()
        .map(|_| Instant::now() + retry_window(options));
    // Exporters built here send their requests on `runtime`.
    let _entered = runtime.enter();
    match options.signal {
        Signal::Traces => send_traces(options, deadline),
        Signal::Metrics => send_metrics(options, deadline),
        Signal::Logs => send_logs(options, deadline),
        other => Err(CliError::Usage(format!("cannot send {other}"))),
    }
}

/// `--count 0`: sends what earlier runs left in `dir`, for every signal
/// with a queue there, until the queues are empty or the deadline passes.
/// No SDK is involved: the exporters send their recovered batches on
/// their own as soon as they are built.
fn drain_disk(options: &SendOptions, dir: &Path) -> Result<Vec<SendReport>, CliError> {
    if !dir.is_dir() {
        return Err(CliError::Usage(format!(
            "--persist {}: no such directory (with --count 0 there must be a queue left by an earlier run)",
            dir.display()
        )));
    }
    diagnose::reset();
    let started = Instant::now();
    let deadline = started + retry_window(options);
    let mut queues = Vec::new();
    for signal in Signal::ALL {
        if !dir.join(signal.as_str()).is_dir() {
            continue;
        }
        let options = SendOptions {
            signal,
            ..options.clone()
        };
        let (stats, shutdown) = open_queue(&options)?;
        // Taken at once: the senders start on what they found right away.
        let progress = Progress::new(stats, Some(deadline));
        if progress.backlog == 0 {
            // Emptied by an earlier run: nothing to report.
            let _ = shutdown(Duration::ZERO);
            continue;
        }
        queues.push((options, progress, shutdown));
    }
    while Instant::now() < deadline
        && queues
            .iter()
            .any(|(_, progress, _)| progress.queued_on_disk() > 0)
    {
        thread::sleep(Duration::from_millis(20));
    }
    let mut reports = Vec::new();
    for (options, progress, shutdown) in queues {
        // Stops the senders; whatever is left stays on disk.
        let _ = shutdown(Duration::ZERO);
        let mut report = SendReport {
            signal: options.signal,
            requested: 0,
            generated: 0,
            stats: progress.stats.snapshot(),
            elapsed: started.elapsed(),
            reason: None,
            unreachable: false,
            target: target(&options),
            disk_dir: Some(dir.join(options.signal.as_str())),
            backlog: progress.backlog,
        };
        if !report.delivered_all() {
            explain_persistent(&mut report, &progress, &options);
        }
        reports.push(report);
    }
    Ok(reports)
}

/// Stops an exporter, waiting at most the given time for its queue.
type Shutdown = Box<dyn FnOnce(Duration) -> OTelSdkResult>;

/// Builds the exporter of `options.signal`, with its persistent queue.
fn open_queue(options: &SendOptions) -> Result<(ExportStats, Shutdown), CliError> {
    Ok(match options.signal {
        Signal::Traces => {
            let exporter = configure(OtlpSpanExporter::builder(), options)?
                .build()
                .map_err(build_error)?;
            let stats = exporter.stats();
            let shutdown: Shutdown = Box::new(move |t| exporter.shutdown_with_timeout(t));
            (stats, shutdown)
        }
        Signal::Metrics => {
            let exporter = configure(OtlpMetricExporter::builder(), options)?
                .build()
                .map_err(build_error)?;
            let stats = exporter.stats();
            let shutdown: Shutdown = Box::new(move |t| exporter.shutdown_with_timeout(t));
            (stats, shutdown)
        }
        Signal::Logs => {
            let exporter = configure(OtlpLogExporter::builder(), options)?
                .build()
                .map_err(build_error)?;
            let stats = exporter.stats();
            let shutdown: Shutdown = Box::new(move |t| exporter.shutdown_with_timeout(t));
            (stats, shutdown)
        }
        other => return Err(CliError::Usage(format!("cannot send {other}"))),
    })
}

/// Environment variables of a setting, per signal first, as the exporter
/// reads them.
fn env_setting(signal: Signal, key: &str) -> Option<String> {
    let specific = format!(
        "OTEL_EXPORTER_OTLP_{}_{key}",
        signal.as_str().to_ascii_uppercase()
    );
    [specific, format!("OTEL_EXPORTER_OTLP_{key}")]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
}

/// Rejects what cannot work before generating anything: brotli has no
/// gRPC encoding.
fn check_combination(options: &SendOptions) -> Result<(), CliError> {
    let protocol = options
        .protocol
        .or_else(|| env_setting(options.signal, "PROTOCOL")?.parse().ok());
    let compression = options
        .compression
        .or_else(|| env_setting(options.signal, "COMPRESSION")?.parse().ok());
    if protocol == Some(Protocol::Grpc)
        && compression.is_some_and(|c| c.algorithm() == Algorithm::Brotli)
    {
        return Err(CliError::Usage(
            "brotli compression is not supported by OTLP/gRPC; use none, gzip or zstd".into(),
        ));
    }
    Ok(())
}

/// Where items go, for messages: the flag, the variable, or the default.
fn target(options: &SendOptions) -> String {
    if let Some(endpoint) = &options.endpoint {
        return endpoint.clone();
    }
    if let Some(endpoint) = env_setting(options.signal, "ENDPOINT") {
        return endpoint;
    }
    let protocol = options
        .protocol
        .or_else(|| env_setting(options.signal, "PROTOCOL")?.parse().ok())
        .unwrap_or(Protocol::HttpProtobuf);
    protocol.default_endpoint().to_owned()
}

/// How long a failed batch is retried: `--timeout`, or the exporter's
/// default request timeout. With `--persist`, the command's deadline.
fn retry_window(options: &SendOptions) -> Duration {
    options.timeout.unwrap_or(otlp_exporter::DEFAULT_TIMEOUT)
}

/// The longest pause between two attempts at a batch. The exporter's 30 s
/// suits a service that will run for days; a load generator wants to see
/// a recovered endpoint within seconds.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How long the circuit breaker stays open before probing the endpoint
/// again. The exporter's 10 s spares a struggling collector in production;
/// for the same reason as [`MAX_BACKOFF`], a load generator probes sooner.
const BREAKER_OPEN: Duration = Duration::from_secs(2);

/// Applies the settings given on the command line, and only those, plus
/// the retry window (the exporter would otherwise retry for minutes) and
/// quicker recovery (see [`MAX_BACKOFF`]).
fn configure<E>(
    mut builder: ExporterBuilder<E>,
    options: &SendOptions,
) -> Result<ExporterBuilder<E>, CliError> {
    let retry = RetryPolicy::builder()
        .with_max_elapsed_time(retry_window(options))
        .with_max_interval(MAX_BACKOFF)
        .build()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let breaker = BreakerConfig::builder()
        .with_open_duration(BREAKER_OPEN)
        .build()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    builder = builder
        .with_retry_policy(retry)
        .with_circuit_breaker(breaker);
    if let Some(endpoint) = &options.endpoint {
        builder = builder.with_endpoint(endpoint.clone());
    }
    if let Some(protocol) = options.protocol {
        builder = builder.with_protocol(protocol);
    }
    if let Some(compression) = options.compression {
        builder = builder.with_compression(compression);
    }
    if !options.headers.is_empty() {
        builder = builder.with_headers(options.headers.clone());
    }
    match (&options.persist, options.timeout) {
        (Some(dir), _) => {
            // --timeout is the command's deadline then, not a request's:
            // requests keep the exporter's (or OTEL_*_TIMEOUT's) timeout.
            builder = builder.with_persistent_queue(dir.clone());
        }
        (None, Some(timeout)) => builder = builder.with_timeout(timeout),
        (None, None) => {}
    }
    Ok(builder)
}

fn build_error(e: BuildError) -> CliError {
    if matches!(e, BuildError::PersistentQueue(_)) {
        // A directory in use by another run, or unreadable: not a mistake
        // in the arguments.
        CliError::Failed(e.to_string())
    } else {
        CliError::Usage(e.to_string())
    }
}

fn resource() -> Resource {
    Resource::builder().with_service_name("otlp-send").build()
}

fn scope() -> InstrumentationScope {
    InstrumentationScope::builder(SCOPE)
        .with_version(env!("CARGO_PKG_VERSION"))
        .build()
}

/// The queue size of the batch processors, and so the flow-control window:
/// a few batches, so that generating and exporting overlap.
fn queue_window(batch_size: usize) -> usize {
    batch_size.saturating_mul(4).max(2048)
}

fn send_traces(options: &SendOptions, deadline: Option<Instant>) -> Result<SendReport, CliError> {
    let exporter = configure(OtlpSpanExporter::builder(), options)?
        .build()
        .map_err(build_error)?;
    let progress = Arc::new(Progress::new(exporter.stats(), deadline));
    let window = queue_window(options.batch_size);
    let config = opentelemetry_sdk::trace::BatchConfigBuilder::default()
        .with_max_queue_size(window)
        .with_max_export_batch_size(options.batch_size)
        .build();
    let drain = Drain::new(options, deadline);
    let processor = BatchSpanProcessor::builder(Tracked::new(exporter, &progress, drain))
        .with_batch_config(config)
        .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        // Exactly --count spans: no sampler from OTEL_TRACES_SAMPLER.
        .with_sampler(Sampler::AlwaysOn)
        .with_resource(resource())
        .build();
    let tracer = provider.tracer_with_scope(scope());
    Ok(drive(
        options,
        &progress,
        window as u64,
        &|i| generate::span(&tracer, i),
        None,
        move || provider.shutdown_with_timeout(drain.sdk_budget()),
    ))
}

fn send_logs(options: &SendOptions, deadline: Option<Instant>) -> Result<SendReport, CliError> {
    let exporter = configure(OtlpLogExporter::builder(), options)?
        .build()
        .map_err(build_error)?;
    let progress = Arc::new(Progress::new(exporter.stats(), deadline));
    let window = queue_window(options.batch_size);
    let config = opentelemetry_sdk::logs::BatchConfigBuilder::default()
        .with_max_queue_size(window)
        .with_max_export_batch_size(options.batch_size)
        .build();
    let drain = Drain::new(options, deadline);
    let processor = BatchLogProcessor::builder(Tracked::new(exporter, &progress, drain))
        .with_batch_config(config)
        .build();
    let provider = SdkLoggerProvider::builder()
        .with_log_processor(processor)
        .with_resource(resource())
        .build();
    let logger = provider.logger_with_scope(scope());
    Ok(drive(
        options,
        &progress,
        window as u64,
        &|i| generate::log(&logger, i),
        None,
        move || provider.shutdown_with_timeout(drain.sdk_budget()),
    ))
}

fn send_metrics(options: &SendOptions, deadline: Option<Instant>) -> Result<SendReport, CliError> {
    let exporter = configure(OtlpMetricExporter::builder(), options)?
        // Each data point is exported once, so the receiver's count is
        // --count; cumulative would re-export every series each time.
        .with_temporality(Temporality::Delta)
        .build()
        .map_err(build_error)?;
    let progress = Arc::new(Progress::new(exporter.stats(), deadline));
    // Recorded-but-unexported points stay below `window`; a delta stream
    // holds those plus the previous collection's series (evicted at the
    // next collection), so this limit is never reached.
    let window = options.batch_size * 2 + options.workers;
    let limit = window * 2 + 16;
    let drain = Drain::new(options, deadline);
    let reader = PeriodicReader::builder(Tracked::new(exporter, &progress, drain))
        // Collections are driven by the flusher below; the timer is a backstop.
        .with_interval(Duration::from_secs(3600))
        .build();
    let provider = SdkMeterProvider::builder()
        .with_reader(reader)
        .with_view(move |instrument: &Instrument| {
            if instrument.scope().name() == SCOPE {
                Stream::builder().with_cardinality_limit(limit).build().ok()
            } else {
                None
            }
        })
        .with_resource(resource())
        .build();
    let instruments = Instruments::new(&provider.meter_with_scope(scope()));
    let batch = options.batch_size as u64;
    let flusher_provider = provider.clone();
    let flusher_progress = Arc::clone(&progress);
    let flush = move |generated: &AtomicU64, done: &AtomicBool| {
        flush_metrics(&flusher_provider, &flusher_progress, generated, done, batch);
    };
    Ok(drive(
        options,
        &progress,
        window as u64,
        &|i| instruments.record(i),
        Some(&flush),
        move || provider.shutdown(),
    ))
}

/// A collection at least every this long while points are pending, so a
/// slow `--rate` still exports steadily.
const IDLE_FLUSH: Duration = Duration::from_millis(500);

/// Asks for a collection (and so an export) whenever `batch` points have
/// been recorded since the last one, until `done`; the providers'
/// shutdown collects the rest.
fn flush_metrics(
    provider: &SdkMeterProvider,
    progress: &Progress,
    generated: &AtomicU64,
    done: &AtomicBool,
    batch: u64,
) {
    let mut flushed = 0;
    let mut last = Instant::now();
    while !done.load(Ordering::Acquire) && !progress.aborted() {
        let recorded = generated.load(Ordering::Acquire);
        let pending = recorded - flushed;
        if pending >= batch || (pending > 0 && last.elapsed() >= IDLE_FLUSH) {
            // A failure is recorded by `Tracked`.
            let _ = provider.force_flush();
            flushed = recorded;
            last = Instant::now();
        } else {
            thread::sleep(Duration::from_micros(200));
        }
    }
}

/// How long the final flush and shutdown may take: a few requests' worth.
fn drain_budget(options: &SendOptions) -> Duration {
    options.timeout.unwrap_or(otlp_exporter::DEFAULT_TIMEOUT) * 3
}

/// How long the exporter's final drain may take, decided when it starts.
#[derive(Debug, Clone, Copy)]
enum Drain {
    /// The in-memory queue: [`drain_budget`].
    For(Duration),
    /// The persistent queue: until the command's deadline, since
    /// whatever is left then stays on disk.
    Until(Instant),
}

/// After the deadline, how long the exporter may take to stop its senders
/// (it waits 2 s for them) and let go of the queue.
const STOP_GRACE: Duration = Duration::from_secs(3);

impl Drain {
    fn new(options: &SendOptions, deadline: Option<Instant>) -> Drain {
        match deadline {
            Some(deadline) => Drain::Until(deadline),
            None => Drain::For(drain_budget(options)),
        }
    }

    /// The time left for the exporter's drain.
    fn timeout(self) -> Duration {
        match self {
            Drain::For(budget) => budget,
            Drain::Until(deadline) => deadline.saturating_duration_since(Instant::now()),
        }
    }

    /// How long the SDK's shutdown waits for its worker, which exports the
    /// rest and then runs the exporter's drain.
    fn sdk_budget(self) -> Duration {
        match self {
            Drain::For(budget) => budget,
            Drain::Until(_) => self.timeout() + STOP_GRACE,
        }
    }
}

/// After a run has given up (nothing could be delivered), how long the
/// shutdown may go on failing the queued items before we stop waiting.
const ABORT_GRACE: Duration = Duration::from_millis(500);

/// A task run beside the generators: it sees how many items were
/// generated, and whether generating is done.
type SideTask<'a> = &'a (dyn Fn(&AtomicU64, &AtomicBool) + Sync);

/// Generates the items on `options.workers` threads (with `side` running
/// beside them until they finish), shuts the provider down with
/// `shutdown`, and reports.
fn drive(
    options: &SendOptions,
    progress: &Arc<Progress>,
    window: u64,
    emit: &(dyn Fn(u64) + Sync),
    side: Option<SideTask<'_>>,
    shutdown: impl FnOnce() -> OTelSdkResult + Send + 'static,
) -> SendReport {
    diagnose::reset();
    let started = Instant::now();
    let next = AtomicU64::new(0);
    let generated = AtomicU64::new(0);
    let done = AtomicBool::new(false);
    let rate = options.rate.filter(|r| *r > 0.0);
    let deadline = progress.deadline;
    let past_deadline = |at: Instant| deadline.is_some_and(|d| at >= d);
    thread::scope(|s| {
        if let Some(side) = side {
            let (generated, done) = (&generated, &done);
            s.spawn(move || side(generated, done));
        }
        let workers: Vec<_> = (0..options.workers)
            .map(|_| {
                s.spawn(|| loop {
                    if progress.aborted() || past_deadline(Instant::now()) {
                        break;
                    }
                    let ticket = next.fetch_add(1, Ordering::Relaxed);
                    if ticket >= options.count || !progress.wait_for_room(ticket, window) {
                        break;
                    }
                    if let Some(rate) = rate {
                        // `--rate` is at least 0.001/s, so this is finite;
                        // a due time past what `Instant` holds never comes.
                        let due = Duration::try_from_secs_f64(ticket as f64 / rate)
                            .ok()
                            .and_then(|after| started.checked_add(after));
                        let Some(due) = due.filter(|due| !past_deadline(*due)) else {
                            break;
                        };
                        if let Some(wait) = due.checked_duration_since(Instant::now()) {
                            thread::sleep(wait);
                        }
                    }
                    emit(ticket);
                    generated.fetch_add(1, Ordering::Release);
                })
            })
            .collect();
        for worker in workers {
            let _ = worker.join();
        }
        done.store(true, Ordering::Release);
    });

    // Shut down on a thread of its own, so that a receiver that never
    // answers cannot hold the command past its budget.
    let (tx, rx) = mpsc::channel();
    // If the thread cannot start, `tx` is dropped and the waits end at once.
    let _ = thread::Builder::new()
        .name("otlp-shutdown".into())
        .spawn(move || {
            let _ = tx.send(shutdown());
        });
    match deadline {
        Some(deadline) => wait_durable(progress, &rx, deadline),
        None => wait_shutdown(progress, &rx, Instant::now() + drain_budget(options)),
    }
    let elapsed = started.elapsed();
    let mut report = SendReport {
        signal: options.signal,
        requested: options.count,
        generated: generated.load(Ordering::Acquire),
        stats: progress.stats.snapshot(),
        elapsed,
        reason: None,
        unreachable: false,
        target: target(options),
        disk_dir: options
            .persist
            .as_ref()
            .map(|dir| dir.join(options.signal.as_str())),
        backlog: progress.backlog,
    };
    if !report.delivered_all() {
        if deadline.is_some() {
            explain_persistent(&mut report, progress, options);
        } else {
            explain(&mut report, progress, options);
        }
        if !report.target.contains("://") {
            // TLS errors against a plaintext endpoint are the usual result.
            if let Some(reason) = &mut report.reason {
                reason.push_str(
                    "; the endpoint has no scheme, so https:// was assumed \
                     (write http:// for a plaintext endpoint)",
                );
            }
        }
    }
    report
}

/// Waits for the shutdown to finish, until `deadline`, or shortly after
/// the run gave up.
fn wait_shutdown(
    progress: &Progress,
    shut_down: &mpsc::Receiver<OTelSdkResult>,
    deadline: Instant,
) {
    let mut aborted_at = None;
    loop {
        match shut_down.recv_timeout(Duration::from_millis(20)) {
            Ok(_) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let now = Instant::now();
                if progress.check() && now - *aborted_at.get_or_insert(now) >= ABORT_GRACE {
                    return;
                }
                if now >= deadline {
                    return;
                }
            }
        }
    }
}

/// With a persistent queue: waits until the shutdown is done and the disk
/// queue is empty, or the deadline has passed (and the exporter has had
/// time to stop its senders, leaving the rest on disk).
///
/// The SDK's shutdown alone is not enough to wait for: the metric reader's
/// gives up on its worker after 5 s while the exporter drains on.
fn wait_durable(progress: &Progress, shut_down: &mpsc::Receiver<OTelSdkResult>, deadline: Instant) {
    let mut finished = false;
    loop {
        if finished {
            thread::sleep(Duration::from_millis(20));
        } else {
            match shut_down.recv_timeout(Duration::from_millis(20)) {
                Ok(_) | Err(mpsc::RecvTimeoutError::Disconnected) => finished = true,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
        }
        let now = Instant::now();
        if finished && (progress.queued_on_disk() == 0 || now >= deadline) {
            return;
        }
        if now >= deadline + STOP_GRACE {
            return;
        }
    }
}

/// Fills in why not every item was delivered.
fn explain(report: &mut SendReport, progress: &Progress, options: &SendOptions) {
    let s = &report.stats;
    if s.items_exported == 0 && report.generated > 0 {
        // Nothing got through: is the endpoint there at all?
        let timeout = retry_window(options).min(Duration::from_secs(5));
        if let Err(why) = diagnose::probe(&report.target, timeout) {
            report.reason = Some(why);
            report.unreachable = true;
            return;
        }
    }
    let settled = s.items_exported + s.dropped.total();
    report.reason = Some(match exporter_error(progress) {
        Some(error) => error,
        None if s.dropped.rejected_by_receiver > 0 => format!(
            "the receiver rejected {} in partial successes",
            s.dropped.rejected_by_receiver
        ),
        None if settled < report.generated => {
            let unsent = format!(
                "{} still unsent when the {:?} shutdown budget ran out",
                report.generated - settled,
                drain_budget(options)
            );
            // The retries were still going: the last attempt's error says why.
            match &s.last_error {
                Some(last) => format!("{} ({unsent})", short_reason(&last.message)),
                None => unsent,
            }
        }
        None => format!("only {} of them were generated", report.generated),
    });
}

/// The exporter's own words, preferring the cause over "circuit breaker is
/// open", which only says that causes piled up.
fn exporter_error(progress: &Progress) -> Option<String> {
    let captured = diagnose::captured();
    let exporter_error = captured
        .iter()
        .find(|e| !e.contains("circuit breaker"))
        .or(captured.first());
    exporter_error
        .cloned()
        .or_else(|| progress.first_error())
        .map(|e| short_reason(&e))
}

/// Fills in why a run with a persistent queue did not deliver everything.
/// Nothing the queue took is lost by stopping, so the endpoint being down
/// is not a usage error here: the batches wait on disk for the next run.
fn explain_persistent(report: &mut SendReport, progress: &Progress, options: &SendOptions) {
    let s = &report.stats;
    let disk = s.disk.unwrap_or_default();
    let deadline = retry_window(options);
    let last_error = s.last_error.as_ref().map(|e| short_reason(&e.message));
    let why = || {
        exporter_error(progress).or(last_error.clone()).or_else(|| {
            // The exporter keeps retrying quietly; ask the endpoint.
            let timeout = deadline.min(Duration::from_secs(5));
            diagnose::probe(&report.target, timeout).err()
        })
    };
    report.reason = Some(if progress.aborted() {
        format!(
            "generating stopped after {} of {}: the persistent queue refused a batch ({})",
            report.generated,
            report.requested,
            progress
                .first_error()
                .as_deref()
                .unwrap_or("reason unknown")
        )
    } else if report.generated < report.requested {
        format!(
            "the {deadline:?} deadline passed after generating {} of {}",
            report.generated, report.requested
        )
    } else if disk.queued_batches > 0 {
        let cause = if s.items_exported == 0 { why() } else { None };
        match cause {
            Some(cause) => format!("the {deadline:?} deadline passed ({cause})"),
            None => format!("the {deadline:?} deadline passed"),
        }
    } else if s.items_accepted < report.generated {
        format!(
            "the export queue took {} of {} generated",
            s.items_accepted, report.generated
        )
    } else {
        let lost = [
            (
                s.dropped.rejected_by_receiver,
                "items rejected by the receiver",
            ),
            (s.dropped.export_failed, "items given up"),
            (s.dropped.queue_full, "items refused by the full queue"),
            (disk.evicted_batches, "batches evicted from the disk"),
        ];
        let lost: Vec<String> = lost
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, what)| format!("{n} {what}"))
            .collect();
        let lost = lost.join(", ");
        match why() {
            Some(cause) if !lost.is_empty() => format!("{lost} ({cause})"),
            Some(cause) => cause,
            None => lost,
        }
    });
}

/// What the generator knows about the exports: the exporter's counters,
/// a wake-up when the SDK hands over a batch, and the first error the SDK
/// saw (the exporter only fails an export call when its queue is full).
#[derive(Debug)]
struct Progress {
    stats: ExportStats,
    answered: Mutex<()>,
    wake: Condvar,
    first_error: Mutex<Option<String>>,
    /// Without a persistent queue: set once a batch was given up before
    /// any was delivered, as the endpoint does not work and generating
    /// more only delays the verdict. With one: set when the queue refused
    /// a batch (full, or failing), as generating more would only lose more.
    abort: AtomicBool,
    /// The command's deadline, with a persistent queue (and only then).
    deadline: Option<Instant>,
    /// Batches found on disk when the exporter was built.
    backlog: u64,
}

impl Progress {
    /// Made right after the exporter is built, so that `backlog` is what
    /// an earlier run left on disk.
    fn new(stats: ExportStats, deadline: Option<Instant>) -> Self {
        let backlog = stats.snapshot().disk.map_or(0, |d| d.queued_batches);
        Progress {
            stats,
            answered: Mutex::new(()),
            wake: Condvar::new(),
            first_error: Mutex::new(None),
            abort: AtomicBool::new(false),
            deadline,
            backlog,
        }
    }

    fn durable(&self) -> bool {
        self.deadline.is_some()
    }

    fn aborted(&self) -> bool {
        self.abort.load(Ordering::Acquire)
    }

    /// Batches on disk not yet delivered.
    fn queued_on_disk(&self) -> u64 {
        self.stats.snapshot().disk.map_or(0, |d| d.queued_batches)
    }

    /// Decides whether to give up (see [`Progress::abort`]); returns
    /// whether the run is aborted.
    fn check(&self) -> bool {
        if self.aborted() {
            return true;
        }
        if self.durable() {
            // An endpoint that is down is no reason: the disk holds the
            // batches. `exported` aborts when the disk refuses one.
            return self.deadline.is_some_and(|d| Instant::now() >= d);
        }
        let s = self.stats.snapshot();
        let hopeless = s.items_exported == 0 && s.export_errors > 0;
        if hopeless {
            self.abort.store(true, Ordering::Release);
        }
        hopeless
    }

    fn first_error(&self) -> Option<String> {
        self.first_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Items no longer between the generator and safety: delivered or
    /// dropped for good, or, with a persistent queue, taken by it (or
    /// refused by it).
    fn settled(&self) -> u64 {
        let s = self.stats.snapshot();
        if self.durable() {
            s.items_accepted
        } else {
            s.items_exported + s.dropped.total()
        }
    }

    /// Called after each export call of the SDK.
    fn exported(&self, result: &OTelSdkResult) {
        if let Err(error) = result {
            let message = match error {
                OTelSdkError::InternalFailure(message) => message.clone(),
                other => other.to_string(),
            };
            self.first_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get_or_insert(message);
            if self.durable() {
                self.abort.store(true, Ordering::Release);
            }
        }
        self.check();
        let _guard = self.answered.lock().unwrap_or_else(PoisonError::into_inner);
        self.wake.notify_all();
    }

    /// Waits until item `ticket` fits in the window; `false` if the run
    /// was aborted (or its deadline passed) meanwhile.
    fn wait_for_room(&self, ticket: u64, window: u64) -> bool {
        if ticket < window || ticket < self.settled() + window {
            return true;
        }
        let mut guard = self.answered.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if self.check() {
                return false;
            }
            if ticket < self.settled() + window {
                return true;
            }
            // Deliveries settle in the background without telling us, so
            // poll; a millisecond is short next to a request.
            guard = self
                .wake
                .wait_timeout(guard, Duration::from_millis(1))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// An exporter that tells [`Progress`] about each export call, and gives
/// the exporter's final drain `drain` instead of the SDK's 5 s.
#[derive(Debug)]
struct Tracked<E> {
    inner: E,
    progress: Arc<Progress>,
    drain: Drain,
}

impl<E> Tracked<E> {
    fn new(inner: E, progress: &Arc<Progress>, drain: Drain) -> Self {
        Tracked {
            inner,
            progress: Arc::clone(progress),
            drain,
        }
    }
}

impl<E: SpanExporter> SpanExporter for Tracked<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let result = self.inner.export(batch).await;
        self.progress.exported(&result);
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn shutdown(&self) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(self.drain.timeout())
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

impl<E: LogExporter> LogExporter for Tracked<E> {
    async fn export(&self, batch: LogBatch<'_>) -> OTelSdkResult {
        let result = self.inner.export(batch).await;
        self.progress.exported(&result);
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn shutdown(&self) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(self.drain.timeout())
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

impl<E: PushMetricExporter> PushMetricExporter for Tracked<E> {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let result = self.inner.export(metrics).await;
        self.progress.exported(&result);
        result
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn shutdown(&self) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(self.drain.timeout())
    }

    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_lose_their_wrapping() {
        assert_eq!(
            short_reason(
                "connection to http://h:9/v1/traces failed: tcp connect error: \
                 Connection refused (os error 111)"
            ),
            "connection refused"
        );
        assert_eq!(
            short_reason("logs export to http://h/v1/logs failed: HTTP status 400 Bad Request: no"),
            "HTTP status 400 Bad Request: no"
        );
        assert_eq!(
            short_reason("export timed out after 1s"),
            "export timed out after 1s"
        );
    }

    #[test]
    fn a_full_window_waits_for_answers() {
        let progress = Progress::new(ExportStats::default(), None);
        assert!(progress.wait_for_room(9, 10));
        assert!(!progress.aborted());
        progress.exported(&Err(OTelSdkError::InternalFailure("queue full".into())));
        assert_eq!(progress.first_error().as_deref(), Some("queue full"));
        // An abort releases a waiting generator.
        progress.abort.store(true, Ordering::Release);
        assert!(!progress.wait_for_room(10, 10));
    }
}

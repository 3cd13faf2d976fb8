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
//! given up (or the circuit breaker opened) before anything was delivered,
//! generating stops and the run reports why (see [`crate::diagnose`]).

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
    Algorithm, BreakerState, Compression, ExportStats, ExporterBuilder, OtlpLogExporter,
    OtlpMetricExporter, OtlpSpanExporter, Protocol, RetryPolicy, StatsSnapshot,
};
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
}

impl SendReport {
    /// Whether the receiver accepted every requested item.
    pub(crate) fn delivered_all(&self) -> bool {
        let s = &self.stats;
        self.generated == self.requested
            && s.items_exported == self.requested
            && s.dropped.total() == 0
            && s.export_errors == 0
    }

    pub(crate) fn items_per_second(&self) -> f64 {
        self.stats.items_exported as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub(crate) fn wire_bytes_per_item(&self) -> f64 {
        let s = &self.stats;
        let sent = s.items_exported + s.dropped.total();
        s.bytes_sent as f64 / sent.max(1) as f64
    }

    /// The failure as one line, or `Ok` if every item was accepted.
    pub(crate) fn outcome(&self) -> Result<(), CliError> {
        if self.delivered_all() {
            return Ok(());
        }
        let message = format!(
            "{} of {} {} delivered to {}: {}",
            self.stats.items_exported,
            self.requested,
            unit(self.signal),
            self.target,
            self.reason.as_deref().unwrap_or("reason unknown")
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
        format!(
            "{} of {} {} accepted by {} in {:.3} s ({:.0} items/s)\n  \
             generated  {} ({} rejected by the receiver, {} given up, {} dropped by a full queue)\n  \
             requests   {} ok, {} given up, {} retries; latency mean {:.1} ms, max {:.1} ms\n  \
             wire       {} bytes ({:.1} B/item), {} bytes before compression{ratio}",
            s.items_exported,
            self.requested,
            unit(self.signal),
            self.target,
            self.elapsed.as_secs_f64(),
            self.items_per_second(),
            self.generated,
            s.dropped.rejected_by_receiver,
            s.dropped.export_failed,
            s.dropped.queue_full,
            s.requests,
            s.export_errors,
            s.retries,
            s.mean_latency.as_secs_f64() * 1e3,
            s.max_latency.as_secs_f64() * 1e3,
            s.bytes_sent,
            self.wire_bytes_per_item(),
            s.bytes_uncompressed,
        )
    }
}

fn unit(signal: Signal) -> &'static str {
    match signal {
        Signal::Traces => "spans",
        Signal::Metrics => "metric data points",
        Signal::Logs => "log records",
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
    };
    let report = run(&options, runtime)?;
    println!("{}", report.summary());
    report.outcome()
}

/// Sends `options.count` items of `options.signal`; export requests run on
/// `runtime`.
pub(crate) fn run(options: &SendOptions, runtime: &Handle) -> Result<SendReport, CliError> {
    check_combination(options)?;
    // Exporters built here send their requests on `runtime`.
    let _entered = runtime.enter();
    match options.signal {
        Signal::Traces => send_traces(options),
        Signal::Metrics => send_metrics(options),
        Signal::Logs => send_logs(options),
    }
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
/// default request timeout.
fn retry_window(options: &SendOptions) -> Duration {
    options.timeout.unwrap_or(otlp_exporter::DEFAULT_TIMEOUT)
}

/// Applies the settings given on the command line, and only those, plus
/// the retry window (the exporter would otherwise retry for minutes).
fn configure<E>(
    mut builder: ExporterBuilder<E>,
    options: &SendOptions,
) -> Result<ExporterBuilder<E>, CliError> {
    let retry = RetryPolicy::builder()
        .with_max_elapsed_time(retry_window(options))
        .build()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    builder = builder.with_retry_policy(retry);
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
    if let Some(timeout) = options.timeout {
        builder = builder.with_timeout(timeout);
    }
    Ok(builder)
}

fn build_error(e: otlp_exporter::BuildError) -> CliError {
    CliError::Usage(e.to_string())
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

fn send_traces(options: &SendOptions) -> Result<SendReport, CliError> {
    let exporter = configure(OtlpSpanExporter::builder(), options)?
        .build()
        .map_err(build_error)?;
    let progress = Arc::new(Progress::new(exporter.stats()));
    let window = queue_window(options.batch_size);
    let config = opentelemetry_sdk::trace::BatchConfigBuilder::default()
        .with_max_queue_size(window)
        .with_max_export_batch_size(options.batch_size)
        .build();
    let processor =
        BatchSpanProcessor::builder(Tracked::new(exporter, &progress, drain_budget(options)))
            .with_batch_config(config)
            .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        // Exactly --count spans: no sampler from OTEL_TRACES_SAMPLER.
        .with_sampler(Sampler::AlwaysOn)
        .with_resource(resource())
        .build();
    let tracer = provider.tracer_with_scope(scope());
    let budget = drain_budget(options);
    Ok(drive(
        options,
        &progress,
        window as u64,
        &|i| generate::span(&tracer, i),
        None,
        move || provider.shutdown_with_timeout(budget),
    ))
}

fn send_logs(options: &SendOptions) -> Result<SendReport, CliError> {
    let exporter = configure(OtlpLogExporter::builder(), options)?
        .build()
        .map_err(build_error)?;
    let progress = Arc::new(Progress::new(exporter.stats()));
    let window = queue_window(options.batch_size);
    let config = opentelemetry_sdk::logs::BatchConfigBuilder::default()
        .with_max_queue_size(window)
        .with_max_export_batch_size(options.batch_size)
        .build();
    let processor =
        BatchLogProcessor::builder(Tracked::new(exporter, &progress, drain_budget(options)))
            .with_batch_config(config)
            .build();
    let provider = SdkLoggerProvider::builder()
        .with_log_processor(processor)
        .with_resource(resource())
        .build();
    let logger = provider.logger_with_scope(scope());
    let budget = drain_budget(options);
    Ok(drive(
        options,
        &progress,
        window as u64,
        &|i| generate::log(&logger, i),
        None,
        move || provider.shutdown_with_timeout(budget),
    ))
}

fn send_metrics(options: &SendOptions) -> Result<SendReport, CliError> {
    let exporter = configure(OtlpMetricExporter::builder(), options)?
        // Each data point is exported once, so the receiver's count is
        // --count; cumulative would re-export every series each time.
        .with_temporality(Temporality::Delta)
        .build()
        .map_err(build_error)?;
    let progress = Arc::new(Progress::new(exporter.stats()));
    // Recorded-but-unexported points stay below `window`; a delta stream
    // holds those plus the previous collection's series (evicted at the
    // next collection), so this limit is never reached.
    let window = options.batch_size * 2 + options.workers;
    let limit = window * 2 + 16;
    let reader = PeriodicReader::builder(Tracked::new(exporter, &progress, drain_budget(options)))
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
    thread::scope(|s| {
        if let Some(side) = side {
            let (generated, done) = (&generated, &done);
            s.spawn(move || side(generated, done));
        }
        let workers: Vec<_> = (0..options.workers)
            .map(|_| {
                s.spawn(|| loop {
                    if progress.aborted() {
                        break;
                    }
                    let ticket = next.fetch_add(1, Ordering::Relaxed);
                    if ticket >= options.count || !progress.wait_for_room(ticket, window) {
                        break;
                    }
                    if let Some(rate) = rate {
                        let due = started + Duration::from_secs_f64(ticket as f64 / rate);
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
    let budget = drain_budget(options);
    let (tx, rx) = mpsc::channel();
    let spawned = thread::Builder::new()
        .name("otlp-shutdown".into())
        .spawn(move || {
            let _ = tx.send(shutdown());
        });
    let deadline = Instant::now() + budget;
    let mut waiting = spawned.is_ok();
    let mut aborted_at = None;
    while waiting {
        match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(_) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let now = Instant::now();
                if progress.check() && now - *aborted_at.get_or_insert(now) >= ABORT_GRACE {
                    waiting = false;
                }
                if now >= deadline {
                    waiting = false;
                }
            }
        }
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
    };
    if !report.delivered_all() {
        explain(&mut report, progress, options);
    }
    report
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
    // The exporter's own words, preferring the cause over "circuit
    // breaker is open", which only says that causes piled up.
    let captured = diagnose::captured();
    let exporter_error = captured
        .iter()
        .find(|e| !e.contains("circuit breaker"))
        .or(captured.first());
    let error = exporter_error.cloned().or_else(|| progress.first_error());
    let settled = s.items_exported + s.dropped.total();
    report.reason = Some(match error {
        Some(error) => short_reason(&error),
        None if s.dropped.rejected_by_receiver > 0 => format!(
            "the receiver rejected {} in partial successes",
            s.dropped.rejected_by_receiver
        ),
        None if settled < report.generated => format!(
            "{} still unsent when the {:?} shutdown budget ran out",
            report.generated - settled,
            drain_budget(options)
        ),
        None => format!("only {} of them were generated", report.generated),
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
    /// Set once a batch was given up, or the breaker opened, before any
    /// was delivered: the endpoint does not work, so generating more only
    /// delays the verdict.
    abort: AtomicBool,
}

impl Progress {
    fn new(stats: ExportStats) -> Self {
        Progress {
            stats,
            answered: Mutex::new(()),
            wake: Condvar::new(),
            first_error: Mutex::new(None),
            abort: AtomicBool::new(false),
        }
    }

    fn aborted(&self) -> bool {
        self.abort.load(Ordering::Acquire)
    }

    /// Decides whether to give up (see [`Progress::abort`]); returns
    /// whether the run is aborted.
    fn check(&self) -> bool {
        if self.aborted() {
            return true;
        }
        let s = self.stats.snapshot();
        let hopeless =
            s.items_exported == 0 && (s.export_errors > 0 || s.breaker == BreakerState::Open);
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

    /// Items whose delivery is settled: accepted, or dropped for good.
    fn settled(&self) -> u64 {
        let s = self.stats.snapshot();
        s.items_exported + s.dropped.total()
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
        }
        self.check();
        let _guard = self.answered.lock().unwrap_or_else(PoisonError::into_inner);
        self.wake.notify_all();
    }

    /// Waits until item `ticket` fits in the window; `false` if the run
    /// was aborted meanwhile.
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
    drain: Duration,
}

impl<E> Tracked<E> {
    fn new(inner: E, progress: &Arc<Progress>, drain: Duration) -> Self {
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
        self.inner.shutdown_with_timeout(self.drain)
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
        self.inner.shutdown_with_timeout(self.drain)
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
        self.inner.shutdown_with_timeout(self.drain)
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
        let progress = Progress::new(ExportStats::default());
        assert!(progress.wait_for_room(9, 10));
        assert!(!progress.aborted());
        progress.exported(&Err(OTelSdkError::InternalFailure("queue full".into())));
        assert_eq!(progress.first_error().as_deref(), Some("queue full"));
        // An abort releases a waiting generator.
        progress.abort.store(true, Ordering::Release);
        assert!(!progress.wait_for_room(10, 10));
    }
}

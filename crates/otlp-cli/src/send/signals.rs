//! The SDK pipeline of each signal around our exporter, and the one path
//! that sends any of them.
//!
//! What differs between the signals is only how the SDK is assembled: a
//! batch span processor, a batch log processor, or a periodic metric
//! reader driven by a flusher. Building the exporter, tracking its exports
//! and driving the generators are shared ([`send`]).

use super::flow::{drive, Drain, Pipeline, Progress, Tracked};
use super::generate::{self, Instruments, SCOPE};
use super::options::{build_error, Plan};
use super::report::SendReport;
use crate::error::CliError;
use opentelemetry::logs::LoggerProvider as _;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::InstrumentationScope;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{BatchLogProcessor, LogExporter as _, SdkLoggerProvider};
use opentelemetry_sdk::metrics::exporter::PushMetricExporter as _;
use opentelemetry_sdk::metrics::{
    Instrument, PeriodicReader, SdkMeterProvider, Stream, Temporality,
};
use opentelemetry_sdk::trace::{BatchSpanProcessor, Sampler, SdkTracerProvider, SpanExporter as _};
use opentelemetry_sdk::Resource;
use otlp_exporter::{
    BuildError, ExportStats, ExporterBuilder, OtlpLogExporter, OtlpMetricExporter, OtlpSpanExporter,
};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// One signal's exporter, as `otlp send` uses it.
pub(super) trait Exporter: Sized + std::fmt::Debug + Send + Sync + 'static {
    fn builder() -> ExporterBuilder<Self>;
    fn build(builder: ExporterBuilder<Self>) -> Result<Self, BuildError>;
    fn stats(&self) -> ExportStats;
    /// Stops the exporter, waiting at most `timeout` for its queue.
    fn stop(&self, timeout: Duration) -> OTelSdkResult;
}

// The exporter crate gives each signal's exporter the same `builder`,
// `build` and `stats` as inherent methods, and a shutdown through the
// signal's own SDK trait; there is no trait to reach them through, so
// this names them once.
macro_rules! exporter {
    ($($exporter:ty),*) => {$(
        impl Exporter for $exporter {
            fn builder() -> ExporterBuilder<Self> {
                <$exporter>::builder()
            }

            fn build(builder: ExporterBuilder<Self>) -> Result<Self, BuildError> {
                builder.build()
            }

            fn stats(&self) -> ExportStats {
                <$exporter>::stats(self)
            }

            fn stop(&self, timeout: Duration) -> OTelSdkResult {
                self.shutdown_with_timeout(timeout)
            }
        }
    )*};
}

exporter!(OtlpSpanExporter, OtlpLogExporter, OtlpMetricExporter);

/// A signal `otlp send` generates: how its SDK pipeline is assembled.
pub(super) trait Generated: Exporter {
    /// Exporter settings the signal needs beyond the command's.
    fn prepare(builder: ExporterBuilder<Self>) -> ExporterBuilder<Self> {
        builder
    }

    /// The SDK pipeline around `exporter`.
    fn pipeline(
        exporter: Tracked<Self>,
        plan: &Plan,
        drain: Drain,
        progress: &Arc<Progress>,
    ) -> Pipeline;
}

/// Builds the exporter of `plan`'s signal with the command's settings.
pub(super) fn open<E: Generated>(plan: &Plan) -> Result<E, CliError> {
    E::build(E::prepare(plan.configure(E::builder())?)).map_err(build_error)
}

/// Sends `plan`'s items through the signal's SDK pipeline; with a
/// persistent queue, until `deadline`.
pub(super) fn send<E: Generated>(
    plan: &Plan,
    deadline: Option<Instant>,
) -> Result<SendReport, CliError> {
    let exporter = open::<E>(plan)?;
    let progress = Arc::new(Progress::new(exporter.stats(), deadline));
    let drain = Drain::new(plan, deadline);
    let tracked = Tracked::new(exporter, &progress, drain);
    let pipeline = E::pipeline(tracked, plan, drain, &progress);
    Ok(drive(plan, &progress, pipeline))
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

// Spans and log records take the same path through the SDK, but through
// types of their own (batch config, processor, provider) with no trait in
// common, so each is assembled here.

impl Generated for OtlpSpanExporter {
    fn pipeline(exporter: Tracked<Self>, plan: &Plan, drain: Drain, _: &Arc<Progress>) -> Pipeline {
        let window = queue_window(plan.options.batch_size);
        let config = opentelemetry_sdk::trace::BatchConfigBuilder::default()
            .with_max_queue_size(window)
            .with_max_export_batch_size(plan.options.batch_size)
            .build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(
                BatchSpanProcessor::builder(exporter)
                    .with_batch_config(config)
                    .build(),
            )
            // Exactly --count spans: no sampler from OTEL_TRACES_SAMPLER.
            .with_sampler(Sampler::AlwaysOn)
            .with_id_generator(generate::ItemIds::default())
            .with_resource(resource())
            .build();
        let tracer = provider.tracer_with_scope(scope());
        let per_trace = plan.options.spans_per_trace;
        Pipeline {
            window: window as u64,
            emit: Box::new(move |i| match per_trace {
                1 => generate::span(&tracer, i),
                k => generate::trace_span(&tracer, i, k),
            }),
            side: None,
            shutdown: Box::new(move || provider.shutdown_with_timeout(drain.sdk_budget())),
        }
    }
}

impl Generated for OtlpLogExporter {
    fn pipeline(exporter: Tracked<Self>, plan: &Plan, drain: Drain, _: &Arc<Progress>) -> Pipeline {
        let window = queue_window(plan.options.batch_size);
        let config = opentelemetry_sdk::logs::BatchConfigBuilder::default()
            .with_max_queue_size(window)
            .with_max_export_batch_size(plan.options.batch_size)
            .build();
        let provider = SdkLoggerProvider::builder()
            .with_log_processor(
                BatchLogProcessor::builder(exporter)
                    .with_batch_config(config)
                    .build(),
            )
            .with_resource(resource())
            .build();
        let logger = provider.logger_with_scope(scope());
        Pipeline {
            window: window as u64,
            emit: Box::new(move |i| generate::log(&logger, i)),
            side: None,
            shutdown: Box::new(move || provider.shutdown_with_timeout(drain.sdk_budget())),
        }
    }
}

/// Metrics are pushed the same way: with delta temporality every series
/// recorded since the last collection is exported once, and a flusher
/// asks the periodic reader for a collection every `--batch-size`
/// recorded data points.
impl Generated for OtlpMetricExporter {
    fn prepare(builder: ExporterBuilder<Self>) -> ExporterBuilder<Self> {
        // Each data point is exported once, so the receiver's count is
        // --count; cumulative would re-export every series each time.
        builder.with_temporality(Temporality::Delta)
    }

    fn pipeline(
        exporter: Tracked<Self>,
        plan: &Plan,
        _: Drain,
        progress: &Arc<Progress>,
    ) -> Pipeline {
        let options = &plan.options;
        // Recorded-but-unexported points stay below `window`; a delta stream
        // holds those plus the previous collection's series (evicted at the
        // next collection), so this limit is never reached.
        let window = options.batch_size * 2 + options.workers;
        let limit = window * 2 + 16;
        let reader = PeriodicReader::builder(exporter)
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
        let flusher = provider.clone();
        let progress = Arc::clone(progress);
        Pipeline {
            window: window as u64,
            emit: Box::new(move |i| instruments.record(i)),
            side: Some(Box::new(move |generated, done| {
                flush_metrics(&flusher, &progress, generated, done, batch);
            })),
            shutdown: Box::new(move || provider.shutdown()),
        }
    }
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

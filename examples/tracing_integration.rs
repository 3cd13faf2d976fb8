//! `tracing` on otlp-rust: `tracing_subscriber` with `tracing-opentelemetry`
//! (spans and metrics) and `opentelemetry-appender-tracing` (events as log
//! records), over the SDK's providers with [`OtlpSpanProcessor`], the
//! metric exporter and the log exporter. Application code uses only the
//! `tracing` macros.
//!
//! ```sh
//! cargo run -p otlp-examples --example tracing_integration
//! ```
//!
//! The versions that fit together: opentelemetry 0.33, opentelemetry_sdk
//! 0.33, tracing-opentelemetry 0.34, opentelemetry-appender-tracing 0.33,
//! tracing-subscriber 0.3.
//!
//! The subscriber is installed globally, so its layers keep their providers
//! alive until the process exits: dropping the handles flushes nothing.
//! The providers are shut down explicitly at the end, which sends what is
//! still batched.
//!
//! Without `OTEL_EXPORTER_OTLP_ENDPOINT` it sends to an embedded receiver
//! and checks that the spans (with their parents), the metric and the log
//! records arrived.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use otlp_examples::{ensure, ensure_child_of, ensure_metrics, Collector, Items};
use otlp_exporter::{
    ExporterBuilder, OtlpLogExporter, OtlpMetricExporter, OtlpSpanProcessor, Protocol,
};
use std::process::ExitCode;
use tracing_opentelemetry::{MetricsLayer, OpenTelemetryLayer};
use tracing_subscriber::filter::{filter_fn, LevelFilter};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::Layer as _;

fn configure<E>(builder: ExporterBuilder<E>, collector: &Collector) -> ExporterBuilder<E> {
    match collector.endpoint(Protocol::Grpc) {
        Some(endpoint) => builder
            .with_endpoint(endpoint)
            .with_protocol(Protocol::Grpc),
        None => builder,
    }
}

/// Events from the export path itself (otlp-rust, the SDK, the HTTP/2 and
/// gRPC stacks) are not turned into log records: exporting them would log
/// again, without end.
fn is_export_path(target: &str) -> bool {
    [
        "otlp",
        "opentelemetry",
        "h2",
        "hyper",
        "tonic",
        "tower",
        "rustls",
    ]
    .iter()
    .any(|prefix| target.starts_with(prefix))
}

#[tracing::instrument]
fn load_cart(user: &str) -> usize {
    tracing::info!(items = 3, "cart loaded");
    3
}

#[tracing::instrument(skip_all, fields(items))]
fn charge(items: usize) {
    tracing::Span::current().record("items", items);
    // tracing-opentelemetry's MetricsLayer turns fields with these prefixes
    // into OpenTelemetry instruments.
    tracing::info!(monotonic_counter.checkout.orders = 1_u64, "card charged");
    tracing::info!(histogram.checkout.basket_size = items as u64);
    tracing::warn!(retries = 1, "payment provider was slow");
}

fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let collector = Collector::start()?;
    let resource = Resource::builder()
        .with_service_name("tracing-integration")
        .build();

    // Spans: our processor in place of the SDK's batch processor + exporter.
    let processor = configure(OtlpSpanProcessor::builder(), &collector).build()?;
    let metric_exporter = configure(OtlpMetricExporter::builder(), &collector).build()?;
    let log_exporter = configure(OtlpLogExporter::builder(), &collector).build()?;
    let stats = [
        processor.stats(),
        metric_exporter.stats(),
        log_exporter.stats(),
    ];
    let tracer_provider = SdkTracerProvider::builder()
        .with_resource(resource.clone())
        .with_span_processor(processor)
        .build();
    let meter_provider = SdkMeterProvider::builder()
        .with_resource(resource.clone())
        .with_reader(PeriodicReader::builder(metric_exporter).build())
        .build();
    let logger_provider = SdkLoggerProvider::builder()
        .with_resource(resource)
        .with_batch_exporter(log_exporter)
        .build();

    let subscriber = tracing_subscriber::registry()
        .with(LevelFilter::INFO)
        .with(OpenTelemetryLayer::new(
            tracer_provider.tracer("tracing-integration"),
        ))
        .with(MetricsLayer::new(meter_provider.clone()))
        .with(
            OpenTelemetryTracingBridge::new(&logger_provider)
                .with_filter(filter_fn(|meta| !is_export_path(meta.target()))),
        )
        .with(tracing_subscriber::fmt::layer().with_target(false));
    tracing::subscriber::set_global_default(subscriber)?;

    // The application: plain `tracing`.
    tracing::info_span!("checkout", user = "ada").in_scope(|| {
        let items = load_cart("ada");
        charge(items);
    });

    // The layers hold clones of the providers, and the global subscriber is
    // never dropped: shut the providers down to send what is batched.
    tracer_provider.shutdown()?;
    meter_provider.shutdown()?;
    logger_provider.shutdown()?;

    let [spans, metrics, logs] = stats.map(|s| s.snapshot());
    let exported = Items {
        spans: spans.items_exported,
        metric_points: metrics.items_exported,
        log_records: logs.items_exported,
    };
    let expected = Items {
        spans: 3,
        metric_points: 2,
        log_records: 4,
    };
    Ok(collector.finish_checked(expected, exported, |received| {
        let checkout = received.span("checkout")?;
        ensure_child_of(received.span("load_cart")?, checkout)?;
        let charge = received.span("charge")?;
        ensure_child_of(charge, checkout)?;
        ensure(charge.attribute("items").as_deref() == Some("3"), || {
            "the charge span lacks items = 3".into()
        })?;
        ensure_metrics(received, &["checkout.orders", "checkout.basket_size"])?;
        let bodies = received.log_bodies();
        for body in ["cart loaded", "card charged", "payment provider was slow"] {
            ensure(bodies.contains(&body), || {
                format!("no log record {body:?} arrived (got {bodies:?})")
            })?;
        }
        // Log records carry the span they were emitted in.
        let in_charge = received
            .log_records()
            .into_iter()
            .filter(|r| r.span_id == charge.span.span_id)
            .count();
        ensure(in_charge == 3, || {
            format!("{in_charge} log records carry the charge span's id, not 3")
        })
    }))
}

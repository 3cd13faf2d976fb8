//! Pick and mix: otlp-rust's exporters plugged into the OpenTelemetry SDK
//! directly, without the `otlp` facade. Each signal is configured on its
//! own; here OTLP/HTTP with protobuf bodies and zstd.
//!
//! ```sh
//! cargo run -p otlp-examples --example pick_and_mix
//! ```
//!
//! Without `OTEL_EXPORTER_OTLP_ENDPOINT` it sends to an embedded receiver
//! and checks that everything arrived.

use opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{Tracer as _, TracerProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use otlp_examples::{Collector, Items};
use otlp_exporter::{
    Compression, ExporterBuilder, OtlpLogExporter, OtlpMetricExporter, OtlpSpanExporter, Protocol,
};
use std::process::ExitCode;

/// The settings all three exporters share; unset ones come from the
/// `OTEL_EXPORTER_OTLP_*` variables.
fn configure<E>(builder: ExporterBuilder<E>, collector: &Collector) -> ExporterBuilder<E> {
    match collector.endpoint(Protocol::HttpProtobuf) {
        Some(endpoint) => builder
            .with_endpoint(endpoint)
            .with_protocol(Protocol::HttpProtobuf)
            .with_compression(Compression::zstd()),
        None => builder,
    }
}

fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let collector = Collector::start()?;
    let resource = Resource::builder()
        .with_service_name("pick-and-mix")
        .build();

    let span_exporter = configure(OtlpSpanExporter::builder(), &collector).build()?;
    let metric_exporter = configure(OtlpMetricExporter::builder(), &collector).build()?;
    let log_exporter = configure(OtlpLogExporter::builder(), &collector).build()?;
    // Handles to the counters; they stay valid once the SDK owns the exporters.
    let stats = [
        span_exporter.stats(),
        metric_exporter.stats(),
        log_exporter.stats(),
    ];

    let tracer_provider = SdkTracerProvider::builder()
        .with_resource(resource.clone())
        .with_batch_exporter(span_exporter)
        .build();
    let meter_provider = SdkMeterProvider::builder()
        .with_resource(resource.clone())
        .with_reader(PeriodicReader::builder(metric_exporter).build())
        .build();
    let logger_provider = SdkLoggerProvider::builder()
        .with_resource(resource)
        .with_batch_exporter(log_exporter)
        .build();

    let tracer = tracer_provider.tracer("pick-and-mix");
    for item in ["apples", "pears", "plums", "figs"] {
        tracer.in_span(format!("weigh {item}"), |_cx| {});
    }
    let weight = meter_provider
        .meter("pick-and-mix")
        .f64_histogram("fruit.weight")
        .with_unit("g")
        .build();
    weight.record(151.0, &[KeyValue::new("fruit", "apple")]);
    weight.record(98.5, &[KeyValue::new("fruit", "fig")]);
    let logger = logger_provider.logger("pick-and-mix");
    let mut record = logger.create_log_record();
    record.set_severity_number(Severity::Warn);
    record.set_body("the scale needs calibrating".into());
    logger.emit(record);

    // Shutting down flushes what each provider still holds.
    tracer_provider.shutdown()?;
    meter_provider.shutdown()?;
    logger_provider.shutdown()?;

    let [spans, metrics, logs] = stats.map(|s| s.snapshot());
    println!(
        "traces: {} bytes sent, {} before zstd",
        spans.bytes_sent, spans.bytes_uncompressed
    );
    let exported = Items {
        spans: spans.items_exported,
        metric_points: metrics.items_exported,
        log_records: logs.items_exported,
    };
    let expected = Items {
        spans: 4,
        metric_points: 2,
        log_records: 1,
    };
    Ok(collector.finish(expected, exported))
}

//! The quick start: one builder sets up the OpenTelemetry SDK's tracer,
//! meter and logger providers with otlp-rust's exporters; the code then uses
//! the standard `opentelemetry` API.
//!
//! ```sh
//! cargo run -p otlp-examples --example quickstart
//! ```
//!
//! Without `OTEL_EXPORTER_OTLP_ENDPOINT` it sends to an embedded receiver
//! and checks that everything arrived; with it, the `OTEL_*` variables
//! choose the collector, protocol and compression.

use opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::trace::{Span as _, Tracer as _};
use opentelemetry::KeyValue;
use otlp::{Compression, EnhancedOtlpClient, Protocol};
use otlp_examples::{Collector, Items};
use std::process::ExitCode;

fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let collector = Collector::start()?;

    let mut builder = EnhancedOtlpClient::builder().with_service_name("quickstart");
    if let Some(endpoint) = collector.endpoint(Protocol::Grpc) {
        builder = builder
            .with_endpoint(endpoint)
            .with_protocol(Protocol::Grpc)
            .with_compression(Compression::gzip());
    }
    let client = builder.build()?;

    // Traces: a request with two child operations.
    let tracer = client.tracer("quickstart");
    tracer.in_span("GET /checkout", |_cx| {
        tracer.in_span("load cart", |_cx| {});
        let mut span = tracer.start("charge card");
        span.set_attribute(KeyValue::new("payment.amount", 42.5));
        span.end();
    });

    // Metrics: a counter with two attribute sets, so two data points.
    let orders = client.meter("quickstart").u64_counter("orders").build();
    orders.add(1, &[KeyValue::new("region", "eu")]);
    orders.add(2, &[KeyValue::new("region", "us")]);

    // Logs: through the logs API (log bridges such as
    // opentelemetry-appender-tracing take `client.logger_provider()` too).
    let logger = client.logger_provider().logger("quickstart");
    for message in ["cart loaded", "card charged"] {
        let mut record = logger.create_log_record();
        record.set_severity_number(Severity::Info);
        record.set_body(message.into());
        logger.emit(record);
    }

    // Flushes the batch processors and the metric reader, then stops.
    client.shutdown()?;

    let stats = client.stats();
    println!(
        "traces: {} requests, {} bytes sent ({} before compression), mean latency {:?}",
        stats.traces.requests,
        stats.traces.bytes_sent,
        stats.traces.bytes_uncompressed,
        stats.traces.mean_latency
    );
    let exported = Items {
        spans: stats.traces.items_exported,
        metric_points: stats.metrics.items_exported,
        log_records: stats.logs.items_exported,
    };
    let expected = Items {
        spans: 3,
        metric_points: 2,
        log_records: 2,
    };
    Ok(collector.finish(expected, exported))
}

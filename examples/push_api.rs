//! The push API, for code that does not use the OpenTelemetry SDK: records
//! with typed attributes are built as values and sent in batches, encoded
//! by the same encoder the SDK exporters use. Here over OTLP/HTTP with JSON
//! bodies and gzip.
//!
//! ```sh
//! cargo run -p otlp-examples --example push_api
//! ```
//!
//! Without `OTEL_EXPORTER_OTLP_ENDPOINT` it sends to an embedded receiver
//! and checks that everything arrived.

use opentelemetry::logs::Severity;
use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::{Array, Value};
use otlp::{Compression, EnhancedOtlpClient, Protocol, TelemetryData};
use otlp_examples::{Collector, Items};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let collector = Collector::start()?;
    let mut builder = EnhancedOtlpClient::builder().with_service_name("push-api");
    if let Some(endpoint) = collector.endpoint(Protocol::HttpJson) {
        builder = builder
            .with_endpoint(endpoint)
            .with_protocol(Protocol::HttpJson)
            .with_compression(Compression::gzip());
    }
    let client = builder.build()?;

    // A batch of all three signals: one request per signal.
    let request = TelemetryData::span("POST /orders")
        .with_kind(SpanKind::Server)
        .with_attribute("http.request.method", "POST")
        .with_attribute("http.response.status_code", 201)
        .with_attribute("order.express", true)
        .with_attribute("order.total", 99.95)
        .with_attribute(
            "order.skus",
            Value::Array(Array::String(vec!["A-1".into(), "B-7".into()])),
        )
        .with_status(Status::Ok)
        .build();
    let batch = vec![
        request,
        TelemetryData::metric("orders.open")
            .with_attribute("region", "eu")
            .gauge(17.0),
        TelemetryData::metric("orders.placed")
            .with_attribute("region", "eu")
            .sum(1204.0, true),
        TelemetryData::metric("order.size")
            .with_unit("{item}")
            .histogram(vec![1.0, 5.0, 10.0], &[1.0, 3.0, 4.0, 12.0]),
        TelemetryData::log("order accepted")
            .with_severity(Severity::Info)
            .with_attribute("order.id", 8812)
            .build(),
    ];
    let response = client.send_batch(batch).await?;
    println!(
        "batch: {} accepted, {} rejected",
        response.accepted, response.rejected
    );

    // One record at a time.
    client
        .send_trace("reindex orders")
        .with_attribute("orders.count", 3)
        .finish()
        .await?;
    client
        .send_log("reindex done")
        .with_severity(Severity::Info)
        .finish()
        .await?;

    let pushed = client.stats().pushed;
    let exported = Items {
        spans: pushed.traces.items_exported,
        metric_points: pushed.metrics.items_exported,
        log_records: pushed.logs.items_exported,
    };
    // Shutting down blocks until the SDK providers flush: off the async
    // worker threads.
    tokio::task::spawn_blocking(move || client.shutdown()).await??;

    let expected = Items {
        spans: 2,
        metric_points: 3,
        log_records: 2,
    };
    Ok(collector.finish(expected, exported))
}

//! The quick start to otlp-rust: [`EnhancedOtlpClient`] sets up the
//! OpenTelemetry SDK's tracer, meter and logger providers with otlp-rust's
//! exporters in one builder, and adds a push API for code that does not use
//! the SDK. The crates underneath are re-exported whole, behind features,
//! for when you outgrow the quick start.
//!
//! ```no_run
//! use opentelemetry::trace::Tracer as _;
//! use otlp::{Compression, EnhancedOtlpClient, Protocol};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let client = EnhancedOtlpClient::builder()
//!     .with_endpoint("http://localhost:4317")
//!     .with_service_name("checkout")
//!     .with_protocol(Protocol::Grpc)
//!     .with_compression(Compression::gzip())
//!     .build()?;
//!
//! // The standard OpenTelemetry API, backed by the SDK.
//! client.tracer("checkout").in_span("charge card", |_cx| {});
//! client.meter("checkout").u64_counter("orders").build().add(1, &[]);
//!
//! client.shutdown()?; // flushes all three signals
//! let stats = client.stats();
//! println!("{} spans in {} requests", stats.traces.items_exported, stats.traces.requests);
//! # Ok(())
//! # }
//! ```
//!
//! Without [`with_endpoint`](EnhancedOtlpClientBuilder::with_endpoint) and
//! the other settings, the standard variables decide: `OTEL_SERVICE_NAME`,
//! `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_EXPORTER_OTLP_*` (general and per
//! signal) and `OTEL_METRIC_EXPORT_INTERVAL`. Settings given in code win.
//! The connection and delivery settings are those of `otlp-exporter`'s
//! [`ExporterBuilder`](otlp_exporter::ExporterBuilder), resolved there; the
//! builder's [`with_exporter`](EnhancedOtlpClientBuilder::with_exporter)
//! reaches all of them.
//!
//! The three signals and the push API send from one thread of the client's
//! own ([`ExportThread`]) and, when their settings resolve alike, through
//! one transport client: a collector sees one gRPC connection, or one HTTP
//! connection pool.
//!
//! # Push API
//!
//! [`send_batch`](EnhancedOtlpClient::send_batch) sends
//! [`TelemetryData`] records (spans, metric points, log records with typed
//! attributes) to the same collector, with the same resource, encoded by
//! the same encoder; [`send_trace`](EnhancedOtlpClient::send_trace),
//! [`send_metric`](EnhancedOtlpClient::send_metric) and
//! [`send_log`](EnhancedOtlpClient::send_log) build and send one record.
//!
//! ```no_run
//! # async fn run(client: &otlp::EnhancedOtlpClient) -> Result<(), otlp::PushError> {
//! use otlp::TelemetryData;
//!
//! client
//!     .send_batch(vec![
//!         TelemetryData::span("GET /cart").with_attribute("http.response.status_code", 200).build(),
//!         TelemetryData::metric("cart.items").with_attribute("region", "eu").gauge(3.0),
//!         TelemetryData::log("cart emptied").build(),
//!     ])
//!     .await?;
//! client.send_trace("checkout").with_attribute("items", 3).finish().await?;
//! # Ok(())
//! # }
//! ```
//!
//! The requests go out from the client's export thread, so the futures can
//! be awaited in any executor, inside a tokio runtime or not.
//!
//! # Feature flags
//!
//! | feature | default | what it turns on |
//! |---|---|---|
//! | `grpc` | yes | OTLP/gRPC (`otlp-transport/grpc`) |
//! | `http` | yes | OTLP/HTTP, protobuf and JSON bodies (`otlp-transport/http`) |
//! | `gzip` | yes | gzip compression (`otlp-compression/gzip`, `otlp-transport/gzip`) |
//! | `zstd` | no | zstd compression (likewise) |
//! | `brotli` | no | brotli compression (likewise; HTTP only) |
//! | `srt` | no | SRT, the trace-aware stateful codec, for traces (`otlp-exporter/srt`) |
//! | `processors` | no | sampling, filter, attributes, redaction and span metrics on the spans before they leave (`with_processors`; `otlp-exporter/processors`) |
//! | `dns` | no | endpoints from a DNS name, re-resolved while running (`with_resolver`; `otlp-exporter/dns`) |
//! | `full` | no | all of the above |
//!
//! Each is passed on to the feature of the same name of `otlp-exporter`,
//! so what is left out here is left out of the exporters and the push API
//! too, and not compiled at all (unless another crate in the build asks
//! for it).
//!
//! [`transport`] is re-exported when `grpc` or `http` is on; [`core`],
//! [`compression`], [`exporter`], `opentelemetry` and `opentelemetry_sdk`
//! always. Asking for a protocol or codec that is not compiled in is a
//! [`BuildError`] naming the feature to enable. There is no `json` feature:
//! OTLP/JSON encoding is part of `otlp-core` whatever the features, and
//! `http/json` is a content type of the `http` transport, so such a feature
//! would gate nothing.
#![forbid(unsafe_code)]

mod client;
mod push;
mod stats;

pub use client::{BuildError, EnhancedOtlpClient, EnhancedOtlpClientBuilder, ProviderError};
pub use push::{PendingLog, PendingMetric, PendingSpan, PushError, PushResponse};
pub use stats::{ClientStats, PushStats};

pub use otlp_core::{Signal, TelemetryData};
pub use otlp_exporter::{
    Compression, Dropped, EndpointSnapshot, ExportStats, ExportThread, HealthCheck, Protocol,
    Resolver, Routing, StatsSnapshot, TlsConfig,
};

/// The data model, encoder and decoder (`otlp-core`).
pub use otlp_core as core;

/// The codecs (`otlp-compression`); which are compiled in depends on the
/// `gzip`, `zstd` and `brotli` features.
pub use otlp_compression as compression;

/// The OTLP client and receiver (`otlp-transport`).
#[cfg(any(feature = "grpc", feature = "http"))]
pub use otlp_transport as transport;

/// The OpenTelemetry SDK exporters (`otlp-exporter`).
pub use otlp_exporter as exporter;

/// The eBPF CPU profiler for Linux and its OTLP profiles and pprof output
/// (`otlp-ebpf`), with the `ebpf` feature. Export its collections with
/// [`exporter::OtlpProfileExporter`].
#[cfg(feature = "ebpf")]
pub use otlp_ebpf as ebpf;

/// The OpenTelemetry API this crate is built against.
pub use opentelemetry;

/// The OpenTelemetry SDK this crate is built against.
pub use opentelemetry_sdk;

/// The README's code blocks, compiled as doctests. Here rather than in
/// `otlp-exporter`, which cannot see this crate: this one sees every crate
/// the README uses.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

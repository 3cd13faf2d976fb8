//! An axum (tower) HTTP service traced with the HTTP server semantic
//! conventions: each request is a server span named `{method} {route}`
//! with `http.request.method`, `http.route`, `url.path` and
//! `http.response.status_code`, handlers add child spans and log records,
//! and `http.server.request.duration` is recorded per request.
//!
//! ```sh
//! cargo run -p otlp-examples --example axum_service
//! ```
//!
//! The example serves on a free port on 127.0.0.1, calls itself, and, without
//! `OTEL_EXPORTER_OTLP_ENDPOINT`, checks what reached the embedded receiver.

#[path = "shared/axum.rs"]
mod axum_layer;
#[path = "shared/http.rs"]
mod http_telemetry;
#[path = "shared/orders.rs"]
mod orders;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use axum_layer::trace_request;
use http_telemetry::HttpServerTelemetry;
use opentelemetry::logs::LoggerProvider as _;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::TracerProvider as _;
use orders::Orders;
use otlp_examples::{Collector, Telemetry};
use std::process::ExitCode;

async fn order(State(app): State<Orders>, Path(id): Path<u32>) -> String {
    app.order(id)
}

async fn report(State(app): State<Orders>) -> StatusCode {
    app.report();
    StatusCode::INTERNAL_SERVER_ERROR
}

#[tokio::main]
async fn main() -> Result<ExitCode, Box<dyn std::error::Error + Send + Sync>> {
    let collector = Collector::start().map_err(|e| e.to_string())?;
    let telemetry = Telemetry::new("axum-service", &collector).map_err(|e| e.to_string())?;
    let tracer = telemetry.tracer_provider.tracer("axum-service");
    let meter = telemetry.meter_provider.meter("axum-service");

    let app = Orders {
        tracer: tracer.clone(),
        logger: telemetry.logger_provider.logger("axum-service"),
    };
    let router = Router::new()
        .route("/orders/{id}", get(order))
        .route("/report", get(report))
        .with_state(app)
        .layer(axum::middleware::from_fn_with_state(
            HttpServerTelemetry::new(tracer, &meter),
            trace_request,
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });

    orders::send_requests(&base).await?;
    let _ = stop.send(());
    server.await??;

    tokio::task::spawn_blocking(move || {
        telemetry.shutdown().map_err(|e| e.to_string())?;
        Ok(collector.finish_checked(orders::EXPECTED, telemetry.exported(), orders::check))
    })
    .await?
}

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

#[path = "shared/http.rs"]
mod http_telemetry;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use http_telemetry::{trace_request, HttpServerTelemetry};
use opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{Status, TraceContextExt as _, Tracer as _, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::logs::SdkLogger;
use opentelemetry_sdk::trace::SdkTracer;
use opentelemetry_semantic_conventions::attribute as semconv;
use opentelemetry_semantic_conventions::metric as semconv_metric;
use otlp_examples::{
    ensure, ensure_child_of, ensure_metrics, Collector, Items, Telemetry, WireSpanKind,
};
use std::process::ExitCode;

#[derive(Clone)]
struct App {
    tracer: SdkTracer,
    logger: SdkLogger,
}

async fn order(State(app): State<App>, Path(id): Path<u32>) -> (StatusCode, String) {
    // A child of the request's server span (the current context).
    app.tracer.in_span("load order", |cx| {
        cx.span()
            .set_attribute(KeyValue::new("order.id", i64::from(id)));
    });
    (StatusCode::OK, format!("order {id}: 2 items"))
}

async fn report(State(app): State<App>) -> StatusCode {
    app.tracer.in_span("query warehouse", |cx| {
        cx.span().set_status(Status::error("warehouse unreachable"));
    });
    // The SDK takes the trace and span ids from the current context.
    let mut record = app.logger.create_log_record();
    record.set_severity_number(Severity::Error);
    record.set_body("report failed: warehouse unreachable".into());
    app.logger.emit(record);
    StatusCode::INTERNAL_SERVER_ERROR
}

#[tokio::main]
async fn main() -> Result<ExitCode, Box<dyn std::error::Error + Send + Sync>> {
    let collector = Collector::start().map_err(|e| e.to_string())?;
    let telemetry = Telemetry::new("axum-service", &collector).map_err(|e| e.to_string())?;
    let tracer = telemetry.tracer_provider.tracer("axum-service");
    let meter = telemetry.meter_provider.meter("axum-service");

    let app = App {
        tracer: tracer.clone(),
        logger: telemetry.logger_provider.logger("axum-service"),
    };
    let router = Router::new()
        .route("/orders/{id}", get(order))
        .route("/report", get(report))
        .with_state(app)
        .layer(axum::middleware::from_fn_with_state(
            HttpServerTelemetry::new(tracer.clone(), &meter),
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

    // A client without telemetry of its own: each request starts a trace.
    let client = http_telemetry::client();
    let none = Context::new();
    for (path, want) in [
        ("/orders/7", StatusCode::OK),
        ("/orders/8", StatusCode::OK),
        ("/report", StatusCode::INTERNAL_SERVER_ERROR),
        ("/nowhere", StatusCode::NOT_FOUND),
    ] {
        let (status, body) = http_telemetry::get(&client, &format!("{base}{path}"), &none).await?;
        println!("GET {path}: {status} {body}");
        if status != want {
            return Err(format!("GET {path}: {status}, expected {want}").into());
        }
    }
    let _ = stop.send(());
    server.await??;

    tokio::task::spawn_blocking(move || {
        telemetry.shutdown().map_err(|e| e.to_string())?;
        let expected = Items {
            // 4 server spans, 2 "load order", 1 "query warehouse"
            spans: 7,
            // one duration point per (method, route, status)
            metric_points: 3,
            log_records: 1,
        };
        Ok(collector.finish_checked(expected, telemetry.exported(), check))
    })
    .await?
}

fn check(received: &otlp_examples::Received) -> Result<(), String> {
    let spans = received.spans();
    let servers: Vec<_> = spans
        .iter()
        .filter(|s| s.kind() == WireSpanKind::Server)
        .collect();
    ensure(servers.len() == 4, || {
        format!("{} server spans, not 4", servers.len())
    })?;
    let orders: Vec<_> = servers
        .iter()
        .filter(|s| s.span.name == "GET /orders/{id}")
        .collect();
    ensure(orders.len() == 2, || "no two GET /orders/{id} spans".into())?;
    for order in &orders {
        ensure(
            order.attribute(semconv::HTTP_ROUTE).as_deref() == Some("/orders/{id}")
                && order.attribute(semconv::HTTP_REQUEST_METHOD).as_deref() == Some("GET")
                && order
                    .attribute(semconv::HTTP_RESPONSE_STATUS_CODE)
                    .as_deref()
                    == Some("200"),
            || format!("server span attributes: {:?}", order.span.attributes),
        )?;
        ensure(
            spans
                .iter()
                .any(|s| s.span.name == "load order" && ensure_child_of(*s, ***order).is_ok()),
            || "a load order span is not a child of its request".into(),
        )?;
    }
    let report = received.span("GET /report")?;
    ensure(
        report
            .attribute(semconv::HTTP_RESPONSE_STATUS_CODE)
            .as_deref()
            == Some("500")
            && report.span.status.as_ref().is_some_and(|s| s.code == 2),
        || "GET /report is not a failed 500".into(),
    )?;
    ensure_child_of(received.span("query warehouse")?, report)?;
    let unrouted = received.span("GET")?;
    ensure(
        unrouted
            .attribute(semconv::HTTP_RESPONSE_STATUS_CODE)
            .as_deref()
            == Some("404")
            && unrouted.attribute(semconv::HTTP_ROUTE).is_none(),
        || "the unrouted request has a route or no 404".into(),
    )?;
    ensure_metrics(received, &[semconv_metric::HTTP_SERVER_REQUEST_DURATION])?;
    let logs = received.log_records();
    ensure(
        logs.len() == 1 && logs[0].span_id == report.span.span_id,
        || "the error log record is not in the GET /report span".into(),
    )
}

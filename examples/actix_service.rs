//! The `axum_service` example's server on actix-web: the same routes, the
//! same server spans (`{method} {route}`, HTTP server semantic
//! conventions), child spans, log record and `http.server.request.duration`,
//! from an actix-web middleware (`wrap_fn`) instead of a tower layer.
//!
//! ```sh
//! cargo run -p otlp-examples --example actix_service
//! ```
//!
//! The example serves on a free port on 127.0.0.1, calls itself, and, without
//! `OTEL_EXPORTER_OTLP_ENDPOINT`, checks what reached the embedded receiver.

#[path = "shared/http.rs"]
mod http_telemetry;
#[path = "shared/orders.rs"]
mod orders;

use actix_web::dev::{Service as _, ServiceRequest};
use actix_web::http::Version;
use actix_web::{web, App, HttpResponse, HttpServer};
use http_telemetry::HttpServerTelemetry;
use opentelemetry::logs::LoggerProvider as _;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{FutureExt as _, TracerProvider as _};
use orders::Orders;
use otlp_examples::{Collector, Telemetry};
use std::process::ExitCode;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// actix-web 4's headers (of the `http` 0.2 crate) as an `http` 1 header
/// map, for the propagator.
fn headers(request: &ServiceRequest) -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    for (name, value) in request.headers() {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_str().as_bytes()),
            http::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            headers.append(name, value);
        }
    }
    headers
}

async fn order(orders: web::Data<Orders>, id: web::Path<u32>) -> String {
    orders.order(id.into_inner())
}

async fn report(orders: web::Data<Orders>) -> HttpResponse {
    orders.report();
    HttpResponse::InternalServerError().finish()
}

async fn serve_and_call(
    orders: Orders,
    server_telemetry: HttpServerTelemetry,
) -> Result<(), BoxError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let base = format!("http://{}", listener.local_addr()?);
    let server = HttpServer::new(move || {
        let server_telemetry = server_telemetry.clone();
        App::new()
            .app_data(web::Data::new(orders.clone()))
            // The middleware: the server span around the handler, in the
            // context the request's headers carry.
            .wrap_fn(move |request: ServiceRequest, service| {
                let parent = http_telemetry::extract(&headers(&request));
                let served = server_telemetry.start(
                    parent,
                    request.method().as_str(),
                    request.path(),
                    request.match_pattern().as_deref(),
                    if request.version() == Version::HTTP_2 {
                        "2"
                    } else {
                        "1.1"
                    },
                );
                let cx = served.cx.clone();
                let response = service.call(request);
                async move {
                    let response = response.with_context(cx).await?;
                    served.finish(response.status().as_u16());
                    Ok(response)
                }
            })
            .route("/orders/{id}", web::get().to(order))
            .route("/report", web::get().to(report))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    let handle = server.handle();
    let running = actix_web::rt::spawn(server);
    let result = orders::send_requests(&base).await;
    handle.stop(true).await;
    running.await??;
    result
}

fn main() -> Result<ExitCode, BoxError> {
    let collector = Collector::start().map_err(|e| e.to_string())?;
    let telemetry = Telemetry::new("actix-service", &collector).map_err(|e| e.to_string())?;
    let tracer = telemetry.tracer_provider.tracer("actix-service");
    let meter = telemetry.meter_provider.meter("actix-service");
    let orders = Orders {
        tracer: tracer.clone(),
        logger: telemetry.logger_provider.logger("actix-service"),
    };
    let server_telemetry = HttpServerTelemetry::new(tracer, &meter);

    actix_web::rt::System::new().block_on(serve_and_call(orders, server_telemetry))?;

    telemetry.shutdown().map_err(|e| e.to_string())?;
    Ok(collector.finish_checked(orders::EXPECTED, telemetry.exported(), orders::check))
}

//! The axum middleware of the examples: [`HttpServerTelemetry`] around
//! each request.

use crate::http_telemetry::{extract, HttpServerTelemetry};
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::trace::FutureExt as _;

/// The middleware (`axum::middleware::from_fn_with_state`): a server span
/// named `{method} {route}` in the context the request's headers carry,
/// current while the handler runs, and one duration data point per
/// request.
pub async fn trace_request(
    State(telemetry): State<HttpServerTelemetry>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let served = telemetry.start(
        extract(request.headers()),
        request.method().as_str(),
        request.uri().path(),
        route.as_deref(),
        match request.version() {
            http::Version::HTTP_2 => "2",
            _ => "1.1",
        },
    );
    let response = next.run(request).with_context(served.cx.clone()).await;
    served.finish(response.status().as_u16());
    response
}

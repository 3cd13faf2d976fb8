//! HTTP pieces the axum examples share: W3C `traceparent`/`baggage`
//! propagation through HTTP headers, and an axum middleware that traces
//! each request as a server span and records `http.server.request.duration`
//! with the HTTP server semantic conventions.

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::HeaderMap;
use opentelemetry::metrics::{Histogram, Meter};
use opentelemetry::propagation::{
    Extractor, Injector, TextMapCompositePropagator, TextMapPropagator,
};
use opentelemetry::trace::{FutureExt as _, SpanKind, Status, TraceContextExt as _, Tracer as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use opentelemetry_sdk::trace::SdkTracer;
use opentelemetry_semantic_conventions::{attribute as semconv, metric as semconv_metric};
use std::time::Instant;

/// W3C Trace Context and W3C Baggage, as `traceparent`/`tracestate` and
/// `baggage` headers (or gRPC metadata).
pub fn propagator() -> TextMapCompositePropagator {
    TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ])
}

/// Writes `cx`'s trace context and baggage into `headers`.
pub fn inject(cx: &Context, headers: &mut HeaderMap) {
    propagator().inject_context(cx, &mut HeaderInjector(headers));
}

/// The trace context and baggage `headers` carry.
pub fn extract(headers: &HeaderMap) -> Context {
    propagator().extract(&HeaderExtractor(headers))
}

struct HeaderInjector<'a>(&'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key)?.to_str().ok()
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// What the server middleware needs: a tracer and the request duration
/// histogram.
#[derive(Clone)]
pub struct HttpServerTelemetry {
    tracer: SdkTracer,
    duration: Histogram<f64>,
}

impl HttpServerTelemetry {
    /// Spans from `tracer`, the duration histogram from `meter`.
    pub fn new(tracer: SdkTracer, meter: &Meter) -> HttpServerTelemetry {
        let duration = meter
            .f64_histogram(semconv_metric::HTTP_SERVER_REQUEST_DURATION)
            .with_unit("s")
            .with_description("Duration of HTTP server requests.")
            .build();
        HttpServerTelemetry { tracer, duration }
    }
}

/// The axum middleware (`axum::middleware::from_fn_with_state`): a server
/// span named `{method} {route}` in the context the request's headers
/// carry, made current while the handler runs, and one duration data point
/// per request.
pub async fn trace_request(
    State(telemetry): State<HttpServerTelemetry>,
    request: Request,
    next: Next,
) -> Response {
    let start = Instant::now();
    let parent = extract(request.headers());
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let name = match &route {
        Some(route) => format!("{method} {route}"),
        None => method.clone(),
    };
    let mut attributes = vec![
        KeyValue::new(semconv::HTTP_REQUEST_METHOD, method.clone()),
        KeyValue::new(semconv::URL_PATH, request.uri().path().to_owned()),
        KeyValue::new(semconv::URL_SCHEME, "http"),
        KeyValue::new(
            semconv::NETWORK_PROTOCOL_VERSION,
            match request.version() {
                http::Version::HTTP_2 => "2",
                _ => "1.1",
            },
        ),
    ];
    if let Some(route) = &route {
        attributes.push(KeyValue::new(semconv::HTTP_ROUTE, route.clone()));
    }
    let span = telemetry
        .tracer
        .span_builder(name)
        .with_kind(SpanKind::Server)
        .with_attributes(attributes)
        .start_with_context(&telemetry.tracer, &parent);
    let cx = parent.with_span(span);

    let response = next.run(request).with_context(cx.clone()).await;

    let status = response.status().as_u16();
    let span = cx.span();
    span.set_attribute(KeyValue::new(
        semconv::HTTP_RESPONSE_STATUS_CODE,
        i64::from(status),
    ));
    if status >= 500 {
        span.set_status(Status::error(""));
        span.set_attribute(KeyValue::new(semconv::ERROR_TYPE, status.to_string()));
    }
    span.end();
    let mut point = vec![
        KeyValue::new(semconv::HTTP_REQUEST_METHOD, method),
        KeyValue::new(semconv::HTTP_RESPONSE_STATUS_CODE, i64::from(status)),
    ];
    if let Some(route) = route {
        point.push(KeyValue::new(semconv::HTTP_ROUTE, route));
    }
    telemetry
        .duration
        .record(start.elapsed().as_secs_f64(), &point);
    response
}

/// An HTTP/1.1 client for the examples' calls.
pub type Client = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    http_body_util::Empty<bytes::Bytes>,
>;

/// A new [`Client`].
pub fn client() -> Client {
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http()
}

/// `GET url`, carrying `cx`'s trace context and baggage; the status and
/// the body.
pub async fn get(
    client: &Client,
    url: &str,
    cx: &Context,
) -> Result<(http::StatusCode, String), Box<dyn std::error::Error + Send + Sync>> {
    use http_body_util::BodyExt as _;
    let mut request = http::Request::get(url).body(http_body_util::Empty::new())?;
    inject(cx, request.headers_mut());
    let response = client.request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

//! HTTP pieces the examples share: W3C `traceparent`/`baggage` propagation
//! through HTTP headers, a server span per request and
//! `http.server.request.duration` with the HTTP server semantic
//! conventions (whatever the framework), and a small client.

use http::HeaderMap;
use opentelemetry::metrics::{Histogram, Meter};
use opentelemetry::propagation::{
    Extractor, Injector, TextMapCompositePropagator, TextMapPropagator,
};
use opentelemetry::trace::{SpanKind, Status, TraceContextExt as _, Tracer as _};
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

/// A request being served: its server span's context and what the
/// duration data point needs.
pub struct ServerRequest {
    /// The context with the server span: make it current for the handler.
    pub cx: Context,
    start: Instant,
    method: String,
    route: Option<String>,
    duration: Histogram<f64>,
}

impl HttpServerTelemetry {
    /// Starts the server span `{method} {route}` (or `{method}` when no
    /// route matched), a child of `parent` (what the request's headers
    /// carry).
    pub fn start(
        &self,
        parent: Context,
        method: &str,
        path: &str,
        route: Option<&str>,
        protocol_version: &'static str,
    ) -> ServerRequest {
        let name = match route {
            Some(route) => format!("{method} {route}"),
            None => method.to_owned(),
        };
        let mut attributes = vec![
            KeyValue::new(semconv::HTTP_REQUEST_METHOD, method.to_owned()),
            KeyValue::new(semconv::URL_PATH, path.to_owned()),
            KeyValue::new(semconv::URL_SCHEME, "http"),
            KeyValue::new(semconv::NETWORK_PROTOCOL_VERSION, protocol_version),
        ];
        if let Some(route) = route {
            attributes.push(KeyValue::new(semconv::HTTP_ROUTE, route.to_owned()));
        }
        let span = self
            .tracer
            .span_builder(name)
            .with_kind(SpanKind::Server)
            .with_attributes(attributes)
            .start_with_context(&self.tracer, &parent);
        ServerRequest {
            cx: parent.with_span(span),
            start: Instant::now(),
            method: method.to_owned(),
            route: route.map(str::to_owned),
            duration: self.duration.clone(),
        }
    }
}

impl ServerRequest {
    /// Ends the span with the response's status (an error from 500 on)
    /// and records the duration.
    pub fn finish(self, status: u16) {
        let span = self.cx.span();
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
            KeyValue::new(semconv::HTTP_REQUEST_METHOD, self.method),
            KeyValue::new(semconv::HTTP_RESPONSE_STATUS_CODE, i64::from(status)),
        ];
        if let Some(route) = self.route {
            point.push(KeyValue::new(semconv::HTTP_ROUTE, route));
        }
        self.duration
            .record(self.start.elapsed().as_secs_f64(), &point);
    }
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

//! The telemetry `otlp send` generates: what an HTTP API service emits for
//! the requests it serves, through the standard `opentelemetry` API.
//!
//! Item `i` describes request `i`, derived from `i` by a hash, so a run is
//! reproducible and the workers need no shared random state.

use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, Severity};
use opentelemetry::metrics::{Counter, Histogram, Meter};
use opentelemetry::trace::{
    Span as _, SpanContext, SpanId, SpanKind, Status, TraceContextExt as _, TraceFlags, TraceId,
    TraceState, Tracer as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::logs::SdkLogger;
use opentelemetry_sdk::trace::SdkTracer;
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};
use std::cell::Cell;
use std::time::{Duration, SystemTime};

/// The instrumentation scope of everything generated.
pub(crate) const SCOPE: &str = "otlp-cli";

/// The routes requests are spread over: method, route, span name.
const ROUTES: [(&str, &str, &str); 6] = [
    ("GET", "/api/users/{id}", "GET /api/users/{id}"),
    ("GET", "/api/products", "GET /api/products"),
    ("POST", "/api/orders", "POST /api/orders"),
    ("GET", "/api/orders/{id}", "GET /api/orders/{id}"),
    ("PUT", "/api/cart/{id}", "PUT /api/cart/{id}"),
    ("DELETE", "/api/sessions/{id}", "DELETE /api/sessions/{id}"),
];

const USER_AGENTS: [&str; 3] = [
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "okhttp/4.12.0",
    "curl/8.5.0",
];

const SERVER: &str = "api.example.com";

/// splitmix64: a fast, well-mixed hash of the item index.
fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One served HTTP request.
struct Request {
    hash: u64,
    method: &'static str,
    route: &'static str,
    name: &'static str,
    id: u64,
    status: u16,
    duration: Duration,
    response_bytes: i64,
}

impl Request {
    fn new(i: u64) -> Self {
        let hash = mix(i);
        let (method, route, name) = ROUTES[(hash % ROUTES.len() as u64) as usize];
        let status = match (hash >> 8) % 100 {
            0..=89 => 200,
            90..=94 => 404,
            95..=97 => 400,
            _ => 500,
        };
        // Mostly fast, with a long tail.
        let micros = 500 + ((hash >> 16) % 20_000) * ((hash >> 40) % 4 + 1);
        Request {
            hash,
            method,
            route,
            name,
            id: (hash >> 24) % 100_000,
            status,
            duration: Duration::from_micros(micros),
            response_bytes: ((hash >> 32) % 16_384) as i64,
        }
    }

    fn path(&self) -> String {
        self.route.replace("{id}", &self.id.to_string())
    }

    fn client_address(&self) -> String {
        format!(
            "10.{}.{}.{}",
            self.hash >> 48 & 0xff,
            self.hash >> 56,
            self.id % 250 + 1
        )
    }

    fn user_agent(&self) -> &'static str {
        USER_AGENTS[((self.hash >> 4) % USER_AGENTS.len() as u64) as usize]
    }
}

/// Ends one HTTP server span with 11 attributes and one event (an
/// `exception` for a 5xx, else a `cache.lookup`), timed as the request was.
pub(crate) fn span(tracer: &SdkTracer, i: u64) {
    let req = Request::new(i);
    let end = SystemTime::now();
    let start = end - req.duration;
    let mut span = tracer
        .span_builder(req.name)
        .with_kind(SpanKind::Server)
        .with_start_time(start)
        .with_attributes([
            KeyValue::new("http.request.method", req.method),
            KeyValue::new("http.route", req.route),
            KeyValue::new("url.path", req.path()),
            KeyValue::new("url.scheme", "https"),
            KeyValue::new("http.response.status_code", i64::from(req.status)),
            KeyValue::new("http.response.body.size", req.response_bytes),
            KeyValue::new("server.address", SERVER),
            KeyValue::new("server.port", 443),
            KeyValue::new("client.address", req.client_address()),
            KeyValue::new("user_agent.original", req.user_agent()),
            KeyValue::new("network.protocol.version", "1.1"),
        ])
        .start(tracer);
    let at = start + req.duration / 4;
    if req.status >= 500 {
        span.add_event_with_timestamp(
            "exception",
            at,
            vec![
                KeyValue::new("exception.type", "UpstreamTimeout"),
                KeyValue::new("exception.message", "inventory service did not answer"),
            ],
        );
        span.set_status(Status::error("upstream timeout"));
    } else {
        span.add_event_with_timestamp(
            "cache.lookup",
            at,
            vec![
                KeyValue::new("cache.hit", req.hash & 1 == 0),
                KeyValue::new("cache.key", format!("{}:{}", req.route, req.id)),
            ],
        );
    }
    span.end_with_timestamp(end);
}

thread_local! {
    /// The trace id the next root span started on this thread gets, if set.
    static NEXT_TRACE: Cell<Option<TraceId>> = const { Cell::new(None) };
    /// The span id the next span started on this thread gets, if set.
    static NEXT_SPAN: Cell<Option<SpanId>> = const { Cell::new(None) };
}

/// Span ids derived from the item, so that the spans of one trace name
/// their parent without state shared between the workers that generate
/// them: [`trace_span`] sets the ids the SDK asks for next; spans started
/// otherwise get random ones.
#[derive(Debug, Default)]
pub(crate) struct ItemIds(RandomIdGenerator);

impl IdGenerator for ItemIds {
    fn new_trace_id(&self) -> TraceId {
        NEXT_TRACE
            .with(Cell::take)
            .unwrap_or_else(|| self.0.new_trace_id())
    }

    fn new_span_id(&self) -> SpanId {
        NEXT_SPAN
            .with(Cell::take)
            .unwrap_or_else(|| self.0.new_span_id())
    }
}

/// The ids of span `position` of trace `trace`.
fn trace_ids(trace: u64, position: u64) -> (TraceId, SpanId) {
    let id = u128::from(mix(trace ^ 0x7472_6163_6573)) << 64 | u128::from(mix(!trace));
    let span = mix(trace.rotate_left(20) ^ position.wrapping_mul(0x9E37_79B9) ^ 0x5350_414e);
    (TraceId::from(id.max(1)), SpanId::from(span.max(1)))
}

/// Ends span `i` of traces of `per_trace` spans each (item `i` belongs to
/// trace `i / per_trace`): the first of each trace is the HTTP server
/// span of [`span`]; the others are its children, alternately a database
/// query and a call to a downstream service, timed within the request.
/// The ids come from the item (see [`ItemIds`]), so a trace's spans can be
/// generated by any worker in any order.
pub(crate) fn trace_span(tracer: &SdkTracer, i: u64, per_trace: u64) {
    let (trace, position) = (i / per_trace, i % per_trace);
    let (trace_id, span_id) = trace_ids(trace, position);
    NEXT_SPAN.with(|id| id.set(Some(span_id)));
    if position == 0 {
        // A root: the SDK asks for a trace id too.
        NEXT_TRACE.with(|id| id.set(Some(trace_id)));
        span(tracer, trace);
        return;
    }
    let req = Request::new(trace);
    let (_, server_id) = trace_ids(trace, 0);
    let parent = SpanContext::new(
        trace_id,
        server_id,
        TraceFlags::SAMPLED,
        false,
        TraceState::default(),
    );
    let cx = Context::new().with_remote_span_context(parent);
    // The request's time, cut into one slot per child.
    let end = SystemTime::now();
    let slot = req.duration / per_trace.max(1) as u32;
    let start = end - req.duration + slot * position as u32;
    let builder = if position % 2 == 1 {
        tracer
            .span_builder("SELECT shop.orders")
            .with_kind(SpanKind::Client)
            .with_attributes([
                KeyValue::new("db.system.name", "postgresql"),
                KeyValue::new("db.namespace", "shop"),
                KeyValue::new("db.operation.name", "SELECT"),
                KeyValue::new("db.collection.name", "orders"),
                KeyValue::new(
                    "db.query.text",
                    "SELECT id, status, total FROM orders WHERE customer_id = $1",
                ),
                KeyValue::new("server.address", "db.internal"),
                KeyValue::new("server.port", 5432),
            ])
    } else {
        tracer
            .span_builder("GET")
            .with_kind(SpanKind::Client)
            .with_attributes([
                KeyValue::new("http.request.method", "GET"),
                KeyValue::new(
                    "url.full",
                    format!("http://inventory.internal/items/{}", req.id),
                ),
                KeyValue::new("server.address", "inventory.internal"),
                KeyValue::new("server.port", 80),
                KeyValue::new("http.response.status_code", 200),
            ])
    };
    let mut child = builder
        .with_start_time(start)
        .start_with_context(tracer, &cx);
    child.end_with_timestamp(start + slot);
}

/// Emits one access-log record: severity by status, a text body,
/// attributes, and the trace context of the request's span.
pub(crate) fn log(logger: &SdkLogger, i: u64) {
    let req = Request::new(i);
    let (severity, text) = match req.status {
        500.. => (Severity::Error, "ERROR"),
        400.. => (Severity::Warn, "WARN"),
        _ => (Severity::Info, "INFO"),
    };
    let now = SystemTime::now();
    let mut record = logger.create_log_record();
    record.set_timestamp(now);
    record.set_observed_timestamp(now);
    record.set_severity_number(severity);
    record.set_severity_text(text);
    record.set_event_name("http.server.access");
    record.set_body(AnyValue::from(format!(
        "{} {} {} {}us",
        req.method,
        req.path(),
        req.status,
        req.duration.as_micros()
    )));
    record.add_attributes([
        ("http.request.method", AnyValue::from(req.method)),
        ("http.route", AnyValue::from(req.route)),
        (
            "http.response.status_code",
            AnyValue::from(i64::from(req.status)),
        ),
        ("client.address", AnyValue::from(req.client_address())),
        ("user.id", AnyValue::from(req.id as i64)),
        (
            "duration_ms",
            AnyValue::from(req.duration.as_secs_f64() * 1e3),
        ),
    ]);
    let trace_id = (u128::from(mix(req.hash)) << 64 | u128::from(mix(!req.hash))).max(1);
    record.set_trace_context(
        TraceId::from(trace_id),
        SpanId::from(req.hash.max(1)),
        Some(TraceFlags::SAMPLED),
    );
    logger.emit(record);
}

/// A counter of requests and a histogram of their durations.
pub(crate) struct Instruments {
    requests: Counter<u64>,
    duration: Histogram<f64>,
}

impl Instruments {
    pub(crate) fn new(meter: &Meter) -> Self {
        Instruments {
            requests: meter
                .u64_counter("http.server.requests")
                .with_unit("{request}")
                .with_description("HTTP requests served")
                .build(),
            duration: meter
                .f64_histogram("http.server.request.duration")
                .with_unit("s")
                .with_description("Duration of HTTP server requests")
                .with_boundaries(vec![
                    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0,
                ])
                .build(),
        }
    }

    /// Records data point `i`: a new time series (its `series.id` is `i`)
    /// of the counter for even `i`, of the histogram for odd `i`.
    pub(crate) fn record(&self, i: u64) {
        let req = Request::new(i);
        let attributes = [
            KeyValue::new("http.request.method", req.method),
            KeyValue::new("http.route", req.route),
            KeyValue::new("http.response.status_code", i64::from(req.status)),
            KeyValue::new("server.address", SERVER),
            KeyValue::new("series.id", i as i64),
        ];
        if i.is_multiple_of(2) {
            self.requests.add(1, &attributes);
        } else {
            self.duration
                .record(req.duration.as_secs_f64(), &attributes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spans_of_a_trace_share_its_id_and_name_their_parent() {
        use opentelemetry::trace::TracerProvider as _;
        use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
        let memory = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(memory.clone())
            .with_id_generator(ItemIds::default())
            .build();
        let tracer = provider.tracer("test");
        // Out of order, as workers may generate them.
        for i in [4, 0, 3, 1, 2, 5] {
            trace_span(&tracer, i, 3);
        }
        let spans = memory.get_finished_spans().unwrap();
        let of = |i: u64| {
            let (_, id) = trace_ids(i / 3, i % 3);
            spans
                .iter()
                .find(|s| s.span_context.span_id() == id)
                .unwrap()
        };
        for trace in 0..2 {
            let root = of(trace * 3);
            assert_eq!(root.parent_span_id, SpanId::INVALID);
            assert_eq!(root.span_kind, SpanKind::Server);
            for child in [of(trace * 3 + 1), of(trace * 3 + 2)] {
                assert_eq!(child.span_context.trace_id(), root.span_context.trace_id());
                assert_eq!(child.parent_span_id, root.span_context.span_id());
            }
        }
        assert_ne!(of(0).span_context.trace_id(), of(3).span_context.trace_id());
    }

    #[test]
    fn requests_vary() {
        let statuses: std::collections::HashSet<u16> =
            (0..1000).map(|i| Request::new(i).status).collect();
        assert_eq!(statuses.len(), 4);
        let routes: std::collections::HashSet<&str> =
            (0..1000).map(|i| Request::new(i).route).collect();
        assert_eq!(routes.len(), ROUTES.len());
        assert_eq!(Request::new(7).path(), Request::new(7).path());
    }
}

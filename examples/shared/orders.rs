//! The server shape the framework examples share: an orders service with
//! `GET /orders/{id}` (a child span per request), `GET /report` (fails
//! with a 500, an error span and an error log record), and the requests,
//! expected counts and checks that go with it.

use opentelemetry::logs::{LogRecord as _, Logger as _, Severity};
use opentelemetry::trace::{Status, TraceContextExt as _, Tracer as _};
use opentelemetry::KeyValue;
use opentelemetry_sdk::logs::SdkLogger;
use opentelemetry_sdk::trace::SdkTracer;
use opentelemetry_semantic_conventions::attribute as semconv;
use opentelemetry_semantic_conventions::metric as semconv_metric;
use otlp_examples::{ensure, ensure_child_of, ensure_metrics, Items, Received, WireSpanKind};

/// The handlers' telemetry.
#[derive(Clone)]
pub struct Orders {
    /// Child spans.
    pub tracer: SdkTracer,
    /// Log records.
    pub logger: SdkLogger,
}

impl Orders {
    /// `GET /orders/{id}`: a child span of the current (server) span;
    /// the body.
    pub fn order(&self, id: u32) -> String {
        self.tracer.in_span("load order", |cx| {
            cx.span()
                .set_attribute(KeyValue::new("order.id", i64::from(id)));
        });
        format!("order {id}: 2 items")
    }

    /// `GET /report`: a failed child span and an error log record (the SDK
    /// takes its trace and span ids from the current context); the caller
    /// answers 500.
    pub fn report(&self) {
        self.tracer.in_span("query warehouse", |cx| {
            cx.span().set_status(Status::error("warehouse unreachable"));
        });
        let mut record = self.logger.create_log_record();
        record.set_severity_number(Severity::Error);
        record.set_body("report failed: warehouse unreachable".into());
        self.logger.emit(record);
    }
}

/// The requests the examples send, with the status each must get.
pub const REQUESTS: [(&str, u16); 4] = [
    ("/orders/7", 200),
    ("/orders/8", 200),
    ("/report", 500),
    ("/nowhere", 404),
];

/// What [`REQUESTS`] make.
pub const EXPECTED: Items = Items {
    // 4 server spans, 2 "load order", 1 "query warehouse"
    spans: 7,
    // one duration point per (method, route, status)
    metric_points: 3,
    log_records: 1,
};

/// Sends [`REQUESTS`] to `base`, failing on an unexpected status.
pub async fn send_requests(base: &str) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let client = crate::http_telemetry::client();
    // A caller without telemetry of its own: each request starts a trace.
    let none = opentelemetry::Context::new();
    for (path, want) in REQUESTS {
        let (status, body) =
            crate::http_telemetry::get(&client, &format!("{base}{path}"), &none).await?;
        println!("GET {path}: {status} {body}");
        if status.as_u16() != want {
            return Err(format!("GET {path}: {status}, expected {want}").into());
        }
    }
    Ok(())
}

/// What must have arrived: the server spans with their attributes, the
/// child spans under them, the duration metric, the log record in the
/// failed request's span.
pub fn check(received: &Received) -> Result<(), String> {
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

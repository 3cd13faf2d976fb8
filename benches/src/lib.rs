//! Realistic telemetry for the workspace's benchmarks.
//!
//! Every benchmark that compares us with the stock `opentelemetry-otlp`
//! path feeds both sides the same data, built here from the standard
//! `opentelemetry_sdk` types, so that a figure in `docs/benchmarks.md`
//! always means the same input:
//!
//! - [`http_spans`]: HTTP server spans with 12 attributes and one event,
//!   about 550 bytes each as OTLP protobuf;
//! - [`resource`]: the service resource they are reported under;
//! - [`log_records`]: application log records with a body, 6 attributes
//!   and trace context, made by an `SdkLoggerProvider`'s logger;
//! - [`resource_metrics`]: a collection of counters, histograms, gauges
//!   and an up-down counter, about 100 data points, collected from a real
//!   `SdkMeterProvider`.
//!
//! The data is pseudo-random but deterministic (a fixed-seed generator),
//! so two runs encode the same bytes.
//!
//! [`sample_filter_redact`] is the processor chain the `simd` and
//! `processors` benchmarks time.
//!
//! It also holds what the benchmarks that export over gRPC share: the
//! loopback [`sink`] they send to, in a child process, and [`cpu_now`],
//! the process's CPU time.
//!
//! ```
//! let spans = otlp_benches::http_spans(4);
//! assert_eq!(spans.len(), 4);
//! assert_eq!(spans[0].attributes.len(), 12);
//!
//! let logs = otlp_benches::log_records(8);
//! let pairs = logs.pairs();
//! let batch = opentelemetry_sdk::logs::LogBatch::new(&pairs);
//! assert_eq!(batch.iter().count(), 8);
//! ```
//!
//! The benchmarks themselves are in `benches/benches/` and are run with
//! `cargo bench -p otlp-benches`; see `docs/benchmarks.md`.
#![forbid(unsafe_code)]

use opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{
    Event, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::logs::{SdkLogRecord, SdkLoggerProvider};
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::{
    InstrumentKind, ManualReader, Pipeline, SdkMeterProvider, Temporality,
};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use opentelemetry_sdk::Resource;
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub mod sink;

/// The process's CPU time so far (`CLOCK_PROCESS_CPUTIME_ID`): user +
/// system, every thread.
///
/// ```
/// let before = otlp_benches::cpu_now();
/// assert!(otlp_benches::cpu_now() >= before);
/// ```
pub fn cpu_now() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// The calling thread's CPU time so far (`CLOCK_THREAD_CPUTIME_ID`): what
/// a piece of work costs its thread, whatever else the (shared) machine
/// runs meanwhile.
///
/// ```
/// let before = otlp_benches::thread_cpu();
/// assert!(otlp_benches::thread_cpu() >= before);
/// ```
pub fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// 2026-11-21T09:00:00Z, the base of every timestamp.
const T0_SECS: u64 = 1_795_338_000;

fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(T0_SECS)
}

/// A small deterministic generator (SplitMix64): ids must look random (they
/// are varint-free fixed bytes in protobuf but hex in JSON, and a constant
/// id would flatter compression), yet runs must be reproducible.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    fn trace_id(&mut self) -> TraceId {
        TraceId::from(u128::from(self.next()) << 64 | u128::from(self.next()))
    }

    fn span_id(&mut self) -> SpanId {
        SpanId::from(self.next() | 1)
    }

    /// A ULID-shaped (26 characters, Crockford base32) request id, as
    /// many frameworks generate.
    fn ulid(&mut self) -> String {
        const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
        let bits = u128::from(self.next()) << 64 | u128::from(self.next());
        (0..26)
            .map(|i| char::from(ALPHABET[(bits >> (i * 5) & 31) as usize]))
            .collect()
    }

    /// A UUID, as user ids are.
    fn uuid(&mut self) -> String {
        let (a, b) = (self.next(), self.next());
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            (b >> 48) & 0x3fff | 0x8000,
            b & 0xffff_ffff_ffff
        )
    }
}

/// The instrumentation scope of the spans and logs.
pub fn scope() -> InstrumentationScope {
    InstrumentationScope::builder("checkout.http")
        .with_version("2.14.3")
        .with_schema_url("https://opentelemetry.io/schemas/1.26.0")
        .build()
}

/// The resource of a service running in Kubernetes: service, deployment,
/// host and SDK attributes (11 in all), as the SDK's detectors produce.
pub fn resource() -> Resource {
    Resource::builder_empty()
        .with_attributes([
            KeyValue::new("service.name", "checkout"),
            KeyValue::new("service.namespace", "shop"),
            KeyValue::new("service.version", "2.14.3"),
            KeyValue::new(
                "service.instance.id",
                "5f0c9a52-9e1d-4c6b-8a35-3b1f0d7e2c41",
            ),
            KeyValue::new("deployment.environment.name", "production"),
            KeyValue::new("host.name", "ip-10-12-4-87.eu-west-1.compute.internal"),
            KeyValue::new("k8s.namespace.name", "shop-prod"),
            KeyValue::new("k8s.pod.name", "checkout-7d9f8b6c5d-x2k4q"),
            KeyValue::new("telemetry.sdk.name", "opentelemetry"),
            KeyValue::new("telemetry.sdk.language", "rust"),
            KeyValue::new("telemetry.sdk.version", "0.33.0"),
        ])
        .build()
}

const USER_AGENTS: [&str; 4] = [
    "Mozilla/5.0 Firefox/131.0",
    "okhttp/4.12.0",
    "Go-http-client/2.0",
    "python-requests/2.32.3",
];

/// `(method, route, path prefix)` of the service's endpoints.
const ROUTES: [(&str, &str, &str); 4] = [
    ("GET", "/orders/{id}", "/orders/"),
    ("POST", "/orders/{id}/items", "/orders/"),
    ("GET", "/carts/{id}", "/carts/"),
    ("PUT", "/carts/{id}/checkout", "/carts/"),
];

/// `n` finished HTTP server spans as the SDK hands them to an exporter.
///
/// Each span has 12 attributes (HTTP semantic conventions plus a request id
/// and a boolean), one event with 2 attributes, a remote parent, and fresh
/// random-looking ids; 8 consecutive spans share a trace. All come from
/// [`scope`]. One span is about 550 bytes of OTLP protobuf.
pub fn http_spans(n: usize) -> Vec<SpanData> {
    let mut rng = Rng(0x5eed_0001);
    let scope = scope();
    let mut trace_id = rng.trace_id();
    (0..n)
        .map(|i| {
            if i % 8 == 0 {
                trace_id = rng.trace_id();
            }
            let (method, route, prefix) = rng.pick(&ROUTES);
            let id = 10_000_000 + rng.below(90_000_000);
            let path = if route.ends_with('}') {
                format!("{prefix}{id}")
            } else {
                let tail = route.rsplit('/').next().unwrap_or_default();
                format!("{prefix}{id}/{tail}")
            };
            let status = rng.pick(&[200_i64, 200, 200, 201, 204, 404, 500]);
            let start = t0() + Duration::from_micros(i as u64 * 1_731);
            let duration = Duration::from_micros(800 + rng.below(45_000));
            let attributes = vec![
                KeyValue::new("http.request.method", method),
                KeyValue::new("url.path", path),
                KeyValue::new("url.scheme", "https"),
                KeyValue::new("server.address", "shop.example.com"),
                KeyValue::new("server.port", 443_i64),
                KeyValue::new("http.response.status_code", status),
                KeyValue::new("user_agent.original", rng.pick(&USER_AGENTS)),
                KeyValue::new(
                    "client.address",
                    format!(
                        "10.{}.{}.{}",
                        rng.below(256),
                        rng.below(256),
                        rng.below(256)
                    ),
                ),
                KeyValue::new("network.protocol.version", rng.pick(&["1.1", "2"])),
                KeyValue::new("http.route", route),
                KeyValue::new("request_id", rng.ulid()),
                KeyValue::new("cache.hit", rng.below(4) == 0),
            ];
            let mut events = SpanEvents::default();
            events.events.push(Event::new(
                "db.query",
                start + duration / 2,
                vec![
                    KeyValue::new("db.system.name", "postgresql"),
                    KeyValue::new("db.response.returned_rows", rng.below(50) as i64),
                ],
                0,
            ));
            SpanData {
                span_context: SpanContext::new(
                    trace_id,
                    rng.span_id(),
                    TraceFlags::SAMPLED,
                    false,
                    TraceState::default(),
                ),
                parent_span_id: rng.span_id(),
                parent_span_is_remote: true,
                span_kind: SpanKind::Server,
                name: format!("{method} {route}").into(),
                start_time: start,
                end_time: start + duration,
                attributes,
                dropped_attributes_count: 0,
                events,
                links: SpanLinks::default(),
                status: if status >= 500 {
                    Status::error("")
                } else {
                    Status::Unset
                },
                instrumentation_scope: scope.clone(),
            }
        })
        .collect()
}

/// Log records and the scope they were emitted under; see [`log_records`].
///
/// A `LogBatch` borrows its records, so this owns them and
/// [`LogRecords::pairs`] lends them out:
/// `LogBatch::new(&records.pairs())`.
#[derive(Debug)]
pub struct LogRecords {
    records: Vec<SdkLogRecord>,
    scope: InstrumentationScope,
}

impl LogRecords {
    /// The `(record, scope)` pairs that `LogBatch::new` takes.
    pub fn pairs(&self) -> Vec<(&SdkLogRecord, &InstrumentationScope)> {
        self.records.iter().map(|r| (r, &self.scope)).collect()
    }

    /// How many records there are.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

/// `n` application log records as an appender (e.g.
/// `opentelemetry-appender-tracing`) fills them in: timestamps, severity
/// (mostly INFO, some WARN and ERROR), a formatted message body, the
/// emitting module as target, 6 attributes, and the active span's trace
/// context. They are created with an `SdkLoggerProvider`'s logger.
pub fn log_records(n: usize) -> LogRecords {
    let provider = SdkLoggerProvider::builder()
        .with_resource(resource())
        .build();
    let logger = provider.logger_with_scope(scope());
    let mut rng = Rng(0x5eed_0002);
    let records = (0..n)
        .map(|i| {
            let mut r = logger.create_log_record();
            let at = t0() + Duration::from_micros(i as u64 * 977);
            r.set_timestamp(at);
            r.set_observed_timestamp(at + Duration::from_micros(3));
            let (severity, text) = rng.pick(&[
                (Severity::Info, "INFO"),
                (Severity::Info, "INFO"),
                (Severity::Info, "INFO"),
                (Severity::Warn, "WARN"),
                (Severity::Error, "ERROR"),
            ]);
            r.set_severity_number(severity);
            r.set_severity_text(text);
            r.set_target("checkout::payments::card");
            let order = 10_000_000 + rng.below(90_000_000);
            let cents = 100 + rng.below(50_000);
            r.set_body(
                format!(
                    "charged order {order}: {}.{:02} EUR authorised by acquirer in {} ms",
                    cents / 100,
                    cents % 100,
                    rng.below(900)
                )
                .into(),
            );
            r.add_attribute("code.function.name", "checkout::payments::card::charge");
            r.add_attribute("code.file.path", "src/payments/card.rs");
            r.add_attribute("code.line.number", 140 + rng.below(60) as i64);
            r.add_attribute("order.id", order.to_string());
            r.add_attribute("user.id", rng.uuid());
            r.add_attribute("payment.retry", rng.below(8) == 0);
            r.set_trace_context(rng.trace_id(), rng.span_id(), Some(TraceFlags::SAMPLED));
            r
        })
        .collect();
    LogRecords {
        records,
        scope: scope(),
    }
}

/// Lends a [`ManualReader`] to a meter provider while keeping a handle to
/// collect from (`with_reader` takes the reader by value).
#[derive(Debug, Clone)]
struct SharedReader(Arc<ManualReader>);

impl MetricReader for SharedReader {
    fn register_pipeline(&self, pipeline: Weak<Pipeline>) {
        self.0.register_pipeline(pipeline);
    }

    fn collect(&self, rm: &mut ResourceMetrics) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.collect(rm)
    }

    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }

    fn temporality(&self, kind: InstrumentKind) -> Temporality {
        self.0.temporality(kind)
    }
}

/// How many data points [`resource_metrics`] holds.
pub const METRIC_DATA_POINTS: usize = 104;

/// One collection of an HTTP service's metrics under [`resource`]: the
/// standard `http.server.request.duration` histogram (default buckets) and
/// a request counter over 4 routes x 2 protocol versions x 4 status codes,
/// a response-size histogram, in-flight requests (up-down counter), pool
/// gauges and a byte counter. [`METRIC_DATA_POINTS`] data points in all,
/// cumulative temporality, collected from an `SdkMeterProvider` through a
/// `ManualReader`.
pub fn resource_metrics() -> ResourceMetrics {
    let reader = SharedReader(Arc::new(ManualReader::builder().build()));
    let provider = SdkMeterProvider::builder()
        .with_resource(resource())
        .with_reader(reader.clone())
        .build();
    let meter = provider.meter_with_scope(scope());
    let duration = meter
        .f64_histogram("http.server.request.duration")
        .with_unit("s")
        .with_description("Duration of HTTP server requests.")
        .build();
    let requests = meter
        .u64_counter("http.server.requests")
        .with_unit("{request}")
        .with_description("Number of HTTP requests served.")
        .build();
    let body_size = meter
        .u64_histogram("http.server.response.body.size")
        .with_unit("By")
        .with_boundaries(vec![256.0, 1024.0, 4096.0, 16384.0, 65536.0])
        .build();
    let in_flight = meter
        .i64_up_down_counter("http.server.active_requests")
        .with_unit("{request}")
        .build();
    let pool = meter
        .f64_gauge("db.client.connection.pool.usage")
        .with_unit("1")
        .build();
    let bytes = meter.u64_counter("network.io").with_unit("By").build();

    let mut rng = Rng(0x5eed_0003);
    // 4 routes x 2 versions x 4 statuses = 32 attribute sets, each in both
    // the duration histogram and the counter: 64 points.
    for &(method, route, _) in &ROUTES {
        for version in ["1.1", "2"] {
            for status in [200_i64, 201, 404, 500] {
                let attrs = [
                    KeyValue::new("http.request.method", method),
                    KeyValue::new("http.route", route),
                    KeyValue::new("http.response.status_code", status),
                    KeyValue::new("network.protocol.version", version),
                    KeyValue::new("url.scheme", "https"),
                ];
                for _ in 0..1 + rng.below(20) {
                    duration.record(0.0005 + rng.below(2_000) as f64 / 1_000.0, &attrs);
                    requests.add(1, &attrs);
                }
            }
        }
    }
    // 4 routes x 4 statuses: 16 points.
    for &(method, route, _) in &ROUTES {
        for status in [200_i64, 201, 404, 500] {
            let attrs = [
                KeyValue::new("http.request.method", method),
                KeyValue::new("http.route", route),
                KeyValue::new("http.response.status_code", status),
            ];
            for _ in 0..1 + rng.below(10) {
                body_size.record(rng.below(100_000), &attrs);
            }
        }
    }
    // 4 routes: 4 points.
    for &(method, route, _) in &ROUTES {
        let attrs = [
            KeyValue::new("http.request.method", method),
            KeyValue::new("http.route", route),
        ];
        in_flight.add(rng.below(40) as i64 - 5, &attrs);
    }
    // 5 pools x 2 states: 10 points.
    for pool_name in ["orders", "carts", "payments", "inventory", "sessions"] {
        for state in ["idle", "used"] {
            let attrs = [
                KeyValue::new("db.client.connection.pool.name", pool_name),
                KeyValue::new("db.client.connection.state", state),
            ];
            pool.record(rng.below(1_000) as f64 / 1_000.0, &attrs);
        }
    }
    // 5 interfaces x 2 directions: 10 points.
    for device in ["eth0", "eth1", "lo", "veth3a1f", "cni0"] {
        for direction in ["receive", "transmit"] {
            let attrs = [
                KeyValue::new("network.interface.name", device),
                KeyValue::new("network.io.direction", direction),
            ];
            bytes.add(rng.below(1 << 30), &attrs);
        }
    }

    let mut rm = ResourceMetrics::default();
    reader
        .collect(&mut rm)
        .expect("a registered ManualReader collects");
    rm
}

/// How many data points `rm` holds, to check [`METRIC_DATA_POINTS`].
pub fn count_data_points(rm: &ResourceMetrics) -> usize {
    use opentelemetry_sdk::metrics::data::{AggregatedMetrics as A, MetricData as D};
    fn points<T>(data: &D<T>) -> usize {
        match data {
            D::Gauge(g) => g.data_points().count(),
            D::Sum(s) => s.data_points().count(),
            D::Histogram(h) => h.data_points().count(),
            D::ExponentialHistogram(h) => h.data_points().count(),
        }
    }
    rm.scope_metrics()
        .flat_map(|s| s.metrics())
        .map(|m| match m.data() {
            A::F64(d) => points(d),
            A::U64(d) => points(d),
            A::I64(d) => points(d),
        })
        .sum()
}

/// The keys the chain's redaction allows: the HTTP spans' attributes and
/// `service.name`.
pub const HTTP_KEYS: [&str; 12] = [
    "http.request.method",
    "url.path",
    "url.scheme",
    "server.address",
    "server.port",
    "http.response.status_code",
    "user_agent.original",
    "client.address",
    "network.protocol.version",
    "http.route",
    "request_id",
    "service.name",
];

/// Sampling (proportional, 50%), a filter (two span conditions, one
/// span-event condition) and redaction (12 allowed keys, so the resource
/// attributes but `service.name` go; one blocked-value regex; e-mail and
/// card scanning; `info` summary), on the instruction set `isa`.
pub fn sample_filter_redact(isa: otlp_simd::Isa) -> otlp_simd::processor::Chain {
    otlp_simd::processor::Chain::new()
        .with(chain_sampler(isa))
        .with(chain_filter())
        .with(chain_redaction(isa, true, true))
}

/// The chain's sampler: proportional, 50 %.
pub fn chain_sampler(isa: otlp_simd::Isa) -> otlp_simd::processor::ProbabilisticSampler {
    otlp_simd::processor::ProbabilisticSampler::builder()
        .with_mode(otlp_simd::processor::sampling::Mode::Proportional)
        .with_percentage(50.0)
        .with_isa(isa)
        .build()
        .expect("valid sampler")
}

/// The chain's filter: two span conditions and one span-event condition.
pub fn chain_filter() -> otlp_simd::processor::Filter {
    otlp_simd::processor::Filter::new()
        .with_span_condition(r#"attributes["url.path"] == "/health""#)
        .and_then(|f| f.with_span_condition("kind == SPAN_KIND_INTERNAL and duration < 1000"))
        .and_then(|f| f.with_span_event_condition(r#"name == "debug""#))
        .expect("valid conditions")
}

/// The chain's blocked-value regex: card numbers starting with 4.
pub const CARD_PATTERN: &str = r"4[0-9]{12}(?:[0-9]{3})?";

/// The chain's redaction: [`HTTP_KEYS`] allowed, the `info` summary, and
/// with `regex` its blocked-value regex ([`CARD_PATTERN`], given as a
/// pattern), with `scan` its e-mail and card scanning.
pub fn chain_redaction(
    isa: otlp_simd::Isa,
    regex: bool,
    scan: bool,
) -> otlp_simd::processor::Redaction {
    let mut b = otlp_simd::processor::Redaction::builder()
        .with_allowed_keys(HTTP_KEYS)
        .with_summary(otlp_simd::processor::redaction::Summary::Info)
        .with_isa(isa);
    if regex {
        // As the TOML configuration gives it: a pattern, from which the
        // redaction also learns which values it cannot match.
        b = b.with_blocked_value_pattern(CARD_PATTERN).expect("regex");
    }
    if scan {
        b = b
            .with_blocked_pattern("email")
            .and_then(|b| b.with_blocked_pattern("card"))
            .expect("known patterns");
    }
    b.build().expect("valid redaction")
}

/// A redaction after the example of the Collector's `redactionprocessor`
/// README (without its `md5` hash): [`HTTP_KEYS`] allowed, an ignored
/// key, two card regexes as blocked values, key patterns for tokens and
/// API keys, an allowed value for the company's e-mail addresses, the
/// `debug` summary. With `patterns` the value regexes are given as text
/// (as the TOML configuration gives them), otherwise as built `Regex`es.
pub fn readme_redaction(
    isa: otlp_simd::Isa,
    patterns: bool,
) -> Result<otlp_simd::processor::Redaction, Box<dyn std::error::Error>> {
    let mut b = otlp_simd::processor::Redaction::builder()
        .with_allowed_keys(HTTP_KEYS)
        .with_ignored_keys(["safe_attribute"])
        .with_summary(otlp_simd::processor::redaction::Summary::Debug)
        .with_isa(isa);
    for p in [CARD_PATTERN, "(5[1-5][0-9]{14})"] {
        b = if patterns {
            b.with_blocked_value_pattern(p)?
        } else {
            b.with_blocked_value(regex::Regex::new(p)?)
        };
    }
    for p in [".*token.*", ".*api_key.*"] {
        b = b.with_blocked_key_pattern(regex::Regex::new(p)?);
    }
    let allowed = r".+@mycompany\.com";
    b = if patterns {
        b.with_allowed_value_pattern(allowed)?
    } else {
        b.with_allowed_value(regex::Regex::new(allowed)?)
    };
    Ok(b.build()?)
}

/// The steps and chains `processors_alone` measures one at a time, span
/// by span, by name: each step of [`sample_filter_redact`] alone
/// (redaction by allowed keys only, then with the regex, the same regex
/// handed over as a built `Regex` (`redaction_regex_built`: every value
/// goes through it), then with the scanning instead, the redaction of
/// [`readme_redaction`] with its value regexes given as text and as built
/// `Regex`es (`redaction_readme`, `redaction_readme_built`), and two
/// lighter chains, `chain_keys` (sampling,
/// filter, redaction by allowed keys) and `chain_keys+scan` (the same
/// with the e-mail and card scanning).
pub fn steps_alone(isa: otlp_simd::Isa) -> Vec<(&'static str, otlp_simd::processor::Chain)> {
    use otlp_simd::processor::Chain;
    vec![
        ("sampler", Chain::new().with(chain_sampler(isa))),
        ("filter", Chain::new().with(chain_filter())),
        (
            "redaction_keys",
            Chain::new().with(chain_redaction(isa, false, false)),
        ),
        (
            "redaction_regex",
            Chain::new().with(chain_redaction(isa, true, false)),
        ),
        (
            "redaction_regex_built",
            Chain::new().with(
                otlp_simd::processor::Redaction::builder()
                    .with_allowed_keys(HTTP_KEYS)
                    .with_summary(otlp_simd::processor::redaction::Summary::Info)
                    .with_isa(isa)
                    .with_blocked_value(regex::Regex::new(CARD_PATTERN).expect("regex"))
                    .build()
                    .expect("valid redaction"),
            ),
        ),
        (
            "redaction_scan",
            Chain::new().with(chain_redaction(isa, false, true)),
        ),
        (
            "redaction_readme",
            Chain::new().with(readme_redaction(isa, true).expect("valid redaction")),
        ),
        (
            "redaction_readme_built",
            Chain::new().with(readme_redaction(isa, false).expect("valid redaction")),
        ),
        (
            "chain_keys",
            Chain::new()
                .with(chain_sampler(isa))
                .with(chain_filter())
                .with(chain_redaction(isa, false, false)),
        ),
        (
            "chain_keys+scan",
            Chain::new()
                .with(chain_sampler(isa))
                .with(chain_filter())
                .with(chain_redaction(isa, false, true)),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_have_the_advertised_shape() {
        let spans = http_spans(64);
        assert!(spans.iter().all(|s| s.attributes.len() == 12));
        assert!(spans.iter().all(|s| s.events.len() == 1));
        let ids: std::collections::HashSet<_> =
            spans.iter().map(|s| s.span_context.span_id()).collect();
        assert_eq!(ids.len(), 64);
    }

    #[test]
    fn a_span_is_about_550_protobuf_bytes() {
        let encoder = otlp_core::Encoder::new(otlp_core::Format::Protobuf);
        let mut buf = Vec::new();
        encoder.encode_spans(&http_spans(512), &mut buf);
        let per_span = buf.len() / 512;
        println!("{per_span} bytes per span");
        assert!((500..=600).contains(&per_span), "{per_span} bytes per span");
    }

    #[test]
    fn metrics_hold_the_advertised_points() {
        assert_eq!(count_data_points(&resource_metrics()), METRIC_DATA_POINTS);
    }

    #[test]
    fn logs_carry_trace_context() {
        let logs = log_records(16);
        assert_eq!(logs.len(), 16);
        assert!(logs
            .pairs()
            .iter()
            .all(|(r, _)| r.trace_context().is_some()));
    }
}

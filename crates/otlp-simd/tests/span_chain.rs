//! A chain run on each SDK span as it ends ([`SpanChain`]) gives what the
//! same chain run on the encoded and decoded batch gives: the same spans
//! kept, with the same tracestate, attributes, events and scopes, the same
//! resource, and the same drops by processor and reason.

use opentelemetry::trace::{
    Event, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue, Value};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use opentelemetry_sdk::Resource;
use otlp_core::proto::collector::trace::v1::ExportTraceServiceRequest;
use otlp_core::{Encoder, ExportRequest, Format, Signal, SpanBatch};
use otlp_simd::processor::redaction::{HashFunction, Summary};
use otlp_simd::processor::sampling::Mode;
use otlp_simd::processor::{
    Chain, Filter, ProbabilisticSampler, Redaction, SpanChain, SpanOutcome,
};
use proptest::prelude::*;
use regex::Regex;
use std::str::FromStr;
use std::time::{Duration, UNIX_EPOCH};

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const KEYS: [&str; 12] = [
    "http.route",
    "db.system.name",
    "db.system",
    "user.email",
    "card",
    "auth",
    "db.statement",
    "sampling.priority",
    "token",
    "safe",
    "redaction.masked.count",
    "http.response.status_code",
];

const TEXTS: [&str; 16] = [
    "memcached",
    "MemCached",
    "get k\r\nsecret",
    " set k 0 0 5\r\nhello ",
    "/api/users/{id}",
    "mail bob@example.com now",
    "card 4111 1111 1111 1111 ok",
    "Bearer abcdefghijklmnopqrstuvwxyz012345",
    "SELECT * FROM users WHERE id = 42",
    "plain",
    "",
    "5555555555554444",
    "x@mycompany.com",
    "secret-42",
    "/users/8412/orders/f3a9c?page=2",
    "GET /api/v1/items/17",
];

fn value(rng: &mut Rng) -> Value {
    match rng.below(6) {
        0 => Value::I64(rng.below(5) as i64 - 1),
        1 => Value::F64(rng.below(4) as f64 / 2.0),
        2 => Value::Bool(rng.below(2) == 0),
        _ => Value::from(*rng.pick(&TEXTS)),
    }
}

fn attrs(rng: &mut Rng, max: u64) -> Vec<KeyValue> {
    let n = rng.below(max + 1);
    let mut out: Vec<KeyValue> = Vec::new();
    for _ in 0..n {
        let key = *rng.pick(&KEYS);
        // The SDK keeps duplicate keys; now and then one here too.
        if out.iter().any(|kv| kv.key.as_str() == key) && rng.below(4) != 0 {
            continue;
        }
        out.push(KeyValue::new(key, value(rng)));
    }
    out
}

fn span(rng: &mut Rng, scopes: &[InstrumentationScope]) -> SpanData {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&rng.next().to_le_bytes());
    id[8..].copy_from_slice(&rng.next().to_le_bytes());
    let trace_state = match rng.below(8) {
        0 => "ot=th:8",
        1 => "ot=th:c;rv:fedcba98765432",
        2 => "vendor=x,ot=th:4",
        3 => "ot=rv:00000000000001",
        4 => "other=1",
        _ => "",
    };
    let start = UNIX_EPOCH + Duration::from_nanos(1_700_000_000_000_000_000 + rng.below(1 << 30));
    let end = start + Duration::from_nanos(rng.below(3_000_000_000));
    let mut events = SpanEvents::default();
    // Past 64 events now and then (the filter's keep bits spill).
    let n_events = if rng.below(20) == 0 {
        60 + rng.below(10)
    } else {
        rng.below(4)
    };
    for _ in 0..n_events {
        events.events.push(Event::new(
            *rng.pick(&["exception", "retry", "log"]),
            start,
            attrs(rng, 3),
            0,
        ));
    }
    SpanData {
        span_context: SpanContext::new(
            TraceId::from_bytes(id),
            SpanId::from_bytes(rng.next().to_le_bytes()),
            TraceFlags::SAMPLED,
            false,
            TraceState::from_str(trace_state).unwrap(),
        ),
        parent_span_id: SpanId::INVALID,
        parent_span_is_remote: false,
        span_kind: rng
            .pick(&[
                SpanKind::Internal,
                SpanKind::Server,
                SpanKind::Client,
                SpanKind::Producer,
                SpanKind::Consumer,
            ])
            .clone(),
        name: (*rng.pick(&[
            "GET /health",
            "GET /users",
            "query",
            "send",
            "GET /users/42/orders/7",
            "GET orders?id=3",
            " get k\r\nv",
        ]))
        .into(),
        start_time: start,
        end_time: end,
        attributes: attrs(rng, 7),
        dropped_attributes_count: 0,
        events,
        links: SpanLinks::default(),
        status: match rng.below(3) {
            0 => Status::Unset,
            1 => Status::Ok,
            _ => Status::error("boom"),
        },
        instrumentation_scope: rng.pick(scopes).clone(),
    }
}

fn chain(rng: &mut Rng) -> Chain {
    let tok = Regex::new("tok").unwrap();
    let secret = Regex::new(r"secret-\d+").unwrap();
    let mycompany = Regex::new(r"@mycompany\.com$").unwrap();
    let mut chain = Chain::new();
    let steps = [0u8, 1, 2];
    // Each step at most once, in a random order; the sampler may be left
    // out, as may the others.
    let mut order: Vec<u8> = steps.to_vec();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    for step in order {
        if rng.below(5) == 0 {
            continue;
        }
        match step {
            0 => {
                let mode = *rng.pick(&[Mode::Proportional, Mode::Equalizing, Mode::HashSeed]);
                let mut b = ProbabilisticSampler::builder()
                    .with_mode(mode)
                    .with_percentage(*rng.pick(&[0.0, 25.0, 50.0, 100.0]))
                    .with_fail_closed(rng.below(2) == 0)
                    .with_keep_errors(rng.below(3) == 0);
                if mode == Mode::HashSeed {
                    b = b.with_hash_seed(rng.below(100) as u32);
                }
                if rng.below(3) == 0 {
                    b = b.with_keep_slower_than(Duration::from_secs(2));
                }
                if rng.below(3) == 0 {
                    b = b.with_keep_span_name("query");
                }
                if rng.below(3) == 0 {
                    b = b.with_keep_attribute(*rng.pick(&KEYS), *rng.pick(&TEXTS));
                }
                chain.push(Box::new(b.build().unwrap()));
            }
            1 => {
                let mut f = Filter::new();
                let span_conds = [
                    r#"name == "GET /health""#,
                    "kind == SPAN_KIND_INTERNAL and duration < 1000000000",
                    r#"status.code == STATUS_CODE_ERROR and attributes["safe"] == true"#,
                    r#"IsMatch(attributes["http.route"], "^/api/")"#,
                    r#"resource.attributes["env"] == "dev""#,
                    r#"IsMatch(trace_state, "th:c")"#,
                    r#"attributes["sampling.priority"] >= 1 or instrumentation_scope.name == "b""#,
                ];
                let event_conds = [
                    r#"name == "retry""#,
                    r#"attributes["card"] != nil and span.kind == SPAN_KIND_SERVER"#,
                ];
                for _ in 0..rng.below(3) {
                    let cond = *rng.pick(&span_conds);
                    f = f.with_span_condition(cond).unwrap();
                }
                for _ in 0..rng.below(2) {
                    f = f
                        .with_span_event_condition({
                            let cond = *rng.pick(&event_conds);
                            cond
                        })
                        .unwrap();
                }
                chain.push(Box::new(f));
            }
            _ => {
                let mut b = Redaction::builder()
                    .with_summary(*rng.pick(&[Summary::Silent, Summary::Info, Summary::Debug]))
                    .with_redact_all_types(rng.below(2) == 0);
                if rng.below(3) == 0 {
                    b = b.with_allow_all_keys(true);
                } else {
                    b = b.with_allowed_keys(
                        KEYS.iter()
                            .filter(|_| rng.below(3) != 0)
                            .map(|k| k.to_string()),
                    );
                }
                if rng.below(2) == 0 {
                    b = b.with_ignored_keys(["safe"]);
                }
                if rng.below(2) == 0 {
                    b = b.with_blocked_key_pattern(tok.clone());
                }
                if rng.below(2) == 0 {
                    b = b.with_blocked_value(secret.clone());
                }
                if rng.below(2) == 0 {
                    b = b.with_allowed_value(mycompany.clone());
                }
                for p in ["email", "card", "bearer"] {
                    if rng.below(2) == 0 {
                        b = b.with_blocked_pattern(p).unwrap();
                    }
                }
                if rng.below(4) == 0 {
                    b = b
                        .with_hash_function(HashFunction::HmacSha256)
                        .with_hmac_key("k");
                }
                if rng.below(3) == 0 {
                    let keys: Vec<&str> = ["http.route", "db.statement", "safe"]
                        .into_iter()
                        .filter(|_| rng.below(2) == 0)
                        .collect();
                    b = b.with_url_sanitizer(keys, rng.below(3) != 0);
                }
                if rng.below(3) == 0 {
                    use otlp_simd::processor::db::{DbSanitizer, DbSystem};
                    let keys: Vec<&str> = ["db.statement", "card", "safe"]
                        .into_iter()
                        .filter(|_| rng.below(2) == 0)
                        .collect();
                    b = b.with_db_sanitizer(
                        DbSanitizer::new()
                            .with_obfuscator(DbSystem::Memcached, keys)
                            .with_span_names(rng.below(3) != 0),
                    );
                }
                chain.push(Box::new(b.build().unwrap()));
            }
        }
    }
    chain
}

fn decode(bytes: &[u8]) -> ExportTraceServiceRequest {
    match ExportRequest::decode(Signal::Traces, Format::Protobuf, bytes).unwrap() {
        ExportRequest::Traces(r) => r,
        other => panic!("not traces: {other:?}"),
    }
}

/// Resource attributes in key order (the SDK's resource is a map: its
/// order is not the data's), and scopes in name order (a batch groups
/// spans by scope in the order each scope first came, dropped spans
/// included on the batch path, kept spans only span by span).
fn normalize(mut r: ExportTraceServiceRequest) -> ExportTraceServiceRequest {
    for rs in &mut r.resource_spans {
        if let Some(res) = rs.resource.as_mut() {
            res.attributes.sort_by(|a, b| a.key.cmp(&b.key));
        }
        rs.scope_spans.sort_by(|a, b| {
            a.scope
                .as_ref()
                .map(|s| &s.name)
                .cmp(&b.scope.as_ref().map(|s| &s.name))
        });
    }
    r
}

/// The drops by processor and reason, sorted.
type Drops = Vec<(String, &'static str, u64)>;

/// Span events removed by processor, sorted.
type Events = Vec<(String, u64)>;

fn add_events(events: &mut Events, step: &str, n: u64) {
    match events.iter_mut().find(|e| e.0 == step) {
        Some(e) => e.1 += n,
        None => events.push((step.to_owned(), n)),
    }
}

fn by_span(
    chain: &SpanChain,
    resource: &Resource,
    spans: &[SpanData],
) -> (ExportTraceServiceRequest, Drops, Events) {
    let attrs = resource
        .iter()
        .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
        .collect();
    let processed = Resource::builder_empty()
        .with_attributes(chain.set_resource(attrs))
        .build();
    let mut encoder = Encoder::new(Format::Protobuf);
    encoder.set_resource(&processed);
    let mut batch = SpanBatch::new(Format::Protobuf);
    let mut drops: Drops = Vec::new();
    let mut events: Events = Vec::new();
    for s in spans {
        let mut s = s.clone();
        match chain.on_end_counting(&mut s, &mut |step, n| add_events(&mut events, step, n)) {
            SpanOutcome::Keep(ts) => batch.push_with_trace_state(&s, ts.as_deref()),
            SpanOutcome::Drop { step, reason } => {
                match drops.iter_mut().find(|d| d.0 == step && d.1 == reason) {
                    Some(d) => d.2 += 1,
                    None => drops.push((step.to_owned(), reason, 1)),
                }
            }
        }
    }
    let mut out = Vec::new();
    encoder.encode_span_batch(&mut batch, &mut out);
    drops.sort();
    events.sort();
    (normalize(decode(&out)), drops, events)
}

fn by_batch(
    chain: &mut Chain,
    resource: &Resource,
    spans: &[SpanData],
) -> (ExportTraceServiceRequest, Drops, Events) {
    let mut encoder = Encoder::new(Format::Protobuf);
    encoder.set_resource(resource);
    let mut out = Vec::new();
    encoder.encode_spans(spans, &mut out);
    let mut request = decode(&out);
    let report = chain.process(&mut request);
    let mut drops: Drops = Vec::new();
    for (step, reason, n) in report.dropped {
        match drops.iter_mut().find(|d| d.0 == step && d.1 == reason) {
            Some(d) => d.2 += n,
            None => drops.push((step, reason, n)),
        }
    }
    drops.sort();
    let mut events: Events = Vec::new();
    for (step, n) in report.dropped_events {
        add_events(&mut events, &step, n);
    }
    events.sort();
    (normalize(request), drops, events)
}

fn check(seed: u64) {
    let mut rng = Rng(seed);
    let mut chain = chain(&mut rng);
    let Some(span_chain) = chain.span_chain() else {
        assert!(chain.is_empty());
        return;
    };
    // Scopes with attributes, and the same ones in another order.
    let scopes = [
        InstrumentationScope::builder("a").with_version("1").build(),
        InstrumentationScope::builder("b")
            .with_attributes([
                KeyValue::new("user.email", "ann@example.com"),
                KeyValue::new("safe", 1),
                KeyValue::new("card", "4111111111111111"),
            ])
            .build(),
        InstrumentationScope::builder("c")
            .with_attributes([
                KeyValue::new("card", "4111111111111111"),
                KeyValue::new("safe", 1),
                KeyValue::new("user.email", "ann@example.com"),
                KeyValue::new("auth", 0.5),
            ])
            .build(),
    ];
    let resource = Resource::builder_empty()
        .with_attributes(attrs(&mut rng, 5))
        .with_attributes([
            KeyValue::new("service.name", "svc"),
            KeyValue::new("env", *rng.pick(&["dev", "prod"])),
        ])
        .build();
    let n = 1 + rng.below(60) as usize;
    let spans: Vec<SpanData> = (0..n).map(|_| span(&mut rng, &scopes)).collect();
    let (a, da, ea) = by_span(&span_chain, &resource, &spans);
    let (b, db, eb) = by_batch(&mut chain, &resource, &spans);
    assert_eq!(da, db, "drops differ (seed {seed}, chain {chain:?})");
    assert_eq!(
        ea, eb,
        "span events removed differ (seed {seed}, chain {chain:?})"
    );
    // An empty batch encodes no resource; the batch path keeps none either.
    if a != b {
        assert_eq!(
            a.resource_spans.len(),
            b.resource_spans.len(),
            "seed {seed}, chain {chain:?}"
        );
        for (ra, rb) in a.resource_spans.iter().zip(&b.resource_spans) {
            assert_eq!(
                ra.resource, rb.resource,
                "resource, seed {seed}, chain {chain:?}"
            );
            assert_eq!(
                ra.scope_spans.len(),
                rb.scope_spans.len(),
                "scopes, seed {seed}, chain {chain:?}"
            );
            for (sa, sb) in ra.scope_spans.iter().zip(&rb.scope_spans) {
                assert_eq!(sa.scope, sb.scope, "scope, seed {seed}, chain {chain:?}");
                let ids = |s: &[otlp_core::proto::trace::v1::Span]| {
                    s.iter().map(|s| s.span_id.clone()).collect::<Vec<_>>()
                };
                assert_eq!(
                    ids(&sa.spans),
                    ids(&sb.spans),
                    "span ids, seed {seed}, chain {chain:?}"
                );
                for (x, y) in sa.spans.iter().zip(&sb.spans) {
                    assert_eq!(x, y, "span, seed {seed}, chain {chain:?}");
                }
            }
        }
        panic!("requests differ (seed {seed})");
    }
}

#[test]
fn span_by_span_equals_the_batch_path_on_fixed_seeds() {
    for seed in 0..300 {
        check(seed);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn span_by_span_equals_the_batch_path(seed in any::<u64>()) {
        check(seed);
    }
}

#[test]
fn a_chain_with_span_metrics_has_no_span_path() {
    let chain = Chain::new().with(Filter::new()).with(
        otlp_simd::processor::SpanMetrics::builder()
            .build()
            .unwrap(),
    );
    assert!(chain.span_chain().is_none());
    assert!(Chain::new().span_chain().is_none());
}

/// A step that changes the span context through `span_mut` after the
/// tracestate was read sees the new one, whichever way it asks.
#[test]
fn tracestate_is_read_again_after_span_mut() {
    use otlp_simd::processor::EndingSpan;
    let mut rng = Rng(7);
    let mut span = span(&mut rng, &[InstrumentationScope::builder("s").build()]);
    let with = |ts: TraceState, s: &SpanData| {
        SpanContext::new(
            s.span_context.trace_id(),
            s.span_context.span_id(),
            TraceFlags::SAMPLED,
            false,
            ts,
        )
    };
    span.span_context = with(TraceState::from_str("a=b").unwrap(), &span);
    let mut ending = EndingSpan::new(&mut span, &[]);
    assert_eq!(ending.trace_state(), "a=b");
    assert!(ending.has_trace_state());
    let ctx = with(TraceState::NONE, ending.span());
    ending.span_mut().span_context = ctx;
    assert_eq!(ending.trace_state(), "");
    assert!(!ending.has_trace_state());
    let ctx = with(TraceState::from_str("c=d").unwrap(), ending.span());
    ending.span_mut().span_context = ctx;
    assert_eq!(ending.trace_state(), "c=d");
    assert!(ending.has_trace_state());
}

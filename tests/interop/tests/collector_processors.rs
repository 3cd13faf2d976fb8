//! Our processors against the Collector's: the same spans (and, for
//! sampling, redaction, attribute actions and filters, log records and
//! metrics) go through the contrib `probabilistic_sampler`, `redaction`,
//! `attributes` and `filter` processors (v0.165.0, built into the
//! Collector of `tests/collector/`) and through our
//! `ProbabilisticSampler`, `Redaction`, `Attributes` and `Filter`,
//! configured with the same settings (YAML there, our TOML here), and what
//! comes out must be equal item for item: the same spans kept, with the
//! same `tracestate`, and the same attributes, masked, hashed and
//! summarised alike.
//!
//! The Collector's pipeline is `otlp` receiver -> the processor ->
//! `otlp_grpc` exporter (no queue, no retry) -> our receiver; each export
//! to it returns once the forwarded request has been answered, so when the
//! last one returns everything the Collector kept has arrived.

use otlp_compression::Algorithm;
use otlp_core::proto::collector::trace::v1::ExportTraceServiceRequest;
use otlp_core::proto::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use otlp_core::proto::resource::v1::Resource;
use otlp_core::proto::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};
use otlp_core::{ExportRequest, Signal};
use otlp_exporter::processors::chain_from_toml;
use otlp_interop_tests::collector::{Collector, Exporter, Processor};
use otlp_transport::client::{OtlpClient, Payload};
use otlp_transport::receiver::{ReceivedRequest, Receiver, RunningReceiver};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(30);

/// Spans per sampling comparison.
const SPANS: usize = 100_000;
/// Spans per request.
const BATCH: usize = 5_000;

/// Our receiver on a runtime of its own, and a client to the Collector.
struct Bench {
    rt: tokio::runtime::Runtime,
    receiver: Option<RunningReceiver>,
    rx: mpsc::Receiver<ReceivedRequest>,
}

impl Bench {
    fn start() -> Bench {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let (receiver, rx) = rt
            .block_on(Receiver::builder().with_grpc_addr(any).serve_channel(1024))
            .unwrap();
        Bench {
            rt,
            receiver: Some(receiver),
            rx,
        }
    }

    fn grpc(&self) -> SocketAddr {
        self.receiver.as_ref().unwrap().grpc_addr().unwrap()
    }

    /// A Collector running `processor` and forwarding to this receiver.
    fn collector(&self, processor: Processor) -> Option<Collector> {
        Collector::start_traces_through_or_skip(&[processor], &[self.exporter()])
    }

    /// A Collector running `processor` on each of `signals`.
    fn collector_for(&self, signals: &[Signal], processor: Processor) -> Option<Collector> {
        Collector::start_through_or_skip(signals, &[processor], &[self.exporter()])
    }

    /// The Collector's exporter to this receiver.
    fn exporter(&self) -> Exporter {
        Exporter::new(
            "otlp_grpc",
            format!(
                "{{endpoint: \"{}\", tls: {{insecure: true}}, sending_queue: {{enabled: false}}, retry_on_failure: {{enabled: false}}}}",
                self.grpc()
            ),
        )
    }

    /// Sends each of `requests` through `collector` in turn and returns
    /// what came out, in order.
    fn through_each(
        &mut self,
        collector: &Collector,
        requests: &[ExportRequest],
    ) -> Vec<ExportRequest> {
        let client = OtlpClient::builder(otlp_transport::Protocol::Grpc)
            .with_endpoint(collector.grpc_endpoint())
            .with_timeout(WAIT)
            .build()
            .unwrap();
        let mut out = Vec::new();
        for request in requests {
            let body = request.encode_protobuf();
            self.rt
                .block_on(client.export(request.signal(), Payload::new(body, Algorithm::None)))
                .unwrap_or_else(|e| panic!("export to the Collector: {e}\n{}", collector.stderr()));
            // The forward has been answered: it has arrived.
            while let Ok(r) = self.rx.try_recv() {
                out.push(r.request);
            }
        }
        out
    }

    /// Sends `batches` through `collector` and returns every span that came
    /// out, with its resource's and scope's attributes, by span id.
    fn through(&mut self, collector: &Collector, batches: &[ExportTraceServiceRequest]) -> Spans {
        let client = OtlpClient::builder(otlp_transport::Protocol::Grpc)
            .with_endpoint(collector.grpc_endpoint())
            .with_timeout(WAIT)
            .build()
            .unwrap();
        for batch in batches {
            let body = ExportRequest::Traces(batch.clone()).encode_protobuf();
            self.rt
                .block_on(client.export(Signal::Traces, Payload::new(body, Algorithm::None)))
                .unwrap_or_else(|e| panic!("export to the Collector: {e}\n{}", collector.stderr()));
        }
        // Every forward has been answered: what arrived is all there is.
        let mut out = Spans::new();
        while let Ok(r) = self.rx.try_recv() {
            match r.request {
                ExportRequest::Traces(t) => collect(&t, &mut out),
                other => panic!("the Collector forwarded {:?}", other.signal()),
            }
        }
        out
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        if let Some(receiver) = self.receiver.take() {
            self.rt.block_on(receiver.shutdown());
        }
    }
}

/// Span id -> (resource attributes, scope attributes, span).
type Spans = BTreeMap<Vec<u8>, (Vec<KeyValue>, Vec<KeyValue>, Span)>;

fn collect(request: &ExportTraceServiceRequest, out: &mut Spans) {
    for rs in &request.resource_spans {
        let resource = rs
            .resource
            .as_ref()
            .map(|r| r.attributes.clone())
            .unwrap_or_default();
        for ss in &rs.scope_spans {
            let scope = ss
                .scope
                .as_ref()
                .map(|s| s.attributes.clone())
                .unwrap_or_default();
            for s in &ss.spans {
                let old = out.insert(
                    s.span_id.clone(),
                    (resource.clone(), scope.clone(), s.clone()),
                );
                assert!(old.is_none(), "span id {} twice", hex(&s.span_id));
            }
        }
    }
}

/// What our processors (from `toml`) make of `batches`.
fn ours(toml: &str, batches: &[ExportTraceServiceRequest]) -> Spans {
    let mut chain = chain_from_toml(toml).unwrap_or_else(|e| panic!("{e}\n{toml}"));
    let mut out = Spans::new();
    for batch in batches {
        let mut batch = batch.clone();
        chain.process(&mut batch);
        collect(&batch, &mut out);
    }
    out
}

/// What `chain` makes of each of `requests`, whatever its signal.
fn ours_each(
    chain: &mut otlp_exporter::processors::Chain,
    requests: &[ExportRequest],
) -> Vec<ExportRequest> {
    requests
        .iter()
        .cloned()
        .map(|r| match r {
            ExportRequest::Traces(mut t) => {
                chain.process(&mut t);
                ExportRequest::Traces(t)
            }
            ExportRequest::Logs(mut l) => {
                chain.process_logs(&mut l);
                ExportRequest::Logs(l)
            }
            ExportRequest::Metrics(mut m) => {
                chain.process_metrics(&mut m);
                ExportRequest::Metrics(m)
            }
            other => other,
        })
        .collect()
}

/// Fails naming the first differences, if `theirs` and `ours` differ.
fn assert_same(what: &str, theirs: &Spans, ours: &Spans) {
    if theirs == ours {
        return;
    }
    let mut report = format!(
        "{what}: the Collector kept {} spans, we kept {}\n",
        theirs.len(),
        ours.len()
    );
    let mut shown = 0;
    for id in theirs
        .keys()
        .chain(ours.keys())
        .collect::<std::collections::BTreeSet<_>>()
    {
        let (a, b) = (theirs.get(id), ours.get(id));
        if a == b {
            continue;
        }
        let (mut da, mut db) = (describe(a), describe(b));
        if da == db {
            (da, db) = (format!("{a:?}"), format!("{b:?}"));
        }
        report.push_str(&format!(
            "span {}:\n  Collector: {da}\n  ours:      {db}\n",
            hex(id)
        ));
        shown += 1;
        if shown == 8 {
            break;
        }
    }
    panic!("{report}");
}

fn describe(span: Option<&(Vec<KeyValue>, Vec<KeyValue>, Span)>) -> String {
    match span {
        None => "dropped".into(),
        Some((resource, scope, s)) => format!(
            "trace {} tracestate {:?} attributes {} resource {} scope {} events {:?}",
            hex(&s.trace_id),
            s.trace_state,
            attrs(&s.attributes),
            attrs(resource),
            attrs(scope),
            s.events
                .iter()
                .map(|e| attrs(&e.attributes))
                .collect::<Vec<_>>()
        ),
    }
}

fn attrs(kvs: &[KeyValue]) -> String {
    let items: Vec<String> = kvs
        .iter()
        .map(|kv| {
            let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => format!("{s:?}"),
                Some(any_value::Value::IntValue(i)) => i.to_string(),
                Some(any_value::Value::DoubleValue(d)) => format!("{d}f"),
                Some(any_value::Value::BoolValue(b)) => b.to_string(),
                other => format!("{other:?}"),
            };
            format!("{}={v}", kv.key)
        })
        .collect();
    format!("{{{}}}", items.join(", "))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// splitmix64: a fixed, seeded stream of random words.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn bytes<const N: usize>(&mut self) -> Vec<u8> {
        let mut out = Vec::with_capacity(N);
        while out.len() < N {
            out.extend_from_slice(&self.next().to_le_bytes());
        }
        out.truncate(N);
        out
    }
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn string(key: &str, value: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(value.into()))
}

fn request(
    spans: Vec<Span>,
    resource: Vec<KeyValue>,
    scope: Vec<KeyValue>,
) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: resource,
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "collector.processors".into(),
                    version: "1.0.0".into(),
                    attributes: scope,
                    ..Default::default()
                }),
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

// ------------------------------------------------------------ sampling

/// [`SPANS`] spans with random trace ids, in requests of [`BATCH`]. One in
/// ten carries what the sampler must look at: a threshold or explicit
/// randomness already in `tracestate` (valid or not, beside another
/// vendor's member), or a `sampling.priority` attribute.
fn sampling_batches(seed: u64) -> Vec<ExportTraceServiceRequest> {
    let mut rng = Rng(seed);
    let mut batches = Vec::new();
    let mut spans = Vec::with_capacity(BATCH);
    for i in 0..SPANS {
        let trace_id = rng.bytes::<16>();
        let span_id = rng.bytes::<8>();
        let start = 1_700_000_000_000_000_000 + i as u64 * 1_000;
        let mut s = Span {
            trace_id,
            span_id,
            name: "GET /items".into(),
            kind: span::SpanKind::Server as i32,
            start_time_unix_nano: start,
            end_time_unix_nano: start + 250_000,
            flags: 0x101,
            status: Some(Status::default()),
            ..Default::default()
        };
        if i % 10 == 0 {
            let rv = rng.next() & ((1 << 56) - 1);
            match (i / 10) % 12 {
                0 => s.trace_state = "ot=th:8".into(),
                1 => s.trace_state = "ot=th:c".into(),
                2 => s.trace_state = "ot=th:0".into(),
                3 => s.trace_state = format!("ot=rv:{rv:014x}"),
                4 => s.trace_state = "vendor=x,ot=th:e".into(),
                5 => s.trace_state = "ot=th:zz".into(),
                6 => s
                    .attributes
                    .push(kv("sampling.priority", any_value::Value::IntValue(0))),
                7 => s
                    .attributes
                    .push(kv("sampling.priority", any_value::Value::IntValue(1))),
                8 => s.attributes.push(string("sampling.priority", "5")),
                9 => s
                    .attributes
                    .push(kv("sampling.priority", any_value::Value::DoubleValue(0.0))),
                10 => s.trace_state = format!("ot=rv:{rv:014x};th:4"),
                _ => s.trace_state = "other=1".into(),
            }
        }
        // Kept by priority whatever the rate, with a tracestate that does
        // not parse in part (what the Collector keeps of it is written
        // back), or with none.
        let many: Vec<String> = (0..33).map(|k| format!("k{k}=v")).collect();
        match i % 70 {
            35 => s.trace_state = "vendor=x,ot=th:zz;foo:bar,b=2".into(),
            45 => s.trace_state = "ot=rv:abc;th:8,other=2".into(),
            55 => s.trace_state = many.join(","),
            65 => s.trace_state = format!("{},", many[..31].join(",")),
            _ => {}
        }
        if i % 70 >= 35 && i % 10 == 5 {
            s.attributes
                .push(kv("sampling.priority", any_value::Value::IntValue(1)));
        }
        // No trace id: missing randomness.
        if i % 97 == 7 {
            s.trace_id = Vec::new();
        }
        spans.push(s);
        if spans.len() == BATCH {
            batches.push(request(
                std::mem::take(&mut spans),
                vec![string("service.name", "checkout")],
                vec![],
            ));
        }
    }
    batches
}

fn sample_like_the_collector(mode: &str, extra_yaml: &str, extra_toml: &str, pct: f32) {
    let batches = sampling_batches(0x5eed ^ u64::from(pct.to_bits()));
    let mut bench = Bench::start();
    let yaml = format!("{{mode: {mode}, sampling_percentage: {pct}{extra_yaml}}}");
    let Some(collector) = bench.collector(Processor::new("probabilistic_sampler", yaml)) else {
        return;
    };
    let theirs = bench.through(&collector, &batches);
    let toml = format!(
        "[[processor]]\ntype = \"probabilistic_sampler\"\nmode = \"{mode}\"\nsampling_percentage = {pct:?}\n{extra_toml}"
    );
    let ours = ours(&toml, &batches);
    assert!(
        !theirs.is_empty() && theirs.len() < SPANS,
        "the Collector kept {} of {SPANS}",
        theirs.len()
    );
    assert_same(&format!("{mode} at {pct}%"), &theirs, &ours);
}

#[test]
fn proportional_sampling_keeps_what_the_collector_keeps() {
    sample_like_the_collector("proportional", "", "", 25.0);
}

#[test]
fn equalizing_sampling_keeps_what_the_collector_keeps() {
    sample_like_the_collector("equalizing", "", "", 10.0);
}

#[test]
fn the_default_mode_failing_open_keeps_what_the_collector_keeps() {
    // No mode: hash_seed, as in the Collector.
    let batches = sampling_batches(0xdef);
    let mut bench = Bench::start();
    let Some(collector) = bench.collector(Processor::new(
        "probabilistic_sampler",
        "{sampling_percentage: 40, fail_closed: false}",
    )) else {
        return;
    };
    let theirs = bench.through(&collector, &batches);
    let ours = ours(
        "[[processor]]\ntype = \"probabilistic_sampler\"\nsampling_percentage = 40.0\nfail_closed = false\n",
        &batches,
    );
    assert_same("default mode at 40%, fail open", &theirs, &ours);
}

#[test]
fn sampling_nothing_keeps_what_the_collector_keeps() {
    for fail_closed in [true, false] {
        let batches = sampling_batches(0x0);
        let mut bench = Bench::start();
        let Some(collector) = bench.collector(Processor::new(
            "probabilistic_sampler",
            format!("{{sampling_percentage: 0, fail_closed: {fail_closed}}}"),
        )) else {
            return;
        };
        let theirs = bench.through(&collector, &batches);
        let ours = ours(
            &format!("[[processor]]\ntype = \"probabilistic_sampler\"\nsampling_percentage = 0.0\nfail_closed = {fail_closed}\n"),
            &batches,
        );
        // Only spans with a positive priority are kept.
        assert!(!theirs.is_empty() && theirs.len() < SPANS / 10);
        assert_same(&format!("0%, fail_closed {fail_closed}"), &theirs, &ours);
    }
}

#[test]
fn hash_seed_sampling_keeps_what_the_collector_keeps() {
    sample_like_the_collector("hash_seed", ", hash_seed: 22", "hash_seed = 22\n", 33.3);
}

#[test]
fn proportional_sampling_with_precision_and_fail_open_keeps_what_the_collector_keeps() {
    sample_like_the_collector(
        "proportional",
        ", sampling_precision: 2, fail_closed: false",
        "sampling_precision = 2\nfail_closed = false\n",
        1.0 / 3.0 * 100.0,
    );
}

/// Log records per sampling comparison.
const RECORDS: usize = 20_000;

/// Log records with random trace ids (some without), and among them the
/// sampling attributes (`sampling.threshold`, `sampling.randomness`, valid,
/// unparsable, of the wrong type), a priority attribute of every type and
/// range, and a `log.id` of every type to hash, in requests of 5,000 over
/// two resources and scopes.
fn log_sampling_requests(seed: u64) -> Vec<ExportRequest> {
    use any_value::Value as V;
    use otlp_core::proto::collector::logs::v1::ExportLogsServiceRequest;
    use otlp_core::proto::common::v1::{ArrayValue, KeyValueList};
    use otlp_core::proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    let mut rng = Rng(seed);
    let mut requests = Vec::new();
    let mut records = Vec::with_capacity(BATCH);
    for i in 0..RECORDS {
        let mut attributes = vec![string("k", "v")];
        // No trace id (which the Collector forwards as empty).
        let trace_id = if i % 9 == 4 {
            Vec::new()
        } else {
            rng.bytes::<16>()
        };
        let rv = rng.next() & ((1 << 56) - 1);
        match (i / 3) % 16 {
            0 => attributes.push(string("sampling.threshold", "8")),
            1 => attributes.push(string("sampling.threshold", "c")),
            2 => attributes.push(string("sampling.threshold", "0")),
            3 => attributes.push(string("sampling.threshold", "zz")),
            4 => attributes.push(kv("sampling.threshold", V::IntValue(3))),
            5 => attributes.push(string("sampling.randomness", &format!("{rv:014x}"))),
            6 => attributes.push(string("sampling.randomness", "abc")),
            7 => {
                attributes.push(string("sampling.randomness", &format!("{rv:014x}")));
                attributes.push(string("sampling.threshold", "e"));
            }
            _ => {}
        }
        match i % 11 {
            0 => attributes.push(kv("prio", V::IntValue(0))),
            1 => attributes.push(kv("prio", V::IntValue(10))),
            2 => attributes.push(kv("prio", V::IntValue(150))),
            3 => attributes.push(kv("prio", V::DoubleValue(33.3))),
            4 => attributes.push(string("prio", "5")),
            5 => attributes.push(kv("prio", V::IntValue(-5))),
            _ => {}
        }
        let id = rng.next();
        match i % 13 {
            0..=3 => attributes.push(string("log.id", &format!("{id:x}"))),
            4 => attributes.push(kv("log.id", V::IntValue(id as i64))),
            5 => attributes.push(kv("log.id", V::BytesValue(id.to_le_bytes().to_vec()))),
            6 => attributes.push(kv(
                "log.id",
                V::KvlistValue(KeyValueList {
                    values: vec![
                        kv("n", V::IntValue(id as i64 & 0xffff)),
                        string("a", "<&>"),
                        kv("d", V::DoubleValue((id & 0xff) as f64 / 7.0)),
                    ],
                }),
            )),
            7 => attributes.push(kv(
                "log.id",
                V::ArrayValue(ArrayValue {
                    values: vec![
                        AnyValue {
                            value: Some(V::BoolValue(id & 1 == 1)),
                        },
                        AnyValue { value: None },
                        AnyValue {
                            value: Some(V::StringValue(format!("{id:o}"))),
                        },
                    ],
                }),
            )),
            8 => attributes.push(string("log.id", "")),
            _ => {}
        }
        records.push(LogRecord {
            time_unix_nano: 1_700_000_000_000_000_000 + i as u64,
            severity_number: 9,
            body: Some(AnyValue {
                value: Some(V::StringValue(format!("record {i}"))),
            }),
            trace_id,
            span_id: rng.bytes::<8>(),
            attributes,
            ..LogRecord::default()
        });
        if records.len() == BATCH {
            let mut rest = std::mem::take(&mut records);
            let second = rest.split_off(BATCH / 2);
            let resource = |name: &str| {
                Some(Resource {
                    attributes: vec![string("service.name", name)],
                    ..Resource::default()
                })
            };
            let scope = |records: Vec<LogRecord>| ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: "app".into(),
                    ..InstrumentationScope::default()
                }),
                log_records: records,
                ..ScopeLogs::default()
            };
            let mut half = rest;
            let quarter = half.split_off(BATCH / 4);
            requests.push(ExportRequest::Logs(ExportLogsServiceRequest {
                resource_logs: vec![
                    ResourceLogs {
                        resource: resource("checkout"),
                        scope_logs: vec![scope(half), scope(quarter)],
                        ..ResourceLogs::default()
                    },
                    ResourceLogs {
                        resource: resource("cart"),
                        scope_logs: vec![scope(second)],
                        ..ResourceLogs::default()
                    },
                ],
            }));
        }
    }
    requests
}

/// The Collector's `probabilistic_sampler` and ours on the same log
/// records with the settings given as YAML there and TOML here: the same
/// requests come out, records and their attributes alike.
fn sample_logs_like_the_collector(what: &str, yaml: &str, toml: &str) {
    use otlp_core::proto::collector::logs::v1::ExportLogsServiceRequest;
    let requests = log_sampling_requests(0x10c5 ^ yaml.len() as u64);
    let mut bench = Bench::start();
    let Some(collector) = bench.collector_for(
        &[Signal::Logs],
        Processor::new("probabilistic_sampler", format!("{{{yaml}}}")),
    ) else {
        return;
    };
    let theirs = bench.through_each(&collector, &requests);
    let toml = format!("[[processor]]\ntype = \"probabilistic_sampler\"\n{toml}");
    let mut chain = chain_from_toml(&toml).unwrap_or_else(|e| panic!("{e}\n{toml}"));
    // The Collector forwards nothing for a request it empties.
    let ours: Vec<ExportRequest> = ours_each(&mut chain, &requests)
        .into_iter()
        .filter(|r| !matches!(r, ExportRequest::Logs(l) if l.resource_logs.is_empty()))
        .collect();
    let count = |rs: &[ExportRequest]| -> usize {
        rs.iter()
            .map(|r| match r {
                ExportRequest::Logs(l) => l
                    .resource_logs
                    .iter()
                    .flat_map(|r| &r.scope_logs)
                    .map(|s| s.log_records.len())
                    .sum(),
                _ => 0,
            })
            .sum()
    };
    let kept = count(&theirs);
    assert!(
        kept > 0 && kept < RECORDS,
        "{what}: the Collector kept {kept} of {RECORDS}"
    );
    assert_eq!(
        theirs.len(),
        ours.len(),
        "{what}: requests forwarded by the Collector and by us"
    );
    for (t, o) in theirs.iter().zip(&ours) {
        if t == o {
            continue;
        }
        let records = |r: &ExportRequest| match r {
            ExportRequest::Logs(ExportLogsServiceRequest { resource_logs }) => resource_logs
                .iter()
                .flat_map(|r| &r.scope_logs)
                .flat_map(|s| s.log_records.clone())
                .collect::<Vec<_>>(),
            _ => Vec::new(),
        };
        let (tr, or) = (records(t), records(o));
        let first = tr.iter().zip(&or).position(|(a, b)| a != b);
        panic!(
            "{what}: the Collector kept {} records of a request, we kept {}; first difference at {first:?}:\n  Collector: {:?}\n  ours:      {:?}",
            tr.len(),
            or.len(),
            first.map(|i| &tr[i]),
            first.map(|i| &or[i]),
        );
    }
    assert_eq!(count(&ours), kept);
}

#[test]
fn log_sampling_by_trace_id_keeps_what_the_collector_keeps() {
    sample_logs_like_the_collector(
        "proportional 25%",
        "mode: proportional, sampling_percentage: 25, sampling_priority: prio",
        "mode = \"proportional\"\nsampling_percentage = 25.0\nsampling_priority = \"prio\"\n",
    );
    sample_logs_like_the_collector(
        "equalizing 10%, fail open, precision 6",
        "mode: equalizing, sampling_percentage: 10, fail_closed: false, sampling_precision: 6",
        "mode = \"equalizing\"\nsampling_percentage = 10.0\nfail_closed = false\nsampling_precision = 6\n",
    );
    sample_logs_like_the_collector(
        "0% with priorities",
        "sampling_percentage: 0, sampling_priority: prio, fail_closed: false",
        "sampling_percentage = 0.0\nsampling_priority = \"prio\"\nfail_closed = false\n",
    );
}

#[test]
fn log_sampling_by_hash_keeps_what_the_collector_keeps() {
    sample_logs_like_the_collector(
        "the default mode (hash_seed) at 33.3% on trace ids, else log.id",
        "hash_seed: 22, sampling_percentage: 33.3, from_attribute: log.id, sampling_priority: prio",
        "hash_seed = 22\nsampling_percentage = 33.3\nfrom_attribute = \"log.id\"\nsampling_priority = \"prio\"\n",
    );
    sample_logs_like_the_collector(
        "log.id 50%, fail open",
        "attribute_source: record, from_attribute: log.id, hash_seed: 7, sampling_percentage: 50, fail_closed: false",
        "attribute_source = \"record\"\nfrom_attribute = \"log.id\"\nhash_seed = 7\nsampling_percentage = 50.0\nfail_closed = false\n",
    );
}

// ----------------------------------------------------------- redaction

/// Spans whose attributes (and their events', resources' and scopes')
/// hold e-mail addresses, card numbers and tokens, among harmless values
/// and keys no configuration allows; some carry the summary of a redaction
/// step upstream.
fn redaction_batches() -> Vec<ExportTraceServiceRequest> {
    let values = [
        "alice@corp.io",
        "bob@example.com",
        "paid with 4111111111111111 today",
        "4012888888881881",
        "Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig",
        "nothing to see",
        "mail carol@corp.io and 5555555555554444 or dave@example.com",
        "",
    ];
    let keys = [
        "user.email",
        "contact",
        "card",
        "payment",
        "auth.token",
        "note",
        "safe",
        "secret",
        "http.request.header.authorization",
    ];
    let mut rng = Rng(7);
    let mut batches = Vec::new();
    for b in 0..4 {
        let mut spans = Vec::new();
        for i in 0..64 {
            let mut attributes = Vec::new();
            for (k, key) in keys.iter().enumerate() {
                if (i + k) % 3 != 0 {
                    attributes.push(string(key, values[(i * 7 + k * 3 + b) % values.len()]));
                }
            }
            attributes.push(kv("count", any_value::Value::IntValue(i as i64)));
            attributes.push(kv("ratio", any_value::Value::DoubleValue(0.5)));
            attributes.push(kv("flag", any_value::Value::BoolValue(i % 2 == 0)));
            if i % 4 == 1 {
                // A map and a list, which pdata reads as JSON.
                use otlp_core::proto::common::v1::{ArrayValue, KeyValueList};
                let v = |x: any_value::Value| AnyValue { value: Some(x) };
                attributes.push(kv(
                    "profile",
                    any_value::Value::KvlistValue(KeyValueList {
                        values: vec![
                            string("mail", values[i % values.len()]),
                            kv("n", any_value::Value::DoubleValue(i as f64 / 3.0)),
                            string("a&b", "<x>"),
                        ],
                    }),
                ));
                attributes.push(kv(
                    "cards",
                    any_value::Value::ArrayValue(ArrayValue {
                        values: vec![
                            v(any_value::Value::StringValue(
                                values[(i + 1) % values.len()].into(),
                            )),
                            v(any_value::Value::IntValue(i as i64)),
                        ],
                    }),
                ));
            }
            if i % 5 == 0 {
                // A summary written by a redaction step upstream.
                attributes.push(string("redaction.redacted.keys", "x"));
                attributes.push(kv(
                    "redaction.redacted.count",
                    any_value::Value::IntValue(1),
                ));
                // Allowed and ignored counts, which a redaction counts
                // afresh (replacing them, or removing them for none).
                attributes.push(string("redaction.allowed.keys", "y"));
                attributes.push(kv("redaction.allowed.count", any_value::Value::IntValue(5)));
                if i % 10 == 0 {
                    attributes.push(kv("redaction.ignored.count", any_value::Value::IntValue(3)));
                }
            }
            let events = vec![span::Event {
                time_unix_nano: 1_700_000_000_000_000_000,
                name: "login".into(),
                attributes: vec![
                    string("event.note", values[i % values.len()]),
                    string("secret", "x"),
                ],
                dropped_attributes_count: 0,
            }];
            spans.push(Span {
                trace_id: rng.bytes::<16>(),
                span_id: rng.bytes::<8>(),
                name: "POST /pay".into(),
                kind: span::SpanKind::Server as i32,
                start_time_unix_nano: 1_700_000_000_000_000_000,
                end_time_unix_nano: 1_700_000_000_001_000_000,
                attributes,
                events,
                status: Some(Status::default()),
                ..Default::default()
            });
        }
        batches.push(request(
            spans,
            vec![
                string("service.name", "payments"),
                string("owner.email", "team@corp.io"),
            ],
            vec![string("scope.card", "4111111111111111")],
        ));
    }
    batches
}

const EMAIL: &str = "[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\\.[a-z]{2,}";
const VISA_OR_MC: &str = "(?:4[0-9]{12}(?:[0-9]{3})?|5[1-5][0-9]{14})";

fn redact_like_the_collector(yaml: &str, toml: &str) {
    let batches = redaction_batches();
    let mut bench = Bench::start();
    let Some(collector) = bench.collector(Processor::new("redaction", yaml)) else {
        return;
    };
    let theirs = bench.through(&collector, &batches);
    let ours = ours(
        &format!("[[processor]]\ntype = \"redaction\"\n{toml}"),
        &batches,
    );
    assert_eq!(theirs.len(), 4 * 64, "the Collector forwarded every span");
    assert_same("redaction", &theirs, &ours);
}

fn yaml_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("{i:?}")).collect();
    format!("[{}]", quoted.join(", "))
}

fn toml_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("'{i}'")).collect();
    format!("[{}]", quoted.join(", "))
}

/// A URL-like text from `rng`: a method now and then, up to a dozen
/// segments of words, numbers, identifiers, random letters, versions and
/// non-ASCII text, a query string or fragment now and then.
fn url_text(rng: &mut Rng) -> String {
    const WORDS: [&str; 14] = [
        "users",
        "orders",
        "api",
        "v1",
        "v2",
        "products",
        "cart",
        "getquote",
        "user_space",
        "k6-test-runs",
        "hello.world",
        "Benutzer",
        "items",
        "",
    ];
    const ODD: [&str; 10] = [
        "café",
        "ü",
        "x1",
        "v1.2",
        "**",
        "a b",
        "GET users",
        "é1",
        "ok-_.",
        "2024-01-31",
    ];
    let mut pick = |n: u64| (rng.next() % n) as usize;
    let mut out = String::new();
    if pick(3) == 0 {
        out.push_str(["GET ", "POST ", "HTTP GET ", "DELETE "][pick(4)]);
    }
    let segments = 1 + pick(13);
    for _ in 0..segments {
        if pick(8) != 0 {
            out.push('/');
        }
        match pick(6) {
            0 | 1 => out.push_str(WORDS[pick(WORDS.len() as u64)]),
            2 => out.push_str(&(pick(100_000)).to_string()),
            3 => out.push_str(&format!("{:x}-{:x}", pick(1 << 32), pick(1 << 16))),
            4 => {
                // Random letters, which the letter-pair model scores.
                let n = 2 + pick(10);
                for _ in 0..n {
                    out.push((b'a' + pick(26) as u8) as char);
                }
            }
            _ => out.push_str(ODD[pick(ODD.len() as u64)]),
        }
    }
    match pick(8) {
        0 => out.push_str("?id=42&x=y"),
        1 => out.push_str("#top"),
        2 => out.push('&'),
        _ => {}
    }
    out
}

/// Spans with URLs in their names and in attributes, of every kind, some
/// with HTTP attributes.
fn url_batches() -> Vec<ExportTraceServiceRequest> {
    let mut rng = Rng(11);
    let kinds = [
        span::SpanKind::Client,
        span::SpanKind::Server,
        span::SpanKind::Internal,
        span::SpanKind::Producer,
    ];
    let mut batches = Vec::new();
    for _ in 0..4 {
        let mut spans = Vec::new();
        for i in 0..128 {
            let mut attributes = vec![
                string("http.url", &url_text(&mut rng)),
                string("url.path", &url_text(&mut rng)),
                string("note", &url_text(&mut rng)),
                kv("count", any_value::Value::IntValue(i as i64)),
            ];
            if i % 3 == 0 {
                attributes.push(string("http.route", "/users/{id}"));
            }
            spans.push(Span {
                trace_id: rng.bytes::<16>(),
                span_id: rng.bytes::<8>(),
                name: url_text(&mut rng),
                kind: kinds[i % kinds.len()] as i32,
                start_time_unix_nano: 1_700_000_000_000_000_000,
                end_time_unix_nano: 1_700_000_000_001_000_000,
                attributes,
                status: Some(Status::default()),
                ..Default::default()
            });
        }
        batches.push(request(
            spans,
            vec![string("service.name", "shop"), string("http.url", "/a/1")],
            vec![],
        ));
    }
    batches
}

#[test]
fn redaction_url_sanitizer_matches_the_collector() {
    let batches = url_batches();
    let mut bench = Bench::start();
    for (yaml, toml) in [
        (
            "{allow_all_keys: true, summary: debug, url_sanitizer: {enabled: true, attributes: [\"http.url\", \"url.path\"]}}",
            "allow_all_keys = true\nsummary = \"debug\"\nurl_sanitizer = { enabled = true, attributes = ['http.url', 'url.path'] }\n",
        ),
        (
            "{allow_all_keys: true, summary: info, allowed_values: [\"^/api/\"], blocked_values: [\"[0-9]{5}\"], url_sanitizer: {enabled: true, attributes: [\"http.url\"], sanitize_span_name: false}}",
            "allow_all_keys = true\nsummary = \"info\"\nallowed_values = ['^/api/']\nblocked_values = ['[0-9]{5}']\nurl_sanitizer = { enabled = true, attributes = ['http.url'], sanitize_span_name = false }\n",
        ),
        (
            "{allowed_keys: [\"note\", \"count\", \"service.name\"], summary: info, allowed_values: [\"^GET /api\"], url_sanitizer: {enabled: true, attributes: [\"note\"]}}",
            "allowed_keys = ['note', 'count', 'service.name']\nsummary = \"info\"\nallowed_values = ['^GET /api']\nurl_sanitizer = { enabled = true, attributes = ['note'] }\n",
        ),
    ] {
        let Some(collector) = bench.collector(Processor::new("redaction", yaml)) else {
            return;
        };
        let theirs = bench.through(&collector, &batches);
        let ours = ours(&format!("[[processor]]\ntype = \"redaction\"\n{toml}"), &batches);
        assert_eq!(theirs.len(), 4 * 128, "the Collector forwarded every span");
        // The sanitizer changed values, and names where it may, in this
        // data (the comparison cannot pass by doing nothing on both sides).
        let mut before = Spans::new();
        for batch in &batches {
            collect(batch, &mut before);
        }
        let changed = |f: &dyn Fn(&Span) -> String| {
            ours.iter()
                .filter(|(id, (_, _, s))| before.get(*id).is_some_and(|b| f(&b.2) != f(s)))
                .count()
        };
        assert!(changed(&|s: &Span| format!("{:?}", s.attributes)) > 100, "{yaml}");
        let names = changed(&|s: &Span| s.name.clone());
        assert_eq!(names > 100, !yaml.contains("sanitize_span_name: false"), "{yaml}: {names}");
        assert_same(&format!("url_sanitizer {yaml}"), &theirs, &ours);
    }
}

/// A database statement of family `family` (0 SQL, 1 Redis, 2
/// Memcached, 3 JSON, 4 plain text), built from random pieces: literals
/// of every kind, comments, dialect quirks, several commands, invalid
/// JSON now and then.
fn db_text(rng: &mut Rng, family: usize) -> String {
    let mut pick = |n: u64| (rng.next() % n) as usize;
    let mut out = String::new();
    match family {
        0 => {
            const SQL: [&str; 34] = [
                "SELECT * FROM users WHERE id = ",
                "select name, email from customers where email = ",
                "INSERT INTO orders (id, total, note) VALUES (",
                "UPDATE accounts SET balance = ",
                "DELETE FROM sessions WHERE expires < ",
                " AND ",
                " OR flag = ",
                ", ",
                ")",
                " WHERE tenant IN (",
                " -- trailing note 42\n",
                " /* hint 7 */ ",
                " # mysql comment 9\n",
                " `order` ",
                " \"quoted id 3\" ",
                " [bracket 4] ",
                " LIMIT ",
                " OFFSET ",
                " $1 ",
                " ? ",
                " :name ",
                " @var ",
                " table1.col2 ",
                " x->>'path' ",
                " IS NULL ",
                " = TRUE ",
                " = false ",
                " $$body 5$$ ",
                " $fn$ select 1 $fn$ ",
                "; SELECT 1",
                " café = 'ü' ",
                " CALL proc(",
                " E'esc\\'d' ",
                " N'unicode' ",
            ];
            const LIT: [&str; 14] = [
                "42",
                "-7",
                "3.25",
                "1e9",
                "0x1F",
                "'bob'",
                "'it''s'",
                "'unterminated",
                "\"double\"",
                "'jane@corp.io'",
                "'4111111111111111'",
                "NULL",
                "true",
                "''",
            ];
            let n = 2 + pick(8);
            for _ in 0..n {
                out.push_str(SQL[pick(SQL.len() as u64)]);
                if pick(2) == 0 {
                    out.push_str(LIT[pick(LIT.len() as u64)]);
                }
            }
        }
        1 => {
            const CMD: [&str; 22] = [
                "SET user:1 secret",
                "set k \"quoted value\" EX 60",
                "GET user:1",
                "HMSET h f1 v1 f2 v2",
                "HSET h field value",
                "AUTH s3cr3t",
                "APPEND k tail",
                "GETSET k new",
                "LPUSHX list v",
                "ZADD z 1 m1 2 m2",
                "GEOADD g 13.3 52.5 berlin",
                "BITFIELD b SET i8 0 100",
                "CONFIG SET requirepass hunter2",
                "MIGRATE host 6379 key 0 5000 AUTH pw",
                "SETEX k 10 v",
                "EXPIRE k 30",
                "DEL a b c",
                "UNKNOWN cmd arg",
                "set k 'single quoted' ",
                "  INCRBY counter 5",
                "EVAL \"return 1\" 0",
                "",
            ];
            let n = 1 + pick(4);
            for i in 0..n {
                if i > 0 {
                    out.push_str(["\n", "\r\n", "\n\n"][pick(3)]);
                }
                out.push_str(CMD[pick(CMD.len() as u64)]);
            }
        }
        2 => {
            const CMD: [&str; 8] = [
                "set k 0 0 5\r\nhello",
                "get k",
                " add key 0 60 3\r\nabc\r\n",
                "incr counter 7",
                "cas k 0 0 1 9\r\nx",
                "delete k\r\n",
                "gets a b c",
                "  \r\n",
            ];
            out.push_str(CMD[pick(CMD.len() as u64)]);
        }
        3 => {
            const JSON: [&str; 12] = [
                "{\"find\":\"users\",\"filter\":{\"age\":{\"$gt\":30},\"name\":\"bob\"}}",
                "{\"query\":{\"match\":{\"email\":\"jane@corp.io\"}},\"size\":10}",
                "[1, 2, {\"a\": [true, null, -0.5e3]}]",
                " {\"insert\": \"orders\", \"documents\": [{\"total\": 12.5, \"card\": \"4111111111111111\"}]} ",
                "\"just a string\"",
                "42",
                "{\"a\": \"\\u00e9\\n\", \"b\": {}}",
                "{\"trailing\": 1,}",
                "{'single': 1}",
                "{\"unterminated\": ",
                "{\"a\":1} extra",
                "",
            ];
            out.push_str(JSON[pick(JSON.len() as u64)]);
        }
        _ => {
            const TEXT: [&str; 6] = [
                "user 1234 logged in",
                "GET /users/42",
                "payment of 12.50 failed",
                "plain words",
                "select the best 3",
                "a/b/c",
            ];
            out.push_str(TEXT[pick(TEXT.len() as u64)]);
        }
    }
    out
}

/// The family of statements a `db.system.name` value usually carries.
fn db_family(system: &str) -> usize {
    match system.to_ascii_lowercase().as_str() {
        "mysql" | "postgresql" | "other_sql" | "mariadb" | "sqlite" => 0,
        "redis" | "valkey" => 1,
        "memcached" => 2,
        "mongodb" | "opensearch" | "elasticsearch" => 3,
        _ => 4,
    }
}

/// The `db.system.name` (or `db.system`) values of [`db_batches`]: every
/// system the sanitizer knows, in other cases too, and some it does not.
const DB_SYSTEMS: [&str; 16] = [
    "mysql",
    "postgresql",
    "other_sql",
    "mariadb",
    "sqlite",
    "redis",
    "valkey",
    "memcached",
    "mongodb",
    "opensearch",
    "elasticsearch",
    "MySQL",
    "REDIS",
    "cassandra",
    "",
    "none",
];

/// 4 batches of 128 spans of every kind, with database statements (of
/// the span's system, now and then of another) in their names, in
/// `db.statement`, `db.query.text` and `note`, the system in
/// `db.system.name`, in `db.system`, in both or in neither, and events
/// with statements and systems of their own; a few names with `/` and
/// HTTP attributes for the URL sanitizer.
fn db_batches() -> Vec<ExportTraceServiceRequest> {
    let mut rng = Rng(23);
    let kinds = [
        span::SpanKind::Client,
        span::SpanKind::Server,
        span::SpanKind::Internal,
        span::SpanKind::Producer,
        span::SpanKind::Consumer,
    ];
    let mut batches = Vec::new();
    for _ in 0..4 {
        let mut spans = Vec::new();
        for i in 0..128 {
            let system = DB_SYSTEMS[(rng.next() % DB_SYSTEMS.len() as u64) as usize];
            let mut family = db_family(system);
            if rng.next().is_multiple_of(6) {
                family = (rng.next() % 5) as usize;
            }
            let mut attributes = vec![
                string("db.statement", &db_text(&mut rng, family)),
                string("db.query.text", &db_text(&mut rng, family)),
                string("note", &db_text(&mut rng, family)),
                kv("count", any_value::Value::IntValue(i as i64)),
            ];
            match i % 4 {
                0 => attributes.push(string("db.system.name", system)),
                1 => attributes.push(string("db.system", system)),
                2 => {
                    attributes.push(string("db.system", "redis"));
                    attributes.push(string("db.system.name", system));
                }
                _ => {}
            }
            if i % 7 == 0 {
                attributes.push(string("http.route", "/users/{id}"));
            }
            let name = if i % 9 == 0 {
                url_text(&mut rng)
            } else {
                db_text(&mut rng, family)
            };
            let event_system = DB_SYSTEMS[(rng.next() % DB_SYSTEMS.len() as u64) as usize];
            let events = vec![span::Event {
                time_unix_nano: 1_700_000_000_000_500_000,
                name: "query".into(),
                attributes: vec![
                    string("db.system.name", event_system),
                    string("db.statement", &db_text(&mut rng, db_family(event_system))),
                ],
                dropped_attributes_count: 0,
            }];
            spans.push(Span {
                trace_id: rng.bytes::<16>(),
                span_id: rng.bytes::<8>(),
                name,
                kind: kinds[i % kinds.len()] as i32,
                start_time_unix_nano: 1_700_000_000_000_000_000,
                end_time_unix_nano: 1_700_000_000_001_000_000,
                attributes,
                events,
                status: Some(Status::default()),
                ..Default::default()
            });
        }
        batches.push(request(
            spans,
            vec![
                string("service.name", "shop"),
                string("db.system.name", "mysql"),
                string("db.statement", "SELECT 1 FROM dual WHERE a = 'x'"),
            ],
            vec![],
        ));
    }
    batches
}

/// Every obfuscator of the Collector's `db_sanitizer` enabled.
const DB_ALL: &str = "sql: {enabled: true, attributes: [db.statement, db.query.text]}, redis: {enabled: true, attributes: [db.statement]}, valkey: {enabled: true, attributes: [db.statement, note]}, memcached: {enabled: true, attributes: [db.statement, note]}, mongo: {enabled: true, attributes: [db.statement, db.query.text]}, opensearch: {enabled: true}, es: {enabled: true}";
const DB_ALL_TOML: &str = "sql = { enabled = true, attributes = ['db.statement', 'db.query.text'] }\nredis = { enabled = true, attributes = ['db.statement'] }\nvalkey = { enabled = true, attributes = ['db.statement', 'note'] }\nmemcached = { enabled = true, attributes = ['db.statement', 'note'] }\nmongo = { enabled = true, attributes = ['db.statement', 'db.query.text'] }\nopensearch = { enabled = true }\nes = { enabled = true }\n";

/// The Collector's `db_sanitizer` and ours on [`db_batches`]: attributes
/// with span names off; span names alone (the obfuscators list no
/// attributes: the Collector's pooled SQL obfuscator keeps the dialect of
/// the last span name for the attributes after it, a difference the docs
/// name) with the URL sanitizer before them and an allowed value; and
/// attributes with allowed keys that remove the system.
#[test]
fn redaction_db_sanitizer_matches_the_collector() {
    let batches = db_batches();
    let names_only = "sql: {enabled: true}, redis: {enabled: true}, valkey: {enabled: true}, memcached: {enabled: true}, mongo: {enabled: true}, opensearch: {enabled: true}, es: {enabled: true}";
    let names_only_toml = "sql = { enabled = true }\nredis = { enabled = true }\nvalkey = { enabled = true }\nmemcached = { enabled = true }\nmongo = { enabled = true }\nopensearch = { enabled = true }\nes = { enabled = true }\n";
    let configs = [
        (
            format!("{{allow_all_keys: true, summary: debug, db_sanitizer: {{{DB_ALL}, sanitize_span_name: false}}}}"),
            format!("allow_all_keys = true\nsummary = \"debug\"\n[processor.db_sanitizer]\nsanitize_span_name = false\n{DB_ALL_TOML}"),
            false,
        ),
        (
            format!("{{allow_all_keys: true, summary: info, allowed_values: [\"^select name\"], url_sanitizer: {{enabled: true}}, db_sanitizer: {{{names_only}}}}}"),
            format!("allow_all_keys = true\nsummary = \"info\"\nallowed_values = ['^select name']\nurl_sanitizer = {{ enabled = true }}\n[processor.db_sanitizer]\n{names_only_toml}"),
            true,
        ),
        (
            format!("{{allowed_keys: [db.statement, db.query.text, note, count, service.name], summary: info, blocked_values: [\"4[0-9]{{15}}\"], db_sanitizer: {{{DB_ALL}, sanitize_span_name: false}}}}"),
            format!("allowed_keys = ['db.statement', 'db.query.text', 'note', 'count', 'service.name']\nsummary = \"info\"\nblocked_values = ['4[0-9]{{15}}']\n[processor.db_sanitizer]\nsanitize_span_name = false\n{DB_ALL_TOML}"),
            false,
        ),
    ];
    let mut bench = Bench::start();
    for (yaml, toml, names_on) in configs {
        let Some(collector) = bench.collector(Processor::new("redaction", &yaml)) else {
            return;
        };
        let theirs = bench.through(&collector, &batches);
        let ours = ours(
            &format!("[[processor]]\ntype = \"redaction\"\n{toml}"),
            &batches,
        );
        assert_eq!(theirs.len(), 4 * 128, "the Collector forwarded every span");
        let mut before = Spans::new();
        for batch in &batches {
            collect(batch, &mut before);
        }
        let changed = |f: &dyn Fn(&Span) -> String| {
            ours.iter()
                .filter(|(id, (_, _, s))| before.get(*id).is_some_and(|b| f(&b.2) != f(s)))
                .count()
        };
        let values = |s: &Span| {
            s.attributes
                .iter()
                .filter(|kv| !kv.key.starts_with("redaction."))
                .map(|kv| format!("{:?}", kv.value))
                .collect::<Vec<_>>()
                .join(",")
        };
        let (attrs, names) = (changed(&values), changed(&|s: &Span| s.name.clone()));
        if names_on {
            assert!(names > 100, "{yaml}: {names} names changed");
        } else {
            assert!(attrs > 100, "{yaml}: {attrs} attribute lists changed");
            assert_eq!(names, 0, "{yaml}");
        }
        assert_same(&format!("db_sanitizer {yaml}"), &theirs, &ours);
    }
}

/// Log records with statements in their attributes (with a system, with
/// none: the Collector's logs run each obfuscator that lists the key) and
/// bodies (a string of each family, maps and lists of them, numbers),
/// and metric data points with statements, through the Collector's
/// `db_sanitizer` and ours, alone and after the URL sanitizer.
#[test]
fn redaction_db_sanitizer_of_logs_and_metrics_matches_the_collector() {
    use any_value::Value as V;
    use otlp_core::proto::collector::logs::v1::ExportLogsServiceRequest;
    use otlp_core::proto::collector::metrics::v1::ExportMetricsServiceRequest;
    use otlp_core::proto::common::v1::{ArrayValue, KeyValueList};
    use otlp_core::proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use otlp_core::proto::metrics::v1::{
        metric::Data, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
    };
    let mut rng = Rng(29);
    let mut records = Vec::new();
    let mut points = Vec::new();
    for i in 0..240 {
        let system = DB_SYSTEMS[(rng.next() % DB_SYSTEMS.len() as u64) as usize];
        let family = if rng.next().is_multiple_of(5) {
            (rng.next() % 5) as usize
        } else {
            db_family(system)
        };
        let mut attributes = vec![
            string("db.statement", &db_text(&mut rng, family)),
            string("note", &db_text(&mut rng, family)),
            string("db.query.text", &db_text(&mut rng, family)),
        ];
        if i % 3 != 0 {
            attributes.push(string(
                if i % 2 == 0 {
                    "db.system.name"
                } else {
                    "db.system"
                },
                system,
            ));
        }
        let s = |t: String| AnyValue {
            value: Some(V::StringValue(t)),
        };
        let body = match i % 5 {
            0 | 1 => s(db_text(&mut rng, family)),
            2 => AnyValue {
                value: Some(V::KvlistValue(KeyValueList {
                    values: vec![
                        KeyValue {
                            key: "query".into(),
                            value: Some(s(db_text(&mut rng, family))),
                            ..KeyValue::default()
                        },
                        KeyValue {
                            key: "rows".into(),
                            value: Some(AnyValue {
                                value: Some(V::IntValue(i as i64)),
                            }),
                            ..KeyValue::default()
                        },
                    ],
                })),
            },
            3 => AnyValue {
                value: Some(V::ArrayValue(ArrayValue {
                    values: vec![
                        s(db_text(&mut rng, family)),
                        s(db_text(&mut rng, (family + 1) % 5)),
                    ],
                })),
            },
            _ => AnyValue {
                value: Some(V::DoubleValue(i as f64 + 0.5)),
            },
        };
        records.push(LogRecord {
            time_unix_nano: 1_700_000_000_000_000_000 + i as u64,
            body: Some(body),
            attributes: attributes.clone(),
            ..LogRecord::default()
        });
        points.push(NumberDataPoint {
            attributes,
            time_unix_nano: 1_700_000_000_000_000_000,
            value: Some(otlp_core::proto::metrics::v1::number_data_point::Value::AsInt(i as i64)),
            ..NumberDataPoint::default()
        });
    }
    let resource = || {
        Some(otlp_core::proto::resource::v1::Resource {
            attributes: vec![
                string("service.name", "shop"),
                string("db.statement", "SELECT 2 WHERE a = 'y'"),
            ],
            ..Default::default()
        })
    };
    let requests = vec![
        ExportRequest::Logs(ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: resource(),
                scope_logs: vec![ScopeLogs {
                    scope: Some(InstrumentationScope::default()),
                    log_records: records,
                    ..ScopeLogs::default()
                }],
                schema_url: String::new(),
            }],
        }),
        ExportRequest::Metrics(ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: resource(),
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![Metric {
                        name: "queries".into(),
                        data: Some(Data::Gauge(Gauge {
                            data_points: points,
                        })),
                        ..Metric::default()
                    }],
                    scope: Some(InstrumentationScope::default()),
                    ..ScopeMetrics::default()
                }],
                schema_url: String::new(),
            }],
        }),
    ];
    for (yaml, toml) in [
        (
            format!("{{allow_all_keys: true, summary: debug, db_sanitizer: {{{DB_ALL}}}}}"),
            format!("allow_all_keys = true\nsummary = \"debug\"\n[processor.db_sanitizer]\n{DB_ALL_TOML}"),
        ),
        (
            "{allow_all_keys: true, summary: info, url_sanitizer: {enabled: true, attributes: [note]}, db_sanitizer: {redis: {enabled: true, attributes: [note]}, memcached: {enabled: true}, es: {enabled: true}}}".to_owned(),
            "allow_all_keys = true\nsummary = \"info\"\nurl_sanitizer = { enabled = true, attributes = ['note'] }\ndb_sanitizer = { redis = { enabled = true, attributes = ['note'] }, memcached = { enabled = true }, es = { enabled = true } }\n".to_owned(),
        ),
    ] {
        let mut bench = Bench::start();
        let Some(collector) = bench.collector_for(
            &[Signal::Logs, Signal::Metrics],
            Processor::new("redaction", &yaml),
        ) else {
            return;
        };
        let theirs = bench.through_each(&collector, &requests);
        let toml = format!("[[processor]]\ntype = \"redaction\"\n{toml}");
        let mut chain = chain_from_toml(&toml).unwrap_or_else(|e| panic!("{e}\n{toml}"));
        let ours = ours_each(&mut chain, &requests);
        assert_eq!(theirs.len(), 2, "the Collector forwarded both requests");
        let (ExportRequest::Logs(before), ExportRequest::Logs(after)) = (&requests[0], &ours[0])
        else {
            panic!("logs first");
        };
        let records = |r: &ExportLogsServiceRequest| r.resource_logs[0].scope_logs[0].log_records.clone();
        let changed = records(before)
            .iter()
            .zip(records(after))
            .filter(|(b, a)| b.body != a.body)
            .count();
        assert!(changed > 50, "{yaml}: {changed} bodies changed");
        assert_ne!(ours[1], requests[1], "{yaml}: data points changed");
        for (t, o) in theirs.iter().zip(&ours) {
            assert_eq!(t, o, "{yaml}: the Collector's output (left) and ours (right) differ");
        }
    }
}

#[test]
fn redaction_with_allowed_keys_masks_like_the_collector() {
    let allowed = [
        "user.email",
        "contact",
        "card",
        "payment",
        "auth.token",
        "note",
        "count",
        "ratio",
        "event.note",
        "service.name",
        "owner.email",
        "scope.card",
    ];
    let (ignored, blocked_keys, blocked, allow_values) = (
        ["safe"],
        [".*token.*"],
        [EMAIL, VISA_OR_MC],
        [".+@example\\.com"],
    );
    let yaml = format!(
        "{{allowed_keys: {}, ignored_keys: {}, blocked_key_patterns: {}, blocked_values: {}, allowed_values: {}, summary: debug}}",
        yaml_list(&allowed),
        yaml_list(&ignored),
        yaml_list(&blocked_keys),
        yaml_list(&blocked),
        yaml_list(&allow_values)
    );
    let toml = format!(
        "allowed_keys = {}\nignored_keys = {}\nblocked_key_patterns = {}\nblocked_values = {}\nallowed_values = {}\nsummary = \"debug\"\n",
        toml_list(&allowed),
        toml_list(&ignored),
        toml_list(&blocked_keys),
        toml_list(&blocked),
        toml_list(&allow_values)
    );
    redact_like_the_collector(&yaml, &toml);
}

#[test]
fn redaction_hashing_every_type_with_info_summary_matches_the_collector() {
    let key = "0123456789abcdef0123456789abcdef";
    let yaml = format!(
        "{{allow_all_keys: true, blocked_values: {}, hash_function: hmac-sha256, hmac_key: \"{key}\", redact_all_types: true, summary: info}}",
        yaml_list(&[EMAIL, VISA_OR_MC, "^0\\.5$"])
    );
    let toml = format!(
        "allow_all_keys = true\nblocked_values = {}\nhash_function = \"hmac-sha256\"\nhmac_key = \"{key}\"\nredact_all_types = true\nsummary = \"info\"\n",
        toml_list(&[EMAIL, VISA_OR_MC, "^0\\.5$"])
    );
    redact_like_the_collector(&yaml, &toml);
}

#[test]
fn redaction_with_nothing_allowed_removes_everything_like_the_collector() {
    redact_like_the_collector("{}", "");
}

/// Log records with attributes and bodies of every shape (a string, a
/// number, bytes, a map with nested maps and lists, a list), and metrics
/// of every data point type, with resource and scope attributes.
fn logs_and_metrics() -> Vec<ExportRequest> {
    use any_value::Value as V;
    use otlp_core::proto::collector::logs::v1::ExportLogsServiceRequest;
    use otlp_core::proto::collector::metrics::v1::ExportMetricsServiceRequest;
    use otlp_core::proto::common::v1::{ArrayValue, KeyValueList};
    use otlp_core::proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use otlp_core::proto::metrics::v1::{
        exponential_histogram_data_point::Buckets, metric::Data, ExponentialHistogram,
        ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint, Metric,
        NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
    };
    let value = |v: V| AnyValue { value: Some(v) };
    let s = |t: &str| value(V::StringValue(t.into()));
    let map = |entries: Vec<KeyValue>| value(V::KvlistValue(KeyValueList { values: entries }));
    let entry = |k: &str, v: AnyValue| KeyValue {
        key: k.into(),
        value: Some(v),
        ..KeyValue::default()
    };
    let attrs = |i: usize| {
        let mut a = vec![
            string("user.email", "jane@corp.io"),
            string("contact", "bob@example.com"),
            string("card", "4111111111111111"),
            string("auth.token", "abc"),
            string("safe", "5555555555554444"),
            string("unknown", "x"),
            kv("count", V::IntValue(i as i64)),
        ];
        if i.is_multiple_of(3) {
            a.push(string("redaction.masked.keys", "earlier"));
            a.push(kv("redaction.masked.count", V::IntValue(1)));
            a.push(kv("redaction.body.allowed.count", V::IntValue(4)));
        }
        a
    };
    let bodies = vec![
        s("paid 4111 1111 1111 1111 and 4111111111111111 by jane@corp.io"),
        value(V::IntValue(4111111111111111)),
        value(V::BytesValue(b"jane@corp.io".to_vec())),
        map(vec![
            entry("card", s("4111111111111111")),
            entry("unknown", s("gone")),
            entry("auth.token", value(V::IntValue(7))),
            entry("safe", s("4111111111111111")),
            entry(
                "payment",
                map(vec![
                    entry("card", s("5555555555554444")),
                    entry("note", s("bob@example.com")),
                    entry("unknown", s("gone")),
                    entry(
                        "contact",
                        value(V::ArrayValue(ArrayValue {
                            values: vec![s("jane@corp.io"), s("ok"), value(V::DoubleValue(0.5))],
                        })),
                    ),
                ]),
            ),
            entry("count", value(V::BoolValue(true))),
        ]),
        value(V::ArrayValue(ArrayValue {
            values: vec![s("4111111111111111"), map(vec![entry("unknown", s("x"))])],
        })),
    ];
    let records: Vec<LogRecord> = bodies
        .into_iter()
        .enumerate()
        .map(|(i, body)| LogRecord {
            time_unix_nano: 1_700_000_000_000_000_000 + i as u64,
            severity_number: 9,
            severity_text: "INFO".into(),
            body: Some(body),
            attributes: attrs(i),
            trace_id: vec![7; 16],
            span_id: vec![8; 8],
            ..LogRecord::default()
        })
        .collect();
    let resource = Some(Resource {
        attributes: vec![
            string("service.name", "payments"),
            string("owner.email", "team@corp.io"),
        ],
        ..Resource::default()
    });
    let scope = Some(InstrumentationScope {
        name: "shop".into(),
        attributes: vec![string("scope.card", "4111111111111111")],
        ..InstrumentationScope::default()
    });
    let logs = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource.clone(),
            scope_logs: vec![ScopeLogs {
                scope: scope.clone(),
                log_records: records,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    };
    let metric = |name: &str, data: Data| Metric {
        name: name.into(),
        data: Some(data),
        ..Metric::default()
    };
    let number = |i: usize| NumberDataPoint {
        attributes: attrs(i),
        time_unix_nano: 1_700_000_000_000_000_000,
        value: Some(otlp_core::proto::metrics::v1::number_data_point::Value::AsInt(5)),
        ..NumberDataPoint::default()
    };
    let metrics = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource,
            scope_metrics: vec![ScopeMetrics {
                scope,
                metrics: vec![
                    metric(
                        "g",
                        Data::Gauge(Gauge {
                            data_points: vec![number(0), number(1)],
                        }),
                    ),
                    metric(
                        "s",
                        Data::Sum(Sum {
                            data_points: vec![number(2)],
                            aggregation_temporality: 2,
                            is_monotonic: true,
                        }),
                    ),
                    metric(
                        "h",
                        Data::Histogram(Histogram {
                            data_points: vec![HistogramDataPoint {
                                attributes: attrs(3),
                                count: 2,
                                bucket_counts: vec![1, 1],
                                explicit_bounds: vec![1.0],
                                ..HistogramDataPoint::default()
                            }],
                            aggregation_temporality: 2,
                        }),
                    ),
                    metric(
                        "e",
                        Data::ExponentialHistogram(ExponentialHistogram {
                            data_points: vec![ExponentialHistogramDataPoint {
                                attributes: attrs(4),
                                count: 1,
                                // Written by pdata even when empty.
                                positive: Some(Buckets::default()),
                                negative: Some(Buckets::default()),
                                ..ExponentialHistogramDataPoint::default()
                            }],
                            aggregation_temporality: 2,
                        }),
                    ),
                    metric(
                        "q",
                        Data::Summary(Summary {
                            data_points: vec![SummaryDataPoint {
                                attributes: attrs(5),
                                count: 1,
                                sum: 2.0,
                                ..SummaryDataPoint::default()
                            }],
                        }),
                    ),
                ],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    };
    vec![ExportRequest::Logs(logs), ExportRequest::Metrics(metrics)]
}

#[test]
fn redaction_of_logs_and_metrics_matches_the_collector() {
    let allowed = [
        "user.email",
        "contact",
        "card",
        "payment",
        "auth.token",
        "note",
        "count",
        "service.name",
        "owner.email",
        "scope.card",
    ];
    let (ignored, blocked_keys, blocked, allow_values) = (
        ["safe"],
        [".*token.*"],
        [EMAIL, VISA_OR_MC],
        [".+@example\\.com"],
    );
    for summary in ["debug", "info"] {
        let yaml = format!(
            "{{allowed_keys: {}, ignored_keys: {}, blocked_key_patterns: {}, blocked_values: {}, allowed_values: {}, masking_string: \"[gone]\", summary: {summary}}}",
            yaml_list(&allowed),
            yaml_list(&ignored),
            yaml_list(&blocked_keys),
            yaml_list(&blocked),
            yaml_list(&allow_values)
        );
        let toml = format!(
            "[[processor]]\ntype = \"redaction\"\nallowed_keys = {}\nignored_keys = {}\nblocked_key_patterns = {}\nblocked_values = {}\nallowed_values = {}\nmasking_string = \"[gone]\"\nsummary = \"{summary}\"\n",
            toml_list(&allowed),
            toml_list(&ignored),
            toml_list(&blocked_keys),
            toml_list(&blocked),
            toml_list(&allow_values)
        );
        let requests = logs_and_metrics();
        let mut bench = Bench::start();
        let Some(collector) = bench.collector_for(
            &[Signal::Logs, Signal::Metrics],
            Processor::new("redaction", yaml),
        ) else {
            return;
        };
        let theirs = bench.through_each(&collector, &requests);
        let mut chain = chain_from_toml(&toml).unwrap_or_else(|e| panic!("{e}\n{toml}"));
        let ours = ours_each(&mut chain, &requests);
        assert_eq!(theirs.len(), 2, "the Collector forwarded both requests");
        // Something was redacted, so the comparison means something.
        assert_ne!(ours[0], requests[0]);
        assert_ne!(ours[1], requests[1]);
        for (t, o) in theirs.iter().zip(&ours) {
            assert_eq!(
                t, o,
                "{summary}: the Collector's output (left) and ours (right) differ"
            );
        }
    }
}

/// The same spans, log records and metrics through the Collector's
/// `attributes` processor and our `Attributes`, with every action we
/// take: insert (a value, from an attribute, a default), update, upsert,
/// delete by key (a duplicate key too) and by pattern, hash (a string, an
/// int, a double, a bool), extract, convert (strings Go reads or refuses
/// as numbers, doubles out of an int's range, every type to a string).
#[test]
fn attribute_actions_match_the_collector() {
    use any_value::Value as V;
    use otlp_core::proto::collector::logs::v1::ExportLogsServiceRequest;
    use otlp_core::proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    let attrs = |i: usize| {
        let mut a = vec![
            string(
                "http.url",
                &format!("https://shop.example.com/cart/{i}?q=1"),
            ),
            string("tmp.one", "x"),
            string("user.id", &format!("u{i}")),
            string("tmp.two", "y"),
            kv("count", V::IntValue(i as i64)),
            kv("ratio", V::DoubleValue(0.25 * i as f64)),
            kv("ok", V::BoolValue(i.is_multiple_of(2))),
            string("keep", "k"),
        ];
        if i.is_multiple_of(2) {
            // A duplicate key: delete by key removes only the first.
            a.push(string("user.id", "again"));
            a.push(string("env", "staging"));
        }
        // Values to convert: strings Go's ParseInt / ParseFloat read or
        // refuse, doubles out of an int's range, and every type to text.
        let j = i % 8;
        a.extend([
            string(
                "s.int",
                [
                    "42",
                    "+7",
                    "-0",
                    "007",
                    "9223372036854775808",
                    "1_0",
                    " 1",
                    "x",
                ][j],
            ),
            string(
                "s.dbl",
                [
                    "1_000",
                    "1e400",
                    "0x1.8p1",
                    "inf",
                    "+nan",
                    "-infinity",
                    "0x1p-1074",
                    ".5",
                ][j],
            ),
            string(
                "s.dbl2",
                [
                    "1e-400",
                    "1__0",
                    "0x1p",
                    "1e1_0",
                    "-0",
                    "0X.8P+1",
                    "123456789012345678901234567890",
                    "1.7976931348623159e308",
                ][j],
            ),
            // Long numbers, which Go's ParseFloat reads other than as the
            // nearest double (1e-320 as 0, 60 as 6, 1 as 0).
            string(
                "s.long",
                &[
                    format!("1{}e-1220", "0".repeat(900)),
                    format!("6{}e-799", "0".repeat(800)),
                    format!("0.{}1e100001", "0".repeat(100_000)),
                    format!("10.{}", "1".repeat(900)),
                ][j % 4],
            ),
            kv(
                "d.int",
                V::DoubleValue(
                    [
                        f64::NAN,
                        1e300,
                        -2.5,
                        2.9,
                        9.3e18,
                        -0.0,
                        f64::INFINITY,
                        1e18,
                    ][j],
                ),
            ),
            kv(
                "i.dbl",
                V::IntValue([0, -1, i64::MAX, i64::MIN, (1 << 53) + 1, 3, 7, 9][j]),
            ),
            kv("flag", V::BoolValue(j.is_multiple_of(3))),
            kv(
                "d.str",
                V::DoubleValue([0.1, 1e21, 1e-7, -0.0, 123.456, 1e20, 5e-324, 0.25][j]),
            ),
            kv("by.str", V::BytesValue(vec![j as u8, 0xfb, 0xff])),
            kv(
                "m.str",
                V::KvlistValue(otlp_core::proto::common::v1::KeyValueList {
                    values: vec![
                        kv("z", V::IntValue(j as i64)),
                        string("a", "<\"x\">"),
                        kv("d", V::DoubleValue(j as f64 / 3.0)),
                    ],
                }),
            ),
        ]);
        a
    };
    // (field, value) pairs of each action, written as YAML for the
    // Collector and as TOML for us.
    let actions: &[&[(&str, &str)]] = &[
        &[("key", "env"), ("action", "insert"), ("value", "prod")],
        &[
            ("key", "copy"),
            ("action", "insert"),
            ("from_attribute", "keep"),
        ],
        &[("key", "keep"), ("action", "update"), ("value", "kept")],
        &[("key", "region"), ("action", "upsert"), ("value", "eu")],
        &[("key", "user.id"), ("action", "delete")],
        &[("pattern", r"^tmp\."), ("action", "delete")],
        &[("key", "count"), ("action", "hash")],
        &[("key", "ratio"), ("action", "hash")],
        &[("key", "ok"), ("action", "hash")],
        &[("pattern", "^http"), ("action", "hash")],
        &[
            ("key", "copy"),
            ("action", "extract"),
            ("pattern", "^(?P<first>k)"),
        ],
        &[
            ("key", "s.int"),
            ("action", "convert"),
            ("converted_type", "int"),
        ],
        &[
            ("key", "s.dbl"),
            ("action", "convert"),
            ("converted_type", "double"),
        ],
        &[
            ("key", "s.dbl2"),
            ("action", "convert"),
            ("converted_type", "double"),
        ],
        &[
            ("key", "s.long"),
            ("action", "convert"),
            ("converted_type", "double"),
        ],
        &[
            ("key", "d.int"),
            ("action", "convert"),
            ("converted_type", "int"),
        ],
        &[
            ("key", "i.dbl"),
            ("action", "convert"),
            ("converted_type", "double"),
        ],
        &[
            ("key", "flag"),
            ("action", "convert"),
            ("converted_type", "int"),
        ],
        &[
            ("key", "d.str"),
            ("action", "convert"),
            ("converted_type", "string"),
        ],
        &[
            ("key", "by.str"),
            ("action", "convert"),
            ("converted_type", "string"),
        ],
        &[
            ("key", "m.str"),
            ("action", "convert"),
            ("converted_type", "string"),
        ],
        &[
            ("key", "region"),
            ("action", "convert"),
            ("converted_type", "int"),
        ],
        &[
            ("key", "from.gone"),
            ("action", "insert"),
            ("from_attribute", "tmp.one"),
            ("default_value", "absent"),
        ],
        &[
            ("key", "keep"),
            ("action", "upsert"),
            ("from_attribute", "copy"),
            ("default_value", "unused"),
        ],
        &[
            ("key", "only.default"),
            ("action", "insert"),
            ("default_value", "d"),
        ],
        // Lists and maps, written as they are in both.
        &[
            ("key", "list"),
            ("action", "insert"),
            ("value", r#"[1, "a", true, 2.5, [], {k = [3]}]"#),
        ],
        &[
            ("key", "env"),
            ("action", "upsert"),
            ("value", r#"{nested = {deep = ["x", -1]}}"#),
        ],
        &[
            ("key", "from.gone2"),
            ("action", "insert"),
            ("from_attribute", "tmp.one"),
            ("default_value", "[0.5]"),
        ],
    ];
    // A list or table is written out as it is (a TOML inline table reads
    // as a YAML flow mapping once `=` is `:`).
    let raw = |v: &str| v.starts_with('[') || v.starts_with('{');
    let yaml_actions: Vec<String> = actions
        .iter()
        .map(|a| {
            let fields: Vec<String> = a
                .iter()
                .map(|(k, v)| match raw(v) {
                    true => format!("{k}: {}", v.replace(" = ", ": ")),
                    false => format!("{k}: {v:?}"),
                })
                .collect();
            format!("{{{}}}", fields.join(", "))
        })
        .collect();
    let yaml = format!("{{actions: [{}]}}", yaml_actions.join(", "));
    let mut toml = String::from("[[processor]]\ntype = \"attributes\"\n");
    for a in actions {
        toml.push_str("[[processor.actions]]\n");
        for (k, v) in *a {
            match raw(v) {
                true => toml.push_str(&format!("{k} = {v}\n")),
                false => toml.push_str(&format!("{k} = '{v}'\n")),
            }
        }
    }
    let spans: Vec<Span> = (0..8)
        .map(|i| Span {
            trace_id: vec![1; 16],
            span_id: vec![i as u8 + 1; 8],
            name: "GET /cart".into(),
            kind: span::SpanKind::Server as i32,
            start_time_unix_nano: 1_700_000_000_000_000_000,
            end_time_unix_nano: 1_700_000_000_001_000_000,
            attributes: attrs(i),
            status: Some(Status::default()),
            ..Default::default()
        })
        .collect();
    let traces = request(spans, vec![string("service.name", "shop")], vec![]);
    let logs = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![string("service.name", "shop")],
                ..Resource::default()
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope::default()),
                log_records: (0..8)
                    .map(|i| LogRecord {
                        time_unix_nano: 1_700_000_000_000_000_000 + i as u64,
                        body: Some(AnyValue {
                            value: Some(V::StringValue("hello".into())),
                        }),
                        attributes: attrs(i),
                        ..LogRecord::default()
                    })
                    .collect(),
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    };
    let mut requests = vec![ExportRequest::Traces(traces), ExportRequest::Logs(logs)];
    // Metrics with every point type, each point with the attributes.
    if let ExportRequest::Metrics(mut m) = logs_and_metrics().remove(1) {
        let sm = &mut m.resource_metrics[0].scope_metrics[0];
        let mut i = 0;
        for metric in &mut sm.metrics {
            use otlp_core::proto::metrics::v1::metric::Data;
            let mut set = |a: &mut Vec<KeyValue>| {
                *a = attrs(i);
                i += 1;
            };
            match metric.data.as_mut().unwrap() {
                Data::Gauge(g) => g
                    .data_points
                    .iter_mut()
                    .for_each(|p| set(&mut p.attributes)),
                Data::Sum(g) => g
                    .data_points
                    .iter_mut()
                    .for_each(|p| set(&mut p.attributes)),
                Data::Histogram(g) => g
                    .data_points
                    .iter_mut()
                    .for_each(|p| set(&mut p.attributes)),
                Data::ExponentialHistogram(g) => g
                    .data_points
                    .iter_mut()
                    .for_each(|p| set(&mut p.attributes)),
                Data::Summary(g) => g
                    .data_points
                    .iter_mut()
                    .for_each(|p| set(&mut p.attributes)),
            }
        }
        requests.push(ExportRequest::Metrics(m));
    }
    let mut bench = Bench::start();
    let Some(collector) = bench.collector_for(
        &[Signal::Traces, Signal::Logs, Signal::Metrics],
        Processor::new("attributes", yaml),
    ) else {
        return;
    };
    let theirs = bench.through_each(&collector, &requests);
    let mut chain = chain_from_toml(&toml).unwrap_or_else(|e| panic!("{e}\n{toml}"));
    let ours = ours_each(&mut chain, &requests);
    assert_eq!(theirs.len(), 3, "the Collector forwarded every request");
    for (i, (t, o)) in theirs.iter().zip(&ours).enumerate() {
        assert_ne!(o, &requests[i], "the actions changed something");
        assert_eq!(
            t, o,
            "the Collector's output (left) and ours (right) differ"
        );
    }
}

/// Spans, log records and metrics of three resources (two services, one
/// without a name) and three scopes each, for the match properties.
fn selection_requests() -> Vec<ExportRequest> {
    use any_value::Value as V;
    use otlp_core::proto::collector::logs::v1::ExportLogsServiceRequest;
    use otlp_core::proto::collector::metrics::v1::ExportMetricsServiceRequest;
    use otlp_core::proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use otlp_core::proto::metrics::v1::{
        metric::Data, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
    };
    let resources = [
        vec![string("service.name", "shop"), string("region", "eu")],
        vec![string("service.name", "cart"), string("region", "us")],
        vec![kv("region", V::IntValue(7))],
    ];
    let scopes = [("app.web", "1.2"), ("app.web", "2.0"), ("lib", "")];
    let attrs = |i: usize| {
        let mut a = vec![string("user.id", &format!("u{i}"))];
        if i % 5 != 4 {
            a.push(kv("ok", V::BoolValue(i.is_multiple_of(2))));
        }
        a.push(kv("count", V::IntValue((i % 6) as i64)));
        a.push(kv("ratio", V::DoubleValue(i as f64 / 4.0)));
        if i % 7 == 3 {
            a.push(kv("blob", V::BytesValue(vec![1, 2])));
        }
        a
    };
    let scope = |s: &(&str, &str)| {
        Some(InstrumentationScope {
            name: s.0.into(),
            version: s.1.into(),
            ..InstrumentationScope::default()
        })
    };
    let resource = |r: &Vec<KeyValue>| {
        Some(Resource {
            attributes: r.clone(),
            ..Resource::default()
        })
    };
    let mut i = 0;
    let mut next = || {
        i += 1;
        i - 1
    };
    let mut spans = ExportTraceServiceRequest::default();
    let mut logs = ExportLogsServiceRequest::default();
    let mut metrics = ExportMetricsServiceRequest::default();
    let names = ["GET /cart", "POST /pay", "GET /health", "DELETE /x"];
    let bodies = ["hello 1", "hello world", "a secret here", "hello 22"];
    let severities = [
        ("ERROR", 17),
        ("WARN", 13),
        ("INFO", 9),
        ("", 0),
        ("DEBUG", 5),
    ];
    let metric_names = ["http.requests", "http.drop", "db.calls", "http.latency"];
    for r in &resources {
        let mut rs = ResourceSpans {
            resource: resource(r),
            ..ResourceSpans::default()
        };
        let mut rl = ResourceLogs {
            resource: resource(r),
            ..ResourceLogs::default()
        };
        let mut rm = ResourceMetrics {
            resource: resource(r),
            ..ResourceMetrics::default()
        };
        for s in &scopes {
            let mut ss = ScopeSpans {
                scope: scope(s),
                ..ScopeSpans::default()
            };
            let mut sl = ScopeLogs {
                scope: scope(s),
                ..ScopeLogs::default()
            };
            let mut sm = ScopeMetrics {
                scope: scope(s),
                ..ScopeMetrics::default()
            };
            for _ in 0..8 {
                let n = next();
                ss.spans.push(Span {
                    trace_id: vec![1; 16],
                    span_id: (n as u64 + 1).to_le_bytes().to_vec(),
                    name: names[n % names.len()].into(),
                    kind: [2, 3, 1, 0][n % 4],
                    start_time_unix_nano: 1_700_000_000_000_000_000,
                    end_time_unix_nano: 1_700_000_000_001_000_000,
                    attributes: attrs(n),
                    status: Some(Status::default()),
                    ..Span::default()
                });
                let (text, number) = severities[n % severities.len()];
                sl.log_records.push(LogRecord {
                    time_unix_nano: 1_700_000_000_000_000_000 + n as u64,
                    severity_text: text.into(),
                    severity_number: number,
                    body: Some(AnyValue {
                        value: Some(V::StringValue(bodies[n % bodies.len()].into())),
                    }),
                    attributes: attrs(n),
                    ..LogRecord::default()
                });
                sm.metrics.push(Metric {
                    name: metric_names[n % metric_names.len()].into(),
                    data: Some(Data::Gauge(Gauge {
                        data_points: vec![NumberDataPoint {
                            time_unix_nano: 1_700_000_000_000_000_000,
                            attributes: attrs(n),
                            ..NumberDataPoint::default()
                        }],
                    })),
                    ..Metric::default()
                });
            }
            rs.scope_spans.push(ss);
            rl.scope_logs.push(sl);
            rm.scope_metrics.push(sm);
        }
        spans.resource_spans.push(rs);
        logs.resource_logs.push(rl);
        metrics.resource_metrics.push(rm);
    }
    vec![
        ExportRequest::Traces(spans),
        ExportRequest::Logs(logs),
        ExportRequest::Metrics(metrics),
    ]
}

/// `include` / `exclude` of the `attributes` processor: the same items are
/// acted on by the Collector's and by ours. Each case is written once as
/// TOML inline tables (which read as YAML flow mappings once `=` is `:`)
/// and runs on the one signal its properties are for.
#[test]
fn attribute_selection_matches_the_collector() {
    let actions = [
        r#"{key = "touched", action = "upsert", value = "yes"}"#,
        r#"{key = "user.id", action = "hash"}"#,
    ];
    // (signal, properties, whether some items are left alone)
    let cases: &[(Signal, &str, bool)] = &[
        (
            Signal::Traces,
            r#"include = {match_type = "strict", services = ["shop", "<nil-service-name>"], span_names = ["GET /cart", "POST /pay"], attributes = [{key = "ok", value = true}]}, exclude = {match_type = "strict", span_kinds = ["SPAN_KIND_CLIENT"]}"#,
            true,
        ),
        (
            Signal::Traces,
            r#"include = {match_type = "regexp", span_names = ["^GET"], attributes = [{key = "count", value = "^[0-3]$"}, {key = "ratio", value = "[.]"}], libraries = [{name = "^app", version = "^1[.]"}], resources = [{key = "region", value = "eu|7"}]}"#,
            true,
        ),
        (
            Signal::Traces,
            r#"exclude = {match_type = "regexp", span_kinds = ["SERVER|UNSPECIFIED"], attributes = [{key = "ok"}]}"#,
            true,
        ),
        (
            Signal::Logs,
            r#"include = {match_type = "strict", log_severity_texts = ["ERROR", "WARN", ""], attributes = [{key = "user.id"}], libraries = [{name = "app.web"}]}, exclude = {match_type = "regexp", log_bodies = ["secret"]}"#,
            true,
        ),
        (
            Signal::Logs,
            r#"include = {match_type = "regexp", log_bodies = ["^hello [0-9]"], log_severity_number = {min = 9, match_undefined = true}, resources = [{key = "service.name"}]}"#,
            true,
        ),
        (
            Signal::Logs,
            r#"include = {match_type = "strict", attributes = [{key = "count", value = 2}, {key = "ratio", value = 0.5}]}"#,
            true,
        ),
        // No match_type: taken where nothing is compared.
        (
            Signal::Traces,
            r#"include = {attributes = [{key = "blob"}]}"#,
            true,
        ),
        (
            Signal::Logs,
            r#"exclude = {log_severity_number = {min = 10}, resources = [{key = "service.name"}]}"#,
            true,
        ),
        (
            Signal::Metrics,
            r#"include = {match_type = "regexp", metric_names = ["^http[.]"]}, exclude = {match_type = "strict", metric_names = ["http.drop"]}"#,
            true,
        ),
        (
            Signal::Metrics,
            // Not evaluated for metrics, in the Collector as in ours:
            // every data point is acted on.
            r#"exclude = {match_type = "strict", resources = [{key = "region", value = "eu"}]}"#,
            false,
        ),
    ];
    let requests = selection_requests();
    for (signal, selection, partial) in cases {
        let toml = format!(
            "[[processor]]\ntype = \"attributes\"\nactions = [{}]\n{}\n",
            actions.join(", "),
            selection.replace("}, exclude", "}\nexclude")
        );
        let yaml = format!(
            "{{actions: [{}], {}}}",
            actions.join(", "),
            selection.replace(" = ", ": ")
        )
        .replace(" = ", ": ");
        let request: Vec<ExportRequest> = requests
            .iter()
            .filter(|r| r.signal() == *signal)
            .cloned()
            .collect();
        let mut bench = Bench::start();
        let Some(collector) = bench.collector_for(&[*signal], Processor::new("attributes", yaml))
        else {
            return;
        };
        let theirs = bench.through_each(&collector, &request);
        let mut chain = chain_from_toml(&toml).unwrap_or_else(|e| panic!("{e}\n{toml}"));
        let ours = ours_each(&mut chain, &request);
        assert_eq!(theirs.len(), 1, "{selection}: the Collector forwarded it");
        // Some items were acted on and some were not.
        let text = format!("{:?}", ours[0]);
        let touched = text.matches("\"touched\"").count();
        assert!(touched > 0, "{selection}: nothing selected");
        assert_eq!(
            text.matches("\"user.id\"").count() > touched,
            *partial,
            "{selection}: what was selected"
        );
        assert_eq!(
            theirs[0], ours[0],
            "{selection}: the Collector's output (left) and ours (right) differ"
        );
    }
}

// ------------------------------------------------------------ filter

/// Spans (with events), log records and metrics of every kind for the
/// filter comparison. Every item is named so that what is left can be
/// listed: a span by its id, an event by its name and span, a record by
/// its time, a data point by its metric's name and its `i` attribute.
fn filter_requests() -> Vec<ExportRequest> {
    use any_value::Value as V;
    use otlp_core::proto::collector::logs::v1::ExportLogsServiceRequest;
    use otlp_core::proto::collector::metrics::v1::ExportMetricsServiceRequest;
    use otlp_core::proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use otlp_core::proto::metrics::v1::{
        metric::Data, number_data_point, ExponentialHistogram, ExponentialHistogramDataPoint,
        Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics,
        ScopeMetrics, Sum, Summary, SummaryDataPoint,
    };
    let resources = [
        vec![string("service.name", "checkout"), string("env", "prod")],
        vec![string("env", "dev"), kv("zone", V::IntValue(7))],
    ];
    let scopes = [("lib", "1.2"), ("other", "")];
    let scope = |i: usize| {
        Some(InstrumentationScope {
            name: scopes[i].0.into(),
            version: scopes[i].1.into(),
            ..Default::default()
        })
    };
    let resource = |i: usize| {
        Some(Resource {
            attributes: resources[i].clone(),
            ..Default::default()
        })
    };
    // (name, kind, status code, status message, duration, tracestate,
    // attributes, events)
    type Row = (
        &'static str,
        i32,
        i32,
        &'static str,
        u64,
        &'static str,
        Vec<KeyValue>,
        Vec<(&'static str, Vec<KeyValue>)>,
    );
    let rows: Vec<Row> = vec![
        (
            "GET /health",
            2,
            2,
            "boom",
            5_000,
            "",
            vec![
                kv("http.response.status_code", V::IntValue(503)),
                string("url.path", "/internal/x"),
                kv("ratio", V::DoubleValue(0.5)),
                kv("flag", V::BoolValue(true)),
            ],
            vec![
                ("retry", vec![kv("attempt", V::IntValue(1))]),
                ("exception", vec![string("exception.type", "IOError")]),
            ],
        ),
        (
            "POST /pay",
            3,
            1,
            "",
            2_000_000,
            "ot=th:8",
            vec![
                kv("http.response.status_code", V::IntValue(200)),
                string("url.path", "/pay"),
                kv("ratio", V::DoubleValue(1.5)),
                kv("flag", V::BoolValue(false)),
            ],
            vec![("retry", vec![kv("attempt", V::IntValue(3))])],
        ),
        (
            "db.query",
            1,
            0,
            "",
            10,
            "",
            vec![
                string("db.system", "postgres"),
                string("http.response.status_code", "503"),
            ],
            vec![],
        ),
        ("", 0, 0, "", 0, "", vec![], vec![("", vec![])]),
        (
            "Hello",
            4,
            2,
            "",
            4_999,
            "vendor=x",
            vec![kv("http.response.status_code", V::IntValue(503))],
            vec![("exception", vec![])],
        ),
        (
            "consume",
            5,
            1,
            "fine",
            3_000_000_000,
            "",
            vec![kv("ratio", V::IntValue(1)), string("code", "\u{663}")],
            vec![],
        ),
    ];
    let spans = |from: usize| -> Vec<Span> {
        rows.iter()
            .enumerate()
            .map(|(i, (name, kind, code, message, dur, ts, attrs, events))| {
                let id = (from + i) as u8 + 1;
                let start = 1_700_000_000_000_000_000 + u64::from(id);
                Span {
                    trace_id: vec![id; 16],
                    span_id: vec![id; 8],
                    trace_state: (*ts).into(),
                    name: (*name).into(),
                    kind: *kind,
                    start_time_unix_nano: start,
                    end_time_unix_nano: start + dur,
                    attributes: attrs.clone(),
                    events: events
                        .iter()
                        .map(|(n, a)| span::Event {
                            time_unix_nano: start + 1,
                            name: (*n).into(),
                            attributes: a.clone(),
                            ..Default::default()
                        })
                        .collect(),
                    status: Some(Status {
                        message: (*message).into(),
                        code: *code,
                    }),
                    ..Default::default()
                }
            })
            .collect()
    };
    let traces = ExportTraceServiceRequest {
        resource_spans: (0..2)
            .map(|r| ResourceSpans {
                resource: resource(r),
                scope_spans: vec![ScopeSpans {
                    scope: scope(r),
                    spans: spans(r * rows.len()),
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            })
            .collect(),
    };
    // (severity number, severity text, body, attributes)
    let log_rows: Vec<(i32, &str, Option<V>, Vec<KeyValue>)> = vec![
        (9, "INFO", Some(V::StringValue("hello".into())), vec![]),
        (
            13,
            "WARN",
            Some(V::StringValue("card 4111".into())),
            vec![string("user", "jane")],
        ),
        (
            17,
            "ERROR",
            Some(V::IntValue(42)),
            vec![kv("count", V::IntValue(2))],
        ),
        (0, "", None, vec![kv("count", V::DoubleValue(2.0))]),
        (
            5,
            "DEBUG",
            Some(V::BoolValue(true)),
            vec![string("user", "bob")],
        ),
    ];
    let records = |from: usize| -> Vec<LogRecord> {
        log_rows
            .iter()
            .enumerate()
            .map(|(i, (sev, text, body, attrs))| LogRecord {
                time_unix_nano: (from + i) as u64 * 50,
                observed_time_unix_nano: 1_000 + (from + i) as u64,
                severity_number: *sev,
                severity_text: (*text).into(),
                body: body.clone().map(|v| AnyValue { value: Some(v) }),
                attributes: attrs.clone(),
                ..Default::default()
            })
            .collect()
    };
    let logs = ExportLogsServiceRequest {
        resource_logs: (0..2)
            .map(|r| ResourceLogs {
                resource: resource(r),
                scope_logs: vec![ScopeLogs {
                    scope: scope(r),
                    log_records: records(r * log_rows.len()),
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            })
            .collect(),
    };
    let tagged = |i: i64, route: &str| vec![kv("i", V::IntValue(i)), string("route", route)];
    let number = |i: i64, route: &str, v: number_data_point::Value| NumberDataPoint {
        attributes: tagged(i, route),
        start_time_unix_nano: 100,
        time_unix_nano: 200 + i as u64,
        value: Some(v),
        ..Default::default()
    };
    let metric = |name: &str, unit: &str, description: &str, data: Data| Metric {
        name: name.into(),
        unit: unit.into(),
        description: description.into(),
        data: Some(data),
        ..Default::default()
    };
    let metrics_of = |r: i64| -> Vec<Metric> {
        let i = |k: i64| r * 100 + k;
        vec![
            metric(
                "requests",
                "1",
                "how many",
                Data::Sum(Sum {
                    data_points: vec![
                        number(i(1), "/a", number_data_point::Value::AsInt(3)),
                        number(i(2), "/b", number_data_point::Value::AsInt(5)),
                        number(i(3), "/a", number_data_point::Value::AsDouble(0.0)),
                    ],
                    aggregation_temporality: 2,
                    is_monotonic: true,
                }),
            ),
            metric(
                "latency",
                "ms",
                "",
                Data::Gauge(Gauge {
                    data_points: vec![
                        number(i(4), "/a", number_data_point::Value::AsDouble(0.5)),
                        number(i(5), "/b", number_data_point::Value::AsDouble(2.5)),
                        number(i(6), "/c", number_data_point::Value::AsInt(0)),
                    ],
                }),
            ),
            metric(
                "size",
                "By",
                "payload",
                Data::Histogram(Histogram {
                    data_points: vec![
                        HistogramDataPoint {
                            attributes: tagged(i(7), "/a"),
                            count: 12,
                            sum: Some(4.0),
                            bucket_counts: vec![2, 10],
                            explicit_bounds: vec![1.0],
                            ..Default::default()
                        },
                        HistogramDataPoint {
                            attributes: tagged(i(8), "/b"),
                            count: 3,
                            sum: Some(10.0),
                            bucket_counts: vec![3, 0],
                            explicit_bounds: vec![1.0],
                            ..Default::default()
                        },
                    ],
                    aggregation_temporality: 1,
                }),
            ),
            metric(
                "spread",
                "",
                "",
                Data::ExponentialHistogram(ExponentialHistogram {
                    data_points: vec![ExponentialHistogramDataPoint {
                        attributes: tagged(i(9), "/a"),
                        count: 1,
                        sum: Some(0.25),
                        positive: Some(Default::default()),
                        negative: Some(Default::default()),
                        ..Default::default()
                    }],
                    aggregation_temporality: 2,
                }),
            ),
            metric(
                "quantiles",
                "s",
                "",
                Data::Summary(Summary {
                    data_points: vec![SummaryDataPoint {
                        attributes: tagged(i(10), "/c"),
                        count: 20,
                        sum: 1.0,
                        ..Default::default()
                    }],
                }),
            ),
        ]
    };
    let metrics = ExportMetricsServiceRequest {
        resource_metrics: (0..2)
            .map(|r| ResourceMetrics {
                resource: resource(r),
                scope_metrics: vec![ScopeMetrics {
                    scope: scope(r),
                    metrics: metrics_of(r as i64),
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            })
            .collect(),
    };
    vec![
        ExportRequest::Traces(traces),
        ExportRequest::Logs(logs),
        ExportRequest::Metrics(metrics),
    ]
}

/// What is left of `requests`, one line per item (see
/// [`filter_requests`]), in order.
fn survivors(requests: &[ExportRequest]) -> Vec<String> {
    use otlp_core::proto::metrics::v1::metric::Data;
    let mut out = Vec::new();
    let tag = |attrs: &[KeyValue]| {
        attrs
            .iter()
            .find(|kv| kv.key == "i")
            .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                any_value::Value::IntValue(i) => Some(i.to_string()),
                _ => None,
            })
            .unwrap_or_default()
    };
    for request in requests {
        match request {
            ExportRequest::Traces(t) => {
                for s in t
                    .resource_spans
                    .iter()
                    .flat_map(|r| &r.scope_spans)
                    .flat_map(|s| &s.spans)
                {
                    out.push(format!("span {}", s.span_id[0]));
                    for e in &s.events {
                        out.push(format!("  event {:?} of span {}", e.name, s.span_id[0]));
                    }
                }
            }
            ExportRequest::Logs(l) => {
                for r in l
                    .resource_logs
                    .iter()
                    .flat_map(|r| &r.scope_logs)
                    .flat_map(|s| &s.log_records)
                {
                    out.push(format!("log record {}", r.time_unix_nano));
                }
            }
            ExportRequest::Metrics(m) => {
                for metric in m
                    .resource_metrics
                    .iter()
                    .flat_map(|r| &r.scope_metrics)
                    .flat_map(|s| &s.metrics)
                {
                    let tags: Vec<String> = match &metric.data {
                        Some(Data::Gauge(g)) => {
                            g.data_points.iter().map(|p| tag(&p.attributes)).collect()
                        }
                        Some(Data::Sum(g)) => {
                            g.data_points.iter().map(|p| tag(&p.attributes)).collect()
                        }
                        Some(Data::Histogram(g)) => {
                            g.data_points.iter().map(|p| tag(&p.attributes)).collect()
                        }
                        Some(Data::ExponentialHistogram(g)) => {
                            g.data_points.iter().map(|p| tag(&p.attributes)).collect()
                        }
                        Some(Data::Summary(g)) => {
                            g.data_points.iter().map(|p| tag(&p.attributes)).collect()
                        }
                        None => Vec::new(),
                    };
                    out.push(format!("metric {} points {}", metric.name, tags.join(",")));
                }
            }
            _ => {}
        }
    }
    out
}

/// The same spans, events, log records, metrics and data points through
/// the Collector's `filter` processor (OTTL conditions) and our `Filter`,
/// case by case: what is left must be the same items, in the same order.
/// Each case drops something and keeps something, so that a filter that
/// drops nothing or everything fails it.
#[test]
fn filter_conditions_drop_what_the_collector_drops() {
    // (list, conditions) per case; the lists are the Collector's
    // (`traces.span`, ...) and our TOML keys alike.
    let cases: &[&[(&str, &[&str])]] = &[
        &[("span", &[r#"name == "GET /health""#])],
        &[("span", &["kind == SPAN_KIND_SERVER and status.code == STATUS_CODE_ERROR", "kind == SPAN_KIND_CONSUMER"])],
        &[("span", &["end_time_unix_nano - start_time_unix_nano > 4999"])],
        &[("span", &[r#"attributes["http.response.status_code"] >= 500.5"#])],
        &[("span", &[r#"attributes["http.response.status_code"] == "503""#])],
        &[("span", &[r#"attributes["http.response.status_code"] != 503"#])],
        &[("span", &[r#"attributes["missing"] == nil and attributes["url.path"] != nil"#])],
        &[("span", &[r#"attributes["ratio"] < 1"#, r#"attributes["flag"] > false"#])],
        &[("span", &[r#"attributes["ratio"] == 1"#, r#"attributes["flag"] <= false"#])],
        &[("span", &[r#"IsMatch(attributes["url.path"], "^/internal/")"#])],
        &[("span", &[r#"IsMatch(attributes["http.response.status_code"], "^5")"#])],
        &[("span", &[r#"IsMatch(name, "(?i)^(get|post) ")"#])],
        &[("span", &[r#"not resource.attributes["env"] == "dev""#])],
        &[("span", &[r#"resource.attributes["zone"] >= 7 and instrumentation_scope.name == "other""#])],
        &[("span", &[r#"instrumentation_scope.version != "1.2""#])],
        &[("span", &[r#"trace_state == "ot=th:8" or trace_state == "vendor=x""#])],
        &[("span", &[r#"status.message == "boom" or status.message == "fine""#])],
        &[("span", &[r#"name < "H""#, r#"name >= "db""#])],
        &[("span", &[r#"attributes["http.response.status_code"] == 0767"#])],
        &[("span", &["(kind == 2 or kind == SPAN_KIND_PRODUCER) and not (start_time_unix_nano > 1700000000000000003)"])],
        &[("span", &[r#"not name == "GET /health" and kind == 2"#, r#"name == "a\"b" or name == "Hello""#])],
        &[("span", &[r#"attributes["flag"] == "true" or IsMatch(attributes["flag"], "^false$")"#])],
        &[("span", &[r#"attributes["ratio"] >= 1.5 and attributes["ratio"] <= 1.5"#, r#"resource.attributes["zone"] == 7.0 and kind == SPAN_KIND_INTERNAL"#])],
        &[("span", &[r#"attributes["url.path"] != nil and attributes["url.path"] > "/p""#])],
        &[("span", &[r#"end_time_unix_nano - start_time_unix_nano >= 2000000 or status.code != STATUS_CODE_UNSET and status.code < STATUS_CODE_ERROR"#])],
        &[("span", &[r#"IsMatch(attributes["code"], "\\d") or IsMatch(attributes["url.path"], "^\\Q/internal/\\E\\w$")"#])],
        &[("spanevent", &[r#"name == "retry""#])],
        &[("spanevent", &[r#"attributes["attempt"] >= 2 or span.name == "Hello""#, r#"name == """#])],
        &[("spanevent", &[r#"IsMatch(span.attributes["url.path"], "pay")"#, r#"resource.attributes["env"] == "dev" and attributes["exception.type"] == nil"#])],
        &[("span", &[r#"name == "db.query""#]), ("spanevent", &[r#"name == "exception""#])],
        &[("log_record", &["severity_number >= SEVERITY_NUMBER_WARN"])],
        &[("log_record", &[r#"severity_text == "DEBUG" or severity_number < SEVERITY_NUMBER_TRACE"#])],
        &[("log_record", &[r#"body == "hello""#, r#"IsMatch(body, "card|^4")"#])],
        &[("log_record", &[r#"attributes["user"] == nil"#])],
        &[("log_record", &[r#"attributes["count"] == 2 and resource.attributes["env"] == "dev""#])],
        &[("log_record", &["time_unix_nano < 200", "observed_time_unix_nano > 1008"])],
        &[("log_record", &[r#"body == true or body > 40"#])],
        &[("log_record", &[r#"body == 42.0 or severity_number == 0"#, r#"IsMatch(body, "^4")"#])],
        &[("log_record", &[r#"attributes["count"] > 1.5 and attributes["count"] < 2.5 and severity_text != "ERROR""#])],
        &[("metric", &[r#"name == "requests""#, "type == METRIC_DATA_TYPE_HISTOGRAM"])],
        &[("metric", &[r#"unit == "s" or description == "how many""#, "type == METRIC_DATA_TYPE_EXPONENTIAL_HISTOGRAM"])],
        &[("metric", &[r#"IsMatch(name, "^l") and resource.attributes["env"] == "dev""#])],
        &[("datapoint", &["value_int == 3", "value_double > 2"])],
        &[("datapoint", &["value_double == 0"])],
        &[("datapoint", &["value_int == 0 and metric.type != METRIC_DATA_TYPE_HISTOGRAM"])],
        &[("datapoint", &[r#"IsMatch(attributes["route"], "/[ab]") and attributes["i"] > 100"#])],
        &[("datapoint", &["count > 10", "sum < 0.5"])],
        &[("datapoint", &[r#"metric.name == "latency" and attributes["route"] == "/a""#])],
        &[("datapoint", &[r#"attributes["route"] != "/a""#]), ("metric", &[r#"name == "quantiles""#])],
        &[("datapoint", &[r#"metric.type == METRIC_DATA_TYPE_SUM or time_unix_nano > 204"#])],
        &[("datapoint", &[r#"start_time_unix_nano == 100 and instrumentation_scope.name == "lib""#])],
    ];
    let requests = filter_requests();
    let everything = survivors(&requests);
    let quote_yaml = |c: &str| format!("'{}'", c.replace('\'', "''"));
    let quote_toml = |c: &str| format!("'{c}'");
    for case in cases {
        let group = |lists: &[&str]| {
            let mut parts = Vec::new();
            for (list, conditions) in case.iter().filter(|(l, _)| lists.contains(l)) {
                let items: Vec<String> = conditions.iter().map(|c| quote_yaml(c)).collect();
                parts.push(format!("{list}: [{}]", items.join(", ")));
            }
            parts.join(", ")
        };
        let mut yaml = Vec::new();
        for (signal, lists) in [
            ("traces", &["span", "spanevent"][..]),
            ("logs", &["log_record"][..]),
            ("metrics", &["metric", "datapoint"][..]),
        ] {
            let g = group(lists);
            if !g.is_empty() {
                yaml.push(format!("{signal}: {{{g}}}"));
            }
        }
        let yaml = format!("{{{}}}", yaml.join(", "));
        let mut toml = String::from("[[processor]]\ntype = \"filter\"\n");
        for (list, conditions) in *case {
            let items: Vec<String> = conditions.iter().map(|c| quote_toml(c)).collect();
            toml.push_str(&format!("{list} = [{}]\n", items.join(", ")));
        }
        let mut bench = Bench::start();
        let Some(collector) = bench.collector_for(
            &[Signal::Traces, Signal::Logs, Signal::Metrics],
            Processor::new("filter", yaml.clone()),
        ) else {
            return;
        };
        let theirs = survivors(&bench.through_each(&collector, &requests));
        let mut chain = chain_from_toml(&toml).unwrap_or_else(|e| panic!("{e}\n{toml}"));
        let ours = survivors(&ours_each(&mut chain, &requests));
        assert_eq!(
            theirs, ours,
            "{yaml}: what the Collector left (left) and what we left (right) differ"
        );
        assert_ne!(ours, everything, "{yaml}: nothing dropped");
        assert!(
            ours.iter().any(|l| !l.starts_with("  event")),
            "{yaml}: everything dropped"
        );
    }
}

// ------------------------------------------------------------ span metrics

/// Spans for the span-metrics comparison: resources with and without
/// `service.name` (one twice, its attributes in another order; one whose
/// `service.name` is an int), known and unknown kinds and status codes,
/// durations of every size (an end before its start too), dimensions from
/// the span, from the resource, by default, and an int and a string of
/// the same text; some spans sampled with a threshold of 1/2, 1/4 or 1,
/// some with a tracestate without one or that does not parse; one span in
/// nine without a trace id; some spans with events.
fn span_metrics_requests() -> Vec<ExportTraceServiceRequest> {
    use any_value::Value as V;
    let resources = [
        vec![string("service.name", "checkout"), string("env", "prod")],
        vec![string("env", "prod"), string("service.name", "checkout")],
        vec![string("service.name", "db"), kv("region", V::IntValue(7))],
        vec![string("env", "dev")],
        vec![kv("service.name", V::IntValue(5))],
    ];
    let names = ["GET /cart", "POST /pay", "SELECT", ""];
    let states = [
        "",
        "ot=th:8",
        "ot=th:c",
        "ot=th:0",
        "vendor=x",
        "ot=th:zz",
        "x=1,ot=th:8;rv:00000000000001",
    ];
    let mut rng = Rng(99);
    let mut requests = Vec::new();
    for round in 0..4u64 {
        let mut resource_spans = Vec::new();
        for (r, resource) in resources.iter().enumerate() {
            let spans = (0..60u64)
                .map(|i| {
                    let x = rng.next();
                    let start = 1_700_000_000_000_000_000 + x % 1_000_000;
                    let duration = match x % 5 {
                        0 => x % 3_000_000,
                        1 => x % 300_000_000,
                        2 => x % 20_000_000_000,
                        3 => (x % 64) * 15_625,
                        _ => 1_000_000,
                    };
                    let mut attributes = Vec::new();
                    match (x >> 8) % 4 {
                        0 => attributes.push(string("http.method", "POST")),
                        1 => attributes.push(kv("code", V::IntValue(200))),
                        2 => attributes.push(string("code", "200")),
                        _ => {}
                    }
                    if (x >> 12).is_multiple_of(7) {
                        attributes.push(kv("region", V::IntValue(8)));
                    }
                    Span {
                        // Some spans without a trace id (no exemplar).
                        trace_id: if (x >> 40).is_multiple_of(9) {
                            vec![0; 16]
                        } else {
                            [x.to_be_bytes(), round.to_be_bytes()].concat()
                        },
                        span_id: (round * 1000 + r as u64 * 100 + i).to_be_bytes().to_vec(),
                        trace_state: states[((x >> 16) % states.len() as u64) as usize].into(),
                        name: names[((x >> 20) % names.len() as u64) as usize].into(),
                        kind: ((x >> 24) % 8) as i32,
                        start_time_unix_nano: start,
                        end_time_unix_nano: if (x >> 28).is_multiple_of(50) {
                            start - 5
                        } else {
                            start + duration
                        },
                        attributes,
                        status: Some(Status {
                            code: ((x >> 32) % 4) as i32,
                            ..Default::default()
                        }),
                        events: span_events(x >> 36),
                        ..Default::default()
                    }
                })
                .collect();
            resource_spans.push(ResourceSpans {
                resource: Some(Resource {
                    attributes: resource.clone(),
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "shop".into(),
                        version: if r == 2 { String::new() } else { "2.0".into() },
                        ..Default::default()
                    }),
                    spans,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            });
        }
        requests.push(ExportTraceServiceRequest { resource_spans });
    }
    requests
}

/// Events of a span made from `x`: none, an exception (of one of three
/// types, some with a `region` of their own), or an exception and an event
/// without a type.
fn span_events(x: u64) -> Vec<span::Event> {
    use any_value::Value as V;
    let exception = |x: u64| {
        let mut attributes = vec![string(
            "exception.type",
            ["IOError", "Timeout", "ValueError"][(x % 3) as usize],
        )];
        if (x >> 2).is_multiple_of(4) {
            attributes.push(kv("region", V::IntValue(9)));
        }
        span::Event {
            name: "exception".into(),
            attributes,
            ..Default::default()
        }
    };
    match x % 3 {
        0 => Vec::new(),
        1 => vec![exception(x >> 2)],
        _ => vec![
            exception(x >> 2),
            span::Event {
                name: "log".into(),
                ..Default::default()
            },
        ],
    }
}

/// What a metrics request says, without its timestamps: per resource (its
/// attributes in key order), scope, metric (name, unit) and series (its
/// attributes in order), the calls or the histogram.
type SeriesTable = BTreeMap<SeriesKey, String>;

/// A series: its resource, scope, metric and attributes.
type SeriesKey = (String, String, String, String);

/// A resource's attributes as text, in key order.
fn resource_text(rm: &otlp_core::proto::metrics::v1::ResourceMetrics) -> String {
    let mut resource = rm
        .resource
        .as_ref()
        .map(|r| r.attributes.clone())
        .unwrap_or_default();
    resource.sort_by(|a, b| a.key.cmp(&b.key));
    attrs(&resource)
}

fn series_table(
    request: &otlp_core::proto::collector::metrics::v1::ExportMetricsServiceRequest,
) -> SeriesTable {
    use otlp_core::proto::metrics::v1::metric::Data;
    let mut t = SeriesTable::new();
    for rm in &request.resource_metrics {
        let resource = resource_text(rm);
        for sm in &rm.scope_metrics {
            let scope = format!("{:?}", sm.scope);
            for m in &sm.metrics {
                let name = format!("{} [{}]", m.name, m.unit);
                match &m.data {
                    Some(Data::Sum(s)) => {
                        for p in &s.data_points {
                            t.insert(
                                (
                                    resource.clone(),
                                    scope.clone(),
                                    name.clone(),
                                    attrs(&p.attributes),
                                ),
                                format!(
                                    "sum {:?} temporality {} monotonic {} exemplars {}",
                                    p.value,
                                    s.aggregation_temporality,
                                    s.is_monotonic,
                                    exemplars(&p.exemplars)
                                ),
                            );
                        }
                    }
                    Some(Data::Histogram(h)) => {
                        for p in &h.data_points {
                            t.insert(
                                (resource.clone(), scope.clone(), name.clone(), attrs(&p.attributes)),
                                format!(
                                    "histogram count {} sum {:?} buckets {:?} bounds {:?} min {:?} max {:?} temporality {} exemplars {}",
                                    p.count, p.sum, p.bucket_counts, p.explicit_bounds, p.min, p.max,
                                    h.aggregation_temporality, exemplars(&p.exemplars)
                                ),
                            );
                        }
                    }
                    other => panic!("unexpected metric data {other:?}"),
                }
            }
        }
    }
    t
}

/// The same spans through the Collector's `span_metrics` connector and our
/// `SpanMetrics`: the same resources, series, calls, bucket counts and
/// sums (bit for bit), for the default and for configured buckets.
#[test]
fn span_metrics_match_the_collector() {
    let requests = span_metrics_requests();
    // The dimensions of most configurations, in YAML and TOML.
    const DIMS: (&str, &str) = (
        "{name: http.method, default: GET}, {name: region}, {name: code}",
        "{ name = \"http.method\", default = \"GET\" }, { name = \"region\" }, { name = \"code\" }",
    );
    // (more YAML, more TOML, dimensions excluded besides
    // collector.instance.id, dimensions)
    for (extra_yaml, extra_toml, exclude, (dims_yaml, dims_toml)) in [
        ("", "", "", DIMS),
        // Glob dimensions: `*` takes `code` and `region` from the spans
        // and `env` and `region` from the resources, `http.*` the method.
        ("", "", "", ("{glob: \"*\"}, {glob: \"http.*\"}", "{ glob = \"*\" }, { glob = \"http.*\" }")),
        (
            ", histogram: {explicit: {buckets: [1ms, 5ms, 250ms, 2s]}}",
            "histogram_buckets_ms = [1.0, 5.0, 250.0, 2000.0]\n",
            "",
            DIMS,
        ),
        (
            ", include_instrumentation_scope: [shop]",
            "include_instrumentation_scope = [\"shop\"]\n",
            "span.name",
            DIMS,
        ),
        (
            ", histogram: {unit: s, explicit: {buckets: [1ms, 5ms, 250ms, 2s]}}, enable_metrics_sampling_method: true",
            "histogram_unit = \"s\"\nhistogram_buckets_ms = [1.0, 5.0, 250.0, 2000.0]\nenable_metrics_sampling_method = true\n",
            "",
            DIMS,
        ),
        // Resources told apart by `env` alone: the two `checkout` ones are
        // one, and so are `db` and the one whose service.name is an int.
        (
            ", histogram: {unit: s}, resource_metrics_key_attributes: [env]",
            "histogram_unit = \"s\"\nresource_metrics_key_attributes = [\"env\"]\n",
            "",
            DIMS,
        ),
        (", histogram: {disable: true}", "histogram_disable = true\n", "", DIMS),
        // Calls- and duration-only dimensions: the two metrics in series
        // of their own.
        (
            ", calls_dimensions: [{name: env}], histogram: {dimensions: [{name: region, default: nowhere}]}",
            "calls_dimensions = [{ name = \"env\" }]\nhistogram_dimensions = [{ name = \"region\", default = \"nowhere\" }]\n",
            "",
            ("{name: http.method, default: GET}, {name: code}", "{ name = \"http.method\", default = \"GET\" }, { name = \"code\" }"),
        ),
        // The events metric: by exception type (`none` by default), the
        // `region` dimension taken from the event where the span has none.
        (
            ", events: {enabled: true, dimensions: [{name: exception.type, default: none}]}",
            "events = { enabled = true, dimensions = [{ name = \"exception.type\", default = \"none\" }] }\n",
            "",
            DIMS,
        ),
    ] {
        let yaml = format!(
            "{{metrics_flush_interval: 100ms, exclude_dimensions: [collector.instance.id, {exclude}], dimensions: [{dims_yaml}]{extra_yaml}}}"
        );
        let toml = format!(
            "[[processor]]\ntype = \"span_metrics\"\ndimensions = [{dims_toml}]\nexclude_dimensions = [\"collector.instance.id\", \"{exclude}\"]\n{extra_toml}"
        );
        let mut chain = chain_from_toml(&toml).unwrap_or_else(|e| panic!("{e}\n{toml}"));
        for r in &requests {
            chain.process(&mut r.clone());
        }
        let ours = chain.take_metrics().expect("span metrics");
        let ours = series_table(&ours);
        let want = total_calls(&ours);
        assert!(want > 0);
        let Some((mut bench, collector, client)) = span_metrics_connector(&yaml) else {
            return;
        };
        for r in &requests {
            let body = ExportRequest::Traces(r.clone()).encode_protobuf();
            bench
                .rt
                .block_on(client.export(Signal::Traces, Payload::new(body, Algorithm::None)))
                .unwrap_or_else(|e| panic!("export to the Collector: {e}\n{}", collector.stderr()));
        }
        // The connector flushes its cumulative state every 100 ms: wait
        // for a flush that has counted every span.
        let theirs = series_table(&next_flush_counting(&mut bench, &collector, want, true));
        compare_series(&yaml, &theirs, &ours);
    }
}

/// Exemplars as text: trace and span ids, value, attributes (their time
/// aside).
fn exemplars(list: &[otlp_core::proto::metrics::v1::Exemplar]) -> String {
    let items: Vec<String> = list
        .iter()
        .map(|e| {
            format!(
                "{}/{} {:?} {}",
                hex(&e.trace_id),
                hex(&e.span_id),
                e.value,
                attrs(&e.filtered_attributes)
            )
        })
        .collect();
    format!("[{}]", items.join(", "))
}

/// Our receiver, a Collector whose `span_metrics` connector (settings
/// `yaml`) sends to it, and a client of the Collector; `None` when the
/// Collector is skipped.
fn span_metrics_connector(yaml: &str) -> Option<(Bench, Collector, OtlpClient)> {
    let bench = Bench::start();
    let collector = Collector::start_connector_or_skip(
        &Processor::new("span_metrics", yaml.to_owned()),
        &bench.exporter(),
    )?;
    let client = OtlpClient::builder(otlp_transport::Protocol::Grpc)
        .with_endpoint(collector.grpc_endpoint())
        .with_timeout(WAIT)
        .build()
        .unwrap();
    Some((bench, collector, client))
}

/// The calls a series table counts in all.
fn total_calls(t: &SeriesTable) -> i64 {
    t.iter()
        .filter(|(k, _)| k.2.contains(".calls"))
        .map(|(_, v)| {
            v.trim_start_matches("sum Some(AsInt(")
                .split(')')
                .next()
                .and_then(|n| n.parse::<i64>().ok())
                .unwrap_or(0)
        })
        .sum()
}

/// The next metrics the Collector sends that count `want` calls (at least
/// `want` when `at_least`), skipping flushes that count none; a flush
/// that counts other than that fails.
fn next_flush_counting(
    bench: &mut Bench,
    collector: &Collector,
    want: i64,
    at_least: bool,
) -> otlp_core::proto::collector::metrics::v1::ExportMetricsServiceRequest {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let rx = &mut bench.rx;
        let got = bench
            .rt
            .block_on(async { tokio::time::timeout(left, rx.recv()).await })
            .unwrap_or_else(|_| panic!("no flush counting {want} calls\n{}", collector.stderr()))
            .expect("the receiver runs");
        let ExportRequest::Metrics(m) = got.request else {
            panic!("the Collector forwarded {:?}", got.request.signal());
        };
        let calls = total_calls(&series_table(&m));
        if calls == want || (at_least && calls > want) {
            return m;
        }
        assert!(
            at_least || calls == 0,
            "a flush counted {calls} calls, not {want}"
        );
    }
}

/// Fails, naming every difference, unless the two tables are equal.
fn compare_series(config: &str, theirs: &SeriesTable, ours: &SeriesTable) {
    if theirs != ours {
        let mut report = format!("{config}: the connector's series (<) and ours (>) differ\n");
        for (k, v) in theirs {
            if ours.get(k) != Some(v) {
                report.push_str(&format!("< {k:?} {v}\n"));
            }
        }
        for (k, v) in ours {
            if theirs.get(k) != Some(v) {
                report.push_str(&format!("> {k:?} {v}\n"));
            }
        }
        panic!("{report}");
    }
}

/// Each point's (resource, scope, metric, attributes) and its start and
/// end times; attributes by their text, as the connector keys series (an
/// int 200 and a string "200" are one series, named after its first
/// span's, which may differ from one report to the next).
fn point_times(
    request: &otlp_core::proto::collector::metrics::v1::ExportMetricsServiceRequest,
) -> Vec<(SeriesKey, u64, u64)> {
    use otlp_core::proto::metrics::v1::metric::Data;
    let mut out = Vec::new();
    for rm in &request.resource_metrics {
        let resource = resource_text(rm);
        for sm in &rm.scope_metrics {
            for m in &sm.metrics {
                let key = |a: &[KeyValue]| {
                    (
                        resource.clone(),
                        format!("{:?}", sm.scope),
                        m.name.clone(),
                        attrs(a).replace('"', ""),
                    )
                };
                match &m.data {
                    Some(Data::Sum(s)) => {
                        out.extend(s.data_points.iter().map(|p| {
                            (key(&p.attributes), p.start_time_unix_nano, p.time_unix_nano)
                        }))
                    }
                    Some(Data::Histogram(h)) => {
                        out.extend(h.data_points.iter().map(|p| {
                            (key(&p.attributes), p.start_time_unix_nano, p.time_unix_nano)
                        }))
                    }
                    other => panic!("unexpected metric data {other:?}"),
                }
            }
        }
    }
    out
}

/// Delta points form an unbroken series: a series' point starts where its
/// last one ended, a new series' at or before its end.
fn check_delta_chain(
    side: &str,
    reports: &[otlp_core::proto::collector::metrics::v1::ExportMetricsServiceRequest],
) {
    let mut last = BTreeMap::new();
    for (round, report) in reports.iter().enumerate() {
        let points = point_times(report);
        for (key, start, time) in &points {
            match last.get(key) {
                Some(end) => assert_eq!(
                    start, end,
                    "{side}, round {round}: {key:?} does not start where it ended"
                ),
                None => assert!(
                    0 < *start && start <= time,
                    "{side}, round {round}: {key:?} starts at {start}, ends at {time}"
                ),
            }
        }
        for (key, _, time) in points {
            last.insert(key, time);
        }
    }
}

/// Delta temporality: each round of spans goes through the connector,
/// which reports it in one flush, and through our `SpanMetrics`, which
/// reports it when asked; the two reports hold the same series, counts,
/// buckets and sums, and on both sides each series' points follow on from
/// each other (start = the end of its last point).
#[test]
fn span_metrics_delta_matches_the_collector() {
    let requests = span_metrics_requests();
    let yaml = "{metrics_flush_interval: 100ms, aggregation_temporality: AGGREGATION_TEMPORALITY_DELTA, exemplars: {enabled: true, max_per_data_point: 3}, exclude_dimensions: [collector.instance.id], dimensions: [{name: http.method, default: GET}, {name: region}, {name: code}]}";
    let toml = "[[processor]]\ntype = \"span_metrics\"\naggregation_temporality = \"AGGREGATION_TEMPORALITY_DELTA\"\nexemplars = { enabled = true, max_per_data_point = 3 }\ndimensions = [{ name = \"http.method\", default = \"GET\" }, { name = \"region\" }, { name = \"code\" }]\nexclude_dimensions = [\"collector.instance.id\"]\n";
    let mut chain = chain_from_toml(toml).unwrap_or_else(|e| panic!("{e}\n{toml}"));
    let ours: Vec<_> = requests
        .iter()
        .map(|r| {
            chain.process(&mut r.clone());
            // Reports are stamped in nanoseconds: keep them apart.
            std::thread::sleep(Duration::from_millis(2));
            chain.take_metrics().expect("span metrics")
        })
        .collect();
    let Some((mut bench, collector, client)) = span_metrics_connector(yaml) else {
        return;
    };
    let mut theirs = Vec::new();
    for (r, want) in requests.iter().zip(&ours) {
        let body = ExportRequest::Traces(r.clone()).encode_protobuf();
        bench
            .rt
            .block_on(client.export(Signal::Traces, Payload::new(body, Algorithm::None)))
            .unwrap_or_else(|e| panic!("export to the Collector: {e}\n{}", collector.stderr()));
        // One request is counted whole in one flush; the flushes between
        // requests count nothing.
        let calls = total_calls(&series_table(want));
        assert!(calls > 0);
        theirs.push(next_flush_counting(&mut bench, &collector, calls, false));
    }
    for (round, (t, o)) in theirs.iter().zip(&ours).enumerate() {
        compare_series(
            &format!("{yaml}, round {round}"),
            &series_table(t),
            &series_table(o),
        );
    }
    check_delta_chain("the connector", &theirs);
    check_delta_chain("ours", &ours);
}

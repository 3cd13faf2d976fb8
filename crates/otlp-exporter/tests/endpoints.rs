//! Several endpoints: routing by trace id through the span processor and
//! the span exporter, endpoints that turn unhealthy and back, and endpoints
//! from a DNS name whose answer changes while the exporter runs.

use opentelemetry::trace::{SpanKind, TraceContextExt as _, Tracer as _, TracerProvider as _};
use opentelemetry::Context;
use opentelemetry_sdk::trace::SdkTracerProvider;
use otlp_core::ExportRequest;
use otlp_exporter::{
    ExportStats, HealthCheck, OtlpSpanExporter, OtlpSpanProcessor, Protocol, StatsSnapshot,
};
use otlp_transport::receiver::{HealthHandle, ReceivedRequest, Receiver, Reply, RunningReceiver};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// (trace id, span id) of the spans received.
type Received = Arc<Mutex<Vec<([u8; 16], [u8; 8])>>>;

/// The trace id of each log record received (empty when it has none).
type ReceivedLogs = Arc<Mutex<Vec<Vec<u8>>>>;

/// A receiver that keeps the (trace id, span id) of every span it gets.
struct Collector {
    rt: tokio::runtime::Runtime,
    receiver: Option<RunningReceiver>,
    spans: Received,
    logs: ReceivedLogs,
    requests: Arc<Mutex<usize>>,
}

impl Collector {
    fn start(addr: SocketAddr) -> Collector {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let spans: Received = Arc::default();
        let logs: ReceivedLogs = Arc::default();
        let requests: Arc<Mutex<usize>> = Arc::default();
        let (kept, counted) = (Arc::clone(&spans), Arc::clone(&requests));
        let kept_logs = Arc::clone(&logs);
        let receiver = rt.block_on(async move {
            Receiver::builder()
                .with_grpc_addr(addr)
                .serve(move |r: ReceivedRequest| {
                    if let ExportRequest::Logs(l) = &r.request {
                        kept_logs.lock().unwrap().extend(
                            l.resource_logs
                                .iter()
                                .flat_map(|rl| &rl.scope_logs)
                                .flat_map(|sl| &sl.log_records)
                                .map(|rec| rec.trace_id.clone()),
                        );
                    }
                    if let ExportRequest::Traces(t) = &r.request {
                        let mut kept = kept.lock().unwrap();
                        for span in t
                            .resource_spans
                            .iter()
                            .flat_map(|rs| &rs.scope_spans)
                            .flat_map(|ss| &ss.spans)
                        {
                            let (Ok(trace), Ok(id)) = (
                                <[u8; 16]>::try_from(span.trace_id.as_slice()),
                                <[u8; 8]>::try_from(span.span_id.as_slice()),
                            ) else {
                                continue;
                            };
                            kept.push((trace, id));
                        }
                    }
                    *counted.lock().unwrap() += 1;
                    async { Reply::Accept }
                })
                .await
                .unwrap()
        });
        Collector {
            rt,
            receiver: Some(receiver),
            spans,
            logs,
            requests,
        }
    }

    fn endpoint(&self) -> String {
        format!(
            "http://{}",
            self.receiver.as_ref().unwrap().grpc_addr().unwrap()
        )
    }

    fn health(&self) -> HealthHandle {
        self.receiver.as_ref().unwrap().health()
    }

    fn requests(&self) -> usize {
        *self.requests.lock().unwrap()
    }

    fn traces(&self) -> HashSet<[u8; 16]> {
        self.spans.lock().unwrap().iter().map(|(t, _)| *t).collect()
    }

    /// The trace ids of the log records received (empty for none).
    fn log_traces(&self) -> Vec<Vec<u8>> {
        self.logs.lock().unwrap().clone()
    }

    fn span_count(&self) -> usize {
        self.spans.lock().unwrap().len()
    }

    fn stop(mut self) {
        if let Some(r) = self.receiver.take() {
            self.rt.block_on(r.shutdown());
        }
    }
}

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// `traces` traces of `per_trace` spans each: a server span with client
/// and database children.
fn make_traces(provider: &SdkTracerProvider, traces: usize, per_trace: usize) {
    let tracer = provider.tracer("endpoints");
    for t in 0..traces {
        let root = tracer
            .span_builder(format!("GET /orders/{t}"))
            .with_kind(SpanKind::Server)
            .start(&tracer);
        let cx = Context::current_with_span(root);
        for c in 1..per_trace {
            let kind = if c % 2 == 0 {
                SpanKind::Client
            } else {
                SpanKind::Internal
            };
            let _child = tracer
                .span_builder(format!("child {c}"))
                .with_kind(kind)
                .start_with_context(&tracer, &cx);
        }
        cx.span().end();
    }
}

/// Every trace is whole at exactly one collector; returns how many
/// traces each has.
fn each_trace_at_one(collectors: &[&Collector]) -> Vec<usize> {
    let mut seen: HashMap<[u8; 16], usize> = HashMap::new();
    for (i, c) in collectors.iter().enumerate() {
        for t in c.traces() {
            if let Some(other) = seen.insert(t, i) {
                panic!("trace {t:02x?} at collectors {other} and {i}");
            }
        }
    }
    collectors.iter().map(|c| c.traces().len()).collect()
}

fn wait(stats: &ExportStats, what: &str, done: impl Fn(&StatsSnapshot) -> bool) {
    assert!(
        stats.wait_for(done, Duration::from_secs(60)).is_some(),
        "timed out waiting for {what}: {:?} {:?}",
        stats.snapshot(),
        stats.endpoints()
    );
}

#[test]
fn spans_of_a_trace_go_to_one_endpoint_processor_and_exporter() {
    let collectors: Vec<Collector> = (0..3).map(|_| Collector::start(any_port())).collect();
    let endpoints: Vec<String> = collectors.iter().map(Collector::endpoint).collect();
    const TRACES: usize = 300;
    const PER_TRACE: usize = 4;

    // The span processor partitions spans by endpoint as it encodes them.
    let processor = OtlpSpanProcessor::builder()
        .with_endpoints(endpoints.clone())
        .with_protocol(Protocol::Grpc)
        .with_max_batch_size(64)
        .build()
        .unwrap();
    let stats = processor.stats();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .build();
    make_traces(&provider, TRACES, PER_TRACE);
    provider.shutdown().unwrap();
    let snap = stats.snapshot();
    assert_eq!(snap.items_exported, (TRACES * PER_TRACE) as u64, "{snap:?}");
    assert_eq!(snap.dropped.total(), 0);
    let per_endpoint = stats.endpoints();
    assert_eq!(per_endpoint.len(), 3);
    assert_eq!(
        per_endpoint
            .iter()
            .map(|e| e.stats.items_exported)
            .sum::<u64>(),
        snap.items_exported,
        "the total is the sum of the endpoints"
    );
    let refs: Vec<&Collector> = collectors.iter().collect();
    let counts = each_trace_at_one(&refs);
    assert_eq!(counts.iter().sum::<usize>(), TRACES);
    assert!(counts.iter().all(|&n| n > TRACES / 10), "{counts:?}");
    for (e, c) in per_endpoint.iter().zip(&collectors) {
        // The endpoints are listed in the order they were given.
        assert_eq!(e.endpoint, c.endpoint());
        assert_eq!(e.stats.items_exported, c.span_count() as u64);
        assert!(e.in_ring && e.member);
    }

    // The span exporter does the same with each SDK batch.
    let before: Vec<HashSet<[u8; 16]>> = collectors.iter().map(Collector::traces).collect();
    let exporter = OtlpSpanExporter::builder()
        .with_endpoints(endpoints)
        .with_protocol(Protocol::Grpc)
        .build()
        .unwrap();
    let stats = exporter.stats();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .build();
    make_traces(&provider, TRACES, PER_TRACE);
    provider.shutdown().unwrap();
    wait(&stats, "every span exported", |s| {
        s.items_exported == (TRACES * PER_TRACE) as u64
    });
    let counts = each_trace_at_one(&refs);
    assert_eq!(counts.iter().sum::<usize>(), 2 * TRACES);
    for (c, earlier) in collectors.iter().zip(before) {
        assert!(
            c.traces().len() > earlier.len(),
            "every collector got new traces"
        );
    }
    for c in collectors {
        c.stop();
    }
}

/// Log records go where their trace's spans go; records without a trace
/// all to the one endpoint of their service.
#[test]
fn log_records_follow_their_trace() {
    use opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _};
    use opentelemetry::trace::{TraceFlags, TraceId};
    use opentelemetry_sdk::logs::SdkLoggerProvider;
    use opentelemetry_sdk::Resource;
    use otlp_exporter::OtlpLogExporter;
    let collectors: Vec<Collector> = (0..3).map(|_| Collector::start(any_port())).collect();
    let endpoints: Vec<String> = collectors.iter().map(Collector::endpoint).collect();
    const TRACES: usize = 200;
    let resource = Resource::builder().with_service_name("checkout").build();
    // Spans first: where each trace goes.
    let exporter = OtlpSpanExporter::builder()
        .with_endpoints(endpoints.clone())
        .with_protocol(Protocol::Grpc)
        .build()
        .unwrap();
    let provider = SdkTracerProvider::builder()
        .with_resource(resource.clone())
        .with_batch_exporter(exporter)
        .build();
    make_traces(&provider, TRACES, 2);
    provider.shutdown().unwrap();
    let refs: Vec<&Collector> = collectors.iter().collect();
    assert_eq!(each_trace_at_one(&refs).iter().sum::<usize>(), TRACES);
    let home: HashMap<[u8; 16], usize> = collectors
        .iter()
        .enumerate()
        .flat_map(|(i, c)| c.traces().into_iter().map(move |t| (t, i)))
        .collect();
    // Then two log records of each trace and one without, in batches that
    // mix the traces.
    let exporter = OtlpLogExporter::builder()
        .with_endpoints(endpoints)
        .with_protocol(Protocol::Grpc)
        .build()
        .unwrap();
    let stats = exporter.stats();
    let logs = SdkLoggerProvider::builder()
        .with_resource(resource)
        .with_batch_exporter(exporter)
        .build();
    let logger = logs.logger("endpoints");
    for round in 0..2 {
        for trace in home.keys() {
            let mut record = logger.create_log_record();
            record.set_body(format!("step {round}").into());
            record.set_trace_context(
                TraceId::from_bytes(*trace),
                opentelemetry::trace::SpanId::from_bytes([1; 8]),
                Some(TraceFlags::SAMPLED),
            );
            logger.emit(record);
            let mut untraced = logger.create_log_record();
            untraced.set_body("no trace".into());
            logger.emit(untraced);
        }
    }
    logs.shutdown().unwrap();
    let sent = (4 * TRACES) as u64;
    let snap = stats.snapshot();
    assert_eq!(
        (snap.items_exported, snap.dropped.total()),
        (sent, 0),
        "{snap:?}"
    );
    let mut untraced_at = HashSet::new();
    let mut traced = 0;
    for (i, c) in collectors.iter().enumerate() {
        for t in c.log_traces() {
            match <[u8; 16]>::try_from(t.as_slice()) {
                Ok(t) if t != [0; 16] => {
                    assert_eq!(
                        home[&t], i,
                        "a log record of trace {t:02x?} away from its spans"
                    );
                    traced += 1;
                }
                _ => {
                    untraced_at.insert(i);
                }
            }
        }
    }
    assert_eq!(traced, 2 * TRACES);
    assert_eq!(
        untraced_at.len(),
        1,
        "records without a trace go to one endpoint"
    );
    assert_eq!(
        collectors
            .iter()
            .map(|c| c.log_traces().len())
            .sum::<usize>(),
        4 * TRACES
    );
    for c in collectors {
        c.stop();
    }
}

#[test]
fn an_endpoint_not_serving_leaves_the_ring_and_comes_back() {
    let collectors: Vec<Collector> = (0..3).map(|_| Collector::start(any_port())).collect();
    let endpoints: Vec<String> = collectors.iter().map(Collector::endpoint).collect();
    let processor = OtlpSpanProcessor::builder()
        .with_endpoints(endpoints)
        .with_protocol(Protocol::Grpc)
        .with_health_check(HealthCheck::grpc().with_interval(Duration::from_millis(100)))
        .with_max_batch_size(32)
        .build()
        .unwrap();
    let stats = processor.stats();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .build();
    let in_ring = |i: usize| {
        let stats = stats.clone();
        move |_: &StatsSnapshot| stats.endpoints()[i].in_ring
    };
    let out_of_ring = |i: usize| {
        let stats = stats.clone();
        move |_: &StatsSnapshot| !stats.endpoints()[i].in_ring
    };

    make_traces(&provider, 100, 3);
    provider.force_flush().unwrap();
    assert!(collectors.iter().all(|c| c.requests() > 0));

    collectors[0].health().set_serving(false);
    wait(&stats, "endpoint 0 to leave the ring", out_of_ring(0));
    assert_eq!(stats.endpoints()[0].serving, Some(false));
    let before = collectors[0].requests();
    make_traces(&provider, 100, 3);
    provider.force_flush().unwrap();
    assert_eq!(
        collectors[0].requests(),
        before,
        "no batch for an endpoint not serving"
    );

    collectors[0].health().set_serving(true);
    wait(&stats, "endpoint 0 to come back", in_ring(0));
    make_traces(&provider, 100, 3);
    provider.force_flush().unwrap();
    assert!(collectors[0].requests() > before, "its share is back");

    provider.shutdown().unwrap();
    let snap = stats.snapshot();
    assert_eq!(snap.items_exported, 900);
    assert_eq!(snap.dropped.total(), 0);
    // Traces sent while it was out went to their next owners; those sent
    // before and after each went to one endpoint.
    let refs: Vec<&Collector> = collectors.iter().collect();
    assert_eq!(each_trace_at_one(&refs).iter().sum::<usize>(), 300);
    for c in collectors {
        c.stop();
    }
}

/// Every endpoint's ledger adds up with what it handed on, and the total's
/// without.
fn assert_books_balance(stats: &ExportStats) {
    let total = stats.snapshot();
    assert_eq!(
        total.items_accepted,
        total.items_exported + total.dropped.total() + total.queued_items + total.in_flight_items,
        "{total:?}"
    );
    let mut accepted_by_endpoints = 0;
    for e in stats.endpoints() {
        let s = &e.stats;
        assert_eq!(
            s.items_accepted,
            s.items_exported
                + s.dropped.total()
                + s.queued_items
                + s.in_flight_items
                + s.rerouted_items,
            "{}: {s:?}",
            e.endpoint
        );
        accepted_by_endpoints += s.items_accepted - s.rerouted_items;
    }
    // What an endpoint handed on was accepted again by the next.
    assert_eq!(accepted_by_endpoints, total.items_accepted);
}

#[test]
fn an_endpoint_gone_hands_its_batches_to_the_next_owner() {
    let mut collectors: Vec<Collector> = (0..3).map(|_| Collector::start(any_port())).collect();
    let endpoints: Vec<String> = collectors.iter().map(Collector::endpoint).collect();
    let exporter = OtlpSpanExporter::builder()
        .with_endpoints(endpoints)
        .with_protocol(Protocol::Grpc)
        .with_health_check(HealthCheck::grpc().with_interval(Duration::from_millis(100)))
        .with_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let stats = exporter.stats();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .build();
    make_traces(&provider, 100, 5);
    provider.force_flush().unwrap();
    wait(&stats, "the first traces", |s| s.items_exported == 500);
    let first_at_0 = collectors[0].traces();
    assert!(!first_at_0.is_empty());

    // Endpoint 0 goes away; its traces go on at their next owners.
    collectors.remove(0).stop();
    make_traces(&provider, 300, 5);
    provider.force_flush().unwrap();
    wait(&stats, "every span", |s| s.items_exported == 2000);
    let out = stats.clone();
    wait(&stats, "endpoint 0 out of the ring", move |_| {
        !out.endpoints()[0].in_ring
    });
    provider.shutdown().unwrap();
    let snap = stats.snapshot();
    assert_eq!(snap.items_exported, 2000, "nothing lost: {snap:?}");
    assert_eq!(snap.dropped.total(), 0);
    assert_books_balance(&stats);
    let refs: Vec<&Collector> = collectors.iter().collect();
    let later: usize = each_trace_at_one(&refs).iter().sum();
    assert_eq!(later + first_at_0.len(), 400, "every trace at one receiver");
    for c in collectors {
        c.stop();
    }
}

#[test]
fn round_robin_least_pending_and_service_routing() {
    use opentelemetry_sdk::Resource;
    use otlp_exporter::Routing;
    let collectors: Vec<Collector> = (0..3).map(|_| Collector::start(any_port())).collect();
    let endpoints: Vec<String> = collectors.iter().map(Collector::endpoint).collect();
    let mut sent = 0;
    for routing in [Routing::RoundRobin, Routing::LeastPending, Routing::Service] {
        let before: Vec<usize> = collectors.iter().map(Collector::requests).collect();
        let exporter = OtlpSpanExporter::builder()
            .with_endpoints(endpoints.clone())
            .with_protocol(Protocol::Grpc)
            .with_routing(routing)
            .build()
            .unwrap();
        let stats = exporter.stats();
        let provider = SdkTracerProvider::builder()
            .with_resource(Resource::builder().with_service_name("checkout").build())
            .with_batch_exporter(exporter)
            .build();
        // Batches of 512 spans; the SDK's processor exports them one by one.
        for _ in 0..12 {
            make_traces(&provider, 64, 8);
            provider.force_flush().unwrap();
        }
        provider.shutdown().unwrap();
        sent += 12 * 64 * 8;
        let snap = stats.snapshot();
        assert_eq!(
            (snap.items_exported, snap.dropped.total()),
            (12 * 64 * 8, 0),
            "{routing}"
        );
        let got: Vec<usize> = collectors
            .iter()
            .zip(&before)
            .map(|(c, b)| c.requests() - b)
            .collect();
        match routing {
            // Batches in turn: 12 over three.
            Routing::RoundRobin => assert_eq!(got, [4, 4, 4], "{routing}"),
            // One service, one endpoint.
            Routing::Service => {
                assert_eq!(
                    got.iter().filter(|n| **n > 0).count(),
                    1,
                    "{routing}: {got:?}"
                )
            }
            _ => assert_eq!(got.iter().sum::<usize>(), 12, "{routing}: {got:?}"),
        }
    }
    assert_eq!(
        collectors.iter().map(Collector::span_count).sum::<usize>(),
        sent
    );
    for c in collectors {
        c.stop();
    }
}

//! Processors configured on the exporters: what they remove never reaches
//! the receiver, what they change arrives changed, every span is accounted
//! for, and derived metrics go to the metrics endpoint.
#![cfg(feature = "processors")]

use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::SdkTracerProvider;
use otlp_core::proto::collector::trace::v1::ExportTraceServiceRequest;
use otlp_core::proto::common::v1::any_value::Value;
use otlp_core::ExportRequest;
use otlp_exporter::processors::{chain_from_toml, Chain, Outcome, Processor};
use otlp_exporter::{OtlpSpanExporter, OtlpSpanProcessor, Protocol};
use otlp_transport::receiver::{ReceivedRequest, Receiver, Reply, RunningReceiver};
use std::sync::{Arc, Mutex};

/// A receiver recording every request it accepts.
struct Recorder {
    rt: tokio::runtime::Runtime,
    receiver: Option<RunningReceiver>,
    got: Arc<Mutex<Vec<ExportRequest>>>,
}

impl Recorder {
    fn start() -> Recorder {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let got: Arc<Mutex<Vec<ExportRequest>>> = Arc::default();
        let log = Arc::clone(&got);
        let receiver = rt.block_on(async move {
            Receiver::builder()
                .with_grpc_addr("127.0.0.1:0".parse().unwrap())
                .with_http_addr("127.0.0.1:0".parse().unwrap())
                .serve(move |r: ReceivedRequest| {
                    log.lock().unwrap().push(r.request);
                    async { Reply::Accept }
                })
                .await
                .unwrap()
        });
        Recorder {
            rt,
            receiver: Some(receiver),
            got,
        }
    }

    fn endpoint(&self) -> String {
        format!(
            "http://{}",
            self.receiver.as_ref().unwrap().grpc_addr().unwrap()
        )
    }

    fn endpoint_for(&self, protocol: Protocol) -> String {
        let r = self.receiver.as_ref().unwrap();
        match protocol {
            Protocol::Grpc => format!("http://{}", r.grpc_addr().unwrap()),
            _ => format!("http://{}", r.http_addr().unwrap()),
        }
    }

    fn trace_requests(&self) -> Vec<ExportTraceServiceRequest> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter_map(|r| match r {
                ExportRequest::Traces(t) => Some(t.clone()),
                _ => None,
            })
            .collect()
    }

    fn traces(&self) -> Vec<otlp_core::proto::trace::v1::Span> {
        self.trace_requests()
            .into_iter()
            .flat_map(|t| t.resource_spans)
            .flat_map(|r| r.scope_spans)
            .flat_map(|s| s.spans)
            .collect()
    }

    /// The sum of the `calls` data points of the last metrics request.
    fn last_calls_total(&self) -> i64 {
        use otlp_core::proto::metrics::v1::{metric, number_data_point};
        let got = self.got.lock().unwrap();
        let last = got
            .iter()
            .rev()
            .find_map(|r| match r {
                ExportRequest::Metrics(m) => Some(m.clone()),
                _ => None,
            })
            .expect("a metrics request");
        last.resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
            .filter(|m| m.name.ends_with(".calls"))
            .flat_map(|m| match &m.data {
                Some(metric::Data::Sum(s)) => s.data_points.clone(),
                _ => Vec::new(),
            })
            .map(|p| match p.value {
                Some(number_data_point::Value::AsInt(n)) => n,
                _ => 0,
            })
            .sum()
    }

    fn metric_names(&self) -> Vec<String> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter_map(|r| match r {
                ExportRequest::Metrics(m) => Some(m.clone()),
                _ => None,
            })
            .flat_map(|m| m.resource_metrics)
            .flat_map(|r| r.scope_metrics)
            .flat_map(|s| s.metrics)
            .map(|m| m.name)
            .collect()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if let Some(r) = self.receiver.take() {
            self.rt.block_on(r.shutdown());
        }
    }
}

const CONFIG: &str = r#"
[[processor]]
type = "span_metrics"
dimensions = [{ name = "i" }]
cardinality_limit = 50

[[processor]]
type = "filter"
span = ['name == "GET /health"']
spanevent = ['name == "debug"']

[[processor]]
type = "probabilistic_sampler"
mode = "proportional"
sampling_percentage = 50.0

[[processor]]
type = "redaction"
allow_all_keys = true
blocked_values = ['\b[\w.+-]+@[\w-]+\.[\w.]+\b']
summary = "silent"
"#;

fn string_attr<'a>(span: &'a otlp_core::proto::trace::v1::Span, key: &str) -> Option<&'a str> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) => Some(s.as_str()),
            _ => None,
        })
}

#[test]
fn the_span_processor_sends_only_what_the_chain_keeps() {
    for protocol in [Protocol::Grpc, Protocol::HttpJson] {
        only_what_the_chain_keeps(protocol);
    }
}

fn only_what_the_chain_keeps(protocol: Protocol) {
    let recorder = Recorder::start();
    let processor = OtlpSpanProcessor::builder()
        .with_endpoint(recorder.endpoint_for(protocol))
        .with_protocol(protocol)
        .with_max_batch_size(100)
        .with_processors(chain_from_toml(CONFIG).unwrap())
        .build()
        .unwrap();
    let stats = processor.stats();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .build();
    let tracer = provider.tracer("processors");
    let total = 2_000;
    for i in 0..total {
        let name = if i % 10 == 0 {
            "GET /health"
        } else {
            "GET /cart"
        };
        let mut span = tracer.start(name);
        span.set_attribute(KeyValue::new("user.email", format!("user{i}@example.com")));
        span.set_attribute(KeyValue::new("i", i as i64));
        span.add_event("debug", vec![]);
        span.add_event("checkout", vec![]);
        span.end();
        // Batch by batch: a debug build processes slowly, and the span
        // processor drops what ends while its export thread is far behind.
        if i % 100 == 99 {
            provider.force_flush().unwrap();
        }
    }
    provider.shutdown().unwrap();

    let spans = recorder.traces();
    let snap = stats.snapshot();
    // Every span is accounted for: sent, or removed by a processor.
    assert_eq!(snap.items_accepted, total);
    assert_eq!(snap.items_exported, spans.len() as u64);
    assert_eq!(snap.items_exported + snap.items_removed, total);
    assert_eq!(snap.dropped.total(), 0);
    let filtered: u64 = snap
        .removed_by
        .iter()
        .filter(|(p, _, _)| p == "filter")
        .map(|(_, _, n)| n)
        .sum();
    assert_eq!(filtered, total / 10, "{:?}", snap.removed_by);
    let sampled: u64 = snap
        .removed_by
        .iter()
        .filter(|(p, _, _)| p == "probabilistic_sampler")
        .map(|(_, _, n)| n)
        .sum();
    assert_eq!(filtered + sampled, snap.items_removed);
    // The "debug" event of every span the filter kept; the spans sent
    // keep their other event.
    assert_eq!(
        snap.span_events_removed,
        vec![("filter".to_owned(), total - total / 10)]
    );
    assert!(spans
        .iter()
        .all(|s| s.events.len() == 1 && s.events[0].name == "checkout"));
    // Random trace ids at 50%: far from none and from all.
    assert!(
        spans.len() > 600 && spans.len() < 1200,
        "{} spans kept",
        spans.len()
    );
    // Span metrics of every span, before the filter and the sampler: sent
    // at each flush, the last at shutdown, cumulative.
    let names = recorder.metric_names();
    assert!(
        names.contains(&"traces.span.metrics.calls".to_owned()),
        "{names:?}"
    );
    assert!(names.contains(&"traces.span.metrics.duration".to_owned()));
    let calls = recorder.last_calls_total();
    assert_eq!(calls, total as i64);
    for span in &spans {
        assert_eq!(span.name, "GET /cart");
        assert_eq!(string_attr(span, "user.email"), Some("****"));
        assert!(
            span.trace_state.starts_with("ot=th:8"),
            "{}",
            span.trace_state
        );
    }
}

/// A processor deriving one metric per batch it saw.
struct CountBatches(u64);

impl Processor for CountBatches {
    fn name(&self) -> &str {
        "count_batches"
    }

    fn process(&mut self, _batch: &mut ExportTraceServiceRequest) -> Outcome {
        self.0 += 1;
        Outcome::default()
    }

    fn take_metrics(&mut self, out: &mut Vec<otlp_core::proto::metrics::v1::ResourceMetrics>) {
        use otlp_core::proto::metrics::v1::{
            metric, number_data_point, Gauge, Metric, NumberDataPoint, ResourceMetrics,
            ScopeMetrics,
        };
        out.push(ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "batches.seen".into(),
                    data: Some(metric::Data::Gauge(Gauge {
                        data_points: vec![NumberDataPoint {
                            value: Some(number_data_point::Value::AsInt(self.0 as i64)),
                            ..Default::default()
                        }],
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        });
    }
}

#[test]
fn derived_metrics_reach_the_metrics_endpoint_at_shutdown() {
    let recorder = Recorder::start();
    let exporter = OtlpSpanExporter::builder()
        .with_endpoint(recorder.endpoint())
        .with_protocol(Protocol::Grpc)
        .with_processors(Chain::new().with(CountBatches(0)))
        .build()
        .unwrap();
    let stats = exporter.stats();
    let metrics = exporter.derived_metrics_stats().unwrap();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter)
        .build();
    let tracer = provider.tracer("metrics");
    for _ in 0..5 {
        tracer.start("op").end();
    }
    provider.shutdown().unwrap();
    assert_eq!(stats.snapshot().items_exported, 5);
    assert_eq!(recorder.traces().len(), 5);
    // Within METRICS_INTERVAL of the start: sent once, at shutdown.
    assert_eq!(recorder.metric_names(), ["batches.seen"]);
    let m = metrics.snapshot();
    assert_eq!((m.items_accepted, m.items_exported), (1, 1));
}

/// With a sampler first in the chain, the span processor drops the spans
/// it certainly does not sample as they end, without encoding them: the
/// receiver gets exactly the spans whose trace randomness is at or above
/// the threshold, and every span is accounted for.
#[test]
fn a_leading_sampler_drops_spans_before_they_are_encoded() {
    use opentelemetry_sdk::trace::InMemorySpanExporter;
    let recorder = Recorder::start();
    let chain = chain_from_toml(
        "[[processor]]\ntype = \"probabilistic_sampler\"\nmode = \"proportional\"\nsampling_percentage = 25.0\n",
    )
    .unwrap();
    assert!(chain.early_drop().is_some());
    let processor = OtlpSpanProcessor::builder()
        .with_endpoint(recorder.endpoint())
        .with_protocol(Protocol::Grpc)
        .with_processors(chain)
        .build()
        .unwrap();
    let stats = processor.stats();
    let all = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_simple_exporter(all.clone())
        .build();
    let tracer = provider.tracer("early");
    let total = 3_000u64;
    for i in 0..total {
        tracer.start(format!("op-{i}")).end();
        if i % 500 == 499 {
            provider.force_flush().unwrap();
        }
    }
    // The in-memory exporter forgets its spans at shutdown.
    let finished = all.get_finished_spans().unwrap();
    provider.shutdown().unwrap();
    // 25 %: kept when the last 56 bits of the trace id are >= 3 * 2^54.
    let threshold = 3u64 << 54;
    let randomness = |id: &[u8]| {
        let mut last = [0u8; 8];
        last[1..].copy_from_slice(&id[9..16]);
        u64::from_be_bytes(last)
    };
    assert_eq!(finished.len() as u64, total);
    let mut want: Vec<Vec<u8>> = finished
        .iter()
        .filter(|s| randomness(&s.span_context.trace_id().to_bytes()) >= threshold)
        .map(|s| s.span_context.span_id().to_bytes().to_vec())
        .collect();
    let mut got: Vec<Vec<u8>> = recorder.traces().into_iter().map(|s| s.span_id).collect();
    want.sort();
    got.sort();
    assert_eq!(got.len(), want.len());
    assert!(got == want, "other spans arrived than the sampler keeps");
    let snap = stats.snapshot();
    assert_eq!(snap.items_accepted, total);
    assert_eq!(snap.items_exported + snap.items_removed, total);
    assert_eq!(
        snap.removed_by,
        vec![(
            "probabilistic_sampler".to_owned(),
            "not_sampled",
            snap.items_removed
        )]
    );
    // What was never encoded was not counted as encoded either.
    assert!(snap.bytes_uncompressed > 0);
}

impl Recorder {
    fn log_bodies(&self) -> Vec<String> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter_map(|r| match r {
                ExportRequest::Logs(l) => Some(l.clone()),
                _ => None,
            })
            .flat_map(|l| l.resource_logs)
            .flat_map(|r| r.scope_logs)
            .flat_map(|s| s.log_records)
            .filter_map(|r| match r.body?.value? {
                Value::StringValue(s) => Some(s),
                _ => None,
            })
            .collect()
    }
}

/// The log exporter runs the chain on log records: what the filter's
/// conditions match and what the sampler does not keep never leave, and
/// are counted as removed.
#[test]
fn the_log_exporter_filters_log_records() {
    use opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _, Severity};
    use opentelemetry_sdk::logs::SdkLoggerProvider;
    use otlp_exporter::OtlpLogExporter;
    let recorder = Recorder::start();
    let chain = chain_from_toml(
        "[[processor]]\n\
         type = \"filter\"\n\
         log_record = ['severity_number < SEVERITY_NUMBER_WARN', 'IsMatch(body, \"password\")']\n\
         \n\
         [[processor]]\n\
         type = \"probabilistic_sampler\"\n\
         sampling_percentage = 0.0\n\
         sampling_priority = \"keep.percent\"\n",
    )
    .unwrap();
    let exporter = OtlpLogExporter::builder()
        .with_endpoint(recorder.endpoint())
        .with_protocol(Protocol::Grpc)
        .with_processors(chain)
        .build()
        .unwrap();
    let stats = exporter.stats();
    let provider = SdkLoggerProvider::builder()
        .with_simple_exporter(exporter)
        .build();
    let logger = provider.logger("processors");
    let severities = [
        (Severity::Debug, "debug line"),
        (Severity::Info, "info line"),
        (Severity::Warn, "disk almost full"),
        (Severity::Error, "password=hunter2 rejected"),
        (Severity::Fatal, "out of memory"),
    ];
    for (severity, body) in severities {
        let mut r = logger.create_log_record();
        r.set_severity_number(severity);
        r.set_body(body.into());
        if severity == Severity::Fatal {
            // Its own sampling percentage: kept by a sampler at 0%.
            r.add_attribute("keep.percent", 100);
        }
        logger.emit(r);
    }
    provider.shutdown().unwrap();
    let bodies = recorder.log_bodies();
    assert_eq!(bodies, ["out of memory"]);
    let snap = stats.snapshot();
    assert_eq!((snap.items_accepted, snap.items_exported), (5, 1));
    assert_eq!(snap.items_removed, 4);
    assert_eq!(
        snap.removed_by,
        vec![
            ("filter".to_owned(), "filtered", 3),
            ("probabilistic_sampler".to_owned(), "not_sampled", 1)
        ]
    );
}

impl Recorder {
    /// The resource attributes of every traces request, sorted by key.
    fn trace_resources(&self) -> Vec<Vec<(String, String)>> {
        self.trace_requests()
            .into_iter()
            .flat_map(|t| t.resource_spans)
            .map(|r| {
                let mut attrs: Vec<(String, String)> = r
                    .resource
                    .unwrap_or_default()
                    .attributes
                    .into_iter()
                    .map(|kv| {
                        let v = match kv.value.and_then(|v| v.value) {
                            Some(Value::StringValue(s)) => s,
                            Some(Value::IntValue(i)) => i.to_string(),
                            other => format!("{other:?}"),
                        };
                        (kv.key, v)
                    })
                    .collect();
                attrs.sort();
                attrs
            })
            .collect()
    }
}

/// A chain of steps that all work span by span: it runs on each span as
/// it ends (no decoding), and the resource is redacted once.
const BY_SPAN: &str = r#"
[[processor]]
type = "filter"
span = ['name == "GET /health"']
spanevent = ['name == "debug"']

[[processor]]
type = "probabilistic_sampler"
mode = "proportional"
sampling_percentage = 50.0

[[processor]]
type = "redaction"
allowed_keys = ["service.name", "user.email", "i"]
blocked_patterns = ["email"]
summary = "info"
"#;

fn check_by_span(recorder: &Recorder, stats: &otlp_exporter::ExportStats, total: u64) {
    let spans = recorder.traces();
    let snap = stats.snapshot();
    assert_eq!(snap.items_accepted, total);
    assert_eq!(snap.items_exported, spans.len() as u64);
    assert_eq!(snap.items_exported + snap.items_removed, total);
    assert_eq!(snap.dropped.total(), 0);
    let by = |p: &str| -> u64 {
        snap.removed_by
            .iter()
            .filter(|(q, _, _)| q == p)
            .map(|(_, _, n)| n)
            .sum()
    };
    assert_eq!(by("filter"), total / 10, "{:?}", snap.removed_by);
    assert_eq!(
        by("filter") + by("probabilistic_sampler"),
        snap.items_removed
    );
    // The "debug" event of every span the filter kept, counted as the
    // batch path counts it.
    assert_eq!(
        snap.span_events_removed,
        vec![("filter".to_owned(), total - total / 10)]
    );
    assert!(
        spans.len() > 300 && spans.len() < 600,
        "{} spans kept",
        spans.len()
    );
    for span in &spans {
        assert_eq!(span.name, "GET /cart");
        assert_eq!(string_attr(span, "user.email"), Some("****"));
        assert_eq!(string_attr(span, "secret"), None);
        assert_eq!(span.trace_state, "ot=th:8");
        let events: Vec<&str> = span.events.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(events, ["checkout"]);
        let count = span
            .attributes
            .iter()
            .find(|kv| kv.key == "redaction.redacted.count")
            .and_then(|kv| kv.value.as_ref()?.value.clone());
        assert_eq!(count, Some(Value::IntValue(1)));
    }
    // The resource once redacted: only the allowed key and the summary.
    for attrs in recorder.trace_resources() {
        let keys: Vec<&str> = attrs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            ["redaction.redacted.count", "service.name"],
            "{attrs:?}"
        );
    }
}

fn by_span_spans(provider: &SdkTracerProvider, total: u64) {
    let tracer = provider.tracer("by-span");
    for i in 0..total {
        let name = if i % 10 == 0 {
            "GET /health"
        } else {
            "GET /cart"
        };
        let mut span = tracer.start(name);
        span.set_attribute(KeyValue::new("user.email", format!("user{i}@example.com")));
        span.set_attribute(KeyValue::new("secret", "s3cr3t"));
        span.set_attribute(KeyValue::new("i", i as i64));
        span.add_event("debug", vec![]);
        span.add_event("checkout", vec![]);
        span.end();
        if i % 100 == 99 {
            provider.force_flush().unwrap();
        }
    }
}

fn resource() -> opentelemetry_sdk::Resource {
    opentelemetry_sdk::Resource::builder_empty()
        .with_attributes([
            KeyValue::new("service.name", "shop"),
            KeyValue::new("host.name", "db-7"),
        ])
        .build()
}

/// Spans through a provider built on `builder`, whose exporter or span
/// processor counts in `stats`, to `recorder`.
fn run_by_span(
    builder: opentelemetry_sdk::trace::TracerProviderBuilder,
    recorder: &Recorder,
    stats: &otlp_exporter::ExportStats,
) {
    let provider = builder.with_resource(resource()).build();
    let total = 1_000;
    by_span_spans(&provider, total);
    provider.shutdown().unwrap();
    check_by_span(recorder, stats, total);
}

#[test]
fn a_chain_of_span_steps_runs_as_spans_end_in_the_span_processor() {
    let chain = chain_from_toml(BY_SPAN).unwrap();
    assert!(chain.span_chain().is_some());
    let recorder = Recorder::start();
    let processor = OtlpSpanProcessor::builder()
        .with_endpoint(recorder.endpoint())
        .with_protocol(Protocol::Grpc)
        .with_max_batch_size(100)
        .with_processors(chain)
        .build()
        .unwrap();
    let stats = processor.stats();
    run_by_span(
        SdkTracerProvider::builder().with_span_processor(processor),
        &recorder,
        &stats,
    );
}

#[test]
fn a_chain_of_span_steps_runs_on_each_span_in_the_span_exporter() {
    let recorder = Recorder::start();
    let exporter = OtlpSpanExporter::builder()
        .with_endpoint(recorder.endpoint())
        .with_protocol(Protocol::Grpc)
        .with_processors(chain_from_toml(BY_SPAN).unwrap())
        .build()
        .unwrap();
    let stats = exporter.stats();
    run_by_span(
        SdkTracerProvider::builder().with_batch_exporter(exporter),
        &recorder,
        &stats,
    );
}

/// With a persistent queue, derived metrics wait on disk too (in the
/// directory `derived-metrics` beside the traces' queue), and a restarted
/// exporter sends them; the last ones, taken at shutdown, are queued even
/// when waiting for the traces used up the shutdown's time.
#[test]
fn derived_metrics_wait_on_disk_with_a_persistent_queue() {
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let build = |endpoint: String| {
        // A dropped exporter lets go of its directories once its runtime's
        // last task is gone: wait for it.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let built = OtlpSpanExporter::builder()
                .with_endpoint(endpoint.clone())
                .with_protocol(Protocol::Grpc)
                .with_persistent_queue(dir.path())
                .with_processors(Chain::new().with(CountBatches(0)))
                .build();
            match built {
                Err(e) if e.to_string().contains("lock") && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                other => return other.unwrap(),
            }
        }
    };
    // First run: the endpoint is down; spans and derived metrics wait.
    let exporter = build(format!("http://{closed}"));
    let metrics = exporter.derived_metrics_stats().unwrap();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter)
        .build();
    let tracer = provider.tracer("metrics");
    for _ in 0..3 {
        tracer.start("op").end();
    }
    let _ = provider.shutdown_with_timeout(Duration::from_millis(300));
    // The tracer holds the provider, which holds the exporter.
    drop(tracer);
    drop(provider);
    let m = metrics.snapshot();
    assert_eq!(m.items_accepted, 1, "{m:?}");
    assert_eq!(m.items_exported, 0);
    assert_eq!(m.disk.expect("a disk queue").queued_batches, 1);
    assert!(dir.path().join("derived-metrics").is_dir());

    // Second run: what waited on disk is sent, the metrics included.
    let recorder = Recorder::start();
    let exporter = build(recorder.endpoint());
    let deadline = Instant::now() + Duration::from_secs(30);
    while recorder.metric_names().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(recorder.metric_names(), ["batches.seen"]);
    assert_eq!(recorder.traces().len(), 3);
    drop(exporter);
}

/// The forwarder gets requests decoded, not SDK spans as they end: a
/// chain of span-by-span steps runs on each request there.
#[test]
fn the_forwarder_runs_a_chain_of_span_steps_on_each_request() {
    use otlp_core::proto::trace::v1::Span;
    use otlp_exporter::OtlpForwarder;
    let recorder = Recorder::start();
    let forwarder = OtlpForwarder::builder()
        .with_endpoint(recorder.endpoint())
        .with_protocol(Protocol::Grpc)
        .with_processors(
            chain_from_toml(
                "[[processor]]\ntype = \"redaction\"\nallowed_keys = [\"keep\"]\n\
                 [[processor]]\ntype = \"filter\"\nspan = ['name == \"drop\"']\n",
            )
            .unwrap(),
        )
        .build()
        .unwrap();
    let attr = |k: &str| string_kv(k, "v");
    let span = |name: &str, id: u8| Span {
        trace_id: vec![id; 16],
        span_id: vec![id; 8],
        name: name.to_owned(),
        attributes: vec![attr("keep"), attr("secret")],
        ..Span::default()
    };
    let request = traces_request(
        None,
        vec![span("keep", 1), span("drop", 2), span("keep", 3)],
    );
    recorder.rt.block_on(forwarder.forward(&request)).unwrap();
    forwarder
        .shutdown(std::time::Duration::from_secs(10))
        .unwrap();
    let spans = recorder.traces();
    assert_eq!(spans.len(), 2);
    for s in &spans {
        let keys: Vec<&str> = s.attributes.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(keys, ["keep"]);
    }
    let snap = forwarder.stats(otlp_core::Signal::Traces).snapshot();
    assert_eq!((snap.items_exported, snap.items_removed), (2, 1));
}

#[test]
fn a_batch_that_does_not_decode_for_the_chain_is_not_sent_unprocessed() {
    // Over http/json the forwarder's batch goes through JSON, which refuses
    // a trace id of the wrong length (protobuf takes any bytes): the chain
    // cannot run on it, so it is not sent, and its spans are counted.
    use otlp_core::proto::trace::v1::Span;
    use otlp_exporter::OtlpForwarder;
    let recorder = Recorder::start();
    let forwarder = OtlpForwarder::builder()
        .with_endpoint(recorder.endpoint_for(Protocol::HttpJson))
        .with_protocol(Protocol::HttpJson)
        .with_processors(
            chain_from_toml("[[processor]]\ntype = \"redaction\"\nallowed_keys = [\"keep\"]\n")
                .unwrap(),
        )
        .build()
        .unwrap();
    let span = |trace_id: Vec<u8>| Span {
        trace_id,
        span_id: vec![1; 8],
        name: "op".to_owned(),
        attributes: vec![string_kv("secret", "hunter2")],
        ..Span::default()
    };
    let request = traces_request(None, vec![span(vec![1; 16]), span(vec![2; 5])]);
    recorder.rt.block_on(forwarder.forward(&request)).unwrap();
    forwarder
        .shutdown(std::time::Duration::from_secs(10))
        .unwrap();
    assert!(recorder.traces().is_empty());
    let snap = forwarder.stats(otlp_core::Signal::Traces).snapshot();
    assert_eq!((snap.items_accepted, snap.items_exported), (2, 0));
    assert_eq!(
        snap.removed_by,
        vec![("processors".to_owned(), "not decodable", 2)]
    );

    // In process: a log body nested deeper than the protobuf decoder
    // allows (100 levels) stops the batch, counted, nothing sent.
    use opentelemetry::logs::{
        AnyValue as LogValue, LogRecord as _, Logger as _, LoggerProvider as _,
    };
    use opentelemetry_sdk::logs::SdkLoggerProvider;
    use otlp_exporter::OtlpLogExporter;
    let exporter = OtlpLogExporter::builder()
        .with_endpoint(recorder.endpoint())
        .with_protocol(Protocol::Grpc)
        .with_processors(
            chain_from_toml(
                "[[processor]]\ntype = \"filter\"\nlog_record = ['IsMatch(body, \"x\")']\n",
            )
            .unwrap(),
        )
        .build()
        .unwrap();
    let stats = exporter.stats();
    let provider = SdkLoggerProvider::builder()
        .with_simple_exporter(exporter)
        .build();
    let logger = provider.logger("processors");
    let mut body = LogValue::from("password=hunter2");
    for _ in 0..120 {
        body = LogValue::ListAny(Box::new(vec![body]));
    }
    let mut r = logger.create_log_record();
    r.set_body(body);
    logger.emit(r);
    provider.shutdown().unwrap();
    assert!(recorder.log_bodies().is_empty());
    let snap = stats.snapshot();
    assert_eq!(
        (snap.items_accepted, snap.items_exported, snap.items_removed),
        (1, 0, 1)
    );
}

#[test]
fn derived_metrics_go_in_requests_a_collector_takes() {
    // 10,000 series (the default cardinality limit) of span metrics make
    // about 6 MB of data points: sent in requests under a Collector's
    // default limit of 4 MiB, each data point delivered and counted.
    use otlp_core::proto::resource::v1::Resource;
    use otlp_core::proto::trace::v1::Span;
    use otlp_core::Signal;
    use otlp_exporter::processors::SpanMetrics;
    use otlp_exporter::OtlpForwarder;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let got: Arc<Mutex<Vec<ExportRequest>>> = Arc::default();
    let log = Arc::clone(&got);
    let receiver = rt.block_on(async move {
        Receiver::builder()
            .with_grpc_addr("127.0.0.1:0".parse().unwrap())
            .with_max_message_size(4 << 20)
            .serve(move |r: ReceivedRequest| {
                log.lock().unwrap().push(r.request);
                async { Reply::Accept }
            })
            .await
            .unwrap()
    });
    let forwarder = OtlpForwarder::builder()
        .with_endpoint(format!("http://{}", receiver.grpc_addr().unwrap()))
        .with_protocol(Protocol::Grpc)
        .with_processors(Chain::new().with(SpanMetrics::builder().build().unwrap()))
        .build()
        .unwrap();
    let spans: Vec<Span> = (0..10_000)
        .map(|i| Span {
            trace_id: vec![1; 16],
            span_id: vec![1; 8],
            name: format!("GET /item/{i}"),
            kind: 2,
            start_time_unix_nano: 1,
            end_time_unix_nano: 2_000_000,
            ..Span::default()
        })
        .collect();
    let resource = Resource {
        attributes: vec![string_kv("service.name", "shop")],
        ..Resource::default()
    };
    let request = traces_request(Some(resource), spans);
    rt.block_on(forwarder.forward(&request)).unwrap();
    forwarder
        .shutdown(std::time::Duration::from_secs(30))
        .unwrap();
    rt.block_on(receiver.shutdown());
    let derived = forwarder.derived_metrics_stats().unwrap().snapshot();
    assert_eq!(derived.items_accepted, 20_000, "{derived:?}");
    assert_eq!(derived.items_exported, 20_000, "{derived:?}");
    let got = got.lock().unwrap();
    let metrics: Vec<_> = got
        .iter()
        .filter(|r| r.signal() == Signal::Metrics)
        .collect();
    assert!(metrics.len() >= 2, "{} requests", metrics.len());
    assert_eq!(
        metrics.iter().map(|r| r.item_count()).sum::<usize>(),
        20_000
    );
}

/// A traces request of one resource and one scope.
fn traces_request(
    resource: Option<otlp_core::proto::resource::v1::Resource>,
    spans: Vec<otlp_core::proto::trace::v1::Span>,
) -> ExportRequest {
    use otlp_core::proto::trace::v1::{ResourceSpans, ScopeSpans};
    ExportRequest::Traces(ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource,
            scope_spans: vec![ScopeSpans {
                spans,
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    })
}

/// A string attribute of a decoded request.
fn string_kv(key: &str, value: &str) -> otlp_core::proto::common::v1::KeyValue {
    use otlp_core::proto::common::v1::{AnyValue, KeyValue};
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(value.to_owned())),
        }),
        ..KeyValue::default()
    }
}

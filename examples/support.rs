//! Support code for the examples in this directory: a local stand-in for a
//! collector, so that every example runs, and checks itself, without one.
//!
//! When `OTEL_EXPORTER_OTLP_ENDPOINT` is set the examples send there and
//! check only the client's own counters. Otherwise [`Collector::start`]
//! runs an OTLP receiver (`otlp_transport::receiver`) on `127.0.0.1` with
//! free ports, counts what arrives, and [`Collector::finish`] compares that
//! with what the example sent: the process exits non-zero when something
//! did not arrive. [`Collector::finish_checked`] also keeps what arrived
//! ([`Received`]) and runs the example's own checks on it: span names,
//! parent-child links, metric names, log records.
#![forbid(unsafe_code)]

use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use otlp_core::proto::common::v1::{any_value, AnyValue, KeyValue};
use otlp_core::proto::logs::v1::LogRecord;
/// A span kind as OTLP carries it.
pub use otlp_core::proto::trace::v1::span::SpanKind as WireSpanKind;
use otlp_core::proto::trace::v1::Span;
use otlp_core::{ExportRequest, Signal};
use otlp_exporter::{
    ExportStats, ExporterBuilder, OtlpLogExporter, OtlpMetricExporter, OtlpSpanProcessor,
};
use otlp_transport::receiver::{ReceivedRequest, Receiver, Reply};
use otlp_transport::Protocol;
use std::collections::BTreeSet;
use std::error::Error;
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use tokio::sync::oneshot;

/// Spans, metric data points and log records: what was sent or received.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Items {
    /// Spans.
    pub spans: u64,
    /// Metric data points.
    pub metric_points: u64,
    /// Log records.
    pub log_records: u64,
}

impl Items {
    fn add(&mut self, signal: Signal, n: u64) {
        match signal {
            Signal::Traces => self.spans += n,
            Signal::Metrics => self.metric_points += n,
            Signal::Logs => self.log_records += n,
            // The embedded receiver counts no other signal.
            _ => {}
        }
    }
}

impl fmt::Display for Items {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} spans, {} metric data points, {} log records",
            self.spans, self.metric_points, self.log_records
        )
    }
}

/// What the embedded receiver has seen.
#[derive(Debug, Default)]
struct Seen {
    items: Items,
    requests: u64,
    wire_bytes: u64,
    how: Vec<String>,
    requests_kept: Vec<ExportRequest>,
}

/// Where the examples send: an embedded receiver, or the collector the
/// environment names.
#[derive(Debug)]
pub struct Collector {
    embedded: Option<Embedded>,
}

#[derive(Debug)]
struct Embedded {
    grpc: SocketAddr,
    http: SocketAddr,
    seen: Arc<Mutex<Seen>>,
    stop: oneshot::Sender<()>,
    thread: JoinHandle<()>,
}

impl Collector {
    /// Starts the embedded receiver, unless `OTEL_EXPORTER_OTLP_ENDPOINT`
    /// names a collector. The receiver runs on a thread of its own, so the
    /// examples may be synchronous or asynchronous.
    pub fn start() -> Result<Collector, Box<dyn Error>> {
        let any = "127.0.0.1:0".parse()?;
        Collector::start_at(any)
    }

    /// Whether the environment names a collector (the embedded receiver is
    /// not started then).
    pub fn external() -> bool {
        std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_some_and(|v| !v.is_empty())
    }

    /// As [`start`](Self::start), with the receiver's OTLP/HTTP listener on
    /// `http` (port 0: any free port), for an example that must know the
    /// address before the receiver runs.
    pub fn start_at(http: SocketAddr) -> Result<Collector, Box<dyn Error>> {
        if Collector::external() {
            return Ok(Collector { embedded: None });
        }
        let seen = Arc::new(Mutex::new(Seen::default()));
        let counter = Arc::clone(&seen);
        let (ready_tx, ready_rx) = mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(err) => {
                    let _ = ready_tx.send(Err(err.to_string()));
                    return;
                }
            };
            rt.block_on(async move {
                let any = SocketAddr::from(([127, 0, 0, 1], 0));
                let served = Receiver::builder()
                    .with_grpc_addr(any)
                    .with_http_addr(http)
                    .serve(move |req: ReceivedRequest| {
                        let counter = Arc::clone(&counter);
                        async move {
                            record(&counter, &req);
                            Reply::Accept
                        }
                    })
                    .await;
                match served {
                    Ok(receiver) => {
                        let addrs = receiver.grpc_addr().zip(receiver.http_addr());
                        let _ = ready_tx.send(addrs.ok_or_else(|| "no address".to_owned()));
                        // Serve until told to stop (or until the sender is dropped).
                        let _ = stopped.await;
                        receiver.shutdown().await;
                    }
                    Err(err) => {
                        let _ = ready_tx.send(Err(err.to_string()));
                    }
                }
            });
        });
        let (grpc, http) = ready_rx.recv()??;
        println!("embedded OTLP receiver: gRPC on {grpc}, HTTP on {http}");
        Ok(Collector {
            embedded: Some(Embedded {
                grpc,
                http,
                seen,
                stop,
                thread,
            }),
        })
    }

    /// The embedded receiver's endpoint for `protocol`, or `None` when the
    /// environment names the collector (leave the endpoint unset in code
    /// then, and the `OTEL_EXPORTER_OTLP_*` variables decide).
    pub fn endpoint(&self, protocol: Protocol) -> Option<String> {
        let embedded = self.embedded.as_ref()?;
        Some(match protocol {
            Protocol::Grpc => format!("http://{}", embedded.grpc),
            // Every other protocol is OTLP/HTTP.
            _ => format!("http://{}", embedded.http),
        })
    }

    /// What the embedded receiver has received so far (empty when the
    /// environment names the collector).
    pub fn received(&self) -> Items {
        self.embedded.as_ref().map_or_else(Items::default, |e| {
            e.seen.lock().unwrap_or_else(|e| e.into_inner()).items
        })
    }

    /// Waits until the embedded receiver has received at least `expected`,
    /// or until `timeout` has passed; true if it did (always true when the
    /// environment names the collector).
    pub fn wait_for(&self, expected: Items, timeout: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let got = self.received();
            if self.embedded.is_none()
                || (got.spans >= expected.spans
                    && got.metric_points >= expected.metric_points
                    && got.log_records >= expected.log_records)
            {
                return true;
            }
            if std::time::Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Stops the embedded receiver, prints what was sent and what arrived,
    /// and fails unless both are `expected`.
    pub fn finish(self, expected: Items, exported: Items) -> ExitCode {
        self.finish_checked(expected, exported, |_| Ok(()))
    }

    /// As [`finish`](Self::finish), and fails unless `check` accepts what
    /// arrived (it runs only on the embedded receiver's data).
    pub fn finish_checked(
        self,
        expected: Items,
        exported: Items,
        check: impl FnOnce(&Received) -> Result<(), String>,
    ) -> ExitCode {
        println!("sent (the client's counters): {exported}");
        let mut ok = exported == expected;
        match self.embedded {
            None => println!(
                "sent to the collector at OTEL_EXPORTER_OTLP_ENDPOINT; \
                 only the client's counters were checked"
            ),
            Some(embedded) => {
                let _ = embedded.stop.send(());
                if embedded.thread.join().is_err() {
                    eprintln!("the embedded receiver's thread panicked");
                    ok = false;
                }
                let mut seen = embedded.seen.lock().unwrap_or_else(|e| e.into_inner());
                println!(
                    "received: {} in {} requests, {} bytes on the wire ({})",
                    seen.items,
                    seen.requests,
                    seen.wire_bytes,
                    seen.how.join(", ")
                );
                ok &= seen.items == expected;
                let received = Received {
                    requests: std::mem::take(&mut seen.requests_kept),
                };
                match check(&received) {
                    Ok(()) => println!("checked: what arrived is what the example made"),
                    Err(why) => {
                        eprintln!("check failed: {why}");
                        ok = false;
                    }
                }
            }
        }
        if ok {
            println!("OK: {expected} arrived");
            ExitCode::SUCCESS
        } else {
            eprintln!("FAILED: expected {expected}");
            ExitCode::FAILURE
        }
    }
}

/// Points `builder` at `endpoint` (else the `OTEL_*` variables decide),
/// with the queue in `persist` if given.
fn configure<E>(
    builder: ExporterBuilder<E>,
    endpoint: Option<&(String, Protocol)>,
    persist: Option<&Path>,
) -> ExporterBuilder<E> {
    let builder = match endpoint {
        Some((endpoint, protocol)) => builder
            .with_endpoint(endpoint.clone())
            .with_protocol(*protocol),
        None => builder,
    };
    match persist {
        Some(dir) => builder.with_persistent_queue(dir),
        None => builder,
    }
}

/// One service's OpenTelemetry SDK providers, with otlp-rust's span
/// processor, metric exporter and log exporter, sending to the
/// [`Collector`] over gRPC (or where the `OTEL_*` variables say).
#[derive(Debug)]
pub struct Telemetry {
    /// Spans, through [`OtlpSpanProcessor`].
    pub tracer_provider: SdkTracerProvider,
    /// Metrics, read periodically and at shutdown.
    pub meter_provider: SdkMeterProvider,
    /// Log records, batched.
    pub logger_provider: SdkLoggerProvider,
    stats: [ExportStats; 3],
}

impl Telemetry {
    /// The providers of the service `service`.
    pub fn new(service: &str, collector: &Collector) -> Result<Telemetry, Box<dyn Error>> {
        let endpoint = collector.endpoint(Protocol::Grpc);
        Telemetry::build(service, endpoint.map(|e| (e, Protocol::Grpc)), None)
    }

    /// The providers of the service `service`, sending over OTLP/HTTP to
    /// `endpoint` (unless the `OTEL_*` variables name the collector), with
    /// the exporters' queues kept in `dir` (one subdirectory per signal)
    /// instead of memory.
    pub fn with_persistent_queue(
        service: &str,
        endpoint: Option<String>,
        dir: &Path,
    ) -> Result<Telemetry, Box<dyn Error>> {
        let endpoint = endpoint.filter(|_| !Collector::external());
        Telemetry::build(
            service,
            endpoint.map(|e| (e, Protocol::HttpProtobuf)),
            Some(dir),
        )
    }

    fn build(
        service: &str,
        endpoint: Option<(String, Protocol)>,
        persist: Option<&Path>,
    ) -> Result<Telemetry, Box<dyn Error>> {
        let endpoint = endpoint.as_ref();
        let resource = Resource::builder()
            .with_service_name(service.to_owned())
            .build();
        let processor = configure(OtlpSpanProcessor::builder(), endpoint, persist).build()?;
        let metrics = configure(OtlpMetricExporter::builder(), endpoint, persist).build()?;
        let logs = configure(OtlpLogExporter::builder(), endpoint, persist).build()?;
        let stats = [processor.stats(), metrics.stats(), logs.stats()];
        Ok(Telemetry {
            tracer_provider: SdkTracerProvider::builder()
                .with_resource(resource.clone())
                .with_span_processor(processor)
                .build(),
            meter_provider: SdkMeterProvider::builder()
                .with_resource(resource.clone())
                .with_reader(PeriodicReader::builder(metrics).build())
                .build(),
            logger_provider: SdkLoggerProvider::builder()
                .with_resource(resource)
                .with_batch_exporter(logs)
                .build(),
            stats,
        })
    }

    /// Shuts the three providers down, which sends what they still hold.
    pub fn shutdown(&self) -> Result<(), Box<dyn Error>> {
        self.tracer_provider.shutdown()?;
        self.meter_provider.shutdown()?;
        self.logger_provider.shutdown()?;
        Ok(())
    }

    /// The three exporters' counters: spans, metrics, logs.
    pub fn stats(&self) -> [otlp_exporter::StatsSnapshot; 3] {
        self.stats.each_ref().map(|s| s.snapshot())
    }

    /// What the exporters have delivered (their counters).
    pub fn exported(&self) -> Items {
        let [spans, metrics, logs] = self.stats();
        Items {
            spans: spans.items_exported,
            metric_points: metrics.items_exported,
            log_records: logs.items_exported,
        }
    }
}

impl std::ops::Add for Items {
    type Output = Items;
    fn add(self, other: Items) -> Items {
        Items {
            spans: self.spans + other.spans,
            metric_points: self.metric_points + other.metric_points,
            log_records: self.log_records + other.log_records,
        }
    }
}

fn record(seen: &Mutex<Seen>, req: &ReceivedRequest) {
    let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
    seen.items
        .add(req.request.signal(), req.request.item_count() as u64);
    seen.requests += 1;
    seen.wire_bytes += req.wire_bytes as u64;
    seen.requests_kept.push(req.request.clone());
    let how = format!("{:?} {} {}", req.transport, req.format, req.compression);
    if !seen.how.contains(&how) {
        seen.how.push(how);
    }
}

/// Everything the embedded receiver received, for an example's checks.
#[derive(Debug)]
pub struct Received {
    requests: Vec<ExportRequest>,
}

/// A received span with the `service.name` of its resource.
#[derive(Debug, Clone, Copy)]
pub struct ReceivedSpan<'a> {
    /// The resource's `service.name` (empty if none).
    pub service: &'a str,
    /// The span.
    pub span: &'a Span,
}

impl ReceivedSpan<'_> {
    /// The span's kind as it arrived.
    pub fn kind(&self) -> WireSpanKind {
        WireSpanKind::try_from(self.span.kind).unwrap_or(WireSpanKind::Unspecified)
    }

    /// The span's string, integer, float or boolean attribute `key`, as text.
    pub fn attribute(&self, key: &str) -> Option<String> {
        attribute(&self.span.attributes, key)
    }
}

impl Received {
    /// Every span, in arrival order.
    pub fn spans(&self) -> Vec<ReceivedSpan<'_>> {
        let mut spans = Vec::new();
        for request in &self.requests {
            let ExportRequest::Traces(r) = request else {
                continue;
            };
            for rs in &r.resource_spans {
                let service = rs
                    .resource
                    .as_ref()
                    .and_then(|r| string_attribute(&r.attributes, "service.name"))
                    .unwrap_or("");
                for ss in &rs.scope_spans {
                    spans.extend(ss.spans.iter().map(|span| ReceivedSpan { service, span }));
                }
            }
        }
        spans
    }

    /// The span named `name`, or an error saying it did not arrive (or
    /// arrived more than once).
    pub fn span(&self, name: &str) -> Result<ReceivedSpan<'_>, String> {
        let found: Vec<_> = self
            .spans()
            .into_iter()
            .filter(|s| s.span.name == name)
            .collect();
        match found.as_slice() {
            [one] => Ok(*one),
            [] => Err(format!("no span named {name:?} arrived")),
            _ => Err(format!("{} spans named {name:?} arrived", found.len())),
        }
    }

    /// The names of every metric that arrived.
    pub fn metric_names(&self) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        for request in &self.requests {
            let ExportRequest::Metrics(r) = request else {
                continue;
            };
            for rm in &r.resource_metrics {
                for sm in &rm.scope_metrics {
                    names.extend(sm.metrics.iter().map(|m| m.name.clone()));
                }
            }
        }
        names
    }

    /// Every log record, in arrival order.
    pub fn log_records(&self) -> Vec<&LogRecord> {
        let mut records = Vec::new();
        for request in &self.requests {
            let ExportRequest::Logs(r) = request else {
                continue;
            };
            for rl in &r.resource_logs {
                for sl in &rl.scope_logs {
                    records.extend(&sl.log_records);
                }
            }
        }
        records
    }

    /// The string bodies of every log record.
    pub fn log_bodies(&self) -> Vec<&str> {
        self.log_records()
            .into_iter()
            .filter_map(|r| match r.body.as_ref()?.value.as_ref()? {
                any_value::Value::StringValue(s) => Some(s.as_str()),
                _ => None,
            })
            .collect()
    }
}

/// Fails with `why` unless `ok`: for the examples' checks.
pub fn ensure(ok: bool, why: impl FnOnce() -> String) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(why())
    }
}

/// Fails unless every one of `names` is among the metrics that arrived.
pub fn ensure_metrics(received: &Received, names: &[&str]) -> Result<(), String> {
    let arrived = received.metric_names();
    for name in names {
        ensure(arrived.contains(*name), || {
            format!("no metric {name:?} arrived (got {arrived:?})")
        })?;
    }
    Ok(())
}

/// Fails unless `child` arrived as a child of `parent`, in the same trace.
pub fn ensure_child_of(child: ReceivedSpan<'_>, parent: ReceivedSpan<'_>) -> Result<(), String> {
    ensure(
        child.span.trace_id == parent.span.trace_id
            && child.span.parent_span_id == parent.span.span_id,
        || {
            format!(
                "span {:?} ({}) is not a child of {:?} ({})",
                child.span.name, child.service, parent.span.name, parent.service
            )
        },
    )
}

fn string_attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match attributes.iter().find(|kv| kv.key == key)?.value.as_ref()? {
        AnyValue {
            value: Some(any_value::Value::StringValue(s)),
        } => Some(s),
        _ => None,
    }
}

fn attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    match attributes
        .iter()
        .find(|kv| kv.key == key)?
        .value
        .as_ref()?
        .value
        .as_ref()?
    {
        any_value::Value::StringValue(s) => Some(s.clone()),
        any_value::Value::IntValue(i) => Some(i.to_string()),
        any_value::Value::DoubleValue(d) => Some(d.to_string()),
        any_value::Value::BoolValue(b) => Some(b.to_string()),
        _ => None,
    }
}

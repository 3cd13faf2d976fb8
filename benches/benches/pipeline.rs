//! Delivery under load: spans created at a fixed rate by an application
//! thread, to a gRPC sink that may be slow, through our `OtlpSpanProcessor`,
//! through the SDK's `BatchSpanProcessor` with our `OtlpSpanExporter`, and
//! through the SDK's `BatchSpanProcessor` with the stock
//! `opentelemetry-otlp` tonic exporter, side by side in one run.
//!
//! Not criterion: a run is one long experiment (3 s of spans, then a
//! flush), and what matters is how many spans arrive, what the whole
//! process burned, and how much memory it held, not a timing distribution.
//!
//! Three roles, chosen by the `OTLP_PIPELINE_ROLE` environment variable,
//! all in this one binary:
//!
//! - **orchestrator** (no variable): for every scenario and exporter it
//!   starts a sink process and a runner process, collects the runner's
//!   figures and the sink's count, and prints the table (and, with
//!   `--json PATH`, writes the rows as JSON). `--sides a,b` runs only
//!   those pipelines (`otlp-rust`, `otlp-rust*`, `otlp-rust-bsp`, `stock`,
//!   `none`); `--burst-ms N` sets how often the application threads wake
//!   up (default 10); `--threads 1,2,4,8` runs each scenario once with each
//!   of those numbers of application threads sharing its rate (default 1). Other arguments that do not start with `--` select
//!   scenarios whose name contains them.
//! - **runner**: one run in a fresh process, so that its CPU time
//!   (`CLOCK_PROCESS_CPUTIME_ID`, every thread) and its peak RSS
//!   (`VmHWM`, which cannot be reset) belong to that run alone. It
//!   prints one JSON line with its figures.
//! - **sink**: a tonic `TraceServiceServer` (gzip and zstd accepted,
//!   64 MiB decode limit) that sleeps a configured latency before
//!   answering each request and counts the spans of the requests it
//!   answered; when its stdin closes it prints that count and exits. It
//!   runs in its own process so that decoding is not charged to the
//!   runner (it still shares the machine's cores, as a local collector
//!   would).
//!
//! A last pipeline, `none`, is the SDK's processor over an exporter that
//! drops every batch: it gives the cost of creating the spans and of the
//! SDK's processor alone.
#![allow(missing_docs)]

use opentelemetry::trace::{
    SpanContext, SpanKind, Status, TraceContextExt as _, TraceFlags, TraceState, Tracer as _,
    TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider, SpanData, SpanExporter,
};
use opentelemetry_sdk::Resource;
use otlp_benches::cpu_now;
use otlp_benches::sink::Sink;
use otlp_exporter::{OtlpSpanExporter, OtlpSpanProcessor, Overflow, Protocol};
use serde_json::{json, Value};
use std::borrow::Cow;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ROLE_ENV: &str = "OTLP_PIPELINE_ROLE";
const SINK_PORT_FILE_ENV: &str = "OTLP_PIPELINE_SINK_PORT_FILE";
const SINK_LATENCY_ENV: &str = "OTLP_PIPELINE_SINK_LATENCY_MS";
const RUN_ENV: &str = "OTLP_PIPELINE_RUN";

/// How often the application thread wakes up to create the spans due by
/// then, unless `--burst-ms` says otherwise. Each sleep and wake-up costs
/// this machine's (virtual) CPU 33 to 39 µs, so waking every 1 ms costs the
/// process about 35 ms of CPU per second whatever the exporter: at 20k
/// spans/s, 1.7 µs per span. Every 10 ms, a tenth of that.
const DEFAULT_BURST_MS: u64 = 10;

/// How long the application thread creates spans.
const CREATE_FOR: Duration = Duration::from_secs(3);
/// How long the runner waits for our queue to drain after the SDK's flush.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Distinct span shapes cycled through (clones of `http_spans` data).
const TEMPLATES: usize = 1024;

/// Queue settings of ours in the slow-sink scenarios: enough senders and
/// room for 20k spans/s at 1 s per request.
const SIZED_CONCURRENCY: usize = 64;
const SIZED_QUEUE_ITEMS: u64 = 200_000;
const SIZED_QUEUE_BYTES: usize = 256 << 20;

fn main() {
    match std::env::var(ROLE_ENV).as_deref() {
        Ok("sink") => run_sink(),
        Ok("runner") => run_runner(),
        _ => orchestrate(),
    }
}

// ---------------------------------------------------------------- scenarios

#[derive(Debug, Clone, Copy)]
struct Scenario {
    rate: u64,
    latency: Duration,
}

impl Scenario {
    fn name(&self) -> String {
        let ms = self.latency.as_millis();
        let sink = match ms {
            0 => "healthy".to_owned(),
            ms if ms % 1000 == 0 => format!("{} s sink", ms / 1000),
            ms => format!("{ms} ms sink"),
        };
        format!("{}k/s {sink}", self.rate / 1000)
    }

    fn healthy(&self) -> bool {
        self.latency.is_zero()
    }
}

const SCENARIOS: [Scenario; 7] = [
    Scenario {
        rate: 20_000,
        latency: Duration::ZERO,
    },
    Scenario {
        rate: 50_000,
        latency: Duration::ZERO,
    },
    Scenario {
        rate: 100_000,
        latency: Duration::ZERO,
    },
    Scenario {
        rate: 150_000,
        latency: Duration::ZERO,
    },
    Scenario {
        rate: 200_000,
        latency: Duration::ZERO,
    },
    Scenario {
        rate: 20_000,
        latency: Duration::from_millis(200),
    },
    Scenario {
        rate: 20_000,
        latency: Duration::from_secs(1),
    },
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    /// Our `OtlpSpanProcessor` (in place of the SDK's processor and an
    /// exporter), default settings.
    Ours,
    /// Ours with concurrency and queue sized for a slow sink.
    OursSized,
    /// Our `OtlpSpanExporter` under the SDK's `BatchSpanProcessor`.
    OursExporter,
    /// `opentelemetry_otlp::SpanExporter` with tonic.
    Stock,
    /// An exporter that drops every batch: the application's and the
    /// processor's share of the CPU.
    Null,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Ours => "otlp-rust",
            Side::OursSized => "otlp-rust*",
            Side::OursExporter => "otlp-rust-bsp",
            Side::Stock => "stock",
            Side::Null => "none",
        }
    }

    fn parse(s: &str) -> Option<Side> {
        [
            Side::Ours,
            Side::OursSized,
            Side::OursExporter,
            Side::Stock,
            Side::Null,
        ]
        .into_iter()
        .find(|side| side.name() == s)
    }
}

// ------------------------------------------------------------- orchestrator

fn orchestrate() {
    let mut json_path = None;
    let mut burst_ms = DEFAULT_BURST_MS;
    let mut filters = Vec::new();
    let mut sides_filter: Option<Vec<Side>> = None;
    let mut thread_counts = vec![1usize];
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--json" {
            json_path = args.next();
        } else if arg == "--burst-ms" {
            burst_ms = args
                .next()
                .and_then(|v| v.parse().ok())
                .filter(|&ms| ms > 0)
                .expect("--burst-ms takes a whole number of milliseconds");
        } else if arg == "--threads" {
            thread_counts = args
                .next()
                .and_then(|list| {
                    list.split(',')
                        .map(|n| n.trim().parse().ok().filter(|&n: &usize| n > 0))
                        .collect::<Option<Vec<usize>>>()
                })
                .expect("--threads takes a comma-separated list of whole numbers, like 1,2,4,8");
        } else if arg == "--sides" {
            let list = args.next().expect("--sides takes a comma-separated list");
            sides_filter = Some(
                list.split(',')
                    .map(|n| Side::parse(n).unwrap_or_else(|| panic!("unknown side {n}")))
                    .collect(),
            );
        } else if !arg.starts_with("--") {
            filters.push(arg);
        }
    }
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this
    // binary without it: then one short pass checks that the harness works.
    let smoke = !std::env::args().any(|a| a == "--bench");
    if smoke && filters.is_empty() && sides_filter.is_none() {
        filters.push("20k/s healthy".to_owned());
        sides_filter = Some(vec![Side::Ours, Side::Stock]);
    }
    let scenarios: Vec<Scenario> = SCENARIOS
        .into_iter()
        .filter(|s| filters.is_empty() || filters.iter().any(|f| s.name().contains(f.as_str())))
        .collect();

    println!(
        "BatchSpanProcessor: max_queue_size 2048, max_export_batch_size 512, scheduled_delay 5 s; \
         spans created for {} s per run, gRPC, uncompressed",
        CREATE_FOR.as_secs()
    );
    println!(
        "otlp-rust = our defaults (4 concurrent exports, queue 65,536 items / 64 MiB); \
         otlp-rust* = {SIZED_CONCURRENCY} concurrent exports, queue {SIZED_QUEUE_ITEMS} items / {} MiB",
        SIZED_QUEUE_BYTES >> 20
    );
    let started = Instant::now();
    let mut rows = Vec::new();
    for scenario in &scenarios {
        let sides: &[Side] = if scenario.healthy() {
            &[Side::Null, Side::Ours, Side::OursExporter, Side::Stock]
        } else {
            &[Side::OursSized, Side::Stock]
        };
        for &threads in &thread_counts {
            for &side in sides {
                if sides_filter.as_ref().is_some_and(|f| !f.contains(&side)) {
                    continue;
                }
                let row = run_one(scenario, side, burst_ms, threads);
                print_row(&row);
                rows.push(row);
            }
        }
    }
    println!("total {:.0} s", started.elapsed().as_secs_f64());
    print_table(&rows);
    if let Some(path) = json_path {
        let doc = json!({ "date_unix": std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()), "runs": rows });
        std::fs::write(&path, serde_json::to_string_pretty(&doc).expect("json"))
            .expect("write the JSON file");
        println!("wrote {path}");
    }
}

/// Runs one scenario with one exporter in fresh sink and runner processes.
fn run_one(scenario: &Scenario, side: Side, burst_ms: u64, threads: usize) -> Value {
    let latency_ms = scenario.latency.as_millis().to_string();
    let mut sink = Sink::spawn(
        SINK_PORT_FILE_ENV,
        "otlp-pipeline-sink",
        &[(ROLE_ENV, "sink"), (SINK_LATENCY_ENV, &latency_ms)],
    );
    let exe = std::env::current_exe().expect("current exe");
    let out = Command::new(exe)
        .env(ROLE_ENV, "runner")
        .env(
            RUN_ENV,
            format!(
                "{} {} {} {burst_ms} {threads}",
                side.name(),
                scenario.rate,
                sink.port()
            ),
        )
        .stderr(Stdio::inherit())
        .output()
        .expect("run the runner process");
    let delivered = sink.finish();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut row: Value = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("runner failed ({}): {stdout}", out.status));
    let created = row["created"].as_u64().unwrap_or(0);
    row["scenario"] = json!(scenario.name());
    row["sink_latency_ms"] = json!(scenario.latency.as_millis() as u64);
    row["delivered"] = json!(delivered);
    row["dropped"] = json!(created.saturating_sub(delivered));
    row
}

fn u(row: &Value, key: &str) -> u64 {
    row[key].as_u64().unwrap_or(0)
}

fn f(row: &Value, key: &str) -> f64 {
    row[key].as_f64().unwrap_or(0.0)
}

fn print_row(row: &Value) {
    println!(
        "{:<16} {:>2} thr {:<11} created {:>7} delivered {:>7} cpu {:>5.2} µs/span peak RSS {:>6.1} MiB elapsed {:>5.1} s",
        row["scenario"].as_str().unwrap_or(""),
        u(row, "threads"),
        row["exporter"].as_str().unwrap_or(""),
        u(row, "created"),
        u(row, "delivered"),
        f(row, "cpu_us_per_span"),
        u(row, "vm_hwm_kib") as f64 / 1024.0,
        f(row, "elapsed_s"),
    );
}

/// Where the spans that did not arrive were lost.
fn loss(row: &Value) -> String {
    if row["exporter"] == "none" {
        return format!("bsp {}", u(row, "bsp_dropped"));
    }
    let mut parts = vec![format!("bsp {}", u(row, "bsp_dropped"))];
    if let Some(stats) = row.get("stats") {
        let d = &stats["dropped"];
        parts.push(format!(
            "queue {} failed {} rejected {}",
            u(d, "queue_full"),
            u(d, "export_failed"),
            u(d, "rejected_by_receiver")
        ));
        let left = u(stats, "queued_items");
        if left > 0 {
            parts.push(format!("left {left}"));
        }
    } else {
        parts.push(format!("export err {}", u(row, "export_failed_spans")));
    }
    parts.join(", ")
}

fn print_table(rows: &[Value]) {
    println!();
    println!(
        "| scenario | threads | exporter | created | delivered | lost | where lost | CPU / span | over none | peak RSS (start) | elapsed |"
    );
    println!(
        "|----------|--------:|----------|--------:|----------:|-----:|------------|-----------:|----------:|-----------------:|--------:|"
    );
    for row in rows {
        // The exporter's own share: CPU per span above the `none` run at
        // the same rate (same application and processor work).
        let none = rows.iter().find(|r| {
            r["exporter"] == "none" && r["rate"] == row["rate"] && r["threads"] == row["threads"]
        });
        let over_none = match none {
            Some(none) if row["exporter"] != "none" => format!(
                "{:.2} µs",
                f(row, "cpu_us_per_span") - f(none, "cpu_us_per_span")
            ),
            _ => "–".to_owned(),
        };
        let created = u(row, "created");
        let delivered = if row["exporter"] == "none" {
            "–".to_owned()
        } else {
            u(row, "delivered").to_string()
        };
        let lost = if row["exporter"] == "none" {
            "–".to_owned()
        } else {
            let dropped = u(row, "dropped");
            format!(
                "{dropped} ({:.1} %)",
                100.0 * dropped as f64 / created.max(1) as f64
            )
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {:.2} µs | {} | {:.0} MiB ({:.0}) | {:.1} s |",
            row["scenario"].as_str().unwrap_or(""),
            u(row, "threads"),
            row["exporter"].as_str().unwrap_or(""),
            created,
            delivered,
            lost,
            loss(row),
            f(row, "cpu_us_per_span"),
            over_none,
            u(row, "vm_hwm_kib") as f64 / 1024.0,
            u(row, "vm_rss_start_kib") as f64 / 1024.0,
            f(row, "elapsed_s"),
        );
    }
}

// ------------------------------------------------------------------- runner

/// A field of `/proc/self/status` in KiB (`VmRSS`, `VmHWM`).
fn proc_status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// What the application puts in one span: an HTTP server span of
/// `otlp_benches::http_spans`, under a remote parent.
struct Template {
    parent: Context,
    name: Cow<'static, str>,
    attributes: Vec<KeyValue>,
    event_attributes: Vec<KeyValue>,
    error: bool,
}

fn templates() -> Vec<Template> {
    otlp_benches::http_spans(TEMPLATES)
        .into_iter()
        .map(|s| {
            let parent = SpanContext::new(
                s.span_context.trace_id(),
                s.parent_span_id,
                TraceFlags::SAMPLED,
                true,
                TraceState::default(),
            );
            Template {
                parent: Context::new().with_remote_span_context(parent),
                name: s.name,
                attributes: s.attributes,
                event_attributes: s
                    .events
                    .events
                    .first()
                    .map(|e| e.attributes.clone())
                    .unwrap_or_default(),
                error: matches!(s.status, Status::Error { .. }),
            }
        })
        .collect()
}

/// Spans handed to the exporter by the processor, those in export calls
/// that returned an error, and how long the processor's thread spent in
/// export calls. Wraps every exporter the same way (a clock read and a few
/// atomic adds per batch), so processor drops can be told apart from
/// exporter drops for stock as well, and a processor thread blocked in
/// `export` from one that was not scheduled.
#[derive(Debug, Default)]
struct Handed {
    spans: AtomicU64,
    batches: AtomicU64,
    failed: AtomicU64,
    export_ns: AtomicU64,
    max_export_ns: AtomicU64,
}

#[derive(Debug)]
struct Counting<E> {
    inner: E,
    handed: Arc<Handed>,
}

impl<E: SpanExporter> SpanExporter for Counting<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let n = batch.len() as u64;
        self.handed.spans.fetch_add(n, Ordering::Relaxed);
        self.handed.batches.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let result = self.inner.export(batch).await;
        let ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.handed.export_ns.fetch_add(ns, Ordering::Relaxed);
        self.handed.max_export_ns.fetch_max(ns, Ordering::Relaxed);
        if result.is_err() {
            self.handed.failed.fetch_add(n, Ordering::Relaxed);
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// Drops every batch, as any exporter eventually does.
#[derive(Debug)]
struct NullExporter;

impl SpanExporter for NullExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        drop(batch);
        Ok(())
    }
}

fn provider<E: SpanExporter + 'static>(exporter: E) -> SdkTracerProvider {
    // The SDK's defaults, spelled out so OTEL_BSP_* cannot change them.
    let config = BatchConfigBuilder::default()
        .with_max_queue_size(2048)
        .with_max_export_batch_size(512)
        .with_scheduled_delay(Duration::from_secs(5))
        .build();
    SdkTracerProvider::builder()
        .with_resource(otlp_benches::resource())
        .with_span_processor(
            BatchSpanProcessor::builder(exporter)
                .with_batch_config(config)
                .build(),
        )
        .build()
}

fn run_runner() {
    let spec = std::env::var(RUN_ENV).expect("run spec");
    let mut parts = spec.split(' ');
    let side = parts.next().and_then(Side::parse).expect("exporter");
    let rate: u64 = parts.next().and_then(|s| s.parse().ok()).expect("rate");
    let port: u16 = parts.next().and_then(|s| s.parse().ok()).expect("port");
    let burst = Duration::from_millis(
        parts
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or(DEFAULT_BURST_MS),
    );
    let threads: u64 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(1);
    let endpoint = format!("http://127.0.0.1:{port}");

    // What `#[tokio::main]` gives on the 2-core bench machine; both
    // exporters do their I/O on it.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let templates = templates();
    let handed = Arc::new(Handed::default());
    let (provider, ours) = {
        let _guard = rt.enter();
        match side {
            Side::Ours | Side::OursSized => {
                let mut builder = OtlpSpanProcessor::builder()
                    .with_endpoint(&endpoint)
                    .with_protocol(Protocol::Grpc)
                    .with_max_batch_size(512)
                    .with_scheduled_delay(Duration::from_secs(5));
                if side == Side::OursSized {
                    builder = builder
                        .with_max_concurrent_exports(SIZED_CONCURRENCY)
                        .with_queue_limits(SIZED_QUEUE_ITEMS, SIZED_QUEUE_BYTES)
                        .with_overflow(Overflow::DropNewest);
                }
                let processor = builder.build().expect("otlp-rust processor");
                let stats = processor.stats();
                let flush = processor.flush_handle();
                let p = SdkTracerProvider::builder()
                    .with_resource(otlp_benches::resource())
                    .with_span_processor(processor)
                    .build();
                (p, Some((stats, flush)))
            }
            Side::OursExporter => {
                let exporter = OtlpSpanExporter::builder()
                    .with_endpoint(&endpoint)
                    .with_protocol(Protocol::Grpc)
                    .build()
                    .expect("otlp-rust exporter");
                let stats = exporter.stats();
                let flush = exporter.flush_handle();
                let p = provider(Counting {
                    inner: exporter,
                    handed: Arc::clone(&handed),
                });
                (p, Some((stats, flush)))
            }
            Side::Stock => {
                let exporter = opentelemetry_otlp::SpanExporter::builder()
                    .with_tonic()
                    .with_endpoint(&endpoint)
                    .build()
                    .expect("stock exporter");
                let p = provider(Counting {
                    inner: exporter,
                    handed: Arc::clone(&handed),
                });
                (p, None)
            }
            Side::Null => (
                provider(Counting {
                    inner: NullExporter,
                    handed: Arc::clone(&handed),
                }),
                None,
            ),
        }
    };
    let tracer = provider.tracer_with_scope(otlp_benches::scope());
    let rss_start = proc_status_kib("VmRSS");

    let total = rate * CREATE_FOR.as_secs();
    let cpu_start = cpu_now();
    let start = Instant::now();
    // Each application thread creates its share of the spans at its share
    // of the rate, from its own place in the templates.
    let created: u64 = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|index| {
                let tracer = tracer.clone();
                let templates = &templates;
                let share = total / threads + u64::from(index < total % threads);
                let offset = (index as usize * TEMPLATES) / threads as usize;
                scope.spawn(move || create_spans(&tracer, templates, offset, share, start, burst))
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("application thread"))
            .sum()
    });
    let create_s = start.elapsed().as_secs_f64();

    let flush_sdk = provider.force_flush();
    let drained = ours.as_ref().map(|(_, flush)| flush.flush(DRAIN_TIMEOUT));
    let shutdown = provider.shutdown_with_timeout(DRAIN_TIMEOUT);
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = cpu_now() - cpu_start;
    let hwm = proc_status_kib("VmHWM");

    // Our processor is the processor: every span created is handed to it.
    let handed_spans = if matches!(side, Side::Ours | Side::OursSized) {
        created
    } else {
        handed.spans.load(Ordering::Relaxed)
    };
    let mut result = json!({
        "exporter": side.name(),
        "rate": rate,
        "threads": threads,
        "burst_ms": burst.as_millis() as u64,
        "created": created,
        "create_s": create_s,
        "elapsed_s": elapsed,
        "cpu_s": cpu.as_secs_f64(),
        "cpu_us_per_span": cpu.as_secs_f64() * 1e6 / created.max(1) as f64,
        "vm_rss_start_kib": rss_start,
        "vm_hwm_kib": hwm,
        "handed_to_exporter": handed_spans,
        "bsp_dropped": created.saturating_sub(handed_spans),
        "export_failed_spans": handed.failed.load(Ordering::Relaxed),
        "export_calls": handed.batches.load(Ordering::Relaxed),
        "export_call_total_ms": handed.export_ns.load(Ordering::Relaxed) as f64 / 1e6,
        "export_call_max_ms": handed.max_export_ns.load(Ordering::Relaxed) as f64 / 1e6,
        "sdk_force_flush": format!("{flush_sdk:?}"),
        "sdk_shutdown": format!("{shutdown:?}"),
    });
    if let Some((stats, _)) = &ours {
        let s = stats.snapshot();
        result["queue_drain"] = json!(format!("{:?}", drained.unwrap_or(Ok(()))));
        result["stats"] = json!({
            "items_accepted": s.items_accepted,
            "items_exported": s.items_exported,
            "requests": s.requests,
            "export_errors": s.export_errors,
            "retries": s.retries,
            "requeued": s.requeued,
            "dropped": {
                "queue_full": s.dropped.queue_full,
                "export_failed": s.dropped.export_failed,
                "rejected_by_receiver": s.dropped.rejected_by_receiver,
            },
            "queued_items": s.queued_items,
            "queued_bytes": s.queued_bytes,
            "peak_queued_items": s.peak_queued_items,
            "peak_queued_bytes": s.peak_queued_bytes,
            "mean_latency_ms": s.mean_latency.as_secs_f64() * 1e3,
            "max_latency_ms": s.max_latency.as_secs_f64() * 1e3,
        });
    }
    println!("RESULT {result}");
    // The exporters' runtime threads are not waited for.
    rt.shutdown_background();
}

/// Creates `total` spans evenly over [`CREATE_FOR`] from `start`: every
/// `burst`, the spans that are due by then, so the rate is met precisely
/// without a syscall per span. Returns how many it created.
fn create_spans(
    tracer: &opentelemetry_sdk::trace::SdkTracer,
    templates: &[Template],
    offset: usize,
    total: u64,
    start: Instant,
    burst: Duration,
) -> u64 {
    use opentelemetry::trace::Span as _;
    let period = CREATE_FOR.as_nanos();
    let mut created = 0u64;
    while created < total {
        let due = (u128::from(total) * start.elapsed().as_nanos() / period) as u64;
        while created < due.min(total) {
            let t = &templates[(offset + created as usize) % templates.len()];
            let builder = tracer
                .span_builder(t.name.clone())
                .with_kind(SpanKind::Server)
                .with_attributes(t.attributes.clone());
            let mut span = tracer.build_with_context(builder, &t.parent);
            span.add_event("db.query", t.event_attributes.clone());
            if t.error {
                span.set_status(Status::error(""));
            }
            span.end();
            created += 1;
        }
        if created < total {
            std::thread::sleep(burst);
        }
    }
    created
}

// --------------------------------------------------------------------- sink

/// The sink role: serves until stdin closes, answering each request after
/// the configured latency, then prints the number of spans acknowledged.
fn run_sink() {
    let port_file = PathBuf::from(std::env::var_os(SINK_PORT_FILE_ENV).expect("port file"));
    let latency = Duration::from_millis(
        std::env::var(SINK_LATENCY_ENV)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
    );
    otlp_benches::sink::serve(&port_file, latency);
}

//! CPU time our `OtlpSpanExporter` spends per batch, against the stock
//! `opentelemetry-otlp` gRPC (tonic) span exporter, both sending to the same
//! loopback gRPC sink, uncompressed and with zstd (level 3 on both sides).
//!
//! The figure criterion reports as "time" is the CPU time (user + system,
//! every thread of this process, from `CLOCK_PROCESS_CPUTIME_ID`) spent in
//! `export(batch).await` calls, not wall time: what the exporter costs the
//! application. So that none of that is the receiver's work, the sink runs
//! in a separate process: this binary re-executes itself with
//! `OTLP_BENCH_SINK_PORT_FILE` set, and that child serves gRPC until its
//! stdin closes, then prints how many spans it received.
//!
//! Both exporters are driven identically: one tokio runtime (multi-thread,
//! 2 workers, what `#[tokio::main]` gives on the 2-core bench machine),
//! batches cloned from the same 512-span batch outside the timed region,
//! and exported one after another, each awaited before the next.
#![allow(missing_docs)]

use criterion::{Criterion, Throughput};
use opentelemetry_otlp::{WithExportConfig as _, WithTonicConfig as _};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use otlp_benches::cpu_now;
use otlp_benches::sink::{self, Sink};
use otlp_exporter::{Compression, OtlpSpanExporter, Protocol};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const SINK_ENV: &str = "OTLP_BENCH_SINK_PORT_FILE";
const BATCH: usize = 512;
/// Batches cloned ahead of each timed stretch; bounds the memory held by
/// pre-built input (a 512-span batch is a few hundred KiB).
const CHUNK: u64 = 32;

fn main() {
    if let Some(path) = std::env::var_os(SINK_ENV) {
        sink::serve(Path::new(&path), Duration::ZERO);
        return;
    }
    let mut sink = Sink::spawn(SINK_ENV, "otlp-bench-sink", &[]);
    let total = run_benchmarks(sink.port());
    let received = sink.finish();
    println!("spans exported Ok: {total}, spans the sink received: {received}");
    assert_eq!(received, total, "the sink must receive every exported span");
}

// ------------------------------------------------------------------ client

trait Export {
    async fn send(&self, batch: Vec<SpanData>);
    /// Waits until every batch handed over has been answered.
    fn settle(&self);
}

impl Export for OtlpSpanExporter {
    async fn send(&self, batch: Vec<SpanData>) {
        self.export(batch).await.expect("otlp-rust export succeeds");
    }
    fn settle(&self) {
        // Our export call only encodes and queues; the sending happens
        // behind it and is part of the cost.
        self.force_flush().expect("otlp-rust queue drains");
    }
}

impl Export for opentelemetry_otlp::SpanExporter {
    async fn send(&self, batch: Vec<SpanData>) {
        self.export(batch).await.expect("stock export succeeds");
    }
    fn settle(&self) {
        // The stock export call returns once the request was answered.
    }
}

/// Exports `iters` copies of `spans`, returning the CPU time spent in the
/// exports only (cloning the input is done between timed stretches).
fn cpu_of_exports<E: Export>(
    rt: &tokio::runtime::Runtime,
    exporter: &E,
    spans: &[SpanData],
    iters: u64,
    exported: &AtomicU64,
) -> Duration {
    let mut cpu = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(CHUNK);
        left -= n;
        let batches: Vec<Vec<SpanData>> = (0..n).map(|_| spans.to_vec()).collect();
        let start = cpu_now();
        rt.block_on(async {
            for batch in batches {
                exporter.send(batch).await;
            }
        });
        exporter.settle();
        cpu += cpu_now() - start;
        exported.fetch_add(n * spans.len() as u64, Ordering::Relaxed);
    }
    cpu
}

fn run_benchmarks(port: u16) -> u64 {
    let endpoint = format!("http://127.0.0.1:{port}");
    let spans = otlp_benches::http_spans(BATCH);
    let resource = otlp_benches::resource();
    {
        // What tonic 0.14 sends for the same request: its zstd streaming
        // encoder at `DEFAULT_COMPRESSION_LEVEL`.
        let mut request = Vec::new();
        otlp_core::Encoder::new(otlp_core::Format::Protobuf)
            .with_resource(&resource)
            .encode_spans(&spans, &mut request);
        let mut encoder =
            zstd::stream::read::Encoder::new(&request[..], zstd::DEFAULT_COMPRESSION_LEVEL)
                .expect("zstd encoder");
        let mut compressed = Vec::new();
        std::io::copy(&mut encoder, &mut compressed).expect("zstd");
        println!(
            "stock/zstd: {} bytes per request (tonic's streaming encoder on the same bytes)",
            compressed.len()
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let exported = AtomicU64::new(0);

    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .configure_from_args();
    let mut group = c.benchmark_group("export cpu per 512-span batch");
    group.throughput(Throughput::Elements(BATCH as u64));

    // Stock cannot set a zstd level (tonic uses level 3); the level-1 row
    // is ours alone, for its CPU and request size.
    let zstd_1 = Compression::zstd().with_level(1).expect("zstd level 1");
    for (name, ours, stock, with_stock) in [
        ("none", Compression::none(), None, true),
        (
            "zstd",
            Compression::zstd(),
            Some(opentelemetry_otlp::Compression::Zstd),
            true,
        ),
        ("zstd-1", zstd_1, None, false),
    ] {
        // Build both inside the runtime: stock does its I/O on it (ours on
        // its own thread).
        let (ours, stock) = {
            let _guard = rt.enter();
            let mut ours = OtlpSpanExporter::builder()
                .with_endpoint(&endpoint)
                .with_protocol(Protocol::Grpc)
                .with_compression(ours)
                .build()
                .expect("otlp-rust exporter");
            ours.set_resource(&resource);
            let mut builder = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(&endpoint);
            if let Some(compression) = stock {
                builder = builder.with_compression(compression);
            }
            let mut stock = builder.build().expect("stock exporter");
            stock.set_resource(&resource);
            (ours, stock)
        };

        group.bench_function(format!("otlp-rust/{name}"), |b| {
            b.iter_custom(|iters| cpu_of_exports(&rt, &ours, &spans, iters, &exported))
        });
        let sent = ours.stats().snapshot();
        if let Some(per_request) = sent.bytes_sent.checked_div(sent.requests) {
            println!("otlp-rust/{name}: {per_request} bytes per request");
        }
        if with_stock {
            group.bench_function(format!("stock/{name}"), |b| {
                b.iter_custom(|iters| cpu_of_exports(&rt, &stock, &spans, iters, &exported))
            });
        }
    }
    group.finish();
    c.final_summary();
    exported.load(Ordering::Relaxed)
}

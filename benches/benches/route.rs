//! What choosing an endpoint per span costs: rendezvous hashing of a trace
//! id over one, three and eight endpoints (`otlp_resilience::balance`), and
//! the real path, `OtlpSpanProcessor::on_end` with one endpoint (no router)
//! and with three and eight (spans partitioned by their traces' owner and
//! next owner as they are encoded), each endpoint an in-process receiver
//! accepting everything.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use opentelemetry_sdk::trace::{SpanData, SpanProcessor as _};
use otlp_exporter::{OtlpSpanProcessor, Protocol};
use otlp_resilience::balance::Rendezvous;
use otlp_transport::receiver::{ReceivedRequest, Receiver, Reply, RunningReceiver};
use std::hint::black_box;
use std::time::Duration;

use otlp_benches::thread_cpu;

/// Trace ids as the SDK's random generator makes them.
fn trace_ids(n: usize) -> Vec<[u8; 16]> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..n)
        .map(|_| {
            let mut id = [0u8; 16];
            for half in id.chunks_exact_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                half.copy_from_slice(&x.to_le_bytes());
            }
            id
        })
        .collect()
}

fn route(c: &mut Criterion) {
    const SPANS: usize = 512;
    let ids = trace_ids(SPANS);
    let mut group = c.benchmark_group("route_by_trace_id");
    group.throughput(Throughput::Elements(SPANS as u64));
    for endpoints in [1, 3, 8] {
        let mut ring = Rendezvous::new();
        for i in 0..endpoints {
            let name = format!("http://10.0.0.{i}:4317");
            ring.insert(&name, i);
        }
        group.bench_function(format!("{endpoints} endpoints, 512 spans"), |b| {
            b.iter_batched(
                || (),
                |()| {
                    let mut per = [0u32; 8];
                    for id in &ids {
                        if let Some(&i) = ring.owner(black_box(id)) {
                            per[i] += 1;
                        }
                    }
                    per
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

fn receivers(rt: &tokio::runtime::Runtime, n: usize) -> Vec<RunningReceiver> {
    (0..n)
        .map(|_| {
            rt.block_on(async {
                Receiver::builder()
                    .with_grpc_addr("127.0.0.1:0".parse().unwrap())
                    .serve(async |_: ReceivedRequest| Reply::Accept)
                    .await
                    .unwrap()
            })
        })
        .collect()
}

/// A processor sending to `endpoints` in-process receivers.
fn processor_to(
    rt: &tokio::runtime::Runtime,
    endpoints: usize,
) -> (OtlpSpanProcessor, Vec<RunningReceiver>) {
    let running = receivers(rt, endpoints);
    let urls: Vec<String> = running
        .iter()
        .map(|r| format!("http://{}", r.grpc_addr().unwrap()))
        .collect();
    let processor = OtlpSpanProcessor::builder()
        .with_endpoints(urls)
        .with_protocol(Protocol::Grpc)
        .with_scheduled_delay(Duration::from_millis(200))
        .build()
        .unwrap();
    (processor, running)
}

/// Ends `spans` through `processor`; the calling thread's CPU time for
/// it. Then (not timed) sends the batches, so that the export thread never
/// falls behind: it would drop spans, and a drop is cheaper than a span.
fn end_all(processor: &OtlpSpanProcessor, spans: &[SpanData]) -> Duration {
    let batch = spans.to_vec();
    let started = thread_cpu();
    for span in batch {
        processor.on_end(span);
    }
    let cpu = thread_cpu() - started;
    processor.force_flush().unwrap();
    cpu
}

/// `on_end` of 512 spans (of 64 traces) through the span processor, in CPU
/// time of the calling thread: the application thread's share of the work
/// (encoding, and with several endpoints choosing the batch of the
/// trace's endpoint pair); batches are compressed and sent on the
/// processor's own thread.
///
/// On a shared machine criterion's runs of one case after the other drift
/// apart by more than routing costs, so the cases are first run
/// interleaved, round after round, and the median of each case and of the
/// per-round differences is printed.
fn processor(c: &mut Criterion) {
    const SPANS: usize = 512;
    const ROUNDS: usize = 400;
    let spans = otlp_benches::http_spans(SPANS);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let cases: Vec<(usize, OtlpSpanProcessor, Vec<RunningReceiver>)> = [1, 3, 8]
        .into_iter()
        .map(|n| {
            let (p, r) = processor_to(&rt, n);
            (n, p, r)
        })
        .collect();

    let mut per_span: Vec<Vec<f64>> = vec![Vec::with_capacity(ROUNDS); cases.len()];
    for round in 0..ROUNDS + 20 {
        for (i, (_, p, _)) in cases.iter().enumerate() {
            let ns = end_all(p, &spans).as_nanos() as f64 / SPANS as f64;
            // The first rounds warm up.
            if round >= 20 {
                per_span[i].push(ns);
            }
        }
    }
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    for (i, (n, _, _)) in cases.iter().enumerate() {
        let diffs: Vec<f64> = per_span[i]
            .iter()
            .zip(&per_span[0])
            .map(|(a, b)| a - b)
            .collect();
        println!(
            "processor_on_end interleaved: {n} endpoints, median {:.0} ns per span, \
             median difference with 1 endpoint {:+.1} ns per span ({ROUNDS} rounds)",
            median(&per_span[i]),
            median(&diffs),
        );
    }

    let mut group = c.benchmark_group("processor_on_end");
    group.sample_size(30);
    group.throughput(Throughput::Elements(SPANS as u64));
    for (endpoints, processor, _) in &cases {
        group.bench_function(format!("{endpoints} endpoints, 512 spans"), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| end_all(processor, &spans)).sum())
        });
    }
    group.finish();
    for (_, processor, running) in cases {
        let s = processor.stats().snapshot();
        assert_eq!(s.dropped.total(), 0, "nothing dropped: {:?}", s.dropped);
        let _ = processor.shutdown();
        for r in running {
            rt.block_on(r.shutdown());
        }
    }
}

criterion_group!(benches, route, processor);
criterion_main!(benches);

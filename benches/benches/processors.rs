//! What a processor chain adds to the exporter's work per span: the span
//! processor encodes each span as it ends, and `with_processors` makes the
//! export thread decode that batch, run the chain and encode the rest again.
//! Both sides here start from the same SDK spans (12 attributes, the
//! benches' HTTP spans) and end with a request body, the way the exporter
//! prepares one:
//!
//! - `encode`: the batch encoded, as without processors;
//! - `encode+chain`: encoded, decoded, run through
//!   [`otlp_benches::sample_filter_redact`] (sampling 50 %, a filter,
//!   redaction with allowed keys, a blocked-value regex, e-mail and card
//!   scanning), and encoded again, with every decoded span freed.
//!
//! - `early+encode+chain`: the same chain, with the sampler's decision
//!   taken first from each span's trace id (as the span processor does when
//!   a chain starts with a sampler): dropped spans are never encoded.
//!
//! - `by_span`: the same chain run on each SDK span as it ends
//!   ([`SpanChain`](otlp_simd::processor::SpanChain), what the span
//!   processor and span exporter do with a chain of sampling, filter and
//!   redaction): dropped spans are never encoded, kept ones are edited in
//!   place and encoded with the sampler's tracestate;
//! - `chain_only`: that chain on each span and nothing else.
//!
//! `processors_alone` runs each step alone on 64, 512 and 4096 spans,
//! span by span, and two lighter chains: `chain_keys` (redaction by
//! allowed keys only) and `chain_keys+scan` (allowed keys and the
//! built-in e-mail and card scanning, without the regex), next to
//! `keep_all`, a step that keeps every span and reads nothing: the loop,
//! the call and the first touch of each copied span.
//!
//! `by_span`, `chain_only` and `encode_owned` (the batch encoded as
//! `encode` does, from spans the iteration owns) start from a copy of the
//! spans made outside the timing, and the spans are freed outside it too:
//! in the exporter each span is the SDK's, freed whatever the chain does.
//!
//! The difference per span is what the chain costs in the exporter.
//!
//! Every variant runs on one thread, so the time measured is that
//! thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), not wall time: on a
//! shared machine, time spent waiting for a core does not count.
#![allow(missing_docs)]

use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use otlp_core::proto::collector::trace::v1::ExportTraceServiceRequest;
use otlp_core::{Encoder, Format, SpanBatch};
use otlp_simd::processor::{Chain, SpanOutcome};
use prost::Message as _;
use std::time::Duration;

/// The calling thread's CPU time as a criterion measurement.
struct ThreadCpu;

impl Measurement for ThreadCpu {
    type Intermediate = Duration;
    type Value = Duration;
    fn start(&self) -> Duration {
        otlp_benches::thread_cpu()
    }
    fn end(&self, start: Duration) -> Duration {
        otlp_benches::thread_cpu().saturating_sub(start)
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, v: &Duration) -> f64 {
        v.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        self
    }
}

impl ValueFormatter for ThreadCpu {
    fn scale_values(&self, _typical: f64, _values: &mut [f64]) -> &'static str {
        "ns"
    }
    fn scale_throughputs(&self, _typical: f64, t: &Throughput, values: &mut [f64]) -> &'static str {
        let n = match t {
            Throughput::Elements(n) => *n as f64,
            Throughput::Bytes(n) | Throughput::BytesDecimal(n) | Throughput::Bits(n) => *n as f64,
            _ => 1.0,
        };
        for v in values.iter_mut() {
            *v = if *v > 0.0 { n * 1e9 / *v } else { 0.0 };
        }
        "items/s"
    }
    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

/// The chain of the `simd` benchmark, on the detected instruction set.
fn make_chain() -> Chain {
    otlp_benches::sample_filter_redact(otlp_simd::Isa::detect())
}

fn bench(c: &mut Criterion<ThreadCpu>) {
    let mut g = c.benchmark_group("processors");
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    let encoder = Encoder::new(Format::Protobuf).with_resource(&otlp_benches::resource());
    for n in [64usize, 512, 4096] {
        let spans = otlp_benches::http_spans(n);
        g.throughput(Throughput::Elements(n as u64));
        let mut out = Vec::new();
        g.bench_function(BenchmarkId::new("encode", n), |b| {
            b.iter(|| {
                encoder.encode_spans(&spans, &mut out);
                out.len()
            })
        });
        let mut chain = make_chain();
        let mut raw = Vec::new();
        g.bench_function(BenchmarkId::new("encode+chain", n), |b| {
            b.iter(|| {
                encoder.encode_spans(&spans, &mut raw);
                let mut request =
                    ExportTraceServiceRequest::decode(&raw[..]).expect("our encoding decodes");
                chain.process(&mut request);
                out.clear();
                request.encode(&mut out).expect("a Vec grows");
                out.len()
            })
        });
        g.bench_function(BenchmarkId::new("encode_owned", n), |b| {
            b.iter_batched_ref(
                || spans.clone(),
                |spans| {
                    let mut batch = SpanBatch::new(Format::Protobuf);
                    for span in spans.iter() {
                        batch.push(span);
                    }
                    encoder.encode_span_batch(&mut batch, &mut out);
                    out.len()
                },
                BatchSize::LargeInput,
            )
        });
        let by_span = make_chain()
            .span_chain()
            .expect("sampling, filter and redaction run span by span");
        let by_span_encoder = {
            let attrs = otlp_benches::resource()
                .iter()
                .map(|(k, v)| opentelemetry::KeyValue::new(k.clone(), v.clone()))
                .collect();
            let resource = opentelemetry_sdk::Resource::builder_empty()
                .with_attributes(by_span.set_resource(attrs))
                .build();
            Encoder::new(Format::Protobuf).with_resource(&resource)
        };
        g.bench_function(BenchmarkId::new("by_span", n), |b| {
            b.iter_batched_ref(
                || spans.clone(),
                |spans| {
                    let mut batch = SpanBatch::new(Format::Protobuf);
                    for span in spans.iter_mut() {
                        if let SpanOutcome::Keep(ts) = by_span.on_end(span) {
                            batch.push_with_trace_state(span, ts.as_deref());
                        }
                    }
                    by_span_encoder.encode_span_batch(&mut batch, &mut out);
                    out.len()
                },
                BatchSize::LargeInput,
            )
        });
        g.bench_function(BenchmarkId::new("chain_only", n), |b| {
            b.iter_batched_ref(
                || spans.clone(),
                |spans| {
                    let mut kept = 0usize;
                    for span in spans.iter_mut() {
                        kept += usize::from(matches!(by_span.on_end(span), SpanOutcome::Keep(_)));
                    }
                    kept
                },
                BatchSize::LargeInput,
            )
        });
        let mut chain = make_chain();
        let (_, early) = chain.early_drop().expect("the chain starts with a sampler");
        g.bench_function(BenchmarkId::new("early+encode+chain", n), |b| {
            b.iter(|| {
                let mut batch = SpanBatch::new(Format::Protobuf);
                for span in &spans {
                    let id = span.span_context.trace_id().to_bytes();
                    if !early.drops(&id, false, 0) {
                        batch.push(span);
                    }
                }
                encoder.encode_span_batch(&mut batch, &mut raw);
                let mut request =
                    ExportTraceServiceRequest::decode(&raw[..]).expect("our encoding decodes");
                chain.process(&mut request);
                out.clear();
                request.encode(&mut out).expect("a Vec grows");
                out.len()
            })
        });
    }
    g.finish();
    // Each step alone, span by span, on 64, 512 and 4096 spans.
    let mut g = c.benchmark_group("processors_alone");
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    let isa = otlp_simd::Isa::detect();
    let steps = otlp_benches::steps_alone(isa);
    let mut steps: Vec<_> = steps
        .into_iter()
        .map(|(name, chain)| (name, chain.span_chain().expect("runs span by span")))
        .collect();
    // The anchor: a step that keeps every span and reads nothing, so the
    // loop, the copied spans' cache misses and the chain's call.
    steps.insert(
        0,
        (
            "keep_all",
            otlp_simd::processor::SpanChain::new(vec![Box::new(KeepAll)]),
        ),
    );
    for n in [64usize, 512, 4096] {
        let spans = otlp_benches::http_spans(n);
        g.throughput(Throughput::Elements(n as u64));
        for (name, chain) in &steps {
            g.bench_function(BenchmarkId::new(*name, n), |b| {
                b.iter_batched_ref(
                    || spans.clone(),
                    |spans| {
                        let mut kept = 0usize;
                        for span in spans.iter_mut() {
                            kept += usize::from(matches!(chain.on_end(span), SpanOutcome::Keep(_)));
                        }
                        kept
                    },
                    BatchSize::LargeInput,
                )
            });
        }
    }
    g.finish();
}

/// A step that keeps every span (the anchor of `processors_alone`).
#[derive(Debug)]
struct KeepAll;

impl otlp_simd::processor::SpanStep for KeepAll {
    fn name(&self) -> &str {
        "keep_all"
    }
    fn on_end<'s>(
        &'s self,
        _span: &mut otlp_simd::processor::EndingSpan<'s, '_>,
    ) -> otlp_simd::processor::Verdict {
        otlp_simd::processor::Verdict::Keep
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpu);
    targets = bench
}
criterion_main!(benches);

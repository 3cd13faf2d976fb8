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
//! The difference per span is what the chain costs in the exporter.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use otlp_core::proto::collector::trace::v1::ExportTraceServiceRequest;
use otlp_core::{Encoder, Format, SpanBatch};
use otlp_simd::processor::Chain;
use prost::Message as _;
use std::time::Duration;

/// The chain of the `simd` benchmark, on the detected instruction set.
fn make_chain() -> Chain {
    otlp_benches::sample_filter_redact(otlp_simd::Isa::detect())
}

fn bench(c: &mut Criterion) {
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
}

criterion_group!(benches, bench);
criterion_main!(benches);

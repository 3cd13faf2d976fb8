//! What a processor chain adds to the exporter's work per span: the span
//! processor encodes each span as it ends, and `with_processors` makes the
//! export thread decode that batch, run the chain and encode the rest again.
//! Both sides here start from the same SDK spans (12 attributes, the
//! benches' HTTP spans) and end with a request body, the way the exporter
//! prepares one:
//!
//! - `encode`: the batch encoded, as without processors;
//! - `encode+chain`: encoded, decoded, run through sampling (50 %), a filter
//!   and redaction (allowed keys, a blocked-value regex, e-mail and card
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
use otlp_simd::processor::{redaction::Summary, Chain, Filter, ProbabilisticSampler, Redaction};
use prost::Message as _;
use std::time::Duration;

fn make_chain() -> Chain {
    let card = regex::Regex::new(r"4[0-9]{12}(?:[0-9]{3})?").expect("regex");
    Chain::new()
        .with(
            ProbabilisticSampler::builder()
                .with_percentage(50.0)
                .build()
                .expect("valid sampler"),
        )
        .with(
            Filter::new()
                .with_span_condition(r#"attributes["url.path"] == "/health""#)
                .and_then(|f| {
                    f.with_span_condition("kind == SPAN_KIND_INTERNAL and duration < 1000")
                })
                .expect("valid conditions"),
        )
        .with(
            Redaction::builder()
                .with_allowed_keys([
                    "http.request.method",
                    "url.path",
                    "url.scheme",
                    "server.address",
                    "server.port",
                    "http.response.status_code",
                    "user_agent.original",
                    "client.address",
                    "network.protocol.version",
                    "http.route",
                    "request_id",
                    "service.name",
                ])
                .with_allow_all_keys(false)
                .with_blocked_value(card)
                .with_blocked_pattern("email")
                .and_then(|b| b.with_blocked_pattern("card"))
                .expect("known patterns")
                .with_summary(Summary::Info)
                .build()
                .expect("valid redaction"),
        )
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

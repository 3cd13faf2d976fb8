//! Bytes and CPU per span of the SRT codec against OTLP protobuf with each
//! compression, at 128, 512 and 4096 spans per request, on two corpora:
//! `otlp_srt::corpus` (a generated microservice shop, seed 42) and
//! `benches/corpus/python-flask.otlp.zst` (14,899 spans recorded from two
//! Flask services under the official Python auto-instrumentation, cut into
//! requests of each size by `otlp_srt::corpus::Recorded`).
//!
//! Both sides start from the same OTLP protobuf bytes of each request (what
//! `otlp_core::Encoder` hands the sender path): "encode" is compressing
//! them (OTLP) or `SrtEncoder::encode` (walking them, the trees, the
//! columns and zstd); "decode" is decompressing (OTLP) or
//! `SrtDecoder::decode` back to OTLP protobuf bytes. SRT runs in steady
//! state, as it does on a long-lived connection: the stream is warmed up
//! with the corpus's earlier requests (20,000 generated spans; the first
//! quarter of the recorded requests), and the timed requests are encoded
//! (and decoded) after it, each frame acknowledged. The sizes are of that
//! one pass. The timed requests are then cycled; after the first pass the
//! trees hold all their slots, as they do for most requests of a stream
//! that has run for a while.
//!
//! The figure is wall time per span of a single thread doing only this
//! work, which is its CPU time. Before the timings a table of sizes (bytes
//! per span over the timed requests) is printed per corpus.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use otlp_compression::{Algorithm, Compression, Compressor, Decompressor};
use otlp_srt::corpus::{Corpus, Recorded};
use otlp_srt::{SrtConfig, SrtDecoder, SrtEncoder, SrtLimits};
use prost::Message;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Spans of warm-up before the timed requests, and spans timed.
const WARM_UP_SPANS: usize = 20_000;
const TIMED_SPANS: usize = 16_384;

fn codecs() -> Vec<(&'static str, Compression)> {
    vec![
        ("none", Compression::none()),
        ("gzip", Compression::gzip()),
        (
            "zstd1",
            Compression::zstd().with_level(1).expect("valid level"),
        ),
        ("zstd3", Compression::zstd()),
        ("brotli", Compression::brotli()),
    ]
}

struct Setup {
    corpus: &'static str,
    batch: usize,
    requests: Vec<Vec<u8>>,
    spans: usize,
    encoder: SrtEncoder,
    frames: Vec<Vec<u8>>,
    /// The warm-up's frames, which a new decoder takes before `frames`.
    warm_frames: Vec<Vec<u8>>,
}

fn spans_of(request: &[u8]) -> usize {
    otlp_core::proto::collector::trace::v1::ExportTraceServiceRequest::decode(request)
        .expect("corpus request")
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum()
}

/// Runs `warm_up` through a new stream, then `timed`, keeping the frames
/// of the latter.
fn setup(corpus: &'static str, batch: usize, warm_up: &[Vec<u8>], timed: Vec<Vec<u8>>) -> Setup {
    let mut encoder = SrtEncoder::new(SrtConfig::new());
    let decoder = SrtDecoder::new(SrtLimits::new());
    let mut out = Vec::new();
    let mut warm_frames = Vec::new();
    for request in warm_up {
        let mut frame = Vec::new();
        let id = encoder.encode(request, &mut frame).expect("corpus encodes");
        decoder
            .decode(&frame, 256 << 20, &mut out)
            .expect("frame decodes");
        encoder.acknowledge(id);
        warm_frames.push(frame);
    }
    let frames = timed
        .iter()
        .map(|request| {
            let mut frame = Vec::new();
            let id = encoder.encode(request, &mut frame).expect("corpus encodes");
            decoder
                .decode(&frame, 256 << 20, &mut out)
                .expect("frame decodes");
            assert_eq!(&out, request, "SRT decodes to the request's bytes");
            encoder.acknowledge(id);
            frame
        })
        .collect();
    Setup {
        corpus,
        batch,
        spans: timed.iter().map(|r| spans_of(r)).sum(),
        requests: timed,
        encoder,
        frames,
        warm_frames,
    }
}

fn generated(batch: usize) -> Setup {
    let mut corpus = Corpus::new(42);
    let warm_up: Vec<Vec<u8>> = (0..WARM_UP_SPANS.div_ceil(batch))
        .map(|_| corpus.next_request_bytes(batch))
        .collect();
    let timed = (0..TIMED_SPANS.div_ceil(batch).max(4))
        .map(|_| corpus.next_request_bytes(batch))
        .collect();
    setup("generated", batch, &warm_up, timed)
}

fn recorded(flask: &Recorded, batch: usize) -> Setup {
    let mut requests: Vec<Vec<u8>> = flask
        .batches(batch)
        .iter()
        .map(Message::encode_to_vec)
        .collect();
    let timed = requests.split_off(requests.len() / 4);
    setup("flask", batch, &requests, timed)
}

fn sizes(setups: &[Setup]) {
    println!("bytes per span over the timed requests, after the warm-up:");
    print!("{:>10} {:>7}", "corpus", "batch");
    for (name, _) in codecs() {
        print!(" {name:>8}");
    }
    println!(" {:>8} {:>11}", "srt", "srt/zstd3");
    for s in setups {
        let spans = s.spans as f64;
        print!("{:>10} {:>7}", s.corpus, s.batch);
        let mut zstd3 = 0.0;
        for (name, compression) in codecs() {
            let mut compressor = Compressor::new(compression).expect("codec compiled in");
            let mut out = Vec::new();
            let total: usize = s
                .requests
                .iter()
                .map(|r| {
                    compressor.compress(r, &mut out).expect("compresses");
                    out.len()
                })
                .sum();
            if name == "zstd3" {
                zstd3 = total as f64 / spans;
            }
            print!(" {:>8.1}", total as f64 / spans);
        }
        let srt = s.frames.iter().map(Vec::len).sum::<usize>() as f64 / spans;
        println!(" {srt:>8.1} {:>11.3}", srt / zstd3);
    }
}

fn bench(c: &mut Criterion) {
    let flask = Recorded::from_zstd(include_bytes!("../corpus/python-flask.otlp.zst"), 256 << 20)
        .expect("the recorded corpus reads");
    let mut setups: Vec<Setup> = [128, 512, 4096].into_iter().map(generated).collect();
    setups.extend([128, 512, 4096].into_iter().map(|b| recorded(&flask, b)));
    sizes(&setups);
    for s in &mut setups {
        let (corpus, batch) = (s.corpus, s.batch);
        // Spans per timed request, on average (the recorded corpus's last
        // request is shorter).
        let per_request = (s.spans / s.requests.len()) as u64;
        let mut group = c.benchmark_group(format!("srt {corpus} {batch} spans encode"));
        group.throughput(Throughput::Elements(per_request));
        for (name, compression) in codecs() {
            let mut compressor = Compressor::new(compression).expect("codec compiled in");
            let mut out = Vec::new();
            let mut i = 0;
            group.bench_function(format!("otlp {name}"), |b| {
                b.iter(|| {
                    i = (i + 1) % s.requests.len();
                    compressor
                        .compress(black_box(&s.requests[i]), &mut out)
                        .expect("compresses");
                    out.len()
                })
            });
        }
        let mut out = Vec::new();
        let mut i = 0;
        let (encoder, requests) = (&mut s.encoder, &s.requests);
        group.bench_function("srt zstd3", |b| {
            b.iter(|| {
                i = (i + 1) % requests.len();
                let id = encoder
                    .encode(black_box(&requests[i]), &mut out)
                    .expect("encodes");
                encoder.acknowledge(id);
                out.len()
            })
        });
        group.finish();

        let mut group = c.benchmark_group(format!("srt {corpus} {batch} spans decode"));
        group.throughput(Throughput::Elements(per_request));
        for (name, compression) in codecs() {
            let mut compressor = Compressor::new(compression).expect("codec compiled in");
            let compressed: Vec<Vec<u8>> = s
                .requests
                .iter()
                .map(|r| {
                    let mut out = Vec::new();
                    compressor.compress(r, &mut out).expect("compresses");
                    out
                })
                .collect();
            let algorithm: Algorithm = compression.algorithm();
            let mut decompressor = Decompressor::new();
            let mut out = Vec::new();
            let mut i = 0;
            group.bench_function(format!("otlp {name}"), |b| {
                b.iter(|| {
                    i = (i + 1) % compressed.len();
                    decompressor
                        .decompress(algorithm, black_box(&compressed[i]), 256 << 20, &mut out)
                        .expect("decompresses");
                    out.len()
                })
            });
        }
        // Frames refer to the spans and text of the frames just before
        // them, which a receiver keeps for the newest 64 frames only: the
        // timed frames are decoded in order, and before each pass a new
        // decoder takes the warm-up's frames (not timed), as a receiver
        // that has followed the stream would have.
        let mut out = Vec::new();
        let (frames, warm_frames) = (&s.frames, &s.warm_frames);
        let fresh = |out: &mut Vec<u8>| {
            let decoder = SrtDecoder::new(SrtLimits::new());
            for frame in warm_frames {
                decoder.decode(frame, 256 << 20, out).expect("decodes");
            }
            decoder
        };
        group.bench_function("srt zstd3", |b| {
            b.iter_custom(|iters| {
                let mut decoder = fresh(&mut out);
                let (mut i, mut total) = (0, Duration::ZERO);
                for _ in 0..iters {
                    if i == frames.len() {
                        decoder = fresh(&mut out);
                        i = 0;
                    }
                    let start = Instant::now();
                    let decoded = decoder
                        .decode(black_box(&frames[i]), 256 << 20, &mut out)
                        .expect("decodes");
                    total += start.elapsed();
                    black_box(decoded.spans);
                    i += 1;
                }
                total
            })
        });
        group.finish();
    }
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench
}
criterion_main!(benches);

//! SRT encode CPU against OTLP protobuf + zstd 3, per span, measured as
//! the calling thread's CPU time in interleaved rounds: each round times a
//! pass of zstd 3 over a corpus's timed requests, then a pass of
//! `SrtEncoder::encode` (each frame acknowledged) over the same requests,
//! and takes their ratio; the medians over the rounds are printed. On a
//! shared machine this is steadier than criterion's separate wall-time
//! groups: both sides of a ratio run within the same fraction of a second
//! and other processes' time is not counted.
//!
//! Corpora and warm-up as in `benches/srt.rs`: `otlp_srt::corpus` (seed 42,
//! 20,000 spans of warm-up, 16,384 timed) and
//! `benches/corpus/python-flask.otlp.zst` (first quarter of the requests as
//! warm-up). Arguments: batch sizes (default 128 512 4096); the
//! environment variable `SRT_CPU_ROUNDS` sets the rounds (default 21);
//! `SRT_CPU_ONLY=srt` or `SRT_CPU_ONLY=zstd` times only that side (the
//! other's column and the ratio are then 0), for a profiler's view of one.
#![allow(missing_docs)]

use otlp_compression::{Compression, Compressor};
use otlp_srt::corpus::{Corpus, Recorded};
use otlp_srt::{SrtConfig, SrtEncoder};
use prost::Message;
use std::hint::black_box;

const WARM_UP_SPANS: usize = 20_000;
const TIMED_SPANS: usize = 16_384;

use otlp_benches::thread_cpu;

fn spans_of(request: &[u8]) -> usize {
    otlp_core::proto::collector::trace::v1::ExportTraceServiceRequest::decode(request)
        .expect("corpus request")
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum()
}

struct Setup {
    name: String,
    requests: Vec<Vec<u8>>,
    spans: usize,
    encoder: SrtEncoder,
}

fn setup(name: String, warm_up: &[Vec<u8>], timed: Vec<Vec<u8>>) -> Setup {
    let mut encoder = SrtEncoder::new(SrtConfig::new());
    let mut frame = Vec::new();
    for request in warm_up.iter().chain(&timed) {
        let id = encoder.encode(request, &mut frame).expect("corpus encodes");
        encoder.acknowledge(id);
    }
    Setup {
        name,
        spans: timed.iter().map(|r| spans_of(r)).sum(),
        requests: timed,
        encoder,
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this
    // binary without it, as a check that it works: one round of one size.
    let bench = std::env::args().any(|a| a == "--bench");
    let batches: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let batches = match (batches.is_empty(), bench) {
        (false, _) => batches,
        (true, true) => vec![128, 512, 4096],
        (true, false) => vec![128],
    };
    let rounds: usize = match bench {
        true => std::env::var("SRT_CPU_ROUNDS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(21),
        false => 1,
    };
    let flask = Recorded::from_zstd(include_bytes!("../corpus/python-flask.otlp.zst"), 256 << 20)
        .expect("the recorded corpus reads");
    let mut setups = Vec::new();
    for &batch in &batches {
        let mut corpus = Corpus::new(42);
        let warm_up: Vec<Vec<u8>> = (0..WARM_UP_SPANS.div_ceil(batch))
            .map(|_| corpus.next_request_bytes(batch))
            .collect();
        let timed = (0..TIMED_SPANS.div_ceil(batch).max(4))
            .map(|_| corpus.next_request_bytes(batch))
            .collect();
        setups.push(setup(format!("generated {batch}"), &warm_up, timed));
    }
    for &batch in &batches {
        let mut requests: Vec<Vec<u8>> = flask
            .batches(batch)
            .iter()
            .map(Message::encode_to_vec)
            .collect();
        let timed = requests.split_off(requests.len() / 4);
        setups.push(setup(format!("flask {batch}"), &requests, timed));
    }
    let only = std::env::var("SRT_CPU_ONLY").unwrap_or_default();
    let (run_zstd, run_srt) = (only != "srt", only != "zstd");
    println!("{rounds} interleaved rounds, thread CPU time, medians:");
    println!(
        "{:>16} {:>12} {:>12} {:>10}",
        "corpus batch", "zstd3 µs/sp", "srt µs/sp", "srt/zstd3"
    );
    for s in &mut setups {
        let mut compressor = Compressor::new(Compression::zstd()).expect("zstd compiled in");
        let (mut zs, mut ss, mut rs) = (Vec::new(), Vec::new(), Vec::new());
        let mut out = Vec::new();
        for _ in 0..rounds {
            let start = thread_cpu();
            for r in s.requests.iter().filter(|_| run_zstd) {
                compressor
                    .compress(black_box(r), &mut out)
                    .expect("compresses");
                black_box(out.len());
            }
            let z = (thread_cpu() - start).as_secs_f64() * 1e6 / s.spans as f64;
            let start = thread_cpu();
            for r in s.requests.iter().filter(|_| run_srt) {
                let id = s.encoder.encode(black_box(r), &mut out).expect("encodes");
                s.encoder.acknowledge(id);
                black_box(out.len());
            }
            let t = (thread_cpu() - start).as_secs_f64() * 1e6 / s.spans as f64;
            zs.push(z);
            ss.push(t);
            rs.push(if z > 0.0 { t / z } else { 0.0 });
        }
        println!(
            "{:>16} {:>12.3} {:>12.3} {:>10.3}",
            s.name,
            median(&mut zs),
            median(&mut ss),
            median(&mut rs)
        );
    }
}

//! The realistic corpus through a warmed-up stream: every frame decodes to
//! its request, and the sizes against OTLP protobuf + zstd.
#![cfg(feature = "corpus")]

use otlp_core::proto::collector::trace::v1::ExportTraceServiceRequest;
use otlp_srt::corpus::{Corpus, Recorded};
use otlp_srt::{SrtConfig, SrtDecoder, SrtEncoder, SrtLimits};
use prost::Message;

fn zstd_len(bytes: &[u8], level: i32) -> usize {
    zstd_bulk(bytes, level).len()
}

fn zstd_bulk(bytes: &[u8], level: i32) -> Vec<u8> {
    let mut c = otlp_compression::Compressor::new(
        otlp_compression::Compression::zstd()
            .with_level(level)
            .unwrap(),
    )
    .unwrap();
    let mut out = Vec::new();
    c.compress(bytes, &mut out).unwrap();
    out
}

/// The trace set recorded from two Flask services (benches/corpus).
fn flask() -> Recorded {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../benches/corpus/python-flask.otlp.zst"
    );
    let file = std::fs::read(path).expect("benches/corpus/python-flask.otlp.zst");
    Recorded::from_zstd(&file, 256 << 20).expect("the recorded corpus reads")
}

#[test]
fn recorded_corpus_rebatches_every_span_once() {
    let flask = flask();
    assert_eq!(flask.spans(), 14_899);
    for batch in [128usize, 512, 4096] {
        let requests = flask.batches(batch);
        assert_eq!(requests.len(), 14_899usize.div_ceil(batch));
        let spans: usize = requests
            .iter()
            .flat_map(|r| &r.resource_spans)
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        assert_eq!(spans, 14_899);
    }
}

/// The recorded corpus through a warmed-up stream, the first quarter of
/// its requests as warm-up: every frame decodes to its request, and at
/// 512 spans SRT is at most half of OTLP + zstd 3 (measured 0.48).
#[test]
fn recorded_corpus_round_trips_and_is_at_most_half_of_otlp_zstd() {
    let flask = flask();
    for batch in [128usize, 512, 4096] {
        let requests: Vec<Vec<u8>> = flask
            .batches(batch)
            .iter()
            .map(Message::encode_to_vec)
            .collect();
        let mut encoder = SrtEncoder::new(SrtConfig::new());
        let decoder = SrtDecoder::new(SrtLimits::new());
        let (mut frame, mut out) = (Vec::new(), Vec::new());
        let (mut srt, mut otlp, mut otlp_zstd, mut spans) = (0, 0, 0, 0);
        for (round, request) in requests.iter().enumerate() {
            let id = encoder.encode(request, &mut frame).unwrap();
            let decoded = decoder.decode(&frame, 64 << 20, &mut out).unwrap();
            encoder.acknowledge(id);
            assert_eq!(
                ExportTraceServiceRequest::decode(&out[..]).unwrap(),
                ExportTraceServiceRequest::decode(&request[..]).unwrap()
            );
            if round >= requests.len() / 4 {
                srt += frame.len();
                otlp += request.len();
                otlp_zstd += zstd_len(request, 3);
                spans += decoded.spans;
            }
        }
        let ratio = srt as f64 / otlp_zstd as f64;
        println!(
            "flask batch {batch}: otlp {:.1} B/span, otlp+zstd3 {:.1} B/span, srt {:.1} B/span, ratio {ratio:.4}",
            otlp as f64 / spans as f64,
            otlp_zstd as f64 / spans as f64,
            srt as f64 / spans as f64,
        );
        if batch == 512 {
            assert!(
                ratio <= 0.5,
                "SRT is {ratio:.3} of OTLP + zstd on the recorded corpus at batch 512"
            );
        }
    }
}

#[test]
fn corpus_round_trips_and_is_at_most_half_of_otlp_zstd() {
    for batch in [128usize, 512, 4096] {
        let mut corpus = Corpus::new(42);
        let fixed = std::env::var("SRT_FIXED")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(16);
        let mut encoder = SrtEncoder::new(SrtConfig::new().with_max_fixed_values(fixed));
        let decoder = SrtDecoder::new(SrtLimits::new());
        let (mut frame, mut out) = (Vec::new(), Vec::new());
        let (mut srt, mut otlp, mut otlp_zstd, mut spans) = (0, 0, 0, 0);
        let rounds = (40_000 / batch).max(8);
        for round in 0..rounds {
            let request = corpus.next_request_bytes(batch);
            let id = encoder.encode(&request, &mut frame).unwrap();
            let decoded = decoder.decode(&frame, 64 << 20, &mut out).unwrap();
            encoder.acknowledge(id);
            assert_eq!(decoded.spans, batch);
            assert_eq!(
                ExportTraceServiceRequest::decode(&out[..]).unwrap(),
                ExportTraceServiceRequest::decode(&request[..]).unwrap()
            );
            // Steady state: the first quarter warms the stream up.
            if round >= rounds / 4 {
                srt += frame.len();
                otlp += request.len();
                otlp_zstd += zstd_len(&request, 3);
                spans += batch;
            }
        }
        let ratio = srt as f64 / otlp_zstd as f64;
        println!(
            "batch {batch}: otlp {:.1} B/span, otlp+zstd3 {:.1} B/span, srt {:.1} B/span, ratio {ratio:.4}",
            otlp as f64 / spans as f64,
            otlp_zstd as f64 / spans as f64,
            srt as f64 / spans as f64,
        );
        // The target: at most half of OTLP + zstd 3 at 512 spans (measured
        // 0.498; 0.37 at 128, see docs/benchmarks.md).
        if batch == 512 {
            assert!(
                ratio <= 0.5,
                "SRT is {ratio:.3} of OTLP + zstd at batch 512"
            );
        }
    }
}

fn varint_to(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn read_varint(p: &mut &[u8]) -> usize {
    let mut len = 0usize;
    let mut shift = 0;
    loop {
        let b = p[0];
        *p = &p[1..];
        len |= ((b & 0x7f) as usize) << shift;
        shift += 7;
        if b < 0x80 {
            return len;
        }
    }
}

/// A frame's payload: its blocks' contents (stored, zstd, or zstd with the
/// text of an earlier frame as dictionary, `texts` by seq), concatenated.
fn payload_of(frame: &[u8], texts: &std::collections::HashMap<u64, Vec<u8>>) -> Vec<u8> {
    let seq = u64::from_le_bytes(frame[16..24].try_into().unwrap());
    let mut payload = Vec::new();
    let mut p = &frame[24..];
    while !p.is_empty() {
        let mode = p[0];
        p = &p[1..];
        let back = if mode == 2 {
            read_varint(&mut p) as u64
        } else {
            0
        };
        let len = read_varint(&mut p);
        let (bytes, rest) = p.split_at(len);
        p = rest;
        if mode == 0 {
            payload.extend_from_slice(bytes);
        } else if mode == 2 {
            let block = zstd::bulk::Decompressor::with_dictionary(&texts[&(seq - back)])
                .unwrap()
                .decompress(bytes, 64 << 20)
                .unwrap();
            payload.extend_from_slice(&block);
        } else {
            let mut block = Vec::new();
            otlp_compression::decompress(
                otlp_compression::Algorithm::Zstd,
                bytes,
                64 << 20,
                &mut block,
            )
            .unwrap();
            payload.extend_from_slice(&block);
        }
    }
    payload
}

/// Where the bytes go: each column's raw and zstd size per span (run with
/// `--nocapture`).
#[test]
fn column_sizes() {
    // In the order of docs/srt-format.md.
    let names = [
        "struct",
        "flags",
        "node",
        "trace",
        "parent",
        "hist",
        "misc",
        "len",
        "int",
        "double",
        "bool",
        "raw",
        "event_time",
        "status",
        "start",
        "duration",
        "time_lo",
        "defs",
        "str",
        "span_id",
        "ids",
    ];
    let batch = 512;
    let mut corpus = Corpus::new(42);
    let generated: Vec<Vec<u8>> = (0..40).map(|_| corpus.next_request_bytes(batch)).collect();
    let recorded: Vec<Vec<u8>> = flask()
        .batches(batch)
        .iter()
        .map(Message::encode_to_vec)
        .collect();
    for (name, requests) in [("generated", generated), ("recorded", recorded)] {
        println!("{name}, batch {batch}:");
        column_sizes_of(&names, &requests);
    }
}

fn column_sizes_of(names: &[&str], requests: &[Vec<u8>]) {
    let mut encoder = SrtEncoder::new(SrtConfig::new());
    let mut frame = Vec::new();
    let mut totals = vec![(0usize, 0usize); names.len()];
    let (mut spans, mut frames) = (0usize, 0usize);
    // Each frame's text (DEFS and STR after their lengths), by seq: the
    // dictionaries of later frames' text blocks.
    let mut texts = std::collections::HashMap::new();
    let warm = requests.len() / 4;
    for (round, request) in requests.iter().enumerate() {
        let id = encoder.encode(request, &mut frame).unwrap();
        encoder.acknowledge(id);
        let payload = payload_of(&frame, &texts);
        let mut p = &payload[..];
        let mut columns = Vec::new();
        for _ in names {
            let len = read_varint(&mut p);
            let (col, rest) = p.split_at(len);
            p = rest;
            columns.push(col);
        }
        let mut text = Vec::new();
        for (name, col) in names.iter().zip(&columns) {
            if matches!(*name, "defs" | "str") {
                let mut prefix = Vec::new();
                varint_to(col.len() as u64, &mut prefix);
                text.extend_from_slice(&prefix);
                text.extend_from_slice(col);
            }
        }
        texts.insert(id.seq(), text);
        if round < warm {
            continue;
        }
        frames += frame.len();
        spans += ExportTraceServiceRequest::decode(&request[..])
            .unwrap()
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum::<usize>();
        for (t, col) in totals.iter_mut().zip(&columns) {
            t.0 += col.len();
            t.1 += if col.is_empty() { 0 } else { zstd_len(col, 3) };
        }
    }
    let spans = spans as f64;
    println!("       frame: {:6.2} B/span", frames as f64 / spans);
    for (name, (raw, z)) in names.iter().zip(totals) {
        println!(
            "{name:>12}: raw {:6.2} B/span, zstd {:6.2} B/span",
            raw as f64 / spans,
            z as f64 / spans
        );
    }
}

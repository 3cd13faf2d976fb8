//! The realistic corpus through a warmed-up stream: every frame decodes to
//! its request, and the sizes against OTLP protobuf + zstd.
#![cfg(feature = "corpus")]

use otlp_core::proto::collector::trace::v1::ExportTraceServiceRequest;
use otlp_srt::corpus::Corpus;
use otlp_srt::{SrtConfig, SrtDecoder, SrtEncoder, SrtLimits};
use prost::Message;

fn zstd_len(bytes: &[u8], level: i32) -> usize {
    zstd_bulk(bytes, level).len()
}

fn zstd_bulk(bytes: &[u8], level: i32) -> Vec<u8> {
    let mut c = otlp_compression::Compressor::new(
        otlp_compression::Compression::zstd().with_level(level).unwrap(),
    )
    .unwrap();
    let mut out = Vec::new();
    c.compress(bytes, &mut out).unwrap();
    out
}

#[test]
fn corpus_round_trips_and_is_at_most_half_of_otlp_zstd() {
    for batch in [128usize, 512, 4096] {
        let mut corpus = Corpus::new(42);
        let mut encoder = SrtEncoder::new(SrtConfig::new());
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
            "batch {batch}: otlp {:.1} B/span, otlp+zstd3 {:.1} B/span, srt {:.1} B/span, ratio {ratio:.3}",
            otlp as f64 / spans as f64,
            otlp_zstd as f64 / spans as f64,
            srt as f64 / spans as f64,
        );
        if batch == 512 {
            assert!(ratio <= 0.5, "SRT is {ratio:.3} of OTLP + zstd at batch 512");
        }
    }
}

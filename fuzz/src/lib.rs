//! What each fuzz target runs, with the checks that make a run fail
//! besides a panic: the decoders must agree with each other.

use otlp_compression::Encoding;
use otlp_core::limits::DecodeLimits;
use otlp_core::{ExportRequest, Format, Signal};

/// Limits small enough that the fuzzer reaches them.
pub fn limits() -> DecodeLimits {
    DecodeLimits::new(10_000, 4 << 20)
}

/// Decodes `data` as a protobuf export request of `signal`. When it is
/// accepted, the pre-pass must have counted at least the items the decoder
/// built (more only when a metric carries several kinds of data, of which
/// the decoder keeps the last).
pub fn protobuf(signal: Signal, data: &[u8]) {
    if let Ok((request, footprint)) =
        ExportRequest::decode_limited(signal, Format::Protobuf, data, limits())
    {
        assert!(
            footprint.items >= request.item_count(),
            "{} items counted, {} decoded",
            footprint.items,
            request.item_count()
        );
    }
}

/// Decodes `data` as an OTLP/JSON export request of `signal`. When it is
/// accepted, writing it back as OTLP/JSON and reading that must give the
/// same request.
pub fn json(signal: Signal, data: &[u8]) {
    let Ok((request, footprint)) =
        ExportRequest::decode_limited(signal, Format::Json, data, limits())
    else {
        return;
    };
    assert!(
        footprint.items >= request.item_count(),
        "{} items counted, {} decoded",
        footprint.items,
        request.item_count()
    );
    let written = request.to_json();
    let again = ExportRequest::decode(signal, Format::Json, written.as_bytes())
        .unwrap_or_else(|e| panic!("our own OTLP/JSON is refused: {e}\n{written}"));
    // Compared as protobuf so that NaN equals NaN.
    assert_eq!(
        again.encode_protobuf(),
        request.encode_protobuf(),
        "{written}"
    );
}

/// Decompresses `data` with a 1 MiB cap, which must hold.
pub fn decompress(encoding: Encoding, data: &[u8]) {
    const CAP: usize = 1 << 20;
    let mut out = Vec::new();
    if otlp_compression::decompress(encoding, data, CAP, &mut out).is_ok() {
        assert!(out.len() <= CAP);
    }
}

/// Runs a gRPC request body through the receiver's unframing,
/// decompression and decoding. The first byte picks the signal (bits 0-1)
/// and the `grpc-encoding` (bits 2-3: identity, gzip, zstd, snappy); the rest is
/// the body. An accepted request must have as many items as the limit
/// allows at most.
pub fn grpc(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let signal = match selector & 3 {
        1 => Signal::Metrics,
        2 => Signal::Logs,
        _ => Signal::Traces,
    };
    let encoding = match (selector >> 2) & 3 {
        1 => Encoding::Gzip,
        2 => Encoding::Zstd,
        3 => Encoding::SnappyFramed,
        _ => Encoding::Identity,
    };
    let body = bytes::Bytes::copy_from_slice(body);
    if let Ok(request) =
        otlp_transport::receiver::fuzzing::grpc_body(signal, encoding, body, 1 << 20, limits())
    {
        assert!(request.item_count() <= limits().max_items);
    }
}

/// Decodes `data` as an SRT frame: first as the only frame of its stream,
/// then again after a frame of the seed stream (so that references to
/// held entries are followed too). Nothing may panic, and what decodes
/// stays within the output cap.
pub fn srt_decode(data: &[u8]) {
    use otlp_srt::{SrtDecoder, SrtLimits};
    const MAX_OUTPUT: usize = 1 << 20;
    let limits = SrtLimits::new()
        .with_max_payload_bytes(1 << 20)
        .with_max_stream_state_bytes(1 << 20)
        .with_max_total_state_bytes(4 << 20);
    let decoder = SrtDecoder::new(limits);
    let mut out = Vec::new();
    for _ in 0..2 {
        if decoder.decode(data, MAX_OUTPUT, &mut out).is_ok() {
            assert!(out.len() <= MAX_OUTPUT, "{} bytes decoded", out.len());
        } else {
            assert!(out.is_empty());
        }
    }
}

//! Frames a receiver must refuse without panicking or allocating beyond
//! its limits, and the resync contract on replaced or dropped state.

use otlp_compression::{Compression, Compressor};
use otlp_core::proto::collector::trace::v1::ExportTraceServiceRequest;
use otlp_core::proto::common::v1::{any_value, AnyValue, KeyValue};
use otlp_core::proto::resource::v1::Resource;
use otlp_core::proto::trace::v1::{ResourceSpans, ScopeSpans, Span};
use otlp_srt::{ResyncReason, SrtConfig, SrtDecodeError, SrtDecoder, SrtEncoder, SrtLimits};
use prost::Message;

const COLUMNS: usize = 21;
// Column numbers (docs/srt-format.md).
const STRUCT: usize = 0;
const FLAGS: usize = 1;
const NODE: usize = 2;
const TRACE: usize = 3;
const PARENT: usize = 4;
const HIST: usize = 5;
const START: usize = 14;
const DURATION: usize = 15;
const TIME_LO: usize = 16;
const STATUS: usize = 13;
const DEFS: usize = 17;
const SPAN_ID: usize = 19;
const IDS: usize = 20;

/// Column number and bytes of the columns a test frame sets.
type Columns = Vec<(usize, Vec<u8>)>;

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A frame of stream 7, generation 1 with the given columns.
fn frame(columns: &[(usize, Vec<u8>)]) -> Vec<u8> {
    frame_seq(1, columns)
}

/// A frame of stream 7, generation 1 with sequence number `seq`.
fn frame_seq(seq: u64, columns: &[(usize, Vec<u8>)]) -> Vec<u8> {
    let mut payload = Vec::new();
    for c in 0..COLUMNS {
        let bytes = columns
            .iter()
            .find(|(i, _)| *i == c)
            .map(|(_, b)| b.clone())
            .unwrap_or_default();
        varint(bytes.len() as u64, &mut payload);
        payload.extend_from_slice(&bytes);
    }
    let mut out = b"SRT\x01".to_vec();
    out.extend_from_slice(&7u64.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    let mut z = Vec::new();
    Compressor::new(Compression::zstd())
        .unwrap()
        .compress(&payload, &mut z)
        .unwrap();
    // One zstd block.
    out.push(1);
    varint(z.len() as u64, &mut out);
    out.extend_from_slice(&z);
    out
}

fn request(spans: usize) -> Vec<u8> {
    let kv = |k: &str, v: &str| KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..KeyValue::default()
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", "svc")],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: None,
                spans: (0..spans)
                    .map(|i| Span {
                        trace_id: vec![(i / 4) as u8 + 1; 16],
                        span_id: vec![i as u8 + 1; 8],
                        name: format!("op{}", i % 3),
                        start_time_unix_nano: 1_700_000_000_000_000_000 + i as u64 * 1000,
                        end_time_unix_nano: 1_700_000_000_000_000_000 + i as u64 * 2000,
                        attributes: vec![kv("http.route", "/a"), kv("user", &format!("u{i}"))],
                        ..Span::default()
                    })
                    .collect(),
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
    .encode_to_vec()
}

fn decode(decoder: &SrtDecoder, frame: &[u8]) -> Result<Vec<u8>, SrtDecodeError> {
    let mut out = Vec::new();
    decoder.decode(frame, 1 << 20, &mut out).map(|_| out)
}

#[test]
fn truncated_and_corrupted_frames_are_refused() {
    let mut encoder = SrtEncoder::new(SrtConfig::new());
    let mut good = Vec::new();
    encoder.encode(&request(20), &mut good).unwrap();
    for len in 0..good.len() {
        let decoder = SrtDecoder::new(SrtLimits::new());
        assert!(
            decode(&decoder, &good[..len]).is_err(),
            "truncated to {len}"
        );
    }
    // Every single-byte change either fails or decodes to something: it
    // never panics. (zstd frames carry no checksum here, so some changes to
    // literal bytes decode.)
    for at in 0..good.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut bad = good.clone();
            bad[at] ^= flip;
            let decoder = SrtDecoder::new(SrtLimits::new());
            let _ = decode(&decoder, &bad);
        }
    }
    let decoder = SrtDecoder::new(SrtLimits::new());
    assert!(matches!(
        decode(&decoder, b"SRT\x02 and more bytes to fill the header"),
        Err(SrtDecodeError::UnsupportedVersion { version: 2 })
    ));
}

#[test]
fn hostile_columns_are_refused() {
    let decoder = SrtDecoder::new(SrtLimits::new());
    let huge = {
        let mut v = Vec::new();
        varint(u64::MAX >> 1, &mut v);
        v
    };
    let cases: Vec<(&str, Columns)> = vec![
        ("huge resource count", vec![(STRUCT, huge.clone())]),
        (
            "huge span count",
            vec![(STRUCT, vec![1, 0, 0, 1, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x08])],
        ),
        ("id 0", vec![(DEFS, vec![0, 0, 1, b'x'])]),
        (
            "descending ids",
            vec![(DEFS, vec![2, 0, 1, b'x', 1, 0, 1, b'y'])],
        ),
        ("parent not smaller", vec![(DEFS, vec![1, 2, 1, 1, b'k'])]),
        ("unknown kind", vec![(DEFS, vec![1, 9, 0])]),
        ("unknown domain", vec![(DEFS, vec![1, 1, 7, 0, 0])]),
        (
            "huge definition length",
            vec![(DEFS, {
                let mut v = vec![1, 0];
                v.extend_from_slice(&huge);
                v
            })],
        ),
        (
            "span without its columns",
            vec![(STRUCT, vec![1, 0, 0, 1, 0, 0, 1]), (FLAGS, vec![0])],
        ),
        ("trailing column bytes", vec![(STATUS, vec![1, 2, 3])]),
        (
            "trace back-reference before any",
            vec![
                (DEFS, vec![1, 1, 0, 0, 1, b'n']),
                (STRUCT, vec![1, 0, 0, 1, 0, 0, 1]),
                (FLAGS, vec![0]),
                (SPAN_ID, vec![1; 8]),
                (NODE, vec![1]),
                (TRACE, vec![9]),
                (PARENT, vec![0]),
            ],
        ),
        (
            "span reference out of the frame",
            vec![
                (DEFS, vec![1, 1, 0, 0, 1, b'n']),
                (STRUCT, vec![1, 0, 0, 1, 0, 0, 1]),
                (FLAGS, vec![0]),
                (SPAN_ID, vec![1; 8]),
                (NODE, vec![1]),
                (TRACE, vec![0]),
                (IDS, vec![2; 16]),
                (PARENT, vec![4 + 40]),
            ],
        ),
        (
            "span leaf naming an event tree",
            vec![
                (DEFS, vec![1, 1, 1, 0, 1, b'n']),
                (STRUCT, vec![1, 0, 0, 1, 0, 0, 1]),
                (FLAGS, vec![0]),
                (SPAN_ID, vec![1; 8]),
                (NODE, vec![1]),
            ],
        ),
    ];
    for (what, columns) in cases {
        let result = decode(&decoder, &frame(&columns));
        assert!(
            matches!(result, Err(SrtDecodeError::Malformed(_))),
            "{what}: {result:?}"
        );
    }
}

#[test]
fn a_path_deeper_than_the_limit_is_refused() {
    // A root and 1100 fixed slots under one another.
    let mut defs = vec![1, 1, 0, 0, 1, b'n'];
    for id in 2..=1101u64 {
        varint(id, &mut defs);
        defs.push(2);
        varint(id - 1, &mut defs);
        defs.extend_from_slice(&[4, 0x0a, 0x01, b'k', 0x12]);
    }
    let decoder = SrtDecoder::new(SrtLimits::new());
    let result = decode(&decoder, &frame(&[(DEFS, defs)]));
    assert!(
        matches!(result, Err(SrtDecodeError::Malformed(_))),
        "{result:?}"
    );
}

#[test]
fn output_is_capped_even_when_a_blob_is_referenced_many_times() {
    // One 64 KiB resource referenced by 10 000 resource spans: 640 MB of
    // output from a payload of a few KiB.
    let mut defs = vec![1, 0];
    varint(65_536, &mut defs);
    defs.extend(std::iter::repeat_n(0x7a, 65_536));
    let mut structure = Vec::new();
    varint(10_000, &mut structure);
    for _ in 0..10_000 {
        structure.extend_from_slice(&[1, 0, 0]);
    }
    let decoder = SrtDecoder::new(SrtLimits::new());
    let mut out = Vec::new();
    let result = decoder.decode(
        &frame(&[(DEFS, defs), (STRUCT, structure)]),
        1 << 20,
        &mut out,
    );
    assert!(
        matches!(result, Err(SrtDecodeError::TooLarge { limit: 1_048_576 })),
        "{result:?}"
    );
    assert!(out.is_empty());
    assert!(out.capacity() < 4 << 20, "{}", out.capacity());
}

#[test]
fn payloads_past_the_limit_are_refused() {
    let decoder = SrtDecoder::new(SrtLimits::new().with_max_payload_bytes(1000));
    let result = decode(
        &decoder,
        &frame(&[(
            DEFS,
            vec![1, 0, 0x90, 0x4e]
                .into_iter()
                .chain(std::iter::repeat_n(0, 10_000))
                .collect(),
        )]),
    );
    assert!(
        matches!(result, Err(SrtDecodeError::TooLarge { limit: 1000 })),
        "{result:?}"
    );
}

#[test]
fn references_to_unknown_entries_are_a_resync() {
    let decoder = SrtDecoder::new(SrtLimits::new());
    // A resource blob id 5 that no frame defined.
    let result = decode(&decoder, &frame(&[(STRUCT, vec![1, 5, 0, 0])]));
    assert!(
        matches!(
            result,
            Err(SrtDecodeError::Resync {
                reason: ResyncReason::UnknownStream
            })
        ),
        "{result:?}"
    );
}

/// Encodes `request` and decodes it, acknowledging on success.
fn send(
    encoder: &mut SrtEncoder,
    decoder: &SrtDecoder,
    request: &[u8],
) -> Result<Vec<u8>, SrtDecodeError> {
    let mut frame = Vec::new();
    let id = encoder.encode(request, &mut frame).unwrap();
    let out = decode(decoder, &frame)?;
    encoder.acknowledge(id);
    Ok(out)
}

#[test]
fn a_frame_of_a_replaced_generation_is_a_resync() {
    let decoder = SrtDecoder::new(SrtLimits::new());
    let mut encoder = SrtEncoder::new(SrtConfig::new());
    send(&mut encoder, &decoder, &request(8)).unwrap();
    // A frame encoded against generation 1, still in flight...
    let mut old = Vec::new();
    let old_id = encoder.encode(&request(9), &mut old).unwrap();
    // ...while the sender moves to generation 2, which the receiver sees.
    encoder.reset();
    send(&mut encoder, &decoder, &request(10)).unwrap();
    let result = decode(&decoder, &old);
    assert!(
        matches!(
            result,
            Err(SrtDecodeError::Resync {
                reason: ResyncReason::StaleGeneration
            })
        ),
        "{result:?}"
    );
    // The sender is already past that generation: reset_for keeps it.
    let generation = encoder.generation();
    encoder.reset_for(old_id);
    assert_eq!(encoder.generation(), generation);
    let out = send(&mut encoder, &decoder, &request(9)).unwrap();
    assert_eq!(out, request(9));
}

#[test]
fn a_frame_against_an_evicted_stream_is_a_resync_then_recovers() {
    let decoder = SrtDecoder::new(SrtLimits::new().with_max_streams(1));
    let mut a = SrtEncoder::new(SrtConfig::new());
    let mut b = SrtEncoder::new(SrtConfig::new());
    send(&mut a, &decoder, &request(8)).unwrap();
    // Stream b pushes stream a out.
    send(&mut b, &decoder, &request(8)).unwrap();
    assert_eq!(decoder.streams(), 1);
    let mut frame = Vec::new();
    let id = a.encode(&request(8), &mut frame).unwrap();
    let result = decode(&decoder, &frame);
    assert!(
        matches!(
            result,
            Err(SrtDecodeError::Resync {
                reason: ResyncReason::UnknownStream
            })
        ),
        "{result:?}"
    );
    a.reset_for(id);
    assert_eq!(send(&mut a, &decoder, &request(8)).unwrap(), request(8));
}

#[test]
fn a_receiver_restart_is_a_resync_then_recovers() {
    let mut encoder = SrtEncoder::new(SrtConfig::new());
    send(
        &mut encoder,
        &SrtDecoder::new(SrtLimits::new()),
        &request(8),
    )
    .unwrap();
    let restarted = SrtDecoder::new(SrtLimits::new());
    let mut frame = Vec::new();
    let id = encoder.encode(&request(8), &mut frame).unwrap();
    assert!(decode(&restarted, &frame).unwrap_err().is_resync());
    encoder.reset_for(id);
    assert_eq!(
        send(&mut encoder, &restarted, &request(8)).unwrap(),
        request(8)
    );
}

#[test]
fn the_state_limit_is_a_resync_and_drops_the_stream() {
    let decoder = SrtDecoder::new(SrtLimits::new().with_max_stream_state_bytes(1_000));
    let mut encoder = SrtEncoder::new(SrtConfig::new());
    let err = send(&mut encoder, &decoder, &request(40)).unwrap_err();
    assert!(
        matches!(
            err,
            SrtDecodeError::Resync {
                reason: ResyncReason::StateLimit
            }
        ),
        "{err:?}"
    );
    assert_eq!(decoder.state_bytes(), 0);
}

#[test]
fn a_redefinition_with_another_value_is_malformed() {
    let decoder = SrtDecoder::new(SrtLimits::new());
    decode(
        &decoder,
        &frame(&[(DEFS, vec![1, 0, 1, b'a']), (STRUCT, vec![1, 1, 0, 0])]),
    )
    .unwrap();
    let result = decode(
        &decoder,
        &frame(&[(DEFS, vec![1, 0, 1, b'b']), (STRUCT, vec![1, 1, 0, 0])]),
    );
    assert!(
        matches!(result, Err(SrtDecodeError::Malformed(_))),
        "{result:?}"
    );
    // The same value again is fine (a frame that was not acknowledged).
    decode(
        &decoder,
        &frame(&[(DEFS, vec![1, 0, 1, b'a']), (STRUCT, vec![1, 1, 0, 0])]),
    )
    .unwrap();
}

#[test]
fn frames_of_one_stream_decode_concurrently_in_any_order() {
    let decoder = SrtDecoder::new(SrtLimits::new());
    let mut encoder = SrtEncoder::new(SrtConfig::new());
    send(&mut encoder, &decoder, &request(16)).unwrap();
    let requests: Vec<Vec<u8>> = (1..=8).map(|i| request(8 + i)).collect();
    let frames: Vec<(otlp_srt::FrameId, Vec<u8>)> = requests
        .iter()
        .map(|r| {
            let mut f = Vec::new();
            (encoder.encode(r, &mut f).unwrap(), f)
        })
        .collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = frames
            .iter()
            .rev()
            .zip(requests.iter().rev())
            .map(|((_, f), r)| {
                let decoder = &decoder;
                s.spawn(move || assert_eq!(&decode(decoder, f).unwrap(), r))
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    });
    for (id, _) in frames {
        encoder.acknowledge(id);
    }
    assert_eq!(
        send(&mut encoder, &decoder, &request(30)).unwrap(),
        request(30)
    );
}

#[test]
fn malformed_input_is_an_error_and_leaves_the_encoder_usable() {
    let mut encoder = SrtEncoder::new(SrtConfig::new());
    let mut out = Vec::new();
    for bad in [
        &b"\x0a\x05\x12"[..],
        b"\x0b",
        b"\x0a\x02\x12\x05",
        b"\x0a\x04\x12\x02\x12\x01",
    ] {
        assert!(
            matches!(
                encoder.encode(bad, &mut out),
                Err(otlp_srt::SrtError::Malformed(_))
            ),
            "{bad:?}"
        );
        assert!(out.is_empty());
    }
    let decoder = SrtDecoder::new(SrtLimits::new());
    assert_eq!(
        send(&mut encoder, &decoder, &request(5)).unwrap(),
        request(5)
    );
}

#[test]
fn unusual_encodings_round_trip_as_prost_reads_them() {
    // A KeyValue with key_strindex (field 3), duplicated span fields, an
    // unknown field, a resource given twice (merged), fields out of order.
    let mut span = Vec::new();
    span.extend_from_slice(b"\x2a\x01x"); // name "x"
    span.extend_from_slice(b"\x4a\x09\x0a\x01k\x12\x02\x10\x01\x18\x05"); // k = true, key_strindex 5
    span.extend_from_slice(b"\x2a\x01y"); // name again: last wins
    span.extend_from_slice(b"\xf8\x07\x01"); // unknown field 127
    span.extend_from_slice(b"\x7a\x02\x18\x02\x7a\x03\x12\x01m"); // status twice: merged
    let mut scope_spans = vec![0x12];
    varint(span.len() as u64, &mut scope_spans);
    scope_spans.extend_from_slice(&span);
    let mut rs = b"\x0a\x02\x10\x01".to_vec(); // resource with dropped count
    rs.extend_from_slice(b"\x0a\x02\x10\x02"); // resource again
    rs.push(0x12);
    varint(scope_spans.len() as u64, &mut rs);
    rs.extend_from_slice(&scope_spans);
    let mut request = vec![0x0a];
    varint(rs.len() as u64, &mut request);
    request.extend_from_slice(&rs);
    let expected = ExportTraceServiceRequest::decode(&request[..]).unwrap();
    let span = &expected.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(
        (span.name.as_str(), span.attributes[0].key_strindex),
        ("y", 5)
    );
    let mut encoder = SrtEncoder::new(SrtConfig::new());
    let decoder = SrtDecoder::new(SrtLimits::new());
    let mut frame = Vec::new();
    encoder.encode(&request, &mut frame).unwrap();
    let out = decode(&decoder, &frame).unwrap();
    assert_eq!(
        ExportTraceServiceRequest::decode(&out[..]).unwrap(),
        expected
    );
    // A wire type prost refuses is refused by the encoder too.
    let mut bad = request.clone();
    let at = bad.windows(2).position(|w| w == b"\x10\x01").unwrap();
    bad[at] = 0x0a; // bool field as a string of length 1
    assert!(
        ExportTraceServiceRequest::decode(&bad[..]).is_ok()
            == encoder.encode(&bad, &mut frame).is_ok()
    );
}

#[test]
fn the_decoder_is_shared_and_the_encoder_moves_between_threads() {
    fn shared<T: Send + Sync>() {}
    fn sent<T: Send>() {}
    shared::<SrtDecoder>();
    sent::<SrtEncoder>();
}

#[test]
fn references_to_earlier_frames_not_kept_are_a_resync() {
    let decoder = SrtDecoder::new(SrtLimits::new());
    // Frame 1: an empty request defining a span tree root, and one span.
    let root = vec![1, 1, 0, 0, 1, b'n'];
    let one_span = vec![1, 0, 0, 1, 0, 0, 1];
    decode(
        &decoder,
        &frame_seq(
            1,
            &[
                (DEFS, root.clone()),
                (STRUCT, one_span.clone()),
                (FLAGS, vec![0]),
                (SPAN_ID, vec![1; 8]),
                (NODE, vec![1]),
                (PARENT, vec![0]),
                (TRACE, vec![0]),
                (IDS, vec![2; 16]),
                (START, vec![0]),
                (DURATION, vec![0]),
                (TIME_LO, vec![0, 0]),
            ],
        ),
    )
    .unwrap();
    // Frame 10: a span whose parent is span `index` of frame `10 - back`.
    let parent_in = |back: u8, index: u8| {
        frame_seq(
            10,
            &[
                (STRUCT, one_span.clone()),
                (FLAGS, vec![0]),
                (SPAN_ID, vec![3; 8]),
                (NODE, vec![1]),
                (PARENT, vec![3]),
                (HIST, vec![back, index]),
                (TRACE, vec![2]),
                (START, vec![0]),
                (DURATION, vec![0]),
                (TIME_LO, vec![0, 0]),
            ],
        )
    };
    // Frame 8 was never decoded.
    let result = decode(&decoder, &parent_in(2, 0));
    assert!(
        matches!(
            result,
            Err(SrtDecodeError::Resync {
                reason: ResyncReason::UnknownFrame { seq: 8 }
            })
        ),
        "{result:?}"
    );
    // Frame 1 is kept: its span 0 decodes as the parent (and relative).
    let mut out = Vec::new();
    decoder.decode(&parent_in(9, 0), 1 << 20, &mut out).unwrap();
    let decoded = ExportTraceServiceRequest::decode(&out[..]).unwrap();
    let span = &decoded.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(span.parent_span_id, vec![1; 8]);
    assert_eq!(span.trace_id, vec![2; 16]);
    // Frame 1 has no span 1 (the index is zigzag-coded: 2 is +1).
    let result = decode(&decoder, &parent_in(9, 2));
    assert!(
        matches!(result, Err(SrtDecodeError::Malformed(_))),
        "{result:?}"
    );
    // Further back than a frame may refer.
    let result = decode(&decoder, &parent_in(17, 0));
    assert!(
        matches!(result, Err(SrtDecodeError::Malformed(_))),
        "{result:?}"
    );
    // A text block compressed against frame 8's text, which is not kept.
    let mut text_block = b"SRT\x01".to_vec();
    text_block.extend_from_slice(&7u64.to_le_bytes());
    text_block.extend_from_slice(&1u32.to_le_bytes());
    text_block.extend_from_slice(&10u64.to_le_bytes());
    text_block.extend_from_slice(&[2, 2, 3, 1, 2, 3]);
    let result = decode(&decoder, &text_block);
    assert!(
        matches!(
            result,
            Err(SrtDecodeError::Resync {
                reason: ResyncReason::UnknownFrame { seq: 8 }
            })
        ),
        "{result:?}"
    );
}

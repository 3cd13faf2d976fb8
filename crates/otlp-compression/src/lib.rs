//! gzip, zstd and brotli for OTLP payloads: compression with reusable
//! state for exporters, and decompression with a hard output cap for
//! receivers.
//!
//! The formats are the standard ones OTLP peers expect: a gzip stream
//! (RFC 1952) for `Content-Encoding: gzip` and `grpc-encoding: gzip`, a zstd
//! frame (RFC 8878) that records its content size for `zstd`, and a brotli
//! stream (RFC 7932) for `br`.
//!
//! Receivers also decode what other OTLP senders may use and this crate's
//! exporters do not offer, named by [`Encoding`]: zlib-wrapped deflate
//! (`deflate`, `zlib`), Snappy blocks (`snappy`) and the Snappy framing
//! format (`x-snappy-framed`, and gRPC `snappy`), and LZ4 frames (`lz4`),
//! the codings the OpenTelemetry Collector's exporters can be set to.
//!
//! ```
//! use otlp_compression::{decompress, Algorithm, Compression, Compressor};
//!
//! # #[cfg(feature = "zstd")]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Exporter: parse the configured compression once, then reuse the
//! // compressor and the output buffer for every request.
//! let compression: Compression = "zstd:3".parse()?;
//! let mut compressor = Compressor::new(compression)?;
//! let request = b"resource spans ".repeat(100);
//! let mut body = Vec::new();
//! compressor.compress(&request, &mut body)?;
//! assert_eq!(compression.algorithm().content_encoding(), Some("zstd"));
//!
//! // Receiver: read the algorithm from the header and decompress with a
//! // cap on the size of the result.
//! let algorithm = Algorithm::from_content_encoding("zstd")?;
//! let mut decoded = Vec::new();
//! decompress(algorithm, &body, 4 << 20, &mut decoded)?;
//! assert_eq!(decoded, request);
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "zstd"))]
//! # fn main() {}
//! ```
//!
//! # Feature flags
//!
//! | feature | default | what it compiles in |
//! |---|---|---|
//! | `gzip` | yes | gzip through `flate2` |
//! | `zstd` | yes | zstd through `zstd` (the C library) |
//! | `brotli` | yes | brotli through `brotli` |
//! | `snappy` | yes | Snappy decoding (block and framed) through `snap` |
//! | `lz4` | yes | LZ4 frame decoding through `lz4_flex` |
//!
//! A codec that is left out still has its name: [`Algorithm`] and
//! [`Compression`] parse `zstd` whatever the features, and
//! [`Compressor::new`] and [`decompress`] then fail with
//! [`CompressionError::Unsupported`] / [`DecompressError::Unsupported`]
//! naming the feature to enable, rather than with "unknown algorithm" or a
//! panic. [`Algorithm::is_supported`] tells which codecs a build has.
//!
//! # Design
//!
//! **Every decompression has a limit.** A few KiB of gzip or zstd can
//! expand to gigabytes, so a receiver that decompresses whatever it is sent
//! can be made to run out of memory by a single request. There is no
//! uncapped decompression function here: [`decompress`] and
//! [`Decompressor::decompress`] take the limit as an argument, give the
//! decoder room for at most one byte past it, and fail with
//! [`DecompressError::TooLarge`] the moment that byte is written. The
//! decoders' own buffers are bounded too: zstd frames whose window would be
//! larger than the limit needs (with RFC 9659's 8 MiB as the floor) are
//! refused before it is allocated, a zstd frame header declaring more than
//! the limit fails before anything is decoded, and brotli is held to the
//! RFC 7932 window of at most 16 MiB. A Snappy block over the limit is
//! refused from its declared length; framed Snappy and LZ4 are decoded a
//! bounded chunk at a time into the capped output.
//!
//! **State is kept across payloads.** An exporter compresses one request
//! after another with the same settings, and the libraries' contexts hold
//! hash tables and windows of tens to hundreds of KiB that would otherwise
//! be allocated and initialised for each request. [`Compressor`] keeps a flate2
//! deflate state and a zstd context and resets them between payloads;
//! [`Decompressor`] does the same for inflate and zstd. gzip's header and
//! trailer are written and checked by this crate, around raw deflate, so that
//! the deflate state can be reused (flate2's gzip wrappers build a new one
//! per stream); several gzip members back to back are decoded as one stream,
//! as RFC 1952 allows. brotli's encoder and decoder cannot be reset, so
//! they are built per payload.
//!
//! **Levels are validated, not clamped.** [`Compression`] only holds levels
//! its algorithm accepts; see it for the defaults and why they were chosen.
#![forbid(unsafe_code)]

mod algorithm;
mod compress;
mod decompress;
mod encoding;
#[cfg(feature = "gzip")]
mod gzip;

pub use algorithm::{Algorithm, Compression, ParseError, SRT_CONTENT_ENCODING};
pub use compress::{CompressionError, Compressor};
pub use decompress::{decompress, DecompressError, Decompressor};
pub use encoding::Encoding;

/// RFC 9659: zstd for HTTP keeps to windows of at most 8 MiB (2^23 bytes);
/// encoders must not use more, decoders must accept that much.
#[cfg(feature = "zstd")]
const ZSTD_HTTP_WINDOW_LOG: u32 = 23;

#[cfg(all(test, feature = "gzip", feature = "zstd", feature = "brotli"))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn compression() -> impl Strategy<Value = Compression> {
        prop_oneof![
            Just(Compression::none()),
            (0..=9).prop_map(|l| Compression::gzip().with_level(l).unwrap()),
            (1..=22).prop_map(|l| Compression::zstd().with_level(l).unwrap()),
            (0..=11).prop_map(|l| Compression::brotli().with_level(l).unwrap()),
        ]
    }

    fn payload() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..4096),
            // Few distinct bytes, so the codecs find matches as in telemetry.
            prop::collection::vec(0u8..4, 0..32 * 1024),
        ]
    }

    fn round_trip(compression: Compression, input: &[u8]) -> Vec<u8> {
        let mut wire = Vec::new();
        Compressor::new(compression)
            .unwrap()
            .compress(input, &mut wire)
            .unwrap();
        let mut out = Vec::new();
        decompress(compression.algorithm(), &wire, input.len(), &mut out).unwrap();
        out
    }

    proptest! {
        #[test]
        fn round_trips_random_bytes(compression in compression(), input in payload()) {
            prop_assert_eq!(round_trip(compression, &input), input);
        }
    }

    #[test]
    fn round_trips_every_level() {
        let input: Vec<u8> = (0..3000u32)
            .flat_map(|i| {
                format!("{{\"traceId\":\"{:032x}\",\"name\":\"GET /\"}}", i % 7).into_bytes()
            })
            .collect();
        for algorithm in Algorithm::ALL {
            let levels = algorithm
                .levels()
                .map_or(vec![None], |l| l.map(Some).collect());
            for level in levels {
                let compression = match level {
                    Some(level) => Compression::from(algorithm).with_level(level).unwrap(),
                    None => Compression::from(algorithm),
                };
                assert_eq!(round_trip(compression, &input), input, "{compression}");
                assert_eq!(round_trip(compression, b""), b"", "{compression}");
            }
        }
    }

    #[test]
    fn one_compressor_and_decompressor_serve_many_payloads() {
        let mut decompressor = Decompressor::new();
        let (mut wire, mut out) = (Vec::new(), Vec::new());
        for round in 0..3 {
            for algorithm in Algorithm::ALL {
                let mut compressor = Compressor::new(algorithm.into()).unwrap();
                for size in [0, 1, 100, 70_000] {
                    let input: Vec<u8> = (0..size).map(|i| (i * round % 251) as u8).collect();
                    compressor.compress(&input, &mut wire).unwrap();
                    decompressor
                        .decompress(algorithm, &wire, size, &mut out)
                        .unwrap();
                    assert_eq!(out, input, "{algorithm} {size}");
                }
            }
        }
    }
}

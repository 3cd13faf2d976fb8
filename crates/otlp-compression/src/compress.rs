//! Compression with state kept across calls.

use std::error::Error;
use std::fmt;

#[cfg(feature = "brotli")]
use brotli::enc::BrotliEncoderParams;
#[cfg(feature = "gzip")]
use flate2::{Compress, FlushCompress, Status};

#[cfg(feature = "gzip")]
use crate::gzip;
use crate::{Algorithm, Compression};

/// brotli's window for compression: its own default, 4 MiB, which covers
/// the whole of most export requests.
#[cfg(feature = "brotli")]
const BROTLI_WINDOW_LOG: i32 = 22;

/// Why a [`Compressor`] could not be built or could not compress.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CompressionError {
    /// The level is outside [`Algorithm::levels`].
    #[error("{algorithm} does not accept level {level}: {}", level_help(*.algorithm))]
    InvalidLevel {
        /// The algorithm the level was given for.
        algorithm: Algorithm,
        /// The level as given.
        level: i32,
    },
    /// The algorithm's codec was left out of this build: the crate feature
    /// of the same name (`gzip`, `zstd` or `brotli`) is not enabled. See
    /// [`Algorithm::is_supported`].
    #[error("{algorithm} support was not compiled in; enable the `{algorithm}` feature of otlp-compression")]
    Unsupported {
        /// The algorithm that was asked for.
        algorithm: Algorithm,
    },
    /// The algorithm keeps state per connection ([`Algorithm::Srt`]), so
    /// it is applied by the transport that owns the connection, not by a
    /// `Compressor`.
    #[error("{algorithm} keeps state per connection and is applied by the transport, not by a Compressor")]
    Stateful {
        /// The algorithm that was asked for.
        algorithm: Algorithm,
    },
    /// The compression library reported a failure, which no input causes:
    /// a context could not be set up, or the library has a bug.
    #[error("{algorithm} compression failed: {source}")]
    Failed {
        /// The algorithm that failed.
        algorithm: Algorithm,
        /// What the library reported.
        #[source]
        source: Box<dyn Error + Send + Sync>,
    },
}

fn level_help(algorithm: Algorithm) -> String {
    match algorithm.levels() {
        Some(levels) => format!("expected {}..={}", levels.start(), levels.end()),
        None => "it takes no level".to_owned(),
    }
}

/// Compresses payloads one after another with one algorithm and level.
///
/// Keep one per thread or per export task: the deflate state, the zstd
/// context and the tables inside them are allocated once and reset between
/// payloads. brotli's encoder cannot be reset, so it alone is rebuilt for
/// every payload.
pub struct Compressor {
    compression: Compression,
    codec: Codec,
}

enum Codec {
    None,
    #[cfg(feature = "gzip")]
    Gzip {
        deflate: Compress,
        header: [u8; gzip::HEADER_LEN],
    },
    #[cfg(feature = "zstd")]
    Zstd(zstd::bulk::Compressor<'static>),
    #[cfg(feature = "brotli")]
    Brotli(BrotliEncoderParams),
}

impl Compressor {
    /// A compressor for `compression`.
    ///
    /// Fails with [`CompressionError::Unsupported`] if the algorithm's codec
    /// was left out of this build, and otherwise only if the zstd context
    /// cannot be created.
    pub fn new(compression: Compression) -> Result<Self, CompressionError> {
        let algorithm = compression.algorithm();
        #[cfg_attr(
            not(any(feature = "gzip", feature = "zstd", feature = "brotli")),
            allow(unused_variables)
        )]
        let level = compression.level().unwrap_or_default();
        let codec = match algorithm {
            Algorithm::None => Codec::None,
            Algorithm::Srt => return Err(CompressionError::Stateful { algorithm }),
            #[cfg(feature = "gzip")]
            Algorithm::Gzip => {
                // Levels are validated, so 0..=9 here.
                let level = level.unsigned_abs();
                Codec::Gzip {
                    deflate: Compress::new(flate2::Compression::new(level), false),
                    header: gzip::header(level),
                }
            }
            #[cfg(feature = "zstd")]
            Algorithm::Zstd => {
                let failed = |e: std::io::Error| CompressionError::Failed {
                    algorithm,
                    source: e.into(),
                };
                let mut context = zstd::bulk::Compressor::new(level).map_err(failed)?;
                // Levels up to 19 stay within the HTTP window by themselves.
                if level > 19 {
                    context
                        .set_parameter(zstd::zstd_safe::CParameter::WindowLog(
                            crate::ZSTD_HTTP_WINDOW_LOG,
                        ))
                        .map_err(failed)?;
                }
                Codec::Zstd(context)
            }
            #[cfg(feature = "brotli")]
            Algorithm::Brotli => Codec::Brotli(BrotliEncoderParams {
                quality: level,
                lgwin: BROTLI_WINDOW_LOG,
                ..BrotliEncoderParams::default()
            }),
            #[cfg(not(all(feature = "gzip", feature = "zstd", feature = "brotli")))]
            algorithm => return Err(CompressionError::Unsupported { algorithm }),
        };
        Ok(Compressor { compression, codec })
    }

    /// The algorithm and level this compressor uses.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// Replaces the contents of `out` with `input` compressed: one gzip
    /// member (RFC 1952), one zstd frame that records the content size, or
    /// one brotli stream; for [`Algorithm::None`], a copy of `input`.
    ///
    /// `out`'s capacity is reused, so passing the same buffer each time
    /// avoids growing a new one per payload.
    pub fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), CompressionError> {
        let algorithm = self.compression.algorithm();
        #[cfg_attr(
            not(any(feature = "gzip", feature = "zstd", feature = "brotli")),
            allow(unused_variables)
        )]
        let failed =
            |source: Box<dyn Error + Send + Sync>| CompressionError::Failed { algorithm, source };
        out.clear();
        match &mut self.codec {
            Codec::None => out.extend_from_slice(input),
            #[cfg(feature = "gzip")]
            Codec::Gzip { deflate, header } => {
                deflate.reset();
                out.extend_from_slice(header);
                loop {
                    // compress_vec only writes into spare capacity.
                    out.reserve(input.len() / 8 + 64);
                    let read = deflate.total_in() as usize;
                    let status = deflate
                        .compress_vec(&input[read..], out, FlushCompress::Finish)
                        .map_err(|e| failed(e.into()))?;
                    if status == Status::StreamEnd {
                        break;
                    }
                }
                out.extend_from_slice(&gzip::trailer(input));
            }
            #[cfg(feature = "zstd")]
            Codec::Zstd(context) => {
                out.reserve(zstd::zstd_safe::compress_bound(input.len()));
                context
                    .compress_to_buffer(input, out)
                    .map_err(|e| failed(e.into()))?;
            }
            #[cfg(feature = "brotli")]
            Codec::Brotli(params) => {
                // Lets brotli size its hash tables to the payload.
                params.size_hint = input.len();
                brotli::BrotliCompress(&mut &input[..], out, params)
                    .map_err(|e| failed(e.into()))?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Compressor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Compressor")
            .field("compression", &self.compression)
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, feature = "gzip", feature = "zstd", feature = "brotli"))]
mod tests {
    use super::*;
    use std::io::Read;

    fn sample() -> Vec<u8> {
        (0..2000u32)
            .flat_map(|i| format!("span {i} service=checkout status=ok;").into_bytes())
            .collect()
    }

    fn compress(compression: Compression, input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        Compressor::new(compression)
            .unwrap()
            .compress(input, &mut out)
            .unwrap();
        out
    }

    #[test]
    fn gzip_output_is_standard_gzip() {
        let input = sample();
        for level in 0..=9 {
            let wire = compress(Compression::gzip().with_level(level).unwrap(), &input);
            let mut decoded = Vec::new();
            flate2::read::GzDecoder::new(&wire[..])
                .read_to_end(&mut decoded)
                .unwrap();
            assert_eq!(decoded, input, "level {level}");
        }
        assert!(compress(Compression::gzip(), &input).len() < input.len() / 4);
    }

    #[test]
    fn zstd_output_is_a_standard_frame_with_content_size() {
        let input = sample();
        let wire = compress(Compression::zstd(), &input);
        assert_eq!(zstd::decode_all(&wire[..]).unwrap(), input);
        assert_eq!(
            zstd::zstd_safe::get_frame_content_size(&wire).ok(),
            Some(Some(input.len() as u64))
        );
        let wire = compress(Compression::zstd().with_level(22).unwrap(), &input);
        assert_eq!(zstd::decode_all(&wire[..]).unwrap(), input);
    }

    #[test]
    fn zstd_keeps_to_the_http_window_at_ultra_levels() {
        // Over 8 MiB, so level 22 left alone would pick a 16 MiB window.
        let input = vec![7; 9 << 20];
        let wire = compress(Compression::zstd().with_level(22).unwrap(), &input);
        let mut decoder = zstd::stream::read::Decoder::new(&wire[..]).unwrap();
        decoder.window_log_max(crate::ZSTD_HTTP_WINDOW_LOG).unwrap();
        let mut decoded = Vec::new();
        decoder.read_to_end(&mut decoded).unwrap();
        assert!(decoded == input);
    }

    #[test]
    fn brotli_output_is_a_standard_stream() {
        let input = sample();
        let wire = compress(Compression::brotli(), &input);
        let mut decoded = Vec::new();
        brotli::Decompressor::new(&wire[..], 4096)
            .read_to_end(&mut decoded)
            .unwrap();
        assert_eq!(decoded, input);
    }

    #[test]
    fn none_copies() {
        assert_eq!(compress(Compression::none(), b"as is"), b"as is");
    }

    #[test]
    fn compressor_is_reusable_and_clears_out() {
        let input = sample();
        for compression in Algorithm::ALL.map(Compression::from) {
            let mut compressor = Compressor::new(compression).unwrap();
            let mut out = b"stale".to_vec();
            compressor.compress(&input, &mut out).unwrap();
            let first = out.clone();
            compressor.compress(b"other", &mut out).unwrap();
            compressor.compress(&input, &mut out).unwrap();
            assert_eq!(out, first, "{compression}");
            assert_eq!(compressor.compression(), compression);
        }
    }

    #[test]
    fn compressor_is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<Compressor>();
    }
}

/// What a build without some codecs does when asked for them.
#[cfg(all(test, not(all(feature = "gzip", feature = "zstd", feature = "brotli"))))]
mod without_codecs {
    use super::*;

    #[test]
    fn left_out_codecs_are_a_typed_error() {
        for algorithm in Algorithm::ALL {
            let result = Compressor::new(algorithm.into());
            if algorithm.is_supported() {
                assert!(result.is_ok(), "{algorithm}");
                continue;
            }
            let err = result.unwrap_err();
            assert!(
                matches!(err, CompressionError::Unsupported { algorithm: a } if a == algorithm),
                "{err}"
            );
            assert_eq!(
                err.to_string(),
                format!(
                    "{algorithm} support was not compiled in; \
                     enable the `{algorithm}` feature of otlp-compression"
                )
            );
        }
        let mut out = Vec::new();
        let mut none = Compressor::new(Compression::none()).unwrap();
        none.compress(b"as is", &mut out).unwrap();
        assert_eq!(out, b"as is");
    }
}

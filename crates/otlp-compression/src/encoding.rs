//! The content codings a receiver decodes: every [`Algorithm`] this crate
//! compresses with, plus the ones other OTLP senders use that it only
//! decodes.
//!
//! The OpenTelemetry Collector's `otlphttp` exporter can send `zlib`,
//! `deflate`, `snappy`, `x-snappy-framed` and `lz4` bodies, and its `otlp`
//! (gRPC) exporter `snappy` messages. A receiver has to take what such peers
//! send; an exporter of ours has no reason to offer these, so they are kept
//! out of [`Algorithm`] and [`Compression`](crate::Compression).

use std::fmt;

use crate::{Algorithm, ParseError};

/// How a request body (or gRPC message) is encoded on the wire, as far as
/// [`decompress`](crate::decompress) can undo it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Encoding {
    /// Not compressed (`identity`, or no header).
    #[default]
    Identity,
    /// gzip (RFC 1952).
    Gzip,
    /// Zstandard (RFC 8878).
    Zstd,
    /// Brotli (RFC 7932).
    Brotli,
    /// Deflate in the zlib wrapper (RFC 1950), which is what HTTP's
    /// `deflate` token means (RFC 9110, 8.4.1.2) and what the Collector
    /// sends for both `deflate` and `zlib`.
    Deflate,
    /// A Snappy block, unframed: HTTP `snappy`. As the Collector's own
    /// receiver does, a body that starts with the Snappy framing format's
    /// stream identifier is read as [`SnappyFramed`](Encoding::SnappyFramed),
    /// since Collectors before v0.118 sent framed data under this name.
    Snappy,
    /// The Snappy framing format: HTTP `x-snappy-framed`, and gRPC `snappy`
    /// as the Collector registers it with grpc-go.
    SnappyFramed,
    /// The LZ4 frame format: HTTP `lz4`.
    Lz4,
    /// An SRT frame (`x-otlp-srt`, [`Algorithm::Srt`]): decoded by
    /// `otlp-srt` against the sending stream's state, which the receiver
    /// holds; [`decompress`](crate::decompress) refuses it with
    /// [`DecompressError::Stateful`](crate::DecompressError::Stateful).
    Srt,
}

impl Encoding {
    /// Every encoding [`decompress`](crate::decompress) decodes, in a fixed
    /// order ([`Encoding::Srt`] is not among them).
    pub const ALL: [Encoding; 8] = [
        Encoding::Identity,
        Encoding::Gzip,
        Encoding::Zstd,
        Encoding::Brotli,
        Encoding::Deflate,
        Encoding::Snappy,
        Encoding::SnappyFramed,
        Encoding::Lz4,
    ];

    /// A short name: [`Algorithm::as_str`] for the algorithms this crate
    /// also compresses with (`none`, `gzip`, `zstd`, `brotli`), otherwise
    /// the HTTP token (`deflate`, `snappy`, `x-snappy-framed`, `lz4`).
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Identity => "none",
            Encoding::Gzip => "gzip",
            Encoding::Zstd => "zstd",
            Encoding::Brotli => "brotli",
            Encoding::Deflate => "deflate",
            Encoding::Snappy => "snappy",
            Encoding::SnappyFramed => "x-snappy-framed",
            Encoding::Lz4 => "lz4",
            Encoding::Srt => "srt",
        }
    }

    /// The encoding an HTTP `Content-Encoding` value names, in any case:
    /// `identity`, `gzip`, `x-gzip`, `zstd`, `br`, `deflate`, `zlib`,
    /// `snappy`, `x-snappy-framed` or `lz4`. A list of several codings is
    /// not supported and is an error.
    pub fn from_content_encoding(value: &str) -> Result<Encoding, ParseError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "identity" => Ok(Encoding::Identity),
            "gzip" | "x-gzip" => Ok(Encoding::Gzip),
            "zstd" => Ok(Encoding::Zstd),
            "br" => Ok(Encoding::Brotli),
            "deflate" | "zlib" => Ok(Encoding::Deflate),
            "snappy" => Ok(Encoding::Snappy),
            "x-snappy-framed" => Ok(Encoding::SnappyFramed),
            "lz4" => Ok(Encoding::Lz4),
            crate::SRT_CONTENT_ENCODING => Ok(Encoding::Srt),
            _ => Err(ParseError::Unknown {
                what: "content encoding",
                value: value.to_owned(),
                expected:
                    "identity, gzip, x-gzip, zstd, br, deflate, zlib, snappy, x-snappy-framed, lz4, x-otlp-srt",
            }),
        }
    }

    /// The encoding a gRPC `grpc-encoding` value names (case-sensitive, as
    /// gRPC compares it): `identity`, `gzip`, `zstd`, or `snappy`, which
    /// the Collector's gRPC codec writes in the Snappy framing format.
    pub fn from_grpc_encoding(value: &str) -> Result<Encoding, ParseError> {
        match value {
            "identity" => Ok(Encoding::Identity),
            "gzip" => Ok(Encoding::Gzip),
            "zstd" => Ok(Encoding::Zstd),
            "snappy" => Ok(Encoding::SnappyFramed),
            _ => Err(ParseError::Unknown {
                what: "grpc-encoding",
                value: value.to_owned(),
                expected: "identity, gzip, zstd, snappy",
            }),
        }
    }

    /// The gRPC `grpc-encoding` token for the encoding, if gRPC has one.
    pub fn grpc_encoding(self) -> Option<&'static str> {
        match self {
            Encoding::Identity => Some("identity"),
            Encoding::Gzip => Some("gzip"),
            Encoding::Zstd => Some("zstd"),
            Encoding::SnappyFramed => Some("snappy"),
            _ => None,
        }
    }

    /// The crate feature that compiles the decoder in, or `None` for
    /// [`Encoding::Identity`]. Deflate shares `gzip`'s inflate (`flate2`).
    pub const fn feature(self) -> Option<&'static str> {
        match self {
            Encoding::Identity => None,
            Encoding::Gzip | Encoding::Deflate => Some("gzip"),
            Encoding::Zstd => Some("zstd"),
            Encoding::Brotli => Some("brotli"),
            Encoding::Snappy | Encoding::SnappyFramed => Some("snappy"),
            Encoding::Lz4 => Some("lz4"),
            Encoding::Srt => Some("zstd"),
        }
    }

    /// Whether this build can decode the encoding (see
    /// [`feature`](Self::feature)).
    pub const fn is_supported(self) -> bool {
        match self {
            Encoding::Identity => true,
            Encoding::Gzip | Encoding::Deflate => cfg!(feature = "gzip"),
            Encoding::Zstd => cfg!(feature = "zstd"),
            Encoding::Brotli => cfg!(feature = "brotli"),
            Encoding::Snappy | Encoding::SnappyFramed => cfg!(feature = "snappy"),
            Encoding::Lz4 => cfg!(feature = "lz4"),
            // The zstd stage is this crate's part; the state is otlp-srt's.
            Encoding::Srt => cfg!(feature = "zstd"),
        }
    }

    /// The [`Algorithm`] of the same format, for the encodings this crate
    /// also compresses with.
    pub fn algorithm(self) -> Option<Algorithm> {
        match self {
            Encoding::Identity => Some(Algorithm::None),
            Encoding::Gzip => Some(Algorithm::Gzip),
            Encoding::Zstd => Some(Algorithm::Zstd),
            Encoding::Brotli => Some(Algorithm::Brotli),
            Encoding::Srt => Some(Algorithm::Srt),
            _ => None,
        }
    }
}

impl From<Algorithm> for Encoding {
    fn from(algorithm: Algorithm) -> Self {
        match algorithm {
            Algorithm::None => Encoding::Identity,
            Algorithm::Gzip => Encoding::Gzip,
            Algorithm::Zstd => Encoding::Zstd,
            Algorithm::Brotli => Encoding::Brotli,
            Algorithm::Srt => Encoding::Srt,
        }
    }
}

impl PartialEq<Algorithm> for Encoding {
    fn eq(&self, other: &Algorithm) -> bool {
        *self == Encoding::from(*other)
    }
}

impl PartialEq<Encoding> for Algorithm {
    fn eq(&self, other: &Encoding) -> bool {
        Encoding::from(*self) == *other
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithms_keep_their_names() {
        for algorithm in Algorithm::ALL {
            let encoding = Encoding::from(algorithm);
            assert_eq!(encoding.as_str(), algorithm.as_str());
            assert_eq!(encoding.algorithm(), Some(algorithm));
            assert_eq!(encoding, algorithm);
            assert_eq!(encoding.is_supported(), algorithm.is_supported());
            let token = algorithm.content_encoding().unwrap_or("identity");
            assert_eq!(Encoding::from_content_encoding(token).unwrap(), encoding);
        }
    }

    #[test]
    fn collector_tokens_parse() {
        for (token, encoding) in [
            ("deflate", Encoding::Deflate),
            ("ZLIB", Encoding::Deflate),
            ("snappy", Encoding::Snappy),
            ("x-snappy-framed", Encoding::SnappyFramed),
            (" lz4 ", Encoding::Lz4),
        ] {
            assert_eq!(Encoding::from_content_encoding(token).unwrap(), encoding);
            assert_eq!(encoding.algorithm(), None);
        }
        let err = Encoding::from_content_encoding("gzip, br").unwrap_err();
        assert!(err.to_string().contains("x-snappy-framed"), "{err}");
    }

    #[test]
    fn grpc_snappy_is_framed() {
        assert_eq!(
            Encoding::from_grpc_encoding("snappy").unwrap(),
            Encoding::SnappyFramed
        );
        for encoding in Encoding::ALL {
            if let Some(token) = encoding.grpc_encoding() {
                assert_eq!(Encoding::from_grpc_encoding(token).unwrap(), encoding);
            }
        }
        assert!(Encoding::from_grpc_encoding("GZIP").is_err());
        assert!(Encoding::from_grpc_encoding("lz4").is_err());
    }
}

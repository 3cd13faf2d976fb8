//! Algorithm names and levels: what the configuration and the HTTP/gRPC
//! headers say, validated once so the codecs never see a bad level.

use std::fmt;
use std::num::ParseIntError;
use std::ops::RangeInclusive;
use std::str::FromStr;

use crate::CompressionError;

/// The `Content-Encoding` of an SRT frame ([`Algorithm::Srt`]).
pub const SRT_CONTENT_ENCODING: &str = "x-otlp-srt";

/// A compression algorithm OTLP exporters and receivers speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Algorithm {
    /// No compression (`identity`), the OpenTelemetry default.
    #[default]
    None,
    /// gzip (RFC 1952), the one algorithm every OTLP receiver must accept.
    Gzip,
    /// Zstandard (RFC 8878).
    Zstd,
    /// Brotli (RFC 7932).
    Brotli,
    /// The trace-aware, stateful SRT codec of `otlp-srt`, followed by zstd
    /// at the level given; traces only, between peers that both speak it
    /// (`Content-Encoding: x-otlp-srt`). Its state belongs to one
    /// connection, so a [`Compressor`](crate::Compressor) cannot apply it:
    /// the transport does, and sends OTLP + zstd to a peer that has not
    /// announced it (docs/srt-format.md).
    Srt,
}

impl Algorithm {
    /// The stateless algorithms, the ones a [`Compressor`](crate::Compressor)
    /// applies, in a fixed order ([`Algorithm::Srt`] is not among them).
    pub const ALL: [Algorithm; 4] = [
        Algorithm::None,
        Algorithm::Gzip,
        Algorithm::Zstd,
        Algorithm::Brotli,
    ];

    /// The name `OTEL_EXPORTER_OTLP_COMPRESSION` uses: `none`, `gzip`,
    /// `zstd` or `brotli`.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::None => "none",
            Algorithm::Gzip => "gzip",
            Algorithm::Zstd => "zstd",
            Algorithm::Brotli => "brotli",
            Algorithm::Srt => "srt",
        }
    }

    /// The token for the HTTP `Content-Encoding` and gRPC `grpc-encoding`
    /// headers (`gzip`, `zstd`, `br`), or `None` when the body is sent as is
    /// and the header should be left out.
    pub fn content_encoding(self) -> Option<&'static str> {
        match self {
            Algorithm::None => None,
            Algorithm::Gzip => Some("gzip"),
            Algorithm::Zstd => Some("zstd"),
            Algorithm::Brotli => Some("br"),
            Algorithm::Srt => Some(SRT_CONTENT_ENCODING),
        }
    }

    /// The algorithm an HTTP `Content-Encoding` or gRPC `grpc-encoding`
    /// value names: `identity`, `gzip`, `x-gzip`, `zstd` or `br`, in any
    /// case. A list of several codings is not supported and is an error.
    pub fn from_content_encoding(value: &str) -> Result<Algorithm, ParseError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "identity" => Ok(Algorithm::None),
            "gzip" | "x-gzip" => Ok(Algorithm::Gzip),
            "zstd" => Ok(Algorithm::Zstd),
            "br" => Ok(Algorithm::Brotli),
            SRT_CONTENT_ENCODING => Ok(Algorithm::Srt),
            _ => Err(ParseError::Unknown {
                what: "content encoding",
                value: value.to_owned(),
                expected: "identity, gzip, x-gzip, zstd, br, x-otlp-srt",
            }),
        }
    }

    /// The levels the algorithm accepts, or `None` for [`Algorithm::None`],
    /// which takes no level.
    ///
    /// zstd's negative "fast" levels are not offered: the range is the one
    /// zstd's command line takes as `-1` to `-22`.
    pub fn levels(self) -> Option<RangeInclusive<i32>> {
        match self {
            Algorithm::None => None,
            Algorithm::Gzip => Some(0..=9),
            Algorithm::Zstd => Some(1..=22),
            Algorithm::Brotli => Some(0..=11),
            // The level of the zstd stage.
            Algorithm::Srt => Some(1..=22),
        }
    }

    /// Whether this build can compress and decompress with the algorithm:
    /// [`Algorithm::None`] always, the others when the crate feature of the
    /// same name (`gzip`, `zstd`, `brotli`, all on by default) is enabled.
    ///
    /// Names of every algorithm parse whatever the features, so that a
    /// configuration naming a codec that was left out fails with
    /// [`CompressionError::Unsupported`] (or
    /// [`DecompressError::Unsupported`](crate::DecompressError::Unsupported))
    /// saying which feature to enable, not with "unknown algorithm".
    pub const fn is_supported(self) -> bool {
        match self {
            Algorithm::None => true,
            Algorithm::Gzip => cfg!(feature = "gzip"),
            Algorithm::Zstd | Algorithm::Srt => cfg!(feature = "zstd"),
            Algorithm::Brotli => cfg!(feature = "brotli"),
        }
    }

    /// The level used when none is given; see [`Compression`] for why.
    const fn default_level(self) -> i32 {
        match self {
            Algorithm::None => 0,
            Algorithm::Gzip => 6,
            Algorithm::Zstd | Algorithm::Srt => 3,
            Algorithm::Brotli => 5,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = ParseError;

    /// Parses an OpenTelemetry compression name, in any case: `none`,
    /// `gzip`, `zstd`, `brotli` or `br`, and this project's extension value
    /// `srt`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(Algorithm::None),
            "gzip" => Ok(Algorithm::Gzip),
            "zstd" => Ok(Algorithm::Zstd),
            "brotli" | "br" => Ok(Algorithm::Brotli),
            "srt" => Ok(Algorithm::Srt),
            _ => Err(ParseError::Unknown {
                what: "compression algorithm",
                value: s.to_owned(),
                expected: "none, gzip, zstd, brotli, br, srt",
            }),
        }
    }
}

/// An algorithm together with a level it accepts.
///
/// A `Compression` always holds a valid level: the constructors use the
/// default and [`with_level`](Compression::with_level) refuses levels out of
/// range instead of clamping them, so a typo in a configuration is reported
/// rather than silently changing the cost of every export.
///
/// The defaults are chosen for compressing each export request once, on the
/// hot path of a process that has other work to do:
///
/// - gzip 6: zlib's own default, the level most gzip encoders use.
/// - zstd 3: zstd's own default (`ZSTD_CLEVEL_DEFAULT`).
/// - brotli 5: brotli's own default, 11, is meant for static assets
///   compressed once and served many times; servers compressing responses
///   on the fly commonly run at 4 to 6, and 5 is the middle of that range.
///
/// The string form is `algorithm[:level]`, e.g. `gzip`, `zstd:5`,
/// `brotli:4`, and [`Display`](fmt::Display) writes it back the same way.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Compression {
    algorithm: Algorithm,
    level: i32,
}

impl Compression {
    /// No compression.
    pub const fn none() -> Self {
        Compression::with_default_level(Algorithm::None)
    }

    /// gzip at level 6.
    pub const fn gzip() -> Self {
        Compression::with_default_level(Algorithm::Gzip)
    }

    /// zstd at level 3.
    pub const fn zstd() -> Self {
        Compression::with_default_level(Algorithm::Zstd)
    }

    /// brotli at quality 5.
    pub const fn brotli() -> Self {
        Compression::with_default_level(Algorithm::Brotli)
    }

    /// SRT (traces only; see [`Algorithm::Srt`]) with its zstd stage at
    /// level 3.
    pub const fn srt() -> Self {
        Self::with_default_level(Algorithm::Srt)
    }

    const fn with_default_level(algorithm: Algorithm) -> Self {
        Compression {
            algorithm,
            level: algorithm.default_level(),
        }
    }

    /// The same algorithm at `level`, which must be in
    /// [`Algorithm::levels`]; [`Algorithm::None`] accepts no level at all.
    pub fn with_level(self, level: i32) -> Result<Self, CompressionError> {
        match self.algorithm.levels() {
            Some(levels) if levels.contains(&level) => Ok(Compression { level, ..self }),
            _ => Err(CompressionError::InvalidLevel {
                algorithm: self.algorithm,
                level,
            }),
        }
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The level, or `None` for [`Algorithm::None`].
    pub fn level(&self) -> Option<i32> {
        self.algorithm.levels().map(|_| self.level)
    }
}

impl Default for Compression {
    /// No compression, the OpenTelemetry default.
    fn default() -> Self {
        Compression::none()
    }
}

impl From<Algorithm> for Compression {
    /// The algorithm at its default level.
    fn from(algorithm: Algorithm) -> Self {
        Compression::with_default_level(algorithm)
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.level() {
            Some(level) => write!(f, "{}:{level}", self.algorithm),
            None => write!(f, "{}", self.algorithm),
        }
    }
}

impl FromStr for Compression {
    type Err = ParseError;

    /// Parses `algorithm[:level]`, e.g. `gzip`, `zstd:5` or `br:4`; the
    /// algorithm as [`Algorithm::from_str`] reads it, the level a decimal
    /// integer the algorithm accepts.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, level) = match s.split_once(':') {
            Some((name, level)) => (name, Some(level.trim())),
            None => (s, None),
        };
        let compression = Compression::from(name.parse::<Algorithm>()?);
        let Some(level) = level else {
            return Ok(compression);
        };
        let level = level.parse().map_err(|source| ParseError::Level {
            value: level.to_owned(),
            source,
        })?;
        Ok(compression.with_level(level)?)
    }
}

/// A compression name, content encoding or level that could not be parsed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The name is not one this crate knows.
    #[error("unknown {what} `{value}`; expected one of: {expected}")]
    Unknown {
        /// What was being parsed, e.g. `compression algorithm`.
        what: &'static str,
        /// The value as given.
        value: String,
        /// The accepted values, comma separated.
        expected: &'static str,
    },
    /// The level after `:` is not an integer.
    #[error("compression level `{value}` is not an integer: {source}")]
    Level {
        /// The level as given.
        value: String,
        /// Why it is not an integer.
        #[source]
        source: ParseIntError,
    },
    /// The level is an integer the algorithm does not accept.
    #[error(transparent)]
    InvalidLevel(#[from] CompressionError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_names_round_trip() {
        for algorithm in Algorithm::ALL {
            assert_eq!(
                algorithm.to_string().parse::<Algorithm>().unwrap(),
                algorithm
            );
            assert_eq!(
                algorithm
                    .as_str()
                    .to_uppercase()
                    .parse::<Algorithm>()
                    .unwrap(),
                algorithm
            );
            let encoding = algorithm.content_encoding().unwrap_or("identity");
            assert_eq!(
                Algorithm::from_content_encoding(encoding).unwrap(),
                algorithm
            );
        }
    }

    #[test]
    fn algorithm_aliases() {
        assert_eq!("br".parse::<Algorithm>().unwrap(), Algorithm::Brotli);
        assert_eq!(" Gzip ".parse::<Algorithm>().unwrap(), Algorithm::Gzip);
        assert_eq!("BROTLI".parse::<Algorithm>().unwrap(), Algorithm::Brotli);
        assert_eq!(
            Algorithm::from_content_encoding("X-GZip").unwrap(),
            Algorithm::Gzip
        );
        assert_eq!(
            Algorithm::from_content_encoding("Identity").unwrap(),
            Algorithm::None
        );
        assert_eq!(Algorithm::Brotli.content_encoding(), Some("br"));
        assert_eq!(Algorithm::None.content_encoding(), None);
        assert_eq!(Algorithm::Srt.content_encoding(), Some("x-otlp-srt"));
        assert_eq!(
            Algorithm::from_content_encoding("x-otlp-srt").unwrap(),
            Algorithm::Srt
        );
    }

    #[test]
    fn srt_parses_with_the_levels_of_its_zstd_stage() {
        let srt: Compression = "srt".parse().unwrap();
        assert_eq!(srt.algorithm(), Algorithm::Srt);
        assert_eq!(srt.level(), Some(3));
        assert_eq!("SRT:1".parse::<Compression>().unwrap().level(), Some(1));
        assert!("srt:23".parse::<Compression>().is_err());
        assert!(matches!(
            crate::Compressor::new(srt),
            Err(crate::CompressionError::Stateful { .. })
        ));
        let mut out = Vec::new();
        assert!(matches!(
            crate::decompress(Algorithm::Srt, b"frame", 1 << 20, &mut out),
            Err(crate::DecompressError::Stateful { .. })
        ));
    }

    #[test]
    fn unknown_names_are_errors_naming_the_value() {
        let err = "lz4".parse::<Algorithm>().unwrap_err();
        assert!(matches!(err, ParseError::Unknown { ref value, .. } if value == "lz4"));
        assert_eq!(
            err.to_string(),
            "unknown compression algorithm `lz4`; expected one of: none, gzip, zstd, brotli, br, srt"
        );
        for bad in ["", "deflate", "identity", "x-gzip"] {
            assert!(bad.parse::<Algorithm>().is_err(), "{bad:?}");
        }
        for bad in ["deflate", "none", "brotli", "gzip, br", ""] {
            let err = Algorithm::from_content_encoding(bad).unwrap_err();
            assert!(err.to_string().contains("content encoding"), "{err}");
        }
    }

    #[test]
    fn defaults_and_levels() {
        assert_eq!(Compression::default(), Compression::none());
        assert_eq!(Compression::none().level(), None);
        assert_eq!(Compression::gzip().level(), Some(6));
        assert_eq!(Compression::zstd().level(), Some(3));
        assert_eq!(Compression::brotli().level(), Some(5));
        for algorithm in Algorithm::ALL {
            let compression = Compression::from(algorithm);
            assert_eq!(compression.algorithm(), algorithm);
            if let (Some(levels), Some(level)) = (algorithm.levels(), compression.level()) {
                assert!(levels.contains(&level));
            }
        }
        assert_eq!(Compression::from(Algorithm::Zstd), Compression::zstd());
    }

    #[test]
    fn with_level_validates() {
        assert_eq!(Compression::gzip().with_level(9).unwrap().level(), Some(9));
        assert_eq!(Compression::gzip().with_level(0).unwrap().level(), Some(0));
        assert_eq!(
            Compression::zstd().with_level(22).unwrap().level(),
            Some(22)
        );
        assert_eq!(
            Compression::brotli().with_level(11).unwrap().level(),
            Some(11)
        );
        for (compression, level) in [
            (Compression::gzip(), 10),
            (Compression::gzip(), -1),
            (Compression::zstd(), 0),
            (Compression::zstd(), 23),
            (Compression::brotli(), 12),
            (Compression::none(), 0),
        ] {
            let err = compression.with_level(level).unwrap_err();
            assert!(
                matches!(err, CompressionError::InvalidLevel { algorithm, level: l }
                    if algorithm == compression.algorithm() && l == level),
                "{err}"
            );
        }
        assert_eq!(
            Compression::gzip().with_level(10).unwrap_err().to_string(),
            "gzip does not accept level 10: expected 0..=9"
        );
        assert_eq!(
            Compression::none().with_level(1).unwrap_err().to_string(),
            "none does not accept level 1: it takes no level"
        );
    }

    #[test]
    fn compression_from_str() {
        let cases = [
            ("gzip", Compression::gzip()),
            ("none", Compression::none()),
            ("zstd:5", Compression::zstd().with_level(5).unwrap()),
            ("brotli:4", Compression::brotli().with_level(4).unwrap()),
            ("BR:11", Compression::brotli().with_level(11).unwrap()),
            (" gzip : 1 ", Compression::gzip().with_level(1).unwrap()),
        ];
        for (text, expected) in cases {
            assert_eq!(text.parse::<Compression>().unwrap(), expected, "{text}");
        }
        for compression in cases.map(|(_, c)| c) {
            assert_eq!(
                compression.to_string().parse::<Compression>().unwrap(),
                compression
            );
        }
        assert_eq!(Compression::zstd().to_string(), "zstd:3");
        assert_eq!(Compression::none().to_string(), "none");
    }

    #[test]
    fn compression_from_str_errors() {
        assert!(matches!(
            "lz4:1".parse::<Compression>(),
            Err(ParseError::Unknown { value, .. }) if value == "lz4"
        ));
        for bad in ["gzip:", "gzip:fast", "zstd:1.5", "zstd:3:4"] {
            assert!(
                matches!(bad.parse::<Compression>(), Err(ParseError::Level { .. })),
                "{bad}"
            );
        }
        for bad in ["gzip:10", "zstd:0", "brotli:-1", "none:0"] {
            assert!(
                matches!(
                    bad.parse::<Compression>(),
                    Err(ParseError::InvalidLevel(
                        CompressionError::InvalidLevel { .. }
                    ))
                ),
                "{bad}"
            );
        }
        assert_eq!(
            "zstd:x".parse::<Compression>().unwrap_err().to_string(),
            "compression level `x` is not an integer: invalid digit found in string"
        );
    }
}

//! SRT: a trace-aware, stateful codec for OTLP trace export requests.
//!
//! An OTLP exporter sends the same span names, attribute keys and mostly
//! the same attribute values over and over; per-request compression (zstd
//! of the protobuf bytes) has to find them again in every request. SRT
//! keeps them as state shared by the two ends of a stream, in the manner
//! of Tracezip's span retrieval tree (ISSTA 2025) and of OTel Arrow's
//! stream mode:
//!
//! - per span name (and per event name, and for links) a **tree of
//!   attribute templates**: a span's attribute list is a path from the
//!   name's root, each node one attribute slot, either a *fixed* KeyValue
//!   (a key with few distinct values, the value is in the node) or a
//!   *variable* one (the key and the value's type; the value travels in
//!   the frame). A span is sent as its leaf node id and its variable
//!   values. A key is fixed until it has shown more than
//!   [`SrtConfig::with_max_fixed_values`] distinct values in that tree;
//!   attribute order is kept (another order is another path);
//! - **dictionaries** of whole resources, scopes and schema URLs;
//! - the rest in **columns**: trace ids as back-references within the
//!   frame, parent span ids as references to spans of the frame, start
//!   times as deltas, durations, events' times relative to their span,
//!   kinds, statuses, variable values by type; then zstd, a frame per kind
//!   of column (codes, times, text), random ids stored as they are;
//! - a **history** of the last frames' spans and text: a parent, child or
//!   trace id that an earlier acknowledged frame carried (the spans of one
//!   trace often come in different requests) is named by its place there
//!   and serves as base for the times, and the text is compressed with
//!   the previous frame's text as zstd dictionary.
//!
//! The receiver holds a copy of the state per stream. The sender learns
//! which definitions the receiver holds from acknowledgements, sends a
//! definition inline in every frame that uses it until a frame carrying
//! it is acknowledged, and never reuses an id within a (stream,
//! generation): a frame can only ever be decoded against the state it was
//! encoded with, or be refused with [`SrtDecodeError::Resync`]. The
//! history follows the same rule: only acknowledged frames are named. See
//! `docs/srt-format.md` for the wire format and the rules.
//!
//! ```
//! use otlp_srt::{SrtConfig, SrtDecoder, SrtEncoder, SrtLimits};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // An empty export request is valid input (OTLP protobuf bytes).
//! let request: &[u8] = b"\x0a\x02\x12\x00";
//! let mut encoder = SrtEncoder::new(SrtConfig::new().with_level(3)?);
//! let decoder = SrtDecoder::new(SrtLimits::new());
//!
//! let mut frame = Vec::new();
//! let id = encoder.encode(request, &mut frame)?;
//! let mut decoded = Vec::new();
//! match decoder.decode(&frame, 4 << 20, &mut decoded) {
//!     Ok(_) => encoder.acknowledge(id),
//!     // The receiver lost the state this frame refers to: start over.
//!     Err(e) if e.is_resync() => encoder.reset_for(id),
//!     Err(_) => encoder.reject(id),
//! }
//! assert_eq!(decoded, request);
//! # Ok(())
//! # }
//! ```
//!
//! # Feature flags
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `corpus` | no | [`corpus`]: a deterministic generator of realistic microservice traces, and a reader of recorded trace sets, for tests and benchmarks |
#![forbid(unsafe_code)]

#[cfg(feature = "corpus")]
pub mod corpus;
mod decoder;
mod encoder;
mod format;
mod history;
mod wire;

pub use decoder::{Decoded, SrtDecoder};
pub use encoder::SrtEncoder;

use otlp_compression::{CompressionError, DecompressError};

/// Settings of an [`SrtEncoder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SrtConfig {
    /// zstd level of the text (definitions and strings) above 3; at levels
    /// 1 to 3 the text is compressed at level 1, which on blocks of a few
    /// KiB with the previous frame's text as dictionary finds more than
    /// levels 2 and 3 in less time. The codes and times are compressed at
    /// level 1, where higher levels find nothing more.
    pub level: i32,
    /// Past this state size (bytes, as [`SrtEncoder::state_bytes`] counts),
    /// the next frame starts a new generation.
    pub max_state_bytes: usize,
    /// How many distinct values a key may show in one tree and still be a
    /// fixed slot.
    pub max_fixed_values: usize,
}

impl Default for SrtConfig {
    fn default() -> Self {
        SrtConfig {
            level: 3,
            max_state_bytes: 16 << 20,
            max_fixed_values: 16,
        }
    }
}

impl SrtConfig {
    /// The defaults: zstd level 3 (what the OTLP path uses), a 16 MiB
    /// state, up to 16 fixed values per key.
    pub fn new() -> Self {
        Self::default()
    }

    /// The zstd level, 1..=22, validated as `otlp_compression::Compression`
    /// does; fails with [`SrtError::Compression`] outside that range.
    pub fn with_level(self, level: i32) -> Result<Self, SrtError> {
        otlp_compression::Compression::zstd()
            .with_level(level)
            .map_err(SrtError::Compression)?;
        Ok(SrtConfig { level, ..self })
    }

    /// The state size in bytes past which a new generation starts. Keep it
    /// below the receiver's [`SrtLimits::with_max_stream_state_bytes`]
    /// (less one frame's definitions), or the receiver refuses the stream
    /// with a resync each time it gets there.
    pub fn with_max_state_bytes(self, bytes: usize) -> Self {
        SrtConfig {
            max_state_bytes: bytes,
            ..self
        }
    }

    /// How many distinct values of one key (per span name) are kept in the
    /// tree as fixed slots before the key becomes variable. 0 makes every
    /// attribute variable.
    pub fn with_max_fixed_values(self, values: usize) -> Self {
        SrtConfig {
            max_fixed_values: values,
            ..self
        }
    }
}

/// Bounds on what an [`SrtDecoder`] holds and does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SrtLimits {
    /// The most bytes a frame's payload may decompress to.
    pub max_payload_bytes: usize,
    /// The most state one stream may hold (bytes, counted as the encoder
    /// counts); a frame that would pass it gets a resync.
    pub max_stream_state_bytes: usize,
    /// The most state all streams together may hold; past it the least
    /// recently used streams are dropped.
    pub max_total_state_bytes: usize,
    /// The most streams held; past it the least recently used is dropped.
    pub max_streams: usize,
}

impl Default for SrtLimits {
    fn default() -> Self {
        SrtLimits {
            max_payload_bytes: 32 << 20,
            max_stream_state_bytes: 64 << 20,
            max_total_state_bytes: 1 << 30,
            max_streams: 1024,
        }
    }
}

impl SrtLimits {
    /// The defaults: 32 MiB payloads, 64 MiB per stream, 1 GiB in all,
    /// 1024 streams.
    pub fn new() -> Self {
        Self::default()
    }
    /// See [`SrtLimits::max_payload_bytes`].
    pub fn with_max_payload_bytes(self, bytes: usize) -> Self {
        SrtLimits {
            max_payload_bytes: bytes,
            ..self
        }
    }
    /// See [`SrtLimits::max_stream_state_bytes`].
    pub fn with_max_stream_state_bytes(self, bytes: usize) -> Self {
        SrtLimits {
            max_stream_state_bytes: bytes,
            ..self
        }
    }
    /// See [`SrtLimits::max_total_state_bytes`].
    pub fn with_max_total_state_bytes(self, bytes: usize) -> Self {
        SrtLimits {
            max_total_state_bytes: bytes,
            ..self
        }
    }
    /// See [`SrtLimits::max_streams`].
    pub fn with_max_streams(self, streams: usize) -> Self {
        SrtLimits {
            max_streams: streams,
            ..self
        }
    }
}

/// Which frame: the stream, the generation of its state and the frame's
/// sequence number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FrameId {
    stream: u64,
    generation: u32,
    seq: u64,
}

impl FrameId {
    /// The stream's random id.
    pub fn stream(&self) -> u64 {
        self.stream
    }
    /// The generation of the stream's state the frame was encoded against.
    pub fn generation(&self) -> u32 {
        self.generation
    }
    /// The frame's sequence number within the stream (from 1).
    pub fn seq(&self) -> u64 {
        self.seq
    }
}

/// Why an [`SrtEncoder`] could not encode, or an [`SrtConfig`] is invalid.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SrtError {
    /// The input is not a well-formed OTLP protobuf trace export request.
    #[error("malformed OTLP trace request: {0}")]
    Malformed(&'static str),
    /// The zstd level is invalid, or zstd failed.
    #[error(transparent)]
    Compression(CompressionError),
    /// The state outgrew 32-bit ids or offsets in one request; the next
    /// frame starts a new generation. Only a request of gigabytes does this.
    #[error("request too large for one SRT frame")]
    StateOverflow,
}

/// Why the receiver must be resynchronised: the frame refers to state it
/// does not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResyncReason {
    /// The stream is not known here (new receiver, or evicted).
    UnknownStream,
    /// The frame's generation was replaced by a newer one.
    StaleGeneration,
    /// The frame starts a newer generation but refers to entries not in it.
    UnknownGeneration,
    /// The frame refers to an entry this generation does not hold.
    UnknownEntry {
        /// The entry's id.
        id: u32,
    },
    /// Holding the frame's definitions would pass the per-stream limit;
    /// the stream's state was dropped.
    StateLimit,
    /// The frame refers to spans of an earlier frame of its generation
    /// that this receiver does not keep (it never decoded it, or it is
    /// too far behind the newest frame decoded).
    UnknownFrame {
        /// The earlier frame's sequence number.
        seq: u64,
    },
}

impl std::fmt::Display for ResyncReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResyncReason::UnknownStream => f.write_str("unknown stream"),
            ResyncReason::StaleGeneration => f.write_str("stale generation"),
            ResyncReason::UnknownGeneration => f.write_str("unknown generation"),
            ResyncReason::UnknownEntry { id } => write!(f, "unknown entry {id}"),
            ResyncReason::StateLimit => f.write_str("stream state limit reached"),
            ResyncReason::UnknownFrame { seq } => write!(f, "unknown earlier frame {seq}"),
        }
    }
}

/// Why an [`SrtDecoder`] refused a frame.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SrtDecodeError {
    /// The frame refers to state the receiver does not hold; nothing was
    /// decoded. The sender calls [`SrtEncoder::reset_for`] and sends the
    /// request again.
    #[error("SRT stream must be resynchronised: {reason}")]
    Resync {
        /// Which state is missing.
        reason: ResyncReason,
    },
    /// The frame is not valid SRT (or redefines an entry differently).
    #[error("malformed SRT frame: {0}")]
    Malformed(&'static str),
    /// The payload or the decoded request would pass `limit` bytes.
    #[error("SRT frame decodes to more than {limit} bytes")]
    TooLarge {
        /// The limit passed, in bytes.
        limit: usize,
    },
    /// The frame is of a format version this decoder does not read.
    #[error("unsupported SRT version {version}")]
    UnsupportedVersion {
        /// The frame's version byte.
        version: u8,
    },
    /// The zstd payload is corrupt.
    #[error("corrupt SRT payload: {0}")]
    Corrupt(#[source] DecompressError),
}

impl SrtDecodeError {
    /// Whether the sender must resynchronise ([`SrtEncoder::reset_for`])
    /// and send again; the frame itself was not at fault.
    pub fn is_resync(&self) -> bool {
        matches!(self, SrtDecodeError::Resync { .. })
    }

    /// Whether the frame was refused for its size.
    pub fn is_too_large(&self) -> bool {
        matches!(self, SrtDecodeError::TooLarge { .. })
    }
}

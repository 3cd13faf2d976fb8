//! Constants of the SRT wire format, version 1 (docs/srt-format.md).

/// The first three bytes of every frame.
pub(crate) const MAGIC: [u8; 3] = *b"SRT";
/// The format version this crate writes and reads.
pub(crate) const VERSION: u8 = 1;
/// magic (3) + version (1) + stream id (8) + generation (4) + frame seq (8).
pub(crate) const HEADER_LEN: usize = 24;

/// How a block of the payload is carried.
pub(crate) mod block {
    /// The block's bytes are the payload's.
    pub(crate) const STORED: u8 = 0;
    /// The block is one zstd frame; it decompresses to the payload's bytes.
    pub(crate) const ZSTD: u8 = 1;
    /// A varint `back`, then one zstd frame compressed with the *text* of
    /// frame `seq - back` as its (raw content) dictionary.
    pub(crate) const ZSTD_TEXT: u8 = 2;
}

/// The payload's columns, in the order they are written: first the codes
/// and small numbers, then times, then text, then random ids, so that each
/// kind is a run of columns (a block, see `docs/srt-format.md`).
pub(crate) mod col {
    pub(crate) const STRUCT: usize = 0;
    pub(crate) const FLAGS: usize = 1;
    pub(crate) const NODE: usize = 2;
    pub(crate) const TRACE: usize = 3;
    pub(crate) const PARENT: usize = 4;
    pub(crate) const HIST: usize = 5;
    pub(crate) const MISC: usize = 6;
    pub(crate) const LEN: usize = 7;
    pub(crate) const INT: usize = 8;
    pub(crate) const DOUBLE: usize = 9;
    pub(crate) const BOOL: usize = 10;
    pub(crate) const RAW: usize = 11;
    pub(crate) const EVENT_TIME: usize = 12;
    pub(crate) const STATUS: usize = 13;
    pub(crate) const START: usize = 14;
    pub(crate) const DURATION: usize = 15;
    pub(crate) const TIME_LO: usize = 16;
    pub(crate) const DEFS: usize = 17;
    pub(crate) const STR: usize = 18;
    pub(crate) const SPAN_ID: usize = 19;
    pub(crate) const IDS: usize = 20;
    pub(crate) const COUNT: usize = 21;
}

/// Bits of a span's byte in the FLAGS column.
pub(crate) mod flag {
    /// The span is carried as its OTLP protobuf bytes (RAW column).
    pub(crate) const RAW: u8 = 1;
    pub(crate) const TRACE_STATE: u8 = 2;
    pub(crate) const STATUS: u8 = 4;
    pub(crate) const EVENTS: u8 = 8;
    pub(crate) const LINKS: u8 = 16;
    pub(crate) const DROPPED: u8 = 32;
    pub(crate) const FLAGS: u8 = 64;
    /// The span id is not 8 raw bytes in SPAN_ID but a code there (see
    /// `span_id_code`).
    pub(crate) const SPAN_ID_CODE: u8 = 128;
}

/// Kinds of dictionary entries.
pub(crate) mod kind {
    pub(crate) const BLOB: u8 = 0;
    pub(crate) const ROOT: u8 = 1;
    pub(crate) const FIXED: u8 = 2;
    pub(crate) const VAR: u8 = 3;
}

/// Which attribute lists a tree serves.
pub(crate) mod domain {
    pub(crate) const SPAN: u8 = 0;
    pub(crate) const EVENT: u8 = 1;
    pub(crate) const LINK: u8 = 2;
}

/// Types of a variable slot's value.
pub(crate) mod ty {
    /// The KeyValue has no value field.
    pub(crate) const ABSENT: u8 = 0;
    pub(crate) const STR: u8 = 1;
    pub(crate) const BOOL: u8 = 2;
    pub(crate) const INT: u8 = 3;
    pub(crate) const DOUBLE: u8 = 4;
    pub(crate) const BYTES: u8 = 5;
    /// Any other AnyValue (array, kvlist, empty, ...), as its protobuf bytes.
    pub(crate) const RAW: u8 = 6;
    pub(crate) const MAX: u8 = 6;
}

/// Reference codes of the TRACE column (larger values are back-references).
pub(crate) mod trace_ref {
    /// A new trace id of 16 bytes, in IDS.
    pub(crate) const NEW16: u64 = 0;
    /// A new trace id of another length: length in MISC, bytes in IDS.
    pub(crate) const NEW_ODD: u64 = 1;
    /// The trace id of the span's relative (see `docs/srt-format.md`).
    pub(crate) const RELATIVE: u64 = 2;
    /// The trace id of a span of an earlier frame: its place in HIST.
    pub(crate) const HISTORY: u64 = 3;
    /// `BACK + d`: the `d + 1`-th most recent new trace id of the frame.
    pub(crate) const BACK: u64 = 4;
}

/// Reference codes of the PARENT column (parent span ids and link span ids).
pub(crate) mod span_ref {
    pub(crate) const EMPTY: u64 = 0;
    /// 8 bytes in IDS.
    pub(crate) const RAW8: u64 = 1;
    /// Length in MISC, bytes in IDS.
    pub(crate) const RAW_ODD: u64 = 2;
    /// The span id of a span of an earlier frame: its place in HIST
    /// (parents only).
    pub(crate) const HISTORY: u64 = 3;
    /// `SPAN + zigzag(i - j)`: the span id of span `j` of this frame, `i`
    /// being the current span.
    pub(crate) const SPAN: u64 = 4;
}

/// Codes in SPAN_ID of a span whose flag `SPAN_ID_CODE` is set.
pub(crate) mod span_id_code {
    /// The span id is the parent span id of a span of an earlier frame
    /// (its child): then its place, varints in SPAN_ID.
    pub(crate) const CHILD: u64 = 1;
    // An even code `2 * n`: the span id is the next `n` bytes of SPAN_ID.
}

/// How far back a frame may refer to the spans of earlier frames: to those
/// of the frames `seq - 1` down to `seq - HISTORY_FRAMES` of its generation.
pub(crate) const HISTORY_FRAMES: u64 = 16;

/// How many frames' spans a receiver keeps: those of the newest frame it
/// decoded and of the frames up to this many before it. More than
/// `HISTORY_FRAMES`, so that a frame that arrives after a few newer ones
/// still finds what it refers to.
pub(crate) const HISTORY_KEPT: u64 = 64;

/// A frame's *text* (its DEFS and STR columns, each after its length, as
/// in the payload) is kept for later frames' dictionaries only up to this
/// size.
pub(crate) const HISTORY_TEXT: usize = 64 << 10;

/// Only a frame's first spans are kept for later frames to refer to.
pub(crate) const HISTORY_SPANS: usize = 4096;

/// The most attributes a list may have to go through the tree (a node's
/// depth); longer lists are sent raw. Bounds the receiver's walk.
pub(crate) const MAX_DEPTH: usize = 1024;

/// What one dictionary entry costs in the state accounting, besides its
/// bytes; the same on both sides so that the sender's cap bounds the
/// receiver's state.
pub(crate) const ENTRY_OVERHEAD: usize = 64;

/// OTLP nesting limit for AnyValue arrays and kvlists, as prost's.
pub(crate) const MAX_VALUE_DEPTH: usize = 100;

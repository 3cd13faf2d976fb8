//! The sender side: OTLP protobuf trace requests to SRT frames.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

use otlp_compression::{Algorithm, Compression, CompressionError, Compressor};

use crate::format::{
    self, col, domain, flag, kind, span_id_code, span_ref, trace_ref, ty, MAX_DEPTH,
};
use crate::history::{Place, Rec, SenderHistory};
use crate::wire::{
    check_fields, next_field, put_varint, read_varint as next_field_varint, zigzag, Field,
};
use crate::{FrameId, SrtConfig, SrtError};

/// Frames whose fate the encoder remembers; past this the oldest is
/// forgotten, as if rejected (always safe: its definitions are sent again).
const MAX_IN_FLIGHT: usize = 4096;

/// How a block of the payload is compressed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pack {
    /// Stored: span ids and raw trace and span ids are random bytes that
    /// zstd cannot shrink.
    Stored,
    /// zstd level 1: numbers and codes, where higher levels find nothing
    /// more (measured on both corpora of `tests/corpus.rs`).
    Fast,
    /// zstd at the text's level ([`text_level`]): definitions and strings.
    Text,
}

/// The payload's blocks (see `write_frame`): their columns and how each is
/// compressed. Codes, times, the low bytes of times and text each get
/// their own zstd frame (their own entropy tables); on both corpora of
/// `tests/corpus.rs` this is as small as a frame per column and builds
/// half of the tables.
const BLOCKS: &[(std::ops::Range<usize>, Pack)] = &[
    (col::STRUCT..col::START, Pack::Fast),
    (col::START..col::TIME_LO, Pack::Fast),
    (col::TIME_LO..col::DEFS, Pack::Fast),
    (col::DEFS..col::SPAN_ID, Pack::Text),
    (col::SPAN_ID..col::COUNT, Pack::Stored),
];

/// The first bytes of a zstd dictionary (little-endian 0xEC30A437): a
/// dictionary that begins so is read as one, not as raw content.
const ZSTD_DICT_MAGIC: [u8; 4] = [0x37, 0xa4, 0x30, 0xec];

/// zstd level of the [`Pack::Fast`] blocks.
const FAST_LEVEL: i32 = 1;

/// The highest configured level at which the text is compressed at
/// [`FAST_LEVEL`]: the text block is a few KiB compressed with the previous
/// frame's text as dictionary, and there level 1 finds more than levels 2
/// and 3, in less time (at 512 spans the block is 1.8% smaller than at
/// level 3 on the generated corpus, in half the time, and 3.4% smaller on
/// the recorded one, in 10% less time).
const TEXT_FAST_UP_TO: i32 = 3;

/// The zstd level of the text block for the configured `level`.
fn text_level(level: i32) -> i32 {
    if level <= TEXT_FAST_UP_TO {
        FAST_LEVEL.min(level)
    } else {
        level
    }
}

/// Blocks smaller than this are stored: a zstd frame's header and tables
/// cost more than it could save.
const MIN_ZSTD_BLOCK: usize = 64;

/// No span (in `parent_of`, `first_child`).
const NONE: u32 = u32::MAX;

/// What the tracker of one (root, key) costs in the state accounting.
const TRACKER_BYTES: usize = 96;

/// A hasher for keys that are already hashes.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;
type FastMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

/// One dictionary entry of the sender: its value and whether the receiver
/// is known to hold it.
#[derive(Clone, Copy, Debug)]
struct Entry {
    kind: u8,
    /// Domain of a root, type of a variable slot.
    tag: u8,
    acked: bool,
    /// Parent node of a slot (0 for roots and blobs).
    parent: u32,
    /// The next entry with the same hash (0 = none).
    next: u32,
    start: u32,
    len: u32,
    /// The frame seq that last defined it inline.
    defined_in: u64,
}

/// How many distinct values one key of one tree has shown, up to the
/// configured limit; past it the key's values are variable.
#[derive(Clone, Debug, Default)]
struct Tracker {
    variable: bool,
    seen: Vec<u64>,
}

/// The per-generation state: the dictionaries and the trees.
#[derive(Default)]
struct State {
    /// Entry `id` is at `entries[id - 1]`.
    entries: Vec<Entry>,
    arena: Vec<u8>,
    /// Hash of an entry's identity -> its id (first of a chain).
    index: IdMap<u32>,
    trackers: IdMap<Tracker>,
    /// Per node id, the child last taken from it (0 = none yet): most
    /// spans of a name follow the same path, so comparing the attribute
    /// with that child's bytes spares hashing it.
    last_child: Vec<u32>,
    bytes: usize,
}

/// Whether two short byte strings (keys, names, KeyValues) are equal:
/// in words of 8 bytes, the last one overlapping, inline instead of a call
/// to `memcmp`, which for strings of tens of bytes costs more than the
/// compare.
#[inline(always)]
fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n >= 8 {
        let word = |s: &[u8]| u64::from_ne_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]);
        let (x, y) = (a.chunks_exact(8), b.chunks_exact(8));
        for (x, y) in x.zip(y) {
            if word(x) != word(y) {
                return false;
            }
        }
        word(&a[n - 8..]) == word(&b[n - 8..])
    } else if n >= 4 {
        let word = |s: &[u8], i: usize| u32::from_ne_bytes([s[i], s[i + 1], s[i + 2], s[i + 3]]);
        word(a, 0) == word(b, 0) && word(a, n - 4) == word(b, n - 4)
    } else {
        a.iter().zip(b).all(|(x, y)| x == y)
    }
}

fn hash_identity(kind: u8, tag: u8, parent: u32, data: &[u8]) -> u64 {
    let mut h = foldhash::fast::FixedState::with_seed(0x5352_5431).build_hasher();
    h.write_u64(u64::from(kind) | u64::from(tag) << 8 | u64::from(parent) << 16);
    h.write(data);
    h.finish()
}

fn hash_pair(a: u64, data: &[u8]) -> u64 {
    let mut h = foldhash::fast::FixedState::with_seed(0x7472_6b72).build_hasher();
    h.write_u64(a);
    h.write(data);
    h.finish()
}

impl State {
    fn clear(&mut self) {
        self.entries.clear();
        self.arena.clear();
        self.index.clear();
        self.trackers.clear();
        self.last_child.clear();
        self.bytes = 0;
    }

    fn data(&self, entry: &Entry) -> &[u8] {
        &self.arena[entry.start as usize..(entry.start + entry.len) as usize]
    }

    fn find(&self, hash: u64, kind: u8, tag: u8, parent: u32, data: &[u8]) -> Option<u32> {
        let mut id = *self.index.get(&hash)?;
        while id != 0 {
            let e = &self.entries[id as usize - 1];
            if e.kind == kind && e.tag == tag && e.parent == parent && bytes_eq(self.data(e), data)
            {
                return Some(id);
            }
            id = e.next;
        }
        None
    }

    fn insert(
        &mut self,
        hash: u64,
        kind: u8,
        tag: u8,
        parent: u32,
        data: &[u8],
    ) -> Result<u32, SrtError> {
        let id = u32::try_from(self.entries.len() + 1).map_err(|_| SrtError::StateOverflow)?;
        let start = u32::try_from(self.arena.len()).map_err(|_| SrtError::StateOverflow)?;
        let len = u32::try_from(data.len()).map_err(|_| SrtError::StateOverflow)?;
        start.checked_add(len).ok_or(SrtError::StateOverflow)?;
        self.arena.extend_from_slice(data);
        let next = self.index.insert(hash, id).unwrap_or(0);
        self.entries.push(Entry {
            kind,
            tag,
            acked: false,
            parent,
            next,
            start,
            len,
            defined_in: 0,
        });
        if self.last_child.is_empty() {
            // Id 0 is no node.
            self.last_child.push(0);
        }
        self.last_child.push(0);
        self.bytes += data.len() + format::ENTRY_OVERHEAD;
        Ok(id)
    }
}

/// What a span's start, end and trace id are coded against.
#[derive(Clone, Copy)]
struct Relative<'r> {
    trace_id: &'r [u8],
    start: u64,
    end: u64,
    /// A child (its end is the base of the span's end) or the parent.
    child: bool,
}

impl<'r> Relative<'r> {
    fn span(s: &SpanV<'r>, child: bool) -> Relative<'r> {
        Relative {
            trace_id: s.trace_id,
            start: s.start,
            end: s.end,
            child,
        }
    }
    fn rec(r: &'r Rec, child: bool) -> Relative<'r> {
        Relative {
            trace_id: &r.trace_id,
            start: r.start,
            end: r.end,
            child,
        }
    }
}

/// A blob as the request holds it: absent, one slice of the input, or
/// several occurrences of a singular message field concatenated (which is
/// what protobuf's merge of them means) in the encoder's `concat` buffer.
#[derive(Clone, Copy, Debug, Default)]
enum Blob<'a> {
    #[default]
    Absent,
    Slice(&'a [u8]),
    Concat(usize, usize),
}

#[derive(Clone, Copy, Debug)]
enum Val<'a> {
    Absent,
    Str(&'a [u8]),
    Bool(bool),
    Int(i64),
    Double(u64),
    Bytes(&'a [u8]),
    Raw(&'a [u8]),
}

impl Val<'_> {
    fn ty(&self) -> u8 {
        match self {
            Val::Absent => ty::ABSENT,
            Val::Str(_) => ty::STR,
            Val::Bool(_) => ty::BOOL,
            Val::Int(_) => ty::INT,
            Val::Double(_) => ty::DOUBLE,
            Val::Bytes(_) => ty::BYTES,
            Val::Raw(_) => ty::RAW,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Kv<'a> {
    /// The whole KeyValue message.
    raw: &'a [u8],
    key: &'a [u8],
    val: Val<'a>,
}

type Range = (u32, u32);

#[derive(Clone, Copy, Debug, Default)]
struct SpanV<'a> {
    raw: &'a [u8],
    escape: bool,
    trace_id: &'a [u8],
    span_id: &'a [u8],
    trace_state: &'a [u8],
    parent: &'a [u8],
    name: &'a [u8],
    kind: u32,
    start: u64,
    end: u64,
    attrs: Range,
    dropped_attrs: u32,
    events: Range,
    dropped_events: u32,
    links: Range,
    dropped_links: u32,
    status: Option<(u32, &'a [u8])>,
    flags: u32,
}

#[derive(Clone, Copy, Debug, Default)]
struct EventV<'a> {
    time: u64,
    name: &'a [u8],
    attrs: Range,
    dropped: u32,
}

#[derive(Clone, Copy, Debug, Default)]
struct LinkV<'a> {
    trace_id: &'a [u8],
    span_id: &'a [u8],
    trace_state: &'a [u8],
    attrs: Range,
    dropped: u32,
    flags: u32,
}

#[derive(Clone, Copy, Debug, Default)]
struct ScopeV<'a> {
    scope: Blob<'a>,
    schema: &'a [u8],
    spans: Range,
}

#[derive(Clone, Copy, Debug, Default)]
struct ResourceV<'a> {
    resource: Blob<'a>,
    schema: &'a [u8],
    scopes: Range,
}

/// The parsed request: views into the input bytes.
#[derive(Default)]
struct Parsed<'a> {
    resources: Vec<ResourceV<'a>>,
    scopes: Vec<ScopeV<'a>>,
    spans: Vec<SpanV<'a>>,
    /// The attributes' KeyValue messages, each checked to be in the usual
    /// shape (see [`parse_kv`]); read again only when the tree walk cannot
    /// match the bytes as they are (see `SrtEncoder::child`), which spares
    /// storing and copying a parsed view of each.
    kvs: Vec<&'a [u8]>,
    events: Vec<EventV<'a>>,
    links: Vec<LinkV<'a>>,
}

/// Reuses a vector's allocation for the same type with another lifetime
/// (the in-place `collect` keeps the buffer: the element layout is equal).
fn recycle<T, U>(mut v: Vec<T>) -> Vec<U> {
    v.clear();
    v.into_iter().filter_map(|_| None).collect()
}

macro_rules! recycle_parsed {
    ($p:expr) => {{
        let p = $p;
        Parsed {
            resources: recycle(p.resources),
            scopes: recycle(p.scopes),
            spans: recycle(p.spans),
            kvs: recycle(p.kvs),
            events: recycle(p.events),
            links: recycle(p.links),
        }
    }};
}

fn malformed(reason: &'static str) -> SrtError {
    SrtError::Malformed(reason)
}

const WIRE: &str = "wrong protobuf wire type for an OTLP field";

fn range(start: usize, end: usize) -> Range {
    (start as u32, end as u32)
}

impl<'a> Parsed<'a> {
    fn request(&mut self, input: &'a [u8], concat: &mut Vec<u8>) -> Result<(), SrtError> {
        let mut b = input;
        while !b.is_empty() {
            match next_field(&mut b).map_err(malformed)? {
                (1, Field::Bytes(rs)) => self.resource_spans(rs, concat)?,
                (1, _) => return Err(malformed(WIRE)),
                _ => {}
            }
        }
        Ok(())
    }

    fn resource_spans(&mut self, input: &'a [u8], concat: &mut Vec<u8>) -> Result<(), SrtError> {
        let mut rv = ResourceV::default();
        let first = self.scopes.len();
        let mut b = input;
        while !b.is_empty() {
            match next_field(&mut b).map_err(malformed)? {
                (1, Field::Bytes(x)) => {
                    check_fields(x).map_err(malformed)?;
                    rv.resource = merge(rv.resource, x, concat);
                }
                (2, Field::Bytes(x)) => self.scope_spans(x, concat)?,
                (3, Field::Bytes(x)) => rv.schema = x,
                (1..=3, _) => return Err(malformed(WIRE)),
                _ => {}
            }
        }
        rv.scopes = range(first, self.scopes.len());
        self.resources.push(rv);
        Ok(())
    }

    fn scope_spans(&mut self, input: &'a [u8], concat: &mut Vec<u8>) -> Result<(), SrtError> {
        let mut sv = ScopeV::default();
        let first = self.spans.len();
        let mut b = input;
        while !b.is_empty() {
            // The spans, one after the other, without the general reader.
            if let Some(x) = take_len(&mut b, 0x12) {
                self.span(x)?;
                continue;
            }
            match next_field(&mut b).map_err(malformed)? {
                (1, Field::Bytes(x)) => {
                    check_fields(x).map_err(malformed)?;
                    sv.scope = merge(sv.scope, x, concat);
                }
                (2, Field::Bytes(x)) => self.span(x)?,
                (3, Field::Bytes(x)) => sv.schema = x,
                (1..=3, _) => return Err(malformed(WIRE)),
                _ => {}
            }
        }
        sv.spans = range(first, self.spans.len());
        self.scopes.push(sv);
        Ok(())
    }

    fn span(&mut self, raw: &'a [u8]) -> Result<(), SrtError> {
        let mut s = SpanV {
            raw,
            ..SpanV::default()
        };
        let (kv0, ev0, ln0) = (self.kvs.len(), self.events.len(), self.links.len());
        let mut attrs = 0usize;
        let mut canonical = true;
        let mut b = raw;
        // Fields in field order, each at most once and the repeated ones in
        // one run, as protobuf encoders write a span: read in that order,
        // each field costs a compare of its key byte instead of a dispatch
        // on its number (an indirect jump that mispredicts, the fields
        // present varying from span to span). What is left (another order,
        // unknown fields, anything this does not take) goes through the
        // general loop, which reads on in order: the result is the same.
        if let Some(x) = take_len(&mut b, 0x0a) {
            s.trace_id = x;
        }
        if let Some(x) = take_len(&mut b, 0x12) {
            s.span_id = x;
        }
        if let Some(x) = take_len(&mut b, 0x1a) {
            s.trace_state = x;
        }
        if let Some(x) = take_len(&mut b, 0x22) {
            s.parent = x;
        }
        if let Some(x) = take_len(&mut b, 0x2a) {
            s.name = x;
        }
        if let Some(v) = take_varint(&mut b, 0x30) {
            s.kind = v as u32;
        }
        if let Some(v) = take_fixed64(&mut b, 0x39) {
            s.start = v;
        }
        if let Some(v) = take_fixed64(&mut b, 0x41) {
            s.end = v;
        }
        while let Some(x) = take_len(&mut b, 0x4a) {
            self.span_attr(x, kv0, &mut attrs, &mut canonical)?;
        }
        if let Some(v) = take_varint(&mut b, 0x50) {
            s.dropped_attrs = v as u32;
        }
        while let Some(x) = take_len(&mut b, 0x5a) {
            canonical &= self.event(x)?;
        }
        if let Some(v) = take_varint(&mut b, 0x60) {
            s.dropped_events = v as u32;
        }
        while let Some(x) = take_len(&mut b, 0x6a) {
            canonical &= self.link(x)?;
        }
        if let Some(v) = take_varint(&mut b, 0x70) {
            s.dropped_links = v as u32;
        }
        if let Some(x) = take_len(&mut b, 0x7a) {
            status(s.status.get_or_insert((0, b"")), x)?;
        }
        if let [0x85, 0x01, v0, v1, v2, v3, ref tail @ ..] = *b {
            s.flags = u32::from_le_bytes([v0, v1, v2, v3]);
            b = tail;
        }
        while !b.is_empty() {
            match next_field(&mut b).map_err(malformed)? {
                (1, Field::Bytes(x)) => s.trace_id = x,
                (2, Field::Bytes(x)) => s.span_id = x,
                (3, Field::Bytes(x)) => s.trace_state = x,
                (4, Field::Bytes(x)) => s.parent = x,
                (5, Field::Bytes(x)) => s.name = x,
                (6, Field::Varint(v)) => s.kind = v as u32,
                (7, Field::Fixed64(v)) => s.start = v,
                (8, Field::Fixed64(v)) => s.end = v,
                (9, Field::Bytes(x)) => self.span_attr(x, kv0, &mut attrs, &mut canonical)?,
                (10, Field::Varint(v)) => s.dropped_attrs = v as u32,
                (11, Field::Bytes(x)) => canonical &= self.event(x)?,
                (12, Field::Varint(v)) => s.dropped_events = v as u32,
                (13, Field::Bytes(x)) => canonical &= self.link(x)?,
                (14, Field::Varint(v)) => s.dropped_links = v as u32,
                (15, Field::Bytes(x)) => status(s.status.get_or_insert((0, b"")), x)?,
                (16, Field::Fixed32(v)) => s.flags = v,
                (1..=16, _) => return Err(malformed(WIRE)),
                _ => {}
            }
        }
        if attrs > MAX_DEPTH {
            canonical = false;
        }
        if canonical {
            s.attrs = range(kv0, kv0 + attrs);
            s.events = range(ev0, self.events.len());
            s.links = range(ln0, self.links.len());
        } else {
            s.escape = true;
            self.kvs.truncate(kv0);
            self.events.truncate(ev0);
            self.links.truncate(ln0);
        }
        self.spans.push(s);
        Ok(())
    }

    /// A span's attribute.
    #[inline(always)]
    fn span_attr(
        &mut self,
        x: &'a [u8],
        kv0: usize,
        attrs: &mut usize,
        canonical: &mut bool,
    ) -> Result<(), SrtError> {
        // Attributes must be one run of `kvs` (events push theirs in
        // between when fields interleave).
        if self.kvs.len() != kv0 + *attrs {
            *canonical = false;
        }
        if kv_usual(x)? {
            self.kvs.push(x);
        } else {
            *canonical = false;
        }
        *attrs += 1;
        Ok(())
    }

    /// Parses an event; `false` if it cannot go through the columns.
    fn event(&mut self, raw: &'a [u8]) -> Result<bool, SrtError> {
        let mut e = EventV::default();
        let kv0 = self.kvs.len();
        let mut canonical = true;
        let mut b = raw;
        // In field order first, as in `span`.
        if let Some(v) = take_fixed64(&mut b, 0x09) {
            e.time = v;
        }
        if let Some(x) = take_len(&mut b, 0x12) {
            e.name = x;
        }
        while let Some(x) = take_len(&mut b, 0x1a) {
            if kv_usual(x)? {
                self.kvs.push(x);
            } else {
                canonical = false;
            }
        }
        if let Some(v) = take_varint(&mut b, 0x20) {
            e.dropped = v as u32;
        }
        while !b.is_empty() {
            match next_field(&mut b).map_err(malformed)? {
                (1, Field::Fixed64(v)) => e.time = v,
                (2, Field::Bytes(x)) => e.name = x,
                (3, Field::Bytes(x)) => {
                    if kv_usual(x)? {
                        self.kvs.push(x);
                    } else {
                        canonical = false;
                    }
                }
                (4, Field::Varint(v)) => e.dropped = v as u32,
                (1..=4, _) => return Err(malformed(WIRE)),
                _ => {}
            }
        }
        e.attrs = range(kv0, self.kvs.len());
        canonical &= self.kvs.len() - kv0 <= MAX_DEPTH;
        self.events.push(e);
        Ok(canonical)
    }

    fn link(&mut self, raw: &'a [u8]) -> Result<bool, SrtError> {
        let mut l = LinkV::default();
        let kv0 = self.kvs.len();
        let mut canonical = true;
        let mut b = raw;
        while !b.is_empty() {
            match next_field(&mut b).map_err(malformed)? {
                (1, Field::Bytes(x)) => l.trace_id = x,
                (2, Field::Bytes(x)) => l.span_id = x,
                (3, Field::Bytes(x)) => l.trace_state = x,
                (4, Field::Bytes(x)) => {
                    if kv_usual(x)? {
                        self.kvs.push(x);
                    } else {
                        canonical = false;
                    }
                }
                (5, Field::Varint(v)) => l.dropped = v as u32,
                (6, Field::Fixed32(v)) => l.flags = v,
                (1..=6, _) => return Err(malformed(WIRE)),
                _ => {}
            }
        }
        l.attrs = range(kv0, self.kvs.len());
        canonical &= self.kvs.len() - kv0 <= MAX_DEPTH;
        self.links.push(l);
        Ok(canonical)
    }
}

/// Reads a Status message into `status` (code, message), over what it
/// holds (protobuf merges repeated occurrences of a message field).
#[inline]
fn status<'a>(status: &mut (u32, &'a [u8]), x: &'a [u8]) -> Result<(), SrtError> {
    let mut b = x;
    if let Some(m) = take_len(&mut b, 0x12) {
        status.1 = m;
    }
    if let Some(c) = take_varint(&mut b, 0x18) {
        status.0 = c as u32;
    }
    while !b.is_empty() {
        match next_field(&mut b).map_err(malformed)? {
            (2, Field::Bytes(m)) => status.1 = m,
            (3, Field::Varint(c)) => status.0 = c as u32,
            (2..=3, _) => return Err(malformed(WIRE)),
            _ => {}
        }
    }
    Ok(())
}

/// A length-delimited field with the one-byte key `key` at the start of
/// `b`, taken; `None` (and `b` untouched) for anything else, including a
/// truncated field, which the general reader then reports.
#[inline(always)]
fn take_len<'a>(b: &mut &'a [u8], key: u8) -> Option<&'a [u8]> {
    let [k, rest @ ..] = *b else {
        return None;
    };
    if *k != key {
        return None;
    }
    let mut r = rest;
    let len = usize::try_from(next_field_varint(&mut r)?).ok()?;
    if r.len() < len {
        return None;
    }
    let (head, tail) = r.split_at(len);
    *b = tail;
    Some(head)
}

/// A varint field with the one-byte key `key`, as [`take_len`].
#[inline(always)]
fn take_varint(b: &mut &[u8], key: u8) -> Option<u64> {
    let [k, rest @ ..] = *b else {
        return None;
    };
    if *k != key {
        return None;
    }
    let mut r = rest;
    let v = next_field_varint(&mut r)?;
    *b = r;
    Some(v)
}

/// A fixed64 field with the one-byte key `key`, as [`take_len`].
#[inline(always)]
fn take_fixed64(b: &mut &[u8], key: u8) -> Option<u64> {
    match *b {
        [k, v0, v1, v2, v3, v4, v5, v6, v7, ref tail @ ..] if *k == key => {
            *b = tail;
            Some(u64::from_le_bytes([*v0, *v1, *v2, *v3, *v4, *v5, *v6, *v7]))
        }
        _ => None,
    }
}

fn merge<'a>(blob: Blob<'a>, more: &'a [u8], concat: &mut Vec<u8>) -> Blob<'a> {
    let start = concat.len();
    match blob {
        Blob::Absent => return Blob::Slice(more),
        Blob::Slice(first) => concat.extend_from_slice(first),
        Blob::Concat(s, e) => concat.extend_from_within(s..e),
    }
    concat.extend_from_slice(more);
    Blob::Concat(start, concat.len())
}

/// A KeyValue in its usual shape (key, then at most one value), or `None`
/// for any other encoding, which the span then carries raw.
///
/// Inlined: returned through memory, the view is written and read back in
/// pieces of other widths, which stalls store forwarding.
#[inline(always)]
fn parse_kv(raw: &[u8]) -> Result<Option<Kv<'_>>, SrtError> {
    if let Some(kv) = parse_short_kv(raw) {
        return Ok(Some(kv));
    }
    parse_any_kv(raw)
}

/// Whether a KeyValue is in the usual shape, checking it either way (an
/// error if it is not well-formed).
#[inline(always)]
fn kv_usual(raw: &[u8]) -> Result<bool, SrtError> {
    if parse_short_kv(raw).is_some() {
        return Ok(true);
    }
    Ok(parse_any_kv(raw)?.is_some())
}

/// [`parse_kv`] without the short cut.
#[inline(never)]
fn parse_any_kv(raw: &[u8]) -> Result<Option<Kv<'_>>, SrtError> {
    let mut b = raw;
    let mut key: &[u8] = b"";
    if b.first() == Some(&0x0a) {
        match next_field(&mut b).map_err(malformed)? {
            (_, Field::Bytes(k)) => key = k,
            _ => return Err(malformed(WIRE)),
        }
    }
    let mut val = Val::Absent;
    if let Some(&first) = b.first() {
        if first != 0x12 {
            // Unknown fields, a repeated key or another order: still
            // checked, then carried raw.
            check_kv(raw, 0)?;
            return Ok(None);
        }
        let Ok((_, Field::Bytes(v))) = next_field(&mut b) else {
            return Err(malformed("truncated KeyValue"));
        };
        val = parse_any(v)?;
        if !b.is_empty() {
            check_kv(raw, 0)?;
            return Ok(None);
        }
    }
    Ok(Some(Kv { raw, key, val }))
}

/// The common KeyValue: key and value shorter than 128 bytes, the value
/// a string, bool, int or double, without going through `next_field`.
/// `None` for anything else (then parsed in full).
#[inline(always)]
fn parse_short_kv(raw: &[u8]) -> Option<Kv<'_>> {
    let [0x0a, klen, rest @ ..] = raw else {
        return None;
    };
    let klen = usize::from(*klen);
    if klen >= 0x80 || rest.len() < klen + 3 {
        return None;
    }
    let (key, rest) = rest.split_at(klen);
    let [0x12, vlen, tag, v @ ..] = rest else {
        return None;
    };
    // One-byte lengths only: a byte of 0x80 or more starts a longer varint.
    if *vlen >= 0x80 || usize::from(*vlen) != v.len() + 1 {
        return None;
    }
    let val = match (*tag, v) {
        (0x0a, [len, s @ ..]) if *len < 0x80 && usize::from(*len) == s.len() => Val::Str(s),
        (0x10, [b]) if *b < 0x80 => Val::Bool(*b != 0),
        (0x18, _) => {
            let mut b = v;
            let x = read_varint_exact(&mut b)?;
            Val::Int(x as i64)
        }
        (0x21, [..]) if v.len() == 8 => Val::Double(u64::from_le_bytes(v.try_into().ok()?)),
        _ => return None,
    };
    Some(Kv { raw, key, val })
}

/// A varint that is all of `b`.
#[inline]
fn read_varint_exact(b: &mut &[u8]) -> Option<u64> {
    match next_field_varint(b) {
        Some(x) if b.is_empty() => Some(x),
        _ => None,
    }
}

fn parse_any(v: &[u8]) -> Result<Val<'_>, SrtError> {
    let mut b = v;
    if b.is_empty() {
        return Ok(Val::Raw(v));
    }
    let field = next_field(&mut b).map_err(malformed)?;
    if !b.is_empty() {
        check_any(v, 0)?;
        return Ok(Val::Raw(v));
    }
    Ok(match field {
        (1, Field::Bytes(s)) => Val::Str(s),
        (2, Field::Varint(x)) => Val::Bool(x != 0),
        (3, Field::Varint(x)) => Val::Int(x as i64),
        (4, Field::Fixed64(x)) => Val::Double(x),
        (7, Field::Bytes(x)) => Val::Bytes(x),
        _ => {
            check_any(v, 0)?;
            Val::Raw(v)
        }
    })
}

/// Checks an AnyValue (and what it nests) is well-formed, as prost would.
fn check_any(v: &[u8], depth: usize) -> Result<(), SrtError> {
    if depth > format::MAX_VALUE_DEPTH {
        return Err(malformed("values nested too deep"));
    }
    let mut b = v;
    while !b.is_empty() {
        match next_field(&mut b).map_err(malformed)? {
            (1 | 7, Field::Bytes(_)) | (2 | 3, Field::Varint(_)) | (4, Field::Fixed64(_)) => {}
            (5, Field::Bytes(x)) => {
                let mut a = x;
                while !a.is_empty() {
                    match next_field(&mut a).map_err(malformed)? {
                        (1, Field::Bytes(item)) => check_any(item, depth + 1)?,
                        (1, _) => return Err(malformed(WIRE)),
                        _ => {}
                    }
                }
            }
            (6, Field::Bytes(x)) => {
                let mut a = x;
                while !a.is_empty() {
                    match next_field(&mut a).map_err(malformed)? {
                        (1, Field::Bytes(kv)) => check_kv(kv, depth + 1)?,
                        (1, _) => return Err(malformed(WIRE)),
                        _ => {}
                    }
                }
            }
            (1..=7, _) => return Err(malformed(WIRE)),
            _ => {}
        }
    }
    Ok(())
}

fn check_kv(kv: &[u8], depth: usize) -> Result<(), SrtError> {
    let mut b = kv;
    while !b.is_empty() {
        match next_field(&mut b).map_err(malformed)? {
            (1, Field::Bytes(_)) => {}
            (2, Field::Bytes(v)) => check_any(v, depth + 1)?,
            (1..=2, _) => return Err(malformed(WIRE)),
            _ => {}
        }
    }
    Ok(())
}

/// The columns of the frame being written.
#[derive(Default)]
struct Columns {
    cols: [Vec<u8>; col::COUNT],
}

impl Columns {
    fn clear(&mut self) {
        self.cols.iter_mut().for_each(Vec::clear);
    }
    #[inline]
    fn varint(&mut self, c: usize, value: u64) {
        put_varint(&mut self.cols[c], value);
    }
    #[inline]
    fn bytes(&mut self, c: usize, bytes: &[u8]) {
        self.cols[c].extend_from_slice(bytes);
    }
    /// Length in LEN, bytes in column `c`.
    #[inline]
    fn string(&mut self, c: usize, bytes: &[u8]) {
        put_varint(&mut self.cols[col::LEN], bytes.len() as u64);
        self.cols[c].extend_from_slice(bytes);
    }
}

/// Encodes OTLP trace export requests into SRT frames for one stream (one
/// receiver endpoint), keeping the dictionaries and span retrieval trees
/// that the receiver holds a copy of.
///
/// See the crate documentation for the protocol: call
/// [`acknowledge`](Self::acknowledge) when the receiver accepted a frame,
/// [`reject`](Self::reject) when it was lost or refused, and
/// [`reset_for`](Self::reset_for) when the receiver answered with a
/// resync error, then encode the request again.
pub struct SrtEncoder {
    config: SrtConfig,
    /// zstd contexts for the [`Pack::Fast`] and [`Pack::Text`] blocks,
    /// kept for reuse.
    compressors: Option<(Compressor, zstd::bulk::Compressor<'static>)>,
    /// zstd context for the text block with the previous text as
    /// dictionary, kept for reuse.
    dict_ctx: Option<zstd::zstd_safe::CCtx<'static>>,
    /// The current frame's text (see `format::HISTORY_TEXT`).
    text: Vec<u8>,
    stream: u64,
    generation: u32,
    next_seq: u64,
    /// The current frame's seq while encoding.
    seq: u64,
    state: State,
    /// Frames not yet acknowledged or rejected, with the entries each
    /// defined inline.
    in_flight: HashMap<u64, Vec<u32>>,
    in_flight_order: VecDeque<u64>,
    columns: Columns,
    defined: Vec<u32>,
    payload: Vec<u8>,
    compressed: Vec<u8>,
    concat: Vec<u8>,
    parsed: Parsed<'static>,
    frame_traces: FastMap<u128, u32>,
    frame_spans: FastMap<u64, u32>,
    new_traces: u32,
    parent_of: Vec<u32>,
    first_child: Vec<u32>,
    /// Spans of the frames before, by id and by parent id.
    history: SenderHistory,
    /// The current frame's spans for the history, by index.
    recs: Vec<Rec>,
    /// Per variable int slot: the frame seq and the value it last had.
    int_prev: Vec<(u64, i64)>,
    /// The index of the last place written to HIST and to SPAN_ID.
    prev_place: [u32; 2],
    /// The span the last in-frame span reference named.
    prev_target: Option<u32>,
}

impl std::fmt::Debug for SrtEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SrtEncoder")
            .field("stream", &format_args!("{:016x}", self.stream))
            .field("generation", &self.generation)
            .field("next_seq", &self.next_seq)
            .field("entries", &self.state.entries.len())
            .field("state_bytes", &self.state.bytes)
            .field("in_flight", &self.in_flight.len())
            .finish_non_exhaustive()
    }
}

/// A random stream id: the standard library's randomly keyed hasher over
/// the time and a process-wide counter, so that two encoders (also of two
/// processes started together) get different ids without a dependency.
fn random_stream_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    h.write_u128(now);
    h.write_u32(std::process::id());
    h.finish()
}

impl SrtEncoder {
    /// An encoder for a new stream, with a random stream id and empty state.
    pub fn new(config: SrtConfig) -> SrtEncoder {
        let compressors = zstd_compressors(config.level).ok();
        SrtEncoder {
            config,
            compressors,
            dict_ctx: None,
            stream: random_stream_id(),
            generation: 1,
            next_seq: 1,
            seq: 0,
            state: State::default(),
            in_flight: HashMap::new(),
            in_flight_order: VecDeque::new(),
            columns: Columns::default(),
            defined: Vec::new(),
            payload: Vec::new(),
            compressed: Vec::new(),
            concat: Vec::new(),
            parsed: Parsed::default(),
            frame_traces: FastMap::default(),
            frame_spans: FastMap::default(),
            new_traces: 0,
            parent_of: Vec::new(),
            first_child: Vec::new(),
            history: SenderHistory::new(random_stream_id()),
            recs: Vec::new(),
            text: Vec::new(),
            int_prev: Vec::new(),
            prev_place: [0; 2],
            prev_target: None,
        }
    }

    /// The stream id this encoder's frames carry.
    pub fn stream_id(&self) -> u64 {
        self.stream
    }

    /// The current generation of the stream's state.
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// The size of the dictionaries and trees, in bytes as both sides count
    /// them (entry bytes plus a fixed overhead per entry); a new generation
    /// starts once it passes [`SrtConfig::with_max_state_bytes`].
    pub fn state_bytes(&self) -> usize {
        self.state.bytes
    }

    /// Frames encoded and not yet acknowledged or rejected.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Encodes one `ExportTraceServiceRequest` given as OTLP protobuf bytes
    /// into `out` (cleared first) and returns the frame's id for
    /// [`acknowledge`](Self::acknowledge), [`reject`](Self::reject) and
    /// [`reset_for`](Self::reset_for).
    ///
    /// Fails with [`SrtError::Malformed`] when the bytes are not a
    /// well-formed trace request; the state is then as before the call.
    pub fn encode(&mut self, otlp_protobuf: &[u8], out: &mut Vec<u8>) -> Result<FrameId, SrtError> {
        out.clear();
        if self.state.bytes > self.config.max_state_bytes {
            self.new_generation();
        }
        self.concat.clear();
        let mut parsed: Parsed<'_> = recycle_parsed!(std::mem::take(&mut self.parsed));
        let result = parsed
            .request(otlp_protobuf, &mut self.concat)
            .and_then(|()| self.write_frame(&parsed, out));
        self.parsed = recycle_parsed!(parsed);
        if result.is_err() {
            out.clear();
        }
        result
    }

    fn write_frame(&mut self, p: &Parsed<'_>, out: &mut Vec<u8>) -> Result<FrameId, SrtError> {
        // Everything that can fail on the input failed in parsing; from here
        // the state only grows (a failure to grow it is an overflow of u32
        // ids, after which the next frame starts a new generation).
        if self.compressors.is_none() {
            self.compressors =
                Some(zstd_compressors(self.config.level).map_err(SrtError::Compression)?);
        }
        // A seq is used once even if the frame fails, so that entries marked
        // as defined by a frame never sent are not taken as defined later.
        self.seq = self.next_seq;
        self.next_seq += 1;
        self.columns.clear();
        self.defined.clear();
        self.frame_traces.clear();
        self.frame_spans.clear();
        self.new_traces = 0;
        self.prev_place = [0; 2];
        self.prev_target = None;
        (self.recs, self.text) = self.history.take_buffers();
        for (i, s) in p.spans.iter().enumerate() {
            if !s.escape && s.span_id.len() == 8 {
                let id = u64::from_le_bytes(s.span_id.try_into().unwrap_or_default());
                self.frame_spans.entry(id).or_insert(i as u32);
            }
        }
        // Each span's relative: its parent if that comes earlier in the
        // frame, else its first child that does (see the format doc).
        self.parent_of.clear();
        self.first_child.clear();
        self.first_child.resize(p.spans.len(), NONE);
        for (j, s) in p.spans.iter().enumerate() {
            let k = match <[u8; 8]>::try_from(s.parent) {
                Ok(raw) if !s.escape => self
                    .frame_spans
                    .get(&u64::from_le_bytes(raw))
                    .copied()
                    .unwrap_or(NONE),
                _ => NONE,
            };
            self.parent_of.push(k);
            if k != NONE && k as usize > j && self.first_child[k as usize] == NONE {
                self.first_child[k as usize] = j as u32;
            }
        }
        let encoded = self.write_columns(p);
        if let Err(e) = encoded {
            // Ids ran out: the entries made for this frame are in the state
            // but no frame refers to them; start over on the next call.
            self.new_generation();
            return Err(e);
        }
        self.defined.sort_unstable();
        for i in 0..self.defined.len() {
            let id = self.defined[i];
            self.write_definition(id);
        }
        out.extend_from_slice(&format::MAGIC);
        out.push(format::VERSION);
        out.extend_from_slice(&self.stream.to_le_bytes());
        out.extend_from_slice(&self.generation.to_le_bytes());
        out.extend_from_slice(&self.seq.to_le_bytes());
        // The payload is the columns, each after its length, cut into
        // blocks, each stored or compressed as its own zstd frame (whichever
        // is smaller).
        // The text block is compressed with the text of the newest frame
        // the receiver holds as dictionary: attribute values that vary too
        // much to be template slots (user agents, addresses, ids from a
        // pool, statements) mostly repeat from one request to the next.
        let (fast, text) = self.compressors.as_mut().ok_or(SrtError::StateOverflow)?;
        for (columns, pack) in BLOCKS {
            self.payload.clear();
            for c in &self.columns.cols[columns.clone()] {
                put_varint(&mut self.payload, c.len() as u64);
                self.payload.extend_from_slice(c);
            }
            if *pack == Pack::Text {
                self.text.extend_from_slice(&self.payload);
            }
            if *pack != Pack::Stored && self.payload.len() >= MIN_ZSTD_BLOCK {
                let mut back = None;
                if *pack == Pack::Fast {
                    fast.compress(&self.payload, &mut self.compressed)
                        .map_err(SrtError::Compression)?;
                } else {
                    self.compressed.clear();
                    self.compressed
                        .reserve(zstd::zstd_safe::compress_bound(self.payload.len()));
                    match self.history.text(self.seq) {
                        Some((b, prefix)) if !prefix.starts_with(&ZSTD_DICT_MAGIC) => {
                            // The previous text as a raw content dictionary,
                            // which zstd takes by reference for one call on
                            // a context kept across frames: the same frame
                            // as with the prefix below, without a new
                            // context (and its tables' memory) per frame.
                            // Text that begins as a zstd dictionary would be
                            // read as one, so it goes the other way.
                            back = Some(b);
                            let ctx = self
                                .dict_ctx
                                .get_or_insert_with(zstd::zstd_safe::CCtx::create);
                            ctx.compress_using_dict(
                                &mut self.compressed,
                                &self.payload[..],
                                prefix,
                                text_level(self.config.level),
                            )
                            .map_err(zstd_code)?;
                        }
                        Some((b, prefix)) => {
                            // A prefix costs nearly nothing to set up (a
                            // dictionary would build its own tables for
                            // each frame), but a context keeps the borrow,
                            // so it lives for this frame only.
                            back = Some(b);
                            let mut ctx = zstd::zstd_safe::CCtx::create();
                            ctx.set_parameter(zstd::zstd_safe::CParameter::CompressionLevel(
                                text_level(self.config.level),
                            ))
                            .map_err(zstd_code)?;
                            ctx.ref_prefix(prefix).map_err(zstd_code)?;
                            ctx.compress2(&mut self.compressed, &self.payload[..])
                                .map_err(zstd_code)?;
                        }
                        None => {
                            text.compress_to_buffer(&self.payload[..], &mut self.compressed)
                                .map_err(zstd_failed)?;
                        }
                    }
                }
                if self.compressed.len() < self.payload.len() {
                    match back {
                        Some(b) => {
                            out.push(format::block::ZSTD_TEXT);
                            put_varint(out, b);
                        }
                        None => out.push(format::block::ZSTD),
                    }
                    put_varint(out, self.compressed.len() as u64);
                    out.extend_from_slice(&self.compressed);
                    continue;
                }
            }
            out.push(format::block::STORED);
            put_varint(out, self.payload.len() as u64);
            out.extend_from_slice(&self.payload);
        }
        let (recs, text) = (
            std::mem::take(&mut self.recs),
            std::mem::take(&mut self.text),
        );
        self.history.push(self.seq, recs, text);
        let frame = FrameId {
            stream: self.stream,
            generation: self.generation,
            seq: self.seq,
        };
        if !self.defined.is_empty() {
            if self.in_flight.len() >= MAX_IN_FLIGHT {
                if let Some(oldest) = self.in_flight_order.pop_front() {
                    self.in_flight.remove(&oldest);
                }
            }
            self.in_flight
                .insert(self.seq, std::mem::take(&mut self.defined));
            self.in_flight_order.push_back(self.seq);
        }
        Ok(frame)
    }

    fn write_columns(&mut self, p: &Parsed<'_>) -> Result<(), SrtError> {
        let c = col::STRUCT;
        self.columns.varint(c, p.resources.len() as u64);
        let mut prev_start = 0u64;
        let mut index = 0u32;
        for r in &p.resources {
            let id = self.blob_ref(r.resource)?;
            self.columns.varint(c, u64::from(id));
            let id = self.schema_ref(r.schema)?;
            self.columns.varint(c, u64::from(id));
            let scopes = &p.scopes[r.scopes.0 as usize..r.scopes.1 as usize];
            self.columns.varint(c, scopes.len() as u64);
            for s in scopes {
                let id = self.blob_ref(s.scope)?;
                self.columns.varint(c, u64::from(id));
                let id = self.schema_ref(s.schema)?;
                self.columns.varint(c, u64::from(id));
                let spans = &p.spans[s.spans.0 as usize..s.spans.1 as usize];
                self.columns.varint(c, spans.len() as u64);
                for span in spans {
                    self.write_span(p, span, index, &mut prev_start)?;
                    index += 1;
                }
            }
        }
        Ok(())
    }

    fn blob_ref(&mut self, blob: Blob<'_>) -> Result<u32, SrtError> {
        let concat = std::mem::take(&mut self.concat);
        let bytes = match blob {
            Blob::Absent => {
                self.concat = concat;
                return Ok(0);
            }
            Blob::Slice(b) => b,
            Blob::Concat(s, e) => &concat[s..e],
        };
        let id = self.blob(bytes);
        self.concat = concat;
        id
    }

    fn schema_ref(&mut self, schema: &[u8]) -> Result<u32, SrtError> {
        if schema.is_empty() {
            Ok(0)
        } else {
            self.blob(schema)
        }
    }

    fn blob(&mut self, bytes: &[u8]) -> Result<u32, SrtError> {
        let h = hash_identity(kind::BLOB, 0, 0, bytes);
        let id = match self.state.find(h, kind::BLOB, 0, 0, bytes) {
            Some(id) => id,
            None => self.state.insert(h, kind::BLOB, 0, 0, bytes)?,
        };
        self.reference(id);
        Ok(id)
    }

    /// Notes that this frame refers to entry `id`: unless the receiver is
    /// known to hold it (or this frame already defines it), the frame
    /// defines it, and its ancestors likewise.
    fn reference(&mut self, mut id: u32) {
        while id != 0 {
            let e = &mut self.state.entries[id as usize - 1];
            if e.acked || e.defined_in == self.seq {
                return;
            }
            e.defined_in = self.seq;
            self.defined.push(id);
            id = if e.kind == kind::ROOT { 0 } else { e.parent };
        }
    }

    fn write_definition(&mut self, id: u32) {
        let e = self.state.entries[id as usize - 1];
        let data = &self.state.arena[e.start as usize..(e.start + e.len) as usize];
        let out = &mut self.columns.cols[col::DEFS];
        put_varint(out, u64::from(id));
        out.push(e.kind);
        match e.kind {
            kind::BLOB => {}
            kind::ROOT => {
                out.push(e.tag);
                put_varint(out, u64::from(e.parent));
            }
            kind::FIXED => put_varint(out, u64::from(e.parent)),
            _ => {
                put_varint(out, u64::from(e.parent));
                out.push(e.tag);
            }
        }
        put_varint(out, data.len() as u64);
        out.extend_from_slice(data);
    }

    fn trace_id(&mut self, id: &[u8]) {
        if let Ok(raw) = <[u8; 16]>::try_from(id) {
            let key = u128::from_le_bytes(raw);
            let next = self.new_traces;
            match self.frame_traces.get(&key) {
                Some(&at) => {
                    self.columns
                        .varint(col::TRACE, trace_ref::BACK + u64::from(next - 1 - at));
                }
                None => {
                    self.frame_traces.insert(key, next);
                    self.new_traces += 1;
                    match self.history.trace(key, self.seq) {
                        Some(place) => {
                            self.columns.varint(col::TRACE, trace_ref::HISTORY);
                            self.place(col::HIST, Some(place));
                        }
                        None => {
                            self.columns.varint(col::TRACE, trace_ref::NEW16);
                            self.columns.bytes(col::IDS, id);
                        }
                    }
                }
            }
        } else {
            self.new_traces += 1;
            self.columns.varint(col::TRACE, trace_ref::NEW_ODD);
            self.columns.varint(col::MISC, id.len() as u64);
            self.columns.bytes(col::IDS, id);
        }
    }

    /// Writes a span id reference; `in_frame`: the span of this frame with
    /// that id (`NONE` if none, as `parent_of`); `history`: the span of an
    /// earlier frame with that id, for a parent not in this frame.
    fn span_ref(&mut self, id: &[u8], index: u32, in_frame: u32, history: Option<Place>) {
        if id.is_empty() {
            self.columns.varint(col::PARENT, span_ref::EMPTY);
        } else if id.len() == 8 {
            match (in_frame != NONE).then_some(in_frame) {
                Some(at) => {
                    // Against the span the previous reference named (the
                    // current span for the first): siblings and spans of
                    // one group name nearby parents.
                    let base = self.prev_target.unwrap_or(index);
                    self.prev_target = Some(at);
                    let d = i64::from(at) - i64::from(base);
                    self.columns.varint(col::PARENT, span_ref::SPAN + zigzag(d));
                }
                None if history.is_some() => {
                    self.columns.varint(col::PARENT, span_ref::HISTORY);
                    self.place(col::HIST, history);
                }
                None => {
                    self.columns.varint(col::PARENT, span_ref::RAW8);
                    self.columns.bytes(col::IDS, id);
                }
            }
        } else {
            self.columns.varint(col::PARENT, span_ref::RAW_ODD);
            self.columns.varint(col::MISC, id.len() as u64);
            self.columns.bytes(col::IDS, id);
        }
    }

    /// A start or end delta: its low byte, near random for nanosecond
    /// clocks, apart from the rest, which zstd's entropy coder then finds
    /// more regular.
    fn time(&mut self, c: usize, delta: u64) {
        self.columns.bytes(col::TIME_LO, &[delta as u8]);
        self.columns.varint(c, delta >> 8);
    }

    /// Writes where a span of an earlier frame is: how far back, and its
    /// index as the difference from the previous place's in the column
    /// (spans that refer back often do so in order).
    fn place(&mut self, c: usize, place: Option<Place>) {
        if let Some(p) = place {
            let prev = &mut self.prev_place[usize::from(c == col::SPAN_ID)];
            let d = i64::from(p.index) - i64::from(*prev);
            *prev = p.index;
            self.columns.varint(c, p.back);
            self.columns.varint(c, zigzag(d));
        }
    }

    fn write_span(
        &mut self,
        p: &Parsed<'_>,
        s: &SpanV<'_>,
        index: u32,
        prev_start: &mut u64,
    ) -> Result<(), SrtError> {
        self.recs.push(Rec::of(
            s.escape, s.span_id, s.parent, s.trace_id, s.start, s.end,
        ));
        if s.escape {
            self.columns.bytes(col::FLAGS, &[flag::RAW]);
            self.columns.string(col::RAW, s.raw);
            return Ok(());
        }
        let mut flags = 0u8;
        if !s.trace_state.is_empty() {
            flags |= flag::TRACE_STATE;
        }
        if s.status.is_some() {
            flags |= flag::STATUS;
        }
        if s.events.1 > s.events.0 {
            flags |= flag::EVENTS;
        }
        if s.links.1 > s.links.0 {
            flags |= flag::LINKS;
        }
        if (s.dropped_attrs | s.dropped_events | s.dropped_links) != 0 {
            flags |= flag::DROPPED;
        }
        if s.flags != 0 {
            flags |= flag::FLAGS;
        }
        let i = index as usize;
        // The span's relatives in earlier frames: its parent when that is
        // not in this frame, and a span that named it as its parent.
        let in_frame = self.parent_of[i] != NONE;
        let hist_parent = match <[u8; 8]>::try_from(s.parent) {
            Ok(raw) if !in_frame => self.history.span(u64::from_le_bytes(raw), self.seq),
            _ => None,
        }
        .map(|(place, r)| (place, *r));
        let hist_child = match <[u8; 8]>::try_from(s.span_id) {
            Ok(raw) => self.history.child(u64::from_le_bytes(raw), self.seq),
            _ => None,
        }
        .map(|(place, r)| (place, *r));
        if let Some((place, _)) = hist_child {
            flags |= flag::SPAN_ID_CODE;
            self.columns.varint(col::SPAN_ID, span_id_code::CHILD);
            self.place(col::SPAN_ID, Some(place));
        } else if s.span_id.len() != 8 {
            flags |= flag::SPAN_ID_CODE;
            self.columns
                .varint(col::SPAN_ID, 2 * s.span_id.len() as u64);
            self.columns.bytes(col::SPAN_ID, s.span_id);
        } else {
            self.columns.bytes(col::SPAN_ID, s.span_id);
        }
        self.columns.bytes(col::FLAGS, &[flags]);
        // STR holds the trace state before the attributes' values, as the
        // decoder reads them.
        if flags & flag::TRACE_STATE != 0 {
            self.columns.string(col::STR, s.trace_state);
        }
        let leaf = self.walk(
            domain::SPAN,
            s.kind,
            s.name,
            &p.kvs[s.attrs.0 as usize..s.attrs.1 as usize],
        )?;
        self.columns.varint(col::NODE, u64::from(leaf));
        // `parent_of` holds the parent's place in this frame: no need to
        // look its id up again.
        self.span_ref(
            s.parent,
            index,
            self.parent_of[i],
            hist_parent.map(|(place, _)| place),
        );
        // The relative (see the format doc): the parent if it came
        // earlier in this frame or in an earlier frame, else the first
        // child in this frame, else a child in an earlier frame.
        let relative = match self.parent_of[i] {
            k if k != NONE && k < index => Some(Relative::span(&p.spans[k as usize], false)),
            _ => match (&hist_parent, self.first_child[i], &hist_child) {
                (Some((_, r)), _, _) => Some(Relative::rec(r, false)),
                (None, j, _) if j != NONE => Some(Relative::span(&p.spans[j as usize], true)),
                (None, _, Some((_, r))) => Some(Relative::rec(r, true)),
                _ => None,
            },
        };
        match relative {
            Some(r) if r.trace_id == s.trace_id => {
                self.columns.varint(col::TRACE, trace_ref::RELATIVE)
            }
            _ => self.trace_id(s.trace_id),
        }
        let base = relative.map_or(*prev_start, |r| r.start);
        self.time(col::START, zigzag(s.start.wrapping_sub(base) as i64));
        *prev_start = s.start;
        // A span ends soon after its child that ended first; otherwise
        // its duration is what is known.
        let end_base = match relative {
            Some(r) if r.child => r.end,
            _ => s.start,
        };
        self.time(col::DURATION, zigzag(s.end.wrapping_sub(end_base) as i64));
        if flags & flag::DROPPED != 0 {
            self.columns.varint(col::MISC, u64::from(s.dropped_attrs));
            self.columns.varint(col::MISC, u64::from(s.dropped_events));
            self.columns.varint(col::MISC, u64::from(s.dropped_links));
        }
        if flags & flag::EVENTS != 0 {
            let events = &p.events[s.events.0 as usize..s.events.1 as usize];
            self.columns.varint(col::MISC, events.len() as u64);
            for e in events {
                self.columns
                    .varint(col::EVENT_TIME, zigzag(e.time.wrapping_sub(s.start) as i64));
                let leaf = self.walk(
                    domain::EVENT,
                    0,
                    e.name,
                    &p.kvs[e.attrs.0 as usize..e.attrs.1 as usize],
                )?;
                self.columns.varint(col::NODE, u64::from(leaf));
                self.columns.varint(col::MISC, u64::from(e.dropped));
            }
        }
        if flags & flag::LINKS != 0 {
            let links = &p.links[s.links.0 as usize..s.links.1 as usize];
            self.columns.varint(col::MISC, links.len() as u64);
            for l in links {
                self.trace_id(l.trace_id);
                let at = match <[u8; 8]>::try_from(l.span_id) {
                    Ok(raw) => self
                        .frame_spans
                        .get(&u64::from_le_bytes(raw))
                        .copied()
                        .unwrap_or(NONE),
                    Err(_) => NONE,
                };
                self.span_ref(l.span_id, index, at, None);
                self.columns.string(col::STR, l.trace_state);
                let leaf = self.walk(
                    domain::LINK,
                    0,
                    b"",
                    &p.kvs[l.attrs.0 as usize..l.attrs.1 as usize],
                )?;
                self.columns.varint(col::NODE, u64::from(leaf));
                self.columns.varint(col::MISC, u64::from(l.dropped));
                self.columns.varint(col::MISC, u64::from(l.flags));
            }
        }
        if let Some((code, message)) = s.status {
            self.columns.varint(col::STATUS, u64::from(code));
            self.columns.string(col::STR, message);
        }
        if flags & flag::FLAGS != 0 {
            self.columns.varint(col::MISC, u64::from(s.flags));
        }
        Ok(())
    }

    /// Finds (or grows) the path of `kvs` in the tree of `name` and writes
    /// the values of its variable slots; returns the leaf node.
    fn walk(
        &mut self,
        dom: u8,
        span_kind: u32,
        name: &[u8],
        kvs: &[&[u8]],
    ) -> Result<u32, SrtError> {
        // A root is a name with its span kind (kept in `parent`): a span
        // name nearly always comes with one kind, so the kind costs nothing.
        let h = hash_identity(kind::ROOT, dom, span_kind, name);
        let root = match self.state.find(h, kind::ROOT, dom, span_kind, name) {
            Some(id) => id,
            None => self.state.insert(h, kind::ROOT, dom, span_kind, name)?,
        };
        let mut node = root;
        for kv in kvs {
            node = self.child(root, node, kv)?;
        }
        self.reference(node);
        Ok(node)
    }

    fn child(&mut self, root: u32, parent: u32, raw: &[u8]) -> Result<u32, SrtError> {
        let last = self.state.last_child[parent as usize];
        // The same attribute as the last span of this path took: its bytes
        // are the fixed child's, no need to read them.
        let last_fixed = last != 0 && {
            let e = &self.state.entries[last as usize - 1];
            e.kind == kind::FIXED && bytes_eq(self.state.data(e), raw)
        };
        if last_fixed {
            return Ok(last);
        }
        // Checked when the request was read; `None` cannot happen.
        let kv = parse_kv(raw)?.ok_or(malformed("KeyValue changed shape"))?;
        if last != 0 {
            let e = &self.state.entries[last as usize - 1];
            if e.kind == kind::VAR && e.tag == kv.val.ty() && bytes_eq(self.state.data(e), kv.key) {
                self.write_value(last, kv.val);
                return Ok(last);
            }
        }
        let id = self.find_child(root, parent, &kv)?;
        self.state.last_child[parent as usize] = id;
        Ok(id)
    }

    fn find_child(&mut self, root: u32, parent: u32, kv: &Kv<'_>) -> Result<u32, SrtError> {
        let hf = hash_identity(kind::FIXED, 0, parent, kv.raw);
        if let Some(id) = self.state.find(hf, kind::FIXED, 0, parent, kv.raw) {
            return Ok(id);
        }
        let t = kv.val.ty();
        let hv = hash_identity(kind::VAR, t, parent, kv.key);
        if let Some(id) = self.state.find(hv, kind::VAR, t, parent, kv.key) {
            self.write_value(id, kv.val);
            return Ok(id);
        }
        // A new slot: fixed while the key has shown few distinct values in
        // this tree, variable once it has shown more.
        let limit = self.config.max_fixed_values;
        let th = hash_pair(u64::from(root), kv.key);
        // The key is the same for the whole tracker, so distinct KeyValue
        // bytes are distinct values.
        let value_hash = hash_pair(0, kv.raw);
        let tracker = match self.state.trackers.entry(th) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                self.state.bytes += TRACKER_BYTES;
                v.insert(Tracker::default())
            }
        };
        if !tracker.variable && !tracker.seen.contains(&value_hash) {
            if tracker.seen.len() < limit {
                tracker.seen.push(value_hash);
                self.state.bytes += 8;
            } else {
                tracker.variable = true;
                self.state.bytes -= 8 * tracker.seen.len();
                tracker.seen = Vec::new();
            }
        }
        if tracker.variable {
            let id = self.state.insert(hv, kind::VAR, t, parent, kv.key)?;
            self.write_value(id, kv.val);
            Ok(id)
        } else {
            self.state.insert(hf, kind::FIXED, 0, parent, kv.raw)
        }
    }

    /// Writes the value of variable slot `node`.
    fn write_value(&mut self, node: u32, v: Val<'_>) {
        match v {
            Val::Absent => {}
            Val::Str(s) | Val::Bytes(s) => self.columns.string(col::STR, s),
            Val::Bool(b) => self.columns.bytes(col::BOOL, &[u8::from(b)]),
            Val::Int(i) => {
                // As the difference from the slot's previous value in the
                // frame: ports, sizes and counters move by little.
                let n = node as usize;
                if self.int_prev.len() <= n {
                    self.int_prev.resize(n + 1, (0, 0));
                }
                let prev = match self.int_prev[n] {
                    (seq, prev) if seq == self.seq => prev,
                    _ => 0,
                };
                self.int_prev[n] = (self.seq, i);
                self.columns.varint(col::INT, zigzag(i.wrapping_sub(prev)));
            }
            Val::Double(bits) => self.columns.bytes(col::DOUBLE, &bits.to_le_bytes()),
            Val::Raw(r) => self.columns.string(col::RAW, r),
        }
    }

    /// The receiver accepted `frame`: the entries it defined may now be
    /// referred to without defining them again. Frames of an older
    /// generation, or already forgotten, are ignored.
    pub fn acknowledge(&mut self, frame: FrameId) {
        if !self.owns(frame) {
            return;
        }
        self.history.acknowledge(frame.seq);
        if let Some(ids) = self.in_flight.remove(&frame.seq) {
            for id in ids {
                if let Some(e) = self.state.entries.get_mut(id as usize - 1) {
                    e.acked = true;
                }
            }
        }
    }

    /// `frame` was lost, timed out or refused: forget it. The entries it
    /// defined are defined again by the frames that use them until one of
    /// those is acknowledged.
    pub fn reject(&mut self, frame: FrameId) {
        if self.owns(frame) {
            self.in_flight.remove(&frame.seq);
        }
    }

    /// The receiver answered `frame` with a resync error: start a new
    /// generation (empty state), unless `frame` is from a generation that
    /// was already replaced (then the newer one stands). Encode the request
    /// again afterwards.
    pub fn reset_for(&mut self, frame: FrameId) {
        if frame.stream == self.stream && frame.generation == self.generation {
            self.new_generation();
        }
    }

    /// Starts a new generation now (empty state), e.g. on reconnecting to a
    /// receiver that may not hold the old one.
    pub fn reset(&mut self) {
        self.new_generation();
    }

    fn owns(&self, frame: FrameId) -> bool {
        frame.stream == self.stream && frame.generation == self.generation
    }

    fn new_generation(&mut self) {
        self.state.clear();
        self.history.clear();
        self.in_flight.clear();
        self.in_flight_order.clear();
        match self.generation.checked_add(1) {
            Some(g) => self.generation = g,
            None => {
                // 4 billion generations: continue as a new stream.
                self.stream = random_stream_id();
                self.generation = 1;
            }
        }
    }
}

fn zstd_compressors(
    level: i32,
) -> Result<(Compressor, zstd::bulk::Compressor<'static>), otlp_compression::CompressionError> {
    Compression::zstd().with_level(level)?;
    let text =
        zstd::bulk::Compressor::new(text_level(level)).map_err(|e| CompressionError::Failed {
            algorithm: Algorithm::Zstd,
            source: Box::new(e),
        })?;
    Ok((
        Compressor::new(Compression::zstd().with_level(FAST_LEVEL.min(level))?)?,
        text,
    ))
}

fn zstd_code(code: usize) -> SrtError {
    SrtError::Compression(CompressionError::Failed {
        algorithm: Algorithm::Zstd,
        source: zstd::zstd_safe::get_error_name(code).into(),
    })
}

fn zstd_failed(e: std::io::Error) -> SrtError {
    SrtError::Compression(CompressionError::Failed {
        algorithm: Algorithm::Zstd,
        source: Box::new(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bytes_eq_is_slice_equality() {
        let a: Vec<u8> = (0..40u8).collect();
        for n in 0..a.len() {
            let mut b = a[..n].to_vec();
            assert!(bytes_eq(&a[..n], &b), "{n}");
            for i in 0..n {
                b[i] ^= 0x80;
                assert!(!bytes_eq(&a[..n], &b), "{n} {i}");
                b[i] ^= 0x80;
            }
            assert!(!bytes_eq(&a[..n], &a[..n + 1]));
        }
    }

    fn same(a: &Kv<'_>, b: &Kv<'_>) -> bool {
        let val = match (a.val, b.val) {
            (Val::Absent, Val::Absent) => true,
            (Val::Str(x), Val::Str(y)) | (Val::Bytes(x), Val::Bytes(y)) => x == y,
            (Val::Raw(x), Val::Raw(y)) => x == y,
            (Val::Bool(x), Val::Bool(y)) => x == y,
            (Val::Int(x), Val::Int(y)) => x == y,
            (Val::Double(x), Val::Double(y)) => x == y,
            _ => false,
        };
        val && a.key == b.key && a.raw == b.raw
    }

    proptest! {
        /// The short cut reads a KeyValue as the general reader does, on
        /// well-formed KeyValues and on any bytes.
        #[test]
        fn short_keyvalues_read_as_the_general_reader_does(
            key in proptest::collection::vec(any::<u8>(), 0..140),
            tag in prop::sample::select(vec![0x0au8, 0x10, 0x18, 0x21, 0x3a, 0x2a]),
            value in proptest::collection::vec(any::<u8>(), 0..140),
            noise in proptest::collection::vec(any::<u8>(), 0..24),
        ) {
            let mut kv = vec![0x0a];
            put_varint(&mut kv, key.len() as u64);
            kv.extend_from_slice(&key);
            let mut any = vec![tag];
            if matches!(tag, 0x0a | 0x3a | 0x2a) {
                put_varint(&mut any, value.len() as u64);
            }
            any.extend_from_slice(&value);
            kv.push(0x12);
            put_varint(&mut kv, any.len() as u64);
            kv.extend_from_slice(&any);
            for raw in [&kv[..], &noise[..]] {
                if let Some(short) = parse_short_kv(raw) {
                    let general = parse_any_kv(raw);
                    prop_assert!(
                        matches!(&general, Ok(Some(g)) if same(&short, g)),
                        "{raw:?}: {short:?} vs {general:?}"
                    );
                }
            }
        }
    }
}

//! The receiver side: SRT frames back to OTLP protobuf trace requests.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use otlp_compression::{DecompressError, Decompressor, Encoding};

use crate::format::{
    self, block, col, domain, flag, kind, span_id_code, span_ref, trace_ref, ty, ENTRY_OVERHEAD,
    HEADER_LEN, HISTORY_FRAMES, HISTORY_SPANS, HISTORY_TEXT, MAX_DEPTH,
};
use crate::history::{Kept, KeptFrame, Rec};
use crate::wire::{close, open, put_bytes_field, put_varint, unzigzag, varint_len, Reader};
use crate::{FrameId, ResyncReason, SrtDecodeError, SrtLimits};

type FastMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

/// Decompression states and payload buffers kept for reuse.
const POOL: usize = 8;

/// A decompression state and buffers, kept for reuse.
#[derive(Default)]
struct Buffers {
    decompressor: Decompressor,
    /// The payload: the blocks' contents, concatenated.
    payload: Vec<u8>,
    /// One zstd block, decompressed.
    block: Vec<u8>,
    /// A zstd context for the blocks compressed with a dictionary.
    text: Option<zstd::bulk::Decompressor<'static>>,
}

impl std::fmt::Debug for Buffers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Buffers").finish_non_exhaustive()
    }
}

fn corrupt_zstd(e: std::io::Error) -> SrtDecodeError {
    SrtDecodeError::Corrupt(DecompressError::Corrupt {
        encoding: Encoding::Zstd,
        source: Box::new(e),
    })
}

/// What is kept of frame `seq - back`, which frame `seq` refers to.
fn kept(
    window: &[(u64, Arc<KeptFrame>)],
    seq: u64,
    back: u64,
    missing: Option<ResyncReason>,
) -> Result<&KeptFrame, SrtDecodeError> {
    if !(1..=HISTORY_FRAMES).contains(&back) || back > seq {
        return Err(bad("reference to a frame out of range"));
    }
    let at = seq - back;
    match window.binary_search_by_key(&at, |(s, _)| *s) {
        Ok(i) => Ok(&window[i].1),
        Err(_) => Err(SrtDecodeError::Resync {
            reason: missing.unwrap_or(ResyncReason::UnknownFrame { seq: at }),
        }),
    }
}

/// What a decoded frame held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Decoded {
    /// Spans in the request.
    pub spans: usize,
    /// The frame's stream, generation and sequence number.
    pub frame: FrameId,
    /// Entries the frame defined that this receiver did not hold yet.
    pub new_entries: usize,
}

/// One dictionary entry as the receiver holds it.
#[derive(Debug)]
struct Held {
    kind: u8,
    tag: u8,
    domain: u8,
    depth: u16,
    parent: u32,
    data: Box<[u8]>,
}

/// An entry as a frame refers to it, held or defined by the frame.
#[derive(Clone, Copy, Debug)]
struct Ent<'x> {
    kind: u8,
    tag: u8,
    domain: u8,
    depth: u16,
    parent: u32,
    data: &'x [u8],
}

impl Ent<'_> {
    fn same(&self, other: &Ent<'_>) -> bool {
        self.kind == other.kind
            && self.tag == other.tag
            && self.parent == other.parent
            && self.data == other.data
    }
}

/// A definition in a frame.
#[derive(Clone, Copy, Debug)]
struct Def<'p> {
    id: u32,
    ent: Ent<'p>,
}

/// The state of one generation of one stream.
#[derive(Debug)]
struct GenState {
    generation: u32,
    entries: RwLock<FastMap<u32, Held>>,
    bytes: AtomicUsize,
    /// Spans of the frames decoded last, for later frames to refer to.
    history: Mutex<Kept>,
    /// What `history` holds, in bytes (counted towards the total limit).
    history_bytes: AtomicUsize,
}

impl GenState {
    fn new(generation: u32) -> Self {
        GenState {
            generation,
            entries: RwLock::new(FastMap::default()),
            bytes: AtomicUsize::new(0),
            history: Mutex::new(Kept::default()),
            history_bytes: AtomicUsize::new(0),
        }
    }

    /// All it holds, as the total limit counts it.
    fn total_bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed) + self.history_bytes.load(Ordering::Relaxed)
    }
}

#[derive(Debug)]
struct Slot {
    state: Arc<GenState>,
    last_used: u64,
}

/// Decodes SRT frames of any number of streams: one per receiver, shared
/// by all its connections (`Send + Sync`, [`decode`](Self::decode) takes
/// `&self`). Frames of one stream may be decoded concurrently and in any
/// order.
///
/// State is bounded by [`SrtLimits`]: per stream, in all and in streams;
/// a stream dropped to stay within them gets a resync for its next frame
/// that needs the dropped state.
#[derive(Debug)]
pub struct SrtDecoder {
    limits: SrtLimits,
    streams: Mutex<HashMap<u64, Slot>>,
    clock: AtomicU64,
    pool: Mutex<Vec<Buffers>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn bad(reason: &'static str) -> SrtDecodeError {
    SrtDecodeError::Malformed(reason)
}

impl SrtDecoder {
    /// A decoder holding no streams.
    pub fn new(limits: SrtLimits) -> SrtDecoder {
        SrtDecoder {
            limits,
            streams: Mutex::new(HashMap::new()),
            clock: AtomicU64::new(0),
            pool: Mutex::new(Vec::new()),
        }
    }

    /// Streams held.
    pub fn streams(&self) -> usize {
        lock(&self.streams).len()
    }

    /// State held for all streams, in bytes as the limits count them.
    pub fn state_bytes(&self) -> usize {
        lock(&self.streams)
            .values()
            .map(|s| s.state.total_bytes())
            .sum()
    }

    /// Decodes a frame into the OTLP protobuf bytes of an
    /// `ExportTraceServiceRequest`, written to `out` (cleared first),
    /// failing with [`SrtDecodeError::TooLarge`] past `max_output` bytes.
    ///
    /// The frame's definitions are kept for later frames only if it
    /// decodes. On error `out` is left empty and the state as it was
    /// (except that a stream may be dropped, see [`ResyncReason`]).
    pub fn decode(
        &self,
        frame: &[u8],
        max_output: usize,
        out: &mut Vec<u8>,
    ) -> Result<Decoded, SrtDecodeError> {
        out.clear();
        let mut buffers = lock(&self.pool).pop().unwrap_or_default();
        let result = self.decode_with(frame, max_output, out, &mut buffers);
        if result.is_err() {
            out.clear();
        }
        if buffers.payload.capacity() > 4 << 20 {
            buffers.payload = Vec::new();
        }
        if buffers.block.capacity() > 4 << 20 {
            buffers.block = Vec::new();
        }
        let mut pool = lock(&self.pool);
        if pool.len() < POOL {
            pool.push(buffers);
        }
        result
    }

    fn decode_with(
        &self,
        frame: &[u8],
        max_output: usize,
        out: &mut Vec<u8>,
        buffers: &mut Buffers,
    ) -> Result<Decoded, SrtDecodeError> {
        if frame.len() < HEADER_LEN || frame[..3] != format::MAGIC {
            return Err(bad("not an SRT frame"));
        }
        if frame[3] != format::VERSION {
            return Err(SrtDecodeError::UnsupportedVersion { version: frame[3] });
        }
        let mut header = Reader::new(&frame[4..HEADER_LEN]);
        let stream = header.u64_le().map_err(bad)?;
        let generation = {
            let raw = header.take(4).map_err(bad)?;
            u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]])
        };
        let seq = header.u64_le().map_err(bad)?;
        let id = FrameId {
            stream,
            generation,
            seq,
        };
        // Which state the frame is decoded against.
        let held = {
            let mut streams = lock(&self.streams);
            let now = self.clock.fetch_add(1, Ordering::Relaxed);
            streams.get_mut(&stream).map(|slot| {
                slot.last_used = now;
                slot.state.clone()
            })
        };
        let (state, fresh, missing) = match held {
            Some(s) if s.generation == generation => (s, false, None),
            Some(s) if s.generation > generation => {
                return Err(SrtDecodeError::Resync {
                    reason: ResyncReason::StaleGeneration,
                })
            }
            Some(_) => (
                Arc::new(GenState::new(generation)),
                true,
                Some(ResyncReason::UnknownGeneration),
            ),
            None => (
                Arc::new(GenState::new(generation)),
                true,
                Some(ResyncReason::UnknownStream),
            ),
        };
        // The kept frames this one may refer to (spans, dictionaries).
        let window = lock(&state.history).window(seq);
        let payload = &mut buffers.payload;
        payload.clear();
        let limit = self.limits.max_payload_bytes;
        let mut blocks = Reader::new(&frame[HEADER_LEN..]);
        while !blocks.is_empty() {
            let mode = blocks.byte().map_err(bad)?;
            let back = if mode == block::ZSTD_TEXT {
                blocks.varint().map_err(bad)?
            } else {
                0
            };
            let bytes = blocks.prefixed().map_err(bad)?;
            let room = limit - payload.len();
            match mode {
                block::STORED if bytes.len() > room => {
                    return Err(SrtDecodeError::TooLarge { limit })
                }
                block::STORED => payload.extend_from_slice(bytes),
                block::ZSTD => {
                    buffers
                        .decompressor
                        .decompress(Encoding::Zstd, bytes, room, &mut buffers.block)
                        .map_err(|e| match e {
                            DecompressError::TooLarge { .. } => SrtDecodeError::TooLarge { limit },
                            e => SrtDecodeError::Corrupt(e),
                        })?;
                    payload.extend_from_slice(&buffers.block);
                }
                block::ZSTD_TEXT => {
                    let dictionary = &kept(&window, seq, back, missing)?.text;
                    if dictionary.is_empty() {
                        return Err(bad("dictionary of a frame whose text is not kept"));
                    }
                    let size = match zstd::zstd_safe::get_frame_content_size(bytes) {
                        Ok(Some(n)) => usize::try_from(n).unwrap_or(usize::MAX),
                        _ => return Err(bad("zstd block without its content size")),
                    };
                    if size > room {
                        return Err(SrtDecodeError::TooLarge { limit });
                    }
                    let block = &mut buffers.block;
                    block.clear();
                    block.reserve_exact(size);
                    let text = match &mut buffers.text {
                        Some(t) => t,
                        None => buffers
                            .text
                            .insert(zstd::bulk::Decompressor::new().map_err(corrupt_zstd)?),
                    };
                    text.set_dictionary(dictionary).map_err(corrupt_zstd)?;
                    text.decompress_to_buffer(bytes, block)
                        .map_err(corrupt_zstd)?;
                    if block.len() != size {
                        return Err(bad("zstd block shorter than its content size"));
                    }
                    payload.extend_from_slice(block);
                }
                _ => return Err(bad("unknown block mode")),
            }
        }
        let mut p = Reader::new(payload);
        let mut cols = [Reader::default(); col::COUNT];
        for c in &mut cols {
            *c = Reader::new(p.prefixed().map_err(bad)?);
        }
        if !p.is_empty() {
            return Err(bad("bytes after the last column"));
        }
        // The frame's text, kept as a dictionary for later frames.
        let mut text = Vec::new();
        for c in [col::DEFS, col::STR] {
            let bytes = cols[c].rest();
            cols[c] = Reader::new(bytes);
            if text.len() <= HISTORY_TEXT {
                put_varint(&mut text, bytes.len() as u64);
                text.extend_from_slice(bytes);
            }
        }
        let mut defs = parse_defs(cols[col::DEFS].rest())?;

        let defined: usize = defs.iter().map(|d| d.ent.data.len() + ENTRY_OVERHEAD).sum();
        if state.bytes.load(Ordering::Relaxed).saturating_add(defined)
            > self.limits.max_stream_state_bytes
        {
            let mut streams = lock(&self.streams);
            if streams
                .get(&stream)
                .is_some_and(|s| Arc::ptr_eq(&s.state, &state))
            {
                streams.remove(&stream);
            }
            return Err(SrtDecodeError::Resync {
                reason: ResyncReason::StateLimit,
            });
        }

        let (spans, recs) = {
            let entries = state.entries.read().unwrap_or_else(PoisonError::into_inner);
            validate_defs(&mut defs, &entries, missing)?;
            let mut body = Body {
                defs: &defs,
                held: &entries,
                missing,
                seq,
                window: &window,
                cols,
                out,
                max_output,
                path: Vec::new(),
                ints: FastMap::default(),
                prev_place: [0; 2],
                prev_target: None,
                span_ids: Vec::new(),
                hist_child: Vec::new(),
                traces: Vec::new(),
                starts: Vec::new(),
                ends: Vec::new(),
                trace_ids: Vec::new(),
                parents: Vec::new(),
                first_child: Vec::new(),
            };
            let spans = body.request()?;
            (spans, body.records())
        };

        let new_entries = self.commit(id, state, fresh, &defs, recs, text)?;
        Ok(Decoded {
            spans,
            frame: id,
            new_entries,
        })
    }

    /// Keeps the frame's definitions, spans and text for later frames of
    /// its generation.
    fn commit(
        &self,
        frame: FrameId,
        state: Arc<GenState>,
        fresh: bool,
        defs: &[Def<'_>],
        recs: Vec<Rec>,
        text: Vec<u8>,
    ) -> Result<usize, SrtDecodeError> {
        let FrameId {
            stream,
            generation,
            seq,
        } = frame;
        let target = {
            let mut streams = lock(&self.streams);
            let now = self.clock.fetch_add(1, Ordering::Relaxed);
            match streams.get_mut(&stream) {
                Some(slot) if slot.state.generation == generation => {
                    slot.last_used = now;
                    Some(slot.state.clone())
                }
                // A newer generation came meanwhile: this one is done.
                Some(slot) if slot.state.generation > generation => None,
                Some(slot) if fresh => {
                    slot.state = state.clone();
                    slot.last_used = now;
                    Some(state)
                }
                // The stream's state was replaced while this frame decoded
                // against an older one: nothing to add to.
                Some(_) => None,
                None if fresh || !defs.is_empty() => {
                    streams.insert(
                        stream,
                        Slot {
                            state: state.clone(),
                            last_used: now,
                        },
                    );
                    Some(state)
                }
                None => None,
            }
        };
        let Some(target) = target else {
            return Ok(0);
        };
        let mut added = 0;
        if !defs.is_empty() {
            let mut entries = target
                .entries
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            let mut bytes = 0;
            for d in defs {
                match entries.get(&d.id) {
                    Some(h) => {
                        if !held_ent(h).same(&d.ent) {
                            return Err(bad("an entry is redefined with another value"));
                        }
                    }
                    None => {
                        entries.insert(
                            d.id,
                            Held {
                                kind: d.ent.kind,
                                tag: d.ent.tag,
                                domain: d.ent.domain,
                                depth: d.ent.depth,
                                parent: d.ent.parent,
                                data: d.ent.data.into(),
                            },
                        );
                        bytes += d.ent.data.len() + ENTRY_OVERHEAD;
                        added += 1;
                    }
                }
            }
            target.bytes.fetch_add(bytes, Ordering::Relaxed);
        }
        let change = lock(&target.history).insert(seq, recs, text);
        if change >= 0 {
            target
                .history_bytes
                .fetch_add(change.unsigned_abs(), Ordering::Relaxed);
        } else {
            target
                .history_bytes
                .fetch_sub(change.unsigned_abs(), Ordering::Relaxed);
        }
        self.evict(stream);
        Ok(added)
    }

    /// Drops the least recently used streams (other than `current` while
    /// others remain) until within the limits.
    fn evict(&self, current: u64) {
        let mut streams = lock(&self.streams);
        loop {
            let total: usize = streams.values().map(|s| s.state.total_bytes()).sum();
            if streams.len() <= self.limits.max_streams
                && total <= self.limits.max_total_state_bytes
            {
                return;
            }
            let victim = streams
                .iter()
                .filter(|(id, _)| **id != current || streams.len() == 1)
                .min_by_key(|(_, s)| s.last_used)
                .map(|(id, _)| *id);
            match victim {
                Some(id) => {
                    streams.remove(&id);
                }
                None => return,
            }
        }
    }
}

fn held_ent(h: &Held) -> Ent<'_> {
    Ent {
        kind: h.kind,
        tag: h.tag,
        domain: h.domain,
        depth: h.depth,
        parent: h.parent,
        data: &h.data,
    }
}

fn parse_defs(defs: &[u8]) -> Result<Vec<Def<'_>>, SrtDecodeError> {
    let mut r = Reader::new(defs);
    let mut defs: Vec<Def<'_>> = Vec::new();
    while !r.is_empty() {
        let id = r.u32().map_err(bad)?;
        if id == 0 || defs.last().is_some_and(|d| d.id >= id) {
            return Err(bad("definitions not in ascending id order"));
        }
        let k = r.byte().map_err(bad)?;
        let (tag, parent) = match k {
            kind::BLOB => (0, 0),
            // A root's `parent` is its span kind.
            kind::ROOT => (r.byte().map_err(bad)?, r.u32().map_err(bad)?),
            kind::FIXED => (0, r.u32().map_err(bad)?),
            kind::VAR => {
                let parent = r.u32().map_err(bad)?;
                (r.byte().map_err(bad)?, parent)
            }
            _ => return Err(bad("unknown entry kind")),
        };
        if k == kind::ROOT && tag > domain::LINK {
            return Err(bad("unknown tree domain"));
        }
        if k == kind::VAR && tag > ty::MAX {
            return Err(bad("unknown value type"));
        }
        if matches!(k, kind::FIXED | kind::VAR) && (parent == 0 || parent >= id) {
            return Err(bad("a node's parent must have a smaller id"));
        }
        let data = r.prefixed().map_err(bad)?;
        defs.push(Def {
            id,
            ent: Ent {
                kind: k,
                tag,
                domain: if k == kind::ROOT { tag } else { 0 },
                depth: 0,
                parent,
                data,
            },
        });
    }
    Ok(defs)
}

fn missing_err(missing: Option<ResyncReason>, id: u32) -> SrtDecodeError {
    SrtDecodeError::Resync {
        reason: missing.unwrap_or(ResyncReason::UnknownEntry { id }),
    }
}

fn lookup<'x>(
    defs: &'x [Def<'x>],
    held: &'x FastMap<u32, Held>,
    missing: Option<ResyncReason>,
    id: u32,
) -> Result<Ent<'x>, SrtDecodeError> {
    if let Ok(i) = defs.binary_search_by_key(&id, |d| d.id) {
        return Ok(defs[i].ent);
    }
    held.get(&id)
        .map(held_ent)
        .ok_or_else(|| missing_err(missing, id))
}

/// Gives nodes their domain and depth from their parents, and checks that
/// definitions of held entries agree with them.
fn validate_defs(
    defs: &mut [Def<'_>],
    held: &FastMap<u32, Held>,
    missing: Option<ResyncReason>,
) -> Result<(), SrtDecodeError> {
    for i in 0..defs.len() {
        let (done, rest) = defs.split_at_mut(i);
        let d = &mut rest[0];
        if matches!(d.ent.kind, kind::FIXED | kind::VAR) {
            let parent = lookup(done, held, missing, d.ent.parent)?;
            if !matches!(parent.kind, kind::ROOT | kind::FIXED | kind::VAR) {
                return Err(bad("a node's parent is not a node"));
            }
            if usize::from(parent.depth) >= MAX_DEPTH {
                return Err(bad("attribute path too long"));
            }
            d.ent.domain = parent.domain;
            d.ent.depth = parent.depth + 1;
        }
        if let Some(h) = held.get(&d.id) {
            if !held_ent(h).same(&d.ent) {
                return Err(bad("an entry is redefined with another value"));
            }
        }
    }
    Ok(())
}

/// Writing the request out of the columns.
struct Body<'x, 'o> {
    defs: &'x [Def<'x>],
    held: &'x FastMap<u32, Held>,
    missing: Option<ResyncReason>,
    /// The frame's seq and the kept spans of the frames it may refer to.
    seq: u64,
    window: &'x [(u64, Arc<KeptFrame>)],
    cols: [Reader<'x>; col::COUNT],
    out: &'o mut Vec<u8>,
    max_output: usize,
    /// The slots of the current path, with their node ids.
    path: Vec<(u32, Ent<'x>)>,
    /// Per variable int slot: the value it last had in this frame.
    ints: FastMap<u32, i64>,
    /// The index of the last place read from HIST and from SPAN_ID.
    prev_place: [u32; 2],
    /// The span the last in-frame span reference named.
    prev_target: Option<usize>,
    span_ids: Vec<Option<&'x [u8]>>,
    /// Per span: the span of an earlier frame that named it as parent,
    /// when its span id is given so.
    hist_child: Vec<Option<&'x Rec>>,
    traces: Vec<&'x [u8]>,
    /// Per span of the frame: start time, trace id, first earlier child.
    starts: Vec<u64>,
    ends: Vec<u64>,
    trace_ids: Vec<&'x [u8]>,
    parents: Vec<&'x [u8]>,
    first_child: Vec<usize>,
}

/// The span a span id reference names, if any.
#[derive(Clone, Copy)]
enum Target<'x> {
    None,
    /// Span `i` of this frame.
    Frame(usize),
    /// A span of an earlier frame.
    History(&'x Rec),
}

/// What a span's trace id, start and end are coded against.
#[derive(Clone, Copy)]
struct Relative<'x> {
    trace_id: &'x [u8],
    start: u64,
    end: u64,
    /// A child (its end is the base of the span's end) or the parent.
    child: bool,
}

/// No span (in `first_child`).
const NONE: usize = usize::MAX;

impl<'x> Body<'x, '_> {
    fn get(&self, id: u32) -> Result<Ent<'x>, SrtDecodeError> {
        lookup(self.defs, self.held, self.missing, id)
    }

    fn room(&self, more: usize) -> Result<(), SrtDecodeError> {
        if self.out.len().saturating_add(more) > self.max_output {
            return Err(SrtDecodeError::TooLarge {
                limit: self.max_output,
            });
        }
        Ok(())
    }

    fn c(&mut self, c: usize) -> &mut Reader<'x> {
        &mut self.cols[c]
    }

    fn varint(&mut self, c: usize) -> Result<u64, SrtDecodeError> {
        self.cols[c].varint().map_err(bad)
    }

    /// A start or end delta: its low byte from TIME_LO, the rest from `c`.
    fn time(&mut self, c: usize) -> Result<u64, SrtDecodeError> {
        let high = self.varint(c)?;
        if high > u64::MAX >> 8 {
            return Err(bad("time delta out of range"));
        }
        let low = self.c(col::TIME_LO).byte().map_err(bad)?;
        Ok(high << 8 | u64::from(low))
    }

    fn u32(&mut self, c: usize) -> Result<u32, SrtDecodeError> {
        self.cols[c].u32().map_err(bad)
    }

    /// A string: length from LEN, bytes from column `c`.
    fn string(&mut self, c: usize) -> Result<&'x [u8], SrtDecodeError> {
        let n = self.cols[col::LEN].len().map_err(bad)?;
        self.cols[c].take(n).map_err(bad)
    }

    fn blob(&mut self, id: u32) -> Result<&'x [u8], SrtDecodeError> {
        let e = self.get(id)?;
        if e.kind != kind::BLOB {
            return Err(bad("a blob reference names a node"));
        }
        Ok(e.data)
    }

    fn request(&mut self) -> Result<usize, SrtDecodeError> {
        // Span ids first: a parent may come after its children.
        let flags = self.cols[col::FLAGS].rest();
        for &f in flags {
            let mut child = None;
            let id = if f & flag::RAW != 0 {
                None
            } else if f & flag::SPAN_ID_CODE != 0 {
                match self.varint(col::SPAN_ID)? {
                    span_id_code::CHILD => {
                        let rec = self.place(col::SPAN_ID)?;
                        if !rec.has_parent {
                            return Err(bad("span id of a span's parent that has none"));
                        }
                        child = Some(rec);
                        Some(&rec.parent[..])
                    }
                    code if code % 2 == 0 => {
                        let n = usize::try_from(code / 2).map_err(|_| bad("bad span id"))?;
                        Some(self.c(col::SPAN_ID).take(n).map_err(bad)?)
                    }
                    _ => return Err(bad("unknown span id code")),
                }
            } else {
                Some(self.c(col::SPAN_ID).take(8).map_err(bad)?)
            };
            self.span_ids.push(id);
            self.hist_child.push(child);
        }
        self.starts = vec![0; flags.len()];
        self.ends = vec![0; flags.len()];
        self.trace_ids = vec![b""; flags.len()];
        self.parents = vec![b""; flags.len()];
        self.first_child = vec![NONE; flags.len()];
        let mut index = 0usize;
        let mut prev_start = 0u64;
        let resources = self.varint(col::STRUCT)?;
        for _ in 0..resources {
            let resource = self.u32(col::STRUCT)?;
            let schema = self.u32(col::STRUCT)?;
            let scopes = self.varint(col::STRUCT)?;
            let rs = open(self.out, 0x0a, 3);
            if resource != 0 {
                let b = self.blob(resource)?;
                self.room(b.len() + 8)?;
                put_bytes_field(self.out, 0x0a, b);
            }
            for _ in 0..scopes {
                let scope = self.u32(col::STRUCT)?;
                let scope_schema = self.u32(col::STRUCT)?;
                let spans = self.varint(col::STRUCT)?;
                let ss = open(self.out, 0x12, 3);
                if scope != 0 {
                    let b = self.blob(scope)?;
                    self.room(b.len() + 8)?;
                    put_bytes_field(self.out, 0x0a, b);
                }
                for _ in 0..spans {
                    let f = *flags.get(index).ok_or(bad("more spans than flags"))?;
                    self.span(index, f, &mut prev_start)?;
                    index += 1;
                }
                if scope_schema != 0 {
                    let b = self.blob(scope_schema)?;
                    self.room(b.len() + 8)?;
                    put_bytes_field(self.out, 0x1a, b);
                }
                close(self.out, ss, 3);
            }
            if schema != 0 {
                let b = self.blob(schema)?;
                self.room(b.len() + 8)?;
                put_bytes_field(self.out, 0x1a, b);
            }
            close(self.out, rs, 3);
            self.room(0)?;
        }
        if index != flags.len() || self.cols.iter().any(|c| !c.is_empty()) {
            return Err(bad("columns hold more than the request"));
        }
        Ok(index)
    }

    fn trace_id(&mut self) -> Result<&'x [u8], SrtDecodeError> {
        let r = self.varint(col::TRACE)?;
        let id = match r {
            trace_ref::NEW16 => self.c(col::IDS).take(16).map_err(bad)?,
            trace_ref::NEW_ODD => {
                let n = self.c(col::MISC).len().map_err(bad)?;
                self.c(col::IDS).take(n).map_err(bad)?
            }
            trace_ref::RELATIVE => return Err(bad("relative trace id outside a span")),
            trace_ref::HISTORY => &self.place(col::HIST)?.trace_id[..],
            back => {
                let d =
                    usize::try_from(back - trace_ref::BACK).map_err(|_| bad("bad trace ref"))?;
                let at = self
                    .traces
                    .len()
                    .checked_sub(d + 1)
                    .ok_or(bad("trace reference before the frame's first"))?;
                return Ok(self.traces[at]);
            }
        };
        self.traces.push(id);
        Ok(id)
    }

    fn span_ref(&mut self, index: usize) -> Result<&'x [u8], SrtDecodeError> {
        Ok(self.span_ref_index(index)?.0)
    }

    /// The span of an earlier frame whose place is next in column `c`.
    fn place(&mut self, c: usize) -> Result<&'x Rec, SrtDecodeError> {
        let back = self.varint(c)?;
        let prev = &mut self.prev_place[usize::from(c == col::SPAN_ID)];
        let index = (*prev as i64)
            .checked_add(unzigzag(self.cols[c].varint().map_err(bad)?))
            .and_then(|i| u32::try_from(i).ok())
            .ok_or(bad("reference to a span an earlier frame does not have"))?;
        *prev = index;
        let index = index as usize;
        let window: &'x [(u64, Arc<KeptFrame>)] = self.window;
        kept(window, self.seq, back, self.missing)?
            .recs
            .get(index)
            .filter(|r| r.valid)
            .ok_or(bad("reference to a span an earlier frame does not have"))
    }

    /// This frame's spans as later frames may refer to them.
    fn records(&self) -> Vec<Rec> {
        (0..self.span_ids.len().min(HISTORY_SPANS))
            .map(|i| {
                Rec::of(
                    self.span_ids[i].is_none(),
                    self.span_ids[i].unwrap_or_default(),
                    self.parents[i],
                    self.trace_ids[i],
                    self.starts[i],
                    self.ends[i],
                )
            })
            .collect()
    }

    /// A span id from the PARENT column, with the index of the frame's
    /// span it refers to.
    fn span_ref_index(&mut self, index: usize) -> Result<(&'x [u8], Target<'x>), SrtDecodeError> {
        let r = self.varint(col::PARENT)?;
        Ok(match r {
            span_ref::EMPTY => (b"", Target::None),
            span_ref::RAW8 => (self.c(col::IDS).take(8).map_err(bad)?, Target::None),
            span_ref::RAW_ODD => {
                let n = self.c(col::MISC).len().map_err(bad)?;
                (self.c(col::IDS).take(n).map_err(bad)?, Target::None)
            }
            span_ref::HISTORY => {
                let rec = self.place(col::HIST)?;
                (&rec.span_id[..], Target::History(rec))
            }
            code => {
                let d = unzigzag(code - span_ref::SPAN);
                let base = self.prev_target.unwrap_or(index);
                let target = (base as i64)
                    .checked_add(d)
                    .and_then(|t| usize::try_from(t).ok())
                    .filter(|&t| t < self.span_ids.len())
                    .ok_or(bad("span reference out of the frame"))?;
                let id = self.span_ids[target].ok_or(bad("span reference to a raw span"))?;
                self.prev_target = Some(target);
                (id, Target::Frame(target))
            }
        })
    }

    fn first_child_of(&self, index: usize) -> Option<usize> {
        Some(self.first_child[index]).filter(|&j| j != NONE)
    }

    /// Whether the TRACE column's next code is RELATIVE (then consumed).
    fn varint_peek_relative(&mut self) -> Result<bool, SrtDecodeError> {
        let mut probe = self.cols[col::TRACE];
        if probe.varint().map_err(bad)? == trace_ref::RELATIVE {
            self.cols[col::TRACE] = probe;
            return Ok(true);
        }
        Ok(false)
    }

    /// Resolves `leaf` to its root (checked to be of `dom`) and fills
    /// `self.path` with the slots from the root down; returns the name.
    fn path(&mut self, leaf: u32, dom: u8) -> Result<(&'x [u8], u32), SrtDecodeError> {
        self.path.clear();
        let mut id = leaf;
        loop {
            let e = self.get(id)?;
            match e.kind {
                kind::ROOT if e.domain == dom => {
                    self.path.reverse();
                    return Ok((e.data, e.parent));
                }
                kind::FIXED | kind::VAR if self.path.len() < MAX_DEPTH => {
                    self.path.push((id, e));
                    id = e.parent;
                }
                _ => return Err(bad("node reference of the wrong kind")),
            }
        }
    }

    /// Writes the attributes of `self.path` as fields `key`.
    fn attributes(&mut self, key: u8) -> Result<(), SrtDecodeError> {
        for i in 0..self.path.len() {
            let (node, e) = self.path[i];
            if e.kind == kind::FIXED {
                self.room(e.data.len() + 6)?;
                put_bytes_field(self.out, key, e.data);
                continue;
            }
            let k = e.data;
            let key_part = 1 + varint_len(k.len() as u64) + k.len();
            // The AnyValue's bytes other than a string or raw payload.
            let (inner, payload): (usize, &[u8]) = match e.tag {
                ty::ABSENT => (0, b""),
                ty::STR | ty::BYTES => {
                    let s = self.string(col::STR)?;
                    (1 + varint_len(s.len() as u64) + s.len(), s)
                }
                ty::BOOL => (2, b""),
                ty::INT | ty::DOUBLE => (0, b""),
                _ => {
                    let r = self.string(col::RAW)?;
                    (r.len(), r)
                }
            };
            let (inner, int) = match e.tag {
                ty::INT => {
                    let prev = self.ints.get(&node).copied().unwrap_or(0);
                    let v = prev.wrapping_add(unzigzag(self.varint(col::INT)?));
                    self.ints.insert(node, v);
                    (1 + varint_len(v as u64), v as u64)
                }
                ty::DOUBLE => (9, self.c(col::DOUBLE).u64_le().map_err(bad)?),
                ty::BOOL => (
                    inner,
                    u64::from(self.c(col::BOOL).byte().map_err(bad)? != 0),
                ),
                _ => (inner, 0),
            };
            let kv_len = if e.tag == ty::ABSENT {
                key_part
            } else {
                key_part + 1 + varint_len(inner as u64) + inner
            };
            self.room(kv_len + 6)?;
            let out = &mut *self.out;
            out.push(key);
            put_varint(out, kv_len as u64);
            put_bytes_field(out, 0x0a, k);
            if e.tag == ty::ABSENT {
                continue;
            }
            out.push(0x12);
            put_varint(out, inner as u64);
            match e.tag {
                ty::STR => put_bytes_field(out, 0x0a, payload),
                ty::BYTES => put_bytes_field(out, 0x3a, payload),
                ty::BOOL => out.extend_from_slice(&[0x10, int as u8]),
                ty::INT => {
                    out.push(0x18);
                    put_varint(out, int);
                }
                ty::DOUBLE => {
                    out.push(0x21);
                    out.extend_from_slice(&int.to_le_bytes());
                }
                _ => out.extend_from_slice(payload),
            }
        }
        Ok(())
    }

    fn span(&mut self, index: usize, f: u8, prev_start: &mut u64) -> Result<(), SrtDecodeError> {
        if f & flag::RAW != 0 {
            let raw = self.string(col::RAW)?;
            self.room(raw.len() + 6)?;
            put_bytes_field(self.out, 0x12, raw);
            return Ok(());
        }
        let leaf = self.u32(col::NODE)?;
        let (name, kind) = self.path(leaf, domain::SPAN)?;
        let (parent, target) = self.span_ref_index(index)?;
        if let Target::Frame(k) = target {
            if k > index && self.first_child[k] == NONE {
                self.first_child[k] = index;
            }
        }
        // The relative: the parent if it came earlier in this frame or in
        // an earlier frame, else the first child in this frame, else a
        // child in an earlier frame.
        let relative = match (target, self.first_child_of(index), self.hist_child[index]) {
            (Target::Frame(k), _, _) if k < index => Some(Relative {
                trace_id: self.trace_ids[k],
                start: self.starts[k],
                end: self.ends[k],
                child: false,
            }),
            (Target::History(r), _, _) => Some(Relative {
                trace_id: &r.trace_id,
                start: r.start,
                end: r.end,
                child: false,
            }),
            (_, Some(c), _) => Some(Relative {
                trace_id: self.trace_ids[c],
                start: self.starts[c],
                end: self.ends[c],
                child: true,
            }),
            (_, None, Some(r)) => Some(Relative {
                trace_id: &r.trace_id,
                start: r.start,
                end: r.end,
                child: true,
            }),
            _ => None,
        };
        let trace_id = if self.varint_peek_relative()? {
            relative
                .ok_or(bad("relative trace id of a span without relative"))?
                .trace_id
        } else {
            self.trace_id()?
        };
        let span_id = self.span_ids[index].unwrap_or_default();
        let trace_state: &[u8] = if f & flag::TRACE_STATE != 0 {
            self.string(col::STR)?
        } else {
            b""
        };
        let base = relative.map_or(*prev_start, |r| r.start);
        let start = base.wrapping_add(unzigzag(self.time(col::START)?) as u64);
        *prev_start = start;
        self.starts[index] = start;
        self.trace_ids[index] = trace_id;
        self.parents[index] = parent;
        let end_base = match relative {
            Some(r) if r.child => r.end,
            _ => start,
        };
        let end = end_base.wrapping_add(unzigzag(self.time(col::DURATION)?) as u64);
        self.ends[index] = end;

        self.room(
            trace_id.len() + span_id.len() + trace_state.len() + parent.len() + name.len() + 64,
        )?;
        let span = open(self.out, 0x12, 2);
        let out = &mut *self.out;
        for (key, bytes) in [
            (0x0a, trace_id),
            (0x12, span_id),
            (0x1a, trace_state),
            (0x22, parent),
            (0x2a, name),
        ] {
            if !bytes.is_empty() {
                put_bytes_field(out, key, bytes);
            }
        }
        if kind != 0 {
            out.push(0x30);
            put_varint(out, kind as i32 as i64 as u64);
        }
        for (key, time) in [(0x39, start), (0x41, end)] {
            if time != 0 {
                out.push(key);
                out.extend_from_slice(&time.to_le_bytes());
            }
        }
        self.attributes(0x4a)?;
        let (mut dropped_events, mut dropped_links) = (0, 0);
        if f & flag::DROPPED != 0 {
            let dropped_attrs = self.u32(col::MISC)?;
            dropped_events = self.u32(col::MISC)?;
            dropped_links = self.u32(col::MISC)?;
            self.varint_field(0x50, dropped_attrs.into());
        }
        if f & flag::EVENTS != 0 {
            let n = self.varint(col::MISC)?;
            for _ in 0..n {
                self.event(start)?;
            }
        }
        self.varint_field(0x60, dropped_events.into());
        if f & flag::LINKS != 0 {
            let n = self.varint(col::MISC)?;
            for _ in 0..n {
                self.link(index)?;
            }
        }
        self.varint_field(0x70, dropped_links.into());
        if f & flag::STATUS != 0 {
            let code = self.u32(col::STATUS)?;
            let message = self.string(col::STR)?;
            self.room(message.len() + 16)?;
            let status = open(self.out, 0x7a, 1);
            if !message.is_empty() {
                put_bytes_field(self.out, 0x12, message);
            }
            self.varint_field(0x18, code as i32 as i64 as u64);
            close(self.out, status, 1);
        }
        if f & flag::FLAGS != 0 {
            let flags = self.u32(col::MISC)?;
            self.out.extend_from_slice(&[0x85, 0x01]);
            self.out.extend_from_slice(&flags.to_le_bytes());
        }
        close(self.out, span, 2);
        self.room(0)
    }

    /// A varint field, left out when 0 as protobuf does.
    fn varint_field(&mut self, key: u8, value: u64) {
        if value != 0 {
            self.out.push(key);
            put_varint(self.out, value);
        }
    }

    fn event(&mut self, span_start: u64) -> Result<(), SrtDecodeError> {
        let time = span_start.wrapping_add(unzigzag(self.varint(col::EVENT_TIME)?) as u64);
        let leaf = self.u32(col::NODE)?;
        let (name, _) = self.path(leaf, domain::EVENT)?;
        self.room(name.len() + 32)?;
        let event = open(self.out, 0x5a, 2);
        if time != 0 {
            self.out.push(0x09);
            self.out.extend_from_slice(&time.to_le_bytes());
        }
        if !name.is_empty() {
            put_bytes_field(self.out, 0x12, name);
        }
        self.attributes(0x1a)?;
        let dropped = self.u32(col::MISC)?;
        self.varint_field(0x20, dropped.into());
        close(self.out, event, 2);
        Ok(())
    }

    fn link(&mut self, index: usize) -> Result<(), SrtDecodeError> {
        let trace_id = self.trace_id()?;
        let span_id = self.span_ref(index)?;
        let trace_state = self.string(col::STR)?;
        let leaf = self.u32(col::NODE)?;
        self.path(leaf, domain::LINK)?;
        self.room(trace_id.len() + span_id.len() + trace_state.len() + 32)?;
        let link = open(self.out, 0x6a, 2);
        for (key, bytes) in [(0x0a, trace_id), (0x12, span_id), (0x1a, trace_state)] {
            if !bytes.is_empty() {
                put_bytes_field(self.out, key, bytes);
            }
        }
        self.attributes(0x22)?;
        let dropped = self.u32(col::MISC)?;
        self.varint_field(0x28, dropped.into());
        let flags = self.u32(col::MISC)?;
        if flags != 0 {
            self.out.push(0x35);
            self.out.extend_from_slice(&flags.to_le_bytes());
        }
        close(self.out, link, 2);
        Ok(())
    }
}

//! Spans of earlier frames that a frame may refer to.
//!
//! The spans of one trace often travel in different requests: each
//! service exports its own, a client span ends (and is exported) after the
//! server span it called in another process, a trace straddles two
//! batches. Such a span's parent, or its own id named as the parent of a
//! span sent earlier, is then an 8-byte id and its trace id 16 bytes that
//! the receiver already decoded. Both ends keep, per generation, the spans
//! of the last frames (the sender of those the receiver acknowledged), so
//! that a frame names them by place (how many frames back, which span)
//! instead, and takes trace id and times from them as from a relative in
//! the same frame (see `docs/srt-format.md`).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use crate::format::{HISTORY_FRAMES, HISTORY_KEPT, HISTORY_SPANS, HISTORY_TEXT};

type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;

/// A span as later frames may refer to it. Only spans with an 8-byte span
/// id and a 16-byte trace id that were not sent raw can be referred to
/// (`valid`); a parent id of another length counts as none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Rec {
    pub(crate) valid: bool,
    pub(crate) has_parent: bool,
    pub(crate) span_id: [u8; 8],
    pub(crate) parent: [u8; 8],
    pub(crate) trace_id: [u8; 16],
    pub(crate) start: u64,
    pub(crate) end: u64,
}

impl Rec {
    /// The record of a span: raw spans (`raw`) and spans whose ids are
    /// not of the usual lengths give an invalid one.
    pub(crate) fn of(
        raw: bool,
        span_id: &[u8],
        parent: &[u8],
        trace_id: &[u8],
        start: u64,
        end: u64,
    ) -> Rec {
        match (<[u8; 8]>::try_from(span_id), <[u8; 16]>::try_from(trace_id)) {
            (Ok(span_id), Ok(trace_id)) if !raw => {
                let parent8 = <[u8; 8]>::try_from(parent).ok();
                Rec {
                    valid: true,
                    has_parent: parent8.is_some(),
                    span_id,
                    parent: parent8.unwrap_or_default(),
                    trace_id,
                    start,
                    end,
                }
            }
            _ => Rec::default(),
        }
    }
}

/// Bytes one kept record counts for in the receiver's state accounting.
pub(crate) const REC_BYTES: usize = std::mem::size_of::<Rec>();

/// Where a span of an earlier frame is: `back` frames before the current
/// one (1..=`HISTORY_FRAMES`), span `index` of that frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Place {
    pub(crate) back: u64,
    pub(crate) index: u32,
}

struct SentFrame {
    seq: u64,
    acked: bool,
    recs: Vec<Rec>,
    /// The frame's text, if kept (see `HISTORY_TEXT`).
    text: Vec<u8>,
}

/// The indexes of the sender's history are rebuilt once one holds more
/// than this many times the window's spans (see `SenderHistory::push`).
const STALE_FACTOR: usize = 4;

/// A place in the indexes: frame seq and span index in one word (an index
/// is below `HISTORY_SPANS`), which keeps the maps' entries small (their
/// lookups are mostly cache misses). A seq past 2^48 (never, at a frame a
/// microsecond) would only make its lookups find nothing.
fn pack(seq: u64, index: u32) -> u64 {
    seq << 16 | u64::from(index)
}

fn unpack(at: u64) -> (u64, u32) {
    (at >> 16, (at & 0xffff) as u32)
}

/// Indexes frame `f`'s records, over those indexed before.
fn index(
    spans: &mut FastMap<u64, u64>,
    parents: &mut FastMap<u64, u64>,
    traces: &mut FastMap<u128, u64>,
    f: &SentFrame,
) {
    for (i, r) in f.recs.iter().enumerate() {
        if r.valid {
            let at = pack(f.seq, i as u32);
            spans.insert(u64::from_le_bytes(r.span_id), at);
            if r.has_parent {
                parents.insert(u64::from_le_bytes(r.parent), at);
            }
            traces.insert(u128::from_le_bytes(r.trace_id), at);
        }
    }
}

/// The sender's history: the spans of its last `HISTORY_FRAMES` frames of
/// the generation, by span id and by parent id.
#[derive(Default)]
pub(crate) struct SenderHistory {
    /// Oldest first.
    frames: VecDeque<SentFrame>,
    /// Span id -> (seq, index) of the latest span with that id.
    spans: FastMap<u64, u64>,
    /// Parent span id -> (seq, index) of the latest span with that parent.
    parents: FastMap<u64, u64>,
    /// Trace id -> (seq, index) of the latest span of that trace.
    traces: FastMap<u128, u64>,
    /// Buffers of frames that left the window, for reuse.
    spare: Vec<(Vec<Rec>, Vec<u8>)>,
}

impl SenderHistory {
    pub(crate) fn clear(&mut self) {
        self.frames.clear();
        self.spans.clear();
        self.parents.clear();
        self.traces.clear();
    }

    /// Buffers for the next frame's records and text.
    pub(crate) fn take_buffers(&mut self) -> (Vec<Rec>, Vec<u8>) {
        let (mut recs, mut text) = self.spare.pop().unwrap_or_default();
        recs.clear();
        text.clear();
        (recs, text)
    }

    /// The text of the newest frame the receiver holds that frame `seq`
    /// may use as a dictionary, with how far back it is.
    pub(crate) fn text(&self, seq: u64) -> Option<(u64, &[u8])> {
        self.frames
            .iter()
            .rev()
            .filter(|f| f.acked && !f.text.is_empty())
            .find_map(|f| {
                let back = seq.checked_sub(f.seq)?;
                (1..=HISTORY_FRAMES)
                    .contains(&back)
                    .then_some((back, &f.text[..]))
            })
    }

    /// The span with id `span_id`, for frame `seq`, if the receiver holds it.
    pub(crate) fn span(&self, span_id: u64, seq: u64) -> Option<(Place, &Rec)> {
        let (at, index) = unpack(*self.spans.get(&span_id)?);
        self.usable(at, index, seq)
            .filter(|(_, r)| u64::from_le_bytes(r.span_id) == span_id)
    }

    /// A span whose parent is `span_id`, for frame `seq`, if the receiver
    /// holds it.
    pub(crate) fn child(&self, span_id: u64, seq: u64) -> Option<(Place, &Rec)> {
        let (at, index) = unpack(*self.parents.get(&span_id)?);
        self.usable(at, index, seq)
            .filter(|(_, r)| r.has_parent && u64::from_le_bytes(r.parent) == span_id)
    }

    /// A span of trace `trace_id`, for frame `seq`, if the receiver holds it.
    pub(crate) fn trace(&self, trace_id: u128, seq: u64) -> Option<Place> {
        let (at, index) = unpack(*self.traces.get(&trace_id)?);
        self.usable(at, index, seq)
            .filter(|(_, r)| u128::from_le_bytes(r.trace_id) == trace_id)
            .map(|(place, _)| place)
    }

    fn usable(&self, at: u64, index: u32, seq: u64) -> Option<(Place, &Rec)> {
        let back = seq
            .checked_sub(at)
            .filter(|b| (1..=HISTORY_FRAMES).contains(b))?;
        // At most `HISTORY_FRAMES` frames, seqs ascending with gaps where
        // a frame failed.
        let f = self.frames.iter().rev().find(|f| f.seq == at)?;
        let rec = f.recs.get(index as usize).filter(|r| r.valid)?;
        f.acked.then_some((Place { back, index }, rec))
    }

    /// Keeps frame `seq`'s records, forgetting frames that are now too far
    /// back to refer to.
    ///
    /// The indexes are not cleaned of a forgotten frame's spans one by one
    /// (three lookups and removals a span): a lookup checks that the place
    /// it finds is of a frame still in the window and holds that id, so a
    /// stale entry finds nothing, as an absent one would. They are rebuilt
    /// from the window once they hold several windows' worth of keys.
    pub(crate) fn push(&mut self, seq: u64, mut recs: Vec<Rec>, mut text: Vec<u8>) {
        while self
            .frames
            .front()
            .is_some_and(|f| f.seq + HISTORY_FRAMES <= seq)
        {
            if let Some(old) = self.frames.pop_front() {
                self.spare.push((old.recs, old.text));
            }
        }
        recs.truncate(HISTORY_SPANS);
        if text.len() > HISTORY_TEXT {
            text.clear();
        }
        self.frames.push_back(SentFrame {
            seq,
            acked: false,
            recs,
            text,
        });
        let window: usize = self.frames.iter().map(|f| f.recs.len()).sum();
        let limit = STALE_FACTOR * window + 1024;
        if self
            .spans
            .len()
            .max(self.parents.len())
            .max(self.traces.len())
            > limit
        {
            self.spans.clear();
            self.parents.clear();
            self.traces.clear();
            // Oldest first: the latest span of an id wins, as when indexed
            // frame by frame.
            for f in &self.frames {
                index(&mut self.spans, &mut self.parents, &mut self.traces, f);
            }
        } else if let Some(f) = self.frames.back() {
            index(&mut self.spans, &mut self.parents, &mut self.traces, f);
        }
    }

    /// The receiver decoded frame `seq`: its spans may be referred to.
    pub(crate) fn acknowledge(&mut self, seq: u64) {
        if let Some(f) = self.frames.iter_mut().rev().find(|f| f.seq == seq) {
            f.acked = true;
        }
    }
}

/// The receiver's history of one generation: the records of the frames it
/// decoded, of the newest and up to `HISTORY_KEPT` frames before it.
#[derive(Debug, Default)]
pub(crate) struct Kept {
    newest: u64,
    frames: BTreeMap<u64, Arc<KeptFrame>>,
    bytes: usize,
}

/// What the receiver keeps of one frame.
#[derive(Debug)]
pub(crate) struct KeptFrame {
    pub(crate) recs: Vec<Rec>,
    /// Its text, empty if larger than `HISTORY_TEXT`.
    pub(crate) text: Vec<u8>,
}

impl KeptFrame {
    fn bytes(&self) -> usize {
        self.recs.len() * REC_BYTES + self.text.len()
    }
}

impl Kept {
    /// The kept frames frame `seq` may refer to.
    pub(crate) fn window(&self, seq: u64) -> Vec<(u64, Arc<KeptFrame>)> {
        self.frames
            .range(seq.saturating_sub(HISTORY_FRAMES)..seq)
            .map(|(s, r)| (*s, r.clone()))
            .collect()
    }

    /// Keeps frame `seq`'s records (unless it is already too old); returns
    /// the change in bytes held.
    pub(crate) fn insert(&mut self, seq: u64, mut recs: Vec<Rec>, mut text: Vec<u8>) -> isize {
        let before = self.bytes as isize;
        if seq + HISTORY_KEPT > self.newest {
            recs.truncate(HISTORY_SPANS);
            if text.len() > HISTORY_TEXT {
                text = Vec::new();
            }
            let frame = KeptFrame { recs, text };
            self.bytes += frame.bytes();
            if let Some(old) = self.frames.insert(seq, Arc::new(frame)) {
                self.bytes -= old.bytes();
            }
            self.newest = self.newest.max(seq);
            while let Some((&s, _)) = self.frames.first_key_value() {
                if s + HISTORY_KEPT > self.newest {
                    break;
                }
                if let Some(old) = self.frames.remove(&s) {
                    self.bytes -= old.bytes();
                }
            }
        }
        self.bytes as isize - before
    }
}

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

/// Bits of a frame seq kept in an index slot: enough to tell the
/// `HISTORY_FRAMES` frames of the window apart, and a slot of the window
/// from most older ones (an older slot that aliases one of the window is
/// still checked against the record it names, and only makes the bucket
/// give up another slot first).
const SEQ_BITS: u32 = 6;
const SEQ_MASK: u32 = (1 << SEQ_BITS) - 1;
/// Bits of a span index in a slot: indexes are below `HISTORY_SPANS`.
const INDEX_BITS: u32 = 12;
const INDEX_MASK: u32 = (1 << INDEX_BITS) - 1;
/// The rest of a slot is a tag of its key's hash.
const TAG_SHIFT: u32 = SEQ_BITS + INDEX_BITS;
const _: () = assert!(HISTORY_SPANS <= 1 << INDEX_BITS);
const _: () = assert!(HISTORY_FRAMES < SEQ_MASK as u64);
const _: () = assert!(TAG_SHIFT <= 20);

/// Slots in an index per span of the window (rounded up to a power of
/// two): a bucket then rarely has to give up a slot of the window.
const SLOTS_PER_SPAN: usize = 2;
/// Spans of the window the indexes are sized for, at most (or two
/// frames', if more): with large frames the whole window's indexes
/// would not stay in the cache, and every lookup would miss it. A bucket
/// gives up its oldest slot first, so the indexes then hold about the
/// newest `INDEXED_SPANS` spans, and an older span is sent as if not in
/// the history.
const INDEXED_SPANS: usize = 2048;
/// Slots in a bucket.
const WAYS: usize = 8;
// The victim choice in `Index::insert` keeps a slot number in three bits.
const _: () = assert!(WAYS == 8);
/// The fewest buckets an index starts with.
const MIN_BUCKETS: usize = 128;

/// Eight slots in 32 bytes, half a cache line: a lookup or insert reads
/// one line. A slot is a tag of its key's hash (never 0; 0 = empty) above
/// a place: the frame seq's low `SEQ_BITS` bits and the span index.
#[derive(Clone, Copy, Default)]
#[repr(align(32))]
struct Bucket([u32; WAYS]);

/// The sender's index of spans of the window by one key (span id, parent
/// id or trace id): a set-associative table of places, `WAYS` a bucket,
/// sized from the window's spans, never rehashed as it fills.
///
/// It holds places, not keys: a lookup checks the record at the place it
/// finds, so a stale slot, a slot of a frame that left the window or two
/// keys with the same tag find nothing, as an absent key would (the span
/// is then sent as if not in the history, which the format allows). Of a
/// key inserted again (several children of one parent) the latest wins; a
/// new key takes the bucket's empty slot or its oldest. A lookup or insert
/// touches one small line of a table a quarter of the size of a hash map
/// of the window's keys: these accesses are mostly cache misses, and were
/// a fifth of the encoder's time with hash maps.
#[derive(Default)]
struct Index {
    buckets: Vec<Bucket>,
    /// 64 - log2(buckets.len()).
    shift: u32,
}

/// A 64 x 64 -> 128 bit multiply folded to 64 bits: every input bit
/// reaches the high bits (the bucket) and the low ones (the tag).
fn fold_mul(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

const MUL_A: u64 = 0x9e37_79b9_7f4a_7c15;
const MUL_B: u64 = 0xc2b2_ae3d_27d4_eb4f;

fn hash_id(seed: u64, id: u64) -> u64 {
    fold_mul(id ^ seed, MUL_A)
}

fn hash_trace(seed: u64, id: u128) -> u64 {
    fold_mul(id as u64 ^ seed, (id >> 64) as u64 ^ MUL_B)
}

impl Index {
    fn clear(&mut self) {
        self.buckets.fill(Bucket::default());
    }

    /// Empties the index and gives it at least `slots` slots.
    fn reset(&mut self, slots: usize) {
        let buckets = (slots / WAYS).next_power_of_two().max(MIN_BUCKETS);
        self.buckets.clear();
        self.buckets.resize(buckets, Bucket::default());
        self.shift = 64 - buckets.trailing_zeros();
    }

    fn slots(&self) -> usize {
        self.buckets.len() * WAYS
    }

    /// The bucket of hash `h` and its tag, in place in a slot.
    fn at(&self, h: u64) -> (usize, u32) {
        let tag = (h as u32 | 1) << TAG_SHIFT;
        ((h >> self.shift) as usize, tag)
    }

    /// The first slot of `h`'s bucket, read to bring the bucket into the
    /// cache ahead of an insert (0 if the index is empty).
    fn first(&self, h: u64) -> u32 {
        self.buckets
            .get((h >> self.shift) as usize)
            .map_or(0, |b| b.0[0])
    }

    fn insert(&mut self, h: u64, seq: u64, index: u32) {
        if self.buckets.is_empty() {
            return;
        }
        let (b, tag) = self.at(h);
        let seq = seq as u32 & SEQ_MASK;
        let slot = tag | seq << INDEX_BITS | index;
        let bucket = &mut self.buckets[b].0;
        // Without branches on the slots (where a key is, and which slot is
        // oldest, vary from one insert to the next and mispredict): the
        // slot of the same tag if any, else the oldest, empty slots
        // counting as older than any (ages are below `SEQ_MASK + 1`), the
        // first of equal age.
        let same = Self::matches(bucket, tag);
        let victim = if same != 0 {
            same.trailing_zeros() as usize
        } else {
            let mut best = 0u32;
            for (i, &s) in bucket.iter().enumerate() {
                let age = if s == 0 {
                    SEQ_MASK + 1
                } else {
                    seq.wrapping_sub(s >> INDEX_BITS) & SEQ_MASK
                };
                best = best.max(age << 3 | (WAYS - 1 - i) as u32);
            }
            WAYS - 1 - (best & 7) as usize
        };
        bucket[victim] = slot;
    }

    /// A bit per slot of `bucket` whose tag is `tag`'s.
    #[inline(always)]
    fn matches(bucket: &[u32; WAYS], tag: u32) -> u32 {
        let mut m = 0u32;
        for (i, &s) in bucket.iter().enumerate() {
            m |= u32::from(s >> TAG_SHIFT == tag >> TAG_SHIFT) << i;
        }
        m
    }

    /// The place of `h`'s key for frame `seq`: (seq of its frame, index),
    /// if its slot names one of the `HISTORY_FRAMES` frames before.
    fn get(&self, h: u64, seq: u64) -> Option<(u64, u32)> {
        if self.buckets.is_empty() {
            return None;
        }
        let (b, tag) = self.at(h);
        let bucket = &self.buckets[b].0;
        let same = Self::matches(bucket, tag);
        let s = *bucket.get(same.trailing_zeros() as usize)?;
        let back = u64::from((seq as u32).wrapping_sub(s >> INDEX_BITS) & SEQ_MASK);
        (1..=HISTORY_FRAMES)
            .contains(&back)
            .then(|| (seq.wrapping_sub(back), s & INDEX_MASK))
    }
}

/// The sender's history: the spans of its last `HISTORY_FRAMES` frames of
/// the generation, by span id and by parent id.
pub(crate) struct SenderHistory {
    /// Oldest first.
    frames: VecDeque<SentFrame>,
    /// Span id -> place of the latest span with that id.
    spans: Index,
    /// Parent span id -> place of the latest span with that parent.
    parents: Index,
    /// Trace id -> place of the latest span of that trace.
    traces: Index,
    /// Mixed into the keys' hashes, so that which ids share a bucket
    /// differs from one encoder to the next.
    seed: u64,
    /// Buffers of frames that left the window, for reuse.
    spare: Vec<(Vec<Rec>, Vec<u8>)>,
}

impl SenderHistory {
    /// A history whose indexes hash with `seed`.
    pub(crate) fn new(seed: u64) -> SenderHistory {
        SenderHistory {
            frames: VecDeque::new(),
            spans: Index::default(),
            parents: Index::default(),
            traces: Index::default(),
            seed,
            spare: Vec::new(),
        }
    }

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
        let (at, index) = self.spans.get(hash_id(self.seed, span_id), seq)?;
        self.usable(at, index, seq)
            .filter(|(_, r)| u64::from_le_bytes(r.span_id) == span_id)
    }

    /// A span whose parent is `span_id`, for frame `seq`, if the receiver
    /// holds it.
    pub(crate) fn child(&self, span_id: u64, seq: u64) -> Option<(Place, &Rec)> {
        let (at, index) = self.parents.get(hash_id(self.seed, span_id), seq)?;
        self.usable(at, index, seq)
            .filter(|(_, r)| r.has_parent && u64::from_le_bytes(r.parent) == span_id)
    }

    /// A span of trace `trace_id`, for frame `seq`, if the receiver holds it.
    pub(crate) fn trace(&self, trace_id: u128, seq: u64) -> Option<Place> {
        let (at, index) = self.traces.get(hash_trace(self.seed, trace_id), seq)?;
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

    /// Indexes frame `f`'s records, over those indexed before.
    fn index(&mut self, f: usize) {
        let Some(f) = self.frames.get(f) else {
            return;
        };
        // In runs of `AHEAD` records: first a load of each bucket the run
        // will write, then the inserts. The buckets are mostly cache
        // misses; loaded together they are waited for together, where
        // each insert's branches would otherwise wait for its own.
        const AHEAD: usize = 8;
        let mut hashes = [(0u64, 0u64, 0u64); AHEAD];
        for (run, recs) in f.recs.chunks(AHEAD).enumerate() {
            let mut touch = 0u32;
            for (r, h) in recs.iter().zip(&mut hashes) {
                *h = (
                    hash_id(self.seed, u64::from_le_bytes(r.span_id)),
                    hash_id(self.seed, u64::from_le_bytes(r.parent)),
                    hash_trace(self.seed, u128::from_le_bytes(r.trace_id)),
                );
                touch ^= self.spans.first(h.0) ^ self.parents.first(h.1) ^ self.traces.first(h.2);
            }
            std::hint::black_box(touch);
            for (k, (r, h)) in recs.iter().zip(&hashes).enumerate() {
                if r.valid {
                    let i = (run * AHEAD + k) as u32;
                    self.spans.insert(h.0, f.seq, i);
                    if r.has_parent {
                        self.parents.insert(h.1, f.seq, i);
                    }
                    self.traces.insert(h.2, f.seq, i);
                }
            }
        }
    }

    /// Keeps frame `seq`'s records, forgetting frames that are now too far
    /// back to refer to.
    ///
    /// The indexes are not cleaned of a forgotten frame's spans: a lookup
    /// checks that the place it finds is of a frame still in the window and
    /// holds that key, and their slots are the first a bucket gives up.
    /// When the window would fill more than half of their slots, they are
    /// made larger and rebuilt from the window.
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
        // The window a few frames on, if they are of this frame's size.
        let window = (self.frames.iter().map(|f| f.recs.len()).sum::<usize>() + recs.len())
            .max(recs.len() * HISTORY_FRAMES as usize)
            .min(INDEXED_SPANS.max(2 * recs.len()));
        self.frames.push_back(SentFrame {
            seq,
            acked: false,
            recs,
            text,
        });
        let slots = SLOTS_PER_SPAN * window;
        if self.spans.slots() < slots {
            self.spans.reset(slots);
            self.parents.reset(slots);
            self.traces.reset(slots);
            // Oldest first: the latest span of a key wins, as when indexed
            // frame by frame.
            for f in 0..self.frames.len() {
                self.index(f);
            }
        } else {
            self.index(self.frames.len() - 1);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_finds_the_latest_place_of_a_key_within_the_window() {
        let mut index = Index::default();
        index.reset(64);
        let h = hash_id(7, 42);
        assert_eq!(index.get(h, 5), None);
        index.insert(h, 3, 10);
        index.insert(h, 4, 11);
        assert_eq!(index.get(h, 5), Some((4, 11)));
        // Not from the frame itself, nor past the window.
        assert_eq!(index.get(h, 4), None);
        assert_eq!(index.get(h, 4 + HISTORY_FRAMES), Some((4, 11)));
        assert_eq!(index.get(h, 5 + HISTORY_FRAMES), None);
    }

    #[test]
    fn a_full_bucket_gives_up_its_oldest_slot() {
        let mut index = Index::default();
        index.reset(0);
        // Keys of one bucket: the top bits of their hashes are equal.
        let bucket = |h: u64| h >> index.shift;
        let keys: Vec<u64> = (0u64..)
            .map(|k| hash_id(1, k))
            .filter(|&h| bucket(h) == 0)
            .take(WAYS + 1)
            .collect();
        for (i, &h) in keys.iter().enumerate() {
            index.insert(h, 1 + i as u64, i as u32);
        }
        let seq = WAYS as u64 + 2;
        assert_eq!(index.get(keys[0], seq), None);
        for (i, &h) in keys.iter().enumerate().skip(1) {
            assert_eq!(index.get(h, seq), Some((1 + i as u64, i as u32)));
        }
    }
}

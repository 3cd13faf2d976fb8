//! What a processor decides from an SDK attribute list's keys alone,
//! remembered per thread by the identity of the keys.
//!
//! Spans of one kind carry the same keys in the same order, and the SDK's
//! keys are nearly always `&'static str`s (or shared `Arc<str>`s): the
//! same bytes at the same address, span after span. A list whose keys sit
//! at the addresses and have the lengths of a remembered list has that
//! list's keys, so what was decided from them holds again, without a
//! lookup of each key.
//!
//! That is only sound while the remembered addresses cannot be reused by
//! other bytes. A list is remembered with a clone of each of its keys,
//! and only when every clone points at the bytes of the key it was cloned
//! from: then the clone, which the memo keeps, keeps those bytes alive and
//! unchanged (a static key's are never freed, a shared one's are counted),
//! and no other key can point into them. An owned key's clone is a new
//! allocation, so a list with one is not remembered: its address could be
//! freed and reused by another key. (An empty owned key's clone has the
//! same dangling address; a list with one is remembered, which is sound:
//! every key of length 0 is the empty key.) After a list that could not
//! be remembered, the next lists decided afresh on the same thread (by any
//! owner) do not try to be, for a while: 1 list, then twice as many after
//! each further failure, up to [`MAX_BACKOFF`]; remembering a list starts
//! over at 1. So lists of owned keys pay for cloning keys only now and
//! then.
//!
//! Each thread remembers at most [`SLOTS`] lists (of at most 64 keys),
//! each for one decider (see [`owner`]), in pairs of slots: a list goes
//! to the pair its owner, its length and three of its keys hash to, where
//! it takes the place of the older of the two lists there. The slot last
//! found or filled for a list of the same length (modulo 8) is looked at
//! before that hash is worked out.
//!
//! What is decided must depend on nothing but the owner and the keys'
//! texts in order, and an owner number must stand for one configuration
//! that never changes (a [`Redaction`](super::Redaction) is not changed
//! after it is built; its clones share its number).

use opentelemetry::{Key, KeyValue};
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

/// Lists remembered per thread.
const SLOTS: usize = 32;

/// The most lists after which remembering is tried again once it failed.
const MAX_BACKOFF: u32 = 1024;

/// Lists longer than this are not remembered (the decisions are bit sets
/// of 64 attributes).
const MAX_KEYS: usize = 64;

/// A number for one decider (e.g. one configured redaction): what is
/// remembered for one is never handed to another. A decider must not
/// change what it decides while it has its number.
pub(crate) fn owner() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// One remembered list.
struct Shape<T> {
    owner: u64,
    /// Each key's address and length.
    ids: Box<[(usize, usize)]>,
    /// Clones of the keys, which keep their bytes where `ids` says.
    _keys: Box<[Key]>,
    decided: T,
}

/// How many hints [`MemoCell`] keeps: one per list length modulo this.
const RECENT: usize = 8;

/// A thread's remembered lists of decisions `T`, for a `thread_local!`.
pub(crate) struct MemoCell<T> {
    slots: Vec<Option<Shape<T>>>,
    /// Per list length modulo [`RECENT`], the slot of the list last found
    /// or remembered with such a length, plus one (0: none). Lists of one
    /// kind come in runs, and a span's attributes and its events' take
    /// turns with lengths apart: the slot is looked at first, sparing the
    /// hash that picks a pair. Its list is compared like any other.
    recent: [u8; RECENT],
    /// Lists still to pass before remembering is tried again.
    skip: u32,
    /// The next wait after a failed try.
    backoff: u32,
}

impl<T> MemoCell<T> {
    /// Nothing remembered.
    pub(crate) const fn new() -> MemoCell<T> {
        MemoCell {
            slots: Vec::new(),
            recent: [0; RECENT],
            skip: 0,
            backoff: 1,
        }
    }

    /// How many lists are remembered (for tests).
    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.slots.iter().flatten().count()
    }
}

fn id(k: &Key) -> (usize, usize) {
    let s = k.as_str();
    (s.as_ptr() as usize, s.len())
}

/// The first of the two slots a list may take: by a hash of the owner,
/// the list's length and its first, middle and last keys' addresses and
/// lengths (hashing every key measured a tenth slower on 12-key lists).
/// Lists alike in those share a pair, which holds two of them.
fn pair(owner: u64, attrs: &[KeyValue]) -> usize {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let n = attrs.len();
    let sum = [0, n / 2, n.saturating_sub(1)]
        .into_iter()
        .filter_map(|i| attrs.get(i))
        .fold(owner ^ (n as u64) << 56, |h, kv| {
            let (at, len) = id(&kv.key);
            h.wrapping_add(((at as u64) ^ (len as u64) << 48).wrapping_mul(K))
        });
    let h = (sum ^ sum >> 29).wrapping_mul(K);
    2 * ((h >> 59) as usize % (SLOTS / 2))
}

/// What `owner` decides from the keys of `attrs`: remembered from an
/// earlier list with the same keys at the same addresses, or `decide`'s
/// answer (then remembered when it may be). `decide` must depend on
/// nothing but `owner` and the texts of the keys in order.
pub(crate) fn decided<T, F>(
    memo: &'static std::thread::LocalKey<RefCell<MemoCell<T>>>,
    owner: u64,
    attrs: &[KeyValue],
    decide: F,
) -> T
where
    T: Copy + 'static,
    F: FnOnce() -> T,
{
    if attrs.is_empty() || attrs.len() > MAX_KEYS {
        return decide();
    }
    let same = |shape: &Shape<T>| {
        shape.owner == owner
            && shape.ids.len() == attrs.len()
            && shape.ids.iter().zip(attrs).all(|(&i, kv)| i == id(&kv.key))
    };
    let bucket = attrs.len() % RECENT;
    let mut at = None;
    let found = memo
        .try_with(|m| {
            let mut m = m.try_borrow_mut().ok()?;
            let hint = usize::from(m.recent[bucket]).checked_sub(1);
            if let Some(Some(s)) = hint.and_then(|h| m.slots.get(h)) {
                if same(s) {
                    return Some(s.decided);
                }
            }
            let first = pair(owner, attrs);
            at = Some(first);
            let (i, s) = m
                .slots
                .get(first..first + 2)?
                .iter()
                .enumerate()
                .find_map(|(i, s)| s.as_ref().filter(|s| same(s)).map(|s| (i, s)))?;
            let decided = s.decided;
            m.recent[bucket] = (first + i + 1) as u8;
            Some(decided)
        })
        .ok()
        .flatten();
    if let Some(d) = found {
        return d;
    }
    let decided = decide();
    let at = at.unwrap_or_else(|| pair(owner, attrs));
    let _ = memo.try_with(|m| {
        let Ok(mut m) = m.try_borrow_mut() else {
            return;
        };
        if m.skip > 0 {
            m.skip -= 1;
            return;
        }
        let mut keys = Vec::with_capacity(attrs.len());
        for kv in attrs {
            let clone = kv.key.clone();
            if id(&clone) != id(&kv.key) {
                // An owned key: not remembered, and not tried for a while.
                m.skip = m.backoff;
                m.backoff = (m.backoff * 2).min(MAX_BACKOFF);
                return;
            }
            keys.push(clone);
        }
        m.backoff = 1;
        if m.slots.is_empty() {
            m.slots.resize_with(SLOTS, || None);
        }
        // The newest list in the pair's first slot, the one it displaces
        // in the second (the one there before is dropped).
        m.slots[at + 1] = m.slots[at].take();
        m.slots[at] = Some(Shape {
            owner,
            ids: keys.iter().map(id).collect(),
            _keys: keys.into_boxed_slice(),
            decided,
        });
        m.recent[bucket] = (at + 1) as u8;
    });
    decided
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::sync::Arc;

    thread_local! {
        static TEST_MEMO: RefCell<MemoCell<u64>> = const { RefCell::new(MemoCell::new()) };
    }

    fn remembered() -> usize {
        TEST_MEMO.with(|m| m.borrow().remembered())
    }

    fn clear() {
        TEST_MEMO.with(|m| *m.borrow_mut() = MemoCell::new());
    }

    /// The decision: the keys' lengths summed, counting the calls.
    fn decide(attrs: &[KeyValue], calls: &Cell<usize>) -> u64 {
        calls.set(calls.get() + 1);
        attrs.iter().map(|kv| kv.key.as_str().len() as u64).sum()
    }

    #[test]
    fn static_and_shared_keys_are_remembered() {
        clear();
        let shared: Arc<str> = Arc::from("shared.key");
        let list = || {
            vec![
                KeyValue::new("a.static.key", 1),
                KeyValue::new(Key::from(shared.clone()), 2),
            ]
        };
        let calls = Cell::new(0);
        let owner = owner();
        for _ in 0..5 {
            let attrs = list();
            let d = decided(&TEST_MEMO, owner, &attrs, || decide(&attrs, &calls));
            assert_eq!(d, 22);
        }
        assert_eq!(calls.get(), 1);
        assert_eq!(remembered(), 1);
        // Another owner decides afresh.
        let attrs = list();
        decided(&TEST_MEMO, super::owner(), &attrs, || {
            decide(&attrs, &calls)
        });
        assert_eq!(calls.get(), 2);
    }

    #[test]
    fn a_list_with_an_owned_key_is_never_remembered() {
        clear();
        let calls = Cell::new(0);
        let owner = owner();
        for round in 0..3000 {
            // The same text in a fresh allocation each time, which the
            // allocator often puts where the last one was.
            let attrs = vec![
                KeyValue::new("a.static.key", 1),
                KeyValue::new(format!("owned.{}", round % 2), 2),
            ];
            let d = decided(&TEST_MEMO, owner, &attrs, || decide(&attrs, &calls));
            assert_eq!(d, 19);
        }
        assert_eq!(calls.get(), 3000);
        assert_eq!(remembered(), 0);
    }

    #[test]
    fn other_keys_at_other_addresses_are_decided_afresh() {
        clear();
        let calls = Cell::new(0);
        let owner = owner();
        let a = [KeyValue::new("key.one", 1), KeyValue::new("key.two", 2)];
        let b = [KeyValue::new("key.one", 1), KeyValue::new("key.three", 2)];
        let c = [KeyValue::new("key.one", 1)];
        for _ in 0..3 {
            assert_eq!(decided(&TEST_MEMO, owner, &a, || decide(&a, &calls)), 14);
            assert_eq!(decided(&TEST_MEMO, owner, &b, || decide(&b, &calls)), 16);
            assert_eq!(decided(&TEST_MEMO, owner, &c, || decide(&c, &calls)), 7);
        }
        // Each list decided once, unless all three hash to one pair.
        assert!(calls.get() >= 3 && calls.get() <= 9, "{}", calls.get());
    }

    #[test]
    fn the_hint_for_a_length_never_hands_over_another_list() {
        clear();
        let calls = Cell::new(0);
        let (one, two) = (owner(), owner());
        // Lengths 2 and 10 share a hint; so do two owners of one list.
        let short = [KeyValue::new("key.one", 1), KeyValue::new("key.two", 2)];
        let long: Vec<KeyValue> = (0..10)
            .map(|i| KeyValue::new(["a", "bb", "ccc"][i % 3], i as i64))
            .collect();
        for _ in 0..50 {
            for (owner, list, want) in [(one, &short[..], 14), (one, &long, 19), (two, &short, 14)]
            {
                // A decision that tells the owners apart.
                let got = decided(&TEST_MEMO, owner, list, || {
                    decide(list, &calls) + 1000 * owner
                });
                assert_eq!(got, want + 1000 * owner);
            }
            // The hint now names the list the second owner remembered.
            TEST_MEMO.with(|m| {
                let m = m.borrow();
                let hint = usize::from(m.recent[2]) - 1;
                assert_eq!(m.slots[hint].as_ref().map(|s| s.owner), Some(two));
            });
        }
        // Each (owner, list) decided once, unless all three share a pair
        // of slots (which holds two).
        let pairs = [pair(one, &short), pair(one, &long), pair(two, &short)];
        if pairs[0] == pairs[1] && pairs[1] == pairs[2] {
            assert!(calls.get() >= 3);
        } else {
            assert_eq!(calls.get(), 3);
        }
    }

    #[test]
    fn two_lists_alike_but_for_one_key_are_each_remembered() {
        clear();
        let calls = Cell::new(0);
        let owner = owner();
        // Alike in the keys the slot is chosen by (the first, the middle
        // and the last): they share a pair of slots.
        let list = |second: &'static str| {
            [
                KeyValue::new("http.request.method", 1),
                KeyValue::new(second, 2),
                KeyValue::new("server.address", 3),
                KeyValue::new("server.port", 4),
            ]
        };
        let (a, b) = (list("url.full"), list("url.path"));
        assert_eq!(pair(owner, &a), pair(owner, &b));
        for _ in 0..100 {
            assert_eq!(decided(&TEST_MEMO, owner, &a, || decide(&a, &calls)), 52);
            assert_eq!(decided(&TEST_MEMO, owner, &b, || decide(&b, &calls)), 52);
        }
        assert_eq!(calls.get(), 2);
    }

    #[test]
    fn empty_and_long_lists_are_decided_each_time() {
        clear();
        let calls = Cell::new(0);
        let owner = owner();
        let long: Vec<KeyValue> = (0..65).map(|_| KeyValue::new("k", 1)).collect();
        for _ in 0..2 {
            decided(&TEST_MEMO, owner, &[], || decide(&[], &calls));
            decided(&TEST_MEMO, owner, &long, || decide(&long, &calls));
        }
        assert_eq!(calls.get(), 4);
        assert_eq!(remembered(), 0);
    }
}

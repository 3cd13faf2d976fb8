//! Attribute-key set membership.
//!
//! Keys are grouped by length; within a length, each key's head (16 bytes
//! that hold the whole key when it is at most 16 bytes long, else its
//! first 16) is kept side by side. A lookup compares the candidate's
//! first 16 bytes with one (NEON), two (AVX2) or four (AVX-512) stored
//! heads per instruction and looks at the rest of the bytes only on a head match.
//! The scalar twin compares the heads as two `u64`s each.

use super::Isa;

/// The fewest keys of one length for which the vector compare is used.
const VECTOR_MIN: usize = 4;

/// Keys of this length and longer share the last group (full compare).
const LONG: usize = 64;

#[derive(Clone, Debug, Default)]
struct Group {
    /// Each key's [`head`]; padded to an even count so the AVX2 path
    /// always loads pairs.
    heads: Vec<[u8; 16]>,
    keys: Vec<Box<[u8]>>,
}

/// A set of attribute keys.
#[derive(Clone, Debug)]
pub struct KeySet {
    groups: Vec<Group>,
    len: usize,
}

/// The 16 bytes compared first: the first 16 bytes of a longer key; of a
/// shorter one its first and last 8 (or 4) bytes, overlapping, so that
/// the head is read with a few fixed-size loads and, keys of one group
/// having one length, equal heads mean equal keys up to 16 bytes.
#[inline]
fn head(key: &[u8]) -> [u8; 16] {
    let n = key.len();
    let word = |at: usize| {
        key.get(at..at + 8)
            .and_then(|b| b.first_chunk::<8>())
            .map_or(0, |b| u64::from_le_bytes(*b))
    };
    let half = |at: usize| {
        key.get(at..at + 4)
            .and_then(|b| b.first_chunk::<4>())
            .map_or(0, |b| u64::from(u32::from_le_bytes(*b)))
    };
    // Built in registers and stored once: a head written in pieces and
    // read back whole stalls the load.
    let (lo, hi) = if n >= 16 {
        (word(0), word(8))
    } else if n >= 8 {
        (word(0), word(n - 8))
    } else if n >= 4 {
        (half(0) | half(n - 4) << 32, 0)
    } else {
        let mut v = 0u64;
        for (i, &b) in key.iter().enumerate() {
            v |= u64::from(b) << (8 * i);
        }
        (v, 0)
    };
    (u128::from(lo) | u128::from(hi) << 64).to_le_bytes()
}

impl KeySet {
    /// A set of the given keys (duplicates are kept once).
    pub fn new<I, K>(keys: I) -> KeySet
    where
        I: IntoIterator<Item = K>,
        K: AsRef<[u8]>,
    {
        let mut set = KeySet {
            groups: vec![Group::default(); LONG + 1],
            len: 0,
        };
        for k in keys {
            let k = k.as_ref();
            if set.contains_with(Isa::Scalar, k) {
                continue;
            }
            let g = &mut set.groups[k.len().min(LONG)];
            // Fill the padding slot first, if there is one.
            if g.heads.len() > g.keys.len() {
                g.heads.pop();
            }
            g.heads.push(head(k));
            g.keys.push(k.into());
            if g.heads.len() % 2 == 1 {
                // A padding head no key can match: keys[i] exists only for real heads.
                g.heads.push([0xff; 16]);
            }
            set.len += 1;
        }
        set
    }

    /// How many keys.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `key` is in the set.
    pub fn contains(&self, key: &[u8]) -> bool {
        self.contains_with(Isa::detect(), key)
    }

    /// [`KeySet::contains`] on an explicit instruction set.
    #[inline]
    pub fn contains_with(&self, isa: Isa, key: &[u8]) -> bool {
        let g = &self.groups[key.len().min(LONG)];
        if g.keys.is_empty() {
            return false;
        }
        let h = head(key);
        match isa.effective() {
            // Below four keys of one length, two u64 compares per key beat
            // setting up vectors (see docs/benchmarks.md).
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 | Isa::Avx512 if g.keys.len() >= VECTOR_MIN => {
                // SAFETY: `effective` returned an AVX2-capable level.
                unsafe { x86::contains_avx2(g, &h, key) }
            }
            #[cfg(target_arch = "aarch64")]
            Isa::Neon if g.keys.len() >= VECTOR_MIN => {
                // SAFETY: `effective` returned Neon, so the CPU has NEON.
                unsafe { neon::contains_neon(g, &h, key) }
            }
            _ => scalar_contains(g, &h, key),
        }
    }

    /// Membership of each key: `out[i]` is whether `keys[i]` is in the set
    /// (`out` is cleared first).
    pub fn contains_each<K: AsRef<[u8]>>(&self, isa: Isa, keys: &[K], out: &mut Vec<bool>) {
        out.clear();
        out.extend(keys.iter().map(|k| self.contains_with(isa, k.as_ref())));
    }
}

#[inline]
fn rest_equal(stored: &[u8], key: &[u8]) -> bool {
    // Same group: same length below LONG; for LONG compare everything.
    // The heads were equal: the first 16 bytes, or all of a shorter key.
    let n = key.len();
    if stored.len() != n {
        return false;
    }
    if n <= 16 {
        return true;
    }
    if n <= 32 {
        // The last 16 bytes, overlapping the head.
        return stored[n - 16..].first_chunk::<16>() == key[n - 16..].first_chunk::<16>();
    }
    stored[16..] == key[16..]
}

/// The scalar twin of one lookup.
fn scalar_contains(g: &Group, h: &[u8; 16], key: &[u8]) -> bool {
    let want = u128::from_le_bytes(*h);
    g.keys
        .iter()
        .zip(&g.heads)
        .any(|(k, head)| u128::from_le_bytes(*head) == want && rest_equal(k, key))
}

/// The scalar twin, as a set-level call (for the tests and benchmarks).
pub mod scalar {
    use super::KeySet;
    use crate::Isa;

    /// [`KeySet::contains`] on the scalar path.
    pub fn contains(set: &KeySet, key: &[u8]) -> bool {
        set.contains_with(Isa::Scalar, key)
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{rest_equal, Group};
    use core::arch::x86_64::*;

    /// # Safety
    /// The CPU must support AVX2; `g.heads.len()` is even.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn contains_avx2(g: &Group, h: &[u8; 16], key: &[u8]) -> bool {
        // SAFETY: `h` is 16 bytes.
        let want = _mm256_broadcastsi128_si256(unsafe { _mm_loadu_si128(h.as_ptr().cast()) });
        let base = g.heads.as_ptr().cast::<u8>();
        for pair in 0..g.heads.len() / 2 {
            // SAFETY: heads[2 pair..2 pair + 2] is in bounds (the length is even).
            let two = unsafe { _mm256_loadu_si256(base.add(pair * 32).cast()) };
            let eq = _mm256_movemask_epi8(_mm256_cmpeq_epi8(two, want)) as u32;
            for half in 0..2 {
                if (eq >> (16 * half)) & 0xffff == 0xffff {
                    if let Some(k) = g.keys.get(pair * 2 + half) {
                        if rest_equal(k, key) {
                            return true;
                        }
                    }
                }
            }
        }
        false
    }
}

#[cfg(target_arch = "aarch64")]
mod neon {
    use super::{rest_equal, Group};
    use core::arch::aarch64::*;

    /// # Safety
    /// The CPU must support NEON; `g.heads` has an entry for every key.
    #[target_feature(enable = "neon")]
    pub(super) unsafe fn contains_neon(g: &Group, h: &[u8; 16], key: &[u8]) -> bool {
        // SAFETY: `h` is 16 bytes.
        let want = unsafe { vld1q_u8(h.as_ptr()) };
        // The padding head (past the last key) is not looked at.
        for (k, head) in g.keys.iter().zip(&g.heads) {
            // SAFETY: `head` is 16 bytes.
            let eq = vceqq_u8(unsafe { vld1q_u8(head.as_ptr()) }, want);
            if vminvq_u8(eq) == 0xff && rest_equal(k, key) {
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    #[test]
    fn finds_exact_keys_only() {
        let long = "x".repeat(100);
        let set = KeySet::new(["http.method", "db.statement", "password", &long, "password"]);
        assert_eq!(set.len(), 4);
        for isa in Isa::available() {
            assert!(set.contains_with(isa, b"password"), "{isa:?}");
            assert!(set.contains_with(isa, long.as_bytes()));
            assert!(!set.contains_with(isa, "x".repeat(101).as_bytes()));
            assert!(!set.contains_with(isa, b"passwor"));
            assert!(!set.contains_with(isa, b"http.methoD"));
            assert!(!set.contains_with(isa, b""));
            assert!(!set.contains_with(isa, &[0xff; 16]));
        }
        // Enough keys of one length for the vector compare.
        let same: Vec<String> = (0..10).map(|i| format!("key.{i:04}")).collect();
        let set = KeySet::new(&same);
        for isa in Isa::available() {
            for k in &same {
                assert!(set.contains_with(isa, k.as_bytes()), "{isa:?} {k}");
            }
            assert!(!set.contains_with(isa, b"key.0010"));
        }
    }

    fn key() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(prop::sample::select(b"ab.\xff".to_vec()), 0..24),
            prop::collection::vec(any::<u8>(), 0..80),
        ]
    }

    /// Many keys of one length (the vector compare), from two letters, most
    /// starting with fourteen `a`s, so that heads match while the bytes
    /// after them differ.
    fn same_length(n: usize) -> impl Strategy<Value = Vec<Vec<u8>>> {
        let key = (
            prop::bool::weighted(0.7),
            prop::collection::vec(prop::sample::select(b"ab".to_vec()), n),
        )
            .prop_map(|(shared, mut k)| {
                if shared {
                    let m = k.len().min(14);
                    k[..m].fill(b'a');
                }
                k
            });
        prop::collection::vec(key, 0..24)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn every_isa_matches_on_one_length(
            (keys, probes) in (0usize..40).prop_flat_map(|n| (same_length(n), same_length(n))),
        ) {
            let set = KeySet::new(&keys);
            let reference: HashSet<&[u8]> = keys.iter().map(Vec::as_slice).collect();
            for p in probes.iter().chain(&keys) {
                let want = reference.contains(p.as_slice());
                for isa in Isa::available() {
                    prop_assert_eq!(set.contains_with(isa, p), want, "{:?}", isa);
                }
            }
        }

        #[test]
        fn every_isa_matches_a_hash_set(keys in prop::collection::vec(key(), 0..20), probes in prop::collection::vec(key(), 0..40)) {
            let set = KeySet::new(&keys);
            let reference: HashSet<&[u8]> = keys.iter().map(Vec::as_slice).collect();
            prop_assert_eq!(set.len(), reference.len());
            for p in probes.iter().chain(&keys) {
                let want = reference.contains(p.as_slice());
                prop_assert_eq!(scalar::contains(&set, p), want);
                for isa in Isa::available() {
                    prop_assert_eq!(set.contains_with(isa, p), want, "{:?}", isa);
                }
            }
        }
    }
}

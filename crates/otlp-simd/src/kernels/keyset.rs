//! Attribute-key set membership.
//!
//! Each key is kept as a 32-byte signature: its first 16 bytes and its
//! last 16 (overlapping when the key is shorter than 32 bytes; a key under
//! 16 bytes is held whole in the first half, read with a few fixed-size
//! loads, and the second half is zero). The signatures are stored side by
//! side in one array, grouped by key length, so a lookup reads its group's
//! bounds, builds the candidate's signature and compares it with each
//! signature of its length: four `u64`s at a time in the scalar twin, and
//! on every path when there are fewer than 16 keys of that length; else
//! one signature (AVX2) or its two halves (NEON) per instruction. Keys of one length with
//! equal signatures are equal when they are at most 32 bytes long, so a
//! lookup of such a key reads nothing but the signatures; a longer key's
//! bytes are compared only on a signature match.

use super::Isa;

/// The fewest keys of one length for which the vector compare is used:
/// below it, a lookup on every path compares four `u64`s per signature,
/// which measured as fast as or faster than one 32-byte vector compare
/// per signature for 2 to 16 keys of one length (see docs/benchmarks.md).
const VECTOR_MIN: usize = 16;

/// Keys of this length and longer share the last group (full compare).
const LONG: usize = 64;

/// Keys up to this long are told apart by their signature alone.
const SIG: usize = 32;

/// A set of attribute keys.
#[derive(Clone, Debug)]
pub struct KeySet {
    /// The keys of length `n` (of `LONG` and over for `n == LONG`) are at
    /// `ends[n]..ends[n + 1]` in `sigs` and `keys`.
    ends: [usize; LONG + 2],
    /// Each key's [`signature`], by length.
    sigs: Vec<[u8; SIG]>,
    /// Each key's bytes, in the order of `sigs` (read for keys over 32
    /// bytes only).
    keys: Vec<Box<[u8]>>,
}

/// A key's first 16 bytes and its last 16 (overlapping) when it has at
/// least 16; else the key itself in the first 16 (its first and last 8,
/// or 4, bytes, overlapping, which for keys of one length tells them apart
/// as well as the whole key) and zeros. Built in registers and stored
/// once: a signature written in pieces and read back whole stalls the load.
#[inline]
fn signature(key: &[u8]) -> [u8; SIG] {
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
    let [a, b, c, d] = if n >= 16 {
        [word(0), word(8), word(n - 16), word(n - 8)]
    } else if n >= 8 {
        [word(0), word(n - 8), 0, 0]
    } else if n >= 4 {
        [half(0) | half(n - 4) << 32, 0, 0, 0]
    } else {
        let mut v = 0u64;
        for (i, &b) in key.iter().enumerate() {
            v |= u64::from(b) << (8 * i);
        }
        [v, 0, 0, 0]
    };
    let lo = u128::from(a) | u128::from(b) << 64;
    let hi = u128::from(c) | u128::from(d) << 64;
    let mut out = [0u8; SIG];
    out[..16].copy_from_slice(&lo.to_le_bytes());
    out[16..].copy_from_slice(&hi.to_le_bytes());
    out
}

/// Whether `key`, whose signature matched `stored`'s, is `stored`: keys
/// of one group and at most 32 bytes long are (the signature holds them
/// whole); longer ones are compared.
#[inline]
fn rest_equal(stored: &[u8], key: &[u8]) -> bool {
    key.len() <= SIG || stored == key
}

impl KeySet {
    /// A set of the given keys (duplicates are kept once).
    pub fn new<I, K>(keys: I) -> KeySet
    where
        I: IntoIterator<Item = K>,
        K: AsRef<[u8]>,
    {
        let mut unique: Vec<Box<[u8]>> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for k in keys {
            let k = k.as_ref();
            if seen.insert(k.to_vec()) {
                unique.push(k.into());
            }
        }
        // Stable: keys of one length stay in the order given.
        unique.sort_by_key(|k| k.len().min(LONG));
        let mut ends = [0usize; LONG + 2];
        for k in &unique {
            ends[k.len().min(LONG) + 1] += 1;
        }
        for n in 1..ends.len() {
            ends[n] += ends[n - 1];
        }
        KeySet {
            ends,
            sigs: unique.iter().map(|k| signature(k)).collect(),
            keys: unique,
        }
    }

    /// How many keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether `key` is in the set.
    pub fn contains(&self, key: &[u8]) -> bool {
        self.contains_with(Isa::detect(), key)
    }

    /// [`KeySet::contains`] on an explicit instruction set.
    #[inline]
    pub fn contains_with(&self, isa: Isa, key: &[u8]) -> bool {
        let n = key.len().min(LONG);
        let (start, end) = (self.ends[n], self.ends[n + 1]);
        let sigs = match self.sigs.get(start..end) {
            Some(s) if !s.is_empty() => s,
            _ => return false,
        };
        // The stored keys of this group, read only for keys over 32 bytes.
        let keys = self.keys.get(start..end).unwrap_or_default();
        let probe = signature(key);
        if sigs.len() < VECTOR_MIN {
            // Few keys of one length: the scalar compare on every path.
            return scalar_contains(sigs, keys, &probe, key);
        }
        vector_contains(isa, sigs, keys, &probe, key)
    }

    /// Membership of each key: `out[i]` is whether `keys[i]` is in the set
    /// (`out` is cleared first).
    pub fn contains_each<K: AsRef<[u8]>>(&self, isa: Isa, keys: &[K], out: &mut Vec<bool>) {
        out.clear();
        out.extend(keys.iter().map(|k| self.contains_with(isa, k.as_ref())));
    }
}

/// A lookup in a group of [`VECTOR_MIN`] keys or more.
#[inline(never)]
fn vector_contains(
    isa: Isa,
    sigs: &[[u8; SIG]],
    keys: &[Box<[u8]>],
    probe: &[u8; SIG],
    key: &[u8],
) -> bool {
    match isa.effective() {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 | Isa::Avx512 => {
            // SAFETY: `effective` returned an AVX2-capable level.
            unsafe { x86::contains_avx2(sigs, keys, probe, key) }
        }
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => {
            // SAFETY: `effective` returned Neon, so the CPU has NEON.
            unsafe { neon::contains_neon(sigs, keys, probe, key) }
        }
        _ => scalar_contains(sigs, keys, probe, key),
    }
}

/// The scalar twin of one lookup in one group.
#[inline]
fn scalar_contains(sigs: &[[u8; SIG]], keys: &[Box<[u8]>], probe: &[u8; SIG], key: &[u8]) -> bool {
    let words = |s: &[u8; SIG]| {
        let (lo, hi) = s.split_at(16);
        (
            lo.first_chunk::<16>()
                .map_or(0, |b| u128::from_le_bytes(*b)),
            hi.first_chunk::<16>()
                .map_or(0, |b| u128::from_le_bytes(*b)),
        )
    };
    let want = words(probe);
    sigs.iter()
        .zip(keys)
        .any(|(s, k)| words(s) == want && rest_equal(k, key))
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
    use super::{rest_equal, SIG};
    use core::arch::x86_64::*;

    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn contains_avx2(
        sigs: &[[u8; SIG]],
        keys: &[Box<[u8]>],
        probe: &[u8; SIG],
        key: &[u8],
    ) -> bool {
        // SAFETY: `probe` is 32 bytes.
        let want = unsafe { _mm256_loadu_si256(probe.as_ptr().cast()) };
        for (s, k) in sigs.iter().zip(keys) {
            // SAFETY: `s` is 32 bytes.
            let one = unsafe { _mm256_loadu_si256(s.as_ptr().cast()) };
            if _mm256_movemask_epi8(_mm256_cmpeq_epi8(one, want)) == -1 && rest_equal(k, key) {
                return true;
            }
        }
        false
    }
}

#[cfg(target_arch = "aarch64")]
mod neon {
    use super::{rest_equal, SIG};
    use core::arch::aarch64::*;

    /// # Safety
    /// The CPU must support NEON.
    #[target_feature(enable = "neon")]
    pub(super) unsafe fn contains_neon(
        sigs: &[[u8; SIG]],
        keys: &[Box<[u8]>],
        probe: &[u8; SIG],
        key: &[u8],
    ) -> bool {
        // SAFETY: `probe` is 32 bytes: two loads of 16.
        let (lo, hi) = unsafe { (vld1q_u8(probe.as_ptr()), vld1q_u8(probe.as_ptr().add(16))) };
        for (s, k) in sigs.iter().zip(keys) {
            // SAFETY: `s` is 32 bytes: two loads of 16.
            let eq = unsafe {
                vandq_u8(
                    vceqq_u8(vld1q_u8(s.as_ptr()), lo),
                    vceqq_u8(vld1q_u8(s.as_ptr().add(16)), hi),
                )
            };
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

    #[cfg(target_os = "linux")]
    #[test]
    fn keys_ending_at_an_unmapped_page_are_read_within_bounds() {
        // Each key of the set, and each length of other bytes, looked up
        // where it ends right before an inaccessible page.
        let mut guarded = crate::kernels::guard::Guarded::new();
        let page = guarded.page();
        let end = page.len();
        let mut keys: Vec<String> = (1..=70).map(|n| "k".repeat(n)).collect();
        keys.extend((0..20).map(|i| format!("key.{i:04}")));
        keys.extend([
            "http.request.header.authorization".to_owned(),
            "a".to_owned(),
        ]);
        let set = KeySet::new(&keys);
        for k in &keys {
            page[end - k.len()..].copy_from_slice(k.as_bytes());
            for isa in Isa::available() {
                assert!(
                    set.contains_with(isa, &page[end - k.len()..]),
                    "{isa:?} {k}"
                );
            }
        }
        for (i, b) in page.iter_mut().enumerate() {
            *b = b"key.0012kkk"[i % 11];
        }
        for len in 0..=100 {
            let key = &page[end - len..];
            let want = scalar::contains(&set, key);
            for isa in Isa::available() {
                assert_eq!(set.contains_with(isa, key), want, "{isa:?} len {len}");
            }
        }
    }

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
        let same: Vec<String> = (0..20).map(|i| format!("key.{i:04}")).collect();
        let set = KeySet::new(&same);
        for isa in Isa::available() {
            for k in &same {
                assert!(set.contains_with(isa, k.as_bytes()), "{isa:?} {k}");
            }
            assert!(!set.contains_with(isa, b"key.0020"));
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
        prop::collection::vec(key, 0..40)
    }

    /// Keys longer than the signature (33 to 80 bytes, some of one length
    /// and some in the last group) with the same first and last 16 bytes:
    /// only the middle tells them apart.
    fn same_ends() -> impl Strategy<Value = Vec<Vec<u8>>> {
        let key = (33usize..80).prop_flat_map(|n| {
            prop::collection::vec(prop::sample::select(b"ab".to_vec()), n - 32).prop_map(|mid| {
                let mut k = vec![b'a'; 16];
                k.extend(mid);
                k.extend([b'z'; 16]);
                k
            })
        });
        prop::collection::vec(key, 0..48)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn every_isa_compares_the_middle_of_long_keys(keys in same_ends(), probes in same_ends()) {
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

    #[test]
    fn one_byte_apart_at_every_position_and_edge_length() {
        // Keys of one length differing in a single byte, with NUL and 0xff
        // fillers, at the lengths where the signature changes shape; one
        // key (scalar compare) and up to 21 (vector compare from 16) per
        // group.
        for n in [1usize, 3, 4, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100] {
            for fill in [0u8, 0xff] {
                let base = vec![fill; n];
                let mut keys = vec![base.clone()];
                for i in 0..n.min(20) {
                    let mut k = base.clone();
                    k[i] ^= 1;
                    keys.push(k);
                }
                for take in [1, keys.len()] {
                    let set = KeySet::new(&keys[..take]);
                    for i in 0..n {
                        let mut p = base.clone();
                        p[i] ^= 0x80;
                        for isa in Isa::available() {
                            assert!(!set.contains_with(isa, &p), "{isa:?} n {n} i {i}");
                            assert!(set.contains_with(isa, &base), "{isa:?} n {n}");
                        }
                    }
                }
            }
        }
    }
}

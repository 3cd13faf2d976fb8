//! The consistent-probability threshold compare over a column of trace ids.
//!
//! The OpenTelemetry consistent probability sampling specification takes the
//! randomness value R from the least-significant 56 bits of the trace id
//! (bytes 9 to 16, big-endian) and keeps a span when `R >= T`, T being the
//! 56-bit rejection threshold (0 keeps all, 2^56 keeps none). With SIMD, two
//! (NEON), four (AVX2) or eight (AVX-512) ids are byte-swapped, masked and
//! compared per instruction.

use super::Isa;

/// The low 56 bits: the randomness part of a trace id or an `rv` value.
pub const MASK56: u64 = (1 << 56) - 1;

/// The threshold that keeps nothing (2^56, larger than any 56-bit R).
pub const NEVER_SAMPLE: u64 = 1 << 56;

/// R of a trace id: bytes 9..16 read big-endian (the last 7 bytes).
#[inline]
pub fn randomness(id: &[u8; 16]) -> u64 {
    let mut last = [0u8; 8];
    last.copy_from_slice(&id[8..16]);
    u64::from_be_bytes(last) & MASK56
}

/// Fills `out` with a keep bitmask (bit `i % 64` of word `i / 64` set when
/// `ids[i]` is kept, i.e. its R is at least `threshold`) and returns how
/// many are kept. Thresholds above 2^56 are treated as 2^56 (keep none).
pub fn keep_mask(ids: &[[u8; 16]], threshold: u64, out: &mut Vec<u64>) -> usize {
    keep_mask_with(Isa::detect(), ids, threshold, out)
}

/// [`keep_mask`] on an explicit instruction set (scalar if the CPU lacks it).
pub fn keep_mask_with(isa: Isa, ids: &[[u8; 16]], threshold: u64, out: &mut Vec<u64>) -> usize {
    let threshold = threshold.min(NEVER_SAMPLE);
    out.clear();
    out.resize(ids.len().div_ceil(64), 0);
    match isa.effective() {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => {
            // SAFETY: `effective` returned Avx512, so the CPU has AVX-512 F/BW/VL and AVX2.
            unsafe { x86::keep_mask_avx512(ids, threshold, out) }
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => {
            // SAFETY: `effective` returned Avx2, so the CPU has AVX2.
            unsafe { x86::keep_mask_avx2(ids, threshold, out) }
        }
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => {
            // SAFETY: `effective` returned Neon, so the CPU has NEON.
            unsafe { neon::keep_mask_neon(ids, threshold, out) }
        }
        _ => scalar::keep_mask(ids, 0, threshold, out),
    }
}

/// Whether a bit is set in a mask made by [`keep_mask`].
#[inline]
pub fn mask_bit(mask: &[u64], i: usize) -> bool {
    mask.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
}

/// The scalar twin.
pub mod scalar {
    use super::randomness;

    /// Sets the bits of `ids[from..]`; `out` is zeroed and long enough.
    /// Returns how many of them are kept.
    pub fn keep_mask(ids: &[[u8; 16]], from: usize, threshold: u64, out: &mut [u64]) -> usize {
        let mut kept = 0;
        for (i, id) in ids.iter().enumerate().skip(from) {
            if randomness(id) >= threshold {
                out[i / 64] |= 1 << (i % 64);
                kept += 1;
            }
        }
        kept
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{scalar, MASK56};
    use core::arch::x86_64::*;

    /// Reverses the bytes of each 64-bit element (within 128-bit lanes).
    const BSWAP64: [i8; 32] = [
        7, 6, 5, 4, 3, 2, 1, 0, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 15, 14, 13,
        12, 11, 10, 9, 8,
    ];

    /// Four ids: their R values as four i64 lanes, in order.
    ///
    /// # Safety
    /// The CPU must support AVX2 and 64 bytes must be readable at `p`.
    #[target_feature(enable = "avx2")]
    unsafe fn r4(p: *const u8, bswap: __m256i, mask: __m256i) -> __m256i {
        // SAFETY: the caller guarantees 64 readable bytes at `p`; loadu has no alignment need.
        let (a, b) = unsafe {
            (
                _mm256_loadu_si256(p.cast()),
                _mm256_loadu_si256(p.add(32).cast()),
            )
        };
        // The high halves of the ids, as [id0, id2 | id1, id3], then in order.
        let hi = _mm256_unpackhi_epi64(a, b);
        let hi = _mm256_permute4x64_epi64::<0b11_01_10_00>(hi);
        _mm256_and_si256(_mm256_shuffle_epi8(hi, bswap), mask)
    }

    /// # Safety
    /// The CPU must support AVX2; `out` is zeroed and holds `ids.len()` bits.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn keep_mask_avx2(
        ids: &[[u8; 16]],
        threshold: u64,
        out: &mut [u64],
    ) -> usize {
        // SAFETY: BSWAP64 is 32 bytes.
        let bswap = unsafe { _mm256_loadu_si256(BSWAP64.as_ptr().cast()) };
        let mask = _mm256_set1_epi64x(MASK56 as i64);
        // R < 2^56 and T <= 2^56 are both non-negative as i64, so the signed
        // compare AVX2 has is exact.
        let th = _mm256_set1_epi64x(threshold as i64);
        let base = ids.as_ptr().cast::<u8>();
        let steps = ids.len() / 8;
        let mut kept = 0usize;
        for s in 0..steps {
            // SAFETY: step `s` reads ids 8s..8s+8, all inside `ids` (s < len / 8).
            let (r0, r1) = unsafe {
                (
                    r4(base.add(s * 128), bswap, mask),
                    r4(base.add(s * 128 + 64), bswap, mask),
                )
            };
            let rej0 = _mm256_movemask_pd(_mm256_castsi256_pd(_mm256_cmpgt_epi64(th, r0))) as u32;
            let rej1 = _mm256_movemask_pd(_mm256_castsi256_pd(_mm256_cmpgt_epi64(th, r1))) as u32;
            let keep = !(rej0 | (rej1 << 4)) & 0xff;
            kept += keep.count_ones() as usize;
            let i = s * 8;
            out[i / 64] |= u64::from(keep) << (i % 64);
        }
        kept + scalar::keep_mask(ids, steps * 8, threshold, out)
    }

    /// # Safety
    /// The CPU must support AVX-512 F and BW; `out` is zeroed and holds `ids.len()` bits.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn keep_mask_avx512(
        ids: &[[u8; 16]],
        threshold: u64,
        out: &mut [u64],
    ) -> usize {
        let bswap = _mm512_set4_epi32(0x08090a0b, 0x0c0d0e0f, 0x00010203, 0x04050607);
        let mask = _mm512_set1_epi64(MASK56 as i64);
        let th = _mm512_set1_epi64(threshold as i64);
        // After unpackhi the lanes hold [id0, id4, id1, id5, id2, id6, id3, id7].
        let order = _mm512_setr_epi64(0, 2, 4, 6, 1, 3, 5, 7);
        let base = ids.as_ptr().cast::<u8>();
        let steps = ids.len() / 8;
        let mut kept = 0usize;
        for s in 0..steps {
            // SAFETY: step `s` reads ids 8s..8s+8 (128 bytes), all inside `ids`.
            let (a, b) = unsafe {
                (
                    _mm512_loadu_si512(base.add(s * 128).cast()),
                    _mm512_loadu_si512(base.add(s * 128 + 64).cast()),
                )
            };
            let hi = _mm512_permutexvar_epi64(order, _mm512_unpackhi_epi64(a, b));
            let r = _mm512_and_si512(_mm512_shuffle_epi8(hi, bswap), mask);
            let keep = _mm512_cmpge_epu64_mask(r, th);
            kept += keep.count_ones() as usize;
            let i = s * 8;
            out[i / 64] |= u64::from(keep) << (i % 64);
        }
        kept + scalar::keep_mask(ids, steps * 8, threshold, out)
    }
}

#[cfg(target_arch = "aarch64")]
mod neon {
    use super::{scalar, MASK56};
    use core::arch::aarch64::*;

    /// # Safety
    /// The CPU must support NEON; `out` is zeroed and holds `ids.len()` bits.
    #[target_feature(enable = "neon")]
    pub(super) unsafe fn keep_mask_neon(
        ids: &[[u8; 16]],
        threshold: u64,
        out: &mut [u64],
    ) -> usize {
        let mask = vdupq_n_u64(MASK56);
        let th = vdupq_n_u64(threshold);
        let base = ids.as_ptr().cast::<u8>();
        let steps = ids.len() / 8;
        let mut kept = 0usize;
        for s in 0..steps {
            let mut keep = vdupq_n_u64(0);
            for k in 0..4 {
                let at = 128 * s + 32 * k;
                // SAFETY: step `s` reads ids 8s + 2k and 8s + 2k + 1 (32
                // bytes), inside `ids` (s < len / 8, k < 4); vld1q_u8 needs
                // no alignment.
                let (a, b) = unsafe { (vld1q_u8(base.add(at)), vld1q_u8(base.add(at + 16))) };
                // Each id's bytes 8..16 as a big-endian u64, in order.
                let hi = vzip2q_u64(
                    vreinterpretq_u64_u8(vrev64q_u8(a)),
                    vreinterpretq_u64_u8(vrev64q_u8(b)),
                );
                let r = vandq_u64(hi, mask);
                let bits = vcombine_u64(vcreate_u64(1 << (2 * k)), vcreate_u64(2 << (2 * k)));
                keep = vorrq_u64(keep, vandq_u64(vcgeq_u64(r, th), bits));
            }
            // The lanes' bits are disjoint, so their sum is their union.
            let keep = vaddvq_u64(keep);
            kept += keep.count_ones() as usize;
            let i = s * 8;
            out[i / 64] |= keep << (i % 64);
        }
        kept + scalar::keep_mask(ids, steps * 8, threshold, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn randomness_is_the_last_seven_bytes_big_endian() {
        let mut id = [0xffu8; 16];
        id[8] = 0xaa;
        id[9..].copy_from_slice(&[0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde]);
        assert_eq!(randomness(&id), 0x123456789abcde);
    }

    #[test]
    fn zero_keeps_all_and_never_keeps_none() {
        let ids: Vec<[u8; 16]> = (0..100u8).map(|i| [i; 16]).collect();
        for isa in Isa::available() {
            let mut m = Vec::new();
            assert_eq!(keep_mask_with(isa, &ids, 0, &mut m), 100);
            assert_eq!(keep_mask_with(isa, &ids, NEVER_SAMPLE, &mut m), 0);
            assert_eq!(keep_mask_with(isa, &ids, u64::MAX, &mut m), 0);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn every_isa_matches_scalar(
            ids in prop::collection::vec(any::<[u8; 16]>(), 0..300),
            th in prop_oneof![0u64..=NEVER_SAMPLE, any::<u64>()],
            pick in any::<prop::sample::Index>(),
        ) {
            // Thresholds equal to one of the ids' R exercise the `>=` edge.
            let th = if ids.is_empty() || th % 3 != 0 { th } else { randomness(&ids[pick.index(ids.len())]) };
            let mut want = vec![0; ids.len().div_ceil(64)];
            let n = scalar::keep_mask(&ids, 0, th.min(NEVER_SAMPLE), &mut want);
            for isa in Isa::available() {
                let mut got = Vec::new();
                prop_assert_eq!(keep_mask_with(isa, &ids, th, &mut got), n, "{:?}", isa);
                prop_assert_eq!(&got, &want, "{:?}", isa);
            }
        }
    }
}

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
    use super::scalar;
    use core::arch::x86_64::*;

    /// Collects the keep bits of blocks of eight ids, one byte a block, and
    /// stores them a word (64 ids) at a time, counting the kept ids.
    struct Words<'a> {
        out: &'a mut [u64],
        block: usize,
        bits: u64,
        kept: usize,
    }

    impl<'a> Words<'a> {
        fn new(out: &'a mut [u64]) -> Self {
            Words {
                out,
                block: 0,
                bits: 0,
                kept: 0,
            }
        }

        #[inline(always)]
        fn push(&mut self, keep: u8) {
            self.bits |= u64::from(keep) << ((self.block % 8) * 8);
            if self.block % 8 == 7 {
                self.flush();
            }
            self.block += 1;
        }

        #[inline(always)]
        fn flush(&mut self) {
            self.kept += self.bits.count_ones() as usize;
            self.out[self.block / 8] = self.bits;
            self.bits = 0;
        }

        /// Stores the last, partial word; returns how many ids were kept.
        fn finish(mut self) -> usize {
            if !self.block.is_multiple_of(8) {
                self.flush();
            }
            self.kept
        }
    }

    /// Per 128-bit lane (one id): R (the id's bytes 15 down to 9, then a
    /// zero) into the lane's low 64 bits, zeros above.
    const R_LOW: [i8; 32] = [
        15, 14, 13, 12, 11, 10, 9, -128, -128, -128, -128, -128, -128, -128, -128, -128, 15, 14,
        13, 12, 11, 10, 9, -128, -128, -128, -128, -128, -128, -128, -128, -128,
    ];
    /// The same into the lane's high 64 bits.
    const R_HIGH: [i8; 32] = [
        -128, -128, -128, -128, -128, -128, -128, -128, 15, 14, 13, 12, 11, 10, 9, -128, -128,
        -128, -128, -128, -128, -128, -128, -128, 15, 14, 13, 12, 11, 10, 9, -128,
    ];

    /// The bits of a mask over ids in the order [0, 2, 1, 3, 4, 6, 5, 7]
    /// put back in id order.
    const UNSWAP: [u8; 256] = {
        let mut t = [0u8; 256];
        let mut m = 0;
        while m < 256 {
            let b = m as u8;
            // Bits 1 and 2 trade places, as do bits 5 and 6.
            t[m] = (b & 0b1001_1001) | ((b & 0b0010_0010) << 1) | ((b & 0b0100_0100) >> 1);
            m += 1;
        }
        t
    };

    /// # Safety
    /// The CPU must support AVX2; `out` is zeroed and holds `ids.len()` bits.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn keep_mask_avx2(
        ids: &[[u8; 16]],
        threshold: u64,
        out: &mut [u64],
    ) -> usize {
        // SAFETY: R_LOW and R_HIGH are 32 bytes each.
        let (lo, hi) = unsafe {
            (
                _mm256_loadu_si256(R_LOW.as_ptr().cast()),
                _mm256_loadu_si256(R_HIGH.as_ptr().cast()),
            )
        };
        // R < 2^56 and T <= 2^56 are both non-negative as i64, so the signed
        // compare AVX2 has is exact.
        let th = _mm256_set1_epi64x(threshold as i64);
        let base = ids.as_ptr().cast::<u8>();
        let blocks = ids.len() / 8;
        let mut words = Words::new(out);
        for blk in 0..blocks {
            let p = blk * 128;
            // SAFETY: reads ids 8blk .. 8blk+8 (128 bytes), inside `ids` (blk < len / 8).
            let (a, b, c, d) = unsafe {
                (
                    _mm256_loadu_si256(base.add(p).cast()),
                    _mm256_loadu_si256(base.add(p + 32).cast()),
                    _mm256_loadu_si256(base.add(p + 64).cast()),
                    _mm256_loadu_si256(base.add(p + 96).cast()),
                )
            };
            // Lanes [R0, R2, R1, R3] and [R4, R6, R5, R7].
            let r0 = _mm256_or_si256(_mm256_shuffle_epi8(a, lo), _mm256_shuffle_epi8(b, hi));
            let r1 = _mm256_or_si256(_mm256_shuffle_epi8(c, lo), _mm256_shuffle_epi8(d, hi));
            let rej0 = _mm256_movemask_pd(_mm256_castsi256_pd(_mm256_cmpgt_epi64(th, r0)));
            let rej1 = _mm256_movemask_pd(_mm256_castsi256_pd(_mm256_cmpgt_epi64(th, r1)));
            let keep = UNSWAP[(!(rej0 | (rej1 << 4)) & 0xff) as usize];
            words.push(keep);
        }
        words.finish() + scalar::keep_mask(ids, blocks * 8, threshold, out)
    }

    /// The bits of a mask over ids in the order [0, 4, 1, 5, 2, 6, 3, 7]
    /// put back in id order.
    const UNZIP: [u8; 256] = {
        let mut t = [0u8; 256];
        let mut m = 0;
        while m < 256 {
            let mut v = 0u8;
            let mut j = 0;
            while j < 8 {
                if m & (1 << j) != 0 {
                    // Bit j holds id (j / 2) + 4 (j % 2).
                    v |= 1 << (j / 2 + 4 * (j % 2));
                }
                j += 1;
            }
            t[m] = v;
            m += 1;
        }
        t
    };

    /// # Safety
    /// The CPU must support AVX-512 F and BW; `out` is zeroed and holds `ids.len()` bits.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn keep_mask_avx512(
        ids: &[[u8; 16]],
        threshold: u64,
        out: &mut [u64],
    ) -> usize {
        // SAFETY: R_LOW and R_HIGH are 32 bytes each; each 128-bit lane of
        // them is the same 16-byte control, broadcast to the four lanes.
        let (lo, hi) = unsafe {
            (
                _mm512_broadcast_i32x4(_mm_loadu_si128(R_LOW.as_ptr().cast())),
                _mm512_broadcast_i32x4(_mm_loadu_si128(R_HIGH.as_ptr().cast())),
            )
        };
        let th = _mm512_set1_epi64(threshold as i64);
        let base = ids.as_ptr().cast::<u8>();
        let blocks = ids.len() / 8;
        let mut words = Words::new(out);
        for blk in 0..blocks {
            let p = blk * 128;
            // SAFETY: reads ids 8blk .. 8blk+8 (128 bytes), inside `ids` (blk < len / 8).
            let (a, b) = unsafe {
                (
                    _mm512_loadu_si512(base.add(p).cast()),
                    _mm512_loadu_si512(base.add(p + 64).cast()),
                )
            };
            // Lanes [R0, R4, R1, R5, R2, R6, R3, R7].
            let r = _mm512_or_si512(_mm512_shuffle_epi8(a, lo), _mm512_shuffle_epi8(b, hi));
            let keep = UNZIP[usize::from(_mm512_cmpge_epu64_mask(r, th))];
            words.push(keep);
        }
        words.finish() + scalar::keep_mask(ids, blocks * 8, threshold, out)
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

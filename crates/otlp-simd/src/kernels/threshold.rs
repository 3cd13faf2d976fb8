//! The consistent-probability threshold compare over a column of trace ids.
//!
//! The OpenTelemetry consistent probability sampling specification takes the
//! randomness value R from the least-significant 56 bits of the trace id
//! (bytes 9 to 16, big-endian) and keeps a span when `R >= T`, T being the
//! 56-bit rejection threshold (0 keeps all, 2^56 keeps none). With SIMD, two
//! (NEON), four (AVX2) or eight (AVX-512) ids are compared per instruction:
//! on x86-64 a block of eight ids gives its high halves to one 64-bit
//! unpack per two vectors and one byte shuffle that reverses each R (and
//! clears the byte above it); the keep bits of a word's eight blocks are
//! gathered in a register and put back in id order with delta swaps.

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
            // SAFETY: `effective` returned Avx512, so the CPU has AVX-512 F/BW/VL, AVX2 and POPCNT.
            unsafe { x86::keep_mask_avx512(ids, threshold, out) }
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => {
            // SAFETY: `effective` returned Avx2, so the CPU has AVX2 and POPCNT.
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

    /// Swaps the bits of `x` that `mask` marks with those `shift` above.
    #[inline(always)]
    fn delta_swap(x: u64, mask: u64, shift: u32) -> u64 {
        let t = ((x >> shift) ^ x) & mask;
        x ^ t ^ (t << shift)
    }

    const BYTES: u64 = 0x0101_0101_0101_0101;

    /// Each byte's bits from the AVX2 order, ids [0, 4, 2, 6, 1, 5, 3, 7],
    /// into id order: bits 1 and 4 trade places, as do 3 and 6.
    #[inline(always)]
    fn from_avx2_order(x: u64) -> u64 {
        delta_swap(x, 0x0a * BYTES, 3)
    }

    /// Each byte's bits from the AVX-512 order, ids [0, 4, 1, 5, 2, 6, 3,
    /// 7], into id order: [0, 1, 4, 5, 2, 3, 6, 7] after the first swap.
    #[inline(always)]
    fn from_avx512_order(x: u64) -> u64 {
        delta_swap(delta_swap(x, 0x22 * BYTES, 1), 0x0c * BYTES, 2)
    }

    /// Runs `block` (the keep bits of ids `8b .. 8b + 8`, in the kernel's
    /// order, which `in_id_order` undoes) over the whole blocks of `ids`,
    /// stores one word per 64 ids and returns how many of those ids are
    /// kept. The ids after the last whole block are left to the caller.
    #[inline(always)]
    fn blocks(
        ids: usize,
        out: &mut [u64],
        in_id_order: impl Fn(u64) -> u64,
        mut block: impl FnMut(usize) -> u8,
    ) -> usize {
        let blocks = ids / 8;
        let mut kept = 0;
        for (w, word) in out.iter_mut().enumerate().take(blocks.div_ceil(8)) {
            let mut bits = 0u64;
            for j in 0..(blocks - 8 * w).min(8) {
                bits |= u64::from(block(8 * w + j)) << (8 * j);
            }
            let bits = in_id_order(bits);
            kept += bits.count_ones() as usize;
            *word = bits;
        }
        kept
    }

    /// Per 128-bit lane holding two ids' bytes 8..16: each id's R (its
    /// bytes 15 down to 9, then a zero) in the lane's 64-bit halves.
    const R_OF_HIGH_HALVES: [i8; 16] = [7, 6, 5, 4, 3, 2, 1, -128, 15, 14, 13, 12, 11, 10, 9, -128];

    /// # Safety
    /// The CPU must support AVX2 and POPCNT; `out` is zeroed and holds `ids.len()` bits.
    #[target_feature(enable = "avx2,popcnt")]
    pub(super) unsafe fn keep_mask_avx2(
        ids: &[[u8; 16]],
        threshold: u64,
        out: &mut [u64],
    ) -> usize {
        // SAFETY: R_OF_HIGH_HALVES is 16 bytes.
        let r_of = _mm256_broadcastsi128_si256(unsafe {
            _mm_loadu_si128(R_OF_HIGH_HALVES.as_ptr().cast())
        });
        // R < 2^56 and T - 1 in -1 ..= 2^56 - 1 are exact as i64, so the
        // signed compare AVX2 has tells R > T - 1, i.e. R >= T. (With T
        // itself, the compiler, seeing both sides non-negative, would make
        // the compare unsigned, which AVX2 does in three instructions.)
        let th = _mm256_set1_epi64x(threshold as i64 - 1);
        let base = ids.as_ptr().cast::<u8>();
        let block = |b: usize| {
            let p = b * 128;
            // SAFETY: reads ids 8b .. 8b + 8 (128 bytes), inside `ids`
            // (`blocks` passes b < len / 8).
            let (a, b, c, d) = unsafe {
                (
                    _mm256_loadu_si256(base.add(p).cast()),
                    _mm256_loadu_si256(base.add(p + 32).cast()),
                    _mm256_loadu_si256(base.add(p + 64).cast()),
                    _mm256_loadu_si256(base.add(p + 96).cast()),
                )
            };
            // The ids' high halves, as 64-bit lanes [0, 2, 1, 3] and
            // [4, 6, 5, 7], then each one's R.
            let r0 = _mm256_shuffle_epi8(_mm256_unpackhi_epi64(a, b), r_of);
            let r1 = _mm256_shuffle_epi8(_mm256_unpackhi_epi64(c, d), r_of);
            let keep0 = _mm256_cmpgt_epi64(r0, th);
            let keep1 = _mm256_cmpgt_epi64(r1, th);
            // 32-bit lanes: the even ones from keep0, the odd ones from
            // keep1, i.e. ids [0, 4, 2, 6, 1, 5, 3, 7].
            let keep = _mm256_blend_epi32::<0b1010_1010>(keep0, keep1);
            _mm256_movemask_ps(_mm256_castsi256_ps(keep)) as u8
        };
        let kept = blocks(ids.len(), out, from_avx2_order, block);
        kept + scalar::keep_mask(ids, ids.len() / 8 * 8, threshold, out)
    }

    /// # Safety
    /// The CPU must support AVX-512 F and BW and POPCNT; `out` is zeroed
    /// and holds `ids.len()` bits.
    #[target_feature(enable = "avx512f,avx512bw,popcnt")]
    pub(super) unsafe fn keep_mask_avx512(
        ids: &[[u8; 16]],
        threshold: u64,
        out: &mut [u64],
    ) -> usize {
        // SAFETY: R_OF_HIGH_HALVES is 16 bytes.
        let r_of =
            _mm512_broadcast_i32x4(unsafe { _mm_loadu_si128(R_OF_HIGH_HALVES.as_ptr().cast()) });
        let th = _mm512_set1_epi64(threshold as i64);
        let base = ids.as_ptr().cast::<u8>();
        let block = |b: usize| {
            let p = b * 128;
            // SAFETY: reads ids 8b .. 8b + 8 (128 bytes), inside `ids`
            // (`blocks` passes b < len / 8).
            let (a, b) = unsafe {
                (
                    _mm512_loadu_si512(base.add(p).cast()),
                    _mm512_loadu_si512(base.add(p + 64).cast()),
                )
            };
            // The ids' high halves as 64-bit lanes [0, 4, 1, 5, 2, 6, 3, 7],
            // then each one's R.
            let r = _mm512_shuffle_epi8(_mm512_unpackhi_epi64(a, b), r_of);
            _mm512_cmpge_epu64_mask(r, th)
        };
        let kept = blocks(ids.len(), out, from_avx512_order, block);
        kept + scalar::keep_mask(ids, ids.len() / 8 * 8, threshold, out)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        /// Bit `p` of every byte of `x` holding the id `order[p]`, in id order.
        fn by_planes(x: u64, order: [u32; 8]) -> u64 {
            (0..8).fold(0, |out, p| out | ((x >> p) & BYTES) << order[p])
        }

        #[test]
        fn orders_are_undone() {
            let mut x = 0x9e37_79b9_7f4a_7c15u64;
            for _ in 0..1000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                assert_eq!(from_avx2_order(x), by_planes(x, [0, 4, 2, 6, 1, 5, 3, 7]));
                assert_eq!(from_avx512_order(x), by_planes(x, [0, 4, 1, 5, 2, 6, 3, 7]));
            }
        }
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

    #[cfg(target_os = "linux")]
    #[test]
    fn ids_ending_at_an_unmapped_page_are_read_within_bounds() {
        let mut guarded = crate::kernels::guard::Guarded::new();
        let page = guarded.page();
        for (i, b) in page.iter_mut().enumerate() {
            *b = (i * 131 + i / 7) as u8;
        }
        let all = page.as_chunks::<16>().0;
        for len in 0..=200 {
            let ids = &all[all.len() - len..];
            for th in [0, 1 << 54, 1 << 55, NEVER_SAMPLE] {
                let mut want = vec![0; len.div_ceil(64)];
                let n = scalar::keep_mask(ids, 0, th, &mut want);
                for isa in Isa::available() {
                    let mut got = Vec::new();
                    assert_eq!(
                        keep_mask_with(isa, ids, th, &mut got),
                        n,
                        "{isa:?} len {len}"
                    );
                    assert_eq!(got, want, "{isa:?} len {len}");
                }
            }
        }
    }

    #[test]
    fn every_isa_matches_scalar_at_every_length_offset_and_edge_threshold() {
        // Ids at several byte offsets of a buffer, lengths through 200 and
        // about the 64-id words, R at 0, 1, 2^56 - 2 and 2^56 - 1 among
        // random ones, and thresholds at the edges and at the ids' R.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut buf: Vec<u8> = (0..16 * 1100 + 16).map(|_| next() as u8).collect();
        for k in 0..1100 {
            let r = &mut buf[16 * k + 9..16 * k + 16];
            match next() % 6 {
                0 => r.fill(0),
                1 => r.fill(0xff),
                2 => r.copy_from_slice(&[0, 0, 0, 0, 0, 0, 1]),
                3 => r.copy_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]),
                _ => {}
            }
        }
        let lens: Vec<usize> = (0..=200)
            .chain([255, 256, 257, 511, 512, 513, 1023, 1024, 1025, 1087])
            .collect();
        for off in [0, 1, 3, 7, 8, 15] {
            let all = buf[off..].as_chunks::<16>().0;
            for &len in &lens {
                let ids = &all[..len];
                let mut ths = vec![0, 1, 2, MASK56 - 1, MASK56, NEVER_SAMPLE, NEVER_SAMPLE + 1];
                ths.extend([1 << 55, (1 << 55) - 1, (1 << 63) - 1, 1 << 63, u64::MAX]);
                for id in ids.iter().take(4) {
                    let r = randomness(id);
                    ths.extend([r, r + 1, r.wrapping_sub(1)]);
                }
                for th in ths {
                    let mut want = vec![0; len.div_ceil(64)];
                    let n = scalar::keep_mask(ids, 0, th.min(NEVER_SAMPLE), &mut want);
                    for isa in Isa::available() {
                        // A mask left longer and full by an earlier call.
                        let mut got = vec![u64::MAX; 40];
                        let kept = keep_mask_with(isa, ids, th, &mut got);
                        assert_eq!(kept, n, "{isa:?} off {off} len {len} th {th}");
                        assert_eq!(got, want, "{isa:?} off {off} len {len} th {th}");
                    }
                }
            }
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

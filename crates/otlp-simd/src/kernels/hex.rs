//! Lower-case hex of ids (and any bytes), as OTLP/JSON and W3C headers
//! write trace and span ids.
//!
//! The x86 paths widen each byte to 16 bits, split it into its two
//! nibbles in one lane (high nibble first, as hex is read), and map all
//! nibbles to ASCII at once with a 16-entry byte shuffle. The NEON path
//! maps the high and the low nibbles of 16 bytes with two table lookups
//! and stores them interleaved.

use super::Isa;

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Appends the lower-case hex of `src` (two bytes per byte) to `out`.
pub fn append_hex(src: &[u8], out: &mut Vec<u8>) {
    append_hex_with(Isa::detect(), src, out)
}

/// [`append_hex`] on an explicit instruction set (scalar if the CPU lacks it).
pub fn append_hex_with(isa: Isa, src: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + 2 * src.len(), 0);
    let dst = &mut out[start..];
    match isa.effective() {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => {
            // SAFETY: `effective` returned Avx512, so the CPU has AVX-512 F/BW; dst is 2 * src long.
            unsafe { x86::hex_avx512(src, dst) }
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => {
            // SAFETY: `effective` returned Avx2, so the CPU has AVX2; dst is 2 * src long.
            unsafe { x86::hex_avx2(src, dst) }
        }
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => {
            // SAFETY: `effective` returned Neon, so the CPU has NEON; dst is 2 * src long.
            unsafe { neon::hex_neon(src, dst) }
        }
        _ => scalar::hex(src, dst),
    }
}

/// The hex of each 16-byte id, 32 characters each, one after another.
pub fn append_hex_ids(ids: &[[u8; 16]], out: &mut Vec<u8>) {
    append_hex(ids.as_flattened(), out)
}

/// The scalar twin.
pub mod scalar {
    use super::DIGITS;

    /// Writes the hex of `src` into `dst` (which is `2 * src.len()` long).
    pub fn hex(src: &[u8], dst: &mut [u8]) {
        for (b, pair) in src.iter().zip(dst.chunks_exact_mut(2)) {
            pair[0] = DIGITS[usize::from(b >> 4)];
            pair[1] = DIGITS[usize::from(b & 0x0f)];
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{scalar, DIGITS};
    use core::arch::x86_64::*;

    /// # Safety
    /// The CPU must support AVX2 and `dst.len() == 2 * src.len()`.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn hex_avx2(src: &[u8], dst: &mut [u8]) {
        // SAFETY: DIGITS is 16 bytes.
        let lut = _mm256_broadcastsi128_si256(unsafe { _mm_loadu_si128(DIGITS.as_ptr().cast()) });
        let low = _mm256_set1_epi16(0x0f);
        let steps = src.len() / 16;
        for s in 0..steps {
            // SAFETY: reads src[16s..16s+16] (s < len / 16).
            let x = unsafe { _mm_loadu_si128(src.as_ptr().add(s * 16).cast()) };
            let w = _mm256_cvtepu8_epi16(x);
            // Each 16-bit lane becomes [high nibble, low nibble] in memory order.
            let nib = _mm256_or_si256(
                _mm256_srli_epi16::<4>(w),
                _mm256_slli_epi16::<8>(_mm256_and_si256(w, low)),
            );
            let ascii = _mm256_shuffle_epi8(lut, nib);
            // SAFETY: writes dst[32s..32s+32], inside dst (2 * src.len() long).
            unsafe { _mm256_storeu_si256(dst.as_mut_ptr().add(s * 32).cast(), ascii) };
        }
        scalar::hex(&src[steps * 16..], &mut dst[steps * 32..]);
    }

    /// # Safety
    /// The CPU must support AVX-512 F and BW and `dst.len() == 2 * src.len()`.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn hex_avx512(src: &[u8], dst: &mut [u8]) {
        // SAFETY: DIGITS is 16 bytes.
        let lut = _mm512_broadcast_i32x4(unsafe { _mm_loadu_si128(DIGITS.as_ptr().cast()) });
        let low = _mm512_set1_epi16(0x0f);
        let steps = src.len() / 32;
        for s in 0..steps {
            // SAFETY: reads src[32s..32s+32] (s < len / 32).
            let x = unsafe { _mm256_loadu_si256(src.as_ptr().add(s * 32).cast()) };
            let w = _mm512_cvtepu8_epi16(x);
            let nib = _mm512_or_si512(
                _mm512_srli_epi16::<4>(w),
                _mm512_slli_epi16::<8>(_mm512_and_si512(w, low)),
            );
            let ascii = _mm512_shuffle_epi8(lut, nib);
            // SAFETY: writes dst[64s..64s+64], inside dst.
            unsafe { _mm512_storeu_si512(dst.as_mut_ptr().add(s * 64).cast(), ascii) };
        }
        let done = steps * 32;
        // SAFETY: the CPU has AVX2 too (AVX-512 implies it); same length contract.
        unsafe { hex_avx2(&src[done..], &mut dst[2 * done..]) }
    }
}

#[cfg(target_arch = "aarch64")]
mod neon {
    use super::{scalar, DIGITS};
    use core::arch::aarch64::*;

    /// # Safety
    /// The CPU must support NEON and `dst.len() == 2 * src.len()`.
    #[target_feature(enable = "neon")]
    pub(super) unsafe fn hex_neon(src: &[u8], dst: &mut [u8]) {
        // SAFETY: DIGITS is 16 bytes.
        let lut = unsafe { vld1q_u8(DIGITS.as_ptr()) };
        let low = vdupq_n_u8(0x0f);
        let steps = src.len() / 16;
        for s in 0..steps {
            // SAFETY: reads src[16s..16s+16] (s < len / 16).
            let x = unsafe { vld1q_u8(src.as_ptr().add(s * 16)) };
            let hi = vqtbl1q_u8(lut, vshrq_n_u8::<4>(x));
            let lo = vqtbl1q_u8(lut, vandq_u8(x, low));
            // SAFETY: writes dst[32s..32s+32] (high, low, high, low, ..),
            // inside dst (2 * src.len() long).
            unsafe { vst2q_u8(dst.as_mut_ptr().add(s * 32), uint8x16x2_t(hi, lo)) };
        }
        scalar::hex(&src[steps * 16..], &mut dst[steps * 32..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn input_ending_at_an_unmapped_page_is_read_within_bounds() {
        let mut guarded = crate::kernels::guard::Guarded::new();
        let page = guarded.page();
        for (i, b) in page.iter_mut().enumerate() {
            *b = (i * 37) as u8;
        }
        let end = page.len();
        for len in 0..=300 {
            let src = &page[end - len..];
            let mut want = vec![0; 2 * len];
            scalar::hex(src, &mut want);
            for isa in Isa::available() {
                let mut out = Vec::new();
                append_hex_with(isa, src, &mut out);
                assert_eq!(out, want, "{isa:?} len {len}");
            }
        }
    }

    #[test]
    fn known_id() {
        let id = [
            0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e,
            0x47, 0x36,
        ];
        for isa in Isa::available() {
            let mut out = b"x".to_vec();
            append_hex_with(isa, &id, &mut out);
            assert_eq!(out, b"x4bf92f3577b34da6a3ce929d0e0e4736", "{isa:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn every_isa_matches_scalar(src in prop::collection::vec(any::<u8>(), 0..300)) {
            let mut want = vec![0; src.len() * 2];
            scalar::hex(&src, &mut want);
            let std: String = src.iter().map(|b| format!("{b:02x}")).collect();
            prop_assert_eq!(&want, std.as_bytes());
            for isa in Isa::available() {
                let mut got = Vec::new();
                append_hex_with(isa, &src, &mut got);
                prop_assert_eq!(&got, &want, "{:?}", isa);
            }
        }
    }
}

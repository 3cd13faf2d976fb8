//! UTF-8 validation with the answer `std::str::from_utf8` gives.
//!
//! Telemetry strings are nearly all ASCII, so the vector paths test 32
//! (NEON, AVX2) or 64 (AVX-512) bytes per step for a set high bit and hand only
//! the first non-ASCII character of a block to the scalar decoder, then go
//! back to whole blocks, so mostly non-ASCII text gains nothing from the
//! vectors; values shorter than one vector go to the scalar twin directly.

use super::Isa;

/// The offset of the first byte that is not part of a valid UTF-8 sequence
/// (what `Utf8Error::valid_up_to` reports), or `None` when all of `bytes` is
/// valid UTF-8.
pub fn first_invalid(bytes: &[u8]) -> Option<usize> {
    first_invalid_with(Isa::detect(), bytes)
}

/// Whether `bytes` is valid UTF-8.
pub fn is_valid(bytes: &[u8]) -> bool {
    first_invalid(bytes).is_none()
}

/// [`first_invalid`] on an explicit instruction set (scalar if the CPU lacks it).
pub fn first_invalid_with(isa: Isa, bytes: &[u8]) -> Option<usize> {
    if bytes.len() < 32 {
        // Shorter than one vector: calling into a vector path only adds a
        // call the scalar loop does not pay.
        return scalar::first_invalid(bytes);
    }
    match isa.effective() {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => {
            // SAFETY: `effective` returned Avx512, so the CPU has AVX-512 F/BW.
            unsafe { x86::first_invalid_avx512(bytes) }
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => {
            // SAFETY: `effective` returned Avx2, so the CPU has AVX2.
            unsafe { x86::first_invalid_avx2(bytes) }
        }
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => {
            // SAFETY: `effective` returned Neon, so the CPU has NEON.
            unsafe { neon::first_invalid_neon(bytes) }
        }
        _ => scalar::first_invalid(bytes),
    }
}

/// The scalar twin: eight ASCII bytes at a time in a `u64`, then one
/// character at a time.
pub mod scalar {
    /// See [`super::first_invalid`].
    #[inline]
    pub fn first_invalid(bytes: &[u8]) -> Option<usize> {
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] < 0x80 && i + 8 > bytes.len() {
                i += 1;
                continue;
            }
            if i + 8 <= bytes.len() {
                let mut w = [0u8; 8];
                w.copy_from_slice(&bytes[i..i + 8]);
                let high = u64::from_le_bytes(w) & 0x8080_8080_8080_8080;
                if high == 0 {
                    i += 8;
                    continue;
                }
                i += (high.trailing_zeros() / 8) as usize;
            }
            match char_len(bytes, i) {
                Some(n) => i += n,
                None => return Some(i),
            }
        }
        None
    }

    /// The length of the valid character starting at `bytes[i]`, or `None`
    /// if the sequence there is invalid or cut short (Unicode table 3-7).
    #[inline(always)]
    pub(crate) fn char_len(bytes: &[u8], i: usize) -> Option<usize> {
        let b0 = bytes[i];
        let at = |k: usize| bytes.get(i + k).copied();
        let cont = |b: Option<u8>| matches!(b, Some(0x80..=0xbf));
        match b0 {
            0x00..=0x7f => Some(1),
            0xc2..=0xdf => cont(at(1)).then_some(2),
            0xe0..=0xef => {
                let ok1 = matches!(
                    (b0, at(1)),
                    (0xe0, Some(0xa0..=0xbf))
                        | (0xed, Some(0x80..=0x9f))
                        | (0xe1..=0xec | 0xee..=0xef, Some(0x80..=0xbf))
                );
                (ok1 && cont(at(2))).then_some(3)
            }
            0xf0..=0xf4 => {
                let ok1 = matches!(
                    (b0, at(1)),
                    (0xf0, Some(0x90..=0xbf))
                        | (0xf4, Some(0x80..=0x8f))
                        | (0xf1..=0xf3, Some(0x80..=0xbf))
                );
                (ok1 && cont(at(2)) && cont(at(3))).then_some(4)
            }
            _ => None,
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::scalar::char_len;
    use core::arch::x86_64::*;

    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn first_invalid_avx2(bytes: &[u8]) -> Option<usize> {
        let mut i = 0;
        while i < bytes.len() {
            if i + 32 > bytes.len() {
                // The last bytes go eight at a time in the scalar twin;
                // `i` is a character boundary.
                return super::scalar::first_invalid(&bytes[i..]).map(|k| k + i);
            }
            // SAFETY: bytes[i..i + 32] is in bounds.
            let v = unsafe { _mm256_loadu_si256(bytes.as_ptr().add(i).cast()) };
            let high = _mm256_movemask_epi8(v) as u32;
            if high == 0 {
                i += 32;
                continue;
            }
            i += high.trailing_zeros() as usize;
            match char_len(bytes, i) {
                Some(n) => i += n,
                None => return Some(i),
            }
        }
        None
    }

    /// # Safety
    /// The CPU must support AVX-512 F and BW (and so AVX2).
    #[target_feature(enable = "avx512f,avx512bw,avx2")]
    pub(super) unsafe fn first_invalid_avx512(bytes: &[u8]) -> Option<usize> {
        let mut i = 0;
        while i + 64 <= bytes.len() {
            // SAFETY: bytes[i..i + 64] is in bounds.
            let v = unsafe { _mm512_loadu_si512(bytes.as_ptr().add(i).cast()) };
            let high = _mm512_movepi8_mask(v);
            if high == 0 {
                i += 64;
                continue;
            }
            i += high.trailing_zeros() as usize;
            match char_len(bytes, i) {
                Some(n) => i += n,
                None => return Some(i),
            }
        }
        // SAFETY: the CPU has AVX2; `i` is a character boundary.
        unsafe { first_invalid_avx2(&bytes[i..]) }.map(|k| k + i)
    }
}

#[cfg(target_arch = "aarch64")]
mod neon {
    use super::scalar::char_len;
    use core::arch::aarch64::*;

    /// Four bits per byte of `v`, all set where the byte's high bit is.
    #[target_feature(enable = "neon")]
    fn high_nibbles(v: uint8x16_t) -> u64 {
        let high = vreinterpretq_u16_u8(vcltzq_s8(vreinterpretq_s8_u8(v)));
        vget_lane_u64::<0>(vreinterpret_u64_u8(vshrn_n_u16::<4>(high)))
    }

    /// # Safety
    /// The CPU must support NEON.
    #[target_feature(enable = "neon")]
    pub(super) unsafe fn first_invalid_neon(bytes: &[u8]) -> Option<usize> {
        let mut i = 0;
        while i < bytes.len() {
            if i + 16 > bytes.len() {
                // The last bytes go eight at a time in the scalar twin;
                // `i` is a character boundary.
                return super::scalar::first_invalid(&bytes[i..]).map(|k| k + i);
            }
            let p = bytes.as_ptr();
            if i + 32 <= bytes.len() {
                // SAFETY: bytes[i..i + 32] is in bounds.
                let (a, b) = unsafe { (vld1q_u8(p.add(i)), vld1q_u8(p.add(i + 16))) };
                if vmaxvq_u8(vorrq_u8(a, b)) < 0x80 {
                    i += 32;
                    continue;
                }
            }
            // SAFETY: bytes[i..i + 16] is in bounds.
            let high = high_nibbles(unsafe { vld1q_u8(p.add(i)) });
            if high == 0 {
                i += 16;
                continue;
            }
            i += (high.trailing_zeros() / 4) as usize;
            match char_len(bytes, i) {
                Some(n) => i += n,
                None => return Some(i),
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn std_answer(b: &[u8]) -> Option<usize> {
        std::str::from_utf8(b).err().map(|e| e.valid_up_to())
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn input_ending_at_an_unmapped_page_is_read_within_bounds() {
        // Text shifted so that the page ends on each byte of its multi-byte
        // sequences (valid, or cut short), every length ending right before
        // an inaccessible page.
        let mut guarded = crate::kernels::guard::Guarded::new();
        let page = guarded.page();
        let end = page.len();
        let text = "héllo wörld, 日本語, 🎉 ".repeat(300);
        for shift in 0..4 {
            page.copy_from_slice(&text.as_bytes()[shift..shift + end]);
            for len in 0..=300 {
                let b = &page[end - len..];
                let want = std_answer(b);
                for isa in Isa::available() {
                    assert_eq!(
                        first_invalid_with(isa, b),
                        want,
                        "{isa:?} shift {shift} len {len}"
                    );
                }
            }
        }
    }

    #[test]
    fn edge_sequences() {
        let cases: &[&[u8]] = &[
            b"",
            "héllo wörld, 日本語, 🎉".as_bytes(),
            b"\xc0\x80",
            b"\xed\xa0\x80",
            b"\xf4\x90\x80\x80",
            b"\xe0\x80\x80",
            b"abc\xf0\x9f\x8e",
            b"0123456789012345678901234567890123456789\xff",
        ];
        for c in cases {
            for isa in Isa::available() {
                assert_eq!(first_invalid_with(isa, c), std_answer(c), "{isa:?} {c:?}");
            }
        }
    }

    #[test]
    fn one_non_ascii_byte_anywhere() {
        // Every position of a first non-ASCII byte, inside and across whole
        // vectors and in the tails, valid (a two-byte character) or not,
        // among ASCII letters or NULs.
        for len in 30..100 {
            for at in 0..len {
                for (fill, bad) in [b'a', 0]
                    .into_iter()
                    .flat_map(|f| [&b"\xc3\xa9"[..], b"\x80", b"\xff", b"\xe2\x82"].map(|b| (f, b)))
                {
                    let mut v = vec![fill; len];
                    v.splice(at..at + 1, bad.iter().copied());
                    let want = std_answer(&v);
                    for isa in Isa::available() {
                        assert_eq!(first_invalid_with(isa, &v), want, "{isa:?} {len} {at}");
                    }
                }
            }
        }
    }

    fn mostly_ascii() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            8 => prop::collection::vec(0x20u8..0x7f, 0..40),
            2 => any::<String>().prop_map(String::into_bytes),
            1 => prop::collection::vec(any::<u8>(), 0..4),
        ];
        prop::collection::vec(piece, 0..8).prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn every_isa_matches_std(bytes in mostly_ascii()) {
            let want = std_answer(&bytes);
            prop_assert_eq!(scalar::first_invalid(&bytes), want);
            for isa in Isa::available() {
                prop_assert_eq!(first_invalid_with(isa, &bytes), want, "{:?}", isa);
            }
        }
    }
}

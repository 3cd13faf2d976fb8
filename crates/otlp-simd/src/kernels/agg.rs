//! f64 column aggregation: sum, min, max, count and explicit-bucket
//! histogram counts.
//!
//! Floating-point addition is not associative, so "the same answer" needs
//! one fixed order. Every path, the scalar twin included, keeps sixteen
//! running lanes (element `i` of each full group of sixteen goes to lane
//! `i % 16`), folds them pairwise (lane `j` with lane `j + 8`, then
//! `j + 4`, `j + 2`, `j + 1`), and adds the remaining elements in order.
//! Sixteen lanes are eight NEON, four AVX2 or two AVX-512 registers per
//! running value, enough independent additions to hide the adder's latency. The results
//! are bit for bit equal across paths; they can differ in the last bits
//! from a plain left-to-right sum.
//!
//! `min` and `max` skip NaN (a NaN never replaces the running value, as
//! x86's `minpd` / `maxpd` with the new value first behave; NEON's `fmin`
//! and `fminnm` differ, on NaN and on signed zeros, so the NEON path
//! compares and selects instead); with no non-NaN value they are `+inf`
//! and `-inf`. `sum` is NaN if any value is.
//!
//! The histogram's scalar twin finds each value's bucket by binary search.
//! The AVX2 and AVX-512 paths count instead, for each bound, the values
//! above it (or NaN): the bounds increase, so those counts only fall along
//! the bounds, and a bucket's count is the difference of its two
//! neighbours'. No index is worked out per value.

use super::Isa;
use thiserror::Error;

/// Summary of a column.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stats {
    /// How many values (NaN included).
    pub count: u64,
    /// Their sum, in the fixed order described in the module docs.
    pub sum: f64,
    /// The smallest non-NaN value, `+inf` if there is none.
    pub min: f64,
    /// The largest non-NaN value, `-inf` if there is none.
    pub max: f64,
}

/// Sum, min, max and count of `values`.
pub fn stats(values: &[f64]) -> Stats {
    stats_with(Isa::detect(), values)
}

/// [`stats`] on an explicit instruction set (scalar if the CPU lacks it).
pub fn stats_with(isa: Isa, values: &[f64]) -> Stats {
    match isa.effective() {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => {
            // SAFETY: `effective` returned Avx512, so the CPU has AVX-512 F (and AVX2).
            unsafe { x86::stats_avx512(values) }
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => {
            // SAFETY: `effective` returned Avx2, so the CPU has AVX2.
            unsafe { x86::stats_avx2(values) }
        }
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => {
            // SAFETY: `effective` returned Neon, so the CPU has NEON.
            unsafe { neon::stats_neon(values) }
        }
        _ => scalar::stats(values),
    }
}

/// Why explicit bucket bounds were refused.
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum BoundsError {
    /// A bound is NaN.
    #[error("histogram bound {index} is NaN")]
    NaN {
        /// Its position.
        index: usize,
    },
    /// Bounds must increase strictly.
    #[error("histogram bounds must increase strictly: bound {index} ({value}) is not above the one before")]
    NotIncreasing {
        /// The position of the offending bound.
        index: usize,
        /// Its value.
        value: f64,
    },
}

/// Explicit bucket bounds, checked to be strictly increasing and not NaN.
///
/// Bucket `i` counts values in `(bounds[i-1], bounds[i]]`, the last bucket
/// values above the last bound, as OTLP explicit-bucket histograms define
/// them. A NaN value lands in the last bucket, where the Collector's
/// `sort.SearchFloat64s` puts it.
#[derive(Clone, Debug, PartialEq)]
pub struct Buckets {
    bounds: Vec<f64>,
}

impl Buckets {
    /// Checks and keeps the bounds.
    pub fn new(bounds: Vec<f64>) -> Result<Buckets, BoundsError> {
        for (index, &value) in bounds.iter().enumerate() {
            if value.is_nan() {
                return Err(BoundsError::NaN { index });
            }
            if index > 0 && value <= bounds[index - 1] {
                return Err(BoundsError::NotIncreasing { index, value });
            }
        }
        Ok(Buckets { bounds })
    }

    /// The bounds.
    pub fn bounds(&self) -> &[f64] {
        &self.bounds
    }

    /// How many buckets (bounds + 1).
    pub fn len(&self) -> usize {
        self.bounds.len() + 1
    }

    /// Never true: there is always the bucket above the last bound.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The bucket of one value.
    pub fn index(&self, value: f64) -> usize {
        // Not `b < value`: a NaN value fails every `b >= value`.
        self.bounds
            .partition_point(|&b| below_or_unordered(b, value))
    }
}

/// `!(bound >= value)`: the bound is below the value, or the value is NaN.
#[inline(always)]
fn below_or_unordered(bound: f64, value: f64) -> bool {
    !matches!(
        bound.partial_cmp(&value),
        Some(std::cmp::Ordering::Greater | std::cmp::Ordering::Equal)
    )
}

/// Adds the bucket counts of `values` to `counts`, which is first resized
/// to `buckets.len()` (new entries zero) if its length differs.
pub fn histogram(values: &[f64], buckets: &Buckets, counts: &mut Vec<u64>) {
    histogram_with(Isa::detect(), values, buckets, counts)
}

/// Above this many bounds the vector paths' linear pass over the bounds
/// costs more than a binary search per value.
pub(crate) const LINEAR_MAX_BOUNDS: usize = 48;

/// [`histogram`] on an explicit instruction set (scalar if the CPU lacks it).
pub fn histogram_with(isa: Isa, values: &[f64], buckets: &Buckets, counts: &mut Vec<u64>) {
    if counts.len() != buckets.len() {
        counts.resize(buckets.len(), 0);
    }
    if buckets.bounds.len() > LINEAR_MAX_BOUNDS {
        return scalar::histogram(values, buckets, counts);
    }
    match isa.effective() {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => {
            // SAFETY: `effective` returned Avx512; counts has one entry per bucket.
            unsafe { x86::histogram_avx512(values, &buckets.bounds, counts) }
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => {
            // SAFETY: `effective` returned Avx2; counts has one entry per bucket.
            unsafe { x86::histogram_avx2(values, &buckets.bounds, counts) }
        }
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => {
            // SAFETY: `effective` returned Neon; counts has one entry per bucket.
            unsafe { neon::histogram_neon(values, &buckets.bounds, counts) }
        }
        _ => scalar::histogram(values, buckets, counts),
    }
}

/// The scalar twin.
pub mod scalar {
    use super::{Buckets, Stats};

    /// `minpd(x, acc)`: `x` if it is smaller, else `acc` (also when either is NaN).
    #[inline(always)]
    pub(crate) fn min_first(x: f64, acc: f64) -> f64 {
        if x < acc {
            x
        } else {
            acc
        }
    }

    /// `maxpd(x, acc)`.
    #[inline(always)]
    pub(crate) fn max_first(x: f64, acc: f64) -> f64 {
        if x > acc {
            x
        } else {
            acc
        }
    }

    /// The running lanes every path keeps.
    pub(crate) const LANES: usize = 16;

    /// Folds lanes pairwise: `j` with `j + n/2`, halving `n` down to one.
    #[inline(always)]
    fn fold(mut v: [f64; LANES], f: impl Fn(f64, f64) -> f64) -> f64 {
        let mut n = LANES;
        while n > 1 {
            n /= 2;
            for j in 0..n {
                v[j] = f(v[j], v[j + n]);
            }
        }
        v[0]
    }

    /// Folds the lanes and adds the tail as the module docs say.
    #[inline(always)]
    pub(crate) fn finish(
        s: [f64; LANES],
        lo: [f64; LANES],
        hi: [f64; LANES],
        tail: &[f64],
        count: usize,
    ) -> Stats {
        let mut sum = fold(s, |a, b| a + b);
        let mut min = fold(lo, min_first);
        let mut max = fold(hi, max_first);
        for &x in tail {
            sum += x;
            min = min_first(x, min);
            max = max_first(x, max);
        }
        Stats {
            count: count as u64,
            sum,
            min,
            max,
        }
    }

    /// See [`super::stats`].
    pub fn stats(values: &[f64]) -> Stats {
        let mut s = [0.0f64; LANES];
        let mut lo = [f64::INFINITY; LANES];
        let mut hi = [f64::NEG_INFINITY; LANES];
        let mut groups = values.chunks_exact(LANES);
        for g in &mut groups {
            for j in 0..LANES {
                s[j] += g[j];
                lo[j] = min_first(g[j], lo[j]);
                hi[j] = max_first(g[j], hi[j]);
            }
        }
        finish(s, lo, hi, groups.remainder(), values.len())
    }

    /// See [`super::histogram`]; `counts` has one entry per bucket.
    pub fn histogram(values: &[f64], buckets: &Buckets, counts: &mut [u64]) {
        for &x in values {
            counts[buckets.index(x)] += 1;
        }
    }

    /// The bucket index by counting the bounds below (or unordered with) `x`.
    #[inline(always)]
    pub(crate) fn index_linear(bounds: &[f64], x: f64) -> usize {
        bounds
            .iter()
            .filter(|&&b| super::below_or_unordered(b, x))
            .count()
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::scalar::{finish, index_linear, LANES};
    use super::Stats;
    use core::arch::x86_64::*;

    /// Four registers of four lanes, in lane order.
    #[target_feature(enable = "avx2")]
    fn lanes4(r: [__m256d; 4]) -> [f64; LANES] {
        let mut out = [0.0; LANES];
        for (k, v) in r.into_iter().enumerate() {
            // SAFETY: out[4k..4k + 4] is in bounds (k < 4); storeu has no alignment need.
            unsafe { _mm256_storeu_pd(out.as_mut_ptr().add(4 * k), v) };
        }
        out
    }

    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn stats_avx2(values: &[f64]) -> Stats {
        // Register k holds lanes 4k..4k+3 of the twin's sixteen.
        let mut s = [_mm256_setzero_pd(); 4];
        let mut lo = [_mm256_set1_pd(f64::INFINITY); 4];
        let mut hi = [_mm256_set1_pd(f64::NEG_INFINITY); 4];
        let groups = values.len() / LANES;
        let p = values.as_ptr();
        for g in 0..groups {
            for k in 0..4 {
                // SAFETY: values[16g + 4k..16g + 4k + 4] is in bounds (g < len / 16).
                let x = unsafe { _mm256_loadu_pd(p.add(LANES * g + 4 * k)) };
                s[k] = _mm256_add_pd(s[k], x);
                lo[k] = _mm256_min_pd(x, lo[k]);
                hi[k] = _mm256_max_pd(x, hi[k]);
            }
        }
        finish(
            lanes4(s),
            lanes4(lo),
            lanes4(hi),
            &values[groups * LANES..],
            values.len(),
        )
    }

    /// Two registers of eight lanes, in lane order.
    #[target_feature(enable = "avx512f")]
    fn lanes8(r: [__m512d; 2]) -> [f64; LANES] {
        let mut out = [0.0; LANES];
        for (k, v) in r.into_iter().enumerate() {
            // SAFETY: out[8k..8k + 8] is in bounds (k < 2); storeu has no alignment need.
            unsafe { _mm512_storeu_pd(out.as_mut_ptr().add(8 * k), v) };
        }
        out
    }

    /// # Safety
    /// The CPU must support AVX-512 F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn stats_avx512(values: &[f64]) -> Stats {
        // Register k holds lanes 8k..8k+7 of the twin's sixteen.
        let mut s = [_mm512_setzero_pd(); 2];
        let mut lo = [_mm512_set1_pd(f64::INFINITY); 2];
        let mut hi = [_mm512_set1_pd(f64::NEG_INFINITY); 2];
        let groups = values.len() / LANES;
        let p = values.as_ptr();
        for g in 0..groups {
            for k in 0..2 {
                // SAFETY: values[16g + 8k..16g + 8k + 8] is in bounds (g < len / 16).
                let x = unsafe { _mm512_loadu_pd(p.add(LANES * g + 8 * k)) };
                s[k] = _mm512_add_pd(s[k], x);
                lo[k] = _mm512_min_pd(x, lo[k]);
                hi[k] = _mm512_max_pd(x, hi[k]);
            }
        }
        finish(
            lanes8(s),
            lanes8(lo),
            lanes8(hi),
            &values[groups * LANES..],
            values.len(),
        )
    }

    /// # Safety
    /// The CPU must support AVX2; `counts.len() == bounds.len() + 1`;
    /// `bounds` increase strictly (a [`super::Buckets`]'), at most
    /// `LINEAR_MAX_BOUNDS` of them (more panics).
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn histogram_avx2(values: &[f64], bounds: &[f64], counts: &mut [u64]) {
        // The bounds increase, so a value is above bound j (or NaN) exactly
        // when its bucket is past j: counting, per bound, the values above
        // it gives each bucket's count as a difference, with no per-value
        // index to store and count. Four bounds at a time, each with its
        // own accumulator, over registers of four values.
        let mut above = [0u64; super::LINEAR_MAX_BOUNDS];
        let above = &mut above[..bounds.len()];
        let p = values.as_ptr();
        let whole = values.len() / 8 * 8;
        for (chunk, out) in bounds.chunks(4).zip(above.chunks_mut(4)) {
            // A missing bound's accumulator is not read.
            let b: [__m256d; 4] =
                std::array::from_fn(|k| _mm256_set1_pd(chunk.get(k).copied().unwrap_or(0.0)));
            let mut acc = [_mm256_setzero_si256(); 4];
            let mut at = 0;
            while at < whole {
                // SAFETY: values[at..at + 8] is in bounds (at + 8 <= whole).
                let x = unsafe { [_mm256_loadu_pd(p.add(at)), _mm256_loadu_pd(p.add(at + 4))] };
                for k in 0..4 {
                    // "not b >= x", true for NaN x as well: all-ones lanes are -1.
                    let m0 = _mm256_castpd_si256(_mm256_cmp_pd::<_CMP_NGE_UQ>(b[k], x[0]));
                    let m1 = _mm256_castpd_si256(_mm256_cmp_pd::<_CMP_NGE_UQ>(b[k], x[1]));
                    acc[k] = _mm256_sub_epi64(acc[k], _mm256_add_epi64(m0, m1));
                }
                at += 8;
            }
            for (o, a) in out.iter_mut().zip(acc) {
                let mut lanes = [0u64; 4];
                // SAFETY: `lanes` is 32 bytes.
                unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), a) };
                *o = lanes.iter().sum();
            }
        }
        finish_above(&values[whole..], bounds, above, values.len(), counts);
    }

    /// Adds the values of `tail` to `above`, then each bucket's count
    /// (`total` values in all) to `counts`.
    fn finish_above(
        tail: &[f64],
        bounds: &[f64],
        above: &mut [u64],
        total: usize,
        counts: &mut [u64],
    ) {
        for &x in tail {
            let i = index_linear(bounds, x);
            for a in &mut above[..i] {
                *a += 1;
            }
        }
        // The bounds increase, so `above` never grows along them.
        let mut past = total as u64;
        for (c, &a) in counts.iter_mut().zip(above.iter()) {
            *c += past - a;
            past = a;
        }
        if let Some(last) = counts.get_mut(bounds.len()) {
            *last += past;
        }
    }

    /// # Safety
    /// The CPU must support AVX-512 F; `counts.len() == bounds.len() + 1`;
    /// `bounds` increase strictly, at most `LINEAR_MAX_BOUNDS` of them
    /// (more panics).
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn histogram_avx512(values: &[f64], bounds: &[f64], counts: &mut [u64]) {
        // As the AVX2 path, on registers of eight values.
        let mut above = [0u64; super::LINEAR_MAX_BOUNDS];
        let above = &mut above[..bounds.len()];
        let p = values.as_ptr();
        let one = _mm512_set1_epi64(1);
        let whole = values.len() / 16 * 16;
        for (chunk, out) in bounds.chunks(4).zip(above.chunks_mut(4)) {
            let b: [__m512d; 4] =
                std::array::from_fn(|k| _mm512_set1_pd(chunk.get(k).copied().unwrap_or(0.0)));
            let mut acc = [_mm512_setzero_si512(); 4];
            let mut at = 0;
            while at < whole {
                // SAFETY: values[at..at + 16] is in bounds (at + 16 <= whole).
                let x = unsafe { [_mm512_loadu_pd(p.add(at)), _mm512_loadu_pd(p.add(at + 8))] };
                for k in 0..4 {
                    let m0 = _mm512_cmp_pd_mask::<_CMP_NGE_UQ>(b[k], x[0]);
                    let m1 = _mm512_cmp_pd_mask::<_CMP_NGE_UQ>(b[k], x[1]);
                    acc[k] = _mm512_mask_add_epi64(acc[k], m0, acc[k], one);
                    acc[k] = _mm512_mask_add_epi64(acc[k], m1, acc[k], one);
                }
                at += 16;
            }
            for (o, a) in out.iter_mut().zip(acc) {
                let mut lanes = [0u64; 8];
                // SAFETY: `lanes` is 64 bytes.
                unsafe { _mm512_storeu_si512(lanes.as_mut_ptr().cast(), a) };
                *o = lanes.iter().sum();
            }
        }
        finish_above(&values[whole..], bounds, above, values.len(), counts);
    }
}

#[cfg(target_arch = "aarch64")]
mod neon {
    use super::scalar::{finish, index_linear, LANES};
    use super::Stats;
    use core::arch::aarch64::*;

    /// Eight registers of two lanes, in lane order.
    #[target_feature(enable = "neon")]
    fn lanes2(r: [float64x2_t; 8]) -> [f64; LANES] {
        let mut out = [0.0; LANES];
        for (k, v) in r.into_iter().enumerate() {
            // SAFETY: out[2k..2k + 2] is in bounds (k < 8); vst1q_f64 needs
            // only f64 alignment, which `out` has.
            unsafe { vst1q_f64(out.as_mut_ptr().add(2 * k), v) };
        }
        out
    }

    /// # Safety
    /// The CPU must support NEON.
    #[target_feature(enable = "neon")]
    pub(super) unsafe fn stats_neon(values: &[f64]) -> Stats {
        // Register k holds lanes 2k and 2k+1 of the twin's sixteen.
        let mut s = [vdupq_n_f64(0.0); 8];
        let mut lo = [vdupq_n_f64(f64::INFINITY); 8];
        let mut hi = [vdupq_n_f64(f64::NEG_INFINITY); 8];
        let groups = values.len() / LANES;
        let p = values.as_ptr();
        for g in 0..groups {
            for k in 0..8 {
                // SAFETY: values[16g + 2k..16g + 2k + 2] is in bounds (g < len / 16).
                let x = unsafe { vld1q_f64(p.add(LANES * g + 2 * k)) };
                s[k] = vaddq_f64(s[k], x);
                // `x < acc ? x : acc`, the twin's order (false on NaN).
                lo[k] = vbslq_f64(vcltq_f64(x, lo[k]), x, lo[k]);
                hi[k] = vbslq_f64(vcgtq_f64(x, hi[k]), x, hi[k]);
            }
        }
        finish(
            lanes2(s),
            lanes2(lo),
            lanes2(hi),
            &values[groups * LANES..],
            values.len(),
        )
    }

    /// # Safety
    /// The CPU must support NEON; `counts.len() == bounds.len() + 1`.
    #[target_feature(enable = "neon")]
    pub(super) unsafe fn histogram_neon(values: &[f64], bounds: &[f64], counts: &mut [u64]) {
        let groups = values.len() / 4;
        let p = values.as_ptr();
        let top = vdupq_n_u64(bounds.len() as u64);
        for g in 0..groups {
            // SAFETY: values[4g..4g+4] is in bounds.
            let (x0, x1) = unsafe { (vld1q_f64(p.add(4 * g)), vld1q_f64(p.add(4 * g + 2))) };
            // Start at the last bucket and step down once per bound at or
            // above the value (all-ones lanes are -1); a NaN value is at
            // or below no bound and stays in the last bucket.
            let (mut i0, mut i1) = (top, top);
            for &b in bounds {
                let b = vdupq_n_f64(b);
                i0 = vaddq_u64(i0, vcgeq_f64(b, x0));
                i1 = vaddq_u64(i1, vcgeq_f64(b, x1));
            }
            for i in [
                vgetq_lane_u64::<0>(i0),
                vgetq_lane_u64::<1>(i0),
                vgetq_lane_u64::<0>(i1),
                vgetq_lane_u64::<1>(i1),
            ] {
                counts[i as usize] += 1;
            }
        }
        for &x in &values[groups * 4..] {
            counts[index_linear(bounds, x)] += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn same(a: f64, b: f64) -> bool {
        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
    }

    #[test]
    fn simple_column() {
        let v: Vec<f64> = (1..=11).map(f64::from).collect();
        for isa in Isa::available() {
            let s = stats_with(isa, &v);
            assert_eq!(
                (s.count, s.sum, s.min, s.max),
                (11, 66.0, 1.0, 11.0),
                "{isa:?}"
            );
        }
        let e = stats(&[]);
        assert_eq!(
            (e.count, e.sum, e.min, e.max),
            (0, 0.0, f64::INFINITY, f64::NEG_INFINITY)
        );
    }

    #[test]
    fn signed_zeros_keep_the_running_value() {
        // -0.0 and 0.0 compare equal, so the one already held stays, in
        // the lanes and in the tail.
        let mut min_col = vec![0.0; 16];
        min_col.extend([-0.0; 19]);
        let mut max_col = vec![-0.0; 16];
        max_col.extend([0.0; 19]);
        for isa in Isa::available() {
            let lo = stats_with(isa, &min_col);
            assert_eq!(lo.min.to_bits(), 0.0f64.to_bits(), "{isa:?}");
            let hi = stats_with(isa, &max_col);
            assert_eq!(hi.max.to_bits(), (-0.0f64).to_bits(), "{isa:?}");
        }
    }

    #[test]
    fn bucket_edges_follow_otlp() {
        let b = Buckets::new(vec![0.0, 5.0, 10.0]).unwrap();
        let v = [
            -1.0,
            0.0,
            0.1,
            5.0,
            5.5,
            10.0,
            11.0,
            f64::NAN,
            f64::INFINITY,
        ];
        for isa in Isa::available() {
            let mut c = Vec::new();
            histogram_with(isa, &v, &b, &mut c);
            assert_eq!(c, vec![2, 2, 2, 3], "{isa:?}");
        }
        assert!(Buckets::new(vec![1.0, 1.0]).is_err());
        assert!(Buckets::new(vec![f64::NAN]).is_err());
    }

    fn value() -> impl Strategy<Value = f64> {
        prop_oneof![
            8 => -1e6f64..1e6,
            1 => any::<f64>(),
            1 => prop::sample::select(vec![0.0, -0.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 5.0]),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]
        #[test]
        fn every_isa_matches_scalar(values in prop::collection::vec(value(), 0..200)) {
            let want = scalar::stats(&values);
            for isa in Isa::available() {
                let got = stats_with(isa, &values);
                prop_assert_eq!(got.count, want.count);
                prop_assert!(same(got.sum, want.sum), "{:?} sum {} vs {}", isa, got.sum, want.sum);
                prop_assert!(same(got.min, want.min), "{:?} min {} vs {}", isa, got.min, want.min);
                prop_assert!(same(got.max, want.max), "{:?} max {} vs {}", isa, got.max, want.max);
            }
            // The non-NaN extremes are the plain ones.
            let plain = values.iter().copied().filter(|x| !x.is_nan());
            prop_assert_eq!(want.min, plain.clone().fold(f64::INFINITY, f64::min));
            prop_assert_eq!(want.max, plain.fold(f64::NEG_INFINITY, f64::max));
        }

        #[test]
        fn finite_sums_match_scalar(values in prop::collection::vec(-1e6f64..1e6, 16..300)) {
            // Without huge values, infinities or NaN to absorb them, the
            // sums show any difference in the order of the additions.
            let want = scalar::stats(&values);
            for isa in Isa::available() {
                let got = stats_with(isa, &values);
                prop_assert_eq!(got.sum.to_bits(), want.sum.to_bits(), "{:?}", isa);
            }
        }

        #[test]
        fn histograms_match_scalar(
            values in prop::collection::vec(value(), 0..200),
            mut bounds in prop::collection::vec(-1e6f64..1e6, 0..50),
            pick in prop::collection::vec(any::<prop::sample::Index>(), 0..5),
        ) {
            bounds.sort_by(f64::total_cmp);
            bounds.dedup();
            let mut values = values;
            // Values equal to a bound exercise the `<=` edge.
            if !bounds.is_empty() {
                values.extend(pick.iter().map(|i| bounds[i.index(bounds.len())]));
            }
            let b = Buckets::new(bounds).unwrap();
            let mut want = vec![0; b.len()];
            scalar::histogram(&values, &b, &mut want);
            prop_assert_eq!(want.iter().sum::<u64>(), values.len() as u64);
            for isa in Isa::available() {
                let mut got = Vec::new();
                histogram_with(isa, &values, &b, &mut got);
                prop_assert_eq!(&got, &want, "{:?}", isa);
                // Counts are added to what is there.
                histogram_with(isa, &values, &b, &mut got);
                let twice: Vec<u64> = want.iter().map(|c| 2 * c).collect();
                prop_assert_eq!(&got, &twice, "{:?} twice", isa);
            }
        }
    }
}

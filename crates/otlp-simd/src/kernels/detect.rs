//! Which instruction set the kernels use, detected once per process.

use std::sync::atomic::{AtomicU8, Ordering};

/// An instruction set a kernel can run on.
///
/// [`Isa::detect`] picks the best one the CPU has; every kernel also takes an
/// explicit `Isa` (`*_with`), which the tests and benchmarks use to run each
/// path side by side. Asking for a level the CPU lacks runs the scalar path,
/// so no caller can reach an instruction the CPU does not have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Isa {
    /// Portable Rust; always available.
    Scalar,
    /// x86-64 AVX2 (256-bit vectors) and POPCNT.
    Avx2,
    /// x86-64 AVX-512 F + BW + VL (512-bit vectors and 64-bit byte masks),
    /// with AVX2 and POPCNT.
    Avx512,
    /// aarch64 NEON (Advanced SIMD, 128-bit vectors).
    Neon,
}

const UNKNOWN: u8 = u8::MAX;
static DETECTED: AtomicU8 = AtomicU8::new(UNKNOWN);
/// Bit `isa as u8` set when the CPU supports `isa`.
static SUPPORTED: AtomicU8 = AtomicU8::new(UNKNOWN);

impl Isa {
    /// The best level this CPU supports (cached after the first call).
    ///
    /// Setting `OTLP_SIMD` in the environment caps it: `scalar` (also
    /// `none`, `off`) runs the scalar twins, `avx2` keeps an AVX-512 machine
    /// on AVX2, and `avx512` or `neon` allow at most that level. A cap naming
    /// another architecture's level leaves only the scalar path; an
    /// unrecognised value is ignored.
    pub fn detect() -> Isa {
        let cached = DETECTED.load(Ordering::Relaxed);
        if cached != UNKNOWN {
            return Isa::from_u8(cached);
        }
        let cap = std::env::var("OTLP_SIMD")
            .ok()
            .and_then(|v| Isa::parse_cap(&v));
        let isa = Isa::best_within(cap);
        DETECTED.store(isa as u8, Ordering::Relaxed);
        isa
    }

    /// The level an `OTLP_SIMD` value names, if any.
    fn parse_cap(v: &str) -> Option<Isa> {
        match v.trim().to_ascii_lowercase().as_str() {
            "scalar" | "none" | "off" => Some(Isa::Scalar),
            "avx2" => Some(Isa::Avx2),
            "avx512" => Some(Isa::Avx512),
            "neon" => Some(Isa::Neon),
            _ => None,
        }
    }

    /// Whether running `self` is allowed under the cap `cap`: the scalar
    /// path always is, a level is under itself, and AVX2 under AVX-512.
    fn within(self, cap: Isa) -> bool {
        self == Isa::Scalar || self == cap || (self == Isa::Avx2 && cap == Isa::Avx512)
    }

    /// Every level this CPU supports, scalar first.
    pub fn available() -> Vec<Isa> {
        [Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon]
            .into_iter()
            .filter(|isa| isa.is_supported())
            .collect()
    }

    /// Whether this CPU can run the level (the CPU is asked once; later
    /// calls read a cached bit set, one load).
    #[inline]
    pub fn is_supported(self) -> bool {
        let mut set = SUPPORTED.load(Ordering::Relaxed);
        if set == UNKNOWN {
            set = [Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon]
                .into_iter()
                .filter(|isa| isa.ask_cpu())
                .fold(0, |set, isa| set | 1 << isa as u8);
            SUPPORTED.store(set, Ordering::Relaxed);
        }
        set & 1 << self as u8 != 0
    }

    /// What the CPU says of the level.
    fn ask_cpu(self) -> bool {
        match self {
            Isa::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("popcnt")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                Isa::Avx2.ask_cpu()
                    && std::is_x86_feature_detected!("avx512f")
                    && std::is_x86_feature_detected!("avx512bw")
                    && std::is_x86_feature_detected!("avx512vl")
            }
            // The kernels read vector lanes as little-endian integers.
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => {
                cfg!(target_endian = "little") && std::arch::is_aarch64_feature_detected!("neon")
            }
            // The levels of other architectures.
            _ => false,
        }
    }

    /// The level to run for a request: `self` if the CPU has it, else scalar.
    #[inline]
    pub(crate) fn effective(self) -> Isa {
        if self.is_supported() {
            self
        } else {
            Isa::Scalar
        }
    }

    /// The best supported level allowed under `cap` (any level if `None`).
    fn best_within(cap: Option<Isa>) -> Isa {
        [Isa::Avx512, Isa::Avx2, Isa::Neon]
            .into_iter()
            .find(|isa| isa.is_supported() && cap.is_none_or(|cap| isa.within(cap)))
            .unwrap_or(Isa::Scalar)
    }

    fn from_u8(v: u8) -> Isa {
        match v {
            1 => Isa::Avx2,
            2 => Isa::Avx512,
            3 => Isa::Neon,
            _ => Isa::Scalar,
        }
    }

    /// A short lower-case name (`scalar`, `avx2`, `avx512`, `neon`), the
    /// value `OTLP_SIMD` takes.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
            Isa::Neon => "neon",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_order() {
        for isa in [Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon] {
            assert_eq!(Isa::parse_cap(isa.name()), Some(isa));
            assert_eq!(Isa::from_u8(isa as u8), isa);
        }
        assert_eq!(Isa::parse_cap(" OFF "), Some(Isa::Scalar));
        assert_eq!(Isa::parse_cap("sse2"), None);
    }

    #[test]
    fn caps_pick_the_best_allowed_level() {
        let avail = Isa::available();
        assert_eq!(avail[0], Isa::Scalar);
        let best = Isa::best_within(None);
        assert!(best.is_supported());
        // One architecture's levels only, so the largest is the best.
        assert_eq!(Some(&best), avail.iter().max());
        assert_eq!(Isa::best_within(Some(Isa::Scalar)), Isa::Scalar);
        for isa in [Isa::Avx2, Isa::Avx512, Isa::Neon] {
            let got = Isa::best_within(Some(isa));
            // Never above the cap, never unsupported, and the cap itself
            // when the CPU has it.
            assert!(got.within(isa) && got.is_supported(), "{isa:?} -> {got:?}");
            if isa.is_supported() {
                assert_eq!(got, isa);
            }
        }
        // A cap from the other architecture leaves the scalar path.
        #[cfg(target_arch = "x86_64")]
        assert_eq!(Isa::best_within(Some(Isa::Neon)), Isa::Scalar);
        #[cfg(target_arch = "aarch64")]
        {
            assert_eq!(Isa::best_within(Some(Isa::Avx2)), Isa::Scalar);
            assert_eq!(avail, [Isa::Scalar, Isa::Neon]);
            assert_eq!(best, Isa::Neon);
        }
    }

    #[test]
    fn unsupported_requests_run_scalar() {
        for isa in [Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon] {
            let want = if isa.is_supported() { isa } else { Isa::Scalar };
            assert_eq!(isa.effective(), want);
        }
    }
}

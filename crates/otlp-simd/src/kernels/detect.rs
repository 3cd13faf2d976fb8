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
    /// x86-64 AVX2 (256-bit vectors).
    Avx2,
    /// x86-64 AVX-512 F + BW + VL (512-bit vectors and 64-bit byte masks).
    Avx512,
}

const UNKNOWN: u8 = u8::MAX;
static DETECTED: AtomicU8 = AtomicU8::new(UNKNOWN);

impl Isa {
    /// The best level this CPU supports (cached after the first call).
    ///
    /// Setting `OTLP_SIMD=scalar` (or `avx2`) in the environment caps it,
    /// which is how the scalar path is exercised on a machine that has more.
    pub fn detect() -> Isa {
        let cached = DETECTED.load(Ordering::Relaxed);
        if cached != UNKNOWN {
            return Isa::from_u8(cached);
        }
        let mut isa = Isa::best_available();
        if let Ok(cap) = std::env::var("OTLP_SIMD") {
            let cap = match cap.to_ascii_lowercase().as_str() {
                "scalar" | "none" | "off" => Some(Isa::Scalar),
                "avx2" => Some(Isa::Avx2),
                "avx512" => Some(Isa::Avx512),
                _ => None,
            };
            if let Some(cap) = cap {
                isa = isa.min(cap);
            }
        }
        DETECTED.store(isa as u8, Ordering::Relaxed);
        isa
    }

    /// Every level this CPU supports, scalar first.
    pub fn available() -> Vec<Isa> {
        [Isa::Scalar, Isa::Avx2, Isa::Avx512]
            .into_iter()
            .filter(|isa| isa.is_supported())
            .collect()
    }

    /// Whether this CPU can run the level.
    pub fn is_supported(self) -> bool {
        match self {
            Isa::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => std::is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                std::is_x86_feature_detected!("avx2")
                    && std::is_x86_feature_detected!("avx512f")
                    && std::is_x86_feature_detected!("avx512bw")
                    && std::is_x86_feature_detected!("avx512vl")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The level to run for a request: `self` if the CPU has it, else scalar.
    pub(crate) fn effective(self) -> Isa {
        if self.is_supported() {
            self
        } else {
            Isa::Scalar
        }
    }

    fn best_available() -> Isa {
        if Isa::Avx512.is_supported() {
            Isa::Avx512
        } else if Isa::Avx2.is_supported() {
            Isa::Avx2
        } else {
            Isa::Scalar
        }
    }

    fn from_u8(v: u8) -> Isa {
        match v {
            1 => Isa::Avx2,
            2 => Isa::Avx512,
            _ => Isa::Scalar,
        }
    }

    /// A short lower-case name (`scalar`, `avx2`, `avx512`).
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }
}

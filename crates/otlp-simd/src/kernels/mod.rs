//! The SIMD kernels, each with its scalar twin in a `scalar` submodule and
//! an `*_with(Isa, ..)` form that runs a chosen path.

mod detect;

pub mod agg;
pub mod hex;
pub mod keyset;
pub mod scan;
pub mod threshold;
pub mod utf8;

pub use detect::Isa;

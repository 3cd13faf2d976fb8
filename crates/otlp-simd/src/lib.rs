//! SIMD kernels with scalar twins, for work done on every item of a batch.
//!
//! Each kernel picks its vector path at run time, AVX-512 or AVX2 on x86-64
//! (`is_x86_feature_detected!`) and NEON on aarch64
//! (`is_aarch64_feature_detected!`), and falls back to a portable scalar
//! twin, which always exists and gives exactly the same answer (property
//! tests check every path the CPU has against it on random input).
//! `OTLP_SIMD=scalar` caps the detected level ([`Isa::detect`]). The NEON
//! paths are tested under qemu user-mode emulation
//! (`scripts/aarch64-check.sh`); their speed has not been measured.
//!
//! | kernel | what |
//! |---|---|
//! | [`threshold`] | consistent-probability threshold compare over a column of trace ids |
//! | [`keyset`] | attribute-key set membership |
//! | [`hex`] | lower-case hex of ids |
//! | [`utf8`] | UTF-8 validation |
//! | [`scan`] | finding and masking e-mail addresses, card numbers, tokens, literals, regexes |
//! | [`agg`] | f64 sum / min / max / count and explicit-bucket histogram counts |
//!
//! ```
//! use otlp_simd::{hex, threshold};
//!
//! // Keep trace ids whose last 56 bits are at least the threshold for 50%.
//! let ids = [[0u8; 16], [0xff; 16]];
//! let mut keep = Vec::new();
//! assert_eq!(threshold::keep_mask(&ids, 1 << 55, &mut keep), 1);
//! assert!(threshold::mask_bit(&keep, 1));
//!
//! let mut out = Vec::new();
//! hex::append_hex(&[0xab, 0x01], &mut out);
//! assert_eq!(out, b"ab01");
//! ```
//!
//! On top of the kernels, [`processor`] holds batch processors over decoded
//! requests (spans; log records and data points where the Collector's
//! component handles them) with the OpenTelemetry Collector's
//! semantics (probabilistic sampling, redaction, filter, attributes, span
//! metrics), a
//! [`processor::Processor`]
//! trait for your own, and a [`processor::Chain`] that runs them in order;
//! [`config::chain_from_toml`] builds a chain from TOML.
//!
//! Measured speed-ups of each x86-64 kernel over its twin are in the
//! workspace's `docs/benchmarks.md` (`benches/benches/simd.rs`).
//!
//! ```
//! use otlp_simd::config::chain_from_toml;
//! use otlp_simd::proto::collector::trace::v1::ExportTraceServiceRequest;
//! use otlp_simd::proto::trace::v1::{ResourceSpans, ScopeSpans, Span};
//!
//! let mut chain = chain_from_toml(r#"
//! [[processor]]
//! type = "filter"
//! span = ['name == "GET /health"']
//!
//! [[processor]]
//! type = "probabilistic_sampler"
//! mode = "proportional"
//! sampling_percentage = 100.0
//! "#).unwrap();
//!
//! let span = |name: &str| Span { name: name.into(), trace_id: vec![1; 16], ..Span::default() };
//! let mut batch = ExportTraceServiceRequest {
//!     resource_spans: vec![ResourceSpans {
//!         scope_spans: vec![ScopeSpans { spans: vec![span("GET /health"), span("GET /cart")], ..Default::default() }],
//!         ..Default::default()
//!     }],
//! };
//! let report = chain.process(&mut batch);
//! assert_eq!((report.spans_in, report.spans_out), (2, 1));
//! assert_eq!(batch.resource_spans[0].scope_spans[0].spans[0].trace_state, "ot=th:0");
//! ```
//!
//! `unsafe` appears only inside the x86-64 and aarch64 kernels
//! (`core::arch`), each block with a `SAFETY` comment. On other
//! architectures the scalar twins run.
//!
//! No cargo features.
#![deny(unsafe_op_in_unsafe_fn)]

pub mod config;
pub mod kernels;
pub mod processor;

/// The OTLP protobuf types the processors work on (`otlp_core::proto`).
pub use otlp_core::proto;

pub use kernels::{agg, hex, keyset, scan, threshold, utf8, Isa};

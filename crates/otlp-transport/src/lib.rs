//! OTLP transports: clients that send pre-encoded OTLP payloads over gRPC
//! and HTTP, and an OTLP receiver.
//!
//! ```no_run
//! use otlp_compression::Algorithm;
//! use otlp_core::Signal;
//! use otlp_transport::client::{OtlpClient, Payload};
//! use otlp_transport::Protocol;
//!
//! # async fn run(encoded_spans: Vec<u8>) -> Result<(), Box<dyn std::error::Error>> {
//! let client = OtlpClient::builder(Protocol::Grpc)
//!     .with_endpoint("http://localhost:4317")
//!     .build()?;
//! client
//!     .export(Signal::Traces, Payload::new(encoded_spans, Algorithm::None))
//!     .await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Feature flags
//!
//! | feature | default | what it compiles in |
//! |---|---|---|
//! | `grpc` | yes | OTLP/gRPC: the client on tonic's channel, and the receiver's gRPC server |
//! | `http` | yes | OTLP/HTTP with protobuf and JSON bodies: the client on hyper-util with rustls, and the receiver's HTTP server |
//! | `gzip`, `zstd`, `brotli` | yes | the codecs the receiver decompresses request bodies with (`otlp-compression`'s features of the same names; `gzip` also covers `deflate`/`zlib`) |
//! | `snappy`, `lz4` | yes | decode-only codecs for bodies from the OpenTelemetry Collector's exporters (`snappy`, `x-snappy-framed`, `lz4`; gRPC `snappy`) |
//!
//! [`Protocol`] names all three protocols whatever the features. Building a
//! client for a protocol that was left out fails with
//! [`client::BuildError::ProtocolDisabled`], and serving one with
//! [`receiver::ReceiverError::ProtocolDisabled`]; both name the feature to
//! enable. [`Protocol::is_supported`] tells which protocols a build has.
//! A request compressed with a codec left out is answered as an unknown
//! encoding would be: HTTP 415, gRPC `UNIMPLEMENTED`.
#![forbid(unsafe_code)]
// With neither protocol compiled in there is nothing to send or serve, and
// the plumbing both share is unused; that build exists only so that the
// features stay additive.
#![cfg_attr(
    not(any(feature = "grpc", feature = "http")),
    allow(dead_code, unreachable_code, unused_imports, unused_variables)
)]

pub mod client;
pub mod receiver;

mod pem;
mod protocol;
mod rpc;
pub mod srt;

pub use protocol::Protocol;

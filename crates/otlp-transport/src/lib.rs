//! OTLP transports: clients that send pre-encoded OTLP payloads over gRPC
//! and HTTP, and an OTLP receiver.
#![forbid(unsafe_code)]

pub mod client;
pub mod receiver;

mod protocol;
mod rpc;

pub use protocol::Protocol;

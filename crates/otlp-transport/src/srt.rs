//! How SRT (the trace-aware stateful codec of `otlp-srt`) travels over
//! OTLP/gRPC and OTLP/HTTP, shared by the client and the receiver.
//!
//! - A receiver that decodes SRT says so on every answer to a trace export
//!   with the header (gRPC: initial metadata) `otlp-srt: 1`, the format
//!   version it reads. A client sends OTLP + zstd until it has seen that
//!   header, so a stock Collector never sees a frame.
//! - Over HTTP a frame is POSTed to the traces URL with
//!   `Content-Type: application/x-protobuf` and
//!   `Content-Encoding: x-otlp-srt`; over gRPC it is the message of the
//!   unary method `/otlp_rust.srt.v1.TraceService/Export` (uncompressed
//!   framing), answered with an `ExportTraceServiceResponse`.
//! - A frame the receiver cannot decode against the state it holds is
//!   refused with `otlp-srt: resync`: HTTP `409 Conflict`, gRPC
//!   `FAILED_PRECONDITION` (the header in the trailers). The client then
//!   starts the stream again and re-encodes the request.
//!
//! docs/srt-format.md describes the frames themselves.

use http::header::{HeaderName, HeaderValue};
use http::HeaderMap;

/// The header that announces SRT support and asks for a resync.
pub const SRT_HEADER: HeaderName = HeaderName::from_static("otlp-srt");

/// `otlp-srt` on answers from a receiver that decodes SRT frames: the
/// version of the frame format it reads.
pub const SRT_OFFER: HeaderValue = HeaderValue::from_static("1");

/// `otlp-srt` on a refusal that asks the sender to start its stream again.
pub const SRT_RESYNC: HeaderValue = HeaderValue::from_static("resync");

/// The gRPC method SRT frames are sent to.
pub const SRT_GRPC_PATH: &str = "/otlp_rust.srt.v1.TraceService/Export";

/// Whether an answer announces SRT support.
#[cfg(any(feature = "grpc", feature = "http"))]
pub(crate) fn offered(headers: &HeaderMap) -> bool {
    headers.get(SRT_HEADER) == Some(&SRT_OFFER)
}

/// The error for an answer that asks for a resync.
#[cfg(any(feature = "grpc", feature = "http"))]
pub(crate) fn check_resync(
    headers: &HeaderMap,
    endpoint: &http::Uri,
) -> Result<(), crate::client::ExportError> {
    match headers.get(SRT_HEADER) == Some(&SRT_RESYNC) {
        true => Err(crate::client::ExportError::SrtResync {
            endpoint: endpoint.to_string(),
        }),
        false => Ok(()),
    }
}

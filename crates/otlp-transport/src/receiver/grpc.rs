//! OTLP/gRPC: unary gRPC framing on hyper's HTTP/2 server.

use super::handler::{Reply, Transport};
use super::wire::{export_response, rpc_status, ReplyBody};
use super::{Handler, Inner, Payload, Refusal};
use bytes::{BufMut, Bytes, BytesMut};
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response};
use hyper::body::Incoming;
use otlp_compression::Algorithm;
use otlp_core::{Format, Signal};
use std::net::SocketAddr;
use tonic::Status;

const GRPC_ENCODING: HeaderName = HeaderName::from_static("grpc-encoding");
const GRPC_ACCEPT_ENCODING: HeaderName = HeaderName::from_static("grpc-accept-encoding");
/// The encodings we decompress besides `identity`: gRPC's gzip and zstd,
/// those of them compiled into otlp-compression.
fn accepted_encodings() -> HeaderValue {
    HeaderValue::from_static(
        match (
            Algorithm::Gzip.is_supported(),
            Algorithm::Zstd.is_supported(),
        ) {
            (true, true) => "gzip,zstd",
            (true, false) => "gzip",
            (false, true) => "zstd",
            (false, false) => "identity",
        },
    )
}

/// The compressed flag and the big-endian message length.
const PREFIX_LEN: usize = 5;

/// Answers one gRPC call; failures become gRPC statuses, never HTTP errors.
pub(super) async fn handle<H: Handler>(
    inner: &Inner<H>,
    request: Request<Incoming>,
    peer: SocketAddr,
) -> Response<ReplyBody> {
    let method = request.uri().path().to_owned();
    let mut response = match call(inner, request, peer).await {
        Ok(response) => response,
        Err(status) => {
            tracing::debug!(%peer, %method, code = ?status.code(), message = status.message(), "OTLP/gRPC request refused");
            status.into_http()
        }
    };
    response
        .headers_mut()
        .insert(GRPC_ACCEPT_ENCODING, accepted_encodings());
    response
}

async fn call<H: Handler>(
    inner: &Inner<H>,
    request: Request<Incoming>,
    peer: SocketAddr,
) -> Result<Response<ReplyBody>, Status> {
    let (parts, body) = request.into_parts();
    let signal = Signal::from_grpc_path(parts.uri.path())
        .ok_or_else(|| Status::unimplemented(format!("unknown method {}", parts.uri.path())))?;
    let encoding = match parts.headers.get(GRPC_ENCODING).map(HeaderValue::as_bytes) {
        None | Some(b"identity") => Algorithm::None,
        Some(b"gzip") if Algorithm::Gzip.is_supported() => Algorithm::Gzip,
        Some(b"zstd") if Algorithm::Zstd.is_supported() => Algorithm::Zstd,
        Some(other) => {
            return Err(Status::unimplemented(format!(
                "unsupported grpc-encoding {:?}; supported: {}",
                String::from_utf8_lossy(other),
                [Algorithm::None, Algorithm::Gzip, Algorithm::Zstd]
                    .into_iter()
                    .filter(|a| a.is_supported())
                    .map(|a| a.content_encoding().unwrap_or("identity"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
    };
    let (body, held) = inner.read_body(body, PREFIX_LEN).await.map_err(status)?;
    let wire_bytes = body.len();
    let (compression, message) = unframe(body, encoding)?;
    let payload = Payload {
        transport: Transport::Grpc,
        signal,
        format: Format::Protobuf,
        compression,
        message,
        wire_bytes,
        headers: parts.headers,
        peer,
    };
    let message = match inner.dispatch(payload, held).await.map_err(status)? {
        Reply::Accept => export_response(signal, Format::Protobuf, None),
        Reply::PartialSuccess { rejected, message } => {
            export_response(signal, Format::Protobuf, Some((rejected, &message)))
        }
        Reply::Reject {
            code,
            message,
            retry_after,
        } => {
            let details = match retry_after {
                Some(_) => rpc_status(Format::Protobuf, code, &message, retry_after),
                None => Bytes::new(),
            };
            return Err(Status::with_details(code, message, details));
        }
    };
    let mut trailers = HeaderMap::with_capacity(1);
    trailers.insert(Status::GRPC_STATUS, HeaderValue::from_static("0"));
    let mut response = Response::new(ReplyBody::new(frame(&message), Some(trailers)));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    Ok(response)
}

fn status(refusal: Refusal) -> Status {
    let (code, message, retry_after) = refusal.status();
    match retry_after {
        // A google.rpc.RetryInfo detail tells the client when to retry.
        Some(_) => {
            let details = rpc_status(Format::Protobuf, code, &message, retry_after);
            Status::with_details(code, message, details)
        }
        None => Status::new(code, message),
    }
}

/// Splits a unary request body into the compression its one message uses
/// and the message.
pub(super) fn unframe(mut body: Bytes, encoding: Algorithm) -> Result<(Algorithm, Bytes), Status> {
    let Some(&[flag, a, b, c, d]) = body.get(..PREFIX_LEN) else {
        return Err(Status::invalid_argument(
            "gRPC message prefix missing or truncated",
        ));
    };
    let message = body.split_off(PREFIX_LEN);
    let len = u32::from_be_bytes([a, b, c, d]) as usize;
    if len != message.len() {
        return Err(Status::invalid_argument(format!(
            "gRPC message prefix announces {len} bytes but {} follow",
            message.len()
        )));
    }
    match flag {
        0 => Ok((Algorithm::None, message)),
        1 if encoding != Algorithm::None => Ok((encoding, message)),
        1 => Err(Status::invalid_argument(
            "compressed gRPC message without grpc-encoding",
        )),
        _ => Err(Status::invalid_argument(format!(
            "invalid gRPC compressed flag {flag}"
        ))),
    }
}

/// Prefixes `message` for the gRPC wire, uncompressed.
fn frame(message: &[u8]) -> Bytes {
    let mut framed = BytesMut::with_capacity(PREFIX_LEN + message.len());
    framed.put_u8(0);
    // Our responses are a few bytes, far below 4 GiB.
    framed.put_u32(message.len() as u32);
    framed.put_slice(message);
    framed.freeze()
}

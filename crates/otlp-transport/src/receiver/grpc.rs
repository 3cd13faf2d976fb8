//! OTLP/gRPC: unary gRPC framing on hyper's HTTP/2 server.

use super::handler::{ReceiverProtocol, Reply};
use super::wire::{export_response, rpc_status, ReplyBody};
use super::{health, Handler, Inner, Refusal, UnframedRequest};
use crate::srt;
use bytes::{BufMut, Bytes, BytesMut};
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response};
use hyper::body::Incoming;
use otlp_compression::Encoding;
use otlp_core::{Format, Signal};
use prost::Message as _;
use std::net::SocketAddr;
use tonic::Status;

const GRPC_ENCODING: HeaderName = HeaderName::from_static("grpc-encoding");
const GRPC_ACCEPT_ENCODING: HeaderName = HeaderName::from_static("grpc-accept-encoding");
/// The gRPC encodings the receiver decompresses: gzip, zstd and snappy
/// (the framing format, as the Collector's gRPC codec writes it), those of
/// them compiled into otlp-compression.
const GRPC_ENCODINGS: [Encoding; 4] = [
    Encoding::Identity,
    Encoding::Gzip,
    Encoding::Zstd,
    Encoding::SnappyFramed,
];

fn grpc_encodings() -> impl Iterator<Item = &'static str> {
    GRPC_ENCODINGS
        .into_iter()
        .filter(|e| e.is_supported())
        .filter_map(Encoding::grpc_encoding)
}

/// `grpc-accept-encoding`: the supported encodings besides `identity`.
fn accepted_encodings() -> HeaderValue {
    static VALUE: std::sync::OnceLock<HeaderValue> = std::sync::OnceLock::new();
    VALUE
        .get_or_init(|| {
            let list: Vec<_> = grpc_encodings().filter(|e| *e != "identity").collect();
            let list = if list.is_empty() {
                "identity".to_owned()
            } else {
                list.join(",")
            };
            HeaderValue::from_str(&list).unwrap_or(HeaderValue::from_static("identity"))
        })
        .clone()
}

/// The compressed flag and the big-endian message length.
const PREFIX_LEN: usize = 5;

/// The largest health check message read: a `HealthCheckRequest` holds one
/// service name. Health checks need no token, so this bounds what a client
/// without one can make the receiver buffer.
const MAX_HEALTH_CHECK_SIZE: usize = 1024;

/// Answers one gRPC call; failures become gRPC statuses, never HTTP errors.
pub(super) async fn handle<H: Handler>(
    inner: &Inner<H>,
    request: Request<Incoming>,
    peer: SocketAddr,
) -> Response<ReplyBody> {
    let method = request.uri().path().to_owned();
    let traces =
        method == srt::SRT_GRPC_PATH || Signal::from_grpc_path(&method) == Some(Signal::Traces);
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
    inner.offer_srt(traces, &mut response);
    response
}

async fn call<H: Handler>(
    inner: &Inner<H>,
    request: Request<Incoming>,
    peer: SocketAddr,
) -> Result<Response<ReplyBody>, Status> {
    let (mut parts, body) = request.into_parts();
    if parts.uri.path() == health::GRPC_CHECK_PATH {
        // Health checks need no token: their bodies are kept small.
        let limit = MAX_HEALTH_CHECK_SIZE.min(inner.max_message_size);
        let (body, _held) = inner
            .read_body(body, limit, PREFIX_LEN)
            .await
            .map_err(status)?;
        let (_, message) = unframe(body, Encoding::Identity)?;
        let check = health::HealthCheckRequest::decode(message)
            .map_err(|e| Status::invalid_argument(format!("bad HealthCheckRequest: {e}")))?;
        let answer = health::check(&inner.health, &check.service)
            .ok_or_else(|| Status::not_found(format!("unknown service {:?}", check.service)))?;
        return Ok(ok_response(&answer.encode_to_vec()));
    }
    // Before anything else of the request is looked at.
    let tenant = inner
        .authenticate(&mut parts.headers)
        .map_err(|e| Status::unauthenticated(e.message()))?;
    let srt_frame = parts.uri.path() == srt::SRT_GRPC_PATH && inner.srt_enabled();
    let signal = match srt_frame {
        true => Some(Signal::Traces),
        false => Signal::from_grpc_path(parts.uri.path()),
    }
    .ok_or_else(|| Status::unimplemented(format!("unknown method {}", parts.uri.path())))?;
    let header = parts.headers.get(GRPC_ENCODING).map(HeaderValue::as_bytes);
    let encoding =
        match header.map(|value| Encoding::from_grpc_encoding(&String::from_utf8_lossy(value))) {
            // An SRT frame is compressed inside; the gRPC framing is not.
            _ if srt_frame => Encoding::Identity,
            None => Encoding::Identity,
            Some(Ok(encoding)) if encoding.is_supported() => encoding,
            Some(_) => {
                return Err(Status::unimplemented(format!(
                    "unsupported grpc-encoding {:?}; supported: {}",
                    String::from_utf8_lossy(header.unwrap_or_default()),
                    grpc_encodings().collect::<Vec<_>>().join(", ")
                )))
            }
        };
    let (body, held) = inner
        .read_body(body, inner.max_message_size, PREFIX_LEN)
        .await
        .map_err(status)?;
    let wire_bytes = body.len();
    let (compression, message) = unframe(body, encoding)?;
    let compression = match srt_frame {
        true => Encoding::Srt,
        false => compression,
    };
    let payload = UnframedRequest {
        transport: ReceiverProtocol::Grpc,
        signal,
        format: Format::Protobuf,
        compression,
        message,
        wire_bytes,
        headers: parts.headers,
        peer,
        tenant,
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
    Ok(ok_response(&message))
}

/// A successful unary answer carrying `message`.
fn ok_response(message: &[u8]) -> Response<ReplyBody> {
    let mut trailers = HeaderMap::with_capacity(1);
    trailers.insert(Status::GRPC_STATUS, HeaderValue::from_static("0"));
    let mut response = Response::new(ReplyBody::new(frame(message), Some(trailers)));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    response
}

fn status(refusal: Refusal) -> Status {
    let (code, message, retry_after) = refusal.status();
    if let Refusal::Resync(_) = refusal {
        let mut metadata = tonic::metadata::MetadataMap::new();
        metadata.insert(
            "otlp-srt",
            tonic::metadata::MetadataValue::from_static("resync"),
        );
        return Status::with_metadata(code, message, metadata);
    }
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
pub(super) fn unframe(mut body: Bytes, encoding: Encoding) -> Result<(Encoding, Bytes), Status> {
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
        0 => Ok((Encoding::Identity, message)),
        1 if encoding != Encoding::Identity => Ok((encoding, message)),
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

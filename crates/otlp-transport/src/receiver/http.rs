//! OTLP/HTTP: `POST /v1/{traces,metrics,logs}` over HTTP/1.1 and h2c.

use super::handler::{http_status, ReceiverProtocol, Reply};
use super::wire::{export_response, rpc_status, ReplyBody};
use super::{Handler, HealthHandle, Inner, Refusal, UnframedRequest, HTTP_HEALTH_PATH};
use crate::srt;
use ::http::header::{ALLOW, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use ::http::{HeaderValue, Method, Request, Response, StatusCode};
use bytes::Bytes;
use hyper::body::Incoming;
use otlp_compression::Encoding;
use otlp_core::{Format, Signal};
use std::net::SocketAddr;
use std::time::Duration;
use tonic::Code;

/// Answers one OTLP/HTTP request.
pub(super) async fn handle<H: Handler>(
    inner: &Inner<H>,
    request: Request<Incoming>,
    peer: SocketAddr,
) -> Response<ReplyBody> {
    let traces = Signal::from_http_path(request.uri().path()) == Some(Signal::Traces);
    let mut response = answer(inner, request, peer).await;
    inner.offer_srt(traces, &mut response);
    response
}

async fn answer<H: Handler>(
    inner: &Inner<H>,
    request: Request<Incoming>,
    peer: SocketAddr,
) -> Response<ReplyBody> {
    let (mut parts, body) = request.into_parts();
    let path = parts.uri.path();
    let format = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(Format::from_content_type);
    let refuse = |status: StatusCode, code: Code, message: String| {
        tracing::debug!(%peer, path, %status, message, "OTLP/HTTP request refused");
        error(status, format, code, &message, None)
    };

    if path == HTTP_HEALTH_PATH {
        return health(&inner.health, &parts.method);
    }
    // Before anything else of the request is looked at.
    let tenant = match inner.authenticate(&mut parts.headers) {
        Ok(tenant) => tenant,
        Err(e) => {
            let mut response = refuse(
                StatusCode::UNAUTHORIZED,
                Code::Unauthenticated,
                e.message().to_owned(),
            );
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return response;
        }
    };
    let Some(signal) = Signal::from_http_path(path) else {
        return refuse(
            StatusCode::NOT_FOUND,
            Code::NotFound,
            format!("no OTLP endpoint at {path}"),
        );
    };
    if parts.method != Method::POST {
        let message = format!("method {} not allowed; use POST", parts.method);
        let mut response = refuse(StatusCode::METHOD_NOT_ALLOWED, Code::Unimplemented, message);
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    let Some(format) = format else {
        let message = "unsupported content-type; use application/x-protobuf or application/json";
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Code::Unimplemented,
            message.to_owned(),
        );
    };
    let encoding = parts.headers.get(CONTENT_ENCODING);
    let encoding = encoding.map(|value| value.to_str().unwrap_or_default());
    let compression = match encoding.map_or(Ok(Encoding::Identity), Encoding::from_content_encoding)
    {
        Ok(encoding) if encoding.is_supported() => encoding,
        Ok(encoding) => {
            let error = otlp_compression::DecompressError::Unsupported { encoding };
            return refuse(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Code::Unimplemented,
                error.to_string(),
            );
        }
        Err(error) => {
            return refuse(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Code::Unimplemented,
                error.to_string(),
            )
        }
    };

    if compression == Encoding::Srt
        && !(inner.srt_enabled() && signal == Signal::Traces && format == Format::Protobuf)
    {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Code::Unimplemented,
            "SRT frames are accepted only for traces in protobuf, by a receiver with SRT on"
                .to_owned(),
        );
    }

    let outcome = async {
        let (message, held) = inner.read_body(body, inner.max_message_size, 0).await?;
        let payload = UnframedRequest {
            transport: ReceiverProtocol::Http,
            signal,
            format,
            compression,
            wire_bytes: message.len(),
            message,
            headers: parts.headers,
            peer,
            tenant,
        };
        inner.dispatch(payload, held).await
    };
    match outcome.await {
        Ok(Reply::Accept) => success(export_response(signal, format, None), format),
        Ok(Reply::PartialSuccess { rejected, message }) => success(
            export_response(signal, format, Some((rejected, &message))),
            format,
        ),
        Ok(Reply::Reject {
            code,
            message,
            retry_after,
        }) => {
            let status = http_status(code);
            tracing::debug!(%peer, path, %status, message, "OTLP/HTTP request rejected by the handler");
            error(status, Some(format), code, &message, retry_after)
        }
        Err(refusal) => {
            let (code, message, retry_after) = refusal.status();
            let status = match refusal {
                Refusal::TooLarge { .. }
                | Refusal::TooManyItems { .. }
                | Refusal::DecodedTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                Refusal::Busy => StatusCode::SERVICE_UNAVAILABLE,
                Refusal::Invalid(_) => StatusCode::BAD_REQUEST,
                Refusal::TimedOut { .. } => StatusCode::REQUEST_TIMEOUT,
                Refusal::Resync(_) => StatusCode::CONFLICT,
            };
            tracing::debug!(%peer, path, %status, message, "OTLP/HTTP request refused");
            let mut response = error(status, Some(format), code, &message, retry_after);
            if matches!(refusal, Refusal::Resync(_)) {
                response
                    .headers_mut()
                    .insert(srt::SRT_HEADER, srt::SRT_RESYNC);
            }
            response
        }
    }
}

fn success(body: Bytes, format: Format) -> Response<ReplyBody> {
    let mut response = Response::new(ReplyBody::new(body, None));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    response
}

/// An error response: a `google.rpc.Status` in the request's format, or
/// plain text when the request's format is unknown.
/// `GET /health`: 200 `SERVING` or 503 `NOT_SERVING`, as plain text.
fn health(health: &HealthHandle, method: &Method) -> Response<ReplyBody> {
    if method != Method::GET && method != Method::HEAD {
        let mut response = error(
            StatusCode::METHOD_NOT_ALLOWED,
            None,
            Code::Unimplemented,
            &format!("method {method} not allowed; use GET"),
            None,
        );
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let (status, body) = if health.is_serving() {
        (StatusCode::OK, "SERVING\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "NOT_SERVING\n")
    };
    let body = if method == Method::HEAD { "" } else { body };
    let mut response = Response::new(ReplyBody::new(Bytes::from_static(body.as_bytes()), None));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn error(
    status: StatusCode,
    format: Option<Format>,
    code: Code,
    message: &str,
    retry_after: Option<Duration>,
) -> Response<ReplyBody> {
    let (body, content_type) = match format {
        Some(format) => (
            rpc_status(format, code, message, retry_after),
            format.content_type(),
        ),
        None => (
            Bytes::copy_from_slice(message.as_bytes()),
            "text/plain; charset=utf-8",
        ),
    };
    let mut response = Response::new(ReplyBody::new(body, None));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(delay) = retry_after {
        let seconds = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
        headers.insert(RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

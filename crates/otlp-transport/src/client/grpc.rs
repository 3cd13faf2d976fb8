//! OTLP/gRPC: unary calls framed by hand on a tonic [`Channel`].
//!
//! A gRPC message is a 5-byte prefix (compressed flag, big-endian length)
//! followed by the message. The prefix is sent as its own body chunk in front
//! of the caller's [`Bytes`], so the payload is never copied. The reply's
//! status comes from the trailers, or from the headers of a "trailers-only"
//! reply (how servers answer errors without a message).

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE, TE};
use http::uri::{Scheme, Uri};
use http::{HeaderMap, Method, Request, Response, StatusCode, Version};
use http_body::Frame;
use http_body_util::{BodyExt, Limited, StreamBody};
use otlp_compression::Algorithm;
use otlp_core::Signal;
use prost::Message;
use std::convert::Infallible;
use std::error::Error as StdError;
use std::future::poll_fn;
use std::sync::OnceLock;
use std::time::Duration;
use tonic::client::GrpcService;
use tonic::transport::{Channel, Endpoint};
use tonic::Code;

use super::response::decode_protobuf;
use super::tls::LoadedTls;
use super::{
    body_error, index, Answer, BuildError, ExportError, ExportResponse, Payload, Settings,
    MAX_RESPONSE_BYTES,
};
use crate::rpc::RpcStatus;
use crate::srt::{self, SRT_GRPC_PATH};

const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
const GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");
const GRPC_STATUS_DETAILS: HeaderName = HeaderName::from_static("grpc-status-details-bin");
const GRPC_ENCODING: HeaderName = HeaderName::from_static("grpc-encoding");
const GRPC_ACCEPT_ENCODING: HeaderName = HeaderName::from_static("grpc-accept-encoding");
const GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");

/// HTTP/2 pings on a connection with requests in flight, so a peer that
/// vanished is noticed before the export timeout. Pings on idle connections
/// are not sent: gRPC servers (grpc-go's default policy) answer those with
/// `GOAWAY too_many_pings`.
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(30);
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// gRPC says binary headers may arrive with or without base64 padding.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

pub(crate) struct GrpcTransport {
    endpoints: [Endpoint; Signal::ALL.len()],
    /// One channel per distinct endpoint, made on first use because a
    /// channel spawns its worker task on the current Tokio runtime, and
    /// `build()` need not run inside one.
    channels: OnceLock<Vec<Channel>>,
    headers: HeaderMap,
    timeout: Duration,
}

impl GrpcTransport {
    pub(crate) fn new(
        uris: &[Uri; Signal::ALL.len()],
        settings: Settings,
        tls: &LoadedTls,
    ) -> Result<Self, BuildError> {
        let endpoint = |uri: &Uri| -> Result<Endpoint, BuildError> {
            let mut endpoint = Endpoint::from(uri.clone())
                .http2_keep_alive_interval(KEEP_ALIVE_INTERVAL)
                .keep_alive_timeout(KEEP_ALIVE_TIMEOUT);
            if let Some(timeout) = settings.connect_timeout {
                endpoint = endpoint.connect_timeout(timeout);
            }
            if uri.scheme() == Some(&Scheme::HTTPS) {
                endpoint = endpoint
                    .tls_config(tls.tonic_config())
                    .map_err(|e| BuildError::Tls(Box::new(e)))?;
            }
            Ok(endpoint)
        };
        let endpoints = [
            endpoint(&uris[0])?,
            endpoint(&uris[1])?,
            endpoint(&uris[2])?,
            endpoint(&uris[3])?,
        ];

        let mut headers = settings.headers;
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        headers.insert(TE, HeaderValue::from_static("trailers"));
        headers.insert(GRPC_TIMEOUT, grpc_timeout(settings.timeout));
        Ok(GrpcTransport {
            endpoints,
            channels: OnceLock::new(),
            headers,
            timeout: settings.timeout,
        })
    }

    fn channel(&self, signal: Signal) -> Channel {
        let channels = self.channels.get_or_init(|| {
            let mut channels: Vec<Channel> = Vec::with_capacity(self.endpoints.len());
            for (i, endpoint) in self.endpoints.iter().enumerate() {
                let same = self.endpoints[..i]
                    .iter()
                    .position(|e| e.uri() == endpoint.uri());
                channels.push(match same {
                    Some(j) => channels[j].clone(),
                    None => endpoint.connect_lazy(),
                });
            }
            channels
        });
        channels[index(signal)].clone()
    }

    pub(crate) async fn export(
        &self,
        signal: Signal,
        endpoint: &Uri,
        payload: &Payload,
    ) -> Result<Answer, ExportError> {
        // An SRT frame goes to its own method, as the message it carries
        // is not an ExportTraceServiceRequest.
        let path = match payload.compression {
            Algorithm::Srt => SRT_GRPC_PATH,
            _ => signal.grpc_path(),
        };
        let encoding = match payload.compression {
            Algorithm::None | Algorithm::Srt => None,
            Algorithm::Gzip => Some("gzip"),
            Algorithm::Zstd => Some("zstd"),
            algorithm => return Err(ExportError::UnsupportedCompression { algorithm }),
        };
        let size = payload.body.len();
        let len = u32::try_from(size).map_err(|_| ExportError::PayloadTooLarge { size })?;
        let mut prefix = [0u8; 5];
        prefix[0] = u8::from(encoding.is_some());
        prefix[1..].copy_from_slice(&len.to_be_bytes());
        let chunks = [Bytes::copy_from_slice(&prefix), payload.body.clone()];
        let body = StreamBody::new(futures_util::stream::iter(
            chunks.map(|chunk| Ok::<_, Infallible>(Frame::data(chunk))),
        ));

        let mut request = Request::new(tonic::body::Body::new(body));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = Uri::from_static(path);
        *request.version_mut() = Version::HTTP_2;
        *request.headers_mut() = self.headers.clone();
        if let Some(encoding) = encoding {
            // Only the request's own encoding is offered for the reply: the
            // server evidently has it, and replies are too small to be worth
            // a codec the exporter did not already choose.
            let encoding = HeaderValue::from_static(encoding);
            request
                .headers_mut()
                .insert(GRPC_ENCODING, encoding.clone());
            request.headers_mut().insert(GRPC_ACCEPT_ENCODING, encoding);
        }

        let mut channel = self.channel(signal);
        let transport_error = |e| self.transport_error(e, endpoint);
        poll_fn(|cx| GrpcService::poll_ready(&mut channel, cx))
            .await
            .map_err(transport_error)?;
        let response = GrpcService::call(&mut channel, request)
            .await
            .map_err(transport_error)?;
        read_response(signal, endpoint, response).await
    }

    /// `grpc.health.v1.Health/Check` for `service` on the channel of
    /// `signal`: whether the answer is `SERVING`.
    pub(crate) async fn check_health(
        &self,
        signal: Signal,
        endpoint: &Uri,
        service: &str,
    ) -> Result<bool, ExportError> {
        use crate::receiver::health::{
            HealthCheckRequest, HealthCheckResponse, GRPC_CHECK_PATH, SERVING,
        };
        let message = HealthCheckRequest {
            service: service.to_owned(),
        }
        .encode_to_vec();
        let len = u32::try_from(message.len()).map_err(|_| ExportError::PayloadTooLarge {
            size: message.len(),
        })?;
        let mut framed = Vec::with_capacity(5 + message.len());
        framed.push(0);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(&message);
        let body = http_body_util::Full::new(Bytes::from(framed));
        let mut request = Request::new(tonic::body::Body::new(body));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = Uri::from_static(GRPC_CHECK_PATH);
        *request.version_mut() = Version::HTTP_2;
        *request.headers_mut() = self.headers.clone();

        let mut channel = self.channel(signal);
        let transport_error = |e| self.transport_error(e, endpoint);
        poll_fn(|cx| GrpcService::poll_ready(&mut channel, cx))
            .await
            .map_err(transport_error)?;
        let response = GrpcService::call(&mut channel, request)
            .await
            .map_err(transport_error)?;
        let (parts, body) = response.into_parts();
        if parts.headers.contains_key(GRPC_STATUS) {
            // Trailers-only: an error status (NOT_FOUND for an unknown
            // service), or OK without the message a check must carry.
            status(&parts.headers)?;
            return Err(ExportError::invalid(
                "health check answered without a message",
            ));
        }
        if parts.status != StatusCode::OK {
            return Err(ExportError::invalid(format!(
                "health check answered with HTTP status {}",
                parts.status
            )));
        }
        let collected = Limited::new(body, MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map_err(|e| body_error(e, endpoint))?;
        let trailers = collected.trailers().cloned().unwrap_or_default();
        status(&trailers)?;
        let data = collected.to_bytes();
        // Uncompressed: the request offered no encoding for the reply.
        let message = match data.split_first_chunk::<5>() {
            Some((&[0, l0, l1, l2, l3], rest)) => rest
                .get(..u32::from_be_bytes([l0, l1, l2, l3]) as usize)
                .ok_or_else(|| ExportError::invalid("truncated health check message"))?,
            _ => return Err(ExportError::invalid("malformed health check message")),
        };
        let answer = HealthCheckResponse::decode(message)
            .map_err(|e| ExportError::invalid(format!("health check message: {e}")))?;
        Ok(answer.status == SERVING)
    }

    /// A failure below gRPC: tonic's own deadline (from `grpc-timeout`) or
    /// the connection.
    fn transport_error(&self, err: tonic::transport::Error, endpoint: &Uri) -> ExportError {
        let mut cause: Option<&(dyn StdError + 'static)> = Some(&err);
        while let Some(e) = cause {
            if e.is::<tonic::TimeoutExpired>() {
                return ExportError::Timeout {
                    timeout: self.timeout,
                };
            }
            cause = e.source();
        }
        ExportError::Connection {
            endpoint: endpoint.to_string(),
            source: Box::new(err),
        }
    }
}

async fn read_response(
    signal: Signal,
    endpoint: &Uri,
    response: Response<tonic::body::Body>,
) -> Result<Answer, ExportError> {
    let (parts, body) = response.into_parts();
    let srt_offered = srt::offered(&parts.headers);
    let answer = |response| Answer {
        response,
        srt_offered,
    };
    if parts.headers.contains_key(GRPC_STATUS) {
        // Trailers-only: the headers are all there is.
        srt::check_resync(&parts.headers, endpoint)?;
        return status(&parts.headers).map(|()| answer(ExportResponse::default()));
    }
    if parts.status != StatusCode::OK {
        // Not a gRPC server's answer (a proxy's, say): map the HTTP status as
        // gRPC's http-grpc-status-mapping.md says.
        let code = match parts.status.as_u16() {
            400 => Code::Internal,
            401 => Code::Unauthenticated,
            403 => Code::PermissionDenied,
            404 => Code::Unimplemented,
            429 | 502 | 503 | 504 => Code::Unavailable,
            _ => Code::Unknown,
        };
        return Err(ExportError::Grpc {
            code,
            message: format!("HTTP status {}", parts.status),
            retry_after: None,
        });
    }
    let collected = Limited::new(body, MAX_RESPONSE_BYTES)
        .collect()
        .await
        .map_err(|e| body_error(e, endpoint))?;
    let trailers = collected.trailers().cloned().unwrap_or_default();
    if !trailers.contains_key(GRPC_STATUS) {
        return Err(ExportError::invalid("gRPC response without grpc-status"));
    }
    srt::check_resync(&trailers, endpoint)?;
    status(&trailers)?;
    decode_message(
        signal,
        &collected.to_bytes(),
        parts.headers.get(GRPC_ENCODING),
    )
    .map(answer)
}

/// `Ok` for `grpc-status: 0`, else the status as an error.
fn status(headers: &HeaderMap) -> Result<(), ExportError> {
    let code = headers
        .get(GRPC_STATUS)
        .map_or(Code::Unknown, |v| Code::from_bytes(v.as_bytes()));
    if code == Code::Ok {
        return Ok(());
    }
    let details = headers
        .get(GRPC_STATUS_DETAILS)
        .and_then(|v| BASE64.decode(v.as_bytes()).ok())
        .and_then(|bytes| RpcStatus::decode(bytes.as_slice()).ok());
    let message = headers
        .get(GRPC_MESSAGE)
        .map(|v| {
            percent_encoding::percent_decode(v.as_bytes())
                .decode_utf8_lossy()
                .into_owned()
        })
        .filter(|m| !m.is_empty());
    Err(ExportError::Grpc {
        code,
        retry_after: details.as_ref().and_then(RpcStatus::retry_delay),
        message: message
            .or_else(|| details.map(|d| d.message))
            .unwrap_or_default(),
    })
}

/// Decodes the (single) response message of a successful call.
fn decode_message(
    signal: Signal,
    data: &[u8],
    encoding: Option<&HeaderValue>,
) -> Result<ExportResponse, ExportError> {
    let Some((&[flag, l0, l1, l2, l3], rest)) = data.split_first_chunk::<5>() else {
        // No message at all is lenient but harmless: the status said OK.
        return match data.is_empty() {
            true => Ok(ExportResponse::default()),
            false => Err(ExportError::invalid("truncated gRPC message prefix")),
        };
    };
    let len = u32::from_be_bytes([l0, l1, l2, l3]) as usize;
    let message = rest
        .get(..len)
        .ok_or_else(|| ExportError::invalid("truncated gRPC message"))?;
    match flag {
        0 => decode_protobuf(signal, message),
        1 => {
            let algorithm = encoding
                .and_then(|v| v.to_str().ok())
                .and_then(|v| Algorithm::from_content_encoding(v).ok())
                .filter(|a| matches!(a, Algorithm::Gzip | Algorithm::Zstd))
                .ok_or_else(|| {
                    ExportError::invalid(format!(
                        "compressed gRPC message with unsupported grpc-encoding {encoding:?}"
                    ))
                })?;
            let mut decoded = Vec::new();
            otlp_compression::decompress(algorithm, message, MAX_RESPONSE_BYTES, &mut decoded)
                .map_err(|e| ExportError::invalid(format!("gRPC response message: {e}")))?;
            decode_protobuf(signal, &decoded)
        }
        flag => Err(ExportError::invalid(format!("gRPC message flag {flag}"))),
    }
}

/// `grpc-timeout`: at most 8 digits and a unit, in the finest unit that fits.
fn grpc_timeout(timeout: Duration) -> HeaderValue {
    const MAX: u128 = 99_999_999;
    let value = [
        (timeout.as_millis(), "m"),
        (u128::from(timeout.as_secs()), "S"),
        (u128::from(timeout.as_secs() / 3600), "H"),
    ]
    .into_iter()
    .find(|(n, _)| *n <= MAX)
    .map_or_else(|| format!("{MAX}H"), |(n, unit)| format!("{n}{unit}"));
    HeaderValue::try_from(value).unwrap_or(HeaderValue::from_static("99999999H"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_header() {
        assert_eq!(grpc_timeout(Duration::from_secs(10)), "10000m");
        assert_eq!(grpc_timeout(Duration::from_secs(200_000)), "200000S");
        assert_eq!(grpc_timeout(Duration::from_secs(u64::MAX)), "99999999H");
    }

    #[test]
    fn status_headers() {
        let mut headers = HeaderMap::new();
        headers.insert(GRPC_STATUS, HeaderValue::from_static("0"));
        assert!(status(&headers).is_ok());

        headers.insert(GRPC_STATUS, HeaderValue::from_static("3"));
        headers.insert(
            GRPC_MESSAGE,
            HeaderValue::from_static("bad%20span%3A%20%E2%9C%93"),
        );
        let err = status(&headers).unwrap_err();
        assert!(
            matches!(&err, ExportError::Grpc { code: Code::InvalidArgument, message, retry_after: None }
                if message == "bad span: ✓"),
            "{err:?}"
        );

        headers.insert(GRPC_STATUS, HeaderValue::from_static("garbage"));
        headers.insert(GRPC_STATUS_DETAILS, HeaderValue::from_static("!!!"));
        let err = status(&headers).unwrap_err();
        assert!(matches!(
            err,
            ExportError::Grpc {
                code: Code::Unknown,
                ..
            }
        ));
    }

    #[test]
    fn malformed_messages() {
        let t = Signal::Traces;
        assert_eq!(
            decode_message(t, b"", None).unwrap(),
            ExportResponse::default()
        );
        assert!(decode_message(t, b"\0\0", None).is_err());
        assert!(decode_message(t, b"\0\0\0\0\x09abc", None).is_err());
        assert!(decode_message(t, b"\x07\0\0\0\0", None).is_err());
        assert!(decode_message(t, b"\x01\0\0\0\x01x", None).is_err());
        let gzip = HeaderValue::from_static("gzip");
        assert!(decode_message(t, b"\x01\0\0\0\x01x", Some(&gzip)).is_err());
        assert_eq!(
            decode_message(t, b"\0\0\0\0\0", None).unwrap(),
            ExportResponse::default()
        );
    }
}

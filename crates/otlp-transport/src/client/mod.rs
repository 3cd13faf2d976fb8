//! OTLP clients that send payloads which are already encoded and compressed.
//!
//! An exporter encodes a batch once, compresses it once, and then hands the
//! same [`Payload`] to [`OtlpClient::export`] as many times as its retry
//! policy wants: each attempt clones a [`Bytes`] handle, never the data, and
//! nothing here decodes or re-encodes it.
//!
//! # Design
//!
//! * **OTLP/gRPC** goes over tonic's [`Channel`](tonic::transport::Channel)
//!   (one HTTP/2 connection per endpoint, multiplexing concurrent exports,
//!   reconnecting on failure), but not through tonic's generated client: that
//!   client takes a message struct and encodes (and compresses) it on every
//!   call, retries included. Instead the client writes the 5-byte gRPC frame
//!   header itself and sends the payload bytes behind it, then reads the
//!   status from the trailers (or from the headers of a "trailers-only"
//!   reply), with `grpc-status-details-bin` parsed for `RetryInfo`.
//! * **OTLP/HTTP** goes over hyper-util's pooled client with rustls: HTTP/1.1
//!   keep-alive for `http://`, HTTP/1.1 or HTTP/2 by ALPN for `https://`.
//! * Every export is bounded by one timeout over the whole exchange (connect,
//!   send, and reading the response body), and response bodies are read with
//!   a 4 MiB cap, so a misbehaving server can neither hang nor exhaust an
//!   exporter. No server reply makes the client panic.
//! * Outcomes follow the OTLP specification: a (partial) success is an
//!   [`ExportResponse`]; an [`ExportError`] says whether a retry may help and
//!   how long the server asked to wait.
//!
//! The client must be used from within a Tokio runtime; it is cheap to
//! clone, and all clones share the connections.
//!
//! # Example
//!
//! ```no_run
//! use otlp_compression::Algorithm;
//! use otlp_core::Signal;
//! use otlp_transport::client::{OtlpClient, Payload};
//! use otlp_transport::Protocol;
//! use std::time::Duration;
//!
//! # async fn run(encoded_gzipped_spans: bytes::Bytes) -> Result<(), Box<dyn std::error::Error>> {
//! let client = OtlpClient::builder(Protocol::HttpProtobuf)
//!     .with_endpoint("http://collector:4318")
//!     .with_headers([("authorization", "Bearer secret")])
//!     .with_timeout(Duration::from_secs(5))
//!     .build()?;
//! let payload = Payload::new(encoded_gzipped_spans, Algorithm::Gzip);
//! match client.export(Signal::Traces, payload.clone()).await {
//!     Ok(response) if response.is_partial_success() => {
//!         eprintln!("{} spans rejected: {}", response.rejected_items, response.error_message)
//!     }
//!     Ok(_) => {}
//!     Err(err) if err.is_retryable() => { /* wait err.retry_after(), send `payload` again */ }
//!     Err(err) => return Err(err.into()),
//! }
//! # Ok(())
//! # }
//! ```

mod error;
#[cfg(feature = "grpc")]
mod grpc;
#[cfg(feature = "http")]
mod http;
mod response;
#[cfg(feature = "srt")]
mod srt;
mod tls;

pub use error::{BoxError, BuildError, ExportError};

/// The settings of the SRT codec ([`OtlpClientBuilder::with_srt`]).
#[cfg(feature = "srt")]
pub use otlp_srt::SrtConfig;
pub use response::ExportResponse;
pub use tls::TlsConfig;

use ::http::header::{HeaderName, HeaderValue, USER_AGENT};
use ::http::uri::{Scheme, Uri};
use ::http::HeaderMap;
use bytes::Bytes;
use otlp_compression::Algorithm;
use otlp_core::Signal;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::Protocol;

/// The export timeout when none is set (`OTEL_EXPORTER_OTLP_TIMEOUT`'s default).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest response body (or decompressed gRPC response message) read,
/// in bytes. OTLP responses are tiny; anything bigger is a broken server.
const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

const DEFAULT_USER_AGENT: &str = concat!("otlp-rust/", env!("CARGO_PKG_VERSION"));

/// An export request body, already encoded in the protocol's format
/// (protobuf for gRPC and `http/protobuf`, JSON for `http/json`) and already
/// compressed with `compression`.
///
/// Cloning is cheap (a reference-counted [`Bytes`]), so one payload can be
/// retried many times.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Payload {
    /// The encoded, compressed request.
    pub body: Bytes,
    /// How `body` is compressed; sent as `Content-Encoding` / `grpc-encoding`.
    pub compression: Algorithm,
}

impl Payload {
    /// A payload of `body`, compressed with `compression`.
    pub fn new(body: impl Into<Bytes>, compression: Algorithm) -> Self {
        Payload {
            body: body.into(),
            compression,
        }
    }
}

/// A configured OTLP client for one protocol; see the [module docs](self).
#[derive(Clone)]
pub struct OtlpClient {
    inner: Arc<Inner>,
}

struct Inner {
    protocol: Protocol,
    endpoints: [Uri; Signal::ALL.len()],
    timeout: Duration,
    transport: ProtocolClient,
    /// The SRT stream of this client's traces, made at the first
    /// [`Algorithm::Srt`] payload.
    #[cfg(feature = "srt")]
    srt: std::sync::OnceLock<Result<srt::SrtSession, String>>,
    #[cfg(feature = "srt")]
    srt_config: SrtConfig,
}

/// What a transport read back: the outcome, and whether the server offers
/// SRT.
pub(crate) struct Answer {
    pub(crate) response: ExportResponse,
    #[cfg_attr(not(feature = "srt"), allow(dead_code))]
    pub(crate) srt_offered: bool,
}

// One per client, behind its `Arc`: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
enum ProtocolClient {
    #[cfg(feature = "grpc")]
    Grpc(grpc::GrpcTransport),
    #[cfg(feature = "http")]
    Http(http::HttpTransport),
    /// Stands in for the transports when neither protocol is compiled in;
    /// it cannot be constructed, as `build` refuses every protocol then.
    #[cfg(not(any(feature = "grpc", feature = "http")))]
    Disabled(std::convert::Infallible),
}

impl OtlpClient {
    /// Starts configuring a client for `protocol`.
    pub fn builder(protocol: Protocol) -> OtlpClientBuilder {
        OtlpClientBuilder {
            protocol,
            endpoint: None,
            signal_endpoints: Default::default(),
            headers: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: None,
            tls: TlsConfig::default(),
            #[cfg(feature = "srt")]
            srt: SrtConfig::default(),
        }
    }

    /// The client's protocol.
    pub fn protocol(&self) -> Protocol {
        self.inner.protocol
    }

    /// The URL exports of `signal` go to: for OTLP/HTTP the full URL posted
    /// to, for OTLP/gRPC the server's address.
    pub fn endpoint(&self, signal: Signal) -> &Uri {
        &self.inner.endpoints[index(signal)]
    }

    /// Sends one export request of `signal` and reads the server's answer.
    ///
    /// `payload` must be encoded in this client's protocol format and
    /// compressed as it says; it is sent as is. The exception is
    /// [`Algorithm::Srt`]: such a payload holds an uncompressed OTLP
    /// protobuf request, which this client sends as an SRT frame to a
    /// receiver that has announced SRT and as OTLP + zstd otherwise (and
    /// always for signals other than traces); see [`crate::srt`].
    pub async fn export(
        &self,
        signal: Signal,
        payload: Payload,
    ) -> Result<ExportResponse, ExportError> {
        if payload.compression == Algorithm::Srt {
            #[cfg(feature = "srt")]
            return self.export_srt(signal, payload).await;
            #[cfg(not(feature = "srt"))]
            return Err(ExportError::UnsupportedCompression {
                algorithm: Algorithm::Srt,
            });
        }
        self.send(signal, &payload)
            .await
            .map(|answer| answer.response)
    }

    /// An [`Algorithm::Srt`] payload: a frame if the receiver offers SRT,
    /// else OTLP + zstd, learning from the answer whether it does.
    #[cfg(feature = "srt")]
    async fn export_srt(
        &self,
        signal: Signal,
        payload: Payload,
    ) -> Result<ExportResponse, ExportError> {
        /// Frames sent for one export while the receiver asks to resync:
        /// one resync is expected after a receiver restart; more means the
        /// receiver keeps losing state, and the retry policy takes over.
        const ATTEMPTS: usize = 3;
        let session = self
            .inner
            .srt
            .get_or_init(|| srt::SrtSession::new(self.inner.srt_config).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|reason| ExportError::InvalidPayload {
                reason: reason.clone(),
            })?;
        let eligible =
            signal == Signal::Traces && self.inner.protocol.format() == otlp_core::Format::Protobuf;
        if eligible && session.is_offered() {
            for attempt in 1..=ATTEMPTS {
                let (frame, body) = session.encode(&payload.body)?;
                // If this future is dropped before the answer (the caller
                // gave up), the frame is rejected rather than left pending.
                let pending = srt::Pending::new(session, frame);
                let size = body.len();
                match self.send(signal, &Payload::new(body, Algorithm::Srt)).await {
                    Ok(mut answer) => {
                        session.acknowledge(pending.settle());
                        answer.response.encoded_bytes = Some(size);
                        return Ok(answer.response);
                    }
                    Err(ExportError::SrtResync { .. }) if attempt < ATTEMPTS => {
                        session.reset_for(pending.settle());
                    }
                    Err(error) if not_understood(&error) => {
                        // No SRT at that address any more: OTLP + zstd below.
                        session.withdraw(pending.settle());
                        break;
                    }
                    Err(error) => {
                        session.reject(pending.settle());
                        return Err(error);
                    }
                }
            }
        }
        let body = session.compress(&payload.body)?;
        let size = body.len();
        let mut answer = self
            .send(signal, &Payload::new(body, Algorithm::Zstd))
            .await?;
        if eligible && answer.srt_offered {
            session.offer();
        }
        answer.response.encoded_bytes = Some(size);
        Ok(answer.response)
    }

    /// One request, bounded by the timeout.
    async fn send(&self, signal: Signal, payload: &Payload) -> Result<Answer, ExportError> {
        let inner = &*self.inner;
        let endpoint = &inner.endpoints[index(signal)];
        let timeout = inner.timeout;
        let outcome: Result<_, tokio::time::error::Elapsed> = match &inner.transport {
            #[cfg(feature = "grpc")]
            ProtocolClient::Grpc(t) => {
                tokio::time::timeout(timeout, t.export(signal, endpoint, payload)).await
            }
            #[cfg(feature = "http")]
            ProtocolClient::Http(t) => {
                tokio::time::timeout(timeout, t.export(signal, endpoint, payload)).await
            }
            #[cfg(not(any(feature = "grpc", feature = "http")))]
            ProtocolClient::Disabled(never) => match *never {},
        };
        outcome.unwrap_or(Err(ExportError::Timeout { timeout }))
    }
}

/// An answer that means the server does not know SRT frames: a stock
/// receiver answers an unknown content coding with 415 and an unknown gRPC
/// method with `UNIMPLEMENTED`.
#[cfg(feature = "srt")]
fn not_understood(error: &ExportError) -> bool {
    match error {
        ExportError::Http { status, .. } => *status == ::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ExportError::Grpc { code, .. } => *code == tonic::Code::Unimplemented,
        _ => false,
    }
}

/// How [`OtlpClient::check_health`] asks an endpoint whether it is
/// serving.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HealthProbe {
    /// The gRPC health checking protocol: `grpc.health.v1.Health/Check`
    /// for `service` (`""`: the server as a whole), on the client's
    /// connection. OTLP/gRPC clients only.
    Grpc {
        /// The service asked about.
        service: String,
    },
    /// `GET` of `path` on the endpoint's host and port; a 2xx answer means
    /// serving, any other status not serving. OTLP/HTTP clients only.
    Http {
        /// The path, e.g. [`HTTP_HEALTH_PATH`](crate::receiver::HTTP_HEALTH_PATH).
        path: String,
    },
}

impl OtlpClient {
    /// Asks the endpoint of `signal` whether it is serving, within the
    /// client's timeout: `Ok(true)` for `SERVING` (or a 2xx), `Ok(false)`
    /// for any other answer, an error when no answer came (the endpoint is
    /// unreachable, or answered with something that is not a health
    /// check's answer).
    pub async fn check_health(
        &self,
        signal: Signal,
        probe: &HealthProbe,
    ) -> Result<bool, ExportError> {
        let inner = &*self.inner;
        let endpoint = &inner.endpoints[index(signal)];
        let timeout = inner.timeout;
        let outcome: Result<_, tokio::time::error::Elapsed> = match (&inner.transport, probe) {
            #[cfg(feature = "grpc")]
            (ProtocolClient::Grpc(t), HealthProbe::Grpc { service }) => {
                tokio::time::timeout(timeout, t.check_health(signal, endpoint, service)).await
            }
            #[cfg(feature = "http")]
            (ProtocolClient::Http(t), HealthProbe::Http { path }) => {
                tokio::time::timeout(timeout, t.check_health(endpoint, path)).await
            }
            #[cfg(not(any(feature = "grpc", feature = "http")))]
            (ProtocolClient::Disabled(never), _) => match *never {},
            #[allow(unreachable_patterns)]
            _ => {
                return Err(ExportError::ProbeNotSupported {
                    protocol: inner.protocol,
                })
            }
        };
        outcome.unwrap_or(Err(ExportError::Timeout { timeout }))
    }
}

impl fmt::Debug for OtlpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpClient")
            .field("protocol", &self.inner.protocol)
            .field("endpoints", &self.inner.endpoints)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

/// Configures an [`OtlpClient`]; made by [`OtlpClient::builder`].
#[derive(Clone)]
#[must_use]
pub struct OtlpClientBuilder {
    protocol: Protocol,
    endpoint: Option<String>,
    signal_endpoints: [Option<String>; Signal::ALL.len()],
    headers: Vec<(String, String)>,
    timeout: Duration,
    connect_timeout: Option<Duration>,
    tls: TlsConfig,
    #[cfg(feature = "srt")]
    srt: SrtConfig,
}

impl OtlpClientBuilder {
    /// The base endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT`), default
    /// [`Protocol::default_endpoint`]. For OTLP/HTTP the signal's path
    /// (`/v1/traces`, ...) is appended; for OTLP/gRPC it is the server's
    /// address. Without a scheme, [`TlsConfig::with_insecure`] decides
    /// between `http` and `https`.
    pub fn with_endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// The full URL for one signal (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, ...),
    /// used as is, overriding [`with_endpoint`](Self::with_endpoint).
    pub fn with_signal_endpoint(mut self, signal: Signal, url: impl Into<String>) -> Self {
        self.signal_endpoints[index(signal)] = Some(url.into());
        self
    }

    /// Adds headers (gRPC metadata) to every request
    /// (`OTEL_EXPORTER_OTLP_HEADERS`); checked by [`build`](Self::build).
    pub fn with_headers<I, K, V>(mut self, headers: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.headers
            .extend(headers.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// The limit on one export, from connecting to reading the whole
    /// response (`OTEL_EXPORTER_OTLP_TIMEOUT`), default [`DEFAULT_TIMEOUT`].
    /// gRPC servers also learn it through `grpc-timeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// A separate, usually shorter, limit on establishing a TCP connection,
    /// so a dead endpoint fails fast. Without it only the export timeout applies.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// TLS settings: custom CA, client certificate, insecure.
    pub fn with_tls(mut self, tls: TlsConfig) -> Self {
        self.tls = tls;
        self
    }

    /// How [`Algorithm::Srt`] payloads are encoded (the zstd level, the
    /// state's memory cap), default [`SrtConfig::default`]. The level also
    /// applies to the OTLP + zstd sent before the receiver offers SRT.
    #[cfg(feature = "srt")]
    pub fn with_srt(mut self, config: SrtConfig) -> Self {
        self.srt = config;
        self
    }

    /// Checks the settings, reads the PEM files, and builds the client. No
    /// connection is made until the first export.
    ///
    /// Fails with [`BuildError::ProtocolDisabled`] if the protocol was left
    /// out of this build (see [`Protocol::is_supported`]).
    pub fn build(self) -> Result<OtlpClient, BuildError> {
        if !self.protocol.is_supported() {
            return Err(BuildError::ProtocolDisabled {
                protocol: self.protocol,
            });
        }
        let insecure = self.tls.insecure();
        let base = self
            .endpoint
            .as_deref()
            .unwrap_or(self.protocol.default_endpoint());
        let resolve = |signal: Signal| -> Result<Uri, BuildError> {
            match &self.signal_endpoints[index(signal)] {
                Some(url) => parse_endpoint(url, insecure),
                None => parse_endpoint(&self.protocol.signal_url(base, signal), insecure),
            }
        };
        let endpoints = [
            resolve(Signal::Traces)?,
            resolve(Signal::Metrics)?,
            resolve(Signal::Logs)?,
            resolve(Signal::Profiles)?,
        ];

        let mut headers = HeaderMap::new();
        for (name, value) in &self.headers {
            let header_name = HeaderName::try_from(name.trim()).map_err(|source| {
                BuildError::InvalidHeaderName {
                    name: name.clone(),
                    source,
                }
            })?;
            let header_value = HeaderValue::try_from(value.trim()).map_err(|source| {
                BuildError::InvalidHeaderValue {
                    name: name.clone(),
                    source,
                }
            })?;
            headers.append(header_name, header_value);
        }
        headers
            .entry(USER_AGENT)
            .or_insert(HeaderValue::from_static(DEFAULT_USER_AGENT));

        let uses_tls = endpoints.iter().any(|u| u.scheme() == Some(&Scheme::HTTPS));
        let tls = self.tls.load(uses_tls)?;
        let settings = Settings {
            headers,
            #[cfg(feature = "grpc")]
            timeout: self.timeout,
            connect_timeout: self.connect_timeout,
        };
        let transport = match self.protocol {
            #[cfg(feature = "grpc")]
            Protocol::Grpc => {
                ProtocolClient::Grpc(grpc::GrpcTransport::new(&endpoints, settings, &tls)?)
            }
            #[cfg(feature = "http")]
            Protocol::HttpProtobuf | Protocol::HttpJson => ProtocolClient::Http(
                http::HttpTransport::new(self.protocol.format(), settings, &tls)?,
            ),
            // Refused at the top; kept as an error rather than a panic.
            #[cfg(not(all(feature = "grpc", feature = "http")))]
            protocol => return Err(BuildError::ProtocolDisabled { protocol }),
        };
        Ok(OtlpClient {
            inner: Arc::new(Inner {
                protocol: self.protocol,
                endpoints,
                timeout: self.timeout,
                transport,
                #[cfg(feature = "srt")]
                srt: std::sync::OnceLock::new(),
                #[cfg(feature = "srt")]
                srt_config: self.srt,
            }),
        })
    }
}

/// Header values are left out: they are often credentials.
impl fmt::Debug for OtlpClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header_names: Vec<&str> = self.headers.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("OtlpClientBuilder")
            .field("protocol", &self.protocol)
            .field("endpoint", &self.endpoint)
            .field("signal_endpoints", &self.signal_endpoints)
            .field("header_names", &header_names)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("tls", &self.tls)
            .finish()
    }
}

/// What both transports are configured with.
struct Settings {
    /// User headers plus `User-Agent`.
    headers: HeaderMap,
    /// Also sent to gRPC servers as `grpc-timeout`.
    #[cfg(feature = "grpc")]
    timeout: Duration,
    connect_timeout: Option<Duration>,
}

/// The position of `signal` in per-signal arrays (the order of [`Signal::ALL`]).
fn index(signal: Signal) -> usize {
    signal.index()
}

/// Parses an endpoint URL; one without a scheme gets `http://` when
/// `insecure`, else `https://`.
fn parse_endpoint(url: &str, insecure: bool) -> Result<Uri, BuildError> {
    let url = url.trim();
    let invalid = |reason: String| BuildError::InvalidEndpoint {
        endpoint: url.to_owned(),
        reason,
    };
    let full = match (url.contains("://"), insecure) {
        (true, _) => url.to_owned(),
        (false, true) => format!("http://{url}"),
        (false, false) => format!("https://{url}"),
    };
    let uri: Uri = full
        .parse()
        .map_err(|e: ::http::uri::InvalidUri| invalid(e.to_string()))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        scheme => {
            return Err(BuildError::UnsupportedScheme {
                endpoint: url.to_owned(),
                scheme: scheme.unwrap_or_default().to_owned(),
            })
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(invalid("no host".to_owned()));
    }
    Ok(uri)
}

/// An error reading a response body through [`http_body_util::Limited`]:
/// too large, or the connection failed.
#[cfg(any(feature = "grpc", feature = "http"))]
fn body_error(err: BoxError, endpoint: &Uri) -> ExportError {
    if err.is::<http_body_util::LengthLimitError>() {
        ExportError::invalid(format!(
            "response body larger than {MAX_RESPONSE_BYTES} bytes"
        ))
    } else {
        ExportError::Connection {
            endpoint: endpoint.to_string(),
            source: err,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(all(feature = "grpc", feature = "http"))]
    fn endpoints_per_protocol() {
        let http = OtlpClient::builder(Protocol::HttpProtobuf)
            .with_endpoint("http://collector:4318/prefix/")
            .with_signal_endpoint(Signal::Logs, "https://logs.example/custom")
            .build()
            .unwrap();
        assert_eq!(
            http.endpoint(Signal::Traces),
            "http://collector:4318/prefix/v1/traces"
        );
        assert_eq!(
            http.endpoint(Signal::Metrics),
            "http://collector:4318/prefix/v1/metrics"
        );
        assert_eq!(http.endpoint(Signal::Logs), "https://logs.example/custom");

        let grpc = OtlpClient::builder(Protocol::Grpc).build().unwrap();
        assert_eq!(grpc.endpoint(Signal::Traces), "http://localhost:4317/");

        let default_http = OtlpClient::builder(Protocol::HttpJson).build().unwrap();
        assert_eq!(
            default_http.endpoint(Signal::Logs),
            "http://localhost:4318/v1/logs"
        );
    }

    #[test]
    fn scheme_less_endpoints_follow_insecure() {
        let tls = parse_endpoint("collector:4317", false).unwrap();
        assert_eq!(tls.scheme(), Some(&Scheme::HTTPS));
        let plain = parse_endpoint("collector:4317", true).unwrap();
        assert_eq!(plain.scheme(), Some(&Scheme::HTTP));
        let explicit = parse_endpoint("http://collector:4317", false).unwrap();
        assert_eq!(explicit.scheme(), Some(&Scheme::HTTP));
    }

    #[test]
    fn debug_hides_secrets() {
        let builder = OtlpClient::builder(Protocol::Grpc)
            .with_headers([("authorization", "Bearer s3cret")])
            .with_tls(TlsConfig::new().with_client_identity_pem("cert", "k3y"));
        let debug = format!("{builder:?}");
        assert!(debug.contains("authorization"), "{debug}");
        assert!(
            !debug.contains("s3cret") && !debug.contains("107, 51"),
            "{debug}"
        );
    }

    #[test]
    #[cfg(feature = "grpc")]
    fn build_errors() {
        let err = |b: OtlpClientBuilder| b.build().unwrap_err();
        let grpc = || OtlpClient::builder(Protocol::Grpc);
        assert!(matches!(
            err(grpc().with_endpoint("ftp://collector:21")),
            BuildError::UnsupportedScheme { scheme, .. } if scheme == "ftp"
        ));
        assert!(matches!(
            err(grpc().with_endpoint("http://exa mple")),
            BuildError::InvalidEndpoint { .. }
        ));
        assert!(matches!(
            err(grpc().with_endpoint("http:///v1")),
            BuildError::InvalidEndpoint { .. }
        ));
        assert!(matches!(
            err(grpc().with_headers([("bad header", "x")])),
            BuildError::InvalidHeaderName { .. }
        ));
        assert!(matches!(
            err(grpc().with_headers([("x-key", "a\nb")])),
            BuildError::InvalidHeaderValue { name, .. } if name == "x-key"
        ));
    }

    #[test]
    fn disabled_protocols_are_a_build_error() {
        for protocol in [Protocol::Grpc, Protocol::HttpProtobuf, Protocol::HttpJson] {
            let result = OtlpClient::builder(protocol).build();
            if protocol.is_supported() {
                assert!(result.is_ok(), "{protocol}");
                continue;
            }
            let err = result.unwrap_err();
            assert!(
                matches!(err, BuildError::ProtocolDisabled { protocol: p } if p == protocol),
                "{err}"
            );
            assert_eq!(
                err.to_string(),
                format!(
                    "{protocol} support was not compiled in; enable the `{}` feature of otlp-transport",
                    protocol.feature()
                )
            );
        }
    }
}

//! Errors of building a client and of one export.

use http::StatusCode;
use otlp_compression::Algorithm;
use std::error::Error as StdError;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;
use tonic::Code;

use crate::Protocol;

/// A boxed error from the network stack (hyper, tonic, rustls, io).
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Why [`OtlpClientBuilder::build`](super::OtlpClientBuilder::build) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// An endpoint is not a URL with a host.
    #[error("invalid endpoint `{endpoint}`: {reason}")]
    InvalidEndpoint {
        /// The endpoint as given.
        endpoint: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An endpoint's scheme is neither `http` nor `https`.
    #[error("unsupported scheme `{scheme}` in endpoint `{endpoint}`; expected http or https")]
    UnsupportedScheme {
        /// The endpoint as given.
        endpoint: String,
        /// Its scheme.
        scheme: String,
    },
    /// A header name is not a valid HTTP header name.
    #[error("invalid header name `{name}`")]
    InvalidHeaderName {
        /// The name as given.
        name: String,
        /// What `http` reported.
        #[source]
        source: http::header::InvalidHeaderName,
    },
    /// A header value contains characters HTTP does not allow (such as a newline).
    #[error("invalid value for header `{name}`")]
    InvalidHeaderValue {
        /// The header's name.
        name: String,
        /// What `http` reported.
        #[source]
        source: http::header::InvalidHeaderValue,
    },
    /// A PEM file could not be read.
    #[error("cannot read {what} from `{}`", path.display())]
    UnreadablePem {
        /// Which PEM: `CA certificate`, `client certificate` or `client key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A PEM document holds no usable item, or is malformed.
    #[error("invalid {what} PEM")]
    InvalidPem {
        /// Which PEM: `CA certificate`, `client certificate` or `client key`.
        what: &'static str,
        /// What the PEM parser reported.
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    /// The certificates or key were rejected by rustls or tonic (for example a
    /// client key that does not match its certificate).
    #[error("invalid TLS configuration")]
    Tls(#[source] BoxError),
    /// The SRT settings cannot be used (a level out of range).
    #[error("invalid SRT configuration")]
    Srt(#[source] BoxError),
    /// The protocol was left out of this build: the crate feature
    /// [`Protocol::feature`] names is not enabled.
    #[error("{protocol} support was not compiled in; enable the `{}` feature of otlp-transport", protocol.feature())]
    ProtocolDisabled {
        /// The protocol that was asked for.
        protocol: Protocol,
    },
}

/// Why one export failed.
///
/// [`is_retryable`](Self::is_retryable) and [`retry_after`](Self::retry_after)
/// implement the OTLP specification's "Failures" and "Throttling" rules, so a
/// retry policy needs nothing else.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// Connecting, the TLS handshake, or the exchange on an open connection
    /// failed. Retryable.
    #[error("connection to {endpoint} failed: {}", Chain(source.as_ref()))]
    Connection {
        /// The URL the request went to.
        endpoint: String,
        /// The underlying error; its chain is also part of this error's message.
        #[source]
        source: BoxError,
    },
    /// No complete response arrived within the client's timeout. Retryable.
    #[error("export timed out after {timeout:?}")]
    Timeout {
        /// The timeout that elapsed.
        timeout: Duration,
    },
    /// An OTLP/HTTP server answered with a non-2xx status.
    #[error("HTTP status {status}: {message}")]
    Http {
        /// The response status.
        status: StatusCode,
        /// The `google.rpc.Status` message from the body, or the body's text.
        message: String,
        /// The delay the server asked for in `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// An OTLP/gRPC server answered with a non-OK `grpc-status`.
    #[error("gRPC status {code:?}: {message}")]
    Grpc {
        /// The status code.
        code: Code,
        /// The (percent-decoded) `grpc-message`.
        message: String,
        /// The `google.rpc.RetryInfo` delay from `grpc-status-details-bin`.
        retry_after: Option<Duration>,
    },
    /// The server's reply could not be understood: a malformed gRPC frame, a
    /// missing `grpc-status`, a success body that is not an
    /// `Export*ServiceResponse`, or a body over 4 MiB. Not retried: the
    /// server answered, and would likely answer the same payload the same way.
    #[error("invalid response: {reason}")]
    InvalidResponse {
        /// What is wrong with it.
        reason: String,
    },
    /// The payload's compression cannot be sent over this protocol (brotli is
    /// not a gRPC encoding).
    #[error("{algorithm} compression is not supported by OTLP/gRPC")]
    UnsupportedCompression {
        /// The payload's compression.
        algorithm: Algorithm,
    },
    /// A health probe of the other protocol: a gRPC health check needs an
    /// OTLP/gRPC client, an HTTP path an OTLP/HTTP one.
    #[error("this health probe cannot be sent by an {protocol} client")]
    ProbeNotSupported {
        /// The client's protocol.
        protocol: crate::Protocol,
    },
    /// The payload does not fit a gRPC message frame (4 GiB).
    #[error("payload of {size} bytes exceeds the gRPC frame limit")]
    PayloadTooLarge {
        /// The payload's size in bytes.
        size: usize,
    },
    /// The payload could not be prepared for the wire: an
    /// [`Algorithm::Srt`] payload that is not an OTLP protobuf
    /// `ExportTraceServiceRequest`. Not retried.
    #[error("invalid payload: {reason}")]
    InvalidPayload {
        /// What is wrong with it.
        reason: String,
    },
    /// The receiver could not decode an SRT frame against the state it holds
    /// for the stream (it restarted, evicted the stream, or lost a
    /// definition) and asked for the stream to start again. The client
    /// re-encodes the request from a fresh state at once; this error is
    /// what is left when the receiver kept asking. Retryable.
    #[error("the receiver at {endpoint} kept asking to resynchronise the SRT stream")]
    SrtResync {
        /// The URL the request went to.
        endpoint: String,
    },
}

impl ExportError {
    /// Whether sending the same payload again may succeed, per the OTLP
    /// specification: gRPC `UNAVAILABLE`, `CANCELLED`, `DEADLINE_EXCEEDED`,
    /// `ABORTED`, `OUT_OF_RANGE`, `DATA_LOSS`, and `RESOURCE_EXHAUSTED` only
    /// when the server sent `RetryInfo`; HTTP 429, 502, 503 and 504; connection
    /// failures and timeouts. Everything else is permanent.
    pub fn is_retryable(&self) -> bool {
        match self {
            ExportError::Connection { .. }
            | ExportError::Timeout { .. }
            | ExportError::SrtResync { .. } => true,
            ExportError::Http { status, .. } => matches!(status.as_u16(), 429 | 502 | 503 | 504),
            ExportError::Grpc {
                code, retry_after, ..
            } => match code {
                Code::Unavailable
                | Code::Cancelled
                | Code::DeadlineExceeded
                | Code::Aborted
                | Code::OutOfRange
                | Code::DataLoss => true,
                Code::ResourceExhausted => retry_after.is_some(),
                _ => false,
            },
            ExportError::InvalidResponse { .. }
            | ExportError::UnsupportedCompression { .. }
            | ExportError::ProbeNotSupported { .. }
            | ExportError::PayloadTooLarge { .. }
            | ExportError::InvalidPayload { .. } => false,
        }
    }

    /// The delay the server asked for before the next attempt (HTTP
    /// `Retry-After`, gRPC `RetryInfo`), if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ExportError::Http { retry_after, .. } | ExportError::Grpc { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }

    pub(crate) fn invalid(reason: impl Into<String>) -> Self {
        ExportError::InvalidResponse {
            reason: reason.into(),
        }
    }
}

impl otlp_core::Retryable for ExportError {
    fn is_retryable(&self) -> bool {
        ExportError::is_retryable(self)
    }

    fn retry_after(&self) -> Option<Duration> {
        ExportError::retry_after(self)
    }
}

/// Displays an error and its sources as `a: b: c`, skipping a source whose
/// text its parent already shows (as `io::Error` does with its inner error).
struct Chain<'a>(&'a (dyn StdError + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = self.0.to_string();
        f.write_str(&shown)?;
        let mut next = self.0.source();
        while let Some(err) = next {
            let text = err.to_string();
            if !shown.contains(&text) {
                write!(f, ": {text}")?;
                shown = text;
            }
            next = err.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grpc(code: Code, retry_after: Option<Duration>) -> ExportError {
        ExportError::Grpc {
            code,
            message: String::new(),
            retry_after,
        }
    }

    fn http(status: u16) -> ExportError {
        ExportError::Http {
            status: StatusCode::from_u16(status).unwrap(),
            message: String::new(),
            retry_after: None,
        }
    }

    #[test]
    fn retryable_per_spec() {
        for code in [
            Code::Unavailable,
            Code::Cancelled,
            Code::DeadlineExceeded,
            Code::Aborted,
            Code::OutOfRange,
            Code::DataLoss,
        ] {
            assert!(grpc(code, None).is_retryable(), "{code:?}");
        }
        for code in [
            Code::InvalidArgument,
            Code::Unknown,
            Code::Internal,
            Code::PermissionDenied,
            Code::Unauthenticated,
            Code::Unimplemented,
        ] {
            assert!(!grpc(code, None).is_retryable(), "{code:?}");
        }
        assert!(!grpc(Code::ResourceExhausted, None).is_retryable());
        let throttled = grpc(Code::ResourceExhausted, Some(Duration::from_secs(2)));
        assert!(throttled.is_retryable());
        assert_eq!(throttled.retry_after(), Some(Duration::from_secs(2)));

        for status in [429, 502, 503, 504] {
            assert!(http(status).is_retryable(), "{status}");
        }
        for status in [400, 401, 403, 404, 413, 500] {
            assert!(!http(status).is_retryable(), "{status}");
        }
        assert!(ExportError::Timeout {
            timeout: Duration::from_secs(1)
        }
        .is_retryable());
        assert!(!ExportError::invalid("x").is_retryable());
    }

    #[test]
    fn chain_skips_repeated_text() {
        let io = std::io::Error::other("bad certificate");
        let err = ExportError::Connection {
            endpoint: "https://h".into(),
            source: Box::new(io),
        };
        assert_eq!(
            err.to_string(),
            "connection to https://h failed: bad certificate"
        );
    }
}

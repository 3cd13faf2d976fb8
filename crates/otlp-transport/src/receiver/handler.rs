//! What the receiver hands its caller, and what the caller answers.

use http::HeaderMap;
#[cfg(feature = "http")]
use http::StatusCode;
use otlp_compression::Encoding;
use otlp_core::{ExportRequest, Format};
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::mpsc;
use tonic::Code;

/// The protocol a request arrived over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReceiverProtocol {
    /// OTLP/gRPC.
    Grpc,
    /// OTLP/HTTP.
    Http,
}

impl ReceiverProtocol {
    /// `OTLP/gRPC` or `OTLP/HTTP`.
    pub fn name(self) -> &'static str {
        match self {
            ReceiverProtocol::Grpc => "OTLP/gRPC",
            ReceiverProtocol::Http => "OTLP/HTTP",
        }
    }

    /// The crate feature that compiles the protocol's server in: `grpc` or
    /// `http`.
    pub const fn feature(self) -> &'static str {
        match self {
            ReceiverProtocol::Grpc => "grpc",
            ReceiverProtocol::Http => "http",
        }
    }

    /// Whether this build of the crate can serve the protocol.
    pub const fn is_supported(self) -> bool {
        match self {
            ReceiverProtocol::Grpc => cfg!(feature = "grpc"),
            ReceiverProtocol::Http => cfg!(feature = "http"),
        }
    }
}

/// A decoded export request and how it arrived.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ReceivedRequest {
    /// The decoded request.
    pub request: ExportRequest,
    /// The protocol it arrived over.
    pub transport: ReceiverProtocol,
    /// How the message was serialized (always protobuf over gRPC).
    pub format: Format,
    /// How the message was compressed (compare with an
    /// [`Algorithm`](otlp_compression::Algorithm) directly:
    /// `received.compression == Algorithm::Gzip`).
    pub compression: Encoding,
    /// The request body's size as received, in bytes (over gRPC, including
    /// the 5-byte message prefix).
    pub wire_bytes: usize,
    /// The serialized message's size after decompression, in bytes.
    pub decoded_bytes: usize,
    /// The request headers (gRPC metadata included).
    pub headers: HeaderMap,
    /// The client's address.
    pub peer: Option<SocketAddr>,
    /// The tenant whose bearer token authenticated the request, with
    /// [`ReceiverBuilder::with_auth`](super::ReceiverBuilder::with_auth)
    /// (the `authorization` header is then left out of `headers`).
    pub tenant: Option<String>,
}

/// The answer to an export request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reply {
    /// Everything was accepted.
    Accept,
    /// The request was accepted, but `rejected` of its items were dropped:
    /// sent as the response's `partial_success`.
    PartialSuccess {
        /// How many spans, data points or log records were rejected.
        rejected: u64,
        /// Why, for the client's logs.
        message: String,
    },
    /// The request failed with a gRPC status. Over HTTP the status maps to
    /// the HTTP status gRPC gateways use (`UNAVAILABLE` -> 503,
    /// `RESOURCE_EXHAUSTED` -> 429, `INVALID_ARGUMENT` -> 400, ...).
    Reject {
        /// The gRPC status code.
        code: Code,
        /// The error message.
        message: String,
        /// When the client may retry: sent as a `google.rpc.RetryInfo`
        /// detail over gRPC and as `Retry-After` (whole seconds, rounded up)
        /// over HTTP.
        retry_after: Option<Duration>,
    },
}

impl Reply {
    /// A partial success: `rejected` items dropped, because of `message`.
    pub fn partial_success(rejected: u64, message: impl Into<String>) -> Self {
        Reply::PartialSuccess {
            rejected,
            message: message.into(),
        }
    }

    /// A retryable failure: `UNAVAILABLE`, HTTP 503.
    pub fn unavailable(retry_after: Option<Duration>) -> Self {
        Self::reject(Code::Unavailable, "receiver unavailable", retry_after)
    }

    /// Throttling: `RESOURCE_EXHAUSTED`, HTTP 429. OTLP clients retry it
    /// only when `retry_after` is given.
    pub fn resource_exhausted(retry_after: Option<Duration>) -> Self {
        Self::reject(Code::ResourceExhausted, "receiver overloaded", retry_after)
    }

    /// A permanent failure: `INVALID_ARGUMENT`, HTTP 400.
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::reject(Code::InvalidArgument, message, None)
    }

    /// A failure with any gRPC status code.
    pub fn reject(code: Code, message: impl Into<String>, retry_after: Option<Duration>) -> Self {
        Reply::Reject {
            code,
            message: message.into(),
            retry_after,
        }
    }
}

/// The HTTP status a gateway uses for a gRPC status code (the mapping in
/// `google/rpc/code.proto`).
#[cfg(feature = "http")]
pub(super) fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
            StatusCode::BAD_REQUEST
        }
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        // 499 "client closed request" is valid, so this cannot fail.
        Code::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
        Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Handles decoded requests: the receiver awaits [`handle`](Self::handle)
/// and sends its reply to the client.
///
/// Closures returning a future are handlers, so a handler is usually
/// `async |req: ReceivedRequest| Reply::Accept` or, when it uses state it
/// captured, `move |req: ReceivedRequest| { let state = state.clone(); async
/// move { .. } }` (the future must be `Send`).
pub trait Handler: Send + Sync + 'static {
    /// Answers one request.
    fn handle(&self, request: ReceivedRequest) -> impl Future<Output = Reply> + Send;
}

impl<F, Fut> Handler for F
where
    F: Fn(ReceivedRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Reply> + Send,
{
    fn handle(&self, request: ReceivedRequest) -> impl Future<Output = Reply> + Send {
        self(request)
    }
}

/// Queues each request, accepting it once it is enqueued; a full channel
/// holds the client until there is room, and a closed one makes the
/// receiver answer `UNAVAILABLE` / 503.
impl Handler for mpsc::Sender<ReceivedRequest> {
    async fn handle(&self, request: ReceivedRequest) -> Reply {
        match self.send(request).await {
            Ok(()) => Reply::Accept,
            Err(_) => Reply::unavailable(None),
        }
    }
}

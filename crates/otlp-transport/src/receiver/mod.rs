//! An OTLP receiver: a server for OTLP/gRPC and OTLP/HTTP that decodes each
//! export request and hands it to the caller, who chooses the reply.
//!
//! It exists to test exporters against (a script of accepts, partial
//! successes and rejections drives their retry logic) and to take real
//! traffic, so it is built to survive hostile input:
//!
//! - **Every byte count is capped.** The request body is read with a cap
//!   (rejected up front when `Content-Length` already exceeds it), and the
//!   same cap bounds the decompressed message, enforced by
//!   [`otlp_compression::decompress`] while it inflates. A 1 MiB gzip or
//!   zstd "bomb" that would inflate to gigabytes costs at most the cap in
//!   memory and is answered `413` / `RESOURCE_EXHAUSTED`. Besides gzip,
//!   zstd and brotli it decodes what the OpenTelemetry Collector's exporters
//!   can send ([`otlp_compression::Encoding`]): HTTP `deflate`/`zlib`,
//!   `snappy`, `x-snappy-framed` and `lz4`, and gRPC `snappy`.
//! - **gRPC framing is our own.** Unary gRPC is a 5-byte prefix, one message
//!   and a `grpc-status` trailer, so it is served directly on hyper's HTTP/2
//!   server (h2c with prior knowledge, as OTLP clients speak it) instead of
//!   through tonic's server. That routes `grpc-encoding` through the capped
//!   decompressor above rather than a codec whose limits we would have to
//!   trust, and lets one code path do reading, inflating, decoding and error
//!   mapping for both protocols.
//! - **Bad requests cost one response, not the server.** Each is answered
//!   with the status the OTLP specification (and the Collector) uses, logged
//!   at `debug`, and the connection keeps serving.
//!
//! ```
//! use otlp_transport::receiver::{ReceivedRequest, Receiver, Reply};
//!
//! # #[cfg(not(all(feature = "grpc", feature = "http")))]
//! # fn main() {}
//! # #[cfg(all(feature = "grpc", feature = "http"))]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let receiver = Receiver::builder()
//!     .with_grpc_addr("127.0.0.1:0".parse()?)
//!     .with_http_addr("127.0.0.1:0".parse()?)
//!     .serve(async |req: ReceivedRequest| {
//!         println!("{} items over {:?}", req.request.item_count(), req.transport);
//!         Reply::Accept
//!     })
//!     .await?;
//! println!("OTLP/gRPC on {:?}", receiver.grpc_addr());
//! receiver.shutdown().await;
//! # Ok(())
//! # }
//! ```

#[cfg(feature = "grpc")]
mod grpc;
mod handler;
#[cfg(feature = "http")]
mod http;
mod wire;

pub use handler::{Handler, ReceivedRequest, Reply, Transport};

use bytes::{Bytes, BytesMut};
use http_body::Body as _;
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use otlp_compression::Encoding;
use otlp_core::{ExportRequest, Format, Signal};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinHandle;

/// The default cap on a request body and on its decompressed message: 64 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 * 1024 * 1024;

/// How long a request body may take to arrive, unless configured.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// Entry point of the receiver: see [`Receiver::builder`].
#[derive(Debug)]
#[non_exhaustive]
pub struct Receiver;

impl Receiver {
    /// A builder with no addresses, a [`DEFAULT_MAX_MESSAGE_SIZE`] cap and
    /// no concurrency limit.
    pub fn builder() -> ReceiverBuilder {
        ReceiverBuilder::default()
    }
}

/// Configures and starts a receiver.
#[derive(Debug, Clone)]
#[must_use]
pub struct ReceiverBuilder {
    grpc_addr: Option<SocketAddr>,
    http_addr: Option<SocketAddr>,
    max_message_size: usize,
    max_concurrent_requests: Option<usize>,
    body_timeout: Duration,
}

impl Default for ReceiverBuilder {
    fn default() -> Self {
        ReceiverBuilder {
            grpc_addr: None,
            http_addr: None,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_concurrent_requests: None,
            body_timeout: DEFAULT_BODY_TIMEOUT,
        }
    }
}

impl ReceiverBuilder {
    /// Serves OTLP/gRPC (HTTP/2 without TLS) on `addr`; port 0 picks a free port.
    pub fn with_grpc_addr(mut self, addr: SocketAddr) -> Self {
        self.grpc_addr = Some(addr);
        self
    }

    /// Serves OTLP/HTTP (HTTP/1.1 and h2c) on `addr`; port 0 picks a free port.
    pub fn with_http_addr(mut self, addr: SocketAddr) -> Self {
        self.http_addr = Some(addr);
        self
    }

    /// Caps, in bytes, both the request body as received and the message
    /// after decompression. Larger requests are refused with `413` /
    /// `RESOURCE_EXHAUSTED`. Defaults to [`DEFAULT_MAX_MESSAGE_SIZE`].
    pub fn with_max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Refuses a request whose body has not fully arrived `timeout` after
    /// its headers (`408` / `DEADLINE_EXCEEDED`), so that a stalled or
    /// trickling client cannot hold a request slot and its buffer for
    /// ever. Defaults to [`DEFAULT_BODY_TIMEOUT`].
    pub fn with_body_timeout(mut self, timeout: Duration) -> Self {
        self.body_timeout = timeout;
        self
    }

    /// Processes at most `limit` requests at a time, across both protocols;
    /// further requests wait their turn (so their bodies wait in TCP
    /// buffers, not in memory). Unlimited by default; 0 is rejected by
    /// [`serve`](Self::serve).
    pub fn with_max_concurrent_requests(mut self, limit: usize) -> Self {
        self.max_concurrent_requests = Some(limit);
        self
    }

    /// Binds the configured addresses and serves, calling `handler` for
    /// every decoded request and sending back its [`Reply`].
    ///
    /// Fails if no address is set, an address is set for a protocol left
    /// out of this build ([`ReceiverError::ProtocolDisabled`]), the
    /// concurrency limit is 0, or an address cannot be bound (then nothing
    /// is left listening).
    pub async fn serve<H: Handler>(self, handler: H) -> Result<RunningReceiver, ReceiverError> {
        if self.grpc_addr.is_none() && self.http_addr.is_none() {
            return Err(ReceiverError::Config("no gRPC or HTTP address to serve on"));
        }
        for (addr, transport) in [
            (self.grpc_addr, Transport::Grpc),
            (self.http_addr, Transport::Http),
        ] {
            if addr.is_some() && !transport.is_supported() {
                return Err(ReceiverError::ProtocolDisabled { transport });
            }
        }
        if self.max_concurrent_requests == Some(0) {
            return Err(ReceiverError::Config(
                "max_concurrent_requests must be at least 1",
            ));
        }
        // Bind everything before serving anything, so that a failed bind
        // leaves nothing running.
        let grpc = bind(self.grpc_addr).await?;
        let http = bind(self.http_addr).await?;
        let inner = Arc::new(Inner {
            handler,
            max_message_size: self.max_message_size,
            body_timeout: self.body_timeout,
            permits: self.max_concurrent_requests.map(Semaphore::new),
        });
        let (stop, stopped) = watch::channel(());
        let mut tasks = Vec::with_capacity(2);
        let mut start = |bound: Option<(TcpListener, SocketAddr)>, transport| {
            bound.map(|(listener, addr)| {
                let task = accept_loop(listener, transport, Arc::clone(&inner), stopped.clone());
                tasks.push(tokio::spawn(task));
                addr
            })
        };
        let grpc_addr = start(grpc, Transport::Grpc);
        let http_addr = start(http, Transport::Http);
        Ok(RunningReceiver {
            grpc_addr,
            http_addr,
            stop,
            tasks,
        })
    }

    /// Like [`serve`](Self::serve), but delivers requests on a channel of
    /// `capacity` (at least 1): each is accepted once it is enqueued, and a
    /// full channel holds the client until there is room. Fails like
    /// [`serve`](Self::serve), and if `capacity` is 0.
    pub async fn serve_channel(
        self,
        capacity: usize,
    ) -> Result<(RunningReceiver, mpsc::Receiver<ReceivedRequest>), ReceiverError> {
        if capacity == 0 {
            return Err(ReceiverError::Config("channel capacity must be at least 1"));
        }
        let (tx, rx) = mpsc::channel(capacity);
        Ok((self.serve(tx).await?, rx))
    }
}

/// Why a receiver could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiverError {
    /// The builder's settings cannot work.
    #[error("invalid receiver configuration: {0}")]
    Config(&'static str),
    /// An address was set for a protocol that was left out of this build:
    /// the crate feature [`Transport::feature`] names is not enabled.
    #[error("{} support was not compiled in; enable the `{}` feature of otlp-transport", transport.name(), transport.feature())]
    ProtocolDisabled {
        /// The protocol asked for.
        transport: Transport,
    },
    /// An address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address that was asked for.
        addr: SocketAddr,
        /// What the operating system reported.
        #[source]
        source: std::io::Error,
    },
}

/// A receiver that is serving. [`shutdown`](Self::shutdown) stops it
/// gracefully; dropping it stops it too, finishing in-flight requests in the
/// background.
#[derive(Debug)]
pub struct RunningReceiver {
    grpc_addr: Option<SocketAddr>,
    http_addr: Option<SocketAddr>,
    // Dropping the sender is the stop signal the accept loops wait for.
    stop: watch::Sender<()>,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningReceiver {
    /// The bound OTLP/gRPC address, if gRPC is served.
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc_addr
    }

    /// The bound OTLP/HTTP address, if HTTP is served.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// Stops accepting connections, lets in-flight requests finish and
    /// returns once every connection is closed.
    pub async fn shutdown(self) {
        let RunningReceiver { stop, tasks, .. } = self;
        drop(stop);
        for task in tasks {
            if let Err(error) = task.await {
                tracing::warn!(%error, "OTLP receiver task failed");
            }
        }
    }
}

async fn bind(
    addr: Option<SocketAddr>,
) -> Result<Option<(TcpListener, SocketAddr)>, ReceiverError> {
    let Some(addr) = addr else { return Ok(None) };
    let bind_error = |source| ReceiverError::Bind { addr, source };
    let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
    let local = listener.local_addr().map_err(bind_error)?;
    Ok(Some((listener, local)))
}

/// What both protocols share: the handler and the limits.
struct Inner<H> {
    handler: H,
    max_message_size: usize,
    body_timeout: Duration,
    permits: Option<Semaphore>,
}

async fn accept_loop<H: Handler>(
    listener: TcpListener,
    transport: Transport,
    inner: Arc<Inner<H>>,
    mut stopped: watch::Receiver<()>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    if transport == Transport::Grpc {
        builder = builder.http2_only();
    }
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Usually out of file descriptors: pause rather than spin.
                    tracing::warn!(%error, ?transport, "OTLP receiver cannot accept");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            // The sender never sends: this fires when it is dropped.
            _ = stopped.changed() => break,
        };
        // Replies are small and latency matters more than packet count.
        let _ = stream.set_nodelay(true);
        let inner = Arc::clone(&inner);
        let service = service_fn(move |request| {
            let inner = Arc::clone(&inner);
            async move {
                let _permit = match &inner.permits {
                    Some(permits) => permits.acquire().await.ok(),
                    None => None,
                };
                Ok::<_, Infallible>(match transport {
                    #[cfg(feature = "grpc")]
                    Transport::Grpc => grpc::handle(&inner, request, peer).await,
                    #[cfg(feature = "http")]
                    Transport::Http => http::handle(&inner, request, peer).await,
                    // `serve` starts no accept loop for a protocol left out.
                    #[cfg(not(all(feature = "grpc", feature = "http")))]
                    _ => disabled(transport),
                })
            }
        });
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection.into_owned());
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%peer, error, "OTLP connection failed");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// The answer on a listener whose protocol was left out of the build; not
/// reached, as [`ReceiverBuilder::serve`] refuses to start one.
#[cfg(not(all(feature = "grpc", feature = "http")))]
fn disabled(transport: Transport) -> ::http::Response<wire::ReplyBody> {
    let mut response = ::http::Response::new(wire::ReplyBody::default());
    *response.status_mut() = ::http::StatusCode::NOT_IMPLEMENTED;
    tracing::warn!(
        ?transport,
        "request on a listener for a protocol left out of the build"
    );
    response
}

/// Why a request was refused before it reached the handler.
enum Refusal {
    /// The body or the decompressed message is over the cap.
    TooLarge { limit: usize },
    /// The body is not a valid request.
    Invalid(String),
    /// The body did not arrive within the body timeout.
    TimedOut { after: Duration },
}

/// A request body that has been read and unframed.
struct Payload {
    transport: Transport,
    signal: Signal,
    format: Format,
    compression: Encoding,
    message: Bytes,
    wire_bytes: usize,
    headers: ::http::HeaderMap,
    peer: SocketAddr,
}

impl<H: Handler> Inner<H> {
    /// Decompresses and decodes a payload, then asks the handler for a reply.
    async fn dispatch(&self, payload: Payload) -> Result<Reply, Refusal> {
        let message = wire::inflate(payload.compression, payload.message, self.max_message_size)?;
        let request = ExportRequest::decode(payload.signal, payload.format, &message)
            .map_err(|error| Refusal::Invalid(error.to_string()))?;
        let received = ReceivedRequest {
            request,
            transport: payload.transport,
            format: payload.format,
            compression: payload.compression,
            wire_bytes: payload.wire_bytes,
            decoded_bytes: message.len(),
            headers: payload.headers,
            peer: Some(payload.peer),
        };
        Ok(self.handler.handle(received).await)
    }

    /// Reads a whole request body, refusing it as soon as it is known to be
    /// larger than the cap plus `overhead` (the gRPC message prefix).
    async fn read_body(&self, mut body: Incoming, overhead: usize) -> Result<Bytes, Refusal> {
        let limit = self.max_message_size;
        let cap = limit.saturating_add(overhead);
        let too_large = Refusal::TooLarge { limit };
        // A Content-Length over the cap is refused before reading anything.
        let hint = body.size_hint();
        if hint.lower() > cap as u64 {
            return Err(too_large);
        }
        let expected = hint
            .exact()
            .map_or(0, |n| usize::try_from(n).unwrap_or(cap).min(cap));
        let read = async {
            let mut buf = BytesMut::with_capacity(expected);
            while let Some(frame) = body.frame().await {
                let frame =
                    frame.map_err(|error| Refusal::Invalid(format!("reading body: {error}")))?;
                if let Ok(data) = frame.into_data() {
                    if data.len() > cap - buf.len() {
                        return Err(too_large);
                    }
                    buf.extend_from_slice(&data);
                }
            }
            Ok(buf.freeze())
        };
        let after = self.body_timeout;
        tokio::time::timeout(after, read)
            .await
            .unwrap_or(Err(Refusal::TimedOut { after }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn protocols_left_out_are_refused() {
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        for transport in [Transport::Grpc, Transport::Http] {
            let builder = match transport {
                Transport::Grpc => Receiver::builder().with_grpc_addr(addr),
                Transport::Http => Receiver::builder().with_http_addr(addr),
            };
            match builder
                .serve(async |_: ReceivedRequest| Reply::Accept)
                .await
            {
                Ok(running) => {
                    assert!(transport.is_supported(), "{transport:?}");
                    running.shutdown().await;
                }
                Err(err) => {
                    assert!(!transport.is_supported(), "{err}");
                    assert!(
                        matches!(err, ReceiverError::ProtocolDisabled { transport: t } if t == transport),
                        "{err}"
                    );
                    let expected = format!(
                        "{} support was not compiled in; enable the `{}` feature of otlp-transport",
                        transport.name(),
                        transport.feature()
                    );
                    assert_eq!(err.to_string(), expected);
                }
            }
        }
    }

    /// A body compressed with a codec left out of the build is refused like
    /// an unknown encoding, naming the feature to enable.
    #[cfg(not(feature = "zstd"))]
    #[tokio::test]
    async fn codecs_left_out_are_unsupported_encodings() {
        use crate::client::{ExportError, OtlpClient, Payload};
        use crate::Protocol;

        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let mut builder = Receiver::builder();
        if Transport::Grpc.is_supported() {
            builder = builder.with_grpc_addr(addr);
        }
        if Transport::Http.is_supported() {
            builder = builder.with_http_addr(addr);
        }
        let Ok(receiver) = builder
            .serve(async |_: ReceivedRequest| Reply::Accept)
            .await
        else {
            return; // neither protocol compiled in
        };
        for (protocol, bound) in [
            (Protocol::Grpc, receiver.grpc_addr()),
            (Protocol::HttpProtobuf, receiver.http_addr()),
        ] {
            let Some(bound) = bound else { continue };
            let client = OtlpClient::builder(protocol)
                .with_endpoint(format!("http://{bound}"))
                .build()
                .unwrap();
            let payload = Payload::new(&b"not really zstd"[..], otlp_compression::Algorithm::Zstd);
            let err = client.export(Signal::Traces, payload).await.unwrap_err();
            match err {
                ExportError::Http {
                    status, message, ..
                } => {
                    assert_eq!(status, ::http::StatusCode::UNSUPPORTED_MEDIA_TYPE);
                    assert!(message.contains("enable the `zstd` feature"), "{message}");
                }
                ExportError::Grpc { code, message, .. } => {
                    assert_eq!(code, tonic::Code::Unimplemented, "{message}");
                    assert!(message.contains("zstd"), "{message}");
                }
                other => panic!("{protocol}: {other}"),
            }
        }
        receiver.shutdown().await;
    }
}

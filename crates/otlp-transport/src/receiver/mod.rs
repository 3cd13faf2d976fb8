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
//! - **What a request decodes into is bounded too.** Before decoding, a
//!   pass over the protobuf wire bytes counts the items and estimates the
//!   decoded size without allocating ([`otlp_core::limits`]); a request over
//!   [`with_max_items`](ReceiverBuilder::with_max_items) or
//!   [`with_max_decoded_size`](ReceiverBuilder::with_max_decoded_size) is
//!   answered `413` / `RESOURCE_EXHAUSTED`. (64 MiB of empty spans, 65 KB
//!   gzipped, would otherwise decode into gigabytes.) OTLP/JSON is held to
//!   the same limits.
//! - **All requests together share a memory budget.** Bytes received,
//!   decompressed and decoded are reserved from
//!   [`with_max_in_flight_bytes`](ReceiverBuilder::with_max_in_flight_bytes)
//!   before they are allocated; a request the budget cannot cover now is
//!   answered `503` / `UNAVAILABLE`, which clients retry, instead of being
//!   buffered.
//! - **Connections cannot be hoarded.** A header-read timeout, an idle
//!   timeout and a cap on open connections (refused at accept, logged once
//!   per interval), and a configurable listen backlog; see `conn`.
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

mod auth;
mod budget;
mod conn;
#[cfg(feature = "grpc")]
mod grpc;
mod handler;
pub(crate) mod health;
#[cfg(feature = "http")]
mod http;
mod tls;
mod wire;

pub use auth::ReceiverAuth;
pub use handler::{Handler, ReceivedRequest, ReceiverProtocol, Reply};
pub use health::{HealthHandle, HTTP_HEALTH_PATH};
pub use tls::ReceiverTls;

use budget::{Budget, Reservation};
use bytes::{Bytes, BytesMut};
use conn::{Activity, ThrottledLog};
use http_body::Body as _;
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioTimer;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use otlp_compression::Encoding;
use otlp_core::limits::{DecodeLimits, LimitError};
use otlp_core::{DecodeError, ExportRequest, Format, Signal};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// The default cap on a request body and on its decompressed message: 64 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 * 1024 * 1024;

/// How long a request body may take to arrive, unless configured.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// The default cap on items (spans, data points, log records) per request:
/// one million.
pub const DEFAULT_MAX_ITEMS: usize = 1_000_000;

/// The default cap on the memory one decoded request may take: 256 MiB
/// (four times the default message size; real telemetry decodes into two
/// to four times its protobuf size).
pub const DEFAULT_MAX_DECODED_SIZE: usize = 256 * 1024 * 1024;

/// The default budget for all requests in flight together (bytes received,
/// decompressed and decoded): 1 GiB.
pub const DEFAULT_MAX_IN_FLIGHT_BYTES: usize = 1024 * 1024 * 1024;

/// How long a new connection may take to start its first request (and an
/// HTTP/1.1 connection its next request head), unless configured: 10 s.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a connection may stay open with no request in flight, unless
/// configured: 60 s.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The default cap on open connections, per listener: 10,000. The process
/// needs at least that many file descriptors (`ulimit -n`).
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// The default listen backlog: 1024 (the kernel may cap it, see
/// `net.core.somaxconn`).
pub const DEFAULT_BACKLOG: u32 = 1024;

/// Entry point of the receiver: see [`Receiver::builder`].
#[derive(Debug)]
#[non_exhaustive]
pub struct Receiver;

impl Receiver {
    /// A builder with no addresses, the `DEFAULT_*` limits of this module
    /// and no concurrency limit.
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
    max_items: usize,
    max_decoded_size: usize,
    max_in_flight_bytes: usize,
    header_read_timeout: Duration,
    idle_timeout: Duration,
    max_connections: usize,
    backlog: u32,
    tls: Option<ReceiverTls>,
    auth: Option<ReceiverAuth>,
    #[cfg(feature = "srt")]
    srt: Option<otlp_srt::SrtLimits>,
}

impl Default for ReceiverBuilder {
    fn default() -> Self {
        ReceiverBuilder {
            grpc_addr: None,
            http_addr: None,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_concurrent_requests: None,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            max_items: DEFAULT_MAX_ITEMS,
            max_decoded_size: DEFAULT_MAX_DECODED_SIZE,
            max_in_flight_bytes: DEFAULT_MAX_IN_FLIGHT_BYTES,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            backlog: DEFAULT_BACKLOG,
            tls: None,
            auth: None,
            #[cfg(feature = "srt")]
            srt: Some(otlp_srt::SrtLimits::default()),
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

    /// Refuses requests of more than `limit` items (spans, metric data
    /// points, log records) with `413` / `RESOURCE_EXHAUSTED`, counted
    /// before decoding. Defaults to [`DEFAULT_MAX_ITEMS`]; 0 is rejected by
    /// [`serve`](Self::serve).
    pub fn with_max_items(mut self, limit: usize) -> Self {
        self.max_items = limit;
        self
    }

    /// Refuses requests that would take more than `bytes` of memory once
    /// decoded (estimated before decoding, see [`otlp_core::limits`]) with
    /// `413` / `RESOURCE_EXHAUSTED`. Defaults to
    /// [`DEFAULT_MAX_DECODED_SIZE`]; 0 is rejected by [`serve`](Self::serve).
    pub fn with_max_decoded_size(mut self, bytes: usize) -> Self {
        self.max_decoded_size = bytes;
        self
    }

    /// The memory budget, in bytes, for all requests in flight together:
    /// their bodies as received, decompressed and decoded, each reserved
    /// before it is allocated and held until the handler has answered. A
    /// request the budget cannot cover is answered `503` / `UNAVAILABLE`
    /// with a retry delay. Defaults to [`DEFAULT_MAX_IN_FLIGHT_BYTES`];
    /// below 1 KiB is rejected by [`serve`](Self::serve).
    pub fn with_max_in_flight_bytes(mut self, bytes: usize) -> Self {
        self.max_in_flight_bytes = bytes;
        self
    }

    /// Closes a connection that has not started a request `timeout` after
    /// it was accepted, and (HTTP/1.1) one whose next request head has not
    /// arrived `timeout` after it was ready for it: that closes idle
    /// HTTP/1.1 keep-alive connections too. Defaults to
    /// [`DEFAULT_HEADER_READ_TIMEOUT`]; 0 is rejected by [`serve`](Self::serve).
    pub fn with_header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// Closes a connection that has had no request in flight for
    /// `timeout` (over HTTP/1.1 the header-read timeout applies between
    /// requests when it is shorter). Defaults to [`DEFAULT_IDLE_TIMEOUT`];
    /// 0 is rejected by [`serve`](Self::serve).
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Keeps at most `limit` connections open per listener; further ones
    /// are closed as soon as they are accepted, and logged at most once
    /// per 10 s. Defaults to [`DEFAULT_MAX_CONNECTIONS`]; 0 is rejected by
    /// [`serve`](Self::serve).
    pub fn with_max_connections(mut self, limit: usize) -> Self {
        self.max_connections = limit;
        self
    }

    /// The listen backlog: how many connections the kernel queues before
    /// they are accepted. Defaults to [`DEFAULT_BACKLOG`]; 0 is rejected by
    /// [`serve`](Self::serve).
    pub fn with_backlog(mut self, backlog: u32) -> Self {
        self.backlog = backlog;
        self
    }

    /// Whether SRT frames are decoded and announced (`otlp-srt: 1` on
    /// answers to trace exports), on by default; see [`crate::srt`].
    /// Without it the receiver answers like a stock OTLP receiver: SRT
    /// senders keep sending OTLP + zstd.
    #[cfg(feature = "srt")]
    pub fn with_srt(mut self, enabled: bool) -> Self {
        self.srt = enabled.then(|| self.srt.take().unwrap_or_default());
        self
    }

    /// Bounds on the state kept for SRT streams (the number of streams
    /// and the bytes of their dictionaries), default
    /// [`SrtLimits::default`](otlp_srt::SrtLimits::default). A stream
    /// whose state is dropped is asked to resynchronise, never decoded
    /// against the wrong state. Turns SRT on.
    #[cfg(feature = "srt")]
    pub fn with_srt_limits(mut self, limits: otlp_srt::SrtLimits) -> Self {
        self.srt = Some(limits);
        self
    }

    fn validate(&self) -> Result<(), ReceiverError> {
        let checks = [
            (
                self.max_concurrent_requests == Some(0),
                "max_concurrent_requests must be at least 1",
            ),
            (
                self.max_message_size == 0,
                "max_message_size must be at least 1",
            ),
            (self.max_items == 0, "max_items must be at least 1"),
            (
                self.max_decoded_size == 0,
                "max_decoded_size must be at least 1",
            ),
            (
                self.max_in_flight_bytes < 1024,
                "max_in_flight_bytes must be at least 1024",
            ),
            (
                self.header_read_timeout.is_zero(),
                "header_read_timeout must be positive",
            ),
            (self.idle_timeout.is_zero(), "idle_timeout must be positive"),
            (self.body_timeout.is_zero(), "body_timeout must be positive"),
            (
                self.max_connections == 0,
                "max_connections must be at least 1",
            ),
            (self.backlog == 0, "backlog must be at least 1"),
        ];
        if let Some(problem) = self.auth.as_ref().and_then(ReceiverAuth::problem) {
            return Err(ReceiverError::Config(problem));
        }
        match checks.into_iter().find(|(bad, _)| *bad) {
            Some((_, message)) => Err(ReceiverError::Config(message)),
            None => Ok(()),
        }
    }

    /// Serves both listeners over TLS (gRPC with ALPN `h2`, HTTP with `h2`
    /// and `http/1.1`), with this certificate and key, and with mutual TLS
    /// if the settings name a client CA. The PEM is read when the receiver
    /// starts: [`serve`](Self::serve) fails with [`ReceiverError::Tls`] if
    /// it cannot be read or used.
    pub fn with_tls(mut self, tls: ReceiverTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Requires a bearer token on every export request (see
    /// [`ReceiverAuth`]); the tenant it names is in
    /// [`ReceivedRequest::tenant`]. Best with [`with_tls`](Self::with_tls):
    /// without it the token crosses the network in clear.
    pub fn with_auth(mut self, auth: ReceiverAuth) -> Self {
        self.auth = Some(auth);
        self
    }

    /// Binds the configured addresses and serves, calling `handler` for
    /// every decoded request and sending back its [`Reply`].
    ///
    /// Fails if no address is set, an address is set for a protocol left
    /// out of this build ([`ReceiverError::ProtocolDisabled`]), a limit is
    /// 0 (or the in-flight budget under 1 KiB), or an address cannot be
    /// bound (then nothing is left listening).
    pub async fn serve<H: Handler>(self, handler: H) -> Result<RunningReceiver, ReceiverError> {
        if self.grpc_addr.is_none() && self.http_addr.is_none() {
            return Err(ReceiverError::Config("no gRPC or HTTP address to serve on"));
        }
        for (addr, transport) in [
            (self.grpc_addr, ReceiverProtocol::Grpc),
            (self.http_addr, ReceiverProtocol::Http),
        ] {
            if addr.is_some() && !transport.is_supported() {
                return Err(ReceiverError::ProtocolDisabled { transport });
            }
        }
        self.validate()?;
        let acceptors = match &self.tls {
            Some(tls) => Some((
                TlsAcceptor::from(tls.server_config(&[b"h2"])?),
                TlsAcceptor::from(tls.server_config(&[b"h2", b"http/1.1"])?),
            )),
            None => None,
        };
        // Bind everything before serving anything, so that a failed bind
        // leaves nothing running.
        let grpc = bind(self.grpc_addr, self.backlog)?;
        let http = bind(self.http_addr, self.backlog)?;
        let inner = Arc::new(Inner {
            handler,
            max_message_size: self.max_message_size,
            body_timeout: self.body_timeout,
            permits: self.max_concurrent_requests.map(Semaphore::new),
            limits: DecodeLimits::new(self.max_items, self.max_decoded_size),
            budget: Budget::new(self.max_in_flight_bytes),
            header_read_timeout: self.header_read_timeout,
            idle_timeout: self.idle_timeout,
            max_connections: self.max_connections,
            health: HealthHandle::new(),
            auth: self.auth,
            #[cfg(feature = "srt")]
            srt: self.srt.map(otlp_srt::SrtDecoder::new),
        });
        let (stop, stopped) = watch::channel(());
        let mut tasks = Vec::with_capacity(2);
        let mut start = |bound: Option<(TcpListener, SocketAddr)>, transport, tls| {
            bound.map(|(listener, addr)| {
                let task = accept_loop(
                    listener,
                    transport,
                    tls,
                    Arc::clone(&inner),
                    stopped.clone(),
                );
                tasks.push(tokio::spawn(task));
                addr
            })
        };
        let (grpc_tls, http_tls) = acceptors.unzip();
        let grpc_addr = start(grpc, ReceiverProtocol::Grpc, grpc_tls);
        let http_addr = start(http, ReceiverProtocol::Http, http_tls);
        Ok(RunningReceiver {
            health: inner.health.clone(),
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
    /// the crate feature [`ReceiverProtocol::feature`] names is not enabled.
    #[error("{} support was not compiled in; enable the `{}` feature of otlp-transport", transport.name(), transport.feature())]
    ProtocolDisabled {
        /// The protocol asked for.
        transport: ReceiverProtocol,
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
    /// The TLS certificate, key or client CA cannot be read or used.
    #[error("receiver TLS: {0}")]
    Tls(String),
}

/// A receiver that is serving. [`shutdown`](Self::shutdown) stops it
/// gracefully; dropping it stops it too, finishing in-flight requests in the
/// background.
#[derive(Debug)]
pub struct RunningReceiver {
    health: HealthHandle,
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

    /// What the receiver answers to health checks (`SERVING` until told
    /// otherwise): the gRPC health checking protocol
    /// (`grpc.health.v1.Health/Check`, for the server, `""`, and each OTLP
    /// service) on the gRPC port, and `GET /health` ([`HTTP_HEALTH_PATH`];
    /// 200 or 503) on the HTTP port.
    pub fn health(&self) -> HealthHandle {
        self.health.clone()
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

fn bind(
    addr: Option<SocketAddr>,
    backlog: u32,
) -> Result<Option<(TcpListener, SocketAddr)>, ReceiverError> {
    let Some(addr) = addr else { return Ok(None) };
    let bind_error = |source| ReceiverError::Bind { addr, source };
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4(),
        SocketAddr::V6(_) => TcpSocket::new_v6(),
    }
    .map_err(bind_error)?;
    // As std's TcpListener::bind does on Unix: a restarted receiver can
    // bind while old connections are in TIME_WAIT.
    #[cfg(unix)]
    socket.set_reuseaddr(true).map_err(bind_error)?;
    socket.bind(addr).map_err(bind_error)?;
    let listener = socket.listen(backlog).map_err(bind_error)?;
    let local = listener.local_addr().map_err(bind_error)?;
    Ok(Some((listener, local)))
}

/// What both protocols share: the handler and the limits.
struct Inner<H> {
    handler: H,
    max_message_size: usize,
    body_timeout: Duration,
    permits: Option<Semaphore>,
    limits: DecodeLimits,
    budget: Budget,
    header_read_timeout: Duration,
    idle_timeout: Duration,
    max_connections: usize,
    health: HealthHandle,
    auth: Option<ReceiverAuth>,
    /// Every SRT stream's state, when SRT is on.
    #[cfg(feature = "srt")]
    srt: Option<otlp_srt::SrtDecoder>,
}

impl<H> Inner<H> {
    /// The tenant of an export request's token, which is taken out of the
    /// headers (the handler gets the tenant, not the secret); `None`
    /// without authentication.
    fn authenticate(
        &self,
        headers: &mut ::http::HeaderMap,
    ) -> Result<Option<String>, auth::AuthError> {
        let Some(auth) = &self.auth else {
            return Ok(None);
        };
        let tenant = auth.authenticate(headers)?.to_owned();
        headers.remove(::http::header::AUTHORIZATION);
        Ok(Some(tenant))
    }

    /// Whether SRT frames are decoded here (and announced).
    fn srt_enabled(&self) -> bool {
        #[cfg(feature = "srt")]
        return self.srt.is_some();
        #[cfg(not(feature = "srt"))]
        return false;
    }

    /// Every answer about traces offers SRT when it is on (a resync keeps
    /// its value of the header).
    fn offer_srt<B>(&self, traces: bool, response: &mut ::http::Response<B>) {
        if traces && self.srt_enabled() {
            response
                .headers_mut()
                .entry(crate::srt::SRT_HEADER)
                .or_insert(crate::srt::SRT_OFFER);
        }
    }
}

async fn accept_loop<H: Handler>(
    listener: TcpListener,
    transport: ReceiverProtocol,
    tls: Option<TlsAcceptor>,
    inner: Arc<Inner<H>>,
    mut stopped: watch::Receiver<()>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(inner.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    if transport == ReceiverProtocol::Grpc {
        builder = builder.http2_only();
    }
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(inner.max_connections));
    let (refused, failed) = (ThrottledLog::default(), ThrottledLog::default());
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Usually out of file descriptors: pause rather than spin.
                    failed.note(|times| {
                        tracing::warn!(%error, ?transport, times, "OTLP receiver cannot accept connections");
                    });
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            // The sender never sends: this fires when it is dropped.
            _ = stopped.changed() => break,
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            drop(stream);
            refused.note(|times| {
                let limit = inner.max_connections;
                tracing::warn!(
                    ?transport,
                    limit,
                    times,
                    "OTLP receiver at its connection limit; refusing new connections"
                );
            });
            continue;
        };
        // Replies are small and latency matters more than packet count.
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::new());
        let service = {
            let (inner, activity) = (Arc::clone(&inner), Arc::clone(&activity));
            service_fn(move |request| {
                let (inner, activity) = (Arc::clone(&inner), Arc::clone(&activity));
                async move {
                    let _request = activity.start();
                    let _permit = match &inner.permits {
                        Some(permits) => permits.acquire().await.ok(),
                        None => None,
                    };
                    Ok::<_, Infallible>(match transport {
                        #[cfg(feature = "grpc")]
                        ReceiverProtocol::Grpc => grpc::handle(&inner, request, peer).await,
                        #[cfg(feature = "http")]
                        ReceiverProtocol::Http => http::handle(&inner, request, peer).await,
                        // `serve` starts no accept loop for a protocol left out.
                        #[cfg(not(all(feature = "grpc", feature = "http")))]
                        _ => disabled(transport),
                    })
                }
            })
        };
        let (header_read, idle) = (inner.header_read_timeout, inner.idle_timeout);
        let (builder, watcher, tls) = (Arc::clone(&builder), graceful.watcher(), tls.clone());
        let mut stopping = stopped.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let io: Box<dyn Io> = match tls {
                None => Box::new(stream),
                // Within the header-read timeout, as a first request; a
                // shutdown closes it, as a connection without requests.
                Some(tls) => tokio::select! {
                    handshake = tokio::time::timeout(header_read, tls.accept(stream)) => match handshake {
                        Ok(Ok(stream)) => Box::new(stream),
                        Ok(Err(error)) => {
                            tracing::debug!(%peer, %error, "OTLP TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "closing an OTLP connection that did not finish its TLS handshake");
                            return;
                        }
                    },
                    _ = stopping.changed() => return,
                },
            };
            let connection = builder.serve_connection(TokioIo::new(io), service);
            let connection = watcher.watch(connection.into_owned());
            tokio::pin!(connection);
            loop {
                // While a request is in flight, look again after `idle`.
                let wait = match activity.remaining(header_read, idle) {
                    Some(left) if left.is_zero() => {
                        tracing::debug!(%peer, "closing an OTLP connection without requests");
                        return;
                    }
                    Some(left) => left,
                    None => idle,
                };
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(error) = result {
                            tracing::debug!(%peer, error, "OTLP connection failed");
                        }
                        return;
                    }
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// A connection's byte stream: TCP, or TLS over TCP.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}

impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

/// The answer on a listener whose protocol was left out of the build; not
/// reached, as [`ReceiverBuilder::serve`] refuses to start one.
#[cfg(not(all(feature = "grpc", feature = "http")))]
fn disabled(transport: ReceiverProtocol) -> ::http::Response<wire::ReplyBody> {
    let mut response = ::http::Response::new(wire::ReplyBody::default());
    *response.status_mut() = ::http::StatusCode::NOT_IMPLEMENTED;
    tracing::warn!(
        ?transport,
        "request on a listener for a protocol left out of the build"
    );
    response
}

/// Why a request was refused before it reached the handler.
#[derive(Debug)]
enum Refusal {
    /// The body or the decompressed message is over the cap.
    TooLarge { limit: usize },
    /// The request holds more items than the limit.
    TooManyItems { limit: usize },
    /// The decoded request would take more memory than the limit.
    DecodedTooLarge { limit: usize },
    /// The in-flight budget cannot cover the request now.
    Busy,
    /// The body is not a valid request.
    Invalid(String),
    /// The body did not arrive within the body timeout.
    TimedOut { after: Duration },
    /// An SRT frame refers to state this receiver does not hold: the
    /// sender must start its stream again.
    #[cfg_attr(not(feature = "srt"), allow(dead_code))]
    Resync(String),
}

/// A request body that has been read and unframed.
struct UnframedRequest {
    transport: ReceiverProtocol,
    signal: Signal,
    format: Format,
    compression: Encoding,
    message: Bytes,
    wire_bytes: usize,
    headers: ::http::HeaderMap,
    peer: SocketAddr,
    tenant: Option<String>,
}

/// How long a client refused for lack of budget is asked to wait.
const BUSY_RETRY_AFTER: Duration = Duration::from_secs(1);

impl Refusal {
    /// The answer's gRPC status code, message and retry delay.
    fn status(&self) -> (tonic::Code, String, Option<Duration>) {
        use tonic::Code;
        match self {
            Refusal::TooLarge { limit } => (
                Code::ResourceExhausted,
                format!("message larger than the {limit}-byte limit"),
                None,
            ),
            Refusal::TooManyItems { limit } => (
                Code::ResourceExhausted,
                format!("request holds more than the limit of {limit} items"),
                None,
            ),
            Refusal::DecodedTooLarge { limit } => (
                Code::ResourceExhausted,
                format!("request would take more than the {limit}-byte limit once decoded"),
                None,
            ),
            Refusal::Busy => (
                Code::Unavailable,
                "receiver busy: too many bytes in flight; retry later".to_owned(),
                Some(BUSY_RETRY_AFTER),
            ),
            Refusal::Invalid(message) => (Code::InvalidArgument, message.clone(), None),
            Refusal::TimedOut { after } => (
                Code::DeadlineExceeded,
                format!("request body not received within {after:?}"),
                None,
            ),
            Refusal::Resync(reason) => (
                Code::FailedPrecondition,
                format!("SRT stream must be resynchronised: {reason}"),
                None,
            ),
        }
    }
}

impl<H: Handler> Inner<H> {
    /// Decompresses and decodes a payload, then asks the handler for a
    /// reply. `held` holds the budget for the body; each step reserves
    /// what it allocates before allocating it and gives back what it
    /// freed.
    async fn dispatch(
        &self,
        payload: UnframedRequest,
        mut held: Reservation,
    ) -> Result<Reply, Refusal> {
        let message = if payload.compression == Encoding::Identity {
            payload.message
        } else if payload.compression == Encoding::Srt {
            let allowance = held.take_up_to(self.max_message_size);
            let message = self
                .decode_srt(&payload.message, allowance)
                .map_err(|refusal| busy_if_short(refusal, allowance, self.max_message_size))?;
            held.shrink_to(message.len());
            message
        } else {
            let allowance = held.take_up_to(self.max_message_size);
            let message = wire::inflate(payload.compression, payload.message, allowance)
                .map_err(|refusal| busy_if_short(refusal, allowance, self.max_message_size))?;
            // The compressed body is gone; keep what the message takes.
            held.shrink_to(message.len());
            message
        };
        let allowance = held.take_up_to(self.limits.max_decoded_bytes);
        let limits = DecodeLimits::new(self.limits.max_items, allowance);
        let (request, footprint) =
            ExportRequest::decode_limited(payload.signal, payload.format, &message, limits)
                .map_err(|error| match error {
                    DecodeError::Limit {
                        source: LimitError::TooManyItems { limit },
                        ..
                    } => Refusal::TooManyItems { limit },
                    DecodeError::Limit {
                        source: LimitError::TooLarge { .. },
                        ..
                    } => busy_if_short(
                        Refusal::DecodedTooLarge {
                            limit: self.limits.max_decoded_bytes,
                        },
                        allowance,
                        self.limits.max_decoded_bytes,
                    ),
                    error => Refusal::Invalid(error.to_string()),
                })?;
        let decoded_bytes = message.len();
        drop(message);
        // Held until the handler answers: the decoded request.
        held.shrink_to(footprint.decoded_bytes);
        let received = ReceivedRequest {
            request,
            transport: payload.transport,
            format: payload.format,
            compression: payload.compression,
            wire_bytes: payload.wire_bytes,
            decoded_bytes,
            headers: payload.headers,
            peer: Some(payload.peer),
            tenant: payload.tenant,
        };
        let reply = self.handler.handle(received).await;
        drop(held);
        Ok(reply)
    }

    /// Decodes an SRT frame into the OTLP protobuf request it carries.
    fn decode_srt(&self, frame: &[u8], limit: usize) -> Result<Bytes, Refusal> {
        #[cfg(feature = "srt")]
        if let Some(decoder) = &self.srt {
            let mut out = Vec::new();
            return match decoder.decode(frame, limit, &mut out) {
                Ok(_) => Ok(Bytes::from(out)),
                Err(error) if error.is_resync() => Err(Refusal::Resync(error.to_string())),
                Err(otlp_srt::SrtDecodeError::TooLarge { .. }) => Err(Refusal::TooLarge {
                    limit: self.max_message_size,
                }),
                Err(error) => Err(Refusal::Invalid(format!("SRT frame: {error}"))),
            };
        }
        let _ = (frame, limit);
        Err(Refusal::Invalid(
            "SRT frames are not decoded here".to_owned(),
        ))
    }

    /// Reads a whole request body, refusing it as soon as it is known to be
    /// larger than `limit` plus `overhead` (the gRPC message prefix), and
    /// reserving it from the budget as it arrives.
    async fn read_body(
        &self,
        mut body: Incoming,
        limit: usize,
        overhead: usize,
    ) -> Result<(Bytes, Reservation), Refusal> {
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
        let mut held = self.budget.reservation();
        held.grow_to(expected)?;
        let read = async {
            let mut buf = BytesMut::with_capacity(expected);
            while let Some(frame) = body.frame().await {
                let frame =
                    frame.map_err(|error| Refusal::Invalid(format!("reading body: {error}")))?;
                if let Ok(data) = frame.into_data() {
                    if data.len() > cap - buf.len() {
                        return Err(too_large);
                    }
                    held.grow_to(buf.len() + data.len())?;
                    buf.extend_from_slice(&data);
                }
            }
            Ok(buf.freeze())
        };
        let after = self.body_timeout;
        let body = tokio::time::timeout(after, read)
            .await
            .unwrap_or(Err(Refusal::TimedOut { after }))?;
        Ok((body, held))
    }
}

/// A step that ran with less than its full limit because the budget was
/// short: going over that allowance means "busy", not "too large".
fn busy_if_short(refusal: Refusal, allowance: usize, full: usize) -> Refusal {
    match refusal {
        Refusal::TooLarge { .. } | Refusal::DecodedTooLarge { .. } if allowance < full => {
            Refusal::Busy
        }
        refusal => refusal,
    }
}

/// Entry points for the fuzz targets in `fuzz/`, compiled only by
/// `cargo fuzz` (which sets `--cfg fuzzing`).
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing {
    use super::*;

    /// Runs a unary gRPC request body through unframing, decompression and
    /// decoding, as the receiver does.
    #[cfg(feature = "grpc")]
    pub fn grpc_body(
        signal: Signal,
        encoding: impl Into<Encoding>,
        body: Bytes,
        max_message_size: usize,
        limits: DecodeLimits,
    ) -> Result<ExportRequest, String> {
        let (compression, message) =
            grpc::unframe(body, encoding.into()).map_err(|status| status.message().to_owned())?;
        let message = wire::inflate(compression, message, max_message_size)
            .map_err(|refusal| refusal.status().1)?;
        ExportRequest::decode_limited(signal, Format::Protobuf, &message, limits)
            .map(|(request, _)| request)
            .map_err(|error| error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn protocols_left_out_are_refused() {
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        for transport in [ReceiverProtocol::Grpc, ReceiverProtocol::Http] {
            let builder = match transport {
                ReceiverProtocol::Grpc => Receiver::builder().with_grpc_addr(addr),
                ReceiverProtocol::Http => Receiver::builder().with_http_addr(addr),
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
        if ReceiverProtocol::Grpc.is_supported() {
            builder = builder.with_grpc_addr(addr);
        }
        if ReceiverProtocol::Http.is_supported() {
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

//! The OTLP/HTTP client against a small hyper server that records what it
//! receives and answers as each test tells it.

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use otlp_compression::Algorithm;
use otlp_core::Signal;
use otlp_transport::client::{ExportError, OtlpClient, Payload};
use otlp_transport::Protocol;
use prost::Message;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Recorded {
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

type Handler = Arc<dyn Fn(&Recorded) -> Response<Full<Bytes>> + Send + Sync>;

struct Server {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<Recorded>>>,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Server {
    async fn start(
        handler: impl Fn(&Recorded) -> Response<Full<Bytes>> + Send + Sync + 'static,
    ) -> Server {
        Server::start_with_delay(Duration::ZERO, handler).await
    }

    /// A server that waits `delay` before answering each request.
    async fn start_with_delay(
        delay: Duration,
        handler: impl Fn(&Recorded) -> Response<Full<Bytes>> + Send + Sync + 'static,
    ) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Handler = Arc::new(handler);
        let (shutdown, mut stop) = oneshot::channel::<()>();
        let (conns, reqs) = (connections.clone(), requests.clone());
        let task = tokio::spawn(async move {
            // Dropping the set at shutdown aborts the connections still open.
            let mut open = JoinSet::new();
            loop {
                let stream = tokio::select! {
                    _ = &mut stop => break,
                    accepted = listener.accept() => accepted.unwrap().0,
                };
                conns.fetch_add(1, Ordering::SeqCst);
                let (handler, reqs) = (handler.clone(), reqs.clone());
                let service = service_fn(move |request: http::Request<Incoming>| {
                    let (handler, reqs) = (handler.clone(), reqs.clone());
                    async move {
                        let (parts, body) = request.into_parts();
                        let recorded = Recorded {
                            path: parts.uri.path().to_owned(),
                            headers: parts.headers,
                            body: body.collect().await.unwrap().to_bytes(),
                        };
                        tokio::time::sleep(delay).await;
                        let response = handler(&recorded);
                        reqs.lock().unwrap().push(recorded);
                        Ok::<_, Infallible>(response)
                    }
                });
                open.spawn(async move {
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Server {
            addr,
            connections,
            requests,
            shutdown,
            task,
        }
    }

    fn client(&self, protocol: Protocol) -> OtlpClient {
        OtlpClient::builder(protocol)
            .with_endpoint(format!("http://{}/", self.addr))
            .build()
            .unwrap()
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    async fn stop(self) -> Vec<Recorded> {
        let _ = self.shutdown.send(());
        self.task.await.unwrap();
        std::mem::take(&mut *self.requests.lock().unwrap())
    }
}

fn reply(status: u16, content_type: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(body.into()))
        .unwrap()
}

fn empty(status: u16) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .body(Full::new(Bytes::new()))
        .unwrap()
}

/// `google.rpc.Status`, as OTLP/HTTP servers send it in error bodies.
#[derive(Clone, PartialEq, Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

fn payload() -> Payload {
    Payload::new(&b"pretend these are encoded spans"[..], Algorithm::None)
}

#[tokio::test]
async fn protobuf_partial_success_and_request_headers() {
    let server = Server::start(|_| {
        let body = ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: 3,
                error_message: "duplicate spans".into(),
            }),
        };
        reply(200, "application/x-protobuf", body.encode_to_vec())
    })
    .await;
    let client = OtlpClient::builder(Protocol::HttpProtobuf)
        .with_endpoint(format!("http://{}", server.addr))
        .with_headers([("Authorization", "Bearer s3cret"), ("x-tenant", "acme")])
        .build()
        .unwrap();
    let gzipped = Payload::new(&b"\x1f\x8b pretend gzip"[..], Algorithm::Gzip);

    let response = client
        .export(Signal::Traces, gzipped.clone())
        .await
        .unwrap();
    assert!(response.is_partial_success());
    assert_eq!(response.rejected_items, 3);
    assert_eq!(response.error_message, "duplicate spans");

    let requests = server.stop().await;
    let request = &requests[0];
    assert_eq!(request.path, "/v1/traces");
    assert_eq!(request.body, gzipped.body);
    let header = |name: &str| request.headers.get(name).map(|v| v.to_str().unwrap());
    assert_eq!(header("content-type"), Some("application/x-protobuf"));
    assert_eq!(header("content-encoding"), Some("gzip"));
    assert_eq!(header("authorization"), Some("Bearer s3cret"));
    assert_eq!(header("x-tenant"), Some("acme"));
    assert!(header("user-agent").unwrap().starts_with("otlp-rust/"));
}

#[tokio::test]
async fn json_partial_success() {
    let server = Server::start(|_| {
        reply(
            200,
            "application/json",
            r#"{"partialSuccess":{"rejectedLogRecords":"4","errorMessage":"too large"}}"#,
        )
    })
    .await;
    let response = server
        .client(Protocol::HttpJson)
        .export(Signal::Logs, Payload::new(&b"{}"[..], Algorithm::Zstd))
        .await
        .unwrap();
    assert_eq!(response.rejected_items, 4);
    assert_eq!(response.error_message, "too large");

    let requests = server.stop().await;
    assert_eq!(requests[0].path, "/v1/logs");
    assert_eq!(requests[0].headers["content-type"], "application/json");
    assert_eq!(requests[0].headers["content-encoding"], "zstd");
}

#[tokio::test]
async fn keep_alive_reuses_one_connection() {
    let server = Server::start(|_| empty(200)).await;
    let client = server.client(Protocol::HttpProtobuf);
    for signal in [Signal::Traces, Signal::Metrics, Signal::Logs] {
        let response = client.export(signal, payload()).await.unwrap();
        assert!(!response.is_partial_success());
    }
    assert_eq!(server.connections(), 1);
    let paths: Vec<_> = server.stop().await.into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/v1/traces", "/v1/metrics", "/v1/logs"]);
}

#[tokio::test]
async fn signal_endpoint_is_used_as_is() {
    let server = Server::start(|_| empty(200)).await;
    let client = OtlpClient::builder(Protocol::HttpProtobuf)
        .with_endpoint("http://127.0.0.1:9/unused")
        .with_signal_endpoint(
            Signal::Metrics,
            format!("http://{}/custom/path", server.addr),
        )
        .build()
        .unwrap();
    client.export(Signal::Metrics, payload()).await.unwrap();
    assert_eq!(server.stop().await[0].path, "/custom/path");
}

#[tokio::test]
async fn unavailable_with_retry_after_seconds() {
    let server = Server::start(|_| {
        Response::builder()
            .status(503)
            .header("retry-after", "3")
            .body(Full::new(Bytes::new()))
            .unwrap()
    })
    .await;
    let err = server
        .client(Protocol::HttpProtobuf)
        .export(Signal::Traces, payload())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ExportError::Http {
                status: StatusCode::SERVICE_UNAVAILABLE,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3)));
    server.stop().await;
}

#[tokio::test]
async fn too_many_requests_with_retry_after_date() {
    let server = Server::start(|_| {
        let at = SystemTime::now() + Duration::from_secs(120);
        Response::builder()
            .status(429)
            .header("retry-after", httpdate::fmt_http_date(at))
            .body(Full::new(Bytes::new()))
            .unwrap()
    })
    .await;
    let err = server
        .client(Protocol::HttpProtobuf)
        .export(Signal::Traces, payload())
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    let delay = err.retry_after().unwrap();
    assert!(
        (Duration::from_secs(115)..=Duration::from_secs(120)).contains(&delay),
        "{delay:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn bad_request_is_permanent_with_status_message() {
    let server = Server::start(|_| {
        let status = RpcStatus {
            code: 3,
            message: "span 7 has no trace id".into(),
        };
        reply(400, "application/x-protobuf", status.encode_to_vec())
    })
    .await;
    let err = server
        .client(Protocol::HttpProtobuf)
        .export(Signal::Traces, payload())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ExportError::Http { status: StatusCode::BAD_REQUEST, message, retry_after: None }
            if message == "span 7 has no trace id"),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    server.stop().await;

    let server = Server::start(|_| {
        reply(
            400,
            "application/json",
            r#"{"code":3,"message":"bad json"}"#,
        )
    })
    .await;
    let err = server
        .client(Protocol::HttpJson)
        .export(Signal::Traces, payload())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("bad json"), "{err}");
    server.stop().await;
}

#[tokio::test]
async fn server_error_is_permanent() {
    let server = Server::start(|_| reply(500, "text/plain", "boom")).await;
    let err = server
        .client(Protocol::HttpProtobuf)
        .export(Signal::Traces, payload())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ExportError::Http { status: StatusCode::INTERNAL_SERVER_ERROR, message, .. }
            if message == "boom"),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    server.stop().await;
}

#[tokio::test]
async fn oversized_response_is_invalid() {
    let server = Server::start(|_| reply(200, "application/x-protobuf", vec![0u8; 5 << 20])).await;
    let err = server
        .client(Protocol::HttpProtobuf)
        .export(Signal::Traces, payload())
        .await
        .unwrap_err();
    assert!(
        matches!(err, ExportError::InvalidResponse { .. }),
        "{err:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn garbage_success_body_is_invalid() {
    let server = Server::start(|_| reply(200, "application/x-protobuf", "\u{ff}garbage")).await;
    let err = server
        .client(Protocol::HttpProtobuf)
        .export(Signal::Traces, payload())
        .await
        .unwrap_err();
    assert!(
        matches!(err, ExportError::InvalidResponse { .. }),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    server.stop().await;
}

#[tokio::test]
async fn closed_port_is_a_retryable_connection_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = OtlpClient::builder(Protocol::HttpProtobuf)
        .with_endpoint(format!("http://{addr}"))
        .build()
        .unwrap();
    let err = client.export(Signal::Traces, payload()).await.unwrap_err();
    assert!(matches!(err, ExportError::Connection { .. }), "{err:?}");
    assert!(err.is_retryable());
    assert!(err.to_string().contains("refused"), "{err}");
}

#[tokio::test]
async fn slow_server_times_out() {
    let server = Server::start_with_delay(Duration::from_secs(5), |_| empty(200)).await;
    let client = OtlpClient::builder(Protocol::HttpProtobuf)
        .with_endpoint(format!("http://{}", server.addr))
        .with_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let err = client.export(Signal::Traces, payload()).await.unwrap_err();
    assert!(
        matches!(err, ExportError::Timeout { timeout } if timeout == Duration::from_millis(200)),
        "{err:?}"
    );
    assert!(err.is_retryable());
    server.stop().await;
}

//! The OTLP/gRPC client against a real tonic server built on
//! opentelemetry-proto's generated `TraceService`.

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use otlp_compression::Algorithm;
use otlp_core::Signal;
use otlp_transport::client::{ExportError, OtlpClient, Payload};
use otlp_transport::Protocol;
use prost::Message;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::codec::CompressionEncoding;
use tonic::transport::server::TcpIncoming;
use tonic::{Code, Request, Response, Status};

/// What the test collector answers.
#[derive(Clone)]
enum Reply {
    Ok,
    Partial(i64, &'static str),
    Error(Code, &'static str, Option<Duration>),
    Sleep(Duration),
}

#[derive(Default)]
struct Received {
    requests: Vec<ExportTraceServiceRequest>,
    tenants: Vec<String>,
}

struct Collector {
    reply: Reply,
    received: Arc<Mutex<Received>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        {
            let mut received = self.received.lock().unwrap();
            if let Some(tenant) = request.metadata().get("x-tenant") {
                received.tenants.push(tenant.to_str().unwrap().to_owned());
            }
            received.requests.push(request.into_inner());
        }
        match self.reply.clone() {
            Reply::Ok => Ok(Response::new(ExportTraceServiceResponse::default())),
            Reply::Partial(rejected_spans, message) => {
                Ok(Response::new(ExportTraceServiceResponse {
                    partial_success: Some(ExportTracePartialSuccess {
                        rejected_spans,
                        error_message: message.into(),
                    }),
                }))
            }
            Reply::Error(code, message, None) => Err(Status::new(code, message)),
            Reply::Error(code, message, Some(delay)) => Err(Status::with_details(
                code,
                message,
                retry_info_status(code, message, delay),
            )),
            Reply::Sleep(delay) => {
                tokio::time::sleep(delay).await;
                Ok(Response::new(ExportTraceServiceResponse::default()))
            }
        }
    }
}

/// `google.rpc.Status`, `google.protobuf.Any`, `google.rpc.RetryInfo` and
/// `google.protobuf.Duration`, for building `grpc-status-details-bin`.
#[derive(Clone, PartialEq, Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<ProtoAny>,
}

#[derive(Clone, PartialEq, Message)]
struct ProtoAny {
    #[prost(string, tag = "1")]
    type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

#[derive(Clone, PartialEq, Message)]
struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    retry_delay: Option<ProtoDuration>,
}

#[derive(Clone, PartialEq, Message)]
struct ProtoDuration {
    #[prost(int64, tag = "1")]
    seconds: i64,
    #[prost(int32, tag = "2")]
    nanos: i32,
}

fn retry_info_status(code: Code, message: &str, delay: Duration) -> Bytes {
    let info = RetryInfo {
        retry_delay: Some(ProtoDuration {
            seconds: delay.as_secs() as i64,
            nanos: delay.subsec_nanos() as i32,
        }),
    };
    RpcStatus {
        code: code as i32,
        message: message.into(),
        details: vec![ProtoAny {
            type_url: "type.googleapis.com/google.rpc.RetryInfo".into(),
            value: info.encode_to_vec(),
        }],
    }
    .encode_to_vec()
    .into()
}

struct Server {
    addr: SocketAddr,
    received: Arc<Mutex<Received>>,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Server {
    async fn start(reply: Reply) -> Server {
        Server::start_with(reply, None).await
    }

    /// `compress_replies`: the encoding the server compresses replies with,
    /// when the client accepts it.
    async fn start_with(reply: Reply, compress_replies: Option<CompressionEncoding>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Received::default()));
        let service = TraceServiceServer::new(Collector {
            reply,
            received: received.clone(),
        })
        .accept_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Zstd);
        let service = match compress_replies {
            Some(encoding) => service.send_compressed(encoding),
            None => service,
        };
        let (shutdown, stop) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(TcpIncoming::from(listener), async {
                    let _ = stop.await;
                })
                .await
                .unwrap();
        });
        Server {
            addr,
            received,
            shutdown,
            task,
        }
    }

    fn client(&self) -> OtlpClient {
        OtlpClient::builder(Protocol::Grpc)
            .with_endpoint(format!("http://{}", self.addr))
            .with_headers([("x-tenant", "acme")])
            .build()
            .unwrap()
    }

    async fn stop(self) -> Received {
        let _ = self.shutdown.send(());
        self.task.await.unwrap();
        std::mem::take(&mut *self.received.lock().unwrap())
    }
}

fn request() -> ExportTraceServiceRequest {
    let attr = |k: &str, v: &str| KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![attr("service.name", "checkout")],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: (0..50u8)
                    .map(|i| Span {
                        trace_id: vec![i; 16],
                        span_id: vec![i; 8],
                        name: format!("GET /items/{i}"),
                        start_time_unix_nano: 1_700_000_000_000_000_000 + u64::from(i),
                        attributes: vec![attr("http.method", "GET")],
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn payload(algorithm: Algorithm) -> Payload {
    let encoded = request().encode_to_vec();
    let body = match algorithm {
        Algorithm::None => encoded,
        Algorithm::Gzip => {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            gz.write_all(&encoded).unwrap();
            gz.finish().unwrap()
        }
        Algorithm::Zstd => zstd::encode_all(encoded.as_slice(), 3).unwrap(),
        other => panic!("not a gRPC encoding: {other:?}"),
    };
    Payload::new(body, algorithm)
}

#[tokio::test]
async fn sends_uncompressed_gzip_and_zstd() {
    let server = Server::start(Reply::Ok).await;
    let client = server.client();
    for algorithm in [Algorithm::None, Algorithm::Gzip, Algorithm::Zstd] {
        let response = client
            .export(Signal::Traces, payload(algorithm))
            .await
            .unwrap_or_else(|e| panic!("{algorithm:?}: {e}"));
        assert!(!response.is_partial_success());
    }
    let received = server.stop().await;
    assert_eq!(received.requests, vec![request(); 3]);
    assert_eq!(received.tenants, vec!["acme"; 3]);
}

#[tokio::test]
async fn one_client_serves_concurrent_exports() {
    let server = Server::start(Reply::Ok).await;
    let client = server.client();
    let payload = payload(Algorithm::Gzip);
    let exports = (0..32).map(|_| {
        let (client, payload) = (client.clone(), payload.clone());
        tokio::spawn(async move { client.export(Signal::Traces, payload).await })
    });
    for export in exports.collect::<Vec<_>>() {
        export.await.unwrap().unwrap();
    }
    assert_eq!(server.stop().await.requests.len(), 32);
}

#[tokio::test]
async fn partial_success_is_ok() {
    let server = Server::start(Reply::Partial(7, "spans too old")).await;
    let response = server
        .client()
        .export(Signal::Traces, payload(Algorithm::None))
        .await
        .unwrap();
    assert!(response.is_partial_success());
    assert_eq!(response.rejected_items, 7);
    assert_eq!(response.error_message, "spans too old");
    server.stop().await;
}

#[tokio::test]
async fn compressed_replies_are_decompressed() {
    for (encoding, algorithm) in [
        (CompressionEncoding::Gzip, Algorithm::Gzip),
        (CompressionEncoding::Zstd, Algorithm::Zstd),
    ] {
        let server = Server::start_with(Reply::Partial(1, "dropped one"), Some(encoding)).await;
        let response = server
            .client()
            .export(Signal::Traces, payload(algorithm))
            .await
            .unwrap();
        assert_eq!(response.rejected_items, 1, "{algorithm:?}");
        assert_eq!(response.error_message, "dropped one");
        server.stop().await;
    }
}

#[tokio::test]
async fn unavailable_with_retry_info_is_retryable_with_delay() {
    let delay = Duration::from_millis(1500);
    let server = Server::start(Reply::Error(Code::Unavailable, "overloaded", Some(delay))).await;
    let err = server
        .client()
        .export(Signal::Traces, payload(Algorithm::Zstd))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ExportError::Grpc { code: Code::Unavailable, message, .. } if message == "overloaded"),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert_eq!(err.retry_after(), Some(delay));
    server.stop().await;
}

#[tokio::test]
async fn resource_exhausted_is_retryable_only_with_retry_info() {
    let code = Code::ResourceExhausted;
    let throttled = Server::start(Reply::Error(
        code,
        "slow down",
        Some(Duration::from_secs(2)),
    ))
    .await;
    let err = throttled
        .client()
        .export(Signal::Traces, payload(Algorithm::None))
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(2)));
    throttled.stop().await;

    let full = Server::start(Reply::Error(code, "quota exceeded", None)).await;
    let err = full
        .client()
        .export(Signal::Traces, payload(Algorithm::None))
        .await
        .unwrap_err();
    assert!(!err.is_retryable(), "{err:?}");
    full.stop().await;
}

#[tokio::test]
async fn invalid_argument_is_permanent_with_decoded_message() {
    let server = Server::start(Reply::Error(
        Code::InvalidArgument,
        "bad span: ✓ 100%",
        None,
    ))
    .await;
    let err = server
        .client()
        .export(Signal::Traces, payload(Algorithm::Gzip))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ExportError::Grpc { code: Code::InvalidArgument, message, retry_after: None }
            if message == "bad span: ✓ 100%"),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    server.stop().await;
}

#[tokio::test]
async fn unknown_service_is_unimplemented() {
    // The server has only the trace service; tonic answers a logs export
    // with a trailers-only UNIMPLEMENTED.
    let server = Server::start(Reply::Ok).await;
    let err = server
        .client()
        .export(Signal::Logs, payload(Algorithm::None))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ExportError::Grpc {
                code: Code::Unimplemented,
                ..
            }
        ),
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
    let client = OtlpClient::builder(Protocol::Grpc)
        .with_endpoint(format!("http://{addr}"))
        .with_connect_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let err = client
        .export(Signal::Traces, payload(Algorithm::None))
        .await
        .unwrap_err();
    assert!(matches!(err, ExportError::Connection { .. }), "{err:?}");
    assert!(err.is_retryable());
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}

#[tokio::test]
async fn slow_server_times_out() {
    let server = Server::start(Reply::Sleep(Duration::from_secs(2))).await;
    let client = OtlpClient::builder(Protocol::Grpc)
        .with_endpoint(format!("http://{}", server.addr))
        .with_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let err = client
        .export(Signal::Traces, payload(Algorithm::None))
        .await
        .unwrap_err();
    assert!(matches!(err, ExportError::Timeout { .. }), "{err:?}");
    assert!(err.is_retryable());
    server.stop().await;
}

#[tokio::test]
async fn brotli_is_rejected_before_sending() {
    let server = Server::start(Reply::Ok).await;
    let err = server
        .client()
        .export(
            Signal::Traces,
            Payload::new(vec![1, 2, 3], Algorithm::Brotli),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ExportError::UnsupportedCompression {
                algorithm: Algorithm::Brotli
            }
        ),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    assert!(server.stop().await.requests.is_empty());
}

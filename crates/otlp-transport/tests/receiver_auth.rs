//! Bearer-token authentication on the receiver: a request with a known
//! token is handed on with its tenant, one without a token or with an
//! unknown one is refused (gRPC `UNAUTHENTICATED`, HTTP 401) and never
//! reaches the handler, health checks need no token.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use otlp_compression::Algorithm;
use otlp_core::{ExportRequest, Signal};
use otlp_transport::client::{OtlpClient, Payload};
use otlp_transport::receiver::{ReceivedRequest, Receiver, ReceiverAuth, ReceiverError};
use otlp_transport::Protocol;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

fn body() -> Vec<u8> {
    ExportRequest::Traces(ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: vec![1; 16],
                    span_id: vec![2; 8],
                    name: "s".into(),
                    ..Span::default()
                }],
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    })
    .encode_protobuf()
}

fn client(protocol: Protocol, endpoint: String, authorization: Option<&str>) -> OtlpClient {
    OtlpClient::builder(protocol)
        .with_endpoint(endpoint)
        .with_headers(authorization.map(|a| ("authorization", a.to_owned())))
        .with_timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Sends `request` (HTTP/1.1, with `connection: close`) to `addr`; the
/// whole answer.
async fn http1(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
}

#[tokio::test]
async fn only_known_tokens_reach_the_handler_with_their_tenant() {
    let auth = ReceiverAuth::new()
        .with_token("team-a", "secret-a")
        .with_token("team-b", "secret-b");
    let (receiver, mut rx): (_, mpsc::Receiver<ReceivedRequest>) = Receiver::builder()
        .with_grpc_addr("127.0.0.1:0".parse().unwrap())
        .with_http_addr("127.0.0.1:0".parse().unwrap())
        .with_auth(auth)
        .serve_channel(16)
        .await
        .unwrap();
    let grpc = format!("http://{}", receiver.grpc_addr().unwrap());
    let http = format!("http://{}", receiver.http_addr().unwrap());
    for (protocol, endpoint) in [(Protocol::Grpc, &grpc), (Protocol::HttpProtobuf, &http)] {
        for (authorization, tenant) in
            [("Bearer secret-a", "team-a"), ("bearer secret-b", "team-b")]
        {
            let c = client(protocol, endpoint.clone(), Some(authorization));
            c.export(Signal::Traces, Payload::new(body(), Algorithm::None))
                .await
                .unwrap_or_else(|e| panic!("{protocol:?} {authorization}: {e}"));
            let got = rx.recv().await.unwrap();
            assert_eq!(got.tenant.as_deref(), Some(tenant));
            // The handler gets the tenant, not the token.
            assert!(got.headers.get("authorization").is_none());
        }
        for authorization in [None, Some("Bearer secret-c"), Some("Basic c2VjcmV0LWE=")] {
            let c = client(protocol, endpoint.clone(), authorization);
            let err = c
                .export(Signal::Traces, Payload::new(body(), Algorithm::None))
                .await
                .expect_err("refused");
            let text = err.to_string();
            assert!(
                text.contains("401") || text.to_lowercase().contains("unauthenticated"),
                "{protocol:?} {authorization:?}: {text}"
            );
        }
    }
    assert!(
        rx.try_recv().is_err(),
        "nothing refused reached the handler"
    );
    // Health checks need no token.
    let answer = http1(
        receiver.http_addr().unwrap(),
        b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    receiver.shutdown().await;
}

#[tokio::test]
async fn an_unauthenticated_http_request_is_told_how_to_authenticate() {
    let (receiver, _rx) = Receiver::builder()
        .with_http_addr("127.0.0.1:0".parse().unwrap())
        .with_auth(ReceiverAuth::new().with_token("t", "secret"))
        .serve_channel(1)
        .await
        .unwrap();
    let answer = http1(
        receiver.http_addr().unwrap(),
        b"POST /v1/traces HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(
        answer.to_lowercase().contains("www-authenticate: bearer"),
        "{answer}"
    );
    receiver.shutdown().await;
}

#[tokio::test]
async fn unusable_token_settings_stop_serve() {
    for auth in [ReceiverAuth::new(), ReceiverAuth::new().with_token("t", "")] {
        let err = Receiver::builder()
            .with_grpc_addr("127.0.0.1:0".parse().unwrap())
            .with_auth(auth)
            .serve_channel(1)
            .await
            .map(|_| ())
            .expect_err("refused");
        assert!(matches!(err, ReceiverError::Config(_)), "{err}");
    }
}

/// A health check needs no token, so its body is all a client without one
/// can make the receiver hold: a large one must not take the memory budget
/// that authenticated exports need.
#[tokio::test]
async fn a_health_check_body_does_not_hold_the_budget() {
    use bytes::Bytes;
    use futures_util::StreamExt;
    use http_body_util::{BodyExt, StreamBody};
    use hyper::body::Frame;
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    use std::convert::Infallible;

    let (receiver, mut rx) = Receiver::builder()
        .with_grpc_addr("127.0.0.1:0".parse().unwrap())
        .with_auth(ReceiverAuth::new().with_token("t", "secret"))
        .with_max_in_flight_bytes(64 * 1024)
        .serve_channel(1)
        .await
        .unwrap();
    let addr = receiver.grpc_addr().unwrap();
    // Most of the budget, then a body that never ends.
    let chunk = Ok::<_, Infallible>(Frame::data(Bytes::from(vec![0u8; 63 * 1024 + 512])));
    let endless = futures_util::stream::iter([chunk]).chain(futures_util::stream::pending());
    let request = http::Request::post(format!("http://{addr}/grpc.health.v1.Health/Check"))
        .header("content-type", "application/grpc")
        .body(BodyExt::boxed(StreamBody::new(endless)))
        .unwrap();
    let prober = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http();
    let probe = tokio::spawn(async move { prober.request(request).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let c = client(
        Protocol::Grpc,
        format!("http://{addr}"),
        Some("Bearer secret"),
    );
    c.export(Signal::Traces, Payload::new(body(), Algorithm::None))
        .await
        .expect("the budget is free for an authenticated export");
    assert_eq!(rx.recv().await.unwrap().tenant.as_deref(), Some("t"));
    probe.abort();
    receiver.shutdown().await;
}

//! SRT between our client and our receiver, over gRPC and HTTP: the
//! first request goes as OTLP + zstd and learns that the receiver offers
//! SRT, the next ones go as frames; a receiver that restarts asks for a
//! resync and gets the request again from a fresh stream; a receiver
//! without SRT keeps getting OTLP + zstd. Every request arrives exactly.

use otlp_compression::{Algorithm, Encoding};
use otlp_core::proto::collector::trace::v1::ExportTraceServiceRequest;
use otlp_core::proto::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use otlp_core::proto::resource::v1::Resource;
use otlp_core::proto::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};
use otlp_core::{ExportRequest, Signal};
use otlp_transport::client::{ExportError, OtlpClient, Payload};
use otlp_transport::receiver::{ReceivedRequest, Receiver, RunningReceiver};
use otlp_transport::Protocol;
use prost::Message;
use std::net::SocketAddr;
use tokio::sync::mpsc;

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

/// A request of `spans` spans of a small web service: the same names,
/// keys and most values again and again, as SRT expects.
fn request(batch: u64, spans: u64) -> ExportTraceServiceRequest {
    let spans = (0..spans)
        .map(|i| {
            let n = batch * 1000 + i;
            let mut trace_id = [0u8; 16];
            trace_id[..8].copy_from_slice(&(n / 4).to_le_bytes());
            Span {
                trace_id: trace_id.to_vec(),
                span_id: (n + 1).to_le_bytes().to_vec(),
                name: ["GET /users/{id}", "SELECT users", "POST /orders"][(n % 3) as usize]
                    .to_owned(),
                kind: span::SpanKind::Server as i32,
                start_time_unix_nano: 1_700_000_000_000_000_000 + n * 1_000_000,
                end_time_unix_nano: 1_700_000_000_000_000_000 + n * 1_000_000 + 250_000 + n % 7,
                attributes: vec![
                    kv(
                        "http.request.method",
                        any_value::Value::StringValue("GET".into()),
                    ),
                    kv(
                        "http.response.status_code",
                        any_value::Value::IntValue(200 + (n % 2) as i64 * 300),
                    ),
                    kv(
                        "user.id",
                        any_value::Value::StringValue(format!("user-{}", n * 7919 % 10_007)),
                    ),
                    kv(
                        "cache.hit",
                        any_value::Value::BoolValue(n.is_multiple_of(5)),
                    ),
                ],
                status: Some(Status {
                    code: (n % 2) as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv(
                    "service.name",
                    any_value::Value::StringValue("users".into()),
                )],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "axum".into(),
                    version: "0.8".into(),
                    ..Default::default()
                }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

async fn receiver(
    builder: otlp_transport::receiver::ReceiverBuilder,
    addr: SocketAddr,
) -> (RunningReceiver, mpsc::Receiver<ReceivedRequest>) {
    builder
        .with_grpc_addr(addr)
        .with_http_addr("127.0.0.1:0".parse().unwrap())
        .serve_channel(64)
        .await
        .unwrap()
}

fn client(protocol: Protocol, receiver: &RunningReceiver) -> OtlpClient {
    let endpoint = match protocol {
        Protocol::Grpc => format!("http://{}", receiver.grpc_addr().unwrap()),
        _ => format!("http://{}", receiver.http_addr().unwrap()),
    };
    OtlpClient::builder(protocol)
        .with_endpoint(endpoint)
        .build()
        .unwrap()
}

/// Sends `batch` and returns how it arrived.
async fn send(
    client: &OtlpClient,
    rx: &mut mpsc::Receiver<ReceivedRequest>,
    batch: u64,
) -> Encoding {
    let sent = request(batch, 200);
    let payload = Payload::new(sent.encode_to_vec(), Algorithm::Srt);
    // A connection to a receiver that stopped fails once before the
    // client reconnects; exporters retry that, and so does this test.
    let mut attempts = 0;
    let response = loop {
        match client.export(Signal::Traces, payload.clone()).await {
            Err(ExportError::Connection { .. }) if attempts < 5 => attempts += 1,
            outcome => break outcome.unwrap(),
        }
    };
    assert!(!response.is_partial_success(), "{response:?}");
    let got = rx.recv().await.unwrap();
    let ExportRequest::Traces(received) = got.request else {
        panic!("not traces")
    };
    assert_eq!(received, sent, "batch {batch} arrived changed");
    got.compression
}

#[tokio::test]
async fn srt_after_the_offer_and_a_resync_after_a_receiver_restart() {
    for protocol in [Protocol::Grpc, Protocol::HttpProtobuf] {
        let (running, mut rx) = receiver(Receiver::builder(), "127.0.0.1:0".parse().unwrap()).await;
        let client = client(protocol, &running);
        assert_eq!(
            send(&client, &mut rx, 0).await,
            Encoding::Zstd,
            "{protocol}"
        );
        for batch in 1..5 {
            assert_eq!(
                send(&client, &mut rx, batch).await,
                Encoding::Srt,
                "{protocol}"
            );
        }

        // The same addresses, a new process's state: the stream's next
        // frame is refused with a resync, and the client sends the
        // request again from a fresh stream, as a frame.
        let (grpc, http) = (running.grpc_addr().unwrap(), running.http_addr().unwrap());
        running.shutdown().await;
        let (running, mut rx) = Receiver::builder()
            .with_grpc_addr(grpc)
            .with_http_addr(http)
            .serve_channel(64)
            .await
            .unwrap();
        for batch in 5..10 {
            assert_eq!(
                send(&client, &mut rx, batch).await,
                Encoding::Srt,
                "{protocol}"
            );
        }
        running.shutdown().await;
    }
}

#[tokio::test]
async fn a_receiver_without_srt_gets_otlp_and_zstd() {
    for protocol in [Protocol::Grpc, Protocol::HttpProtobuf] {
        let builder = Receiver::builder().with_srt(false);
        let (running, mut rx) = receiver(builder, "127.0.0.1:0".parse().unwrap()).await;
        let client = client(protocol, &running);
        for batch in 0..4 {
            assert_eq!(
                send(&client, &mut rx, batch).await,
                Encoding::Zstd,
                "{protocol}"
            );
        }
        running.shutdown().await;
    }
}

#[tokio::test]
async fn srt_frames_of_other_signals_and_formats_are_refused() {
    let (running, _rx) = receiver(Receiver::builder(), "127.0.0.1:0".parse().unwrap()).await;
    let http = reqwest_like_post(
        running.http_addr().unwrap(),
        "/v1/logs",
        "application/x-protobuf",
    )
    .await;
    assert_eq!(http, 415);
    let http = reqwest_like_post(
        running.http_addr().unwrap(),
        "/v1/traces",
        "application/json",
    )
    .await;
    assert_eq!(http, 415);
    running.shutdown().await;
}

/// POSTs a few bytes as an SRT frame and returns the status.
async fn reqwest_like_post(addr: SocketAddr, path: &str, content_type: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: {content_type}\r\ncontent-encoding: x-otlp-srt\r\ncontent-length: 3\r\nconnection: close\r\n\r\nabc"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let text = String::from_utf8_lossy(&answer);
    text.split(' ').nth(1).unwrap().parse().unwrap()
}

//! The official OpenTelemetry Python SDK exporters (gRPC and HTTP/protobuf,
//! uncompressed and gzip, every signal) export to our receiver
//! (`otlp_transport::receiver`), which must decode, message for message,
//! what the Python side reports it sent.

use otlp_compression::Algorithm;
use otlp_core::{ExportRequest, Format, Signal};
use otlp_interop_tests::{
    assert_same_requests, python_or_skip, run_sender, SenderCompression, SenderProtocol,
};
use otlp_transport::receiver::{ReceivedRequest, Receiver, ReceiverProtocol, RunningReceiver};
use std::time::Duration;
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(20);

async fn start_receiver() -> (RunningReceiver, mpsc::Receiver<ReceivedRequest>) {
    let localhost = "127.0.0.1:0".parse().unwrap();
    Receiver::builder()
        .with_grpc_addr(localhost)
        .with_http_addr(localhost)
        .serve_channel(64)
        .await
        .expect("receiver starts")
}

async fn python_sdk_exports(protocol: SenderProtocol, compression: SenderCompression) {
    if python_or_skip().is_none() {
        return;
    }
    let (receiver, mut requests) = start_receiver().await;
    let endpoint = match protocol {
        SenderProtocol::Grpc => format!("http://{}", receiver.grpc_addr().unwrap()),
        SenderProtocol::HttpProtobuf => format!("http://{}", receiver.http_addr().unwrap()),
    };
    for signal in Signal::STABLE {
        let endpoint = endpoint.clone();
        let sent = tokio::task::spawn_blocking(move || {
            run_sender(&endpoint, protocol, compression, signal)
        })
        .await
        .unwrap();
        assert!(!sent.is_empty(), "{signal}: the Python SDK sent nothing");

        // The sender only returns once its exports were answered, so every
        // request is already queued.
        let mut got: Vec<ExportRequest> = Vec::new();
        while got.len() < sent.len() {
            let received = tokio::time::timeout(WAIT, requests.recv())
                .await
                .unwrap_or_else(|_| panic!("{signal}: {} of {} requests", got.len(), sent.len()))
                .expect("receiver running");
            assert_eq!(
                received.transport,
                match protocol {
                    SenderProtocol::Grpc => ReceiverProtocol::Grpc,
                    SenderProtocol::HttpProtobuf => ReceiverProtocol::Http,
                }
            );
            assert_eq!(received.format, Format::Protobuf);
            let expected_compression = match compression {
                SenderCompression::None => Algorithm::None,
                SenderCompression::Gzip => Algorithm::Gzip,
            };
            assert_eq!(received.compression, expected_compression, "{signal}");
            assert!(received.decoded_bytes > 0);
            got.push(received.request);
        }
        assert_same_requests(&sent, &got);
        check_content(signal, &got);
        assert!(
            requests.try_recv().is_err(),
            "{signal}: unexpected extra request"
        );
    }
    receiver.shutdown().await;
}

/// What `sender.py` produces, so an empty or truncated capture on both
/// sides cannot pass as "equal".
fn check_content(signal: Signal, got: &[ExportRequest]) {
    assert!(got.iter().all(|r| r.signal() == signal), "{signal}");
    match &got[0] {
        ExportRequest::Traces(r) => {
            assert_eq!(got[0].item_count(), 6);
            let names: Vec<_> = r.resource_spans[0]
                .scope_spans
                .iter()
                .flat_map(|s| &s.spans)
                .map(|s| s.name.as_str())
                .collect();
            assert!(names.contains(&"GET /orders/{id}"), "{names:?}");
            assert!(names.contains(&"child-consumer"), "{names:?}");
        }
        ExportRequest::Metrics(r) => {
            let mut names: Vec<_> = r.resource_metrics[0]
                .scope_metrics
                .iter()
                .flat_map(|s| &s.metrics)
                .map(|m| m.name.as_str())
                .collect();
            names.sort_unstable();
            assert_eq!(
                names,
                [
                    "bytes.sent",
                    "cpu.queue",
                    "http.latency",
                    "http.requests",
                    "requests.in_flight",
                    "room.temperature"
                ]
            );
        }
        ExportRequest::Logs(_) => assert_eq!(got[0].item_count(), 3),
        other => panic!("unexpected {} request", other.signal()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_grpc_uncompressed() {
    python_sdk_exports(SenderProtocol::Grpc, SenderCompression::None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_grpc_gzip() {
    python_sdk_exports(SenderProtocol::Grpc, SenderCompression::Gzip).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_http_protobuf_uncompressed() {
    python_sdk_exports(SenderProtocol::HttpProtobuf, SenderCompression::None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_http_protobuf_gzip() {
    python_sdk_exports(SenderProtocol::HttpProtobuf, SenderCompression::Gzip).await;
}

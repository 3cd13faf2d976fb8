//! The receiver over TLS: our client exports to it over gRPC and HTTP
//! (HTTP/2 and HTTP/1.1), a plaintext client is refused, mutual TLS refuses
//! a client without a certificate from the CA, a handshake that stalls is
//! closed, and PEM that cannot be used stops `serve`.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use otlp_compression::Algorithm;
use otlp_core::{ExportRequest, Signal};
use otlp_transport::client::{OtlpClient, Payload, TlsConfig};
use otlp_transport::receiver::{
    ReceivedRequest, Receiver, ReceiverError, ReceiverTls, RunningReceiver,
};
use otlp_transport::Protocol;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

#[path = "support/pki.rs"]
mod pki;
use pki::Pki;

/// `n` spans, as JSON for OTLP/HTTP JSON, else protobuf.
fn spans(n: usize, protocol: Protocol) -> Vec<u8> {
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: (0..n)
                    .map(|i| Span {
                        trace_id: vec![7; 16],
                        span_id: (i as u64 + 1).to_be_bytes().to_vec(),
                        name: format!("span {i}"),
                        ..Span::default()
                    })
                    .collect(),
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    };
    let request = ExportRequest::Traces(request);
    match protocol {
        Protocol::HttpJson => request.to_json().into_bytes(),
        _ => request.encode_protobuf(),
    }
}

async fn serve(tls: ReceiverTls) -> (RunningReceiver, mpsc::Receiver<ReceivedRequest>) {
    Receiver::builder()
        .with_grpc_addr("127.0.0.1:0".parse().unwrap())
        .with_http_addr("127.0.0.1:0".parse().unwrap())
        .with_header_read_timeout(Duration::from_millis(300))
        .with_tls(tls)
        .serve_channel(16)
        .await
        .unwrap()
}

fn client(protocol: Protocol, endpoint: String, tls: TlsConfig) -> (OtlpClient, Protocol) {
    let client = OtlpClient::builder(protocol)
        .with_endpoint(endpoint)
        .with_tls(tls)
        .with_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    (client, protocol)
}

/// Sends 3 spans with `client`; the items the receiver got, or the error.
async fn send(
    (client, protocol): &(OtlpClient, Protocol),
    rx: &mut mpsc::Receiver<ReceivedRequest>,
) -> Result<usize, String> {
    client
        .export(
            Signal::Traces,
            Payload::new(spans(3, *protocol), Algorithm::None),
        )
        .await
        .map_err(|e| e.to_string())?;
    let got = rx.recv().await.expect("the receiver runs");
    Ok(got.request.item_count())
}

#[tokio::test]
async fn exports_over_tls_on_both_protocols() {
    let pki = Pki::new();
    let (receiver, mut rx) = serve(ReceiverTls::from_pem(
        pki.server_cert.clone(),
        pki.server_key.clone(),
    ))
    .await;
    let grpc = format!("https://{}", receiver.grpc_addr().unwrap());
    let http = format!("https://{}", receiver.http_addr().unwrap());
    for (protocol, endpoint) in [
        (Protocol::Grpc, grpc.clone()),
        (Protocol::HttpProtobuf, http.clone()),
        (Protocol::HttpJson, http.clone()),
    ] {
        let c = client(protocol, endpoint.clone(), pki.trusting_ca());
        assert_eq!(send(&c, &mut rx).await, Ok(3), "{protocol:?} {endpoint}");
    }
    // Without trusting the CA, the client refuses the server.
    let untrusting = client(Protocol::Grpc, grpc.clone(), TlsConfig::new());
    assert!(send(&untrusting, &mut rx).await.is_err());
    // Plaintext to a TLS listener fails.
    for (protocol, addr) in [
        (Protocol::Grpc, receiver.grpc_addr().unwrap()),
        (Protocol::HttpProtobuf, receiver.http_addr().unwrap()),
    ] {
        let plain = client(protocol, format!("http://{addr}"), TlsConfig::new());
        assert!(send(&plain, &mut rx).await.is_err(), "{protocol:?}");
    }
    // And the TLS listener still serves afterwards.
    let c = client(Protocol::HttpProtobuf, http, pki.trusting_ca());
    assert_eq!(send(&c, &mut rx).await, Ok(3));
    receiver.shutdown().await;
}

#[tokio::test]
async fn mutual_tls_refuses_clients_without_a_certificate_from_the_ca() {
    let pki = Pki::new();
    let other = Pki::new();
    let tls = ReceiverTls::from_pem(pki.server_cert.clone(), pki.server_key.clone())
        .with_client_ca_pem(pki.ca.clone());
    let (receiver, mut rx) = serve(tls).await;
    for (protocol, endpoint) in [
        (
            Protocol::Grpc,
            format!("https://{}", receiver.grpc_addr().unwrap()),
        ),
        (
            Protocol::HttpProtobuf,
            format!("https://{}", receiver.http_addr().unwrap()),
        ),
    ] {
        let without = client(protocol, endpoint.clone(), pki.trusting_ca());
        assert!(
            send(&without, &mut rx).await.is_err(),
            "{protocol:?}: no client certificate"
        );
        // A certificate from another CA.
        let foreign = pki
            .trusting_ca()
            .with_client_identity_pem(other.client_cert.clone(), other.client_key.clone());
        let foreign = client(protocol, endpoint.clone(), foreign);
        assert!(
            send(&foreign, &mut rx).await.is_err(),
            "{protocol:?}: foreign certificate"
        );
        let with = client(protocol, endpoint, pki.with_client_identity());
        assert_eq!(send(&with, &mut rx).await, Ok(3), "{protocol:?}");
    }
    receiver.shutdown().await;
}

/// A client that connects and never starts the handshake is closed (after
/// the header-read timeout), as one that never starts a request.
#[tokio::test]
async fn a_stalled_handshake_is_closed() {
    let pki = Pki::new();
    let (receiver, _rx) = serve(ReceiverTls::from_pem(
        pki.server_cert.clone(),
        pki.server_key.clone(),
    ))
    .await;
    for addr in [receiver.grpc_addr().unwrap(), receiver.http_addr().unwrap()] {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut buf = [0u8; 16];
        // The server closes it: the read ends (a generous bound only keeps
        // a broken receiver from hanging the test).
        let read = tokio::time::timeout(Duration::from_secs(60), stream.read(&mut buf))
            .await
            .expect("the stalled connection is closed");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    }
    receiver.shutdown().await;
}

/// Shutting down does not wait for a client that is still in (or has not
/// started) its handshake: it has no request in flight.
#[tokio::test]
async fn shutdown_does_not_wait_for_a_stalled_handshake() {
    let pki = Pki::new();
    let (receiver, _rx) = Receiver::builder()
        .with_grpc_addr("127.0.0.1:0".parse().unwrap())
        .with_http_addr("127.0.0.1:0".parse().unwrap())
        .with_header_read_timeout(Duration::from_secs(60))
        .with_tls(ReceiverTls::from_pem(
            pki.server_cert.clone(),
            pki.server_key.clone(),
        ))
        .serve_channel(1)
        .await
        .unwrap();
    let mut stalled = Vec::new();
    for addr in [receiver.grpc_addr().unwrap(), receiver.http_addr().unwrap()] {
        stalled.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    // Let the receiver accept them.
    tokio::time::sleep(Duration::from_millis(200)).await;
    tokio::time::timeout(Duration::from_secs(10), receiver.shutdown())
        .await
        .expect("shutdown returns without waiting out the handshakes");
    for mut stream in stalled {
        let mut buf = [0u8; 16];
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("the stalled connection is closed");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    }
}

#[tokio::test]
async fn unusable_pem_stops_serve() {
    let pki = Pki::new();
    let cases = [
        ReceiverTls::from_pem("not a certificate", pki.server_key.clone()),
        ReceiverTls::from_pem(pki.server_cert.clone(), "not a key"),
        // A key that does not match the certificate.
        ReceiverTls::from_pem(pki.server_cert.clone(), pki.client_key.clone()),
        ReceiverTls::from_pem(pki.server_cert.clone(), pki.server_key.clone())
            .with_client_ca_pem("no CA here"),
        ReceiverTls::from_pem_files("/nonexistent/cert.pem", "/nonexistent/key.pem"),
    ];
    for tls in cases {
        let err = Receiver::builder()
            .with_grpc_addr("127.0.0.1:0".parse().unwrap())
            .with_tls(tls.clone())
            .serve_channel(1)
            .await
            .map(|_| ())
            .expect_err("unusable TLS settings");
        assert!(matches!(err, ReceiverError::Tls(_)), "{tls:?}: {err}");
    }
}

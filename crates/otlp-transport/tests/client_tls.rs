//! TLS: a test CA, server and client certificates made with rcgen; an
//! OTLP/HTTP server on tokio-rustls and an OTLP/gRPC server on tonic's TLS.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use otlp_compression::Algorithm;
use otlp_core::Signal;
use otlp_transport::client::{BuildError, ExportError, OtlpClient, Payload, TlsConfig};
use otlp_transport::Protocol;
use prost::Message;
use rcgen::KeyPair;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Certificate, Identity, ServerTlsConfig};

#[path = "support/pki.rs"]
mod pki;
use pki::Pki;

/// What the HTTPS server learned about one connection.
#[derive(Debug, Clone)]
struct Handshake {
    alpn: Option<Vec<u8>>,
    client_cert: Option<CertificateDer<'static>>,
}

struct HttpsServer {
    addr: SocketAddr,
    handshakes: Arc<Mutex<Vec<Handshake>>>,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl HttpsServer {
    /// Asks for (but does not require) a client certificate from `pki`'s CA.
    async fn start(pki: &Pki) -> HttpsServer {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut client_roots = RootCertStore::empty();
        client_roots
            .add(CertificateDer::from_pem_slice(pki.ca.as_bytes()).unwrap())
            .unwrap();
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(client_roots), provider.clone())
                .allow_unauthenticated()
                .build()
                .unwrap();
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                vec![CertificateDer::from_pem_slice(pki.server_cert.as_bytes()).unwrap()],
                PrivateKeyDer::from_pem_slice(pki.server_key.as_bytes()).unwrap(),
            )
            .unwrap();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = TlsAcceptor::from(Arc::new(config));

        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let handshakes = Arc::new(Mutex::new(Vec::new()));
        let seen = handshakes.clone();
        let (shutdown, mut stop) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let mut open = JoinSet::new();
            loop {
                let stream = tokio::select! {
                    _ = &mut stop => break,
                    accepted = listener.accept() => accepted.unwrap().0,
                };
                let (acceptor, seen) = (acceptor.clone(), seen.clone());
                open.spawn(async move {
                    // A client that rejects our certificate aborts the handshake.
                    let Ok(tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let session = tls.get_ref().1;
                    seen.lock().unwrap().push(Handshake {
                        alpn: session.alpn_protocol().map(<[u8]>::to_vec),
                        client_cert: session.peer_certificates().map(|c| c[0].clone()),
                    });
                    let service = service_fn(|request: http::Request<Incoming>| async move {
                        request.into_body().collect().await.unwrap();
                        Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::new())))
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        HttpsServer {
            addr,
            handshakes,
            shutdown,
            task,
        }
    }

    fn client(&self, tls: TlsConfig) -> OtlpClient {
        OtlpClient::builder(Protocol::HttpProtobuf)
            .with_endpoint(format!("https://{}", self.addr))
            .with_tls(tls)
            .build()
            .unwrap()
    }

    async fn stop(self) -> Vec<Handshake> {
        let _ = self.shutdown.send(());
        self.task.await.unwrap();
        std::mem::take(&mut *self.handshakes.lock().unwrap())
    }
}

fn payload() -> Payload {
    Payload::new(
        ExportTraceServiceRequest::default().encode_to_vec(),
        Algorithm::None,
    )
}

fn assert_certificate_error(err: &ExportError) {
    assert!(matches!(err, ExportError::Connection { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("certificate"), "unclear TLS error: {text}");
}

#[tokio::test]
async fn https_with_custom_ca() {
    let pki = Pki::new();
    let server = HttpsServer::start(&pki).await;
    let client = server.client(pki.trusting_ca());
    client.export(Signal::Traces, payload()).await.unwrap();
    client.export(Signal::Logs, payload()).await.unwrap();
    let handshakes = server.stop().await;
    assert_eq!(handshakes.len(), 1, "one pooled connection: {handshakes:?}");
    assert_eq!(handshakes[0].alpn.as_deref(), Some(&b"h2"[..]));
    assert!(handshakes[0].client_cert.is_none());
}

#[tokio::test]
async fn https_without_the_ca_fails_clearly() {
    let pki = Pki::new();
    let server = HttpsServer::start(&pki).await;
    let err = server
        .client(TlsConfig::new())
        .export(Signal::Traces, payload())
        .await
        .unwrap_err();
    assert_certificate_error(&err);
    assert!(server.stop().await.is_empty());
}

#[tokio::test]
async fn mutual_tls_presents_the_client_certificate() {
    let pki = Pki::new();
    let server = HttpsServer::start(&pki).await;
    server
        .client(pki.with_client_identity())
        .export(Signal::Traces, payload())
        .await
        .unwrap();
    let handshakes = server.stop().await;
    let expected = CertificateDer::from_pem_slice(pki.client_cert.as_bytes()).unwrap();
    assert_eq!(handshakes[0].client_cert.as_ref(), Some(&expected));
}

#[tokio::test]
async fn pem_files_are_read_at_build() {
    let pki = Pki::new();
    let dir = std::env::temp_dir().join(format!("otlp-client-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, &pki.ca).unwrap();
    let server = HttpsServer::start(&pki).await;
    let client = server.client(TlsConfig::new().with_ca_pem_file(&ca));
    std::fs::remove_dir_all(&dir).unwrap();
    client.export(Signal::Traces, payload()).await.unwrap();
    server.stop().await;

    let err = OtlpClient::builder(Protocol::HttpProtobuf)
        .with_endpoint("https://127.0.0.1:4318")
        .with_tls(TlsConfig::new().with_ca_pem_file(&ca))
        .build()
        .unwrap_err();
    assert!(matches!(err, BuildError::UnreadablePem { .. }), "{err:?}");
}

#[test]
fn mismatched_client_key_is_a_build_error() {
    let pki = Pki::new();
    let other_key = KeyPair::generate().unwrap().serialize_pem();
    for protocol in [Protocol::HttpProtobuf, Protocol::Grpc] {
        let err = OtlpClient::builder(protocol)
            .with_endpoint("https://127.0.0.1:4318")
            .with_tls(
                pki.trusting_ca()
                    .with_client_identity_pem(pki.client_cert.clone(), other_key.clone()),
            )
            .build()
            .unwrap_err();
        assert!(matches!(err, BuildError::Tls(_)), "{protocol}: {err:?}");
    }
}

struct Collector;

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        // tonic only serves clients whose certificate the CA signed.
        assert!(request.peer_certs().is_some_and(|certs| !certs.is_empty()));
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// A gRPC server that requires a client certificate from `pki`'s CA.
async fn start_grpc_tls(pki: &Pki) -> (SocketAddr, oneshot::Sender<()>, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let tls = ServerTlsConfig::new()
        .identity(Identity::from_pem(&pki.server_cert, &pki.server_key))
        .client_ca_root(Certificate::from_pem(&pki.ca));
    let (shutdown, stop) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        tonic::transport::Server::builder()
            .tls_config(tls)
            .unwrap()
            .add_service(TraceServiceServer::new(Collector))
            .serve_with_incoming_shutdown(TcpIncoming::from(listener), async {
                let _ = stop.await;
            })
            .await
            .unwrap();
    });
    (addr, shutdown, task)
}

#[tokio::test]
async fn grpc_over_mutual_tls() {
    let pki = Pki::new();
    let (addr, shutdown, task) = start_grpc_tls(&pki).await;
    // No scheme: TLS, because `insecure` is not set.
    let client = |tls: TlsConfig| {
        OtlpClient::builder(Protocol::Grpc)
            .with_endpoint(addr.to_string())
            .with_tls(tls)
            .build()
            .unwrap()
    };

    let response = client(pki.with_client_identity())
        .export(Signal::Traces, payload())
        .await
        .unwrap();
    assert!(!response.is_partial_success());

    let err = client(TlsConfig::new())
        .export(Signal::Traces, payload())
        .await
        .unwrap_err();
    assert_certificate_error(&err);

    let _ = shutdown.send(());
    task.await.unwrap();
}

//! Our span exporter against a gRPC server built on opentelemetry-proto's
//! generated tonic service (not our receiver), with each gRPC compression.

use opentelemetry::trace::{Tracer as _, TracerProvider as _};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_sdk::trace::SdkTracerProvider;
use otlp_exporter::{Compression, OtlpSpanExporter, Protocol};
use std::sync::{Arc, Mutex};
use tonic::codec::CompressionEncoding;

/// A request and its `grpc-encoding`.
type Received = (ExportTraceServiceRequest, Option<String>);

#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<Received>>>);

#[tonic::async_trait]
impl TraceService for Sink {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let encoding = request
            .metadata()
            .get("grpc-encoding")
            .map(|v| v.to_str().unwrap_or_default().to_owned());
        self.0
            .lock()
            .unwrap()
            .push((request.into_inner(), encoding));
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[test]
fn exporter_talks_to_the_official_tonic_service() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::default();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let service = TraceServiceServer::new(sink.clone())
        .accept_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Zstd);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = rt.spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming_shutdown(
                tokio_stream::wrappers::TcpListenerStream::new(listener),
                async move {
                    let _ = stop_rx.await;
                },
            ),
    );

    for (compression, encoding) in [
        (Compression::none(), None),
        (Compression::gzip(), Some("gzip")),
        (Compression::zstd(), Some("zstd")),
    ] {
        let exporter = OtlpSpanExporter::builder()
            .with_endpoint(format!("http://{addr}"))
            .with_protocol(Protocol::Grpc)
            .with_compression(compression)
            .build()
            .unwrap();
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .build();
        let tracer = provider.tracer("tonic-peer");
        for i in 0..5 {
            tracer.in_span(format!("span-{i}"), |_| {});
        }
        provider.force_flush().unwrap();
        provider.shutdown().unwrap();
        let got = std::mem::take(&mut *sink.0.lock().unwrap());
        assert_eq!(got.len(), 1, "{compression}");
        let (req, enc) = &got[0];
        assert_eq!(enc.as_deref(), encoding);
        let names: Vec<_> = req.resource_spans[0].scope_spans[0]
            .spans
            .iter()
            .map(|s| s.name.clone())
            .collect();
        assert_eq!(
            names,
            (0..5).map(|i| format!("span-{i}")).collect::<Vec<_>>()
        );
    }
    let _ = stop_tx.send(());
    rt.block_on(server).unwrap().unwrap();
}

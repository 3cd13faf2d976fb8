//! `with_processors` on the client: the SDK's spans go through the chain
//! before they leave, and the client's stats count what it removed.

use opentelemetry::trace::{Span as _, Tracer as _};
use otlp::exporter::processors::chain_from_toml;
use otlp::transport::receiver::{ReceivedRequest, Receiver, Reply};
use otlp::{EnhancedOtlpClient, Protocol, Signal};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

#[test]
fn the_client_runs_the_chain_on_its_spans() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let spans = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&spans);
    let receiver = rt.block_on(async move {
        Receiver::builder()
            .with_grpc_addr("127.0.0.1:0".parse().unwrap())
            .serve(move |req: ReceivedRequest| {
                if req.request.signal() == Signal::Traces {
                    seen.fetch_add(req.request.item_count() as u64, Ordering::SeqCst);
                }
                async { Reply::Accept }
            })
            .await
            .unwrap()
    });
    let chain =
        chain_from_toml("[[processor]]\ntype = \"filter\"\nspan = ['name == \"GET /health\"']\n")
            .unwrap();
    let client = EnhancedOtlpClient::builder()
        .with_endpoint(format!("http://{}", receiver.grpc_addr().unwrap()))
        .with_protocol(Protocol::Grpc)
        .with_processors(chain)
        .build()
        .unwrap();
    let tracer = client.tracer("processors");
    for i in 0..40 {
        let name = if i % 4 == 0 {
            "GET /health"
        } else {
            "GET /cart"
        };
        tracer.start(name).end();
    }
    client.shutdown().unwrap();
    assert_eq!(spans.load(Ordering::SeqCst), 30);
    let stats = client.exporter_stats(Signal::Traces).unwrap().snapshot();
    assert_eq!(
        (
            stats.items_accepted,
            stats.items_exported,
            stats.items_removed
        ),
        (40, 30, 10)
    );
    rt.block_on(receiver.shutdown());
}

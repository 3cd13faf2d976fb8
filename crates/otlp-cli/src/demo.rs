//! `otlp demo`: every protocol and compression against an embedded
//! receiver, through the same code path as `otlp send`.

use crate::error::CliError;
use crate::send::{self, SendOptions};
use crate::DemoArgs;
use otlp_core::{Format, Signal};
use otlp_exporter::{Algorithm, Protocol};
use otlp_transport::receiver::{ReceivedRequest, Receiver, ReceiverProtocol, Reply};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::runtime::Runtime;

/// The rows: gRPC has no brotli encoding.
const ROWS: [(Protocol, Algorithm); 11] = [
    (Protocol::Grpc, Algorithm::None),
    (Protocol::Grpc, Algorithm::Gzip),
    (Protocol::Grpc, Algorithm::Zstd),
    (Protocol::HttpProtobuf, Algorithm::None),
    (Protocol::HttpProtobuf, Algorithm::Gzip),
    (Protocol::HttpProtobuf, Algorithm::Zstd),
    (Protocol::HttpProtobuf, Algorithm::Brotli),
    (Protocol::HttpJson, Algorithm::None),
    (Protocol::HttpJson, Algorithm::Gzip),
    (Protocol::HttpJson, Algorithm::Zstd),
    (Protocol::HttpJson, Algorithm::Brotli),
];

/// Items received, by how they arrived: each row's key is unique. The
/// compression is keyed by name, which the receiver's `Encoding` and the
/// exporter's `Algorithm` share.
type Counts = Arc<Mutex<HashMap<(ReceiverProtocol, Format, &'static str), u64>>>;

/// `otlp demo`.
pub(crate) fn run(args: DemoArgs, runtime: &Runtime) -> Result<(), CliError> {
    let counts = Counts::default();
    let handler_counts = Arc::clone(&counts);
    let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let receiver = runtime
        .block_on(
            Receiver::builder()
                .with_grpc_addr(loopback)
                .with_http_addr(loopback)
                .serve(move |req: ReceivedRequest| {
                    let counts = Arc::clone(&handler_counts);
                    async move {
                        let key = (req.transport, req.format, req.compression.as_str());
                        *counts
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .entry(key)
                            .or_default() += req.request.item_count() as u64;
                        Reply::Accept
                    }
                }),
        )
        .map_err(|e| CliError::Failed(format!("cannot start the embedded receiver: {e}")))?;
    let (Some(grpc), Some(http)) = (receiver.grpc_addr(), receiver.http_addr()) else {
        return Err(CliError::Failed(
            "the embedded receiver has no address".into(),
        ));
    };
    crate::outln(format_args!(
        "embedded receiver: OTLP/gRPC on {grpc}, OTLP/HTTP on {http}; \
         {} spans, {} metric data points and {} log records per row",
        args.count, args.count, args.count
    ));
    crate::outln(format_args!(
        "{:<14} {:<12} {:>8} {:>9} {:>12} {:>10}",
        "protocol", "compression", "sent", "received", "wire B/item", "items/s"
    ));

    let mut mismatched = 0;
    for (protocol, algorithm) in ROWS {
        let (addr, transport) = match protocol {
            Protocol::Grpc => (grpc, ReceiverProtocol::Grpc),
            _ => (http, ReceiverProtocol::Http),
        };
        let (mut sent, mut exported, mut bytes, mut elapsed) = (0, 0, 0, Duration::ZERO);
        let mut failure = None;
        for signal in Signal::STABLE {
            let options = SendOptions {
                endpoints: vec![format!("http://{addr}")],
                protocol: Some(protocol),
                compression: Some(algorithm.into()),
                headers: Vec::new(),
                timeout: Some(Duration::from_secs(10)),
                signal,
                count: args.count,
                rate: None,
                batch_size: args.batch_size,
                workers: 1,
                persist: None,
                routing: None,
                health_interval: Duration::from_secs(1),
                spans_per_trace: 1,
            };
            let report = send::run(&options, runtime.handle())?;
            sent += report.generated;
            exported += report.stats.items_exported;
            bytes += report.stats.bytes_sent;
            elapsed += report.elapsed;
            if let Err(e) = report.outcome() {
                failure.get_or_insert(format!("{signal}: {e}"));
            }
        }
        let received = counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(transport, protocol.format(), algorithm.as_str()))
            .copied()
            .unwrap_or(0);
        crate::outln(format_args!(
            "{:<14} {:<12} {:>8} {:>9} {:>12.1} {:>10.0}",
            protocol.as_str(),
            algorithm.as_str(),
            sent,
            received,
            bytes as f64 / exported.max(1) as f64,
            exported as f64 / elapsed.as_secs_f64().max(1e-9),
        ));
        if received != sent || sent != args.count * 3 {
            mismatched += 1;
        }
        if let Some(failure) = failure {
            crate::errln(format_args!("  {failure}"));
        }
    }
    runtime.block_on(receiver.shutdown());
    if mismatched > 0 {
        return Err(CliError::Failed(format!(
            "{mismatched} of {} rows received a different number of items than they sent",
            ROWS.len()
        )));
    }
    Ok(())
}

//! `otlp receive`: an OTLP/gRPC and OTLP/HTTP receiver that prints and
//! records what it gets.
//!
//! Each request is written (and flushed) to `--out` before it is answered,
//! so a sender that saw its export accepted can rely on the file holding it,
//! and a `kill -9` loses nothing that was acknowledged. That costs a write
//! per request, not per item, which is small next to decoding.

use crate::error::CliError;
use crate::ReceiveArgs;
use otlp_core::Signal;
use otlp_transport::receiver::{ReceivedRequest, Receiver, Reply, Transport};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long in-flight requests may take to finish after a stop signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Requests, items and bytes received for one signal.
#[derive(Debug, Default, Clone, Copy)]
struct Totals {
    requests: u64,
    items: u64,
    wire_bytes: u64,
    decoded_bytes: u64,
}

#[derive(Debug)]
struct State {
    out: Mutex<Option<BufWriter<File>>>,
    /// Per signal, in [`Signal::ALL`] order.
    totals: Mutex<[Totals; 3]>,
    quiet: bool,
}

fn signal_index(signal: Signal) -> usize {
    signal.index()
}

pub(crate) fn transport_name(transport: Transport) -> &'static str {
    match transport {
        Transport::Grpc => "grpc",
        Transport::Http => "http",
    }
}

impl State {
    fn handle(&self, req: &ReceivedRequest) -> Reply {
        let signal = req.request.signal();
        let items = req.request.item_count();
        if !self.quiet {
            println!(
                "{:<7} {:<4} {:<8} {:<6} {:>7} items {:>10} B on the wire {:>10} B decoded",
                signal.as_str(),
                transport_name(req.transport),
                req.format.to_string(),
                req.compression.as_str(),
                items,
                req.wire_bytes,
                req.decoded_bytes,
            );
        }
        if let Err(error) = self.record(req, items) {
            // Refuse what we cannot keep, so the sender knows to retry.
            eprintln!("otlp receive: cannot write the request to --out: {error}");
            return Reply::unavailable(None);
        }
        let mut totals = self.totals.lock().unwrap_or_else(PoisonError::into_inner);
        let t = &mut totals[signal_index(signal)];
        t.requests += 1;
        t.items += items as u64;
        t.wire_bytes += req.wire_bytes as u64;
        t.decoded_bytes += req.decoded_bytes as u64;
        Reply::Accept
    }

    fn record(&self, req: &ReceivedRequest, items: usize) -> std::io::Result<()> {
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(out) = out.as_mut() else {
            return Ok(());
        };
        let line = json_line(req, items)?;
        out.write_all(line.as_bytes())?;
        out.flush()
    }

    fn flush(&self) -> std::io::Result<()> {
        match self
            .out
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
        {
            Some(out) => out.flush(),
            None => Ok(()),
        }
    }
}

/// One `--out` line: the request's metadata, then the request itself in
/// OTLP/JSON under `"request"`.
fn json_line(req: &ReceivedRequest, items: usize) -> std::io::Result<String> {
    let time_unix_nano = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let meta = serde_json::json!({
        "time_unix_nano": time_unix_nano.to_string(),
        "signal": req.request.signal().as_str(),
        "transport": transport_name(req.transport),
        "format": req.format.to_string(),
        "compression": req.compression.as_str(),
        "items": items,
        "wire_bytes": req.wire_bytes,
        "decoded_bytes": req.decoded_bytes,
    });
    let request = req.request.to_json().map_err(std::io::Error::other)?;
    // `to_json` already gives a JSON document; splicing it in as the last
    // member embeds it as a value without parsing it again.
    let mut line = meta.to_string();
    line.pop(); // the closing brace
    line.push_str(",\"request\":");
    line.push_str(&request);
    line.push_str("}\n");
    Ok(line)
}

fn write_ready_file(path: &Path, grpc: &str, http: &str) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, format!("grpc={grpc}\nhttp={http}\n"))?;
    std::fs::rename(&tmp, path)
}

/// `otlp receive`.
pub(crate) async fn run(args: ReceiveArgs) -> Result<(), CliError> {
    let out = match &args.out {
        Some(path) => Some(BufWriter::new(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| CliError::Failed(format!("cannot open {}: {e}", path.display())))?,
        )),
        None => None,
    };
    let state = Arc::new(State {
        out: Mutex::new(out),
        totals: Mutex::new([Totals::default(); 3]),
        quiet: args.quiet,
    });
    let handler_state = Arc::clone(&state);
    let receiver = Receiver::builder()
        .with_grpc_addr(args.grpc)
        .with_http_addr(args.http)
        .with_max_message_size(args.max_message_size)
        .serve(move |req: ReceivedRequest| {
            let state = Arc::clone(&handler_state);
            async move { state.handle(&req) }
        })
        .await
        .map_err(|e| CliError::Failed(e.to_string()))?;
    let addr = |a: Option<std::net::SocketAddr>| a.map_or_else(String::new, |a| a.to_string());
    let (grpc, http) = (addr(receiver.grpc_addr()), addr(receiver.http_addr()));
    println!("otlp receive: OTLP/gRPC on {grpc}, OTLP/HTTP on {http}");
    if let Some(path) = &args.ready_file {
        write_ready_file(path, &grpc, &http)
            .map_err(|e| CliError::Failed(format!("cannot write {}: {e}", path.display())))?;
    }

    let stop = stop_signal().await;
    println!("otlp receive: {stop}, shutting down");
    if tokio::time::timeout(SHUTDOWN_GRACE, receiver.shutdown())
        .await
        .is_err()
    {
        eprintln!(
            "otlp receive: requests still in flight after {SHUTDOWN_GRACE:?}; stopping anyway"
        );
    }
    let flushed = state.flush();
    let totals = *state.totals.lock().unwrap_or_else(PoisonError::into_inner);
    println!("totals:");
    for signal in Signal::ALL {
        let t = totals[signal_index(signal)];
        println!(
            "  {:<7} {:>9} items in {:>6} requests, {:>12} B on the wire, {:>12} B decoded",
            signal.as_str(),
            t.items,
            t.requests,
            t.wire_bytes,
            t.decoded_bytes
        );
    }
    flushed.map_err(|e| CliError::Failed(format!("cannot write the --out file: {e}")))
}

/// Waits for Ctrl-C (SIGINT) or SIGTERM and names it.
async fn stop_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            return tokio::select! {
                _ = tokio::signal::ctrl_c() => "interrupted",
                _ = term.recv() => "terminated",
            };
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    "interrupted"
}

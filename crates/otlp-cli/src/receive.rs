//! `otlp receive`: an OTLP/gRPC and OTLP/HTTP receiver that prints and
//! records what it gets.
//!
//! Each request is written to `--out` before it is answered, so a sender
//! that saw its export accepted can rely on the file holding it, and a
//! `kill -9` loses nothing that was acknowledged. That costs a write per
//! request, not per item, which is small next to decoding.
//!
//! A record is written whole or not at all: it is built in memory, appended
//! with one write, and if that fails (a full disk, a file size limit) the
//! file is cut back to where the record began and the request is answered
//! `503` / `UNAVAILABLE`, so the sender retries and no half record is left
//! to be spliced into the next one. Printing never panics either: once
//! stdout is gone (`otlp receive | head -1`), the per-request lines stop,
//! that is logged once on stderr, and requests are still answered.

use crate::error::CliError;
use crate::ReceiveArgs;
use otlp_core::{ExportRequest, Signal};
use otlp_exporter::{Compression, OtlpForwarder, Protocol};
use otlp_transport::receiver::{
    ReceivedRequest, Receiver, ReceiverAuth, ReceiverProtocol, ReceiverTls, Reply,
};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long in-flight requests may take to finish after a stop signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How long what is queued for `--forward` may take to be delivered after
/// the receiver stopped (a persistent queue keeps the rest for next time).
const FORWARD_DRAIN: Duration = Duration::from_secs(30);

/// Requests, items and bytes received for one signal.
#[derive(Debug, Default, Clone, Copy)]
struct Totals {
    requests: u64,
    items: u64,
    wire_bytes: u64,
    decoded_bytes: u64,
}

/// The `--out` file and its length: where the next record begins.
#[derive(Debug)]
struct OutFile {
    file: File,
    len: u64,
    /// Only a regular file can be cut back (not `/dev/full` or a pipe).
    regular: bool,
}

impl OutFile {
    /// Appends `record` in one write; on failure, cuts the file back to
    /// where it began.
    fn append(&mut self, record: &[u8]) -> std::io::Result<()> {
        match self.file.write_all(record) {
            Ok(()) => {
                self.len += record.len() as u64;
                Ok(())
            }
            Err(error) => {
                if !self.regular {
                    return Err(error);
                }
                if let Err(undo) = self.file.set_len(self.len) {
                    say(format_args!(
                        "otlp receive: cannot remove the partial record from --out: {undo}"
                    ));
                }
                Err(error)
            }
        }
    }
}

#[derive(Debug)]
struct State {
    out: Mutex<Option<OutFile>>,
    /// `--forward`: where accepted requests go on to.
    forward: Option<OtlpForwarder>,
    /// Per signal, in [`Signal::ALL`] order.
    totals: Mutex<[Totals; Signal::ALL.len()]>,
    /// Set by `--quiet`, or once stdout is closed.
    quiet: AtomicBool,
}

/// Writes a line to stderr, ignoring failure: there is nowhere else to say it.
fn say(line: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Writes a line to stdout; false if stdout is gone.
fn print(line: std::fmt::Arguments<'_>) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")?;
    stdout.flush()
}

fn signal_index(signal: Signal) -> usize {
    signal.index()
}

pub(crate) fn transport_name(transport: ReceiverProtocol) -> &'static str {
    match transport {
        ReceiverProtocol::Grpc => "grpc",
        ReceiverProtocol::Http => "http",
    }
}

impl State {
    async fn handle(&self, req: &ReceivedRequest) -> Reply {
        let signal = req.request.signal();
        let items = req.request.item_count();
        if let Some(forward) = &self.forward {
            // Queued before it is answered: a client told "accepted" can
            // count on the forwarder's delivery.
            if let Err(error) = forward.forward(&req.request).await {
                say(format_args!(
                    "otlp receive: cannot queue the request for --forward: {error}"
                ));
                return Reply::unavailable(None);
            }
        }
        if let Err(error) = self.record(req, items) {
            // Refuse what we cannot keep, so the sender knows to retry.
            say(format_args!(
                "otlp receive: cannot write the request to --out: {error}"
            ));
            return Reply::unavailable(None);
        }
        if !self.quiet.load(Ordering::Relaxed) {
            let printed = print(format_args!(
                "{:<8} {:<4} {:<8} {:<6} {:>7} items {:>10} B on the wire {:>10} B decoded{}",
                signal.as_str(),
                transport_name(req.transport),
                req.format.to_string(),
                req.compression.as_str(),
                items,
                req.wire_bytes,
                req.decoded_bytes,
                req.tenant
                    .as_deref()
                    .map_or_else(String::new, |t| format!(" tenant {t}")),
            ));
            let printed = printed.and_then(|()| match &req.request {
                ExportRequest::Profiles(profiles) => print(format_args!(
                    "        {}",
                    crate::profiles_summary::summary(profiles)
                )),
                _ => Ok(()),
            });
            if let Err(error) = printed {
                // Once, however many requests are in flight.
                if !self.quiet.swap(true, Ordering::Relaxed) {
                    say(format_args!(
                        "otlp receive: cannot print to stdout ({error}); no longer printing requests"
                    ));
                }
            }
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
        out.append(json_line(req, items).as_bytes())
    }
}

/// The `--auth-tokens` file: a `TENANT TOKEN` pair per line; blank lines
/// and lines starting with `#` are skipped.
fn read_tokens(path: &std::path::Path) -> Result<ReceiverAuth, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Failed(format!("cannot read {}: {e}", path.display())))?;
    let mut auth = ReceiverAuth::new();
    let mut count = 0;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some(tenant), Some(token), None) => {
                auth = auth.with_token(tenant, token);
                count += 1;
            }
            _ => {
                return Err(CliError::Failed(format!(
                    "{} line {}: expected `TENANT TOKEN`",
                    path.display(),
                    n + 1
                )))
            }
        }
    }
    if count == 0 {
        return Err(CliError::Failed(format!("{}: no tokens", path.display())));
    }
    Ok(auth)
}

/// One `--out` line: the request's metadata, then the request itself in
/// OTLP/JSON under `"request"`.
fn json_line(req: &ReceivedRequest, items: usize) -> String {
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
    let mut meta = meta;
    if let Some(tenant) = &req.tenant {
        meta["tenant"] = tenant.as_str().into();
    }
    let request = req.request.to_json();
    // `to_json` already gives a JSON document; splicing it in as the last
    // member embeds it as a value without parsing it again.
    let mut line = meta.to_string();
    line.pop(); // the closing brace
    line.push_str(",\"request\":");
    line.push_str(&request);
    line.push_str("}\n");
    line
}

fn write_ready_file(path: &Path, grpc: &str, http: &str) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, format!("grpc={grpc}\nhttp={http}\n"))?;
    std::fs::rename(&tmp, path)
}

/// `otlp receive`.
pub(crate) async fn run(args: ReceiveArgs) -> Result<(), CliError> {
    let out =
        match &args.out {
            Some(path) => {
                let open = || {
                    let file = OpenOptions::new().create(true).append(true).open(path)?;
                    let meta = file.metadata()?;
                    let (len, regular) = (meta.len(), meta.is_file());
                    Ok::<_, std::io::Error>(OutFile { file, len, regular })
                };
                Some(open().map_err(|e| {
                    CliError::Failed(format!("cannot open {}: {e}", path.display()))
                })?)
            }
            None => None,
        };
    let forward = match &args.forward {
        Some(url) => {
            let mut builder = OtlpForwarder::builder()
                .with_endpoint(url.clone())
                .with_protocol(args.forward_protocol.unwrap_or(Protocol::Grpc))
                .with_compression(args.forward_compression.unwrap_or(Compression::zstd()));
            if let Some(dir) = &args.forward_persist {
                builder = builder.with_persistent_queue(dir.clone());
            }
            if let Some(path) = &args.processors {
                builder = builder.with_processors(processors_from(path)?);
            }
            Some(builder.build().map_err(crate::send::options::build_error)?)
        }
        None => None,
    };
    let state = Arc::new(State {
        forward,
        out: Mutex::new(out),
        totals: Mutex::new([Totals::default(); Signal::ALL.len()]),
        quiet: AtomicBool::new(args.quiet),
    });
    let handler_state = Arc::clone(&state);
    let mut builder = Receiver::builder();
    if let Some(path) = &args.auth_tokens {
        builder = builder.with_auth(read_tokens(path)?);
    }
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        let mut tls = ReceiverTls::from_pem_files(cert, key);
        if let Some(ca) = &args.tls_client_ca {
            tls = tls.with_client_ca_pem_file(ca);
        }
        builder = builder.with_tls(tls);
    }
    let receiver = builder
        .with_grpc_addr(args.grpc)
        .with_http_addr(args.http)
        .with_max_message_size(args.max_message_size)
        .with_max_items(args.max_items)
        .with_max_decoded_size(args.max_decoded_size)
        .with_max_in_flight_bytes(args.max_in_flight)
        .with_header_read_timeout(args.header_read_timeout)
        .with_idle_timeout(args.idle_timeout)
        .with_max_connections(args.max_connections)
        .with_backlog(args.backlog)
        .serve(move |req: ReceivedRequest| {
            let state = Arc::clone(&handler_state);
            async move { state.handle(&req).await }
        })
        .await
        .map_err(|e| CliError::Failed(e.to_string()))?;
    let addr = |a: Option<std::net::SocketAddr>| a.map_or_else(String::new, |a| a.to_string());
    let (grpc, http) = (addr(receiver.grpc_addr()), addr(receiver.http_addr()));
    // Failures to print are not fatal: the receiver works without stdout.
    let tls = if args.tls_cert.is_some() {
        " (TLS)"
    } else {
        ""
    };
    let _ = print(format_args!(
        "otlp receive: OTLP/gRPC on {grpc}, OTLP/HTTP on {http}{tls}"
    ));
    if let Some(path) = &args.ready_file {
        write_ready_file(path, &grpc, &http)
            .map_err(|e| CliError::Failed(format!("cannot write {}: {e}", path.display())))?;
    }

    let stop = stop_signal().await;
    let _ = print(format_args!("otlp receive: {stop}, shutting down"));
    if tokio::time::timeout(SHUTDOWN_GRACE, receiver.shutdown())
        .await
        .is_err()
    {
        say(format_args!(
            "otlp receive: requests still in flight after {SHUTDOWN_GRACE:?}; stopping anyway"
        ));
    }
    let mut forwarded = Ok(());
    if let Some(forward) = &state.forward {
        let _ = print(format_args!(
            "otlp receive: delivering what is queued for --forward (at most {FORWARD_DRAIN:?})"
        ));
        let forward_result = forward.shutdown(FORWARD_DRAIN);
        for signal in Signal::ALL {
            let stats = forward.stats(signal).snapshot();
            if stats.items_accepted > 0 {
                let _ = print(format_args!(
                    "forwarded {:<8} {:>9} accepted, {:>9} exported, {:>9} dropped, {:>9} queued, {:>9} removed by processors",
                    signal.as_str(),
                    stats.items_accepted,
                    stats.items_exported,
                    stats.dropped.total(),
                    stats.queued_items,
                    stats.items_removed,
                ));
                for (processor, reason, n) in &stats.removed_by {
                    let _ = print(format_args!("  removed by {processor} ({reason}): {n}"));
                }
                for (processor, n) in &stats.span_events_removed {
                    let _ = print(format_args!("  span events removed by {processor}: {n}"));
                }
            }
        }
        if let Some(derived) = forward.derived_metrics_stats() {
            let stats = derived.snapshot();
            if stats.items_accepted > 0 {
                let _ = print(format_args!(
                    "derived  metrics  {:>9} accepted, {:>9} exported, {:>9} dropped, {:>9} queued (data points of span metrics)",
                    stats.items_accepted,
                    stats.items_exported,
                    stats.dropped.total(),
                    stats.queued_items,
                ));
            }
        }
        forwarded = forward_result
            .map_err(|e| CliError::Failed(format!("not everything was forwarded: {e}")));
    }
    let totals = *state.totals.lock().unwrap_or_else(PoisonError::into_inner);
    let _ = print(format_args!("totals:"));
    for signal in Signal::ALL {
        let t = totals[signal_index(signal)];
        let _ = print(format_args!(
            "  {:<8} {:>9} items in {:>6} requests, {:>12} B on the wire, {:>12} B decoded",
            signal.as_str(),
            t.items,
            t.requests,
            t.wire_bytes,
            t.decoded_bytes
        ));
    }
    forwarded
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

/// The processor chain configured in `path` (`--processors`).
fn processors_from(path: &std::path::Path) -> Result<otlp_exporter::processors::Chain, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CliError::Usage(format!("--processors: cannot read {}: {e}", path.display()))
    })?;
    otlp_exporter::processors::chain_from_toml(&text)
        .map_err(|e| CliError::Usage(format!("--processors {}: {e}", path.display())))
}

//! Support code for the examples in this directory: a local stand-in for a
//! collector, so that every example runs, and checks itself, without one.
//!
//! When `OTEL_EXPORTER_OTLP_ENDPOINT` is set the examples send there and
//! check only the client's own counters. Otherwise [`Collector::start`]
//! runs an OTLP receiver (`otlp_transport::receiver`) on `127.0.0.1` with
//! free ports, counts what arrives, and [`Collector::finish`] compares that
//! with what the example sent: the process exits non-zero when something
//! did not arrive.
#![forbid(unsafe_code)]

use otlp_core::Signal;
use otlp_transport::receiver::{ReceivedRequest, Receiver, Reply};
use otlp_transport::Protocol;
use std::error::Error;
use std::fmt;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use tokio::sync::oneshot;

/// Spans, metric data points and log records: what was sent or received.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Items {
    /// Spans.
    pub spans: u64,
    /// Metric data points.
    pub metric_points: u64,
    /// Log records.
    pub log_records: u64,
}

impl Items {
    fn add(&mut self, signal: Signal, n: u64) {
        match signal {
            Signal::Traces => self.spans += n,
            Signal::Metrics => self.metric_points += n,
            Signal::Logs => self.log_records += n,
            // The embedded receiver counts no other signal.
            _ => {}
        }
    }
}

impl fmt::Display for Items {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} spans, {} metric data points, {} log records",
            self.spans, self.metric_points, self.log_records
        )
    }
}

/// What the embedded receiver has seen.
#[derive(Debug, Default)]
struct Seen {
    items: Items,
    requests: u64,
    wire_bytes: u64,
    how: Vec<String>,
}

/// Where the examples send: an embedded receiver, or the collector the
/// environment names.
#[derive(Debug)]
pub struct Collector {
    embedded: Option<Embedded>,
}

#[derive(Debug)]
struct Embedded {
    grpc: SocketAddr,
    http: SocketAddr,
    seen: Arc<Mutex<Seen>>,
    stop: oneshot::Sender<()>,
    thread: JoinHandle<()>,
}

impl Collector {
    /// Starts the embedded receiver, unless `OTEL_EXPORTER_OTLP_ENDPOINT`
    /// names a collector. The receiver runs on a thread of its own, so the
    /// examples may be synchronous or asynchronous.
    pub fn start() -> Result<Collector, Box<dyn Error>> {
        if std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_some_and(|v| !v.is_empty()) {
            return Ok(Collector { embedded: None });
        }
        let seen = Arc::new(Mutex::new(Seen::default()));
        let counter = Arc::clone(&seen);
        let (ready_tx, ready_rx) = mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(err) => {
                    let _ = ready_tx.send(Err(err.to_string()));
                    return;
                }
            };
            rt.block_on(async move {
                let any = "127.0.0.1:0".parse().expect("a valid address");
                let served = Receiver::builder()
                    .with_grpc_addr(any)
                    .with_http_addr(any)
                    .serve(move |req: ReceivedRequest| {
                        let counter = Arc::clone(&counter);
                        async move {
                            record(&counter, &req);
                            Reply::Accept
                        }
                    })
                    .await;
                match served {
                    Ok(receiver) => {
                        let addrs = receiver.grpc_addr().zip(receiver.http_addr());
                        let _ = ready_tx.send(addrs.ok_or_else(|| "no address".to_owned()));
                        // Serve until told to stop (or until the sender is dropped).
                        let _ = stopped.await;
                        receiver.shutdown().await;
                    }
                    Err(err) => {
                        let _ = ready_tx.send(Err(err.to_string()));
                    }
                }
            });
        });
        let (grpc, http) = ready_rx.recv()??;
        println!("embedded OTLP receiver: gRPC on {grpc}, HTTP on {http}");
        Ok(Collector {
            embedded: Some(Embedded {
                grpc,
                http,
                seen,
                stop,
                thread,
            }),
        })
    }

    /// The embedded receiver's endpoint for `protocol`, or `None` when the
    /// environment names the collector (leave the endpoint unset in code
    /// then, and the `OTEL_EXPORTER_OTLP_*` variables decide).
    pub fn endpoint(&self, protocol: Protocol) -> Option<String> {
        let embedded = self.embedded.as_ref()?;
        Some(match protocol {
            Protocol::Grpc => format!("http://{}", embedded.grpc),
            // Every other protocol is OTLP/HTTP.
            _ => format!("http://{}", embedded.http),
        })
    }

    /// Stops the embedded receiver, prints what was sent and what arrived,
    /// and fails unless both are `expected`.
    pub fn finish(self, expected: Items, exported: Items) -> ExitCode {
        println!("sent (the client's counters): {exported}");
        let mut ok = exported == expected;
        match self.embedded {
            None => println!(
                "sent to the collector at OTEL_EXPORTER_OTLP_ENDPOINT; \
                 only the client's counters were checked"
            ),
            Some(embedded) => {
                let _ = embedded.stop.send(());
                if embedded.thread.join().is_err() {
                    eprintln!("the embedded receiver's thread panicked");
                    ok = false;
                }
                let seen = embedded.seen.lock().unwrap_or_else(|e| e.into_inner());
                println!(
                    "received: {} in {} requests, {} bytes on the wire ({})",
                    seen.items,
                    seen.requests,
                    seen.wire_bytes,
                    seen.how.join(", ")
                );
                ok &= seen.items == expected;
            }
        }
        if ok {
            println!("OK: {expected} arrived");
            ExitCode::SUCCESS
        } else {
            eprintln!("FAILED: expected {expected}");
            ExitCode::FAILURE
        }
    }
}

fn record(seen: &Mutex<Seen>, req: &ReceivedRequest) {
    let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
    seen.items
        .add(req.request.signal(), req.request.item_count() as u64);
    seen.requests += 1;
    seen.wire_bytes += req.wire_bytes as u64;
    let how = format!("{:?} {} {}", req.transport, req.format, req.compression);
    if !seen.how.contains(&how) {
        seen.how.push(how);
    }
}

//! A loopback OTLP/gRPC trace sink in a child process, for the benchmarks
//! that export over the network.
//!
//! The sink runs in its own process so that decoding what it receives is
//! not charged to the process being measured (it still shares the
//! machine's cores, as a local collector would). The benchmark binary
//! re-executes itself: the parent calls [`Sink::spawn`] with the names of
//! the environment variables that make the child act as the sink, and the
//! child, seeing them, calls [`serve`].
//!
//! The protocol between the two is small: the child binds an ephemeral
//! port on 127.0.0.1 and publishes it in a file whose path the parent
//! passes in an environment variable; it serves until its stdin closes,
//! then prints the number of spans it acknowledged on one line of stdout
//! and exits.
//!
//! ```no_run
//! use otlp_benches::sink::{self, Sink};
//! use std::time::Duration;
//!
//! const PORT_FILE_ENV: &str = "MY_BENCH_SINK_PORT_FILE";
//!
//! if let Some(path) = std::env::var_os(PORT_FILE_ENV) {
//!     // The child: serve until the parent closes our stdin.
//!     sink::serve(std::path::Path::new(&path), Duration::ZERO);
//!     return;
//! }
//! let mut sink = Sink::spawn(PORT_FILE_ENV, "my-bench-sink", &[]);
//! let endpoint = format!("http://127.0.0.1:{}", sink.port());
//! // ... export spans to `endpoint` ...
//! let received = sink.finish();
//! # let _ = (endpoint, received);
//! ```

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tonic::codec::CompressionEncoding;

/// How long [`Sink::spawn`] waits for the child to publish its port.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The sink child process, seen from the parent; killed if it is still
/// running when dropped.
#[derive(Debug)]
pub struct Sink {
    child: Child,
    port: u16,
    port_file: PathBuf,
}

impl Sink {
    /// Re-executes the current binary as the sink and waits until it
    /// listens.
    ///
    /// The child gets the path of its port file in `port_file_env`, plus
    /// every `(name, value)` of `envs` (for example the variable that
    /// selects its role, or its latency). The port file is
    /// `<temp dir>/<file_stem>-<parent pid>.port`, removed again when the
    /// `Sink` is dropped.
    ///
    /// # Panics
    ///
    /// If the child cannot be started or has not published its port
    /// within 30 s.
    pub fn spawn(port_file_env: &str, file_stem: &str, envs: &[(&str, &str)]) -> Sink {
        let port_file =
            std::env::temp_dir().join(format!("{file_stem}-{}.port", std::process::id()));
        let _ = std::fs::remove_file(&port_file);
        let child = Command::new(std::env::current_exe().expect("current exe"))
            .envs(envs.iter().copied())
            .env(port_file_env, &port_file)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn the sink process");
        // Owned from here, so the child is killed if we panic below.
        let mut sink = Sink {
            child,
            port: 0,
            port_file,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        sink.port = loop {
            if let Some(port) = std::fs::read_to_string(&sink.port_file)
                .ok()
                .and_then(|s| s.trim().parse().ok())
            {
                break port;
            }
            assert!(Instant::now() < deadline, "the sink did not start");
            std::thread::sleep(Duration::from_millis(10));
        };
        sink
    }

    /// The port the sink listens on, on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the sink (by closing its stdin) and returns the number of
    /// spans it acknowledged.
    ///
    /// # Panics
    ///
    /// If the child does not print its count (it died, or was already
    /// finished).
    pub fn finish(&mut self) -> u64 {
        drop(self.child.stdin.take());
        let mut out = String::new();
        if let Some(stdout) = self.child.stdout.take() {
            BufReader::new(stdout)
                .read_line(&mut out)
                .expect("read the sink's count");
        }
        out.trim().parse().expect("the sink prints its span count")
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.port_file);
    }
}

/// Counts the spans of the requests it answered, each after `latency`.
struct CountingSink {
    latency: Duration,
    spans: Arc<AtomicU64>,
}

#[tonic::async_trait]
impl TraceService for CountingSink {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let n: usize = request
            .get_ref()
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        drop(request);
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        // Counted when answered: a span is delivered once acknowledged.
        self.spans.fetch_add(n as u64, Ordering::Relaxed);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// The child's side: serves OTLP/gRPC traces on an ephemeral port of
/// 127.0.0.1 (gzip and zstd accepted, 64 MiB decode limit), answering each
/// request after `latency`, until stdin closes; then prints the number of
/// spans acknowledged and exits the process.
///
/// The port is written to `port_file` (through a temporary file and a
/// rename, so the parent never reads a partial port).
///
/// # Panics
///
/// If the runtime cannot be built, the port cannot be bound, or the port
/// file cannot be written.
pub fn serve(port_file: &Path, latency: Duration) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("sink runtime");
    let spans = Arc::new(AtomicU64::new(0));
    let sink = CountingSink {
        latency,
        spans: Arc::clone(&spans),
    };
    std::thread::spawn(move || {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", spans.load(Ordering::Relaxed));
        let _ = out.flush();
        std::process::exit(0);
    });
    rt.block_on(async {
        let incoming = tonic::transport::server::TcpIncoming::bind(([127, 0, 0, 1], 0).into())
            .expect("bind the sink")
            .with_nodelay(Some(true));
        let port = incoming.local_addr().expect("sink address").port();
        let tmp = port_file.with_extension("tmp");
        std::fs::write(&tmp, port.to_string()).expect("write the port file");
        std::fs::rename(&tmp, port_file).expect("publish the port file");
        let service = TraceServiceServer::new(sink)
            .accept_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Zstd)
            .max_decoding_message_size(64 << 20);
        tonic::transport::Server::builder()
            .serve_with_incoming(service, incoming)
            .await
            .expect("sink server");
    });
}

//! Harness for interoperability tests against OTLP peers that no one in this
//! project wrote: the OpenTelemetry Collector and the OpenTelemetry Go SDK
//! (see [`collector`]), the official OpenTelemetry Python SDK and exporters,
//! a receiver built on grpcio and `opentelemetry-proto` (both from PyPI), and
//! the stock Rust `opentelemetry-otlp` crate. [`compare`] names the field
//! where two decoded requests differ. The matrix of what is tested is in
//! `docs/interop.md`.
//!
//! Passing our own tests proves only that our encoder and our decoder agree
//! with each other. These tests put a third party on the other end of the
//! wire, so a shared misreading of the spec shows up as a failure.
//!
//! The Python peers live in `tests/interop/py/` and run in a venv that
//! `scripts/interop-venv.sh` builds from the pinned
//! `tests/interop/requirements.txt`:
//!
//! - `receiver.py`: OTLP/gRPC (grpcio) and OTLP/HTTP (protobuf and JSON;
//!   gzip, deflate, zstd and brotli bodies). [`PythonReceiver`] runs it and
//!   hands back what it decoded as [`Received`] requests.
//! - `sender.py`: the SDK pipeline with the official OTLP exporters.
//!   [`run_sender`] runs it and returns the exact requests it sent.
//!
//! # Finding Python
//!
//! `OTLP_INTEROP_PYTHON` names the venv's interpreter. If it is unset, the
//! harness runs `scripts/interop-venv.sh` once per test binary (fast when the
//! venv is up to date) and uses the interpreter it prints. When Python cannot
//! be had, a test calling [`python_or_skip`] (or one of the `*_or_skip`
//! constructors) prints `skipped: <reason>` straight to stderr and returns,
//! so `cargo test` passes on a laptop without Python; with
//! `OTLP_INTEROP_REQUIRED=1` (set in CI) it fails with the reason instead.
//!
//! # Example
//!
//! ```no_run
//! use otlp_core::Signal;
//! use otlp_interop_tests::{PythonReceiver, SenderCompression, SenderProtocol, run_sender};
//! use std::time::Duration;
//!
//! let Some(receiver) = PythonReceiver::start_or_skip() else { return };
//! // Point an exporter at receiver.grpc_endpoint() or receiver.http_endpoint() ...
//! let sent = run_sender(
//!     &receiver.grpc_endpoint(),
//!     SenderProtocol::Grpc,
//!     SenderCompression::Gzip,
//!     Signal::Traces,
//! );
//! let got = receiver.wait_for_requests(sent.len(), Duration::from_secs(10));
//! otlp_interop_tests::assert_same_requests(&sent, &got);
//! ```
//!
//! The helpers block; from an async test call them inside
//! `tokio::task::spawn_blocking` (or accept blocking a worker thread of a
//! multi-thread runtime).
#![forbid(unsafe_code)]

pub mod collector;
pub mod compare;
pub mod sample;

use base64::Engine as _;
use otlp_core::{DecodeError, ExportRequest, Format, Signal};
use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Env var naming the Python interpreter (of a venv with
/// `tests/interop/requirements.txt` installed) to run the peers with.
pub const PYTHON_ENV: &str = "OTLP_INTEROP_PYTHON";

/// Env var that, when `1`, turns "Python unavailable" from a skip into a
/// test failure. CI sets it so the interop tests can never silently vanish.
pub const REQUIRED_ENV: &str = "OTLP_INTEROP_REQUIRED";

/// How long [`PythonReceiver::start`] waits for the receiver's `READY` line
/// (the first start after a cold boot imports grpcio and protobuf).
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long [`run_sender`] lets the Python sender run.
pub const SENDER_TIMEOUT: Duration = Duration::from_secs(60);

/// Keep at most this much of a peer's stderr for error messages.
const STDERR_KEEP: usize = 64 * 1024;

/// What went wrong running a Python peer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HarnessError {
    /// No usable Python venv: `OTLP_INTEROP_PYTHON` points nowhere, or
    /// `scripts/interop-venv.sh` failed.
    #[error("Python interop peers unavailable: {reason}")]
    PythonUnavailable {
        /// Why, including the venv script's output when it failed.
        reason: String,
    },
    /// The Go peers (the Collector and the Go SDK sender) cannot be built:
    /// no Go toolchain, or `scripts/collector.sh` failed.
    #[error("Go interop peers (OpenTelemetry Collector, Go SDK) unavailable: {reason}")]
    GoUnavailable {
        /// Why, including the build script's output when it failed.
        reason: String,
    },
    /// A peer process could not be started.
    #[error("cannot start {what}: {source}")]
    Spawn {
        /// Which peer.
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A peer did not answer in time.
    #[error("{what} timed out after {after:?}; its stderr:\n{stderr}")]
    Timeout {
        /// What was being waited for.
        what: String,
        /// How long was waited.
        after: Duration,
        /// The peer's stderr so far (tail).
        stderr: String,
    },
    /// A peer exited when it should not have, or with a failure status.
    #[error("{what} exited with {status:?}; its stderr:\n{stderr}")]
    Exited {
        /// Which peer.
        what: String,
        /// Its exit status, if it was collected.
        status: Option<ExitStatus>,
        /// The peer's stderr (tail).
        stderr: String,
    },
    /// A peer printed a line the harness does not understand.
    #[error("bad line from {what} ({reason}): {line}")]
    BadLine {
        /// Which peer.
        what: String,
        /// What is wrong with it.
        reason: String,
        /// The line.
        line: String,
    },
    /// A peer reported bytes that are not a valid OTLP request.
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

// ------------------------------------------------------------------ Python

/// Whether `OTLP_INTEROP_REQUIRED=1`: a missing Python fails the test.
pub fn interop_required() -> bool {
    std::env::var(REQUIRED_ENV).is_ok_and(|v| v.trim() == "1")
}

/// The repository root (where `scripts/` lives).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The directory of the Python peers, `tests/interop/py`.
pub fn py_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("py")
}

/// The venv's Python interpreter: `$OTLP_INTEROP_PYTHON`, or what
/// `scripts/interop-venv.sh` prints (run at most once per process).
pub fn python() -> Result<&'static Path, HarnessError> {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match PYTHON.get_or_init(find_python) {
        Ok(path) => Ok(path),
        Err(reason) => Err(HarnessError::PythonUnavailable {
            reason: reason.clone(),
        }),
    }
}

fn find_python() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os(PYTHON_ENV).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!("{PYTHON_ENV}={} is not a file", path.display()))
        };
    }
    run_setup_script("interop-venv.sh", "", |path| path.is_file())
}

/// Runs `scripts/<name>` from the repository root and returns the path on
/// the last line it printed, which `ok` must accept. On failure the error
/// holds the script's output, after `hint`.
pub(crate) fn run_setup_script(
    name: &str,
    hint: &str,
    ok: impl Fn(&Path) -> bool,
) -> Result<PathBuf, String> {
    let script = repo_root().join("scripts").join(name);
    let out = Command::new("bash")
        .arg(&script)
        .current_dir(repo_root())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!(
            "{} failed ({}){hint}:\n{}",
            script.display(),
            out.status,
            stderr.trim_end()
        ));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().rev().find(|l| !l.trim().is_empty());
    match last.map(|l| PathBuf::from(l.trim())) {
        Some(path) if ok(&path) => Ok(path),
        _ => Err(format!(
            "{} printed no usable path; stdout:\n{stdout}\nstderr:\n{stderr}",
            script.display()
        )),
    }
}

/// Decides what a test does when its Python peer is unavailable: with
/// `OTLP_INTEROP_REQUIRED=1` it panics with `err`; otherwise it prints a
/// loud `skipped:` line (to the real stderr, past the test harness's output
/// capture) and returns `None` so the test can return early.
pub fn skip_or_fail<T>(err: HarnessError) -> Option<T> {
    let unavailable = matches!(
        err,
        HarnessError::PythonUnavailable { .. } | HarnessError::GoUnavailable { .. }
    );
    if interop_required() || !unavailable {
        panic!("{err}");
    }
    let test = thread::current()
        .name()
        .unwrap_or("interop test")
        .to_owned();
    // Written to io::stderr directly: `eprintln!` would be captured and
    // hidden for a test that passes.
    // One write, so parallel tests do not interleave their lines.
    let line =
        format!("\n*** {test}: skipped: {err} (set {REQUIRED_ENV}=1 to make this a failure)\n");
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
    None
}

/// The venv's Python, or `None` after printing `skipped: <reason>` (see
/// [`skip_or_fail`]). Use as `let Some(py) = python_or_skip() else { return };`.
pub fn python_or_skip() -> Option<&'static Path> {
    python().map_or_else(skip_or_fail, Some)
}

/// A `Command` for a script in `tests/interop/py`, with an environment that
/// cannot leak into the test: no `OTEL_*` settings, no proxies, no
/// `__pycache__` in the source tree, unbuffered output.
fn py_command(python: &Path, script: &str) -> Command {
    let mut cmd = peer_command(python);
    cmd.arg(py_dir().join(script))
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    cmd
}

/// A `Command` for a peer program with no `OTEL_*` settings or proxies
/// leaking in from the test's environment.
pub(crate) fn peer_command(program: &Path) -> Command {
    let mut cmd = Command::new(program);
    for (key, _) in std::env::vars_os() {
        let key_str = key.to_string_lossy();
        if key_str.starts_with("OTEL_") || key_str.to_ascii_lowercase().ends_with("_proxy") {
            cmd.env_remove(&key);
        }
    }
    cmd.env("NO_PROXY", "127.0.0.1,localhost,::1")
        .env("no_proxy", "127.0.0.1,localhost,::1");
    cmd
}

/// Collects a child's stderr in the background, keeping the tail.
#[derive(Clone, Default)]
pub(crate) struct StderrTail(Arc<Mutex<String>>);

impl StderrTail {
    pub(crate) fn spawn(mut stream: impl Read + Send + 'static) -> (Self, JoinHandle<()>) {
        let tail = StderrTail::default();
        let sink = tail.clone();
        let handle = thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut s = lock(&sink.0);
                s.push_str(&String::from_utf8_lossy(&buf[..n]));
                if s.len() > STDERR_KEEP {
                    let mut cut = s.len() - STDERR_KEEP;
                    while !s.is_char_boundary(cut) {
                        cut += 1;
                    }
                    s.drain(..cut);
                }
            }
        });
        (tail, handle)
    }

    pub(crate) fn get(&self) -> String {
        lock(&self.0).clone()
    }
}

/// Locks, ignoring poisoning: a panicking test thread must not hide the
/// receiver's state from the panic message of another.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------- receiver

/// The protocol a request reached [`PythonReceiver`] over: gRPC (served by
/// grpcio) or HTTP (Python's `http.server`). The same type as our own
/// receiver's, so tests compare the two directly.
pub use otlp_transport::receiver::ReceiverProtocol;

/// A request [`PythonReceiver`] accepted, decoded by the Python side and
/// re-encoded (deterministic protobuf) for the harness.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Received {
    /// gRPC or HTTP.
    pub transport: ReceiverProtocol,
    /// The signal (from the gRPC service or the HTTP path).
    pub signal: Signal,
    /// The body format: always protobuf for gRPC.
    pub format: Format,
    /// The HTTP `Content-Encoding` (`none`, `gzip`, `deflate`, `zstd`, `br`).
    /// For gRPC it is `unknown`: grpcio decompresses before its servicers
    /// run and does not show them the `grpc-encoding` header.
    pub encoding: String,
    /// The request as the Python protobuf runtime understood it.
    pub request: ExportRequest,
}

/// A request [`PythonReceiver`] refused (answered 4xx), with its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Refused {
    /// gRPC or HTTP.
    pub transport: ReceiverProtocol,
    /// The signal, when the path named one.
    pub signal: Option<Signal>,
    /// What the receiver said was wrong.
    pub error: String,
}

#[derive(Default)]
struct Collected {
    received: Vec<Received>,
    refused: Vec<Refused>,
    bad_lines: Vec<String>,
    exited: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<Collected>,
    changed: Condvar,
}

/// `receiver.py` running in a child process on 127.0.0.1 with free ports.
///
/// A background thread decodes every request the receiver reports; read
/// them with [`wait_for`](Self::wait_for) or [`received`](Self::received).
/// The child is killed when this is dropped.
pub struct PythonReceiver {
    child: Child,
    stdin: Option<ChildStdin>,
    grpc_port: u16,
    http_port: u16,
    shared: Arc<Shared>,
    stderr: StderrTail,
}

impl fmt::Debug for PythonReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PythonReceiver")
            .field("pid", &self.child.id())
            .field("grpc_port", &self.grpc_port)
            .field("http_port", &self.http_port)
            .finish_non_exhaustive()
    }
}

impl PythonReceiver {
    /// Starts the receiver and waits until it listens. Panics if it cannot
    /// (use [`start_or_skip`](Self::start_or_skip) to skip without Python).
    pub fn start() -> PythonReceiver {
        Self::try_start().unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts the receiver, or returns `None` after printing `skipped:` when
    /// Python is unavailable and not required (see [`skip_or_fail`]).
    pub fn start_or_skip() -> Option<PythonReceiver> {
        Self::try_start().map_or_else(skip_or_fail, Some)
    }

    /// Starts the receiver and waits (up to [`READY_TIMEOUT`]) until it
    /// listens.
    pub fn try_start() -> Result<PythonReceiver, HarnessError> {
        let python = python()?;
        let what = "receiver.py";
        let mut child = py_command(python, what)
            .args([
                "--host",
                "127.0.0.1",
                "--grpc-port",
                "0",
                "--http-port",
                "0",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| HarnessError::Spawn {
                what: what.into(),
                source,
            })?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout is piped");
        let (stderr, _) = StderrTail::spawn(child.stderr.take().expect("stderr is piped"));
        let shared = Arc::new(Shared::default());
        let (ready_tx, ready_rx) = mpsc::channel();
        {
            let shared = Arc::clone(&shared);
            thread::spawn(move || read_receiver_output(stdout, &shared, ready_tx));
        }
        let mut receiver = PythonReceiver {
            child,
            stdin,
            grpc_port: 0,
            http_port: 0,
            shared,
            stderr,
        };
        match ready_rx.recv_timeout(READY_TIMEOUT) {
            Ok(Ok((grpc, http))) => {
                receiver.grpc_port = grpc;
                receiver.http_port = http;
                Ok(receiver)
            }
            Ok(Err(line)) => Err(HarnessError::BadLine {
                what: what.into(),
                reason: "expected `READY grpc=<port> http=<port>`".into(),
                line,
            }),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(HarnessError::Timeout {
                what: format!("{what} READY line"),
                after: READY_TIMEOUT,
                stderr: receiver.stderr(),
            }),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                // Stdout closed before READY: the child died. Give stderr a
                // moment to drain so the error shows the Python traceback.
                let status = receiver.child.wait().ok();
                thread::sleep(Duration::from_millis(100));
                Err(HarnessError::Exited {
                    what: what.into(),
                    status,
                    stderr: receiver.stderr(),
                })
            }
        }
    }

    /// The OTLP/gRPC listen address.
    pub fn grpc_addr(&self) -> SocketAddr {
        SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, self.grpc_port))
    }

    /// The OTLP/HTTP listen address.
    pub fn http_addr(&self) -> SocketAddr {
        SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, self.http_port))
    }

    /// The gRPC endpoint URL, `http://127.0.0.1:<port>`.
    pub fn grpc_endpoint(&self) -> String {
        format!("http://{}", self.grpc_addr())
    }

    /// The HTTP base URL, `http://127.0.0.1:<port>` (append
    /// [`Signal::http_path`], or use [`http_url`](Self::http_url)).
    pub fn http_endpoint(&self) -> String {
        format!("http://{}", self.http_addr())
    }

    /// The full OTLP/HTTP URL for `signal`, e.g. `http://127.0.0.1:<port>/v1/traces`.
    pub fn http_url(&self, signal: Signal) -> String {
        format!("{}{}", self.http_endpoint(), signal.http_path())
    }

    /// Everything received so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        lock(&self.shared.state).received.clone()
    }

    /// Every request refused so far (bad body, unknown encoding, ...).
    pub fn refused(&self) -> Vec<Refused> {
        lock(&self.shared.state).refused.clone()
    }

    /// The receiver's stderr so far (Python warnings and tracebacks).
    pub fn stderr(&self) -> String {
        self.stderr.get()
    }

    /// Waits until at least `n` requests have been received and returns all
    /// of them. Panics on timeout, on a line it cannot decode, or if the
    /// receiver died, with what was received and refused so far.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        self.try_wait_for(n, timeout)
            .unwrap_or_else(|e| panic!("{e}\nrefused so far: {:#?}", self.refused()))
    }

    /// Like [`wait_for`](Self::wait_for), but only the decoded requests:
    /// what [`assert_same_requests`] compares.
    pub fn wait_for_requests(&self, n: usize, timeout: Duration) -> Vec<ExportRequest> {
        self.wait_for(n, timeout)
            .into_iter()
            .map(|r| r.request)
            .collect()
    }

    /// Like [`wait_for`](Self::wait_for), returning the failure instead.
    pub fn try_wait_for(&self, n: usize, timeout: Duration) -> Result<Vec<Received>, HarnessError> {
        let deadline = Instant::now() + timeout;
        let mut state = lock(&self.shared.state);
        loop {
            if let Some(line) = state.bad_lines.first() {
                return Err(HarnessError::BadLine {
                    what: "receiver.py".into(),
                    reason: "cannot decode".into(),
                    line: line.clone(),
                });
            }
            if state.received.len() >= n {
                return Ok(state.received.clone());
            }
            let what = format!(
                "waiting for {n} request(s) at receiver.py (got {}, refused {})",
                state.received.len(),
                state.refused.len()
            );
            if state.exited {
                drop(state);
                thread::sleep(Duration::from_millis(100));
                return Err(HarnessError::Exited {
                    what,
                    status: None,
                    stderr: self.stderr(),
                });
            }
            let now = Instant::now();
            if now >= deadline {
                drop(state);
                return Err(HarnessError::Timeout {
                    what,
                    after: timeout,
                    stderr: self.stderr(),
                });
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

impl Drop for PythonReceiver {
    fn drop(&mut self) {
        // Closing stdin asks it to exit; kill makes sure of it.
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

type Ready = Result<(u16, u16), String>;

fn read_receiver_output(stdout: impl Read, shared: &Shared, ready: mpsc::Sender<Ready>) {
    let mut ready = Some(ready);
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if let Some(tx) = ready.take() {
            let _ = tx.send(parse_ready(&line).ok_or(line));
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        let mut state = lock(&shared.state);
        match parse_report(&line) {
            Ok(Report::Received(r)) => state.received.push(r),
            Ok(Report::Refused(r)) => state.refused.push(r),
            Err(reason) => state.bad_lines.push(format!("{reason}: {line}")),
        }
        shared.changed.notify_all();
    }
    lock(&shared.state).exited = true;
    shared.changed.notify_all();
}

/// Parses `READY grpc=<port> http=<port>`.
fn parse_ready(line: &str) -> Option<(u16, u16)> {
    let rest = line.trim().strip_prefix("READY ")?;
    let (mut grpc, mut http) = (None, None);
    for part in rest.split_whitespace() {
        match part.split_once('=')? {
            ("grpc", port) => grpc = port.parse().ok(),
            ("http", port) => http = port.parse().ok(),
            _ => {}
        }
    }
    Some((grpc?, http?))
}

enum Report {
    Received(Received),
    Refused(Refused),
}

fn parse_report(line: &str) -> Result<Report, String> {
    let v: serde_json::Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let field = |name: &str| v.get(name).and_then(serde_json::Value::as_str);
    let transport = match field("transport") {
        Some("grpc") => ReceiverProtocol::Grpc,
        Some("http") => ReceiverProtocol::Http,
        other => return Err(format!("bad transport {other:?}")),
    };
    let signal = field("signal")
        .map(|s| s.parse::<Signal>().map_err(|e| e.to_string()))
        .transpose()?;
    if let Some(error) = field("error") {
        return Ok(Report::Refused(Refused {
            transport,
            signal,
            error: error.to_owned(),
        }));
    }
    let signal = signal.ok_or("no signal")?;
    let format = match field("format") {
        Some("protobuf") => Format::Protobuf,
        Some("json") => Format::Json,
        other => return Err(format!("bad format {other:?}")),
    };
    let request = decode_b64_request(signal, field("request_b64").ok_or("no request_b64")?)?;
    Ok(Report::Received(Received {
        transport,
        signal,
        format,
        encoding: field("encoding").unwrap_or("none").to_owned(),
        request,
    }))
}

pub(crate) fn decode_b64_request(signal: Signal, b64: &str) -> Result<ExportRequest, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| format!("bad base64: {e}"))?;
    ExportRequest::decode(signal, Format::Protobuf, &bytes).map_err(|e| e.to_string())
}

// ------------------------------------------------------------------ sender

/// The protocol `sender.py` exports with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SenderProtocol {
    /// `opentelemetry.exporter.otlp.proto.grpc`.
    Grpc,
    /// `opentelemetry.exporter.otlp.proto.http` (protobuf bodies).
    HttpProtobuf,
}

impl SenderProtocol {
    /// Both protocols.
    pub const ALL: [SenderProtocol; 2] = [SenderProtocol::Grpc, SenderProtocol::HttpProtobuf];

    /// The `--protocol` value, as `OTEL_EXPORTER_OTLP_PROTOCOL` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            SenderProtocol::Grpc => "grpc",
            SenderProtocol::HttpProtobuf => "http/protobuf",
        }
    }
}

/// The compression `sender.py` asks its exporter for (the Python exporters
/// offer only gzip besides none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SenderCompression {
    /// Uncompressed.
    None,
    /// gzip.
    Gzip,
}

impl SenderCompression {
    /// Both settings.
    pub const ALL: [SenderCompression; 2] = [SenderCompression::None, SenderCompression::Gzip];

    /// The `--compression` value.
    pub fn as_str(self) -> &'static str {
        match self {
            SenderCompression::None => "none",
            SenderCompression::Gzip => "gzip",
        }
    }
}

/// Runs `sender.py`: the Python SDK exports its fixed telemetry for `signal`
/// to `endpoint` (the base URL; for HTTP the signal path is appended), and
/// this returns the requests it sent, in order. Panics if the sender fails
/// or any export fails.
pub fn run_sender(
    endpoint: &str,
    protocol: SenderProtocol,
    compression: SenderCompression,
    signal: Signal,
) -> Vec<ExportRequest> {
    try_run_sender(endpoint, protocol, compression, signal).unwrap_or_else(|e| {
        panic!(
            "sender.py --protocol {} --compression {} --signal {signal} -> {endpoint}: {e}",
            protocol.as_str(),
            compression.as_str()
        )
    })
}

/// Like [`run_sender`], returning the failure instead (including
/// [`HarnessError::PythonUnavailable`], for [`skip_or_fail`]).
pub fn try_run_sender(
    endpoint: &str,
    protocol: SenderProtocol,
    compression: SenderCompression,
    signal: Signal,
) -> Result<Vec<ExportRequest>, HarnessError> {
    let python = python()?;
    let what = "sender.py";
    let child = py_command(python, what)
        .args(["--endpoint", endpoint])
        .args(["--protocol", protocol.as_str()])
        .args(["--compression", compression.as_str()])
        .args(["--signal", signal.as_str()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| HarnessError::Spawn {
            what: what.into(),
            source,
        })?;
    let stdout = wait_for_output(child, what, SENDER_TIMEOUT)?;
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| parse_sent(line, signal))
        .collect()
}

/// Waits (up to `timeout`) for a sender with piped stdout and stderr to
/// exit, and returns its stdout; a timeout (the child is then killed) or a
/// failure status is an error carrying its stderr.
pub(crate) fn wait_for_output(
    mut child: Child,
    what: &str,
    timeout: Duration,
) -> Result<String, HarnessError> {
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let out_reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let (stderr, err_reader) = StderrTail::spawn(child.stderr.take().expect("stderr is piped"));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            Ok(None) | Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let _ = err_reader.join();
                return Err(HarnessError::Timeout {
                    what: what.into(),
                    after: timeout,
                    stderr: stderr.get(),
                });
            }
        }
    };
    let stdout = out_reader.join().unwrap_or_default();
    let _ = err_reader.join();
    if !status.success() {
        return Err(HarnessError::Exited {
            what: what.into(),
            status: Some(status),
            stderr: stderr.get(),
        });
    }
    Ok(stdout)
}

fn parse_sent(line: &str, signal: Signal) -> Result<ExportRequest, HarnessError> {
    let bad = |reason: String| HarnessError::BadLine {
        what: "sender.py".into(),
        reason,
        line: line.to_owned(),
    };
    let request = parse_sent_line(line).map_err(bad)?;
    if request.signal() != signal {
        return Err(bad(format!("expected signal {signal}")));
    }
    Ok(request)
}

/// Parses a sender's `{"signal": "...", "request_b64": "..."}` line.
pub(crate) fn parse_sent_line(line: &str) -> Result<ExportRequest, String> {
    let v: serde_json::Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let signal: Signal = v
        .get("signal")
        .and_then(serde_json::Value::as_str)
        .ok_or("no signal")?
        .parse()
        .map_err(|e: otlp_core::ParseError| e.to_string())?;
    let b64 = v
        .get("request_b64")
        .and_then(serde_json::Value::as_str)
        .ok_or("no request_b64")?;
    decode_b64_request(signal, b64)
}

// ------------------------------------------------------------- assertions

/// Asserts that `got` holds the same requests as `sent`, message for
/// message, in any order (transports may reorder concurrent requests).
/// On a mismatch it panics naming the path of the first field that differs
/// from the closest candidate (see [`compare::first_difference`]), then
/// showing both requests.
pub fn assert_same_requests(sent: &[ExportRequest], got: &[ExportRequest]) {
    let mut unmatched: Vec<&ExportRequest> = got.iter().collect();
    for (i, want) in sent.iter().enumerate() {
        if let Some(pos) = unmatched.iter().position(|g| *g == want) {
            unmatched.remove(pos);
            continue;
        }
        // The closest candidate: the one that agrees longest, field by field.
        let closest = unmatched
            .iter()
            .filter(|g| g.signal() == want.signal())
            .filter_map(|g| Some((compare::first_difference(want, g)?, *g)))
            .max_by_key(|(d, _)| d.path.len());
        let (difference, candidate) = closest.map_or_else(
            || ("no request of that signal left".to_owned(), String::new()),
            |(d, g)| (d.to_string(), format!("{g:#?}")),
        );
        panic!(
            "sent request #{i} ({} {}, {} items) was not received as sent \
             ({} sent, {} received): {difference}\n--- sent:\n{want:#?}\n--- closest received:\n{candidate}",
            want.signal(),
            want.encode_protobuf().len(),
            want.item_count(),
            sent.len(),
            got.len(),
        );
    }
    assert!(
        unmatched.is_empty(),
        "received {} request(s) that were never sent: {unmatched:#?}",
        unmatched.len()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_line() {
        assert_eq!(parse_ready("READY grpc=4317 http=4318"), Some((4317, 4318)));
        assert_eq!(parse_ready("READY http=1 grpc=2\n"), Some((2, 1)));
        assert_eq!(parse_ready("READY grpc=4317"), None);
        assert_eq!(parse_ready("Traceback (most recent call last):"), None);
    }

    #[test]
    fn report_lines() {
        let empty = base64::engine::general_purpose::STANDARD.encode(b"");
        let line = format!(
            r#"{{"transport":"http","signal":"logs","format":"json","encoding":"br","request_b64":"{empty}"}}"#
        );
        let Ok(Report::Received(r)) = parse_report(&line) else {
            panic!("not parsed")
        };
        assert_eq!(r.transport, ReceiverProtocol::Http);
        assert_eq!(r.signal, Signal::Logs);
        assert_eq!(r.format, Format::Json);
        assert_eq!(r.encoding, "br");
        assert_eq!(r.request.item_count(), 0);

        let Ok(Report::Refused(r)) =
            parse_report(r#"{"transport":"http","signal":null,"error":"boom"}"#)
        else {
            panic!("not parsed")
        };
        assert_eq!((r.signal, r.error.as_str()), (None, "boom"));

        assert!(parse_report("not json").is_err());
        assert!(parse_report(
            r#"{"transport":"grpc","signal":"traces","format":"protobuf","request_b64":"!!"}"#
        )
        .is_err());
    }
}

//! The Go peers: the OpenTelemetry Collector (core components v0.165.0 and
//! the contrib `probabilistic_sampler`, `redaction` and `attributes`
//! processors, built
//! from `tests/collector/main.go`) and a sender on the OpenTelemetry
//! Go SDK v1.47.0 (`tests/collector/sender`).
//!
//! `scripts/collector.sh` builds both into `target/collector/` (and does
//! nothing when they are up to date). `OTLP_INTEROP_COLLECTOR_DIR` names a
//! directory holding them already built, which skips the script. Without Go
//! the tests skip loudly, or fail with `OTLP_INTEROP_REQUIRED=1`, exactly
//! as for the Python peers (see [`skip_or_fail`](crate::skip_or_fail)).
//!
//! [`Collector::start`] runs the Collector with an `otlp` receiver on free
//! ports of 127.0.0.1 and the exporters given, each in its own pipeline of
//! each signal, so one process can forward every request to several
//! exporters at once (one per compression, say). Its own telemetry is off,
//! so several Collectors can run side by side.

use crate::{lock, HarnessError, StderrTail};
use otlp_core::{ExportRequest, Signal};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// Env var naming a directory holding `otelcol` and `otlp-go-sender`.
pub const COLLECTOR_DIR_ENV: &str = "OTLP_INTEROP_COLLECTOR_DIR";

/// The Collector core release `tests/collector/go.mod` pins.
pub const COLLECTOR_VERSION: &str = "0.165.0";

/// The OpenTelemetry Go SDK release `tests/collector/sender/go.mod` pins.
pub const GO_SDK_VERSION: &str = "1.47.0";

/// How long [`Collector::start`] waits for the receiver's ports to open.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How long [`run_go_sender`] lets the Go sender run.
pub const GO_SENDER_TIMEOUT: Duration = Duration::from_secs(60);

/// The directory with the built Go peers: `$OTLP_INTEROP_COLLECTOR_DIR`, or
/// what `scripts/collector.sh` prints (run at most once per process).
pub fn go_peers_dir() -> Result<&'static Path, HarnessError> {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match DIR.get_or_init(find_dir) {
        Ok(path) => Ok(path),
        Err(reason) => Err(HarnessError::GoUnavailable {
            reason: reason.clone(),
        }),
    }
}

fn find_dir() -> Result<PathBuf, String> {
    let has_peers =
        |dir: &Path| dir.join("otelcol").is_file() && dir.join("otlp-go-sender").is_file();
    if let Some(dir) = std::env::var_os(COLLECTOR_DIR_ENV).filter(|p| !p.is_empty()) {
        let dir = PathBuf::from(dir);
        return if has_peers(&dir) {
            Ok(dir)
        } else {
            Err(format!(
                "{COLLECTOR_DIR_ENV}={} holds no otelcol and otlp-go-sender",
                dir.display()
            ))
        };
    }
    crate::run_setup_script(
        "collector.sh",
        "; install Go 1.26 or newer to run these tests",
        has_peers,
    )
}

/// A port on 127.0.0.1 that was free a moment ago. Ports handed out in this
/// process are never handed out again, so parallel tests do not collide.
pub fn free_port() -> u16 {
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    loop {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        let mut given = lock(&GIVEN);
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// One exporter of a [`Collector`]: its component id (`otlp_grpc/gzip`)
/// and its settings as a YAML flow mapping (`{endpoint: ..., compression:
/// gzip}`).
#[derive(Debug, Clone)]
pub struct Exporter {
    /// The component id, `type[/name]`.
    pub id: String,
    /// The settings, a YAML flow mapping.
    pub config: String,
}

impl Exporter {
    /// An exporter with id `id` and settings `config` (a YAML flow mapping).
    pub fn new(id: impl Into<String>, config: impl Into<String>) -> Self {
        Exporter {
            id: id.into(),
            config: config.into(),
        }
    }
}

/// One processor of a [`Collector`]'s traces pipeline: its component id
/// (`probabilistic_sampler`, `redaction/strict`) and its settings as a
/// YAML flow mapping.
#[derive(Debug, Clone)]
pub struct Processor {
    /// The component id, `type[/name]`.
    pub id: String,
    /// The settings, a YAML flow mapping.
    pub config: String,
}

impl Processor {
    /// A processor with id `id` and settings `config` (a YAML flow mapping).
    pub fn new(id: impl Into<String>, config: impl Into<String>) -> Self {
        Processor {
            id: id.into(),
            config: config.into(),
        }
    }
}

/// The Collector running in a child process, killed when dropped.
pub struct Collector {
    child: Child,
    grpc_port: u16,
    http_port: u16,
    config: String,
    stderr: StderrTail,
}

impl std::fmt::Debug for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collector")
            .field("pid", &self.child.id())
            .field("grpc_port", &self.grpc_port)
            .field("http_port", &self.http_port)
            .finish_non_exhaustive()
    }
}

impl Collector {
    /// The configuration [`start`](Self::start) runs: an `otlp` receiver
    /// (gRPC and HTTP on the ports given) feeding, for each stable signal,
    /// one pipeline per exporter.
    pub fn config(grpc_port: u16, http_port: u16, exporters: &[Exporter]) -> String {
        Self::config_for(grpc_port, http_port, exporters, &Signal::STABLE, &[])
    }

    /// [`config`](Self::config) with pipelines for `signals`, each running
    /// `processors` in order.
    fn config_for(
        grpc_port: u16,
        http_port: u16,
        exporters: &[Exporter],
        signals: &[Signal],
        processors: &[Processor],
    ) -> String {
        let mut yaml = format!(
            "receivers:\n  otlp:\n    protocols:\n      grpc: {{endpoint: \"127.0.0.1:{grpc_port}\"}}\n      http: {{endpoint: \"127.0.0.1:{http_port}\"}}\n"
        );
        yaml.push_str("exporters:\n");
        for e in exporters {
            yaml.push_str(&format!("  {}: {}\n", e.id, e.config));
        }
        let mut steps = String::new();
        if !processors.is_empty() {
            yaml.push_str("processors:\n");
            for p in processors {
                yaml.push_str(&format!("  {}: {}\n", p.id, p.config));
            }
            let ids: Vec<&str> = processors.iter().map(|p| p.id.as_str()).collect();
            steps = format!("processors: [{}], ", ids.join(", "));
        }
        // Internal metrics would listen on :8888 in every Collector.
        yaml.push_str("service:\n  telemetry:\n    metrics: {level: none}\n  pipelines:\n");
        for signal in signals {
            for (i, e) in exporters.iter().enumerate() {
                yaml.push_str(&format!(
                    "    {signal}/{i}: {{receivers: [otlp], {steps}exporters: [{}]}}\n",
                    e.id
                ));
            }
        }
        yaml
    }

    /// Starts the Collector (see [`config`](Self::config)) and waits until
    /// its receiver listens.
    pub fn start(exporters: &[Exporter]) -> Result<Collector, HarnessError> {
        Self::start_for(exporters, &Signal::STABLE, &[], &[])
    }

    /// A Collector with only a traces pipeline per exporter, each running
    /// `processors` in order (the contrib `probabilistic_sampler` and
    /// `redaction` are built in), and waits until its receiver listens.
    pub fn start_traces_through(
        processors: &[Processor],
        exporters: &[Exporter],
    ) -> Result<Collector, HarnessError> {
        Self::start_for(exporters, &[Signal::Traces], &[], processors)
    }

    /// Like [`start_traces_through`](Self::start_traces_through), but
    /// returns `None` after printing `skipped:` when Go is unavailable and
    /// not required.
    pub fn start_traces_through_or_skip(
        processors: &[Processor],
        exporters: &[Exporter],
    ) -> Option<Collector> {
        Self::start_traces_through(processors, exporters).map_or_else(crate::skip_or_fail, Some)
    }

    /// A Collector with a pipeline per signal of `signals` and exporter,
    /// each running `processors` in order; `None` after printing
    /// `skipped:` when Go is unavailable and not required.
    pub fn start_through_or_skip(
        signals: &[Signal],
        processors: &[Processor],
        exporters: &[Exporter],
    ) -> Option<Collector> {
        Self::start_for(exporters, signals, &[], processors).map_or_else(crate::skip_or_fail, Some)
    }

    /// Like [`start`](Self::start), with a profiles pipeline per exporter
    /// too, and the feature gate the Collector needs for them
    /// (`--feature-gates=+service.profilesSupport`).
    pub fn start_with_profiles(exporters: &[Exporter]) -> Result<Collector, HarnessError> {
        Self::start_for(
            exporters,
            &Signal::ALL,
            &["--feature-gates=+service.profilesSupport"],
            &[],
        )
    }

    fn start_for(
        exporters: &[Exporter],
        signals: &[Signal],
        args: &[&str],
        processors: &[Processor],
    ) -> Result<Collector, HarnessError> {
        Self::start_with(args, |grpc_port, http_port| {
            Self::config_for(grpc_port, http_port, exporters, signals, processors)
        })
    }

    /// A Collector whose traces pipeline feeds the connector `connector`
    /// (id and settings, as a processor's) and whose metrics pipeline
    /// takes what the connector makes to `exporter`; `None` after printing
    /// `skipped:` when Go is unavailable and not required.
    pub fn start_connector_or_skip(
        connector: &Processor,
        exporter: &Exporter,
    ) -> Option<Collector> {
        Self::start_with(&[], |grpc_port, http_port| {
            format!(
                "receivers:\n  otlp:\n    protocols:\n      grpc: {{endpoint: \"127.0.0.1:{grpc_port}\"}}\n      http: {{endpoint: \"127.0.0.1:{http_port}\"}}\nexporters:\n  {}: {}\nconnectors:\n  {}: {}\nservice:\n  telemetry:\n    metrics: {{level: none}}\n  pipelines:\n    traces/in: {{receivers: [otlp], exporters: [{}]}}\n    metrics/out: {{receivers: [{}], exporters: [{}]}}\n",
                exporter.id, exporter.config, connector.id, connector.config, connector.id, connector.id, exporter.id
            )
        })
        .map_or_else(crate::skip_or_fail, Some)
    }

    /// Starts the Collector with the configuration `config` writes for
    /// the receiver's two ports, and waits until its receiver listens.
    fn start_with(
        args: &[&str],
        config: impl FnOnce(u16, u16) -> String,
    ) -> Result<Collector, HarnessError> {
        let dir = go_peers_dir()?;
        let (grpc_port, http_port) = (free_port(), free_port());
        let config = config(grpc_port, http_port);
        let mut child = crate::peer_command(&dir.join("otelcol"))
            .env("OTLP_INTEROP_COLLECTOR_CONFIG", &config)
            .arg("--config=env:OTLP_INTEROP_COLLECTOR_CONFIG")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| HarnessError::Spawn {
                what: "otelcol".into(),
                source,
            })?;
        let (stderr, _) = StderrTail::spawn(child.stderr.take().expect("stderr is piped"));
        let mut collector = Collector {
            child,
            grpc_port,
            http_port,
            config,
            stderr,
        };
        // The receiver starts last, after the exporters of its pipelines:
        // once both its ports accept, the Collector is ready.
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = collector.child.try_wait() {
                thread::sleep(Duration::from_millis(100));
                return Err(HarnessError::Exited {
                    what: format!("otelcol with config:\n{}", collector.config),
                    status: Some(status),
                    stderr: collector.stderr(),
                });
            }
            let up = |port| {
                TcpStream::connect(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)))
                    .is_ok()
            };
            if up(grpc_port) && up(http_port) {
                return Ok(collector);
            }
            if Instant::now() >= deadline {
                return Err(HarnessError::Timeout {
                    what: "otelcol receiver ports".into(),
                    after: START_TIMEOUT,
                    stderr: collector.stderr(),
                });
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Like [`start`](Self::start), but returns `None` after printing
    /// `skipped:` when Go is unavailable and not required.
    pub fn start_or_skip(exporters: &[Exporter]) -> Option<Collector> {
        Self::start(exporters).map_or_else(crate::skip_or_fail, Some)
    }

    /// The receiver's OTLP/gRPC endpoint, `http://127.0.0.1:<port>`.
    pub fn grpc_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc_port)
    }

    /// The receiver's OTLP/HTTP base URL, `http://127.0.0.1:<port>`.
    pub fn http_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// The receiver's gRPC port.
    pub fn grpc_port(&self) -> u16 {
        self.grpc_port
    }

    /// The receiver's HTTP port.
    pub fn http_port(&self) -> u16 {
        self.http_port
    }

    /// The configuration it runs.
    pub fn config_yaml(&self) -> &str {
        &self.config
    }

    /// The Collector's log so far (it logs to stderr).
    pub fn stderr(&self) -> String {
        self.stderr.get()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The protocol the Go sender exports with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GoProtocol {
    /// `otlptracegrpc`, `otlpmetricgrpc`, `otlploggrpc`.
    Grpc,
    /// `otlptracehttp`, `otlpmetrichttp`, `otlploghttp` (protobuf bodies).
    HttpProtobuf,
}

impl GoProtocol {
    /// The `--protocol` value.
    pub fn as_str(self) -> &'static str {
        match self {
            GoProtocol::Grpc => "grpc",
            GoProtocol::HttpProtobuf => "http/protobuf",
        }
    }
}

/// Runs the Go SDK sender: it exports its fixed traces, metrics and logs
/// to `addr` (`host:port`) over `protocol`, gzip-compressed if `gzip`, and
/// this returns the requests the receiver accepted, as they were sent.
pub fn run_go_sender(
    addr: SocketAddr,
    protocol: GoProtocol,
    gzip: bool,
) -> Result<Vec<ExportRequest>, HarnessError> {
    let dir = go_peers_dir()?;
    let what = "otlp-go-sender";
    let child = crate::peer_command(&dir.join(what))
        .args(["--endpoint", &addr.to_string()])
        .args(["--protocol", protocol.as_str()])
        .args(["--compression", if gzip { "gzip" } else { "none" }])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| HarnessError::Spawn {
            what: what.into(),
            source,
        })?;
    let stdout = crate::wait_for_output(child, what, GO_SENDER_TIMEOUT)?;
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            crate::parse_sent_line(line).map_err(|reason| HarnessError::BadLine {
                what: what.into(),
                reason,
                line: line.to_owned(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_has_a_pipeline_per_signal_and_exporter() {
        let exporters = [
            Exporter::new("otlp_grpc/a", "{endpoint: \"127.0.0.1:1\"}"),
            Exporter::new("debug", "{}"),
        ];
        let yaml = Collector::config(1, 2, &exporters);
        assert!(yaml.contains("grpc: {endpoint: \"127.0.0.1:1\"}"), "{yaml}");
        assert!(yaml.contains("http: {endpoint: \"127.0.0.1:2\"}"), "{yaml}");
        assert!(yaml.contains("  otlp_grpc/a: {endpoint"), "{yaml}");
        for signal in Signal::STABLE {
            assert!(
                yaml.contains(&format!(
                    "{signal}/1: {{receivers: [otlp], exporters: [debug]}}"
                )),
                "{yaml}"
            );
        }
    }

    #[test]
    fn free_ports_are_not_repeated() {
        let ports: Vec<u16> = (0..20).map(|_| free_port()).collect();
        let mut unique = ports.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ports.len());
    }
}

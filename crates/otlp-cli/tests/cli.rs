//! End-to-end tests of the `otlp` binary: each test starts the processes it
//! needs (killed on drop) on free loopback ports and checks what they print,
//! write and exit with.

use otlp_core::{ExportRequest, Format, Signal};
use otlp_interop_tests::{skip_or_fail, try_run_sender, SenderCompression, SenderProtocol};
use serde_json::Value;
use std::collections::HashMap;
use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

const OTLP: &str = env!("CARGO_BIN_EXE_otlp");

/// `otlp` with no `OTEL_*` settings leaking in from the test's environment.
fn otlp() -> Command {
    let mut cmd = Command::new(OTLP);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("OTEL_") {
            cmd.env_remove(name);
        }
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// A fresh directory for one test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("otlp-cli-{name}"));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Kills and reaps the child when dropped, so a failing test leaves no
/// process behind.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl KillOnDrop {
    fn wait_timeout(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "still running after {limit:?}");
            thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Runs `otlp args..` to completion, failing the test if it takes longer
/// than `limit`.
fn run(args: &[&str], limit: Duration) -> Output {
    let child = otlp()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut guard = KillOnDrop(child);
    // Drain the pipes on threads so a chatty child cannot block on them.
    let mut out = guard.0.stdout.take().unwrap();
    let mut err = guard.0.stderr.take().unwrap();
    let out = thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut out, &mut v).unwrap();
        v
    });
    let err = thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut err, &mut v).unwrap();
        v
    });
    let status = guard.wait_timeout(limit);
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A running `otlp receive` on free ports, recording to `out.jsonl`.
struct Receive {
    child: KillOnDrop,
    dir: PathBuf,
    grpc: String,
    http: String,
}

impl Receive {
    fn start(dir: &Path) -> Receive {
        let ready = dir.join("ready");
        let child = otlp()
            .args(["receive", "--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0"])
            .arg("--out")
            .arg(dir.join("out.jsonl"))
            .arg("--ready-file")
            .arg(&ready)
            .stdout(fs::File::create(dir.join("stdout")).unwrap())
            .stderr(fs::File::create(dir.join("stderr")).unwrap())
            .spawn()
            .unwrap();
        let mut child = KillOnDrop(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        let addrs = loop {
            if let Ok(s) = fs::read_to_string(&ready) {
                break s;
            }
            if let Some(status) = child.0.try_wait().unwrap() {
                panic!(
                    "otlp receive exited with {status}: {}",
                    fs::read_to_string(dir.join("stderr")).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "otlp receive never got ready");
            thread::sleep(Duration::from_millis(20));
        };
        let addr = |key: &str| {
            let line = addrs.lines().find_map(|l| l.strip_prefix(key)).unwrap();
            format!("http://{line}")
        };
        Receive {
            grpc: addr("grpc="),
            http: addr("http="),
            child,
            dir: dir.to_owned(),
        }
    }

    fn endpoint(&self, protocol: &str) -> &str {
        if protocol == "grpc" {
            &self.grpc
        } else {
            &self.http
        }
    }

    /// Stops it with SIGTERM, expects a clean exit, and returns its stdout
    /// and the JSON lines it recorded.
    fn stop(mut self) -> (String, Vec<Value>) {
        let pid = self.child.0.id().to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(killed.success());
        let status = self.child.wait_timeout(Duration::from_secs(20));
        let stdout = fs::read_to_string(self.dir.join("stdout")).unwrap();
        let stderr = fs::read_to_string(self.dir.join("stderr")).unwrap();
        assert!(
            status.success(),
            "otlp receive: {status}\n{stdout}\n{stderr}"
        );
        assert!(stdout.contains("totals:"), "{stdout}");
        let lines = fs::read_to_string(self.dir.join("out.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("each line is a JSON object"))
            .collect();
        (stdout, lines)
    }
}

fn field<'a>(line: &'a Value, name: &str) -> &'a str {
    line[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name}: {line}"))
}

/// The recorded request of a line, decoded from its OTLP/JSON; checks that
/// its item count is the line's "items".
fn request(line: &Value) -> ExportRequest {
    let signal: Signal = field(line, "signal").parse().unwrap();
    assert!(line["request"].is_object(), "request is embedded as JSON");
    let json = line["request"].to_string();
    let request = ExportRequest::decode(signal, Format::Json, json.as_bytes()).unwrap();
    assert_eq!(request.item_count() as u64, line["items"].as_u64().unwrap());
    request
}

/// Sends every signal with every compression over `protocol` through
/// `otlp send` to `otlp receive`, and checks the file holds exactly what
/// was sent.
fn send_to_receive(protocol: &str, compressions: &[&str]) {
    const N: u64 = 300;
    let dir = scratch(&format!("send-{}", protocol.replace('/', "-")));
    let receive = Receive::start(&dir);
    for &compression in compressions {
        for signal in Signal::ALL {
            let n = N.to_string();
            let args = [
                "send",
                "--endpoint",
                receive.endpoint(protocol),
                "--protocol",
                protocol,
                "--compression",
                compression,
                "--signal",
                signal.as_str(),
                "--count",
                &n,
                "--batch-size",
                "128",
                "--workers",
                "2",
            ];
            let out = run(&args, Duration::from_secs(60));
            assert!(
                out.status.success(),
                "{args:?}: {}\n{}",
                out.status,
                text(&out.stderr)
            );
            let summary = text(&out.stdout);
            assert!(summary.starts_with(&format!("{N} of {N} ")), "{summary}");
        }
    }
    let (stdout, lines) = receive.stop();

    let transport = if protocol == "grpc" { "grpc" } else { "http" };
    let format = if protocol == "http/json" {
        "json"
    } else {
        "protobuf"
    };
    let mut items: HashMap<(String, String), u64> = HashMap::new();
    for line in &lines {
        assert_eq!(field(line, "transport"), transport);
        assert_eq!(field(line, "format"), format);
        assert!(line["wire_bytes"].as_u64().unwrap() > 0);
        assert!(line["decoded_bytes"].as_u64().unwrap() > 0);
        request(line);
        let key = (
            field(line, "signal").to_owned(),
            field(line, "compression").to_owned(),
        );
        *items.entry(key).or_default() += line["items"].as_u64().unwrap();
    }
    for &compression in compressions {
        for signal in Signal::ALL {
            let key = (signal.as_str().to_owned(), compression.to_owned());
            assert_eq!(items.get(&key), Some(&N), "{key:?} in\n{stdout}");
        }
    }
    assert_eq!(items.len(), compressions.len() * 3, "{items:?}");
    let total = N * compressions.len() as u64;
    // One printed line per request, then the totals.
    let (per_request, totals) = stdout.split_once("totals:").unwrap();
    let printed = per_request
        .lines()
        .filter(|l| l.contains(" B decoded"))
        .count();
    assert_eq!(printed, lines.len(), "{stdout}");
    for signal in Signal::ALL {
        let line = totals
            .lines()
            .find(|l| l.trim_start().starts_with(signal.as_str()))
            .unwrap();
        assert!(line.contains(&format!(" {total} items")), "{line}");
    }
}

#[test]
fn send_to_receive_over_grpc() {
    send_to_receive("grpc", &["none", "gzip", "zstd"]);
}

#[test]
fn send_to_receive_over_http_protobuf() {
    send_to_receive("http/protobuf", &["none", "gzip", "zstd", "brotli"]);
}

#[test]
fn send_to_receive_over_http_json() {
    send_to_receive("http/json", &["none", "gzip", "zstd", "brotli"]);
}

#[test]
fn demo_receives_everything_it_sends() {
    let out = run(&["demo", "--count", "200"], Duration::from_secs(120));
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{stdout}\n{}",
        out.status,
        text(&out.stderr)
    );
    let rows: Vec<Vec<&str>> = stdout
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|cols| cols.len() == 6 && cols[0].starts_with(['g', 'h']))
        .collect();
    assert_eq!(rows.len(), 11, "{stdout}");
    for row in rows {
        let sent: u64 = row[2].parse().unwrap();
        let received: u64 = row[3].parse().unwrap();
        assert_eq!(sent, 600, "{row:?}");
        assert_eq!(received, sent, "{row:?}");
    }
}

/// The official Python SDK exporters (gRPC and HTTP/protobuf, none and
/// gzip) export to `otlp receive`, and its file holds, request for request,
/// what they sent.
#[test]
fn python_sdk_exports_to_receive() {
    let dir = scratch("python");
    let receive = Receive::start(&dir);
    let mut sent: HashMap<(Signal, &str, &str), Vec<ExportRequest>> = HashMap::new();
    for protocol in SenderProtocol::ALL {
        for compression in SenderCompression::ALL {
            for signal in Signal::ALL {
                let (endpoint, transport) = match protocol {
                    SenderProtocol::Grpc => (&receive.grpc, "grpc"),
                    SenderProtocol::HttpProtobuf => (&receive.http, "http"),
                };
                match try_run_sender(endpoint, protocol, compression, signal) {
                    Ok(requests) => {
                        assert!(!requests.is_empty(), "{signal}: Python sent nothing");
                        sent.insert((signal, transport, compression.as_str()), requests);
                    }
                    Err(e) => {
                        skip_or_fail::<()>(e);
                        return;
                    }
                }
            }
        }
    }
    let (_, lines) = receive.stop();
    let mut got: HashMap<(Signal, &str, &str), Vec<ExportRequest>> = HashMap::new();
    for line in &lines {
        let signal: Signal = field(line, "signal").parse().unwrap();
        let transport = if field(line, "transport") == "grpc" {
            "grpc"
        } else {
            "http"
        };
        let compression = if field(line, "compression") == "gzip" {
            "gzip"
        } else {
            "none"
        };
        assert_eq!(field(line, "format"), "protobuf");
        got.entry((signal, transport, compression))
            .or_default()
            .push(request(line));
    }
    assert_eq!(got.len(), sent.len(), "{:?}", got.keys());
    for (key, requests) in &sent {
        otlp_interop_tests::assert_same_requests(requests, &got[key]);
    }
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn send_to_a_closed_port_fails_quickly_and_clearly() {
    let endpoint = format!("http://127.0.0.1:{}", closed_port());
    for (protocol, signal, unit) in [
        ("grpc", "traces", "spans"),
        ("http/protobuf", "metrics", "metric data points"),
        ("http/json", "logs", "log records"),
    ] {
        let started = Instant::now();
        let args = [
            "send",
            "--endpoint",
            &endpoint,
            "--protocol",
            protocol,
            "--signal",
            signal,
            "--count",
            "1000",
            "--timeout",
            "3s",
        ];
        // Well past the 3 s timeout, to tell a hang from a slow machine.
        let out = run(&args, Duration::from_secs(30));
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        let expected = format!("otlp send: 0 of 1000 {unit} delivered to {endpoint}: ");
        assert!(stderr.starts_with(&expected), "{stderr}");
        assert!(stderr.contains("connection refused"), "{stderr}");
        eprintln!("{protocol} {signal}: failed in {:?}", started.elapsed());
    }
}

#[test]
fn bad_arguments_exit_2_with_one_line() {
    let cases: &[(&[&str], &str)] = &[
        (&["send", "--protocol", "udp"], "udp"),
        (&["send", "--compression", "lz4"], "lz4"),
        (&["send", "--signal", "profiles"], "profiles"),
        (&["send", "--endpoint", "http://bad host:4318"], "bad host"),
        (&["send", "--endpoint", "ftp://collector:21"], "ftp"),
        (
            &["send", "--protocol", "grpc", "--compression", "brotli"],
            "brotli",
        ),
        (&["send", "--count", "many"], "many"),
        (&["send", "--batch-size", "0"], "batch-size"),
        (&["send", "--timeout", "soon"], "soon"),
        (&["receive", "--grpc", "nowhere"], "nowhere"),
        (&["demo", "--frobnicate"], "frobnicate"),
        (&["frobnicate"], "frobnicate"),
    ];
    for (args, named) in cases {
        let out = run(args, Duration::from_secs(30));
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(named), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains(" { "),
            "{stderr}"
        );
    }
}

#[test]
fn receive_on_a_taken_port_fails_with_one_line() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = run(
        &["receive", "--grpc", &addr, "--http", "127.0.0.1:0"],
        Duration::from_secs(30),
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&addr), "{stderr}");
}

#[test]
fn every_subcommand_has_help() {
    for command in ["receive", "send", "demo"] {
        let out = run(&[command, "--help"], Duration::from_secs(30));
        assert!(out.status.success());
        let help = text(&out.stdout);
        assert!(help.contains(&format!("Usage: otlp {command}")), "{help}");
    }
    let out = run(&["--help"], Duration::from_secs(30));
    assert!(out.status.success());
}

//! End-to-end tests of the `otlp` binary: each test starts the processes it
//! needs (killed on drop) on free loopback ports and checks what they print,
//! write and exit with.

use otlp_core::{ExportRequest, Format, Signal};
use otlp_interop_tests::collector::{Collector, Exporter};
use otlp_interop_tests::{skip_or_fail, try_run_sender, SenderCompression, SenderProtocol};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

mod support;
use support::{low_port, otlp, scratch, KillOnDrop, OTLP};

/// Runs `otlp args..` to completion, failing the test if it takes longer
/// than `limit`.
fn run(args: &[&str], limit: Duration) -> Output {
    let mut command = otlp();
    command.args(args);
    run_command(command, limit)
}

/// [`run`] for a command made ready by the caller.
fn run_command(mut command: Command, limit: Duration) -> Output {
    let child = command
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
        Receive::start_at(dir, "127.0.0.1:0")
    }

    /// Serves OTLP/gRPC on `grpc` (HTTP on a free port).
    fn start_at(dir: &Path, grpc: &str) -> Receive {
        Receive::start_with(dir, grpc, "127.0.0.1:0", &[])
    }

    /// Serves on the given addresses, with more `otlp receive` arguments.
    fn start_with(dir: &Path, grpc: &str, http: &str, more: &[&str]) -> Receive {
        let ready = dir.join("ready");
        let _ = fs::remove_file(&ready);
        let child = otlp()
            .args(["receive", "--grpc", grpc, "--http", http])
            .args(more)
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
    fn stop(self) -> (String, Vec<Value>) {
        let (stdout, recorded) = self.stop_raw();
        let lines = recorded
            .lines()
            .map(|l| serde_json::from_str(l).expect("each line is a JSON object"))
            .collect();
        (stdout, lines)
    }

    /// [`Receive::stop`], with the recorded lines as they are in the file
    /// (parsing tens of megabytes of JSON would take a while).
    fn stop_raw(mut self) -> (String, String) {
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
        let recorded = fs::read_to_string(self.dir.join("out.jsonl")).unwrap_or_default();
        (stdout, recorded)
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
        for signal in Signal::STABLE {
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
        for signal in Signal::STABLE {
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
    for signal in Signal::STABLE {
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

/// `otlp receive --tls-cert --tls-key --auth-tokens` serves both protocols
/// over TLS to clients with a token: `otlp send` to its `https://`
/// endpoints, trusting the CA through `OTEL_EXPORTER_OTLP_CERTIFICATE` and
/// sending a token through `OTEL_EXPORTER_OTLP_HEADERS`, delivers
/// everything, recorded with the token's tenant; without the CA or
/// without a token it fails.
#[test]
fn send_to_receive_over_tls_with_a_token() {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let dir = scratch("send-tls");
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&server_key, &Issuer::new(ca_params, ca_key))
        .unwrap();
    let (ca_file, cert_file, key_file) = (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    );
    fs::write(&ca_file, ca.pem()).unwrap();
    fs::write(&cert_file, server.pem()).unwrap();
    fs::write(&key_file, server_key.serialize_pem()).unwrap();
    let tokens = dir.join("tokens");
    fs::write(
        &tokens,
        "# tenant token\nteam-a secret-a\n\nteam-b secret-b\n",
    )
    .unwrap();
    let receive = Receive::start_with(
        &dir,
        "127.0.0.1:0",
        "127.0.0.1:0",
        &[
            "--tls-cert",
            cert_file.to_str().unwrap(),
            "--tls-key",
            key_file.to_str().unwrap(),
            "--auth-tokens",
            tokens.to_str().unwrap(),
        ],
    );
    let send = |protocol: &str, ca: Option<&Path>, token: Option<&str>| {
        let endpoint = receive
            .endpoint(protocol)
            .replacen("http://", "https://", 1);
        let mut command = otlp();
        command.args([
            "send",
            "--endpoint",
            &endpoint,
            "--protocol",
            protocol,
            "--count",
            "50",
            "--timeout",
            "3s",
        ]);
        command.env_remove("OTEL_EXPORTER_OTLP_CERTIFICATE");
        command.env_remove("OTEL_EXPORTER_OTLP_HEADERS");
        if let Some(ca) = ca {
            command.env("OTEL_EXPORTER_OTLP_CERTIFICATE", ca);
        }
        if let Some(token) = token {
            command.env(
                "OTEL_EXPORTER_OTLP_HEADERS",
                format!("authorization=Bearer%20{token}"),
            );
        }
        let out = run_command(command, Duration::from_secs(60));
        (out.status.success(), text(&out.stdout), text(&out.stderr))
    };
    for protocol in ["grpc", "http/protobuf"] {
        let (ok, stdout, stderr) = send(protocol, Some(&ca_file), Some("secret-a"));
        assert!(ok, "{protocol}: {stdout}\n{stderr}");
        assert!(stdout.starts_with("50 of 50 "), "{protocol}: {stdout}");
        let (ok, stdout, _) = send(protocol, None, Some("secret-a"));
        assert!(!ok, "{protocol} without the CA: {stdout}");
        let (ok, stdout, _) = send(protocol, Some(&ca_file), None);
        assert!(!ok, "{protocol} without a token: {stdout}");
    }
    let (stdout, lines) = receive.stop();
    assert!(stdout.contains("(TLS)"), "{stdout}");
    assert!(stdout.contains(" tenant team-a"), "{stdout}");
    let items: u64 = lines.iter().map(|l| l["items"].as_u64().unwrap()).sum();
    assert_eq!(items, 100, "{stdout}");
    assert!(lines.iter().all(|l| l["tenant"] == "team-a"), "{lines:?}");
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
            for signal in Signal::STABLE {
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

/// `otlp send` to the OpenTelemetry Collector (every signal, over gRPC,
/// HTTP/protobuf and HTTP/JSON) exits 0 with every item accepted, and the
/// Collector's `otlp_grpc` exporter forwards it all to `otlp receive
/// --out F`: F holds every item, each span exactly once.
#[test]
fn send_through_the_collector_to_receive() {
    const N: u64 = 250;
    let dir = scratch("collector");
    let receive = Receive::start(&dir);
    let grpc = receive.grpc.trim_start_matches("http://");
    let out = Exporter::new(
        "otlp_grpc/receive",
        format!(
            "{{endpoint: \"{grpc}\", tls: {{insecure: true}}, compression: gzip, \
             sending_queue: {{enabled: false}}, retry_on_failure: {{enabled: false}}}}"
        ),
    );
    let collector = match Collector::start(&[out]) {
        Ok(collector) => collector,
        Err(e) => return skip_or_fail(e).unwrap_or(()),
    };
    // SRT to a stock Collector: it never offers SRT, so the exporter
    // sends OTLP + zstd, which the Collector accepts.
    let protocols = [
        ("grpc", "none", collector.grpc_endpoint()),
        ("http/protobuf", "none", collector.http_endpoint()),
        ("http/json", "none", collector.http_endpoint()),
        ("grpc", "srt", collector.grpc_endpoint()),
        ("http/protobuf", "srt", collector.http_endpoint()),
    ];
    for (protocol, compression, endpoint) in &protocols {
        for signal in Signal::STABLE {
            let n = N.to_string();
            let args = [
                "send",
                "--endpoint",
                endpoint,
                "--protocol",
                protocol,
                "--compression",
                compression,
                "--signal",
                signal.as_str(),
                "--count",
                &n,
                "--batch-size",
                "100",
            ];
            let out = run(&args, Duration::from_secs(60));
            assert!(
                out.status.success(),
                "{args:?}: {}\n{}\n{}",
                out.status,
                text(&out.stderr),
                collector.stderr()
            );
            let summary = text(&out.stdout);
            assert!(summary.starts_with(&format!("{N} of {N} ")), "{summary}");
        }
    }
    let (_, recorded) = receive.stop_raw();
    let mut items: HashMap<String, u64> = HashMap::new();
    let mut traces = String::new();
    for line in recorded.lines() {
        let line_json: Value = serde_json::from_str(line).unwrap();
        assert_eq!(field(&line_json, "transport"), "grpc");
        assert_eq!(field(&line_json, "compression"), "gzip");
        request(&line_json);
        let signal = field(&line_json, "signal").to_owned();
        if signal == "traces" {
            traces.push_str(line);
            traces.push('\n');
        }
        *items.entry(signal).or_default() += line_json["items"].as_u64().unwrap();
    }
    let sent = N * protocols.len() as u64;
    for signal in Signal::STABLE {
        assert_eq!(
            items.get(signal.as_str()),
            Some(&sent),
            "{signal}: {items:?}"
        );
    }
    let ids = received_span_ids(&traces);
    assert_eq!(ids.len() as u64, sent);
    assert!(ids.values().all(|&n| n == 1), "a span arrived twice");
}

/// The spans and the compressions of what `otlp receive` recorded.
fn spans_and_compressions(recorded: &str) -> (HashMap<String, u32>, HashMap<String, usize>) {
    let mut compressions = HashMap::new();
    for line in recorded.lines() {
        let line: Value = serde_json::from_str(line).unwrap();
        *compressions
            .entry(field(&line, "compression").to_owned())
            .or_default() += 1;
    }
    (received_span_ids(recorded), compressions)
}

/// `otlp send --compression srt` to an `otlp receive` that forwards it all,
/// as SRT again, to a second `otlp receive`: the first request of each
/// stream goes as OTLP + zstd and learns that the receiver offers SRT, the
/// rest as SRT frames, over gRPC and HTTP; both receivers hold every span
/// exactly once.
#[test]
fn srt_from_send_through_a_forwarding_receive() {
    const N: usize = 6_000;
    let dir = scratch("srt-relay");
    let (first, last) = (dir.join("first"), dir.join("last"));
    fs::create_dir_all(&first).unwrap();
    fs::create_dir_all(&last).unwrap();
    let end = Receive::start(&last);
    let relay = Receive::start_with(
        &first,
        "127.0.0.1:0",
        "127.0.0.1:0",
        &[
            "--forward",
            &end.grpc,
            "--forward-protocol",
            "grpc",
            "--forward-compression",
            "srt",
        ],
    );
    for protocol in ["grpc", "http/protobuf"] {
        let n = (N / 2).to_string();
        let args = [
            "send",
            "--endpoint",
            relay.endpoint(protocol),
            "--protocol",
            protocol,
            "--compression",
            "srt",
            "--count",
            &n,
            "--batch-size",
            "256",
        ];
        let out = run(&args, Duration::from_secs(60));
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        assert!(text(&out.stdout).starts_with(&format!("{n} of {n} ")));
    }
    let (relay_stdout, relayed) = relay.stop_raw();
    assert!(
        relay_stdout.contains(&format!(
            "forwarded traces{N:>12} accepted, {N:>9} exported"
        )),
        "{relay_stdout}"
    );
    let (_, arrived) = end.stop_raw();
    for (what, recorded) in [("relay", &relayed), ("end", &arrived)] {
        let (ids, compressions) = spans_and_compressions(recorded);
        assert_eq!(ids.len(), N, "{what}: distinct spans");
        assert!(
            ids.values().all(|&n| n == 1),
            "{what}: a span arrived twice"
        );
        let frames = compressions.get("srt").copied().unwrap_or_default();
        let plain = compressions.get("zstd").copied().unwrap_or_default();
        assert!(frames > plain, "{what}: {compressions:?}");
        assert_eq!(
            frames + plain,
            recorded.lines().count(),
            "{what}: {compressions:?}"
        );
    }
}

/// A receiver restarted in the middle of an SRT stream knows nothing of
/// it: the stream's next frame is refused with a resync, and the sender
/// starts a fresh stream; nothing is lost.
#[test]
fn srt_survives_a_receiver_restart() {
    const N: usize = 20_000;
    let dir = scratch("srt-restart");
    // A port the sender's attempts while the receiver is down cannot take.
    let receive = Receive::start_at(&dir, &format!("127.0.0.1:{}", low_port()));
    let port = receive.grpc.rsplit(':').next().unwrap().to_owned();
    let n = N.to_string();
    let args = [
        "send",
        "--endpoint",
        &receive.grpc,
        "--protocol",
        "grpc",
        "--compression",
        "srt",
        "--count",
        &n,
        "--rate",
        "4000",
        "--batch-size",
        "200",
        "--timeout",
        "60s",
    ];
    let mut send = Background::start(&dir, "send", &args);
    // Half way (by what has arrived), stop the receiver and start another
    // on the same port.
    let out = dir.join("out.jsonl");
    // Whole lines only: the receiver may be appending one as it is read.
    let arrived = || {
        fs::read_to_string(&out).map_or(0, |s| {
            let whole = s.rfind('\n').map_or("", |end| &s[..=end]);
            received_span_ids(whole).len()
        })
    };
    assert!(
        poll(Duration::from_secs(60), || arrived() >= N / 2),
        "{}",
        send.output()
    );
    assert!(send.is_running(), "{}", send.output());
    let (_, before) = receive.stop_raw();
    fs::rename(&out, dir.join("before.jsonl")).unwrap();
    let receive = Receive::start_with(&dir, &format!("127.0.0.1:{port}"), "127.0.0.1:0", &[]);
    let summary = send.succeeds(Duration::from_secs(80));
    assert!(summary.starts_with(&format!("{N} of {N} ")), "{summary}");
    let (_, after) = receive.stop_raw();
    let (_, compressions) = spans_and_compressions(&after);
    assert!(compressions.contains_key("srt"), "{compressions:?}");
    assert_all_arrived(&format!("{before}{after}"), N, "srt across a restart");
}

#[test]
fn send_to_a_closed_port_fails_quickly_and_clearly() {
    let endpoint = format!("http://127.0.0.1:{}", low_port());
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
        // Only a persistent queue can be drained.
        (&["send", "--count", "0"], "--persist"),
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

/// `otlp send` started in the background, its output going to files in
/// `dir` (named after `name`).
struct Background {
    child: KillOnDrop,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Background {
    fn start(dir: &Path, name: &str, args: &[&str]) -> Background {
        let stdout = dir.join(format!("{name}.stdout"));
        let stderr = dir.join(format!("{name}.stderr"));
        let child = otlp()
            .args(args)
            .stdout(fs::File::create(&stdout).unwrap())
            .stderr(fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        Background {
            child: KillOnDrop(child),
            stdout,
            stderr,
        }
    }

    fn is_running(&mut self) -> bool {
        self.child.0.try_wait().unwrap().is_none()
    }

    fn output(&self) -> String {
        let read = |p: &Path| fs::read_to_string(p).unwrap_or_default();
        format!(
            "stdout:\n{}\nstderr:\n{}",
            read(&self.stdout),
            read(&self.stderr)
        )
    }

    /// Waits for it to exit, expecting success; returns its stdout.
    fn succeeds(mut self, limit: Duration) -> String {
        let status = self.child.wait_timeout(limit);
        assert!(status.success(), "otlp send: {status}\n{}", self.output());
        fs::read_to_string(&self.stdout).unwrap()
    }
}

/// How often each span id arrived, over every trace request `otlp receive`
/// recorded (one compact JSON object per line, as `--out` writes them).
/// Read as text: each span has one `"spanId"` key (a parent's is
/// `"parentSpanId"`), and each line's count must be its `"items"`.
fn received_span_ids(recorded: &str) -> HashMap<String, u32> {
    const KEY: &str = "\"spanId\":\"";
    let mut ids = HashMap::new();
    for line in recorded.lines() {
        assert!(line.contains("\"signal\":\"traces\""), "{line:.200}");
        let items: u64 = line
            .split_once("\"items\":")
            .and_then(|(_, rest)| rest.split([',', '}']).next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no item count: {line:.200}"));
        let mut n = 0;
        for (at, _) in line.match_indices(KEY) {
            let rest = &line[at + KEY.len()..];
            let id = &rest[..rest.find('"').unwrap()];
            assert_eq!(id.len(), 16, "{id}");
            *ids.entry(id.to_ascii_lowercase()).or_default() += 1;
            n += 1;
        }
        assert_eq!(n, items, "{line:.200}");
    }
    ids
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The trace batch records in a persistent queue directory (`DIR/traces`),
/// read straight from its segment files, oldest first.
///
/// This knows the on-disk format (otlp-resilience's segment files holding
/// otlp-exporter's batch records) so that a test can tell what reached the
/// disk without trusting the code under test; it is strict, so a format
/// change fails the test rather than making it vacuous. A record cut short
/// at the end of a segment (a write interrupted by a kill) is skipped, as
/// recovery skips it. Nothing is acked in the tests that use it (the
/// endpoint is down), so the ack logs are not read.
fn records_on_disk(dir: &Path) -> Vec<Vec<u8>> {
    let mut segments: Vec<PathBuf> = match fs::read_dir(dir.join("traces")) {
        Ok(entries) => entries
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "log"))
            .collect(),
        Err(_) => return Vec::new(),
    };
    segments.sort();
    let mut records = Vec::new();
    for segment in segments {
        let data = fs::read(&segment).unwrap();
        if data.len() < 16 {
            continue; // being created
        }
        assert_eq!(&data[..6], b"OTLPDQ", "{}", segment.display());
        let mut at = 16;
        while let Some(frame) = data.get(at..at + 8) {
            let len = u32::from_le_bytes(frame[..4].try_into().unwrap()) as usize;
            let Some(record) = data.get(at + 8..at + 8 + len) else {
                break; // cut short
            };
            at += 8 + len;
            // Batch header: version 1, signal 0 (traces), compression 0
            // (none), reserved, item count (u64 LE); then the request.
            assert_eq!(&record[..4], &[1, 0, 0, 0], "{}", segment.display());
            records.push(record.to_vec());
        }
    }
    records
}

fn record_items(record: &[u8]) -> u64 {
    u64::from_le_bytes(record[4..12].try_into().unwrap())
}

/// The batches on disk, as the span ids of each (see [`records_on_disk`]).
fn batches_on_disk(dir: &Path) -> Vec<Vec<String>> {
    records_on_disk(dir)
        .iter()
        .map(|record| {
            let request =
                ExportRequest::decode(Signal::Traces, Format::Protobuf, &record[12..]).unwrap();
            let ExportRequest::Traces(request) = request else {
                unreachable!()
            };
            let ids: Vec<String> = request
                .resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .flat_map(|ss| &ss.spans)
                .map(|span| hex(&span.span_id))
                .collect();
            assert_eq!(ids.len() as u64, record_items(record));
            ids
        })
        .collect()
}

/// Spans on disk, by the batches' own counts.
fn items_on_disk(dir: &Path) -> u64 {
    records_on_disk(dir).iter().map(|r| record_items(r)).sum()
}

/// Polls `ready` every 100 ms until it holds or `limit` passes; whether it
/// held.
fn poll(limit: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if ready() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// Checks that exactly `count` distinct spans arrived, and returns them
/// (duplicates are allowed by at-least-once delivery, and reported).
fn assert_all_arrived(recorded: &str, count: usize, what: &str) -> HashMap<String, u32> {
    let ids = received_span_ids(recorded);
    let total: u32 = ids.values().sum();
    eprintln!(
        "{what}: {} distinct spans received in {} requests, {} duplicates",
        ids.len(),
        recorded.lines().count(),
        total as usize - ids.len()
    );
    assert_eq!(ids.len(), count, "{what}: distinct spans received");
    ids
}

/// An endpoint that is down the way a restarting collector often is: it
/// accepts each connection and closes it at once, so every attempt fails
/// with a retryable error. It counts the connections, so a test can wait
/// until the sender has tried again and again, rather than for a time.
struct HangUp {
    port: u16,
    connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    accepting: Option<thread::JoinHandle<()>>,
}

impl HangUp {
    fn start() -> HangUp {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let accepting = {
            let (connections, stop) = (Arc::clone(&connections), Arc::clone(&stop));
            thread::spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            connections.fetch_add(1, Ordering::AcqRel);
                            drop(stream);
                        }
                        Err(_) => thread::sleep(Duration::from_millis(10)),
                    }
                }
            })
        };
        HangUp {
            port,
            connections,
            stop,
            accepting: Some(accepting),
        }
    }

    /// Waits until `send` has connected [`RETRIED`] times (for at most 80
    /// s), and checks that it has not given up.
    fn wait_for_retries(&self, send: &mut Background) {
        let connections = || self.connections.load(Ordering::Acquire);
        assert!(
            poll(Duration::from_secs(80), || connections() >= RETRIED),
            "{} connections to the failing endpoint\n{}",
            connections(),
            send.output()
        );
        assert!(send.is_running(), "gave up early:\n{}", send.output());
    }
}

impl Drop for HangUp {
    /// Stops listening, so that the port is free for a receiver.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(accepting) = self.accepting.take() {
            let _ = accepting.join();
        }
    }
}

/// Connections to a [`HangUp`] endpoint that show the sender kept
/// retrying: past the first burst (the gRPC client reconnects at once a
/// few times), into the attempts paced by backoff and the circuit breaker.
const RETRIED: usize = 12;

/// The endpoint fails every attempt until the sender has retried many
/// times: the in-memory queue retries (within --timeout), the sender does
/// not give up, and every span arrives once the endpoint is up.
#[test]
fn send_outlasts_an_endpoint_outage() {
    const N: usize = 50_000;
    let dir = scratch("outage-memory");
    let down = HangUp::start();
    let port = down.port;
    let endpoint = format!("http://127.0.0.1:{port}");
    let n = N.to_string();
    let args = [
        "send",
        "--endpoint",
        &endpoint,
        "--protocol",
        "grpc",
        "--count",
        &n,
        "--timeout",
        "90s",
    ];
    let started = Instant::now();
    let mut send = Background::start(&dir, "send", &args);
    down.wait_for_retries(&mut send);
    drop(down);
    let receive = Receive::start_at(&dir, &format!("127.0.0.1:{port}"));
    let summary = send.succeeds(Duration::from_secs(80));
    assert!(summary.starts_with(&format!("{N} of {N} ")), "{summary}");
    let (_, recorded) = receive.stop_raw();
    assert_all_arrived(&recorded, N, "memory queue");
    eprintln!("{summary}\nin {:?}", started.elapsed());
}

/// The same outage with --persist: generating does not wait for the
/// endpoint (every span is on disk while it is still down, and memory holds
/// only the SDK's small queue), and every span arrives once it is up.
#[test]
fn send_persists_through_an_endpoint_outage() {
    const N: usize = 50_000;
    let dir = scratch("outage-disk");
    let queue = dir.join("queue");
    let down = HangUp::start();
    let port = down.port;
    let endpoint = format!("http://127.0.0.1:{port}");
    let n = N.to_string();
    let args = [
        "send",
        "--endpoint",
        &endpoint,
        "--protocol",
        "grpc",
        "--count",
        &n,
        "--batch-size",
        "100",
        "--timeout",
        "90s",
        "--persist",
        queue.to_str().unwrap(),
    ];
    let started = Instant::now();
    let mut send = Background::start(&dir, "send", &args);
    // Down until everything is on disk and the sender retried many times.
    let on_disk = poll(Duration::from_secs(30), || {
        items_on_disk(&queue) == N as u64
    });
    assert!(
        on_disk,
        "{} of {N} spans on disk\n{}",
        items_on_disk(&queue),
        send.output()
    );
    let generated_in = started.elapsed();
    down.wait_for_retries(&mut send);
    drop(down);
    let receive = Receive::start_at(&dir, &format!("127.0.0.1:{port}"));
    let summary = send.succeeds(Duration::from_secs(80));
    assert!(summary.starts_with(&format!("{N} of {N} ")), "{summary}");
    assert!(
        summary.contains(", 0 batches (0 bytes) on disk"),
        "{summary}"
    );
    let (_, recorded) = receive.stop_raw();
    assert_all_arrived(&recorded, N, "disk queue");
    eprintln!(
        "{summary}\nall on disk after {generated_in:?}, done in {:?}",
        started.elapsed()
    );
}

/// A run killed with SIGKILL loses nothing it had put on disk: the next run
/// on the directory (`--count 0`) delivers every one of those spans.
#[test]
fn a_killed_run_is_delivered_by_the_next() {
    let dir = scratch("kill");
    let queue = dir.join("queue");
    let queue_arg = queue.to_str().unwrap();
    let down = format!("http://127.0.0.1:{}", low_port());
    let started = Instant::now();
    let mut first = Background::start(
        &dir,
        "first",
        &[
            "send",
            "--endpoint",
            &down,
            "--protocol",
            "grpc",
            "--persist",
            queue_arg,
            "--count",
            "20000",
            "--rate",
            "20000",
            "--timeout",
            "60s",
        ],
    );
    // A few batches on disk (of the 40 it would write), so it is killed
    // while it still generates and writes.
    let some = poll(Duration::from_secs(20), || items_on_disk(&queue) >= 2_000);
    assert!(some, "nothing on disk\n{}", first.output());

    // The directory is its alone while it runs.
    let second = run(
        &[
            "send",
            "--endpoint",
            &down,
            "--persist",
            queue_arg,
            "--count",
            "0",
        ],
        Duration::from_secs(30),
    );
    let stderr = text(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("already in use"), "{stderr}");

    assert!(first.is_running(), "{}", first.output());
    first.child.0.kill().unwrap(); // SIGKILL
    first.child.0.wait().unwrap();
    let batches = batches_on_disk(&queue);
    let on_disk: HashSet<String> = batches.iter().flatten().cloned().collect();
    let items: usize = batches.iter().map(Vec::len).sum();
    assert_eq!(on_disk.len(), items, "span ids are unique");
    eprintln!(
        "killed after {:?} with {} batches ({items} spans) on disk",
        started.elapsed(),
        batches.len()
    );

    let receive = Receive::start(&dir);
    let out = run(
        &[
            "send",
            "--endpoint",
            &receive.grpc,
            "--protocol",
            "grpc",
            "--persist",
            queue_arg,
            "--count",
            "0",
            "--timeout",
            "60s",
        ],
        Duration::from_secs(90),
    );
    let summary = text(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{summary}\n{}",
        out.status,
        text(&out.stderr)
    );
    // It reports what it found: exactly what the test read from disk.
    let found = format!(" spans from {} batches found on disk", batches.len());
    assert!(
        summary.lines().next().unwrap().contains(&found),
        "{summary}"
    );
    let (_, recorded) = receive.stop_raw();
    let received = assert_all_arrived(&recorded, on_disk.len(), "after SIGKILL");
    let missing = on_disk
        .iter()
        .filter(|id| !received.contains_key(*id))
        .count();
    assert_eq!(missing, 0, "spans on disk that never arrived");
    assert!(batches_on_disk(&queue).is_empty(), "the queue is empty");
    eprintln!("{summary}\nin {:?}", started.elapsed());
}

/// An `otlp receive` started with `args` (and `--ready-file`, on free
/// ports), its stderr in `dir/stderr`; returns it and its HTTP address.
fn receive_with(dir: &Path, args: &[&str], stdout: Stdio) -> (KillOnDrop, String) {
    receive_via(dir, otlp(), args, stdout)
}

/// [`receive_with`], started by `sh -c "{prelude}; exec otlp ..."`.
fn receive_after(dir: &Path, prelude: &str, args: &[&str]) -> (KillOnDrop, String) {
    let mut sh = Command::new("sh");
    sh.args(["-c", &format!("{prelude}; exec \"$0\" \"$@\""), OTLP]);
    receive_via(dir, sh, args, Stdio::null())
}

fn receive_via(
    dir: &Path,
    mut command: Command,
    args: &[&str],
    stdout: Stdio,
) -> (KillOnDrop, String) {
    let ready = dir.join("ready");
    let child = command
        .stdin(Stdio::null())
        .args(["receive", "--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0"])
        .args(args)
        .arg("--ready-file")
        .arg(&ready)
        .stdout(stdout)
        .stderr(fs::File::create(dir.join("stderr")).unwrap())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    assert!(
        poll(Duration::from_secs(20), || ready.exists()
            || child.0.try_wait().unwrap().is_some()),
        "otlp receive never got ready"
    );
    let addrs = fs::read_to_string(&ready)
        .unwrap_or_else(|_| panic!("{}", fs::read_to_string(dir.join("stderr")).unwrap()));
    let http = addrs.lines().find_map(|l| l.strip_prefix("http=")).unwrap();
    (child, http.to_owned())
}

/// POSTs `body` to `path` over HTTP/1.1 and returns the whole response.
fn post(addr: &str, path: &str, content_type: &str, body: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    text(&response)
}

fn gauge_json(point: &str) -> String {
    format!(
        r#"{{"resourceMetrics":[{{"scopeMetrics":[{{"metrics":[{{"name":"g","gauge":{{"dataPoints":[{point}]}}}}]}}]}}]}}"#
    )
}

#[test]
fn receive_keeps_answering_once_stdout_is_closed() {
    let dir = scratch("closed-stdout");
    let (mut child, http) = receive_with(&dir, &[], Stdio::piped());
    // `otlp receive | head -1`: read the first line, then close the pipe.
    let mut stdout = std::io::BufReader::new(child.0.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut first).unwrap();
    assert!(first.starts_with("otlp receive:"), "{first}");
    drop(stdout);
    for _ in 0..5 {
        let response = post(&http, "/v1/traces", "application/json", b"{}");
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    }
    assert!(child.0.try_wait().unwrap().is_none(), "otlp receive exited");
    let stderr = fs::read_to_string(dir.join("stderr")).unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        stderr.matches("cannot print to stdout").count(),
        1,
        "{stderr}"
    );
}

#[test]
fn receive_on_a_full_disk_answers_503_naming_the_cause() {
    if !Path::new("/dev/full").exists() {
        return; // Linux only
    }
    let dir = scratch("full-disk");
    let (child, http) = receive_with(&dir, &["--out", "/dev/full", "-q"], Stdio::null());
    let response = post(&http, "/v1/traces", "application/json", b"{}");
    assert!(response.starts_with("HTTP/1.1 503"), "{response}");
    let stderr = fs::read_to_string(dir.join("stderr")).unwrap();
    assert!(stderr.contains("No space left on device"), "{stderr}");
    drop(child);
}

/// `--out` at a file size limit: every record in the file is whole, and
/// there is one per request that was answered 200 (none for a 503).
#[test]
fn out_records_are_whole_or_absent_when_the_file_cannot_grow() {
    let dir = scratch("file-limit");
    let out = dir.join("out.jsonl");
    // A 64 KiB file size limit (sh counts 512-byte blocks; bash 1 KiB ones:
    // either way the records do not fit), with SIGXFSZ ignored so that the
    // write fails instead of the process dying.
    let (child, http) = receive_after(
        &dir,
        "trap '' XFSZ; ulimit -f 128",
        &["-q", "--out", out.to_str().unwrap()],
    );
    let http = http.as_str();
    let name = "x".repeat(3000);
    let body =
        format!(r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"name":"{name}"}}]}}]}}]}}"#);
    let (mut accepted, mut refused) = (0, 0);
    for _ in 0..100 {
        let response = post(http, "/v1/traces", "application/json", body.as_bytes());
        if response.starts_with("HTTP/1.1 200") {
            accepted += 1;
        } else {
            assert!(response.starts_with("HTTP/1.1 503"), "{response}");
            refused += 1;
        }
    }
    assert!(
        accepted > 0 && refused > 0,
        "{accepted} accepted, {refused} refused"
    );
    let recorded = fs::read_to_string(&out).unwrap();
    assert!(recorded.ends_with('\n'), "a cut-off record was left");
    let lines: Vec<&str> = recorded.lines().collect();
    assert_eq!(lines.len(), accepted);
    for line in lines {
        let record: Value = serde_json::from_str(line).expect("a whole record");
        assert_eq!(record["items"], 1);
    }
    let stderr = fs::read_to_string(dir.join("stderr")).unwrap();
    assert!(stderr.contains("File too large"), "{stderr}");
    drop(child);
}

#[test]
fn otlp_json_values_follow_the_spec() {
    let dir = scratch("json-values");
    let out = dir.join("out.jsonl");
    let (child, http) = receive_with(&dir, &["-q", "--out", out.to_str().unwrap()], Stdio::null());
    // NaN and the infinities are accepted and written back as such.
    for special in ["NaN", "Infinity", "-Infinity"] {
        let body = gauge_json(&format!(r#"{{"asDouble":"{special}"}}"#));
        let response = post(&http, "/v1/metrics", "application/json", body.as_bytes());
        assert!(
            response.starts_with("HTTP/1.1 200"),
            "{special}: {response}"
        );
    }
    // Protobuf NaN too.
    let nan = ExportRequest::decode(
        Signal::Metrics,
        Format::Json,
        gauge_json(r#"{"asDouble":"NaN"}"#).as_bytes(),
    )
    .unwrap()
    .encode_protobuf();
    let response = post(&http, "/v1/metrics", "application/x-protobuf", &nan);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let recorded = fs::read_to_string(&out).unwrap();
    let doubles: Vec<&str> = recorded
        .lines()
        .map(|l| {
            let start = l.find(r#""asDouble":"#).expect(l) + 11;
            l[start..].split('}').next().unwrap()
        })
        .collect();
    assert_eq!(
        doubles,
        [r#""NaN""#, r#""Infinity""#, r#""-Infinity""#, r#""NaN""#]
    );

    // Out of range, wrong length, wrong shape: 400 naming the field.
    let spans =
        |span: &str| format!(r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{span}]}}]}}]}}"#);
    let cases = [
        (
            "/v1/metrics",
            gauge_json(r#"{"asInt":"9223372036854775808"}"#),
            "dataPoints[0].asInt",
        ),
        (
            "/v1/traces",
            spans(r#"{"traceId":"01"}"#),
            "spans[0].traceId",
        ),
        (
            "/v1/traces",
            spans(&format!(r#"{{"spanId":"{}"}}"#, "ab".repeat(32))),
            "spans[0].spanId",
        ),
        ("/v1/traces", "[]".to_owned(), "request"),
        ("/v1/traces", format!("[{}]", spans("{}")), "request"),
    ];
    for (path, body, field) in cases {
        let response = post(&http, path, "application/json", body.as_bytes());
        assert!(response.starts_with("HTTP/1.1 400"), "{body}: {response}");
        assert!(response.contains(field), "{body}: {response}");
    }
    assert_eq!(fs::read_to_string(&out).unwrap().lines().count(), 4);
    drop(child);
}

#[test]
fn send_numbers_out_of_range_exit_2() {
    let cases: &[(&[&str], &str)] = &[
        (&["send", "--rate", "1e-20"], "1e-20"),
        (&["send", "--rate", "NaN"], "NaN"),
        (
            &["send", "--batch-size", "18446744073709551615"],
            "18446744073709551615",
        ),
        (&["send", "--batch-size", "100000000"], "100000000"),
        (&["send", "--workers", "100000"], "100000"),
        (&["send", "--count", "-1"], "-1"),
        (&["send", "--timeout", "1e300"], "1e300"),
        (&["send", "--timeout", "2h"], "2h"),
        (&["demo", "--count", "0"], "0"),
        (&["receive", "--max-items", "0"], "max-items"),
        (
            &["receive", "--max-message-size", "9999999999999999999999"],
            "max-message-size",
        ),
        (&["receive", "--idle-timeout", "0s"], "idle-timeout"),
        (&["receive", "--max-connections", "0"], "max-connections"),
        (&["receive", "--backlog", "70000"], "backlog"),
    ];
    for (args, named) in cases {
        let out = run(args, Duration::from_secs(30));
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(named), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn send_refuses_bad_timeouts_and_reserved_headers_from_the_environment() {
    let cases = [
        (
            "OTEL_EXPORTER_OTLP_TIMEOUT",
            "18446744073709551615",
            "OTEL_EXPORTER_OTLP_TIMEOUT",
        ),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "content-length=5",
            "content-length",
        ),
        ("OTEL_EXPORTER_OTLP_HEADERS", ":path=/x", ":path"),
    ];
    for (name, value, named) in cases {
        let child = otlp()
            .args(["send", "--count", "1", "--endpoint", "http://127.0.0.1:9"])
            .env(name, value)
            .output()
            .unwrap();
        let stderr = text(&child.stderr);
        assert_eq!(child.status.code(), Some(2), "{name}={value}: {stderr}");
        assert!(stderr.contains(named), "{name}={value}: {stderr}");
    }
}

/// Settings not given as flags are those the exporter resolves from the
/// `OTEL_EXPORTER_OTLP_*` variables: a protocol that cannot carry the
/// compression is refused, and a failure names the endpoint the exporter
/// sent to.
#[test]
fn send_takes_the_settings_the_exporter_resolves_from_the_environment() {
    let out = otlp()
        .args(["send", "--count", "1", "--compression", "brotli"])
        .args(["--endpoint", "http://127.0.0.1:9"])
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("brotli") && stderr.contains("gRPC"),
        "{stderr}"
    );

    let endpoint = format!("http://127.0.0.1:{}/v1/traces", low_port());
    let out = otlp()
        .args(["send", "--count", "10"])
        .env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &endpoint)
        .env("OTEL_EXPORTER_OTLP_TIMEOUT", "1000")
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let expected = format!("otlp send: 0 of 10 spans delivered to {endpoint}: ");
    assert!(stderr.starts_with(&expected), "{stderr}");
    assert!(stderr.contains("connection refused"), "{stderr}");
}

/// A receiver that answers every request 503: the failure names the
/// status, not only that items were left unsent.
#[test]
fn send_failure_names_the_last_error() {
    if !Path::new("/dev/full").exists() {
        return; // the 503s come from --out on /dev/full
    }
    let dir = scratch("send-last-error");
    let (child, http) = receive_with(&dir, &["--out", "/dev/full", "-q"], Stdio::null());
    let out = run(
        &[
            "send",
            "--endpoint",
            &format!("http://{http}"),
            "--count",
            "10",
            "--timeout",
            "2s",
        ],
        Duration::from_secs(120),
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("503"), "{stderr}");
    drop(child);
}

/// A send that cannot succeed says why: HTTP spoken to the gRPC port, or
/// an endpoint without a scheme (so TLS against a plaintext receiver).
#[test]
fn send_failures_name_protocol_and_scheme_mistakes() {
    let dir = scratch("send-mistakes");
    let receive = Receive::start(&dir);
    let grpc = receive.endpoint("grpc").to_owned();
    let http = receive.endpoint("http").to_owned();
    let bare = http.trim_start_matches("http://").to_owned();
    // The gRPC port's HTTP/2 server sends its SETTINGS frame first; the
    // HTTP/1.1 client reads it as a bad response or, when it arrives before
    // the request is written, as an unexpected message: either names it.
    let cases: [(&str, &[&str]); 2] = [
        (
            grpc.as_str(),
            &["invalid HTTP version", "received unexpected message"],
        ),
        (bare.as_str(), &["no scheme"]),
    ];
    for (endpoint, named) in cases {
        let out = run(
            &[
                "send",
                "--endpoint",
                endpoint,
                "--count",
                "2",
                "--timeout",
                "1s",
            ],
            Duration::from_secs(120),
        );
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{endpoint}: {stderr}");
        assert!(
            named.iter().any(|word| stderr.contains(word)),
            "{endpoint}: expected one of {named:?} in: {stderr}"
        );
    }
    drop(receive);
}

/// A loopback server that answers every connection with `answer` (after
/// reading what the client sent), or closes it at once when `answer` is
/// empty; runs until the test ends.
fn answering_server(answer: &'static [u8]) -> u16 {
    use std::io::{Read, Write};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            thread::spawn(move || {
                let mut buf = [0; 64 * 1024];
                let _ = stream.read(&mut buf);
                let _ = stream.write_all(answer);
                // With an answer, wait for the client to hang up, so that it
                // reads the answer rather than a reset.
                while !answer.is_empty() && matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
            });
        }
    });
    port
}

/// A send that cannot succeed says why, for the peers that used to end in
/// a bare "still unsent": a garbage response, a connection closed without
/// an answer, and a TLS server whose self-signed certificate does not verify
/// (`openssl s_server`, a peer no one here wrote).
#[test]
fn send_failures_name_garbage_closed_connections_and_tls_verification() {
    let garbage = answering_server(b"garbage garbage\r\n\r\n");
    let closing = answering_server(b"");
    let dir = scratch("send-tls");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl (Debian package openssl) makes the test certificate");
    assert!(made.success());
    let tls = low_port();
    let _server = KillOnDrop(
        Command::new("openssl")
            .args([
                "s_server",
                "-quiet",
                "-www",
                "-accept",
                &tls.to_string(),
                "-cert",
            ])
            .arg(&cert)
            .arg("-key")
            .arg(&key)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(
        poll(Duration::from_secs(30), || std::net::TcpStream::connect((
            "127.0.0.1",
            tls
        ))
        .is_ok()),
        "openssl s_server did not start"
    );
    let (garbage, closing, tls) = (
        format!("http://127.0.0.1:{garbage}"),
        format!("http://127.0.0.1:{closing}"),
        format!("https://127.0.0.1:{tls}"),
    );
    // What each client library calls it; any one of the words will do.
    let cases: [(&str, &str, &[&str]); 6] = [
        (&garbage, "http/protobuf", &["invalid HTTP version"]),
        (
            &garbage,
            "grpc",
            &["http2 error", "frame with invalid size"],
        ),
        (&closing, "http/protobuf", &["connection closed"]),
        (
            &closing,
            "grpc",
            &["broken pipe", "connection closed", "connection reset"],
        ),
        (&tls, "http/protobuf", &["invalid peer certificate"]),
        (&tls, "grpc", &["invalid peer certificate"]),
    ];
    for (endpoint, protocol, named) in cases {
        let out = run(
            &[
                "send",
                "--endpoint",
                endpoint,
                "--protocol",
                protocol,
                "--count",
                "2",
                "--timeout",
                "1s",
            ],
            Duration::from_secs(120),
        );
        let stderr = text(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{endpoint} {protocol}: {stderr}"
        );
        assert!(
            named.iter().any(|word| stderr.contains(word)),
            "{endpoint} {protocol}: expected one of {named:?} in: {stderr}"
        );
    }
}

/// `otlp receive --forward ... --processors FILE`: a gateway that samples
/// and strips an attribute before forwarding; the relay records everything
/// it accepted, the end only what the processors kept, and the relay's
/// totals account for every span.
#[test]
fn a_forwarding_receive_runs_the_processors() {
    const N: usize = 4_000;
    let dir = scratch("processors-relay");
    let (first, last) = (dir.join("first"), dir.join("last"));
    fs::create_dir_all(&first).unwrap();
    fs::create_dir_all(&last).unwrap();
    let config = dir.join("processors.toml");
    fs::write(
        &config,
        "[[processor]]\n\
         type = \"probabilistic_sampler\"\n\
         mode = \"proportional\"\n\
         sampling_percentage = 50.0\n\
         \n\
         [[processor]]\n\
         type = \"attributes\"\n\
         [[processor.actions]]\n\
         key = \"client.address\"\n\
         action = \"delete\"\n\
         \n\
         [[processor]]\n\
         type = \"span_metrics\"\n",
    )
    .unwrap();
    let end = Receive::start(&last);
    let config_arg = config.to_str().unwrap();
    let relay = Receive::start_with(
        &first,
        "127.0.0.1:0",
        "127.0.0.1:0",
        &["--forward", &end.grpc, "--processors", config_arg],
    );
    let n = N.to_string();
    let args = [
        "send",
        "--endpoint",
        &relay.grpc,
        "--protocol",
        "grpc",
        "--count",
        &n,
        "--batch-size",
        "200",
    ];
    let out = run(&args, Duration::from_secs(60));
    assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    let (relay_stdout, relayed) = relay.stop_raw();
    let (_, arrived) = end.stop_raw();
    let relayed = received_span_ids(&relayed);
    // The end gets the kept spans, and the span metrics derived from them.
    let (arrived, metrics): (Vec<&str>, Vec<&str>) = arrived
        .lines()
        .partition(|l| l.contains("\"signal\":\"traces\""));
    let arrived = arrived.join("\n");
    let kept = received_span_ids(&arrived);
    assert_eq!(relayed.len(), N);
    assert!(
        kept.len() > N / 4 && kept.len() < 3 * N / 4,
        "{}",
        kept.len()
    );
    assert!(kept.keys().all(|id| relayed.contains_key(id)));
    assert!(kept.values().all(|&n| n == 1));
    let removed = N - kept.len();
    assert!(
        relay_stdout.contains(&format!(
            "forwarded traces{N:>12} accepted, {:>9} exported, {:>9} dropped, {:>9} queued, {removed:>9} removed by processors",
            kept.len(), 0, 0
        )),
        "{relay_stdout}"
    );
    assert!(
        relay_stdout.contains(&format!(
            "removed by probabilistic_sampler (not_sampled): {removed}"
        )),
        "{relay_stdout}"
    );
    assert!(!arrived.contains("client.address"));
    assert!(arrived.contains("http.route"));
    // The span metrics derived from the kept spans went on too, counted
    // apart: every data point accepted was delivered.
    let derived = relay_stdout
        .lines()
        .find(|l| l.starts_with("derived  metrics"))
        .unwrap_or_else(|| panic!("no derived metrics line: {relay_stdout}"));
    let numbers: Vec<u64> = derived
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    let [accepted, exported, dropped, queued] = numbers[..] else {
        panic!("{derived}")
    };
    assert!(accepted > 0 && accepted == exported, "{derived}");
    assert_eq!((dropped, queued), (0, 0), "{derived}");
    let points: u64 = metrics
        .iter()
        .map(|l| {
            assert!(l.contains("\"signal\":\"metrics\""), "{l:.200}");
            let items = l.split_once("\"items\":").unwrap().1;
            items[..items.find(',').unwrap()].parse::<u64>().unwrap()
        })
        .sum();
    assert_eq!(points, exported);
}

/// A processors file with a mistake is refused before anything starts,
/// naming the file and the line.
#[test]
fn a_bad_processors_file_names_the_line() {
    let dir = scratch("processors-bad");
    let config = dir.join("bad.toml");
    fs::write(
        &config,
        "[[processor]]\ntype = \"redaction\"\nblocked_values = [\"(unclosed\"]\n",
    )
    .unwrap();
    let out = run(
        &[
            "receive",
            "--grpc",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--forward",
            "http://127.0.0.1:1",
            "--processors",
            config.to_str().unwrap(),
        ],
        Duration::from_secs(20),
    );
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("bad.toml: line 3"), "{err}");
}

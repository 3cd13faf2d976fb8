//! Proves the harness before other tests rely on it: known requests, sent
//! by clients that share no code with `receiver.py` or with each other,
//! must come back from `PythonReceiver` exactly as sent.
//!
//! - a plain HTTP/1.1 client written here on a `TcpStream` (protobuf and
//!   JSON bodies, every content encoding, one keep-alive connection);
//! - tonic's generated OTLP gRPC clients (uncompressed and gzip);
//! - the official OTLP/JSON examples from opentelemetry-proto;
//! - `sender.py`, the Python SDK's own exporters, whose reported requests
//!   must be what the receiver decoded.

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use otlp_core::{ExportRequest, Format, Signal};
use otlp_interop_tests::{
    assert_same_requests, run_sender, sample, PythonReceiver, ReceiverProtocol, SenderCompression,
    SenderProtocol,
};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

/// A minimal HTTP/1.1 client on one keep-alive connection: nothing in it
/// comes from an HTTP library, so it cannot share a bug with the receiver.
struct PlainHttp {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

struct Response {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

impl PlainHttp {
    fn connect(addr: SocketAddr) -> PlainHttp {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(WAIT)).expect("timeout");
        PlainHttp {
            writer: stream.try_clone().expect("clone"),
            reader: BufReader::new(stream),
        }
    }

    fn post(&mut self, path: &str, content_type: &str, encoding: &str, body: &[u8]) -> Response {
        let mut head = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n\
             Content-Length: {}\r\n",
            body.len()
        );
        if encoding != "none" {
            head.push_str(&format!("Content-Encoding: {encoding}\r\n"));
        }
        head.push_str("\r\n");
        self.writer.write_all(head.as_bytes()).expect("write head");
        self.writer.write_all(body).expect("write body");

        let mut status_line = String::new();
        self.reader
            .read_line(&mut status_line)
            .expect("status line");
        let status = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
        let (mut length, mut content_type) = (0, String::new());
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).expect("header");
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').expect("header line");
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().expect("length"),
                "content-type" => content_type = value.trim().to_owned(),
                _ => {}
            }
        }
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body).expect("body");
        Response {
            status,
            content_type,
            body,
        }
    }
}

fn compress(encoding: &str, data: &[u8]) -> Vec<u8> {
    match encoding {
        "none" => data.to_vec(),
        "gzip" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        // HTTP's "deflate" is the zlib format (RFC 9110 8.4.1.2).
        "deflate" => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        "zstd" => zstd::encode_all(data, 3).unwrap(),
        "br" => {
            let mut out = Vec::new();
            {
                let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
                w.write_all(data).unwrap();
            }
            out
        }
        other => panic!("no encoder for {other}"),
    }
}

const ENCODINGS: [&str; 5] = ["none", "gzip", "deflate", "zstd", "br"];

#[test]
fn decodes_protobuf_over_plain_http_with_every_encoding() {
    let Some(rx) = PythonReceiver::start_or_skip() else {
        return;
    };
    let mut http = PlainHttp::connect(rx.http_addr());
    let mut expected = Vec::new();
    for signal in Signal::STABLE {
        let request = sample::request(signal);
        for encoding in ENCODINGS {
            let body = compress(encoding, &request.encode_protobuf());
            let resp = http.post(
                signal.http_path(),
                "application/x-protobuf",
                encoding,
                &body,
            );
            assert_eq!(resp.status, 200, "{signal} {encoding}: {:?}", rx.refused());
            assert_eq!(resp.content_type, "application/x-protobuf");
            // An empty Export*ServiceResponse serializes to no bytes.
            assert!(resp.body.is_empty(), "{signal} {encoding}: {:?}", resp.body);
            expected.push((signal, encoding, request.clone()));
        }
    }
    let got = rx.wait_for(expected.len(), WAIT);
    assert_eq!(got.len(), expected.len());
    for (r, (signal, encoding, request)) in got.iter().zip(&expected) {
        assert_eq!(r.transport, ReceiverProtocol::Http);
        assert_eq!(r.signal, *signal);
        assert_eq!(r.format, Format::Protobuf);
        assert_eq!(r.encoding, *encoding);
        assert_eq!(r.request, *request, "{signal} {encoding}");
    }
    assert!(rx.refused().is_empty());
}

/// Our OTLP/JSON encoder (otlp-core) against the Python protobuf runtime's
/// JSON parser, with hex ids as OTLP/JSON prescribes.
#[test]
fn decodes_otlp_json_over_plain_http() {
    let Some(rx) = PythonReceiver::start_or_skip() else {
        return;
    };
    let mut http = PlainHttp::connect(rx.http_addr());
    for (i, signal) in Signal::STABLE.into_iter().enumerate() {
        let request = sample::request(signal);
        let json = request.to_json();
        let encoding = ["none", "gzip", "zstd"][i];
        let resp = http.post(
            signal.http_path(),
            "application/json",
            encoding,
            &compress(encoding, json.as_bytes()),
        );
        assert_eq!(resp.status, 200, "{signal}: {:?}", rx.refused());
        assert_eq!(resp.content_type, "application/json");
        assert_eq!(resp.body, b"{}");
        let got = rx.wait_for(i + 1, WAIT);
        assert_eq!(got[i].format, Format::Json);
        assert_eq!(got[i].encoding, encoding);
        assert_eq!(got[i].request, request, "{signal} via JSON:\n{json}");
    }
}

/// The official OTLP/JSON examples (opentelemetry-proto `examples/`, kept
/// in the shared fixtures beside the repository): the Python parser and
/// otlp-core's decoder must read them the same.
#[test]
fn official_json_examples_decode_alike() {
    let dir = otlp_interop_tests::repo_root().join("../shared/fixtures/otlp-json");
    if !dir.is_dir() {
        eprintln!("no {}; nothing to compare", dir.display());
        return;
    }
    let Some(rx) = PythonReceiver::start_or_skip() else {
        return;
    };
    let mut http = PlainHttp::connect(rx.http_addr());
    let cases = [
        ("trace.json", Signal::Traces),
        ("metrics.json", Signal::Metrics),
        ("logs.json", Signal::Logs),
        ("events.json", Signal::Logs),
    ];
    for (i, (file, signal)) in cases.into_iter().enumerate() {
        let path: PathBuf = dir.join(file);
        let json = std::fs::read(&path).expect("read fixture");
        let ours = ExportRequest::decode(signal, Format::Json, &json).expect("otlp-core decodes");
        assert!(ours.item_count() > 0, "{file}");
        let resp = http.post(signal.http_path(), "application/json", "none", &json);
        assert_eq!(resp.status, 200, "{file}: {:?}", rx.refused());
        let got = rx.wait_for(i + 1, WAIT);
        assert_eq!(got[i].request, ours, "{file}");
    }
}

#[test]
fn refuses_what_it_cannot_read() {
    let Some(rx) = PythonReceiver::start_or_skip() else {
        return;
    };
    let cases: [(&str, &str, &str, &[u8], u16); 4] = [
        (
            "/v1/traces",
            "application/x-protobuf",
            "none",
            b"\xff\xff\xff",
            400,
        ),
        (
            "/v1/logs",
            "application/x-protobuf",
            "gzip",
            b"not gzip",
            400,
        ),
        (
            "/v1/metrics",
            "application/json",
            "none",
            b"{\"resourceMetrics\": 7}",
            400,
        ),
        ("/v1/traces", "text/plain", "none", b"hello", 415),
    ];
    for (path, content_type, encoding, body, status) in cases {
        // A refusal may close the connection, so each case gets its own.
        let mut http = PlainHttp::connect(rx.http_addr());
        let resp = http.post(path, content_type, encoding, body);
        assert_eq!(resp.status, status, "{path} {content_type} {encoding}");
    }
    // Refusals are reported, never passed off as received requests.
    let mut http = PlainHttp::connect(rx.http_addr());
    let ok = sample::request(Signal::Logs);
    let resp = http.post(
        "/v1/logs",
        "application/x-protobuf",
        "none",
        &ok.encode_protobuf(),
    );
    assert_eq!(resp.status, 200);
    let got = rx.wait_for(1, WAIT);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].request, ok);
    assert_eq!(rx.refused().len(), cases.len());
}

#[tokio::test]
async fn decodes_grpc_from_tonic_clients() {
    let Some(rx) = PythonReceiver::start_or_skip() else {
        return;
    };
    let endpoint = rx.grpc_endpoint();
    let mut sent = Vec::new();
    for gzip in [false, true] {
        let mut traces = TraceServiceClient::connect(endpoint.clone()).await.unwrap();
        let mut metrics = MetricsServiceClient::connect(endpoint.clone())
            .await
            .unwrap();
        let mut logs = LogsServiceClient::connect(endpoint.clone()).await.unwrap();
        if gzip {
            let gzip = tonic::codec::CompressionEncoding::Gzip;
            traces = traces.send_compressed(gzip);
            metrics = metrics.send_compressed(gzip);
            logs = logs.send_compressed(gzip);
        }
        traces.export(sample::traces()).await.expect("traces");
        metrics.export(sample::metrics()).await.expect("metrics");
        logs.export(sample::logs()).await.expect("logs");
        sent.extend(Signal::STABLE.map(sample::request));
    }
    let got = tokio::task::spawn_blocking(move || rx.wait_for(6, WAIT))
        .await
        .unwrap();
    assert!(got.iter().all(|r| r.transport == ReceiverProtocol::Grpc));
    let got: Vec<_> = got.into_iter().map(|r| r.request).collect();
    assert_eq!(got, sent);
}

/// `sender.py` reports exactly what its exporters put on the wire: the
/// receiver decoded the same messages.
#[test]
fn python_sender_reports_what_python_receiver_gets() {
    let Some(rx) = PythonReceiver::start_or_skip() else {
        return;
    };
    let mut sent = Vec::new();
    for protocol in SenderProtocol::ALL {
        let endpoint = match protocol {
            SenderProtocol::Grpc => rx.grpc_endpoint(),
            SenderProtocol::HttpProtobuf => rx.http_endpoint(),
        };
        for signal in Signal::STABLE {
            let requests = run_sender(&endpoint, protocol, SenderCompression::Gzip, signal);
            assert!(!requests.is_empty());
            assert!(requests.iter().all(|r| r.signal() == signal));
            sent.extend(requests);
        }
    }
    let got = rx.wait_for(sent.len(), WAIT);
    assert!(got
        .iter()
        .filter(|r| r.transport == ReceiverProtocol::Http)
        .all(|r| r.encoding == "gzip"));
    assert_same_requests(&sent, &rx.wait_for_requests(sent.len(), WAIT));
}

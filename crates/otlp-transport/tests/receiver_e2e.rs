//! The OTLP receiver end to end: real clients (tonic's generated OTLP
//! clients, hyper's HTTP/1.1 and h2c client) against a receiver on
//! 127.0.0.1:0, with good requests, scripted replies and hostile input.

use bytes::{BufMut, Bytes, BytesMut};
use flate2::{Compress, Crc, FlushCompress};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use otlp_compression::Algorithm;
use otlp_core::proto::collector::logs::v1::ExportLogsServiceRequest;
use otlp_core::proto::collector::metrics::v1::ExportMetricsServiceRequest;
use otlp_core::proto::collector::profiles::v1development::ExportProfilesServiceRequest;
use otlp_core::proto::collector::trace::v1::ExportTraceServiceRequest;
use otlp_core::proto::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use otlp_core::proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use otlp_core::proto::metrics::v1::{metric, number_data_point, Gauge, Metric, NumberDataPoint};
use otlp_core::proto::metrics::v1::{ResourceMetrics, ScopeMetrics};
use otlp_core::proto::profiles::v1development as profiles;
use otlp_core::proto::resource::v1::Resource;
use otlp_core::proto::trace::v1::{ResourceSpans, ScopeSpans, Span};
use otlp_core::{ExportRequest, Format, Signal};
use otlp_transport::receiver::{
    ReceivedRequest, Receiver, ReceiverProtocol, Reply, RunningReceiver,
};
use prost::Message;
use std::collections::VecDeque;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;
use tonic::Code;

const MIB: usize = 1 << 20;
/// What the bombs inflate to, in MiB: over 1 GiB.
const BOMB_MIB: usize = 1100;
/// The cap the hostile-input tests configure: above the bombs' wire size,
/// far below what they inflate to.
const LIMIT: usize = 2 * MIB;

fn localhost() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..Default::default()
    }
}

fn resource() -> Option<Resource> {
    Some(Resource {
        attributes: vec![kv("service.name", "checkout")],
        ..Default::default()
    })
}

fn scope() -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: "receiver-test".to_owned(),
        ..Default::default()
    })
}

fn traces(span_name: &str) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(),
            scope_spans: vec![ScopeSpans {
                scope: scope(),
                spans: vec![Span {
                    trace_id: vec![7; 16],
                    span_id: vec![9; 8],
                    name: span_name.to_owned(),
                    kind: 2,
                    start_time_unix_nano: 1_700_000_000_000_000_000,
                    end_time_unix_nano: 1_700_000_000_250_000_000,
                    attributes: vec![kv("http.route", "/cart")],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn samples() -> [ExportRequest; 4] {
    let metrics = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource(),
            scope_metrics: vec![ScopeMetrics {
                scope: scope(),
                metrics: vec![Metric {
                    name: "queue.depth".to_owned(),
                    data: Some(metric::Data::Gauge(Gauge {
                        data_points: vec![NumberDataPoint {
                            time_unix_nano: 1_700_000_000_000_000_000,
                            value: Some(number_data_point::Value::AsInt(42)),
                            ..Default::default()
                        }],
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let logs = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource(),
            scope_logs: vec![ScopeLogs {
                scope: scope(),
                log_records: vec![LogRecord {
                    time_unix_nano: 1_700_000_000_000_000_000,
                    severity_number: 9,
                    body: Some(AnyValue {
                        value: Some(any_value::Value::StringValue("cart updated".to_owned())),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    // One CPU profile of one sample: `main -> burn`.
    let profiles = ExportProfilesServiceRequest {
        resource_profiles: vec![profiles::ResourceProfiles {
            resource: resource(),
            scope_profiles: vec![profiles::ScopeProfiles {
                scope: scope(),
                profiles: vec![profiles::Profile {
                    sample_type: Some(profiles::ValueType {
                        type_strindex: 1,
                        unit_strindex: 2,
                    }),
                    samples: vec![profiles::Sample {
                        stack_index: 0,
                        values: vec![3],
                        ..Default::default()
                    }],
                    time_unix_nano: 1_700_000_000_000_000_000,
                    profile_id: vec![5; 16],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
        dictionary: Some(profiles::ProfilesDictionary {
            location_table: vec![
                profiles::Location {
                    address: 0x1000,
                    ..Default::default()
                },
                profiles::Location {
                    address: 0x2000,
                    ..Default::default()
                },
            ],
            string_table: ["", "samples", "count"].map(String::from).to_vec(),
            stack_table: vec![profiles::Stack {
                location_indices: vec![0, 1],
            }],
            ..Default::default()
        }),
    };
    [
        ExportRequest::Traces(traces("GET /cart")),
        ExportRequest::Metrics(metrics),
        ExportRequest::Logs(logs),
        ExportRequest::Profiles(profiles),
    ]
}

/// `google.rpc.Status` with `RetryInfo`, to check the details the server sends.
#[derive(Clone, PartialEq, Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<Any>,
}

#[derive(Clone, PartialEq, Message)]
struct Any {
    #[prost(string, tag = "1")]
    type_url: String,
    #[prost(message, optional, tag = "2")]
    retry_info: Option<RetryInfo>,
}

#[derive(Clone, PartialEq, Message)]
struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    retry_delay: Option<ProtoDuration>,
}

#[derive(Clone, PartialEq, Message)]
struct ProtoDuration {
    #[prost(int64, tag = "1")]
    seconds: i64,
    #[prost(int32, tag = "2")]
    nanos: i32,
}

/// A single-member gzip stream of 1100 MiB of zeros, about 1 MiB long,
/// built from one deflated MiB repeated: a full flush makes each copy
/// independent of the data before it, so nothing has to deflate 1100 MiB
/// (which takes a debug build 20 s).
fn gzip_bomb() -> Vec<u8> {
    let zeros = vec![0; MIB];
    let mut deflate = Compress::new(flate2::Compression::best(), false);
    let mut block = Vec::with_capacity(MIB);
    deflate
        .compress_vec(&zeros, &mut block, FlushCompress::Full)
        .unwrap();
    assert_eq!(deflate.total_in(), MIB as u64);
    let mut end = Vec::with_capacity(64);
    deflate
        .compress_vec(&[], &mut end, FlushCompress::Finish)
        .unwrap();
    let (mut crc, mut block_crc) = (Crc::new(), Crc::new());
    block_crc.update(&zeros);
    let mut bomb = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    for _ in 0..BOMB_MIB {
        bomb.extend_from_slice(&block);
        crc.combine(&block_crc);
    }
    bomb.extend_from_slice(&end);
    bomb.extend_from_slice(&crc.sum().to_le_bytes());
    bomb.extend_from_slice(&crc.amount().to_le_bytes());
    bomb
}

/// A zstd stream of 1100 MiB of zeros, streamed through the encoder.
fn zstd_bomb() -> Vec<u8> {
    let mut encoder = zstd::Encoder::new(Vec::new(), 1).unwrap();
    let zeros = vec![0; MIB];
    for _ in 0..BOMB_MIB {
        encoder.write_all(&zeros).unwrap();
    }
    encoder.finish().unwrap()
}

/// Asserts the process never held a bomb's inflated size in memory.
fn assert_memory_bounded() {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return; // Not Linux: nothing to check with.
    };
    let peak_kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap();
    assert!(
        peak_kib < 512 * 1024,
        "peak RSS {peak_kib} KiB: a bomb was inflated"
    );
}

mod grpc {
    //! OTLP/gRPC, through tonic's OTLP clients and, for malformed input, a
    //! raw HTTP/2 client.

    use super::*;
    use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
    use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
    use opentelemetry_proto::tonic::collector::profiles::v1development::profiles_service_client::ProfilesServiceClient;
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
    use tonic::codec::CompressionEncoding;
    use tonic::transport::Channel;
    use tonic::Status;

    async fn channel(receiver: &RunningReceiver) -> Channel {
        let addr = receiver.grpc_addr().expect("gRPC is served");
        Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    /// Exports `request` with tonic's OTLP client; returns the partial success
    /// (rejected count and message) the server sent, if any.
    async fn export(
        channel: &Channel,
        request: &ExportRequest,
        encoding: Option<CompressionEncoding>,
    ) -> Result<Option<(i64, String)>, Status> {
        Ok(match request.clone() {
            ExportRequest::Traces(r) => {
                let mut client = TraceServiceClient::new(channel.clone());
                if let Some(encoding) = encoding {
                    client = client.send_compressed(encoding);
                }
                let response = client.export(r).await?.into_inner();
                response
                    .partial_success
                    .map(|p| (p.rejected_spans, p.error_message))
            }
            ExportRequest::Metrics(r) => {
                let mut client = MetricsServiceClient::new(channel.clone());
                if let Some(encoding) = encoding {
                    client = client.send_compressed(encoding);
                }
                let response = client.export(r).await?.into_inner();
                response
                    .partial_success
                    .map(|p| (p.rejected_data_points, p.error_message))
            }
            ExportRequest::Logs(r) => {
                let mut client = LogsServiceClient::new(channel.clone());
                if let Some(encoding) = encoding {
                    client = client.send_compressed(encoding);
                }
                let response = client.export(r).await?.into_inner();
                response
                    .partial_success
                    .map(|p| (p.rejected_log_records, p.error_message))
            }
            ExportRequest::Profiles(r) => {
                let mut client = ProfilesServiceClient::new(channel.clone());
                if let Some(encoding) = encoding {
                    client = client.send_compressed(encoding);
                }
                let response = client.export(r).await?.into_inner();
                response
                    .partial_success
                    .map(|p| (p.rejected_profiles, p.error_message))
            }
            other => panic!("no {} client here", other.signal()),
        })
    }

    #[tokio::test]
    async fn all_signals_and_encodings_arrive_intact() {
        let (receiver, mut requests) = Receiver::builder()
            .with_grpc_addr(localhost())
            .serve_channel(4)
            .await
            .unwrap();
        let channel = channel(&receiver).await;
        let encodings = [
            (None, Algorithm::None),
            (Some(CompressionEncoding::Gzip), Algorithm::Gzip),
            (Some(CompressionEncoding::Zstd), Algorithm::Zstd),
        ];
        for sent in samples() {
            for (encoding, algorithm) in encodings {
                assert_eq!(export(&channel, &sent, encoding).await.unwrap(), None);
                let received = requests.recv().await.unwrap();
                assert_eq!(received.request, sent);
                assert_eq!(received.transport, ReceiverProtocol::Grpc);
                assert_eq!(received.format, Format::Protobuf);
                assert_eq!(received.compression, algorithm);
                assert_eq!(received.decoded_bytes, sent.encode_protobuf().len());
                assert!(received.peer.is_some());
                assert_eq!(received.headers["content-type"], "application/grpc");
            }
        }
        receiver.shutdown().await;
        assert!(
            requests.recv().await.is_none(),
            "shutdown closes the channel"
        );
    }

    #[tokio::test]
    async fn partial_success_reaches_the_client() {
        let receiver = Receiver::builder()
            .with_grpc_addr(localhost())
            .serve(async |req: ReceivedRequest| {
                let rejected = req.request.item_count() as u64;
                Reply::partial_success(rejected, format!("dropped {}", req.request.signal()))
            })
            .await
            .unwrap();
        let channel = channel(&receiver).await;
        for sent in samples() {
            let partial = export(&channel, &sent, None).await.unwrap();
            assert_eq!(partial, Some((1, format!("dropped {}", sent.signal()))));
        }
        receiver.shutdown().await;
    }

    #[tokio::test]
    async fn rejections_carry_code_message_and_retry_info() {
        let script = Mutex::new(VecDeque::from([
            Reply::unavailable(Some(Duration::from_millis(1500))),
            Reply::resource_exhausted(None),
            Reply::invalid_argument("no spans today"),
        ]));
        let receiver = Receiver::builder()
            .with_grpc_addr(localhost())
            .serve(move |_: ReceivedRequest| {
                let reply = script.lock().unwrap().pop_front().unwrap_or(Reply::Accept);
                async move { reply }
            })
            .await
            .unwrap();
        let channel = channel(&receiver).await;
        let sent = &samples()[0];

        let status = export(&channel, sent, None).await.unwrap_err();
        assert_eq!(status.code(), Code::Unavailable);
        let details = RpcStatus::decode(status.details()).unwrap();
        assert_eq!(details.code, Code::Unavailable as i32);
        assert_eq!(details.details.len(), 1);
        assert_eq!(
            details.details[0].type_url,
            "type.googleapis.com/google.rpc.RetryInfo"
        );
        let delay = details.details[0]
            .retry_info
            .clone()
            .unwrap()
            .retry_delay
            .unwrap();
        assert_eq!((delay.seconds, delay.nanos), (1, 500_000_000));

        let status = export(&channel, sent, None).await.unwrap_err();
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert!(status.details().is_empty(), "no RetryInfo without a delay");

        let status = export(&channel, sent, None).await.unwrap_err();
        assert_eq!(
            (status.code(), status.message()),
            (Code::InvalidArgument, "no spans today")
        );

        assert_eq!(export(&channel, sent, None).await.unwrap(), None);
        receiver.shutdown().await;
    }

    type RawClient = Client<HttpConnector, Full<Bytes>>;

    /// Sends one gRPC call built by hand; returns its status and response headers.
    async fn raw_call(
        client: &RawClient,
        addr: SocketAddr,
        path: &str,
        encoding: Option<&str>,
        body: Bytes,
    ) -> (Status, ::http::HeaderMap) {
        let mut request = ::http::Request::post(format!("http://{addr}{path}"))
            .header("content-type", "application/grpc")
            .header("te", "trailers");
        if let Some(encoding) = encoding {
            request = request.header("grpc-encoding", encoding);
        }
        let response = client
            .request(request.body(Full::new(body)).unwrap())
            .await
            .unwrap();
        let (parts, body) = response.into_parts();
        let body = body.collect().await.unwrap();
        // Errors are "trailers-only": the status is in the headers.
        let status = Status::from_header_map(body.trailers().unwrap_or(&parts.headers)).unwrap();
        (status, parts.headers)
    }

    fn framed(compressed: bool, message: &[u8]) -> Bytes {
        let mut framed = BytesMut::new();
        framed.put_u8(compressed.into());
        framed.put_u32(message.len().try_into().unwrap());
        framed.put_slice(message);
        framed.freeze()
    }

    #[tokio::test]
    async fn bad_requests_are_refused_and_the_server_keeps_serving() {
        let receiver = Receiver::builder()
            .with_grpc_addr(localhost())
            .with_max_message_size(LIMIT)
            .serve(async |_: ReceivedRequest| Reply::Accept)
            .await
            .unwrap();
        let addr = receiver.grpc_addr().unwrap();
        let client: RawClient = Client::builder(TokioExecutor::new())
            .http2_only(true)
            .build_http();
        let traces_path = Signal::Traces.grpc_path();
        let message = samples()[0].encode_protobuf();
        let good = framed(false, &message);
        let (gzip_bomb, zstd_bomb) = (gzip_bomb(), zstd_bomb());
        assert!(
            gzip_bomb.len() < LIMIT && zstd_bomb.len() < LIMIT,
            "bombs pass the body cap"
        );

        let cases = [
            (
                "random bytes",
                traces_path,
                None,
                framed(false, &[0xff; 64]),
                Code::InvalidArgument,
            ),
            (
                "no gRPC frame",
                traces_path,
                None,
                Bytes::from_static(b"junk"),
                Code::InvalidArgument,
            ),
            (
                "empty body",
                traces_path,
                None,
                Bytes::new(),
                Code::InvalidArgument,
            ),
            (
                "truncated protobuf",
                traces_path,
                None,
                framed(false, &message[..message.len() / 2]),
                Code::InvalidArgument,
            ),
            (
                "compressed flag without encoding",
                traces_path,
                None,
                framed(true, &message),
                Code::InvalidArgument,
            ),
            (
                "corrupt gzip",
                traces_path,
                Some("gzip"),
                framed(true, b"not gzip"),
                Code::InvalidArgument,
            ),
            (
                "over the limit",
                traces_path,
                None,
                framed(false, &vec![0; LIMIT + 1]),
                Code::ResourceExhausted,
            ),
            (
                "gzip bomb",
                traces_path,
                Some("gzip"),
                framed(true, &gzip_bomb),
                Code::ResourceExhausted,
            ),
            (
                "zstd bomb",
                traces_path,
                Some("zstd"),
                framed(true, &zstd_bomb),
                Code::ResourceExhausted,
            ),
            (
                "unknown encoding",
                traces_path,
                Some("lz4"),
                good.clone(),
                Code::Unimplemented,
            ),
            (
                "unknown method",
                "/opentelemetry.proto.collector.trace.v1.TraceService/Nope",
                None,
                good.clone(),
                Code::Unimplemented,
            ),
        ];
        for (what, path, encoding, body, code) in cases {
            let (status, headers) = raw_call(&client, addr, path, encoding, body).await;
            assert_eq!(status.code(), code, "{what}: {status:?}");
            assert_eq!(
                headers["grpc-accept-encoding"], "gzip,zstd,snappy",
                "{what}"
            );
            let (status, _) = raw_call(&client, addr, traces_path, None, good.clone()).await;
            assert_eq!(
                status.code(),
                Code::Ok,
                "good request after {what}: {status:?}"
            );
        }
        assert_memory_bounded();

        let channel = channel(&receiver).await;
        let too_big = ExportRequest::Traces(traces(&"x".repeat(LIMIT)));
        let status = export(&channel, &too_big, Some(CompressionEncoding::Gzip))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
        assert_eq!(export(&channel, &samples()[1], None).await.unwrap(), None);
        receiver.shutdown().await;
    }
}

mod http {
    //! OTLP/HTTP, through hyper's client over HTTP/1.1 and h2c.

    use super::*;
    use ::http::header::{ALLOW, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
    use ::http::{HeaderMap, Method, Request, StatusCode};
    use http_body_util::combinators::BoxBody;
    use http_body_util::StreamBody;
    use otlp_core::proto::collector::logs::v1::ExportLogsServiceResponse;
    use otlp_core::proto::collector::metrics::v1::ExportMetricsServiceResponse;
    use otlp_core::proto::collector::profiles::v1development::ExportProfilesServiceResponse;
    use otlp_core::proto::collector::trace::v1::ExportTraceServiceResponse;
    use otlp_transport::receiver::ReceiverError;
    use std::convert::Infallible;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use tokio::sync::Notify;

    type Body = BoxBody<Bytes, Infallible>;
    type HttpClient = Client<HttpConnector, Body>;

    fn client(h2c: bool) -> HttpClient {
        Client::builder(TokioExecutor::new())
            .http2_only(h2c)
            .build_http()
    }

    fn full(bytes: impl Into<Bytes>) -> Body {
        Full::new(bytes.into()).boxed()
    }

    fn request(
        method: Method,
        receiver: &RunningReceiver,
        path: &str,
        content_type: &str,
        encoding: Option<&str>,
        body: Body,
    ) -> Request<Body> {
        let addr = receiver.http_addr().unwrap();
        let mut request = Request::builder()
            .method(method)
            .uri(format!("http://{addr}{path}"))
            .header(CONTENT_TYPE, content_type);
        if let Some(encoding) = encoding {
            request = request.header(CONTENT_ENCODING, encoding);
        }
        request.body(body).unwrap()
    }

    /// A POST of `sent` to its signal's path in `format`.
    fn export(receiver: &RunningReceiver, sent: &ExportRequest, format: Format) -> Request<Body> {
        let path = sent.signal().http_path();
        request(
            Method::POST,
            receiver,
            path,
            format.content_type(),
            None,
            full(body(sent, format)),
        )
    }

    fn body(request: &ExportRequest, format: Format) -> Vec<u8> {
        match format {
            Format::Protobuf => request.encode_protobuf(),
            Format::Json => request.to_json().into_bytes(),
            other => panic!("no {other} bodies here"),
        }
    }

    async fn send(client: &HttpClient, request: Request<Body>) -> (StatusCode, HeaderMap, Bytes) {
        let response = client.request(request).await.unwrap();
        let (parts, body) = response.into_parts();
        (
            parts.status,
            parts.headers,
            body.collect().await.unwrap().to_bytes(),
        )
    }

    /// Compresses with the reference encoders, not the receiver's crate.
    fn compress(algorithm: Algorithm, body: &[u8]) -> Vec<u8> {
        match algorithm {
            Algorithm::None => body.to_vec(),
            Algorithm::Gzip => {
                let mut encoder =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                encoder.write_all(body).unwrap();
                encoder.finish().unwrap()
            }
            Algorithm::Zstd => zstd::encode_all(body, 3).unwrap(),
            Algorithm::Brotli => {
                let mut encoder = brotli::CompressorWriter::new(Vec::new(), 4096, 5, 22);
                encoder.write_all(body).unwrap();
                encoder.into_inner()
            }
            other => panic!("no {other:?} encoder here"),
        }
    }

    /// The partial success in an `Export*ServiceResponse` body.
    fn partial_success(signal: Signal, format: Format, body: &[u8]) -> Option<(i64, String)> {
        let json = format == Format::Json;
        match signal {
            Signal::Traces => {
                let response: ExportTraceServiceResponse = if json {
                    serde_json::from_slice(body).unwrap()
                } else {
                    Message::decode(body).unwrap()
                };
                response
                    .partial_success
                    .map(|p| (p.rejected_spans, p.error_message))
            }
            Signal::Metrics => {
                let response: ExportMetricsServiceResponse = if json {
                    serde_json::from_slice(body).unwrap()
                } else {
                    Message::decode(body).unwrap()
                };
                response
                    .partial_success
                    .map(|p| (p.rejected_data_points, p.error_message))
            }
            Signal::Logs => {
                let response: ExportLogsServiceResponse = if json {
                    serde_json::from_slice(body).unwrap()
                } else {
                    Message::decode(body).unwrap()
                };
                response
                    .partial_success
                    .map(|p| (p.rejected_log_records, p.error_message))
            }
            Signal::Profiles => {
                let response: ExportProfilesServiceResponse = if json {
                    serde_json::from_slice(body).unwrap()
                } else {
                    Message::decode(body).unwrap()
                };
                response
                    .partial_success
                    .map(|p| (p.rejected_profiles, p.error_message))
            }
            other => panic!("no {other} responses here"),
        }
    }

    /// The message of a `google.rpc.Status` error body, or of a plain-text one.
    fn error_message(headers: &HeaderMap, body: &[u8]) -> String {
        match headers[CONTENT_TYPE].to_str().unwrap() {
            "application/x-protobuf" => RpcStatus::decode(body).unwrap().message,
            "application/json" => {
                let status: serde_json::Value = serde_json::from_slice(body).unwrap();
                status["message"].as_str().unwrap().to_owned()
            }
            _ => String::from_utf8(body.to_vec()).unwrap(),
        }
    }

    #[tokio::test]
    async fn all_signals_formats_and_encodings_arrive_intact() {
        let (receiver, mut requests) = Receiver::builder()
            .with_http_addr(localhost())
            .serve_channel(4)
            .await
            .unwrap();
        for h2c in [false, true] {
            let client = client(h2c);
            for sent in samples() {
                for format in [Format::Protobuf, Format::Json] {
                    for algorithm in [
                        Algorithm::None,
                        Algorithm::Gzip,
                        Algorithm::Zstd,
                        Algorithm::Brotli,
                    ] {
                        let what = format!("{} {format} {algorithm} h2c={h2c}", sent.signal());
                        let plain = body(&sent, format);
                        let wire = compress(algorithm, &plain);
                        let path = sent.signal().http_path();
                        let encoding = algorithm.content_encoding();
                        let req = request(
                            Method::POST,
                            &receiver,
                            path,
                            format.content_type(),
                            encoding,
                            full(wire.clone()),
                        );
                        let (status, headers, body) = send(&client, req).await;
                        assert_eq!(status, StatusCode::OK, "{what}");
                        assert_eq!(headers[CONTENT_TYPE], format.content_type(), "{what}");
                        assert_eq!(
                            partial_success(sent.signal(), format, &body),
                            None,
                            "{what}"
                        );

                        let received = requests.recv().await.unwrap();
                        assert_eq!(received.request, sent, "{what}");
                        assert_eq!(received.transport, ReceiverProtocol::Http);
                        assert_eq!(received.format, format);
                        assert_eq!(received.compression, algorithm);
                        assert_eq!(
                            (received.wire_bytes, received.decoded_bytes),
                            (wire.len(), plain.len())
                        );
                        assert_eq!(received.headers[CONTENT_TYPE], format.content_type());
                        assert!(received.peer.is_some());
                    }
                }
            }
        }
        receiver.shutdown().await;
    }

    /// The codings the Collector's `otlphttp` exporter can send besides
    /// gzip and zstd, written by independent encoders.
    #[tokio::test]
    async fn collector_only_encodings_arrive_intact() {
        use std::io::Write as _;
        let (receiver, mut requests) = Receiver::builder()
            .with_http_addr(localhost())
            .serve_channel(4)
            .await
            .unwrap();
        let client = client(false);
        let zlib = |plain: &[u8]| {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(plain).unwrap();
            e.finish().unwrap()
        };
        let snappy_framed = |plain: &[u8]| {
            let mut e = snap::write::FrameEncoder::new(Vec::new());
            e.write_all(plain).unwrap();
            e.into_inner().unwrap()
        };
        let lz4 = |plain: &[u8]| {
            let mut e = lz4_flex::frame::FrameEncoder::new(Vec::new());
            e.write_all(plain).unwrap();
            e.finish().unwrap()
        };
        type Encode<'a> = &'a dyn Fn(&[u8]) -> Vec<u8>;
        let codings: [(&str, Encode<'_>, &str); 6] = [
            ("deflate", &zlib, "deflate"),
            ("zlib", &zlib, "deflate"),
            (
                "snappy",
                &|p| snap::raw::Encoder::new().compress_vec(p).unwrap(),
                "snappy",
            ),
            ("x-snappy-framed", &snappy_framed, "x-snappy-framed"),
            ("lz4", &lz4, "lz4"),
            // Collectors before v0.118 sent framed data as `snappy`.
            ("snappy", &snappy_framed, "snappy"),
        ];
        for sent in samples() {
            for format in [Format::Protobuf, Format::Json] {
                for (token, encode, name) in codings {
                    let what = format!("{} {format} {token}", sent.signal());
                    let plain = body(&sent, format);
                    let wire = encode(&plain);
                    let req = request(
                        Method::POST,
                        &receiver,
                        sent.signal().http_path(),
                        format.content_type(),
                        Some(token),
                        full(wire.clone()),
                    );
                    let (status, _, _) = send(&client, req).await;
                    assert_eq!(status, StatusCode::OK, "{what}");
                    let received = requests.recv().await.unwrap();
                    assert_eq!(received.request, sent, "{what}");
                    assert_eq!(received.compression.as_str(), name, "{what}");
                    assert_eq!(
                        (received.wire_bytes, received.decoded_bytes),
                        (wire.len(), plain.len()),
                        "{what}"
                    );
                }
            }
        }
        // A corrupt body in one of them is a 400, not a crash.
        let req = request(
            Method::POST,
            &receiver,
            Signal::Traces.http_path(),
            Format::Protobuf.content_type(),
            Some("lz4"),
            full(b"\x04\x22\x4d\x18 not lz4 after the magic".to_vec()),
        );
        let (status, _, _) = send(&client, req).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        receiver.shutdown().await;
    }

    #[tokio::test]
    async fn partial_success_reaches_the_client_in_its_format() {
        let receiver = Receiver::builder()
            .with_http_addr(localhost())
            .serve(async |req: ReceivedRequest| {
                Reply::partial_success(1, format!("dropped {}", req.format))
            })
            .await
            .unwrap();
        let client = client(false);
        for sent in samples() {
            for format in [Format::Protobuf, Format::Json] {
                let (status, _, body) = send(&client, export(&receiver, &sent, format)).await;
                assert_eq!(status, StatusCode::OK);
                let partial = partial_success(sent.signal(), format, &body);
                assert_eq!(partial, Some((1, format!("dropped {format}"))), "{format}");
            }
        }
        receiver.shutdown().await;
    }

    #[tokio::test]
    async fn rejections_map_to_http_statuses() {
        let script = Mutex::new(VecDeque::from([
            Reply::unavailable(Some(Duration::from_millis(1500))),
            Reply::resource_exhausted(Some(Duration::from_secs(3))),
            Reply::invalid_argument("no spans today"),
            Reply::reject(Code::Unauthenticated, "who are you", None),
        ]));
        let receiver = Receiver::builder()
            .with_http_addr(localhost())
            .serve(move |_: ReceivedRequest| {
                let reply = script.lock().unwrap().pop_front().unwrap_or(Reply::Accept);
                async move { reply }
            })
            .await
            .unwrap();
        let client = client(false);
        let sent = &samples()[2];
        let expected = [
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Some("2"),
                "receiver unavailable",
            ),
            (
                StatusCode::TOO_MANY_REQUESTS,
                Some("3"),
                "receiver overloaded",
            ),
            (StatusCode::BAD_REQUEST, None, "no spans today"),
            (StatusCode::UNAUTHORIZED, None, "who are you"),
        ];
        for ((code, retry_after, message), format) in expected
            .into_iter()
            .zip([Format::Json, Format::Protobuf].into_iter().cycle())
        {
            let (status, headers, body) = send(&client, export(&receiver, sent, format)).await;
            assert_eq!(status, code);
            assert_eq!(
                headers.get(RETRY_AFTER).map(|v| v.to_str().unwrap()),
                retry_after
            );
            assert_eq!(error_message(&headers, &body), message);
        }
        let (status, _, _) = send(&client, export(&receiver, sent, Format::Json)).await;
        assert_eq!(status, StatusCode::OK);
        receiver.shutdown().await;
    }

    #[tokio::test]
    async fn bad_requests_are_refused_and_the_server_keeps_serving() {
        let receiver = Receiver::builder()
            .with_http_addr(localhost())
            .with_max_message_size(LIMIT)
            .serve(async |_: ReceivedRequest| Reply::Accept)
            .await
            .unwrap();
        let client = client(false);
        let sent = &samples()[0];
        let message = sent.encode_protobuf();
        let protobuf = Format::Protobuf.content_type();
        let json = Format::Json.content_type();
        let traces = Signal::Traces.http_path();
        let (gzip_bomb, zstd_bomb) = (gzip_bomb(), zstd_bomb());
        assert!(
            gzip_bomb.len() < LIMIT && zstd_bomb.len() < LIMIT,
            "bombs pass the body cap"
        );
        // Over the cap, without a Content-Length to refuse it by.
        let chunks = (0..3).map(|_| {
            Ok::<_, Infallible>(hyper::body::Frame::data(Bytes::from(vec![0; LIMIT / 2])))
        });
        let streamed = BodyExt::boxed(StreamBody::new(futures_util::stream::iter(chunks)));

        let post = |content_type, encoding, body| {
            request(
                Method::POST,
                &receiver,
                traces,
                content_type,
                encoding,
                body,
            )
        };
        let cases = [
            (
                "random bytes",
                post(protobuf, None, full(vec![0xff; 64])),
                StatusCode::BAD_REQUEST,
            ),
            (
                "truncated protobuf",
                post(protobuf, None, full(message[..message.len() / 2].to_vec())),
                StatusCode::BAD_REQUEST,
            ),
            (
                "invalid JSON",
                post(json, None, full(&b"{\"resourceSpans\": [}"[..])),
                StatusCode::BAD_REQUEST,
            ),
            (
                "wrong content-type",
                post("text/plain", None, full(message.clone())),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ),
            (
                "unknown encoding",
                post(protobuf, Some("compress"), full(message.clone())),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ),
            (
                "corrupt gzip",
                post(protobuf, Some("gzip"), full(&b"not gzip"[..])),
                StatusCode::BAD_REQUEST,
            ),
            (
                "over the limit",
                post(protobuf, None, full(vec![0; LIMIT + 1])),
                StatusCode::PAYLOAD_TOO_LARGE,
            ),
            (
                "over the limit, chunked",
                post(protobuf, None, streamed),
                StatusCode::PAYLOAD_TOO_LARGE,
            ),
            (
                "gzip bomb",
                post(protobuf, Some("gzip"), full(gzip_bomb)),
                StatusCode::PAYLOAD_TOO_LARGE,
            ),
            (
                "zstd bomb",
                post(protobuf, Some("zstd"), full(zstd_bomb)),
                StatusCode::PAYLOAD_TOO_LARGE,
            ),
            (
                "GET",
                request(
                    Method::GET,
                    &receiver,
                    traces,
                    protobuf,
                    None,
                    full(Bytes::new()),
                ),
                StatusCode::METHOD_NOT_ALLOWED,
            ),
            (
                "unknown path",
                request(
                    Method::POST,
                    &receiver,
                    "/v1/profiles",
                    protobuf,
                    None,
                    full(message.clone()),
                ),
                StatusCode::NOT_FOUND,
            ),
        ];
        for (what, bad, expected) in cases {
            let (status, headers, body) = send(&client, bad).await;
            assert_eq!(status, expected, "{what}");
            assert!(!error_message(&headers, &body).is_empty(), "{what}");
            if status == StatusCode::METHOD_NOT_ALLOWED {
                assert_eq!(headers[ALLOW], "POST");
            }
            let (status, _, _) = send(&client, export(&receiver, sent, Format::Protobuf)).await;
            assert_eq!(status, StatusCode::OK, "good request after {what}");
        }
        assert_memory_bounded();
        receiver.shutdown().await;
    }

    #[tokio::test]
    async fn a_stalled_body_times_out_and_the_server_keeps_serving() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let receiver = Receiver::builder()
            .with_http_addr(localhost())
            .with_body_timeout(Duration::from_millis(300))
            .serve(async |_: ReceivedRequest| Reply::Accept)
            .await
            .unwrap();
        // Headers promising 100 bytes, then 10, then nothing.
        let mut stalled = tokio::net::TcpStream::connect(receiver.http_addr().unwrap())
            .await
            .unwrap();
        stalled
            .write_all(
                b"POST /v1/traces HTTP/1.1\r\nHost: x\r\n\
                  Content-Type: application/x-protobuf\r\nContent-Length: 100\r\n\r\n0123456789",
            )
            .await
            .unwrap();
        let mut answer = vec![0; 4096];
        let n = tokio::time::timeout(Duration::from_secs(10), stalled.read(&mut answer))
            .await
            .expect("an answer, not a connection held open")
            .unwrap();
        let answer = String::from_utf8_lossy(&answer[..n]);
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        // Other clients were served all along.
        let sent = &samples()[0];
        let response = client(false)
            .request(export(&receiver, sent, Format::Protobuf))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        receiver.shutdown().await;
    }

    #[tokio::test]
    async fn shutdown_finishes_in_flight_requests() {
        let (arrived, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        let (arrived_tx, release_rx) = (Arc::clone(&arrived), Arc::clone(&release));
        let receiver = Receiver::builder()
            .with_http_addr(localhost())
            .serve(move |_: ReceivedRequest| {
                let (arrived, release) = (Arc::clone(&arrived_tx), Arc::clone(&release_rx));
                async move {
                    arrived.notify_one();
                    release.notified().await;
                    Reply::Accept
                }
            })
            .await
            .unwrap();
        let addr = receiver.http_addr().unwrap();
        let request = export(&receiver, &samples()[1], Format::Json);
        let in_flight = tokio::spawn(async move { send(&client(false), request).await });
        arrived.notified().await;
        let shutdown = tokio::spawn(receiver.shutdown());
        // Gives shutdown every chance to finish early (this runtime has one
        // thread: each yield lets the other tasks run); it must not.
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        assert!(!shutdown.is_finished(), "shutdown waits for the request");
        release.notify_one();
        assert_eq!(in_flight.await.unwrap().0, StatusCode::OK);
        shutdown.await.unwrap();
        assert!(
            tokio::net::TcpStream::connect(addr).await.is_err(),
            "listener closed"
        );
    }

    #[tokio::test]
    async fn dropping_the_receiver_stops_it() {
        let receiver = Receiver::builder()
            .with_http_addr(localhost())
            .serve(async |_: ReceivedRequest| Reply::Accept)
            .await
            .unwrap();
        let addr = receiver.http_addr().unwrap();
        drop(receiver);
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(addr).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("still accepting connections after the receiver was dropped");
    }

    #[tokio::test]
    async fn concurrency_limit_holds_requests_back() {
        let (now, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (now_h, peak_h) = (Arc::clone(&now), Arc::clone(&peak));
        let receiver = Receiver::builder()
            .with_http_addr(localhost())
            .with_max_concurrent_requests(1)
            .serve(move |_: ReceivedRequest| {
                let (now, peak) = (Arc::clone(&now_h), Arc::clone(&peak_h));
                async move {
                    peak.fetch_max(now.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    now.fetch_sub(1, Ordering::SeqCst);
                    Reply::Accept
                }
            })
            .await
            .unwrap();
        let client = client(false);
        let sent = &samples()[0];
        let requests = (0..4).map(|_| send(&client, export(&receiver, sent, Format::Protobuf)));
        for (status, _, _) in futures_util::future::join_all(requests).await {
            assert_eq!(status, StatusCode::OK);
        }
        assert_eq!(peak.load(Ordering::SeqCst), 1);
        receiver.shutdown().await;
    }

    #[tokio::test]
    async fn configuration_errors() {
        let serve = |builder: otlp_transport::receiver::ReceiverBuilder| {
            builder.serve(async |_: ReceivedRequest| Reply::Accept)
        };
        let err = serve(Receiver::builder()).await.unwrap_err();
        assert!(matches!(err, ReceiverError::Config(_)), "{err}");
        let limited = Receiver::builder()
            .with_http_addr(localhost())
            .with_max_concurrent_requests(0);
        assert!(matches!(
            serve(limited).await.unwrap_err(),
            ReceiverError::Config(_)
        ));
        let zero = Receiver::builder()
            .with_http_addr(localhost())
            .serve_channel(0)
            .await
            .unwrap_err();
        assert!(matches!(zero, ReceiverError::Config(_)));

        let held = std::net::TcpListener::bind(localhost()).unwrap();
        let addr = held.local_addr().unwrap();
        let err = serve(
            Receiver::builder()
                .with_http_addr(localhost())
                .with_grpc_addr(addr),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, ReceiverError::Bind { addr: a, .. } if a == addr),
            "{err}"
        );
    }
}

/// Our client sends profiles over each protocol to our receiver, and reads
/// the profiles partial success back in each format.
#[tokio::test]
async fn our_client_sends_profiles_over_every_protocol() {
    use otlp_transport::client::{OtlpClient, Payload};
    use otlp_transport::Protocol;
    let receiver = Receiver::builder()
        .with_grpc_addr(localhost())
        .with_http_addr(localhost())
        .serve(async |req: ReceivedRequest| {
            assert_eq!(req.request, samples()[3]);
            Reply::partial_success(1, format!("{} over {:?}", req.request.signal(), req.format))
        })
        .await
        .unwrap();
    let sent = &samples()[3];
    for protocol in [Protocol::Grpc, Protocol::HttpProtobuf, Protocol::HttpJson] {
        let (addr, body) = match protocol {
            Protocol::Grpc => (receiver.grpc_addr(), sent.encode_protobuf()),
            Protocol::HttpJson => (receiver.http_addr(), sent.to_json().into_bytes()),
            _ => (receiver.http_addr(), sent.encode_protobuf()),
        };
        let client = OtlpClient::builder(protocol)
            .with_endpoint(format!("http://{}", addr.unwrap()))
            .build()
            .unwrap();
        let response = client
            .export(Signal::Profiles, Payload::new(body, Algorithm::None))
            .await
            .unwrap_or_else(|e| panic!("{protocol}: {e}"));
        assert_eq!(response.rejected_items, 1, "{protocol}");
        assert!(
            response.error_message.starts_with("profiles over"),
            "{protocol}"
        );
    }
    receiver.shutdown().await;
}

/// Health checks: tonic-health's client over gRPC (the server and each
/// OTLP service; an unknown service is NOT_FOUND) and `GET /health`, both
/// following what the running receiver is told.
#[tokio::test]
async fn health_checks_follow_the_receiver() {
    use http_body_util::Empty;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;
    let receiver = Receiver::builder()
        .with_grpc_addr(localhost())
        .with_http_addr(localhost())
        .serve(async |_: ReceivedRequest| Reply::Accept)
        .await
        .unwrap();
    let channel =
        tonic::transport::Channel::from_shared(format!("http://{}", receiver.grpc_addr().unwrap()))
            .unwrap()
            .connect()
            .await
            .unwrap();
    let mut grpc = HealthClient::new(channel);
    let http: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let health_url = format!(
        "http://{}{}",
        receiver.http_addr().unwrap(),
        otlp_transport::receiver::HTTP_HEALTH_PATH
    );
    let health = receiver.health();
    for (serving, want, code) in [
        (true, ServingStatus::Serving, 200),
        (false, ServingStatus::NotServing, 503),
        (true, ServingStatus::Serving, 200),
    ] {
        health.set_serving(serving);
        for service in ["", "opentelemetry.proto.collector.trace.v1.TraceService"] {
            let answer = grpc
                .check(HealthCheckRequest {
                    service: service.into(),
                })
                .await
                .unwrap()
                .into_inner();
            assert_eq!(answer.status(), want, "{service:?}");
        }
        let response = http.get(health_url.parse().unwrap()).await.unwrap();
        assert_eq!(response.status().as_u16(), code);
    }
    let unknown = grpc
        .check(HealthCheckRequest {
            service: "no.such.Service".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    receiver.shutdown().await;
}

/// `OtlpClient::check_health` against the receiver: the gRPC health check
/// over an OTLP/gRPC client, `GET /health` over an OTLP/HTTP one, each
/// following what the receiver is told; a probe of the other protocol is
/// an error, and so is an endpoint nothing listens on.
#[tokio::test]
async fn the_client_asks_the_receiver_for_its_health() {
    use otlp_transport::client::{ExportError, HealthProbe, OtlpClient};
    use otlp_transport::receiver::HTTP_HEALTH_PATH;
    use otlp_transport::Protocol;
    let receiver = Receiver::builder()
        .with_grpc_addr(localhost())
        .with_http_addr(localhost())
        .serve(async |_: ReceivedRequest| Reply::Accept)
        .await
        .unwrap();
    let grpc = OtlpClient::builder(Protocol::Grpc)
        .with_endpoint(format!("http://{}", receiver.grpc_addr().unwrap()))
        .build()
        .unwrap();
    let http = OtlpClient::builder(Protocol::HttpProtobuf)
        .with_endpoint(format!("http://{}", receiver.http_addr().unwrap()))
        .build()
        .unwrap();
    let grpc_probe = HealthProbe::Grpc {
        service: String::new(),
    };
    let http_probe = HealthProbe::Http {
        path: HTTP_HEALTH_PATH.to_owned(),
    };
    let health = receiver.health();
    for serving in [true, false, true] {
        health.set_serving(serving);
        for signal in [Signal::Traces, Signal::Logs] {
            assert_eq!(
                grpc.check_health(signal, &grpc_probe).await.unwrap(),
                serving
            );
            assert_eq!(
                http.check_health(signal, &http_probe).await.unwrap(),
                serving
            );
        }
    }
    let unknown = HealthProbe::Grpc {
        service: "no.such.Service".into(),
    };
    assert!(matches!(
        grpc.check_health(Signal::Traces, &unknown).await,
        Err(ExportError::Grpc {
            code: Code::NotFound,
            ..
        })
    ));
    assert!(matches!(
        grpc.check_health(Signal::Traces, &http_probe).await,
        Err(ExportError::ProbeNotSupported {
            protocol: Protocol::Grpc
        })
    ));
    let addr = receiver.grpc_addr().unwrap();
    receiver.shutdown().await;
    let gone = OtlpClient::builder(Protocol::Grpc)
        .with_endpoint(format!("http://{addr}"))
        .build()
        .unwrap();
    assert!(matches!(
        gone.check_health(Signal::Traces, &grpc_probe).await,
        Err(ExportError::Connection { .. })
    ));
}

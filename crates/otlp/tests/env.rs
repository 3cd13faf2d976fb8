//! With nothing set in code, the client follows the standard `OTEL_*`
//! variables, for the SDK path and the push API alike; what is set in code
//! wins. (One test in its own binary: it changes the process environment.)

use opentelemetry::trace::Tracer as _;
use otlp::core::proto::common::v1::any_value::Value;
use otlp::core::proto::resource::v1::Resource;
use otlp::core::ExportRequest;
use otlp::transport::receiver::{ReceivedRequest, Receiver, ReceiverProtocol};
use otlp::{EnhancedOtlpClient, Signal, TelemetryData};
use std::time::Duration;

fn attribute(resource: Option<&Resource>, key: &str) -> Option<String> {
    resource?
        .attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) => Some(s.clone()),
            _ => None,
        })
}

fn resource(req: &ReceivedRequest) -> Option<&Resource> {
    match &req.request {
        ExportRequest::Traces(r) => r.resource_spans.first()?.resource.as_ref(),
        ExportRequest::Metrics(r) => r.resource_metrics.first()?.resource.as_ref(),
        ExportRequest::Logs(r) => r.resource_logs.first()?.resource.as_ref(),
        _ => None,
    }
}

#[test]
fn environment_configures_what_code_does_not() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (receiver, mut rx) = rt.block_on(async {
        Receiver::builder()
            .with_grpc_addr("127.0.0.1:0".parse().unwrap())
            .with_http_addr("127.0.0.1:0".parse().unwrap())
            .serve_channel(64)
            .await
            .unwrap()
    });
    let grpc = format!("http://{}", receiver.grpc_addr().unwrap());
    std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", &grpc);
    std::env::set_var("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc");
    std::env::set_var("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip");
    std::env::set_var("OTEL_SERVICE_NAME", "from-env");
    std::env::set_var(
        "OTEL_RESOURCE_ATTRIBUTES",
        "deployment.environment.name=staging",
    );

    // The next request of `signal`; others (such as an empty-handed
    // metrics export at shutdown) are skipped.
    let mut next = |signal: Signal| loop {
        let req = rt
            .block_on(async { tokio::time::timeout(Duration::from_secs(10), rx.recv()).await })
            .expect("a request within 10 s")
            .expect("receiver running");
        if req.request.signal() == signal {
            return req;
        }
    };

    // Nothing in code: everything from the environment.
    let client = EnhancedOtlpClient::builder().build().unwrap();
    client.tracer("env").in_span("from the SDK", |_cx| {});
    client.force_flush().unwrap();
    let sdk = next(Signal::Traces);
    rt.block_on(client.send_batch(vec![TelemetryData::log("pushed").build()]))
        .unwrap();
    let pushed = next(Signal::Logs);
    for req in [&sdk, &pushed] {
        assert_eq!(req.transport, ReceiverProtocol::Grpc);
        assert_eq!(req.compression, otlp::compression::Algorithm::Gzip);
        assert_eq!(
            attribute(resource(req), "service.name").as_deref(),
            Some("from-env")
        );
        assert_eq!(
            attribute(resource(req), "deployment.environment.name").as_deref(),
            Some("staging")
        );
    }
    client.shutdown().unwrap();

    // Code wins: HTTP to the other port, another service name.
    let http = format!("http://{}", receiver.http_addr().unwrap());
    let client = EnhancedOtlpClient::builder()
        .with_endpoint(http)
        .with_protocol(otlp::Protocol::HttpJson)
        .with_compression(otlp::Compression::none())
        .with_service_name("from-code")
        .build()
        .unwrap();
    rt.block_on(client.send_trace("pushed").finish()).unwrap();
    let req = next(Signal::Traces);
    assert_eq!(req.transport, ReceiverProtocol::Http);
    assert_eq!(req.format, otlp::core::Format::Json);
    assert_eq!(req.compression, otlp::compression::Algorithm::None);
    assert_eq!(
        attribute(resource(&req), "service.name").as_deref(),
        Some("from-code")
    );
    client.shutdown().unwrap();
    rt.block_on(receiver.shutdown());
}

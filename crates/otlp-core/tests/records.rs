//! The push API's records encode to the OTLP messages they describe.

use opentelemetry::logs::{AnyValue, Severity};
use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::InstrumentationScope;
use opentelemetry_sdk::Resource;
use otlp_core::proto::common::v1::any_value::Value as PValue;
use otlp_core::proto::metrics::v1::metric::Data;
use otlp_core::proto::metrics::v1::number_data_point::Value as NValue;
use otlp_core::{Encoder, ExportRequest, Format, Signal, TelemetryData};
use std::time::{Duration, UNIX_EPOCH};

fn records() -> Vec<TelemetryData> {
    let t0 = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    vec![
        TelemetryData::span("GET /cart")
            .with_kind(SpanKind::Server)
            .with_attribute("http.response.status_code", 200_i64)
            .with_attribute(
                "tags",
                opentelemetry::Value::Array(
                    vec!["a", "b"]
                        .into_iter()
                        .map(opentelemetry::StringValue::from)
                        .collect::<Vec<_>>()
                        .into(),
                ),
            )
            .with_start_time(t0)
            .with_end_time(t0 + Duration::from_millis(5))
            .with_event("retry", t0, vec![])
            .with_status(Status::error("boom"))
            .build(),
        TelemetryData::metric("orders")
            .with_unit("1")
            .with_attribute("region", "eu")
            .sum(3.0, true),
        TelemetryData::metric("temp").gauge(21.5),
        TelemetryData::metric("latency").histogram(vec![10.0, 100.0], &[5.0, 50.0, 500.0, 7.0]),
        TelemetryData::log("cart emptied")
            .with_severity(Severity::Warn)
            .with_attribute("bytes", AnyValue::Bytes(Box::new(vec![1, 2, 3])))
            .with_event_name("cart.emptied")
            .build(),
    ]
}

#[test]
fn records_round_trip_in_both_formats() {
    let resource = Resource::builder_empty().with_service_name("shop").build();
    let scope = InstrumentationScope::builder("shop")
        .with_version("1.0")
        .build();
    let records = records();
    for format in [Format::Protobuf, Format::Json] {
        let enc = Encoder::new(format).with_resource(&resource);
        let mut buf = Vec::new();
        for (signal, n) in [(Signal::Traces, 1), (Signal::Metrics, 3), (Signal::Logs, 1)] {
            assert_eq!(enc.encode_records(signal, &scope, &records, &mut buf), n);
            let req = ExportRequest::decode(signal, format, &buf).unwrap();
            assert_eq!(req.item_count(), n, "{format} {signal}");
            match req {
                ExportRequest::Traces(r) => {
                    let rs = &r.resource_spans[0];
                    assert_eq!(
                        rs.resource.as_ref().unwrap().attributes[0].key,
                        "service.name"
                    );
                    let ss = &rs.scope_spans[0];
                    assert_eq!(ss.scope.as_ref().unwrap().version, "1.0");
                    let s = &ss.spans[0];
                    assert_eq!(s.name, "GET /cart");
                    assert_eq!(s.kind, 2);
                    assert_eq!(s.end_time_unix_nano - s.start_time_unix_nano, 5_000_000);
                    assert_eq!(
                        s.attributes[0].value.as_ref().unwrap().value,
                        Some(PValue::IntValue(200))
                    );
                    assert_eq!(s.events[0].name, "retry");
                    assert_eq!(s.status.as_ref().unwrap().message, "boom");
                }
                ExportRequest::Metrics(r) => {
                    let ms = &r.resource_metrics[0].scope_metrics[0].metrics;
                    let Some(Data::Sum(sum)) = &ms[0].data else {
                        panic!()
                    };
                    assert!(sum.is_monotonic);
                    assert_eq!(sum.data_points[0].value, Some(NValue::AsDouble(3.0)));
                    let Some(Data::Gauge(g)) = &ms[1].data else {
                        panic!()
                    };
                    assert_eq!(g.data_points[0].value, Some(NValue::AsDouble(21.5)));
                    let Some(Data::Histogram(h)) = &ms[2].data else {
                        panic!()
                    };
                    let p = &h.data_points[0];
                    assert_eq!(
                        (p.count, p.sum, p.min, p.max),
                        (4, Some(562.0), Some(5.0), Some(500.0))
                    );
                    assert_eq!(p.bucket_counts, vec![2, 1, 1]);
                }
                ExportRequest::Logs(r) => {
                    let l = &r.resource_logs[0].scope_logs[0].log_records[0];
                    assert_eq!(l.severity_number, 13);
                    assert_eq!(l.severity_text, "WARN");
                    assert_eq!(l.event_name, "cart.emptied");
                    assert_eq!(
                        l.body.as_ref().unwrap().value,
                        Some(PValue::StringValue("cart emptied".into()))
                    );
                    assert_eq!(
                        l.attributes[0].value.as_ref().unwrap().value,
                        Some(PValue::BytesValue(vec![1, 2, 3]))
                    );
                }
                other => panic!("unexpected {} request", other.signal()),
            }
        }
    }
}

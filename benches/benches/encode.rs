//! Encoding one export request: `otlp_core::Encoder` against the stock path
//! of `opentelemetry-otlp` (`opentelemetry-proto`'s transform into prost
//! messages, then `prost::Message::encode_to_vec`, or `serde_json::to_vec`
//! for OTLP/JSON), on the same SDK data.
//!
//! What is timed, on each side, is what the exporter does per batch:
//! - ours: `encode_*` into a buffer reused across iterations (as the exporter
//!   reuses it), resource pre-encoded (as after `set_resource`);
//! - stock: transform + encode, resource attributes converted beforehand (as
//!   after `set_resource`). The transform consumes the spans, so each
//!   iteration gets a clone made outside the timed region; the prost
//!   message tree is returned and dropped outside it too, which favours
//!   stock slightly (its exporter does pay for freeing the tree).
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::logs::tonic::group_logs_by_resource_and_scope;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::logs::LogBatch;
use opentelemetry_sdk::trace::SpanData;
use otlp_benches::{http_spans, log_records, resource, resource_metrics, METRIC_DATA_POINTS};
use otlp_core::{Encoder, Format};
use prost::Message;
use std::hint::black_box;
use std::time::Duration;

const BATCH: usize = 512;

fn stock_spans(
    spans: Vec<SpanData>,
    res: &ResourceAttributesWithSchema,
) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: group_spans_by_resource_and_scope(spans, res),
    }
}

fn spans(c: &mut Criterion) {
    let spans = http_spans(BATCH);
    let res = resource();
    let stock_res = ResourceAttributesWithSchema::from(&res);

    for format in [Format::Protobuf, Format::Json] {
        let encoder = Encoder::new(format).with_resource(&res);
        let mut buf = Vec::new();
        encoder.encode_spans(&spans, &mut buf);
        let stock = stock_spans(spans.clone(), &stock_res);
        let stock_bytes = match format {
            Format::Protobuf => stock.encode_to_vec(),
            _ => serde_json::to_vec(&stock).expect("prost messages serialize"),
        };
        let name = match format {
            Format::Protobuf => "protobuf",
            _ => "json",
        };
        println!(
            "{BATCH} spans, {name}: ours {} bytes ({} per span), stock {} bytes ({} per span)",
            buf.len(),
            buf.len() / BATCH,
            stock_bytes.len(),
            stock_bytes.len() / BATCH,
        );
        if format == Format::Protobuf {
            let ours = ExportTraceServiceRequest::decode(&buf[..]).expect("ours decodes");
            println!("  ours decodes to the stock message: {}", ours == stock);
        }

        let mut group = c.benchmark_group(format!("encode 512 spans {name}"));
        group.throughput(Throughput::Elements(BATCH as u64));
        group.bench_function("otlp-rust", |b| {
            b.iter(|| {
                encoder.encode_spans(black_box(&spans), &mut buf);
                buf.len()
            })
        });
        group.bench_function("stock", |b| match format {
            Format::Protobuf => b.iter_batched(
                || spans.clone(),
                |spans| {
                    // The prost tree is the stock path's intermediate: freeing
                    // it is part of its cost (the input clone is not).
                    let req = stock_spans(spans, &stock_res);
                    req.encode_to_vec()
                },
                BatchSize::LargeInput,
            ),
            _ => b.iter_batched(
                || spans.clone(),
                |spans| {
                    let req = stock_spans(spans, &stock_res);
                    serde_json::to_vec(&req).expect("prost messages serialize")
                },
                BatchSize::LargeInput,
            ),
        });
        group.finish();
    }
}

fn logs(c: &mut Criterion) {
    let records = log_records(BATCH);
    let pairs = records.pairs();
    let batch = LogBatch::new(&pairs);
    let res = resource();
    let stock_res = ResourceAttributesWithSchema::from(&res);
    let encoder = Encoder::new(Format::Protobuf).with_resource(&res);
    let mut buf = Vec::new();
    encoder.encode_logs(&batch, &mut buf);
    let stock = ExportLogsServiceRequest {
        resource_logs: group_logs_by_resource_and_scope(&batch, &stock_res),
    }
    .encode_to_vec();
    println!(
        "{BATCH} log records, protobuf: ours {} bytes ({} per record), stock {} bytes",
        buf.len(),
        buf.len() / BATCH,
        stock.len()
    );

    let mut group = c.benchmark_group("encode 512 log records protobuf");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("otlp-rust", |b| {
        b.iter(|| {
            encoder.encode_logs(black_box(&batch), &mut buf);
            buf.len()
        })
    });
    group.bench_function("stock", |b| {
        b.iter(|| {
            let req = ExportLogsServiceRequest {
                resource_logs: group_logs_by_resource_and_scope(black_box(&batch), &stock_res),
            };
            let bytes = req.encode_to_vec();
            (req, bytes)
        })
    });
    group.finish();
}

fn metrics(c: &mut Criterion) {
    let rm = resource_metrics();
    let encoder = Encoder::new(Format::Protobuf);
    let mut buf = Vec::new();
    encoder.encode_metrics(&rm, &mut buf);
    let stock = ExportMetricsServiceRequest::from(&rm).encode_to_vec();
    println!(
        "metrics ({METRIC_DATA_POINTS} data points), protobuf: ours {} bytes, stock {} bytes",
        buf.len(),
        stock.len()
    );

    let mut group = c.benchmark_group(format!(
        "encode metrics protobuf ({METRIC_DATA_POINTS} data points)"
    ));
    group.throughput(Throughput::Elements(METRIC_DATA_POINTS as u64));
    group.bench_function("otlp-rust", |b| {
        b.iter(|| {
            encoder.encode_metrics(black_box(&rm), &mut buf);
            buf.len()
        })
    });
    group.bench_function("stock", |b| {
        b.iter(|| {
            let req = ExportMetricsServiceRequest::from(black_box(&rm));
            let bytes = req.encode_to_vec();
            (req, bytes)
        })
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = spans, logs, metrics
}
criterion_main!(benches);

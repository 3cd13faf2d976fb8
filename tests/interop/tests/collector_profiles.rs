//! Profiles through the official OpenTelemetry Collector (built by
//! scripts/collector.sh, run with `--feature-gates=+service.profilesSupport`):
//! what `otlp-ebpf` makes of a collection, sent by our `OtlpProfileExporter`
//! over gRPC and OTLP/HTTP, is accepted by the Collector's `otlp` receiver
//! and forwarded by its `otlp_grpc` and `otlp_http` (protobuf and JSON)
//! exporters to our receiver, field for field unchanged, but for
//! the two things the Collector is known to change (see
//! [`as_collector_forwards`] and [`resolve_string_references`]).

use otlp_core::{ExportRequest, Format, Signal};
use otlp_ebpf::{
    Collection, Frame, FrameKind, FunctionLine, Mapping, ProcessSamples, SampleStats, SampledStack,
};
use otlp_exporter::{OtlpProfileExporter, Protocol};
use otlp_interop_tests::collector::{Collector, Exporter};
use otlp_interop_tests::compare;
use otlp_transport::receiver::{ReceivedRequest, Receiver, ReceiverProtocol};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

const WAIT: Duration = Duration::from_secs(30);
const VIA: &str = "x-otlp-via";

/// Two processes sharing a binary, stacks with an inlined function and a
/// kernel frame: what the profiler collects in one window.
fn collection() -> Collection {
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let end = start + Duration::from_secs(10);
    let app = Arc::new(Mapping::new(
        0x5000,
        0x9000,
        0x1000,
        "/usr/bin/app".into(),
        Some(vec![0xab, 0x01, 0x7f]),
    ));
    let kernel = Arc::new(Mapping::new(
        0xffff_8000_0000_0000,
        u64::MAX,
        0,
        "[kernel.kallsyms]".into(),
        None,
    ));
    let native = |address, names: &[(&str, u32)]| {
        Frame::new(
            address,
            FrameKind::Native,
            Some(Arc::clone(&app)),
            names
                .iter()
                .map(|&(n, line)| FunctionLine::new(n.into(), Some("app.c".into()), Some(line)))
                .collect(),
        )
    };
    let syscall = Frame::new(
        0xffff_8000_0012_3456,
        FrameKind::Kernel,
        Some(kernel),
        vec![FunctionLine::new("do_syscall_64".into(), None, None)],
    );
    let burn = vec![
        native(0x5100, &[("otlp_burn_cpu", 17)]),
        native(0x5200, &[("inlined_step", 3), ("otlp_known_caller", 23)]),
        native(0x5300, &[("main", 40)]),
    ];
    let write = vec![
        syscall,
        native(0x5400, &[("write_log", 60)]),
        native(0x5300, &[("main", 41)]),
    ];
    let last = end - Duration::from_millis(5);
    Collection::new(
        start,
        end,
        Duration::from_nanos(52_631_578),
        "profiled-host".into(),
        vec![
            ProcessSamples::new(
                4242,
                "app".into(),
                vec![
                    SampledStack::new(burn.clone(), 180, last),
                    SampledStack::new(write, 7, last),
                ],
            ),
            ProcessSamples::new(4343, "app".into(), vec![SampledStack::new(burn, 12, last)]),
        ],
        SampleStats::default(),
    )
}

/// What the Collector forwards of `request`: an attribute-table entry
/// without a value (the dictionary's zero entry) gets an empty one, since
/// pdata has no absent `AnyValue`. Nothing else changes (but see
/// [`resolve_string_references`]).
fn as_collector_forwards(request: &ExportRequest) -> ExportRequest {
    let mut r = request.clone();
    if let ExportRequest::Profiles(p) = &mut r {
        for entry in p.dictionary.iter_mut().flat_map(|d| &mut d.attribute_table) {
            entry.value.get_or_insert_with(Default::default);
        }
    }
    r
}

/// The Collector (pdata 1.71) moves the keys and
/// string values of resource and scope attributes into the dictionary's
/// string table (`keyStrindex`, `stringValueStrindex`), appending to it.
/// This puts them back and drops the appended strings, after checking
/// that only references to appended strings were made.
fn resolve_string_references(request: &mut ExportRequest, sent_strings: usize) {
    use otlp_core::proto::common::v1::any_value::Value;
    use otlp_core::proto::common::v1::KeyValue;
    let ExportRequest::Profiles(p) = request else {
        return;
    };
    let Some(table) = p.dictionary.as_ref().map(|d| d.string_table.clone()) else {
        return;
    };
    let resolve = |i: i32| -> String {
        let i = usize::try_from(i).expect("a string index");
        assert!(
            i >= sent_strings,
            "a reference to a string that was sent: {i}"
        );
        table[i].clone()
    };
    let fix = |attributes: &mut Vec<KeyValue>| {
        for kv in attributes {
            if kv.key.is_empty() && kv.key_strindex != 0 {
                kv.key = resolve(kv.key_strindex);
                kv.key_strindex = 0;
            }
            if let Some(Value::StringValueStrindex(i)) =
                kv.value.as_ref().and_then(|v| v.value.clone())
            {
                kv.value.as_mut().expect("a value").value = Some(Value::StringValue(resolve(i)));
            }
        }
    };
    for rp in &mut p.resource_profiles {
        if let Some(resource) = &mut rp.resource {
            fix(&mut resource.attributes);
        }
        for sp in &mut rp.scope_profiles {
            if let Some(scope) = &mut sp.scope {
                fix(&mut scope.attributes);
            }
        }
    }
    if let Some(d) = &mut p.dictionary {
        d.string_table.truncate(sent_strings);
    }
}

#[test]
fn our_profiles_pass_through_the_collector_unchanged() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let any = "127.0.0.1:0".parse().unwrap();
    let (receiver, mut rx) = rt
        .block_on(
            Receiver::builder()
                .with_grpc_addr(any)
                .with_http_addr(any)
                .serve_channel(64),
        )
        .unwrap();
    let forwarding = |settings: String, id: &str| {
        format!(
            "{{{settings}, headers: {{{VIA}: \"{id}\"}}, sending_queue: {{enabled: false}}, retry_on_failure: {{enabled: false}}}}"
        )
    };
    let grpc = receiver.grpc_addr().unwrap();
    let http = receiver.http_addr().unwrap();
    let mut expected: BTreeMap<String, (ReceiverProtocol, Format)> = BTreeMap::new();
    let mut exporters = vec![Exporter::new(
        "otlp_grpc",
        forwarding(
            format!("endpoint: \"{grpc}\", tls: {{insecure: true}}"),
            "otlp_grpc",
        ),
    )];
    expected.insert(
        "otlp_grpc".into(),
        (ReceiverProtocol::Grpc, Format::Protobuf),
    );
    for (encoding, format) in [("proto", Format::Protobuf), ("json", Format::Json)] {
        let id = format!("otlp_http/{encoding}");
        exporters.push(Exporter::new(
            &id,
            forwarding(
                format!("endpoint: \"http://{http}\", encoding: {encoding}"),
                &id,
            ),
        ));
        expected.insert(id, (ReceiverProtocol::Http, format));
    }
    let collector = match Collector::start_with_profiles(&exporters) {
        Ok(c) => c,
        Err(e) => {
            otlp_interop_tests::skip_or_fail::<()>(e);
            return;
        }
    };
    let request = collection().to_otlp_request();
    let sent = ExportRequest::Profiles(request.clone());
    let forwarded = as_collector_forwards(&sent);
    assert_ne!(forwarded, sent, "the allowance above has something to do");
    for (protocol, endpoint) in [
        (Protocol::Grpc, collector.grpc_endpoint()),
        (Protocol::HttpProtobuf, collector.http_endpoint()),
    ] {
        let exporter = {
            let _entered = rt.enter();
            OtlpProfileExporter::builder()
                .with_endpoint(&endpoint)
                .with_protocol(protocol)
                .build()
                .unwrap()
        };
        rt.block_on(exporter.export(&request)).unwrap();
        exporter
            .shutdown(WAIT)
            .unwrap_or_else(|e| panic!("{protocol} to the Collector: {e}\n{}", collector.stderr()));
        let mut seen = BTreeMap::new();
        for _ in 0..expected.len() {
            let r: ReceivedRequest = rt
                .block_on(async { tokio::time::timeout(WAIT, rx.recv()).await })
                .ok()
                .flatten()
                .unwrap_or_else(|| {
                    panic!("{protocol}: a forwarded request\n{}", collector.stderr())
                });
            let id = r
                .headers
                .get(VIA)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("<no header>")
                .to_owned();
            let Some(&(transport, format)) = expected.get(&id) else {
                panic!("a request from an unknown exporter {id}");
            };
            let what = format!("sent over {protocol}, forwarded by {id}");
            assert_eq!(r.request.signal(), Signal::Profiles, "{what}");
            assert_eq!((r.transport, r.format), (transport, format), "{what}");
            let mut got = r.request.clone();
            let sent_strings = request
                .dictionary
                .as_ref()
                .map_or(0, |d| d.string_table.len());
            resolve_string_references(&mut got, sent_strings);
            if let Some(d) = compare::first_difference(&forwarded, &got) {
                panic!("{what}: {d}");
            }
            *seen.entry(id).or_insert(0) += 1;
        }
        assert!(seen.values().all(|&n| n == 1), "{protocol}: {seen:?}");
    }
    drop(collector);
    rt.block_on(receiver.shutdown());
}

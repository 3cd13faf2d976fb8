//! Endpoints from a DNS name: a real DNS server (hickory-server) on a
//! loopback port answers with two receivers' addresses, then with three;
//! the third starts getting its share of the traces while the exporter
//! runs.

use hickory_server::authority::{Catalog, ZoneType};
use hickory_server::proto::rr::rdata::{A, SOA};
use hickory_server::proto::rr::{LowerName, Name, RData, Record};
use hickory_server::store::in_memory::InMemoryAuthority;
use hickory_server::ServerFuture;
use opentelemetry::trace::{Tracer as _, TracerProvider as _};
use opentelemetry_sdk::trace::SdkTracerProvider;
use otlp_core::ExportRequest;
use otlp_exporter::{OtlpSpanProcessor, Protocol, Resolver};
use otlp_transport::receiver::{ReceivedRequest, Receiver, Reply, RunningReceiver};
use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const ZONE: &str = "otel.test.";
const NAME: &str = "collector.otel.test.";

type Traces = Arc<Mutex<HashSet<[u8; 16]>>>;

/// A receiver on `addr` keeping the trace ids it gets.
async fn collector(addr: SocketAddr) -> (RunningReceiver, Traces) {
    let traces: Traces = Arc::default();
    let kept = Arc::clone(&traces);
    let receiver = Receiver::builder()
        .with_grpc_addr(addr)
        .serve(move |r: ReceivedRequest| {
            if let ExportRequest::Traces(t) = &r.request {
                let mut kept = kept.lock().unwrap();
                for span in t
                    .resource_spans
                    .iter()
                    .flat_map(|rs| &rs.scope_spans)
                    .flat_map(|ss| &ss.spans)
                {
                    if let Ok(id) = <[u8; 16]>::try_from(span.trace_id.as_slice()) {
                        kept.insert(id);
                    }
                }
            }
            async { Reply::Accept }
        })
        .await
        .unwrap();
    (receiver, traces)
}

fn a_record(ip: Ipv4Addr) -> Record {
    // TTL 0: nothing may keep the answer.
    Record::from_rdata(Name::from_str(NAME).unwrap(), 0, RData::A(A(ip)))
}

#[test]
fn a_third_address_in_the_dns_answer_gets_its_share() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    // Three receivers on one port of 127.0.0.1, .2 and .3 (all of 127/8
    // is loopback on Linux).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ips: Vec<Ipv4Addr> = (1..=3).map(|i| Ipv4Addr::new(127, 0, 0, i)).collect();
    let collectors: Vec<(RunningReceiver, Traces)> = rt.block_on(async {
        let mut all = Vec::new();
        for ip in &ips {
            all.push(collector(SocketAddr::new((*ip).into(), port)).await);
        }
        all
    });

    // The DNS server: the zone answers with the first two.
    let origin = Name::from_str(ZONE).unwrap();
    let mut zone = InMemoryAuthority::empty(origin.clone(), ZoneType::Primary, false);
    let soa = SOA::new(
        Name::from_str("ns.otel.test.").unwrap(),
        Name::from_str("admin.otel.test.").unwrap(),
        1,
        60,
        60,
        60,
        0,
    );
    zone.upsert_mut(Record::from_rdata(origin.clone(), 0, RData::SOA(soa)), 1);
    zone.upsert_mut(a_record(ips[0]), 1);
    zone.upsert_mut(a_record(ips[1]), 1);
    let zone = Arc::new(zone);
    let mut catalog = Catalog::new();
    catalog.upsert(LowerName::new(&origin), vec![zone.clone()]);
    let dns_addr = rt.block_on(async {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let mut server = ServerFuture::new(catalog);
        server.register_socket(socket);
        tokio::spawn(async move { server.block_until_done().await });
        addr
    });

    let resolver = Resolver::dns(NAME, port)
        .with_name_server(dns_addr)
        .with_interval(Duration::from_millis(100));
    let processor = OtlpSpanProcessor::builder()
        .with_resolver(resolver)
        .with_protocol(Protocol::Grpc)
        .with_max_batch_size(32)
        .build()
        .unwrap();
    let stats = processor.stats();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .build();
    let tracer = provider.tracer("dns");
    let send = |n: usize| {
        for i in 0..n {
            tracer.in_span(format!("request {i}"), |_| {});
        }
        provider.force_flush().unwrap();
    };
    let members = |stats: &otlp_exporter::ExportStats| {
        stats
            .endpoints()
            .iter()
            .filter(|e| e.in_ring)
            .map(|e| e.endpoint.clone())
            .collect::<HashSet<String>>()
    };
    let url = |ip: Ipv4Addr| format!("http://{ip}:{port}");
    let waited = stats.wait_for(|_| members(&stats).len() == 2, Duration::from_secs(60));
    assert!(
        waited.is_some(),
        "the first answer: {:?}",
        stats.endpoints()
    );
    assert_eq!(members(&stats), HashSet::from([url(ips[0]), url(ips[1])]));
    send(200);
    let count = |i: usize| collectors[i].1.lock().unwrap().len();
    assert!(count(0) > 0 && count(1) > 0, "both get traces");
    assert_eq!(count(2), 0, "not in the answer, no traces");

    // The answer grows to three addresses.
    rt.block_on(zone.upsert(a_record(ips[2]), 2));
    let waited = stats.wait_for(|_| members(&stats).len() == 3, Duration::from_secs(60));
    assert!(waited.is_some(), "the new answer: {:?}", stats.endpoints());
    send(300);
    assert!(count(2) > 0, "the third gets its share");

    provider.shutdown().unwrap();
    let snap = stats.snapshot();
    assert_eq!(snap.items_exported, 500, "{snap:?}");
    // Each trace (one span each here) at exactly one receiver.
    let mut seen: HashMap<[u8; 16], usize> = HashMap::new();
    for (i, (_, traces)) in collectors.iter().enumerate() {
        for t in traces.lock().unwrap().iter() {
            assert_eq!(seen.insert(*t, i), None, "a trace at two receivers");
        }
    }
    assert_eq!(seen.len(), 500);
    rt.block_on(async {
        for (receiver, _) in collectors {
            receiver.shutdown().await;
        }
    });
}

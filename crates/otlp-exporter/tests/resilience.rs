//! Delivery through failures: scripted receivers that refuse, throttle or
//! disappear, and the persistent queue across restarts.

use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
use opentelemetry_sdk::error::OTelSdkError;
use opentelemetry_sdk::trace::{
    InMemorySpanExporter, SdkTracerProvider, SpanData, SpanExporter as _,
};
use otlp_exporter::{
    ExportStats, OtlpSpanExporter, OtlpSpanProcessor, Protocol, RetryPolicy, StatsSnapshot,
};
use otlp_transport::receiver::{ReceivedRequest, Receiver, Reply};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn spans(n: usize) -> Vec<SpanData> {
    let memory = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(memory.clone())
        .build();
    let tracer = provider.tracer("resilience");
    for i in 0..n {
        tracer.in_span(format!("span-{i}"), |_| {});
    }
    memory.get_finished_spans().unwrap()
}

/// A local address nothing listens on (yet): a port taken and let go.
/// A port on 127.0.0.1 that nothing listens on, for a server started
/// later. It lies below the kernel's range of ephemeral ports where the
/// kernel says what that range is: a port from that range can be taken in
/// the meantime as the source port of an outgoing connection (the
/// exporter's own attempts to reach the closed port included, which then
/// connect to themselves) or by another test binding port 0, and the
/// server could then not bind it. Ports handed out here are not handed out
/// again in this process.
fn closed_port() -> SocketAddr {
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .filter(|&low| low > 11_000);
    let mut given = GIVEN.lock().unwrap();
    if let Some(low) = low {
        // Start somewhere that depends on the process, so that two test
        // binaries running at once try different ports first.
        let span = 10_000u16;
        let start = (std::process::id() % u32::from(span)) as u16;
        for i in 0..span {
            let port = low - span + (start + i) % span;
            if given.contains(&port) {
                continue;
            }
            if let Ok(l) = std::net::TcpListener::bind(("127.0.0.1", port)) {
                given.push(port);
                return l.local_addr().unwrap();
            }
        }
    }
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    given.push(addr.port());
    addr
}

fn fast_retries(max_elapsed: Duration) -> RetryPolicy {
    RetryPolicy::builder()
        .with_initial_interval(Duration::from_millis(20))
        .with_max_interval(Duration::from_millis(200))
        .with_max_elapsed_time(max_elapsed)
        .build()
        .unwrap()
}

/// A receiver whose answer to the n-th request (0-based) is `script(n)`;
/// records when each request arrived and how many spans it held.
struct Scripted {
    rt: tokio::runtime::Runtime,
    receiver: Option<otlp_transport::receiver::RunningReceiver>,
    log: Arc<Mutex<Vec<(Instant, usize, Reply)>>>,
}

impl Scripted {
    fn start_at(
        addr: SocketAddr,
        script: impl Fn(usize) -> Reply + Send + Sync + 'static,
    ) -> Scripted {
        Self::start_with(addr, None, script)
    }

    /// Serves gRPC on `addr` and, when given, HTTP on `http`.
    fn start_with(
        addr: SocketAddr,
        http: Option<SocketAddr>,
        script: impl Fn(usize) -> Reply + Send + Sync + 'static,
    ) -> Scripted {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let log: Arc<Mutex<Vec<(Instant, usize, Reply)>>> = Arc::default();
        let count = Arc::new(AtomicUsize::new(0));
        let script = Arc::new(script);
        let handler_log = Arc::clone(&log);
        let receiver = rt.block_on(async move {
            let mut builder = Receiver::builder().with_grpc_addr(addr);
            if let Some(http) = http {
                builder = builder.with_http_addr(http);
            }
            builder
                .serve(move |r: ReceivedRequest| {
                    let n = count.fetch_add(1, Ordering::SeqCst);
                    let reply = script(n);
                    handler_log.lock().unwrap().push((
                        Instant::now(),
                        r.request.item_count(),
                        reply.clone(),
                    ));
                    async move { reply }
                })
                .await
                .unwrap()
        });
        Scripted {
            rt,
            receiver: Some(receiver),
            log,
        }
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.addr())
    }

    fn addr(&self) -> SocketAddr {
        self.receiver.as_ref().unwrap().grpc_addr().unwrap()
    }

    fn http_endpoint(&self) -> String {
        format!(
            "http://{}",
            self.receiver.as_ref().unwrap().http_addr().unwrap()
        )
    }

    fn endpoint_for(&self, protocol: Protocol) -> String {
        match protocol {
            Protocol::Grpc => self.endpoint(),
            _ => self.http_endpoint(),
        }
    }

    fn accepted_spans(&self) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, _, r)| *r == Reply::Accept)
            .map(|(_, n, _)| n)
            .sum()
    }

    fn requests(&self) -> usize {
        self.log.lock().unwrap().len()
    }

    fn stop(mut self) {
        if let Some(r) = self.receiver.take() {
            self.rt.block_on(r.shutdown());
        }
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Waits (up to a minute) until `done` holds for the stats, waking on
/// each change.
fn wait_for(stats: &ExportStats, done: impl Fn(&StatsSnapshot) -> bool) {
    let waited = stats.wait_for(done, Duration::from_secs(60));
    assert!(
        waited.is_some(),
        "timed out waiting: {:?}",
        stats.snapshot()
    );
}

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

#[test]
fn throttled_requests_are_retried_after_the_servers_delay() {
    // gRPC: UNAVAILABLE with RetryInfo; HTTP: 503 with Retry-After (whole
    // seconds, so 1 s).
    for (protocol, hint) in [
        (Protocol::Grpc, Duration::from_millis(300)),
        (Protocol::HttpProtobuf, Duration::from_secs(1)),
    ] {
        throttled(protocol, hint);
    }
}

fn throttled(protocol: Protocol, hint: Duration) {
    // The first three answers ask the client to come back after `hint`.
    let server = Scripted::start_with(any_port(), Some(any_port()), move |n| {
        if n < 3 {
            Reply::unavailable(Some(hint))
        } else {
            Reply::Accept
        }
    });
    let exporter = OtlpSpanExporter::builder()
        .with_endpoint(server.endpoint_for(protocol))
        .with_protocol(protocol)
        .with_retry_policy(fast_retries(Duration::from_secs(20)))
        .build()
        .unwrap();
    let stats = exporter.stats();
    block_on(exporter.export(spans(50))).unwrap();
    exporter.force_flush().unwrap();
    assert_eq!(server.accepted_spans(), 50);
    // That each retry waited at least the hint is the retry policy's to
    // check, on a paused clock (otlp-resilience's retry tests).
    assert_eq!(server.requests(), 4);
    let snap = stats.snapshot();
    assert_eq!((snap.items_exported, snap.retries), (50, 3));
    server.stop();
}

#[test]
fn permanent_errors_and_partial_success_are_not_retried() {
    // INVALID_ARGUMENT over gRPC, 400 over HTTP; partial success on both.
    for protocol in [Protocol::Grpc, Protocol::HttpProtobuf] {
        for (reply, exported, failed, rejected) in [
            (Reply::invalid_argument("bad data"), 0, 10, 0),
            (Reply::partial_success(4, "too old"), 6, 0, 4),
        ] {
            not_retried(protocol, reply, exported, failed, rejected);
        }
    }
}

fn not_retried(protocol: Protocol, reply: Reply, exported: u64, failed: u64, rejected: u64) {
    {
        let server = Scripted::start_with(any_port(), Some(any_port()), move |_| reply.clone());
        let exporter = OtlpSpanExporter::builder()
            .with_endpoint(server.endpoint_for(protocol))
            .with_protocol(protocol)
            .with_retry_policy(fast_retries(Duration::from_secs(20)))
            .build()
            .unwrap();
        let stats = exporter.stats();
        block_on(exporter.export(spans(10))).unwrap();
        // The flush reports the items dropped while it waited.
        let e = exporter.force_flush().unwrap_err();
        assert!(
            e.to_string().contains(&format!("{} (", failed + rejected)),
            "{e}"
        );
        assert_eq!(server.requests(), 1, "sent once only");
        let snap = stats.snapshot();
        assert_eq!(snap.retries, 0);
        assert_eq!(snap.items_exported, exported);
        assert_eq!(snap.dropped.export_failed, failed);
        assert_eq!(snap.dropped.rejected_by_receiver, rejected);
        server.stop();
    }
}

#[test]
fn a_down_endpoint_loses_nothing_once_it_is_back() {
    // A port kept closed for a while.
    let addr = closed_port();
    let exporter = OtlpSpanExporter::builder()
        .with_endpoint(format!("http://{addr}"))
        .with_protocol(Protocol::Grpc)
        .with_retry_policy(fast_retries(Duration::from_secs(60)))
        .build()
        .unwrap();
    let stats = exporter.stats();
    for _ in 0..20 {
        block_on(exporter.export(spans(25))).unwrap();
    }
    // Wait until attempts have failed and are being retried.
    wait_for(&stats, |s| s.retries > 0);
    assert_eq!(stats.snapshot().items_exported, 0);
    let server = Scripted::start_at(addr, |_| Reply::Accept);
    exporter.force_flush().unwrap();
    assert_eq!(server.accepted_spans(), 500);
    let snap = stats.snapshot();
    assert_eq!((snap.items_exported, snap.dropped.total()), (500, 0));
    assert!(snap.retries + snap.requeued > 0);
    server.stop();
}

#[test]
fn the_persistent_queue_keeps_batches_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let addr = closed_port();
    let build = || {
        // A dropped exporter's runtime shuts down in the background, and
        // lets go of the directory when its last task is gone: wait for it.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let built = OtlpSpanExporter::builder()
                .with_endpoint(format!("http://{addr}"))
                .with_protocol(Protocol::Grpc)
                .with_retry_policy(fast_retries(Duration::from_secs(1)))
                .with_persistent_queue(dir.path())
                .build();
            match built {
                Err(e) if e.to_string().contains("lock") && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                other => return other.unwrap(),
            }
        }
    };
    // First run: the endpoint is down; the batches wait on disk.
    let exporter = build();
    for _ in 0..8 {
        block_on(exporter.export(spans(10))).unwrap();
    }
    // Once the senders are retrying, nothing has left the disk.
    let stats = exporter.stats();
    wait_for(&stats, |s| s.retries > 0);
    let snap = stats.snapshot();
    assert_eq!(snap.items_exported, 0);
    assert_eq!(snap.disk.unwrap().queued_batches, 8);
    // A second exporter on the same directory is refused while the first
    // holds it.
    let err = OtlpSpanExporter::builder()
        .with_endpoint(format!("http://{addr}"))
        .with_persistent_queue(dir.path())
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("lock"), "{err}");
    // Shutting down gives up waiting for the endpoint, leaves the batches on
    // disk and lets go of the directory.
    assert!(exporter
        .shutdown_with_timeout(Duration::from_millis(200))
        .is_err());
    drop(exporter);

    // Second run, endpoint up: what was on disk is sent first.
    let server = Scripted::start_at(addr, |_| Reply::Accept);
    let exporter = build();
    exporter.force_flush().unwrap();
    assert_eq!(server.accepted_spans(), 80);
    let snap = exporter.stats().snapshot();
    assert_eq!(snap.disk.unwrap().queued_batches, 0);
    // Counted as recovered, not as handed over by this run.
    assert_eq!((snap.items_recovered, snap.items_accepted), (80, 0));
    assert_eq!(snap.items_exported, 80);
    server.stop();
}

#[test]
fn the_span_processor_keeps_spans_on_disk_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let addr = closed_port();
    let build = || {
        OtlpSpanProcessor::builder()
            .with_endpoint(format!("http://{addr}"))
            .with_protocol(Protocol::Grpc)
            .with_retry_policy(fast_retries(Duration::from_secs(1)))
            .with_persistent_queue(dir.path())
            .with_max_batch_size(10)
            .build()
    };
    // First run: the endpoint is down. Shutting down sends the last,
    // partial batch to the queue too, gives up waiting for the endpoint and
    // leaves all four batches on disk.
    let processor = build().unwrap();
    let stats = processor.stats();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .build();
    let tracer = provider.tracer("durable");
    for i in 0..35 {
        tracer.start(format!("op-{i}")).end();
    }
    assert!(provider
        .shutdown_with_timeout(Duration::from_millis(300))
        .is_err());
    let snap = stats.snapshot();
    assert_eq!((snap.items_accepted, snap.items_exported), (35, 0));
    assert_eq!(snap.disk.unwrap().queued_batches, 4);
    // The directory is let go of once nothing holds the processor.
    drop(tracer);
    drop(provider);

    // Second run, endpoint up: what was on disk is sent first. (The first
    // run's thread lets go of the directory as it winds down.)
    let server = Scripted::start_at(addr, |_| Reply::Accept);
    let deadline = Instant::now() + Duration::from_secs(10);
    let processor = loop {
        match build() {
            Ok(p) => break p,
            Err(e) if Instant::now() < deadline && e.to_string().contains("lock") => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("{e}"),
        }
    };
    let stats = processor.stats();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .build();
    provider.force_flush().unwrap();
    assert_eq!(server.accepted_spans(), 35);
    assert_eq!(stats.snapshot().disk.unwrap().queued_batches, 0);
    provider.shutdown().unwrap();
    server.stop();
}

/// The first request is answered `503` with `Retry-After: 3600`, the rest
/// are accepted. With one send slot, a batch sleeping on the hour while
/// holding the slot would stop all sending; instead every other batch is
/// delivered at once.
#[test]
fn an_hour_long_retry_after_holds_up_no_other_batch() {
    let hour = Duration::from_secs(3600);
    for durable in [false, true] {
        let server = Scripted::start_with(any_port(), Some(any_port()), move |n| {
            if n == 0 {
                Reply::unavailable(Some(hour))
            } else {
                Reply::Accept
            }
        });
        let dir = tempfile::tempdir().unwrap();
        let mut builder = OtlpSpanExporter::builder()
            .with_endpoint(server.http_endpoint())
            .with_protocol(Protocol::HttpProtobuf)
            .with_max_concurrent_exports(1);
        if durable {
            builder = builder.with_persistent_queue(dir.path());
        }
        let exporter = builder.build().unwrap();
        let stats = exporter.stats();
        for _ in 0..8 {
            block_on(exporter.export(spans(10))).unwrap();
        }
        if durable {
            // The batch told to wait stays on disk, out for sending, and
            // holds no slot: the seven others get through.
            wait_for(&stats, |s| s.items_exported == 70);
            let snap = stats.snapshot();
            assert_eq!((snap.in_flight_items, snap.dropped.total()), (10, 0));
            assert_eq!(snap.disk.unwrap().queued_batches, 1);
            // Shutting down keeps it there for the next run.
            let e = exporter
                .shutdown_with_timeout(Duration::from_millis(100))
                .unwrap_err();
            assert!(matches!(e, OTelSdkError::Timeout(_)), "{e}");
            let snap = stats.snapshot();
            assert_eq!((snap.queued_items, snap.in_flight_items), (10, 0));
        } else {
            // An hour does not fit in the retry policy's five minutes: the
            // batch is given up at once, counted, and the flush says so.
            let e = exporter.force_flush().unwrap_err();
            assert!(e.to_string().contains("10 (out of retry time 10)"), "{e}");
            let snap = stats.snapshot();
            assert_eq!(snap.items_exported, 70);
            assert_eq!(snap.dropped.retry_expired, 10);
            assert_eq!((snap.queued_items, snap.in_flight_items), (0, 0));
        }
        assert_eq!(server.accepted_spans(), 70);
        assert_eq!(server.requests(), 8, "the hour-long wait was not retried");
        server.stop();
    }
}

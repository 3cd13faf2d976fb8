//! The client's three signals and its push API share one export thread and
//! one transport client: a collector sees one connection per protocol, and
//! pushes work from a thread with no tokio runtime.

use opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _};
use opentelemetry::trace::Tracer as _;
use otlp::transport::receiver::{ReceivedRequest, Receiver, Reply, RunningReceiver};
use otlp::{EnhancedOtlpClient, Protocol, Signal, TelemetryData};
use std::collections::BTreeSet;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

/// Drives a future on the calling thread, without tokio: the push API must
/// not need the caller's runtime.
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(out) => return out,
            Poll::Pending => std::thread::park(),
        }
    }
}

/// Threads of this process named as the exporters' runtime names its own.
#[cfg(target_os = "linux")]
fn export_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim() == "otlp-exporter")
        .count()
}

type Seen = Arc<Mutex<Vec<(Signal, Option<SocketAddr>)>>>;

fn start(rt: &tokio::runtime::Runtime) -> (RunningReceiver, Seen) {
    let seen = Seen::default();
    let log = Arc::clone(&seen);
    let receiver = rt.block_on(async move {
        Receiver::builder()
            .with_grpc_addr("127.0.0.1:0".parse().unwrap())
            .with_http_addr("127.0.0.1:0".parse().unwrap())
            .serve(move |req: ReceivedRequest| {
                log.lock().unwrap().push((req.request.signal(), req.peer));
                async { Reply::Accept }
            })
            .await
            .unwrap()
    });
    (receiver, seen)
}

#[test]
fn one_thread_and_one_connection_per_protocol_and_pushes_need_no_runtime() {
    // The receiver's runtime; nothing below runs inside it.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (receiver, seen) = start(&rt);

    #[cfg(target_os = "linux")]
    assert_eq!(export_threads(), 0, "no client yet");
    for (round, protocol) in [Protocol::Grpc, Protocol::HttpProtobuf]
        .into_iter()
        .enumerate()
    {
        seen.lock().unwrap().clear();
        let endpoint = match protocol {
            Protocol::Grpc => receiver.grpc_addr(),
            _ => receiver.http_addr(),
        };
        let client = EnhancedOtlpClient::builder()
            .with_endpoint(format!("http://{}", endpoint.unwrap()))
            .with_protocol(protocol)
            .with_metric_export_interval(Duration::from_secs(3600))
            .build()
            .unwrap();
        // One signal at a time, each flushed before the next.
        client.tracer("shared").in_span("span", |_cx| {});
        client.force_flush().unwrap();
        let counter = client.meter("shared").u64_counter("hits").build();
        counter.add(1, &[]);
        client.force_flush().unwrap();
        let logger = client.logger_provider().logger("shared");
        let mut record = logger.create_log_record();
        record.set_body("a line".into());
        logger.emit(record);
        client.force_flush().unwrap();

        assert!(tokio::runtime::Handle::try_current().is_err());
        let pushed = block_on(client.send_batch(vec![
            TelemetryData::span("pushed").build(),
            TelemetryData::metric("pushed.gauge").gauge(2.0),
            TelemetryData::log("pushed line").build(),
        ]))
        .unwrap();
        assert_eq!(pushed.accepted, 3, "{protocol}");
        let one = block_on(client.send_log("one more").finish()).unwrap();
        assert_eq!(one.accepted, 1, "{protocol}");
        // The stats handles wait for a figure without polling; the
        // answered pushes are booked already.
        let logs = client.push_stats(Signal::Logs).unwrap();
        let snap = block_on(logs.until(|s| s.items_exported == 2));
        assert_eq!(snap.requests, 2, "{protocol}");
        let traces = client.exporter_stats(Signal::Traces).unwrap();
        assert!(
            traces
                .wait_for(|s| s.items_exported == 1, Duration::from_secs(60))
                .is_some(),
            "{protocol}"
        );
        // Three exporters and the push API, each of which has run by now:
        // one thread between them. (Counted for the first client only: the
        // thread of one shut down may take a moment to go.)
        #[cfg(target_os = "linux")]
        if round == 0 {
            assert_eq!(export_threads(), 1, "{protocol}");
        }
        client.shutdown().unwrap();

        let seen = seen.lock().unwrap().clone();
        let signals: BTreeSet<_> = seen.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(signals.len(), 3, "{protocol}: {seen:?}");
        // At least the three exports and the four pushes.
        assert!(seen.len() >= 7, "{protocol}: {seen:?}");
        let peers: BTreeSet<_> = seen.iter().map(|(_, peer)| *peer).collect();
        assert!(peers.iter().all(Option::is_some), "{seen:?}");
        // A client per signal, and per signal for the pushes, would have
        // made six connections at least.
        match protocol {
            // One HTTP/2 connection multiplexes every request.
            Protocol::Grpc => {
                assert_eq!(peers.len(), 1, "{protocol}: one connection, {seen:?}")
            }
            // HTTP/1.1 takes a second connection from the one pool only
            // while two requests overlap: a flush's metrics (exported again
            // at every flush) and log records may.
            _ => assert!(peers.len() <= 2, "{protocol}: one pool, {seen:?}"),
        }

        let stats = client.stats();
        for signal in Signal::STABLE {
            let sdk = stats.signal(signal).unwrap();
            let push = stats.pushed.signal(signal).unwrap();
            assert!(sdk.items_exported >= 1, "{protocol} {signal}: {sdk:?}");
            assert!(push.items_exported >= 1, "{protocol} {signal}: {push:?}");
        }
    }
    rt.block_on(receiver.shutdown());
}

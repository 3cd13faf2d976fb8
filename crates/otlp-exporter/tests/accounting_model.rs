//! Model-based test of the exporter's accounting: random sequences of
//! batches, endpoint answers (accepted, partial, retryable with and
//! without a delay, an hour's delay, permanent, timed out), flushes and a
//! shutdown at a random point, against random queue limits and overflow
//! policies, in memory and with the persistent queue.
//!
//! After every step, the stats must add up (`accepted = exported +
//! dropped + queued + in flight`), and agree with a model that knows which
//! batches the endpoint accepted, rejected in part or refused for good.
//! The endpoint holds each request until the test answers it, so nothing
//! here depends on timing: the test waits for events (with generous
//! timeouts), never for a while.

use opentelemetry::trace::{Tracer as _, TracerProvider as _};
use opentelemetry_sdk::trace::SpanExporter as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use otlp_core::ExportRequest;
use otlp_exporter::{
    BreakerConfig, DiskQueueConfig, FsyncPolicy, OtlpSpanExporter, Overflow, Protocol, RetryPolicy,
    StatsSnapshot,
};
use otlp_transport::receiver::{ReceivedRequest, Receiver, Reply, RunningReceiver};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::mpsc;
use std::time::Duration;
use tokio::sync::oneshot;

/// How the endpoint answers one request.
#[derive(Debug, Clone, Copy)]
enum Answer {
    Accept,
    /// Accepted, with this share (in eighths) of the items rejected.
    Partial(u8),
    /// `UNAVAILABLE`, no delay asked.
    Retryable,
    /// `UNAVAILABLE`, come back in 20 ms.
    RetryableAfter,
    /// `UNAVAILABLE`, come back in an hour: more than the retry policy's
    /// time left.
    RetryableAfterAnHour,
    /// `INVALID_ARGUMENT`.
    Permanent,
    /// `DEADLINE_EXCEEDED`: the endpoint timed out.
    Timeout,
}

#[derive(Debug, Clone)]
enum Step {
    Export(u64),
    Answer(Answer),
    Flush,
    Shutdown,
}

fn answer() -> impl Strategy<Value = Answer> {
    prop_oneof![
        4 => Just(Answer::Accept),
        1 => (1u8..=8).prop_map(Answer::Partial),
        1 => Just(Answer::Retryable),
        1 => Just(Answer::RetryableAfter),
        1 => Just(Answer::RetryableAfterAnHour),
        1 => Just(Answer::Permanent),
        1 => Just(Answer::Timeout),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (1u64..=20).prop_map(Step::Export),
        5 => answer().prop_map(Step::Answer),
        1 => Just(Step::Flush),
    ]
}

/// Steps with a shutdown at a random point, or none.
fn steps() -> impl Strategy<Value = Vec<Step>> {
    (
        proptest::collection::vec(step(), 1..48),
        proptest::option::of(0usize..48),
    )
        .prop_map(|(mut steps, shutdown_at)| {
            if let Some(at) = shutdown_at {
                steps.insert(at.min(steps.len()), Step::Shutdown);
            }
            steps
        })
}

fn overflow() -> impl Strategy<Value = Overflow> {
    prop_oneof![
        Just(Overflow::DropNewest),
        Just(Overflow::DropOldest),
        Just(Overflow::Block {
            deadline: Duration::from_millis(20)
        }),
    ]
}

/// A request the endpoint holds: its batch, and where its answer goes.
struct Held {
    batch: u64,
    items: u64,
    reply: oneshot::Sender<Reply>,
}

/// An OTLP/gRPC endpoint that hands every request to the test and answers
/// what the test says.
struct Endpoint {
    rt: tokio::runtime::Runtime,
    receiver: Option<RunningReceiver>,
    requests: mpsc::Receiver<Held>,
    /// Set when the test is over: held requests are let go.
    closing: tokio::sync::watch::Sender<bool>,
}

impl Endpoint {
    fn start() -> Endpoint {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let (tx, requests) = mpsc::channel();
        let tx = std::sync::Mutex::new(tx);
        let closing = tokio::sync::watch::channel(false).0;
        let closed = closing.clone();
        let receiver = rt.block_on(async move {
            Receiver::builder()
                .with_grpc_addr("127.0.0.1:0".parse().unwrap())
                .serve(move |r: ReceivedRequest| {
                    let (reply, answer) = oneshot::channel();
                    let batch = batch_of(&r.request);
                    let items = r.request.item_count() as u64;
                    let _ = tx.lock().unwrap().send(Held {
                        batch,
                        items,
                        reply,
                    });
                    let mut closed = closed.subscribe();
                    async move {
                        tokio::select! {
                            answer = answer => answer.unwrap_or(Reply::Accept),
                            _ = closed.wait_for(|c| *c) => Reply::Accept,
                        }
                    }
                })
                .await
                .unwrap()
        });
        Endpoint {
            rt,
            receiver: Some(receiver),
            requests,
            closing,
        }
    }

    fn endpoint(&self) -> String {
        let addr = self.receiver.as_ref().unwrap().grpc_addr().unwrap();
        format!("http://{addr}")
    }

    /// The next request, if one arrives within `wait`.
    fn next(&self, wait: Duration) -> Option<Held> {
        self.requests.recv_timeout(wait).ok()
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        // Let every held request go, then stop.
        self.closing.send_replace(true);
        if let Some(r) = self.receiver.take() {
            self.rt.block_on(r.shutdown());
        }
    }
}

/// The batch number, from the name of the request's first span (`b<n>`).
fn batch_of(request: &ExportRequest) -> u64 {
    let ExportRequest::Traces(r) = request else {
        panic!("not traces")
    };
    let name = &r.resource_spans[0].scope_spans[0].spans[0].name;
    name[1..].parse().unwrap()
}

fn spans(batch: u64, n: u64) -> Vec<SpanData> {
    let memory = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(memory.clone())
        .build();
    let tracer = provider.tracer("model");
    for _ in 0..n {
        tracer.in_span(format!("b{batch}"), |_| {});
    }
    memory.get_finished_spans().unwrap()
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// What the test knows.
#[derive(Debug, Default)]
struct Model {
    /// Items handed to the exporter, taken or not.
    accepted: u64,
    /// Items of exports the exporter refused at once.
    refused: u64,
    exported: u64,
    rejected: u64,
    failed: u64,
    expired: u64,
    /// Batches queued and not answered for good, with their items.
    outstanding: BTreeMap<u64, u64>,
    /// Outstanding batches told to wait an hour (persistent queue only).
    parked: BTreeSet<u64>,
    /// Items dropped that a flush or shutdown has reported.
    reported: u64,
    shut_down: bool,
    /// Batches the exporter may hold out of the queue at once (sent or
    /// waiting for their next attempt): four per send slot.
    out_of_queue: usize,
}

impl Model {
    /// Items of the batches told to wait an hour.
    fn parked_items(&self) -> u64 {
        self.parked.iter().map(|b| self.outstanding[b]).sum()
    }

    /// Whether a request is coming: the exporter holds batches (queued, or
    /// out for sending) other than those told to wait an hour, and not
    /// every batch it may take out of the queue is one of those (the rest
    /// then wait on disk until one of them is sent). Batches the queue
    /// dropped are not among them.
    fn expects_request(&self, snap: &StatsSnapshot) -> bool {
        !self.shut_down
            && snap.queued_items + snap.in_flight_items > self.parked_items()
            && self.parked.len() < self.out_of_queue
    }
}

/// Long enough for a batch the exporter holds to reach the endpoint.
const ARRIVAL: Duration = Duration::from_secs(20);

/// Waits (up to 30 s) until `done` holds for a snapshot; returns it.
fn wait_for(
    stats: &otlp_exporter::ExportStats,
    done: impl Fn(&StatsSnapshot) -> bool,
) -> StatsSnapshot {
    stats
        .wait_for(done, Duration::from_secs(30))
        .unwrap_or_else(|| panic!("timed out waiting: {:?}", stats.snapshot()))
}

/// The items a flush or shutdown error says were dropped, if it says so.
fn reported_drops(e: &impl std::fmt::Display) -> Option<u64> {
    let text = e.to_string();
    let (before, _) = text.split_once(" (")?;
    let n = before.rsplit(' ').next()?;
    text.contains("items dropped").then(|| n.parse().ok())?
}

fn check(snap: &StatsSnapshot, model: &Model) {
    let d = &snap.dropped;
    // Every item is in exactly one place (nothing is recovered from an
    // earlier run here).
    assert_eq!(snap.items_recovered, 0);
    assert_eq!(
        snap.items_accepted,
        snap.items_exported + d.total() + snap.queued_items + snap.in_flight_items,
        "{snap:?}"
    );
    // ... and the places agree with what the endpoint was told to do.
    assert_eq!(snap.items_accepted, model.accepted, "{snap:?}");
    assert_eq!(snap.items_exported, model.exported, "{snap:?}");
    assert_eq!(d.rejected_by_receiver, model.rejected, "{snap:?}");
    assert_eq!(d.export_failed, model.failed, "{snap:?}");
    assert_eq!(d.retry_expired, model.expired, "{snap:?}");
    assert_eq!((d.encode_failed, d.disk_error), (0, 0), "{snap:?}");
    // A batch not answered for good is still queued or being sent, or was
    // dropped by the queue or the shutdown; refused exports are dropped
    // too.
    let outstanding: u64 = model.outstanding.values().sum();
    assert_eq!(
        outstanding + model.refused,
        snap.queued_items + snap.in_flight_items + d.queue_full + d.shutdown,
        "{snap:?} {model:?}"
    );
    assert!(model.reported <= d.total(), "{snap:?} {model:?}");
}

fn run(steps: Vec<Step>, max_items: u64, overflow: Overflow, concurrency: usize, durable: bool) {
    let endpoint = Endpoint::start();
    let dir = tempfile::tempdir().unwrap();
    let mut builder = OtlpSpanExporter::builder()
        .with_endpoint(endpoint.endpoint())
        .with_protocol(Protocol::Grpc)
        .with_timeout(Duration::from_secs(60))
        .with_max_concurrent_exports(concurrency)
        .with_retry_policy(
            RetryPolicy::builder()
                .with_initial_interval(Duration::from_millis(5))
                .with_max_interval(Duration::from_millis(20))
                .with_max_elapsed_time(Duration::from_secs(600))
                .with_min_retries_per_second(10_000)
                .build()
                .unwrap(),
        )
        // Opens only after 100 failures in a row, more than a test has:
        // the endpoint's answers are the test's to choose.
        .with_circuit_breaker(
            BreakerConfig::builder()
                .with_min_calls(100)
                .with_failure_ratio(1.0)
                .build()
                .unwrap(),
        );
    if durable {
        // A batch of 20 spans takes about 1.2 KiB: a few fit.
        builder = builder
            .with_persistent_queue(dir.path())
            .with_disk_queue_config(
                DiskQueueConfig::builder()
                    .with_segment_size(1024)
                    .with_max_bytes(max_items * 1024)
                    .with_fsync(FsyncPolicy::Never)
                    .with_overflow(overflow)
                    .build()
                    .unwrap(),
            );
    } else {
        builder = builder
            .with_queue_limits(max_items, 64 * 1024)
            .with_overflow(overflow);
    }
    let exporter = builder.build().unwrap();
    let stats = exporter.stats();
    let flush = exporter.flush_handle();
    let mut model = Model {
        out_of_queue: 4 * concurrency,
        ..Model::default()
    };
    let mut next_batch = 0;

    for step in steps {
        match step {
            Step::Export(n) => {
                let batch = next_batch;
                next_batch += 1;
                model.accepted += n;
                match block_on(exporter.export(spans(batch, n))) {
                    Ok(()) => {
                        model.outstanding.insert(batch, n);
                    }
                    Err(_) => model.refused += n,
                }
            }
            Step::Answer(answer) => {
                let snap = stats.snapshot();
                if !model.expects_request(&snap) {
                    continue;
                }
                let Some(held) = endpoint.next(ARRIVAL) else {
                    panic!("no request came: {snap:?} {:?} {model:?}", stats.snapshot());
                };
                let Held {
                    batch,
                    items,
                    reply,
                } = held;
                assert_eq!(model.outstanding.get(&batch), Some(&items), "{model:?}");
                let hour = Duration::from_secs(3600);
                let reply_with = match answer {
                    Answer::Accept => {
                        model.outstanding.remove(&batch);
                        model.exported += items;
                        Reply::Accept
                    }
                    Answer::Partial(eighths) => {
                        let rejected = (items * u64::from(eighths) / 8).max(1);
                        model.outstanding.remove(&batch);
                        model.exported += items - rejected;
                        model.rejected += rejected;
                        Reply::partial_success(rejected, "too old")
                    }
                    Answer::Retryable => Reply::unavailable(None),
                    Answer::RetryableAfter => Reply::unavailable(Some(Duration::from_millis(20))),
                    Answer::RetryableAfterAnHour => {
                        if durable {
                            model.parked.insert(batch);
                        } else {
                            model.outstanding.remove(&batch);
                            model.expired += items;
                        }
                        Reply::unavailable(Some(hour))
                    }
                    Answer::Permanent => {
                        model.outstanding.remove(&batch);
                        model.failed += items;
                        Reply::invalid_argument("bad batch")
                    }
                    Answer::Timeout => {
                        Reply::reject(tonic::Code::DeadlineExceeded, "timed out", None)
                    }
                };
                reply.send(reply_with).unwrap();
                // Wait for the exporter to take the answer in.
                let m = &model;
                wait_for(&stats, |s| {
                    s.items_exported == m.exported
                        && s.dropped.rejected_by_receiver == m.rejected
                        && s.dropped.export_failed == m.failed
                        && s.dropped.retry_expired == m.expired
                });
            }
            Step::Flush => {
                let result = flush.flush(Duration::from_millis(50));
                let snap = stats.snapshot();
                match result {
                    Ok(()) => {
                        assert_eq!((snap.queued_items, snap.in_flight_items), (0, 0));
                        assert_eq!(snap.dropped.total(), model.reported, "{snap:?}");
                    }
                    Err(e) => {
                        if let Some(n) = reported_drops(&e) {
                            model.reported += n;
                        }
                    }
                }
            }
            Step::Shutdown => {
                if model.shut_down {
                    continue;
                }
                model.shut_down = true;
                let result = exporter.shutdown_with_timeout(Duration::from_millis(50));
                let snap = stats.snapshot();
                if let Err(e) = &result {
                    if let Some(n) = reported_drops(e) {
                        model.reported += n;
                    }
                }
                if durable {
                    // What was not delivered stays on disk.
                    assert_eq!(snap.in_flight_items, 0, "{snap:?}");
                    assert_eq!(snap.dropped.shutdown, 0, "{snap:?}");
                } else {
                    // Nothing is left in memory, and every drop was
                    // reported.
                    assert_eq!((snap.queued_items, snap.in_flight_items), (0, 0));
                    assert_eq!(snap.dropped.total(), model.reported, "{snap:?} {result:?}");
                }
            }
        }
        check(&stats.snapshot(), &model);
    }
    // Finally the endpoint accepts everything that still comes: whatever
    // was queued and not dropped is delivered, and nothing is left but the
    // batches told to wait an hour.
    if !model.shut_down {
        while model.expects_request(&stats.snapshot()) {
            let held = endpoint.next(ARRIVAL).expect("a held batch was sent");
            let items = model.outstanding.remove(&held.batch);
            assert_eq!(items, Some(held.items), "{model:?}");
            model.exported += held.items;
            held.reply.send(Reply::Accept).unwrap();
            let exported = model.exported;
            wait_for(&stats, |s| s.items_exported == exported);
        }
        let m = &model;
        let parked = m.parked_items();
        // When the batches told to wait fill every place out of the queue,
        // the rest stays queued on disk.
        let blocked = m.parked.len() >= m.out_of_queue;
        let snap = wait_for(&stats, |s| {
            s.items_exported == m.exported
                && (blocked || s.queued_items + s.in_flight_items == parked)
        });
        check(&snap, &model);
        if let Some(disk) = snap.disk.filter(|_| !blocked) {
            // A parked batch may have been evicted from the disk while out
            // for sending (it is still counted in flight).
            assert!(disk.queued_batches <= m.parked.len() as u64, "{snap:?}");
        }
    }
    if !model.shut_down {
        let _ = exporter.shutdown_with_timeout(Duration::from_millis(50));
    }
    drop(exporter);
    drop(endpoint);
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 16,
        // A failing case waits up to ARRIVAL per step; keep shrinking short.
        max_shrink_iters: 16,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn in_memory(
        steps in steps(),
        max_items in 5u64..=60,
        overflow in overflow(),
        concurrency in 1usize..=3,
    ) {
        run(steps, max_items, overflow, concurrency, false);
    }

    #[test]
    fn on_disk(
        steps in steps(),
        disk_kib in 2u64..=6,
        overflow in overflow(),
        concurrency in 1usize..=3,
    ) {
        run(steps, disk_kib, overflow, concurrency, true);
    }
}

//! Delivery: the queue between the SDK and the network, and the senders
//! that drain it.
//!
//! The SDK's export call encodes and compresses its batch, puts it in a
//! bounded queue and returns: it never waits for the network, so a slow or
//! absent collector cannot stall the SDK's worker thread (the official
//! exporters send, and retry, on that thread). A dispatcher task takes
//! batches off the queue and gives each to a task of its own, which sends
//! it through the circuit breaker and the client (with its per-attempt
//! timeout):
//!
//! ```text
//! queue -> dispatcher -> batch task: ConcurrencyLimit -> Breaker -> OtlpClient
//!                                     retry decision (Retrier: policy + budget)
//! ```
//!
//! # One owner for retrying
//!
//! The batch task is the only place a batch is retried: it asks the
//! [`Retrier`] (the retry policy and budget of `otlp-resilience`) what to
//! do after each failure. It holds one of the `max_concurrent_exports`
//! send slots (the [`ConcurrencyLimit`] of `otlp-resilience`) only while a
//! request is on the wire; while it waits for its
//! next attempt it holds none, so a server asking for an hour's pause
//! delays that batch, not the others. A delay longer than the time the
//! policy has left ends the batch at once (counted as `retry_expired`)
//! rather than sleeping only to fail; a batch in a persistent queue is
//! never given up for lack of time: it waits as asked and starts a new
//! round. When the retry budget is spent, the batch waits and asks again,
//! so retries stay within the budget without dropping anything.
//!
//! Batches out of the queue (sent or waiting) are bounded too: at most
//! [`TAKEN_PER_SLOT`] per send slot. Past that the dispatcher stops taking
//! batches and the queue's overflow policy applies.
//!
//! # Accounting
//!
//! Every item is booked in [`ExportStats`] as it moves: accepted and
//! queued (or dropped on arrival), taken for sending, then exported or
//! dropped by reason (or, at shutdown, dropped, or put back on disk), so
//! the stats add up at every moment.
//!
//! # The persistent queue
//!
//! Its writes, reads, acks and fsyncs run on tokio's blocking threads
//! (`spawn_blocking` on the exporter's runtime), never on the runtime's
//! async worker, whose timers and connections would otherwise stall
//! behind a slow disk.

use crate::pipeline::BufferPool;
use crate::runtime::Runtime;
use crate::stats::{Dropped, ExportStats, Reason, StoreView};
use crate::BuildError;
use bytes::Bytes;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use otlp_compression::Algorithm;
use otlp_core::{Retryable, Signal};
use otlp_resilience::breaker::{Breaker, BreakerConfig, BreakerLayer};
use otlp_resilience::disk::{DiskError, DiskQueue, DiskQueueConfig, RecordId, RecoveryReport};
use otlp_resilience::limit::{ConcurrencyLimit, ConcurrencyLimitLayer};
use otlp_resilience::queue::{BoundedQueue, Overflow, PushOutcome, QueueError, Weighted};
use otlp_resilience::retry::{Decision, GiveUp, Retrier, RetryPolicy};
use otlp_transport::client::{ExportError, ExportResponse, OtlpClient, Payload};
use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::runtime::Handle;
use tokio::sync::Semaphore;
use tower::{Layer, ServiceExt};

/// How long a batch waits before asking the retry budget again, at least.
const BUDGET_PAUSE: Duration = Duration::from_secs(1);
/// How long the dispatcher waits after a failed read of the persistent
/// queue.
const READ_PAUSE: Duration = Duration::from_secs(1);
/// Batches out of the queue (being sent, or waiting for their next
/// attempt) per send slot.
pub(crate) const TAKEN_PER_SLOT: usize = 4;

/// One encoded, compressed request and what it holds.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub(crate) signal: Signal,
    pub(crate) payload: Payload,
    /// Spans, data points or log records in it.
    pub(crate) items: u64,
    /// What it is routed by, with several endpoints: a trace id (its
    /// spans' partition's) or a `service.name`; `None` to go anywhere.
    pub(crate) key: Option<Bytes>,
}

impl Weighted for Job {
    fn weight(&self) -> usize {
        self.payload.body.len()
    }
    fn items(&self) -> u64 {
        self.items
    }
}

/// The queue and sender settings of an exporter.
#[derive(Debug, Clone)]
pub(crate) struct DeliveryConfig {
    pub(crate) max_queue_items: u64,
    pub(crate) max_queue_bytes: usize,
    pub(crate) overflow: Overflow,
    pub(crate) max_concurrent: usize,
    pub(crate) retry: RetryPolicy,
    pub(crate) breaker: BreakerConfig,
    /// A directory for a durable queue instead of the in-memory one.
    pub(crate) persist: Option<(PathBuf, DiskQueueConfig)>,
}

impl DeliveryConfig {
    /// Refuses limits that would stop every batch.
    pub(crate) fn validate(&self) -> Result<(), BuildError> {
        let zero = |setting| Err(BuildError::Zero { setting });
        if self.max_concurrent == 0 {
            return zero("with_max_concurrent_exports");
        }
        if self.max_queue_items == 0 {
            return zero("with_queue_limits max_items");
        }
        if self.max_queue_bytes == 0 {
            return zero("with_queue_limits max_bytes");
        }
        Ok(())
    }
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            max_queue_items: 65_536,
            max_queue_bytes: 64 * 1024 * 1024,
            overflow: Overflow::DropNewest,
            max_concurrent: 4,
            retry: RetryPolicy::default(),
            breaker: BreakerConfig::default(),
            persist: None,
        }
    }
}

/// How one endpoint's delivery, of an exporter with several, hands batches
/// back to the router when the endpoint has left the ring.
#[derive(Debug)]
pub(crate) struct Link {
    /// True while the endpoint is out of the ring and another is in it:
    /// its queue is handed on, and its batches that fail are too.
    pub(crate) left: tokio::sync::watch::Sender<bool>,
    /// To the router, which queues each batch at its next owner.
    pub(crate) handoff: tokio::sync::mpsc::UnboundedSender<Job>,
    /// Asks the router to check the endpoints' health now (a request
    /// failed).
    pub(crate) suspect: Arc<tokio::sync::Notify>,
}

/// Whether a failed request may have reached the endpoint: no answer
/// within the timeout, or the connection broke after it was sent. A
/// refused connection, an answer, or an open breaker mean it did not.
pub(crate) fn maybe_delivered(error: &ExportError) -> bool {
    match error {
        ExportError::Timeout { .. } => true,
        ExportError::Connection { source, .. } => {
            let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(source.as_ref());
            while let Some(e) = cause {
                if let Some(io) = e.downcast_ref::<std::io::Error>() {
                    if matches!(
                        io.kind(),
                        std::io::ErrorKind::ConnectionRefused
                            | std::io::ErrorKind::AddrNotAvailable
                            | std::io::ErrorKind::HostUnreachable
                            | std::io::ErrorKind::NetworkUnreachable
                    ) {
                        return false;
                    }
                }
                cause = e.source();
            }
            true
        }
        _ => false,
    }
}

/// The client as a tower service; it notes each failed attempt in the
/// stats, so that the last error is known even while retries go on.
#[derive(Debug, Clone)]
struct SendService(OtlpClient, ExportStats);

type SendFuture = Pin<Box<dyn Future<Output = Result<ExportResponse, ExportError>> + Send>>;

impl tower::Service<Job> for SendService {
    type Response = ExportResponse;
    type Error = ExportError;
    type Future = SendFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ExportError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, job: Job) -> SendFuture {
        let (client, stats) = (self.0.clone(), self.1.clone());
        Box::pin(async move {
            let result = client.export(job.signal, job.payload).await;
            match &result {
                // An SRT body is made per attempt; the accepted one counts.
                Ok(response) => {
                    if let Some(bytes) = response.encoded_bytes {
                        stats.record_encoded(0, bytes);
                    }
                }
                Err(error) => stats.record_error(error),
            }
            result
        })
    }
}

type Stack = ConcurrencyLimit<Breaker<SendService>>;

/// Where queued batches wait.
#[derive(Debug, Clone)]
pub(crate) enum Store {
    /// In memory, bounded.
    Memory(Arc<BoundedQueue<Job>>),
    /// On disk, durable: a batch leaves only once the endpoint accepted it
    /// (or refused it for good).
    Disk(Arc<DiskStore>),
}

/// The persistent queue, with what this run knows of its records.
#[derive(Debug)]
pub(crate) struct DiskStore {
    queue: Arc<DiskQueue>,
    report: RecoveryReport,
    /// Items in each record pushed (or read back) by this run and not done
    /// with, and whether it is out for sending: to count what an eviction
    /// drops.
    known: Arc<Mutex<HashMap<RecordId, Known>>>,
    /// Held across a push and the booking of its record, and across a
    /// read: a record is booked as queued before anything can take or
    /// evict it.
    pushing: Mutex<()>,
}

#[derive(Debug, Clone, Copy)]
struct Known {
    items: u64,
    in_flight: bool,
}

impl DiskStore {
    fn open(
        dir: &std::path::Path,
        config: DiskQueueConfig,
        stats: &ExportStats,
    ) -> Result<Self, BuildError> {
        let (queue, report) = DiskQueue::open(dir, config)?;
        if report.records_recovered > 0 || report.corrupted_records > 0 {
            tracing::info!(
                dir = %dir.display(),
                recovered = report.records_recovered,
                corrupted = report.corrupted_records,
                truncated_bytes = report.truncated_bytes,
                "persistent export queue reopened; recovered batches are sent first"
            );
        }
        let known: Arc<Mutex<HashMap<RecordId, Known>>> = Arc::default();
        let (hook_known, hook_stats) = (Arc::clone(&known), stats.clone());
        queue.on_evict(move |ids| {
            let mut known = lock(&hook_known);
            for id in ids {
                // A record out for sending is counted when its batch task
                // is done with it; one of an earlier run not read yet was
                // never booked (it is in `evicted_batches`).
                if let Some(k) = known.get(id).copied().filter(|k| !k.in_flight) {
                    known.remove(id);
                    hook_stats.record_unqueued(k.items, Reason::QueueFull);
                }
            }
        });
        Ok(DiskStore {
            queue: Arc::new(queue),
            report,
            known,
            pushing: Mutex::new(()),
        })
    }

    /// Writes `job` (on a blocking thread), booking its items as queued.
    fn push(&self, job: &Job, stats: &ExportStats) -> Result<(), DiskError> {
        let record = encode_job(job);
        let _pushing = lock(&self.pushing);
        match self.queue.push(&record) {
            Ok(id) => {
                stats.record_queued(job.items);
                lock(&self.known).insert(
                    id,
                    Known {
                        items: job.items,
                        in_flight: false,
                    },
                );
                Ok(())
            }
            Err(e) => {
                let reason = match e {
                    DiskError::Full { .. }
                    | DiskError::FullTimeout { .. }
                    | DiskError::RecordTooLarge { .. } => Reason::QueueFull,
                    _ => Reason::DiskError,
                };
                stats.record_refused(job.items, reason);
                Err(e)
            }
        }
    }

    /// The next record (on a blocking thread), booked as taken; `None` if
    /// there is none now.
    fn next(&self, stats: &ExportStats) -> Result<Option<(RecordId, Job)>, DiskError> {
        let _pushing = lock(&self.pushing);
        loop {
            let Some((id, record)) = self.queue.next()? else {
                return Ok(None);
            };
            let Some(job) = decode_job(&record) else {
                tracing::warn!(%id, "unreadable batch in the persistent export queue; dropped");
                if let Err(e) = self.queue.ack(id) {
                    tracing::warn!(error = %e, %id, "could not drop an unreadable batch");
                }
                continue;
            };
            let mut known = lock(&self.known);
            if self.report.is_recovered(id) && !known.contains_key(&id) {
                // Found on disk at open: booked now that its items are
                // known.
                stats.record_recovered(job.items);
            } else {
                stats.record_taken(job.items);
            }
            known.insert(
                id,
                Known {
                    items: job.items,
                    in_flight: true,
                },
            );
            return Ok(Some((id, job)));
        }
    }

    /// The endpoint is done with record `id`: delete it.
    fn ack(&self, id: RecordId) {
        if let Err(e) = self.queue.ack(id) {
            tracing::warn!(error = %e, %id, "could not record a delivered batch; it may be sent again");
        }
        lock(&self.known).remove(&id);
    }

    /// Puts record `id`, out for sending, back (at stop).
    fn put_back(&self, id: RecordId, items: u64, stats: &ExportStats) {
        let mut known = lock(&self.known);
        if self.queue.nack(id) {
            if let Some(k) = known.get_mut(&id) {
                k.in_flight = false;
            }
            stats.record_returned(items);
        } else {
            // Evicted while it was out.
            known.remove(&id);
            stats.record_lost(items, Reason::QueueFull);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Debug)]
struct Inner {
    store: Store,
    closed: AtomicBool,
    /// Set once to stop the dispatcher and the batch tasks.
    stop: tokio::sync::watch::Sender<bool>,
    /// Dispatcher and batch tasks still running; signalled when none is.
    running: Mutex<usize>,
    stopped: std::sync::Condvar,
    stats: ExportStats,
    retrier: Retrier,
    stack: Stack,
    /// Batches out of the queue.
    taken_slots: Arc<Semaphore>,
    /// A persistent queue's batches are never given up for lack of time.
    durable: bool,
    pool: Arc<BufferPool>,
    /// The exporter's runtime, for blocking disk work.
    handle: Handle,
    /// Drops already reported by a flush or shutdown.
    reported: Mutex<Dropped>,
    /// With several endpoints: the way back to the router.
    link: Option<Link>,
    breaker: otlp_resilience::breaker::BreakerHandle,
}

/// An exporter's queue and senders.
#[derive(Debug)]
pub(crate) struct Delivery {
    inner: Arc<Inner>,
}

impl Clone for Delivery {
    fn clone(&self) -> Self {
        Delivery {
            inner: Arc::clone(&self.inner),
        }
    }
}

/// Counts a running dispatcher or batch task while it lives.
struct Running(Arc<Inner>);

impl Running {
    fn new(inner: &Arc<Inner>) -> Running {
        *lock(&inner.running) += 1;
        Running(Arc::clone(inner))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let mut running = lock(&self.0.running);
        *running = running.saturating_sub(1);
        if *running == 0 {
            self.0.stopped.notify_all();
        }
    }
}

/// How a batch task ended.
enum Outcome {
    /// `resent`: an earlier attempt's answer was lost in flight, so the
    /// endpoint may have the batch twice.
    Exported {
        rejected: u64,
        resent: bool,
    },
    Dropped(Reason),
    Stopped,
    /// The endpoint left the ring: the batch goes to the next one.
    /// `maybe_delivered`: an attempt may have reached this endpoint.
    Rerouted {
        maybe_delivered: bool,
    },
}

impl Delivery {
    /// Starts the dispatcher on `runtime`.
    pub(crate) fn start(
        signal: Signal,
        runtime: &Runtime,
        client: OtlpClient,
        cfg: DeliveryConfig,
        stats: &ExportStats,
        pool: Arc<BufferPool>,
        link: Option<Link>,
    ) -> Result<Delivery, BuildError> {
        let store = match &cfg.persist {
            None => Store::Memory(Arc::new(
                BoundedQueue::builder()
                    .with_max_items(cfg.max_queue_items)
                    .with_max_bytes(cfg.max_queue_bytes)
                    .with_overflow(cfg.overflow)
                    .build()
                    // Both limits are set and checked by `validate`.
                    .map_err(|_| BuildError::Zero {
                        setting: "with_queue_limits",
                    })?,
            )),
            Some((dir, disk)) => Store::Disk(Arc::new(DiskStore::open(
                &dir.join(signal.as_str()),
                disk.clone(),
                stats,
            )?)),
        };
        let breaker = BreakerLayer::new(cfg.breaker.clone());
        let retrier = Retrier::new(cfg.retry.clone());
        let view = match &store {
            Store::Memory(queue) => {
                let queue = Arc::clone(queue);
                StoreView::Memory(Box::new(move || queue.stats()))
            }
            Store::Disk(disk) => StoreView::Disk(Arc::downgrade(&disk.queue)),
        };
        stats.attach(view, retrier.stats(), breaker.handle());
        let inner = Arc::new(Inner {
            durable: matches!(store, Store::Disk(_)),
            store,
            closed: AtomicBool::new(false),
            stop: tokio::sync::watch::channel(false).0,
            running: Mutex::new(0),
            stopped: std::sync::Condvar::new(),
            stats: stats.clone(),
            retrier,
            stack: ConcurrencyLimitLayer::new(cfg.max_concurrent)
                .layer(breaker.layer(SendService(client, stats.clone()))),
            taken_slots: Arc::new(Semaphore::new(
                cfg.max_concurrent.saturating_mul(TAKEN_PER_SLOT),
            )),
            pool,
            handle: runtime.handle().clone(),
            reported: Mutex::new(Dropped::default()),
            link,
            breaker: breaker.handle(),
        });
        let running = Running::new(&inner);
        runtime.spawn_detached(async move {
            dispatch(Arc::clone(&running.0)).await;
            drop(running);
        });
        Ok(Delivery { inner })
    }

    /// Queues a batch, booking its items. Returns once it is queued (or,
    /// with [`Overflow::Block`], once there was room or the deadline
    /// passed); a batch not queued is counted as dropped, and the error
    /// says why.
    pub(crate) async fn submit(&self, job: Job) -> OTelSdkResult {
        let items = job.items;
        let signal = job.signal;
        let stats = &self.inner.stats;
        let full = || {
            OTelSdkError::InternalFailure(format!(
                "export queue full: {items} {signal} items dropped"
            ))
        };
        if self.inner.closed.load(Ordering::Acquire) {
            stats.record_refused(items, Reason::Shutdown);
            return Err(OTelSdkError::AlreadyShutdown);
        }
        match &self.inner.store {
            Store::Memory(queue) => {
                // Booked first: the dispatcher may take the batch the
                // moment it is in the queue.
                stats.record_queued(items);
                match queue.push_async(job).await {
                    Ok(PushOutcome::Queued) => Ok(()),
                    Ok(PushOutcome::DroppedOldest { items: evicted, .. }) => {
                        stats.record_unqueued(evicted, Reason::QueueFull);
                        Ok(())
                    }
                    Err(QueueError::Closed(_)) => {
                        stats.record_unqueued(items, Reason::Shutdown);
                        Err(OTelSdkError::AlreadyShutdown)
                    }
                    // Dropped newest, timed out, too large.
                    Ok(_) | Err(_) => {
                        stats.record_unqueued(items, Reason::QueueFull);
                        Err(full())
                    }
                }
            }
            Store::Disk(disk) => {
                let (disk, stats) = (Arc::clone(disk), stats.clone());
                let written = self
                    .inner
                    .handle
                    .spawn_blocking(move || disk.push(&job, &stats))
                    .await;
                let Ok(written) = written else {
                    // The runtime is shutting down: the push never ran.
                    self.inner.stats.record_refused(items, Reason::Shutdown);
                    return Err(OTelSdkError::AlreadyShutdown);
                };
                match written {
                    Ok(()) => Ok(()),
                    Err(
                        e @ (DiskError::Full { .. }
                        | DiskError::FullTimeout { .. }
                        | DiskError::RecordTooLarge { .. }),
                    ) => {
                        tracing::warn!(error = %e, items, "persistent export queue full; batch dropped");
                        Err(full())
                    }
                    Err(e) => Err(OTelSdkError::InternalFailure(format!(
                        "persistent export queue: {e}; {items} {signal} items dropped"
                    ))),
                }
            }
        }
    }

    /// Queues a batch another endpoint handed on (see [`Link`]): new to
    /// this endpoint, already counted in the exporter's total.
    pub(crate) async fn submit_rerouted(&self, job: Job) {
        let items = job.items;
        let stats = &self.inner.stats;
        let Store::Memory(queue) = &self.inner.store else {
            // Several endpoints never have a persistent queue (refused at
            // build); counted rather than lost silently.
            stats.record_rerouted_in(items);
            stats.record_unqueued(items, Reason::DiskError);
            return;
        };
        stats.record_rerouted_in(items);
        match queue.push_async(job).await {
            Ok(PushOutcome::Queued) => {}
            Ok(PushOutcome::DroppedOldest { items: evicted, .. }) => {
                stats.record_unqueued(evicted, Reason::QueueFull);
            }
            Err(QueueError::Closed(_)) => stats.record_unqueued(items, Reason::Shutdown),
            Ok(_) | Err(_) => {
                tracing::warn!(
                    items,
                    "export queue full; batch handed on from another endpoint dropped"
                );
                stats.record_unqueued(items, Reason::QueueFull);
            }
        }
    }

    /// Waits until every queued batch has been delivered or dropped.
    pub(crate) fn flush(&self, timeout: Duration) -> OTelSdkResult {
        let drained = self.wait_drained(Instant::now() + timeout);
        self.verdict(drained, timeout)
    }

    /// Waits until nothing is queued or being sent, up to `deadline`;
    /// `false` if it passed first.
    pub(crate) fn wait_drained(&self, deadline: Instant) -> bool {
        let stats = &self.inner.stats;
        match &self.inner.store {
            Store::Memory(_) => stats.wait_idle(deadline),
            // Batches of an earlier run count only once read back, so the
            // disk itself must be empty too.
            Store::Disk(disk) => loop {
                let slice = (Instant::now() + Duration::from_millis(20)).min(deadline);
                if stats.wait_idle(slice) && disk.queue.stats().queued_records == 0 {
                    break true;
                }
                if Instant::now() >= deadline {
                    break false;
                }
            },
        }
    }

    /// The answer of a flush or shutdown: an error if the queue was not
    /// `drained`, or if items were dropped since the last one answered
    /// (naming how many, and why: each drop is reported once).
    pub(crate) fn verdict(&self, drained: bool, timeout: Duration) -> OTelSdkResult {
        verdict(&self.inner.stats, &self.inner.reported, drained, timeout)
    }

    /// The endpoint left the ring (`true`) while another is in it, or is
    /// back: see [`Link`]. Nothing without a link.
    pub(crate) fn set_left(&self, left: bool) {
        if let Some(link) = &self.inner.link {
            link.left
                .send_if_modified(|l| std::mem::replace(l, left) != left);
        }
    }

    /// The state of this endpoint's circuit breaker.
    pub(crate) fn breaker_state(&self) -> otlp_resilience::breaker::BreakerState {
        self.inner.breaker.state()
    }

    /// Stops the dispatcher and the batch tasks and waits up to `timeout`
    /// for them to let go of the queue, so that a persistent queue's
    /// directory can be opened again. What is left in memory is counted as
    /// dropped (`shutdown`); a persistent queue keeps it.
    pub(crate) fn stop(&self, timeout: Duration) {
        self.inner.stop.send_replace(true);
        let deadline = Instant::now() + timeout;
        crate::stats::wait_until(
            &self.inner.stopped,
            lock(&self.inner.running),
            deadline,
            |running| *running == 0,
        );
        match &self.inner.store {
            Store::Memory(queue) => {
                queue.close();
                while let Some(job) = queue.try_pop() {
                    self.inner
                        .stats
                        .record_unqueued(job.items, Reason::Shutdown);
                }
            }
            // What stays on disk, for stats read after the exporter is gone.
            Store::Disk(disk) => self.inner.stats.record_disk_at_stop(disk.queue.stats()),
        }
    }

    /// Stops taking batches; what is queued is still sent (and, on disk,
    /// kept for the next run if it cannot be).
    pub(crate) fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        match &self.inner.store {
            Store::Memory(queue) => queue.close(),
            Store::Disk(disk) => {
                if let Err(e) = disk.queue.sync() {
                    tracing::warn!(error = %e, "could not sync the persistent export queue");
                }
            }
        }
    }
}

/// Resolves once the endpoint has left the ring (never without a link).
async fn has_left(left: &mut Option<tokio::sync::watch::Receiver<bool>>) {
    if let Some(left) = left {
        if left.wait_for(|l| *l).await.is_ok() {
            return;
        }
    }
    std::future::pending::<()>().await;
}

impl Inner {
    /// Hands what is queued here to the router, for the next owners.
    fn hand_on_queue(&self, link: &Link) {
        let Store::Memory(queue) = &self.store else {
            return;
        };
        while let Some(job) = queue.try_pop() {
            self.stats.record_rerouted(job.items, true, false);
            self.hand_on(link, job);
        }
    }

    fn hand_on(&self, link: &Link, job: Job) {
        if let Err(e) = link.handoff.send(job) {
            // The router is gone: the exporter is being dropped.
            self.stats.record_handoff_failed(e.0.items);
        }
    }
}

/// The answer of a flush or shutdown: an error if the queue was not
/// `drained`, or if items were dropped since the last one answered (naming
/// how many, and why: each drop is reported once, `reported` keeps track).
pub(crate) fn verdict(
    stats: &ExportStats,
    reported: &Mutex<Dropped>,
    drained: bool,
    timeout: Duration,
) -> OTelSdkResult {
    let now = stats.dropped();
    let dropped = {
        let mut reported = lock(reported);
        let since = now.since(&reported);
        *reported = now;
        since
    };
    match (dropped.total(), drained) {
        (0, true) => Ok(()),
        (0, false) => Err(OTelSdkError::Timeout(timeout)),
        (_, drained) => Err(OTelSdkError::InternalFailure(format!(
            "{dropped} items dropped since the last flush{}",
            if drained {
                String::new()
            } else {
                format!("; more still undelivered after {timeout:?}")
            }
        ))),
    }
}

async fn dispatch(inner: Arc<Inner>) {
    let mut stop = inner.stop.subscribe();
    let mut left = inner.link.as_ref().map(|l| l.left.subscribe());
    loop {
        if let (Some(link), Some(rx)) = (&inner.link, left.as_mut()) {
            if *rx.borrow_and_update() {
                // Out of the ring: what is queued here goes to the next
                // owners, until the endpoint is back.
                inner.hand_on_queue(link);
                tokio::select! {
                    biased;
                    _ = stop.wait_for(|s| *s) => return,
                    _ = rx.changed() => {}
                    // One routed here just before the endpoint left.
                    job = async {
                        match &inner.store {
                            Store::Memory(queue) => queue.pop().await,
                            Store::Disk(_) => std::future::pending().await,
                        }
                    } => match job {
                        Some(job) => {
                            inner.stats.record_rerouted(job.items, true, false);
                            inner.hand_on(link, job);
                        }
                        None => return,
                    },
                }
                continue;
            }
        }
        // A slot out of the queue, then a batch; the batch's task waits for
        // a send slot. (Holding a send slot while waiting for a batch would
        // starve a batch waiting to be retried.)
        let taken = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return,
            () = has_left(&mut left) => continue,
            taken = Arc::clone(&inner.taken_slots).acquire_owned() => match taken {
                Ok(taken) => taken,
                Err(_) => return,
            },
        };
        let (job, disk_id) = match &inner.store {
            Store::Memory(queue) => {
                let job = tokio::select! {
                    biased;
                    _ = stop.wait_for(|s| *s) => return,
                    () = has_left(&mut left) => continue,
                    job = queue.pop() => job,
                };
                let Some(job) = job else {
                    return;
                };
                inner.stats.record_taken(job.items);
                (job, None)
            }
            Store::Disk(disk) => {
                let available = disk.queue.record_available();
                let (reader, stats) = (Arc::clone(disk), inner.stats.clone());
                // Not raced against the stop: a record read must be booked
                // and, if stopped, put back.
                let read = inner
                    .handle
                    .spawn_blocking(move || reader.next(&stats))
                    .await;
                match read {
                    Ok(Ok(Some((id, job)))) => {
                        if *stop.borrow() {
                            disk.put_back(id, job.items, &inner.stats);
                            return;
                        }
                        (job, Some(id))
                    }
                    Ok(Ok(None)) => {
                        tokio::select! {
                            biased;
                            _ = stop.wait_for(|s| *s) => return,
                            () = available => {}
                        }
                        continue;
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "persistent export queue read failed");
                        tokio::time::sleep(READ_PAUSE).await;
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "persistent export queue read failed");
                        return;
                    }
                }
            }
        };
        let running = Running::new(&inner);
        tokio::spawn(async move {
            let inner = Arc::clone(&running.0);
            inner.run(job, disk_id).await;
            drop(taken);
            drop(running);
        });
    }
}

impl Inner {
    /// Delivers one batch taken from the queue, and books how it ended.
    async fn run(self: &Arc<Self>, job: Job, disk_id: Option<RecordId>) {
        let started = Instant::now();
        let mut stop = self.stop.subscribe();
        let left = self.link.as_ref().is_some_and(|l| *l.left.borrow());
        let outcome = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => Outcome::Stopped,
            // Taken just as the endpoint left the ring: not sent here.
            () = std::future::ready(()), if left => Outcome::Rerouted { maybe_delivered: false },
            outcome = self.attempts(&job) => outcome,
        };
        let latency = started.elapsed();
        let items = job.items;
        let stats = &self.stats;
        match outcome {
            // Booked last: a flush waiting for this batch returns once its
            // buffer is back and its record deleted.
            Outcome::Exported { rejected, resent } => {
                if resent {
                    stats.record_possible_duplicates(items);
                }
                self.finish(job, disk_id).await;
                stats.record_success(items, rejected, latency);
            }
            Outcome::Dropped(reason) => {
                self.finish(job, disk_id).await;
                stats.record_failure(items, reason, latency);
            }
            Outcome::Rerouted { maybe_delivered } => {
                stats.record_rerouted(items, false, maybe_delivered);
                if let Some(link) = &self.link {
                    self.hand_on(link, job);
                }
            }
            Outcome::Stopped => match (&self.store, disk_id) {
                // A durable batch stays on disk for the next run.
                (Store::Disk(disk), Some(id)) => disk.put_back(id, items, stats),
                _ => stats.record_lost(items, Reason::Shutdown),
            },
        }
    }

    /// Sends `job` until it is delivered or given up; the only place a
    /// batch is retried.
    async fn attempts(&self, job: &Job) -> Outcome {
        let mut started = tokio::time::Instant::now();
        let mut retries = 0;
        let mut left = self.link.as_ref().map(|l| l.left.subscribe());
        let mut maybe_sent = false;
        self.retrier.record_request();
        loop {
            // A send slot only while the request is on the wire: none is
            // held while the batch waits for its next attempt.
            let result = self.stack.clone().oneshot(job.clone()).await;
            let error = match result {
                Ok(response) => {
                    if response.is_partial_success() {
                        tracing::warn!(
                            signal = %job.signal,
                            rejected = response.rejected_items,
                            message = %response.error_message,
                            "OTLP receiver accepted the export partially"
                        );
                    }
                    return Outcome::Exported {
                        rejected: response.rejected_items,
                        resent: maybe_sent,
                    };
                }
                Err(e) => e,
            };
            if let otlp_resilience::breaker::BreakerError::Inner(e) = &error {
                maybe_sent |= maybe_delivered(e);
            }
            if let Some(link) = &self.link {
                if *link.left.borrow() {
                    return Outcome::Rerouted {
                        maybe_delivered: maybe_sent,
                    };
                }
                if error.is_retryable() {
                    // Perhaps the endpoint is down: check, rather than wait
                    // for the next round of health checks.
                    link.suspect.notify_one();
                }
            }
            let rerouted = Outcome::Rerouted {
                maybe_delivered: maybe_sent,
            };
            // Waits until a retry is due; returns the reason to give up.
            loop {
                match self.retrier.decide(&error, started, retries) {
                    Decision::Retry { delay } => {
                        retries += 1;
                        // The retry count (kept by the retrier) changed.
                        self.stats.announce();
                        tokio::select! {
                            () = tokio::time::sleep(delay) => {}
                            () = has_left(&mut left) => return rerouted,
                        }
                        break;
                    }
                    Decision::GiveUp(GiveUp::Budget { delay }) => {
                        self.stats.record_deferred();
                        tokio::select! {
                            () = tokio::time::sleep(delay.max(BUDGET_PAUSE)) => {}
                            () = has_left(&mut left) => return rerouted,
                        }
                    }
                    Decision::GiveUp(GiveUp::Elapsed { delay }) if self.durable => {
                        // Kept until accepted: wait as asked, then a new
                        // round.
                        tokio::time::sleep(delay).await;
                        started = tokio::time::Instant::now();
                        retries = 0;
                        self.retrier.record_request();
                        break;
                    }
                    Decision::GiveUp(GiveUp::Elapsed { .. }) => {
                        tracing::warn!(signal = %job.signal, error = %error, items = job.items,
                            "OTLP export still failing when the retry time ran out; batch dropped");
                        return Outcome::Dropped(Reason::RetryExpired);
                    }
                    _ => {
                        debug_assert!(!error.is_retryable());
                        tracing::warn!(signal = %job.signal, error = %error, items = job.items,
                            "OTLP export failed; batch dropped");
                        return Outcome::Dropped(Reason::ExportFailed);
                    }
                }
            }
        }
    }

    /// A batch is done with: delivered, or dropped for good.
    async fn finish(&self, job: Job, disk_id: Option<RecordId>) {
        self.pool.recycle(job.payload.body);
        if let (Store::Disk(disk), Some(id)) = (&self.store, disk_id) {
            let disk = Arc::clone(disk);
            let acked = self.handle.spawn_blocking(move || disk.ack(id)).await;
            if let Err(e) = acked {
                tracing::warn!(error = %e, %id, "could not record a delivered batch; it may be sent again");
            }
        }
    }
}

/// A batch as a persistent-queue record: a 12-byte header (format version,
/// signal, compression, reserved byte, item count as u64 LE) and the
/// request body.
fn encode_job(job: &Job) -> Vec<u8> {
    let mut record = Vec::with_capacity(12 + job.payload.body.len());
    // The position in `Signal::ALL`: 0 traces, 1 metrics, 2 logs.
    let signal = u8::try_from(job.signal.index()).unwrap_or(u8::MAX);
    let algorithm = match job.payload.compression {
        Algorithm::Gzip => 1,
        Algorithm::Zstd => 2,
        Algorithm::Brotli => 3,
        Algorithm::Srt => 4,
        _ => 0,
    };
    record.extend_from_slice(&[1, signal, algorithm, 0]);
    record.extend_from_slice(&job.items.to_le_bytes());
    record.extend_from_slice(&job.payload.body);
    record
}

fn decode_job(record: &Bytes) -> Option<Job> {
    let header = record.get(..12)?;
    if header[0] != 1 {
        return None;
    }
    let signal = *Signal::ALL.get(usize::from(header[1]))?;
    let compression = match header[2] {
        0 => Algorithm::None,
        1 => Algorithm::Gzip,
        2 => Algorithm::Zstd,
        3 => Algorithm::Brotli,
        4 => Algorithm::Srt,
        _ => return None,
    };
    let items = u64::from_le_bytes(header[4..12].try_into().ok()?);
    Some(Job {
        signal,
        payload: Payload::new(record.slice(12..), compression),
        items,
        key: None,
    })
}

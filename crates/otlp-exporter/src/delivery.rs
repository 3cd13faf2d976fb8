//! Delivery: the queue between the SDK and the network, and the senders
//! that drain it.
//!
//! The SDK's export call encodes and compresses its batch, puts it in a
//! bounded queue and returns: it never waits for the network, so a slow or
//! absent collector cannot stall the SDK's worker thread (the official
//! exporters send, and retry, on that thread). A dispatcher task takes
//! batches off the queue and sends up to `max_concurrent_exports` of them
//! at once through a tower stack:
//!
//! ```text
//! Retry (policy + budget)  ->  Breaker  ->  OtlpClient (per-attempt timeout)
//! ```
//!
//! A batch that the retry layer gave up on while the error is still
//! retryable (the budget was spent, the breaker is open) is not lost: after
//! the server's delay hint, or a pause, it goes back into the queue, until
//! it is older than the policy's maximum elapsed time. With a persistent
//! queue it stays on disk until the endpoint accepts it.

use crate::pipeline::BufferPool;
use crate::runtime::Runtime;
use crate::stats::ExportStats;
use crate::BuildError;
use bytes::Bytes;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use otlp_compression::Algorithm;
use otlp_core::{Retryable, Signal};
use otlp_resilience::breaker::{Breaker, BreakerLayer, CircuitBreaker};
use otlp_resilience::disk::{DiskError, DiskQueue, DiskQueueConfig, RecordId};
use otlp_resilience::queue::{BoundedQueue, Overflow, PushOutcome, QueueError, Weighted};
use otlp_resilience::retry::{Retry, RetryLayer, RetryPolicy};
use otlp_transport::client::{ExportError, ExportResponse, OtlpClient, Payload};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tower::{Layer, ServiceExt};

/// How long a batch waits before going back into the queue when the
/// server gave no delay hint.
const REQUEUE_PAUSE: Duration = Duration::from_secs(1);

/// One encoded, compressed request and what it holds.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub(crate) signal: Signal,
    pub(crate) payload: Payload,
    /// Spans, data points or log records in it.
    pub(crate) items: u64,
    /// When it was first queued.
    pub(crate) queued_at: Instant,
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
    pub(crate) breaker: CircuitBreaker,
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
            breaker: CircuitBreaker::default(),
            persist: None,
        }
    }
}

/// The client as a tower service.
#[derive(Debug, Clone)]
struct Send(OtlpClient);

type SendFuture =
    Pin<Box<dyn Future<Output = Result<ExportResponse, ExportError>> + std::marker::Send>>;

impl tower::Service<Job> for Send {
    type Response = ExportResponse;
    type Error = ExportError;
    type Future = SendFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ExportError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, job: Job) -> SendFuture {
        let client = self.0.clone();
        Box::pin(async move { client.export(job.signal, job.payload).await })
    }
}

type Stack = Retry<Breaker<Send>>;

/// Counts batches that are queued or in flight, so flushes can wait for
/// them.
#[derive(Debug, Default)]
struct Pending {
    count: Mutex<u64>,
    idle: Condvar,
}

impl Pending {
    fn add(&self) {
        *self.count.lock().unwrap_or_else(PoisonError::into_inner) += 1;
    }

    fn done(&self) {
        let mut n = self.count.lock().unwrap_or_else(PoisonError::into_inner);
        *n = n.saturating_sub(1);
        if *n == 0 {
            self.idle.notify_all();
        }
    }

    /// Waits until nothing is pending; false on timeout.
    fn wait_idle(&self, timeout: Duration) -> bool {
        let n = self.count.lock().unwrap_or_else(PoisonError::into_inner);
        let (n, _) = self
            .idle
            .wait_timeout_while(n, timeout, |n| *n > 0)
            .unwrap_or_else(PoisonError::into_inner);
        *n == 0
    }
}

/// Where queued batches wait.
#[derive(Debug, Clone)]
pub(crate) enum Store {
    /// In memory, bounded.
    Memory(Arc<BoundedQueue<Job>>),
    /// On disk, durable: a batch leaves only once the endpoint accepted it
    /// (or refused it for good).
    Disk(Arc<DiskQueue>),
}

#[derive(Debug)]
struct Inner {
    store: Store,
    pending: Pending,
    closed: AtomicBool,
    /// Set once to stop the dispatcher and the senders.
    stop: tokio::sync::watch::Sender<bool>,
    /// Dispatcher and sender tasks still running.
    running: AtomicUsize,
    stats: ExportStats,
    max_elapsed: Duration,
    pool: Arc<BufferPool>,
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

/// Counts a running dispatcher or sender task while it lives.
struct Running(Arc<Inner>);

impl Running {
    fn new(inner: &Arc<Inner>) -> Running {
        inner.running.fetch_add(1, Ordering::SeqCst);
        Running(Arc::clone(inner))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
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
            Some((dir, disk)) => {
                let dir = dir.join(signal.as_str());
                let (queue, report) = DiskQueue::open(&dir, disk.clone())?;
                if report.records_recovered > 0 || report.corrupted_records > 0 {
                    tracing::info!(
                        dir = %dir.display(),
                        recovered = report.records_recovered,
                        corrupted = report.corrupted_records,
                        truncated_bytes = report.truncated_bytes,
                        "persistent export queue reopened; recovered batches are sent first"
                    );
                }
                Store::Disk(Arc::new(queue))
            }
        };
        let breaker = BreakerLayer::new(cfg.breaker.clone());
        let retry = RetryLayer::new(cfg.retry.clone());
        stats.attach(store.clone(), retry.stats(), breaker.handle());
        let stack: Stack = retry.layer(breaker.layer(Send(client)));
        let inner = Arc::new(Inner {
            store,
            pending: Pending::default(),
            closed: AtomicBool::new(false),
            stop: tokio::sync::watch::channel(false).0,
            running: AtomicUsize::new(0),
            stats: stats.clone(),
            max_elapsed: cfg.retry.max_elapsed_time(),
            pool,
        });
        let permits = Arc::new(Semaphore::new(cfg.max_concurrent));
        let running = Running::new(&inner);
        runtime.spawn_detached(async move {
            dispatch(Arc::clone(&running.0), stack, permits).await;
            drop(running);
        });
        Ok(Delivery { inner })
    }

    /// Queues a batch. Returns once it is queued (or, with
    /// [`Overflow::Block`], once there was room or the deadline passed).
    pub(crate) async fn submit(&self, job: Job) -> OTelSdkResult {
        let items = job.items;
        let signal = job.signal;
        let full = || {
            OTelSdkError::InternalFailure(format!(
                "export queue full: {items} {signal} items dropped"
            ))
        };
        match &self.inner.store {
            Store::Memory(queue) => {
                self.inner.pending.add();
                match queue.push_async(job).await {
                    Ok(PushOutcome::Queued) => {
                        self.inner.stats.record_accepted(items);
                        Ok(())
                    }
                    Ok(PushOutcome::DroppedOldest { batches, .. }) => {
                        self.inner.stats.record_accepted(items);
                        for _ in 0..batches {
                            self.inner.pending.done();
                        }
                        Ok(())
                    }
                    Err(QueueError::Closed(_)) => {
                        self.inner.pending.done();
                        Err(OTelSdkError::AlreadyShutdown)
                    }
                    // Dropped newest, timed out, too large: counted by the
                    // queue's own stats.
                    Ok(_) | Err(_) => {
                        self.inner.pending.done();
                        Err(full())
                    }
                }
            }
            Store::Disk(disk) => {
                if self.inner.closed.load(Ordering::Relaxed) {
                    return Err(OTelSdkError::AlreadyShutdown);
                }
                match disk.push_async(&encode_job(&job)).await {
                    Ok(_) => {
                        self.inner.stats.record_accepted(items);
                        Ok(())
                    }
                    Err(
                        e @ (DiskError::Full { .. }
                        | DiskError::FullTimeout { .. }
                        | DiskError::RecordTooLarge { .. }),
                    ) => {
                        self.inner.stats.record_queue_full(items);
                        tracing::warn!(error = %e, items, "persistent export queue full; batch dropped");
                        Err(full())
                    }
                    Err(e) => Err(OTelSdkError::InternalFailure(format!(
                        "persistent export queue: {e}"
                    ))),
                }
            }
        }
    }

    /// Waits until every queued batch has been delivered or dropped.
    pub(crate) fn flush(&self, timeout: Duration) -> OTelSdkResult {
        let drained = match &self.inner.store {
            Store::Memory(_) => self.inner.pending.wait_idle(timeout),
            Store::Disk(disk) => {
                let deadline = Instant::now() + timeout;
                loop {
                    if disk.stats().queued_records == 0 {
                        break true;
                    }
                    if Instant::now() >= deadline {
                        break false;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        };
        if drained {
            Ok(())
        } else {
            Err(OTelSdkError::Timeout(timeout))
        }
    }

    /// Stops the dispatcher and the senders (a batch being sent to a
    /// persistent queue's endpoint goes back on disk), and waits up to
    /// `timeout` for them to let go of the queue, so that a persistent
    /// queue's directory can be opened again.
    pub(crate) fn stop(&self, timeout: Duration) {
        self.inner.stop.send_replace(true);
        let deadline = Instant::now() + timeout;
        while self.inner.running.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        // What stays on disk, for stats read after the exporter is gone.
        if let Store::Disk(disk) = &self.inner.store {
            self.inner.stats.record_disk_at_stop(disk.stats());
        }
    }

    /// Stops taking batches; what is queued is still sent (and, on disk,
    /// kept for the next run if it cannot be).
    pub(crate) fn close(&self) {
        self.inner.closed.store(true, Ordering::Relaxed);
        if let Store::Memory(queue) = &self.inner.store {
            queue.close();
        }
        if let Store::Disk(disk) = &self.inner.store {
            if let Err(e) = disk.sync() {
                tracing::warn!(error = %e, "could not sync the persistent export queue");
            }
        }
    }
}

async fn dispatch(inner: Arc<Inner>, stack: Stack, permits: Arc<Semaphore>) {
    let mut stop = inner.stop.subscribe();
    tokio::select! {
        biased;
        _ = stop.wait_for(|s| *s) => {}
        _ = dispatch_until_closed(Arc::clone(&inner), stack, permits) => {}
    }
}

async fn dispatch_until_closed(inner: Arc<Inner>, stack: Stack, permits: Arc<Semaphore>) {
    loop {
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            return;
        };
        let (job, disk_id) = match &inner.store {
            Store::Memory(queue) => match queue.pop().await {
                Some(job) => (job, None),
                None => return,
            },
            Store::Disk(disk) => match disk.next_async().await {
                Ok((id, record)) => match decode_job(&record) {
                    Some(job) => (job, Some(id)),
                    None => {
                        tracing::warn!(%id, "unreadable batch in the persistent export queue; dropped");
                        let _ = disk.ack(id);
                        continue;
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %e, "persistent export queue read failed");
                    tokio::time::sleep(REQUEUE_PAUSE).await;
                    continue;
                }
            },
        };
        let running = Running::new(&inner);
        let stack = stack.clone();
        tokio::spawn(async move {
            let inner = &running.0;
            let mut stop = inner.stop.subscribe();
            tokio::select! {
                biased;
                _ = stop.wait_for(|s| *s) => {
                    // Stopped mid-delivery: a durable batch stays on disk
                    // for the next run.
                    if let (Store::Disk(disk), Some(id)) = (&inner.store, disk_id) {
                        disk.nack(id);
                    }
                }
                _ = inner.deliver(stack, job, disk_id) => {}
            }
            drop(permit);
            drop(running);
        });
    }
}

impl Inner {
    async fn deliver(&self, stack: Stack, job: Job, disk_id: Option<RecordId>) {
        let items = job.items;
        let started = Instant::now();
        let result = stack.oneshot(job.clone()).await;
        let latency = started.elapsed();
        match result {
            Ok(response) => {
                let rejected = response.rejected_items.min(items);
                if rejected > 0 || !response.error_message.is_empty() {
                    tracing::warn!(
                        signal = %job.signal,
                        rejected,
                        message = %response.error_message,
                        "OTLP receiver accepted the export partially"
                    );
                }
                self.stats.record_success(items, rejected, latency);
                self.finish(job, disk_id);
            }
            // A durable queue keeps retryable batches until they get
            // through; the memory queue until the retry policy's maximum
            // elapsed time.
            Err(e)
                if e.is_retryable()
                    && (disk_id.is_some() || job.queued_at.elapsed() < self.max_elapsed) =>
            {
                // Not given up for good: the budget is spent or the breaker
                // is open. Wait as asked (holding the sender slot, so an
                // outage does not spin), then queue the batch again.
                tokio::time::sleep(e.retry_after().unwrap_or(REQUEUE_PAUSE)).await;
                self.stats.record_requeued();
                match (&self.store, disk_id) {
                    (Store::Disk(disk), Some(id)) => {
                        disk.nack(id);
                    }
                    (Store::Memory(queue), _) => match queue.push(job) {
                        Ok(PushOutcome::Queued) => {}
                        Ok(PushOutcome::DroppedOldest { batches, .. }) => {
                            for _ in 0..batches {
                                self.pending.done();
                            }
                        }
                        Ok(_) | Err(_) => self.pending.done(),
                    },
                    (Store::Disk(_), None) => {}
                }
            }
            Err(e) => {
                tracing::warn!(signal = %job.signal, error = %e, items, "OTLP export failed; batch dropped");
                self.stats.record_failure(items, latency);
                self.finish(job, disk_id);
            }
        }
    }

    /// A batch is done with: delivered, or dropped for good.
    fn finish(&self, job: Job, disk_id: Option<RecordId>) {
        self.pool.recycle(job.payload.body);
        match (&self.store, disk_id) {
            (Store::Disk(disk), Some(id)) => {
                if let Err(e) = disk.ack(id) {
                    tracing::warn!(error = %e, %id, "could not record a delivered batch; it may be sent again");
                }
            }
            _ => self.pending.done(),
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
        _ => return None,
    };
    let items = u64::from_le_bytes(header[4..12].try_into().ok()?);
    Some(Job {
        signal,
        payload: Payload::new(record.slice(12..), compression),
        items,
        queued_at: Instant::now(),
    })
}

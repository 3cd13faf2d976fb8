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

use crate::runtime::Runtime;
use crate::pipeline::BufferPool;
use crate::stats::ExportStats;
use crate::BuildError;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use otlp_core::{Retryable, Signal};
use otlp_resilience::breaker::{Breaker, BreakerLayer, CircuitBreaker};
use otlp_resilience::queue::{BoundedQueue, Overflow, PushOutcome, QueueError, Weighted};
use otlp_resilience::retry::{Retry, RetryLayer, RetryPolicy};
use otlp_transport::client::{ExportError, ExportResponse, OtlpClient, Payload};
use std::future::Future;
use std::pin::Pin;
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
        }
    }
}

/// The client as a tower service.
#[derive(Debug, Clone)]
struct Send(OtlpClient);

type SendFuture = Pin<Box<dyn Future<Output = Result<ExportResponse, ExportError>> + std::marker::Send>>;

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

#[derive(Debug)]
struct Inner {
    queue: Arc<BoundedQueue<Job>>,
    pending: Pending,
    stats: ExportStats,
    max_elapsed: Duration,
    pool: Arc<BufferPool>,
}

/// An exporter's queue and senders.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    inner: Arc<Inner>,
}

impl Delivery {
    /// Starts the dispatcher on `runtime`.
    pub(crate) fn start(
        runtime: &Runtime,
        client: OtlpClient,
        cfg: DeliveryConfig,
        stats: &ExportStats,
        pool: Arc<BufferPool>,
    ) -> Result<Delivery, BuildError> {
        let queue = Arc::new(
            BoundedQueue::builder()
                .with_max_items(cfg.max_queue_items)
                .with_max_bytes(cfg.max_queue_bytes)
                .with_overflow(cfg.overflow)
                .build()
                .map_err(|e| BuildError::Config(e.to_string()))?,
        );
        let breaker = BreakerLayer::new(cfg.breaker.clone());
        let retry = RetryLayer::new(cfg.retry.clone());
        stats.attach(Arc::clone(&queue), retry.stats(), breaker.handle());
        let stack: Stack = retry.layer(breaker.layer(Send(client)));
        let inner = Arc::new(Inner {
            queue,
            pending: Pending::default(),
            stats: stats.clone(),
            max_elapsed: cfg.retry.max_elapsed_time(),
            pool,
        });
        let permits = Arc::new(Semaphore::new(cfg.max_concurrent.max(1)));
        runtime.spawn_detached(dispatch(Arc::clone(&inner), stack, permits));
        Ok(Delivery { inner })
    }

    /// Queues a batch. Returns once it is queued (or, with
    /// [`Overflow::Block`], once there was room or the deadline passed).
    pub(crate) async fn submit(&self, job: Job) -> OTelSdkResult {
        let items = job.items;
        let signal = job.signal;
        self.inner.pending.add();
        let outcome = self.inner.queue.push_async(job).await;
        match outcome {
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
            Ok(_) | Err(QueueError::Full(_)) | Err(QueueError::TooLarge { .. }) => {
                self.inner.pending.done();
                Err(OTelSdkError::InternalFailure(format!(
                    "export queue full: {items} {signal} items dropped"
                )))
            }
            Err(QueueError::Closed(_)) => {
                self.inner.pending.done();
                Err(OTelSdkError::AlreadyShutdown)
            }
            Err(_) => {
                self.inner.pending.done();
                Err(OTelSdkError::InternalFailure("export queue error".into()))
            }
        }
    }

    /// Waits until every queued batch has been delivered or dropped.
    pub(crate) fn flush(&self, timeout: Duration) -> OTelSdkResult {
        if self.inner.pending.wait_idle(timeout) {
            Ok(())
        } else {
            Err(OTelSdkError::Timeout(timeout))
        }
    }

    /// Stops taking batches; what is queued is still sent.
    pub(crate) fn close(&self) {
        self.inner.queue.close();
    }
}

async fn dispatch(inner: Arc<Inner>, stack: Stack, permits: Arc<Semaphore>) {
    loop {
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            return;
        };
        let Some(job) = inner.queue.pop().await else {
            return;
        };
        let inner = Arc::clone(&inner);
        let stack = stack.clone();
        tokio::spawn(async move {
            inner.deliver(stack, job).await;
            drop(permit);
        });
    }
}

impl Inner {
    async fn deliver(&self, stack: Stack, job: Job) {
        let items = job.items;
        let started = Instant::now();
        let result = stack.oneshot(job.clone()).await;
        let latency = started.elapsed();
        match result {
            Ok(response) => {
                let rejected = u64::try_from(response.rejected_items).unwrap_or(0);
                if rejected > 0 || !response.error_message.is_empty() {
                    tracing::warn!(
                        signal = %job.signal,
                        rejected,
                        message = %response.error_message,
                        "OTLP receiver accepted the export partially"
                    );
                }
                self.stats.record_success(items, rejected, latency);
                self.pool.recycle(job.payload.body);
                self.pending.done();
            }
            Err(e) if e.is_retryable() && job.queued_at.elapsed() < self.max_elapsed => {
                // Not given up for good: the budget is spent or the breaker
                // is open. Wait as asked (holding the sender slot, so an
                // outage does not spin), then queue the batch again.
                tokio::time::sleep(e.retry_after().unwrap_or(REQUEUE_PAUSE)).await;
                self.stats.record_requeued();
                match self.queue.push(job) {
                    Ok(PushOutcome::Queued) => {}
                    Ok(PushOutcome::DroppedOldest { batches, .. }) => {
                        for _ in 0..batches {
                            self.pending.done();
                        }
                    }
                    Ok(_) | Err(_) => self.pending.done(),
                }
            }
            Err(e) => {
                tracing::warn!(signal = %job.signal, error = %e, items, "OTLP export failed; batch dropped");
                self.stats.record_failure(items, latency);
                self.pool.recycle(job.payload.body);
                self.pending.done();
            }
        }
    }
}

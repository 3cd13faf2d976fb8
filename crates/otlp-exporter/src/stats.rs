//! Counters every exporter keeps, readable while it runs.

use crate::delivery::{Job, Store};
use otlp_resilience::breaker::{BreakerHandle, BreakerState};
use otlp_resilience::disk::{DiskQueue, DiskStats};
use otlp_resilience::queue::BoundedQueue;
use otlp_resilience::retry::RetryStats;
use otlp_transport::client::ExportError;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::{Duration, SystemTime};

/// A handle to an exporter's counters. Clones share the counters, so take
/// one with `exporter.stats()` before handing the exporter to the SDK.
#[derive(Debug, Clone, Default)]
pub struct ExportStats(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    counters: Counters,
    views: OnceLock<Views>,
    /// The persistent queue's figures when its exporter stopped.
    disk_at_stop: Mutex<Option<DiskStats>>,
    last_error: Mutex<Option<LastError>>,
}

/// Live views of the delivery machinery, attached when it starts.
#[derive(Debug)]
struct Views {
    store: StoreView,
    retry: RetryStats,
    breaker: BreakerHandle,
}

/// The queue, as the stats see it. A persistent queue is not kept open by
/// a stats handle: once the exporter is gone, its directory (and lock) is
/// free for the next one.
#[derive(Debug)]
enum StoreView {
    Memory(Arc<BoundedQueue<Job>>),
    Disk(Weak<DiskQueue>),
}

#[derive(Debug, Default)]
struct Counters {
    items_accepted: AtomicU64,
    items_exported: AtomicU64,
    requests: AtomicU64,
    export_errors: AtomicU64,
    requeued: AtomicU64,
    dropped_queue_full: AtomicU64,
    rejected_by_receiver: AtomicU64,
    export_failed: AtomicU64,
    bytes_uncompressed: AtomicU64,
    bytes_sent: AtomicU64,
    latency_total_ns: AtomicU64,
    latency_max_ns: AtomicU64,
}

/// A point-in-time copy of an exporter's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatsSnapshot {
    /// Items (spans, metric data points, log records) the SDK handed over
    /// and the queue took.
    pub items_accepted: u64,
    /// Items the receiver accepted.
    pub items_exported: u64,
    /// Export requests answered with success or partial success.
    pub requests: u64,
    /// Batches given up for good (permanent error, or retryable for longer
    /// than the retry policy allows).
    pub export_errors: u64,
    /// Attempts sent again by the retry layer.
    pub retries: u64,
    /// Batches put back in the queue after the retry layer gave up on them
    /// for the moment (retry budget spent, circuit breaker open).
    pub requeued: u64,
    /// Items lost, by reason.
    pub dropped: Dropped,
    /// Items waiting in the in-memory queue.
    pub queued_items: u64,
    /// Bytes (encoded, compressed) waiting in the queue, in memory or on
    /// disk.
    pub queued_bytes: u64,
    /// Most items ever waiting in the in-memory queue at once.
    pub peak_queued_items: u64,
    /// Most bytes ever waiting in the in-memory queue at once.
    pub peak_queued_bytes: u64,
    /// The persistent queue, when there is one (once the exporter has
    /// stopped, as it was then: a stats handle does not keep the queue's
    /// directory open).
    pub disk: Option<DiskSnapshot>,
    /// The circuit breaker's state.
    pub breaker: BreakerState,
    /// Bytes of encoded requests before compression.
    pub bytes_uncompressed: u64,
    /// Bytes of request bodies produced for sending (after compression),
    /// counted once per batch however often it is sent.
    pub bytes_sent: u64,
    /// Mean time to deliver a batch, from the first attempt to the answer
    /// (retries included).
    pub mean_latency: Duration,
    /// Longest delivery.
    pub max_latency: Duration,
    /// The last export attempt that failed, retried or not: what to tell a
    /// user when items are still unsent.
    pub last_error: Option<LastError>,
}

/// An export attempt that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LastError {
    /// What failed.
    pub kind: ErrorKind,
    /// The error's message, with its causes (a TLS verification error, the
    /// HTTP or gRPC status and message, "connection refused", ...).
    pub message: String,
    /// When.
    pub at: SystemTime,
}

/// What kind of failure a [`LastError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Connecting, the TLS handshake, or the exchange on the connection.
    Connection,
    /// No response within the export timeout.
    Timeout,
    /// An OTLP/HTTP error status.
    HttpStatus,
    /// An OTLP/gRPC error status.
    GrpcStatus,
    /// A response that could not be understood.
    InvalidResponse,
    /// The request could not be sent as built (compression, size).
    Request,
}

impl ErrorKind {
    fn of(error: &ExportError) -> Self {
        match error {
            ExportError::Connection { .. } => ErrorKind::Connection,
            ExportError::Timeout { .. } => ErrorKind::Timeout,
            ExportError::Http { .. } => ErrorKind::HttpStatus,
            ExportError::Grpc { .. } => ErrorKind::GrpcStatus,
            ExportError::InvalidResponse { .. } => ErrorKind::InvalidResponse,
            _ => ErrorKind::Request,
        }
    }
}

/// The persistent queue's figures (in batches: a batch's item count is
/// inside its record).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DiskSnapshot {
    /// Batches on disk not yet accepted by the endpoint (in flight or not).
    pub queued_batches: u64,
    /// Their bytes.
    pub queued_bytes: u64,
    /// Batches deleted unsent to make room (overflow `DropOldest`).
    pub evicted_batches: u64,
    /// Damaged records found and skipped.
    pub corrupted_batches: u64,
}

/// Items lost, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Dropped {
    /// Rejected by the receiver in a partial success.
    pub rejected_by_receiver: u64,
    /// In batches given up for good.
    pub export_failed: u64,
    /// Refused or evicted by the full queue (see its overflow policy).
    pub queue_full: u64,
}

impl Dropped {
    /// All dropped items.
    pub fn total(&self) -> u64 {
        self.rejected_by_receiver + self.export_failed + self.queue_full
    }
}

impl ExportStats {
    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        let c = &self.0.counters;
        let answered = c.requests.load(Relaxed) + c.export_errors.load(Relaxed);
        let total = c.latency_total_ns.load(Relaxed);
        let views = self.0.views.get();
        let memory = views.and_then(|v| match &v.store {
            StoreView::Memory(q) => Some(q.stats()),
            StoreView::Disk(_) => None,
        });
        let disk = views.and_then(|v| match &v.store {
            StoreView::Disk(d) => d.upgrade().map(|d| d.stats()).or_else(|| {
                self.0
                    .disk_at_stop
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone()
            }),
            StoreView::Memory(_) => None,
        });
        StatsSnapshot {
            items_accepted: c.items_accepted.load(Relaxed),
            items_exported: c.items_exported.load(Relaxed),
            requests: c.requests.load(Relaxed),
            export_errors: c.export_errors.load(Relaxed),
            retries: views.map_or(0, |v| v.retry.retries()),
            requeued: c.requeued.load(Relaxed),
            dropped: Dropped {
                rejected_by_receiver: c.rejected_by_receiver.load(Relaxed),
                export_failed: c.export_failed.load(Relaxed),
                queue_full: memory.as_ref().map_or(0, |q| q.dropped())
                    + c.dropped_queue_full.load(Relaxed),
            },
            queued_items: memory.as_ref().map_or(0, |q| q.queued_items),
            peak_queued_items: memory.as_ref().map_or(0, |q| q.peak_items),
            peak_queued_bytes: memory.as_ref().map_or(0, |q| q.peak_bytes as u64),
            queued_bytes: memory.as_ref().map_or(0, |q| q.queued_bytes as u64)
                + disk.as_ref().map_or(0, |d| d.queued_bytes),
            disk: disk.map(|d| DiskSnapshot {
                queued_batches: d.queued_records,
                queued_bytes: d.queued_bytes,
                evicted_batches: d.dropped_oldest,
                corrupted_batches: d.corrupted,
            }),
            breaker: views.map_or(BreakerState::Closed, |v| v.breaker.state()),
            bytes_uncompressed: c.bytes_uncompressed.load(Relaxed),
            bytes_sent: c.bytes_sent.load(Relaxed),
            mean_latency: Duration::from_nanos(total.checked_div(answered).unwrap_or(0)),
            max_latency: Duration::from_nanos(c.latency_max_ns.load(Relaxed)),
            last_error: self
                .0
                .last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        }
    }

    /// Remembers a failed attempt as the last error.
    pub(crate) fn record_error(&self, error: &ExportError) {
        let last = LastError {
            kind: ErrorKind::of(error),
            message: error.to_string(),
            at: SystemTime::now(),
        };
        *self
            .0
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(last);
    }

    pub(crate) fn attach(&self, store: Store, retry: RetryStats, breaker: BreakerHandle) {
        let store = match store {
            Store::Memory(q) => StoreView::Memory(q),
            Store::Disk(d) => StoreView::Disk(Arc::downgrade(&d)),
        };
        let _ = self.0.views.set(Views {
            store,
            retry,
            breaker,
        });
    }

    pub(crate) fn record_disk_at_stop(&self, disk: DiskStats) {
        *self
            .0
            .disk_at_stop
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(disk);
    }

    pub(crate) fn record_encoded(&self, uncompressed: usize, sent: usize) {
        let c = &self.0.counters;
        c.bytes_uncompressed.fetch_add(uncompressed as u64, Relaxed);
        c.bytes_sent.fetch_add(sent as u64, Relaxed);
    }

    pub(crate) fn record_accepted(&self, items: u64) {
        self.0.counters.items_accepted.fetch_add(items, Relaxed);
    }

    pub(crate) fn record_queue_full(&self, items: u64) {
        self.0.counters.dropped_queue_full.fetch_add(items, Relaxed);
    }

    pub(crate) fn record_requeued(&self) {
        self.0.counters.requeued.fetch_add(1, Relaxed);
    }

    fn record_latency(&self, latency: Duration) {
        let c = &self.0.counters;
        let ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        c.latency_total_ns.fetch_add(ns, Relaxed);
        c.latency_max_ns.fetch_max(ns, Relaxed);
    }

    pub(crate) fn record_success(&self, items: u64, rejected: u64, latency: Duration) {
        self.record_latency(latency);
        let c = &self.0.counters;
        c.requests.fetch_add(1, Relaxed);
        c.items_exported
            .fetch_add(items.saturating_sub(rejected), Relaxed);
        c.rejected_by_receiver.fetch_add(rejected, Relaxed);
    }

    pub(crate) fn record_failure(&self, items: u64, latency: Duration) {
        self.record_latency(latency);
        let c = &self.0.counters;
        c.export_errors.fetch_add(1, Relaxed);
        c.export_failed.fetch_add(items, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_error_is_kept_with_its_kind() {
        let stats = ExportStats::default();
        assert_eq!(stats.snapshot().last_error, None);
        stats.record_error(&ExportError::Timeout {
            timeout: Duration::from_secs(1),
        });
        stats.record_error(&ExportError::InvalidResponse {
            reason: "not a protobuf".into(),
        });
        let last = stats.snapshot().last_error.unwrap();
        assert_eq!(last.kind, ErrorKind::InvalidResponse);
        assert!(last.message.contains("not a protobuf"), "{}", last.message);
    }

    #[test]
    fn snapshot_adds_up() {
        let s = ExportStats::default();
        s.record_encoded(100, 40);
        s.record_accepted(15);
        s.record_success(10, 2, Duration::from_millis(2));
        s.record_failure(5, Duration::from_millis(6));
        let snap = s.clone().snapshot();
        assert_eq!(snap.items_accepted, 15);
        assert_eq!(snap.items_exported, 8);
        assert_eq!(snap.requests, 1);
        assert_eq!(snap.export_errors, 1);
        assert_eq!(snap.dropped.rejected_by_receiver, 2);
        assert_eq!(snap.dropped.export_failed, 5);
        assert_eq!(snap.dropped.total(), 7);
        assert_eq!((snap.bytes_uncompressed, snap.bytes_sent), (100, 40));
        assert_eq!(snap.mean_latency, Duration::from_millis(4));
        assert_eq!(snap.max_latency, Duration::from_millis(6));
        assert_eq!(snap.breaker, BreakerState::Closed);
    }
}

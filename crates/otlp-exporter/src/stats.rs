//! Counters every exporter keeps, readable while it runs.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

/// A handle to an exporter's counters. Clones share the counters, so take
/// one with `exporter.stats()` before handing the exporter to the SDK.
#[derive(Debug, Clone, Default)]
pub struct ExportStats(Arc<Counters>);

#[derive(Debug, Default)]
struct Counters {
    items_exported: AtomicU64,
    requests: AtomicU64,
    export_errors: AtomicU64,
    rejected_by_receiver: AtomicU64,
    export_failed: AtomicU64,
    bytes_uncompressed: AtomicU64,
    bytes_sent: AtomicU64,
    latency_total_ns: AtomicU64,
    latency_max_ns: AtomicU64,
}

/// A point-in-time copy of an exporter's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatsSnapshot {
    /// Items (spans, metric data points, log records) the receiver accepted.
    pub items_exported: u64,
    /// Export requests answered with success or partial success.
    pub requests: u64,
    /// Export requests that failed (transport error or error status).
    pub export_errors: u64,
    /// Items lost, by reason.
    pub dropped: Dropped,
    /// Bytes of encoded requests before compression.
    pub bytes_uncompressed: u64,
    /// Bytes of request bodies sent (after compression).
    pub bytes_sent: u64,
    /// Mean time of an export request, from sending to the answer.
    pub mean_latency: Duration,
    /// Longest export request.
    pub max_latency: Duration,
}

/// Items lost, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Dropped {
    /// Rejected by the receiver in a partial success.
    pub rejected_by_receiver: u64,
    /// In requests that failed.
    pub export_failed: u64,
}

impl Dropped {
    /// All dropped items.
    pub fn total(&self) -> u64 {
        self.rejected_by_receiver + self.export_failed
    }
}

impl ExportStats {
    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        let c = &self.0;
        let answered = c.requests.load(Relaxed) + c.export_errors.load(Relaxed);
        let total = c.latency_total_ns.load(Relaxed);
        StatsSnapshot {
            items_exported: c.items_exported.load(Relaxed),
            requests: c.requests.load(Relaxed),
            export_errors: c.export_errors.load(Relaxed),
            dropped: Dropped {
                rejected_by_receiver: c.rejected_by_receiver.load(Relaxed),
                export_failed: c.export_failed.load(Relaxed),
            },
            bytes_uncompressed: c.bytes_uncompressed.load(Relaxed),
            bytes_sent: c.bytes_sent.load(Relaxed),
            mean_latency: Duration::from_nanos(total.checked_div(answered).unwrap_or(0)),
            max_latency: Duration::from_nanos(c.latency_max_ns.load(Relaxed)),
        }
    }

    pub(crate) fn record_encoded(&self, uncompressed: usize, sent: usize) {
        self.0
            .bytes_uncompressed
            .fetch_add(uncompressed as u64, Relaxed);
        self.0.bytes_sent.fetch_add(sent as u64, Relaxed);
    }

    fn record_latency(&self, latency: Duration) {
        let ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.0.latency_total_ns.fetch_add(ns, Relaxed);
        self.0.latency_max_ns.fetch_max(ns, Relaxed);
    }

    pub(crate) fn record_success(&self, items: u64, rejected: u64, latency: Duration) {
        self.record_latency(latency);
        self.0.requests.fetch_add(1, Relaxed);
        self.0
            .items_exported
            .fetch_add(items.saturating_sub(rejected), Relaxed);
        self.0.rejected_by_receiver.fetch_add(rejected, Relaxed);
    }

    pub(crate) fn record_failure(&self, items: u64, latency: Duration) {
        self.record_latency(latency);
        self.0.export_errors.fetch_add(1, Relaxed);
        self.0.export_failed.fetch_add(items, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_adds_up() {
        let s = ExportStats::default();
        s.record_encoded(100, 40);
        s.record_success(10, 2, Duration::from_millis(2));
        s.record_failure(5, Duration::from_millis(6));
        let snap = s.clone().snapshot();
        assert_eq!(snap.items_exported, 8);
        assert_eq!(snap.requests, 1);
        assert_eq!(snap.export_errors, 1);
        assert_eq!(snap.dropped.rejected_by_receiver, 2);
        assert_eq!(snap.dropped.export_failed, 5);
        assert_eq!(snap.dropped.total(), 7);
        assert_eq!((snap.bytes_uncompressed, snap.bytes_sent), (100, 40));
        assert_eq!(snap.mean_latency, Duration::from_millis(4));
        assert_eq!(snap.max_latency, Duration::from_millis(6));
    }
}

//! The client's counters: each SDK exporter's own, and the push API's.

use otlp_core::Signal;
use otlp_exporter::StatsSnapshot;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// What an [`EnhancedOtlpClient`](crate::EnhancedOtlpClient) has sent.
///
/// `traces`, `metrics` and `logs` are the SDK exporters' counters as
/// [`otlp_exporter::ExportStats::snapshot`] gives them; `pushed` counts what
/// went through the push API. Items are spans, metric data points and log
/// records; `bytes_sent` counts request bodies after compression, without
/// protocol framing (over gRPC each request also carries a 5-byte message
/// prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientStats {
    /// The SDK span exporter's counters.
    pub traces: StatsSnapshot,
    /// The SDK metric exporter's counters (items are data points).
    pub metrics: StatsSnapshot,
    /// The SDK log exporter's counters.
    pub logs: StatsSnapshot,
    /// The push API's counters.
    pub pushed: PushStats,
}

impl ClientStats {
    /// The SDK exporter's counters for `signal`, `None` for a signal the
    /// client has no exporter for.
    pub fn signal(&self, signal: Signal) -> Option<&StatsSnapshot> {
        match signal {
            Signal::Traces => Some(&self.traces),
            Signal::Metrics => Some(&self.metrics),
            Signal::Logs => Some(&self.logs),
            _ => None,
        }
    }
}

/// The push API's counters, per signal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PushStats {
    /// Pushed spans.
    pub traces: PushSnapshot,
    /// Pushed metric data points.
    pub metrics: PushSnapshot,
    /// Pushed log records.
    pub logs: PushSnapshot,
}

impl PushStats {
    /// The counters of `signal`, `None` for a signal the push API does not
    /// send.
    pub fn signal(&self, signal: Signal) -> Option<&PushSnapshot> {
        match signal {
            Signal::Traces => Some(&self.traces),
            Signal::Metrics => Some(&self.metrics),
            Signal::Logs => Some(&self.logs),
            _ => None,
        }
    }

    pub(crate) fn signal_mut(&mut self, signal: Signal) -> Option<&mut PushSnapshot> {
        match signal {
            Signal::Traces => Some(&mut self.traces),
            Signal::Metrics => Some(&mut self.metrics),
            Signal::Logs => Some(&mut self.logs),
            _ => None,
        }
    }
}

/// A point-in-time copy of one signal's push counters. Pushes are sent once,
/// without retries: a failed push is returned to the caller as a
/// [`PushError`](crate::PushError).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PushSnapshot {
    /// Items the receiver accepted.
    pub items_exported: u64,
    /// Items the receiver rejected in a partial success.
    pub items_rejected: u64,
    /// Items in requests that failed.
    pub items_failed: u64,
    /// Requests answered with success or partial success.
    pub requests: u64,
    /// Requests that failed.
    pub export_errors: u64,
    /// Bytes of encoded requests before compression.
    pub bytes_uncompressed: u64,
    /// Bytes of request bodies sent (after compression).
    pub bytes_sent: u64,
    /// Mean time of a request, from sending to the answer.
    pub mean_latency: Duration,
    /// Longest request.
    pub max_latency: Duration,
}

/// The push API's counters for one signal.
#[derive(Debug, Default)]
pub(crate) struct PushCounters {
    items_exported: AtomicU64,
    items_rejected: AtomicU64,
    items_failed: AtomicU64,
    requests: AtomicU64,
    export_errors: AtomicU64,
    bytes_uncompressed: AtomicU64,
    bytes_sent: AtomicU64,
    latency_total_ns: AtomicU64,
    latency_max_ns: AtomicU64,
}

impl PushCounters {
    pub(crate) fn snapshot(&self) -> PushSnapshot {
        let requests = self.requests.load(Relaxed);
        let export_errors = self.export_errors.load(Relaxed);
        let total = self.latency_total_ns.load(Relaxed);
        PushSnapshot {
            items_exported: self.items_exported.load(Relaxed),
            items_rejected: self.items_rejected.load(Relaxed),
            items_failed: self.items_failed.load(Relaxed),
            requests,
            export_errors,
            bytes_uncompressed: self.bytes_uncompressed.load(Relaxed),
            bytes_sent: self.bytes_sent.load(Relaxed),
            mean_latency: Duration::from_nanos(
                total.checked_div(requests + export_errors).unwrap_or(0),
            ),
            max_latency: Duration::from_nanos(self.latency_max_ns.load(Relaxed)),
        }
    }

    pub(crate) fn record_encoded(&self, uncompressed: usize, sent: usize) {
        self.bytes_uncompressed
            .fetch_add(uncompressed as u64, Relaxed);
        self.bytes_sent.fetch_add(sent as u64, Relaxed);
    }

    fn record_latency(&self, latency: Duration) {
        let ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.latency_total_ns.fetch_add(ns, Relaxed);
        self.latency_max_ns.fetch_max(ns, Relaxed);
    }

    pub(crate) fn record_success(&self, items: u64, rejected: u64, latency: Duration) {
        self.record_latency(latency);
        self.requests.fetch_add(1, Relaxed);
        self.items_exported
            .fetch_add(items.saturating_sub(rejected), Relaxed);
        self.items_rejected.fetch_add(rejected, Relaxed);
    }

    pub(crate) fn record_failure(&self, items: u64, latency: Duration) {
        self.record_latency(latency);
        self.export_errors.fetch_add(1, Relaxed);
        self.items_failed.fetch_add(items, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_adds_up() {
        let c = PushCounters::default();
        c.record_encoded(100, 40);
        c.record_success(10, 2, Duration::from_millis(2));
        c.record_success(5, 0, Duration::from_millis(4));
        c.record_failure(7, Duration::from_millis(12));
        let s = c.snapshot();
        assert_eq!(
            (s.items_exported, s.items_rejected, s.items_failed),
            (13, 2, 7)
        );
        assert_eq!((s.requests, s.export_errors), (2, 1));
        assert_eq!((s.bytes_uncompressed, s.bytes_sent), (100, 40));
        assert_eq!(s.mean_latency, Duration::from_millis(6));
        assert_eq!(s.max_latency, Duration::from_millis(12));
        assert_eq!(PushCounters::default().snapshot(), PushSnapshot::default());
    }

    #[test]
    fn push_stats_by_signal() {
        let mut stats = PushStats::default();
        stats.signal_mut(Signal::Logs).unwrap().requests = 4;
        assert_eq!(stats.signal(Signal::Logs).unwrap().requests, 4);
        assert_eq!(stats.signal(Signal::Traces).unwrap().requests, 0);
    }
}

//! The client's counters: each SDK exporter's own, and the push API's,
//! all of one type, [`StatsSnapshot`].

use otlp_core::Signal;
use otlp_exporter::StatsSnapshot;

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

/// The push API's counters, per signal: the same figures as an exporter's
/// ([`StatsSnapshot`]), counted by the client each push goes through.
/// Pushes are sent once, without a queue or retries: a failed push is
/// returned to the caller as a [`PushError`](crate::PushError), and its
/// items are counted in [`Dropped::returned`](otlp_exporter::Dropped::returned).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PushStats {
    /// Pushed spans.
    pub traces: StatsSnapshot,
    /// Pushed metric data points.
    pub metrics: StatsSnapshot,
    /// Pushed log records.
    pub logs: StatsSnapshot,
}

impl PushStats {
    /// The counters of `signal`, `None` for a signal the push API does not
    /// send.
    pub fn signal(&self, signal: Signal) -> Option<&StatsSnapshot> {
        match signal {
            Signal::Traces => Some(&self.traces),
            Signal::Metrics => Some(&self.metrics),
            Signal::Logs => Some(&self.logs),
            _ => None,
        }
    }
}

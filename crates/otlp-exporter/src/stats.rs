//! Counters every exporter keeps, readable while it runs.
//!
//! Where every item is lives in one ledger under one lock, so a snapshot
//! never catches an item between two places: at every moment
//! `items_accepted + items_recovered = items_exported + dropped.total() +
//! queued_items + in_flight_items`.
//!
//! Every change is announced, so a caller waiting for a figure
//! ([`ExportStats::changed`], [`ExportStats::wait_for`]) wakes when it
//! may have changed instead of polling.
//!
//! This module knows nothing of the delivery code that books into it: the
//! queue is seen through a [`StoreView`] that delivery hands over.

use otlp_resilience::breaker::{BreakerHandle, BreakerState};
use otlp_resilience::disk::{DiskQueue, DiskStats};
use otlp_resilience::queue::QueueStats;
use otlp_resilience::retry::RetryStats;
use otlp_transport::client::ExportError;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant, SystemTime};

/// A handle to an exporter's counters. Clones share the counters, so take
/// one with `exporter.stats()` before handing the exporter to the SDK.
#[derive(Debug, Clone, Default)]
pub struct ExportStats(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    counters: Counters,
    ledger: Mutex<Ledger>,
    /// Signalled when nothing is queued or in flight any more.
    idle: Condvar,
    views: OnceLock<Views>,
    /// The persistent queue's figures when its exporter stopped.
    disk_at_stop: Mutex<Option<DiskStats>>,
    last_error: Mutex<Option<LastError>>,
    /// Counts changes: for waiting on them, blocking or async.
    version: Mutex<u64>,
    changed: Condvar,
    changes: tokio::sync::watch::Sender<u64>,
    /// An exporter's total, for the stats of one of its endpoints: every
    /// booking here is booked there too (see [`ExportStats::child`]).
    parent: Option<ExportStats>,
    /// For an exporter's total: its endpoints' stats and state.
    endpoints: Mutex<Vec<Endpoint>>,
    /// Items in batches handed from one endpoint to another (the total's
    /// count; an endpoint's is in its ledger).
    rerouted_total: AtomicU64,
    /// What the processors removed: (processor, reason, items).
    removed_by: Mutex<Vec<(String, &'static str, u64)>>,
    /// Span events the processors removed from spans: (processor, events).
    events_removed_by: Mutex<Vec<(String, u64)>>,
    possible_duplicates: AtomicU64,
}

/// One endpoint of an exporter with several.
#[derive(Debug, Clone)]
struct Endpoint {
    name: String,
    stats: ExportStats,
    state: Arc<EndpointState>,
}

/// Where an endpoint stands, kept up to date by the router and read by
/// [`ExportStats::endpoints`].
#[derive(Debug, Default)]
pub(crate) struct EndpointState {
    /// Named by the configuration or the last DNS answer.
    pub(crate) member: std::sync::atomic::AtomicBool,
    /// Batches are routed to it.
    pub(crate) in_ring: std::sync::atomic::AtomicBool,
    /// The last active health check: 0 none yet, 1 serving, 2 not serving,
    /// 3 no answer.
    pub(crate) check: std::sync::atomic::AtomicU8,
}

/// Where the items are.
#[derive(Debug, Default, Clone, Copy)]
struct Ledger {
    accepted: u64,
    recovered: u64,
    exported: u64,
    queued: u64,
    in_flight: u64,
    dropped: Dropped,
    /// Handed to another endpoint (an endpoint's ledger only).
    rerouted: u64,
    /// Removed by the processors.
    removed: u64,
}

/// Why items were dropped; see the fields of [`Dropped`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    ExportFailed,
    RetryExpired,
    QueueFull,
    Shutdown,
    EncodeFailed,
    DiskError,
    Returned,
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
pub(crate) enum StoreView {
    /// The in-memory queue's figures.
    Memory(Box<dyn Fn() -> QueueStats + Send + Sync>),
    Disk(Weak<DiskQueue>),
}

impl fmt::Debug for StoreView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreView::Memory(_) => f.write_str("Memory"),
            StoreView::Disk(d) => f.debug_tuple("Disk").field(d).finish(),
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    export_errors: AtomicU64,
    deferred: AtomicU64,
    bytes_uncompressed: AtomicU64,
    bytes_sent: AtomicU64,
    latency_total_ns: AtomicU64,
    latency_max_ns: AtomicU64,
}

/// A point-in-time copy of an exporter's counters.
///
/// Every item is in exactly one place: `items_accepted + items_recovered =
/// items_exported + dropped.total() + items_removed + queued_items +
/// in_flight_items`, in every snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatsSnapshot {
    /// Items (spans, metric data points, log records) handed to the
    /// exporter, whatever became of them. The span processor counts a span
    /// here once its batch is handed to delivery (or once it is dropped).
    pub items_accepted: u64,
    /// Items found in the persistent queue from an earlier run, counted as
    /// their batches are read back for sending.
    pub items_recovered: u64,
    /// Items the receiver accepted.
    pub items_exported: u64,
    /// Export requests answered with success or partial success.
    pub requests: u64,
    /// Batches given up for good (permanent error, or no time left to
    /// retry).
    pub export_errors: u64,
    /// Attempts sent again after a retryable failure.
    pub retries: u64,
    /// Times a batch's next attempt was put off because the retry budget
    /// was spent: the batch waits longer, holding no send slot, instead of
    /// being dropped.
    pub requeued: u64,
    /// Items lost, by reason.
    pub dropped: Dropped,
    /// Items waiting in the queue (in memory, or on disk).
    pub queued_items: u64,
    /// Items taken from the queue: being sent, or waiting for their next
    /// attempt (a persistent queue still holds them on disk).
    pub in_flight_items: u64,
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
    /// counted once per batch however often it is sent; with SRT, which
    /// makes the body anew for each attempt, the body that was accepted.
    pub bytes_sent: u64,
    /// Mean time to deliver a batch, from the first attempt to the answer
    /// (retries included).
    pub mean_latency: Duration,
    /// Longest delivery.
    pub max_latency: Duration,
    /// The last export attempt that failed, retried or not: what to tell a
    /// user when items are still unsent.
    pub last_error: Option<LastError>,
    /// Items in batches handed from one endpoint to another because the
    /// first left the ring (unhealthy, or gone from DNS) while they were
    /// queued for it or being retried on it. An endpoint's stats count
    /// them as gone from its ledger (accepted + recovered = exported +
    /// dropped + queued + in flight + rerouted); in the exporter's total
    /// they stay where they are (queued at the next endpoint) and this
    /// only counts the moves.
    pub rerouted_items: u64,
    /// Items sent again after an attempt whose answer was lost in flight
    /// (a timeout, or a connection broken after the request went out; a
    /// refused connection does not count), to the same endpoint or, with
    /// several, handed on to the next: they may have arrived twice.
    pub possible_duplicates: u64,
    /// Items the configured processors removed on purpose (sampled out,
    /// filtered): not lost, so not in [`dropped`](Self::dropped), and not
    /// sent. With them, accepted + recovered = exported + dropped +
    /// removed + queued + in flight.
    pub items_removed: u64,
    /// [`items_removed`](Self::items_removed) by processor and reason:
    /// `(processor, reason, items)`, e.g. `("probabilistic_sampler",
    /// "not_sampled", 512)`.
    pub removed_by: Vec<(String, &'static str, u64)>,
    /// Span events the processors removed from spans they kept (a filter's
    /// span-event conditions), by processor: `(processor, events)`. Span
    /// events are not items: they travel inside their spans, and are not
    /// in the ledger above.
    pub span_events_removed: Vec<(String, u64)>,
}

/// One endpoint of an exporter that sends to several; see
/// [`ExportStats::endpoints`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndpointSnapshot {
    /// The endpoint's URL.
    pub endpoint: String,
    /// Whether the configuration (or the last DNS answer) names it.
    pub member: bool,
    /// Whether batches are routed to it now: a member, and healthy
    /// (passing its health checks, its circuit breaker not open).
    pub in_ring: bool,
    /// The answer to the last active health check: `Some(true)` serving,
    /// `Some(false)` not serving or no answer, `None` when none was made.
    pub serving: Option<bool>,
    /// What was sent to it (its circuit breaker's state included).
    pub stats: StatsSnapshot,
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
    /// Batches on disk not yet accepted by the endpoint (in flight or not),
    /// including any found there from an earlier run and not read yet.
    pub queued_batches: u64,
    /// Their bytes.
    pub queued_bytes: u64,
    /// Batches deleted unsent to make room (overflow `DropOldest`); their
    /// items are in [`Dropped::queue_full`] (those of an earlier run not
    /// read yet only here).
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
    /// In batches the endpoint refused for good (a permanent error).
    pub export_failed: u64,
    /// In batches still failing with a retryable error when the retry
    /// policy's time ran out, or told to wait longer than the time left.
    pub retry_expired: u64,
    /// Refused or evicted by the full queue (see its overflow policy), or,
    /// in the span processor, ended while its export thread was too far
    /// behind.
    pub queue_full: u64,
    /// Handed over after shutdown, or still queued or being sent in memory
    /// when the exporter stopped.
    pub shutdown: u64,
    /// In batches that could not be compressed.
    pub encode_failed: u64,
    /// In batches the persistent queue could not write.
    pub disk_error: u64,
    /// In requests sent once, without a queue or retries, that failed: the
    /// error went to the caller, who still has the items
    /// ([`ResolvedClient::export`](crate::ResolvedClient::export), the
    /// `otlp` facade's push API).
    pub returned: u64,
}

impl Dropped {
    /// All dropped items.
    pub fn total(&self) -> u64 {
        self.rejected_by_receiver
            + self.export_failed
            + self.retry_expired
            + self.queue_full
            + self.shutdown
            + self.encode_failed
            + self.disk_error
            + self.returned
    }

    fn fields(&self) -> [(&'static str, u64); 8] {
        [
            ("rejected by the receiver", self.rejected_by_receiver),
            ("refused by the endpoint", self.export_failed),
            ("out of retry time", self.retry_expired),
            ("queue full", self.queue_full),
            ("shut down", self.shutdown),
            ("not compressible", self.encode_failed),
            ("disk queue error", self.disk_error),
            ("returned to the caller", self.returned),
        ]
    }

    /// What was dropped since `earlier`.
    pub(crate) fn since(&self, earlier: &Dropped) -> Dropped {
        let d = |now: u64, then: u64| now.saturating_sub(then);
        Dropped {
            rejected_by_receiver: d(self.rejected_by_receiver, earlier.rejected_by_receiver),
            export_failed: d(self.export_failed, earlier.export_failed),
            retry_expired: d(self.retry_expired, earlier.retry_expired),
            queue_full: d(self.queue_full, earlier.queue_full),
            shutdown: d(self.shutdown, earlier.shutdown),
            encode_failed: d(self.encode_failed, earlier.encode_failed),
            disk_error: d(self.disk_error, earlier.disk_error),
            returned: d(self.returned, earlier.returned),
        }
    }

    fn add(&mut self, reason: Reason, items: u64) {
        let slot = match reason {
            Reason::ExportFailed => &mut self.export_failed,
            Reason::RetryExpired => &mut self.retry_expired,
            Reason::QueueFull => &mut self.queue_full,
            Reason::Shutdown => &mut self.shutdown,
            Reason::EncodeFailed => &mut self.encode_failed,
            Reason::DiskError => &mut self.disk_error,
            Reason::Returned => &mut self.returned,
        };
        *slot += items;
    }
}

/// `12 (queue full 10, shut down 2)`: the total and each reason with items.
impl fmt::Display for Dropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.total())?;
        let mut sep = " (";
        for (name, n) in self.fields() {
            if n > 0 {
                write!(f, "{sep}{name} {n}")?;
                sep = ", ";
            }
        }
        if sep == ", " {
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// Waits on `cv` until `done` holds for the guarded value, up to
/// `deadline`; `false` if it passed first.
pub(crate) fn wait_until<T>(
    cv: &Condvar,
    guard: MutexGuard<'_, T>,
    deadline: Instant,
    mut done: impl FnMut(&T) -> bool,
) -> bool {
    let left = deadline.saturating_duration_since(Instant::now());
    let (guard, _) = cv
        .wait_timeout_while(guard, left, |v| !done(v))
        .unwrap_or_else(PoisonError::into_inner);
    done(&guard)
}

impl ExportStats {
    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        let c = &self.0.counters;
        let ledger = *self.ledger();
        let answered = c.requests.load(Relaxed) + c.export_errors.load(Relaxed);
        let total = c.latency_total_ns.load(Relaxed);
        let views = self.0.views.get();
        let memory = views.and_then(|v| match &v.store {
            StoreView::Memory(stats) => Some(stats()),
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
        let mut snapshot = StatsSnapshot {
            items_accepted: ledger.accepted,
            items_recovered: ledger.recovered,
            items_exported: ledger.exported,
            requests: c.requests.load(Relaxed),
            export_errors: c.export_errors.load(Relaxed),
            retries: views.map_or(0, |v| v.retry.retries()),
            requeued: c.deferred.load(Relaxed),
            dropped: ledger.dropped,
            queued_items: ledger.queued,
            in_flight_items: ledger.in_flight,
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
            rerouted_items: ledger.rerouted + self.0.rerouted_total.load(Relaxed),
            possible_duplicates: self.0.possible_duplicates.load(Relaxed),
            items_removed: ledger.removed,
            removed_by: self
                .0
                .removed_by
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
            span_events_removed: self
                .0
                .events_removed_by
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        };
        let endpoints = self.endpoint_list();
        if !endpoints.is_empty() {
            // The total of several endpoints: their queues, retries and
            // breakers are theirs.
            let mut states = Vec::with_capacity(endpoints.len());
            for e in &endpoints {
                let s = e.stats.snapshot();
                snapshot.retries += s.retries;
                snapshot.queued_bytes += s.queued_bytes;
                snapshot.peak_queued_items += s.peak_queued_items;
                snapshot.peak_queued_bytes += s.peak_queued_bytes;
                states.push(s.breaker);
            }
            snapshot.breaker = if states.iter().all(|s| *s == BreakerState::Open) {
                BreakerState::Open
            } else if states.iter().all(|s| *s == BreakerState::Closed) {
                BreakerState::Closed
            } else {
                BreakerState::HalfOpen
            };
        }
        snapshot
    }

    fn endpoint_list(&self) -> Vec<Endpoint> {
        self.0
            .endpoints
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Each endpoint's figures and state, for an exporter that sends to
    /// several (configured with `with_endpoints` or `with_resolver`);
    /// empty for one with a single endpoint, whose figures are the
    /// snapshot's. The endpoints DNS no longer names are kept, with what
    /// they did.
    pub fn endpoints(&self) -> Vec<EndpointSnapshot> {
        self.endpoint_list()
            .into_iter()
            .map(|e| {
                let ordering = std::sync::atomic::Ordering::Relaxed;
                EndpointSnapshot {
                    endpoint: e.name,
                    member: e.state.member.load(ordering),
                    in_ring: e.state.in_ring.load(ordering),
                    serving: match e.state.check.load(ordering) {
                        0 => None,
                        1 => Some(true),
                        _ => Some(false),
                    },
                    stats: e.stats.snapshot(),
                }
            })
            .collect()
    }

    /// Stats for one endpoint of an exporter whose total these are: every
    /// booking there is booked here too.
    pub(crate) fn child(&self, name: &str, state: Arc<EndpointState>) -> ExportStats {
        let child = ExportStats(Arc::new(Inner {
            parent: Some(self.clone()),
            ..Inner::default()
        }));
        self.0
            .endpoints
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Endpoint {
                name: name.to_owned(),
                stats: child.clone(),
                state,
            });
        child
    }

    /// `items` taken from this endpoint (from its queue, or in flight)
    /// were handed to another endpoint: they leave this endpoint's ledger;
    /// in the total they are queued again, for the next endpoint.
    /// `maybe_delivered`: this endpoint may have them already.
    pub(crate) fn record_rerouted(&self, items: u64, from_queue: bool, maybe_delivered: bool) {
        self.book_here(&|l: &mut Ledger| {
            if from_queue {
                l.queued -= items.min(l.queued);
            } else {
                l.in_flight -= items.min(l.in_flight);
            }
            l.rerouted += items;
        });
        if maybe_delivered {
            self.0.possible_duplicates.fetch_add(items, Relaxed);
        }
        if let Some(parent) = &self.0.parent {
            if maybe_delivered {
                parent.0.possible_duplicates.fetch_add(items, Relaxed);
            }
            parent.0.rerouted_total.fetch_add(items, Relaxed);
            parent.book(|l| {
                if !from_queue {
                    l.in_flight -= items.min(l.in_flight);
                    l.queued += items;
                }
            });
        }
    }

    /// `items` were delivered by an attempt after one whose answer was
    /// lost in flight: the endpoint may have them twice.
    pub(crate) fn record_possible_duplicates(&self, items: u64) {
        self.0.possible_duplicates.fetch_add(items, Relaxed);
        if let Some(parent) = &self.0.parent {
            parent.0.possible_duplicates.fetch_add(items, Relaxed);
        }
        self.announce();
    }

    /// `items` booked as handed on never reached the router (it is gone):
    /// in the total they were queued, now dropped at shutdown.
    pub(crate) fn record_handoff_failed(&self, items: u64) {
        if let Some(parent) = &self.0.parent {
            parent.record_unqueued(items, Reason::Shutdown);
        }
    }

    /// `items` handed over from another endpoint are queued here: new to
    /// this endpoint, already counted (as queued) in the total.
    pub(crate) fn record_rerouted_in(&self, items: u64) {
        self.book_here(&|l: &mut Ledger| {
            l.accepted += items;
            l.queued += items;
        });
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
        self.announce();
        if let Some(parent) = &self.0.parent {
            parent.record_error(error);
        }
    }

    /// Wakes whoever waits for a change (also called when a figure kept
    /// elsewhere, such as the retry count, changed).
    pub(crate) fn announce(&self) {
        let mut version = self
            .0
            .version
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *version += 1;
        drop(version);
        self.0.changed.notify_all();
        self.0.changes.send_modify(|v| *v += 1);
    }

    /// Resolves at the next change of the counters after the call (an item
    /// booked somewhere, a request answered, an attempt failed). Needs no
    /// runtime: it can be awaited in any executor.
    ///
    /// To wait for a condition without missing a change that happens
    /// between reading a snapshot and calling this, use
    /// [`until`](Self::until).
    pub async fn changed(&self) {
        let mut changes = self.0.changes.subscribe();
        // The sender lives as long as `self`: this cannot fail.
        let _ = changes.changed().await;
    }

    /// Resolves with the first snapshot for which `done` holds, checking
    /// after every change. Needs no runtime; wrap it in a timeout of your
    /// executor's to bound the wait.
    pub async fn until(&self, mut done: impl FnMut(&StatsSnapshot) -> bool) -> StatsSnapshot {
        let mut changes = self.0.changes.subscribe();
        loop {
            // Subscribed before the snapshot: a change after it wakes us.
            changes.borrow_and_update();
            let snapshot = self.snapshot();
            if done(&snapshot) {
                return snapshot;
            }
            let _ = changes.changed().await;
        }
    }

    /// Blocks the thread until `done` holds for a snapshot, checking after
    /// every change, or until `timeout` passes: the snapshot that
    /// satisfied `done`, or `None` on timeout.
    pub fn wait_for(
        &self,
        mut done: impl FnMut(&StatsSnapshot) -> bool,
        timeout: Duration,
    ) -> Option<StatsSnapshot> {
        let deadline = Instant::now() + timeout;
        let mut version = self
            .0
            .version
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        loop {
            // Read under the lock: no change can slip in before the wait.
            let seen = *version;
            let snapshot = self.snapshot();
            if done(&snapshot) {
                return Some(snapshot);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            version = self
                .0
                .changed
                .wait_timeout_while(version, left, |v| *v == seen)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    fn ledger(&self) -> MutexGuard<'_, Ledger> {
        self.0.ledger.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes the ledger, waking flushes once nothing is left to wait for.
    fn book(&self, change: impl Fn(&mut Ledger)) {
        self.book_here(&change);
        if let Some(parent) = &self.0.parent {
            parent.book(change);
        }
    }

    /// Books in these stats only, not in the total's.
    fn book_here(&self, change: &impl Fn(&mut Ledger)) {
        let mut ledger = self.ledger();
        let before = *ledger;
        change(&mut ledger);
        // Items leave a place only after they were booked into it.
        debug_assert!(
            ledger.accepted + ledger.recovered
                == ledger.exported
                    + ledger.dropped.total()
                    + ledger.queued
                    + ledger.in_flight
                    + ledger.rerouted
                    + ledger.removed,
            "{before:?} -> {ledger:?}"
        );
        let idle = ledger.queued == 0 && ledger.in_flight == 0;
        drop(ledger);
        if idle {
            self.0.idle.notify_all();
        }
        self.announce();
    }

    /// Items queued or in flight now.
    pub(crate) fn pending_items(&self) -> u64 {
        let l = self.ledger();
        l.queued + l.in_flight
    }

    /// Items dropped so far, by reason.
    pub(crate) fn dropped(&self) -> Dropped {
        self.ledger().dropped
    }

    /// Waits until nothing is queued or in flight, up to `deadline`;
    /// `false` if it passed first.
    pub(crate) fn wait_idle(&self, deadline: Instant) -> bool {
        wait_until(&self.0.idle, self.ledger(), deadline, |l| {
            l.queued == 0 && l.in_flight == 0
        })
    }

    pub(crate) fn attach(&self, store: StoreView, retry: RetryStats, breaker: BreakerHandle) {
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

    /// `items` handed over and queued (or about to be: a refusal is then
    /// booked with [`record_unqueued`](Self::record_unqueued)).
    pub(crate) fn record_queued(&self, items: u64) {
        self.book(|l| {
            l.accepted += items;
            l.queued += items;
        });
    }

    #[cfg_attr(not(feature = "processors"), allow(dead_code))]
    /// `removed` items of a batch handed over were removed by the
    /// processors, `(processor, reason, items)` in `by`.
    pub(crate) fn record_removed(&self, removed: u64, by: &[(String, &'static str, u64)]) {
        if removed == 0 {
            return;
        }
        {
            let mut all = self
                .0
                .removed_by
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            for (processor, reason, n) in by {
                match all
                    .iter_mut()
                    .find(|(p, r, _)| p == processor && r == reason)
                {
                    Some((_, _, total)) => *total += n,
                    None => all.push((processor.clone(), reason, *n)),
                }
            }
        }
        self.book(|l| {
            l.accepted += removed;
            l.removed += removed;
        });
    }

    /// `events` span events removed by `processor` from spans it kept.
    #[cfg_attr(not(feature = "processors"), allow(dead_code))]
    pub(crate) fn record_events_removed(&self, processor: &str, events: u64) {
        if events == 0 {
            return;
        }
        let mut all = self
            .0
            .events_removed_by
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match all.iter_mut().find(|(p, _)| p == processor) {
            Some((_, total)) => *total += events,
            None => all.push((processor.to_owned(), events)),
        }
    }

    /// One item removed by `processor` for `reason` before it was encoded.
    #[cfg_attr(not(feature = "processors"), allow(dead_code))]
    pub(crate) fn record_removed_one(&self, processor: &str, reason: &'static str) {
        {
            let mut all = self
                .0
                .removed_by
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match all
                .iter_mut()
                .find(|(p, r, _)| p == processor && *r == reason)
            {
                Some((_, _, total)) => *total += 1,
                None => all.push((processor.to_owned(), reason, 1)),
            }
        }
        self.book(|l| {
            l.accepted += 1;
            l.removed += 1;
        });
    }

    /// `items` handed over and dropped at once.
    pub(crate) fn record_refused(&self, items: u64, reason: Reason) {
        self.book(|l| {
            l.accepted += items;
            l.dropped.add(reason, items);
        });
    }

    /// `items` booked as queued were refused, or evicted, after all.
    pub(crate) fn record_unqueued(&self, items: u64, reason: Reason) {
        self.book(|l| {
            l.queued -= items.min(l.queued);
            l.dropped.add(reason, items);
        });
    }

    /// `items` taken from the queue for sending.
    pub(crate) fn record_taken(&self, items: u64) {
        self.book(|l| {
            l.queued -= items.min(l.queued);
            l.in_flight += items;
        });
    }

    /// `items` handed over and sent at once, without a queue.
    pub(crate) fn record_sending(&self, items: u64) {
        self.book(|l| {
            l.accepted += items;
            l.in_flight += items;
        });
    }

    /// `items` found on disk from an earlier run, taken for sending.
    pub(crate) fn record_recovered(&self, items: u64) {
        self.book(|l| {
            l.recovered += items;
            l.in_flight += items;
        });
    }

    /// `items` taken for sending went back to the queue (on disk, at stop).
    pub(crate) fn record_returned(&self, items: u64) {
        self.book(|l| {
            l.in_flight -= items.min(l.in_flight);
            l.queued += items;
        });
    }

    /// `items` taken for sending were dropped.
    pub(crate) fn record_lost(&self, items: u64, reason: Reason) {
        self.book(|l| {
            l.in_flight -= items.min(l.in_flight);
            l.dropped.add(reason, items);
        });
    }

    /// A batch's next attempt was put off by the retry budget.
    pub(crate) fn record_deferred(&self) {
        self.0.counters.deferred.fetch_add(1, Relaxed);
        self.announce();
        if let Some(parent) = &self.0.parent {
            parent.record_deferred();
        }
    }

    fn record_latency(&self, latency: Duration) {
        let c = &self.0.counters;
        let ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        c.latency_total_ns.fetch_add(ns, Relaxed);
        c.latency_max_ns.fetch_max(ns, Relaxed);
        if let Some(parent) = &self.0.parent {
            parent.record_latency(latency);
        }
    }

    fn count_request(&self, failed: bool) {
        let c = &self.0.counters;
        if failed {
            c.export_errors.fetch_add(1, Relaxed);
        } else {
            c.requests.fetch_add(1, Relaxed);
        }
        if let Some(parent) = &self.0.parent {
            parent.count_request(failed);
        }
    }

    /// A batch of `items` taken for sending was answered with success,
    /// `rejected` of them refused (at most `items`).
    pub(crate) fn record_success(&self, items: u64, rejected: u64, latency: Duration) {
        self.record_latency(latency);
        self.count_request(false);
        let rejected = rejected.min(items);
        self.book(|l| {
            l.in_flight -= items.min(l.in_flight);
            l.exported += items - rejected;
            l.dropped.rejected_by_receiver += rejected;
        });
    }

    /// A batch of `items` taken for sending was given up for good.
    pub(crate) fn record_failure(&self, items: u64, reason: Reason, latency: Duration) {
        self.record_latency(latency);
        self.count_request(true);
        self.record_lost(items, reason);
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
    fn a_waiter_wakes_on_the_change_it_waits_for() {
        let stats = ExportStats::default();
        assert_eq!(
            stats.wait_for(|s| s.items_accepted > 0, Duration::from_millis(20)),
            None,
            "nothing booked: the wait ends at its timeout"
        );
        let booker = {
            let stats = stats.clone();
            std::thread::spawn(move || {
                stats.record_queued(3);
                stats.record_taken(3);
                stats.record_success(3, 0, Duration::from_millis(1));
            })
        };
        let snap = stats
            .wait_for(|s| s.items_exported == 3, Duration::from_secs(60))
            .expect("the export was booked");
        assert_eq!((snap.items_accepted, snap.in_flight_items), (3, 0));
        booker.join().unwrap();
        // Already true: returns at once.
        assert!(stats
            .wait_for(|s| s.items_exported == 3, Duration::ZERO)
            .is_some());
    }

    #[tokio::test]
    async fn changes_can_be_awaited() {
        let stats = ExportStats::default();
        let waiter = tokio::spawn({
            let stats = stats.clone();
            async move { stats.until(|s| s.dropped.shutdown == 2).await }
        });
        let next = tokio::spawn({
            let stats = stats.clone();
            async move { stats.changed().await }
        });
        tokio::task::yield_now().await;
        stats.record_refused(1, Reason::Shutdown);
        next.await.unwrap();
        stats.record_error(&ExportError::Timeout {
            timeout: Duration::from_secs(1),
        });
        stats.record_refused(1, Reason::Shutdown);
        let snap = tokio::time::timeout(Duration::from_secs(60), waiter)
            .await
            .expect("the waiter woke")
            .unwrap();
        assert_eq!(snap.items_accepted, 2);
        assert!(snap.last_error.is_some());
    }

    #[test]
    fn snapshot_adds_up() {
        let s = ExportStats::default();
        s.record_encoded(100, 40);
        s.record_queued(15);
        s.record_taken(15);
        s.record_success(10, 2, Duration::from_millis(2));
        s.record_failure(5, Reason::ExportFailed, Duration::from_millis(6));
        s.record_refused(3, Reason::Shutdown);
        let snap = s.clone().snapshot();
        assert_eq!(snap.items_accepted, 18);
        assert_eq!(snap.dropped.shutdown, 3);
        assert_eq!(
            snap.dropped.to_string(),
            "10 (rejected by the receiver 2, refused by the endpoint 5, shut down 3)"
        );
        assert_eq!(snap.items_exported, 8);
        assert_eq!(snap.requests, 1);
        assert_eq!(snap.export_errors, 1);
        assert_eq!(snap.dropped.rejected_by_receiver, 2);
        assert_eq!(snap.dropped.export_failed, 5);
        assert_eq!(snap.dropped.total(), 10);
        assert_eq!((snap.queued_items, snap.in_flight_items), (0, 0));
        assert_eq!((snap.bytes_uncompressed, snap.bytes_sent), (100, 40));
        assert_eq!(snap.mean_latency, Duration::from_millis(4));
        assert_eq!(snap.max_latency, Duration::from_millis(6));
        assert_eq!(snap.breaker, BreakerState::Closed);
    }
}

//! Flow control: generating only as fast as exports settle (see the
//! [module docs](super)), and shutting down within the run's budget.

use super::options::Plan;
use super::report::SendReport;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::logs::{LogBatch, LogExporter};
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use opentelemetry_sdk::Resource;
use otlp_exporter::{ExportStats, StatsSnapshot};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// What the generator knows about the exports: the exporter's counters
/// (which it can wait on), and the first error the SDK saw (the exporter
/// only fails an export call when its queue refuses the batch).
#[derive(Debug)]
pub(super) struct Progress {
    pub(super) stats: ExportStats,
    first_error: Mutex<Option<String>>,
    /// Without a persistent queue: set once a batch was given up before
    /// any was delivered, as the endpoint does not work and generating
    /// more only delays the verdict. With one: set when the queue refused
    /// a batch (full, or failing), as generating more would only lose more.
    abort: AtomicBool,
    /// The command's deadline, with a persistent queue (and only then).
    pub(super) deadline: Option<Instant>,
    /// Batches found on disk when the exporter was built.
    pub(super) backlog: u64,
}

impl Progress {
    /// Made right after the exporter is built, so that `backlog` is what
    /// an earlier run left on disk.
    pub(super) fn new(stats: ExportStats, deadline: Option<Instant>) -> Self {
        let backlog = stats.snapshot().disk.map_or(0, |d| d.queued_batches);
        Progress {
            stats,
            first_error: Mutex::new(None),
            abort: AtomicBool::new(false),
            deadline,
            backlog,
        }
    }

    /// Whether the exporter keeps its queue on disk.
    pub(super) fn durable(&self) -> bool {
        self.deadline.is_some()
    }

    pub(super) fn aborted(&self) -> bool {
        self.abort.load(Ordering::Acquire)
    }

    /// Batches on disk not yet delivered.
    pub(super) fn queued_on_disk(&self) -> u64 {
        self.stats.snapshot().disk.map_or(0, |d| d.queued_batches)
    }

    /// Decides whether to give up (see [`Progress::abort`]); returns
    /// whether the run is aborted.
    fn check(&self) -> bool {
        if self.aborted() {
            return true;
        }
        if let Some(deadline) = self.deadline {
            // An endpoint that is down is no reason: the disk holds the
            // batches. `exported` aborts when the disk refuses one.
            return Instant::now() >= deadline;
        }
        let s = self.stats.snapshot();
        let hopeless = s.items_exported == 0 && s.export_errors > 0;
        if hopeless {
            self.abort.store(true, Ordering::Release);
        }
        hopeless
    }

    pub(super) fn first_error(&self) -> Option<String> {
        self.first_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Items no longer between the generator and safety: delivered or
    /// dropped for good, or, with a persistent queue, taken by it (or
    /// refused by it).
    fn settled(&self) -> u64 {
        self.settled_in(&self.stats.snapshot())
    }

    /// [`settled`](Self::settled) as of `s`.
    fn settled_in(&self, s: &StatsSnapshot) -> u64 {
        if self.durable() {
            s.items_accepted
        } else {
            s.items_exported + s.dropped.total()
        }
    }

    /// Called after each export call of the SDK.
    fn exported(&self, result: &OTelSdkResult) {
        if let Err(error) = result {
            let message = match error {
                OTelSdkError::InternalFailure(message) => message.clone(),
                other => other.to_string(),
            };
            self.first_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get_or_insert(message);
            if self.durable() {
                self.abort.store(true, Ordering::Release);
            }
        }
        self.check();
    }

    /// Waits until item `ticket` fits in the window; `false` if the run
    /// was aborted (or its deadline passed) meanwhile.
    fn wait_for_room(&self, ticket: u64, window: u64) -> bool {
        if ticket < window || ticket < self.settled() + window {
            return true;
        }
        loop {
            if self.check() {
                return false;
            }
            // Woken by every change of the exporter's counters; the
            // timeout only bounds how late an abort or the deadline is
            // noticed.
            let fits = |s: &StatsSnapshot| ticket < self.settled_in(s) + window;
            if self.stats.wait_for(fits, ABORT_CHECK).is_some() {
                return true;
            }
        }
    }
}

/// How soon a generator waiting for room notices an abort or the deadline.
const ABORT_CHECK: Duration = Duration::from_millis(50);

/// How long the exporter's final drain may take, decided when it starts.
#[derive(Debug, Clone, Copy)]
pub(super) enum Drain {
    /// The in-memory queue: the plan's drain budget.
    For(Duration),
    /// The persistent queue: until the command's deadline, since
    /// whatever is left then stays on disk.
    Until(Instant),
}

/// After the deadline, how long the exporter may take to stop its senders
/// (it waits 2 s for them) and let go of the queue.
const STOP_GRACE: Duration = Duration::from_secs(3);

impl Drain {
    pub(super) fn new(plan: &Plan, deadline: Option<Instant>) -> Drain {
        match deadline {
            Some(deadline) => Drain::Until(deadline),
            None => Drain::For(plan.drain_budget()),
        }
    }

    /// The time left for the exporter's drain.
    fn timeout(self) -> Duration {
        match self {
            Drain::For(budget) => budget,
            Drain::Until(deadline) => deadline.saturating_duration_since(Instant::now()),
        }
    }

    /// How long the SDK's shutdown waits for its worker, which exports the
    /// rest and then runs the exporter's drain.
    pub(super) fn sdk_budget(self) -> Duration {
        match self {
            Drain::For(budget) => budget,
            Drain::Until(_) => self.timeout() + STOP_GRACE,
        }
    }
}

/// An exporter that tells [`Progress`] about each export call, and gives
/// the exporter's final drain `drain` instead of the SDK's 5 s.
#[derive(Debug)]
pub(super) struct Tracked<E> {
    inner: E,
    progress: Arc<Progress>,
    drain: Drain,
}

impl<E> Tracked<E> {
    pub(super) fn new(inner: E, progress: &Arc<Progress>, drain: Drain) -> Self {
        Tracked {
            inner,
            progress: Arc::clone(progress),
            drain,
        }
    }

    /// Runs one export call of the SDK and tells [`Progress`] how it ended.
    async fn track(&self, export: impl Future<Output = OTelSdkResult>) -> OTelSdkResult {
        let result = export.await;
        self.progress.exported(&result);
        result
    }
}

// The SDK has a trait per signal, with different batch types and no
// common supertrait, so `Tracked` implements each; every method only
// forwards, through `track` and `drain`.

impl<E: SpanExporter> SpanExporter for Tracked<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.track(self.inner.export(batch)).await
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn shutdown(&self) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(self.drain.timeout())
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

impl<E: LogExporter> LogExporter for Tracked<E> {
    async fn export(&self, batch: LogBatch<'_>) -> OTelSdkResult {
        self.track(self.inner.export(batch)).await
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn shutdown(&self) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(self.drain.timeout())
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

impl<E: PushMetricExporter> PushMetricExporter for Tracked<E> {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        self.track(self.inner.export(metrics)).await
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn shutdown(&self) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(self.drain.timeout())
    }

    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}

/// A task run beside the generators: it sees how many items were
/// generated, and whether generating is done.
pub(super) type SideTask = Box<dyn Fn(&AtomicU64, &AtomicBool) + Sync>;

/// One signal's SDK pipeline, ready to generate into.
pub(super) struct Pipeline {
    /// Most items between the generator and a settled export.
    pub(super) window: u64,
    /// Generates item `i`.
    pub(super) emit: Box<dyn Fn(u64) + Sync>,
    /// Runs beside the generators until they finish.
    pub(super) side: Option<SideTask>,
    /// Shuts the SDK's provider down, exporting what it still holds.
    pub(super) shutdown: Box<dyn FnOnce() -> OTelSdkResult + Send>,
}

/// After a run has given up (nothing could be delivered), how long the
/// shutdown may go on failing the queued items before we stop waiting.
const ABORT_GRACE: Duration = Duration::from_millis(500);

/// Generates the items on `options.workers` threads (with the pipeline's
/// side task beside them until they finish), shuts the pipeline down,
/// and reports.
pub(super) fn drive(plan: &Plan, progress: &Arc<Progress>, pipeline: Pipeline) -> SendReport {
    let options = &plan.options;
    let Pipeline {
        window,
        emit,
        side,
        shutdown,
    } = pipeline;
    let started = Instant::now();
    let next = AtomicU64::new(0);
    let generated = AtomicU64::new(0);
    let done = AtomicBool::new(false);
    let rate = options.rate.filter(|r| *r > 0.0);
    let deadline = progress.deadline;
    let past_deadline = |at: Instant| deadline.is_some_and(|d| at >= d);
    thread::scope(|s| {
        if let Some(side) = &side {
            let (generated, done) = (&generated, &done);
            s.spawn(move || side(generated, done));
        }
        let workers: Vec<_> = (0..options.workers)
            .map(|_| {
                s.spawn(|| loop {
                    if progress.aborted() || past_deadline(Instant::now()) {
                        break;
                    }
                    let ticket = next.fetch_add(1, Ordering::Relaxed);
                    if ticket >= options.count || !progress.wait_for_room(ticket, window) {
                        break;
                    }
                    if let Some(rate) = rate {
                        // `--rate` is at least 0.001/s, so this is finite;
                        // a due time past what `Instant` holds never comes.
                        let due = Duration::try_from_secs_f64(ticket as f64 / rate)
                            .ok()
                            .and_then(|after| started.checked_add(after));
                        let Some(due) = due.filter(|due| !past_deadline(*due)) else {
                            break;
                        };
                        if let Some(wait) = due.checked_duration_since(Instant::now()) {
                            thread::sleep(wait);
                        }
                    }
                    emit(ticket);
                    generated.fetch_add(1, Ordering::Release);
                })
            })
            .collect();
        for worker in workers {
            let _ = worker.join();
        }
        done.store(true, Ordering::Release);
    });

    // Shut down on a thread of its own, so that a receiver that never
    // answers cannot hold the command past its budget.
    let (tx, rx) = mpsc::channel();
    // If the thread cannot start, `tx` is dropped and the waits end at once.
    let _ = thread::Builder::new()
        .name("otlp-shutdown".into())
        .spawn(move || {
            let _ = tx.send(shutdown());
        });
    match deadline {
        Some(deadline) => wait_durable(progress, &rx, deadline),
        None => wait_shutdown(progress, &rx, Instant::now() + plan.drain_budget()),
    }
    SendReport::new(
        plan,
        progress,
        generated.load(Ordering::Acquire),
        started.elapsed(),
    )
}

/// Waits for the shutdown to finish, until `deadline`, or shortly after
/// the run gave up.
fn wait_shutdown(
    progress: &Progress,
    shut_down: &mpsc::Receiver<OTelSdkResult>,
    deadline: Instant,
) {
    let mut aborted_at = None;
    loop {
        match shut_down.recv_timeout(Duration::from_millis(20)) {
            Ok(_) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let now = Instant::now();
                if progress.check() && now - *aborted_at.get_or_insert(now) >= ABORT_GRACE {
                    return;
                }
                if now >= deadline {
                    return;
                }
            }
        }
    }
}

/// With a persistent queue: waits until the shutdown is done and the disk
/// queue is empty, or the deadline has passed (and the exporter has had
/// time to stop its senders, leaving the rest on disk).
///
/// The SDK's shutdown alone is not enough to wait for: the metric reader's
/// gives up on its worker after 5 s while the exporter drains on.
fn wait_durable(progress: &Progress, shut_down: &mpsc::Receiver<OTelSdkResult>, deadline: Instant) {
    let mut finished = false;
    loop {
        if finished {
            thread::sleep(Duration::from_millis(20));
        } else {
            match shut_down.recv_timeout(Duration::from_millis(20)) {
                Ok(_) | Err(mpsc::RecvTimeoutError::Disconnected) => finished = true,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
        }
        let now = Instant::now();
        if finished && (progress.queued_on_disk() == 0 || now >= deadline) {
            return;
        }
        if now >= deadline + STOP_GRACE {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_window_waits_for_answers() {
        let progress = Progress::new(ExportStats::default(), None);
        assert!(progress.wait_for_room(9, 10));
        assert!(!progress.aborted());
        progress.exported(&Err(OTelSdkError::InternalFailure("queue full".into())));
        assert_eq!(progress.first_error().as_deref(), Some("queue full"));
        // An abort releases a waiting generator.
        progress.abort.store(true, Ordering::Release);
        assert!(!progress.wait_for_room(10, 10));
    }
}

//! [`OtlpSpanProcessor`]: a batching span processor that encodes each span
//! as it ends.

use crate::pipeline::Pipeline;
use crate::route::router::{Ring, Router, NONE};
use crate::stats::Reason;
use crate::{BuildError, ExportStats, ExporterBuilder, FlushHandle, FLUSH_TIMEOUT};
use opentelemetry::Context;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};
use opentelemetry_sdk::Resource;
use otlp_core::{Format, Signal, SpanBatch};
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

/// Spans per request unless configured (`OTEL_BSP_MAX_EXPORT_BATCH_SIZE`'s
/// default).
pub const DEFAULT_MAX_BATCH_SIZE: usize = 512;
/// How long a span waits for its batch to fill unless configured
/// (`OTEL_BSP_SCHEDULE_DELAY`'s default).
pub const DEFAULT_SCHEDULED_DELAY: Duration = Duration::from_secs(5);
/// A batch is sent once its encoded spans reach this size, whatever their
/// number: requests stay under the 4 MiB that gRPC servers (the
/// Collector's included) accept by default.
const MAX_BATCH_BYTES: usize = 3 << 20;
/// Full batches that may be waiting to be compressed and queued at once.
/// Past that (the export thread is starved of CPU), the current batch stops
/// taking spans and the spans that find it full are dropped and counted.
const MAX_HANDOFFS: usize = 16;
/// Batches filled at once, at most: threads ending spans at the same time
/// take different locks (see [`shard_count`]).
const MAX_SHARDS: usize = 64;

/// A span processor that batches spans for OTLP export, in place of the
/// SDK's `BatchSpanProcessor` and an exporter.
///
/// When a span ends, it is encoded into the current batch right away, on
/// the thread that ended it, and its data is dropped there: nothing is
/// queued between threads per span and the span never waits for another
/// thread. Threads fill separate batches (twice as many as the machine has
/// cores, each thread always the same one), so threads ending spans at the
/// same time seldom share a lock; batches the delay sends before
/// they are full are merged into as few requests as the batch size allows. When the batch holds [`with_max_batch_size`] spans (or 3 MiB of
/// them), or [`with_scheduled_delay`] has passed, it is handed to the
/// processor's own export thread (a one-worker tokio runtime, like the
/// SDK's batch processor's thread), which frames it into one request,
/// compresses it and queues it for delivery, with the retry, circuit
/// breaker, queue limits and persistence of [`OtlpSpanExporter`] (the same
/// builder configures both). The application's runtime, if any, is not
/// used.
///
/// Only sampled spans are exported, as with the SDK's processors. If the
/// export thread falls behind by more than 16 full batches, spans are dropped
/// instead of growing memory without bound, and counted in
/// [`stats`](Self::stats) as `queue_full`.
///
/// ```no_run
/// use opentelemetry::trace::{Tracer, TracerProvider as _};
/// use opentelemetry_sdk::trace::SdkTracerProvider;
/// use otlp_exporter::{OtlpSpanProcessor, Protocol};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let processor = OtlpSpanProcessor::builder()
///     .with_endpoint("http://localhost:4317")
///     .with_protocol(Protocol::Grpc)
///     .build()?;
/// let provider = SdkTracerProvider::builder()
///     .with_span_processor(processor)
///     .build();
/// provider.tracer("checkout").in_span("charge", |_cx| {});
/// provider.shutdown()?; // sends what is batched and waits for delivery
/// # Ok(())
/// # }
/// ```
///
/// [`with_max_batch_size`]: ExporterBuilder::with_max_batch_size
/// [`with_scheduled_delay`]: ExporterBuilder::with_scheduled_delay
/// [`OtlpSpanExporter`]: crate::OtlpSpanExporter
#[derive(Debug)]
pub struct OtlpSpanProcessor {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    pipeline: Pipeline,
    format: Format,
    /// The batches spans are encoded into; a thread always uses the same
    /// one (see [`shard_index`]).
    shards: Box<[Mutex<SpanBatch>]>,
    /// Emptied batches, for their buffers.
    spare: Mutex<Vec<SpanBatch>>,
    max_batch: usize,
    handoffs: Handoffs,
    shut_down: AtomicBool,
    /// With several endpoints routed by trace id: the batches per
    /// endpoint pair, used instead of `shards`.
    routed: Option<Routed>,
}

/// Spans of several endpoints, batched per pair (owner, next owner) of
/// their traces' rankings: a batch goes whole to its owner, or to its next
/// owner if the owner left the ring, which is where each of its traces
/// goes next. Spans are partitioned as they are encoded; nothing is
/// decoded again.
#[derive(Debug)]
struct Routed {
    router: Arc<Router>,
    shards: Box<[Mutex<RoutedShard>]>,
}

#[derive(Debug)]
struct RoutedShard {
    /// The router's ring as of `version`; looked at again only when the
    /// version changes, so a span costs one atomic load and a ranking.
    version: u64,
    ring: Arc<Ring>,
    parts: Vec<Part>,
    /// While no endpoint is known (the ring empty), each trace's spans wait
    /// in a part of their own, as what waits is placed by its first trace:
    /// those parts by trace id, and the spans they hold and their bytes.
    by_trace: HashMap<[u8; 16], usize>,
    held: usize,
    held_bytes: usize,
}

/// The pair of parts that wait for an endpoint (one a trace).
const WAITING: (u32, u32) = (NONE, NONE);

impl RoutedShard {
    /// Indexes the parts that wait for an endpoint again, after `parts`
    /// changed.
    fn reindex(&mut self) {
        self.by_trace.clear();
        self.held = 0;
        self.held_bytes = 0;
        for (i, p) in self.parts.iter().enumerate() {
            if p.pair == WAITING {
                self.by_trace.insert(p.key, i);
                self.held += p.batch.len();
                self.held_bytes += p.batch.encoded_len();
            }
        }
    }

    /// Removes the empty parts of pairs not in the ring (they would
    /// otherwise pile up) and returns their batches.
    fn prune(&mut self) -> Vec<SpanBatch> {
        let ring = Arc::clone(&self.ring);
        let (kept, empty): (Vec<Part>, Vec<Part>) = std::mem::take(&mut self.parts)
            .into_iter()
            .partition(|p| !p.batch.is_empty() || ring.has_pair(p.pair));
        self.parts = kept;
        self.reindex();
        empty.into_iter().map(|p| p.batch).collect()
    }
}

#[derive(Debug)]
struct Part {
    /// Ids of the owner and next owner of the spans' traces.
    pair: (u32, u32),
    /// The first trace in `batch`: what the batch is routed by.
    key: [u8; 16],
    batch: SpanBatch,
}

/// Full batches handed to the runtime and not queued yet.
#[derive(Debug, Default)]
struct Handoffs {
    count: Mutex<usize>,
    idle: Condvar,
}

impl Handoffs {
    /// Counts one more, unless `limit` are already under way.
    fn try_add(&self, limit: usize) -> bool {
        let mut n = self.count.lock().unwrap_or_else(PoisonError::into_inner);
        if *n >= limit {
            return false;
        }
        *n += 1;
        true
    }

    fn done(&self) {
        let mut n = self.count.lock().unwrap_or_else(PoisonError::into_inner);
        *n = n.saturating_sub(1);
        if *n == 0 {
            self.idle.notify_all();
        }
    }

    /// Waits until none is under way; false if `deadline` passed first.
    fn wait_idle(&self, deadline: Instant) -> bool {
        let n = self.count.lock().unwrap_or_else(PoisonError::into_inner);
        crate::stats::wait_until(&self.idle, n, deadline, |n| *n == 0)
    }
}

impl OtlpSpanProcessor {
    /// The router of several endpoints routed by trace id.
    #[cfg(all(test, feature = "grpc"))]
    pub(crate) fn trace_router(&self) -> Option<&Arc<Router>> {
        self.shared.routed.as_ref().map(|r| &r.router)
    }

    /// A builder with the same settings as [`OtlpSpanExporter`]'s
    /// (endpoint, protocol, compression, delivery), plus batching.
    ///
    /// [`OtlpSpanExporter`]: crate::OtlpSpanExporter
    pub fn builder() -> ExporterBuilder<OtlpSpanProcessor> {
        ExporterBuilder::new()
    }

    /// What happened to the spans so far.
    pub fn stats(&self) -> ExportStats {
        self.shared.pipeline.stats.clone()
    }

    /// The counters of the metrics the processors derive (span metrics;
    /// items are data points), when [`with_processors`](crate::ExporterBuilder::with_processors)
    /// set a chain.
    #[cfg(feature = "processors")]
    pub fn derived_metrics_stats(&self) -> Option<ExportStats> {
        self.shared.pipeline.derived_metrics_stats()
    }

    /// Waits for the delivery queue to drain (batches not yet full are not
    /// sent by it; `force_flush` sends them first).
    pub fn flush_handle(&self) -> FlushHandle {
        FlushHandle(self.shared.pipeline.delivery.clone())
    }
}

impl ExporterBuilder<OtlpSpanProcessor> {
    /// Spans per request (default 512, or `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`).
    pub fn with_max_batch_size(mut self, spans: usize) -> Self {
        self.batch.max_batch = Some(spans);
        self
    }

    /// How long spans wait for their batch to fill before it is sent anyway
    /// (default 5 s, or `OTEL_BSP_SCHEDULE_DELAY` in milliseconds).
    pub fn with_scheduled_delay(mut self, delay: Duration) -> Self {
        self.batch.delay = Some(delay);
        self
    }

    /// Builds the processor and starts its export thread.
    pub fn build(self) -> Result<OtlpSpanProcessor, BuildError> {
        let env = |name: &str| std::env::var(name).ok();
        const BATCH_VAR: &str = "OTEL_BSP_MAX_EXPORT_BATCH_SIZE";
        const DELAY_VAR: &str = "OTEL_BSP_SCHEDULE_DELAY";
        let zero = |setting| Err(BuildError::Zero { setting });
        let max_batch = match self.batch.max_batch {
            Some(0) => return zero("with_max_batch_size"),
            Some(n) => n,
            None => match env_number(&env, BATCH_VAR)? {
                Some(0) => return zero(BATCH_VAR),
                Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
                None => DEFAULT_MAX_BATCH_SIZE,
            },
        };
        let delay = match self.batch.delay {
            Some(d) if d.is_zero() => return zero("with_scheduled_delay"),
            Some(d) => d,
            None => match env_number(&env, DELAY_VAR)? {
                Some(0) => return zero(DELAY_VAR),
                Some(ms) => Duration::from_millis(ms),
                None => DEFAULT_SCHEDULED_DELAY,
            },
        };
        // Spans are batched on the application's threads; everything else
        // runs on the pipeline's own thread, like the SDK's batch
        // processor's: compressing never takes a worker of the
        // application's runtime.
        let pipeline = self.pipeline(Signal::Traces)?;
        let format = pipeline
            .encoder
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .format();
        let routed = pipeline.trace_router().map(|router| Routed {
            router: Arc::clone(router),
            shards: (0..shard_count())
                .map(|_| {
                    Mutex::new(RoutedShard {
                        version: router.version(),
                        ring: router.ring(),
                        parts: Vec::new(),
                        by_trace: HashMap::new(),
                        held: 0,
                        held_bytes: 0,
                    })
                })
                .collect(),
        });
        // Routed spans use their own batches: these stay empty.
        let shards = (0..if routed.is_some() { 0 } else { shard_count() })
            .map(|_| Mutex::new(SpanBatch::new(format)))
            .collect();
        let shared = Arc::new(Shared {
            routed,
            shards,
            spare: Mutex::new(Vec::new()),
            format,
            max_batch,
            handoffs: Handoffs::default(),
            shut_down: AtomicBool::new(false),
            pipeline,
        });
        let timer = Arc::downgrade(&shared);
        shared
            .pipeline
            .runtime
            .spawn_detached(send_on_schedule(timer, delay));
        Ok(OtlpSpanProcessor { shared })
    }
}

/// How many batches are filled at once: twice the cores the process may
/// use (so that a thread holding a lock when it is preempted seldom blocks
/// another), at most [`MAX_SHARDS`].
fn shard_count() -> usize {
    std::thread::available_parallelism()
        .map_or(1, usize::from)
        .saturating_mul(2)
        .clamp(1, MAX_SHARDS)
}

/// The shard the calling thread fills: threads are numbered in the order
/// they first end a span, and take the shards in turn.
fn shard_index(shards: usize) -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static THREAD: Cell<Option<usize>> = const { Cell::new(None) };
    }
    let n = THREAD.with(|t| {
        t.get().unwrap_or_else(|| {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            t.set(Some(n));
            n
        })
    });
    n % shards
}

/// A whole number from the environment variable `name`, if set.
fn env_number(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Result<Option<u64>, BuildError> {
    let Some(value) = env(name).filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    value
        .trim()
        .parse()
        .map(Some)
        .map_err(|_| BuildError::InvalidEnv {
            name: name.to_owned(),
            value: value.clone(),
            reason: "expected a whole number".to_owned(),
        })
}

/// Sends the current batch every `delay` if it holds spans, until the
/// processor is gone or shut down.
async fn send_on_schedule(shared: Weak<Shared>, delay: Duration) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + delay, delay);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        if shared.shut_down.load(Ordering::Relaxed) {
            return;
        }
        shared.hand_off_partial(false);
    }
}

impl Shared {
    /// An empty batch, reusing a spare one's buffers.
    fn empty_batch(&self) -> SpanBatch {
        self.spare
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or_else(|| SpanBatch::new(self.format))
    }

    /// Replaces the current batch with an empty one and returns it.
    fn swap(&self, current: &mut SpanBatch) -> SpanBatch {
        std::mem::replace(current, self.empty_batch())
    }

    /// Hands off every batch that holds spans, merging them into as few
    /// requests as the batch size allows (`force`: even past the hand-off
    /// limit, for a flush or shutdown; otherwise the batches that find no
    /// room stay for the next round).
    fn hand_off_partial(self: &Arc<Self>, force: bool) {
        let limit = if force { usize::MAX } else { MAX_HANDOFFS };
        if let Some(routed) = &self.routed {
            self.hand_off_partial_routed(routed, limit);
            return;
        }
        let mut merged: Option<SpanBatch> = None;
        for shard in self.shards.iter() {
            let mut current = shard.lock().unwrap_or_else(PoisonError::into_inner);
            if current.is_empty() {
                continue;
            }
            // Spans merged into a batch already taken need no hand-off of
            // their own; the shard keeps its (now empty) batch.
            if let Some(m) = merged.as_mut() {
                if m.len() + current.len() <= self.max_batch
                    && m.encoded_len() + current.encoded_len() <= MAX_BATCH_BYTES
                    && m.append(&mut current)
                {
                    continue;
                }
            }
            if !self.handoffs.try_add(limit) {
                continue;
            }
            let taken = self.swap(&mut current);
            drop(current);
            if let Some(full) = merged.replace(taken) {
                self.hand_off(full);
            }
        }
        if let Some(last) = merged {
            self.hand_off(last);
        }
    }

    /// [`hand_off_partial`](Self::hand_off_partial) for routed batches:
    /// the parts of one endpoint pair are merged across shards.
    fn hand_off_partial_routed(self: &Arc<Self>, routed: &Routed, limit: usize) {
        let mut merged: Vec<((u32, u32), [u8; 16], SpanBatch)> = Vec::new();
        // The parts of single traces waiting for an endpoint, in one
        // hand-off, merged by trace only.
        let mut waiting: Vec<([u8; 16], SpanBatch)> = Vec::new();
        let mut waiting_at: HashMap<[u8; 16], usize> = HashMap::new();
        for shard in routed.shards.iter() {
            let mut current = shard.lock().unwrap_or_else(PoisonError::into_inner);
            for part in current.parts.iter_mut().filter(|p| !p.batch.is_empty()) {
                if part.pair == WAITING {
                    if waiting.is_empty() && !self.handoffs.try_add(limit) {
                        continue;
                    }
                    if let Some(&i) = waiting_at.get(&part.key) {
                        let m = &mut waiting[i].1;
                        if m.len() + part.batch.len() <= self.max_batch
                            && m.encoded_len() + part.batch.encoded_len() <= MAX_BATCH_BYTES
                            && m.append(&mut part.batch)
                        {
                            continue;
                        }
                    }
                    waiting_at.insert(part.key, waiting.len());
                    waiting.push((part.key, self.swap(&mut part.batch)));
                    continue;
                }
                let at = merged.iter().position(|(pair, _, _)| *pair == part.pair);
                if let Some(i) = at {
                    let m = &mut merged[i].2;
                    if m.len() + part.batch.len() <= self.max_batch
                        && m.encoded_len() + part.batch.encoded_len() <= MAX_BATCH_BYTES
                        && m.append(&mut part.batch)
                    {
                        continue;
                    }
                }
                if !self.handoffs.try_add(limit) {
                    continue;
                }
                let taken = (part.pair, part.key, self.swap(&mut part.batch));
                match at {
                    Some(i) => {
                        let (_, key, full) = std::mem::replace(&mut merged[i], taken);
                        self.hand_off_keyed(full, Some(key));
                    }
                    None => merged.push(taken),
                }
            }
            // Empty batches stay in place for the pair's next spans (their
            // buffers too), unless the pair is of a ring gone by.
            let empty = current.prune();
            drop(current);
            for batch in empty {
                self.recycle(batch);
            }
        }
        for (_, key, batch) in merged {
            self.hand_off_keyed(batch, Some(key));
        }
        if !waiting.is_empty() {
            self.hand_off_each(waiting);
        }
    }

    fn recycle(&self, batch: SpanBatch) {
        debug_assert!(batch.is_empty());
        let mut spare = self.spare.lock().unwrap_or_else(PoisonError::into_inner);
        if spare.len() < MAX_HANDOFFS {
            spare.push(batch);
        }
    }

    /// Frames, compresses and queues `batch` on the runtime.
    fn hand_off(self: &Arc<Self>, batch: SpanBatch) {
        self.hand_off_keyed(batch, None);
    }

    /// [`hand_off`](Self::hand_off), routed by the trace id `key`.
    fn hand_off_keyed(self: &Arc<Self>, batch: SpanBatch, key: Option<[u8; 16]>) {
        let shared = Arc::clone(self);
        self.pipeline.runtime.spawn_detached(async move {
            shared.send(batch, key).await;
            shared.handoffs.done();
        });
    }

    /// Hands off several batches in one hand-off (one counted against the
    /// limit), each routed by its trace id: the batches of single traces
    /// that waited for an endpoint.
    fn hand_off_each(self: &Arc<Self>, batches: Vec<([u8; 16], SpanBatch)>) {
        let shared = Arc::clone(self);
        self.pipeline.runtime.spawn_detached(async move {
            for (key, batch) in batches {
                shared.send(batch, Some(key)).await;
            }
            shared.handoffs.done();
        });
    }

    /// Frames, compresses and queues `batch`, routed by `key`.
    async fn send(&self, mut batch: SpanBatch, key: Option<[u8; 16]>) {
        let items = batch.len() as u64;
        // Either call counts the batch's spans as dropped if it fails.
        let prepared = self.pipeline.prepare_counted(items, |encoder, out| {
            encoder.encode_span_batch(&mut batch, out)
        });
        batch.clear();
        self.recycle(batch);
        match prepared {
            Ok(prepared) => {
                let sent = match key {
                    Some(key) => {
                        let key = bytes::Bytes::copy_from_slice(&key);
                        self.pipeline.submit_prepared(prepared, Some(key)).await
                    }
                    None => self.pipeline.submit(prepared).await,
                };
                if let Err(e) = sent {
                    tracing::debug!(error = %e, items, "span batch not queued");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, items, "span batch could not be prepared; dropped");
            }
        }
    }

    /// Hands off what is batched and waits until `deadline` for the
    /// hand-offs to be queued; `false` if it passed first.
    fn hand_off_all(self: &Arc<Self>, deadline: Instant) -> bool {
        self.hand_off_partial(true);
        self.handoffs.wait_idle(deadline)
    }

    /// Sends what is batched and waits until it is queued and delivered;
    /// an error naming the spans dropped since the last flush, if any.
    fn flush(self: &Arc<Self>, timeout: Duration) -> OTelSdkResult {
        let delivery = &self.pipeline.delivery;
        let deadline = Instant::now() + timeout;
        let drained = self.hand_off_all(deadline) && delivery.wait_drained(deadline);
        delivery.verdict(drained, timeout)
    }
}

impl Shared {
    /// `on_end` with several endpoints: the span goes into the batch of
    /// its trace's (owner, next owner) pair.
    fn on_end_routed(self: &Arc<Self>, routed: &Routed, span: SpanData, trace_state: Option<&str>) {
        let trace = span.span_context.trace_id().to_bytes();
        let shard = &routed.shards[shard_index(routed.shards.len())];
        let mut current = shard.lock().unwrap_or_else(PoisonError::into_inner);
        // Checked under the lock, as in `on_end`.
        if self.shut_down.load(Ordering::Relaxed) {
            drop(current);
            self.pipeline.stats.record_refused(1, Reason::Shutdown);
            return;
        }
        let version = routed.router.version();
        if current.version != version {
            current.ring = routed.router.ring();
            current.version = version;
        }
        // With no endpoint in the ring: `WAITING`.
        let pair = current.ring.top_two(&trace);
        if pair == WAITING
            && (current.held >= self.max_batch || current.held_bytes >= MAX_BATCH_BYTES)
        {
            // As much waits as a full batch holds: they are handed on
            // in one hand-off (the router parks them), a batch a trace; as
            // a full batch, refused if there is no room for it.
            if !self.handoffs.try_add(MAX_HANDOFFS) {
                drop(current);
                self.pipeline.stats.record_refused(1, Reason::QueueFull);
                return;
            }
            let mut handed = Vec::new();
            for part in current.parts.iter_mut() {
                if part.pair == WAITING && !part.batch.is_empty() {
                    handed.push((part.key, self.swap(&mut part.batch)));
                }
            }
            for batch in current.prune() {
                self.recycle(batch);
            }
            self.hand_off_each(handed);
        }
        let found = if pair == WAITING {
            current.by_trace.get(&trace).copied()
        } else {
            current.parts.iter().position(|p| p.pair == pair)
        };
        let i = match found {
            Some(i) => i,
            None => {
                let batch = self.empty_batch();
                current.parts.push(Part {
                    pair,
                    key: trace,
                    batch,
                });
                let i = current.parts.len() - 1;
                if pair == WAITING {
                    current.by_trace.insert(trace, i);
                }
                i
            }
        };
        let part = &mut current.parts[i];
        let before = (part.batch.len(), part.batch.encoded_len());
        let mut waiting = None;
        if part.batch.len() >= self.max_batch {
            if !self.handoffs.try_add(MAX_HANDOFFS) {
                drop(current);
                self.pipeline.stats.record_refused(1, Reason::QueueFull);
                return;
            }
            waiting = Some((self.swap(&mut part.batch), part.key));
        }
        if part.batch.is_empty() {
            part.key = trace;
        }
        part.batch.push_with_trace_state(&span, trace_state);
        let full = ((part.batch.len() >= self.max_batch
            || part.batch.encoded_len() >= MAX_BATCH_BYTES)
            && self.handoffs.try_add(MAX_HANDOFFS))
        .then(|| (self.swap(&mut part.batch), part.key));
        let after = (part.batch.len(), part.batch.encoded_len());
        if pair == WAITING {
            current.held = current.held - before.0 + after.0;
            current.held_bytes = current.held_bytes - before.1 + after.1;
        }
        drop(current);
        drop(span);
        for (batch, key) in [waiting, full].into_iter().flatten() {
            self.hand_off_keyed(batch, Some(key));
        }
    }
}

impl SpanProcessor for OtlpSpanProcessor {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        let shared = &self.shared;
        if !span.span_context.is_sampled() {
            return;
        }
        #[cfg(feature = "processors")]
        let mut span = span;
        #[cfg(feature = "processors")]
        let Some(trace_state) = shared.pipeline.end_span(&mut span) else {
            return;
        };
        #[cfg(not(feature = "processors"))]
        let trace_state: Option<std::borrow::Cow<'_, str>> = None;
        let trace_state = trace_state.as_deref();
        if let Some(routed) = &shared.routed {
            shared.on_end_routed(routed, span, trace_state);
            return;
        }
        let shard = &shared.shards[shard_index(shared.shards.len())];
        let mut current = shard.lock().unwrap_or_else(PoisonError::into_inner);
        // Checked under the lock: shutdown sets the flag before it takes the
        // last batches under the same locks, so a span is either in that batch
        // or not taken at all, never left behind in a batch nobody sends.
        if shared.shut_down.load(Ordering::Relaxed) {
            drop(current);
            shared.pipeline.stats.record_refused(1, Reason::Shutdown);
            return;
        }
        let mut waiting = None;
        if current.len() >= shared.max_batch {
            // Full, and when it filled there was no room for a hand-off.
            if !shared.handoffs.try_add(MAX_HANDOFFS) {
                drop(current);
                shared.pipeline.stats.record_refused(1, Reason::QueueFull);
                return;
            }
            waiting = Some(shared.swap(&mut current));
        }
        current.push_with_trace_state(&span, trace_state);
        let full = ((current.len() >= shared.max_batch
            || current.encoded_len() >= MAX_BATCH_BYTES)
            && shared.handoffs.try_add(MAX_HANDOFFS))
        .then(|| shared.swap(&mut current));
        drop(current);
        // Freed on the thread that allocated it.
        drop(span);
        for batch in [waiting, full].into_iter().flatten() {
            shared.hand_off(batch);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.shared.flush(FLUSH_TIMEOUT)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        if self.shared.shut_down.swap(true, Ordering::SeqCst) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        let deadline = Instant::now() + timeout;
        // Hand-offs still under way when the deadline passes are refused
        // by the closed queue, and counted.
        self.shared.hand_off_all(deadline);
        self.shared.pipeline.shutdown_until(deadline, timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        crate::set_resource(&self.shared.pipeline, resource);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_settings_from_the_environment() {
        let env = |name: &str| match name {
            "OTEL_BSP_SCHEDULE_DELAY" => Some(" 250 ".to_owned()),
            "OTEL_BSP_MAX_EXPORT_BATCH_SIZE" => Some("many".to_owned()),
            _ => None,
        };
        assert_eq!(
            env_number(&env, "OTEL_BSP_SCHEDULE_DELAY").unwrap(),
            Some(250)
        );
        assert_eq!(env_number(&env, "UNSET").unwrap(), None);
        let err = env_number(&env, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE").unwrap_err();
        assert!(
            err.to_string().contains("OTEL_BSP_MAX_EXPORT_BATCH_SIZE"),
            "{err}"
        );
    }

    #[test]
    fn zero_batch_size_or_delay_is_refused() {
        let e = OtlpSpanProcessor::builder()
            .with_endpoint("http://127.0.0.1:4317")
            .with_max_batch_size(0)
            .build()
            .unwrap_err();
        assert!(
            matches!(
                e,
                BuildError::Zero {
                    setting: "with_max_batch_size"
                }
            ),
            "{e}"
        );
        let e = OtlpSpanProcessor::builder()
            .with_endpoint("http://127.0.0.1:4317")
            .with_scheduled_delay(Duration::ZERO)
            .build()
            .unwrap_err();
        assert!(
            matches!(
                e,
                BuildError::Zero {
                    setting: "with_scheduled_delay"
                }
            ),
            "{e}"
        );
    }
}

//! What every exporter does with a batch: encode once, compress once, send.

use crate::runtime::Runtime;
use crate::BuildError;
use bytes::Bytes;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use otlp_compression::{Algorithm, Compression, Compressor};
use otlp_core::{Encoder, Signal};
use otlp_transport::client::{OtlpClient, Payload};
use std::sync::Arc;
use std::time::Duration;

use crate::delivery::{Delivery, DeliveryConfig, Job};
use crate::route::router::{Router, RouterConfig};
use crate::route::Routing;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError, RwLock};
use std::time::Instant;

use crate::stats::{ExportStats, Reason};

use crate::env::Resolved;

/// The compressor of the queued bodies: none for SRT, which the client
/// applies per attempt because its frames depend on what the receiver holds.
fn queue_compressor(compression: Compression) -> Result<Compressor, BuildError> {
    match compression.algorithm() {
        Algorithm::Srt => Ok(Compressor::new(Compression::none())?),
        _ => Ok(Compressor::new(compression)?),
    }
}

/// How long shutting down waits for the senders to let go of the queue.
const STOP_TIMEOUT: Duration = Duration::from_secs(2);

/// Where batches go: one endpoint's delivery, or a router over several.
#[derive(Debug, Clone)]
pub(crate) enum Sink {
    One(Delivery),
    Many(Arc<Router>),
}

impl Sink {
    async fn submit(&self, job: Job) -> OTelSdkResult {
        match self {
            Sink::One(d) => d.submit(job).await,
            Sink::Many(r) => r.submit(job).await,
        }
    }

    /// Waits until everything queued has been delivered or dropped.
    pub(crate) fn flush(&self, timeout: Duration) -> OTelSdkResult {
        match self {
            Sink::One(d) => d.flush(timeout),
            Sink::Many(r) => {
                let drained = r.wait_drained(Instant::now() + timeout);
                r.verdict(drained, timeout)
            }
        }
    }

    pub(crate) fn wait_drained(&self, deadline: Instant) -> bool {
        match self {
            Sink::One(d) => d.wait_drained(deadline),
            Sink::Many(r) => r.wait_drained(deadline),
        }
    }

    pub(crate) fn verdict(&self, drained: bool, timeout: Duration) -> OTelSdkResult {
        match self {
            Sink::One(d) => d.verdict(drained, timeout),
            Sink::Many(r) => r.verdict(drained, timeout),
        }
    }

    fn close(&self) {
        match self {
            Sink::One(d) => d.close(),
            Sink::Many(r) => r.close(),
        }
    }

    fn stop(&self, timeout: Duration) {
        match self {
            Sink::One(d) => d.stop(timeout),
            Sink::Many(r) => r.stop(timeout),
        }
    }
}

/// Where a pipeline sends: one client, or several endpoints.
// Made once per exporter and consumed at once: the sizes do not matter.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Target {
    One(OtlpClient),
    Many(RouterConfig),
}

#[derive(Debug)]
pub(crate) struct Pipeline {
    signal: Signal,
    pub(crate) encoder: RwLock<Encoder>,
    compression: Compression,
    /// Reused compression context and the buffer the request is encoded
    /// into before compression.
    compressor: Mutex<(Compressor, Vec<u8>)>,
    /// The exporter's own runtime, alive as long as the exporter: the
    /// senders run on it.
    pub(crate) runtime: Runtime,
    /// Size of the last request, to allocate the next one right first time.
    last_len: AtomicUsize,
    /// Request buffers to reuse (see [`BufferPool`]).
    pool: Arc<BufferPool>,
    pub(crate) delivery: Sink,
    shut_down: AtomicBool,
    pub(crate) stats: ExportStats,
    /// With several endpoints: how batches are routed.
    routing: Option<Routing>,
    /// What the resource's batches are routed by (`service.name`).
    service_key: RwLock<Option<Bytes>>,
    /// The processors run on each trace batch before it is queued.
    #[cfg(feature = "processors")]
    processing: Option<crate::processing::Processing>,
}

/// An encoded (and compressed) request and the items it holds.
pub(crate) struct Prepared {
    pub(crate) payload: Payload,
    /// Items left in the request: fewer than handed in when processors
    /// removed some. Nothing is to be sent when this is zero.
    pub(crate) items: u64,
}

impl Pipeline {
    pub(crate) fn new(
        signal: Signal,
        cfg: Resolved,
        delivery: DeliveryConfig,
        runtime: Runtime,
        target: Target,
    ) -> Result<Self, BuildError> {
        let stats = ExportStats::default();
        // One spare buffer per request that can be in flight: with many
        // senders, fewer would send most requests to the allocator again.
        let pool = Arc::new(BufferPool::new(delivery.max_concurrent.max(1)));
        let (delivery, routing) = match target {
            Target::One(client) => (
                Sink::One(Delivery::start(
                    signal,
                    &runtime,
                    client,
                    delivery,
                    &stats,
                    Arc::clone(&pool),
                    None,
                )?),
                None,
            ),
            Target::Many(cfg) => {
                let routing = cfg.routing;
                (
                    Sink::Many(Router::start(
                        signal,
                        cfg,
                        &runtime,
                        Arc::clone(&pool),
                        &stats,
                    )?),
                    Some(routing),
                )
            }
        };
        Ok(Pipeline {
            signal,
            encoder: RwLock::new(Encoder::new(cfg.protocol.format())),
            compression: cfg.compression,
            compressor: Mutex::new((queue_compressor(cfg.compression)?, Vec::new())),
            runtime,
            last_len: AtomicUsize::new(0),
            pool,
            delivery,
            shut_down: AtomicBool::new(false),
            stats,
            routing,
            service_key: RwLock::new(None),
            #[cfg(feature = "processors")]
            processing: None,
        })
    }

    /// Runs the processors on `span` as it ends, before it is encoded:
    /// `None` when they remove it (booked as removed), else the
    /// tracestate to encode it with, if they wrote one.
    #[cfg(feature = "processors")]
    pub(crate) fn end_span(
        &self,
        span: &mut opentelemetry_sdk::trace::SpanData,
    ) -> Option<Option<std::borrow::Cow<'_, str>>> {
        match &self.processing {
            None => Some(None),
            Some(p) => p.end_span(span, &self.stats),
        }
    }

    /// Runs the processors on each request only, never span by span (for
    /// requests that arrive decoded).
    #[cfg(feature = "processors")]
    pub(crate) fn process_batches_only(&mut self) {
        if let Some(p) = self.processing.as_mut() {
            p.batches_only();
        }
    }

    /// Whether processors are set.
    #[cfg(feature = "processors")]
    pub(crate) fn has_processing(&self) -> bool {
        self.processing.is_some()
    }

    /// The resource to encode after the processors that run span by span
    /// processed it (`None` when there are none).
    #[cfg(feature = "processors")]
    pub(crate) fn process_resource(
        &self,
        resource: &opentelemetry_sdk::Resource,
    ) -> Option<opentelemetry_sdk::Resource> {
        self.processing.as_ref()?.process_resource(resource)
    }

    /// The derived metrics' counters, with processors.
    #[cfg(feature = "processors")]
    pub(crate) fn derived_metrics_stats(&self) -> Option<ExportStats> {
        self.processing.as_ref().and_then(|p| p.metrics_stats())
    }

    /// Runs `processing` on every batch (traces only) before it is queued.
    #[cfg(feature = "processors")]
    pub(crate) fn set_processing(&mut self, processing: crate::processing::Processing) {
        self.processing = Some(processing);
    }

    /// The router, when spans are routed by trace id (and so partitioned
    /// as they are encoded).
    pub(crate) fn trace_router(&self) -> Option<&Arc<Router>> {
        match (&self.delivery, self.routing, self.signal) {
            (Sink::Many(r), Some(Routing::TraceId), Signal::Traces | Signal::Logs) => Some(r),
            _ => None,
        }
    }

    /// Notes what the resource's batches are routed by.
    pub(crate) fn set_route_resource(&self, resource: &opentelemetry_sdk::Resource) {
        if self.routing.is_some() {
            *self
                .service_key
                .write()
                .unwrap_or_else(PoisonError::into_inner) = Some(service_key(resource));
        }
    }

    /// What a batch of a resource's items is routed by, if anything.
    pub(crate) fn key(&self) -> Option<Bytes> {
        match self.routing? {
            Routing::TraceId | Routing::Service => self
                .service_key
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
            _ => None,
        }
    }

    /// Encodes and queues one batch of `items` items of `resource`
    /// (metrics carry theirs with every export).
    pub(crate) async fn export_of(
        &self,
        items: u64,
        resource: &opentelemetry_sdk::Resource,
        encode: impl FnOnce(&Encoder, &mut Vec<u8>),
    ) -> OTelSdkResult {
        let prepared = self.prepare_counted(items, encode)?;
        let key = match self.routing {
            Some(Routing::TraceId | Routing::Service) => Some(service_key(resource)),
            _ => None,
        };
        self.submit_prepared(prepared, key).await
    }

    /// Encodes (and compresses) one request of `items` items with
    /// `encode`, through the processors if there are any.
    pub(crate) fn prepare(
        &self,
        items: u64,
        encode: impl FnOnce(&Encoder, &mut Vec<u8>),
    ) -> Result<Prepared, OTelSdkError> {
        if self.shut_down.load(Ordering::Relaxed) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        let encoder = self.encoder.read().unwrap_or_else(PoisonError::into_inner);
        let hint = self.last_len.load(Ordering::Relaxed);
        let algorithm = self.compression.algorithm();
        #[cfg(feature = "processors")]
        let mut items = items;
        // With processors, the request is decoded, processed and encoded
        // again; what they remove is booked here, the rest goes on.
        #[cfg(feature = "processors")]
        let encode = |encoder: &Encoder, out: &mut Vec<u8>| match &self.processing {
            None => encode(encoder, out),
            // Processed span by span as they ended.
            Some(processing) if processing.by_span() => encode(encoder, out),
            Some(processing) => {
                items = processing.run(encoder, encode, out, &self.stats, items);
            }
        };
        let plain = matches!(algorithm, Algorithm::None | Algorithm::Srt);
        let (body, uncompressed) = if plain {
            // Encode straight into the buffer that becomes the request body
            // (an SRT request is encoded by the client, per attempt).
            let mut out = self.buffer(hint);
            encode(&encoder, &mut out);
            let len = out.len();
            (out, len)
        } else {
            let mut guard = self
                .compressor
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let (compressor, scratch) = &mut *guard;
            encode(&encoder, scratch);
            let mut out = self.buffer(hint);
            compressor
                .compress(scratch, &mut out)
                .map_err(|e| OTelSdkError::InternalFailure(e.to_string()))?;
            (out, scratch.len())
        };
        // An SRT body is made per attempt, and counted when accepted.
        let sent = if algorithm == Algorithm::Srt {
            0
        } else {
            body.len()
        };
        self.stats.record_encoded(uncompressed, sent);
        self.last_len.store(body.len(), Ordering::Relaxed);
        Ok(Prepared {
            payload: Payload::new(Bytes::from(body), algorithm),
            items,
        })
    }

    /// Encodes and queues one batch of `items` items.
    pub(crate) async fn export(
        &self,
        items: u64,
        encode: impl FnOnce(&Encoder, &mut Vec<u8>),
    ) -> OTelSdkResult {
        let prepared = self.prepare_counted(items, encode)?;
        let key = self.key();
        self.submit_prepared(prepared, key).await
    }

    /// [`prepare`](Self::prepare), counting the `items` of a batch that
    /// could not be prepared as dropped.
    pub(crate) fn prepare_counted(
        &self,
        items: u64,
        encode: impl FnOnce(&Encoder, &mut Vec<u8>),
    ) -> Result<Prepared, OTelSdkError> {
        self.prepare(items, encode).inspect_err(|e| {
            let reason = match e {
                OTelSdkError::AlreadyShutdown => Reason::Shutdown,
                _ => Reason::EncodeFailed,
            };
            self.stats.record_refused(items, reason);
        })
    }

    /// Queues a prepared batch (its items counted as dropped if it is not
    /// queued), routed by `key`; nothing when processors left no items.
    pub(crate) async fn submit_prepared(
        &self,
        prepared: Prepared,
        key: Option<Bytes>,
    ) -> OTelSdkResult {
        if prepared.items == 0 {
            return Ok(());
        }
        self.submit_keyed(prepared.items, prepared.payload, key)
            .await
    }

    /// [`submit_prepared`](Self::submit_prepared), routed as the pipeline
    /// routes its resource's batches.
    pub(crate) async fn submit(&self, prepared: Prepared) -> OTelSdkResult {
        let key = self.key();
        self.submit_prepared(prepared, key).await
    }

    /// [`submit`](Self::submit), routed by `key` (a trace id).
    pub(crate) async fn submit_keyed(
        &self,
        items: u64,
        payload: Payload,
        key: Option<Bytes>,
    ) -> OTelSdkResult {
        let job = Job {
            signal: self.signal,
            payload,
            items,
            key,
        };
        self.delivery.submit(job).await
    }

    fn buffer(&self, hint: usize) -> Vec<u8> {
        self.pool.take(hint + hint / 8)
    }

    /// Waits until everything queued has been delivered or dropped; an
    /// error naming the items dropped since the last flush, if any.
    pub(crate) fn flush(&self, timeout: Duration) -> OTelSdkResult {
        #[cfg(feature = "processors")]
        if let Some(processing) = &self.processing {
            processing.flush_metrics(timeout)?;
        }
        self.delivery.flush(timeout)
    }

    /// Stops taking batches and waits up to `timeout` for the queue to
    /// drain.
    pub(crate) fn shutdown(&self, timeout: Duration) -> OTelSdkResult {
        self.shutdown_until(Instant::now() + timeout, timeout)
    }

    /// Stops taking batches and waits until `deadline` for the queue to
    /// drain, then stops the senders. An error if the queue was not
    /// drained, or if items were dropped since the last flush (what was
    /// still in memory included).
    pub(crate) fn shutdown_until(&self, deadline: Instant, timeout: Duration) -> OTelSdkResult {
        if self.shut_down.swap(true, Ordering::Relaxed) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        self.delivery.close();
        let drained = self.delivery.wait_drained(deadline);
        self.delivery.stop(STOP_TIMEOUT);
        let verdict = self.delivery.verdict(drained, timeout);
        #[cfg(feature = "processors")]
        if let Some(processing) = &self.processing {
            // The last span metrics, after the last batch was processed.
            processing.shutdown_until(deadline, timeout)?;
        }
        verdict
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        // An exporter dropped without shutdown: stop its senders, which
        // would otherwise keep the queue (and a persistent queue's lock).
        if !self.shut_down.load(Ordering::Relaxed) {
            self.delivery.stop(Duration::ZERO);
        }
    }
}

/// What a resource's batches are routed by: its `service.name`, or, without
/// one, all its attributes in order.
fn service_key(resource: &opentelemetry_sdk::Resource) -> Bytes {
    let name = opentelemetry::Key::from_static_str("service.name");
    if let Some(service) = resource.get(&name) {
        return Bytes::from(service.as_str().into_owned());
    }
    let mut pairs: Vec<String> = resource.iter().map(|(k, v)| format!("{k}={v}")).collect();
    pairs.sort();
    Bytes::from(pairs.join("\n"))
}

/// Request buffers whose requests have been answered, for the next
/// batch: reusing one saves a large allocation, its page faults and the
/// allocator's clean-up per batch.
#[derive(Debug)]
pub(crate) struct BufferPool {
    spare: Mutex<Vec<Vec<u8>>>,
    /// Most buffers kept.
    keep: usize,
}

impl BufferPool {
    pub(crate) fn new(keep: usize) -> Self {
        BufferPool {
            spare: Mutex::new(Vec::new()),
            keep,
        }
    }

    /// A spare buffer, emptied, or a new one, with room for `capacity`.
    fn take(&self, capacity: usize) -> Vec<u8> {
        let spare = self
            .spare
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let mut buf = spare.unwrap_or_default();
        buf.clear();
        buf.reserve(capacity);
        buf
    }

    /// Takes a request body back once nothing else holds it.
    pub(crate) fn recycle(&self, body: Bytes) {
        if let Ok(body) = body.try_into_mut() {
            let mut spare = self.spare.lock().unwrap_or_else(PoisonError::into_inner);
            if spare.len() < self.keep {
                spare.push(Vec::from(body));
            }
        }
    }
}

// Needs an HTTP receiver.
#[cfg(all(test, feature = "http"))]
mod tests {
    use super::*;
    use crate::env::{resolve, Settings};
    use otlp_transport::receiver::{ReceivedRequest, Receiver, Reply};

    #[test]
    fn answered_request_buffers_are_reused() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let receiver = rt.block_on(async {
            Receiver::builder()
                .with_http_addr("127.0.0.1:0".parse().unwrap())
                .serve(async |_r: ReceivedRequest| Reply::Accept)
                .await
                .unwrap()
        });
        let settings = Settings {
            endpoint: Some(format!("http://{}", receiver.http_addr().unwrap())),
            ..Settings::default()
        };
        let cfg = resolve(Signal::Traces, &settings, &|_| None).unwrap();
        let thread = crate::ExportThread::new().unwrap();
        let client = thread
            .client(Signal::Traces, &cfg, &settings, &|_| None)
            .unwrap();
        let pipeline = Pipeline::new(
            Signal::Traces,
            cfg,
            DeliveryConfig::default(),
            thread.runtime().clone(),
            Target::One(client),
        )
        .unwrap();
        // The receiver refuses these bytes (400), a permanent error: the
        // batch is answered, and its buffer comes back for the next one.
        rt.block_on(pipeline.export(1, |_, out| out.extend_from_slice(&[0u8; 1000])))
            .unwrap();
        // The flush names the item dropped since the last one.
        let e = pipeline.flush(Duration::from_secs(10)).unwrap_err();
        assert!(
            e.to_string()
                .contains("1 (refused by the endpoint 1) items dropped"),
            "{e}"
        );
        let spare = pipeline.pool.spare.lock().unwrap();
        assert_eq!(spare.len(), 1);
        assert!(spare[0].capacity() >= 1000);
        drop(spare);
        assert_eq!(pipeline.stats.snapshot().dropped.export_failed, 1);
        rt.block_on(receiver.shutdown());
    }
}

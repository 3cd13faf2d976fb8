//! The router of an exporter with several endpoints: membership, the ring,
//! health, and batches handed from an endpoint that left to the next.
//! See the [module docs](super) for the design.

use super::dns::Lookup;
use super::{HealthCheck, Members, Routing};
use crate::delivery::{verdict, Delivery, DeliveryConfig, Job, Link};
use crate::pipeline::BufferPool;
use crate::runtime::Runtime;
use crate::stats::{Dropped, EndpointState, ExportStats, Reason};
use crate::BuildError;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use otlp_core::Signal;
use otlp_resilience::balance::Rendezvous;
use otlp_resilience::breaker::BreakerState;
use otlp_transport::client::OtlpClient;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch, Notify};

/// How often breaker states are looked at without active health checks.
const PASSIVE_TICK: Duration = Duration::from_secs(1);
/// Least time between two rounds of health checks brought forward by
/// failed exports.
const SUSPECT_GAP: Duration = Duration::from_millis(250);

/// Makes the transport client of an endpoint URL, with the exporter's
/// other settings.
pub(crate) type MakeClient = Arc<dyn Fn(&str) -> Result<OtlpClient, BuildError> + Send + Sync>;

/// What the router is built from.
pub(crate) struct RouterConfig {
    pub(crate) members: Members,
    pub(crate) routing: Routing,
    pub(crate) health: Option<HealthCheck>,
    pub(crate) make_client: MakeClient,
    pub(crate) delivery: DeliveryConfig,
}

/// One endpoint.
#[derive(Debug)]
pub(crate) struct Member {
    /// Never reused: batches of span partitions name their endpoints by it.
    pub(crate) id: u32,
    name: String,
    delivery: Delivery,
    stats: ExportStats,
    state: Arc<EndpointState>,
    client: OtlpClient,
}

impl Member {
    fn healthy(&self) -> bool {
        // 0: not checked (yet), 1: serving.
        self.state.check.load(Ordering::Relaxed) <= 1
            && self.delivery.breaker_state() != BreakerState::Open
    }
}

/// The members batches go to now.
#[derive(Debug, Default)]
pub(crate) struct Ring {
    hash: Rendezvous<Arc<Member>>,
    list: Vec<Arc<Member>>,
}

/// No next owner.
pub(crate) const NONE: u32 = u32::MAX;

impl Ring {
    /// The ids of `key`'s owner and next owner ([`NONE`] where there is
    /// none).
    pub(crate) fn top_two(&self, key: &[u8]) -> (u32, u32) {
        let (first, second) = self.hash.top_two(key);
        (first.map_or(NONE, |m| m.id), second.map_or(NONE, |m| m.id))
    }

    /// What the items of trace `trace` are batched by in one export: the
    /// (owner, next owner) pair of the trace (the trace itself not
    /// looked at, all zeros); with no member at all (before a first DNS
    /// answer), the trace, since such a batch is placed later by its
    /// first trace only, and one holding several traces would take them
    /// all to that trace's owner.
    pub(crate) fn group_of(&self, trace: &[u8; 16]) -> ((u32, u32), [u8; 16]) {
        if self.list.is_empty() {
            ((NONE, NONE), *trace)
        } else {
            (self.top_two(trace), [0; 16])
        }
    }

    /// Whether `pair` is an (owner, next owner) pair of this ring.
    pub(crate) fn has_pair(&self, (owner, next): (u32, u32)) -> bool {
        let has = |id: u32| self.list.iter().any(|m| m.id == id);
        has(owner) && (next == NONE && self.list.len() == 1 || has(next))
    }

    fn ids(&self) -> Vec<u32> {
        self.list.iter().map(|m| m.id).collect()
    }
}

/// Batches with no endpoint to go to, and the items they hold (kept
/// rather than summed at each batch: one batch a trace, a ring empty for
/// a while parks many).
#[derive(Debug, Default)]
struct Parked {
    jobs: VecDeque<Job>,
    items: u64,
}

impl Parked {
    fn push(&mut self, job: Job) {
        self.items += job.items;
        self.jobs.push_back(job);
    }

    fn take(&mut self) -> Vec<Job> {
        self.items = 0;
        self.jobs.drain(..).collect()
    }
}

/// The router; see the [module docs](super).
pub(crate) struct Router {
    signal: Signal,
    routing: Routing,
    health: Option<HealthCheck>,
    members: Mutex<Vec<Arc<Member>>>,
    ring: RwLock<Arc<Ring>>,
    /// Bumped with every new ring: span batchers keep a copy of the ring
    /// and look only at this while it is unchanged.
    version: AtomicU64,
    /// The exporter's total; each member's stats book into it too.
    pub(crate) stats: ExportStats,
    make_client: MakeClient,
    delivery: DeliveryConfig,
    runtime: Runtime,
    pool: Arc<BufferPool>,
    handoff: mpsc::UnboundedSender<Job>,
    suspect: Arc<Notify>,
    next_id: AtomicU32,
    turn: AtomicUsize,
    closed: AtomicBool,
    /// Batches with no endpoint at all to go to (before the first DNS
    /// answer), counted as queued in the total; bounded like a queue.
    pending: Mutex<Parked>,
    reported: Mutex<Dropped>,
    stop: watch::Sender<bool>,
    /// For tasks the router starts later (placing parked batches).
    me: Weak<Router>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("signal", &self.signal)
            .field("routing", &self.routing)
            .field("members", &self.members)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Router {
    /// Builds the router and its members' deliveries (static endpoints at
    /// once, DNS ones from the first answer on) and starts its tasks on
    /// `runtime`.
    pub(crate) fn start(
        signal: Signal,
        cfg: RouterConfig,
        runtime: &Runtime,
        pool: Arc<BufferPool>,
        stats: &ExportStats,
    ) -> Result<Arc<Router>, BuildError> {
        let (handoff, handed) = mpsc::unbounded_channel();
        let lookup = match &cfg.members {
            Members::Dns(resolver) => Some(runtime.enter(|| Lookup::new(resolver))?),
            Members::Static(_) => None,
        };
        let router = Arc::new_cyclic(|me| Router {
            signal,
            routing: cfg.routing,
            health: cfg.health,
            members: Mutex::new(Vec::new()),
            ring: RwLock::new(Arc::default()),
            version: AtomicU64::new(0),
            stats: stats.clone(),
            make_client: cfg.make_client,
            delivery: cfg.delivery,
            runtime: runtime.clone(),
            pool,
            handoff,
            suspect: Arc::new(Notify::new()),
            next_id: AtomicU32::new(0),
            turn: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            pending: Mutex::default(),
            reported: Mutex::new(Dropped::default()),
            stop: watch::channel(false).0,
            me: me.clone(),
        });
        if let Members::Static(urls) = &cfg.members {
            for url in urls {
                router.add_member(url)?;
            }
        }
        router.recompute();
        let weak = Arc::downgrade(&router);
        runtime.spawn_detached(place_handed(weak.clone(), handed, router.stop.subscribe()));
        runtime.spawn_detached(maintain(weak.clone(), router.stop.subscribe()));
        if let Some(lookup) = lookup {
            runtime.spawn_detached(follow_dns(weak, lookup, router.stop.subscribe()));
        }
        Ok(router)
    }

    /// The member named `url`, made a member again if it was one before,
    /// else created with a delivery of its own.
    fn add_member(&self, url: &str) -> Result<Arc<Member>, BuildError> {
        if let Some(m) = lock(&self.members).iter().find(|m| m.name == url) {
            m.state.member.store(true, Ordering::Relaxed);
            return Ok(Arc::clone(m));
        }
        let client = (self.make_client)(url)?;
        let state = Arc::new(EndpointState::default());
        state.member.store(true, Ordering::Relaxed);
        let stats = self.stats.child(url, Arc::clone(&state));
        let link = Link {
            left: watch::channel(false).0,
            handoff: self.handoff.clone(),
            suspect: Arc::clone(&self.suspect),
        };
        let delivery = Delivery::start(
            self.signal,
            &self.runtime,
            client.clone(),
            self.delivery.clone(),
            &stats,
            Arc::clone(&self.pool),
            Some(link),
        )?;
        let member = Arc::new(Member {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            name: url.to_owned(),
            delivery,
            stats,
            state,
            client,
        });
        lock(&self.members).push(Arc::clone(&member));
        Ok(member)
    }

    /// The members are now `urls` (a DNS answer).
    fn set_members(&self, urls: &[String]) {
        for m in lock(&self.members).iter() {
            m.state
                .member
                .store(urls.contains(&m.name), Ordering::Relaxed);
        }
        for url in urls {
            if let Err(e) = self.add_member(url) {
                tracing::warn!(error = %e, endpoint = %url, "endpoint from DNS cannot be used");
            }
        }
        self.recompute();
    }

    /// The ring now.
    pub(crate) fn ring(&self) -> Arc<Ring> {
        Arc::clone(&self.ring.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Changes with every new ring.
    pub(crate) fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// Works out the ring from membership and health, and tells the
    /// endpoints that left it to hand on their batches (only while another
    /// endpoint is in it: with none healthy, each keeps its own and
    /// retries).
    fn recompute(&self) {
        let members = lock(&self.members);
        let current: Vec<&Arc<Member>> = members
            .iter()
            .filter(|m| m.state.member.load(Ordering::Relaxed))
            .collect();
        let live: Vec<&Arc<Member>> = current.iter().copied().filter(|m| m.healthy()).collect();
        let in_ring = if live.is_empty() { current } else { live };
        let mut ids: Vec<u32> = in_ring.iter().map(|m| m.id).collect();
        ids.sort_unstable();
        let changed = {
            let mut ring = self.ring.write().unwrap_or_else(PoisonError::into_inner);
            let mut old = ring.ids();
            old.sort_unstable();
            if old != ids {
                let mut hash = Rendezvous::new();
                for m in &in_ring {
                    hash.insert(&m.name, Arc::clone(m));
                }
                *ring = Arc::new(Ring {
                    hash,
                    list: in_ring.iter().map(|m| Arc::clone(m)).collect(),
                });
                self.version.fetch_add(1, Ordering::AcqRel);
            }
            old != ids
        };
        // After the new ring is in place, so that what they hand on is
        // placed by it.
        let any = !in_ring.is_empty();
        for m in members.iter() {
            let inside = in_ring.iter().any(|r| r.id == m.id);
            m.state.in_ring.store(inside, Ordering::Relaxed);
            m.delivery.set_left(!inside && any);
        }
        if changed {
            let names: Vec<&str> = in_ring.iter().map(|m| m.name.as_str()).collect();
            tracing::info!(signal = %self.signal, endpoints = ?names, "export endpoints changed");
        }
        drop(members);
        if any {
            let parked: Vec<Job> = lock(&self.pending).take();
            for job in parked {
                self.runtime
                    .spawn_detached(place_one(self.ring(), job, self.weak_self()));
            }
        }
        self.stats.announce();
    }

    fn weak_self(&self) -> Weak<Router> {
        self.me.clone()
    }

    /// The member a batch goes to in `ring`.
    fn pick(&self, ring: &Ring, job: &Job) -> Option<Arc<Member>> {
        if ring.list.is_empty() {
            return None;
        }
        let in_turn = || {
            let i = self.turn.fetch_add(1, Ordering::Relaxed) % ring.list.len();
            Arc::clone(&ring.list[i])
        };
        match (self.routing, &job.key) {
            (Routing::TraceId | Routing::Service, Some(key)) => ring.hash.owner(key).cloned(),
            (Routing::LeastPending, _) => ring
                .list
                .iter()
                .min_by_key(|m| m.stats.pending_items())
                .cloned(),
            _ => Some(in_turn()),
        }
    }

    /// The next member of the ring in turn, with its client and stats, for
    /// requests sent once (the push API); `None` with no member known.
    pub(crate) fn next_member(&self) -> Option<(OtlpClient, ExportStats)> {
        let ring = self.ring();
        if ring.list.is_empty() {
            return None;
        }
        let m = &ring.list[self.turn.fetch_add(1, Ordering::Relaxed) % ring.list.len()];
        Some((m.client.clone(), m.stats.clone()))
    }

    /// Queues a new batch at the endpoint it is routed to.
    pub(crate) async fn submit(&self, job: Job) -> OTelSdkResult {
        let items = job.items;
        if self.closed.load(Ordering::Acquire) {
            self.stats.record_refused(items, Reason::Shutdown);
            return Err(OTelSdkError::AlreadyShutdown);
        }
        let ring = self.ring();
        match self.pick(&ring, &job) {
            Some(member) => member.delivery.submit(job).await,
            None => {
                self.stats.record_queued(items);
                self.park(job)
            }
        }
    }

    /// Keeps a batch (booked as queued in the total) until an endpoint is
    /// known, within the queue's item limit.
    fn park(&self, job: Job) -> OTelSdkResult {
        let mut pending = lock(&self.pending);
        let held = pending.items;
        if held + job.items > self.delivery.max_queue_items {
            drop(pending);
            self.stats.record_unqueued(job.items, Reason::QueueFull);
            return Err(OTelSdkError::InternalFailure(format!(
                "no export endpoint known yet and {held} items waiting: {} {} items dropped",
                job.items, self.signal
            )));
        }
        pending.push(job);
        Ok(())
    }

    /// Waits until nothing is queued or in flight anywhere.
    pub(crate) fn wait_drained(&self, deadline: Instant) -> bool {
        self.stats.wait_idle(deadline)
    }

    pub(crate) fn verdict(&self, drained: bool, timeout: Duration) -> OTelSdkResult {
        verdict(&self.stats, &self.reported, drained, timeout)
    }

    /// Refuses new batches; what is queued is still delivered.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    /// Stops every endpoint's delivery and the router's tasks; what is
    /// left in memory is counted as dropped (`shutdown`).
    pub(crate) fn stop(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let members: Vec<Arc<Member>> = lock(&self.members).clone();
        for m in &members {
            m.delivery
                .stop(deadline.saturating_duration_since(Instant::now()));
        }
        self.stop.send_replace(true);
        for job in lock(&self.pending).take() {
            self.stats.record_unqueued(job.items, Reason::Shutdown);
        }
    }

    /// Health checks of every member, at once; the answers go to their
    /// state.
    async fn check_all(&self, check: &HealthCheck) {
        let members: Vec<Arc<Member>> = lock(&self.members)
            .iter()
            .filter(|m| m.state.member.load(Ordering::Relaxed))
            .cloned()
            .collect();
        let mut checks = tokio::task::JoinSet::new();
        for m in members {
            let (probe, signal) = (check.probe.clone(), self.signal);
            checks.spawn(async move {
                let answer = m.client.check_health(signal, &probe).await;
                let code = match &answer {
                    Ok(true) => 1,
                    Ok(false) => 2,
                    Err(_) => 3,
                };
                let before = m.state.check.swap(code, Ordering::Relaxed);
                if before != code {
                    match answer {
                        Ok(serving) => {
                            tracing::info!(endpoint = %m.name, serving, "export endpoint health changed");
                        }
                        Err(e) => {
                            tracing::warn!(endpoint = %m.name, error = %e, "export endpoint health check failed");
                        }
                    }
                }
            });
        }
        while checks.join_next().await.is_some() {}
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        // The members' senders would otherwise wait on the export thread
        // for ever.
        self.stop(Duration::ZERO);
    }
}

/// Places batches handed on by endpoints that left the ring, until
/// stopped; what is still in the channel then is dropped (`shutdown`).
async fn place_handed(
    router: Weak<Router>,
    mut handed: mpsc::UnboundedReceiver<Job>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let job = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => break,
            job = handed.recv() => job,
        };
        let (Some(job), Some(r)) = (job, router.upgrade()) else {
            break;
        };
        let ring = r.ring();
        match r.pick(&ring, &job) {
            Some(member) => member.delivery.submit_rerouted(job).await,
            None => lock(&r.pending).push(job),
        }
    }
    if let Some(r) = router.upgrade() {
        while let Ok(job) = handed.try_recv() {
            r.stats.record_unqueued(job.items, Reason::Shutdown);
        }
    }
}

/// Places one parked batch (booked as queued in the total).
async fn place_one(ring: Arc<Ring>, job: Job, router: Weak<Router>) {
    let Some(r) = router.upgrade() else {
        return;
    };
    match r.pick(&ring, &job) {
        Some(member) => member.delivery.submit_rerouted(job).await,
        None => lock(&r.pending).push(job),
    }
}

/// Health checks at their interval (and sooner after failed exports), and
/// breaker states, turned into the ring.
async fn maintain(router: Weak<Router>, mut stop: watch::Receiver<bool>) {
    let (tick, suspect) = match router.upgrade() {
        Some(r) => (
            r.health.as_ref().map_or(PASSIVE_TICK, |h| h.interval),
            Arc::clone(&r.suspect),
        ),
        None => return,
    };
    let mut ticks = tokio::time::interval(tick);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_round = tokio::time::Instant::now();
    loop {
        let suspected = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return,
            _ = ticks.tick() => false,
            () = suspect.notified() => true,
        };
        if suspected {
            tokio::time::sleep_until(last_round + SUSPECT_GAP).await;
        }
        last_round = tokio::time::Instant::now();
        let Some(r) = router.upgrade() else {
            return;
        };
        if let Some(check) = r.health.clone() {
            r.check_all(&check).await;
        }
        r.recompute();
    }
}

/// Resolves the name at its interval and makes each answer the
/// membership.
async fn follow_dns(router: Weak<Router>, lookup: Lookup, mut stop: watch::Receiver<bool>) {
    let interval = lookup.config().interval;
    loop {
        match lookup.resolve().await {
            Ok(urls) if !urls.is_empty() => match router.upgrade() {
                Some(r) => r.set_members(&urls),
                None => return,
            },
            Ok(_) => {
                tracing::warn!(name = %lookup.config().host, "DNS answered no address; export endpoints kept")
            }
            Err(e) => {
                tracing::warn!(name = %lookup.config().host, error = %e, "DNS lookup failed; export endpoints kept")
            }
        }
        tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}

#[cfg(all(test, feature = "grpc"))]
mod tests {
    use crate::{OtlpLogExporter, OtlpSpanExporter, OtlpSpanProcessor, Protocol};
    use opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _};
    use opentelemetry::trace::{
        SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
    };
    use opentelemetry::InstrumentationScope;
    use opentelemetry_sdk::logs::{LogBatch, LogExporter as _, SdkLogRecord, SdkLoggerProvider};
    use opentelemetry_sdk::trace::SpanProcessor as _;
    use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanExporter as _, SpanLinks};
    use otlp_core::ExportRequest;
    use otlp_transport::receiver::{ReceivedRequest, Receiver, Reply, RunningReceiver};
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, SystemTime};

    /// The trace ids of the spans and log records each receiver got.
    type Got = Arc<Mutex<Vec<[u8; 16]>>>;

    async fn receiver() -> (RunningReceiver, Got) {
        let got: Got = Arc::default();
        let kept = Arc::clone(&got);
        let receiver = Receiver::builder()
            .with_grpc_addr("127.0.0.1:0".parse().unwrap())
            .serve(move |r: ReceivedRequest| {
                let mut kept = kept.lock().unwrap();
                match &r.request {
                    ExportRequest::Logs(l) => kept.extend(
                        l.resource_logs
                            .iter()
                            .flat_map(|rl| &rl.scope_logs)
                            .flat_map(|sl| &sl.log_records)
                            .map(|rec| <[u8; 16]>::try_from(rec.trace_id.as_slice()).unwrap()),
                    ),
                    ExportRequest::Traces(t) => kept.extend(
                        t.resource_spans
                            .iter()
                            .flat_map(|rs| &rs.scope_spans)
                            .flat_map(|ss| &ss.spans)
                            .map(|s| <[u8; 16]>::try_from(s.trace_id.as_slice()).unwrap()),
                    ),
                    _ => {}
                }
                async { Reply::Accept }
            })
            .await
            .unwrap();
        (receiver, got)
    }

    fn trace(i: u8) -> [u8; 16] {
        let mut t = [i; 16];
        t[0] = 0xa5;
        t
    }

    fn span(trace: [u8; 16]) -> SpanData {
        SpanData {
            span_context: SpanContext::new(
                TraceId::from_bytes(trace),
                SpanId::from_bytes([1; 8]),
                TraceFlags::SAMPLED,
                false,
                TraceState::default(),
            ),
            parent_span_id: SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Internal,
            name: "s".into(),
            start_time: SystemTime::now(),
            end_time: SystemTime::now(),
            attributes: Vec::new(),
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: Status::Unset,
            instrumentation_scope: InstrumentationScope::builder("s").build(),
        }
    }

    /// With no endpoint known yet (before the first DNS answer), each
    /// trace's spans and log records wait apart, and each reaches its own
    /// trace's owner once endpoints are known, not that of the first
    /// trace of the batch they came in.
    #[test]
    fn batches_kept_before_any_endpoint_is_known_reach_each_traces_owner() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let receivers: Vec<(RunningReceiver, Got)> = rt.block_on(receivers(3));
        let urls: Vec<String> = receivers
            .iter()
            .map(|(r, _)| format!("http://{}", r.grpc_addr().unwrap()))
            .collect();
        let logs = OtlpLogExporter::builder()
            .with_endpoints(urls.clone())
            .with_protocol(Protocol::Grpc)
            .build()
            .unwrap();
        let spans = OtlpSpanExporter::builder()
            .with_endpoints(urls.clone())
            .with_protocol(Protocol::Grpc)
            .build()
            .unwrap();
        // The span processor, with batches of 16 spans: the 40 traces'
        // spans wait past a full batch's worth.
        let processor = OtlpSpanProcessor::builder()
            .with_endpoints(urls.clone())
            .with_protocol(Protocol::Grpc)
            .with_max_batch_size(16)
            .build()
            .unwrap();
        let log_router = logs.pipeline.trace_router().unwrap().clone();
        let span_router = spans.pipeline.trace_router().unwrap().clone();
        let processor_router = processor.trace_router().unwrap().clone();
        log_router.set_members(&[]);
        span_router.set_members(&[]);
        processor_router.set_members(&[]);
        assert!(log_router.ring().list.is_empty());

        const TRACES: u8 = 40;
        let provider = SdkLoggerProvider::builder().build();
        let logger = provider.logger("l");
        let records: Vec<SdkLogRecord> = (0..TRACES)
            .map(|i| {
                let mut r = logger.create_log_record();
                r.set_body("r".into());
                r.set_trace_context(
                    TraceId::from_bytes(trace(i)),
                    SpanId::from_bytes([1; 8]),
                    Some(TraceFlags::SAMPLED),
                );
                r
            })
            .collect();
        let scope = InstrumentationScope::builder("l").build();
        let items: Vec<(&SdkLogRecord, &InstrumentationScope)> =
            records.iter().map(|r| (r, &scope)).collect();
        rt.block_on(logs.export(LogBatch::new(&items))).unwrap();
        rt.block_on(spans.export((0..TRACES).map(|i| span(trace(i))).collect()))
            .unwrap();
        // Two spans of each trace, the traces interleaved.
        for _ in 0..2 {
            for i in 0..TRACES {
                processor.on_end(span(trace(i)));
            }
        }

        log_router.set_members(&urls);
        span_router.set_members(&urls);
        processor_router.set_members(&urls);
        let total = u64::from(TRACES);
        let done = processor
            .stats()
            .wait_for(|s| s.items_exported == 2 * total, Duration::from_secs(30));
        assert!(done.is_some(), "{:?}", processor.stats().snapshot());
        for stats in [logs.stats(), spans.stats()] {
            let done = stats.wait_for(|s| s.items_exported == total, Duration::from_secs(30));
            assert!(done.is_some(), "{:?}", stats.snapshot());
        }
        let ring = log_router.ring();
        let at: HashMap<&str, usize> = urls
            .iter()
            .enumerate()
            .map(|(i, u)| (u.as_str(), i))
            .collect();
        for (i, (_, got)) in receivers.iter().enumerate() {
            for t in got.lock().unwrap().iter() {
                let owner = ring.hash.owner(t).unwrap();
                assert_eq!(
                    at[owner.name.as_str()],
                    i,
                    "trace {t:02x?} away from its owner"
                );
            }
        }
        let received: usize = receivers.iter().map(|(_, g)| g.lock().unwrap().len()).sum();
        assert_eq!(received, 4 * usize::from(TRACES));
        processor
            .shutdown_with_timeout(Duration::from_secs(5))
            .unwrap();
        logs.shutdown_with_timeout(Duration::from_secs(5)).unwrap();
        spans.shutdown_with_timeout(Duration::from_secs(5)).unwrap();
        rt.block_on(async {
            for (r, _) in receivers {
                r.shutdown().await;
            }
        });
    }

    /// With no endpoint known, the span processor hands on what waits
    /// once a full batch's worth of bytes waits, not only of spans: large
    /// spans of many traces do not pile up past a batch's size.
    #[test]
    fn large_spans_waiting_for_an_endpoint_are_handed_on_at_a_batchs_size() {
        let processor = OtlpSpanProcessor::builder()
            .with_endpoints(["http://127.0.0.1:1", "http://127.0.0.1:2"])
            .with_protocol(Protocol::Grpc)
            .with_scheduled_delay(Duration::from_secs(3600))
            .build()
            .unwrap();
        processor.trace_router().unwrap().set_members(&[]);
        // Eight spans of 1 MiB, of eight traces: more than a batch's 3 MiB.
        for i in 0..8 {
            let mut s = span(trace(i));
            s.attributes = vec![opentelemetry::KeyValue::new("blob", "y".repeat(1 << 20))];
            processor.on_end(s);
        }
        let handed = processor
            .stats()
            .wait_for(|s| s.items_accepted >= 3, Duration::from_secs(10));
        assert!(handed.is_some(), "{:?}", processor.stats().snapshot());
        let _ = processor.shutdown_with_timeout(Duration::from_secs(5));
    }

    async fn receivers(n: usize) -> Vec<(RunningReceiver, Got)> {
        let mut all = Vec::new();
        for _ in 0..n {
            all.push(receiver().await);
        }
        all
    }
}

//! Processors run on each batch before it is queued
//! ([`ExporterBuilder::with_processors`](crate::ExporterBuilder::with_processors)).
//!
//! A trace chain whose every step works span by span
//! ([`Chain::span_chain`]: sampling, filter, redaction) runs on each SDK
//! span as it ends, before it is encoded: a span it drops is never
//! encoded, one it keeps is edited in place and encoded with the
//! tracestate the sampler wrote, and the resource is processed once when
//! it is set. Other chains (span metrics, the adaptive sampler, attribute
//! actions, logs and metrics) take the batch path:
//!
//! A batch is encoded as usual, decoded (an `ExportTraceServiceRequest`, or
//! the logs or metrics request), run through the [`Chain`] and encoded
//! again. This happens where the batch
//! is prepared for sending (in the span processor, on the export thread), so
//! the application's threads keep encoding each span as it ends and no span
//! waits anywhere as a copy. Items the chain removes are booked as
//! [`items_removed`](crate::StatsSnapshot::items_removed), by processor and
//! reason; span events they remove from spans they keep, as
//! [`span_events_removed`](crate::StatsSnapshot::span_events_removed).
//!
//! Metrics the chain derives (span metrics) go out through a metrics
//! pipeline of the same exporter settings, at most once per
//! [`METRICS_INTERVAL`] while batches flow, and at every flush and at
//! shutdown, in requests of at most 3 MiB (a Collector takes 4 MiB by
//! default), split between metrics and data points.

use crate::pipeline::Pipeline;
use crate::stats::ExportStats;
use opentelemetry::trace::Status;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::SpanData;
use otlp_core::{Encoder, ExportRequest, Format, Signal};
use otlp_simd::processor::{Chain, EarlyDrop, SpanChain, SpanOutcome};
use std::borrow::Cow;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

type MetricsRequest = otlp_core::proto::collector::metrics::v1::ExportMetricsServiceRequest;

/// The most bytes one request of derived metrics takes encoded (a data
/// point larger than that goes alone).
const MAX_METRICS_BYTES: usize = 3 << 20;

/// `request` in requests of at most `max` bytes encoded, split between
/// metrics and, within a metric, between data points; each part names its
/// resource and scope again.
fn split_metrics(request: MetricsRequest, max: usize) -> Vec<MetricsRequest> {
    use otlp_core::proto::metrics::v1::{metric::Data, Metric, ResourceMetrics, ScopeMetrics};
    use prost::Message;

    /// `points` in runs of at most `max` bytes (one at least each), each
    /// made into a copy of `shell` by `data`.
    fn runs<P: Message>(
        points: Vec<P>,
        max: usize,
        shell: &Metric,
        data: impl Fn(Vec<P>) -> Data,
    ) -> Vec<Metric> {
        let mut out = Vec::new();
        let (mut run, mut len) = (Vec::new(), 0);
        let mut flush = |run: Vec<P>| {
            out.push(Metric {
                data: Some(data(run)),
                ..shell.clone()
            })
        };
        for p in points {
            // A point's own bytes and its field's tag and length.
            let n = p.encoded_len() + 11;
            if len + n > max && !run.is_empty() {
                flush(std::mem::take(&mut run));
                len = 0;
            }
            len += n;
            run.push(p);
        }
        if !run.is_empty() {
            flush(run);
        }
        out
    }

    /// `m` as metrics of at most about `max` bytes, each with some of its
    /// data points.
    fn pieces(mut m: Metric, max: usize) -> Vec<Metric> {
        use otlp_core::proto::metrics::v1::{ExponentialHistogram, Gauge, Histogram, Sum, Summary};
        if m.encoded_len() <= max {
            return vec![m];
        }
        let Some(data) = m.data.take() else {
            return vec![m];
        };
        match data {
            Data::Gauge(g) => runs(g.data_points, max, &m, |data_points| {
                Data::Gauge(Gauge { data_points })
            }),
            Data::Sum(mut s) => runs(std::mem::take(&mut s.data_points), max, &m, |data_points| {
                Data::Sum(Sum {
                    data_points,
                    ..s.clone()
                })
            }),
            Data::Histogram(mut h) => {
                runs(std::mem::take(&mut h.data_points), max, &m, |data_points| {
                    Data::Histogram(Histogram {
                        data_points,
                        ..h.clone()
                    })
                })
            }
            Data::ExponentialHistogram(mut h) => {
                runs(std::mem::take(&mut h.data_points), max, &m, |data_points| {
                    Data::ExponentialHistogram(ExponentialHistogram {
                        data_points,
                        ..h.clone()
                    })
                })
            }
            Data::Summary(g) => runs(g.data_points, max, &m, |data_points| {
                Data::Summary(Summary { data_points })
            }),
        }
    }

    if request.encoded_len() <= max {
        return vec![request];
    }
    let mut out = Vec::new();
    let (mut current, mut len) = (MetricsRequest::default(), 0);
    for rm in request.resource_metrics {
        for sm in rm.scope_metrics {
            // Room for the resource and the scope around each piece.
            let shell = rm.resource.as_ref().map_or(0, Message::encoded_len)
                + sm.scope.as_ref().map_or(0, Message::encoded_len)
                + rm.schema_url.len()
                + sm.schema_url.len()
                + 32;
            for metric in sm.metrics {
                for piece in pieces(metric, max.saturating_sub(shell)) {
                    let n = piece.encoded_len() + shell;
                    if len + n > max && !current.resource_metrics.is_empty() {
                        out.push(std::mem::take(&mut current));
                        len = 0;
                    }
                    len += n;
                    current.resource_metrics.push(ResourceMetrics {
                        resource: rm.resource.clone(),
                        scope_metrics: vec![ScopeMetrics {
                            scope: sm.scope.clone(),
                            metrics: vec![piece],
                            schema_url: sm.schema_url.clone(),
                        }],
                        schema_url: rm.schema_url.clone(),
                    });
                }
            }
        }
    }
    if !current.resource_metrics.is_empty() {
        out.push(current);
    }
    out
}

/// Longest time derived metrics wait before they are sent while batches
/// flow (the SDK's periodic metric reader exports every 60 s; span metrics
/// are wanted sooner).
pub const METRICS_INTERVAL: Duration = Duration::from_secs(10);

/// How long shutdown waits at least for the last derived metrics to be
/// queued.
const QUEUE_GRACE: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub(crate) struct Processing {
    chain: Arc<Mutex<Chain>>,
    /// The first step's decision by trace id (a sampler), taken as spans
    /// end so that the spans it drops are never encoded.
    early: Option<(String, EarlyDrop)>,
    /// The chain run on each span as it ends, when every step can.
    spans: Option<SpanChain>,
    /// The signal of the batches processed here.
    signal: Signal,
    /// Where derived metrics go (trace pipelines only).
    metrics: Option<Arc<Pipeline>>,
    last_metrics: Mutex<Instant>,
    /// Metrics requests handed to the metrics runtime and not queued yet.
    sending: Arc<(Mutex<u64>, Condvar)>,
}

impl Processing {
    /// Processing of `signal`'s batches; derived metrics go to `metrics`.
    pub(crate) fn new(chain: Arc<Mutex<Chain>>, signal: Signal, metrics: Option<Pipeline>) -> Self {
        let (early, spans) = match signal {
            Signal::Traces => {
                let chain = chain.lock().unwrap_or_else(PoisonError::into_inner);
                match chain.span_chain() {
                    Some(spans) => (None, Some(spans)),
                    None => (chain.early_drop(), None),
                }
            }
            _ => (None, None),
        };
        Processing {
            early,
            spans,
            chain,
            signal,
            metrics: metrics.map(Arc::new),
            last_metrics: Mutex::new(Instant::now()),
            sending: Arc::default(),
        }
    }

    /// Runs the chain on each batch, never span by span (for requests
    /// that arrive decoded, where no span ends here).
    pub(crate) fn batches_only(&mut self) {
        self.spans = None;
        self.early = None;
    }

    /// Whether the chain runs on each span as it ends (then batches are
    /// not processed again).
    pub(crate) fn by_span(&self) -> bool {
        self.spans.is_some()
    }

    /// The resource to encode: the chain's steps process it once, and see
    /// it so for the spans to come. `None` without a span-by-span chain.
    pub(crate) fn process_resource(
        &self,
        resource: &opentelemetry_sdk::Resource,
    ) -> Option<opentelemetry_sdk::Resource> {
        let spans = self.spans.as_ref()?;
        let attrs = resource
            .iter()
            .map(|(k, v)| opentelemetry::KeyValue::new(k.clone(), v.clone()))
            .collect();
        let out = spans.set_resource(attrs);
        let builder = opentelemetry_sdk::Resource::builder_empty();
        Some(
            match resource.schema_url() {
                Some(url) => builder.with_schema_url(out, url.to_owned()),
                None => builder.with_attributes(out),
            }
            .build(),
        )
    }

    /// Runs the chain on `span` as it ends: `None` when a step drops it
    /// (booked as removed), else the tracestate to encode it with in
    /// place of its own, if a step wrote one. Without a span-by-span
    /// chain, only the first step's early decision is taken.
    pub(crate) fn end_span(
        &self,
        span: &mut SpanData,
        stats: &ExportStats,
    ) -> Option<Option<Cow<'_, str>>> {
        let Some(chain) = &self.spans else {
            return (!self.drops_early(span, stats)).then_some(None);
        };
        let mut on_events = |step: &str, n: u64| stats.record_events_removed(step, n);
        match chain.on_end_counting(span, &mut on_events) {
            SpanOutcome::Keep(trace_state) => Some(trace_state),
            SpanOutcome::Drop { step, reason } => {
                stats.record_removed_one(step, reason);
                None
            }
        }
    }

    /// Whether the chain's first step (a sampler) certainly drops `span`:
    /// then it is booked as removed here and not encoded at all. Spans
    /// with a tracestate or a `sampling.priority` attribute are left to the
    /// batch.
    fn drops_early(&self, span: &SpanData, stats: &ExportStats) -> bool {
        let Some((name, early)) = &self.early else {
            return false;
        };
        if !span.span_context.trace_state().header().is_empty()
            || span
                .attributes
                .iter()
                .any(|kv| kv.key.as_str() == "sampling.priority")
        {
            return false;
        }
        let duration = span
            .end_time
            .duration_since(span.start_time)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        let is_error = matches!(span.status, Status::Error { .. });
        let trace_id = span.span_context.trace_id().to_bytes();
        if early.drops(&trace_id, is_error, duration) {
            stats.record_removed_one(name, early.reason());
            return true;
        }
        false
    }

    /// Encodes the batch with `encode`, runs the chain over it and writes
    /// what is left into `out`; returns how many of the `items` are left.
    /// A batch that does not decode again is not sent: its items are
    /// counted as removed (`processors`, `not decodable`), since sending it
    /// unprocessed would let what the chain masks or drops through. Our
    /// own protobuf decodes unless it nests deeper than the decoder allows
    /// (a log body nested over 100 levels); JSON, written for an
    /// `http/json` destination, also refuses ids of the wrong length from
    /// a forwarded request and nesting over serde_json's 128 levels.
    pub(crate) fn run(
        &self,
        encoder: &Encoder,
        encode: impl FnOnce(&Encoder, &mut Vec<u8>),
        out: &mut Vec<u8>,
        stats: &ExportStats,
        items: u64,
    ) -> u64 {
        let format = encoder.format();
        let mut raw = Vec::new();
        encode(encoder, &mut raw);
        let mut request = match ExportRequest::decode(self.signal, format, &raw) {
            Ok(request) => request,
            Err(error) => {
                tracing::warn!(signal = %self.signal, %error, items, "a batch did not decode for the processors; its items are dropped, not sent unprocessed");
                stats.record_removed(items, &[("processors".to_owned(), "not decodable", items)]);
                out.clear();
                return 0;
            }
        };
        drop(raw);
        let (report, derived) = {
            let mut chain = self.chain.lock().unwrap_or_else(PoisonError::into_inner);
            let report = match &mut request {
                ExportRequest::Traces(r) => chain.process(r),
                ExportRequest::Logs(r) => chain.process_logs(r),
                ExportRequest::Metrics(r) => chain.process_metrics(r),
                // Profiles pipelines get no processing.
                _ => Default::default(),
            };
            let due = self.metrics.is_some() && {
                let mut last = self
                    .last_metrics
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                let due = last.elapsed() >= METRICS_INTERVAL;
                if due {
                    *last = Instant::now();
                }
                due
            };
            (report, if due { chain.take_metrics() } else { None })
        };
        let removed = report.spans_in.saturating_sub(report.spans_out);
        stats.record_removed(removed, &report.dropped);
        for (processor, events) in &report.dropped_events {
            stats.record_events_removed(processor, *events);
        }
        out.clear();
        match format {
            Format::Json => out.extend_from_slice(request.to_json().as_bytes()),
            _ => request.encode_protobuf_into(out),
        }
        if let Some(metrics) = derived {
            self.send_metrics(metrics);
        }
        items.saturating_sub(removed)
    }

    /// Queues derived metrics on the metrics pipeline (on its runtime:
    /// this may run inside an application's call), in requests of at most
    /// [`MAX_METRICS_BYTES`] encoded (span metrics keep growing with the
    /// series; a Collector takes 4 MiB by default).
    fn send_metrics(&self, metrics: MetricsRequest) {
        for part in split_metrics(metrics, MAX_METRICS_BYTES) {
            self.send_metrics_part(part);
        }
    }

    fn send_metrics_part(&self, metrics: MetricsRequest) {
        let Some(pipeline) = self.metrics.as_ref().map(Arc::clone) else {
            return;
        };
        let points = ExportRequest::Metrics(metrics);
        let items = points.item_count() as u64;
        let sending = Arc::clone(&self.sending);
        *sending.0.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        let runtime = pipeline.runtime.clone();
        runtime.spawn_detached(async move {
            let format = pipeline
                .encoder
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .format();
            let sent = pipeline
                .export(items, |_, out| match format {
                    Format::Json => out.extend_from_slice(points.to_json().as_bytes()),
                    _ => points.encode_protobuf_into(out),
                })
                .await;
            if let Err(e) = sent {
                tracing::debug!(error = %e, items, "span metrics not queued");
            }
            let (count, queued) = &*sending;
            *count.lock().unwrap_or_else(PoisonError::into_inner) -= 1;
            queued.notify_all();
        });
    }

    /// Waits until every metrics request handed to the runtime is queued,
    /// or `deadline`.
    fn wait_queued(&self, deadline: Instant) {
        let (count, queued) = &*self.sending;
        let mut n = count.lock().unwrap_or_else(PoisonError::into_inner);
        while *n > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            n = queued
                .wait_timeout(n, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Takes the chain's metrics now and queues them.
    fn take_metrics_now(&self) -> Option<()> {
        self.metrics.as_ref()?;
        let metrics = self
            .chain
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take_metrics()?;
        *self
            .last_metrics
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
        self.send_metrics(metrics);
        Some(())
    }

    /// Sends the chain's metrics now and waits for them to be delivered.
    pub(crate) fn flush_metrics(&self, timeout: Duration) -> OTelSdkResult {
        if let (Some(()), Some(metrics)) = (self.take_metrics_now(), &self.metrics) {
            // Queued on the metrics runtime; wait until it is delivered.
            let deadline = Instant::now() + timeout;
            self.wait_queued(deadline);
            return metrics.flush(deadline.saturating_duration_since(Instant::now()));
        }
        Ok(())
    }

    /// The last metrics, then the metrics pipeline's shutdown.
    pub(crate) fn shutdown_until(&self, deadline: Instant, timeout: Duration) -> OTelSdkResult {
        let Some(metrics) = &self.metrics else {
            return Ok(());
        };
        self.take_metrics_now();
        // Queuing them is local work (memory, or the disk queue): it gets
        // a short grace even when waiting for the traces used up the
        // deadline, so that the last metrics are queued (and, with a
        // persistent queue, kept) rather than refused as shut down.
        self.wait_queued(deadline.max(Instant::now() + QUEUE_GRACE));
        match metrics.shutdown_until(deadline, timeout) {
            Err(OTelSdkError::AlreadyShutdown) => Ok(()),
            other => other,
        }
    }

    /// The metrics pipeline's counters (data points of span metrics).
    pub(crate) fn metrics_stats(&self) -> Option<ExportStats> {
        self.metrics.as_ref().map(|m| m.stats.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use otlp_core::proto::common::v1::{any_value::Value, AnyValue, KeyValue};
    use otlp_core::proto::metrics::v1::{
        metric::Data, number_data_point, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
        ResourceMetrics, ScopeMetrics, Sum,
    };
    use otlp_core::proto::resource::v1::Resource;
    use prost::Message as _;

    fn attrs(i: usize, len: usize) -> Vec<KeyValue> {
        vec![KeyValue {
            key: "span.name".into(),
            value: Some(AnyValue {
                value: Some(Value::StringValue(format!("{i}{}", "x".repeat(len)))),
            }),
            ..KeyValue::default()
        }]
    }

    /// Two resources, each with a sum and a histogram of `n` points.
    fn request(n: usize, len: usize) -> MetricsRequest {
        let resource = |name: &str| ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue {
                        value: Some(Value::StringValue(name.into())),
                    }),
                    ..KeyValue::default()
                }],
                ..Resource::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![
                    Metric {
                        name: "calls".into(),
                        data: Some(Data::Sum(Sum {
                            data_points: (0..n)
                                .map(|i| NumberDataPoint {
                                    attributes: attrs(i, len),
                                    value: Some(number_data_point::Value::AsInt(i as i64)),
                                    ..NumberDataPoint::default()
                                })
                                .collect(),
                            aggregation_temporality: 2,
                            is_monotonic: true,
                        })),
                        ..Metric::default()
                    },
                    Metric {
                        name: "duration".into(),
                        unit: "ms".into(),
                        data: Some(Data::Histogram(Histogram {
                            data_points: (0..n)
                                .map(|i| HistogramDataPoint {
                                    attributes: attrs(i, len),
                                    count: i as u64,
                                    bucket_counts: vec![i as u64; 17],
                                    ..HistogramDataPoint::default()
                                })
                                .collect(),
                            aggregation_temporality: 2,
                        })),
                        ..Metric::default()
                    },
                ],
                ..ScopeMetrics::default()
            }],
            ..ResourceMetrics::default()
        };
        MetricsRequest {
            resource_metrics: vec![resource("a"), resource("b")],
        }
    }

    /// (resource, metric name, point attributes) of every point, in order,
    /// with the metric's settings.
    fn points(r: &MetricsRequest) -> Vec<(Vec<u8>, String, String, Vec<u8>)> {
        let mut out = Vec::new();
        for rm in &r.resource_metrics {
            let res = rm.resource.as_ref().unwrap().encode_to_vec();
            for m in rm.scope_metrics.iter().flat_map(|s| &s.metrics) {
                let shell = Metric {
                    data: None,
                    ..m.clone()
                }
                .encode_to_vec();
                match &m.data {
                    Some(Data::Sum(s)) => out.extend(s.data_points.iter().map(|p| {
                        (
                            res.clone(),
                            m.name.clone(),
                            format!("{:?}{}", p, s.is_monotonic),
                            shell.clone(),
                        )
                    })),
                    Some(Data::Histogram(h)) => out.extend(h.data_points.iter().map(|p| {
                        (
                            res.clone(),
                            m.name.clone(),
                            format!("{:?}{}", p, h.aggregation_temporality),
                            shell.clone(),
                        )
                    })),
                    _ => unreachable!(),
                }
            }
        }
        out
    }

    #[test]
    fn derived_metrics_go_in_requests_under_the_bound() {
        let whole = request(3_000, 40);
        assert!(whole.encoded_len() > 256 << 10);
        let parts = split_metrics(whole.clone(), 64 << 10);
        assert!(parts.len() > 4);
        for p in &parts {
            assert!(p.encoded_len() <= 64 << 10, "{}", p.encoded_len());
        }
        let joined: Vec<_> = parts.iter().flat_map(points).collect();
        assert_eq!(joined, points(&whole));
        // A small request stays whole; a point larger than the bound goes
        // alone.
        let small = request(3, 10);
        assert_eq!(split_metrics(small.clone(), 64 << 10), vec![small]);
        let big = request(2, 100 << 10);
        let parts = split_metrics(big.clone(), 64 << 10);
        assert_eq!(parts.len(), 8);
        let joined: Vec<_> = parts.iter().flat_map(points).collect();
        assert_eq!(joined, points(&big));
    }
}

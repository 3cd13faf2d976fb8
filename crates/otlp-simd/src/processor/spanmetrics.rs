//! Calls and duration histograms from spans, after the Collector's
//! `spanmetrics` connector.
//!
//! Every span whose resource has `service.name` is counted (as in the
//! connector, spans of a resource without it are not) in a series keyed by
//! its resource and by `service.name` (its string value; `""` when the
//! value is not a string, as the connector reads it), `span.name`,
//! `span.kind` (`SPAN_KIND_SERVER`, ...),
//! `status.code` (`STATUS_CODE_UNSET`, ...) and the configured dimensions
//! (an attribute of the span, else of its resource, else the dimension's
//! default; a dimension without a value and without a default is left
//! out, as the connector does). Each series has two metrics:
//!
//! - `{namespace}.calls` (`calls` with an empty namespace): a monotonic
//!   cumulative sum of spans;
//! - `{namespace}.duration`: a cumulative explicit-bucket histogram of span
//!   durations in milliseconds (unit `ms`; seconds, `s`, with
//!   [`SpanMetricsBuilder::with_unit`]), with the connector's default
//!   bounds unless others are configured; left out with
//!   [`SpanMetricsBuilder::with_duration_histogram`]`(false)`.
//!
//! The namespace is `traces.span.metrics` by default, the connector's.
//! [`take_metrics`](Processor::take_metrics) reports the series: one
//! `ResourceMetrics` per resource, with the resource's attributes and
//! `time_unix_nano` the time of the call. Cumulative by default: the state
//! is not reset and `start_time_unix_nano` is the time the series was
//! created. With [`Temporality::Delta`] each report holds the spans since
//! the last one and the state starts empty after it, as the connector's
//! `aggregation_temporality: AGGREGATION_TEMPORALITY_DELTA`; a series'
//! point starts where its last one ended (or at its first span when it is
//! new or its last report time was forgotten). Idle series and resources
//! can be forgotten after a report
//! ([`SpanMetricsBuilder::with_series_expiration`],
//! [`SpanMetricsBuilder::with_metrics_expiration`]), as the connector's
//! `series_expiration` and `metrics_expiration`.
//!
//! A batch's durations are gathered into one column per series and counted
//! with the histogram kernel ([`crate::agg::histogram`]). The number of
//! series is capped ([`SpanMetricsBuilder::with_cardinality_limit`]): past
//! it, spans of new series are counted in one overflow series per resource
//! whose only attribute is `otel.metric.overflow = true`, as the connector's
//! `aggregation_cardinality_limit` does (the cap counts the series of all
//! resources together, where the connector's counts each resource's calls
//! and durations apart). The bytes the series and resources
//! keep are bounded too ([`SpanMetricsBuilder::with_max_bytes`], 16 MiB by
//! default): a span whose new series or resource would pass the bound is
//! counted as past the cardinality limit (the connector has no such
//! bound; a span name may be as long as a request).
//!
//! A span sampled with a threshold (`th` in its tracestate's `ot` member,
//! as [`ProbabilisticSampler`](super::ProbabilisticSampler) writes it)
//! counts as its adjusted count, `2^56 / (2^56 - th)` (2 at 50 %, 4 at 25
//! %), rounded up at random with the probability of the remainder, as the
//! connector extrapolates: in calls, in its bucket and, times its
//! duration, in the sum. Series are told apart by their attributes' text
//! (the connector's key), resources by their attributes whatever their
//! order; an unknown span kind or status code reads as `""`, as there.
//!
//! With [`SpanMetricsBuilder::with_exemplars`] each point carries the
//! trace and span ids and duration of the first traced spans of its
//! series since the last report, as the connector's `exemplars`;
//! [`SpanMetricsBuilder::with_sampling_method`] and
//! [`SpanMetricsBuilder::with_resource_key_attribute`] are the connector's
//! `enable_metrics_sampling_method` and `resource_metrics_key_attributes`.
//!
//! With [`SpanMetricsBuilder::with_event_dimension`], a third metric,
//! `{namespace}.events`, counts span events, as the connector's `events`.
//!
//! [`SpanMetricsBuilder::with_calls_dimension`] and
//! [`SpanMetricsBuilder::with_duration_dimension`] are the connector's
//! `calls_dimensions` and `histogram.dimensions`: with either, the calls
//! and the durations are counted in series of their own.
//!
//! Spans are never dropped. Differences from the connector: no exponential
//! histograms, no glob event, calls or duration dimensions, a cardinality cap and a
//! byte bound by default (the connector has no cap unless one is
//! configured), no `collector.instance.id` attribute (the connector's beta
//! feature gate adds it to every series: there is no Collector here), no
//! `resource_metrics_cache_size` (resources are bounded with the series
//! by the cap and the byte bound). Reports are taken when the
//! program running the chain asks (`otlp-exporter`'s exporters: at most
//! every 10 s while spans flow, and at each flush), not on a
//! `metrics_flush_interval` of the processor's own. A resource whose
//! series have all expired is not reported, where the connector reports
//! it with empty metrics until the resource expires; past the cap on
//! series, the longest idle of such resources are forgotten after a report
//! (the connector's resource cache of 1000 forgets the least recently
//! used). The delta start-time
//! cache keeps a 128-bit hash of each series' keys, where the connector
//! keeps the keys. An `aggregation_temporality` other than the two the
//! connector names is an error (the connector reads it as cumulative). The
//! connector reports a new cumulative `calls` series as 0 the first time
//! (so that Prometheus sees it start from 0) and its count from the next
//! report on; here the count is reported at once, since a report may be
//! the last (the exporters take one at shutdown).
//!
//! As the connector's `exclude_dimensions` and
//! `include_instrumentation_scope`:
//! [`SpanMetricsBuilder::with_exclude_dimension`] leaves standard
//! attributes out, [`SpanMetricsBuilder::with_include_instrumentation_scope`]
//! adds the scope's name and version for the scopes named. A dimension
//! named twice or like a standard attribute is refused, as there.
//! `tests/interop` sends the same spans through the connector and
//! compares the series.

use super::glob::Glob;
use super::tracestate::TraceState;
use super::{Outcome, Processor};
use crate::agg::{histogram_with, BoundsError, Buckets};
use crate::proto::collector::trace::v1::ExportTraceServiceRequest;
use crate::proto::common::v1::{any_value::Value, AnyValue, InstrumentationScope, KeyValue};
use crate::proto::metrics::v1::{
    exemplar, metric, number_data_point, AggregationTemporality, Exemplar, Histogram,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use crate::proto::resource::v1::Resource;
use crate::proto::trace::v1::{span, Span};
use crate::threshold::NEVER_SAMPLE;
use crate::Isa;
use prost::Message as _;
use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use thiserror::Error;

/// The connector's default histogram bounds, in milliseconds.
pub const DEFAULT_BUCKETS_MS: [f64; 16] = [
    2.0, 4.0, 6.0, 8.0, 10.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1000.0, 1400.0, 2000.0, 5000.0,
    10000.0, 15000.0,
];

/// Series kept at most by default.
pub const DEFAULT_CARDINALITY_LIMIT: usize = 10_000;

/// The default bound on the bytes the series and resources keep
/// ([`SpanMetricsBuilder::with_max_bytes`]).
pub const DEFAULT_MAX_BYTES: usize = 16 << 20;

/// A span-metrics setting that cannot work.
#[derive(Debug, Error, PartialEq)]
#[non_exhaustive]
pub enum SpanMetricsError {
    /// The histogram bounds are not increasing, or hold a NaN.
    #[error("histogram buckets: {0}")]
    Buckets(#[from] BoundsError),
    /// A cardinality limit of zero.
    #[error("the cardinality limit must be at least 1")]
    ZeroLimit,
    /// An empty dimension name.
    #[error("{0} must not be empty")]
    Empty(&'static str),
    /// A dimension named twice, or like a standard attribute.
    #[error("duplicate dimension name {0:?}")]
    Duplicate(String),
    /// A glob dimension that does not parse.
    #[error("invalid dimension glob {0:?}: {1}")]
    Glob(String, String),
    /// A glob dimension that matches a standard attribute or a named
    /// dimension.
    #[error("duplicate dimension name {0:?} conflicting with glob {1:?}")]
    GlobConflict(String, String),
    /// Delta temporality with a start-time cache of no entries.
    #[error("the timestamp cache size must be at least 1 with delta temporality")]
    ZeroTimestampCache,
}

/// How the reported values relate to earlier reports (the connector's
/// `aggregation_temporality`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Temporality {
    /// Each report counts every span since the series was created (the
    /// default).
    #[default]
    Cumulative,
    /// Each report counts the spans since the last report, and the state
    /// starts empty again after it.
    Delta,
}

/// The unit span durations are counted in (the connector's
/// `histogram.unit`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum DurationUnit {
    /// Milliseconds, `ms` (the default).
    #[default]
    Milliseconds,
    /// Seconds, `s`.
    Seconds,
}

impl DurationUnit {
    /// Nanoseconds in one unit.
    fn nanos(self) -> f64 {
        match self {
            DurationUnit::Milliseconds => 1e6,
            DurationUnit::Seconds => 1e9,
        }
    }

    /// The metric's unit.
    fn name(self) -> &'static str {
        match self {
            DurationUnit::Milliseconds => "ms",
            DurationUnit::Seconds => "s",
        }
    }

    /// A span's duration in this unit (0 when it ends before it starts).
    fn duration(self, span: &Span) -> f64 {
        span.end_time_unix_nano
            .saturating_sub(span.start_time_unix_nano) as f64
            / self.nanos()
    }
}

/// Start times of delta series kept at most by default (the connector's
/// `metric_timestamp_cache_size` with its default settings).
pub const DEFAULT_TIMESTAMP_CACHE_SIZE: usize = 10_000;

/// The standard attributes of every series, in order (the connector's).
const STANDARD: [&str; 4] = ["service.name", "span.name", "span.kind", "status.code"];

/// Builds a [`SpanMetrics`].
#[derive(Clone, Debug)]
#[must_use]
pub struct SpanMetricsBuilder {
    dimensions: Vec<(String, Option<String>)>,
    globs: Vec<String>,
    event_dimensions: Vec<(String, Option<String>)>,
    calls_dimensions: Vec<(String, Option<String>)>,
    duration_dimensions: Vec<(String, Option<String>)>,
    exclude: Vec<String>,
    scopes: Vec<String>,
    buckets: Vec<f64>,
    limit: usize,
    max_bytes: usize,
    namespace: String,
    isa: Option<Isa>,
    temporality: Temporality,
    metrics_expiration: Option<Duration>,
    series_expiration: Option<Duration>,
    timestamp_cache_size: usize,
    exemplars: usize,
    unit: DurationUnit,
    histogram: bool,
    sampling_method: bool,
    resource_key_attributes: Vec<String>,
}

impl SpanMetricsBuilder {
    /// Adds a dimension: the attribute `name` of the span (or of its
    /// resource), else `default`; without either the series has no such
    /// attribute.
    pub fn with_dimension(mut self, name: impl Into<String>, default: Option<String>) -> Self {
        self.dimensions.push((name.into(), default));
        self
    }

    /// Adds every attribute of the span, then of its resource (one the span
    /// does not have), whose key matches `pattern`, as the connector's
    /// `dimensions: [{glob: PATTERN}]`: in key order, after the named
    /// dimensions. See [`glob`](super::glob) for the syntax (`*` does not
    /// cross a `.`, `**` does).
    pub fn with_dimension_glob(mut self, pattern: impl Into<String>) -> Self {
        self.globs.push(pattern.into());
        self
    }

    /// Adds a dimension of the `{namespace}.events` metric, and so makes
    /// it, as the connector's `events: {enabled: true, dimensions: [...]}`:
    /// a sum of span events per series of the standard attributes, the
    /// dimensions and the event dimensions, each looked up in the span's
    /// attributes, then the event's, then the resource's, else `default`.
    pub fn with_event_dimension(
        mut self,
        name: impl Into<String>,
        default: Option<String>,
    ) -> Self {
        self.event_dimensions.push((name.into(), default));
        self
    }

    /// Adds a dimension of the `calls` metric only, as the connector's
    /// `calls_dimensions`: with calls- or duration-only dimensions, the
    /// two metrics have series of their own.
    pub fn with_calls_dimension(
        mut self,
        name: impl Into<String>,
        default: Option<String>,
    ) -> Self {
        self.calls_dimensions.push((name.into(), default));
        self
    }

    /// Adds a dimension of the `duration` metric only, as the connector's
    /// `histogram.dimensions`.
    pub fn with_duration_dimension(
        mut self,
        name: impl Into<String>,
        default: Option<String>,
    ) -> Self {
        self.duration_dimensions.push((name.into(), default));
        self
    }

    /// Leaves a standard attribute (`service.name`, `span.name`,
    /// `span.kind`, `status.code`) out of every series, as the connector's
    /// `exclude_dimensions` (other names are accepted and change nothing).
    pub fn with_exclude_dimension(mut self, name: impl Into<String>) -> Self {
        self.exclude.push(name.into());
        self
    }

    /// Adds `span.instrumentation.scope.name` (and `.version`, when not
    /// empty) to the series of spans of the scope `name`, as the
    /// connector's `include_instrumentation_scope`. Series are still told
    /// apart without them: spans of two such scopes that agree otherwise
    /// are one series, named after the first.
    pub fn with_include_instrumentation_scope(mut self, name: impl Into<String>) -> Self {
        self.scopes.push(name.into());
        self
    }

    /// The duration histogram's bounds in milliseconds (default
    /// [`DEFAULT_BUCKETS_MS`]).
    pub fn with_buckets_ms(mut self, bounds: Vec<f64>) -> Self {
        self.buckets = bounds;
        self
    }

    /// Most series kept; spans of further series go to the overflow series
    /// (default [`DEFAULT_CARDINALITY_LIMIT`]). With the overflow series of
    /// each resource, there are at most twice this many.
    pub fn with_cardinality_limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// A bound on the bytes the series' and resources' attributes take
    /// (default [`DEFAULT_MAX_BYTES`]): the cardinality limit bounds how
    /// many series there are, this how large they are (a span name or an
    /// attribute may be as long as a request). A span whose new series or
    /// resource would pass it is counted as past the cardinality limit.
    pub fn with_max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// The metric names' prefix (default `traces.span.metrics`); empty, the
    /// metrics are named `calls` and `duration`, as the connector names
    /// them.
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// The instruction set of the histogram kernel (default: detected).
    pub fn with_isa(mut self, isa: Isa) -> Self {
        self.isa = Some(isa);
        self
    }

    /// Cumulative (the default) or delta reports, as the connector's
    /// `aggregation_temporality`. With [`Temporality::Delta`] each report
    /// holds the spans since the last one and the series are forgotten
    /// after it, so the cardinality limit and the byte bound apply to each
    /// interval. A series' `start_time_unix_nano` is the time of its last
    /// report while that time is in the start-time cache
    /// ([`with_timestamp_cache_size`](Self::with_timestamp_cache_size)),
    /// else the time of its first span in the interval.
    pub fn with_temporality(mut self, temporality: Temporality) -> Self {
        self.temporality = temporality;
        self
    }

    /// Forgets a resource, and all its series, whose spans stopped coming
    /// for this long, as the connector's `metrics_expiration`: checked
    /// after each report, which still includes it (cumulative only; delta
    /// reports forget everything). Zero, as unset, never.
    pub fn with_metrics_expiration(mut self, after: Duration) -> Self {
        self.metrics_expiration = (!after.is_zero()).then_some(after);
        self
    }

    /// Forgets a series whose spans stopped coming for this long, as the
    /// connector's `series_expiration`: checked after each report, which
    /// still includes it (cumulative only). Zero, as unset, never.
    pub fn with_series_expiration(mut self, after: Duration) -> Self {
        self.series_expiration = (!after.is_zero()).then_some(after);
        self
    }

    /// Attaches up to `per_point` exemplars to each point, as the
    /// connector's `exemplars: {enabled: true, max_per_data_point: N}`
    /// (its default is 5): the trace and span ids and duration (ms) of the
    /// first spans of the series since the last report that have a trace
    /// id, stamped with the report's time; none on overflow series. Zero,
    /// the default, attaches none.
    pub fn with_exemplars(mut self, per_point: usize) -> Self {
        self.exemplars = per_point;
        self
    }

    /// The unit of the duration histogram (default milliseconds), as the
    /// connector's `histogram.unit`. The bounds are still given in
    /// milliseconds ([`with_buckets_ms`](Self::with_buckets_ms)) and
    /// converted as the connector converts its durations (whole
    /// nanoseconds over the unit).
    pub fn with_unit(mut self, unit: DurationUnit) -> Self {
        self.unit = unit;
        self
    }

    /// Whether the duration histogram is made (default true); false as the
    /// connector's `histogram.disable: true`: `calls` alone.
    pub fn with_duration_histogram(mut self, enabled: bool) -> Self {
        self.histogram = enabled;
        self
    }

    /// Adds `sampling.method` to every series: `extrapolated` for a span
    /// counted from a sampling threshold, else `counted` (spans of each
    /// kind in series of their own), as the connector's
    /// `enable_metrics_sampling_method`.
    pub fn with_sampling_method(mut self, enabled: bool) -> Self {
        self.sampling_method = enabled;
        self
    }

    /// Tells resources apart by this attribute (called once per name)
    /// rather than by all their attributes, as the connector's
    /// `resource_metrics_key_attributes`: resources that agree on these
    /// share their series, reported with the first one's attributes.
    pub fn with_resource_key_attribute(mut self, name: impl Into<String>) -> Self {
        self.resource_key_attributes.push(name.into());
        self
    }

    /// With delta temporality, how many series' last report times are kept
    /// to start their next points (default
    /// [`DEFAULT_TIMESTAMP_CACHE_SIZE`], as the connector's
    /// `metric_timestamp_cache_size`); the oldest are forgotten first, and
    /// a forgotten series' next point starts at its first span, which a
    /// reader converting to cumulative takes as a reset. Each entry takes
    /// a fixed 24 bytes (a 128-bit hash of the series and resource keys,
    /// and a time).
    pub fn with_timestamp_cache_size(mut self, entries: usize) -> Self {
        self.timestamp_cache_size = entries;
        self
    }

    /// Checks the settings.
    pub fn build(self) -> Result<SpanMetrics, SpanMetricsError> {
        if self.limit == 0 {
            return Err(SpanMetricsError::ZeroLimit);
        }
        if self.temporality == Temporality::Delta && self.timestamp_cache_size == 0 {
            return Err(SpanMetricsError::ZeroTimestampCache);
        }
        if self.dimensions.iter().any(|(n, _)| n.is_empty()) {
            return Err(SpanMetricsError::Empty("a dimension name"));
        }
        // The event, calls and duration dimensions are each checked on
        // their own, as there.
        for list in [
            &self.event_dimensions,
            &self.calls_dimensions,
            &self.duration_dimensions,
        ] {
            if list.iter().any(|(n, _)| n.is_empty()) {
                return Err(SpanMetricsError::Empty("a dimension name"));
            }
            let mut names: Vec<&str> = STANDARD.to_vec();
            names.push("collector.instance.id");
            for (n, _) in list {
                if names.contains(&n.as_str()) {
                    return Err(SpanMetricsError::Duplicate(n.clone()));
                }
                names.push(n);
            }
        }
        // As the connector validates them (with its `collector.instance.id`).
        let mut names: Vec<&str> = STANDARD.to_vec();
        names.push("collector.instance.id");
        for (n, _) in &self.dimensions {
            if names.contains(&n.as_str()) {
                return Err(SpanMetricsError::Duplicate(n.clone()));
            }
            names.push(n);
        }
        let mut globs = Vec::with_capacity(self.globs.len());
        for pattern in &self.globs {
            let glob = Glob::new(pattern)
                .map_err(|e| SpanMetricsError::Glob(pattern.clone(), e.to_string()))?;
            if let Some(name) = names.iter().find(|n| glob.is_match(n)) {
                return Err(SpanMetricsError::GlobConflict(
                    (*name).to_owned(),
                    pattern.clone(),
                ));
            }
            globs.push(glob);
        }
        let standard = STANDARD.map(|n| !self.exclude.iter().any(|e| e == n));
        let bounds = match self.unit {
            DurationUnit::Milliseconds => self.buckets,
            // As the connector: a bound in whole nanoseconds over the unit.
            unit => self
                .buckets
                .iter()
                .map(|&ms| (ms * 1e6).round() / unit.nanos())
                .collect(),
        };
        Ok(SpanMetrics {
            dimensions: self.dimensions,
            globs,
            event_dimensions: self.event_dimensions,
            calls_dimensions: self.calls_dimensions,
            duration_dimensions: self.duration_dimensions,
            standard,
            scopes: self.scopes,
            buckets: Buckets::new(bounds)?,
            limit: self.limit,
            max_bytes: self.max_bytes,
            bytes: 0,
            namespace: self.namespace,
            isa: self.isa.unwrap_or_else(Isa::detect),
            resources: Vec::new(),
            by_resource: HashMap::new(),
            series_count: 0,
            columns: Vec::new(),
            column_index: HashMap::new(),
            rng: seed(),
            temporality: self.temporality,
            metrics_expiration: self.metrics_expiration.map(nanos),
            series_expiration: self.series_expiration.map(nanos),
            timestamp_cache_size: self.timestamp_cache_size,
            delta_starts: HashMap::new(),
            delta_hash: (RandomState::new(), RandomState::new()),
            exemplars: self.exemplars,
            unit: self.unit,
            histogram: self.histogram,
            sampling_method: self.sampling_method,
            resource_key_attributes: self.resource_key_attributes,
        })
    }
}

/// One series: its attributes and what it counted.
#[derive(Clone, Debug)]
struct Series {
    attributes: Vec<KeyValue>,
    calls: u64,
    bucket_counts: Vec<u64>,
    sum_ms: f64,
    start: u64,
    /// When a span last counted in it.
    last_seen: u64,
    /// Exemplars since the last report.
    exemplars: Vec<Exemplar>,
    /// Which metrics it is a series of.
    kind: Kind,
    /// The bytes it adds to [`SpanMetrics::bytes`].
    bytes: usize,
}

/// The series of one resource.
#[derive(Debug)]
struct ResourceSeries {
    resource: Resource,
    series: Vec<Series>,
    by_key: HashMap<Vec<u8>, usize>,
    /// Index of the overflow series of each [`Kind`], once there is one.
    overflows: [Option<usize>; 4],
    /// When spans of it last came.
    last_seen: u64,
    /// The bytes it adds to [`SpanMetrics::bytes`] besides its series'.
    bytes: usize,
}

/// Span metrics; see the module docs.
#[derive(Debug)]
pub struct SpanMetrics {
    dimensions: Vec<(String, Option<String>)>,
    /// Glob dimensions.
    globs: Vec<Glob>,
    /// The events metric's own dimensions (none: no events metric).
    event_dimensions: Vec<(String, Option<String>)>,
    /// The calls and duration metrics' own dimensions (with either, each
    /// metric has series of its own).
    calls_dimensions: Vec<(String, Option<String>)>,
    duration_dimensions: Vec<(String, Option<String>)>,
    /// Which of [`STANDARD`] each series has.
    standard: [bool; 4],
    /// Scopes whose name (and version) are attributes of their series.
    scopes: Vec<String>,
    buckets: Buckets,
    limit: usize,
    max_bytes: usize,
    /// The bytes the series and resources keep: each series' key and
    /// attributes (encoded), each resource's key twice (it is its
    /// attributes too).
    bytes: usize,
    namespace: String,
    isa: Isa,
    resources: Vec<ResourceSeries>,
    by_resource: HashMap<Vec<u8>, usize>,
    series_count: usize,
    /// Per series of the current batch: (resource, series, durations).
    columns: Vec<Column>,
    column_index: HashMap<(usize, usize), usize>,
    /// The state of the generator that rounds extrapolated counts
    /// (xorshift64*, as the connector's).
    rng: u64,
    temporality: Temporality,
    /// Expiry of resources and of series, in nanoseconds.
    metrics_expiration: Option<u64>,
    series_expiration: Option<u64>,
    timestamp_cache_size: usize,
    /// Delta temporality: the last report time of each series reported,
    /// by a 128-bit hash of its resource and series keys.
    delta_starts: HashMap<u128, u64>,
    delta_hash: (RandomState, RandomState),
    /// Exemplars kept at most per series and report.
    exemplars: usize,
    unit: DurationUnit,
    /// Whether the duration histogram is made.
    histogram: bool,
    /// Whether series have `sampling.method`.
    sampling_method: bool,
    /// The attributes resources are told apart by (all when empty).
    resource_key_attributes: Vec<String>,
}

/// One series' spans of the current batch.
#[derive(Debug)]
struct Column {
    resource: usize,
    series: usize,
    /// Each span's duration, in order.
    durations: Vec<f64>,
    /// `(position in durations, count)` of the spans that count other than
    /// once (extrapolated from a sampling threshold).
    weighted: Vec<(usize, u64)>,
}

impl SpanMetrics {
    /// A builder with the connector's defaults.
    pub fn builder() -> SpanMetricsBuilder {
        SpanMetricsBuilder {
            dimensions: Vec::new(),
            globs: Vec::new(),
            event_dimensions: Vec::new(),
            calls_dimensions: Vec::new(),
            duration_dimensions: Vec::new(),
            exclude: Vec::new(),
            scopes: Vec::new(),
            buckets: DEFAULT_BUCKETS_MS.to_vec(),
            limit: DEFAULT_CARDINALITY_LIMIT,
            max_bytes: DEFAULT_MAX_BYTES,
            namespace: "traces.span.metrics".to_owned(),
            isa: None,
            temporality: Temporality::Cumulative,
            metrics_expiration: None,
            series_expiration: None,
            timestamp_cache_size: DEFAULT_TIMESTAMP_CACHE_SIZE,
            exemplars: 0,
            unit: DurationUnit::Milliseconds,
            histogram: true,
            sampling_method: false,
            resource_key_attributes: Vec::new(),
        }
    }

    /// How many series there are (overflow series included).
    pub fn series(&self) -> usize {
        self.series_count
    }

    /// Keeps a new resource, `key` being its attributes' key.
    fn new_resource(&mut self, resource: Resource, key: Vec<u8>, now: u64) -> usize {
        let bytes = key.len() + resource.encoded_len();
        self.bytes += bytes;
        self.resources.push(ResourceSeries {
            resource,
            series: Vec::new(),
            by_key: HashMap::new(),
            overflows: [None; 4],
            last_seen: now,
            bytes,
        });
        self.by_resource.insert(key, self.resources.len() - 1);
        self.resources.len() - 1
    }

    /// A resource's key: of the attributes named by
    /// [`SpanMetricsBuilder::with_resource_key_attribute`], or all.
    fn resource_key(&self, attrs: &[KeyValue]) -> Vec<u8> {
        if self.resource_key_attributes.is_empty() {
            return resource_key(attrs);
        }
        let kept: Vec<KeyValue> = attrs
            .iter()
            .filter(|kv| self.resource_key_attributes.contains(&kv.key))
            .cloned()
            .collect();
        resource_key(&kept)
    }

    /// The standard attributes' values of a span, in [`STANDARD`] order.
    fn standard<'a>(service: &'a str, span: &'a Span) -> [&'a str; 4] {
        [
            service,
            &span.name,
            kind_name(span.kind),
            status_name(span.status.as_ref().map_or(0, |s| s.code)),
        ]
    }

    /// A dimension's value for a span: the span's attribute, else the
    /// resource's, else the default.
    fn dimension<'a>(
        span: &'a Span,
        event: Option<&'a span::Event>,
        resource: &'a [KeyValue],
        name: &str,
        default: Option<&'a str>,
    ) -> Option<Cow<'a, AnyValue>> {
        find(&span.attributes, name)
            .or_else(|| event.and_then(|e| find(&e.attributes, name)))
            .or_else(|| find(resource, name))
            .map(Cow::Borrowed)
            .or_else(|| default.map(|d| Cow::Owned(string_value(d))))
    }

    /// A span's series key as the connector builds it (`buildKey`): the
    /// standard values (the first without a separator before it, the
    /// others each after a NUL) and, after a NUL each, `name:value` of the
    /// dimensions, values as text (pdata's `AsString`; an int 5 and a
    /// string "5" are one series, whose attributes are those of its first
    /// span). The scope is not part of it. Other kinds than
    /// [`Kind::Span`] start with their prefix and end with their own
    /// dimensions; with `event`, the dimensions are looked up in the
    /// event's attributes too.
    fn series_key(&self, of: &Of<'_>, kind: Kind, event: Option<&span::Event>) -> Vec<u8> {
        let Of {
            service,
            resource,
            span,
            method,
            ..
        } = *of;
        let mut key = Vec::new();
        key.extend(kind.prefix());
        for (i, value) in Self::standard(service, span).into_iter().enumerate() {
            if self.standard[i] {
                if i > 0 {
                    key.push(0);
                }
                key.extend_from_slice(value.as_bytes());
            }
        }
        let add = |key: &mut Vec<u8>, name: &str, value: &AnyValue| {
            key.push(0);
            key.extend_from_slice(name.as_bytes());
            key.push(b':');
            match value.value.as_ref() {
                // The common case, without a copy.
                Some(Value::StringValue(text)) => key.extend_from_slice(text.as_bytes()),
                _ => key.extend_from_slice(super::as_text(value).as_bytes()),
            }
        };
        for (name, default) in &self.dimensions {
            if let Some(value) = Self::dimension(span, event, resource, name, default.as_deref()) {
                add(&mut key, name, &value);
            }
        }
        for (name, value) in self.glob_matches(span, event, resource) {
            add(&mut key, name, &value);
        }
        for (name, default) in self.own_dimensions(kind) {
            if let Some(value) = Self::dimension(span, event, resource, name, default.as_deref()) {
                add(&mut key, name, &value);
            }
        }
        if let Some(extrapolated) = method {
            key.push(0);
            key.extend_from_slice(method_name(extrapolated).as_bytes());
        }
        key
    }

    /// The attributes of a new series, in order (made once per series);
    /// of `kind`, with `event` of the event's series of the events metric.
    fn series_attributes(
        &self,
        of: &Of<'_>,
        kind: Kind,
        event: Option<&span::Event>,
    ) -> Vec<KeyValue> {
        let Of {
            service,
            resource,
            scope,
            span,
            method,
        } = *of;
        let mut out = Vec::with_capacity(6 + self.dimensions.len());
        for (i, (name, value)) in STANDARD
            .iter()
            .zip(Self::standard(service, span))
            .enumerate()
        {
            if self.standard[i] {
                out.push(string_kv(name, value));
            }
        }
        if let Some(scope) = scope.filter(|s| !s.name.is_empty() && self.scopes.contains(&s.name)) {
            out.push(string_kv("span.instrumentation.scope.name", &scope.name));
            if !scope.version.is_empty() {
                out.push(string_kv(
                    "span.instrumentation.scope.version",
                    &scope.version,
                ));
            }
        }
        if let Some(extrapolated) = method {
            out.push(string_kv("sampling.method", method_name(extrapolated)));
        }
        // As pdata's `PutEmpty`: a name already there takes the new value
        // in its place.
        let put = |out: &mut Vec<KeyValue>, name: &str, value: AnyValue| match out
            .iter_mut()
            .find(|kv| kv.key == name)
        {
            Some(kv) => kv.value = Some(value),
            None => out.push(KeyValue {
                key: name.to_owned(),
                value: Some(value),
                ..KeyValue::default()
            }),
        };
        for (name, default) in &self.dimensions {
            if let Some(value) = Self::dimension(span, event, resource, name, default.as_deref()) {
                put(&mut out, name, value.into_owned());
            }
        }
        for (name, value) in self.glob_matches(span, event, resource) {
            put(&mut out, name, value);
        }
        for (name, default) in self.own_dimensions(kind) {
            if let Some(value) = Self::dimension(span, event, resource, name, default.as_deref()) {
                put(&mut out, name, value.into_owned());
            }
        }
        out
    }

    /// The dimensions of one metric's series only, after the common ones.
    fn own_dimensions(&self, kind: Kind) -> &[(String, Option<String>)] {
        match kind {
            Kind::Span => &[],
            Kind::Calls => &self.calls_dimensions,
            Kind::Duration => &self.duration_dimensions,
            Kind::Event => &self.event_dimensions,
        }
    }

    /// The attributes the glob dimensions take, as the connector visits
    /// them: the span's whose key matches, in key order, then those of the
    /// event (if any) and the resource the span does not have, in key
    /// order, the event's value first (a key listed twice is visited
    /// twice, with its first value, as pdata's map answers).
    fn glob_matches<'a>(
        &self,
        span: &'a Span,
        event: Option<&'a span::Event>,
        resource: &'a [KeyValue],
    ) -> Vec<(&'a str, AnyValue)> {
        let mut out = Vec::new();
        if self.globs.is_empty() {
            return out;
        }
        let matches = |key: &str| self.globs.iter().any(|g| g.is_match(key));
        let value = |attrs: &[KeyValue], key: &str| {
            attrs
                .iter()
                .find(|kv| kv.key == key)
                .and_then(|kv| kv.value.clone())
                .unwrap_or_default()
        };
        let sorted = |attrs: &'a [KeyValue]| {
            let mut keys: Vec<&'a str> = attrs.iter().map(|kv| kv.key.as_str()).collect();
            keys.sort_unstable();
            keys
        };
        for key in sorted(&span.attributes).into_iter().filter(|k| matches(k)) {
            out.push((key, value(&span.attributes, key)));
        }
        let on_span = |key: &str| span.attributes.iter().any(|kv| kv.key == key);
        let event_attrs: &[KeyValue] = event.map_or(&[], |e| &e.attributes);
        let (events, resources) = (sorted(event_attrs), sorted(resource));
        // The two sorted lists as one, a name in both taken from the event.
        let (mut e, mut r) = (0, 0);
        while e < events.len() || r < resources.len() {
            let (key, from_event) = match (events.get(e), resources.get(r)) {
                (Some(&ek), Some(&rk)) if ek < rk => (ek, true),
                (Some(&ek), Some(&rk)) if ek == rk => {
                    r += 1;
                    (ek, true)
                }
                (Some(&ek), None) => (ek, true),
                (_, Some(&rk)) => (rk, false),
                (None, None) => break,
            };
            if from_event {
                e += 1;
            } else {
                r += 1;
            }
            if !on_span(key) && matches(key) {
                let attrs = if from_event { event_attrs } else { resource };
                out.push((key, value(attrs, key)));
            }
        }
        out
    }

    /// The series of `key` in resource `r`, made with the attributes
    /// `attributes` makes if new; the resource's overflow series past the
    /// cardinality limit or the byte bound, or if `overflow`.
    fn series_index(
        &mut self,
        r: usize,
        key: Vec<u8>,
        attributes: impl FnOnce(&Self) -> Vec<KeyValue>,
        now: u64,
        overflow: bool,
    ) -> usize {
        // Each kind has an overflow series of its own.
        let kind = Kind::of(&key);
        // The spans of a resource not kept (`overflow`) go to the overflow
        // series, even those of a key the first resource has.
        if let Some(&i) = self.resources[r].by_key.get(&key).filter(|_| !overflow) {
            return i;
        }
        let attributes = attributes(self);
        // The key and the attributes as they are kept.
        let size = key.len() + attributes.iter().map(|kv| kv.encoded_len()).sum::<usize>();
        let buckets = self.buckets.len();
        let new = |attributes, bytes| Series {
            attributes,
            calls: 0,
            bucket_counts: vec![
                0;
                if self.histogram && kind.duration() {
                    buckets
                } else {
                    0
                }
            ],
            sum_ms: 0.0,
            start: now,
            last_seen: now,
            exemplars: Vec::new(),
            kind,
            bytes,
        };
        if overflow || self.series_count >= self.limit || self.bytes + size > self.max_bytes {
            let rs = &mut self.resources[r];
            let slot = &mut rs.overflows[kind as usize];
            if let Some(i) = *slot {
                return i;
            }
            *slot = Some(rs.series.len());
            // One overflow series per resource, beyond the cap: bounded by
            // the number of resources, which the cap on series bounds too.
            rs.series.push(new(
                vec![KeyValue {
                    key: "otel.metric.overflow".into(),
                    value: Some(AnyValue {
                        value: Some(Value::BoolValue(true)),
                    }),
                    ..KeyValue::default()
                }],
                0,
            ));
            self.series_count += 1;
            return rs.series.len() - 1;
        }
        self.bytes += size;
        let rs = &mut self.resources[r];
        rs.series.push(new(attributes, size));
        let i = rs.series.len() - 1;
        rs.by_key.insert(key, i);
        self.series_count += 1;
        i
    }
}

impl Processor for SpanMetrics {
    fn name(&self) -> &str {
        "span_metrics"
    }

    fn process(&mut self, batch: &mut ExportTraceServiceRequest) -> Outcome {
        self.process_at(batch, now_ns());
        Outcome::default()
    }

    fn take_metrics(&mut self, out: &mut Vec<ResourceMetrics>) {
        self.take_metrics_at(out, now_ns());
    }
}

impl SpanMetrics {
    /// Counts a batch's spans as of `now` (nanoseconds since the epoch).
    fn process_at(&mut self, batch: &ExportTraceServiceRequest, now: u64) {
        let mut columns = std::mem::take(&mut self.columns);
        // The last tracestate read and its count (the connector's
        // one-entry cache: spans of a trace come together).
        let mut cache = (String::new(), (1u64, false));
        for rs in &batch.resource_spans {
            let resource_attrs: &[KeyValue] = rs.resource.as_ref().map_or(&[], |r| &r.attributes);
            let Some(service) = service_name(resource_attrs) else {
                continue;
            };
            // A resource without spans adds nothing: it is not kept (else
            // requests of empty resources would grow the state unbounded).
            // A kept one is seen, as the connector sees it.
            if rs.scope_spans.iter().all(|s| s.spans.is_empty()) {
                if let Some(&r) = self.by_resource.get(&self.resource_key(resource_attrs)) {
                    self.resources[r].last_seen = now;
                }
                continue;
            }
            // Past the cap or the byte bound a new resource is not kept:
            // its spans go to the first resource's overflow series (a
            // resource without attributes when there is none yet). So
            // resources are created only below the cap, each with a series
            // at once, and there are at most twice the cap's series in all.
            let key = self.resource_key(resource_attrs);
            let (r, overflow) = match self.by_resource.get(&key) {
                Some(&r) => (r, false),
                None if self.series_count >= self.limit
                    || self.bytes + key.len() + kept_len(resource_attrs) > self.max_bytes =>
                {
                    let r = if self.resources.is_empty() {
                        // Keyed apart from every real resource (whose
                        // key, with key attributes, may be empty).
                        self.new_resource(Resource::default(), OVERFLOW_KEY.to_vec(), now)
                    } else {
                        0
                    };
                    (r, true)
                }
                None => {
                    // The connector keeps the attributes alone.
                    let resource = Resource {
                        attributes: resource_attrs.to_vec(),
                        ..Resource::default()
                    };
                    (self.new_resource(resource, key, now), false)
                }
            };
            for (ss, span) in rs
                .scope_spans
                .iter()
                .flat_map(|ss| ss.spans.iter().map(move |span| (ss, span)))
            {
                let (n, extrapolated) = if span.trace_state.is_empty() {
                    (1, false)
                } else if span.trace_state == cache.0 {
                    cache.1
                } else {
                    let n = adjusted_count(&span.trace_state, &mut self.rng);
                    cache = (span.trace_state.clone(), n);
                    n
                };
                let method = self.sampling_method.then_some(extrapolated);
                let d = self.unit.duration(span);
                // Calls and durations in one series, or (with calls- or
                // duration-only dimensions) each in series of its own: the
                // calls counted here, the durations in a column.
                let split =
                    !(self.calls_dimensions.is_empty() && self.duration_dimensions.is_empty());
                let of = Of {
                    service,
                    resource: resource_attrs,
                    scope: ss.scope.as_ref(),
                    span,
                    method,
                };
                for kind in [Kind::Span, Kind::Calls, Kind::Duration] {
                    if (kind == Kind::Span) == split {
                        continue;
                    }
                    let key = self.series_key(&of, kind, None);
                    let s = self.series_index(
                        r,
                        key,
                        |m| m.series_attributes(&of, kind, None),
                        now,
                        overflow,
                    );
                    if self.exemplars > 0 {
                        self.add_exemplar(r, s, span, d);
                    }
                    if kind == Kind::Calls {
                        let series = &mut self.resources[r].series[s];
                        series.calls = series.calls.wrapping_add(n);
                        series.last_seen = now;
                    } else {
                        push(&mut columns, &mut self.column_index, r, s, d, n);
                    }
                }
                // The events metric: each event counted as its span is.
                if !self.event_dimensions.is_empty() {
                    for event in &span.events {
                        let key = self.series_key(&of, Kind::Event, Some(event));
                        let s = self.series_index(
                            r,
                            key,
                            |m| m.series_attributes(&of, Kind::Event, Some(event)),
                            now,
                            overflow,
                        );
                        if self.exemplars > 0 {
                            self.add_exemplar(r, s, span, d);
                        }
                        let series = &mut self.resources[r].series[s];
                        series.calls = series.calls.wrapping_add(n);
                        series.last_seen = now;
                    }
                }
            }
        }
        for c in &mut columns {
            let rs = &mut self.resources[c.resource];
            rs.last_seen = now;
            let series = &mut rs.series[c.series];
            series.last_seen = now;
            // In span order, as the connector adds them up.
            let mut weighted = c.weighted.iter().peekable();
            for (i, &d) in c.durations.iter().enumerate() {
                let n = match weighted.peek() {
                    Some(&&(at, n)) if at == i => {
                        weighted.next();
                        n
                    }
                    _ => 1,
                };
                series.calls = series.calls.wrapping_add(n);
                // Exact for n = 1: d itself.
                series.sum_ms += d * n as f64;
            }
            if self.histogram {
                histogram_with(
                    self.isa,
                    &c.durations,
                    &self.buckets,
                    &mut series.bucket_counts,
                );
            }
            for &(at, n) in c.weighted.iter().filter(|_| self.histogram) {
                // Counted once by the kernel.
                let b = &mut series.bucket_counts[self.buckets.index(c.durations[at])];
                *b = b.wrapping_add(n - 1);
            }
            c.durations.clear();
            c.weighted.clear();
        }
        columns.clear();
        self.column_index.clear();
        self.columns = columns;
    }

    /// Keeps `span` as an exemplar of series `s` of resource `r`, if it has
    /// a trace id, the series is not an overflow series and has room.
    fn add_exemplar(&mut self, r: usize, s: usize, span: &Span, duration: f64) {
        if span.trace_id.len() != 16 || span.trace_id.iter().all(|&b| b == 0) {
            return;
        }
        let rs = &mut self.resources[r];
        if rs.overflows.contains(&Some(s)) {
            return;
        }
        let series = &mut rs.series[s];
        if series.exemplars.len() < self.exemplars {
            series.exemplars.push(Exemplar {
                trace_id: span.trace_id.clone(),
                // An all-zero span id is none, as pdata writes it.
                span_id: if span.span_id.len() == 8 && span.span_id.iter().any(|&b| b != 0) {
                    span.span_id.clone()
                } else {
                    Vec::new()
                },
                value: Some(exemplar::Value::AsDouble(duration)),
                ..Exemplar::default()
            });
        }
    }

    /// Reports the series as of `now`, then forgets what delta temporality
    /// or expiry forgets.
    fn take_metrics_at(&mut self, out: &mut Vec<ResourceMetrics>, now: u64) {
        let delta = self.temporality == Temporality::Delta;
        // Delta: each series' key in the start-time cache.
        let mut delta_keys: Vec<Vec<u128>> = Vec::new();
        if delta {
            delta_keys = self
                .resources
                .iter()
                .map(|rs| vec![0; rs.series.len()])
                .collect();
            for (rkey, &r) in &self.by_resource {
                let rs = &self.resources[r];
                for (skey, &s) in &rs.by_key {
                    delta_keys[r][s] = hash128(&self.delta_hash, rkey, skey);
                }
                for kind in Kind::ALL {
                    if let Some(s) = rs.overflows[kind as usize] {
                        // The kind's prefix, then a byte no key has there.
                        let key: Vec<u8> = kind
                            .prefix()
                            .into_iter()
                            .chain(OVERFLOW_KEY.iter().copied())
                            .collect();
                        delta_keys[r][s] = hash128(&self.delta_hash, rkey, &key);
                    }
                }
            }
        }
        let temporality = if delta {
            AggregationTemporality::Delta
        } else {
            AggregationTemporality::Cumulative
        } as i32;
        for (r, rs) in self.resources.iter().enumerate() {
            if rs.series.is_empty() {
                continue;
            }
            let starts: Vec<u64> = rs
                .series
                .iter()
                .enumerate()
                .map(|(s, series)| match delta_keys.get(r) {
                    Some(keys) => self
                        .delta_starts
                        .get(&keys[s])
                        .copied()
                        .unwrap_or(series.start),
                    None => series.start,
                })
                .collect();
            // The calls, or (`events`) the events, of the series that count
            // them.
            let counts = |events: bool| -> Vec<NumberDataPoint> {
                rs.series
                    .iter()
                    .zip(&starts)
                    .filter(|(s, _)| {
                        if events {
                            s.kind == Kind::Event
                        } else {
                            s.kind.calls()
                        }
                    })
                    .map(|(s, &start)| NumberDataPoint {
                        attributes: s.attributes.clone(),
                        start_time_unix_nano: start,
                        time_unix_nano: now,
                        value: Some(number_data_point::Value::AsInt(s.calls as i64)),
                        exemplars: stamped(&s.exemplars, now),
                        ..NumberDataPoint::default()
                    })
                    .collect()
            };
            let calls = counts(false);
            let mut metrics = vec![Metric {
                name: metric_name(&self.namespace, "calls"),
                data: Some(metric::Data::Sum(Sum {
                    data_points: calls,
                    aggregation_temporality: temporality,
                    is_monotonic: true,
                })),
                ..Metric::default()
            }];
            if self.histogram {
                let durations = rs
                    .series
                    .iter()
                    .zip(&starts)
                    .filter(|(s, _)| s.kind.duration())
                    .map(|(s, &start)| HistogramDataPoint {
                        attributes: s.attributes.clone(),
                        start_time_unix_nano: start,
                        time_unix_nano: now,
                        count: s.calls,
                        sum: Some(s.sum_ms),
                        bucket_counts: s.bucket_counts.clone(),
                        explicit_bounds: self.buckets.bounds().to_vec(),
                        exemplars: stamped(&s.exemplars, now),
                        ..HistogramDataPoint::default()
                    })
                    .collect();
                metrics.push(Metric {
                    name: metric_name(&self.namespace, "duration"),
                    unit: self.unit.name().into(),
                    data: Some(metric::Data::Histogram(Histogram {
                        data_points: durations,
                        aggregation_temporality: temporality,
                    })),
                    ..Metric::default()
                });
            }
            if !self.event_dimensions.is_empty() {
                metrics.push(Metric {
                    name: metric_name(&self.namespace, "events"),
                    data: Some(metric::Data::Sum(Sum {
                        data_points: counts(true),
                        aggregation_temporality: temporality,
                        is_monotonic: true,
                    })),
                    ..Metric::default()
                });
            }
            out.push(ResourceMetrics {
                resource: Some(rs.resource.clone()),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(InstrumentationScope {
                        name: "spanmetricsconnector".into(),
                        ..InstrumentationScope::default()
                    }),
                    metrics,
                    ..ScopeMetrics::default()
                }],
                ..ResourceMetrics::default()
            });
        }
        // Exemplars are of one report only.
        if self.exemplars > 0 {
            for series in self.resources.iter_mut().flat_map(|rs| &mut rs.series) {
                series.exemplars.clear();
            }
        }
        if delta {
            for key in delta_keys.into_iter().flatten() {
                self.delta_starts.insert(key, now);
            }
            bound_oldest(&mut self.delta_starts, self.timestamp_cache_size);
            // The connector's purge: the next interval starts empty.
            self.resources.clear();
            self.by_resource.clear();
            self.series_count = 0;
            self.bytes = 0;
            return;
        }
        let expired =
            |after: Option<u64>, seen: u64| after.is_some_and(|a| now.saturating_sub(seen) >= a);
        if self.series_expiration.is_some() {
            for rs in &mut self.resources {
                let gone = retain_indexed(&mut rs.series, |s| {
                    !expired(self.series_expiration, s.last_seen)
                });
                if gone.removed.is_empty() {
                    continue;
                }
                for s in &gone.removed {
                    self.bytes -= s.bytes;
                }
                self.series_count -= gone.removed.len();
                rs.by_key.retain(|_, i| gone.remap(i));
                for slot in &mut rs.overflows {
                    *slot = slot
                        .filter(|i| gone.new_index[*i] != usize::MAX)
                        .map(|i| gone.new_index[i]);
                }
            }
        }
        if self.metrics_expiration.is_some() {
            let gone = retain_indexed(&mut self.resources, |rs| {
                !expired(self.metrics_expiration, rs.last_seen)
            });
            for rs in &gone.removed {
                self.bytes -= rs.bytes + rs.series.iter().map(|s| s.bytes).sum::<usize>();
                self.series_count -= rs.series.len();
            }
            if !gone.removed.is_empty() {
                self.by_resource.retain(|_, i| gone.remap(i));
            }
        }
        // Resources left without series are not bounded by the cap on
        // series: past the cap, the longest idle of them are forgotten.
        let excess = self.resources.len().saturating_sub(self.limit);
        if excess > 0 {
            let mut empty: Vec<(u64, usize)> = (self.resources.iter().enumerate())
                .filter(|(_, rs)| rs.series.is_empty())
                .map(|(r, rs)| (rs.last_seen, r))
                .collect();
            empty.sort_unstable();
            let mut forget = vec![false; self.resources.len()];
            for &(_, r) in empty.iter().take(excess) {
                forget[r] = true;
            }
            let mut r = 0;
            let gone = retain_indexed(&mut self.resources, |_| {
                r += 1;
                !forget[r - 1]
            });
            for rs in &gone.removed {
                self.bytes -= rs.bytes;
            }
            if !gone.removed.is_empty() {
                self.by_resource.retain(|_, i| gone.remap(i));
            }
        }
    }
}

/// Exemplars stamped with the report's time.
fn stamped(exemplars: &[Exemplar], now: u64) -> Vec<Exemplar> {
    exemplars
        .iter()
        .map(|e| Exemplar {
            time_unix_nano: now,
            ..e.clone()
        })
        .collect()
}

/// A span and what its series are made of.
#[derive(Clone, Copy)]
struct Of<'a> {
    service: &'a str,
    resource: &'a [KeyValue],
    scope: Option<&'a InstrumentationScope>,
    span: &'a Span,
    /// `sampling.method` (extrapolated or not), when series have it.
    method: Option<bool>,
}

/// Which metrics a series is of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Calls and duration (without calls- or duration-only dimensions).
    Span = 0,
    /// Calls only.
    Calls = 1,
    /// Duration only.
    Duration = 2,
    /// The events metric (its `calls` count events).
    Event = 3,
}

impl Kind {
    /// The first byte of the series keys of this kind (none for
    /// [`Kind::Span`]: no span series key starts with a byte from 0xfc up,
    /// as keys are UTF-8 text).
    fn prefix(self) -> Option<u8> {
        match self {
            Kind::Span => None,
            Kind::Calls => Some(0xfd),
            Kind::Duration => Some(0xfc),
            Kind::Event => Some(0xfe),
        }
    }

    /// The kind of a series key.
    fn of(key: &[u8]) -> Kind {
        match key.first() {
            Some(0xfd) => Kind::Calls,
            Some(0xfc) => Kind::Duration,
            Some(0xfe) => Kind::Event,
            _ => Kind::Span,
        }
    }

    /// Whether its series count calls (else durations or events only).
    fn calls(self) -> bool {
        matches!(self, Kind::Span | Kind::Calls)
    }

    /// Whether its series hold a duration histogram.
    fn duration(self) -> bool {
        matches!(self, Kind::Span | Kind::Duration)
    }

    const ALL: [Kind; 4] = [Kind::Span, Kind::Calls, Kind::Duration, Kind::Event];
}

/// The delta start-time cache's key of the overflow series (no series key
/// is this: keys are UTF-8 text), and the resource key of the resource
/// made for spans past the cap before any other (no resource key is this:
/// a lone byte with its high bit set is no whole length-delimited
/// encoding).
const OVERFLOW_KEY: &[u8] = &[0xff];

/// A 128-bit hash of a resource key and a series key.
fn hash128(states: &(RandomState, RandomState), resource: &[u8], series: &[u8]) -> u128 {
    (u128::from(states.0.hash_one((resource, series))) << 64)
        | u128::from(states.1.hash_one((resource, series)))
}

/// Forgets the oldest entries (the smallest times) of `cache` past `max`.
fn bound_oldest(cache: &mut HashMap<u128, u64>, max: usize) {
    let Some(excess) = cache.len().checked_sub(max).filter(|&e| e > 0) else {
        return;
    };
    let mut times: Vec<u64> = cache.values().copied().collect();
    let (_, &mut cut, _) = times.select_nth_unstable(excess - 1);
    // Every entry older than `cut`, then entries at `cut` until `excess`.
    let older = times.iter().filter(|&&t| t < cut).count();
    let mut at_cut = excess - older;
    cache.retain(|_, t| {
        if *t < cut {
            false
        } else if *t == cut && at_cut > 0 {
            at_cut -= 1;
            false
        } else {
            true
        }
    });
}

/// What [`retain_indexed`] removed, and where the kept items moved.
struct Removed<T> {
    removed: Vec<T>,
    /// Each old index's new one, `usize::MAX` for a removed item.
    new_index: Vec<usize>,
}

impl<T> Removed<T> {
    /// Moves an index to its item's new place; false if it was removed.
    fn remap(&self, i: &mut usize) -> bool {
        match self.new_index[*i] {
            usize::MAX => false,
            n => {
                *i = n;
                true
            }
        }
    }
}

/// Keeps the items `keep` says, in order; returns the others and the
/// kept ones' new indexes.
fn retain_indexed<T>(items: &mut Vec<T>, mut keep: impl FnMut(&T) -> bool) -> Removed<T> {
    let mut new_index = Vec::with_capacity(items.len());
    let mut kept = Vec::with_capacity(items.len());
    let mut removed = Vec::new();
    for item in items.drain(..) {
        if keep(&item) {
            new_index.push(kept.len());
            kept.push(item);
        } else {
            new_index.push(usize::MAX);
            removed.push(item);
        }
    }
    *items = kept;
    Removed { removed, new_index }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Adds a span's duration, counted `n` times, to the batch's column of
/// series `(r, s)`.
fn push(
    columns: &mut Vec<Column>,
    index: &mut HashMap<(usize, usize), usize>,
    r: usize,
    s: usize,
    d: f64,
    n: u64,
) {
    let i = *index.entry((r, s)).or_insert_with(|| {
        columns.push(Column {
            resource: r,
            series: s,
            durations: Vec::new(),
            weighted: Vec::new(),
        });
        columns.len() - 1
    });
    let c = &mut columns[i];
    if n != 1 {
        c.weighted.push((c.durations.len(), n));
    }
    c.durations.push(d);
}

/// A span's count as the connector extrapolates it from the `th` of its
/// tracestate's `ot` member (`GetStochasticAdjustedCount`): `2^56 / (2^56 -
/// th)`, rounded up with the probability of the remainder; 1 without a
/// threshold or with a tracestate that does not parse; and whether it was
/// extrapolated from a threshold (the connector's `sampling.method`).
fn adjusted_count(trace_state: &str, rng: &mut u64) -> (u64, bool) {
    if !trace_state.contains("ot=") {
        return (1, false);
    }
    let Some((_, th)) = TraceState::parse(trace_state).ok().and_then(|t| t.th) else {
        return (1, false);
    };
    let denominator = NEVER_SAMPLE - th;
    if denominator == 0 {
        return (1, false);
    }
    let (q, r) = (NEVER_SAMPLE / denominator, NEVER_SAMPLE % denominator);
    if r != 0 && xorshift64star(rng) % denominator < r {
        (q + 1, true)
    } else {
        (q, true)
    }
}

/// The connector's `sampling.method` value.
fn method_name(extrapolated: bool) -> &'static str {
    if extrapolated {
        "extrapolated"
    } else {
        "counted"
    }
}

/// The connector's generator: xorshift64*.
fn xorshift64star(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x << 12;
    x ^= x >> 25;
    x ^= x << 27;
    *state = x;
    x.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

/// A non-zero seed from the clock, as the connector's.
fn seed() -> u64 {
    now_ns() | 1
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// `namespace.name`, or `name` alone without a namespace (the connector's
/// `buildMetricName`).
fn metric_name(namespace: &str, name: &str) -> String {
    if namespace.is_empty() {
        name.to_owned()
    } else {
        format!("{namespace}.{name}")
    }
}

/// The resource's `service.name` as the connector reads it: `None` when the
/// attribute is absent, `""` when its value is not a string.
fn service_name(resource: &[KeyValue]) -> Option<&str> {
    let kv = resource.iter().find(|kv| kv.key == "service.name")?;
    Some(match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s,
        _ => "",
    })
}

fn find<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
}

fn string_value(s: &str) -> AnyValue {
    AnyValue {
        value: Some(Value::StringValue(s.to_owned())),
    }
}

fn string_kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(string_value(value)),
        ..KeyValue::default()
    }
}

/// The encoded size of a resource kept with the attributes `attrs` (the
/// key may be of fewer of them).
fn kept_len(attrs: &[KeyValue]) -> usize {
    attrs
        .iter()
        .map(|kv| {
            let n = kv.encoded_len();
            1 + prost::length_delimiter_len(n) + n
        })
        .sum()
}

/// A key that tells attribute lists apart (their protobuf encoding).
/// A resource's key: its attributes, typed, in key order (the connector
/// hashes them so, whatever their order in the request).
fn resource_key(attrs: &[KeyValue]) -> Vec<u8> {
    let mut sorted: Vec<&KeyValue> = attrs.iter().collect();
    sorted.sort_by(|a, b| a.key.cmp(&b.key));
    let mut out = Vec::new();
    for kv in sorted {
        // A `Vec` grows as needed: encoding cannot fail.
        let _ = kv.encode_length_delimited(&mut out);
    }
    out
}

fn kind_name(kind: i32) -> &'static str {
    match kind {
        1 => "SPAN_KIND_INTERNAL",
        2 => "SPAN_KIND_SERVER",
        3 => "SPAN_KIND_CLIENT",
        4 => "SPAN_KIND_PRODUCER",
        5 => "SPAN_KIND_CONSUMER",
        0 => "SPAN_KIND_UNSPECIFIED",
        // The connector's `SpanKindStr` of an unknown kind.
        _ => "",
    }
}

fn status_name(code: i32) -> &'static str {
    match code {
        1 => "STATUS_CODE_OK",
        2 => "STATUS_CODE_ERROR",
        0 => "STATUS_CODE_UNSET",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::processor::{string_attr, Chain};
    use crate::proto::trace::v1::{ResourceSpans, ScopeSpans, Status};
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn span(name: &str, kind: i32, code: i32, ms: u64, method: Option<&str>) -> Span {
        Span {
            name: name.into(),
            kind,
            status: (code != 0).then(|| Status {
                code,
                ..Status::default()
            }),
            start_time_unix_nano: 1_000,
            end_time_unix_nano: 1_000 + ms * 1_000_000 + 17,
            attributes: method
                .map(|m| vec![string_attr("http.method", m)])
                .unwrap_or_default(),
            ..Span::default()
        }
    }

    fn batch(groups: Vec<(&str, Vec<Span>)>) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: groups
                .into_iter()
                .map(|(service, spans)| ResourceSpans {
                    resource: Some(Resource {
                        attributes: vec![string_attr("service.name", service)],
                        ..Resource::default()
                    }),
                    scope_spans: vec![ScopeSpans {
                        spans,
                        ..ScopeSpans::default()
                    }],
                    ..ResourceSpans::default()
                })
                .collect(),
        }
    }

    /// (resource service, series attributes as text) -> (calls, buckets, sum).
    type Table = BTreeMap<(String, String), (u64, Vec<u64>, f64)>;

    fn table(metrics: &[ResourceMetrics]) -> Table {
        let mut t = Table::new();
        for rm in metrics {
            let service = format!("{:?}", rm.resource.as_ref().unwrap().attributes);
            let ms = &rm.scope_metrics[0].metrics;
            let (Some(metric::Data::Sum(calls)), Some(metric::Data::Histogram(h))) =
                (&ms[0].data, &ms[1].data)
            else {
                panic!("calls then duration");
            };
            assert_eq!(ms[1].unit, "ms");
            for (c, d) in calls.data_points.iter().zip(&h.data_points) {
                assert_eq!(c.attributes, d.attributes);
                let Some(number_data_point::Value::AsInt(n)) = c.value else {
                    panic!("an int count")
                };
                assert_eq!(n as u64, d.count);
                let key = (service.clone(), format!("{:?}", c.attributes));
                t.insert(key, (d.count, d.bucket_counts.clone(), d.sum.unwrap()));
            }
        }
        t
    }

    /// The (calls, buckets, sum) of the overflow series in `t`.
    fn overflow_of(t: &Table) -> &(u64, Vec<u64>, f64) {
        t.iter()
            .find(|((_, a), _)| a.contains("otel.metric.overflow"))
            .map(|(_, v)| v)
            .expect("an overflow series")
    }

    /// Span by span, straight from the definition.
    fn reference(req: &ExportTraceServiceRequest, m: &SpanMetrics) -> Table {
        let mut t = Table::new();
        let buckets = Buckets::new(DEFAULT_BUCKETS_MS.to_vec()).unwrap();
        for rs in &req.resource_spans {
            let resource = &rs.resource.as_ref().unwrap().attributes;
            let Some(service) = service_name(resource) else {
                continue;
            };
            for s in rs.scope_spans.iter().flat_map(|s| &s.spans) {
                let attrs = m.series_attributes(
                    &Of {
                        service,
                        resource,
                        scope: None,
                        span: s,
                        method: None,
                    },
                    Kind::Span,
                    None,
                );
                let key = (format!("{resource:?}"), format!("{attrs:?}"));
                let e = t
                    .entry(key)
                    .or_insert_with(|| (0, vec![0; buckets.len()], 0.0));
                let d = DurationUnit::Milliseconds.duration(s);
                // Thresholds of probabilities 1, 1/2, 1/4, 1/16 (exact
                // counts); anything else counts once.
                let n = match s.trace_state.as_str() {
                    "ot=th:8" | "x=1,ot=th:8;rv:00000000000001" => 2,
                    "ot=th:c" => 4,
                    "ot=th:f" => 16,
                    _ => 1,
                };
                e.0 += n;
                e.1[buckets.index(d)] += n;
                e.2 += d * n as f64;
            }
        }
        t
    }

    #[test]
    fn counts_calls_and_durations_per_series() {
        let mut m = SpanMetrics::builder()
            .with_dimension("http.method", Some("GET".into()))
            .build()
            .unwrap();
        let mut req = batch(vec![
            (
                "cart",
                vec![
                    span("GET /cart", 2, 0, 3, None),
                    span("GET /cart", 2, 0, 120, Some("GET")),
                    span("GET /cart", 2, 2, 7, None),
                    span("POST /cart", 2, 0, 20_000, Some("POST")),
                ],
            ),
            ("db", vec![span("SELECT", 3, 0, 1, None)]),
        ]);
        let before = req.clone();
        let out = m.process(&mut req);
        assert_eq!(out, Outcome::default());
        assert_eq!(req, before, "spans pass unchanged");
        let mut metrics = Vec::new();
        m.take_metrics(&mut metrics);
        assert_eq!(metrics.len(), 2);
        assert_eq!(
            metrics[0].scope_metrics[0].metrics[0].name,
            "traces.span.metrics.calls"
        );
        let t = table(&metrics);
        assert_eq!(t.len(), 4);
        let cart_get = t
            .iter()
            .find(|((_, a), _)| {
                a.contains("GET /cart") && a.contains("STATUS_CODE_UNSET") && a.contains("\"GET\"")
            })
            .unwrap()
            .1;
        // 3 ms in (2, 4], 120 ms in (100, 200].
        assert_eq!(cart_get.0, 2);
        assert_eq!(cart_get.1[1], 1);
        assert_eq!(cart_get.1[7], 1);
        let post = t.iter().find(|((_, a), _)| a.contains("POST")).unwrap().1;
        assert_eq!(post.1[16], 1, "20 s lands above the last bound");
        // Cumulative: a second batch adds to the same series.
        let mut again = batch(vec![("db", vec![span("SELECT", 3, 0, 1, None)])]);
        m.process(&mut again);
        let mut metrics = Vec::new();
        m.take_metrics(&mut metrics);
        let t = table(&metrics);
        assert_eq!(
            t.iter()
                .find(|((_, a), _)| a.contains("SELECT"))
                .unwrap()
                .1
                 .0,
            2
        );
    }

    #[test]
    fn past_the_cap_spans_go_to_the_overflow_series() {
        let mut m = SpanMetrics::builder()
            .with_cardinality_limit(2)
            .build()
            .unwrap();
        let names = ["a", "b", "c", "d", "a"];
        let mut req = batch(vec![(
            "svc",
            names.iter().map(|n| span(n, 1, 0, 1, None)).collect(),
        )]);
        m.process(&mut req);
        let mut other = batch(vec![("other", vec![span("x", 1, 0, 1, None)])]);
        m.process(&mut other);
        assert_eq!(m.series(), 3);
        let mut metrics = Vec::new();
        m.take_metrics(&mut metrics);
        let t = table(&metrics);
        let overflow = overflow_of(&t);
        // c, d, and the other resource's x.
        assert_eq!(overflow.0, 3);
        assert_eq!(t.values().map(|v| v.0).sum::<u64>(), 6);
    }

    #[test]
    fn spans_of_a_resource_past_the_cap_stay_out_of_the_first_ones_series() {
        let mut m = SpanMetrics::builder()
            .with_cardinality_limit(1)
            .with_exemplars(1)
            .build()
            .unwrap();
        m.process_at(
            &batch(vec![("svc", vec![span("x", 1, 0, 1, None)])]),
            SECOND,
        );
        // Another resource of the same service past the cap, with a span
        // of the same name: not the first resource's series.
        let mut other = batch(vec![(
            "svc",
            vec![Span {
                trace_id: vec![7; 16],
                span_id: vec![7; 8],
                ..span("x", 1, 0, 1, None)
            }],
        )]);
        other.resource_spans[0]
            .resource
            .as_mut()
            .unwrap()
            .attributes
            .push(string_attr("host.name", "b"));
        m.process_at(&other, SECOND);
        let mut out = Vec::new();
        m.take_metrics_at(&mut out, 2 * SECOND);
        let t = table(&out);
        assert_eq!(overflow_of(&t).0, 1, "{t:?}");
        assert_eq!(t.values().map(|v| v.0).sum::<u64>(), 2);
        let Some(metric::Data::Sum(calls)) = &out[0].scope_metrics[0].metrics[0].data else {
            panic!()
        };
        assert!(calls.data_points.iter().all(|p| p.exemplars.is_empty()));
    }

    #[test]
    fn resources_told_apart_by_some_attributes_stay_within_the_byte_bound() {
        let mut m = SpanMetrics::builder()
            .with_max_bytes(64 << 10)
            .with_resource_key_attribute("service.name")
            .build()
            .unwrap();
        let mut big = batch(vec![("svc", vec![span("op", 1, 0, 1, None)])]);
        big.resource_spans[0]
            .resource
            .as_mut()
            .unwrap()
            .attributes
            .push(string_attr("blob", &"y".repeat(1 << 20)));
        m.process(&mut big);
        check_state(&m);
        assert!(m.bytes <= 64 << 10, "{}", m.bytes);
        assert_eq!(m.series(), 1);
    }

    #[test]
    fn resources_left_without_series_count_against_the_cap() {
        let mut m = SpanMetrics::builder()
            .with_cardinality_limit(4)
            .with_series_expiration(Duration::from_secs(1))
            .build()
            .unwrap();
        for i in 0..20u64 {
            let name = format!("svc{i}");
            m.process_at(
                &batch(vec![(&name, vec![span("x", 1, 0, 1, None)])]),
                i * 10 * SECOND,
            );
            let mut out = Vec::new();
            m.take_metrics_at(&mut out, (i * 10 + 5) * SECOND);
            // Counted in its own resource's series, not an overflow one.
            let t = table(&out);
            assert_eq!(t.values().map(|v| v.0).sum::<u64>(), 1);
            assert!(t.keys().all(|k| k.0.contains(&name)), "{t:?}");
            check_state(&m);
            assert!(m.resources.len() <= 4, "{} resources", m.resources.len());
        }
    }

    #[test]
    fn resources_without_a_service_or_spans_add_nothing() {
        let mut m = SpanMetrics::builder()
            .with_cardinality_limit(10)
            .build()
            .unwrap();
        let resource = |attributes, spans| ResourceSpans {
            resource: Some(Resource {
                attributes,
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        };
        // Hostile requests: resources of their own without spans.
        for i in 0..10_000 {
            let mut req = ExportTraceServiceRequest {
                resource_spans: vec![resource(
                    vec![string_attr("service.name", &format!("s{i}"))],
                    vec![],
                )],
            };
            m.process(&mut req);
        }
        assert!(m.resources.is_empty() && m.by_resource.is_empty());
        // Spans of a resource without `service.name` are not counted; a
        // `service.name` that is not a string counts as "".
        let number = KeyValue {
            key: "service.name".into(),
            value: Some(AnyValue {
                value: Some(Value::IntValue(7)),
            }),
            ..KeyValue::default()
        };
        let mut req = ExportTraceServiceRequest {
            resource_spans: vec![
                resource(
                    vec![string_attr("host", "a")],
                    vec![span("x", 1, 0, 1, None)],
                ),
                resource(vec![number], vec![span("y", 1, 0, 1, None)]),
            ],
        };
        let before = req.clone();
        assert_eq!(m.process(&mut req), Outcome::default());
        assert_eq!(req, before, "spans pass unchanged");
        let mut metrics = Vec::new();
        m.take_metrics(&mut metrics);
        let t = table(&metrics);
        assert_eq!(t.len(), 1);
        let ((_, attrs), (calls, _, _)) = t.iter().next().unwrap();
        assert_eq!(*calls, 1);
        assert!(
            attrs.contains(r#"StringValue("")"#) && attrs.contains(r#"StringValue("y")"#),
            "{attrs}"
        );
    }

    #[test]
    fn long_names_and_resources_stay_within_the_byte_bound() {
        let mut m = SpanMetrics::builder()
            .with_max_bytes(64 << 10)
            .build()
            .unwrap();
        // 64 spans with names of 16 KiB each, all distinct: four fit.
        let long = |i: usize| format!("{i:04}{}", "x".repeat(16 << 10));
        let mut req = batch(vec![(
            "svc",
            (0..64).map(|i| span(&long(i), 1, 0, 1, None)).collect(),
        )]);
        m.process(&mut req);
        assert!(m.bytes <= 64 << 10, "{}", m.bytes);
        // A resource larger than the bound: its spans are counted in an
        // overflow series of the first resource.
        let mut big = batch(vec![("other", vec![span("op", 1, 0, 1, None)])]);
        big.resource_spans[0]
            .resource
            .as_mut()
            .unwrap()
            .attributes
            .push(string_attr("blob", &"y".repeat(1 << 20)));
        m.process(&mut big);
        assert!(m.bytes <= 64 << 10, "{}", m.bytes);
        assert_eq!(m.resources.len(), 1);
        let mut metrics = Vec::new();
        m.take_metrics(&mut metrics);
        let t = table(&metrics);
        let overflow = overflow_of(&t);
        assert_eq!(
            t.values().map(|v| v.0).sum::<u64>(),
            65,
            "every span counted"
        );
        assert_eq!(overflow.0, 65 - (m.series() as u64 - 1));
        // The first resource to come, larger than the bound, is kept
        // without its attributes.
        let mut m = SpanMetrics::builder().with_max_bytes(1024).build().unwrap();
        m.process(&mut big);
        assert_eq!(m.resources.len(), 1);
        assert!(m.resources[0].resource.attributes.is_empty());
        assert_eq!(m.series(), 1);
    }

    #[test]
    fn included_scope_names_count_against_the_byte_bound() {
        // The scope is in the attributes, not in the key: its size counts.
        let mut m = SpanMetrics::builder()
            .with_max_bytes(64 << 10)
            .with_include_instrumentation_scope("lib")
            .build()
            .unwrap();
        for i in 0..64 {
            let mut req = batch(vec![("svc", vec![span(&format!("op{i}"), 1, 0, 1, None)])]);
            req.resource_spans[0].scope_spans[0].scope = Some(InstrumentationScope {
                name: "lib".into(),
                version: "v".repeat(16 << 10),
                ..InstrumentationScope::default()
            });
            m.process(&mut req);
        }
        assert!(m.bytes <= 64 << 10, "{}", m.bytes);
        let mut metrics = Vec::new();
        m.take_metrics(&mut metrics);
        let t = table(&metrics);
        assert_eq!(
            t.values().map(|v| v.0).sum::<u64>(),
            64,
            "every span counted"
        );
        assert!(overflow_of(&t).0 > 0);
    }

    #[test]
    fn sampled_spans_count_as_their_adjusted_count() {
        let mut rng = 7;
        assert_eq!(adjusted_count("", &mut rng), (1, false));
        assert_eq!(adjusted_count("ot=th:8", &mut rng), (2, true));
        assert_eq!(adjusted_count("ot=th:0", &mut rng), (1, true));
        assert_eq!(
            adjusted_count("ot=th:ffffffffffffff", &mut rng),
            (1 << 56, true)
        );
        assert_eq!(
            adjusted_count("ot=th:8;rv:zz", &mut rng),
            (1, false),
            "does not parse"
        );
        assert_eq!(adjusted_count("ot=rv:00000000000001", &mut rng), (1, false));
        // A probability of 2/3 (th:55555555555555): 2^56 / (2^56 - th) is
        // 1.5 and a little, counted 1 or 2, 1.5 on average.
        let th = "ot=th:55555555555555";
        let denominator = NEVER_SAMPLE - 0x55_5555_5555_5555;
        let want = NEVER_SAMPLE as f64 / denominator as f64;
        let counts: Vec<u64> = (0..200_000)
            .map(|_| adjusted_count(th, &mut rng).0)
            .collect();
        assert!(counts.iter().all(|n| (1..=2).contains(n)));
        let mean = counts.iter().sum::<u64>() as f64 / 200_000.0;
        assert!((mean - want).abs() < 0.006, "{mean} against {want}");
    }

    #[test]
    fn settings_are_checked() {
        assert_eq!(
            SpanMetrics::builder()
                .with_cardinality_limit(0)
                .build()
                .unwrap_err(),
            SpanMetricsError::ZeroLimit
        );
        assert!(matches!(
            SpanMetrics::builder()
                .with_buckets_ms(vec![5.0, 1.0])
                .build(),
            Err(SpanMetricsError::Buckets(_))
        ));
        assert_eq!(
            SpanMetrics::builder()
                .with_dimension("", None)
                .build()
                .unwrap_err(),
            SpanMetricsError::Empty("a dimension name")
        );
        // Named twice, or like a standard attribute, as the connector
        // refuses them.
        for names in [&["a", "a"][..], &["span.kind"], &["collector.instance.id"]] {
            let mut b = SpanMetrics::builder();
            for n in names {
                b = b.with_dimension(*n, None);
            }
            assert!(
                matches!(b.build(), Err(SpanMetricsError::Duplicate(_))),
                "{names:?}"
            );
        }
        // Without a namespace the names have no prefix, as the connector's.
        let mut m = SpanMetrics::builder().with_namespace("").build().unwrap();
        m.process(&mut batch(vec![("svc", vec![span("op", 1, 1, 1, None)])]));
        let mut out = Vec::new();
        m.take_metrics(&mut out);
        let names: Vec<&str> = out[0].scope_metrics[0]
            .metrics
            .iter()
            .map(|m| m.name.as_str())
            .collect();
        assert_eq!(names, ["calls", "duration"]);
    }

    #[test]
    fn excluded_dimensions_and_included_scopes() {
        let mut m = SpanMetrics::builder()
            .with_exclude_dimension("span.name")
            .with_exclude_dimension("status.code")
            .with_exclude_dimension("collector.instance.id")
            .with_include_instrumentation_scope("web")
            .build()
            .unwrap();
        let mut req = batch(vec![(
            "svc",
            vec![span("GET /a", 2, 0, 1, None), span("GET /b", 2, 2, 1, None)],
        )]);
        let scope = |name: &str, version: &str| {
            Some(InstrumentationScope {
                name: name.into(),
                version: version.into(),
                ..InstrumentationScope::default()
            })
        };
        req.resource_spans[0].scope_spans[0].scope = scope("web", "1.2");
        let mut other = req.resource_spans[0].scope_spans[0].clone();
        other.scope = scope("db", "");
        req.resource_spans[0].scope_spans.push(other);
        m.process(&mut req);
        let mut out = Vec::new();
        m.take_metrics(&mut out);
        let t = table(&out);
        // Name and status left out: one series, counted under the first
        // span's scope (the scope is not part of the key).
        assert_eq!(t.len(), 1, "{t:?}");
        let ((_, attrs), (calls, _, _)) = t.iter().next().unwrap();
        assert_eq!(*calls, 4);
        assert!(attrs.contains("span.kind"), "{attrs}");
        assert!(
            !attrs.contains("span.name") && !attrs.contains("status.code"),
            "{attrs}"
        );
        assert!(
            attrs.contains("span.instrumentation.scope.name") && attrs.contains("1.2"),
            "{attrs}"
        );
    }

    #[test]
    fn a_chain_hands_the_metrics_on() {
        let mut chain = Chain::new().with(SpanMetrics::builder().build().unwrap());
        assert!(chain.take_metrics().is_none());
        chain.process(&mut batch(vec![("svc", vec![span("op", 1, 1, 1, None)])]));
        let req = chain.take_metrics().unwrap();
        assert_eq!(req.resource_metrics.len(), 1);
    }

    /// Checks the state's bookkeeping: the byte and series counts, and the
    /// indexes of the key maps.
    fn check_state(m: &SpanMetrics) {
        let bytes: usize = m
            .resources
            .iter()
            .map(|rs| rs.bytes + rs.series.iter().map(|s| s.bytes).sum::<usize>())
            .sum();
        assert_eq!(m.bytes, bytes);
        let count: usize = m.resources.iter().map(|rs| rs.series.len()).sum();
        assert_eq!(m.series_count, count);
        let mut rs_seen: Vec<usize> = m.by_resource.values().copied().collect();
        rs_seen.sort_unstable();
        assert_eq!(rs_seen, (0..m.resources.len()).collect::<Vec<_>>());
        for rs in &m.resources {
            let mut seen: Vec<usize> = rs
                .by_key
                .values()
                .copied()
                .chain(rs.overflows.iter().flatten().copied())
                .collect();
            seen.sort_unstable();
            assert_eq!(seen, (0..rs.series.len()).collect::<Vec<_>>());
        }
    }

    /// (resource, series attributes) -> (calls, start, time).
    type Points = BTreeMap<(String, String), (u64, u64, u64)>;

    /// The points of a report, and the temporality of every metric.
    fn points(metrics: &[ResourceMetrics]) -> (Points, Vec<i32>) {
        let mut t = BTreeMap::new();
        let mut temporalities = Vec::new();
        for rm in metrics {
            let resource = format!("{:?}", rm.resource.as_ref().unwrap().attributes);
            let ms = &rm.scope_metrics[0].metrics;
            let (Some(metric::Data::Sum(calls)), Some(metric::Data::Histogram(h))) =
                (&ms[0].data, &ms[1].data)
            else {
                panic!("calls then duration");
            };
            temporalities.push(calls.aggregation_temporality);
            temporalities.push(h.aggregation_temporality);
            for (c, d) in calls.data_points.iter().zip(&h.data_points) {
                assert_eq!(
                    (c.start_time_unix_nano, c.time_unix_nano),
                    (d.start_time_unix_nano, d.time_unix_nano)
                );
                t.insert(
                    (resource.clone(), format!("{:?}", c.attributes)),
                    (d.count, d.start_time_unix_nano, d.time_unix_nano),
                );
            }
        }
        (t, temporalities)
    }

    const SECOND: u64 = 1_000_000_000;

    #[test]
    fn delta_reports_the_spans_since_the_last_report() {
        let mut m = SpanMetrics::builder()
            .with_temporality(Temporality::Delta)
            .build()
            .unwrap();
        let a = batch(vec![(
            "svc",
            vec![span("a", 1, 0, 1, None), span("b", 1, 0, 1, None)],
        )]);
        m.process_at(&a, 10 * SECOND);
        let mut out = Vec::new();
        m.take_metrics_at(&mut out, 20 * SECOND);
        let (t, temporalities) = points(&out);
        assert!(temporalities
            .iter()
            .all(|&x| x == AggregationTemporality::Delta as i32));
        assert_eq!(t.len(), 2);
        assert!(
            t.values().all(|&p| p == (1, 10 * SECOND, 20 * SECOND)),
            "{t:?}"
        );
        assert_eq!(m.series(), 0, "the state starts empty again");
        check_state(&m);
        // Nothing since: nothing to report.
        let mut out = Vec::new();
        m.take_metrics_at(&mut out, 25 * SECOND);
        assert!(out.is_empty());
        // `a` again and a new `c`: `a` starts where its last point ended,
        // `c` at its first span.
        let b = batch(vec![(
            "svc",
            vec![
                span("a", 1, 0, 1, None),
                span("c", 1, 0, 1, None),
                span("a", 1, 0, 1, None),
            ],
        )]);
        m.process_at(&b, 30 * SECOND);
        let mut out = Vec::new();
        m.take_metrics_at(&mut out, 40 * SECOND);
        let (t, _) = points(&out);
        let of = |name: &str| {
            *t.iter()
                .find(|((_, a), _)| a.contains(&format!("{name:?}")))
                .unwrap()
                .1
        };
        assert_eq!(of("a"), (2, 20 * SECOND, 40 * SECOND));
        assert_eq!(of("c"), (1, 30 * SECOND, 40 * SECOND));
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn delta_start_times_forget_the_oldest_series_first() {
        let mut m = SpanMetrics::builder()
            .with_temporality(Temporality::Delta)
            .with_timestamp_cache_size(2)
            .build()
            .unwrap();
        let mut report = |names: &[&str], at: u64| {
            let spans = names.iter().map(|n| span(n, 1, 0, 1, None)).collect();
            m.process_at(&batch(vec![("svc", spans)]), at);
            let mut out = Vec::new();
            m.take_metrics_at(&mut out, at + SECOND);
            points(&out).0
        };
        report(&["a"], 0);
        report(&["b", "c"], 10 * SECOND);
        // The cache holds b and c (reported at 11 s); a was forgotten.
        let t = report(&["a", "b"], 20 * SECOND);
        let starts: Vec<u64> = t.values().map(|p| p.1).collect();
        assert_eq!(starts, [20 * SECOND, 11 * SECOND], "{t:?}");
        assert_eq!(m.delta_starts.len(), 2);
    }

    #[test]
    fn exemplars_are_the_first_traced_spans_of_each_report() {
        let mut m = SpanMetrics::builder()
            .with_exemplars(2)
            .with_cardinality_limit(1)
            .build()
            .unwrap();
        let traced = |name: &str, id: u8, ms: u64| Span {
            trace_id: vec![id; 16],
            span_id: vec![id; 8],
            ..span(name, 1, 0, ms, None)
        };
        let untraced = Span {
            trace_id: vec![0; 16],
            ..span("a", 1, 0, 9, None)
        };
        m.process_at(
            &batch(vec![(
                "svc",
                vec![
                    untraced,
                    traced("a", 1, 5),
                    traced("a", 2, 7),
                    traced("a", 3, 1),
                    traced("b", 4, 1),
                ],
            )]),
            SECOND,
        );
        let mut out = Vec::new();
        m.take_metrics_at(&mut out, 2 * SECOND);
        let ms = &out[0].scope_metrics[0].metrics;
        let (Some(metric::Data::Sum(calls)), Some(metric::Data::Histogram(h))) =
            (&ms[0].data, &ms[1].data)
        else {
            panic!("calls then duration");
        };
        let a = calls
            .data_points
            .iter()
            .position(|p| format!("{:?}", p.attributes).contains("\"a\""))
            .unwrap();
        let want: Vec<(Vec<u8>, Vec<u8>, f64, u64)> = [(1u8, 5.0), (2, 7.0)]
            .iter()
            .map(|&(id, ms)| (vec![id; 16], vec![id; 8], ms + 17e-6, 2 * SECOND))
            .collect();
        let got = |e: &[Exemplar]| -> Vec<(Vec<u8>, Vec<u8>, f64, u64)> {
            e.iter()
                .map(|e| {
                    let Some(exemplar::Value::AsDouble(v)) = e.value else {
                        panic!("{e:?}")
                    };
                    (e.trace_id.clone(), e.span_id.clone(), v, e.time_unix_nano)
                })
                .collect()
        };
        assert_eq!(got(&calls.data_points[a].exemplars), want);
        assert_eq!(got(&h.data_points[a].exemplars), want);
        // `b` went to the overflow series (past the cap of 1): none there.
        assert!(calls.data_points[1 - a].exemplars.is_empty());
        // The next report has only what came since.
        m.process_at(&batch(vec![("svc", vec![traced("a", 9, 1)])]), 3 * SECOND);
        let mut out = Vec::new();
        m.take_metrics_at(&mut out, 4 * SECOND);
        let Some(metric::Data::Sum(calls)) = &out[0].scope_metrics[0].metrics[0].data else {
            panic!()
        };
        assert_eq!(calls.data_points[a].exemplars.len(), 1);
        assert_eq!(calls.data_points[a].exemplars[0].trace_id, vec![9; 16]);
    }

    #[test]
    fn seconds_sampling_method_resource_keys_and_no_histogram() {
        // Seconds, `sampling.method`, resources told apart by `env` only.
        let mut m = SpanMetrics::builder()
            .with_unit(DurationUnit::Seconds)
            .with_buckets_ms(vec![250.0, 2000.0])
            .with_sampling_method(true)
            .with_resource_key_attribute("env")
            .build()
            .unwrap();
        assert_eq!(m.buckets.bounds(), [0.25, 2.0]);
        let mut sampled = span("a", 1, 0, 1500, None);
        sampled.trace_state = "ot=th:8".into();
        let mut req = batch(vec![
            ("one", vec![span("a", 1, 0, 1500, None), sampled]),
            ("two", vec![span("a", 1, 0, 1, None)]),
        ]);
        for rs in &mut req.resource_spans {
            rs.resource
                .as_mut()
                .unwrap()
                .attributes
                .push(string_attr("env", "prod"));
        }
        m.process_at(&req, SECOND);
        let mut out = Vec::new();
        m.take_metrics_at(&mut out, 2 * SECOND);
        assert_eq!(out.len(), 1, "one resource: the first one's attributes");
        assert!(format!("{:?}", out[0].resource).contains("\"one\""));
        let ms = &out[0].scope_metrics[0].metrics;
        assert_eq!(ms[1].unit, "s");
        let Some(metric::Data::Histogram(h)) = &ms[1].data else {
            panic!()
        };
        let methods: Vec<(String, String, u64, Vec<u64>)> = h
            .data_points
            .iter()
            .map(|p| {
                let text =
                    |k: &str| format!("{:?}", find(&p.attributes, k).and_then(|v| v.value.clone()));
                (
                    text("service.name"),
                    text("sampling.method"),
                    p.count,
                    p.bucket_counts.clone(),
                )
            })
            .collect();
        let s = |t: &str| format!("{:?}", Some(Value::StringValue(t.into())));
        assert_eq!(
            methods,
            [
                (s("one"), s("counted"), 1, vec![0, 1, 0]),
                (s("one"), s("extrapolated"), 2, vec![0, 2, 0]),
                (s("two"), s("counted"), 1, vec![1, 0, 0]),
            ]
        );
        // No histogram: calls alone.
        let mut m = SpanMetrics::builder()
            .with_duration_histogram(false)
            .build()
            .unwrap();
        m.process_at(&req, SECOND);
        let mut out = Vec::new();
        m.take_metrics_at(&mut out, 2 * SECOND);
        assert!(out.iter().all(|rm| rm.scope_metrics[0].metrics.len() == 1));
        assert_eq!(table_calls(&out), 4, "the sampled span counts twice");
    }

    /// The calls of a report in all.
    fn table_calls(metrics: &[ResourceMetrics]) -> i64 {
        metrics
            .iter()
            .flat_map(|rm| &rm.scope_metrics[0].metrics)
            .filter_map(|m| match &m.data {
                Some(metric::Data::Sum(s)) => Some(&s.data_points),
                _ => None,
            })
            .flatten()
            .map(|p| match p.value {
                Some(number_data_point::Value::AsInt(n)) => n,
                _ => 0,
            })
            .sum()
    }

    #[test]
    fn glob_dimensions_take_matching_attributes_in_key_order() {
        let m = SpanMetrics::builder()
            .with_dimension("region", None)
            .with_dimension_glob("http.*")
            .with_dimension_glob("k8s.**")
            .build()
            .unwrap();
        let mut s = span("op", 2, 0, 1, None);
        s.attributes = vec![
            string_attr("http.route", "/a"),
            string_attr("http.method", "GET"),
            string_attr("http.request.header", "x"),
            string_attr("region", "eu"),
        ];
        let resource = vec![
            string_attr("service.name", "svc"),
            string_attr("k8s.pod.name", "p1"),
            string_attr("http.method", "resource's"),
            string_attr("k8s.node", "n1"),
        ];
        let of = Of {
            service: "svc",
            resource: &resource,
            scope: None,
            span: &s,
            method: None,
        };
        let keys: Vec<String> = m
            .series_attributes(&of, Kind::Span, None)
            .into_iter()
            .map(|kv| {
                format!(
                    "{}={}",
                    kv.key,
                    super::super::as_text(kv.value.as_ref().unwrap())
                )
            })
            .collect();
        assert_eq!(
            keys,
            [
                "service.name=svc",
                "span.name=op",
                "span.kind=SPAN_KIND_SERVER",
                "status.code=STATUS_CODE_UNSET",
                "region=eu",
                // The span's, in key order; `http.request.header` has a `.`
                // that `*` does not cross.
                "http.method=GET",
                "http.route=/a",
                // Then the resource's the span does not have.
                "k8s.node=n1",
                "k8s.pod.name=p1",
            ]
        );
        let key = m.series_key(&of, Kind::Span, None);
        assert!(key.ends_with(
            b"\0region:eu\0http.method:GET\0http.route:/a\0k8s.node:n1\0k8s.pod.name:p1"
        ));
        // Settings the connector refuses.
        for (b, want) in [
            (
                SpanMetrics::builder().with_dimension_glob("[b-a]"),
                "invalid dimension glob",
            ),
            (
                SpanMetrics::builder().with_dimension_glob("service.*"),
                "conflicting with glob",
            ),
            (
                SpanMetrics::builder()
                    .with_dimension("env", None)
                    .with_dimension_glob("e?v"),
                "conflicting with glob",
            ),
        ] {
            let err = b.build().unwrap_err().to_string();
            assert!(err.contains(want), "{err}");
        }
    }

    #[test]
    fn span_events_are_counted_per_series_of_the_events_metric() {
        let mut m = SpanMetrics::builder()
            .with_dimension("region", None)
            .with_event_dimension("exception.type", Some("none".into()))
            .with_cardinality_limit(6)
            .build()
            .unwrap();
        let event = |name: &str, attrs: Vec<KeyValue>| span::Event {
            name: name.into(),
            attributes: attrs,
            ..span::Event::default()
        };
        let mut a = span("op", 2, 2, 1, None);
        a.trace_state = "ot=th:8".into();
        a.events = vec![
            event(
                "exception",
                vec![
                    string_attr("exception.type", "IOError"),
                    string_attr("region", "eu"),
                ],
            ),
            event("exception", vec![string_attr("exception.type", "IOError")]),
            event("log", vec![]),
        ];
        // The span's own `region` comes before the event's.
        let mut b = span("op", 2, 2, 1, None);
        b.attributes = vec![string_attr("region", "us")];
        b.events = vec![event(
            "exception",
            vec![
                string_attr("exception.type", "IOError"),
                string_attr("region", "eu"),
            ],
        )];
        let mut req = batch(vec![("svc", vec![a, b])]);
        req.resource_spans[0]
            .resource
            .as_mut()
            .unwrap()
            .attributes
            .push(string_attr("region", "ap"));
        m.process_at(&req, SECOND);
        check_state(&m);
        let mut out = Vec::new();
        m.take_metrics_at(&mut out, 2 * SECOND);
        let ms = &out[0].scope_metrics[0].metrics;
        assert_eq!(ms.len(), 3);
        assert_eq!(ms[2].name, "traces.span.metrics.events");
        let Some(metric::Data::Sum(events)) = &ms[2].data else {
            panic!("{:?}", ms[2])
        };
        let mut got: Vec<(String, i64)> = events
            .data_points
            .iter()
            .map(|p| {
                let text = |k: &str| {
                    find(&p.attributes, k)
                        .map(super::super::as_text)
                        .unwrap_or_default()
                };
                let Some(number_data_point::Value::AsInt(n)) = p.value else {
                    panic!()
                };
                (format!("{} {}", text("region"), text("exception.type")), n)
            })
            .collect();
        got.sort();
        // Span `a` counts twice (a threshold of 1/2): its event with an
        // `eu` region, its other exception and its log event (with the
        // resource's `ap` and the default type); span `b` once.
        assert_eq!(
            got,
            [
                ("ap IOError".to_owned(), 2),
                ("ap none".to_owned(), 2),
                ("eu IOError".to_owned(), 2),
                ("us IOError".to_owned(), 1),
            ]
        );
        // Calls are still counted per span.
        let Some(metric::Data::Sum(calls)) = &ms[0].data else {
            panic!()
        };
        assert_eq!(calls.data_points.len(), 2);
        // Past the cap (6 series: 2 of calls, 4 of events), events of new
        // series go to the events' overflow series.
        let mut c = span("other", 2, 2, 1, None);
        c.events = vec![event("exception", vec![])];
        m.process_at(&batch(vec![("svc", vec![c])]), 3 * SECOND);
        check_state(&m);
        let mut out = Vec::new();
        m.take_metrics_at(&mut out, 4 * SECOND);
        let ms = &out[0].scope_metrics[0].metrics;
        let overflowed = |i: usize| {
            let Some(metric::Data::Sum(sum)) = &ms[i].data else {
                panic!()
            };
            sum.data_points
                .iter()
                .filter(|p| {
                    p.attributes
                        .iter()
                        .any(|kv| kv.key == "otel.metric.overflow")
                })
                .count()
        };
        assert_eq!((overflowed(0), overflowed(2)), (1, 1));
        // Event dimensions are checked as the connector checks them.
        let err = SpanMetrics::builder()
            .with_event_dimension("span.name", None)
            .build()
            .unwrap_err();
        assert_eq!(err, SpanMetricsError::Duplicate("span.name".into()));
    }

    #[test]
    fn calls_and_durations_apart_with_their_own_dimensions() {
        let mut m = SpanMetrics::builder()
            .with_calls_dimension("region", None)
            .with_duration_dimension("code", Some("none".into()))
            .build()
            .unwrap();
        let mut spans = Vec::new();
        for (region, code, ms) in [("eu", "200", 3), ("us", "200", 120), ("eu", "500", 3)] {
            let mut s = span("op", 2, 0, ms, None);
            s.attributes = vec![string_attr("region", region), string_attr("code", code)];
            spans.push(s);
        }
        m.process_at(&batch(vec![("svc", spans)]), SECOND);
        check_state(&m);
        let mut out = Vec::new();
        m.take_metrics_at(&mut out, 2 * SECOND);
        let ms = &out[0].scope_metrics[0].metrics;
        let (Some(metric::Data::Sum(calls)), Some(metric::Data::Histogram(h))) =
            (&ms[0].data, &ms[1].data)
        else {
            panic!("calls then duration");
        };
        let text = |attrs: &[KeyValue], k: &str| find(attrs, k).map(super::super::as_text);
        let mut c: Vec<(Option<String>, Option<String>, i64)> = calls
            .data_points
            .iter()
            .map(|p| {
                let Some(number_data_point::Value::AsInt(n)) = p.value else {
                    panic!()
                };
                (
                    text(&p.attributes, "region"),
                    text(&p.attributes, "code"),
                    n,
                )
            })
            .collect();
        c.sort();
        assert_eq!(
            c,
            [(Some("eu".into()), None, 2), (Some("us".into()), None, 1)]
        );
        // (region, code, count, buckets)
        type Point = (Option<String>, Option<String>, u64, Vec<u64>);
        let mut d: Vec<Point> = h
            .data_points
            .iter()
            .map(|p| {
                (
                    text(&p.attributes, "region"),
                    text(&p.attributes, "code"),
                    p.count,
                    p.bucket_counts.clone(),
                )
            })
            .collect();
        d.sort();
        let bucket = |i: usize| {
            let mut b = vec![0; DEFAULT_BUCKETS_MS.len() + 1];
            b[i] = 1;
            b
        };
        assert_eq!(
            d,
            [
                (None, Some("200".into()), 2, {
                    let mut b = bucket(1);
                    b[7] = 1;
                    b
                }),
                (None, Some("500".into()), 1, bucket(1)),
            ]
        );
    }

    #[test]
    fn idle_series_and_resources_expire_after_a_report() {
        let mut m = SpanMetrics::builder()
            .with_series_expiration(Duration::from_secs(10))
            .with_metrics_expiration(Duration::from_secs(30))
            .build()
            .unwrap();
        let take = |m: &mut SpanMetrics, at: u64| {
            let mut out = Vec::new();
            m.take_metrics_at(&mut out, at);
            check_state(m);
            points(&out).0
        };
        m.process_at(
            &batch(vec![
                (
                    "svc",
                    vec![span("x", 1, 0, 1, None), span("y", 1, 0, 1, None)],
                ),
                ("old", vec![span("z", 1, 0, 1, None)]),
            ]),
            0,
        );
        let bytes = m.bytes;
        assert_eq!(take(&mut m, SECOND).len(), 3);
        m.process_at(
            &batch(vec![("svc", vec![span("x", 1, 0, 1, None)])]),
            8 * SECOND,
        );
        // y and z are still reported at 12 s, then forgotten; `old` stays
        // (an empty resource) until 30 s after its last span.
        assert_eq!(take(&mut m, 12 * SECOND).len(), 3);
        assert_eq!(m.series(), 1);
        assert_eq!(m.resources.len(), 2);
        assert!(m.bytes < bytes);
        // `old` sends an empty batch: seen, though it adds nothing.
        m.process_at(&batch(vec![("old", vec![])]), 25 * SECOND);
        // x, idle since 8 s, is reported a last time at 31 s.
        let t = take(&mut m, 31 * SECOND);
        assert_eq!(t.values().collect::<Vec<_>>(), [&(2, 0, 31 * SECOND)]);
        assert_eq!(m.series(), 0);
        assert_eq!(m.resources.len(), 2);
        take(&mut m, 50 * SECOND);
        assert_eq!(m.resources.len(), 1, "`svc` forgotten, `old` seen at 25 s");
        take(&mut m, 56 * SECOND);
        assert!(m.resources.is_empty());
        assert_eq!(m.bytes, 0);
        // A series seen again starts anew.
        m.process_at(
            &batch(vec![("svc", vec![span("x", 1, 0, 1, None)])]),
            60 * SECOND,
        );
        let t = take(&mut m, 61 * SECOND);
        assert_eq!(t.values().next(), Some(&(1, 60 * SECOND, 61 * SECOND)));
    }

    proptest! {
        #[test]
        fn matches_the_span_by_span_reference(
            spans in prop::collection::vec(
                (0usize..2, 0usize..4, 0i32..8, 0i32..4, 0u64..30_000, prop::option::of(0usize..3), 0usize..9),
                0..300,
            ),
            isa in prop::sample::select(Isa::available()),
        ) {
            let names = ["GET /a", "GET /b", "POST /c", "SELECT"];
            let methods = ["GET", "POST", "PUT"];
            let mut m = SpanMetrics::builder()
                .with_dimension("http.method", Some("NONE".into()))
                .with_isa(isa)
                .build()
                .unwrap();
            let mut groups: Vec<(&str, Vec<Span>)> = vec![("a", Vec::new()), ("b", Vec::new())];
            let states = [
                "", "ot=th:8", "ot=th:c", "ot=th:f", "ot=th:0", "vendor=x",
                "ot=th:zz", "x=1,ot=th:8;rv:00000000000001", "ot=rv:00000000000001",
            ];
            for (r, n, kind, code, ms, method, ts) in spans {
                let mut s = span(names[n], kind, code, ms, method.map(|i| methods[i]));
                s.trace_state = states[ts].into();
                groups[r].1.push(s);
            }
            let mut req = batch(groups);
            let want = reference(&req, &m);
            m.process(&mut req);
            let mut metrics = Vec::new();
            m.take_metrics(&mut metrics);
            prop_assert_eq!(table(&metrics), want);
        }

        /// Reports over time against a model: delta or cumulative, with
        /// series and resource expiry, spans from a few resources (some
        /// requests with a resource and no spans).
        #[test]
        fn reports_over_time_match_a_model(
            ops in prop::collection::vec(
                (0u64..20, prop::option::of(prop::collection::vec((0usize..3, 0usize..4), 0..6))),
                1..40,
            ),
            delta in any::<bool>(),
            series_expiration in prop::option::of(1u64..30),
            metrics_expiration in prop::option::of(1u64..30),
        ) {
            #[derive(Debug)]
            struct ModelSeries { calls: u64, start: u64, last_seen: u64 }
            let services = ["a", "b", "c"];
            let names = ["w", "x", "y", "z"];
            let mut b = SpanMetrics::builder();
            if delta {
                b = b.with_temporality(Temporality::Delta);
            }
            if let Some(e) = series_expiration {
                b = b.with_series_expiration(Duration::from_secs(e));
            }
            if let Some(e) = metrics_expiration {
                b = b.with_metrics_expiration(Duration::from_secs(e));
            }
            let mut m = b.build().unwrap();
            let mut series: BTreeMap<(String, String), ModelSeries> = BTreeMap::new();
            let mut resources: BTreeMap<String, u64> = BTreeMap::new();
            let mut last_report: BTreeMap<(String, String), u64> = BTreeMap::new();
            let mut now = 0;
            for (step, op) in ops {
                now += step * SECOND;
                match op {
                    Some(spans) => {
                        let mut groups: Vec<(&str, Vec<Span>)> = Vec::new();
                        for (r, n) in spans {
                            let at = match groups.iter().position(|g| g.0 == services[r]) {
                                Some(at) => at,
                                None => {
                                    groups.push((services[r], Vec::new()));
                                    groups.len() - 1
                                }
                            };
                            groups[at].1.push(span(names[n], 1, 0, 1, None));
                        }
                        // A resource with no spans.
                        if groups.len() < 3 {
                            let idle = services.iter().find(|s| !groups.iter().any(|g| g.0 == **s)).unwrap();
                            groups.push((idle, Vec::new()));
                        }
                        let req = batch(groups);
                        for rs in &req.resource_spans {
                            let resource = &rs.resource.as_ref().unwrap().attributes;
                            let rkey = format!("{resource:?}");
                            let spans = &rs.scope_spans[0].spans;
                            if spans.is_empty() {
                                if let Some(seen) = resources.get_mut(&rkey) {
                                    *seen = now;
                                }
                                continue;
                            }
                            resources.insert(rkey.clone(), now);
                            for s in spans {
                                let attrs = m.series_attributes(&Of { service: service_name(resource).unwrap(), resource, scope: None, span: s, method: None }, Kind::Span, None);
                                let e = series
                                    .entry((rkey.clone(), format!("{attrs:?}")))
                                    .or_insert(ModelSeries { calls: 0, start: now, last_seen: now });
                                e.calls += 1;
                                e.last_seen = now;
                            }
                        }
                        m.process_at(&req, now);
                    }
                    None => {
                        let mut out = Vec::new();
                        m.take_metrics_at(&mut out, now);
                        let (got, temporalities) = points(&out);
                        let want_temporality = if delta {
                            AggregationTemporality::Delta
                        } else {
                            AggregationTemporality::Cumulative
                        } as i32;
                        prop_assert!(temporalities.iter().all(|&t| t == want_temporality));
                        let want: BTreeMap<_, _> = series
                            .iter()
                            .map(|(k, s)| {
                                let start = if delta {
                                    last_report.get(k).copied().unwrap_or(s.start)
                                } else {
                                    s.start
                                };
                                (k.clone(), (s.calls, start, now))
                            })
                            .collect();
                        prop_assert_eq!(got, want);
                        if delta {
                            for k in series.keys() {
                                last_report.insert(k.clone(), now);
                            }
                            series.clear();
                            resources.clear();
                        } else {
                            if let Some(e) = series_expiration {
                                series.retain(|_, s| now - s.last_seen < e * SECOND);
                            }
                            if let Some(e) = metrics_expiration {
                                resources.retain(|_, seen| now - *seen < e * SECOND);
                                series.retain(|k, _| resources.contains_key(&k.0));
                            }
                        }
                        check_state(&m);
                        prop_assert_eq!(m.series(), series.len());
                    }
                }
            }
        }
    }
}

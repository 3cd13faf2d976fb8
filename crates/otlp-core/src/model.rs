//! A data model and push API for code that does not use the SDK.
//!
//! [`TelemetryData`] records are plain values: build them with
//! [`TelemetryData::span`], [`TelemetryData::metric`] or
//! [`TelemetryData::log`], then encode them with
//! [`Encoder::encode_records`](crate::Encoder::encode_records), the same
//! encoder the SDK exporters use. Attribute values are the API's
//! [`opentelemetry::Value`] (string, bool, int, double and arrays of each);
//! log bodies are [`opentelemetry::logs::AnyValue`] (which adds bytes and
//! maps).
//!
//! ```
//! use otlp_core::{Encoder, ExportRequest, Format, Signal, TelemetryData};
//! use opentelemetry::InstrumentationScope;
//!
//! let records = vec![
//!     TelemetryData::span("GET /cart").with_attribute("http.response.status_code", 200).build(),
//!     TelemetryData::metric("orders").with_attribute("region", "eu").sum(3.0, true),
//!     TelemetryData::log("cart emptied").with_severity(opentelemetry::logs::Severity::Info).build(),
//! ];
//! let encoder = Encoder::new(Format::Protobuf);
//! let scope = InstrumentationScope::builder("shop").build();
//! let mut buf = Vec::new();
//! let n = encoder.encode_records(Signal::Traces, &scope, &records, &mut buf);
//! assert_eq!(n, 1);
//! let request = ExportRequest::decode(Signal::Traces, Format::Protobuf, &buf).unwrap();
//! assert_eq!(request.item_count(), 1);
//! ```

use opentelemetry::logs::{AnyValue, Severity};
use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status, TraceId};
use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};
use std::borrow::Cow;
use std::time::SystemTime;

use crate::Signal;

/// One telemetry item of any signal.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TelemetryData {
    /// A finished span.
    Span(SpanRecord),
    /// One metric data point.
    Metric(MetricRecord),
    /// A log record.
    Log(LogRecord),
}

impl TelemetryData {
    /// Starts a span named `name`, starting now, with fresh random ids.
    pub fn span(name: impl Into<Cow<'static, str>>) -> SpanBuilder {
        let ids = RandomIdGenerator::default();
        let now = SystemTime::now();
        SpanBuilder(SpanRecord {
            trace_id: ids.new_trace_id(),
            span_id: ids.new_span_id(),
            parent_span_id: SpanId::INVALID,
            name: name.into(),
            kind: SpanKind::Internal,
            start_time: now,
            end_time: now,
            attributes: Vec::new(),
            events: Vec::new(),
            status: Status::Unset,
        })
    }

    /// Starts a metric data point for the metric `name`, timestamped now.
    pub fn metric(name: impl Into<Cow<'static, str>>) -> MetricBuilder {
        let now = SystemTime::now();
        MetricBuilder {
            name: name.into(),
            description: Cow::Borrowed(""),
            unit: Cow::Borrowed(""),
            attributes: Vec::new(),
            start_time: None,
            time: now,
        }
    }

    /// Starts a log record with body `body`, observed now.
    pub fn log(body: impl Into<AnyValue>) -> LogBuilder {
        LogBuilder(LogRecord {
            time: None,
            observed_time: SystemTime::now(),
            severity: None,
            severity_text: None,
            body: Some(body.into()),
            attributes: Vec::new(),
            trace_context: None,
            event_name: None,
        })
    }

    /// The signal this item belongs to.
    pub fn signal(&self) -> Signal {
        match self {
            TelemetryData::Span(_) => Signal::Traces,
            TelemetryData::Metric(_) => Signal::Metrics,
            TelemetryData::Log(_) => Signal::Logs,
        }
    }
}

/// A finished span.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SpanRecord {
    /// Trace id.
    pub trace_id: TraceId,
    /// Span id.
    pub span_id: SpanId,
    /// Parent span id, [`SpanId::INVALID`] for a root span.
    pub parent_span_id: SpanId,
    /// Operation name.
    pub name: Cow<'static, str>,
    /// Span kind.
    pub kind: SpanKind,
    /// Start time.
    pub start_time: SystemTime,
    /// End time.
    pub end_time: SystemTime,
    /// Attributes.
    pub attributes: Vec<KeyValue>,
    /// Events: name, time, attributes.
    pub events: Vec<(Cow<'static, str>, SystemTime, Vec<KeyValue>)>,
    /// Status.
    pub status: Status,
}

/// Builds a [`SpanRecord`].
#[derive(Debug, Clone)]
#[must_use]
pub struct SpanBuilder(SpanRecord);

impl SpanBuilder {
    /// Adds an attribute.
    pub fn with_attribute(
        mut self,
        key: impl Into<opentelemetry::Key>,
        value: impl Into<Value>,
    ) -> Self {
        self.0.attributes.push(KeyValue::new(key, value));
        self
    }
    /// Sets the kind (default: internal).
    pub fn with_kind(mut self, kind: SpanKind) -> Self {
        self.0.kind = kind;
        self
    }
    /// Makes the span a child of `parent` (same trace, parent span id).
    pub fn with_parent(mut self, parent: &SpanContext) -> Self {
        self.0.trace_id = parent.trace_id();
        self.0.parent_span_id = parent.span_id();
        self
    }
    /// Sets the start time (default: when the builder was created).
    pub fn with_start_time(mut self, t: SystemTime) -> Self {
        self.0.start_time = t;
        self
    }
    /// Sets the end time (default: when the span is built).
    pub fn with_end_time(mut self, t: SystemTime) -> Self {
        self.0.end_time = t;
        self
    }
    /// Adds an event.
    pub fn with_event(
        mut self,
        name: impl Into<Cow<'static, str>>,
        time: SystemTime,
        attributes: Vec<KeyValue>,
    ) -> Self {
        self.0.events.push((name.into(), time, attributes));
        self
    }
    /// Sets the status.
    pub fn with_status(mut self, status: Status) -> Self {
        self.0.status = status;
        self
    }
    /// Finishes the span; the end time is now unless one was set.
    pub fn build(mut self) -> TelemetryData {
        if self.0.end_time == self.0.start_time {
            self.0.end_time = SystemTime::now().max(self.0.start_time);
        }
        TelemetryData::Span(self.0)
    }
    /// Finishes the span; same as [`build`](Self::build).
    pub fn finish(self) -> TelemetryData {
        self.build()
    }
}

/// The value of a metric data point.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum MetricValue {
    /// A gauge reading.
    Gauge(f64),
    /// A cumulative sum since `start_time`.
    Sum {
        /// The sum.
        value: f64,
        /// Whether the sum only goes up (a counter).
        monotonic: bool,
    },
    /// A histogram with explicit bucket bounds.
    Histogram {
        /// Number of observations.
        count: u64,
        /// Sum of observations.
        sum: f64,
        /// Upper bounds of all buckets but the last.
        bounds: Vec<f64>,
        /// Observations per bucket; one more than `bounds`.
        bucket_counts: Vec<u64>,
        /// Smallest observation.
        min: Option<f64>,
        /// Largest observation.
        max: Option<f64>,
    },
}

/// One metric data point.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MetricRecord {
    /// Metric name.
    pub name: Cow<'static, str>,
    /// Description.
    pub description: Cow<'static, str>,
    /// Unit (UCUM).
    pub unit: Cow<'static, str>,
    /// Attributes of the data point.
    pub attributes: Vec<KeyValue>,
    /// Start of the aggregation interval (cumulative sums, histograms).
    pub start_time: Option<SystemTime>,
    /// Time of the data point.
    pub time: SystemTime,
    /// The value.
    pub value: MetricValue,
}

/// Builds a [`MetricRecord`]; finish with [`gauge`](Self::gauge),
/// [`sum`](Self::sum) or [`histogram`](Self::histogram).
#[derive(Debug, Clone)]
#[must_use]
pub struct MetricBuilder {
    name: Cow<'static, str>,
    description: Cow<'static, str>,
    unit: Cow<'static, str>,
    attributes: Vec<KeyValue>,
    start_time: Option<SystemTime>,
    time: SystemTime,
}

impl MetricBuilder {
    /// Adds an attribute.
    pub fn with_attribute(
        mut self,
        key: impl Into<opentelemetry::Key>,
        value: impl Into<Value>,
    ) -> Self {
        self.attributes.push(KeyValue::new(key, value));
        self
    }
    /// Sets the description.
    pub fn with_description(mut self, d: impl Into<Cow<'static, str>>) -> Self {
        self.description = d.into();
        self
    }
    /// Sets the unit.
    pub fn with_unit(mut self, u: impl Into<Cow<'static, str>>) -> Self {
        self.unit = u.into();
        self
    }
    /// Sets the start of the aggregation interval.
    pub fn with_start_time(mut self, t: SystemTime) -> Self {
        self.start_time = Some(t);
        self
    }
    /// Sets the time of the point (default: when the builder was created).
    pub fn with_time(mut self, t: SystemTime) -> Self {
        self.time = t;
        self
    }
    fn finish(self, value: MetricValue) -> TelemetryData {
        TelemetryData::Metric(MetricRecord {
            name: self.name,
            description: self.description,
            unit: self.unit,
            attributes: self.attributes,
            start_time: self.start_time,
            time: self.time,
            value,
        })
    }
    /// A gauge reading.
    pub fn gauge(self, value: f64) -> TelemetryData {
        self.finish(MetricValue::Gauge(value))
    }
    /// A cumulative sum; `monotonic` for counters.
    pub fn sum(self, value: f64, monotonic: bool) -> TelemetryData {
        self.finish(MetricValue::Sum { value, monotonic })
    }
    /// A histogram of `observations` over buckets bounded by `bounds`.
    pub fn histogram(self, bounds: Vec<f64>, observations: &[f64]) -> TelemetryData {
        let mut bucket_counts = vec![0u64; bounds.len() + 1];
        for &x in observations {
            bucket_counts[bounds.partition_point(|&b| b < x)] += 1;
        }
        let fold = |f: fn(f64, f64) -> f64| observations.iter().copied().reduce(f);
        self.finish(MetricValue::Histogram {
            count: observations.len() as u64,
            sum: observations.iter().sum(),
            bounds,
            bucket_counts,
            min: fold(f64::min),
            max: fold(f64::max),
        })
    }
}

/// A log record.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LogRecord {
    /// When the event happened, if known.
    pub time: Option<SystemTime>,
    /// When the record was observed.
    pub observed_time: SystemTime,
    /// Severity.
    pub severity: Option<Severity>,
    /// Severity text (defaults to the severity's name).
    pub severity_text: Option<Cow<'static, str>>,
    /// Body.
    pub body: Option<AnyValue>,
    /// Attributes.
    pub attributes: Vec<(opentelemetry::Key, AnyValue)>,
    /// Trace and span the record belongs to.
    pub trace_context: Option<(TraceId, SpanId)>,
    /// Event name.
    pub event_name: Option<Cow<'static, str>>,
}

/// Builds a [`LogRecord`].
#[derive(Debug, Clone)]
#[must_use]
pub struct LogBuilder(LogRecord);

impl LogBuilder {
    /// Adds an attribute.
    pub fn with_attribute(
        mut self,
        key: impl Into<opentelemetry::Key>,
        value: impl Into<AnyValue>,
    ) -> Self {
        self.0.attributes.push((key.into(), value.into()));
        self
    }
    /// Sets the severity (its name becomes the severity text).
    pub fn with_severity(mut self, severity: Severity) -> Self {
        self.0.severity = Some(severity);
        self.0.severity_text = Some(Cow::Borrowed(severity.name()));
        self
    }
    /// Sets the time of the event.
    pub fn with_time(mut self, t: SystemTime) -> Self {
        self.0.time = Some(t);
        self
    }
    /// Links the record to a span.
    pub fn with_trace_context(mut self, trace_id: TraceId, span_id: SpanId) -> Self {
        self.0.trace_context = Some((trace_id, span_id));
        self
    }
    /// Sets the event name.
    pub fn with_event_name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.0.event_name = Some(name.into());
        self
    }
    /// Finishes the record.
    pub fn build(self) -> TelemetryData {
        TelemetryData::Log(self.0)
    }
}

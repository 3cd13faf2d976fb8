//! [`TelemetryData`](crate::TelemetryData) records to OTLP requests.

use super::common::{attributes, log_value, nanos, scope, EncodedResource};
use super::writer::{Size, Writer};
use crate::model::{LogRecord, MetricRecord, MetricValue, SpanRecord};
use crate::{Signal, TelemetryData};
use opentelemetry::InstrumentationScope;

/// Writes the records of `signal`; returns how many there were.
pub(crate) fn request<W: Writer>(
    w: &mut W,
    resource: &EncodedResource,
    s: &InstrumentationScope,
    signal: Signal,
    records: &[TelemetryData],
) -> usize {
    let n = records.iter().filter(|r| r.signal() == signal).count();
    if n == 0 {
        return 0;
    }
    let (outer, inner, items) = match signal {
        Signal::Traces => ("resourceSpans", "scopeSpans", "spans"),
        Signal::Metrics => ("resourceMetrics", "scopeMetrics", "metrics"),
        Signal::Logs => ("resourceLogs", "scopeLogs", "logRecords"),
        // No record is a profile: `n` was 0.
        _ => return 0,
    };
    w.repeated(1, outer, Size::Large, [()], |w, ()| {
        w.embedded(1, "resource", &resource.body);
        w.repeated(2, inner, Size::Large, [()], |w, ()| {
            w.message(1, "scope", Size::Small, |w| scope(w, s, None));
            let mine = records.iter().filter(|r| r.signal() == signal);
            w.repeated(2, items, Size::Medium, mine, |w, r| match r {
                TelemetryData::Span(sp) => span(w, sp),
                TelemetryData::Metric(m) => metric(w, m),
                TelemetryData::Log(l) => log(w, l),
            });
            w.string(3, "schemaUrl", s.schema_url().unwrap_or_default());
        });
        w.string(3, "schemaUrl", &resource.schema_url);
    });
    n
}

fn span<W: Writer>(w: &mut W, s: &SpanRecord) {
    w.id(1, "traceId", &s.trace_id.to_bytes());
    w.id(2, "spanId", &s.span_id.to_bytes());
    if s.parent_span_id != opentelemetry::trace::SpanId::INVALID {
        w.id(4, "parentSpanId", &s.parent_span_id.to_bytes());
    }
    w.string(5, "name", &s.name);
    w.int32(6, "kind", super::trace::kind(&s.kind));
    w.fixed64(7, "startTimeUnixNano", nanos(s.start_time));
    w.fixed64(8, "endTimeUnixNano", nanos(s.end_time));
    attributes(w, 9, "attributes", &s.attributes);
    w.repeated(11, "events", Size::Small, &s.events, |w, (name, t, a)| {
        w.fixed64(1, "timeUnixNano", nanos(*t));
        w.string(2, "name", name);
        attributes(w, 3, "attributes", a);
    });
    super::trace::status(w, &s.status);
}

fn metric<W: Writer>(w: &mut W, m: &MetricRecord) {
    w.string(1, "name", &m.name);
    w.string(2, "description", &m.description);
    w.string(3, "unit", &m.unit);
    let start = m.start_time.map_or(0, nanos);
    let time = nanos(m.time);
    let common = |w: &mut W, attrs_num: u32| {
        attributes(w, attrs_num, "attributes", &m.attributes);
        w.fixed64(2, "startTimeUnixNano", start);
        w.fixed64(3, "timeUnixNano", time);
    };
    match &m.value {
        MetricValue::Gauge(v) => w.message(5, "gauge", Size::Small, |w| {
            w.repeated(1, "dataPoints", Size::Small, [v], |w, v| {
                common(w, 7);
                w.oneof_double(4, "asDouble", *v);
            })
        }),
        MetricValue::Sum { value, monotonic } => w.message(7, "sum", Size::Small, |w| {
            w.repeated(1, "dataPoints", Size::Small, [value], |w, v| {
                common(w, 7);
                w.oneof_double(4, "asDouble", *v);
            });
            w.int32(2, "aggregationTemporality", 2);
            w.bool(3, "isMonotonic", *monotonic);
        }),
        MetricValue::Histogram {
            count,
            sum,
            bounds,
            bucket_counts,
            min,
            max,
        } => w.message(9, "histogram", Size::Small, |w| {
            w.repeated(1, "dataPoints", Size::Small, [()], |w, ()| {
                common(w, 9);
                w.fixed64(4, "count", *count);
                w.opt_double(5, "sum", Some(*sum));
                w.packed_fixed64(6, "bucketCounts", bucket_counts.iter().copied());
                w.packed_double(7, "explicitBounds", bounds.iter().copied());
                w.opt_double(11, "min", *min);
                w.opt_double(12, "max", *max);
            });
            w.int32(2, "aggregationTemporality", 2);
        }),
    }
}

fn log<W: Writer>(w: &mut W, l: &LogRecord) {
    w.fixed64(1, "timeUnixNano", l.time.map_or(0, nanos));
    w.fixed64(11, "observedTimeUnixNano", nanos(l.observed_time));
    w.int32(2, "severityNumber", l.severity.map_or(0, |s| s as i32));
    w.string(
        3,
        "severityText",
        l.severity_text.as_deref().unwrap_or_default(),
    );
    if let Some(body) = &l.body {
        w.message(5, "body", Size::Small, |w| log_value(w, body));
    }
    w.key_values(
        6,
        "attributes",
        l.attributes.iter().map(|(k, v)| (k.as_str(), v)),
    );
    if let Some((t, s)) = &l.trace_context {
        w.id(9, "traceId", &t.to_bytes());
        w.id(10, "spanId", &s.to_bytes());
    }
    w.string(12, "eventName", l.event_name.as_deref().unwrap_or_default());
}

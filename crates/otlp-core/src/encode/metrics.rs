//! `ResourceMetrics` to `ExportMetricsServiceRequest`.

use super::common::{attributes, nanos, resource, scope};
use super::writer::{Size, Writer};
use opentelemetry_sdk::metrics::data::{
    AggregatedMetrics, Exemplar, ExponentialHistogram, Gauge, Histogram, Metric, MetricData,
    ResourceMetrics, Sum,
};
use opentelemetry_sdk::metrics::Temporality;

/// The SDK's three number types, as OTLP writes them.
pub(crate) trait Number: Copy {
    /// Writes the value into a `oneof { double as_double; sfixed64 as_int }`
    /// whose members have the given field numbers.
    fn write<W: Writer>(self, w: &mut W, double_num: u32, int_num: u32);
    fn to_f64(self) -> f64;
}

impl Number for f64 {
    #[inline]
    fn write<W: Writer>(self, w: &mut W, double_num: u32, _: u32) {
        w.oneof_double(double_num, "asDouble", self);
    }
    #[inline]
    fn to_f64(self) -> f64 {
        self
    }
}

impl Number for i64 {
    #[inline]
    fn write<W: Writer>(self, w: &mut W, _: u32, int_num: u32) {
        w.oneof_sfixed64(int_num, "asInt", self);
    }
    #[inline]
    fn to_f64(self) -> f64 {
        self as f64
    }
}

impl Number for u64 {
    /// OTLP has no unsigned integer point; values above `i64::MAX` cannot be
    /// represented and are written as 0, as opentelemetry-proto does.
    #[inline]
    fn write<W: Writer>(self, w: &mut W, _: u32, int_num: u32) {
        w.oneof_sfixed64(int_num, "asInt", i64::try_from(self).unwrap_or(0));
    }
    #[inline]
    fn to_f64(self) -> f64 {
        self as f64
    }
}

#[inline]
fn temporality(t: Temporality) -> i32 {
    match t {
        Temporality::Delta => 1,
        // Cumulative, and LowMemory (a reader-side preference whose
        // exported points are cumulative or delta per instrument; the SDK
        // reports the resolved temporality, so only the first two occur).
        _ => 2,
    }
}

pub(crate) fn request<W: Writer>(w: &mut W, rm: &ResourceMetrics) {
    w.repeated(1, "resourceMetrics", Size::Large, [rm], |w, rm| {
        w.message(1, "resource", Size::Medium, |w| resource(w, rm.resource()));
        w.repeated(
            2,
            "scopeMetrics",
            Size::Large,
            rm.scope_metrics(),
            |w, sm| {
                w.message(1, "scope", Size::Small, |w| scope(w, sm.scope(), None));
                w.repeated_sized(
                    2,
                    "metrics",
                    sm.metrics(),
                    |m| size_of(m),
                    |w, m| {
                        w.string(1, "name", m.name());
                        w.string(2, "description", m.description());
                        w.string(3, "unit", m.unit());
                        let size = size_of(m);
                        match m.data() {
                            AggregatedMetrics::F64(d) => data(w, d, size),
                            AggregatedMetrics::U64(d) => data(w, d, size),
                            AggregatedMetrics::I64(d) => data(w, d, size),
                        }
                    },
                );
                w.string(3, "schemaUrl", sm.scope().schema_url().unwrap_or_default());
            },
        );
        w.string(
            3,
            "schemaUrl",
            rm.resource().schema_url().unwrap_or_default(),
        );
    });
}

/// A guess of a metric's encoded size, so that its length prefix rarely
/// has to move: one number point fits in a one-byte length, anything more
/// usually needs two.
fn size_of(m: &Metric) -> Size {
    fn points<T>(d: &MetricData<T>) -> Option<usize> {
        match d {
            MetricData::Gauge(g) => Some(g.data_points().count()),
            MetricData::Sum(s) => Some(s.data_points().count()),
            _ => None,
        }
    }
    let number_points = match m.data() {
        AggregatedMetrics::F64(d) => points(d),
        AggregatedMetrics::U64(d) => points(d),
        AggregatedMetrics::I64(d) => points(d),
    };
    let text = m.name().len() + m.description().len() + m.unit().len();
    match number_points {
        Some(1) if text < 40 => Size::Small,
        _ => Size::Medium,
    }
}

fn data<W: Writer, T: Number>(w: &mut W, d: &MetricData<T>, size: Size) {
    match d {
        MetricData::Gauge(g) => w.message(5, "gauge", size, |w| gauge(w, g)),
        MetricData::Sum(s) => w.message(7, "sum", size, |w| sum(w, s)),
        MetricData::Histogram(h) => w.message(9, "histogram", size, |w| histogram(w, h)),
        MetricData::ExponentialHistogram(h) => w.message(10, "exponentialHistogram", size, |w| {
            exponential_histogram(w, h)
        }),
    }
}

fn gauge<W: Writer, T: Number>(w: &mut W, g: &Gauge<T>) {
    let start = g.start_time().map_or(0, nanos);
    let time = nanos(g.time());
    w.repeated(1, "dataPoints", Size::Small, g.data_points(), |w, dp| {
        number_point(w, dp.attributes(), start, time, dp.exemplars(), dp.value())
    });
}

fn sum<W: Writer, T: Number>(w: &mut W, s: &Sum<T>) {
    let start = nanos(s.start_time());
    let time = nanos(s.time());
    w.repeated(1, "dataPoints", Size::Small, s.data_points(), |w, dp| {
        number_point(w, dp.attributes(), start, time, dp.exemplars(), dp.value())
    });
    w.int32(2, "aggregationTemporality", temporality(s.temporality()));
    w.bool(3, "isMonotonic", s.is_monotonic());
}

fn number_point<'a, W: Writer, T: Number + 'a>(
    w: &mut W,
    attrs: impl Iterator<Item = &'a opentelemetry::KeyValue>,
    start: u64,
    time: u64,
    exemplars: impl Iterator<Item = &'a Exemplar<T>>,
    value: T,
) {
    attributes(w, 7, "attributes", attrs);
    w.fixed64(2, "startTimeUnixNano", start);
    w.fixed64(3, "timeUnixNano", time);
    value.write(w, 4, 6);
    w.repeated(5, "exemplars", Size::Small, exemplars, exemplar);
}

fn exemplar<W: Writer, T: Number>(w: &mut W, e: &Exemplar<T>) {
    attributes(w, 7, "filteredAttributes", e.filtered_attributes());
    w.fixed64(2, "timeUnixNano", nanos(e.time()));
    e.value.write(w, 3, 6);
    w.id(4, "spanId", e.span_id());
    w.id(5, "traceId", e.trace_id());
}

fn histogram<W: Writer, T: Number>(w: &mut W, h: &Histogram<T>) {
    let start = nanos(h.start_time());
    let time = nanos(h.time());
    // A default histogram point (16 buckets) is about 300 bytes.
    w.repeated(1, "dataPoints", Size::Medium, h.data_points(), |w, dp| {
        attributes(w, 9, "attributes", dp.attributes());
        w.fixed64(2, "startTimeUnixNano", start);
        w.fixed64(3, "timeUnixNano", time);
        w.fixed64(4, "count", dp.count());
        w.opt_double(5, "sum", Some(dp.sum().to_f64()));
        w.packed_fixed64(6, "bucketCounts", dp.bucket_counts());
        w.packed_double(7, "explicitBounds", dp.bounds());
        w.repeated(8, "exemplars", Size::Small, dp.exemplars(), exemplar);
        w.opt_double(11, "min", dp.min().map(Number::to_f64));
        w.opt_double(12, "max", dp.max().map(Number::to_f64));
    });
    w.int32(2, "aggregationTemporality", temporality(h.temporality()));
}

fn exponential_histogram<W: Writer, T: Number>(w: &mut W, h: &ExponentialHistogram<T>) {
    let start = nanos(h.start_time());
    let time = nanos(h.time());
    w.repeated(1, "dataPoints", Size::Medium, h.data_points(), |w, dp| {
        attributes(w, 1, "attributes", dp.attributes());
        w.fixed64(2, "startTimeUnixNano", start);
        w.fixed64(3, "timeUnixNano", time);
        w.fixed64(4, "count", dp.count() as u64);
        w.opt_double(5, "sum", Some(dp.sum().to_f64()));
        w.sint32(6, "scale", i32::from(dp.scale()));
        w.fixed64(7, "zeroCount", dp.zero_count());
        for (num, name, b) in [
            (8, "positive", dp.positive_bucket()),
            (9, "negative", dp.negative_bucket()),
        ] {
            w.message(num, name, Size::Small, |w| {
                w.sint32(1, "offset", b.offset());
                w.packed_uint64(2, "bucketCounts", b.counts());
            });
        }
        w.repeated(11, "exemplars", Size::Small, dp.exemplars(), exemplar);
        w.opt_double(12, "min", dp.min().map(Number::to_f64));
        w.opt_double(13, "max", dp.max().map(Number::to_f64));
        w.double(14, "zeroThreshold", dp.zero_threshold());
    });
    w.int32(2, "aggregationTemporality", temporality(h.temporality()));
}

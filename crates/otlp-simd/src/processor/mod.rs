//! Batch processors over decoded trace requests, with the semantics of the
//! OpenTelemetry Collector components they mirror, and a [`Chain`] that
//! runs them in order.
//!
//! A processor gets the whole batch (`ExportTraceServiceRequest`) so it
//! can work column-wise: the sampler gathers every trace id into one
//! column and decides them with the threshold kernel; redaction checks
//! keys with the key-set kernel and scans values with the pattern scanner.
//!
//! | processor | Collector component |
//! |---|---|
//! | [`ProbabilisticSampler`] | `probabilisticsamplerprocessor` |
//! | [`Redaction`] | `redactionprocessor` |
//! | [`Filter`] | `filterprocessor` (OTTL `traces.span` / `traces.spanevent`) |
//! | [`Attributes`] | `attributesprocessor` |
//! | [`AdaptiveSampler`] | none (a target of spans, or log records, per second over an equalizing sampler) |
//! | [`SpanMetrics`] | `spanmetricsconnector` (calls and duration histograms) |
//!
//! Every span is accounted for: what a processor drops is counted in its
//! [`Outcome`] under a reason, and [`ChainReport`] adds them up, so
//! `spans_in == spans_out + dropped`.

pub mod adaptive;
pub mod attributes;
mod attrs;
pub mod db;
pub mod filter;
pub mod glob;
mod go_strconv;
mod key_memo;
pub mod matching;
pub mod redaction;
pub mod sampling;
pub mod span;
pub mod spanmetrics;
pub(crate) mod tracestate;
pub mod url;
mod url_model;

use crate::proto::collector::logs::v1::ExportLogsServiceRequest;
use crate::proto::collector::metrics::v1::ExportMetricsServiceRequest;
use crate::proto::collector::trace::v1::ExportTraceServiceRequest;
use crate::proto::common::v1::{any_value, AnyValue, KeyValue};
use crate::proto::metrics::v1::ResourceMetrics;

pub use adaptive::AdaptiveSampler;
pub use attributes::Attributes;
pub use filter::Filter;
pub use redaction::Redaction;
pub use sampling::{EarlyDrop, ProbabilisticSampler};
pub use span::{EndingSpan, SpanChain, SpanOutcome, SpanStep, Verdict};
pub use spanmetrics::SpanMetrics;

/// What one processor did to one batch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Spans removed from the batch, by reason (a short snake_case word).
    pub dropped: Vec<(&'static str, u64)>,
    /// Span events removed (from spans that stay).
    pub dropped_events: u64,
}

impl Outcome {
    /// Counts `n` spans dropped for `reason`.
    pub fn drop(&mut self, reason: &'static str, n: u64) {
        if n == 0 {
            return;
        }
        match self.dropped.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, c)) => *c += n,
            None => self.dropped.push((reason, n)),
        }
    }

    /// All spans dropped.
    pub fn total_dropped(&self) -> u64 {
        self.dropped.iter().map(|(_, n)| n).sum()
    }
}

/// A step of a [`Chain`]. Implement it to add your own.
pub trait Processor: Send {
    /// A short name for reports (`probabilistic_sampler`, `redaction`, ...).
    fn name(&self) -> &str;

    /// Processes the batch in place. Spans it removes are counted in the
    /// returned outcome; resource and scope entries left without spans are
    /// removed too (as the Collector does), which is not counted as a drop.
    fn process(&mut self, batch: &mut ExportTraceServiceRequest) -> Outcome;

    /// Moves the metrics this processor derived from the spans it saw
    /// since the last call (span metrics do) into `out`. Most processors
    /// derive none and keep this default, which adds nothing.
    fn take_metrics(&mut self, out: &mut Vec<ResourceMetrics>) {
        let _ = out;
    }

    /// Processes a logs request in place (log records dropped counted in
    /// the outcome). Processors of spans only keep this default, which
    /// passes logs through.
    fn process_logs(&mut self, batch: &mut ExportLogsServiceRequest) -> Outcome {
        let _ = batch;
        Outcome::default()
    }

    /// Processes a metrics request in place (data points dropped counted
    /// in the outcome). Processors of spans only keep this default, which
    /// passes metrics through.
    fn process_metrics(&mut self, batch: &mut ExportMetricsServiceRequest) -> Outcome {
        let _ = batch;
        Outcome::default()
    }

    /// For a processor that drops spans by trace id alone (the sampler):
    /// the decision, to be taken before spans are encoded. `None` (the
    /// default) for the others. Only the first step of a chain is asked.
    fn early_drop(&self) -> Option<EarlyDrop> {
        None
    }

    /// This processor's work on one span at a time as spans end (see
    /// [`span`]), with the same outcome as [`process`](Self::process) on
    /// the encoded spans; `None` (the default) when it works on whole
    /// batches only. A chain runs span by span when every step gives one
    /// ([`Chain::span_chain`]).
    fn span_step(&self) -> Option<Box<dyn SpanStep>> {
        None
    }
}

/// Items in, out and dropped (per processor and reason) for one batch:
/// spans, or log records or data points for [`Chain::process_logs`] and
/// [`Chain::process_metrics`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChainReport {
    /// Spans in the batch before the chain.
    pub spans_in: u64,
    /// Spans left after it.
    pub spans_out: u64,
    /// `(processor, reason, spans)`.
    pub dropped: Vec<(String, &'static str, u64)>,
    /// `(processor, span events)` for processors that removed events.
    pub dropped_events: Vec<(String, u64)>,
}

/// Processors run in order on each batch.
#[derive(Default)]
pub struct Chain {
    steps: Vec<Box<dyn Processor>>,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.steps.iter().map(|s| s.name()))
            .finish()
    }
}

impl Chain {
    /// An empty chain (passes batches through).
    pub fn new() -> Chain {
        Chain::default()
    }

    /// Appends a processor.
    pub fn with(mut self, p: impl Processor + 'static) -> Chain {
        self.steps.push(Box::new(p));
        self
    }

    /// Appends a boxed processor.
    pub fn push(&mut self, p: Box<dyn Processor>) {
        self.steps.push(p);
    }

    /// How many processors.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The processors' names, in order.
    pub fn names(&self) -> Vec<&str> {
        self.steps.iter().map(|s| s.name()).collect()
    }

    /// The metrics the chain's processors derived since the last call
    /// (see [`Processor::take_metrics`]), as one request, or `None` when
    /// there are none. Export it with the metrics exporter.
    pub fn take_metrics(&mut self) -> Option<ExportMetricsServiceRequest> {
        let mut resource_metrics = Vec::new();
        for step in &mut self.steps {
            step.take_metrics(&mut resource_metrics);
        }
        (!resource_metrics.is_empty()).then_some(ExportMetricsServiceRequest { resource_metrics })
    }

    /// Runs every processor on a logs request, in order; the report counts
    /// log records (`spans_in`/`spans_out` are items of the request).
    pub fn process_logs(&mut self, batch: &mut ExportLogsServiceRequest) -> ChainReport {
        self.run(batch, count_log_records, |p, b| p.process_logs(b))
    }

    /// Runs every processor on a metrics request, in order; the report
    /// counts data points.
    pub fn process_metrics(&mut self, batch: &mut ExportMetricsServiceRequest) -> ChainReport {
        self.run(batch, count_data_points, |p, b| p.process_metrics(b))
    }

    /// Runs `step` of every processor on `batch`, adding up the outcomes.
    fn run<B>(
        &mut self,
        batch: &mut B,
        count: fn(&B) -> u64,
        step: impl Fn(&mut dyn Processor, &mut B) -> Outcome,
    ) -> ChainReport {
        let mut report = ChainReport {
            spans_in: count(batch),
            ..ChainReport::default()
        };
        for processor in &mut self.steps {
            let out = step(processor.as_mut(), batch);
            if out.dropped_events > 0 {
                report
                    .dropped_events
                    .push((processor.name().to_owned(), out.dropped_events));
            }
            for (reason, n) in out.dropped {
                report
                    .dropped
                    .push((processor.name().to_owned(), reason, n));
            }
        }
        report.spans_out = count(batch);
        report
    }

    /// The first step's [`Processor::early_drop`], with its name: spans
    /// it drops can be dropped before they are encoded, with the same
    /// outcome as running the chain on them.
    pub fn early_drop(&self) -> Option<(String, EarlyDrop)> {
        let first = self.steps.first()?;
        Some((first.name().to_owned(), first.early_drop()?))
    }

    /// The chain as a [`SpanChain`], to run on each span as it ends, when
    /// every step works span by span ([`Processor::span_step`]); `None`
    /// otherwise (span metrics, the adaptive sampler) and for an empty
    /// chain.
    pub fn span_chain(&self) -> Option<SpanChain> {
        if self.steps.is_empty() {
            return None;
        }
        let steps = self
            .steps
            .iter()
            .map(|s| s.span_step())
            .collect::<Option<Vec<_>>>()?;
        Some(SpanChain::new(steps))
    }

    /// Runs every processor on the batch, in order.
    pub fn process(&mut self, batch: &mut ExportTraceServiceRequest) -> ChainReport {
        self.run(batch, count_spans, |p, b| p.process(b))
    }
}

/// How many spans a request holds.
pub fn count_spans(batch: &ExportTraceServiceRequest) -> u64 {
    batch
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len() as u64)
        .sum()
}

/// How many log records a request holds.
pub fn count_log_records(batch: &ExportLogsServiceRequest) -> u64 {
    batch
        .resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .map(|s| s.log_records.len() as u64)
        .sum()
}

/// How many data points a request holds.
pub fn count_data_points(batch: &ExportMetricsServiceRequest) -> u64 {
    batch
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .map(data_points)
        .sum()
}

/// How many data points a metric holds.
pub(crate) fn data_points(m: &crate::proto::metrics::v1::Metric) -> u64 {
    use crate::proto::metrics::v1::metric::Data;
    (match &m.data {
        Some(Data::Gauge(g)) => g.data_points.len(),
        Some(Data::Sum(g)) => g.data_points.len(),
        Some(Data::Histogram(g)) => g.data_points.len(),
        Some(Data::ExponentialHistogram(g)) => g.data_points.len(),
        Some(Data::Summary(g)) => g.data_points.len(),
        None => 0,
    }) as u64
}

/// Runs `f` on the attributes of each data point of `metric`, whatever
/// its type.
pub(crate) fn each_point_attributes(
    metric: &mut crate::proto::metrics::v1::Metric,
    mut f: impl FnMut(&mut Vec<KeyValue>),
) {
    use crate::proto::metrics::v1::metric::Data;
    match &mut metric.data {
        Some(Data::Gauge(g)) => g.data_points.iter_mut().for_each(|p| f(&mut p.attributes)),
        Some(Data::Sum(g)) => g.data_points.iter_mut().for_each(|p| f(&mut p.attributes)),
        Some(Data::Histogram(g)) => g.data_points.iter_mut().for_each(|p| f(&mut p.attributes)),
        Some(Data::ExponentialHistogram(g)) => {
            g.data_points.iter_mut().for_each(|p| f(&mut p.attributes))
        }
        Some(Data::Summary(g)) => g.data_points.iter_mut().for_each(|p| f(&mut p.attributes)),
        None => {}
    }
}

/// A logs request with `records` under one resource and scope (for
/// tests).
#[cfg(test)]
pub(crate) fn logs_request(
    records: Vec<crate::proto::logs::v1::LogRecord>,
) -> ExportLogsServiceRequest {
    use crate::proto::logs::v1::{ResourceLogs, ScopeLogs};
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..ScopeLogs::default()
            }],
            ..ResourceLogs::default()
        }],
    }
}

/// A traces request with `spans` under one resource and scope (for
/// tests).
#[cfg(test)]
pub(crate) fn spans_request(
    spans: Vec<crate::proto::trace::v1::Span>,
) -> ExportTraceServiceRequest {
    use crate::proto::trace::v1::{ResourceSpans, ScopeSpans};
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    }
}

/// One metric of each data point type, each with one point whose
/// attributes `attrs` makes (for tests).
#[cfg(test)]
pub(crate) fn every_point_type(
    attrs: impl Fn() -> Vec<KeyValue>,
) -> Vec<crate::proto::metrics::v1::Metric> {
    use crate::proto::metrics::v1::{
        metric::Data, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram,
        HistogramDataPoint, Metric, NumberDataPoint, Sum, Summary, SummaryDataPoint,
    };
    let number = || NumberDataPoint {
        attributes: attrs(),
        ..NumberDataPoint::default()
    };
    [
        Data::Gauge(Gauge {
            data_points: vec![number()],
        }),
        Data::Sum(Sum {
            data_points: vec![number()],
            ..Sum::default()
        }),
        Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                attributes: attrs(),
                ..HistogramDataPoint::default()
            }],
            ..Histogram::default()
        }),
        Data::ExponentialHistogram(ExponentialHistogram {
            data_points: vec![ExponentialHistogramDataPoint {
                attributes: attrs(),
                ..ExponentialHistogramDataPoint::default()
            }],
            ..ExponentialHistogram::default()
        }),
        Data::Summary(Summary {
            data_points: vec![SummaryDataPoint {
                attributes: attrs(),
                ..SummaryDataPoint::default()
            }],
        }),
    ]
    .into_iter()
    .map(|data| Metric {
        name: "m".into(),
        data: Some(data),
        ..Metric::default()
    })
    .collect()
}

/// The attributes of each data point of `metrics`, in order (for tests).
#[cfg(test)]
pub(crate) fn point_attributes(
    metrics: &mut [crate::proto::metrics::v1::Metric],
) -> Vec<Vec<KeyValue>> {
    let mut out = Vec::new();
    for m in metrics {
        each_point_attributes(m, |a| out.push(a.clone()));
    }
    out
}

/// Removes scope entries without spans and resource entries without scopes.
pub(crate) fn prune_empty(batch: &mut ExportTraceServiceRequest) {
    for rs in &mut batch.resource_spans {
        rs.scope_spans.retain(|s| !s.spans.is_empty());
    }
    batch.resource_spans.retain(|r| !r.scope_spans.is_empty());
}

/// The string form of an attribute value, as the Collector's
/// `pcommon.Value.AsString` writes it for scalars (composite values give
/// `None` here).
pub(crate) fn scalar_string(v: &AnyValue) -> Option<String> {
    Some(match v.value.as_ref()? {
        any_value::Value::StringValue(s) => s.clone(),
        any_value::Value::BoolValue(b) => b.to_string(),
        any_value::Value::IntValue(i) => i.to_string(),
        any_value::Value::DoubleValue(d) => go_float(*d),
        _ => return None,
    })
}

/// pdata's `AsString`: scalars as [`scalar_string`], bytes in standard
/// base64, maps and lists as JSON ([`go_json`]), nothing for an empty value.
pub(crate) fn as_text(v: &AnyValue) -> String {
    match &v.value {
        Some(any_value::Value::BytesValue(b)) => base64(b),
        Some(any_value::Value::KvlistValue(_) | any_value::Value::ArrayValue(_)) => {
            let mut out = String::new();
            if go_json(v, &mut out).is_err() {
                out.clear();
            }
            out
        }
        _ => scalar_string(v).unwrap_or_default(),
    }
}

/// A NaN or an infinity, which JSON cannot hold.
pub(crate) struct NotJson;

/// A value as Go's `encoding/json` writes what pdata's `AsRaw` makes of it
/// (without HTML escaping, as pdata v1.71's `AsString` asks): map keys
/// sorted by their bytes, the last of duplicate keys kept, bytes as base64
/// strings (empty bytes, like empty values, as `null`), doubles in the
/// shortest form that reads back (with an exponent below 1e-6 and from 1e21
/// on). A NaN or an
/// infinity anywhere fails the whole value, as it fails Go's encoder
/// (pdata then writes nothing).
pub(crate) fn go_json(v: &AnyValue, out: &mut String) -> Result<(), NotJson> {
    use any_value::Value as V;
    match &v.value {
        // A profiles dictionary index means nothing outside its request:
        // no value, as for pdata.
        None | Some(V::StringValueStrindex(_)) => out.push_str("null"),
        Some(V::StringValue(s)) => json_string(s, out),
        Some(V::BoolValue(b)) => out.push_str(if *b { "true" } else { "false" }),
        Some(V::IntValue(i)) => out.push_str(&i.to_string()),
        Some(V::DoubleValue(d)) => {
            if !d.is_finite() {
                return Err(NotJson);
            }
            out.push_str(&go_float(*d));
        }
        // pdata's `ByteSlice.AsRaw` of an empty slice is a nil slice,
        // which Go's encoder writes as `null`.
        Some(V::BytesValue(b)) if b.is_empty() => out.push_str("null"),
        Some(V::BytesValue(b)) => {
            out.push('"');
            out.push_str(&base64(b));
            out.push('"');
        }
        Some(V::ArrayValue(list)) => {
            out.push('[');
            for (i, item) in list.values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json(item, out)?;
            }
            out.push(']');
        }
        Some(V::KvlistValue(map)) => {
            // A Go map: the last value of a key wins; keys come out sorted.
            let mut sorted: std::collections::BTreeMap<&str, Option<&AnyValue>> =
                std::collections::BTreeMap::new();
            for kv in &map.values {
                sorted.insert(&kv.key, kv.value.as_ref());
            }
            out.push('{');
            for (i, (k, val)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_string(k, out);
                out.push(':');
                match val {
                    Some(val) => go_json(val, out)?,
                    None => out.push_str("null"),
                }
            }
            out.push('}');
        }
    }
    Ok(())
}

/// A JSON string as Go's encoder writes it without HTML escaping: `"` and
/// `\` escaped, `\b \f \n \r \t`, other control characters and
/// U+2028 / U+2029 as `\u00xx` / `\u2028`.
fn json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Standard base64 with padding (Go's `base64.StdEncoding`).
pub(crate) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A double as pdata's `AsString` writes it (v1.71's `float64AsString`):
/// the shortest form that reads back, with an exponent below 1e-6 and from
/// 1e21 on (`1e-7`, `1e+21`), and `NaN`, `Infinity`, `-Infinity`.
pub(crate) fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    let abs = f.abs();
    let (negative, digits, exp) = go_shortest(f);
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        let sign = if exp < 0 { "" } else { "+" };
        let minus = if negative { "-" } else { "" };
        return format!("{minus}{first}{dot}{rest}e{sign}{exp}");
    }
    plain_decimal(negative, &digits, exp)
}

/// A double as Go's `strconv.FormatFloat(f, 'f', -1, 64)` writes it: the
/// shortest digits that read back, in plain decimal notation; `NaN`,
/// `+Inf`, `-Inf`.
pub(crate) fn go_plain_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    let (negative, digits, exp) = go_shortest(f);
    plain_decimal(negative, &digits, exp)
}

/// The shortest decimal digits that read back as `f` (finite), as Go
/// chooses them: whether it is negative, the digits, and the exponent of
/// the first digit. Two candidates of the shortest length can be equally
/// near (an exact tie, e.g. 2^50 + 0.25): Rust's `{:e}` takes the upper,
/// Go the even one. The same number of digits correctly rounded (Rust's
/// exact formatting rounds ties to even) is the nearest candidate, so it
/// reads back too and breaks ties as Go does.
fn go_shortest(f: f64) -> (bool, String, i32) {
    let shortest = format!("{f:e}");
    let n = shortest
        .bytes()
        .take_while(|&b| b != b'e')
        .filter(u8::is_ascii_digit)
        .count();
    let sci = format!("{f:.*e}", n - 1);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(char::from)
        .collect();
    (negative, digits, exp)
}

/// `digits` with the first at `10^exp`, in plain decimal notation.
fn plain_decimal(negative: bool, digits: &str, exp: i32) -> String {
    let n = digits.len() as i32;
    let mut out = String::from(if negative { "-" } else { "" });
    if exp < 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
        out.push_str(digits);
    } else if exp >= n - 1 {
        out.push_str(digits);
        out.extend(std::iter::repeat_n('0', (exp - (n - 1)) as usize));
    } else {
        out.push_str(&digits[..=exp as usize]);
        out.push('.');
        out.push_str(&digits[exp as usize + 1..]);
    }
    out
}

/// A string attribute.
pub fn string_attr(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..KeyValue::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::trace::v1::{ResourceSpans, ScopeSpans, Span};

    /// What Go's `float64AsString` writes (pdata's `AsString`).
    #[test]
    fn doubles_are_written_as_pdata_writes_them() {
        for (f, want) in [
            (0.5, "0.5"),
            (0.0, "0"),
            (-0.0, "-0"),
            (123456789.0, "123456789"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (-2.5e300, "-2.5e+300"),
            (1e-6, "0.000001"),
            (1.5e-7, "1.5e-7"),
            (5e-324, "5e-324"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
        ] {
            assert_eq!(go_float(f), want, "{f:?}");
        }
    }

    /// Go breaks an exact tie between two shortest candidates to the even
    /// digit (json.Marshal and strconv's 'f' -1, Go 1.26).
    #[test]
    fn float_ties_go_to_even() {
        // 2^50 + 0.25, halfway between ...624.2 and ...624.3.
        const TIE: f64 = 1_125_899_906_842_624.0 + 0.25;
        assert_eq!(go_float(TIE), "1125899906842624.2");
        assert_eq!(
            go_float(-(815_717_354_578_265.0 + 0.25)),
            "-815717354578265.2"
        );
        assert_eq!(go_float(88_786_564_892_474.0 + 0.125), "88786564892474.12");
        assert_eq!(go_plain_float(TIE), "1125899906842624.2");
        assert_eq!(go_plain_float(1e21), "1000000000000000000000");
        assert_eq!(go_plain_float(-0.0), "-0");
        assert_eq!(go_plain_float(1e-7), "0.0000001");
        assert_eq!(go_plain_float(f64::NEG_INFINITY), "-Inf");
    }

    /// What Go's `encoding/json` writes for pdata's `AsRaw` of a map and a
    /// list (the strings as Go 1.26 produces them).
    #[test]
    fn maps_and_lists_are_written_as_go_json() {
        use crate::proto::common::v1::{ArrayValue, KeyValueList};
        use any_value::Value as V;
        let v = |x: V| AnyValue { value: Some(x) };
        let kv = |k: &str, x: V| KeyValue {
            key: k.into(),
            value: Some(v(x)),
            ..KeyValue::default()
        };
        let map = v(V::KvlistValue(KeyValueList {
            values: vec![
                kv("z", V::IntValue(-3)),
                kv("a", V::StringValue("<&>\"\\\n\u{1}\u{2028}é".into())),
                kv("m", V::BoolValue(true)),
                kv("a", V::DoubleValue(1e21)),
                kv("b", V::BytesValue(vec![0xff, 0])),
                kv(
                    "l",
                    V::ArrayValue(ArrayValue {
                        values: vec![
                            v(V::DoubleValue(0.5)),
                            AnyValue { value: None },
                            v(V::DoubleValue(1e-7)),
                        ],
                    }),
                ),
                KeyValue {
                    key: "n".into(),
                    value: None,
                    ..KeyValue::default()
                },
            ],
        }));
        assert_eq!(
            as_text(&map),
            r#"{"a":1e+21,"b":"/wA=","l":[0.5,null,1e-7],"m":true,"n":null,"z":-3}"#
        );
        let list = v(V::ArrayValue(ArrayValue {
            values: vec![
                v(V::StringValue("<&>\"\\\n\u{1}\u{8}\u{2028}é".into())),
                v(V::IntValue(7)),
            ],
        }));
        assert_eq!(as_text(&list), r#"["<&>\"\\\n\u0001\b\u2028é",7]"#);
        // pdata's ByteSlice.AsRaw of empty bytes is a nil slice, which
        // Go's encoder writes as null.
        let map = v(V::KvlistValue(KeyValueList {
            values: vec![
                kv("b", V::BytesValue(vec![])),
                kv("c", V::BytesValue(vec![1])),
            ],
        }));
        assert_eq!(as_text(&map), r#"{"b":null,"c":"AQ=="}"#);
        let list = v(V::ArrayValue(ArrayValue {
            values: vec![v(V::BytesValue(vec![]))],
        }));
        assert_eq!(as_text(&list), "[null]");
        // Go's encoder refuses NaN and the infinities: pdata writes nothing.
        let nan = v(V::ArrayValue(ArrayValue {
            values: vec![v(V::IntValue(1)), v(V::DoubleValue(f64::INFINITY))],
        }));
        assert_eq!(as_text(&nan), "");
    }

    /// A user-defined step: drops spans named "health".
    struct DropHealth;

    impl Processor for DropHealth {
        fn name(&self) -> &str {
            "drop_health"
        }
        fn process(&mut self, batch: &mut ExportTraceServiceRequest) -> Outcome {
            let mut out = Outcome::default();
            for rs in &mut batch.resource_spans {
                for ss in &mut rs.scope_spans {
                    let before = ss.spans.len();
                    ss.spans.retain(|s| s.name != "health");
                    out.drop("health_check", (before - ss.spans.len()) as u64);
                }
            }
            prune_empty(batch);
            out
        }
    }

    #[test]
    fn chain_runs_in_order_and_accounts_for_every_span() {
        let spans: Vec<Span> = (0..200u8)
            .map(|i| Span {
                trace_id: [i.wrapping_mul(37); 16].to_vec(),
                name: if i % 10 == 0 {
                    "health".into()
                } else {
                    "work".into()
                },
                attributes: vec![string_attr("user", "a@b.com"), string_attr("secret", "x")],
                ..Span::default()
            })
            .collect();
        let mut batch = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..ScopeSpans::default()
                }],
                ..ResourceSpans::default()
            }],
        };
        let mut chain = Chain::new()
            .with(DropHealth)
            .with(
                ProbabilisticSampler::builder()
                    .with_mode(sampling::Mode::Proportional)
                    .with_percentage(50.0)
                    .build()
                    .unwrap(),
            )
            .with(
                Redaction::builder()
                    .with_allowed_keys(["user"])
                    .with_blocked_pattern("email")
                    .unwrap()
                    .build()
                    .unwrap(),
            );
        assert_eq!(
            chain.names(),
            ["drop_health", "probabilistic_sampler", "redaction"]
        );
        let r = chain.process(&mut batch);
        let dropped: u64 = r.dropped.iter().map(|d| d.2).sum();
        assert_eq!(r.spans_in, 200);
        assert_eq!(r.spans_in, r.spans_out + dropped);
        assert_eq!(r.dropped[0], ("drop_health".into(), "health_check", 20));
        assert!(r.spans_out > 50 && r.spans_out < 130, "{r:?}");
        for s in batch
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
        {
            assert_eq!(s.attributes, vec![string_attr("user", "****")]);
            assert!(s.trace_state.starts_with("ot=th:8"));
        }
    }
}

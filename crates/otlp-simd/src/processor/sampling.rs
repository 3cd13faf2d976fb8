//! Probabilistic sampling with the semantics of the Collector's
//! `probabilisticsamplerprocessor` (traces).
//!
//! Modes:
//!
//! - `proportional`: each span's sampling probability is
//!   multiplied by the configured ratio. The randomness R is the `rv`
//!   value of the `ot` tracestate member if there is one, else the last 56
//!   bits of the trace id; the new threshold is written as `ot=th:...`,
//!   rounded to `sampling_precision` hex digits (one more for each leading
//!   hex `0` of the probability or of its complement, as the Collector's
//!   `pkg/sampling` does).
//! - `equalizing`: spans are brought down to the configured probability;
//!   spans that arrive with a lower one pass with their threshold kept.
//! - `hash_seed` (the default, as in the Collector): the processor's
//!   original method: an FNV-1a hash of the
//!   seed (4 bytes, little-endian) and the trace id, of which 14 bits are
//!   compared with the percentage scaled to 2^14 (in 32-bit float and
//!   truncated, as the Collector computes it). Sampled spans get
//!   `ot=rv:...;th:...` with the randomness built from the hash the way the
//!   Collector builds it, so later consistent samplers agree.
//!
//! As in the Collector, a `sampling.priority` attribute of 0 drops the span
//! and a positive one keeps it (int, double, or a string Go's
//! `strconv.ParseFloat` reads); an unparsable tracestate, an arriving
//! threshold the randomness contradicts, missing randomness (an all-zero
//! trace id, except at 0 %, where no randomness is read), or in
//! `hash_seed` mode an `rv` or `th` already present, is an error: the span
//! is dropped when `fail_closed` (the default) and kept otherwise.
//!
//! Rules (this crate's addition): `keep_errors`, `keep_slower_than`,
//! `keep_span_names` (exact names) and `keep_attributes` (an attribute
//! equal to a string) keep the spans they match as a positive
//! `sampling.priority` would. With name or attribute rules, no decision
//! is taken before spans are encoded ([`Processor::early_drop`]); span by
//! span and batch paths apply them all.
//!
//! The common case (empty tracestate, no priority attribute, a 16-byte
//! trace id) is decided for the whole batch at once with
//! [`crate::threshold::keep_mask`]; everything else goes through the
//! per-span path, and a property test checks that both agree.
//!
//! Log records are sampled as the Collector's logs processor samples them:
//!
//! - the randomness is an explicit `sampling.randomness` attribute (14 hex
//!   digits) or the trace id's last 56 bits in the consistent modes; in
//!   `hash_seed` mode, the hash of the trace id, or of the `from_attribute`
//!   value when the trace id is all zeros or `attribute_source` is
//!   `record` (a bytes value as it is, any other as pdata's `AsString`);
//! - `sampling.threshold` carries the arriving threshold and receives the
//!   new one; `hash_seed` mode writes the randomness it used to
//!   `sampling.randomness`, and treats a record that already has either
//!   attribute as an error;
//! - `sampling_priority` names an attribute (an int or a double) holding
//!   the record's own percentage, which replaces the configured one. As in
//!   the Collector's v0.165 code (its README says otherwise), a value of
//!   0 or above 100 is ignored, not "never" and "always";
//!
//! The keep rules are for spans only.
//!
//! Differences from the Collector: trace ids that are not 16 bytes long
//! (which the Collector cannot receive) count as missing randomness; the
//! decision counters are this crate's [`Outcome`] reasons, not Collector
//! metrics; `attribute_source = "record"` without `from_attribute`, or
//! with `proportional` or `equalizing` mode (which read the trace id
//! only), is refused rather than accepted, and so is an empty
//! `attribute_source` (which the Collector reads as `record`). An empty
//! `from_attribute` or `sampling_priority` is unset, as there.

use super::attrs::{proto_put, proto_value};
use super::go_strconv::go_parse_float;
use super::span::{EndingSpan, SpanStep, Verdict};
use super::tracestate::{hex14, parse_rvalue, parse_tvalue, tvalue, TraceState};
use super::{prune_empty, Outcome, Processor};
use crate::proto::collector::logs::v1::ExportLogsServiceRequest;
use crate::proto::collector::trace::v1::ExportTraceServiceRequest;
use crate::proto::common::v1::any_value::Value;
use crate::proto::common::v1::{AnyValue, KeyValue};
use crate::proto::logs::v1::LogRecord;
use crate::proto::trace::v1::Span;
use crate::threshold::{keep_mask_with, mask_bit, MASK56, NEVER_SAMPLE};
use crate::Isa;
use std::borrow::Cow;
use thiserror::Error;

/// 2^56 as f64.
const MAX_ADJUSTED: f64 = (1u64 << 56) as f64;

/// The sampling mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mode {
    /// Multiply each span's probability by the ratio.
    Proportional,
    /// Bring spans down to the configured probability.
    Equalizing,
    /// The FNV hash of seed and trace id, 14 bits.
    HashSeed,
}

impl std::str::FromStr for Mode {
    type Err = SamplerError;
    fn from_str(s: &str) -> Result<Mode, SamplerError> {
        match s {
            "proportional" => Ok(Mode::Proportional),
            "equalizing" => Ok(Mode::Equalizing),
            "hash_seed" => Ok(Mode::HashSeed),
            _ => Err(SamplerError::Mode(s.to_owned())),
        }
    }
}

/// Why a sampler configuration was refused.
#[derive(Clone, Debug, Error, PartialEq)]
#[non_exhaustive]
pub enum SamplerError {
    /// Not a mode name.
    #[error("unsupported sampler mode {0:?} (proportional, equalizing or hash_seed)")]
    Mode(String),
    /// NaN, infinite, negative, or above 0 but below 2^-56.
    #[error("sampling percentage {0} is invalid")]
    Percentage(f32),
    /// Not in 1..=14.
    #[error("sampling precision {0} is not in 1..=14")]
    Precision(u8),
    /// Not `traceID` or `record`.
    #[error("unsupported attribute source {0:?} (traceID or record)")]
    AttributeSource(String),
    /// `attribute_source = "record"` without `from_attribute`, which
    /// would leave every log record without randomness.
    #[error("attribute_source \"record\" needs from_attribute (the log record attribute to hash)")]
    RecordWithoutAttribute,
    /// `attribute_source = "record"` with a consistent mode, which reads
    /// the trace id only.
    #[error("attribute_source \"record\" works in hash_seed mode only, not {0:?}")]
    RecordInConsistentMode(Mode),
}

/// Where `hash_seed` mode takes a log record's randomness from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttributeSource {
    /// The trace id; the `from_attribute` attribute when the trace id is
    /// all zeros (the default).
    #[default]
    TraceId,
    /// The `from_attribute` attribute only.
    Record,
}

impl std::str::FromStr for AttributeSource {
    type Err = SamplerError;
    fn from_str(s: &str) -> Result<AttributeSource, SamplerError> {
        match s {
            "traceID" => Ok(AttributeSource::TraceId),
            "record" => Ok(AttributeSource::Record),
            _ => Err(SamplerError::AttributeSource(s.to_owned())),
        }
    }
}

/// Builds a [`ProbabilisticSampler`].
#[derive(Clone, Debug)]
pub struct SamplerBuilder {
    mode: Option<Mode>,
    percentage: f32,
    hash_seed: u32,
    precision: u8,
    fail_closed: bool,
    isa: Option<Isa>,
    rules: Rules,
    attribute_source: AttributeSource,
    from_attribute: Option<String>,
    log_priority: Option<String>,
}

/// Spans kept whatever the probability: they are treated as if they had
/// `sampling.priority` > 0 (threshold 0, `th:0` written).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Rules {
    keep_errors: bool,
    /// In nanoseconds.
    keep_slower_than: Option<u64>,
    /// Exact span names.
    keep_names: Vec<String>,
    /// A span attribute equal to a string.
    keep_attributes: Vec<(String, String)>,
}

impl Rules {
    fn keeps(&self, span: &Span) -> bool {
        self.keeps_by(
            span.status.as_ref().is_some_and(|s| s.code == 2),
            span.end_time_unix_nano
                .saturating_sub(span.start_time_unix_nano),
        ) || self.keeps_named(&span.name, |key| {
            match super::attrs::proto_value(&span.attributes, key) {
                Some(Value::StringValue(s)) => Some(s.as_str()),
                _ => None,
            }
        })
    }

    /// Whether any rule can keep a span ([`keeps_by`](Self::keeps_by) and
    /// [`keeps_named`](Self::keeps_named) are false for every span
    /// otherwise).
    fn keeps_any(&self) -> bool {
        self.keep_errors
            || self.keep_slower_than.is_some()
            || !self.keep_names.is_empty()
            || !self.keep_attributes.is_empty()
    }

    /// Whether a span with an error status or not, of `duration_ns`, is
    /// kept by a rule.
    fn keeps_by(&self, is_error: bool, duration_ns: u64) -> bool {
        (self.keep_errors && is_error) || self.keep_slower_than.is_some_and(|b| duration_ns >= b)
    }

    /// Whether a span of `name` whose string attributes `attr` gives is
    /// kept by a name or attribute rule (the first attribute with a key
    /// counts).
    fn keeps_named<'a>(&self, name: &str, attr: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.keep_names.iter().any(|n| n == name)
            || self
                .keep_attributes
                .iter()
                .any(|(k, v)| attr(k) == Some(v.as_str()))
    }
}

impl SamplerBuilder {
    /// The mode; `hash_seed` (the Collector's default) when unset.
    pub fn with_mode(mut self, mode: Mode) -> Self {
        self.mode = Some(mode);
        self
    }

    /// Percentage of spans to keep; above 100 means 100, 0 keeps none.
    pub fn with_percentage(mut self, pct: f32) -> Self {
        self.percentage = pct;
        self
    }

    /// The seed of `hash_seed` mode.
    pub fn with_hash_seed(mut self, seed: u32) -> Self {
        self.hash_seed = seed;
        self
    }

    /// Hex digits of threshold written to tracestate (1..=14, default 4).
    pub fn with_precision(mut self, digits: u8) -> Self {
        self.precision = digits;
        self
    }

    /// Drop spans whose sampling information is in error (default true).
    pub fn with_fail_closed(mut self, on: bool) -> Self {
        self.fail_closed = on;
        self
    }

    /// Keep every span whose status is ERROR (a rule; see [`Self::with_keep_slower_than`]).
    pub fn with_keep_errors(mut self, on: bool) -> Self {
        self.rules.keep_errors = on;
        self
    }

    /// Keep every span that lasted at least `bound`. A span kept by a rule
    /// is handled as one with `sampling.priority` > 0 is: kept, with
    /// threshold 0 (`th:0`) unless the tracestate already holds a higher
    /// one; a priority of 0 still drops it.
    pub fn with_keep_slower_than(mut self, bound: std::time::Duration) -> Self {
        self.rules.keep_slower_than = Some(u64::try_from(bound.as_nanos()).unwrap_or(u64::MAX));
        self
    }

    /// Keep every span named `name` exactly (a rule, as
    /// [`with_keep_errors`](Self::with_keep_errors)).
    pub fn with_keep_span_name(mut self, name: impl Into<String>) -> Self {
        self.rules.keep_names.push(name.into());
        self
    }

    /// Keep every span whose attribute `key` is the string `value` (a
    /// rule, as [`with_keep_errors`](Self::with_keep_errors)).
    pub fn with_keep_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.rules.keep_attributes.push((key.into(), value.into()));
        self
    }

    /// Run the batch path on this instruction set instead of the detected one.
    pub fn with_isa(mut self, isa: Isa) -> Self {
        self.isa = Some(isa);
        self
    }

    /// Logs: where `hash_seed` mode takes a record's randomness from (the
    /// trace id by default). `Record` needs `hash_seed` mode (the default)
    /// and [`with_from_attribute`](Self::with_from_attribute).
    pub fn with_attribute_source(mut self, source: AttributeSource) -> Self {
        self.attribute_source = source;
        self
    }

    /// Logs: the record attribute `hash_seed` mode hashes when the source
    /// is `Record`, or when the trace id is all zeros. A bytes value is
    /// hashed as it is, any other as pdata's `AsString` writes it.
    pub fn with_from_attribute(mut self, key: impl Into<String>) -> Self {
        self.from_attribute = Some(key.into());
        self
    }

    /// Logs: the record attribute (an int or a double) holding a
    /// percentage that replaces the configured one for that record, as the
    /// Collector's `sampling_priority` does for logs: 0, values above 100
    /// and other types leave the configured percentage in place.
    pub fn with_log_priority_attribute(mut self, key: impl Into<String>) -> Self {
        self.log_priority = Some(key.into());
        self
    }

    /// The sampler.
    pub fn build(mut self) -> Result<ProbabilisticSampler, SamplerError> {
        // The Collector reads an empty attribute name as "not set".
        self.from_attribute = self.from_attribute.filter(|k| !k.is_empty());
        self.log_priority = self.log_priority.filter(|k| !k.is_empty());
        let pct = self.percentage;
        if !pct.is_finite() || pct < 0.0 {
            return Err(SamplerError::Percentage(pct));
        }
        let ratio = f64::from(pct) / 100.0;
        if ratio > 0.0 && ratio < 1.0 / MAX_ADJUSTED {
            return Err(SamplerError::Percentage(pct));
        }
        if !(1..=14).contains(&self.precision) {
            return Err(SamplerError::Precision(self.precision));
        }
        let record = self.attribute_source == AttributeSource::Record;
        if record {
            match self.mode {
                Some(m @ (Mode::Proportional | Mode::Equalizing)) => {
                    return Err(SamplerError::RecordInConsistentMode(m))
                }
                _ if self.from_attribute.is_none() => {
                    return Err(SamplerError::RecordWithoutAttribute)
                }
                _ => {}
            }
        }
        // The Collector's default mode.
        let kind = self.kind_of(self.mode.unwrap_or(Mode::HashSeed), pct);
        let mut sampler = ProbabilisticSampler {
            kind,
            logs: LogSource {
                trace_id: !record,
                from_attribute: self.from_attribute,
                priority: self.log_priority,
                precision: self.precision,
            },
            log_tvalue: String::new(),
            fail_closed: self.fail_closed,
            isa: self.isa.unwrap_or_else(Isa::detect),
            rules: self.rules,
            ids: Vec::new(),
            fast: Vec::new(),
            state: Vec::new(),
            mask: Vec::new(),
            fast_ts: String::new(),
            base: None,
        };
        sampler.base = base_threshold_of(sampler.kind);
        if let Some(th) = sampler.base_threshold().filter(|&th| th < NEVER_SAMPLE) {
            let mut ts = TraceState::default();
            ts.update_threshold(th);
            sampler.fast_ts = ts.serialize();
            sampler.log_tvalue = tvalue(th);
        }
        Ok(sampler)
    }

    /// The sampler of `mode` at `pct` (checked by [`build`](Self::build)).
    fn kind_of(&self, mode: Mode, pct: f32) -> Kind {
        let pct = pct.min(100.0);
        if pct == 0.0 {
            return Kind::Never;
        }
        let ratio = (f64::from(pct) / 100.0).max(1.0 / MAX_ADJUSTED);
        match mode {
            Mode::Equalizing => Kind::Equalizing {
                // In range: the ratio was clamped to [2^-56, 1] above.
                threshold: probability_to_threshold(ratio, self.precision).unwrap_or(0),
            },
            Mode::Proportional => Kind::Proportional {
                ratio,
                precision: self.precision,
            },
            Mode::HashSeed => {
                // float32 multiply, truncated: the Collector's
                // `uint32(pct * percentageScaleFactor)`.
                let scaled = (pct * (16384.0f32 / 100.0)) as u32;
                if scaled == 0 {
                    Kind::Never
                } else {
                    Kind::HashSeed {
                        threshold: u64::from(16384 - scaled.min(16384)) << 42,
                        seed: self.hash_seed,
                    }
                }
            }
        }
    }
}

/// How log records are read (see [`SamplerBuilder::with_attribute_source`]).
#[derive(Clone, Debug, PartialEq)]
struct LogSource {
    /// `hash_seed` mode hashes the trace id.
    trace_id: bool,
    from_attribute: Option<String>,
    /// The attribute holding a record's own percentage.
    priority: Option<String>,
    /// For the priority's threshold.
    precision: u8,
}

/// The threshold the common case (no tracestate or sampling attributes, no
/// priority) is decided against; `None` for `hash_seed`, whose randomness
/// is a hash.
fn base_threshold_of(kind: Kind) -> Option<u64> {
    match kind {
        Kind::Never => Some(NEVER_SAMPLE),
        Kind::Equalizing { threshold } => Some(threshold),
        Kind::Proportional { ratio, precision } => {
            Some(probability_to_threshold(ratio, precision).unwrap_or(NEVER_SAMPLE))
        }
        Kind::HashSeed { .. } => None,
    }
}

/// The threshold `kind` decides on for an item arriving with `incoming`
/// (the Collector's `decide`).
fn threshold_for(kind: Kind, incoming: Option<u64>) -> u64 {
    match kind {
        Kind::Never => NEVER_SAMPLE,
        Kind::HashSeed { threshold, .. } => threshold,
        Kind::Equalizing { threshold } => match incoming {
            Some(t) if threshold < t => t,
            _ => threshold,
        },
        Kind::Proportional { ratio, precision } => {
            let incoming = incoming.map_or(1.0, threshold_probability);
            // Below 2^-56 the item is simply not sampled.
            probability_to_threshold(incoming * ratio, precision).unwrap_or(NEVER_SAMPLE)
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Never,
    Equalizing { threshold: u64 },
    Proportional { ratio: f64, precision: u8 },
    HashSeed { threshold: u64, seed: u32 },
}

/// The probability is outside `[2^-56, 1]`.
#[derive(Debug, PartialEq, Eq)]
struct OutOfRange;

/// The binary exponent Go's `math.Frexp` returns (`x = f * 2^exp`,
/// `0.5 <= f < 1`), for positive finite `x`.
fn frexp_exp(x: f64) -> i32 {
    if x == 0.0 || !x.is_finite() {
        return 0;
    }
    let bits = x.to_bits();
    let e = ((bits >> 52) & 0x7ff) as i32;
    if e == 0 {
        // Subnormal: scale into the normal range first.
        return frexp_exp(x * f64::powi(2.0, 54)) - 54;
    }
    e - 1022
}

/// The Collector's `ProbabilityToThresholdWithPrecision`: the threshold
/// rounded to `precision` hex digits, plus one digit for every leading hex
/// `0` of the probability or of its complement (so that small probabilities
/// and ones near 1 keep their relative precision), at most 14.
fn probability_to_threshold(prob: f64, precision: u8) -> Result<u64, OutOfRange> {
    let mut prec = if precision == 0 {
        14
    } else {
        i32::from(precision)
    };
    // NaN fails the range test too.
    if !(1.0 / MAX_ADJUSTED..=1.0).contains(&prob) {
        return Err(OutOfRange);
    }
    if prob == 1.0 {
        return Ok(0);
    }
    // Go's integer division truncates toward zero, as Rust's does.
    prec = 14.min((prec + frexp_exp(prob) / -4).max(prec + frexp_exp(1.0 - prob) / -4));
    let scaled = (prob * MAX_ADJUSTED).round() as u64;
    let mut t = (1u64 << 56) - scaled;
    let shift = 4 * (14 - prec) as u32;
    if shift != 0 {
        t += 1 << (shift - 1);
        t >>= shift;
        t <<= shift;
    }
    Ok(t)
}

/// The probability a threshold stands for.
fn threshold_probability(th: u64) -> f64 {
    ((1u64 << 56) - th) as f64 / MAX_ADJUSTED
}

/// FNV-1a (32 bits) of the seed's four little-endian bytes, then `bytes`.
pub fn fnv_seeded(bytes: &[u8], seed: u32) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in seed.to_le_bytes().iter().chain(bytes) {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// The 56-bit randomness `hash_seed` mode derives from the hash: the top 14
/// bits are `2^14 - 1 - (hash & 0x3fff)`, so `R >= T` is the original
/// `hash < scaled rate` test.
pub fn hash_randomness(bytes: &[u8], seed: u32) -> u64 {
    let h = fnv_seeded(bytes, seed);
    let hashed = u64::from(h & 0x3fff);
    let rprime = 0x3fff - hashed;
    // The Collector takes `hash >> (32 - 14)`: the top 14 bits.
    let unused18 = u64::from(h >> 18);
    let mixed28 = unused18 ^ (unused18 << 10);
    ((rprime << 42) | (mixed28 << 14) | hashed) & MASK56
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Priority {
    Defer,
    Must,
    DoNot,
}

fn priority(span: &Span) -> Priority {
    let Some(kv) = span
        .attributes
        .iter()
        .find(|kv| kv.key == "sampling.priority")
    else {
        return Priority::Defer;
    };
    priority_of(match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Value::IntValue(i)) => Some(*i as f64),
        Some(Value::DoubleValue(d)) => Some(*d),
        // Go's strconv.ParseFloat (hexadecimal and underscores included).
        Some(Value::StringValue(s)) => go_parse_float(s),
        _ => None,
    })
}

/// [`priority`] of an SDK span's attributes.
fn sdk_priority(attrs: &[opentelemetry::KeyValue]) -> Priority {
    use opentelemetry::Value as V;
    let Some(kv) = attrs
        .iter()
        .find(|kv| kv.key.as_str() == "sampling.priority")
    else {
        return Priority::Defer;
    };
    priority_of(match &kv.value {
        V::I64(i) => Some(*i as f64),
        V::F64(d) => Some(*d),
        V::String(s) => go_parse_float(s.as_str()),
        _ => None,
    })
}

/// The priority a `sampling.priority` value (as a number) gives.
fn priority_of(v: Option<f64>) -> Priority {
    let Some(v) = v else {
        return Priority::Defer;
    };
    if v == 0.0 {
        Priority::DoNot
    } else if v > 0.0 {
        Priority::Must
    } else {
        Priority::Defer
    }
}

pub(crate) fn trace_randomness(id: &[u8]) -> Option<u64> {
    let id: &[u8; 16] = id.try_into().ok()?;
    if id.iter().all(|&b| b == 0) {
        return None;
    }
    Some(crate::threshold::randomness(id))
}

/// One span's decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Decision {
    pub keep: bool,
    /// The tracestate to write, when kept and it changes.
    pub tracestate: Option<String>,
    pub reason: &'static str,
}

/// Probabilistic sampling of spans; see the module docs.
#[derive(Clone, Debug)]
pub struct ProbabilisticSampler {
    kind: Kind,
    logs: LogSource,
    /// The `sampling.threshold` written to the records of the common case
    /// it keeps.
    log_tvalue: String,
    fail_closed: bool,
    isa: Isa,
    rules: Rules,
    ids: Vec<[u8; 16]>,
    fast: Vec<usize>,
    /// Per item, its state ([`NOT_SAMPLED`], [`KEPT`], ...).
    state: Vec<u8>,
    mask: Vec<u64>,
    /// The tracestate written to the spans of the common case it keeps.
    fast_ts: String,
    /// [`base_threshold_of`] the kind, computed once.
    base: Option<u64>,
}

impl ProbabilisticSampler {
    /// A builder: `hash_seed` with seed 0, 0%, precision 4, fail closed.
    pub fn builder() -> SamplerBuilder {
        SamplerBuilder {
            mode: None,
            percentage: 0.0,
            hash_seed: 0,
            precision: 4,
            fail_closed: true,
            isa: None,
            rules: Rules::default(),
            attribute_source: AttributeSource::TraceId,
            from_attribute: None,
            log_priority: None,
        }
    }

    /// The threshold the common case (no tracestate, no priority) is
    /// decided against; `None` for `hash_seed`, whose randomness is a hash.
    #[inline]
    fn base_threshold(&self) -> Option<u64> {
        self.base
    }

    fn decide_threshold(&self, carrier: &TraceState) -> u64 {
        threshold_for(self.kind, carrier.th.as_ref().map(|(_, t)| *t))
    }

    /// The per-span path (the Collector's `commonShouldSampleLogic`).
    pub(crate) fn decide(&self, span: &Span) -> Decision {
        let mut prio = priority(span);
        if prio == Priority::Defer && self.rules.keeps(span) {
            prio = Priority::Must;
        }
        self.decide_by(&span.trace_id, &span.trace_state, prio)
    }

    /// [`decide`](Self::decide) from what it reads of a span: its trace
    /// id, tracestate, and priority (a rule's included).
    fn decide_by(&self, trace_id: &[u8], trace_state: &str, prio: Priority) -> Decision {
        let parsed = TraceState::parse(trace_state);
        // (randomness, the tracestate to update, error), as the
        // Collector's `randomnessFromSpan` of each sampler gives them.
        let (rnd, mut carrier, mut err) = match self.kind {
            // Randomness that passes any threshold, and the tracestate as
            // far as it parsed, even with an error.
            Kind::Never => {
                let (ts, e) = TraceState::parse_partial(trace_state);
                (Some(MASK56), Some(ts), e.is_some())
            }
            Kind::HashSeed { seed, .. } => {
                // An all-zero (or absent) trace id has no randomness.
                let r = trace_randomness(trace_id).map(|_| hash_randomness(trace_id, seed));
                match parsed {
                    Err(_) => (r, None, true),
                    // rv or th already there: not ours to touch.
                    Ok(ts) if ts.rv.is_some() || ts.th.is_some() => (r, None, true),
                    Ok(mut ts) => {
                        // Missing randomness is written as the largest.
                        let rv = r.unwrap_or(MASK56);
                        ts.rv = Some((hex14(rv), rv));
                        (r, Some(ts), false)
                    }
                }
            }
            _ => match parsed {
                Err(_) => (None, None, true),
                Ok(ts) => {
                    let r = match &ts.rv {
                        Some((_, r)) => Some(*r),
                        None => trace_randomness(trace_id),
                    };
                    (r, Some(ts), false)
                }
            },
        };
        if !err {
            match (rnd, carrier.as_mut()) {
                (None, _) => err = true,
                (Some(r), Some(ts)) => {
                    if let Some((_, t)) = ts.th {
                        if r < t {
                            ts.th = None;
                            err = true;
                        }
                    }
                }
                (Some(_), None) => {}
            }
        }
        let mut threshold = match (err, &carrier) {
            (true, _) if self.fail_closed => NEVER_SAMPLE,
            (true, _) => 0,
            (false, Some(ts)) => self.decide_threshold(ts),
            (false, None) => self.decide_threshold(&TraceState::default()),
        };
        match prio {
            Priority::DoNot => threshold = NEVER_SAMPLE,
            Priority::Must => threshold = 0,
            Priority::Defer => {}
        }
        // Missing randomness reads as the largest value (the Collector's
        // AllProbabilitiesRandomness).
        let keep = rnd.unwrap_or(MASK56) >= threshold;
        let reason = match (keep, prio, err) {
            (true, _, _) => "",
            (false, Priority::DoNot, _) => "sampling_priority",
            (false, _, true) => "sampling_error",
            (false, _, false) => "not_sampled",
        };
        let mut tracestate = None;
        if keep {
            if let Some(ts) = carrier.as_mut() {
                ts.update_threshold(threshold);
                let s = ts.serialize();
                if s != trace_state {
                    tracestate = Some(s);
                }
            }
        }
        Decision {
            keep,
            tracestate,
            reason,
        }
    }
}

/// An item's state in the batch paths: dropped as not sampled, kept,
/// kept by the column (the common case, its threshold still to write),
/// dropped by priority, dropped for an error.
const NOT_SAMPLED: u8 = 0;
const KEPT: u8 = 1;
const KEPT_BY_COLUMN: u8 = 2;
const DROPPED_BY_PRIORITY: u8 = 3;
const DROPPED_FOR_ERROR: u8 = 4;

/// The state of an item decided on its own.
fn state_of(keep: bool, reason: &str) -> u8 {
    match (keep, reason) {
        (true, _) => KEPT,
        (false, "sampling_priority") => DROPPED_BY_PRIORITY,
        (false, "sampling_error") => DROPPED_FOR_ERROR,
        _ => NOT_SAMPLED,
    }
}

/// Whether an item of `state` stays; one that goes is counted in `out`.
fn settle(state: u8, out: &mut Outcome) -> bool {
    match state {
        KEPT | KEPT_BY_COLUMN => true,
        DROPPED_BY_PRIORITY => {
            out.drop("sampling_priority", 1);
            false
        }
        DROPPED_FOR_ERROR => {
            out.drop("sampling_error", 1);
            false
        }
        _ => {
            out.drop("not_sampled", 1);
            false
        }
    }
}

/// A log record's sampling attributes (the Collector's `recordCarrier`).
const THRESHOLD_ATTR: &str = "sampling.threshold";
pub(crate) const RANDOMNESS_ATTR: &str = "sampling.randomness";

/// The text of a string attribute, `""` for any other type or none.
fn str_attr<'a>(attrs: &'a [KeyValue], key: &str) -> &'a str {
    match proto_value(attrs, key) {
        Some(Value::StringValue(s)) => s,
        _ => "",
    }
}

impl ProbabilisticSampler {
    /// One log record, as the Collector's logs processor decides it
    /// (`commonShouldSampleLogic` with its log record carrier): whether it
    /// is kept, and why not. The record's attributes are updated as the
    /// Collector updates them (`sampling.randomness` in `hash_seed` mode,
    /// `sampling.threshold` when kept, an inconsistent threshold removed).
    pub(crate) fn decide_log(&self, rec: &mut LogRecord) -> (bool, &'static str) {
        let attrs = &rec.attributes;
        // The carrier: a present but unparsable value is an error.
        let mut parse_error = false;
        let mut parse = |text: &str, f: fn(&str) -> Option<u64>| {
            if text.is_empty() {
                return None;
            }
            let v = f(text);
            parse_error |= v.is_none();
            v
        };
        let mut th = parse(str_attr(attrs, THRESHOLD_ATTR), parse_tvalue);
        let rv = parse(str_attr(attrs, RANDOMNESS_ATTR), parse_rvalue);
        // (randomness, whether the carrier is kept, error, an r-value to write)
        let (rnd, carrier, mut err, write_rv) = match self.kind {
            // Randomness that passes any threshold: the decision is the
            // threshold's, and the carrier is kept even with an error.
            Kind::Never => (Some(MASK56), true, parse_error, None),
            Kind::HashSeed { seed, .. } => {
                let mut r = None;
                if self.logs.trace_id && trace_randomness(&rec.trace_id).is_some() {
                    r = Some(hash_randomness(&rec.trace_id, seed));
                }
                if let (None, Some(key)) = (r, &self.logs.from_attribute) {
                    if let Some(kv) = attrs.iter().find(|kv| &kv.key == key) {
                        let bytes = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                            Some(Value::BytesValue(b)) => Cow::Borrowed(b.as_slice()),
                            _ => Cow::Owned(
                                kv.value
                                    .as_ref()
                                    .map(super::as_text)
                                    .unwrap_or_default()
                                    .into_bytes(),
                            ),
                        };
                        if !bytes.is_empty() {
                            r = Some(hash_randomness(&bytes, seed));
                        }
                    }
                }
                if parse_error || rv.is_some() || th.is_some() {
                    // Unparsable, or randomness or a threshold already
                    // there: not ours to touch.
                    (r, false, true, None)
                } else {
                    (r, true, false, r)
                }
            }
            _ => {
                if parse_error {
                    (None, false, true, None)
                } else {
                    (
                        rv.or_else(|| trace_randomness(&rec.trace_id)),
                        true,
                        false,
                        None,
                    )
                }
            }
        };
        if let Some(r) = write_rv {
            proto_put(
                &mut rec.attributes,
                RANDOMNESS_ATTR,
                Value::StringValue(hex14(r)),
            );
        }
        if !err {
            match (rnd, th) {
                (None, _) => err = true,
                (Some(r), Some(t)) if carrier && r < t => {
                    // Inconsistent: cleared, as the specification asks.
                    if let Some(i) = rec
                        .attributes
                        .iter()
                        .position(|kv| kv.key == THRESHOLD_ATTR)
                    {
                        rec.attributes.swap_remove(i);
                    }
                    th = None;
                    err = true;
                }
                _ => {}
            }
        }
        let mut threshold = match err {
            true if self.fail_closed => NEVER_SAMPLE,
            true => 0,
            false => threshold_for(self.kind, th),
        };
        // A record's own percentage replaces the threshold.
        let mut by_priority = false;
        if let Some(key) = &self.logs.priority {
            let pct = match proto_value(&rec.attributes, key) {
                Some(Value::DoubleValue(d)) => *d,
                Some(Value::IntValue(i)) => *i as f64,
                _ => 0.0,
            };
            if pct != 0.0 {
                if let Ok(t) = probability_to_threshold(pct / 100.0, self.logs.precision) {
                    threshold = t;
                    by_priority = true;
                }
            }
        }
        let keep = rnd.unwrap_or(MASK56) >= threshold;
        if keep && carrier && th.is_none_or(|old| threshold >= old) {
            proto_put(
                &mut rec.attributes,
                THRESHOLD_ATTR,
                Value::StringValue(tvalue(threshold)),
            );
        }
        let reason = match (keep, by_priority, err) {
            (true, _, _) => "",
            (false, true, _) => "sampling_priority",
            (false, _, true) => "sampling_error",
            (false, _, false) => "not_sampled",
        };
        (keep, reason)
    }

    /// Decides the common-case items gathered in `ids` against `base` as a
    /// column, marking those kept.
    fn mark_column(&mut self, base: Option<u64>) {
        let Some(th) = base else { return };
        if self.ids.is_empty() || th >= NEVER_SAMPLE {
            return;
        }
        keep_mask_with(self.isa, &self.ids, th, &mut self.mask);
        for (j, &i) in self.fast.iter().enumerate() {
            if mask_bit(&self.mask, j) {
                self.state[i] = KEPT_BY_COLUMN;
            }
        }
    }

    /// The trace id of a log record of the common case (a non-zero 16-byte
    /// trace id, no sampling attributes, no priority attribute), which
    /// the batch path decides against the base threshold.
    fn log_fast_eligible(&self, rec: &LogRecord) -> Option<[u8; 16]> {
        let id: [u8; 16] = rec.trace_id.as_slice().try_into().ok()?;
        if id == [0; 16]
            || rec.attributes.iter().any(|kv| {
                kv.key == THRESHOLD_ATTR
                    || kv.key == RANDOMNESS_ATTR
                    || self.logs.priority.as_ref() == Some(&kv.key)
            })
        {
            return None;
        }
        Some(id)
    }
}

/// The sampler's decision for spans it is sure to drop, taken before a
/// span is encoded: a chain whose first step is a sampler hands this to
/// the exporter ([`Processor::early_drop`]), which then never encodes
/// those spans. It answers only for spans without tracestate and without a
/// `sampling.priority` attribute (the caller checks both), and says "drop"
/// only where the sampler's batch path would drop the span as
/// `not_sampled`; anything else is left to the batch path.
#[derive(Clone, Debug)]
pub struct EarlyDrop {
    threshold: u64,
    rules: Rules,
}

impl EarlyDrop {
    /// Whether the sampler drops a span of `trace_id` with no tracestate
    /// and no `sampling.priority` attribute, given whether its status is
    /// an error and its duration in nanoseconds (for the keep rules).
    pub fn drops(&self, trace_id: &[u8; 16], is_error: bool, duration_ns: u64) -> bool {
        if *trace_id == [0; 16] {
            // Missing randomness: an error the batch path handles.
            return false;
        }
        let kept_by_rule = (self.rules.keep_errors && is_error)
            || self
                .rules
                .keep_slower_than
                .is_some_and(|b| duration_ns >= b);
        !kept_by_rule && crate::threshold::randomness(trace_id) < self.threshold
    }

    /// The reason the batch path gives such spans.
    pub fn reason(&self) -> &'static str {
        "not_sampled"
    }
}

fn fast_eligible(span: &Span, rules: &Rules) -> Option<[u8; 16]> {
    if !span.trace_state.is_empty()
        || rules.keeps(span)
        || span
            .attributes
            .iter()
            .any(|kv| kv.key == "sampling.priority")
    {
        return None;
    }
    let id: [u8; 16] = span.trace_id.as_slice().try_into().ok()?;
    (id != [0; 16]).then_some(id)
}

impl SpanStep for ProbabilisticSampler {
    fn name(&self) -> &str {
        "probabilistic_sampler"
    }

    fn on_end<'s>(&'s self, ending: &mut EndingSpan<'s, '_>) -> Verdict {
        let span = ending.span();
        let mut prio = sdk_priority(&span.attributes);
        if prio == Priority::Defer && self.rules.keeps_any() {
            let is_error = matches!(span.status, opentelemetry::trace::Status::Error { .. });
            let duration = nanos(span.end_time).saturating_sub(nanos(span.start_time));
            let named = || {
                self.rules.keeps_named(&span.name, |key| {
                    span.attributes
                        .iter()
                        .find(|kv| kv.key.as_str() == key)
                        .and_then(|kv| match &kv.value {
                            opentelemetry::Value::String(s) => Some(s.as_str()),
                            _ => None,
                        })
                })
            };
            if self.rules.keeps_by(is_error, duration) || named() {
                prio = Priority::Must;
            }
        }
        let id = span.span_context.trace_id().to_bytes();
        // The common case, as the batch path's column: no tracestate, no
        // priority, randomness in the id.
        if let (Some(th), Priority::Defer, false, false) = (
            self.base_threshold(),
            prio,
            id == [0; 16],
            ending.has_trace_state(),
        ) {
            if crate::threshold::randomness(&id) < th {
                return Verdict::Drop("not_sampled");
            }
            ending.set_trace_state(Cow::Borrowed(&self.fast_ts));
            return Verdict::Keep;
        }
        let d = self.decide_by(&id, ending.trace_state(), prio);
        if !d.keep {
            return Verdict::Drop(d.reason);
        }
        if let Some(ts) = d.tracestate {
            ending.set_trace_state(Cow::Owned(ts));
        }
        Verdict::Keep
    }
}

/// Nanoseconds since the epoch, as the encoder writes a span's times.
pub(crate) fn nanos(t: std::time::SystemTime) -> u64 {
    match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d
            .as_secs()
            .wrapping_mul(1_000_000_000)
            .wrapping_add(u64::from(d.subsec_nanos())),
        Err(_) => 0,
    }
}

impl Processor for ProbabilisticSampler {
    fn name(&self) -> &str {
        "probabilistic_sampler"
    }

    fn span_step(&self) -> Option<Box<dyn SpanStep>> {
        let mut step = self.clone();
        step.ids = Vec::new();
        step.fast = Vec::new();
        step.state = Vec::new();
        step.mask = Vec::new();
        Some(Box::new(step))
    }

    fn early_drop(&self) -> Option<EarlyDrop> {
        // `hash_seed` randomness is a hash of the id: left to the batch;
        // so are spans a name or attribute rule may keep.
        if !self.rules.keep_names.is_empty() || !self.rules.keep_attributes.is_empty() {
            return None;
        }
        self.base_threshold().map(|threshold| EarlyDrop {
            threshold,
            rules: self.rules.clone(),
        })
    }

    fn process(&mut self, batch: &mut ExportTraceServiceRequest) -> Outcome {
        let base = self.base_threshold();
        self.ids.clear();
        self.fast.clear();
        self.state.clear();
        for rs in &mut batch.resource_spans {
            for ss in &mut rs.scope_spans {
                for span in &mut ss.spans {
                    if let (Some(_), Some(id)) = (base, fast_eligible(span, &self.rules)) {
                        self.fast.push(self.state.len());
                        self.ids.push(id);
                        self.state.push(NOT_SAMPLED);
                        continue;
                    }
                    let d = self.decide(span);
                    if let Some(ts) = d.tracestate {
                        span.trace_state = ts;
                    }
                    self.state.push(state_of(d.keep, d.reason));
                }
            }
        }
        self.mark_column(base);
        let fast_ts = &self.fast_ts;
        let mut out = Outcome::default();
        let mut i = 0;
        for rs in &mut batch.resource_spans {
            for ss in &mut rs.scope_spans {
                ss.spans.retain_mut(|span| {
                    let s = self.state[i];
                    i += 1;
                    if s == KEPT_BY_COLUMN {
                        span.trace_state.clone_from(fast_ts);
                    }
                    settle(s, &mut out)
                });
            }
        }
        prune_empty(batch);
        out
    }

    /// Log records, as the Collector's logs processor samples them: the
    /// randomness from the trace id, an explicit `sampling.randomness`
    /// attribute or (`hash_seed` mode) a hash of the trace id or of the
    /// `from_attribute` value; the threshold written to `sampling.threshold`.
    fn process_logs(&mut self, batch: &mut ExportLogsServiceRequest) -> Outcome {
        let base = self.base_threshold();
        self.ids.clear();
        self.fast.clear();
        self.state.clear();
        for rl in &mut batch.resource_logs {
            for sl in &mut rl.scope_logs {
                for rec in &mut sl.log_records {
                    if let (Some(_), Some(id)) = (base, self.log_fast_eligible(rec)) {
                        self.fast.push(self.state.len());
                        self.ids.push(id);
                        self.state.push(NOT_SAMPLED);
                        continue;
                    }
                    let (keep, reason) = self.decide_log(rec);
                    self.state.push(state_of(keep, reason));
                }
            }
        }
        self.mark_column(base);
        let mut out = Outcome::default();
        let mut i = 0;
        for rl in &mut batch.resource_logs {
            for sl in &mut rl.scope_logs {
                sl.log_records.retain_mut(|rec| {
                    let s = self.state[i];
                    i += 1;
                    if s == KEPT_BY_COLUMN {
                        // Eligible: the record has no threshold yet.
                        rec.attributes.push(KeyValue {
                            key: THRESHOLD_ATTR.to_owned(),
                            value: Some(AnyValue {
                                value: Some(Value::StringValue(self.log_tvalue.clone())),
                            }),
                            ..KeyValue::default()
                        });
                    }
                    settle(s, &mut out)
                });
            }
            rl.scope_logs.retain(|s| !s.log_records.is_empty());
        }
        batch.resource_logs.retain(|r| !r.scope_logs.is_empty());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::processor::string_attr;
    use crate::proto::common::v1::{AnyValue, KeyValue};
    use proptest::prelude::*;

    fn span(id: [u8; 16], ts: &str) -> Span {
        Span {
            trace_id: id.to_vec(),
            span_id: vec![1; 8],
            trace_state: ts.to_owned(),
            name: "s".into(),
            ..Span::default()
        }
    }

    fn id_with_r(r: u64) -> [u8; 16] {
        let mut id = [0x11u8; 16];
        id[8..].copy_from_slice(&r.to_be_bytes());
        id
    }

    fn batch(spans: Vec<Span>) -> ExportTraceServiceRequest {
        crate::processor::spans_request(spans)
    }

    fn sampler(mode: Mode, pct: f32) -> ProbabilisticSampler {
        ProbabilisticSampler::builder()
            .with_mode(mode)
            .with_percentage(pct)
            .build()
            .unwrap()
    }

    #[test]
    fn threshold_examples_from_the_specification() {
        // Probability -> th, at the default 4 digits.
        for (p, th) in [
            (1.0, "0"),
            (0.5, "8"),
            (0.25, "c"),
            (1.0 / 3.0, "aaab"),
            (0.1, "e666"),
            // One more digit for the leading hex 0 of 0.01.
            (0.01, "fd70a"),
        ] {
            let t = probability_to_threshold(p, 4).unwrap();
            assert_eq!(super::super::tracestate::tvalue(t), th, "p = {p}");
        }
        // 2^-56 is the smallest probability, kept at full precision;
        // below it is out of range.
        assert_eq!(
            probability_to_threshold(1.0 / MAX_ADJUSTED, 4),
            Ok((1 << 56) - 1)
        );
        assert_eq!(
            probability_to_threshold(1.0 / MAX_ADJUSTED / 2.0, 4),
            Err(OutOfRange)
        );
        // Near 1, the leading zeros of the threshold add digits too.
        assert_eq!(probability_to_threshold(1.0 - 1e-14, 4), Ok(720));
        assert_eq!(frexp_exp(0.01), -6);
        assert_eq!(frexp_exp(1.0), 1);
        assert_eq!(frexp_exp(f64::MIN_POSITIVE / 4.0), -1023);
        assert_eq!(probability_to_threshold(0.5, 14), Ok(1 << 55));
    }

    #[test]
    fn proportional_keeps_r_at_or_above_the_threshold_and_writes_th() {
        let mut s = sampler(Mode::Proportional, 50.0);
        let mut b = batch(vec![
            span(id_with_r(0x80000000000000), ""),
            span(id_with_r(0x7fffffffffffff), ""),
            span(id_with_r(0), "vendor=a"),
            span(id_with_r(0), "ot=rv:ffffffffffffff"),
        ]);
        let out = s.process(&mut b);
        let kept: Vec<&str> = b.resource_spans[0].scope_spans[0]
            .spans
            .iter()
            .map(|s| s.trace_state.as_str())
            .collect();
        assert_eq!(kept, ["ot=th:8", "ot=rv:ffffffffffffff;th:8"]);
        assert_eq!(out.dropped, vec![("not_sampled", 2)]);
    }

    #[test]
    fn proportional_multiplies_an_arriving_probability() {
        // Arriving at 1/2 (th:8), sampled again at 1/2: 1/4, th:c.
        let s = sampler(Mode::Proportional, 50.0);
        let d = s.decide(&span(id_with_r(0xd0000000000000), "ot=th:8"));
        assert_eq!(d.tracestate.as_deref(), Some("ot=th:c"));
        let d = s.decide(&span(id_with_r(0xb0000000000000), "ot=th:8"));
        assert!(!d.keep);
    }

    #[test]
    fn name_and_attribute_rules_keep_spans() {
        let mut s = ProbabilisticSampler::builder()
            .with_mode(Mode::Proportional)
            .with_percentage(0.0)
            .with_keep_span_name("checkout")
            .with_keep_attribute("tier", "gold")
            .build()
            .unwrap();
        assert!(s.early_drop().is_none());
        let mut named = span([7; 16], "");
        named.name = "checkout".into();
        let mut gold = span([7; 16], "");
        gold.attributes.push(string_attr("tier", "gold"));
        let mut silver = span([7; 16], "");
        silver.attributes.push(string_attr("tier", "silver"));
        let mut b = batch(vec![named, gold, silver, span([7; 16], "")]);
        let out = s.process(&mut b);
        assert_eq!(out.dropped, vec![("not_sampled", 2)]);
        let kept = &b.resource_spans[0].scope_spans[0].spans;
        assert_eq!(kept.len(), 2);
        assert!(kept.iter().all(|sp| sp.trace_state == "ot=th:0"));
    }

    #[test]
    fn the_default_mode_is_hash_seed_as_in_the_collector() {
        let default = ProbabilisticSampler::builder()
            .with_percentage(50.0)
            .build()
            .unwrap();
        let hash = sampler(Mode::HashSeed, 50.0);
        assert_eq!(default.kind, hash.kind);
        assert!(default.early_drop().is_none());
    }

    #[test]
    fn equalizing_keeps_a_lower_arriving_probability() {
        let s = sampler(Mode::Equalizing, 50.0);
        // Arrived at 1/4: passes unchanged.
        let d = s.decide(&span(id_with_r(0xd0000000000000), "ot=th:c"));
        assert!(d.keep);
        assert_eq!(d.tracestate, None);
        // Arrived at 1: brought to 1/2.
        let d = s.decide(&span(id_with_r(0x90000000000000), "ot=th:0"));
        assert_eq!(d.tracestate.as_deref(), Some("ot=th:8"));
    }

    #[test]
    fn errors_fail_closed_or_open() {
        let closed = sampler(Mode::Proportional, 100.0);
        let open = ProbabilisticSampler::builder()
            .with_mode(Mode::Proportional)
            .with_percentage(100.0)
            .with_fail_closed(false)
            .build()
            .unwrap();
        // th:8 but R below it: inconsistent.
        let sp = span(id_with_r(0x10000000000000), "ot=th:8");
        assert_eq!(closed.decide(&sp).reason, "sampling_error");
        let d = open.decide(&sp);
        assert!(d.keep);
        assert_eq!(d.tracestate.as_deref(), Some("ot=th:0"));
        assert!(!closed.decide(&span([0; 16], "")).keep);
        assert!(!closed.decide(&span(id_with_r(1), "Bad=")).keep);
    }

    #[test]
    fn sampling_priority_overrides() {
        let s = sampler(Mode::Proportional, 0.0001);
        let mut must = span(id_with_r(0), "");
        must.attributes.push(KeyValue {
            key: "sampling.priority".into(),
            value: Some(AnyValue {
                value: Some(Value::IntValue(1)),
            }),
            ..KeyValue::default()
        });
        assert_eq!(s.decide(&must).tracestate.as_deref(), Some("ot=th:0"));
        let s = sampler(Mode::Proportional, 100.0);
        let mut never = span(id_with_r(MASK56), "");
        never.attributes.push(string_attr("sampling.priority", "0"));
        assert_eq!(s.decide(&never).reason, "sampling_priority");
    }

    #[test]
    fn hash_seed_matches_the_collector_construction() {
        // FNV-1a 32 test vector ("a" with no seed bytes would be 0xe40c292c;
        // here the seed's four bytes come first).
        let mut h: u32 = 0x811c_9dc5;
        h ^= u32::from(b'a');
        h = h.wrapping_mul(0x0100_0193);
        assert_eq!(h, 0xe40c_292c);
        // 25% -> 4096 of 16384 buckets -> reject 12288 -> th:c.
        let s = ProbabilisticSampler::builder()
            .with_hash_seed(22)
            .with_percentage(25.0)
            .build()
            .unwrap();
        assert_eq!(
            s.kind,
            Kind::HashSeed {
                threshold: 12288 << 42,
                seed: 22
            }
        );
        let mut kept = 0;
        for i in 0..4000u32 {
            let mut id = [0u8; 16];
            id[..4].copy_from_slice(&i.to_le_bytes());
            id[12..].copy_from_slice(&i.wrapping_mul(2654435761).to_be_bytes());
            let d = s.decide(&span(id, ""));
            let bucket = fnv_seeded(&id, 22) & 0x3fff;
            // The original test: hash < scaled rate.
            assert_eq!(d.keep, bucket < 4096);
            if d.keep {
                kept += 1;
                let r = hash_randomness(&id, 22);
                assert_eq!(d.tracestate.unwrap(), format!("ot=rv:{r:014x};th:c"));
            }
        }
        assert!((800..1200).contains(&kept), "{kept}");
        // An rv already present is an error in this mode.
        assert_eq!(
            s.decide(&span([1; 16], "ot=rv:ffffffffffffff")).reason,
            "sampling_error"
        );
    }

    #[test]
    fn rules_keep_errors_and_slow_spans() {
        let s = ProbabilisticSampler::builder()
            .with_mode(Mode::Proportional)
            .with_percentage(0.01)
            .with_keep_errors(true)
            .with_keep_slower_than(std::time::Duration::from_millis(2))
            .build()
            .unwrap();
        let mut err = span(id_with_r(0), "");
        err.status = Some(crate::proto::trace::v1::Status {
            code: 2,
            message: String::new(),
        });
        assert_eq!(s.decide(&err).tracestate.as_deref(), Some("ot=th:0"));
        let mut slow = span(id_with_r(0), "");
        slow.end_time_unix_nano = 2_000_000;
        assert!(s.decide(&slow).keep);
        slow.end_time_unix_nano = 1_999_999;
        assert!(!s.decide(&slow).keep);
        // A priority of 0 still wins.
        err.attributes.push(string_attr("sampling.priority", "0"));
        assert!(!s.decide(&err).keep);
    }

    /// The Collector reads a string `sampling.priority` with Go's
    /// `strconv.ParseFloat`: hexadecimal and underscores are numbers, and
    /// a long number can read as 0 (1e-320 does, written with 900 zeros).
    #[test]
    fn priority_strings_are_read_as_go_parses_floats() {
        let with_priority = |p: &str| {
            let mut sp = span(id_with_r(0), "");
            sp.attributes.push(string_attr("sampling.priority", p));
            sp
        };
        let none = sampler(Mode::Proportional, 0.0);
        for p in ["0x1p0", "1_0", "0x.8p1"] {
            assert!(none.decide(&with_priority(p)).keep, "{p}");
        }
        let all = sampler(Mode::Proportional, 100.0);
        for p in ["0x0p0", "0_0", &format!("1{}e-1220", "0".repeat(900))] {
            let d = all.decide(&with_priority(p));
            assert_eq!((d.keep, d.reason), (false, "sampling_priority"), "{p:.10}");
        }
    }

    fn tid(hex: &str) -> [u8; 16] {
        let mut id = [0u8; 16];
        for (i, b) in id.iter_mut().enumerate() {
            *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
        }
        id
    }

    /// The Collector's `Test_tracesamplerprocessor_TraceState` table, run in
    /// both consistent modes. Its configurations leave `fail_closed` false
    /// and, where they set no precision, use full precision (14 digits here;
    /// the Collector's configuration refuses 0 too).
    #[test]
    fn collector_tracestate_table() {
        type Expect = fn(Mode) -> Option<&'static str>;
        let default_tid = "fefefefefefefefefe80000000000000";
        let improbable = "111111111111111111ffffffffffffff";
        let p100: f32 = 100.0 * (1.0f32 / 16384.0);
        #[allow(clippy::type_complexity)]
        let cases: Vec<(&str, &str, f32, u8, bool, &str, Option<i64>, Expect)> = vec![
            (
                "100 percent",
                default_tid,
                100.0,
                14,
                false,
                "",
                None,
                |_| Some("ot=th:0"),
            ),
            (
                "50 percent sampled",
                default_tid,
                50.0,
                14,
                false,
                "",
                None,
                |_| Some("ot=th:8"),
            ),
            (
                "25 percent sampled",
                "ddddddddddddddddddc0000000000000",
                25.0,
                14,
                false,
                "",
                None,
                |_| Some("ot=th:c"),
            ),
            (
                "25 percent unsampled",
                "ddddddddddddddddddb0000000000000",
                25.0,
                14,
                false,
                "",
                None,
                |_| None,
            ),
            (
                "1 percent sampled",
                default_tid,
                1.0,
                14,
                false,
                "ot=rv:FD70A3D70A3D71",
                None,
                |_| Some("ot=rv:FD70A3D70A3D71;th:fd70a3d70a3d71"),
            ),
            (
                "1 percent, rv, precision 4",
                default_tid,
                1.0,
                4,
                false,
                "ot=rv:FD70A3D70A3D71",
                None,
                |_| Some("ot=rv:FD70A3D70A3D71;th:fd70a"),
            ),
            (
                "1 percent, rv, precision 3",
                default_tid,
                1.0,
                3,
                false,
                "ot=rv:FD70A3D70A3D71",
                None,
                |_| None,
            ),
            (
                "1 percent not sampled with rvalue",
                default_tid,
                1.0,
                14,
                false,
                "ot=rv:FD70A3D70A3D70",
                None,
                |_| None,
            ),
            (
                "49 percent not sampled",
                default_tid,
                49.0,
                14,
                false,
                "",
                None,
                |_| None,
            ),
            (
                "1 percent sampled with rvalue",
                default_tid,
                1.0,
                14,
                false,
                "ot=rv:fd70B000000000",
                None,
                |_| Some("ot=rv:fd70B000000000;th:fd70a3d70a3d71"),
            ),
            (
                "1 percent sampled with tid",
                "a0a0a0a0a0a0a0a0a0fe000000000000",
                1.0,
                4,
                false,
                "",
                None,
                |_| Some("ot=th:fd70a"),
            ),
            (
                "sampled by priority",
                default_tid,
                1.0,
                14,
                false,
                "",
                Some(2),
                |_| Some("ot=th:0"),
            ),
            (
                "not sampled by priority",
                default_tid,
                99.0,
                14,
                false,
                "",
                Some(0),
                |_| None,
            ),
            (
                "incoming 50 percent with rvalue",
                default_tid,
                50.0,
                14,
                false,
                "ot=rv:90000000000000;th:80000000000000",
                None,
                |m| (m == Mode::Equalizing).then_some("ot=rv:90000000000000;th:8"),
            ),
            (
                "incoming 50 at 25 not sampled",
                default_tid,
                25.0,
                14,
                false,
                "ot=th:8",
                None,
                |_| None,
            ),
            (
                "incoming 50 at 25 sampled",
                "ffffffffffffffffffffffffffffffff",
                25.0,
                14,
                false,
                "ot=th:8",
                None,
                |m| {
                    Some(if m == Mode::Equalizing {
                        "ot=th:c"
                    } else {
                        "ot=th:e"
                    })
                },
            ),
            (
                "equalizing vs proportional",
                default_tid,
                50.0,
                14,
                false,
                "ot=rv:c0000000000000;th:8",
                None,
                |m| {
                    Some(if m == Mode::Equalizing {
                        "ot=rv:c0000000000000;th:8"
                    } else {
                        "ot=rv:c0000000000000;th:c"
                    })
                },
            ),
            (
                "inconsistent arriving threshold",
                default_tid,
                100.0,
                14,
                false,
                "ot=rv:40000000000000;th:8",
                None,
                |_| Some("ot=rv:40000000000000;th:0"),
            ),
            (
                "inconsistent, fail closed",
                default_tid,
                1.0,
                14,
                true,
                "ot=rv:40000000000000;th:8",
                None,
                |_| None,
            ),
            (
                "40 percent precision 3 with rvalue",
                default_tid,
                40.0,
                3,
                false,
                "ot=rv:a0000000000000",
                None,
                |_| Some("ot=rv:a0000000000000;th:99a"),
            ),
            (
                "arriving 50 at 40 precision 6",
                "a0a0a0a0a0a0a0a0a0d0000000000000",
                40.0,
                6,
                false,
                "ot=th:8",
                None,
                |m| {
                    Some(if m == Mode::Proportional {
                        "ot=th:cccccd"
                    } else {
                        "ot=th:99999a"
                    })
                },
            ),
            (
                "arriving 50 at 40 partly sampled",
                "a0a0a0a0a0a0a0a0a0b0000000000000",
                40.0,
                3,
                false,
                "ot=th:8",
                None,
                |m| (m == Mode::Equalizing).then_some("ot=th:99a"),
            ),
            (
                "arriving 50 at 40 not sampled",
                "a0a0a0a0a0a0a0a0a080000000000000",
                40.0,
                3,
                false,
                "ot=th:8",
                None,
                |_| None,
            ),
            (
                "200 percent equals 100 percent",
                default_tid,
                200.0,
                14,
                false,
                "",
                None,
                |_| Some("ot=th:0"),
            ),
            (
                "tiny probability rounding",
                improbable,
                p100,
                14,
                false,
                "ot=th:fffc",
                None,
                |m| {
                    Some(if m == Mode::Equalizing {
                        "ot=th:fffc"
                    } else {
                        "ot=th:fffffff"
                    })
                },
            ),
            (
                "almost 100pct sampling",
                improbable,
                (1.0 - 8e-7) * 100.0,
                10,
                false,
                "",
                None,
                |_| Some("ot=th:00000cccccccd"),
            ),
            (
                "probability underflow",
                improbable,
                1.0 / 16.0,
                14,
                false,
                "ot=th:fffffffffffff8",
                None,
                |m| (m == Mode::Equalizing).then_some("ot=th:fffffffffffff8"),
            ),
        ];
        for (name, id, pct, prec, fail_closed, ts, prio, expect) in cases {
            for mode in [Mode::Equalizing, Mode::Proportional] {
                let s = ProbabilisticSampler::builder()
                    .with_mode(mode)
                    .with_percentage(pct)
                    .with_precision(prec)
                    .with_fail_closed(fail_closed)
                    .build()
                    .unwrap();
                let mut sp = span(tid(id), ts);
                if let Some(p) = prio {
                    sp.attributes.push(KeyValue {
                        key: "sampling.priority".into(),
                        value: Some(AnyValue {
                            value: Some(Value::IntValue(p)),
                        }),
                        ..KeyValue::default()
                    });
                }
                let d = s.decide(&sp);
                let got = d
                    .keep
                    .then(|| d.tracestate.unwrap_or_else(|| ts.to_owned()));
                assert_eq!(got.as_deref(), expect(mode), "{name} ({mode:?})");
            }
        }
    }

    #[test]
    fn hash_seed_thresholds_match_the_collector_tests() {
        // The Collector's Test_tracesamplerprocessor_HashSeedTraceState:
        // 14-bit rounding gives e668 for 10% and aaac for a third.
        for (pct, tv) in [
            (100.0f32, "0"),
            (75.0, "4"),
            (50.0, "8"),
            (25.0, "c"),
            (10.0, "e668"),
            (100.0 / 3.0, "aaac"),
        ] {
            let s = ProbabilisticSampler::builder()
                .with_mode(Mode::HashSeed)
                .with_hash_seed(1)
                .with_percentage(pct)
                .build()
                .unwrap();
            let kept = (0..1000u32)
                .map(|i| {
                    let mut id = [7u8; 16];
                    id[12..].copy_from_slice(&i.to_be_bytes());
                    s.decide(&span(id, ""))
                })
                .find(|d| d.keep)
                .expect("one of 1000 is kept");
            let ts = kept.tracestate.unwrap();
            assert!(
                ts.starts_with("ot=rv:") && ts.ends_with(&format!(";th:{tv}")),
                "{pct}: {ts}"
            );
        }
    }

    fn any_span() -> impl Strategy<Value = Span> {
        let ts = prop::sample::select(vec![
            "",
            "",
            "",
            "vendor=1",
            "ot=th:8",
            "ot=th:c;rv:ffffffffffffff",
            "ot=rv:00000000000001",
            "ot=th:0",
            "Bad",
            "ot=th:xyz",
            "a=1,ot=th:e666,b=2",
        ]);
        let prio = prop::option::weighted(0.15, prop_oneof![Just(0i64), Just(1), Just(-1)]);
        let id = prop_oneof![8 => any::<[u8; 16]>().prop_map(|a| a.to_vec()), 1 => Just(vec![0; 16]), 1 => Just(vec![1, 2, 3])];
        (id, ts, prio, 0i32..3, 0u64..3000, any::<bool>(), 0u8..3).prop_map(
            |(id, ts, prio, code, dur, keep, tier)| {
                let mut s = Span {
                    name: if keep { "keep" } else { "other" }.into(),
                    trace_id: id,
                    trace_state: ts.to_owned(),
                    status: Some(crate::proto::trace::v1::Status {
                        code,
                        message: String::new(),
                    }),
                    start_time_unix_nano: 10,
                    end_time_unix_nano: 10 + dur,
                    ..Span::default()
                };
                if let Some(p) = prio {
                    s.attributes.push(KeyValue {
                        key: "sampling.priority".into(),
                        value: Some(AnyValue {
                            value: Some(Value::IntValue(p)),
                        }),
                        ..KeyValue::default()
                    });
                }
                if tier > 0 {
                    s.attributes.push(crate::processor::string_attr(
                        "tier",
                        if tier == 1 { "gold" } else { "silver" },
                    ));
                }
                s
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn batch_path_matches_per_span_reference(
            spans in prop::collection::vec(any_span(), 0..150),
            mode in prop::sample::select(vec![Mode::Proportional, Mode::Equalizing, Mode::HashSeed]),
            pct in prop::sample::select(vec![0.0f32, 0.01, 10.0, 33.3, 50.0, 100.0, 150.0]),
            fail_closed in any::<bool>(),
            seed in 0u32..3,
            rules in any::<bool>(),
        ) {
            for isa in Isa::available() {
                let mut b = ProbabilisticSampler::builder().with_mode(mode).with_percentage(pct)
                    .with_hash_seed(seed).with_fail_closed(fail_closed).with_isa(isa);
                if rules {
                    b = b.with_keep_errors(true).with_keep_slower_than(std::time::Duration::from_nanos(2000))
                        .with_keep_span_name("keep").with_keep_attribute("tier", "gold");
                }
                let mut s = b.build().unwrap();
                let want: Vec<Span> = spans.iter().filter_map(|sp| {
                    let d = s.decide(sp);
                    d.keep.then(|| Span { trace_state: d.tracestate.unwrap_or_else(|| sp.trace_state.clone()), ..sp.clone() })
                }).collect();
                let mut b = batch(spans.clone());
                let out = s.process(&mut b);
                let got: Vec<Span> = b.resource_spans.into_iter().flat_map(|r| r.scope_spans).flat_map(|s| s.spans).collect();
                prop_assert_eq!(out.total_dropped() as usize, spans.len() - want.len());
                prop_assert_eq!(got, want);
            }
        }

        /// The early decision agrees with the batch path on every span it
        /// may be asked about (no tracestate, no priority attribute): it
        /// drops exactly the spans the batch path drops as `not_sampled`,
        /// except an all-zero trace id, which it leaves to the batch.
        #[test]
        fn early_drop_is_the_batch_decision(
            ids in prop::collection::vec(any::<[u8; 16]>(), 1..100),
            zero in any::<bool>(),
            errors in prop::collection::vec(any::<bool>(), 100),
            durations in prop::collection::vec(0u64..4000, 100),
            mode in prop::sample::select(vec![Mode::Proportional, Mode::Equalizing]),
            pct in prop::sample::select(vec![0.0f32, 0.01, 10.0, 33.3, 50.0, 100.0]),
            rules in any::<bool>(),
        ) {
            let mut b = ProbabilisticSampler::builder().with_mode(mode).with_percentage(pct);
            if rules {
                b = b.with_keep_errors(true).with_keep_slower_than(std::time::Duration::from_nanos(2000));
            }
            let mut s = b.build().unwrap();
            let early = s.early_drop().expect("proportional and equalizing decide by trace id");
            let mut ids = ids;
            if zero {
                ids[0] = [0; 16];
            }
            let spans: Vec<Span> = ids.iter().enumerate().map(|(i, id)| {
                let mut sp = span(*id, "");
                sp.end_time_unix_nano = durations[i];
                if errors[i] {
                    sp.status = Some(crate::proto::trace::v1::Status { code: 2, ..Default::default() });
                }
                sp
            }).collect();
            for sp in &spans {
                let id: [u8; 16] = sp.trace_id.as_slice().try_into().unwrap();
                let d = s.decide(sp);
                let drops = early.drops(&id, sp.status.is_some(), sp.end_time_unix_nano);
                if id == [0; 16] {
                    prop_assert!(!drops);
                } else {
                    prop_assert_eq!(drops, !d.keep, "{:?}", d);
                    if drops {
                        prop_assert_eq!(d.reason, early.reason());
                    }
                }
            }
            let mut b = batch(spans.clone());
            let out = s.process(&mut b);
            let early_n = spans.iter().filter(|sp| {
                let id: [u8; 16] = sp.trace_id.as_slice().try_into().unwrap();
                early.drops(&id, sp.status.is_some(), sp.end_time_unix_nano)
            }).count() as u64;
            let not_sampled = out.dropped.iter().find(|(r, _)| *r == "not_sampled").map_or(0, |(_, n)| *n);
            prop_assert!(early_n <= not_sampled);
        }

        #[test]
        fn hash_seed_leaves_every_span_to_the_batch(pct in 0.0f32..100.0) {
            let s = ProbabilisticSampler::builder().with_mode(Mode::HashSeed).with_percentage(pct).build().unwrap();
            prop_assert!(s.early_drop().is_none());
        }
    }

    // ------------------------------------------------------------ logs

    fn attr(key: &str, v: Value) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(v) }),
            ..KeyValue::default()
        }
    }

    fn s(key: &str, v: &str) -> KeyValue {
        attr(key, Value::StringValue(v.into()))
    }

    use crate::processor::logs_request as logs;

    fn records(batch: ExportLogsServiceRequest) -> Vec<LogRecord> {
        batch
            .resource_logs
            .into_iter()
            .flat_map(|r| r.scope_logs)
            .flat_map(|s| s.log_records)
            .collect()
    }

    /// The attributes of the record if the sampler keeps it.
    fn sample_record(
        sampler: &mut ProbabilisticSampler,
        tid: [u8; 16],
        attrs: Vec<KeyValue>,
    ) -> Option<Vec<KeyValue>> {
        let mut batch = logs(vec![LogRecord {
            trace_id: tid.to_vec(),
            attributes: attrs,
            ..LogRecord::default()
        }]);
        let out = sampler.process_logs(&mut batch);
        let kept = records(batch);
        assert_eq!(kept.len() as u64 + out.total_dropped(), 1);
        kept.into_iter().next().map(|r| r.attributes)
    }

    /// Go's logs processor looks the priority attribute up only when
    /// `lsp.samplingPriority != ""`, and the from_attribute only when
    /// `th.logsRandomnessSourceAttribute != ""`: an empty name is unset.
    #[test]
    fn empty_attribute_names_are_unset() {
        let mut p = ProbabilisticSampler::builder()
            .with_percentage(0.0)
            .with_log_priority_attribute("")
            .build()
            .unwrap();
        // Go: 0 % and no priority lookup -> dropped.
        let prio_kept = sample_record(
            &mut p,
            tid("fefefefefefefefefe80000000000000"),
            vec![attr("", Value::IntValue(100))],
        )
        .is_some();
        let mut p = ProbabilisticSampler::builder()
            .with_percentage(100.0)
            .with_from_attribute("")
            .build()
            .unwrap();
        // Go: zero trace id, no source attribute -> missing randomness,
        // fail closed -> dropped.
        let from_kept = sample_record(&mut p, [0; 16], vec![s("", "x")]).is_some();
        assert_eq!((prio_kept, from_kept), (false, false));
    }

    /// A double from_attribute is hashed as pdata's AsString writes it; Go
    /// writes 1125899906842624.25 as "1125899906842624.2".
    #[test]
    fn a_double_from_attribute_hashes_go_text() {
        let mut p = ProbabilisticSampler::builder()
            .with_percentage(100.0)
            .with_from_attribute("id")
            .build()
            .unwrap();
        let kept = sample_record(
            &mut p,
            [0; 16],
            vec![attr(
                "id",
                Value::DoubleValue(1_125_899_906_842_624.0 + 0.25),
            )],
        )
        .unwrap();
        assert_eq!(
            kept[1],
            s(
                "sampling.randomness",
                &hex14(hash_randomness(b"1125899906842624.2", 0))
            )
        );
    }

    /// The Collector's `TestLogsSamplingState`, case for case.
    #[test]
    fn log_sampling_state_matches_the_collector_tests() {
        let default_tid = tid("fefefefefefefefefe80000000000000");
        let build = |b: SamplerBuilder| b.build().unwrap();
        let base = ProbabilisticSampler::builder;
        // 100 percent traceID
        let mut p = build(base().with_percentage(100.0).with_mode(Mode::Proportional));
        assert_eq!(
            sample_record(&mut p, default_tid, vec![s("ignored", "value")]),
            Some(vec![s("ignored", "value"), s("sampling.threshold", "0")])
        );
        // 100 percent traceID hash_seed
        let mut p = build(
            base()
                .with_percentage(100.0)
                .with_mode(Mode::HashSeed)
                .with_hash_seed(22),
        );
        let rv = hex14(hash_randomness(&default_tid, 22));
        assert_eq!(
            sample_record(&mut p, default_tid, vec![s("K", "V")]),
            Some(vec![
                s("K", "V"),
                s("sampling.randomness", &rv),
                s("sampling.threshold", "0")
            ])
        );
        // 100 percent attribute
        let mut p = build(
            base()
                .with_percentage(100.0)
                .with_attribute_source(AttributeSource::Record)
                .with_from_attribute("veryrandom")
                .with_hash_seed(49),
        );
        let rv = hex14(hash_randomness(b"1234", 49));
        assert_eq!(
            sample_record(&mut p, [0; 16], vec![s("veryrandom", "1234")]),
            Some(vec![
                s("veryrandom", "1234"),
                s("sampling.randomness", &rv),
                s("sampling.threshold", "0")
            ])
        );
        // 0 percent traceID
        let mut p = build(base().with_percentage(0.0));
        assert_eq!(sample_record(&mut p, default_tid, vec![]), None);
        // 10 percent priority sampled incoming randomness
        let mut p = build(
            base()
                .with_percentage(0.0)
                .with_log_priority_attribute("veryrandom")
                .with_precision(6),
        );
        let attrs = vec![
            s("sampling.randomness", "e6147c00000000"),
            attr("veryrandom", Value::DoubleValue(10.125)),
        ];
        let mut want = attrs.clone();
        want.push(s("sampling.threshold", "e6147b"));
        assert_eq!(sample_record(&mut p, default_tid, attrs), Some(want));
        // 25 percent incoming
        let mut p = build(base().with_percentage(50.0).with_mode(Mode::Proportional));
        assert_eq!(
            sample_record(
                &mut p,
                tid("fefefefefefefefefef0000000000000"),
                vec![s("sampling.threshold", "c")]
            ),
            Some(vec![s("sampling.threshold", "e")])
        );
        // 25 percent arriving inconsistent
        let mut p = build(base().with_percentage(50.0).with_mode(Mode::Equalizing));
        assert_eq!(
            sample_record(
                &mut p,
                tid("fefefefefefefefefeb0000000000000"),
                vec![s("sampling.threshold", "c")]
            ),
            None
        );
        // 25 percent arriving equalizing: the priority cannot raise it
        let mut p = build(
            base()
                .with_percentage(50.0)
                .with_mode(Mode::Equalizing)
                .with_log_priority_attribute("prio"),
        );
        let attrs = vec![
            s("sampling.threshold", "c"),
            attr("prio", Value::IntValue(37)),
        ];
        assert_eq!(
            sample_record(
                &mut p,
                tid("fefefefefefefefefefefefefefefefe"),
                attrs.clone()
            ),
            Some(attrs)
        );
        // hash_seed with spec randomness: kept (fail open on the error),
        // nothing written
        let mut p = build(
            base()
                .with_percentage(100.0)
                .with_mode(Mode::HashSeed)
                .with_fail_closed(false),
        );
        let attrs = vec![s("sampling.randomness", "f2341234123412")];
        assert_eq!(
            sample_record(&mut p, default_tid, attrs.clone()),
            Some(attrs)
        );
    }

    /// The Collector's `TestLogsMissingRandomness` (the modes it runs with
    /// the record source that we refuse aside).
    #[test]
    fn missing_randomness_fails_closed_or_open() {
        for mode in [Mode::Proportional, Mode::Equalizing, Mode::HashSeed] {
            for (pct, record, fail_closed, sampled) in [
                (0.0, true, true, false),
                (50.0, true, true, false),
                (100.0, true, true, false),
                (0.0, true, false, false),
                (50.0, true, false, true),
                (100.0, true, false, true),
                (0.0, false, true, false),
                (50.0, false, true, false),
                (100.0, false, true, false),
                (0.0, false, false, false),
                (50.0, false, false, true),
                (100.0, false, false, true),
            ] {
                if record && mode != Mode::HashSeed {
                    continue;
                }
                let mut b = ProbabilisticSampler::builder()
                    .with_mode(mode)
                    .with_percentage(pct)
                    .with_fail_closed(fail_closed)
                    .with_from_attribute("unused");
                if record {
                    b = b.with_attribute_source(AttributeSource::Record);
                }
                let mut p = b.build().unwrap();
                let kept = sample_record(&mut p, [0; 16], vec![s("unused", "")]);
                assert_eq!(
                    kept.is_some(),
                    sampled,
                    "{mode:?} {pct} record={record} fail_closed={fail_closed}"
                );
                if let Some(attrs) = kept {
                    // Kept open: the threshold says always.
                    assert_eq!(attrs, vec![s("unused", ""), s("sampling.threshold", "0")]);
                }
            }
        }
    }

    #[test]
    fn log_priority_is_a_percentage_of_an_int_or_a_double() {
        let mut p = ProbabilisticSampler::builder()
            .with_mode(Mode::Proportional)
            .with_percentage(100.0)
            .with_log_priority_attribute("prio")
            .build()
            .unwrap();
        // R = 0x80000000000000: kept at 50 %, not below.
        let id = tid("fefefefefefefefefe80000000000000");
        let with = |v: Value| vec![attr("prio", v)];
        let mut kept = |v: Value| sample_record(&mut p, id, with(v)).is_some();
        assert!(kept(Value::IntValue(50)));
        assert!(!kept(Value::IntValue(49)));
        assert!(!kept(Value::DoubleValue(49.9)));
        // 0, above 100, negative, NaN and strings leave the 100 % in place.
        for v in [
            Value::IntValue(0),
            Value::IntValue(150),
            Value::IntValue(-5),
            Value::DoubleValue(f64::NAN),
            Value::StringValue("10".into()),
        ] {
            assert!(kept(v.clone()), "{v:?}");
        }
        let mut batch = logs(vec![LogRecord {
            trace_id: id.to_vec(),
            attributes: with(Value::IntValue(10)),
            ..LogRecord::default()
        }]);
        let out = p.process_logs(&mut batch);
        assert_eq!(out.dropped, vec![("sampling_priority", 1)]);
    }

    #[test]
    fn hash_seed_falls_back_to_the_attribute_without_a_trace_id() {
        let mut p = ProbabilisticSampler::builder()
            .with_mode(Mode::HashSeed)
            .with_percentage(100.0)
            .with_from_attribute("id")
            .build()
            .unwrap();
        let id = tid("0102030405060708090a0b0c0d0e0f10");
        let rv = |b: &[u8]| s("sampling.randomness", &hex14(hash_randomness(b, 0)));
        let th = s("sampling.threshold", "0");
        // A trace id wins over the attribute.
        assert_eq!(
            sample_record(&mut p, id, vec![s("id", "x")]),
            Some(vec![s("id", "x"), rv(&id), th.clone()])
        );
        // No trace id: the attribute, bytes as they are, others as text.
        assert_eq!(
            sample_record(
                &mut p,
                [0; 16],
                vec![attr("id", Value::BytesValue(vec![1, 2]))]
            ),
            Some(vec![
                attr("id", Value::BytesValue(vec![1, 2])),
                rv(&[1, 2]),
                th.clone()
            ])
        );
        assert_eq!(
            sample_record(&mut p, [0; 16], vec![attr("id", Value::IntValue(77))]),
            Some(vec![attr("id", Value::IntValue(77)), rv(b"77"), th.clone()])
        );
        // The record source ignores the trace id.
        let mut p = ProbabilisticSampler::builder()
            .with_percentage(100.0)
            .with_attribute_source(AttributeSource::Record)
            .with_from_attribute("id")
            .build()
            .unwrap();
        assert_eq!(
            sample_record(&mut p, id, vec![s("id", "x")]),
            Some(vec![s("id", "x"), rv(b"x"), th])
        );
        // Neither: missing randomness, failed closed.
        assert_eq!(sample_record(&mut p, id, vec![]), None);
    }

    #[test]
    fn record_source_needs_hash_seed_and_an_attribute() {
        let b = || ProbabilisticSampler::builder().with_attribute_source(AttributeSource::Record);
        assert_eq!(
            b().build().unwrap_err(),
            SamplerError::RecordWithoutAttribute
        );
        assert_eq!(
            b().with_from_attribute("id")
                .with_mode(Mode::Equalizing)
                .build()
                .unwrap_err(),
            SamplerError::RecordInConsistentMode(Mode::Equalizing)
        );
        assert!(b().with_from_attribute("id").build().is_ok());
        assert_eq!("traceID".parse(), Ok(AttributeSource::TraceId));
        assert!("trace_id".parse::<AttributeSource>().is_err());
    }

    fn any_record() -> impl Strategy<Value = LogRecord> {
        let th = prop::sample::select(vec![
            "",
            "",
            "",
            "8",
            "c",
            "0",
            "zz",
            "123456789abcdef",
            "fffffffffffffff",
        ]);
        let rv = prop::sample::select(vec![
            "",
            "",
            "",
            "",
            "80000000000000",
            "00000000000001",
            "abc",
            "ffffffffffffff",
        ]);
        let prio = prop::option::weighted(
            0.2,
            prop_oneof![
                Just(Value::IntValue(0)),
                Just(Value::IntValue(10)),
                Just(Value::IntValue(150)),
                Just(Value::DoubleValue(33.3)),
                Just(Value::StringValue("5".into())),
            ],
        );
        let from = prop::option::weighted(
            0.5,
            prop_oneof![
                "[a-z]{0,4}".prop_map(Value::StringValue),
                any::<i64>().prop_map(Value::IntValue),
                prop::collection::vec(any::<u8>(), 0..4).prop_map(Value::BytesValue),
            ],
        );
        let id = prop_oneof![6 => any::<[u8; 16]>().prop_map(|a| a.to_vec()), 2 => Just(vec![0; 16]), 1 => Just(vec![]), 1 => Just(vec![1, 2, 3])];
        (id, th, rv, prio, from, any::<bool>()).prop_map(|(id, th, rv, prio, from, int_th)| {
            let mut attrs = vec![s("k", "v")];
            if int_th {
                attrs.push(attr("sampling.threshold", Value::IntValue(1)));
            } else if !th.is_empty() {
                attrs.push(s("sampling.threshold", th));
            }
            if !rv.is_empty() {
                attrs.push(s("sampling.randomness", rv));
            }
            if let Some(p) = prio {
                attrs.push(attr("prio", p));
            }
            if let Some(f) = from {
                attrs.push(attr("from", f));
            }
            LogRecord {
                trace_id: id,
                attributes: attrs,
                ..LogRecord::default()
            }
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// The batch path (the common case decided as a column) keeps and
        /// writes what deciding each record on its own does.
        #[test]
        fn log_batch_path_matches_per_record_reference(
            recs in prop::collection::vec(any_record(), 0..150),
            mode in prop::option::of(prop::sample::select(vec![Mode::Proportional, Mode::Equalizing, Mode::HashSeed])),
            pct in prop::sample::select(vec![0.0f32, 0.01, 10.0, 33.3, 50.0, 100.0, 150.0]),
            fail_closed in any::<bool>(),
            seed in 0u32..3,
            record in any::<bool>(),
            priority in any::<bool>(),
        ) {
            for isa in Isa::available() {
                let mut b = ProbabilisticSampler::builder().with_percentage(pct)
                    .with_hash_seed(seed).with_fail_closed(fail_closed).with_isa(isa)
                    .with_from_attribute("from");
                if let Some(m) = mode {
                    b = b.with_mode(m);
                }
                if record && mode.is_none_or(|m| m == Mode::HashSeed) {
                    b = b.with_attribute_source(AttributeSource::Record);
                }
                if priority {
                    b = b.with_log_priority_attribute("prio");
                }
                let mut p = b.build().unwrap();
                let mut dropped = 0;
                let want: Vec<LogRecord> = recs.iter().filter_map(|r| {
                    let mut r = r.clone();
                    let (keep, _) = p.decide_log(&mut r);
                    dropped += u64::from(!keep);
                    keep.then_some(r)
                }).collect();
                let mut batch = logs(recs.clone());
                let out = p.process_logs(&mut batch);
                prop_assert_eq!(out.total_dropped(), dropped);
                prop_assert_eq!(records(batch), want);
            }
        }
    }
}

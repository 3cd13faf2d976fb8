//! Probabilistic sampling with the semantics of the Collector's
//! `probabilisticsamplerprocessor` (traces).
//!
//! Modes:
//!
//! - `proportional` (the default): each span's sampling probability is
//!   multiplied by the configured ratio. The randomness R is the `rv`
//!   value of the `ot` tracestate member if there is one, else the last 56
//!   bits of the trace id; the new threshold is written as `ot=th:...`,
//!   rounded to `sampling_precision` hex digits (one more for each leading
//!   hex `0` of the probability or of its complement, as the Collector's
//!   `pkg/sampling` does).
//! - `equalizing`: spans are brought down to the configured probability;
//!   spans that arrive with a lower one pass with their threshold kept.
//! - `hash_seed`: the processor's original method: an FNV-1a hash of the
//!   seed (4 bytes, little-endian) and the trace id, of which 14 bits are
//!   compared with the percentage scaled to 2^14 (in 32-bit float and
//!   truncated, as the Collector computes it). Sampled spans get
//!   `ot=rv:...;th:...` with the randomness built from the hash the way the
//!   Collector builds it, so later consistent samplers agree.
//!
//! As in the Collector, a `sampling.priority` attribute of 0 drops the span
//! and a positive one keeps it (int, double, or a string holding a
//! number); an unparsable tracestate, an arriving threshold the randomness
//! contradicts, missing randomness (an all-zero trace id), or in
//! `hash_seed` mode an `rv` or `th` already present, is an error: the span
//! is dropped when `fail_closed` (the default) and kept otherwise.
//!
//! Rules (this crate's addition): `keep_errors` and `keep_slower_than`
//! keep the spans they match as a positive `sampling.priority` would.
//!
//! The common case (empty tracestate, no priority attribute, a 16-byte
//! trace id) is decided for the whole batch at once with
//! [`crate::threshold::keep_mask`]; everything else goes through the
//! per-span path, and a property test checks that both agree.
//!
//! Differences from the Collector: trace ids that are not 16 bytes long
//! (which the Collector cannot receive) count as missing randomness; the
//! decision counters are this crate's [`Outcome`] reasons, not Collector
//! metrics; logs are not handled yet.

use super::span::{EndingSpan, SpanStep, Verdict};
use super::tracestate::{hex14, TraceState};
use super::{prune_empty, Outcome, Processor};
use crate::proto::collector::trace::v1::ExportTraceServiceRequest;
use crate::proto::common::v1::any_value::Value;
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
}

/// Spans kept whatever the probability: they are treated as if they had
/// `sampling.priority` > 0 (threshold 0, `th:0` written).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Rules {
    keep_errors: bool,
    /// In nanoseconds.
    keep_slower_than: Option<u64>,
}

impl Rules {
    fn keeps(&self, span: &Span) -> bool {
        self.keeps_by(
            span.status.as_ref().is_some_and(|s| s.code == 2),
            span.end_time_unix_nano
                .saturating_sub(span.start_time_unix_nano),
        )
    }

    /// Whether any rule can keep a span ([`keeps_by`](Self::keeps_by) is
    /// false for every span otherwise).
    fn keeps_any(&self) -> bool {
        self.keep_errors || self.keep_slower_than.is_some()
    }

    /// Whether a span with an error status or not, of `duration_ns`, is
    /// kept by a rule.
    fn keeps_by(&self, is_error: bool, duration_ns: u64) -> bool {
        (self.keep_errors && is_error) || self.keep_slower_than.is_some_and(|b| duration_ns >= b)
    }
}

impl SamplerBuilder {
    /// The mode. Unset, it is `hash_seed` when a seed is set and
    /// `proportional` otherwise (the Collector's rule).
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

    /// Run the batch path on this instruction set instead of the detected one.
    pub fn with_isa(mut self, isa: Isa) -> Self {
        self.isa = Some(isa);
        self
    }

    /// The sampler.
    pub fn build(self) -> Result<ProbabilisticSampler, SamplerError> {
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
        let mode = self.mode.unwrap_or(if self.hash_seed != 0 {
            Mode::HashSeed
        } else {
            Mode::Proportional
        });
        let pct = pct.min(100.0);
        let ratio = (f64::from(pct) / 100.0).max(1.0 / MAX_ADJUSTED);
        let kind = if pct == 0.0 {
            Kind::Never
        } else {
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
        };
        let mut sampler = ProbabilisticSampler {
            kind,
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
        sampler.base = sampler.compute_base_threshold();
        if let Some(th) = sampler.base_threshold().filter(|&th| th < NEVER_SAMPLE) {
            let mut ts = TraceState::default();
            ts.update_threshold(th);
            sampler.fast_ts = ts.serialize();
        }
        Ok(sampler)
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
        // Go's strconv.ParseFloat; Rust's parser takes the same decimal forms.
        Some(Value::StringValue(s)) => s.parse::<f64>().ok(),
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
        V::String(s) => s.as_str().parse::<f64>().ok(),
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

fn trace_randomness(id: &[u8]) -> Option<u64> {
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
    fail_closed: bool,
    isa: Isa,
    rules: Rules,
    ids: Vec<[u8; 16]>,
    fast: Vec<usize>,
    /// Per span: 0 drop (not sampled), 1 keep, 2 keep with the fast-path
    /// tracestate, 3 drop (priority), 4 drop (error).
    state: Vec<u8>,
    mask: Vec<u64>,
    /// The tracestate written to the spans of the common case it keeps.
    fast_ts: String,
    /// [`compute_base_threshold`](Self::compute_base_threshold), computed
    /// once.
    base: Option<u64>,
}

impl ProbabilisticSampler {
    /// A builder: proportional, 0%, precision 4, fail closed.
    pub fn builder() -> SamplerBuilder {
        SamplerBuilder {
            mode: None,
            percentage: 0.0,
            hash_seed: 0,
            precision: 4,
            fail_closed: true,
            isa: None,
            rules: Rules::default(),
        }
    }

    /// The threshold the common case (no tracestate, no priority) is
    /// decided against; `None` for `hash_seed`, whose randomness is a hash.
    #[inline]
    fn base_threshold(&self) -> Option<u64> {
        self.base
    }

    fn compute_base_threshold(&self) -> Option<u64> {
        match self.kind {
            Kind::Never => Some(NEVER_SAMPLE),
            Kind::Equalizing { threshold } => Some(threshold),
            Kind::Proportional { ratio, precision } => {
                Some(probability_to_threshold(ratio, precision).unwrap_or(NEVER_SAMPLE))
            }
            Kind::HashSeed { .. } => None,
        }
    }

    fn decide_threshold(&self, carrier: &TraceState) -> u64 {
        match self.kind {
            Kind::Never => NEVER_SAMPLE,
            Kind::HashSeed { threshold, .. } => threshold,
            Kind::Equalizing { threshold } => match &carrier.th {
                Some((_, t)) if threshold < *t => *t,
                _ => threshold,
            },
            Kind::Proportional { ratio, precision } => {
                let incoming = carrier
                    .th
                    .as_ref()
                    .map_or(1.0, |(_, t)| threshold_probability(*t));
                // Below 2^-56 the span is simply not sampled.
                probability_to_threshold(incoming * ratio, precision).unwrap_or(NEVER_SAMPLE)
            }
        }
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
        let (rnd, mut carrier, mut err) = match self.kind {
            Kind::HashSeed { seed, .. } => {
                let r = hash_randomness(trace_id, seed);
                match parsed {
                    Err(_) => (Some(r), None, true),
                    Ok(mut ts) => {
                        // rv or th already there: not ours to touch.
                        let in_use = ts.rv.is_some() || ts.th.is_some();
                        if !in_use {
                            ts.rv = Some((hex14(r), r));
                        }
                        (Some(r), Some(ts), in_use)
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
            if self.rules.keeps_by(is_error, duration) {
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
        // `hash_seed` randomness is a hash of the id: left to the batch.
        self.base_threshold().map(|threshold| EarlyDrop {
            threshold,
            rules: self.rules,
        })
    }

    fn process(&mut self, batch: &mut ExportTraceServiceRequest) -> Outcome {
        let base = self.base_threshold();
        self.ids.clear();
        self.fast.clear();
        self.state.clear();
        let mut reasons: Vec<&'static str> = Vec::new();
        for rs in &mut batch.resource_spans {
            for ss in &mut rs.scope_spans {
                for span in &mut ss.spans {
                    if let (Some(_), Some(id)) = (base, fast_eligible(span, &self.rules)) {
                        self.fast.push(self.state.len());
                        self.ids.push(id);
                        self.state.push(0);
                        continue;
                    }
                    let d = self.decide(span);
                    if let Some(ts) = d.tracestate {
                        span.trace_state = ts;
                    }
                    self.state.push(match (d.keep, d.reason) {
                        (true, _) => 1,
                        (false, "sampling_priority") => 3,
                        (false, "sampling_error") => 4,
                        _ => 0,
                    });
                    reasons.push(d.reason);
                }
            }
        }
        if let Some(th) = base {
            if !self.ids.is_empty() && th < NEVER_SAMPLE {
                keep_mask_with(self.isa, &self.ids, th, &mut self.mask);
                for (j, &i) in self.fast.iter().enumerate() {
                    if mask_bit(&self.mask, j) {
                        self.state[i] = 2;
                    }
                }
            }
        }
        let fast_ts = &self.fast_ts;
        let mut out = Outcome::default();
        let mut i = 0;
        for rs in &mut batch.resource_spans {
            for ss in &mut rs.scope_spans {
                ss.spans.retain_mut(|span| {
                    let s = self.state[i];
                    i += 1;
                    match s {
                        1 => true,
                        2 => {
                            span.trace_state.clone_from(fast_ts);
                            true
                        }
                        3 => {
                            out.drop("sampling_priority", 1);
                            false
                        }
                        4 => {
                            out.drop("sampling_error", 1);
                            false
                        }
                        _ => {
                            out.drop("not_sampled", 1);
                            false
                        }
                    }
                });
            }
        }
        prune_empty(batch);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::processor::string_attr;
    use crate::proto::common::v1::{AnyValue, KeyValue};
    use crate::proto::trace::v1::{ResourceSpans, ScopeSpans};
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
        (id, ts, prio, 0i32..3, 0u64..3000).prop_map(|(id, ts, prio, code, dur)| {
            let mut s = Span {
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
            s
        })
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
                    b = b.with_keep_errors(true).with_keep_slower_than(std::time::Duration::from_nanos(2000));
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
}

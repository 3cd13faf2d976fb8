//! Adaptive sampling: a target of spans (and, when asked, log records) per
//! second, kept by adjusting a consistent probability sampler as the
//! arriving rate changes.
//!
//! Time is cut into windows (one second by default). At the end of each
//! window the arriving rate is estimated (the first window's rate, then an
//! even mix of the last estimate and the window's rate) and the sampling
//! probability becomes `min(1, target / rate)`. Items are decided by an
//! `equalizing` [`ProbabilisticSampler`] at that probability: by the
//! randomness of their trace id, so whole traces are kept or dropped
//! together, and the threshold is written down (`ot=th:...` in a span's
//! `tracestate`, `sampling.threshold` on a log record; items that arrive
//! with a lower probability pass as they are). Until the first window ends
//! every item is kept.
//!
//! Spans and log records are measured and sampled apart, each signal
//! against its own target: [`AdaptiveSampler::new`] sets the spans' and
//! [`AdaptiveSampler::with_logs_per_second`] the log records' (without it
//! log records pass through; [`AdaptiveSampler::for_logs`] samples log
//! records only). A log record without a trace id and without a
//! `sampling.randomness` attribute (or with one that is empty or not a
//! string) is given one: 56 random bits written as that attribute
//! (explicit randomness, as the consistent probability sampling
//! specification allows), so that samplers after this one decide it the
//! same way. A log record whose `sampling.randomness` or
//! `sampling.threshold` cannot be read is dropped (`sampling_error`), as
//! the Collector's sampler does when failing closed.
//!
//! Rules keep items whatever the rate: `keep_span_names` (exact span
//! names) and `keep_attributes` (an attribute of the span or log record
//! equal to a string). Kept by a rule, an item is not counted against the
//! target and is left as it came. Spans kept by a rule go on in resource
//! and scope entries of their own (copies of theirs), after the others;
//! log records stay where they are.
//!
//! The time is read once per batch ([`AdaptiveSampler::process_at`] and
//! [`AdaptiveSampler::process_logs_at`] take it from the caller, for tests
//! and replays). This crate's addition: the Collector has no adaptive
//! sampler.

use super::sampling::{
    trace_randomness, Mode, ProbabilisticSampler, SamplerError, RANDOMNESS_ATTR,
};
use super::{count_spans, prune_empty, Outcome, Processor};
use crate::proto::collector::logs::v1::ExportLogsServiceRequest;
use crate::proto::collector::trace::v1::ExportTraceServiceRequest;
use crate::proto::common::v1::any_value::Value;
use crate::proto::common::v1::KeyValue;
use crate::proto::trace::v1::{ResourceSpans, ScopeSpans, Span};
use crate::threshold::MASK56;
use std::time::{Duration, Instant};
use thiserror::Error;

/// The smallest probability set, as a percentage (far above 2^-56).
const MIN_PERCENTAGE: f64 = 1e-6;

/// An adaptive-sampler setting that cannot work.
#[derive(Debug, Error, PartialEq)]
#[non_exhaustive]
pub enum AdaptiveError {
    /// The target is not a positive finite number.
    #[error("the target of items per second must be positive and finite, not {0}")]
    Target(f64),
    /// A zero window.
    #[error("the window must be longer than zero")]
    Window,
}

/// One signal's target, rate estimate and sampler.
#[derive(Debug)]
struct Track {
    target: f64,
    sampler: ProbabilisticSampler,
    percentage: f64,
    window_start: Option<Instant>,
    seen: u64,
    rate: Option<f64>,
}

impl Track {
    fn new(target: f64) -> Result<Track, AdaptiveError> {
        if !(target.is_finite() && target > 0.0) {
            return Err(AdaptiveError::Target(target));
        }
        Ok(Track {
            target,
            sampler: sampler_at(100.0).map_err(|_| AdaptiveError::Target(target))?,
            percentage: 100.0,
            window_start: None,
            seen: 0,
            rate: None,
        })
    }

    /// Ends the window if `now` is past it: a new rate estimate and the
    /// percentage that follows from it.
    fn tick(&mut self, now: Instant, window: Duration) {
        let start = *self.window_start.get_or_insert(now);
        let elapsed = now.saturating_duration_since(start);
        if elapsed < window {
            return;
        }
        let window_rate = self.seen as f64 / elapsed.as_secs_f64();
        let rate = match self.rate {
            None => window_rate,
            Some(r) => (r + window_rate) / 2.0,
        };
        self.rate = Some(rate);
        let pct = if rate <= self.target {
            100.0
        } else {
            (self.target / rate * 100.0).max(MIN_PERCENTAGE)
        };
        if pct != self.percentage {
            // The percentage is within (0, 100]: always a valid sampler.
            if let Ok(sampler) = sampler_at(pct) {
                self.percentage = pct;
                self.sampler = sampler;
            }
        }
        self.window_start = Some(now);
        self.seen = 0;
    }
}

/// Keeps about a target number of spans (and log records) per second; see
/// the module docs.
#[derive(Debug)]
pub struct AdaptiveSampler {
    window: Duration,
    keep_names: Vec<String>,
    keep_attributes: Vec<(String, String)>,
    spans: Option<Track>,
    logs: Option<Track>,
    /// The state of the generator of log records' randomness (splitmix64).
    rng: u64,
}

impl AdaptiveSampler {
    /// Aims at `spans_per_second`, with one-second windows; log records
    /// pass through unless [`with_logs_per_second`](Self::with_logs_per_second)
    /// gives them a target.
    pub fn new(spans_per_second: f64) -> Result<AdaptiveSampler, AdaptiveError> {
        Ok(AdaptiveSampler::unset(
            Some(Track::new(spans_per_second)?),
            None,
        ))
    }

    /// Aims at `logs_per_second` log records, with one-second windows;
    /// spans pass through.
    pub fn for_logs(logs_per_second: f64) -> Result<AdaptiveSampler, AdaptiveError> {
        Ok(AdaptiveSampler::unset(
            None,
            Some(Track::new(logs_per_second)?),
        ))
    }

    fn unset(spans: Option<Track>, logs: Option<Track>) -> AdaptiveSampler {
        use std::hash::{BuildHasher, Hasher};
        AdaptiveSampler {
            window: Duration::from_secs(1),
            keep_names: Vec::new(),
            keep_attributes: Vec::new(),
            spans,
            logs,
            rng: std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish(),
        }
    }

    /// Samples log records too, aiming at `logs_per_second` of them
    /// (measured apart from the spans).
    pub fn with_logs_per_second(
        mut self,
        logs_per_second: f64,
    ) -> Result<AdaptiveSampler, AdaptiveError> {
        self.logs = Some(Track::new(logs_per_second)?);
        Ok(self)
    }

    /// The length of a window (default one second), for both signals.
    pub fn with_window(mut self, window: Duration) -> Result<AdaptiveSampler, AdaptiveError> {
        if window.is_zero() {
            return Err(AdaptiveError::Window);
        }
        self.window = window;
        Ok(self)
    }

    /// Keeps every span with this name.
    pub fn with_keep_span_name(mut self, name: impl Into<String>) -> AdaptiveSampler {
        self.keep_names.push(name.into());
        self
    }

    /// Keeps every span and log record whose attribute `key` is the string
    /// `value`.
    pub fn with_keep_attribute(
        mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> AdaptiveSampler {
        self.keep_attributes.push((key.into(), value.into()));
        self
    }

    /// The percentage of spans kept now (100 when spans are not sampled).
    pub fn percentage(&self) -> f64 {
        self.spans.as_ref().map_or(100.0, |t| t.percentage)
    }

    /// The estimated arriving rate, spans per second, once a window ended.
    pub fn rate(&self) -> Option<f64> {
        self.spans.as_ref()?.rate
    }

    /// The percentage of log records kept now (100 when they are not
    /// sampled).
    pub fn log_percentage(&self) -> f64 {
        self.logs.as_ref().map_or(100.0, |t| t.percentage)
    }

    /// The estimated arriving rate, log records per second, once a window
    /// ended.
    pub fn log_rate(&self) -> Option<f64> {
        self.logs.as_ref()?.rate
    }

    fn kept_by_rule(&self, span: &Span) -> bool {
        self.keep_names.contains(&span.name)
            || kept_by_attribute(&self.keep_attributes, &span.attributes)
    }

    /// Processes `batch` as arriving at `now`.
    pub fn process_at(&mut self, batch: &mut ExportTraceServiceRequest, now: Instant) -> Outcome {
        let window = self.window;
        let Some(mut track) = self.spans.take() else {
            return Outcome::default();
        };
        track.tick(now, window);
        // Spans kept by a rule step aside, in entries of their own, while
        // the sampler runs.
        let mut aside = Vec::new();
        if !self.keep_names.is_empty() || !self.keep_attributes.is_empty() {
            for rs in &mut batch.resource_spans {
                let mut scopes = Vec::new();
                for ss in &mut rs.scope_spans {
                    let (keep, rest): (Vec<Span>, Vec<Span>) = std::mem::take(&mut ss.spans)
                        .into_iter()
                        .partition(|s| self.kept_by_rule(s));
                    ss.spans = rest;
                    if !keep.is_empty() {
                        scopes.push(ScopeSpans {
                            scope: ss.scope.clone(),
                            spans: keep,
                            schema_url: ss.schema_url.clone(),
                        });
                    }
                }
                if !scopes.is_empty() {
                    aside.push(ResourceSpans {
                        resource: rs.resource.clone(),
                        scope_spans: scopes,
                        schema_url: rs.schema_url.clone(),
                    });
                }
            }
            prune_empty(batch);
        }
        track.seen += count_spans(batch);
        let out = track.sampler.process(batch);
        self.spans = Some(track);
        batch.resource_spans.extend(aside);
        out
    }

    /// Processes a logs request as arriving at `now`; see the module docs.
    pub fn process_logs_at(
        &mut self,
        batch: &mut ExportLogsServiceRequest,
        now: Instant,
    ) -> Outcome {
        let window = self.window;
        let mut out = Outcome::default();
        let Some(mut track) = self.logs.take() else {
            return out;
        };
        track.tick(now, window);
        for rl in &mut batch.resource_logs {
            for sl in &mut rl.scope_logs {
                sl.log_records.retain_mut(|rec| {
                    if kept_by_attribute(&self.keep_attributes, &rec.attributes) {
                        return true;
                    }
                    track.seen += 1;
                    if !has_trace_id(&rec.trace_id) && !has_randomness(&rec.attributes) {
                        let r = splitmix64(&mut self.rng) & MASK56;
                        give_randomness(&mut rec.attributes, r);
                    }
                    let (keep, reason) = track.sampler.decide_log(rec);
                    if !keep {
                        out.drop(reason, 1);
                    }
                    keep
                });
            }
            rl.scope_logs.retain(|s| !s.log_records.is_empty());
        }
        batch.resource_logs.retain(|r| !r.scope_logs.is_empty());
        self.logs = Some(track);
        out
    }
}

/// Whether an attribute is one of `rules`' key and string value.
fn kept_by_attribute(rules: &[(String, String)], attributes: &[KeyValue]) -> bool {
    rules.iter().any(|(k, v)| {
        attributes.iter().any(|kv| {
            kv.key == *k
                && matches!(
                    kv.value.as_ref().and_then(|x| x.value.as_ref()),
                    Some(Value::StringValue(s)) if s == v
                )
        })
    })
}

/// Whether `sampling.randomness` holds some text (which the sampler then
/// reads, and refuses if it is not 14 hex digits).
fn has_randomness(attributes: &[KeyValue]) -> bool {
    matches!(
        super::attrs::proto_value(attributes, RANDOMNESS_ATTR),
        Some(Value::StringValue(s)) if !s.is_empty()
    )
}

/// Sets `sampling.randomness` to `r` (replacing an empty or non-string
/// value).
fn give_randomness(attributes: &mut Vec<KeyValue>, r: u64) {
    super::attrs::proto_put(
        attributes,
        RANDOMNESS_ATTR,
        Value::StringValue(format!("{r:014x}")),
    );
}

/// Whether a trace id can give randomness (16 bytes, not all zero).
fn has_trace_id(id: &[u8]) -> bool {
    trace_randomness(id).is_some()
}

/// The next value of a splitmix64 generator.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn sampler_at(percentage: f64) -> Result<ProbabilisticSampler, SamplerError> {
    ProbabilisticSampler::builder()
        .with_mode(Mode::Equalizing)
        .with_percentage(percentage as f32)
        .build()
}

impl Processor for AdaptiveSampler {
    fn name(&self) -> &str {
        "adaptive_sampler"
    }

    fn process(&mut self, batch: &mut ExportTraceServiceRequest) -> Outcome {
        self.process_at(batch, Instant::now())
    }

    fn process_logs(&mut self, batch: &mut ExportLogsServiceRequest) -> Outcome {
        self.process_logs_at(batch, Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::processor::{count_log_records, logs_request, string_attr};
    use crate::proto::logs::v1::LogRecord;

    /// `n` distinct random-looking trace ids.
    fn trace_ids(n: usize, seed: u64) -> impl Iterator<Item = Vec<u8>> {
        let mut x = seed | 1;
        (0..n).map(move |_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut id = [0x5au8; 16];
            id[8..].copy_from_slice(&x.to_be_bytes());
            id.to_vec()
        })
    }

    /// `n` spans with distinct random-looking trace ids.
    fn batch(n: usize, seed: u64, name: &str) -> ExportTraceServiceRequest {
        let spans = trace_ids(n, seed)
            .map(|trace_id| Span {
                trace_id,
                name: name.into(),
                ..Span::default()
            })
            .collect();
        crate::processor::spans_request(spans)
    }

    #[test]
    fn converges_to_the_target_rate() {
        let t0 = Instant::now();
        let mut s = AdaptiveSampler::new(100.0).unwrap();
        let mut kept_late = 0;
        // 1,000 spans a second for 20 seconds, in batches of 100 every 0.1 s.
        for step in 0..200u64 {
            let now = t0 + Duration::from_millis(100 * step);
            let mut b = batch(100, step + 1, "op");
            let out = s.process_at(&mut b, now);
            let kept = count_spans(&b);
            assert_eq!(kept + out.total_dropped(), 100);
            if step >= 100 {
                kept_late += kept;
            }
        }
        assert_eq!(s.rate().map(|r| r.round()), Some(1000.0));
        assert!((s.percentage() - 10.0).abs() < 1e-9, "{}", s.percentage());
        // The last 10 s: about 1,000 spans (binomial, sd ~30).
        assert!((850..1150).contains(&kept_late), "{kept_late}");
    }

    #[test]
    fn below_the_target_everything_is_kept() {
        let t0 = Instant::now();
        let mut s = AdaptiveSampler::new(1000.0).unwrap();
        for step in 0..30u64 {
            let mut b = batch(50, step + 7, "op");
            let out = s.process_at(&mut b, t0 + Duration::from_millis(100 * step));
            assert_eq!(out.total_dropped(), 0);
        }
        assert_eq!(s.percentage(), 100.0);
    }

    #[test]
    fn rules_keep_their_spans_whatever_the_rate() {
        let t0 = Instant::now();
        let mut s = AdaptiveSampler::new(1.0)
            .unwrap()
            .with_keep_span_name("checkout")
            .with_keep_attribute("tenant", "gold");
        // Warm up at a high rate so the probability is low.
        for step in 0..20u64 {
            let mut b = batch(1000, step + 3, "op");
            s.process_at(&mut b, t0 + Duration::from_millis(100 * step));
        }
        assert!(s.percentage() < 1.0);
        let mut b = batch(200, 99, "checkout");
        let mut gold = batch(100, 98, "op");
        for sp in &mut gold.resource_spans[0].scope_spans[0].spans {
            sp.attributes.push(string_attr("tenant", "gold"));
        }
        b.resource_spans.extend(gold.resource_spans);
        let out = s.process_at(&mut b, t0 + Duration::from_secs(2));
        assert_eq!(out.total_dropped(), 0);
        assert_eq!(count_spans(&b), 300);
        // Left as they were: no threshold written.
        assert!(b
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .all(|s| s.trace_state.is_empty()));
    }

    #[test]
    fn bad_settings_are_errors() {
        assert!(AdaptiveSampler::new(0.0).is_err());
        assert!(AdaptiveSampler::new(f64::NAN).is_err());
        assert!(AdaptiveSampler::new(5.0)
            .unwrap()
            .with_window(Duration::ZERO)
            .is_err());
    }

    /// `n` log records; with `traced`, each with a random-looking trace id.
    fn records(n: usize, seed: u64, traced: bool) -> Vec<LogRecord> {
        trace_ids(n, seed)
            .map(|id| LogRecord {
                trace_id: if traced { id } else { Vec::new() },
                ..LogRecord::default()
            })
            .collect()
    }

    fn attr<'a>(rec: &'a LogRecord, key: &str) -> Option<&'a str> {
        rec.attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(
                |kv| match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                    Some(Value::StringValue(s)) => Some(s.as_str()),
                    _ => None,
                },
            )
    }

    fn all_records(b: &ExportLogsServiceRequest) -> Vec<&LogRecord> {
        b.resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .flat_map(|s| &s.log_records)
            .collect()
    }

    #[test]
    fn log_records_converge_to_their_own_target() {
        let t0 = Instant::now();
        let mut s = AdaptiveSampler::new(1000.0)
            .unwrap()
            .with_logs_per_second(100.0)
            .unwrap();
        let (mut kept_late, mut untraced_late) = (0, 0);
        // 1,000 records a second (half without a trace id) and 500 spans a
        // second, for 20 seconds.
        for step in 0..200u64 {
            let now = t0 + Duration::from_millis(100 * step);
            let mut recs = records(50, step + 1, true);
            recs.extend(records(50, step + 1000, false));
            let mut b = logs_request(recs);
            let out = s.process_logs_at(&mut b, now);
            let kept = count_log_records(&b);
            assert_eq!(kept + out.total_dropped(), 100);
            let mut spans = batch(50, step + 5, "op");
            assert_eq!(s.process_at(&mut spans, now).total_dropped(), 0);
            if step >= 100 {
                kept_late += kept;
                untraced_late += all_records(&b)
                    .iter()
                    .filter(|r| r.trace_id.is_empty())
                    .count();
            }
        }
        assert_eq!(s.log_rate().map(|r| r.round()), Some(1000.0));
        assert!(
            (s.log_percentage() - 10.0).abs() < 1e-9,
            "{}",
            s.log_percentage()
        );
        // The spans, under their target, are all kept.
        assert_eq!(s.percentage(), 100.0);
        // The last 10 s: about 1,000 records (binomial, sd ~30), half of
        // them without a trace id.
        assert!((850..1150).contains(&kept_late), "{kept_late}");
        assert!((400..600).contains(&untraced_late), "{untraced_late}");
    }

    #[test]
    fn each_record_is_decided_as_the_equalizing_sampler_decides_it() {
        let t0 = Instant::now();
        let mut s = AdaptiveSampler::for_logs(50.0).unwrap();
        // A first window at 500 records a second sets 10 %.
        s.process_logs_at(&mut logs_request(records(500, 7, true)), t0);
        s.process_logs_at(
            &mut logs_request(records(1, 8, true)),
            t0 + Duration::from_secs(1),
        );
        assert!(
            (s.log_percentage() - 10.0).abs() < 1e-9,
            "{}",
            s.log_percentage()
        );
        let reference = sampler_at(10.0).unwrap();
        for seed in 0..20u64 {
            let mut recs = records(200, seed + 100, seed % 2 == 0);
            // Some arrive with randomness or a threshold of their own,
            // good or broken, and some are kept by a rule.
            for (i, r) in recs.iter_mut().enumerate() {
                r.time_unix_nano = i as u64;
                match i % 7 {
                    1 => r
                        .attributes
                        .push(string_attr(RANDOMNESS_ATTR, "fffffffffffff0")),
                    2 => r.attributes.push(string_attr(RANDOMNESS_ATTR, "zz")),
                    3 => r.attributes.push(string_attr("sampling.threshold", "8")),
                    4 => r.attributes.push(string_attr("sampling.threshold", "x")),
                    // Empty or not text: no randomness, given some.
                    5 => r.attributes.push(string_attr(RANDOMNESS_ATTR, "")),
                    6 => r.attributes.push(KeyValue {
                        key: RANDOMNESS_ATTR.into(),
                        value: Some(crate::proto::common::v1::AnyValue {
                            value: Some(Value::IntValue(7)),
                        }),
                        ..KeyValue::default()
                    }),
                    _ => {}
                }
            }
            // The reference: the same records, given randomness from a
            // copy of the sampler's generator where they have none.
            s.rng = seed;
            let mut rng = seed;
            let mut expected = Vec::new();
            let mut dropped = Outcome::default();
            for mut r in recs.clone() {
                if !has_trace_id(&r.trace_id) && attr(&r, RANDOMNESS_ATTR).is_none_or(str::is_empty)
                {
                    let v = splitmix64(&mut rng) & MASK56;
                    let at = r.attributes.iter().position(|kv| kv.key == RANDOMNESS_ATTR);
                    let kv = string_attr(RANDOMNESS_ATTR, &format!("{v:014x}"));
                    match at {
                        Some(at) => r.attributes[at] = kv,
                        None => r.attributes.push(kv),
                    }
                }
                match reference.decide_log(&mut r) {
                    (true, _) => expected.push(r),
                    (false, reason) => dropped.drop(reason, 1),
                }
            }
            let mut b = logs_request(recs);
            let out = s.process_logs_at(&mut b, t0 + Duration::from_millis(1100));
            let got: Vec<LogRecord> = all_records(&b).into_iter().cloned().collect();
            assert_eq!(got, expected, "seed {seed}");
            assert_eq!(out, dropped, "seed {seed}");
            assert!(out.dropped.iter().any(|(r, _)| *r == "sampling_error"));
            assert!(out.dropped.iter().any(|(r, _)| *r == "not_sampled"));
        }
    }

    #[test]
    fn log_rules_and_untargeted_signals_pass_as_they_came() {
        let t0 = Instant::now();
        let mut s = AdaptiveSampler::for_logs(1.0)
            .unwrap()
            .with_keep_attribute("tenant", "gold");
        for step in 0..20u64 {
            let mut b = logs_request(records(1000, step + 3, step % 2 == 0));
            s.process_logs_at(&mut b, t0 + Duration::from_millis(100 * step));
        }
        assert!(s.log_percentage() < 1.0);
        let mut gold = records(300, 99, false);
        for r in &mut gold {
            r.attributes.push(string_attr("tenant", "gold"));
        }
        let mut b = logs_request(gold.clone());
        let out = s.process_logs_at(&mut b, t0 + Duration::from_secs(2));
        assert_eq!(out.total_dropped(), 0);
        assert_eq!(
            all_records(&b).into_iter().cloned().collect::<Vec<_>>(),
            gold
        );
        // Spans have no target here: untouched.
        let mut spans = batch(500, 5, "op");
        let before = spans.clone();
        assert_eq!(
            s.process_at(&mut spans, t0 + Duration::from_secs(3)),
            Outcome::default()
        );
        assert_eq!(spans, before);
        // And log records without a target pass untouched.
        let mut s = AdaptiveSampler::new(1.0).unwrap();
        let mut b = logs_request(records(100, 5, false));
        let before = b.clone();
        for step in 0..20u64 {
            assert_eq!(
                s.process_logs_at(&mut b, t0 + Duration::from_millis(100 * step)),
                Outcome::default()
            );
        }
        assert_eq!(b, before);
        assert!(AdaptiveSampler::for_logs(-1.0).is_err());
        assert!(AdaptiveSampler::new(1.0)
            .unwrap()
            .with_logs_per_second(f64::INFINITY)
            .is_err());
    }
}

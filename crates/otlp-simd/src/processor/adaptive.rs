//! Adaptive sampling: a target of spans per second, kept by adjusting a
//! consistent probability sampler as the arriving rate changes.
//!
//! Time is cut into windows (one second by default). At the end of each
//! window the arriving rate is estimated (the first window's rate, then an
//! even mix of the last estimate and the window's rate) and the sampling
//! probability becomes `min(1, target / rate)`. Spans are decided by an
//! `equalizing` [`ProbabilisticSampler`] at that probability: by the
//! randomness of their trace id, so whole traces are kept or dropped
//! together and the threshold is written to `tracestate` as `ot=th:...`
//! (spans that arrive with a lower probability pass as they are). Until the
//! first window ends every span is kept.
//!
//! Rules keep spans whatever the rate: `keep_span_names` (exact names) and
//! `keep_attributes` (an attribute of the span equal to a string). Kept by
//! a rule, a span is not counted against the target and its tracestate is
//! left alone. Spans kept by a rule go on in resource and scope entries of
//! their own (copies of theirs), after the others.
//!
//! The time is read once per batch ([`AdaptiveSampler::process_at`] takes
//! it from the caller, for tests and replays). This crate's addition: the
//! Collector has no adaptive sampler.

use super::sampling::{Mode, ProbabilisticSampler, SamplerError};
use super::{count_spans, prune_empty, Outcome, Processor};
use crate::proto::collector::trace::v1::ExportTraceServiceRequest;
use crate::proto::common::v1::any_value::Value;
use crate::proto::trace::v1::{ResourceSpans, ScopeSpans, Span};
use std::time::{Duration, Instant};
use thiserror::Error;

/// The smallest probability set, as a percentage (far above 2^-56).
const MIN_PERCENTAGE: f64 = 1e-6;

/// An adaptive-sampler setting that cannot work.
#[derive(Debug, Error, PartialEq)]
#[non_exhaustive]
pub enum AdaptiveError {
    /// The target is not a positive finite number.
    #[error("the target of spans per second must be positive and finite, not {0}")]
    Target(f64),
    /// A zero window.
    #[error("the window must be longer than zero")]
    Window,
}

/// Keeps about a target number of spans per second; see the module docs.
#[derive(Debug)]
pub struct AdaptiveSampler {
    target: f64,
    window: Duration,
    keep_names: Vec<String>,
    keep_attributes: Vec<(String, String)>,
    sampler: ProbabilisticSampler,
    percentage: f64,
    window_start: Option<Instant>,
    seen: u64,
    rate: Option<f64>,
}

impl AdaptiveSampler {
    /// Aims at `spans_per_second`, with one-second windows.
    pub fn new(spans_per_second: f64) -> Result<AdaptiveSampler, AdaptiveError> {
        if !(spans_per_second.is_finite() && spans_per_second > 0.0) {
            return Err(AdaptiveError::Target(spans_per_second));
        }
        Ok(AdaptiveSampler {
            target: spans_per_second,
            window: Duration::from_secs(1),
            keep_names: Vec::new(),
            keep_attributes: Vec::new(),
            sampler: sampler_at(100.0).map_err(|_| AdaptiveError::Target(spans_per_second))?,
            percentage: 100.0,
            window_start: None,
            seen: 0,
            rate: None,
        })
    }

    /// The length of a window (default one second).
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

    /// Keeps every span whose attribute `key` is the string `value`.
    pub fn with_keep_attribute(
        mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> AdaptiveSampler {
        self.keep_attributes.push((key.into(), value.into()));
        self
    }

    /// The sampling percentage in force.
    pub fn percentage(&self) -> f64 {
        self.percentage
    }

    /// The estimated arriving rate, spans per second, once a window ended.
    pub fn rate(&self) -> Option<f64> {
        self.rate
    }

    fn kept_by_rule(&self, span: &Span) -> bool {
        self.keep_names.contains(&span.name)
            || self.keep_attributes.iter().any(|(k, v)| {
                span.attributes.iter().any(|kv| {
                    kv.key == *k
                        && matches!(
                            kv.value.as_ref().and_then(|x| x.value.as_ref()),
                            Some(Value::StringValue(s)) if s == v
                        )
                })
            })
    }

    /// Processes `batch` as arriving at `now`.
    pub fn process_at(&mut self, batch: &mut ExportTraceServiceRequest, now: Instant) -> Outcome {
        let start = *self.window_start.get_or_insert(now);
        let elapsed = now.saturating_duration_since(start);
        if elapsed >= self.window {
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
        self.seen += count_spans(batch);
        let out = self.sampler.process(batch);
        batch.resource_spans.extend(aside);
        out
    }
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::processor::string_attr;

    /// `n` spans with distinct random-looking trace ids.
    fn batch(n: usize, seed: u64, name: &str) -> ExportTraceServiceRequest {
        let mut x = seed | 1;
        let spans = (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let mut id = [0x5au8; 16];
                id[8..].copy_from_slice(&x.to_be_bytes());
                Span {
                    trace_id: id.to_vec(),
                    name: name.into(),
                    ..Span::default()
                }
            })
            .collect();
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
}

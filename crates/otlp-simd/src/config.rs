//! The chain's TOML configuration.
//!
//! ```toml
//! [[processor]]
//! type = "probabilistic_sampler"
//! mode = "proportional"          # or "equalizing", "hash_seed"
//! sampling_percentage = 10.0
//!
//! [[processor]]
//! type = "redaction"
//! allowed_keys = ["http.request.method", "url.path"]
//! blocked_values = ["4[0-9]{12}(?:[0-9]{3})?"]
//! blocked_patterns = ["email", "card"]
//! summary = "info"
//!
//! [[processor]]
//! type = "filter"
//! span = ['name == "GET /health"', 'kind == SPAN_KIND_INTERNAL and duration < 1000000']
//! spanevent = ['name == "log"']
//!
//! [[processor]]
//! type = "attributes"
//! [[processor.actions]]
//! key = "deployment.environment"
//! action = "insert"
//! value = "prod"
//! ```
//!
//! Processors run in the order written. Unknown keys, wrong types, unknown
//! processor types and regular expressions that do not compile are errors
//! that name the line.
//!
//! `probabilistic_sampler` keys: `mode`, `sampling_percentage`,
//! `hash_seed`, `sampling_precision`, `fail_closed`, and for log records
//! `attribute_source` (`"traceID"` or `"record"`), `from_attribute`,
//! `sampling_priority` (as the Collector's), `keep_errors`,
//! `keep_slower_than` (`"250ms"`), `keep_span_names`, `keep_attributes` (a
//! table of key = string value; rules of this crate, for spans).
//! `redaction` keys: `allow_all_keys`, `allowed_keys`, `ignored_keys`,
//! `ignored_key_patterns`, `blocked_key_patterns`, `blocked_values`,
//! `allowed_values`, `hash_function`, `hmac_key`, `masking_string`, `summary`,
//! `redact_all_types`, `url_sanitizer` (`enabled`, `attributes`,
//! `sanitize_span_name`; as the Collector's), `db_sanitizer` (tables
//! `sql`, `redis`, `valkey`, `memcached`, `mongo`, `opensearch`, `es`, each
//! with `enabled` and `attributes` (none for `opensearch` and `es`), and
//! `sanitize_span_name`; as the Collector's), and `blocked_patterns`,
//! `blocked_literals` (this crate's scanner). `filter` keys: `span`,
//! `spanevent`, `log_record`, `metric`, `datapoint` (condition lists, see
//! [`crate::processor::filter`]).
//! `adaptive_sampler` keys: `spans_per_second`, `logs_per_second` (at least
//! one of them), `window` (`"1s"`),
//! `keep_span_names`, `keep_attributes` (a table of key = string value;
//! see [`crate::processor::adaptive`]). `span_metrics` keys: `dimensions` (a list of `{ name = "...", default = "..." }`
//! or `{ glob = "http.*" }`),
//! `histogram_buckets_ms`, `cardinality_limit`, `max_bytes`, `namespace`,
//! `exclude_dimensions`, `include_instrumentation_scope`,
//! `aggregation_temporality` (`"AGGREGATION_TEMPORALITY_CUMULATIVE"` or
//! `"AGGREGATION_TEMPORALITY_DELTA"`), `metrics_expiration`,
//! `series_expiration` (`"5m"`), `metric_timestamp_cache_size`,
//! `exemplars = { enabled = true, max_per_data_point = 5 }`,
//! `histogram_unit` (`"ms"` or `"s"`), `histogram_disable`,
//! `enable_metrics_sampling_method`, `resource_metrics_key_attributes`,
//! `events = { enabled = true, dimensions = [{ name = "...", default = "..." }] }`,
//! `calls_dimensions`, `histogram_dimensions` (named, as `dimensions`) (see
//! [`crate::processor::spanmetrics`]). `attributes` keys: `actions`, each with `key`, `action`, `value`,
//! `from_attribute`, `default_value`, `pattern`, `converted_type` (an empty
//! `from_attribute`, `pattern` or `converted_type` is not given, as in the
//! Collector), and `include` / `exclude` tables with the Collector's match properties
//! (`match_type`, `services`, `span_names`, `span_kinds`, `log_bodies`,
//! `log_severity_texts`, `log_severity_number = { min, match_undefined }`,
//! `metric_names`, `attributes` and `resources` as `{ key, value }` lists,
//! `libraries` as `{ name, version }`; see
//! [`crate::processor::matching`]).

use crate::processor::adaptive::AdaptiveSampler;
use crate::processor::attributes::{Action, ActionError, Source};
use crate::processor::matching::{go_regex, go_to_regex, MatchError, MatchProperties, MatchType};
use crate::processor::redaction::{RedactionBuilder, RedactionError};
use crate::processor::sampling::{AttributeSource, Mode, SamplerError};
use crate::processor::spanmetrics::{DurationUnit, SpanMetrics, SpanMetricsError, Temporality};
use crate::processor::{Attributes, Chain, Filter, ProbabilisticSampler, Redaction};
use crate::proto::common::v1::any_value::Value;
use regex::Regex;
use serde::Deserialize;
use thiserror::Error;

/// A configuration that was refused.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// Not TOML, or not the shape the chain takes.
    #[error("line {line}: {message}")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A value the processor refuses (bad regex, percentage, mode...).
    #[error("line {line}: {message}")]
    Invalid {
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    processor: Vec<toml::Spanned<toml::Table>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SamplerToml {
    #[allow(dead_code)]
    r#type: String,
    mode: Option<String>,
    sampling_percentage: Option<f32>,
    hash_seed: Option<u32>,
    sampling_precision: Option<u8>,
    fail_closed: Option<bool>,
    keep_errors: Option<bool>,
    keep_slower_than: Option<String>,
    #[serde(default)]
    keep_span_names: Vec<String>,
    #[serde(default)]
    keep_attributes: std::collections::BTreeMap<String, String>,
    attribute_source: Option<String>,
    from_attribute: Option<String>,
    sampling_priority: Option<String>,
}

/// `"250ms"`, `"2s"`, `"1.5s"`, `"100us"`, `"1m"`: a number and a unit.
fn parse_duration(s: &str) -> Option<std::time::Duration> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (num, unit) = t.split_at(split);
    let v: f64 = num.parse().ok()?;
    let scale = match unit.trim() {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return None,
    };
    std::time::Duration::try_from_secs_f64(v * scale).ok()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FilterToml {
    #[allow(dead_code)]
    r#type: String,
    #[serde(default)]
    span: Vec<String>,
    #[serde(default)]
    spanevent: Vec<String>,
    #[serde(default)]
    log_record: Vec<String>,
    #[serde(default)]
    metric: Vec<String>,
    #[serde(default)]
    datapoint: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdaptiveToml {
    #[allow(dead_code)]
    r#type: String,
    spans_per_second: Option<f64>,
    logs_per_second: Option<f64>,
    window: Option<String>,
    #[serde(default)]
    keep_span_names: Vec<String>,
    #[serde(default)]
    keep_attributes: std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpanMetricsToml {
    #[allow(dead_code)]
    r#type: String,
    #[serde(default)]
    dimensions: Vec<DimensionToml>,
    histogram_buckets_ms: Option<Vec<f64>>,
    cardinality_limit: Option<usize>,
    max_bytes: Option<usize>,
    namespace: Option<String>,
    #[serde(default)]
    exclude_dimensions: Vec<String>,
    #[serde(default)]
    include_instrumentation_scope: Vec<String>,
    aggregation_temporality: Option<String>,
    metrics_expiration: Option<String>,
    series_expiration: Option<String>,
    metric_timestamp_cache_size: Option<usize>,
    exemplars: Option<ExemplarsToml>,
    histogram_unit: Option<String>,
    #[serde(default)]
    histogram_disable: bool,
    #[serde(default)]
    enable_metrics_sampling_method: bool,
    #[serde(default)]
    resource_metrics_key_attributes: Vec<String>,
    events: Option<EventsToml>,
    #[serde(default)]
    calls_dimensions: Vec<DimensionToml>,
    #[serde(default)]
    histogram_dimensions: Vec<DimensionToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsToml {
    #[serde(default)]
    enabled: bool,
    #[serde(default)]
    dimensions: Vec<DimensionToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExemplarsToml {
    #[serde(default)]
    enabled: bool,
    max_per_data_point: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DimensionToml {
    name: Option<String>,
    glob: Option<String>,
    default: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AttributesToml {
    #[allow(dead_code)]
    r#type: String,
    #[serde(default)]
    actions: Vec<ActionToml>,
    include: Option<MatchToml>,
    exclude: Option<MatchToml>,
}

/// The Collector's `MatchProperties`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MatchToml {
    /// Absent or empty: none, as in the Collector.
    #[serde(default)]
    match_type: String,
    #[serde(default)]
    services: Vec<String>,
    #[serde(default)]
    span_names: Vec<String>,
    #[serde(default)]
    span_kinds: Vec<String>,
    #[serde(default)]
    log_bodies: Vec<String>,
    #[serde(default)]
    log_severity_texts: Vec<String>,
    log_severity_number: Option<SeverityToml>,
    #[serde(default)]
    metric_names: Vec<String>,
    #[serde(default)]
    attributes: Vec<MatchAttrToml>,
    #[serde(default)]
    resources: Vec<MatchAttrToml>,
    #[serde(default)]
    libraries: Vec<LibraryToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeverityToml {
    min: i32,
    #[serde(default)]
    match_undefined: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MatchAttrToml {
    key: String,
    value: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LibraryToml {
    name: String,
    version: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionToml {
    #[serde(default)]
    key: String,
    action: String,
    value: Option<toml::Value>,
    from_attribute: Option<String>,
    default_value: Option<toml::Value>,
    pattern: Option<String>,
    converted_type: Option<String>,
}

/// The Collector's `url_sanitizer` of the redaction processor.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UrlSanitizerToml {
    #[serde(default)]
    enabled: bool,
    #[serde(default)]
    attributes: Vec<String>,
    /// True when not given, as the Collector's.
    sanitize_span_name: Option<bool>,
}

/// One obfuscator of the Collector's `db_sanitizer`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DbObfuscatorToml {
    #[serde(default)]
    enabled: bool,
    #[serde(default)]
    attributes: Vec<String>,
}

/// The Collector's `db_sanitizer` of the redaction processor.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DbSanitizerToml {
    sql: Option<DbObfuscatorToml>,
    redis: Option<DbObfuscatorToml>,
    valkey: Option<DbObfuscatorToml>,
    memcached: Option<DbObfuscatorToml>,
    mongo: Option<DbObfuscatorToml>,
    opensearch: Option<DbObfuscatorToml>,
    es: Option<DbObfuscatorToml>,
    /// True when not given, as the Collector's.
    sanitize_span_name: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RedactionToml {
    #[allow(dead_code)]
    r#type: String,
    #[serde(default)]
    allow_all_keys: bool,
    #[serde(default)]
    allowed_keys: Vec<String>,
    #[serde(default)]
    ignored_keys: Vec<String>,
    #[serde(default)]
    ignored_key_patterns: Vec<String>,
    #[serde(default)]
    blocked_key_patterns: Vec<String>,
    #[serde(default)]
    blocked_values: Vec<String>,
    #[serde(default)]
    allowed_values: Vec<String>,
    #[serde(default)]
    hash_function: String,
    #[serde(default)]
    hmac_key: String,
    #[serde(default)]
    masking_string: String,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    redact_all_types: bool,
    #[serde(default)]
    blocked_patterns: Vec<String>,
    url_sanitizer: Option<UrlSanitizerToml>,
    db_sanitizer: Option<DbSanitizerToml>,
    #[serde(default)]
    blocked_literals: Vec<String>,
}

fn line_of(text: &str, offset: usize) -> usize {
    let line = text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1;
    // An error at the very end of a text that ends with a newline (an
    // unclosed string, say) is on its last line, not one past it.
    line.min(text.lines().count().max(1))
}

/// One `[[processor]]` entry: its text and where it starts.
struct Entry<'a> {
    text: &'a str,
    base: usize,
    start: usize,
}

impl Entry<'_> {
    /// The line of `key = ...` in the entry, else the entry's first line.
    fn line_of_key(&self, key: &str) -> usize {
        let mut off = self.start;
        for l in self.text[self.start..].split_inclusive('\n') {
            let t = l.trim_start();
            if let Some(rest) = t.strip_prefix(key) {
                if rest.trim_start().starts_with('=') {
                    return line_of(self.text, off) + self.base - 1;
                }
            }
            off += l.len();
        }
        // A key of an inline table (`{ name = ... }`): the first line of
        // the entry where it is written before a `=`.
        let mut off = self.start;
        for l in self.text[self.start..].split_inclusive('\n') {
            let inline = l.match_indices(key).any(|(at, _)| {
                let before = l[..at].chars().next_back();
                let after = l[at + key.len()..].trim_start();
                matches!(before, Some('{' | ',' | ' ')) && after.starts_with('=')
            });
            if inline {
                return line_of(self.text, off) + self.base - 1;
            }
            off += l.len();
        }
        line_of(self.text, self.start)
    }

    /// The line holding `needle` after `key`, else the key's line.
    fn line_of_value(&self, key: &str, needle: &str) -> usize {
        let key_line = self.line_of_key(key);
        let from = self
            .text
            .split_inclusive('\n')
            .take(key_line - 1)
            .map(str::len)
            .sum::<usize>();
        for (candidate, _) in [(needle.to_owned(), ()), (needle.replace('\\', "\\\\"), ())] {
            if let Some(p) = self.text[from..].find(&candidate) {
                return line_of(self.text, from + p);
            }
        }
        key_line
    }

    /// A deserialization error, placed on the line of the key at fault:
    /// serde names an unknown field in backquotes; for a wrong type, each
    /// key is tried alone (every field but `type` is optional).
    fn syntax<T: serde::de::DeserializeOwned>(
        &self,
        table: &toml::Table,
        e: toml::de::Error,
    ) -> ConfigError {
        let message = e.message().to_owned();
        // Backquotes also hold an out-of-range value (``invalid value:
        // integer `300`, expected u8``): the word is taken for a key when
        // serde names a field (also one of a nested table) or it is one.
        let names_field =
            message.starts_with("unknown field") || message.starts_with("missing field");
        let mut key = message
            .split('`')
            .nth(1)
            .filter(|k| names_field || table.contains_key(*k))
            .map(str::to_owned);
        if key.is_none() {
            key = table.iter().find_map(|(k, v)| {
                let mut one = toml::Table::new();
                one.insert("type".into(), toml::Value::String(String::new()));
                one.insert(k.clone(), v.clone());
                toml::Value::Table(one)
                    .try_into::<T>()
                    .is_err()
                    .then(|| k.clone())
            });
        }
        let line = match &key {
            Some(k) => self.line_of_key(k),
            None => line_of(self.text, self.start),
        };
        let message = match key {
            Some(k) if !message.contains(k.as_str()) => format!("{k}: {message}"),
            _ => message,
        };
        ConfigError::Syntax { line, message }
    }
}

fn regexes(e: &Entry<'_>, key: &str, pats: &[String]) -> Result<Vec<Regex>, ConfigError> {
    pats.iter()
        .map(|p| go_regex(p).map_err(|err| bad_pattern(e, key, p, err)))
        .collect()
}

/// `key`'s pattern `p` refused with `err`, naming its line.
fn bad_pattern(e: &Entry<'_>, key: &str, p: &str, err: regex::Error) -> ConfigError {
    ConfigError::Invalid {
        line: e.line_of_value(key, p),
        message: format!("{key}: {p:?} is not a valid regular expression: {err}"),
    }
}

/// Builds the chain a TOML document describes.
pub fn chain_from_toml(text: &str) -> Result<Chain, ConfigError> {
    let raw: Raw = toml::from_str(text).map_err(|e| ConfigError::Syntax {
        line: e.span().map_or(1, |s| line_of(text, s.start)),
        message: e.message().to_owned(),
    })?;
    let mut chain = Chain::new();
    for entry in raw.processor {
        let span = entry.span();
        let e = Entry {
            text,
            base: 1,
            start: span.start,
        };
        let table = entry.into_inner();
        let kind =
            match table.get("type") {
                Some(toml::Value::String(s)) => s.clone(),
                _ => return Err(ConfigError::Syntax {
                    line: line_of(text, span.start),
                    message:
                        "a [[processor]] needs a type: \"probabilistic_sampler\", \"adaptive_sampler\", \"redaction\", \"filter\", \"attributes\" or \"span_metrics\""
                            .into(),
                }),
            };
        let value = toml::Value::Table(table.clone());
        match kind.as_str() {
            "probabilistic_sampler" => {
                let c: SamplerToml = value
                    .try_into()
                    .map_err(|err| e.syntax::<SamplerToml>(&table, err))?;
                let mut b = ProbabilisticSampler::builder();
                if let Some(m) = &c.mode {
                    let mode: Mode = m
                        .parse()
                        .map_err(|err: SamplerError| invalid(&e, "mode", err))?;
                    b = b.with_mode(mode);
                }
                if let Some(p) = c.sampling_percentage {
                    b = b.with_percentage(p);
                }
                if let Some(s) = c.hash_seed {
                    b = b.with_hash_seed(s);
                }
                if let Some(p) = c.sampling_precision {
                    b = b.with_precision(p);
                }
                if let Some(f) = c.fail_closed {
                    b = b.with_fail_closed(f);
                }
                if let Some(k) = c.keep_errors {
                    b = b.with_keep_errors(k);
                }
                for name in c.keep_span_names {
                    b = b.with_keep_span_name(name);
                }
                for (k, v) in c.keep_attributes {
                    b = b.with_keep_attribute(k, v);
                }
                if let Some(src) = &c.attribute_source {
                    let source: AttributeSource = src
                        .parse()
                        .map_err(|err: SamplerError| invalid(&e, "attribute_source", err))?;
                    b = b.with_attribute_source(source);
                }
                if let Some(key) = c.from_attribute {
                    b = b.with_from_attribute(key);
                }
                if let Some(key) = c.sampling_priority {
                    b = b.with_log_priority_attribute(key);
                }
                if let Some(d) = &c.keep_slower_than {
                    let bound = parse_duration(d).ok_or_else(|| {
                        invalid(&e, "keep_slower_than", format!("{d:?} is not a duration such as \"250ms\" or \"2s\""))
                    })?;
                    b = b.with_keep_slower_than(bound);
                }
                let s = b.build().map_err(|err| {
                    let key = match err {
                        SamplerError::Precision(_) => "sampling_precision",
                        SamplerError::RecordWithoutAttribute
                        | SamplerError::RecordInConsistentMode(_) => "attribute_source",
                        _ => "sampling_percentage",
                    };
                    invalid(&e, key, err)
                })?;
                chain.push(Box::new(s));
            }
            "redaction" => {
                let c: RedactionToml = value
                    .try_into()
                    .map_err(|err| e.syntax::<RedactionToml>(&table, err))?;
                chain.push(Box::new(redaction(&e, c)?));
            }
            "filter" => {
                let c: FilterToml = value
                    .try_into()
                    .map_err(|err| e.syntax::<FilterToml>(&table, err))?;
                let mut f = Filter::new();
                for cond in &c.span {
                    f = f.with_span_condition(cond).map_err(|err| ConfigError::Invalid {
                        line: e.line_of_value("span", cond),
                        message: format!("span condition {cond:?}: {err}"),
                    })?;
                }
                for cond in &c.spanevent {
                    f = f.with_span_event_condition(cond).map_err(|err| ConfigError::Invalid {
                        line: e.line_of_value("spanevent", cond),
                        message: format!("spanevent condition {cond:?}: {err}"),
                    })?;
                }
                for cond in &c.log_record {
                    f = f.with_log_record_condition(cond).map_err(|err| ConfigError::Invalid {
                        line: e.line_of_value("log_record", cond),
                        message: format!("log_record condition {cond:?}: {err}"),
                    })?;
                }
                for cond in &c.metric {
                    f = f.with_metric_condition(cond).map_err(|err| ConfigError::Invalid {
                        line: e.line_of_value("metric", cond),
                        message: format!("metric condition {cond:?}: {err}"),
                    })?;
                }
                for cond in &c.datapoint {
                    f = f.with_datapoint_condition(cond).map_err(|err| ConfigError::Invalid {
                        line: e.line_of_value("datapoint", cond),
                        message: format!("datapoint condition {cond:?}: {err}"),
                    })?;
                }
                chain.push(Box::new(f));
            }
            "attributes" => {
                let c: AttributesToml = value
                    .try_into()
                    .map_err(|err| e.syntax::<AttributesToml>(&table, err))?;
                let mut p = Attributes::new();
                for a in c.actions {
                    p = p.with_action(action(&e, a)?);
                }
                let include = c.include.map(|m| match_properties(&e, "include", m)).transpose()?;
                let exclude = c.exclude.map(|m| match_properties(&e, "exclude", m)).transpose()?;
                if include.is_some() || exclude.is_some() {
                    // Name the table at fault: each alone, then both.
                    let key = if Attributes::new().with_selection(None, exclude.clone()).is_err() {
                        "exclude"
                    } else {
                        "include"
                    };
                    p = p
                        .with_selection(include, exclude)
                        .map_err(|err| invalid(&e, key, err))?;
                }
                chain.push(Box::new(p));
            }
            "adaptive_sampler" => {
                let c: AdaptiveToml = value
                    .try_into()
                    .map_err(|err| e.syntax::<AdaptiveToml>(&table, err))?;
                let mut a = match (c.spans_per_second, c.logs_per_second) {
                    (Some(spans), _) => AdaptiveSampler::new(spans)
                        .map_err(|err| invalid(&e, "spans_per_second", err))?,
                    (None, Some(logs)) => AdaptiveSampler::for_logs(logs)
                        .map_err(|err| invalid(&e, "logs_per_second", err))?,
                    (None, None) => {
                        return Err(invalid(
                            &e,
                            "type",
                            "an adaptive_sampler needs spans_per_second, logs_per_second or both",
                        ))
                    }
                };
                if let (Some(_), Some(logs)) = (c.spans_per_second, c.logs_per_second) {
                    a = a
                        .with_logs_per_second(logs)
                        .map_err(|err| invalid(&e, "logs_per_second", err))?;
                }
                if let Some(w) = &c.window {
                    let d = parse_duration(w).ok_or_else(|| {
                        invalid(&e, "window", format!("{w:?} is not a duration such as \"1s\""))
                    })?;
                    a = a.with_window(d).map_err(|err| invalid(&e, "window", err))?;
                }
                for name in c.keep_span_names {
                    a = a.with_keep_span_name(name);
                }
                for (k, v) in c.keep_attributes {
                    a = a.with_keep_attribute(k, v);
                }
                chain.push(Box::new(a));
            }
            "span_metrics" => {
                let c: SpanMetricsToml = value
                    .try_into()
                    .map_err(|err| e.syntax::<SpanMetricsToml>(&table, err))?;
                let mut b = SpanMetrics::builder();
                for d in c.dimensions {
                    b = match (d.name, d.glob, d.default) {
                        (Some(name), None, default) => b.with_dimension(name, default),
                        (None, Some(glob), None) => b.with_dimension_glob(glob),
                        (None, Some(glob), Some(_)) => {
                            return Err(invalid(
                                &e,
                                "dimensions",
                                format!("`default` is not supported on glob dimension {glob:?}"),
                            ))
                        }
                        _ => {
                            return Err(invalid(
                                &e,
                                "dimensions",
                                "each dimension sets exactly one of `name` and `glob`",
                            ))
                        }
                    };
                }
                if let Some(bounds) = c.histogram_buckets_ms {
                    b = b.with_buckets_ms(bounds);
                }
                if let Some(limit) = c.cardinality_limit {
                    b = b.with_cardinality_limit(limit);
                }
                if let Some(max) = c.max_bytes {
                    b = b.with_max_bytes(max);
                }
                if let Some(ns) = c.namespace {
                    b = b.with_namespace(ns);
                }
                for name in c.exclude_dimensions {
                    b = b.with_exclude_dimension(name);
                }
                for name in c.include_instrumentation_scope {
                    b = b.with_include_instrumentation_scope(name);
                }
                if let Some(t) = &c.aggregation_temporality {
                    b = b.with_temporality(match t.as_str() {
                        "AGGREGATION_TEMPORALITY_CUMULATIVE" => Temporality::Cumulative,
                        "AGGREGATION_TEMPORALITY_DELTA" => Temporality::Delta,
                        _ => {
                            return Err(invalid(
                                &e,
                                "aggregation_temporality",
                                format!("{t:?} is neither \"AGGREGATION_TEMPORALITY_CUMULATIVE\" nor \"AGGREGATION_TEMPORALITY_DELTA\""),
                            ))
                        }
                    });
                }
                for (key, value) in [
                    ("metrics_expiration", &c.metrics_expiration),
                    ("series_expiration", &c.series_expiration),
                ] {
                    let Some(value) = value else { continue };
                    let d = parse_duration(value).ok_or_else(|| {
                        invalid(&e, key, format!("{value:?} is not a duration such as \"5m\""))
                    })?;
                    b = if key == "metrics_expiration" {
                        b.with_metrics_expiration(d)
                    } else {
                        b.with_series_expiration(d)
                    };
                }
                if let Some(n) = c.metric_timestamp_cache_size {
                    b = b.with_timestamp_cache_size(n);
                }
                if let Some(unit) = &c.histogram_unit {
                    b = b.with_unit(match unit.as_str() {
                        "ms" => DurationUnit::Milliseconds,
                        "s" => DurationUnit::Seconds,
                        _ => {
                            return Err(invalid(
                                &e,
                                "histogram_unit",
                                format!("{unit:?} is neither \"ms\" nor \"s\""),
                            ))
                        }
                    });
                }
                b = b
                    .with_duration_histogram(!c.histogram_disable)
                    .with_sampling_method(c.enable_metrics_sampling_method);
                for name in c.resource_metrics_key_attributes {
                    b = b.with_resource_key_attribute(name);
                }
                for (key, dims) in [
                    ("calls_dimensions", c.calls_dimensions),
                    ("histogram_dimensions", c.histogram_dimensions),
                ] {
                    for d in dims {
                        let (name, default) = named_dimension(&e, key, d)?;
                        b = if key == "calls_dimensions" {
                            b.with_calls_dimension(name, default)
                        } else {
                            b.with_duration_dimension(name, default)
                        };
                    }
                }
                if let Some(events) = c.events.filter(|x| x.enabled) {
                    if events.dimensions.is_empty() {
                        return Err(invalid(&e, "events", "no dimensions configured for events"));
                    }
                    for d in events.dimensions {
                        let (name, default) = named_dimension(&e, "events", d)?;
                        b = b.with_event_dimension(name, default);
                    }
                }
                if let Some(x) = c.exemplars.filter(|x| x.enabled) {
                    // The connector's default.
                    b = b.with_exemplars(x.max_per_data_point.unwrap_or(5));
                }
                let m = b.build().map_err(|err| {
                    let key = match err {
                        SpanMetricsError::Buckets(_) => "histogram_buckets_ms",
                        SpanMetricsError::ZeroLimit => "cardinality_limit",
                        SpanMetricsError::ZeroTimestampCache => "metric_timestamp_cache_size",
                        _ => "dimensions",
                    };
                    invalid(&e, key, err)
                })?;
                chain.push(Box::new(m));
            }
            other => {
                return Err(ConfigError::Syntax {
                    line: e.line_of_key("type"),
                    message: format!(
                        "unknown processor type {other:?} (probabilistic_sampler, adaptive_sampler, redaction, filter, attributes or span_metrics)"
                    ),
                })
            }
        }
    }
    Ok(chain)
}

/// One `[[processor.actions]]` entry, checked as the Collector checks it.
fn action(e: &Entry<'_>, a: ActionToml) -> Result<Action, ConfigError> {
    let kind = a.action.to_ascii_lowercase();
    let line = if a.key.is_empty() {
        e.line_of_value("action", &a.action)
    } else {
        e.line_of_value("key", &a.key)
    };
    let bad = |message: String| ConfigError::Invalid { line, message };
    // The Collector reads an empty from_attribute, pattern or
    // converted_type as not given.
    let from_attribute = a.from_attribute.as_deref().filter(|f| !f.is_empty());
    let converted_type = a.converted_type.as_deref().filter(|t| !t.is_empty());
    let pattern = match a.pattern.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => Some(go_regex(p).map_err(|err| ConfigError::Invalid {
            line: e.line_of_value("pattern", p),
            message: format!("pattern: {p:?} is not a valid regular expression: {err}"),
        })?),
        None => None,
    };
    let sources = usize::from(a.value.is_some()) + usize::from(from_attribute.is_some());
    // insert / update / upsert: a source, and the default for when it is
    // absent.
    let with_value = |make: fn(&str, Source) -> Result<Action, ActionError>| {
        if sources > 1 {
            return Err(bad(format!(
                "action {kind} takes one of value and from_attribute, not both"
            )));
        }
        if pattern.is_some() || converted_type.is_some() {
            return Err(bad(format!(
                "action {kind} does not take a pattern or a converted_type"
            )));
        }
        let default = a.default_value.as_ref().map(any_value);
        let src = match (&a.value, from_attribute, &default) {
            (Some(v), _, _) => Source::Value(any_value(v)),
            (None, Some(f), _) => Source::FromAttribute(f.to_owned()),
            // Only a default: it is the value.
            (None, None, Some(d)) => Source::Value(d.clone()),
            (None, None, None) => {
                return Err(bad(format!(
                    "action {kind} needs a value, from_attribute or default_value"
                )))
            }
        };
        let action = make(&a.key, src).and_then(|action| match default {
            Some(d) => action.or_default(d),
            None => Ok(action),
        });
        action.map_err(|err| bad(err.to_string()))
    };
    // The other actions take neither (a default_value is not read, as in
    // the Collector).
    let no_value = |what: &str| {
        if sources > 0 {
            return Err(bad(format!(
                "action {kind} does not take value or from_attribute"
            )));
        }
        if what != "convert" && converted_type.is_some() {
            return Err(bad(format!("action {kind} does not take a converted_type")));
        }
        Ok(())
    };
    let key = Some(a.key.as_str()).filter(|k| !k.is_empty());
    let result = match kind.as_str() {
        "insert" => Ok(with_value(Action::insert)?),
        "update" => Ok(with_value(Action::update)?),
        "upsert" => Ok(with_value(Action::upsert)?),
        "convert" => {
            no_value("convert")?;
            if pattern.is_some() {
                return Err(bad("action convert does not take a pattern".into()));
            }
            let Some(to) = converted_type else {
                return Err(bad(
                    "action convert needs a converted_type (int, double or string)".into(),
                ));
            };
            let to = to
                .parse()
                .map_err(|err: ActionError| ConfigError::Invalid {
                    line: e.line_of_value("converted_type", to),
                    message: err.to_string(),
                })?;
            Action::convert(&a.key, to)
        }
        "delete" | "hash" => {
            no_value(&kind)?;
            if kind == "delete" {
                Action::delete(key, pattern)
            } else {
                Action::hash(key, pattern)
            }
        }
        "extract" => {
            no_value("extract")?;
            match pattern {
                Some(p) => Action::extract(&a.key, p),
                None => return Err(bad("action extract needs a pattern".into())),
            }
        }
        other => {
            return Err(bad(format!(
            "unknown action {other:?} (insert, update, upsert, delete, hash, extract or convert)"
        )))
        }
    };
    result.map_err(|err| bad(err.to_string()))
}

/// A TOML value as an attribute value, as the Collector's `FromRaw` reads
/// YAML: lists as arrays, tables as maps (in key order), a date or time as
/// its text.
fn any_value(v: &toml::Value) -> Value {
    use crate::proto::common::v1::{AnyValue, ArrayValue, KeyValue, KeyValueList};
    let any = |v: &toml::Value| AnyValue {
        value: Some(any_value(v)),
    };
    match v {
        toml::Value::String(s) => Value::StringValue(s.clone()),
        toml::Value::Integer(i) => Value::IntValue(*i),
        toml::Value::Float(f) => Value::DoubleValue(*f),
        toml::Value::Boolean(b) => Value::BoolValue(*b),
        toml::Value::Array(items) => Value::ArrayValue(ArrayValue {
            values: items.iter().map(any).collect(),
        }),
        toml::Value::Table(t) => Value::KvlistValue(KeyValueList {
            values: t
                .iter()
                .map(|(k, v)| KeyValue {
                    key: k.clone(),
                    value: Some(any(v)),
                    ..KeyValue::default()
                })
                .collect(),
        }),
        toml::Value::Datetime(d) => Value::StringValue(d.to_string()),
    }
}

fn match_properties(
    e: &Entry<'_>,
    key: &str,
    m: MatchToml,
) -> Result<MatchProperties, ConfigError> {
    let match_type: Option<MatchType> = match m.match_type.as_str() {
        "" => None,
        t => Some(t.parse().map_err(|err: MatchError| invalid(e, key, err))?),
    };
    let attrs = |list: Vec<MatchAttrToml>| -> Result<Vec<(String, Option<Value>)>, ConfigError> {
        list.into_iter()
            .map(|a| {
                let value = match a.value {
                    None => None,
                    Some(toml::Value::String(s)) => Some(Value::StringValue(s)),
                    Some(toml::Value::Integer(i)) => Some(Value::IntValue(i)),
                    Some(toml::Value::Float(f)) => Some(Value::DoubleValue(f)),
                    Some(toml::Value::Boolean(b)) => Some(Value::BoolValue(b)),
                    Some(_) => {
                        return Err(invalid(
                            e,
                            key,
                            format!(
                                "the value of {:?} must be a string, number or boolean",
                                a.key
                            ),
                        ))
                    }
                };
                Ok((a.key, value))
            })
            .collect()
    };
    let mut p = match_type
        .map_or_else(MatchProperties::without_match_type, MatchProperties::new)
        .with_services(m.services)
        .with_span_names(m.span_names)
        .with_span_kinds(m.span_kinds)
        .with_log_bodies(m.log_bodies)
        .with_log_severity_texts(m.log_severity_texts)
        .with_metric_names(m.metric_names)
        .with_attributes(attrs(m.attributes)?)
        .with_resources(attrs(m.resources)?)
        .with_libraries(
            m.libraries
                .into_iter()
                .map(|l| (l.name, l.version))
                .collect(),
        );
    if let Some(s) = m.log_severity_number {
        p = p.with_log_severity_number(s.min, s.match_undefined);
    }
    Ok(p)
}

/// A dimension of `key`, where only named dimensions are supported: its
/// name and default.
fn named_dimension(
    e: &Entry<'_>,
    key: &str,
    d: DimensionToml,
) -> Result<(String, Option<String>), ConfigError> {
    match (d.name, d.glob) {
        (Some(name), None) => Ok((name, d.default)),
        (None, Some(_)) => Err(invalid(
            e,
            key,
            "glob dimensions are supported in `dimensions` only",
        )),
        _ => Err(invalid(
            e,
            key,
            "each dimension sets exactly one of `name` and `glob`",
        )),
    }
}

fn invalid(e: &Entry<'_>, key: &str, err: impl std::fmt::Display) -> ConfigError {
    ConfigError::Invalid {
        line: e.line_of_key(key),
        message: format!("{key}: {err}"),
    }
}

fn redaction(e: &Entry<'_>, c: RedactionToml) -> Result<Redaction, ConfigError> {
    let mut b: RedactionBuilder = Redaction::builder()
        .with_allow_all_keys(c.allow_all_keys)
        .with_allowed_keys(c.allowed_keys)
        .with_ignored_keys(c.ignored_keys)
        .with_redact_all_types(c.redact_all_types)
        .with_masking_string(c.masking_string)
        .with_hmac_key(c.hmac_key.into_bytes());
    for re in regexes(e, "ignored_key_patterns", &c.ignored_key_patterns)? {
        b = b.with_ignored_key_pattern(re);
    }
    for re in regexes(e, "blocked_key_patterns", &c.blocked_key_patterns)? {
        b = b.with_blocked_key_pattern(re);
    }
    // The value patterns as `regexes` reads them, but given as text: the
    // redaction learns from each which values it cannot match.
    for p in &c.blocked_values {
        b = go_to_regex(p)
            .and_then(|re| b.with_blocked_value_pattern(&re))
            .map_err(|err| bad_pattern(e, "blocked_values", p, err))?;
    }
    for p in &c.allowed_values {
        b = go_to_regex(p)
            .and_then(|re| b.with_allowed_value_pattern(&re))
            .map_err(|err| bad_pattern(e, "allowed_values", p, err))?;
    }
    b = b.with_hash_function(
        c.hash_function
            .parse()
            .map_err(|err: RedactionError| invalid(e, "hash_function", err))?,
    );
    b = b.with_summary(
        c.summary
            .parse()
            .map_err(|err: RedactionError| invalid(e, "summary", err))?,
    );
    for p in &c.blocked_patterns {
        b = b
            .with_blocked_pattern(p)
            .map_err(|err| ConfigError::Invalid {
                line: e.line_of_value("blocked_patterns", p),
                message: format!("blocked_patterns: {err}"),
            })?;
    }
    for l in c.blocked_literals {
        b = b.with_blocked_literal(l);
    }
    if let Some(u) = c.url_sanitizer.filter(|u| u.enabled) {
        b = b.with_url_sanitizer(u.attributes, u.sanitize_span_name.unwrap_or(true));
    }
    if let Some(d) = c.db_sanitizer {
        use crate::processor::db::{DbSanitizer, DbSystem};
        let mut db = DbSanitizer::new().with_span_names(d.sanitize_span_name.unwrap_or(true));
        for (system, o) in [
            (DbSystem::Sql, d.sql),
            (DbSystem::Redis, d.redis),
            (DbSystem::Valkey, d.valkey),
            (DbSystem::Memcached, d.memcached),
            (DbSystem::Mongo, d.mongo),
            (DbSystem::OpenSearch, d.opensearch),
            (DbSystem::Elasticsearch, d.es),
        ] {
            if let Some(o) = o.filter(|o| o.enabled) {
                db = db.with_obfuscator(system, o.attributes);
            }
        }
        if let Err(err) = db.build() {
            let crate::processor::db::DbSanitizerError::NoAttributes(name) = &err;
            return Err(ConfigError::Invalid {
                line: e.line_of_key(name),
                message: err.to_string(),
            });
        }
        b = b.with_db_sanitizer(db);
    }
    b.build().map_err(|err| invalid(e, "hash_function", err))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[[processor]]
type = "probabilistic_sampler"
mode = "equalizing"
sampling_percentage = 25.0
keep_errors = true
keep_slower_than = "1.5s"

[[processor]]
type = "redaction"
allowed_keys = ["a", "b"]
blocked_values = [
  "[0-9]{4}",
  'x\d+',
]
blocked_patterns = ["email", "card"]
summary = "debug"
"#;

    fn err_line(text: &str) -> (usize, String) {
        match chain_from_toml(text).unwrap_err() {
            ConfigError::Syntax { line, message } | ConfigError::Invalid { line, message } => {
                (line, message)
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]
        /// Any text is a chain or an error naming a line inside it.
        #[test]
        fn any_text_is_a_chain_or_a_line(cut in 0usize..400, junk in "[a-z=\\[\\]\"' \n0-9.]{0,12}") {
            let full = format!("{GOOD}{FILTER_AND_ATTRS}");
            let cut = cut.min(full.len());
            let text = format!("{}{junk}", &full[..cut]);
            if let Err(ConfigError::Syntax { line, .. } | ConfigError::Invalid { line, .. }) = chain_from_toml(&text) {
                proptest::prop_assert!(line >= 1 && line <= text.lines().count().max(1), "line {} of {}", line, text.lines().count());
            }
        }
    }

    #[test]
    fn an_error_at_the_end_names_the_last_line() {
        // An unclosed multi-line string runs to the end of the text, past
        // its final newline.
        let text = "[[processor]]\ntype = \"\"\"\n";
        assert_eq!(err_line(text).0, 2);
        assert_eq!(err_line("x = \"").0, 1);
    }

    #[test]
    fn builds_a_chain_in_order() {
        let c = chain_from_toml(GOOD).unwrap();
        assert_eq!(c.names(), ["probabilistic_sampler", "redaction"]);
        let more = format!("{GOOD}{FILTER_AND_ATTRS}");
        let c = chain_from_toml(&more).unwrap();
        assert_eq!(
            c.names(),
            ["probabilistic_sampler", "redaction", "filter", "attributes"]
        );
    }

    #[test]
    fn attribute_values_may_be_lists_and_tables() {
        use crate::proto::common::v1::any_value::Value as V;
        let mut chain = chain_from_toml(
            "[[processor]]\ntype = \"attributes\"\n[[processor.actions]]\nkey = \"l\"\naction = \"insert\"\nvalue = [1, \"a\", { b = [true] }]\n",
        )
        .unwrap();
        let mut logs = crate::processor::logs_request(vec![Default::default()]);
        chain.process_logs(&mut logs);
        let attrs = &logs.resource_logs[0].scope_logs[0].log_records[0].attributes;
        let Some(V::ArrayValue(list)) = attrs[0].value.as_ref().and_then(|v| v.value.clone())
        else {
            panic!("{attrs:?}")
        };
        assert_eq!(list.values.len(), 3);
        assert_eq!(list.values[0].value, Some(V::IntValue(1)));
        let Some(V::KvlistValue(map)) = &list.values[2].value else {
            panic!("{list:?}")
        };
        assert_eq!(map.values[0].key, "b");
        // A date reads as its text.
        let mut c = chain_from_toml(
            "[[processor]]\ntype = \"attributes\"\n[[processor.actions]]\nkey = \"l\"\naction = \"insert\"\nvalue = 1979-05-27\n",
        )
        .unwrap();
        let mut logs = crate::processor::logs_request(vec![Default::default()]);
        c.process_logs(&mut logs);
        let attrs = &logs.resource_logs[0].scope_logs[0].log_records[0].attributes;
        assert_eq!(
            attrs[0].value.as_ref().and_then(|v| v.value.clone()),
            Some(V::StringValue("1979-05-27".into()))
        );
    }

    #[test]
    fn redaction_patterns_read_as_go_reads_them() {
        // `\d` is ASCII, `\Q...\E` literal text.
        let mut chain = chain_from_toml(
            "[[processor]]\ntype = \"redaction\"\nallow_all_keys = true\nblocked_values = ['\\d{3}', '\\Q1+1\\E']\nsummary = \"silent\"\n",
        )
        .unwrap();
        let mut logs = crate::processor::logs_request(vec![crate::proto::logs::v1::LogRecord {
            attributes: vec![
                crate::processor::string_attr("arabic", "\u{663}\u{664}\u{665}"),
                crate::processor::string_attr("ascii", "x345"),
                crate::processor::string_attr("sum", "1+1=2"),
            ],
            ..Default::default()
        }]);
        chain.process_logs(&mut logs);
        let attrs = &logs.resource_logs[0].scope_logs[0].log_records[0].attributes;
        let text = |i: usize| match attrs[i].value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(crate::proto::common::v1::any_value::Value::StringValue(s)) => s.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(text(0), "\u{663}\u{664}\u{665}");
        assert_eq!(text(1), "x****");
        assert_eq!(text(2), "****=2");
    }

    #[test]
    fn url_sanitizer_is_read_as_the_collectors() {
        let run = |url: &str| {
            let mut chain = chain_from_toml(&format!(
                "[[processor]]\ntype = \"redaction\"\nallow_all_keys = true\n{url}\n"
            ))
            .unwrap();
            let mut logs =
                crate::processor::logs_request(vec![crate::proto::logs::v1::LogRecord {
                    attributes: vec![
                        crate::processor::string_attr("http.url", "/users/42?x=1"),
                        crate::processor::string_attr("other", "/users/42"),
                    ],
                    ..Default::default()
                }]);
            chain.process_logs(&mut logs);
            let attrs = &logs.resource_logs[0].scope_logs[0].log_records[0].attributes;
            attrs
                .iter()
                .map(
                    |kv| match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                        Some(crate::proto::common::v1::any_value::Value::StringValue(s)) => {
                            s.clone()
                        }
                        other => panic!("{other:?}"),
                    },
                )
                .collect::<Vec<_>>()
        };
        assert_eq!(
            run("url_sanitizer = { enabled = true, attributes = ['http.url'] }"),
            ["/users/*", "/users/42"]
        );
        assert_eq!(
            run("url_sanitizer = { enabled = false, attributes = ['http.url'] }"),
            ["/users/42?x=1", "/users/42"]
        );
        let (line, msg) = err_line(
            "[[processor]]\ntype = \"redaction\"\nallow_all_keys = true\nurl_sanitizer = { enabled = true, atributes = ['x'] }\n",
        );
        assert_eq!(line, 4, "{msg}");
        assert!(msg.contains("atributes"), "{msg}");
    }

    #[test]
    fn db_sanitizer_is_read_as_the_collectors() {
        let run = |db: &str, system: &str| {
            let mut chain = chain_from_toml(&format!(
                "[[processor]]\ntype = \"redaction\"\nallow_all_keys = true\n{db}\n"
            ))
            .unwrap_or_else(|e| panic!("{e}"));
            let mut attributes = vec![
                crate::processor::string_attr("cmd", "get k\r\nsecret"),
                crate::processor::string_attr("other", "get k\r\nsecret"),
            ];
            if !system.is_empty() {
                attributes.push(crate::processor::string_attr("db.system", system));
            }
            let mut spans = crate::processor::spans_request(vec![crate::proto::trace::v1::Span {
                name: "get k\r\nname".into(),
                kind: 3,
                attributes,
                ..Default::default()
            }]);
            chain.process(&mut spans);
            let span = &spans.resource_spans[0].scope_spans[0].spans[0];
            let text = |kv: &crate::proto::common::v1::KeyValue| match kv
                .value
                .as_ref()
                .and_then(|v| v.value.as_ref())
            {
                Some(crate::proto::common::v1::any_value::Value::StringValue(s)) => s.clone(),
                other => panic!("{other:?}"),
            };
            (
                span.name.clone(),
                text(&span.attributes[0]),
                text(&span.attributes[1]),
            )
        };
        let inline = "db_sanitizer = { memcached = { enabled = true, attributes = ['cmd'] } }";
        assert_eq!(
            run(inline, "Memcached"),
            ("get k".into(), "get k".into(), "get k\r\nsecret".into())
        );
        // Without a system, spans are left alone.
        assert_eq!(
            run(inline, ""),
            (
                "get k\r\nname".into(),
                "get k\r\nsecret".into(),
                "get k\r\nsecret".into()
            )
        );
        let table = "[processor.db_sanitizer]\nsanitize_span_name = false\nmemcached = { enabled = true, attributes = ['cmd'] }";
        assert_eq!(run(table, "memcached").0, "get k\r\nname");
        let off = "db_sanitizer = { memcached = { enabled = false, attributes = ['cmd'] } }";
        assert_eq!(run(off, "memcached").1, "get k\r\nsecret");
        let (line, msg) = err_line(
            "[[processor]]\ntype = \"redaction\"\nallow_all_keys = true\ndb_sanitizer = { memcache = { enabled = true } }\n",
        );
        assert_eq!(line, 4, "{msg}");
        assert!(msg.contains("memcache"), "{msg}");
        let (line, msg) = err_line(
            "[[processor]]\ntype = \"redaction\"\nallow_all_keys = true\n[processor.db_sanitizer]\nes = { enabled = true, attributes = ['body'] }\n",
        );
        assert_eq!(line, 5, "{msg}");
        assert!(msg.contains("db_sanitizer.es.attributes"), "{msg}");
    }

    const FILTER_AND_ATTRS: &str = r#"
[[processor]]
type = "filter"
span = ['name == "GET /health"', 'kind == SPAN_KIND_INTERNAL and duration < 1000']
spanevent = ['name == "log"']

[[processor]]
type = "attributes"

[[processor.actions]]
key = "env"
action = "INSERT"
value = "prod"

[[processor.actions]]
action = "delete"
pattern = "^tmp"
"#;

    #[test]
    fn convert_and_default_value_from_toml() {
        use crate::proto::common::v1::{AnyValue, KeyValue};
        let text = "[[processor]]\ntype = \"attributes\"\n[[processor.actions]]\nkey = \"n\"\naction = \"convert\"\nconverted_type = \"int\"\n[[processor.actions]]\nkey = \"env\"\naction = \"insert\"\nfrom_attribute = \"deployment\"\ndefault_value = \"dev\"\n";
        let mut chain = chain_from_toml(text).unwrap();
        let mut logs = crate::proto::collector::logs::v1::ExportLogsServiceRequest {
            resource_logs: vec![crate::proto::logs::v1::ResourceLogs {
                scope_logs: vec![crate::proto::logs::v1::ScopeLogs {
                    log_records: vec![crate::proto::logs::v1::LogRecord {
                        attributes: vec![crate::processor::string_attr("n", "12")],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        chain.process_logs(&mut logs);
        let attrs = &logs.resource_logs[0].scope_logs[0].log_records[0].attributes;
        assert_eq!(
            attrs[0],
            KeyValue {
                key: "n".into(),
                value: Some(AnyValue {
                    value: Some(Value::IntValue(12))
                }),
                ..KeyValue::default()
            }
        );
        assert_eq!(attrs[1], crate::processor::string_attr("env", "dev"));
        for (bad, line, words) in [
            (text.replace("\"int\"", "\"long\""), 6, "converted_type"),
            (
                text.replace("converted_type = \"int\"\n", ""),
                4,
                "needs a converted_type",
            ),
            (
                text.replace(
                    "converted_type = \"int\"",
                    "converted_type = \"int\"\nvalue = 1",
                ),
                4,
                "does not take value",
            ),
            (
                text.replace(
                    "from_attribute = \"deployment\"\n",
                    "from_attribute = \"deployment\"\nconverted_type = \"int\"\n",
                ),
                8,
                "converted_type",
            ),
        ] {
            let (l, msg) = err_line(&bad);
            assert_eq!(l, line, "{msg}");
            assert!(msg.contains(words), "{msg}");
        }
    }

    #[test]
    fn include_and_exclude_from_toml() {
        let text = "[[processor]]\ntype = \"attributes\"\nactions = [{ key = \"x\", action = \"upsert\", value = 1 }]\ninclude = { match_type = \"regexp\", span_names = [\"^GET\"], attributes = [{ key = \"k\", value = \"v\" }] }\nexclude = { match_type = \"strict\", libraries = [{ name = \"lib\", version = \"1\" }] }\n";
        assert_eq!(chain_from_toml(text).unwrap().names(), ["attributes"]);
        for (bad, line, words) in [
            (text.replace("\"regexp\"", "\"glob\""), 4, "match_type"),
            (text.replace("\"^GET\"", "\"(\""), 4, "regular expression"),
            (
                text.replace("value = \"v\"", "value = 3"),
                4,
                "string values only",
            ),
            (text.replace("span_names", "span_namez"), 4, "span_namez"),
            (
                text.replace(
                    "libraries = [{ name = \"lib\", version = \"1\" }]",
                    "log_bodies = [\"x\"], span_kinds = [\"a\"]",
                ),
                5,
                "apply",
            ),
        ] {
            let (l, msg) = err_line(&bad);
            assert_eq!(l, line, "{msg}");
            assert!(msg.contains(words), "{msg}");
        }
    }

    /// The Collector takes include / exclude without a match_type as long
    /// as nothing is compared (attributes and resources by key only,
    /// log_severity_number), and an empty one as none.
    #[test]
    fn match_type_may_be_left_out_where_nothing_is_compared() {
        let text = |props: &str| {
            format!("[[processor]]\ntype = \"attributes\"\nactions = [{{ key = \"x\", action = \"upsert\", value = 1 }}]\ninclude = {{ {props} }}\n")
        };
        for ok in [
            "attributes = [{ key = \"k\" }]",
            "match_type = \"\", resources = [{ key = \"r\" }]",
            "log_severity_number = { min = 9 }",
        ] {
            assert!(chain_from_toml(&text(ok)).is_ok(), "{ok}");
        }
        for bad in [
            "services = [\"s\"]",
            "attributes = [{ key = \"k\", value = \"v\" }]",
            "libraries = [{ name = \"l\" }]",
            "metric_names = [\"m\"]",
        ] {
            let (line, msg) = err_line(&text(bad));
            assert_eq!(line, 4, "{msg}");
            assert!(msg.contains("match_type \"\""), "{msg}");
        }
    }

    /// What the Collector reads of action fields: an empty from_attribute,
    /// pattern or converted_type is not given (an empty pattern deletes
    /// nothing), and a default_value where it is not used is ignored.
    #[test]
    fn empty_action_fields_and_unused_defaults_read_as_in_the_collector() {
        use crate::processor::string_attr;
        use crate::proto::collector::trace::v1::ExportTraceServiceRequest;
        use crate::proto::trace::v1::{ResourceSpans, ScopeSpans, Span};
        let run = |actions: &str| {
            let text = format!("[[processor]]\ntype = \"attributes\"\nactions = [{actions}]\n");
            let mut chain = chain_from_toml(&text).unwrap_or_else(|e| panic!("{actions}: {e}"));
            let mut batch = ExportTraceServiceRequest {
                resource_spans: vec![ResourceSpans {
                    scope_spans: vec![ScopeSpans {
                        spans: vec![Span {
                            attributes: vec![
                                string_attr("a", "1"),
                                string_attr("b", "2"),
                                string_attr("", "empty key"),
                            ],
                            ..Span::default()
                        }],
                        ..ScopeSpans::default()
                    }],
                    ..ResourceSpans::default()
                }],
            };
            chain.process(&mut batch);
            std::mem::take(&mut batch.resource_spans[0].scope_spans[0].spans[0].attributes)
        };
        // Only the key goes.
        assert_eq!(
            run("{ key = \"a\", action = \"delete\", pattern = \"\" }"),
            [string_attr("", "empty key"), string_attr("b", "2")]
        );
        // The default, not the attribute with the empty key.
        assert_eq!(
            run("{ key = \"t\", action = \"insert\", from_attribute = \"\", default_value = \"d\" }")[3],
            string_attr("t", "d")
        );
        for accepted in [
            "{ key = \"t\", action = \"insert\", value = 1, from_attribute = \"\" }",
            "{ key = \"t\", action = \"insert\", value = 1, pattern = \"\", converted_type = \"\" }",
            "{ key = \"a\", action = \"hash\", default_value = 1 }",
            "{ key = \"a\", action = \"delete\", default_value = 1 }",
            "{ key = \"a\", action = \"extract\", pattern = \"(?P<x>.)\", default_value = 1 }",
            "{ key = \"a\", action = \"convert\", converted_type = \"int\", pattern = \"\", default_value = 1 }",
        ] {
            run(accepted);
        }
        for (refused, words) in [
            (
                "{ key = \"t\", action = \"insert\", from_attribute = \"\" }",
                "needs a value",
            ),
            (
                "{ key = \"\", action = \"delete\", pattern = \"\" }",
                "key or a pattern",
            ),
            (
                "{ key = \"a\", action = \"convert\", converted_type = \"\" }",
                "needs a converted_type",
            ),
        ] {
            let text = format!("[[processor]]\ntype = \"attributes\"\nactions = [{refused}]\n");
            let (_, msg) = err_line(&text);
            assert!(msg.contains(words), "{refused}: {msg}");
        }
    }

    #[test]
    fn sampler_keep_rules_from_toml() {
        let text = "[[processor]]\ntype = \"probabilistic_sampler\"\nmode = \"proportional\"\nsampling_percentage = 0.0\nkeep_span_names = [\"checkout\"]\nkeep_attributes = { tier = \"gold\" }\n";
        let chain = chain_from_toml(text).unwrap();
        // Name and attribute rules need the span: no early decision.
        assert!(chain.early_drop().is_none());
        let (line, msg) = err_line(&text.replace("\"gold\"", "1"));
        assert_eq!(line, 6, "{msg}");
    }

    #[test]
    fn adaptive_sampler_from_toml() {
        let chain = chain_from_toml(
            "[[processor]]\ntype = \"adaptive_sampler\"\nspans_per_second = 500\nwindow = \"2s\"\nkeep_span_names = [\"checkout\"]\nkeep_attributes = { tenant = \"gold\" }\n",
        )
        .unwrap();
        assert_eq!(chain.names(), ["adaptive_sampler"]);
        let (line, msg) =
            err_line("[[processor]]\ntype = \"adaptive_sampler\"\n\nspans_per_second = -1\n");
        assert_eq!(line, 4, "{msg}");
        let (line, msg) = err_line(
            "[[processor]]\ntype = \"adaptive_sampler\"\nspans_per_second = 5\nlogs_per_second = 0\n",
        );
        assert_eq!(line, 4, "{msg}");
        assert!(msg.contains("logs_per_second"), "{msg}");
        let (line, msg) = err_line("[[processor]]\ntype = \"adaptive_sampler\"\nwindow = \"2s\"\n");
        assert_eq!(line, 2, "{msg}");
        assert!(
            msg.contains("needs spans_per_second, logs_per_second"),
            "{msg}"
        );
        // Log records only: the spans pass, the records are sampled.
        let mut chain = chain_from_toml(
            "[[processor]]\ntype = \"adaptive_sampler\"\nlogs_per_second = 1\nwindow = \"1ms\"\n",
        )
        .unwrap();
        let records = (0..2000u64)
            .map(|i| crate::proto::logs::v1::LogRecord {
                time_unix_nano: i,
                ..Default::default()
            })
            .collect::<Vec<_>>();
        let mut dropped = 0;
        for _ in 0..50 {
            let mut logs = crate::processor::logs_request(records.clone());
            let report = chain.process_logs(&mut logs);
            dropped += report.spans_in - report.spans_out;
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        assert!(dropped > 0);
        let (line, msg) = err_line(
            "[[processor]]\ntype = \"adaptive_sampler\"\nspans_per_second = 5\nwindow = \"soon\"\n",
        );
        assert_eq!(line, 4, "{msg}");
    }

    #[test]
    fn span_metrics_from_toml() {
        let chain = chain_from_toml(
            "[[processor]]\ntype = \"span_metrics\"\ndimensions = [{ name = \"http.method\", default = \"GET\" }, { name = \"env\" }]\nhistogram_buckets_ms = [1.0, 10.0]\ncardinality_limit = 100\n",
        )
        .unwrap();
        assert_eq!(chain.names(), ["span_metrics"]);
        // `max_bytes`: with room for nothing, the span is counted in the
        // overflow series.
        let mut chain =
            chain_from_toml("[[processor]]\ntype = \"span_metrics\"\nmax_bytes = 1\n").unwrap();
        use crate::proto::trace::v1::{ResourceSpans, ScopeSpans, Span};
        let mut batch = crate::proto::collector::trace::v1::ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(crate::proto::resource::v1::Resource {
                    attributes: vec![crate::processor::string_attr("service.name", "s")],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span::default()],
                    ..ScopeSpans::default()
                }],
                ..ResourceSpans::default()
            }],
        };
        chain.process(&mut batch);
        let metrics = chain.take_metrics().unwrap();
        let calls = &metrics.resource_metrics[0].scope_metrics[0].metrics[0];
        let Some(crate::proto::metrics::v1::metric::Data::Sum(sum)) = &calls.data else {
            panic!("{calls:?}")
        };
        assert_eq!(sum.data_points[0].attributes[0].key, "otel.metric.overflow");
        let (line, msg) = err_line(
            "[[processor]]\ntype = \"span_metrics\"\n\nhistogram_buckets_ms = [10.0, 1.0]\n",
        );
        assert_eq!(line, 4, "{msg}");
        let (line, msg) =
            err_line("[[processor]]\ntype = \"span_metrics\"\ndimensions = [{ nam = \"x\" }]\n");
        assert_eq!(line, 3, "{msg}");
        chain_from_toml(
            "[[processor]]\ntype = \"span_metrics\"\ndimensions = [{ glob = \"http.*\" }, { name = \"env\" }]\n",
        )
        .unwrap();
        chain_from_toml(
            "[[processor]]\ntype = \"span_metrics\"\nevents = { enabled = true, dimensions = [{ name = \"exception.type\", default = \"none\" }] }\n",
        )
        .unwrap();
        for events in [
            "{ enabled = true }",
            "{ enabled = true, dimensions = [{ glob = \"*\" }] }",
            "{ enabled = true, dimensions = [{ name = \"span.kind\" }] }",
        ] {
            let (line, msg) = err_line(&format!(
                "[[processor]]\ntype = \"span_metrics\"\nevents = {events}\n"
            ));
            assert!(
                line == 3 || msg.contains("span.kind"),
                "{events}: {line} {msg}"
            );
        }
        for dims in [
            "[{ glob = \"http.*\", default = \"x\" }]",
            "[{ glob = \"http.*\", name = \"x\" }]",
            "[{ default = \"x\" }]",
            "[{ glob = \"[\" }]",
        ] {
            let (line, msg) = err_line(&format!(
                "[[processor]]\ntype = \"span_metrics\"\ndimensions = {dims}\n"
            ));
            assert_eq!(line, 3, "{dims}: {msg}");
        }
        // Delta: the second report counts the second batch alone.
        let mut chain = chain_from_toml(
            "[[processor]]\ntype = \"span_metrics\"\naggregation_temporality = \"AGGREGATION_TEMPORALITY_DELTA\"\nmetric_timestamp_cache_size = 5\n",
        )
        .unwrap();
        for _ in 0..2 {
            chain.process(&mut batch.clone());
            chain.process(&mut batch.clone());
            let metrics = chain.take_metrics().unwrap();
            let calls = &metrics.resource_metrics[0].scope_metrics[0].metrics[0];
            let Some(crate::proto::metrics::v1::metric::Data::Sum(sum)) = &calls.data else {
                panic!("{calls:?}")
            };
            assert_eq!(
                sum.aggregation_temporality,
                crate::proto::metrics::v1::AggregationTemporality::Delta as i32
            );
            assert_eq!(
                sum.data_points[0].value,
                Some(crate::proto::metrics::v1::number_data_point::Value::AsInt(
                    2
                ))
            );
        }
        chain_from_toml(
            "[[processor]]\ntype = \"span_metrics\"\nmetrics_expiration = \"5m\"\nseries_expiration = \"90s\"\naggregation_temporality = \"AGGREGATION_TEMPORALITY_CUMULATIVE\"\n",
        )
        .unwrap();
        // Exemplars: on with the connector's default of 5 a point.
        let mut chain = chain_from_toml(
            "[[processor]]\ntype = \"span_metrics\"\nexemplars = { enabled = true }\n",
        )
        .unwrap();
        let mut traced = batch.clone();
        traced.resource_spans[0].scope_spans[0].spans = (1..=7u8)
            .map(|i| Span {
                trace_id: vec![i; 16],
                span_id: vec![i; 8],
                ..Span::default()
            })
            .collect();
        chain.process(&mut traced);
        let metrics = chain.take_metrics().unwrap();
        let calls = &metrics.resource_metrics[0].scope_metrics[0].metrics[0];
        let Some(crate::proto::metrics::v1::metric::Data::Sum(sum)) = &calls.data else {
            panic!("{calls:?}")
        };
        assert_eq!(sum.data_points[0].exemplars.len(), 5);
        for (toml, want_line, want) in [
            ("aggregation_temporality = \"delta\"\n", 3, "aggregation_temporality"),
            ("\nmetrics_expiration = \"soon\"\n", 4, "metrics_expiration"),
            ("series_expiration = 5\n", 3, "series_expiration"),
            ("exemplars = { enabled = true, max = 1 }\n", 3, "max"),
            ("\n\nhistogram_unit = \"us\"\n", 5, "histogram_unit"),
            (
                "aggregation_temporality = \"AGGREGATION_TEMPORALITY_DELTA\"\nmetric_timestamp_cache_size = 0\n",
                4,
                "metric_timestamp_cache_size",
            ),
        ] {
            let (line, msg) = err_line(&format!("[[processor]]\ntype = \"span_metrics\"\n{toml}"));
            assert_eq!(line, want_line, "{msg}");
            assert!(msg.contains(want), "{msg}");
        }
    }

    #[test]
    fn filter_takes_log_and_metric_conditions() {
        let mut chain = chain_from_toml(
            "[[processor]]\ntype = \"filter\"\nlog_record = ['severity_number < SEVERITY_NUMBER_INFO']\nmetric = ['name == \"x\"']\ndatapoint = ['value_int > 5']\n",
        )
        .unwrap();
        assert_eq!(chain.names(), ["filter"]);
        let mut logs = crate::proto::collector::logs::v1::ExportLogsServiceRequest::default();
        assert_eq!(chain.process_logs(&mut logs).spans_in, 0);
        let text = "[[processor]]\ntype = \"filter\"\n\nlog_record = ['name == \"x\"']\n";
        let (line, msg) = err_line(text);
        assert_eq!(line, 4, "{msg}");
        assert!(msg.contains("unknown field name"), "{msg}");
    }

    #[test]
    fn filter_and_attribute_errors_name_the_line() {
        let base = format!("{GOOD}{FILTER_AND_ATTRS}");
        let line_of = |needle: &str| base.lines().position(|l| l.contains(needle)).unwrap() + 1;
        let (line, msg) = err_line(&base.replace("duration < 1000", "duration <"));
        assert_eq!(line, line_of("duration < 1000"), "{msg}");
        let (line, msg) = err_line(&base.replace("\"^tmp\"", "\"(tmp\""));
        assert_eq!(line, line_of("^tmp"), "{msg}");
        let (line, msg) = err_line(&base.replace(
            "value = \"prod\"",
            "value = \"prod\"\nfrom_attribute = \"x\"",
        ));
        assert_eq!(line, line_of("key = \"env\""), "{msg}");
        let (line, msg) = err_line(&base.replace("action = \"delete\"", "action = \"drop\""));
        assert_eq!(line, line_of("action = \"delete\""), "{msg}");
        let (line, msg) =
            err_line(&base.replace("pattern = \"^tmp\"", "pattern = \"^tmp\"\nvalu = 1"));
        assert!(msg.contains("valu"), "{msg}");
        assert_eq!(line, line_of("pattern = \"^tmp\"") + 1, "{msg}");
    }

    #[test]
    fn log_sampling_keys() {
        use crate::processor::string_attr;
        use crate::proto::common::v1::KeyValue;
        let text = "[[processor]]\ntype = \"probabilistic_sampler\"\nsampling_percentage = 100.0\nattribute_source = \"record\"\nfrom_attribute = \"log.id\"\nsampling_priority = \"prio\"\n";
        let mut chain = chain_from_toml(text).unwrap();
        let record = |attrs: Vec<KeyValue>| crate::proto::logs::v1::LogRecord {
            attributes: attrs,
            ..Default::default()
        };
        let double = |k: &str, d: f64| KeyValue {
            key: k.into(),
            value: Some(crate::proto::common::v1::AnyValue {
                value: Some(Value::DoubleValue(d)),
            }),
            ..KeyValue::default()
        };
        let mut logs = crate::proto::collector::logs::v1::ExportLogsServiceRequest {
            resource_logs: vec![crate::proto::logs::v1::ResourceLogs {
                scope_logs: vec![crate::proto::logs::v1::ScopeLogs {
                    log_records: vec![
                        // No attribute to hash: missing randomness.
                        record(vec![]),
                        record(vec![string_attr("log.id", "a")]),
                        // A priority of 1e-12 percent drops it.
                        record(vec![string_attr("log.id", "b"), double("prio", 1e-12)]),
                    ],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let report = chain.process_logs(&mut logs);
        assert_eq!((report.spans_in, report.spans_out), (3, 1));
        let kept = &logs.resource_logs[0].scope_logs[0].log_records;
        assert_eq!(kept[0].attributes[0], string_attr("log.id", "a"));
        assert_eq!(kept[0].attributes[1].key, "sampling.randomness");
        assert_eq!(
            kept[0].attributes[2],
            string_attr("sampling.threshold", "0")
        );
        let (line, msg) = err_line(&text.replace("\"record\"", "\"span\""));
        assert_eq!(line, 4, "{msg}");
        assert!(msg.starts_with("attribute_source"), "{msg}");
        let (line, msg) = err_line(&text.replace("from_attribute = \"log.id\"\n", ""));
        assert_eq!(line, 4, "{msg}");
        assert!(msg.contains("needs from_attribute"), "{msg}");
        let (line, msg) = err_line(&text.replace(
            "sampling_percentage",
            "mode = \"equalizing\"\nsampling_percentage",
        ));
        assert_eq!(line, 5, "{msg}");
        assert!(msg.contains("hash_seed mode only"), "{msg}");
    }

    #[test]
    fn out_of_range_values_name_their_key_and_line() {
        for (kind, other, key, value) in [
            (
                "probabilistic_sampler",
                "sampling_percentage = 10.0",
                "sampling_precision",
                "300",
            ),
            (
                "probabilistic_sampler",
                "sampling_percentage = 10.0",
                "hash_seed",
                "-1",
            ),
            ("span_metrics", "", "cardinality_limit", "-1"),
        ] {
            let text = format!("[[processor]]\ntype = \"{kind}\"\n{other}\n{key} = {value}\n");
            let (line, msg) = err_line(&text);
            assert_eq!(line, 4, "{key}: {msg}");
            assert!(msg.starts_with(key), "{msg}");
        }
        let (line, msg) =
            err_line("[[processor]]\ntype = \"span_metrics\"\n\ndimensions = [{ name = \"\" }]\n");
        assert_eq!(line, 4, "{msg}");
        assert!(msg.contains("dimension"), "{msg}");
    }

    #[test]
    fn errors_name_the_line() {
        let unknown = GOOD.replace("summary = \"debug\"", "summary = \"debug\"\nsumary = 1");
        let (line, msg) = err_line(&unknown);
        assert_eq!(line, 18, "{msg}");
        assert!(msg.contains("sumary"), "{msg}");

        let bad_re = GOOD.replace("'x\\d+'", "'x(\\d+'");
        let (line, msg) = err_line(&bad_re);
        assert_eq!(line, 14, "{msg}");
        assert!(msg.contains("regular expression"), "{msg}");

        let (line, msg) = err_line(&GOOD.replace("mode = \"equalizing\"", "mode = \"fast\""));
        assert_eq!((line, msg.contains("fast")), (4, true), "{msg}");

        let (line, _) =
            err_line(&GOOD.replace("sampling_percentage = 25.0", "sampling_percentage = -1.0"));
        assert_eq!(line, 5);

        let (line, msg) = err_line(&GOOD.replace("type = \"redaction\"", "type = \"nope\""));
        assert_eq!(line, 10, "{msg}");

        let (line, msg) = err_line(&GOOD.replace("\"1.5s\"", "\"soon\""));
        assert_eq!((line, msg.contains("soon")), (7, true), "{msg}");
        assert_eq!(
            parse_duration("250ms"),
            Some(std::time::Duration::from_millis(250))
        );
        assert_eq!(
            parse_duration("1.5s"),
            Some(std::time::Duration::from_millis(1500))
        );
        assert_eq!(parse_duration("2"), None);

        let (line, msg) = err_line("[[processor]]\ntype = \"redaction\"\nallowed_keys = \"a\"\n");
        assert_eq!(line, 3, "{msg}");

        let (line, _) = err_line("\n\nprocessors = 1\n");
        assert_eq!(line, 3);

        let (line, _) = err_line(&GOOD.replace("\"card\"", "\"ssn\""));
        assert_eq!(line, 16);
    }
}

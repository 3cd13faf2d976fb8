//! Attribute actions with the semantics of the Collector's
//! `attributesprocessor`: `insert`, `update`, `upsert`, `delete`, `hash`
//! and `extract`, applied in the order configured to the attributes of
//! each span, each log record and each metric data point.
//!
//! - `insert`: sets `key` when it is absent, from `value` or
//!   `from_attribute` (nothing happens if that attribute is absent);
//! - `update`: replaces `key`'s value when present; `upsert`: either;
//! - `delete`: removes the first attribute with `key` (the last attribute
//!   takes its place, as pdata's `Map.Remove` does), then every attribute
//!   whose key matches `pattern` (the others keep their order);
//! - `hash`: replaces the value of `key`, then of every key matching
//!   `pattern`, by the hex SHA-256 of its bytes (strings as UTF-8, booleans
//!   as one byte 1/0, integers and doubles as 8 little-endian bytes; other
//!   types and the empty string give the empty string). A key that is also
//!   matched by the pattern is hashed twice, as in the Collector;
//! - `extract`: matches `pattern` (whose groups must all be named) against
//!   the string value of `key` and sets one string attribute per group.
//!
//! Differences from the Collector: `from_context` and `convert` are not
//! supported, nor the `include` / `exclude` match properties; `value`
//! takes scalars only (no lists or maps); hashing is SHA-256 (the
//! Collector's current choice; SHA-1 before its feature gate).

use super::attrs::AttrList;
use super::{Outcome, Processor};
use crate::hex::append_hex;
use crate::proto::collector::logs::v1::ExportLogsServiceRequest;
use crate::proto::collector::metrics::v1::ExportMetricsServiceRequest;
use crate::proto::collector::trace::v1::ExportTraceServiceRequest;
use crate::proto::common::v1::{any_value::Value, AnyValue, KeyValue};
use regex::Regex;
use sha2::{Digest, Sha256};
use thiserror::Error;

/// An action that cannot be built.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ActionError {
    /// The action needs a key.
    #[error("action {0} needs a key")]
    MissingKey(&'static str),
    /// `delete` / `hash` need a key, a pattern or both.
    #[error("action {0} needs a key or a pattern")]
    MissingKeyOrPattern(&'static str),
    /// `extract` patterns must name every group, and have one.
    #[error("extract pattern must have named groups only: {0}")]
    Groups(String),
}

/// Where `insert` / `update` / `upsert` take the value from.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Source {
    /// A fixed value.
    Value(Value),
    /// Another attribute of the same span.
    FromAttribute(String),
}

#[derive(Clone, Debug)]
enum Act {
    Insert(String, Source),
    Update(String, Source),
    Upsert(String, Source),
    Delete(Option<String>, Option<Regex>),
    Hash(Option<String>, Option<Regex>),
    Extract(String, Regex),
}

/// One configured action.
#[derive(Clone, Debug)]
pub struct Action(Act);

fn need_key(k: &str, what: &'static str) -> Result<String, ActionError> {
    if k.is_empty() {
        Err(ActionError::MissingKey(what))
    } else {
        Ok(k.to_owned())
    }
}

impl Action {
    /// Set `key` if absent.
    pub fn insert(key: &str, src: Source) -> Result<Action, ActionError> {
        Ok(Action(Act::Insert(need_key(key, "insert")?, src)))
    }
    /// Replace `key` if present.
    pub fn update(key: &str, src: Source) -> Result<Action, ActionError> {
        Ok(Action(Act::Update(need_key(key, "update")?, src)))
    }
    /// Set or replace `key`.
    pub fn upsert(key: &str, src: Source) -> Result<Action, ActionError> {
        Ok(Action(Act::Upsert(need_key(key, "upsert")?, src)))
    }
    /// Remove `key` and keys matching `pattern`.
    pub fn delete(key: Option<&str>, pattern: Option<Regex>) -> Result<Action, ActionError> {
        let key = key.filter(|k| !k.is_empty()).map(str::to_owned);
        if key.is_none() && pattern.is_none() {
            return Err(ActionError::MissingKeyOrPattern("delete"));
        }
        Ok(Action(Act::Delete(key, pattern)))
    }
    /// Hash `key` and keys matching `pattern`.
    pub fn hash(key: Option<&str>, pattern: Option<Regex>) -> Result<Action, ActionError> {
        let key = key.filter(|k| !k.is_empty()).map(str::to_owned);
        if key.is_none() && pattern.is_none() {
            return Err(ActionError::MissingKeyOrPattern("hash"));
        }
        Ok(Action(Act::Hash(key, pattern)))
    }
    /// Extract named groups of `pattern` from `key`'s string value.
    pub fn extract(key: &str, pattern: Regex) -> Result<Action, ActionError> {
        let names: Vec<Option<&str>> = pattern.capture_names().skip(1).collect();
        if names.is_empty() || names.iter().any(Option::is_none) {
            return Err(ActionError::Groups(pattern.as_str().to_owned()));
        }
        Ok(Action(Act::Extract(need_key(key, "extract")?, pattern)))
    }
}

fn get<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Option<AnyValue>> {
    attrs.iter().find(|kv| kv.key == key).map(|kv| &kv.value)
}

fn source(src: &Source, attrs: &[KeyValue]) -> Option<Option<AnyValue>> {
    match src {
        Source::Value(v) => Some(Some(AnyValue {
            value: Some(v.clone()),
        })),
        Source::FromAttribute(k) => get(attrs, k).cloned(),
    }
}

fn set(attrs: &mut Vec<KeyValue>, key: &str, value: Option<AnyValue>, insert: bool, update: bool) {
    match attrs.iter_mut().find(|kv| kv.key == key) {
        Some(kv) if update => kv.value = value,
        Some(_) => {}
        None if insert => attrs.push(KeyValue {
            key: key.to_owned(),
            value,
            ..KeyValue::default()
        }),
        None => {}
    }
}

/// The Collector's hasher, with SHA-256.
fn hash_value(v: &mut Option<AnyValue>) {
    let bytes: Vec<u8> = match v.as_ref().and_then(|a| a.value.as_ref()) {
        Some(Value::StringValue(s)) => s.as_bytes().to_vec(),
        Some(Value::BoolValue(b)) => vec![u8::from(*b)],
        Some(Value::IntValue(i)) => i.to_le_bytes().to_vec(),
        Some(Value::DoubleValue(d)) => d.to_bits().to_le_bytes().to_vec(),
        _ => Vec::new(),
    };
    let mut hex = Vec::new();
    if !bytes.is_empty() {
        append_hex(&Sha256::digest(&bytes), &mut hex);
    }
    *v = Some(AnyValue {
        value: Some(Value::StringValue(
            String::from_utf8(hex).unwrap_or_default(),
        )),
    });
}

fn apply(act: &Act, attrs: &mut Vec<KeyValue>) {
    match act {
        Act::Insert(k, src) => {
            if let Some(v) = source(src, attrs) {
                set(attrs, k, v, true, false);
            }
        }
        Act::Update(k, src) => {
            if let Some(v) = source(src, attrs) {
                set(attrs, k, v, false, true);
            }
        }
        Act::Upsert(k, src) => {
            if let Some(v) = source(src, attrs) {
                set(attrs, k, v, true, true);
            }
        }
        Act::Delete(k, re) => {
            // As the Collector's v0.165 does: pdata's `Map.Remove` for the
            // key (the first attribute with it goes and the last takes its
            // place), `Map.RemoveIf` for the pattern (every match goes, the
            // others keep their order).
            if let Some(k) = k {
                attrs.remove_key(k);
            }
            if let Some(re) = re {
                attrs.retain(|kv| !re.is_match(&kv.key));
            }
        }
        Act::Hash(k, re) => {
            if let Some(k) = k {
                if let Some(kv) = attrs.iter_mut().find(|kv| &kv.key == k) {
                    hash_value(&mut kv.value);
                }
            }
            if let Some(re) = re {
                for kv in attrs.iter_mut().filter(|kv| re.is_match(&kv.key)) {
                    hash_value(&mut kv.value);
                }
            }
        }
        Act::Extract(k, re) => {
            let Some(Some(AnyValue {
                value: Some(Value::StringValue(s)),
            })) = get(attrs, k)
            else {
                return;
            };
            let Some(caps) = re.captures(s) else { return };
            let found: Vec<(String, String)> = re
                .capture_names()
                .enumerate()
                .skip(1)
                .filter_map(|(i, n)| {
                    Some((
                        n?.to_owned(),
                        caps.get(i).map_or("", |m| m.as_str()).to_owned(),
                    ))
                })
                .collect();
            for (n, v) in found {
                set(
                    attrs,
                    &n,
                    Some(AnyValue {
                        value: Some(Value::StringValue(v)),
                    }),
                    true,
                    true,
                );
            }
        }
    }
}

/// Applies attribute actions to each span; see the module docs.
#[derive(Clone, Debug, Default)]
pub struct Attributes {
    actions: Vec<Action>,
}

impl Attributes {
    /// No actions yet.
    pub fn new() -> Attributes {
        Attributes::default()
    }

    /// Appends an action.
    pub fn with_action(mut self, a: Action) -> Attributes {
        self.actions.push(a);
        self
    }

    /// Applies the actions to one attribute list.
    pub fn apply(&self, attrs: &mut Vec<KeyValue>) {
        for a in &self.actions {
            apply(&a.0, attrs);
        }
    }
}

impl Processor for Attributes {
    fn name(&self) -> &str {
        "attributes"
    }

    fn process(&mut self, batch: &mut ExportTraceServiceRequest) -> Outcome {
        for span in batch
            .resource_spans
            .iter_mut()
            .flat_map(|r| &mut r.scope_spans)
            .flat_map(|s| &mut s.spans)
        {
            self.apply(&mut span.attributes);
        }
        Outcome::default()
    }

    fn process_logs(&mut self, batch: &mut ExportLogsServiceRequest) -> Outcome {
        for record in batch
            .resource_logs
            .iter_mut()
            .flat_map(|r| &mut r.scope_logs)
            .flat_map(|s| &mut s.log_records)
        {
            self.apply(&mut record.attributes);
        }
        Outcome::default()
    }

    fn process_metrics(&mut self, batch: &mut ExportMetricsServiceRequest) -> Outcome {
        for metric in batch
            .resource_metrics
            .iter_mut()
            .flat_map(|r| &mut r.scope_metrics)
            .flat_map(|s| &mut s.metrics)
        {
            super::each_point_attributes(metric, |attrs| self.apply(attrs));
        }
        Outcome::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::processor::string_attr;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn sv(s: &str) -> Value {
        Value::StringValue(s.into())
    }

    #[test]
    fn each_action() {
        let p = Attributes::new()
            .with_action(Action::insert("env", Source::Value(sv("prod"))).unwrap())
            .with_action(Action::insert("user", Source::Value(sv("x"))).unwrap())
            .with_action(Action::update("missing", Source::Value(sv("y"))).unwrap())
            .with_action(Action::upsert("copy", Source::FromAttribute("user".into())).unwrap())
            .with_action(Action::hash(Some("user"), None).unwrap())
            .with_action(Action::delete(None, Some(Regex::new("^tmp").unwrap())).unwrap())
            .with_action(
                Action::extract("path", Regex::new(r"^/(?P<svc>\w+)/(?P<op>\w+)").unwrap())
                    .unwrap(),
            );
        let mut a = vec![
            string_attr("user", "alice"),
            string_attr("tmp.a", "1"),
            string_attr("path", "/cart/add"),
        ];
        p.apply(&mut a);
        let got: Vec<(String, String)> = a
            .iter()
            .map(|kv| {
                (
                    kv.key.clone(),
                    crate::processor::scalar_string(kv.value.as_ref().unwrap()).unwrap(),
                )
            })
            .collect();
        let alice = "2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db186d6e90";
        assert_eq!(
            got,
            [
                ("user".to_owned(), alice.to_owned()),
                ("path".into(), "/cart/add".into()),
                ("env".into(), "prod".into()),
                ("copy".into(), "alice".into()),
                ("svc".into(), "cart".into()),
                ("op".into(), "add".into()),
            ]
        );
        assert!(Action::extract("k", Regex::new("(a)").unwrap()).is_err());
        assert!(Action::delete(None, None).is_err());
        assert!(Action::insert("", Source::Value(sv("x"))).is_err());
    }

    /// `delete` removes as the Collector's v0.165 does: by key, the first
    /// attribute with it, the last taking its place (pdata's `Map.Remove`);
    /// by pattern, each match, the others keeping their order
    /// (`Map.RemoveIf`).
    #[test]
    fn delete_moves_the_last_attribute_into_the_gap() {
        let keys = |a: &[KeyValue]| a.iter().map(|kv| kv.value.clone()).collect::<Vec<_>>();
        let p = Attributes::new().with_action(Action::delete(Some("a"), None).unwrap());
        let mut a = vec![
            string_attr("a", "1"),
            string_attr("b", "2"),
            string_attr("a", "3"),
            string_attr("c", "4"),
        ];
        p.apply(&mut a);
        let want = [
            string_attr("c", "4"),
            string_attr("b", "2"),
            string_attr("a", "3"),
        ];
        assert_eq!(keys(&a), keys(&want));
        let p = Attributes::new()
            .with_action(Action::delete(None, Some(Regex::new("^x").unwrap())).unwrap());
        let mut a = vec![
            string_attr("x1", "1"),
            string_attr("y", "2"),
            string_attr("x2", "3"),
            string_attr("z", "4"),
        ];
        p.apply(&mut a);
        assert_eq!(a, [string_attr("y", "2"), string_attr("z", "4")]);
    }

    /// Log records and every type of data point get the same actions as
    /// a span's attributes; resource and scope attributes are left alone.
    #[test]
    fn logs_and_metrics_take_the_actions() {
        use crate::proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
        use crate::proto::metrics::v1::{ResourceMetrics, ScopeMetrics};
        use crate::proto::resource::v1::Resource;
        let mut p = Attributes::new()
            .with_action(Action::upsert("env", Source::Value(sv("prod"))).unwrap())
            .with_action(Action::delete(Some("secret"), None).unwrap());
        let before = || vec![string_attr("secret", "s"), string_attr("keep", "k")];
        // The upserted `env`, last, takes the deleted `secret`'s place.
        let after = vec![string_attr("env", "prod"), string_attr("keep", "k")];
        let resource = Some(Resource {
            attributes: before(),
            ..Resource::default()
        });
        let mut logs = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: resource.clone(),
                scope_logs: vec![ScopeLogs {
                    log_records: vec![
                        LogRecord {
                            attributes: before(),
                            ..LogRecord::default()
                        };
                        3
                    ],
                    ..ScopeLogs::default()
                }],
                ..ResourceLogs::default()
            }],
        };
        p.process_logs(&mut logs);
        let rl = &logs.resource_logs[0];
        assert_eq!(rl.resource, resource);
        for r in &rl.scope_logs[0].log_records {
            assert_eq!(r.attributes, after);
        }
        let mut metrics = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: resource.clone(),
                scope_metrics: vec![ScopeMetrics {
                    metrics: crate::processor::every_point_type(before),
                    ..ScopeMetrics::default()
                }],
                ..ResourceMetrics::default()
            }],
        };
        p.process_metrics(&mut metrics);
        let rm = &mut metrics.resource_metrics[0];
        assert_eq!(rm.resource, resource);
        let points = crate::processor::point_attributes(&mut rm.scope_metrics[0].metrics);
        assert_eq!(points, vec![after; 5]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// insert / update / upsert / delete against a map model.
        #[test]
        fn matches_a_map_model(
            start in prop::collection::btree_map("[abc]", "[xy]{1,2}", 0..3),
            ops in prop::collection::vec((0u8..4, "[abc]", "[xy]{1,2}"), 0..8),
        ) {
            let mut attrs: Vec<KeyValue> = start.iter().map(|(k, v)| string_attr(k, v)).collect();
            let mut model: BTreeMap<String, String> = start.clone();
            let mut p = Attributes::new();
            for (op, k, v) in &ops {
                let src = Source::Value(sv(v));
                p = p.with_action(match op {
                    0 => Action::insert(k, src).unwrap(),
                    1 => Action::update(k, src).unwrap(),
                    2 => Action::upsert(k, src).unwrap(),
                    _ => Action::delete(Some(k), None).unwrap(),
                });
                match op {
                    0 => { model.entry(k.clone()).or_insert_with(|| v.clone()); }
                    1 => { if let Some(x) = model.get_mut(k) { x.clone_from(v); } }
                    2 => { model.insert(k.clone(), v.clone()); }
                    _ => { model.remove(k); }
                }
            }
            p.apply(&mut attrs);
            let got: BTreeMap<String, String> = attrs.iter().map(|kv| (kv.key.clone(), crate::processor::scalar_string(kv.value.as_ref().unwrap()).unwrap())).collect();
            prop_assert_eq!(got.len(), attrs.len());
            prop_assert_eq!(got, model);
        }
    }
}

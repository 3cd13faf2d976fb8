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
//! - `convert`: turns `key`'s value into an `int` (from a double, truncated;
//!   a bool, 1 or 0; a string Go's `ParseInt` reads), a `double` (from an
//!   int, a bool, or a string Go's `ParseFloat` reads, hexadecimal and
//!   underscores included) or a `string` (pdata's `AsString`: maps and
//!   lists as JSON, bytes as base64); a value that cannot be converted is
//!   left as it is. A NaN, infinite or out-of-range double becomes the
//!   smallest int, as Go's conversion does on x86-64 (where the
//!   Collector's result depends on the CPU);
//! - `insert`, `update` and `upsert` from an attribute take
//!   `default_value` when that attribute is absent.
//!
//! `include` / `exclude` select the items acted on, with the Collector's
//! match properties ([`super::matching`]). Patterns, there and in the
//! actions configured from TOML, read `\d`, `\w`, `\s` and `\b` as ASCII,
//! as Go's `regexp` does.
//!
//! From TOML, `value` and `default_value` may be lists and tables too
//! (arrays and maps, as the Collector reads YAML lists and maps; a table's
//! entries in key order, where the Collector's follow Go's map order).
//!
//! Differences from the Collector: `from_context` is not supported; the
//! values of match properties take scalars only (no lists or maps); the `regexp` cache settings of match
//! properties are refused (matching is not cached); match properties of
//! one signal leave the other signals' items untouched rather than
//! failing their pipelines; hashing is SHA-256 (the Collector's current
//! choice; SHA-1 before its feature gate).

use super::attrs::AttrList;
use super::go_strconv::go_parse_float;
use super::matching::{selected, MatchError, MatchProperties, Selection};
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
    /// `convert` to a type other than `int`, `double` or `string`.
    #[error("converted_type {0:?} is not int, double or string")]
    ConvertedType(String),
    /// A default value for an action that takes no value.
    #[error("action {0} takes no default value")]
    Default(&'static str),
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

/// The type `convert` turns a value into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConvertTo {
    /// A 64-bit integer.
    Int,
    /// A double.
    Double,
    /// A string.
    String,
}

impl std::str::FromStr for ConvertTo {
    type Err = ActionError;
    fn from_str(s: &str) -> Result<ConvertTo, ActionError> {
        match s {
            "int" => Ok(ConvertTo::Int),
            "double" => Ok(ConvertTo::Double),
            "string" => Ok(ConvertTo::String),
            _ => Err(ActionError::ConvertedType(s.to_owned())),
        }
    }
}

#[derive(Clone, Debug)]
enum Act {
    /// The key, the source, and the default when the source attribute is
    /// absent.
    Insert(String, Source, Option<Value>),
    Update(String, Source, Option<Value>),
    Upsert(String, Source, Option<Value>),
    Delete(Option<String>, Option<Regex>),
    Hash(Option<String>, Option<Regex>),
    Extract(String, Regex),
    Convert(String, ConvertTo),
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
        Ok(Action(Act::Insert(need_key(key, "insert")?, src, None)))
    }
    /// Replace `key` if present.
    pub fn update(key: &str, src: Source) -> Result<Action, ActionError> {
        Ok(Action(Act::Update(need_key(key, "update")?, src, None)))
    }
    /// Set or replace `key`.
    pub fn upsert(key: &str, src: Source) -> Result<Action, ActionError> {
        Ok(Action(Act::Upsert(need_key(key, "upsert")?, src, None)))
    }
    /// For `insert`, `update` and `upsert` from an attribute: the value to
    /// use when that attribute is absent (the Collector's `default_value`).
    pub fn or_default(self, value: Value) -> Result<Action, ActionError> {
        Ok(Action(match self.0 {
            Act::Insert(k, s, _) => Act::Insert(k, s, Some(value)),
            Act::Update(k, s, _) => Act::Update(k, s, Some(value)),
            Act::Upsert(k, s, _) => Act::Upsert(k, s, Some(value)),
            Act::Delete(..) => return Err(ActionError::Default("delete")),
            Act::Hash(..) => return Err(ActionError::Default("hash")),
            Act::Extract(..) => return Err(ActionError::Default("extract")),
            Act::Convert(..) => return Err(ActionError::Default("convert")),
        }))
    }
    /// Convert `key`'s value to `to`, when it can be (the Collector's
    /// `convert`; see the module docs).
    pub fn convert(key: &str, to: ConvertTo) -> Result<Action, ActionError> {
        Ok(Action(Act::Convert(need_key(key, "convert")?, to)))
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

fn source(src: &Source, default: &Option<Value>, attrs: &[KeyValue]) -> Option<Option<AnyValue>> {
    let value = |v: &Value| {
        Some(Some(AnyValue {
            value: Some(v.clone()),
        }))
    };
    match src {
        Source::Value(v) => value(v),
        Source::FromAttribute(k) => get(attrs, k)
            .cloned()
            .or_else(|| default.as_ref().and_then(value)),
    }
}

/// `convert`: pdata's value changed in place, or left as it is when it
/// cannot be converted (the Collector's `convertValue`).
fn convert(v: &mut Option<AnyValue>, to: ConvertTo) {
    let current = v.as_ref().and_then(|a| a.value.as_ref());
    let new = match (to, current) {
        (ConvertTo::String, Some(Value::StringValue(_))) => return,
        (ConvertTo::String, _) => {
            Value::StringValue(v.as_ref().map(super::as_text).unwrap_or_default())
        }
        (ConvertTo::Int, Some(Value::DoubleValue(d))) => Value::IntValue(go_f64_to_i64(*d)),
        (ConvertTo::Int, Some(Value::BoolValue(b))) => Value::IntValue(i64::from(*b)),
        (ConvertTo::Int, Some(Value::StringValue(s))) => match s.parse::<i64>() {
            // Go's strconv.ParseInt(s, 10, 64): a sign and decimal digits,
            // as Rust's parser takes them.
            Ok(n) => Value::IntValue(n),
            Err(_) => return,
        },
        (ConvertTo::Double, Some(Value::IntValue(i))) => Value::DoubleValue(*i as f64),
        (ConvertTo::Double, Some(Value::BoolValue(b))) => {
            Value::DoubleValue(f64::from(u8::from(*b)))
        }
        (ConvertTo::Double, Some(Value::StringValue(s))) => match go_parse_float(s) {
            Some(d) => Value::DoubleValue(d),
            None => return,
        },
        _ => return,
    };
    *v = Some(AnyValue { value: Some(new) });
}

/// Go's `int64(f)` as the Collector's x86-64 build computes it: truncated
/// toward zero, and the minimum for NaN, the infinities and anything out
/// of range (the CPU's "integer indefinite").
fn go_f64_to_i64(f: f64) -> i64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if f.is_nan() || !(-TWO_63..TWO_63).contains(&f) {
        i64::MIN
    } else {
        f as i64
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
        Act::Insert(k, src, default) => {
            if let Some(v) = source(src, default, attrs) {
                set(attrs, k, v, true, false);
            }
        }
        Act::Update(k, src, default) => {
            if let Some(v) = source(src, default, attrs) {
                set(attrs, k, v, false, true);
            }
        }
        Act::Upsert(k, src, default) => {
            if let Some(v) = source(src, default, attrs) {
                set(attrs, k, v, true, true);
            }
        }
        Act::Convert(k, to) => {
            if let Some(kv) = attrs.iter_mut().find(|kv| &kv.key == k) {
                convert(&mut kv.value, *to);
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

/// Applies attribute actions to each span, log record and data point;
/// see the module docs.
#[derive(Clone, Debug, Default)]
pub struct Attributes {
    actions: Vec<Action>,
    selection: Selection,
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

    /// Acts only on the items `include` matches (when given) and
    /// `exclude` does not (when given), as the Collector's match properties
    /// select them (see [`super::matching`]). Properties that do not apply
    /// to a signal (`span_names` for log records) leave that signal's items
    /// untouched, where the Collector refuses to run the pipeline; a bad
    /// pattern or value, or properties that apply to no signal, are errors.
    pub fn with_selection(
        mut self,
        include: Option<MatchProperties>,
        exclude: Option<MatchProperties>,
    ) -> Result<Attributes, MatchError> {
        self.selection = Selection::new(include, exclude)?;
        Ok(self)
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
        let Ok(pair) = &self.selection.spans else {
            return Outcome::default();
        };
        for rs in &mut batch.resource_spans {
            for ss in &mut rs.scope_spans {
                for span in &mut ss.spans {
                    if selected(pair, |m| {
                        m.matches_span(span, rs.resource.as_ref(), ss.scope.as_ref())
                    }) {
                        self.apply(&mut span.attributes);
                    }
                }
            }
        }
        Outcome::default()
    }

    fn process_logs(&mut self, batch: &mut ExportLogsServiceRequest) -> Outcome {
        let Ok(pair) = &self.selection.logs else {
            return Outcome::default();
        };
        for rl in &mut batch.resource_logs {
            for sl in &mut rl.scope_logs {
                for record in &mut sl.log_records {
                    if selected(pair, |m| {
                        m.matches_log(record, rl.resource.as_ref(), sl.scope.as_ref())
                    }) {
                        self.apply(&mut record.attributes);
                    }
                }
            }
        }
        Outcome::default()
    }

    fn process_metrics(&mut self, batch: &mut ExportMetricsServiceRequest) -> Outcome {
        let Ok(pair) = &self.selection.metrics else {
            return Outcome::default();
        };
        for metric in batch
            .resource_metrics
            .iter_mut()
            .flat_map(|r| &mut r.scope_metrics)
            .flat_map(|s| &mut s.metrics)
        {
            if selected(pair, |m| m.matches_metric(metric)) {
                super::each_point_attributes(metric, |attrs| self.apply(attrs));
            }
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

    /// What Go 1.26's `strconv.ParseFloat(s, 64)` returns (the bits, or
    /// `None` for an error), printed by a Go program.
    #[test]
    fn floats_are_parsed_as_go_parses_them() {
        let cases: &[(&str, Option<u64>)] = &[
            ("1e400", None),
            ("-1e400", None),
            ("1e-400", Some(0x0000000000000000)),
            ("inf", Some(0x7ff0000000000000)),
            ("+Inf", Some(0x7ff0000000000000)),
            ("-infinity", Some(0xfff0000000000000)),
            ("nan", Some(0x7ff8000000000001)),
            ("+nan", None),
            ("-NaN", None),
            ("NAN", Some(0x7ff8000000000001)),
            ("0x1p-2", Some(0x3fd0000000000000)),
            ("0x1.8p1", Some(0x4008000000000000)),
            ("0x10", None),
            ("1_000", Some(0x408f400000000000)),
            ("0x1_0p0", Some(0x4030000000000000)),
            ("0x_1p0", Some(0x3ff0000000000000)),
            ("0x1p-1074", Some(0x0000000000000001)),
            ("0x1p-1075", Some(0x0000000000000000)),
            ("0x1.8p-1074", Some(0x0000000000000002)),
            ("0x1.fffffffffffff8p1023", None),
            ("0x1.fffffffffffff7p1023", Some(0x7fefffffffffffff)),
            ("0x1p1024", None),
            ("0X.8P+1", Some(0x3ff0000000000000)),
            ("0x123456789abcdef01p0", Some(0x43f23456789abcdf)),
            ("0x1.00000000000008p0", Some(0x3ff0000000000000)),
            ("0x1.000000000000081p0", Some(0x3ff0000000000001)),
            ("-0x0p0", Some(0x8000000000000000)),
            ("0x.p1", None),
            ("0xp1", None),
            ("0x1p", None),
            ("0x1p+", None),
            ("0x1.2.3p1", None),
            ("1__0", None),
            ("_1", None),
            ("1_", None),
            ("1_.5", None),
            ("1._5", None),
            ("1e1_0", Some(0x4202a05f20000000)),
            (".5", Some(0x3fe0000000000000)),
            ("1.", Some(0x3ff0000000000000)),
            ("1e", None),
            (" 1", None),
            ("+-1", None),
            ("1e+5", Some(0x40f86a0000000000)),
            ("1E5", Some(0x40f86a0000000000)),
            ("0.1e-2", Some(0x3f50624dd2f1a9fc)),
            ("+.5", Some(0x3fe0000000000000)),
            ("-0", Some(0x8000000000000000)),
            ("00.5e-1", Some(0x3fa999999999999a)),
            ("123456789012345678901234567890", Some(0x45f8ee90ff6c373e)),
            ("2.2250738585072011e-308", Some(0x000fffffffffffff)),
            ("4.9e-324", Some(0x0000000000000001)),
            ("2e-324", Some(0x0000000000000000)),
            ("1.7976931348623157e308", Some(0x7fefffffffffffff)),
            ("1.7976931348623159e308", None),
        ];
        for (s, want) in cases {
            assert_eq!(go_parse_float(s).map(f64::to_bits), *want, "{s:?}");
        }
    }

    #[test]
    fn doubles_become_ints_as_go_converts_them_on_x86_64() {
        for (f, want) in [
            (f64::NAN, i64::MIN),
            (f64::INFINITY, i64::MIN),
            (f64::NEG_INFINITY, i64::MIN),
            (1e300, i64::MIN),
            (-1e300, i64::MIN),
            (9.3e18, i64::MIN),
            (-2.5, -2),
            (2.9, 2),
            (-9_223_372_036_854_775_808.0, i64::MIN),
            (9_223_372_036_854_774_784.0, 9_223_372_036_854_774_784),
        ] {
            assert_eq!(go_f64_to_i64(f), want, "{f}");
        }
    }

    #[test]
    fn convert_and_default_value() {
        use crate::proto::common::v1::{ArrayValue, KeyValueList};
        let kv = |k: &str, v: Value| KeyValue {
            key: k.into(),
            value: Some(AnyValue { value: Some(v) }),
            ..KeyValue::default()
        };
        let p = Attributes::new()
            .with_action(Action::convert("a", ConvertTo::Int).unwrap())
            .with_action(Action::convert("b", ConvertTo::Int).unwrap())
            .with_action(Action::convert("c", ConvertTo::Double).unwrap())
            .with_action(Action::convert("d", ConvertTo::Double).unwrap())
            .with_action(Action::convert("e", ConvertTo::String).unwrap())
            .with_action(Action::convert("f", ConvertTo::String).unwrap())
            .with_action(Action::convert("g", ConvertTo::Int).unwrap())
            .with_action(Action::convert("absent", ConvertTo::Int).unwrap())
            .with_action(
                Action::insert("h", Source::FromAttribute("absent".into()))
                    .unwrap()
                    .or_default(sv("none"))
                    .unwrap(),
            )
            .with_action(
                Action::upsert("i", Source::FromAttribute("a".into()))
                    .unwrap()
                    .or_default(sv("none"))
                    .unwrap(),
            );
        let mut attrs = vec![
            kv("a", sv("-42")),
            kv("b", Value::DoubleValue(-2.9)),
            kv("c", sv("0x1.8p1")),
            kv("d", Value::BoolValue(true)),
            kv("e", Value::DoubleValue(1e21)),
            kv(
                "f",
                Value::KvlistValue(KeyValueList {
                    values: vec![kv("x", Value::ArrayValue(ArrayValue::default()))],
                }),
            ),
            kv("g", sv("4.5")),
        ];
        p.apply(&mut attrs);
        assert_eq!(
            attrs,
            vec![
                kv("a", Value::IntValue(-42)),
                kv("b", Value::IntValue(-2)),
                kv("c", Value::DoubleValue(3.0)),
                kv("d", Value::DoubleValue(1.0)),
                kv("e", sv("1e+21")),
                kv("f", sv(r#"{"x":[]}"#)),
                // Not an int: left as it is.
                kv("g", sv("4.5")),
                kv("h", sv("none")),
                kv("i", Value::IntValue(-42)),
            ]
        );
        assert_eq!(
            "long".parse::<ConvertTo>(),
            Err(ActionError::ConvertedType("long".into()))
        );
        assert!(Action::hash(Some("k"), None)
            .unwrap()
            .or_default(sv("x"))
            .is_err());
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

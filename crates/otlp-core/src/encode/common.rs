//! Attributes, values, scopes and resources, shared by all signals.

use super::writer::{Embedded, JsonWriter, ProtoWriter, Size, Writer};
use opentelemetry::logs::AnyValue as LogValue;
use opentelemetry::{Array, InstrumentationScope, KeyValue, StringValue, Value};
use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch; times before it encode as zero.
///
/// Computed in `u64` with wrapping, which gives exactly what
/// `as_nanos() as u64` (opentelemetry-proto's conversion) gives, without the
/// 128-bit arithmetic.
#[inline]
pub(crate) fn nanos(t: SystemTime) -> u64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d
            .as_secs()
            .wrapping_mul(1_000_000_000)
            .wrapping_add(u64::from(d.subsec_nanos())),
        Err(_) => 0,
    }
}

#[inline]
pub(crate) fn key_value<W: Writer>(w: &mut W, key: &str, value: &Value) {
    // Always written: opentelemetry-proto's JSON decoder requires `key`.
    w.oneof_string(1, "key", key);
    w.message(2, "value", Size::Small, |w| any_value(w, value));
}

#[inline]
pub(crate) fn attributes<'a, W: Writer>(
    w: &mut W,
    num: u32,
    name: &str,
    attrs: impl IntoIterator<Item = &'a KeyValue>,
) {
    w.key_values(
        num,
        name,
        attrs.into_iter().map(|kv| (kv.key.as_str(), &kv.value)),
    );
}

/// `AnyValue` body for an API attribute value.
#[inline]
pub(crate) fn any_value<W: Writer>(w: &mut W, v: &Value) {
    match v {
        Value::String(s) => w.oneof_string(1, "stringValue", s.as_str()),
        Value::Bool(b) => w.oneof_bool(2, "boolValue", *b),
        Value::I64(i) => w.oneof_int64(3, "intValue", *i),
        Value::F64(f) => w.oneof_double(4, "doubleValue", *f),
        Value::Array(a) => w.message(5, "arrayValue", Size::Small, |w| match a {
            Array::Bool(v) => array(w, v, |w, b| w.oneof_bool(2, "boolValue", *b)),
            Array::I64(v) => array(w, v, |w, i| w.oneof_int64(3, "intValue", *i)),
            Array::F64(v) => array(w, v, |w, f| w.oneof_double(4, "doubleValue", *f)),
            Array::String(v) => array(w, v, |w, s: &StringValue| {
                w.oneof_string(1, "stringValue", s.as_str())
            }),
            // A future array type we do not know: an empty array, not a panic.
            _ => {}
        }),
        // A future value type we do not know: an empty AnyValue.
        _ => {}
    }
}

#[inline]
fn array<'a, W: Writer, T: 'a>(w: &mut W, items: &'a [T], f: impl Fn(&mut W, &'a T)) {
    w.repeated_always(1, "values", Size::Small, items, f);
}

/// `AnyValue` body for a log value (which adds bytes and maps).
pub(crate) fn log_value<W: Writer>(w: &mut W, v: &LogValue) {
    match v {
        LogValue::String(s) => w.oneof_string(1, "stringValue", s.as_str()),
        LogValue::Boolean(b) => w.oneof_bool(2, "boolValue", *b),
        LogValue::Int(i) => w.oneof_int64(3, "intValue", *i),
        LogValue::Double(f) => w.oneof_double(4, "doubleValue", *f),
        LogValue::Bytes(b) => w.oneof_bytes(7, "bytesValue", b),
        LogValue::ListAny(items) => w.message(5, "arrayValue", Size::Medium, |w| {
            w.repeated_always(1, "values", Size::Small, items.iter(), log_value)
        }),
        LogValue::Map(map) => w.message(6, "kvlistValue", Size::Medium, |w| {
            w.repeated_always(1, "values", Size::Small, map.iter(), |w, (k, v)| {
                key_value_log(w, k.as_str(), v)
            })
        }),
        _ => {}
    }
}

#[inline]
pub(crate) fn key_value_log<W: Writer>(w: &mut W, key: &str, value: &LogValue) {
    // Always written: opentelemetry-proto's JSON decoder requires `key`.
    w.oneof_string(1, "key", key);
    w.message(2, "value", Size::Small, |w| log_value(w, value));
}

/// `InstrumentationScope` body; `name` overrides the scope's name (the log
/// record target does that).
#[inline]
pub(crate) fn scope<W: Writer>(w: &mut W, scope: &InstrumentationScope, name: Option<&str>) {
    w.string(1, "name", name.unwrap_or_else(|| scope.name()));
    w.string(2, "version", scope.version().unwrap_or_default());
    attributes(w, 3, "attributes", scope.attributes());
}

/// Equality of scopes as the SDK defines it (attribute order does not
/// matter), with a fast path for the common case of the same scope in the
/// same shape, which avoids `PartialEq`'s two allocations and sorts.
#[inline]
pub(crate) fn same_scope(a: &InstrumentationScope, b: &InstrumentationScope) -> bool {
    std::ptr::eq(a, b) || (same_str(a.name(), b.name()) && same_scope_but_name(a, b))
}

/// String equality that skips comparing the bytes of the same string
/// (scope names and log targets are mostly `&'static str`s, shared by
/// every span or record of a scope).
#[inline]
pub(crate) fn same_str(a: &str, b: &str) -> bool {
    (std::ptr::eq(a.as_ptr(), b.as_ptr()) && a.len() == b.len()) || a == b
}

#[inline]
fn same_opt_str(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => same_str(a, b),
        (None, None) => true,
        _ => false,
    }
}

/// [`same_scope`] ignoring the names (log records may override the name).
#[inline]
pub(crate) fn same_scope_but_name(a: &InstrumentationScope, b: &InstrumentationScope) -> bool {
    if !same_opt_str(a.version(), b.version()) || !same_opt_str(a.schema_url(), b.schema_url()) {
        return false;
    }
    if a.attributes().eq(b.attributes()) {
        return true;
    }
    let mut x: Vec<_> = a.attributes().collect();
    let mut y: Vec<_> = b.attributes().collect();
    if x.len() != y.len() {
        return false;
    }
    x.sort_unstable_by(|a, b| a.key.cmp(&b.key));
    y.sort_unstable_by(|a, b| a.key.cmp(&b.key));
    x == y
}

/// `Resource` body for an SDK resource.
pub(crate) fn resource<W: Writer>(w: &mut W, resource: &opentelemetry_sdk::Resource) {
    w.repeated(
        1,
        "attributes",
        Size::Small,
        resource.iter(),
        |w, (k, v)| key_value(w, k.as_str(), v),
    );
}

/// A resource encoded once in both formats, embedded in every request.
#[derive(Debug, Clone, Default)]
pub(crate) struct EncodedResource {
    pub(crate) body: Embedded,
    pub(crate) schema_url: String,
}

impl EncodedResource {
    pub(crate) fn new(res: &opentelemetry_sdk::Resource) -> Self {
        let mut proto = Vec::new();
        resource(&mut ProtoWriter::new(&mut proto), res);
        let mut json = Vec::new();
        JsonWriter::object(&mut json, |w| resource(w, res));
        EncodedResource {
            body: Embedded { proto, json },
            schema_url: res.schema_url().unwrap_or_default().to_owned(),
        }
    }
}

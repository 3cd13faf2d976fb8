//! OTLP/JSON, read and written by transcoding to and from protobuf with the
//! table in [`crate::schema`].
//!
//! Why not serde on the prost types: their derived deserializers lose
//! values instead of refusing them (a `"NaN"` or out-of-range `asInt` sits
//! in a flattened oneof, which serde turns into "no value"), accept arrays
//! for objects and ids of any length, and print NaN as `null`. Transcoding
//! instead follows the OTLP/JSON mapping field by field, names the field
//! when a value is wrong, and hands the result to the same bounded protobuf
//! path ([`crate::limits`], then prost) that protobuf requests take, so both
//! formats get the same limits. It streams: the JSON is never held as a
//! tree, and the protobuf it builds is capped.
//!
//! The mapping, per the OTLP specification: field names in lowerCamelCase
//! (the protobuf names are accepted too), unknown fields ignored, `null`
//! as absent, trace and span ids as hex (16 and 8 bytes, or empty), other
//! bytes as base64, 64-bit integers as decimal strings or numbers, enums as
//! integers, doubles as numbers or `"NaN"`, `"Infinity"`, `"-Infinity"`.

use crate::limits::{read_key, read_value, DecodeLimits, Value};
use crate::schema::{Field, Kind, Msg};
use crate::Signal;
use base64::Engine as _;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt::{self, Write as _};

/// Why an OTLP/JSON body could not be transcoded.
#[derive(Debug, thiserror::Error)]
pub(crate) enum JsonError {
    /// The protobuf it transcodes to would exceed the byte limit.
    #[error("request would take more than {limit} bytes")]
    TooLarge { limit: usize },
    /// It holds more items than the limit.
    #[error("request holds more than {limit} items")]
    TooManyItems { limit: usize },
    /// Not valid OTLP/JSON; the message names the field.
    #[error(transparent)]
    Invalid(#[from] serde_json::Error),
}

/// Transcodes the OTLP/JSON export request of `signal` in `json` to
/// protobuf, failing as soon as the protobuf would exceed
/// `limits.max_decoded_bytes` or hold more than `limits.max_items` items.
pub(crate) fn to_protobuf(
    signal: Signal,
    json: &[u8],
    limits: DecodeLimits,
) -> Result<Vec<u8>, JsonError> {
    let mut state = State {
        path: Vec::new(),
        written: 0,
        items: 0,
        limits,
        over: None,
    };
    let mut de = serde_json::Deserializer::from_slice(json);
    let seed = MessageSeed {
        msg: Msg::request(signal),
        st: &mut state,
    };
    let result = seed
        .deserialize(&mut de)
        .and_then(|out| de.end().map(|()| out));
    match result {
        Ok(out) => Ok(out),
        Err(error) => Err(state.over.unwrap_or(JsonError::Invalid(error))),
    }
}

struct State {
    /// Where the transcoder is, for error messages.
    path: Vec<Segment>,
    /// Bytes of protobuf produced so far, each counted once.
    written: usize,
    items: usize,
    limits: DecodeLimits,
    /// The limit that stopped the transcoder.
    over: Option<JsonError>,
}

enum Segment {
    Field(&'static str),
    Index(usize),
}

impl State {
    fn path(&self) -> String {
        let mut path = String::new();
        for segment in &self.path {
            match segment {
                Segment::Field(name) if path.is_empty() => path.push_str(name),
                Segment::Field(name) => {
                    path.push('.');
                    path.push_str(name);
                }
                Segment::Index(i) => {
                    let _ = write!(path, "[{i}]");
                }
            }
        }
        if path.is_empty() {
            path.push_str("request");
        }
        path
    }

    fn error<E: de::Error>(&self, message: impl fmt::Display) -> E {
        E::custom(format_args!("{}: {message}", self.path()))
    }

    fn count<E: de::Error>(&mut self, bytes: usize) -> Result<(), E> {
        self.written = self.written.saturating_add(bytes);
        if self.written > self.limits.max_decoded_bytes {
            let limit = self.limits.max_decoded_bytes;
            self.over = Some(JsonError::TooLarge { limit });
            return Err(E::custom("over the size limit"));
        }
        Ok(())
    }

    fn count_item<E: de::Error>(&mut self) -> Result<(), E> {
        self.items += 1;
        if self.items > self.limits.max_items {
            let limit = self.limits.max_items;
            self.over = Some(JsonError::TooManyItems { limit });
            return Err(E::custom("over the item limit"));
        }
        Ok(())
    }
}

fn put_varint(out: &mut Vec<u8>, mut x: u64) {
    while x > 127 {
        out.push((x & 127) as u8 | 128);
        x >>= 7;
    }
    out.push(x as u8);
}

fn put_key(out: &mut Vec<u8>, number: u32, wire_type: u8) {
    put_varint(out, u64::from(number) << 3 | u64::from(wire_type));
}

fn put_delimited(out: &mut Vec<u8>, number: u32, payload: &[u8]) {
    put_key(out, number, 2);
    put_varint(out, payload.len() as u64);
    out.extend_from_slice(payload);
}

/// Deserializes one JSON object as message `msg`, returning its protobuf
/// encoding (without key or length).
struct MessageSeed<'s> {
    msg: Msg,
    st: &'s mut State,
}

impl<'de> DeserializeSeed<'de> for MessageSeed<'_> {
    type Value = Vec<u8>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Vec<u8>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for MessageSeed<'_> {
    type Value = Vec<u8>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: a JSON object", self.st.path())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<u8>, A::Error> {
        if self.msg.is_item() {
            self.st.count_item()?;
        }
        let mut out = Vec::new();
        while let Some(field) = map.next_key_seed(KeySeed(self.msg))? {
            let Some(field) = field else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            self.st.path.push(Segment::Field(field.json));
            if field.repeated {
                map.next_value_seed(RepeatedSeed {
                    field,
                    st: &mut *self.st,
                    out: &mut out,
                })?;
            } else {
                map.next_value_seed(ValueSeed {
                    field,
                    st: &mut *self.st,
                    out: &mut out,
                })?;
            }
            self.st.path.pop();
        }
        Ok(out)
    }
}

/// A key of message `.0`: its field, or `None` for an unknown one.
struct KeySeed(Msg);

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Option<&'static Field>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed {
    type Value = Option<&'static Field>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Self::Value, E> {
        Ok(self.0.json_field(name))
    }
}

/// A repeated field's JSON array (or `null`), appended to `out`.
struct RepeatedSeed<'s> {
    field: &'static Field,
    st: &'s mut State,
    out: &'s mut Vec<u8>,
}

impl<'de> DeserializeSeed<'de> for RepeatedSeed<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RepeatedSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: a JSON array", self.st.path())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let packed = self.field.kind.packable();
        let mut run = Vec::new();
        let mut index = 0;
        loop {
            self.st.path.push(Segment::Index(index));
            let target = if packed { &mut run } else { &mut *self.out };
            let more = seq.next_element_seed(ValueSeed {
                field: self.field,
                st: &mut *self.st,
                out: target,
            })?;
            self.st.path.pop();
            if more.is_none() {
                break;
            }
            index += 1;
        }
        if packed && !run.is_empty() {
            self.st.count(8)?;
            put_delimited(self.out, self.field.number, &run);
        }
        Ok(())
    }
}

/// One value of `field`, appended to `out` with its key (without it when
/// the field is a packed repeated scalar, which its caller frames).
struct ValueSeed<'s> {
    field: &'static Field,
    st: &'s mut State,
    out: &'s mut Vec<u8>,
}

impl ValueSeed<'_> {
    fn key(&mut self, wire_type: u8) {
        if !(self.field.repeated && self.field.kind.packable()) {
            put_key(self.out, self.field.number, wire_type);
        }
    }

    fn delimited<E: de::Error>(&mut self, payload: &[u8]) -> Result<(), E> {
        self.st.count(payload.len() + 6)?;
        put_delimited(self.out, self.field.number, payload);
        Ok(())
    }

    fn int<E: de::Error>(mut self, value: i128) -> Result<(), E> {
        let range_error =
            |st: &State, ty: &str| st.error(format_args!("{value} is out of range for {ty}"));
        let kind = self.field.kind;
        self.st.count(10)?;
        match kind {
            Kind::Int64 | Kind::Sfixed64 => {
                let v = i64::try_from(value).map_err(|_| range_error(self.st, "int64"))?;
                if kind == Kind::Int64 {
                    self.key(0);
                    put_varint(self.out, v as u64);
                } else {
                    self.key(1);
                    self.out.extend_from_slice(&v.to_le_bytes());
                }
            }
            Kind::Uint64 | Kind::Fixed64 => {
                let v = u64::try_from(value).map_err(|_| range_error(self.st, "uint64"))?;
                if kind == Kind::Uint64 {
                    self.key(0);
                    put_varint(self.out, v);
                } else {
                    self.key(1);
                    self.out.extend_from_slice(&v.to_le_bytes());
                }
            }
            Kind::Int32 | Kind::Enum | Kind::Sint32 => {
                let v = i32::try_from(value).map_err(|_| range_error(self.st, "int32"))?;
                self.key(0);
                if kind == Kind::Sint32 {
                    put_varint(self.out, u64::from(((v << 1) ^ (v >> 31)) as u32));
                } else {
                    put_varint(self.out, i64::from(v) as u64);
                }
            }
            Kind::Uint32 | Kind::Fixed32 => {
                let v = u32::try_from(value).map_err(|_| range_error(self.st, "uint32"))?;
                if kind == Kind::Uint32 {
                    self.key(0);
                    put_varint(self.out, u64::from(v));
                } else {
                    self.key(5);
                    self.out.extend_from_slice(&v.to_le_bytes());
                }
            }
            Kind::Double => {
                self.key(1);
                self.out.extend_from_slice(&(value as f64).to_le_bytes());
            }
            _ => return Err(self.st.error("a number is not valid for this field")),
        }
        Ok(())
    }

    fn double<E: de::Error>(mut self, value: f64) -> Result<(), E> {
        if self.field.kind == Kind::Double {
            self.st.count(9)?;
            self.key(1);
            self.out.extend_from_slice(&value.to_le_bytes());
            return Ok(());
        }
        // An integer field may be written 1e3 or 5.0, but not 1.5 or 1e30.
        if value.fract() == 0.0 && value.abs() < 2f64.powi(64) {
            return self.int(value as i128);
        }
        Err(self
            .st
            .error(format_args!("{value} is not an integer in range")))
    }
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.field.kind {
            Kind::Message(_) => "a JSON object",
            Kind::String => "a string",
            Kind::Bytes => "a base64 string",
            Kind::Id(_) => "a hex string",
            Kind::Bool => "true or false",
            Kind::Double => "a number, \"NaN\", \"Infinity\" or \"-Infinity\"",
            _ => "an integer",
        };
        write!(f, "{}: {what}", self.st.path())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(()) // null: the field is absent
    }

    fn visit_bool<E: de::Error>(mut self, v: bool) -> Result<(), E> {
        if self.field.kind != Kind::Bool {
            return Err(de::Error::invalid_type(de::Unexpected::Bool(v), &self));
        }
        self.st.count(2)?;
        self.key(0);
        self.out.push(u8::from(v));
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.int(i128::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.int(i128::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.double(v)
    }

    fn visit_str<E: de::Error>(mut self, v: &str) -> Result<(), E> {
        match self.field.kind {
            Kind::String => self.delimited(v.as_bytes()),
            Kind::Bytes => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(v)
                    .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(v))
                    .map_err(|e| self.st.error(format_args!("invalid base64: {e}")))?;
                self.delimited(&bytes)
            }
            Kind::Id(len) => {
                let bytes = hex(v)
                    .ok_or_else(|| self.st.error(format_args!("{v:?} is not a hex string")))?;
                if !bytes.is_empty() && bytes.len() != len {
                    return Err(self.st.error(format_args!(
                        "an id of {} bytes; expected {len} bytes ({} hex digits) or none",
                        bytes.len(),
                        2 * len
                    )));
                }
                self.delimited(&bytes)
            }
            Kind::Double => {
                let value = match v {
                    "NaN" => f64::NAN,
                    "Infinity" => f64::INFINITY,
                    "-Infinity" => f64::NEG_INFINITY,
                    _ => v.parse().map_err(|_| {
                        self.st.error(format_args!(
                            "{v:?} is not a number, \"NaN\", \"Infinity\" or \"-Infinity\""
                        ))
                    })?,
                };
                self.double(value)
            }
            Kind::Message(_) | Kind::Bool => {
                Err(de::Error::invalid_type(de::Unexpected::Str(v), &self))
            }
            _ => {
                // 64-bit integers are usually strings in OTLP/JSON.
                let value: i128 = v
                    .trim()
                    .parse()
                    .map_err(|_| self.st.error(format_args!("{v:?} is not an integer")))?;
                self.int(value)
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(mut self, map: A) -> Result<(), A::Error> {
        let Kind::Message(msg) = self.field.kind else {
            return Err(de::Error::invalid_type(de::Unexpected::Map, &self));
        };
        let payload = MessageSeed {
            msg,
            st: &mut *self.st,
        }
        .visit_map(map)?;
        self.delimited(&payload)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::invalid_type(de::Unexpected::Seq, &self))
    }
}

fn hex(s: &str) -> Option<Vec<u8>> {
    let digits = s.as_bytes();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    let nibble = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    digits
        .chunks_exact(2)
        .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect()
}

/// Writes the protobuf export request of `signal` as OTLP/JSON. The bytes
/// are trusted (our own encoding of a decoded request); anything malformed
/// in them is left out rather than reported.
pub(crate) fn from_protobuf(signal: Signal, bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    write_message(Msg::request(signal), bytes, &mut out);
    out
}

/// The values of field `number` in `bytes`, in wire order.
fn occurrences<'a>(bytes: &'a [u8], number: u32) -> Vec<Value<'a>> {
    let mut found = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let Ok((n, wire_type)) = read_key(&mut rest) else {
            break;
        };
        let Ok(value) = read_value(&mut rest, wire_type) else {
            break;
        };
        if n == number {
            found.push(value);
        }
    }
    found
}

fn write_message(msg: Msg, bytes: &[u8], out: &mut String) {
    out.push('{');
    let mut first = true;
    for field in msg.fields() {
        let values = occurrences(bytes, field.number);
        if values.is_empty() {
            continue;
        }
        if !first {
            out.push(',');
        }
        first = false;
        out.push('"');
        out.push_str(field.json);
        out.push_str("\":");
        if field.repeated {
            out.push('[');
            let mut first = true;
            for value in values {
                for_each_element(field.kind, value, |scalar| {
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    write_value(field.kind, scalar, out);
                });
            }
            out.push(']');
        } else if let Kind::Message(child) = field.kind {
            // Occurrences of a singular message merge: their bytes concatenate.
            let mut merged = Vec::new();
            for value in values {
                if let Value::Delimited(payload) = value {
                    merged.extend_from_slice(payload);
                }
            }
            write_message(child, &merged, out);
        } else if let Some(last) = values.into_iter().last() {
            write_value(field.kind, last, out);
        }
    }
    out.push('}');
}

/// Calls `each` for every element of one occurrence of a repeated field:
/// the occurrence itself, or each scalar of a packed run.
fn for_each_element<'a>(kind: Kind, value: Value<'a>, mut each: impl FnMut(Value<'a>)) {
    let Value::Delimited(mut run) = value else {
        return each(value);
    };
    if !kind.packable() {
        return each(Value::Delimited(run));
    }
    while !run.is_empty() {
        let Ok(element) = read_value(&mut run, kind.wire_type()) else {
            return;
        };
        each(element);
    }
}

fn write_value(kind: Kind, value: Value<'_>, out: &mut String) {
    match (kind, value) {
        (Kind::Message(msg), Value::Delimited(payload)) => write_message(msg, payload, out),
        (Kind::String, Value::Delimited(payload)) => {
            let text = String::from_utf8_lossy(payload);
            out.push_str(&serde_json::Value::from(text.as_ref()).to_string());
        }
        (Kind::Bytes, Value::Delimited(payload)) => {
            out.push('"');
            out.push_str(&base64::engine::general_purpose::STANDARD.encode(payload));
            out.push('"');
        }
        (Kind::Id(_), Value::Delimited(payload)) => {
            out.push('"');
            for byte in payload {
                let _ = write!(out, "{byte:02x}");
            }
            out.push('"');
        }
        (Kind::Double, Value::Fixed64(bits)) => write_double(f64::from_bits(bits), out),
        (Kind::Fixed64, Value::Fixed64(v)) => {
            let _ = write!(out, "\"{v}\"");
        }
        (Kind::Sfixed64, Value::Fixed64(v)) => {
            let _ = write!(out, "\"{}\"", v as i64);
        }
        (Kind::Int64, Value::Varint(v)) => {
            let _ = write!(out, "\"{}\"", v as i64);
        }
        (Kind::Uint64, Value::Varint(v)) => {
            let _ = write!(out, "\"{v}\"");
        }
        (Kind::Int32 | Kind::Enum, Value::Varint(v)) => {
            let _ = write!(out, "{}", v as i32);
        }
        (Kind::Sint32, Value::Varint(v)) => {
            let v = v as u32;
            let _ = write!(out, "{}", (v >> 1) as i32 ^ -((v & 1) as i32));
        }
        (Kind::Uint32, Value::Varint(v)) => {
            let _ = write!(out, "{}", v as u32);
        }
        (Kind::Fixed32, Value::Fixed32(v)) => {
            let _ = write!(out, "{v}");
        }
        (Kind::Bool, Value::Varint(v)) => out.push_str(if v != 0 { "true" } else { "false" }),
        // A wire type that does not match the schema: nothing sensible to write.
        _ => out.push_str("null"),
    }
}

fn write_double(v: f64, out: &mut String) {
    if v.is_nan() {
        out.push_str("\"NaN\"");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 {
            "\"Infinity\""
        } else {
            "\"-Infinity\""
        });
    } else {
        let mut buffer = ryu::Buffer::new();
        out.push_str(buffer.format_finite(v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::collector::metrics::v1::ExportMetricsServiceRequest;
    use crate::proto::metrics::v1::metric::Data;
    use crate::proto::metrics::v1::number_data_point;
    use prost::Message;

    fn gauge(point: &str) -> String {
        format!(
            r#"{{"resourceMetrics":[{{"scopeMetrics":[{{"metrics":[{{"name":"g","gauge":{{"dataPoints":[{point}]}}}}]}}]}}]}}"#
        )
    }

    fn decode_point(json: &str) -> Result<Option<number_data_point::Value>, JsonError> {
        let bytes = to_protobuf(Signal::Metrics, json.as_bytes(), DecodeLimits::unlimited())?;
        let request = ExportMetricsServiceRequest::decode(&bytes[..]).unwrap();
        let metric = &request.resource_metrics[0].scope_metrics[0].metrics[0];
        let Some(Data::Gauge(g)) = &metric.data else {
            panic!("{metric:?}")
        };
        Ok(g.data_points[0].value)
    }

    #[test]
    fn special_doubles_are_kept_and_written_back() {
        for (text, check) in [
            ("NaN", f64::is_nan as fn(f64) -> bool),
            ("Infinity", |v: f64| v == f64::INFINITY),
            ("-Infinity", |v: f64| v == f64::NEG_INFINITY),
        ] {
            let json = gauge(&format!(r#"{{"asDouble":"{text}"}}"#));
            match decode_point(&json).unwrap() {
                Some(number_data_point::Value::AsDouble(v)) => assert!(check(v), "{text}: {v}"),
                other => panic!("{text}: {other:?}"),
            }
            let bytes =
                to_protobuf(Signal::Metrics, json.as_bytes(), DecodeLimits::unlimited()).unwrap();
            let back = from_protobuf(Signal::Metrics, &bytes);
            assert!(back.contains(&format!(r#""asDouble":"{text}""#)), "{back}");
        }
    }

    #[test]
    fn out_of_range_integers_name_the_field() {
        let json = gauge(r#"{"asInt":"9223372036854775808"}"#);
        let err = decode_point(&json).unwrap_err().to_string();
        assert!(
            err.contains("resourceMetrics[0].scopeMetrics[0].metrics[0].gauge.dataPoints[0].asInt"),
            "{err}"
        );
        assert!(err.contains("out of range"), "{err}");
        let json = gauge(r#"{"asInt":1e30}"#);
        assert!(decode_point(&json)
            .unwrap_err()
            .to_string()
            .contains("asInt"));
        let ok = decode_point(&gauge(r#"{"asInt":"-9223372036854775808"}"#)).unwrap();
        assert_eq!(ok, Some(number_data_point::Value::AsInt(i64::MIN)));
    }

    #[test]
    fn ids_of_the_wrong_length_name_the_field() {
        for id in ["01", &"ab".repeat(32)] {
            let json = format!(
                r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"traceId":"{id}"}}]}}]}}]}}"#
            );
            let err = to_protobuf(Signal::Traces, json.as_bytes(), DecodeLimits::unlimited())
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("resourceSpans[0].scopeSpans[0].spans[0].traceId"),
                "{err}"
            );
        }
    }

    #[test]
    fn arrays_are_not_objects() {
        for json in [
            "[]",
            r#"[{"resourceSpans":[]}]"#,
            r#"{"resourceSpans":[[]]}"#,
        ] {
            assert!(
                matches!(
                    to_protobuf(Signal::Traces, json.as_bytes(), DecodeLimits::unlimited()),
                    Err(JsonError::Invalid(_))
                ),
                "{json}"
            );
        }
    }

    #[test]
    fn the_cap_bounds_what_is_built() {
        let json = format!(
            r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{}{{}}]}}]}}]}}"#,
            "{},".repeat(10_000)
        );
        let limits = |items, bytes| DecodeLimits::new(items, bytes);
        assert!(matches!(
            to_protobuf(Signal::Traces, json.as_bytes(), limits(usize::MAX, 1000)),
            Err(JsonError::TooLarge { limit: 1000 })
        ));
        assert!(matches!(
            to_protobuf(Signal::Traces, json.as_bytes(), limits(10_000, usize::MAX)),
            Err(JsonError::TooManyItems { limit: 10_000 })
        ));
        assert!(to_protobuf(Signal::Traces, json.as_bytes(), limits(10_001, 1_000_000)).is_ok());
    }
}

//! The two output formats behind one traversal.
//!
//! Every encoder in this crate walks SDK data once and calls a [`Writer`];
//! [`ProtoWriter`] turns the calls into protobuf wire format and
//! [`JsonWriter`] into OTLP/JSON. Both are monomorphised, so the traversal
//! costs nothing extra and the two formats cannot drift apart.

use opentelemetry::logs::AnyValue as LogValue;
use opentelemetry::Value;

/// How large a nested message is expected to be; decides how many bytes are
/// reserved for its length prefix before it is written (see
/// [`ProtoWriter`]).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Size {
    /// Under 128 bytes (attributes, values, small messages).
    Small = 1,
    /// Under 16 KiB (a span, a log record, a data point).
    Medium = 2,
    /// Under 2 MiB (a scope or resource group, a whole batch).
    Large = 3,
}

/// The output side of an encoder: field numbers for protobuf, names for JSON.
///
/// Scalar methods skip default values (zero, empty), as proto3 does, except
/// the `oneof_*` methods, which always write: a set `oneof` member is present
/// even when it holds its default.
pub(crate) trait Writer: Sized {
    fn string(&mut self, num: u32, name: &str, v: &str);
    /// Trace and span ids: bytes in protobuf, lowercase hex in JSON. (The
    /// length is a constant so the copy compiles to a few moves.)
    fn id<const N: usize>(&mut self, num: u32, name: &str, v: &[u8; N]);
    fn fixed64(&mut self, num: u32, name: &str, v: u64);
    fn fixed32(&mut self, num: u32, name: &str, v: u32);
    fn uint32(&mut self, num: u32, name: &str, v: u32);
    fn int32(&mut self, num: u32, name: &str, v: i32);
    fn sint32(&mut self, num: u32, name: &str, v: i32);
    fn bool(&mut self, num: u32, name: &str, v: bool);
    /// `optional double`: written whenever present.
    fn opt_double(&mut self, num: u32, name: &str, v: Option<f64>);
    fn double(&mut self, num: u32, name: &str, v: f64);
    fn oneof_string(&mut self, num: u32, name: &str, v: &str);
    fn oneof_bool(&mut self, num: u32, name: &str, v: bool);
    fn oneof_int64(&mut self, num: u32, name: &str, v: i64);
    fn oneof_sfixed64(&mut self, num: u32, name: &str, v: i64);
    fn oneof_double(&mut self, num: u32, name: &str, v: f64);
    fn oneof_bytes(&mut self, num: u32, name: &str, v: &[u8]);
    fn packed_fixed64(&mut self, num: u32, name: &str, v: impl Iterator<Item = u64>);
    fn packed_uint64(&mut self, num: u32, name: &str, v: impl Iterator<Item = u64>);
    fn packed_double(&mut self, num: u32, name: &str, v: impl Iterator<Item = f64>);
    /// A present (possibly empty) nested message.
    fn message(&mut self, num: u32, name: &str, size: Size, f: impl FnOnce(&mut Self));
    /// A repeated message field; nothing is written for no items.
    fn repeated<T>(
        &mut self,
        num: u32,
        name: &str,
        size: Size,
        items: impl IntoIterator<Item = T>,
        f: impl FnMut(&mut Self, T),
    );
    /// A repeated message field whose items' sizes are guessed one by one.
    fn repeated_sized<T>(
        &mut self,
        num: u32,
        name: &str,
        items: impl IntoIterator<Item = T>,
        size: impl Fn(&T) -> Size,
        mut f: impl FnMut(&mut Self, T),
    ) {
        // Formats without length prefixes have no use for the guess.
        self.repeated(num, name, Size::Small, items, |w, item| {
            let _ = size(&item);
            f(w, item)
        });
    }
    /// A repeated message field that JSON writes even when empty
    /// (`"values":[]`): opentelemetry-proto's JSON decoder requires the
    /// `values` of an `ArrayValue` / `KeyValueList`.
    fn repeated_always<T>(
        &mut self,
        num: u32,
        name: &str,
        size: Size,
        items: impl IntoIterator<Item = T>,
        f: impl FnMut(&mut Self, T),
    ) {
        self.repeated(num, name, size, items, f);
    }
    /// A repeated `KeyValue` field: API attributes or log attributes.
    fn key_values<'a, V: AttributeValue + 'a>(
        &mut self,
        num: u32,
        name: &str,
        attrs: impl Iterator<Item = (&'a str, &'a V)>,
    ) {
        self.repeated(num, name, Size::Small, attrs, |w, (k, v)| v.key_value(w, k));
    }
    /// A message whose body was encoded earlier by a writer of the same kind.
    fn embedded(&mut self, num: u32, name: &str, body: &Embedded);
    /// A repeated message field whose items were written earlier by a
    /// writer of the same kind, each framed as an item of field `num`
    /// (protobuf: key and length; JSON: an object, items separated by
    /// commas). Nothing is written for an empty `items`.
    fn framed_items(&mut self, num: u32, name: &str, items: &[u8]);
}

/// A message body encoded once in both formats, for data that repeats in
/// every request (the resource of an exporter).
#[derive(Debug, Clone, Default)]
pub(crate) struct Embedded {
    pub(crate) proto: Vec<u8>,
    pub(crate) json: Vec<u8>,
}

// ---------------------------------------------------------------- protobuf

const VARINT: u32 = 0;
const I64: u32 = 1;
const LEN: u32 = 2;
const I32: u32 = 5;

/// Writes protobuf wire format straight into a byte buffer.
///
/// Nested messages are written in one pass: the length prefix is reserved
/// before the body is written (one, two or three bytes, from the [`Size`]
/// hint) and patched afterwards; a wrong guess costs one `copy_within` of
/// that message, never a second encoding pass.
pub(crate) struct ProtoWriter<'a> {
    buf: &'a mut Vec<u8>,
}

impl<'a> ProtoWriter<'a> {
    pub(crate) fn new(buf: &'a mut Vec<u8>) -> Self {
        ProtoWriter { buf }
    }

    #[inline(always)]
    fn varint(&mut self, mut v: u64) {
        if v < 0x80 {
            self.buf.push(v as u8);
            return;
        }
        if v < 0x4000 {
            // Ports, status codes, line numbers, lengths of a few hundred.
            self.buf
                .extend_from_slice(&[(v as u8) | 0x80, (v >> 7) as u8]);
            return;
        }
        let mut tmp = [0u8; 10];
        let mut n = 0;
        while v >= 0x80 {
            tmp[n] = (v as u8) | 0x80;
            v >>= 7;
            n += 1;
        }
        tmp[n] = v as u8;
        self.buf.extend_from_slice(&tmp[..=n]);
    }

    #[inline(always)]
    fn key(&mut self, num: u32, wire: u32) {
        self.varint(u64::from((num << 3) | wire));
    }

    #[inline(always)]
    fn len_delimited(&mut self, num: u32, v: &[u8]) {
        self.key(num, LEN);
        self.varint(v.len() as u64);
        self.put_bytes(v);
    }

    #[inline(always)]
    fn finish_message(&mut self, len_pos: usize, reserved: usize) {
        let start = len_pos + reserved;
        let len = self.buf.len() - start;
        // The common cases: the guess was right.
        if reserved == 1 && len < 0x80 {
            self.buf[len_pos] = len as u8;
            return;
        }
        if reserved == 2 && (0x80..0x4000).contains(&len) {
            self.buf[len_pos] = (len as u8) | 0x80;
            self.buf[len_pos + 1] = (len >> 7) as u8;
            return;
        }
        self.fix_length(len_pos, reserved, start, len);
    }

    #[inline(never)]
    fn fix_length(&mut self, len_pos: usize, reserved: usize, start: usize, len: usize) {
        let needed = varint_len(len as u64);
        if needed != reserved {
            if needed > reserved {
                let extra = needed - reserved;
                self.buf.resize(self.buf.len() + extra, 0);
                self.buf.copy_within(start..start + len, start + extra);
            } else {
                let shrink = reserved - needed;
                self.buf.copy_within(start..start + len, start - shrink);
                self.buf.truncate(self.buf.len() - shrink);
            }
        }
        let mut v = len as u64;
        for i in 0..needed {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            self.buf[len_pos + i] = if i + 1 < needed { b | 0x80 } else { b };
        }
    }
}

#[inline]
fn varint_len(v: u64) -> usize {
    // 1 byte per 7 bits, at least one.
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

impl Writer for ProtoWriter<'_> {
    #[inline]
    fn string(&mut self, num: u32, _: &str, v: &str) {
        if !v.is_empty() {
            self.len_delimited(num, v.as_bytes());
        }
    }
    #[inline(always)]
    fn id<const N: usize>(&mut self, num: u32, _: &str, v: &[u8; N]) {
        const { assert!(N < 0x80, "ids have a one-byte length") };
        if N > 0 {
            self.key(num, LEN);
            self.buf.push(N as u8);
            self.buf.extend_from_slice(v);
        }
    }
    #[inline]
    fn fixed64(&mut self, num: u32, _: &str, v: u64) {
        if v != 0 {
            self.key(num, I64);
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
    }
    #[inline]
    fn fixed32(&mut self, num: u32, _: &str, v: u32) {
        if v != 0 {
            self.key(num, I32);
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
    }
    #[inline]
    fn uint32(&mut self, num: u32, _: &str, v: u32) {
        if v != 0 {
            self.key(num, VARINT);
            self.varint(u64::from(v));
        }
    }
    #[inline]
    fn int32(&mut self, num: u32, _: &str, v: i32) {
        if v != 0 {
            self.key(num, VARINT);
            // Negative int32 values are sign-extended to ten bytes.
            self.varint(i64::from(v) as u64);
        }
    }
    #[inline]
    fn sint32(&mut self, num: u32, _: &str, v: i32) {
        if v != 0 {
            self.key(num, VARINT);
            self.varint(u64::from(((v << 1) ^ (v >> 31)) as u32));
        }
    }
    #[inline]
    fn bool(&mut self, num: u32, _: &str, v: bool) {
        if v {
            self.key(num, VARINT);
            self.buf.push(1);
        }
    }
    #[inline]
    fn opt_double(&mut self, num: u32, name: &str, v: Option<f64>) {
        if let Some(v) = v {
            self.oneof_double(num, name, v);
        }
    }
    #[inline]
    fn double(&mut self, num: u32, name: &str, v: f64) {
        if v.to_bits() != 0 {
            self.oneof_double(num, name, v);
        }
    }
    #[inline]
    fn oneof_string(&mut self, num: u32, _: &str, v: &str) {
        self.len_delimited(num, v.as_bytes());
    }
    #[inline]
    fn oneof_bool(&mut self, num: u32, _: &str, v: bool) {
        self.key(num, VARINT);
        self.buf.push(u8::from(v));
    }
    #[inline]
    fn oneof_int64(&mut self, num: u32, _: &str, v: i64) {
        self.key(num, VARINT);
        self.varint(v as u64);
    }
    #[inline]
    fn oneof_sfixed64(&mut self, num: u32, _: &str, v: i64) {
        self.key(num, I64);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    #[inline]
    fn oneof_double(&mut self, num: u32, _: &str, v: f64) {
        self.key(num, I64);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    #[inline]
    fn oneof_bytes(&mut self, num: u32, _: &str, v: &[u8]) {
        self.len_delimited(num, v);
    }
    fn packed_fixed64(&mut self, num: u32, _: &str, v: impl Iterator<Item = u64>) {
        self.packed_8(num, v.map(u64::to_le_bytes));
    }
    fn packed_uint64(&mut self, num: u32, _: &str, v: impl Iterator<Item = u64>) {
        let mut v = v.peekable();
        if v.peek().is_some() {
            self.message(num, "", Size::Small, |w| v.for_each(|x| w.varint(x)));
        }
    }
    fn packed_double(&mut self, num: u32, _: &str, v: impl Iterator<Item = f64>) {
        self.packed_8(num, v.map(f64::to_le_bytes));
    }
    #[inline(always)]
    fn message(&mut self, num: u32, _: &str, size: Size, f: impl FnOnce(&mut Self)) {
        self.key(num, LEN);
        let len_pos = self.buf.len();
        let reserved = size as usize;
        match size {
            Size::Small => self.buf.push(0),
            Size::Medium => self.buf.extend_from_slice(&[0, 0]),
            Size::Large => self.buf.extend_from_slice(&[0, 0, 0]),
        }
        f(self);
        self.finish_message(len_pos, reserved);
    }
    #[inline]
    fn repeated<T>(
        &mut self,
        num: u32,
        name: &str,
        size: Size,
        items: impl IntoIterator<Item = T>,
        mut f: impl FnMut(&mut Self, T),
    ) {
        for item in items {
            self.message(num, name, size, |w| f(w, item));
        }
    }
    #[inline]
    fn embedded(&mut self, num: u32, _: &str, body: &Embedded) {
        self.len_delimited(num, &body.proto);
    }
    #[inline]
    fn framed_items(&mut self, _: u32, _: &str, items: &[u8]) {
        self.buf.extend_from_slice(items);
    }

    #[inline]
    fn repeated_sized<T>(
        &mut self,
        num: u32,
        name: &str,
        items: impl IntoIterator<Item = T>,
        size: impl Fn(&T) -> Size,
        mut f: impl FnMut(&mut Self, T),
    ) {
        for item in items {
            let s = size(&item);
            self.message(num, name, s, |w| f(w, item));
        }
    }

    /// Scalar attributes, the vast majority, are written with their exact
    /// lengths computed up front: no reserved prefix, nothing to patch.
    #[inline]
    fn key_values<'a, V: AttributeValue + 'a>(
        &mut self,
        num: u32,
        name: &str,
        attrs: impl Iterator<Item = (&'a str, &'a V)>,
    ) {
        for (key, value) in attrs {
            match value.scalar() {
                Some(scalar) => self.scalar_key_value(num, key, scalar),
                None => self.message(num, name, Size::Small, |w| value.key_value(w, key)),
            }
        }
    }
}

/// An attribute value type: the API's [`Value`] or the logs' [`LogValue`].
pub(crate) trait AttributeValue {
    /// The value, if it is a scalar (the writers' fast path).
    fn scalar(&self) -> Option<Scalar<'_>>;
    /// Writes a `KeyValue` body holding `key` and this value.
    fn key_value<W: Writer>(&self, w: &mut W, key: &str);
}

impl AttributeValue for Value {
    #[inline]
    fn scalar(&self) -> Option<Scalar<'_>> {
        match self {
            Value::String(s) => Some(Scalar::Str(s.as_str())),
            Value::Bool(b) => Some(Scalar::Bool(*b)),
            Value::I64(i) => Some(Scalar::Int(*i)),
            Value::F64(f) => Some(Scalar::Double(*f)),
            _ => None,
        }
    }
    #[inline]
    fn key_value<W: Writer>(&self, w: &mut W, key: &str) {
        super::common::key_value(w, key, self);
    }
}

impl AttributeValue for LogValue {
    #[inline]
    fn scalar(&self) -> Option<Scalar<'_>> {
        match self {
            LogValue::String(s) => Some(Scalar::Str(s.as_str())),
            LogValue::Boolean(b) => Some(Scalar::Bool(*b)),
            LogValue::Int(i) => Some(Scalar::Int(*i)),
            LogValue::Double(f) => Some(Scalar::Double(*f)),
            _ => None,
        }
    }
    #[inline]
    fn key_value<W: Writer>(&self, w: &mut W, key: &str) {
        super::common::key_value_log(w, key, self);
    }
}

/// A scalar attribute value, the common case the fast path handles.
#[derive(Clone, Copy)]
pub(crate) enum Scalar<'a> {
    Str(&'a str),
    Bool(bool),
    Int(i64),
    Double(f64),
}

impl ProtoWriter<'_> {
    /// Appends `s`. Attribute keys and values are mostly a few dozen bytes
    /// long, where a call to the C library's `memcpy` costs more than the
    /// copy: up to 32 bytes are copied with fixed-size (possibly
    /// overlapping) moves instead.
    #[inline(always)]
    fn put_bytes(&mut self, s: &[u8]) {
        let n = s.len();
        if n > 32 {
            self.buf.extend_from_slice(s);
            return;
        }
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0u8; 32]);
        copy_short(&mut self.buf[start..start + 32], s);
        self.buf.truncate(start + n);
    }

    /// A packed field of 8-byte elements; when the iterator knows its
    /// length (the SDK's bucket iterators do), the length prefix is written
    /// exactly, else reserved and patched.
    #[inline]
    fn packed_8(&mut self, num: u32, v: impl Iterator<Item = [u8; 8]>) {
        let (lower, upper) = v.size_hint();
        if upper == Some(lower) {
            if lower > 0 {
                self.key(num, LEN);
                self.varint(lower as u64 * 8);
                self.buf.reserve(lower * 8);
                v.for_each(|x| self.buf.extend_from_slice(&x));
            }
            return;
        }
        let mut v = v.peekable();
        if v.peek().is_some() {
            self.message(num, "", Size::Small, |w| {
                v.for_each(|x| w.buf.extend_from_slice(&x))
            });
        }
    }

    /// Writes a `KeyValue` with a scalar value, every length computed up
    /// front: nothing reserved, nothing patched.
    #[inline(always)]
    fn scalar_key_value(&mut self, num: u32, key: &str, value: Scalar<'_>) {
        // The value's tag and its `AnyValue` length.
        let (value_tag, value_len) = match value {
            Scalar::Str(s) => (0x0a, 1 + varint_len(s.len() as u64) + s.len()),
            Scalar::Bool(_) => (0x10, 2),
            Scalar::Int(i) => (0x18, 1 + varint_len(i as u64)),
            Scalar::Double(_) => (0x21, 9),
        };
        let kv_len = 2 + key.len() + 2 + value_len;
        let text_len = match value {
            Scalar::Str(s) => s.len(),
            _ => 0,
        };
        if num < 16 && kv_len < 0x80 && key.len() <= 64 && text_len <= 64 {
            // Short attributes (nearly all): every length is one byte, and
            // the whole attribute (at most 129 bytes) is written into room
            // made by one fixed-size append, then cut to length: one
            // capacity check instead of one per part, and no `memcpy`.
            if kv_len + 2 <= 32 {
                self.short_key_value::<32>(num, key, kv_len, value_tag, value_len, value);
            } else if kv_len + 2 <= 64 {
                self.short_key_value::<64>(num, key, kv_len, value_tag, value_len, value);
            } else {
                self.short_key_value::<160>(num, key, kv_len, value_tag, value_len, value);
            }
            return;
        }
        self.kv_header(num, key, value_len);
        self.buf.push(value_tag);
        match value {
            Scalar::Str(s) => {
                self.varint(s.len() as u64);
                self.put_bytes(s.as_bytes());
            }
            Scalar::Bool(b) => self.buf.push(u8::from(b)),
            Scalar::Int(i) => self.varint(i as u64),
            Scalar::Double(f) => self.buf.extend_from_slice(&f.to_le_bytes()),
        }
    }
}

impl ProtoWriter<'_> {
    /// The short-attribute path of [`scalar_key_value`]: `ROOM` bytes
    /// appended at once, at least the attribute's `kv_len + 2`, and up to
    /// 64 bytes of key or text.
    ///
    /// [`scalar_key_value`]: ProtoWriter::scalar_key_value
    #[inline(always)]
    fn short_key_value<const ROOM: usize>(
        &mut self,
        num: u32,
        key: &str,
        kv_len: usize,
        value_tag: u8,
        value_len: usize,
        value: Scalar<'_>,
    ) {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0u8; ROOM]);
        let d = &mut self.buf[start..start + ROOM];
        d[..4].copy_from_slice(&[
            ((num << 3) | LEN) as u8,
            kv_len as u8,
            0x0a,
            key.len() as u8,
        ]);
        copy_short(&mut d[4..], key.as_bytes());
        let mut p = 4 + key.len();
        d[p..p + 3].copy_from_slice(&[0x12, value_len as u8, value_tag]);
        p += 3;
        match value {
            Scalar::Str(s) => {
                d[p] = s.len() as u8;
                copy_short(&mut d[p + 1..], s.as_bytes());
                p += 1 + s.len();
            }
            Scalar::Bool(b) => {
                d[p] = u8::from(b);
                p += 1;
            }
            Scalar::Int(i) => {
                let mut v = i as u64;
                while v >= 0x80 {
                    d[p] = (v as u8) | 0x80;
                    v >>= 7;
                    p += 1;
                }
                d[p] = v as u8;
                p += 1;
            }
            Scalar::Double(f) => {
                d[p..p + 8].copy_from_slice(&f.to_le_bytes());
                p += 8;
            }
        }
        self.buf.truncate(start + p);
    }
}

/// Copies `s`, at most 64 bytes long, to the start of `dst` with
/// fixed-size (possibly overlapping) moves instead of a `memcpy` call.
#[inline(always)]
fn copy_short(dst: &mut [u8], s: &[u8]) {
    let n = s.len();
    if n >= 32 {
        dst[..32].copy_from_slice(&s[..32]);
        dst[n - 32..n].copy_from_slice(&s[n - 32..]);
    } else if n >= 16 {
        dst[..16].copy_from_slice(&s[..16]);
        dst[n - 16..n].copy_from_slice(&s[n - 16..]);
    } else if n >= 8 {
        dst[..8].copy_from_slice(&s[..8]);
        dst[n - 8..n].copy_from_slice(&s[n - 8..]);
    } else if n >= 4 {
        dst[..4].copy_from_slice(&s[..4]);
        dst[n - 4..n].copy_from_slice(&s[n - 4..]);
    } else {
        for (d, b) in dst.iter_mut().zip(s) {
            *d = *b;
        }
    }
}

impl ProtoWriter<'_> {
    /// Writes a `KeyValue` up to its `AnyValue`'s body, which is
    /// `value_len` bytes long.
    #[inline(always)]
    fn kv_header(&mut self, num: u32, key: &str, value_len: usize) {
        let kv_len = 1
            + varint_len(key.len() as u64)
            + key.len()
            + 1
            + varint_len(value_len as u64)
            + value_len;
        // The whole attribute is written next: one capacity check for all.
        self.buf.reserve(kv_len + 4);
        self.key(num, LEN);
        self.varint(kv_len as u64);
        self.len_delimited(1, key.as_bytes());
        self.buf.push(0x12);
        self.varint(value_len as u64);
    }
}

// -------------------------------------------------------------------- JSON

/// Writes compact OTLP/JSON: lowerCamelCase names, ids as hex, enums as
/// integers, 64-bit integers as strings, bytes as base64, as the OTLP
/// specification's JSON mapping requires.
pub(crate) struct JsonWriter<'a> {
    buf: &'a mut Vec<u8>,
    /// No member written yet in the innermost open object or array.
    first: bool,
}

impl<'a> JsonWriter<'a> {
    pub(crate) fn new(buf: &'a mut Vec<u8>) -> Self {
        JsonWriter { buf, first: true }
    }

    /// Writes a whole top-level object.
    pub(crate) fn object<R>(buf: &'a mut Vec<u8>, f: impl FnOnce(&mut Self) -> R) -> R {
        let mut w = JsonWriter::new(buf);
        w.buf.push(b'{');
        let r = f(&mut w);
        w.buf.push(b'}');
        r
    }

    #[inline]
    fn name(&mut self, name: &str) {
        if !self.first {
            self.buf.push(b',');
        }
        self.first = false;
        self.buf.push(b'"');
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.extend_from_slice(b"\":");
    }

    #[inline]
    fn item(&mut self) {
        if !self.first {
            self.buf.push(b',');
        }
        self.first = false;
    }

    #[inline]
    fn str_value(&mut self, v: &str) {
        write_json_string(self.buf, v);
    }

    #[inline]
    fn u64_string(&mut self, v: u64) {
        self.buf.push(b'"');
        self.buf
            .extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
        self.buf.push(b'"');
    }

    #[inline]
    fn i64_string(&mut self, v: i64) {
        self.buf.push(b'"');
        self.buf
            .extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
        self.buf.push(b'"');
    }

    #[inline]
    fn int(&mut self, v: i64) {
        self.buf
            .extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
    }

    #[inline]
    fn double_value(&mut self, v: f64) {
        if v.is_finite() {
            self.buf
                .extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
        } else if v.is_nan() {
            self.buf.extend_from_slice(b"\"NaN\"");
        } else if v > 0.0 {
            self.buf.extend_from_slice(b"\"Infinity\"");
        } else {
            self.buf.extend_from_slice(b"\"-Infinity\"");
        }
    }

    fn array<T>(
        &mut self,
        name: &str,
        v: impl Iterator<Item = T>,
        mut f: impl FnMut(&mut Self, T),
    ) {
        let mut v = v.peekable();
        if v.peek().is_none() {
            return;
        }
        self.name(name);
        self.buf.push(b'[');
        self.first = true;
        for x in v {
            self.item();
            f(self, x);
        }
        self.buf.push(b']');
        self.first = false;
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn write_json_string(buf: &mut Vec<u8>, s: &str) {
    buf.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        buf.extend_from_slice(&bytes[start..i]);
        if esc.is_empty() {
            buf.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]);
        } else {
            buf.extend_from_slice(esc);
        }
        start = i + 1;
    }
    buf.extend_from_slice(&bytes[start..]);
    buf.push(b'"');
}

impl Writer for JsonWriter<'_> {
    #[inline]
    fn string(&mut self, _: u32, name: &str, v: &str) {
        if !v.is_empty() {
            self.name(name);
            self.str_value(v);
        }
    }
    #[inline]
    fn id<const N: usize>(&mut self, _: u32, name: &str, v: &[u8; N]) {
        if N > 0 {
            self.name(name);
            self.buf.push(b'"');
            for &b in v {
                self.buf
                    .extend_from_slice(&[HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]);
            }
            self.buf.push(b'"');
        }
    }
    #[inline]
    fn fixed64(&mut self, _: u32, name: &str, v: u64) {
        if v != 0 {
            self.name(name);
            self.u64_string(v);
        }
    }
    #[inline]
    fn fixed32(&mut self, num: u32, name: &str, v: u32) {
        self.uint32(num, name, v);
    }
    #[inline]
    fn uint32(&mut self, _: u32, name: &str, v: u32) {
        if v != 0 {
            self.name(name);
            self.int(i64::from(v));
        }
    }
    #[inline]
    fn int32(&mut self, _: u32, name: &str, v: i32) {
        if v != 0 {
            self.name(name);
            self.int(i64::from(v));
        }
    }
    #[inline]
    fn sint32(&mut self, num: u32, name: &str, v: i32) {
        self.int32(num, name, v);
    }
    #[inline]
    fn bool(&mut self, _: u32, name: &str, v: bool) {
        if v {
            self.name(name);
            self.buf.extend_from_slice(b"true");
        }
    }
    #[inline]
    fn opt_double(&mut self, num: u32, name: &str, v: Option<f64>) {
        if let Some(v) = v {
            self.oneof_double(num, name, v);
        }
    }
    #[inline]
    fn double(&mut self, num: u32, name: &str, v: f64) {
        if v.to_bits() != 0 {
            self.oneof_double(num, name, v);
        }
    }
    #[inline]
    fn oneof_string(&mut self, _: u32, name: &str, v: &str) {
        self.name(name);
        self.str_value(v);
    }
    #[inline]
    fn oneof_bool(&mut self, _: u32, name: &str, v: bool) {
        self.name(name);
        self.buf
            .extend_from_slice(if v { b"true" as &[u8] } else { b"false" });
    }
    #[inline]
    fn oneof_int64(&mut self, _: u32, name: &str, v: i64) {
        self.name(name);
        self.i64_string(v);
    }
    #[inline]
    fn oneof_sfixed64(&mut self, num: u32, name: &str, v: i64) {
        self.oneof_int64(num, name, v);
    }
    #[inline]
    fn oneof_double(&mut self, _: u32, name: &str, v: f64) {
        self.name(name);
        self.double_value(v);
    }
    fn oneof_bytes(&mut self, _: u32, name: &str, v: &[u8]) {
        use base64::Engine as _;
        self.name(name);
        self.buf.push(b'"');
        let start = self.buf.len();
        self.buf
            .resize(start + base64::encoded_len(v.len(), true).unwrap_or(0), 0);
        let written = base64::engine::general_purpose::STANDARD
            .encode_slice(v, &mut self.buf[start..])
            .unwrap_or(0);
        self.buf.truncate(start + written);
        self.buf.push(b'"');
    }
    fn packed_fixed64(&mut self, _: u32, name: &str, v: impl Iterator<Item = u64>) {
        self.array(name, v, |w, x| w.u64_string(x));
    }
    fn packed_uint64(&mut self, _: u32, name: &str, v: impl Iterator<Item = u64>) {
        self.array(name, v, |w, x| w.u64_string(x));
    }
    fn packed_double(&mut self, _: u32, name: &str, v: impl Iterator<Item = f64>) {
        self.array(name, v, |w, x| w.double_value(x));
    }
    #[inline]
    fn message(&mut self, _: u32, name: &str, _: Size, f: impl FnOnce(&mut Self)) {
        self.name(name);
        self.buf.push(b'{');
        self.first = true;
        f(self);
        self.buf.push(b'}');
        self.first = false;
    }
    fn repeated<T>(
        &mut self,
        _: u32,
        name: &str,
        _: Size,
        items: impl IntoIterator<Item = T>,
        mut f: impl FnMut(&mut Self, T),
    ) {
        self.array(name, items.into_iter(), |w, item| {
            w.buf.push(b'{');
            w.first = true;
            f(w, item);
            w.buf.push(b'}');
            w.first = false;
        });
    }
    fn repeated_always<T>(
        &mut self,
        num: u32,
        name: &str,
        size: Size,
        items: impl IntoIterator<Item = T>,
        f: impl FnMut(&mut Self, T),
    ) {
        let mut items = items.into_iter().peekable();
        if items.peek().is_none() {
            self.name(name);
            self.buf.extend_from_slice(b"[]");
        } else {
            self.repeated(num, name, size, items, f);
        }
    }
    fn embedded(&mut self, _: u32, name: &str, body: &Embedded) {
        self.name(name);
        self.buf.extend_from_slice(&body.json);
    }
    fn framed_items(&mut self, _: u32, name: &str, items: &[u8]) {
        if items.is_empty() {
            return;
        }
        self.name(name);
        self.buf.push(b'[');
        self.buf.extend_from_slice(items);
        self.buf.push(b']');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_lengths() {
        for (v, n) in [
            (0u64, 1),
            (127, 1),
            (128, 2),
            (16383, 2),
            (16384, 3),
            (u64::MAX, 10),
        ] {
            assert_eq!(varint_len(v), n, "{v}");
        }
    }

    #[test]
    fn message_length_fix_up_both_ways() {
        for (size, body_len) in [
            (Size::Small, 5usize),
            (Size::Small, 300),
            (Size::Small, 20_000),
            (Size::Large, 5),
            (Size::Medium, 200),
            (Size::Large, 3_000_000),
        ] {
            let mut buf = Vec::new();
            let mut w = ProtoWriter::new(&mut buf);
            let body = vec![7u8; body_len];
            w.message(1, "", size, |w| w.buf.extend_from_slice(&body));
            let mut expect = Vec::new();
            ProtoWriter::new(&mut expect).len_delimited(1, &body);
            assert_eq!(buf, expect, "{size:?} {body_len}");
        }
    }

    #[test]
    fn json_escapes() {
        let mut buf = Vec::new();
        write_json_string(&mut buf, "a\"b\\c\n\u{1}é");
        let s = String::from_utf8(buf).unwrap();
        assert_eq!(s, r#""a\"b\\c\n\u0001é""#);
        assert_eq!(
            serde_json::from_str::<String>(&s).unwrap(),
            "a\"b\\c\n\u{1}é"
        );
    }
}

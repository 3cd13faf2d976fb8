//! Bounds on what a request decodes into, checked before decoding.
//!
//! A byte cap alone does not bound a decoder: an empty span is two bytes on
//! the wire (`12 00`) and a few hundred bytes once decoded, so 64 MiB of
//! them (65 KB gzipped) would decode into gigabytes. [`measure`] walks the
//! protobuf wire bytes once, without allocating, counting the items and
//! adding up the heap the decoded message will take: each message's struct
//! (twice over for repeated ones, as a growing `Vec` may reserve double),
//! each string and byte field, and each packed scalar. Only then does the
//! real decoder run, and only when the [`DecodeLimits`] allow it. The walk
//! reads each byte once and recurses at most [`MAX_DEPTH`] deep, so it is
//! linear in the input whatever the input is.

use crate::schema::{Kind, Msg};
use crate::Signal;

/// How deep messages may nest, as in prost's decoder (its recursion limit).
pub const MAX_DEPTH: usize = 100;

/// Limits on one request once decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DecodeLimits {
    /// The most items (spans, metric data points, log records) a request
    /// may hold.
    pub max_items: usize,
    /// The most heap memory, in bytes, the decoded request may take (as
    /// [`Footprint::decoded_bytes`] estimates it).
    pub max_decoded_bytes: usize,
}

impl DecodeLimits {
    /// Limits of `max_items` items and `max_decoded_bytes` bytes.
    pub fn new(max_items: usize, max_decoded_bytes: usize) -> Self {
        DecodeLimits {
            max_items,
            max_decoded_bytes,
        }
    }

    /// No limits at all: only for input that is already trusted.
    pub fn unlimited() -> Self {
        Self::new(usize::MAX, usize::MAX)
    }
}

/// What a request decodes into, as [`measure`] found it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Footprint {
    /// Spans, metric data points or log records, counted on the wire: an
    /// upper bound of what the decoded request holds, equal to it unless a
    /// metric carries more than one kind of data (gauge, sum, ...), where
    /// protobuf keeps only the last one.
    pub items: usize,
    /// An upper estimate of the heap the decoded request takes, in bytes
    /// (allocator overhead aside).
    pub decoded_bytes: usize,
}

/// Why [`measure`] refused a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitError {
    /// More items than [`DecodeLimits::max_items`].
    #[error("request holds more than {limit} items")]
    TooManyItems {
        /// The limit exceeded.
        limit: usize,
    },
    /// The decoded request would take more than
    /// [`DecodeLimits::max_decoded_bytes`].
    #[error("request would take more than {limit} bytes once decoded")]
    TooLarge {
        /// The limit exceeded, in bytes.
        limit: usize,
    },
    /// The bytes are not a well-formed protobuf message.
    #[error("malformed protobuf: {0}")]
    Malformed(&'static str),
}

/// Walks the protobuf export request of `signal` in `body` and returns its
/// footprint, failing as soon as it exceeds `limits` or the bytes are not
/// well-formed protobuf.
pub fn measure(signal: Signal, body: &[u8], limits: DecodeLimits) -> Result<Footprint, LimitError> {
    let msg = Msg::request(signal);
    let mut walk = Walk {
        limits,
        footprint: Footprint::default(),
    };
    walk.add_bytes(msg.size())?;
    walk.message(msg, body, 0)?;
    Ok(walk.footprint)
}

struct Walk {
    limits: DecodeLimits,
    footprint: Footprint,
}

impl Walk {
    fn add_bytes(&mut self, bytes: usize) -> Result<(), LimitError> {
        let total = self.footprint.decoded_bytes.saturating_add(bytes);
        if total > self.limits.max_decoded_bytes {
            return Err(LimitError::TooLarge {
                limit: self.limits.max_decoded_bytes,
            });
        }
        self.footprint.decoded_bytes = total;
        Ok(())
    }

    fn add_item(&mut self) -> Result<(), LimitError> {
        if self.footprint.items >= self.limits.max_items {
            return Err(LimitError::TooManyItems {
                limit: self.limits.max_items,
            });
        }
        self.footprint.items += 1;
        Ok(())
    }

    fn message(&mut self, msg: Msg, mut bytes: &[u8], depth: usize) -> Result<(), LimitError> {
        if depth >= MAX_DEPTH {
            return Err(LimitError::Malformed("messages nested too deep"));
        }
        while !bytes.is_empty() {
            let (number, wire_type) = read_key(&mut bytes)?;
            let value = read_value(&mut bytes, wire_type)?;
            let Some(field) = msg.field(number) else {
                continue; // unknown fields are skipped, not kept
            };
            // Vec growth may reserve up to twice what a repeated field holds.
            let growth = if field.repeated { 2 } else { 1 };
            match (field.kind, value) {
                (Kind::Message(child), Value::Delimited(payload)) => {
                    self.add_bytes(child.size() * growth)?;
                    if child.is_item() {
                        self.add_item()?;
                    }
                    self.message(child, payload, depth + 1)?;
                }
                (Kind::String | Kind::Bytes | Kind::Id(_), Value::Delimited(payload)) => {
                    // A repeated string also costs its `String` in the Vec.
                    let slot = if field.repeated {
                        2 * size_of::<String>()
                    } else {
                        0
                    };
                    self.add_bytes(payload.len() + slot)?;
                }
                // A packed run: at most one element per byte, 8 bytes each.
                (kind, Value::Delimited(payload)) if field.repeated && kind.packable() => {
                    self.add_bytes(payload.len().saturating_mul(8 * growth))?;
                }
                (_, _) if field.repeated => self.add_bytes(8 * growth)?,
                // A scalar lives inside its struct; a mismatched wire type
                // is the decoder's to report.
                _ => {}
            }
        }
        Ok(())
    }
}

/// One field's value as it is on the wire.
pub(crate) enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    Delimited(&'a [u8]),
    Fixed32(u32),
}

pub(crate) fn read_varint(bytes: &mut &[u8]) -> Result<u64, LimitError> {
    let mut value = 0u64;
    for (i, &byte) in bytes.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            if i == 9 && byte > 1 {
                break;
            }
            *bytes = &bytes[i + 1..];
            return Ok(value);
        }
    }
    Err(LimitError::Malformed("invalid varint"))
}

/// Reads a field key: the field number and the wire type.
pub(crate) fn read_key(bytes: &mut &[u8]) -> Result<(u32, u8), LimitError> {
    let key = read_varint(bytes)?;
    let number = u32::try_from(key >> 3).map_err(|_| LimitError::Malformed("invalid key"))?;
    if number == 0 || number > 0x1fff_ffff {
        return Err(LimitError::Malformed("invalid field number"));
    }
    Ok((number, (key & 7) as u8))
}

fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Result<&'a [u8], LimitError> {
    if bytes.len() < n {
        return Err(LimitError::Malformed("truncated field"));
    }
    let (head, tail) = bytes.split_at(n);
    *bytes = tail;
    Ok(head)
}

/// Reads a value of `wire_type`. Groups (wire types 3 and 4, deprecated and
/// never used by OTLP) are refused.
pub(crate) fn read_value<'a>(bytes: &mut &'a [u8], wire_type: u8) -> Result<Value<'a>, LimitError> {
    Ok(match wire_type {
        0 => Value::Varint(read_varint(bytes)?),
        1 => {
            let raw = take(bytes, 8)?;
            Value::Fixed64(u64::from_le_bytes(raw.try_into().unwrap_or_default()))
        }
        2 => {
            let len = read_varint(bytes)?;
            let len = usize::try_from(len).map_err(|_| LimitError::Malformed("truncated field"))?;
            Value::Delimited(take(bytes, len)?)
        }
        5 => {
            let raw = take(bytes, 4)?;
            Value::Fixed32(u32::from_le_bytes(raw.try_into().unwrap_or_default()))
        }
        _ => return Err(LimitError::Malformed("unsupported wire type")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::collector::trace::v1::ExportTraceServiceRequest;
    use prost::Message;

    fn varint(mut x: usize, out: &mut Vec<u8>) {
        while x > 127 {
            out.push((x & 127) as u8 | 128);
            x >>= 7;
        }
        out.push(x as u8);
    }

    fn field(number: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![number << 3 | 2];
        varint(payload.len(), &mut out);
        out.extend_from_slice(payload);
        out
    }

    /// The amplification request: `spans` empty spans in one scope.
    pub(crate) fn empty_spans(spans: usize) -> Vec<u8> {
        field(1, &field(2, &b"\x12\x00".repeat(spans)))
    }

    #[test]
    fn counts_items_and_bounds_the_decoded_size() {
        let body = empty_spans(1000);
        let footprint = measure(Signal::Traces, &body, DecodeLimits::unlimited()).unwrap();
        assert_eq!(footprint.items, 1000);
        assert!(footprint.decoded_bytes >= 1000 * size_of::<crate::proto::trace::v1::Span>());
        let decoded = ExportTraceServiceRequest::decode(&body[..]).unwrap();
        let spans = &decoded.resource_spans[0].scope_spans[0].spans;
        let real = spans.capacity() * size_of::<crate::proto::trace::v1::Span>();
        assert!(footprint.decoded_bytes >= real, "{footprint:?} < {real}");
    }

    #[test]
    fn refuses_past_either_limit() {
        let body = empty_spans(1000);
        assert_eq!(
            measure(Signal::Traces, &body, DecodeLimits::new(999, usize::MAX)),
            Err(LimitError::TooManyItems { limit: 999 })
        );
        assert_eq!(
            measure(Signal::Traces, &body, DecodeLimits::new(usize::MAX, 10_000)),
            Err(LimitError::TooLarge { limit: 10_000 })
        );
    }

    #[test]
    fn malformed_bytes_are_refused_not_walked_past() {
        for body in [
            &b"\x0a\xff\xff\xff\xff\x0f"[..],
            b"\x0b",
            b"\x0a",
            b"\x00\x00",
            b"\xff",
        ] {
            assert!(
                matches!(
                    measure(Signal::Traces, body, DecodeLimits::unlimited()),
                    Err(LimitError::Malformed(_))
                ),
                "{body:?}"
            );
        }
    }

    #[test]
    fn deep_nesting_is_refused() {
        // AnyValue.arrayValue.values[0] ... nested past the limit.
        let mut value = Vec::new();
        for _ in 0..MAX_DEPTH {
            value = field(5, &field(1, &value));
        }
        let kv = field(2, &value);
        let body = field(1, &field(1, &field(1, &kv)));
        assert!(matches!(
            measure(Signal::Traces, &body, DecodeLimits::unlimited()),
            Err(LimitError::Malformed(_))
        ));
    }
}

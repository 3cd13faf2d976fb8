//! Varints, a bounds-checked reader for SRT payloads, and a borrowing
//! protobuf field reader for the OTLP input.

/// Appends `value` as a base-128 varint.
#[inline]
pub(crate) fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// How many bytes `value` takes as a varint.
#[inline]
pub(crate) fn varint_len(value: u64) -> usize {
    // 1 + floor(bits / 7), with 0 taking one byte.
    let bits = 64 - (value | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

#[inline]
pub(crate) fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

#[inline]
pub(crate) fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

/// A protobuf length-delimited field: key, length, bytes.
#[inline]
pub(crate) fn put_bytes_field(out: &mut Vec<u8>, key: u8, bytes: &[u8]) {
    out.push(key);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// A reader over SRT payload bytes: every read is checked and fails with a
/// static reason instead of panicking or reading past the end.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Takes all that is left.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }

    #[inline]
    pub(crate) fn varint(&mut self) -> Result<u64, &'static str> {
        read_varint(&mut self.buf).ok_or("invalid or truncated varint")
    }

    /// A varint that must fit 32 bits.
    #[inline]
    pub(crate) fn u32(&mut self) -> Result<u32, &'static str> {
        u32::try_from(self.varint()?).map_err(|_| "value out of 32-bit range")
    }

    /// A varint used as a length or count: must fit `usize`.
    #[inline]
    pub(crate) fn len(&mut self) -> Result<usize, &'static str> {
        usize::try_from(self.varint()?).map_err(|_| "length out of range")
    }

    #[inline]
    pub(crate) fn byte(&mut self) -> Result<u8, &'static str> {
        let (&first, rest) = self.buf.split_first().ok_or("truncated column")?;
        self.buf = rest;
        Ok(first)
    }

    #[inline]
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        if self.buf.len() < n {
            return Err("truncated column");
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    /// A varint length followed by that many bytes.
    #[inline]
    pub(crate) fn prefixed(&mut self) -> Result<&'a [u8], &'static str> {
        let n = self.len()?;
        self.take(n)
    }

    #[inline]
    pub(crate) fn u64_le(&mut self) -> Result<u64, &'static str> {
        let bytes = self.take(8)?;
        let mut raw = [0u8; 8];
        raw.copy_from_slice(bytes);
        Ok(u64::from_le_bytes(raw))
    }
}

#[inline]
pub(crate) fn read_varint(buf: &mut &[u8]) -> Option<u64> {
    // Most varints of OTLP and of SRT columns are one byte, most others
    // (lengths of spans) two.
    match *buf {
        [first, rest @ ..] if *first < 0x80 => {
            *buf = rest;
            Some(u64::from(*first))
        }
        [first, second, rest @ ..] if *second < 0x80 => {
            *buf = rest;
            Some(u64::from(*first & 0x7f) | u64::from(*second) << 7)
        }
        _ => read_varint_slow(buf),
    }
}

#[inline(never)]
fn read_varint_slow(buf: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for (i, &byte) in buf.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            if i == 9 && byte > 1 {
                return None;
            }
            *buf = &buf[i + 1..];
            return Some(value);
        }
    }
    None
}

/// One protobuf field value as it is on the wire, borrowing the input.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Field<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

/// Reads the next field of a protobuf message: its number and value.
/// Groups (wire types 3 and 4, never used by OTLP) are refused, as are
/// truncated fields and field number 0.
#[inline]
pub(crate) fn next_field<'a>(buf: &mut &'a [u8]) -> Result<(u32, Field<'a>), &'static str> {
    let key = read_varint(buf).ok_or("invalid protobuf key")?;
    let number = key >> 3;
    if number == 0 || number > 0x1fff_ffff {
        return Err("invalid protobuf field number");
    }
    let field = match key & 7 {
        0 => Field::Varint(read_varint(buf).ok_or("invalid protobuf varint")?),
        1 => {
            let mut reader = Reader::new(buf);
            let value = reader.u64_le().map_err(|_| "truncated protobuf field")?;
            *buf = reader.buf;
            Field::Fixed64(value)
        }
        2 => {
            let len = read_varint(buf).ok_or("invalid protobuf length")?;
            let len = usize::try_from(len).map_err(|_| "truncated protobuf field")?;
            if buf.len() < len {
                return Err("truncated protobuf field");
            }
            let (head, tail) = buf.split_at(len);
            *buf = tail;
            Field::Bytes(head)
        }
        5 => {
            if buf.len() < 4 {
                return Err("truncated protobuf field");
            }
            let (head, tail) = buf.split_at(4);
            *buf = tail;
            let mut raw = [0u8; 4];
            raw.copy_from_slice(head);
            Field::Fixed32(u32::from_le_bytes(raw))
        }
        _ => return Err("unsupported protobuf wire type"),
    };
    Ok((number as u32, field))
}

/// Checks that `buf` is a sequence of well-formed protobuf fields (not
/// what they mean).
pub(crate) fn check_fields(mut buf: &[u8]) -> Result<(), &'static str> {
    while !buf.is_empty() {
        next_field(&mut buf)?;
    }
    Ok(())
}

/// Starts a length-delimited field whose length is not known yet: writes
/// `key` and reserves `reserve` bytes for the length. [`close`] writes the
/// length, moving the body when its varint is not `reserve` bytes long.
#[inline]
pub(crate) fn open(out: &mut Vec<u8>, key: u8, reserve: usize) -> usize {
    out.push(key);
    out.resize(out.len() + reserve, 0);
    out.len()
}

#[inline]
pub(crate) fn close(out: &mut Vec<u8>, body_start: usize, reserve: usize) {
    let len = out.len() - body_start;
    let need = varint_len(len as u64);
    let at = body_start - reserve;
    if need != reserve {
        if need < reserve {
            out.copy_within(body_start.., at + need);
            out.truncate(out.len() - (reserve - need));
        } else {
            let old_len = out.len();
            out.resize(old_len + need - reserve, 0);
            out.copy_within(body_start..old_len, at + need);
        }
    }
    let mut value = len as u64;
    for i in 0..need {
        let more = if i + 1 < need { 0x80 } else { 0 };
        out[at + i] = (value as u8 & 0x7f) | more;
        value >>= 7;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_lengths_match() {
        for value in [0u64, 1, 127, 128, 16_383, 16_384, u32::MAX as u64, u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, value);
            assert_eq!(out.len(), varint_len(value), "{value}");
            assert_eq!(Reader::new(&out).varint(), Ok(value));
        }
        for value in [0i64, -1, 1, i64::MIN, i64::MAX] {
            assert_eq!(unzigzag(zigzag(value)), value);
        }
    }

    #[test]
    fn close_writes_any_length() {
        for len in [0usize, 5, 127, 128, 300, 20_000, 3_000_000] {
            for reserve in [1usize, 2, 3] {
                let mut out = vec![9];
                let start = open(&mut out, 0x12, reserve);
                out.extend(std::iter::repeat_n(7u8, len));
                close(&mut out, start, reserve);
                let mut expected = vec![9, 0x12];
                put_varint(&mut expected, len as u64);
                expected.extend(std::iter::repeat_n(7u8, len));
                assert_eq!(out, expected, "{len} {reserve}");
            }
        }
    }

    #[test]
    fn reader_refuses_truncation_and_overlong_varints() {
        assert!(Reader::new(&[0x80]).varint().is_err());
        assert!(Reader::new(&[0xff; 11]).varint().is_err());
        assert!(
            Reader::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02])
                .varint()
                .is_err()
        );
        assert!(Reader::new(&[5, 1, 2]).prefixed().is_err());
        let mut buf: &[u8] = &[0x0a, 0x05, 1];
        assert!(next_field(&mut buf).is_err());
    }
}

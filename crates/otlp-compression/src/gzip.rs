//! RFC 1952 member framing around raw deflate.
//!
//! flate2's `GzEncoder` and `MultiGzDecoder` build a fresh deflate or inflate
//! state (tens to hundreds of KiB) for every stream. Writing the header and
//! trailer here lets [`Compressor`](crate::Compressor) and
//! [`Decompressor`](crate::Decompressor) reset and reuse one state instead.

use flate2::Crc;

const MAGIC: [u8; 2] = [0x1f, 0x8b];
const METHOD_DEFLATE: u8 = 8;
const FHCRC: u8 = 0x02;
const FEXTRA: u8 = 0x04;
const FNAME: u8 = 0x08;
const FCOMMENT: u8 = 0x10;
const FRESERVED: u8 = 0xe0;
const OS_UNKNOWN: u8 = 255;
/// The fixed part of a member header, all [`header`] writes.
pub(crate) const HEADER_LEN: usize = 10;
/// CRC-32 and length of the uncompressed data, little endian.
pub(crate) const TRAILER_LEN: usize = 8;

/// A minimal member header: no name, no timestamp, so equal input gives
/// equal output.
pub(crate) fn header(level: u32) -> [u8; HEADER_LEN] {
    // XFL 2 and 4 flag "maximum compression" and "fastest" (RFC 1952 2.3.1).
    let xfl = match level {
        9 => 2,
        1 => 4,
        _ => 0,
    };
    [
        MAGIC[0],
        MAGIC[1],
        METHOD_DEFLATE,
        0,
        0,
        0,
        0,
        0,
        xfl,
        OS_UNKNOWN,
    ]
}

/// The member trailer for uncompressed `data`.
pub(crate) fn trailer(data: &[u8]) -> [u8; TRAILER_LEN] {
    let mut crc = Crc::new();
    crc.update(data);
    let mut trailer = [0; TRAILER_LEN];
    trailer[..4].copy_from_slice(&crc.sum().to_le_bytes());
    trailer[4..].copy_from_slice(&crc.amount().to_le_bytes());
    trailer
}

/// Whether `input` starts like a gzip member.
pub(crate) fn is_member(input: &[u8]) -> bool {
    input.starts_with(&MAGIC)
}

/// The length of the member header `input` starts with, with every
/// optional field (extra, name, comment, header CRC) skipped or checked.
pub(crate) fn header_len(input: &[u8]) -> Result<usize, &'static str> {
    const TRUNCATED: &str = "truncated gzip header";
    let fixed = input.get(..HEADER_LEN).ok_or(TRUNCATED)?;
    if fixed[..2] != MAGIC {
        return Err("bad gzip magic bytes");
    }
    if fixed[2] != METHOD_DEFLATE {
        return Err("unsupported gzip compression method");
    }
    let flags = fixed[3];
    if flags & FRESERVED != 0 {
        return Err("reserved gzip header flags set");
    }
    let mut len = HEADER_LEN;
    if flags & FEXTRA != 0 {
        let xlen = input.get(len..len + 2).ok_or(TRUNCATED)?;
        len += 2 + usize::from(u16::from_le_bytes([xlen[0], xlen[1]]));
    }
    for field in [FNAME, FCOMMENT] {
        if flags & field != 0 {
            let rest = input.get(len..).ok_or(TRUNCATED)?;
            len += rest.iter().position(|&b| b == 0).ok_or(TRUNCATED)? + 1;
        }
    }
    if flags & FHCRC != 0 {
        let stored = input.get(len..len + 2).ok_or(TRUNCATED)?;
        let mut crc = Crc::new();
        crc.update(&input[..len]);
        // The header CRC is the low 16 bits of the CRC-32 of the header.
        if crc.sum() as u16 != u16::from_le_bytes([stored[0], stored[1]]) {
            return Err("gzip header CRC mismatch");
        }
        len += 2;
    }
    if len > input.len() {
        return Err(TRUNCATED);
    }
    Ok(len)
}

/// Checks the member trailer at the start of `rest` against the `data` the
/// member decompressed to.
pub(crate) fn check_trailer(rest: &[u8], data: &[u8]) -> Result<(), &'static str> {
    let stored = rest.get(..TRAILER_LEN).ok_or("truncated gzip trailer")?;
    let expected = trailer(data);
    if stored[..4] != expected[..4] {
        return Err("gzip CRC-32 mismatch");
    }
    if stored[4..] != expected[4..] {
        return Err("gzip length mismatch");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn header_len_skips_optional_fields() {
        let mut encoder = flate2::GzBuilder::new()
            .filename("batch.pb")
            .comment("otlp")
            .extra(vec![1, 2, 3])
            .write(Vec::new(), flate2::Compression::default());
        encoder.write_all(b"payload").unwrap();
        let member = encoder.finish().unwrap();
        let expected = HEADER_LEN + 2 + 3 + b"batch.pb\0".len() + b"otlp\0".len();
        assert_eq!(header_len(&member), Ok(expected));
        assert_eq!(header_len(&header(6)), Ok(HEADER_LEN));
    }

    #[test]
    fn header_crc_is_checked() {
        let mut member = header(6).to_vec();
        member[3] |= FHCRC;
        let crc = trailer(&member);
        member.extend_from_slice(&crc[..2]);
        assert_eq!(header_len(&member), Ok(HEADER_LEN + 2));
        member[HEADER_LEN] ^= 1;
        assert_eq!(header_len(&member), Err("gzip header CRC mismatch"));
    }

    #[test]
    fn bad_headers_are_rejected() {
        let good = header(6);
        assert_eq!(header_len(&good[..9]), Err("truncated gzip header"));
        let mut bad = good;
        bad[0] = 0;
        assert_eq!(header_len(&bad), Err("bad gzip magic bytes"));
        let mut bad = good;
        bad[2] = 7;
        assert_eq!(header_len(&bad), Err("unsupported gzip compression method"));
        let mut bad = good;
        bad[3] = 0x20;
        assert_eq!(header_len(&bad), Err("reserved gzip header flags set"));
        for flag in [FEXTRA, FNAME, FCOMMENT, FHCRC] {
            let mut bad = good;
            bad[3] = flag;
            assert_eq!(header_len(&bad), Err("truncated gzip header"), "{flag}");
        }
        let mut extra = good.to_vec();
        extra[3] = FEXTRA;
        extra.extend_from_slice(&[5, 0, 1, 2]);
        assert_eq!(header_len(&extra), Err("truncated gzip header"));
    }

    #[test]
    fn trailer_is_checked() {
        let data = b"spans and more spans";
        let good = trailer(data);
        assert_eq!(check_trailer(&good, data), Ok(()));
        assert_eq!(
            check_trailer(&good[..7], data),
            Err("truncated gzip trailer")
        );
        let mut bad = good;
        bad[0] ^= 1;
        assert_eq!(check_trailer(&bad, data), Err("gzip CRC-32 mismatch"));
        let mut bad = good;
        bad[4] ^= 1;
        assert_eq!(check_trailer(&bad, data), Err("gzip length mismatch"));
    }
}

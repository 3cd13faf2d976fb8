//! Byte layout of segment and ack files, and the scanner that frames a
//! segment during recovery. Nothing in here trusts file content: every
//! length is checked against what is left of the file before it is used.

use std::io::{self, Read};

/// Name of the lock file inside the queue directory.
pub(crate) const LOCK_FILE: &str = "lock";

/// First six bytes of every segment file.
pub(crate) const MAGIC: [u8; 6] = *b"OTLPDQ";
/// The segment format this build writes and reads.
pub(crate) const VERSION: u16 = 1;
/// Segment header: magic (6) + version (u16 LE) + reserved (u32, zero) +
/// CRC32C of the first 12 bytes (u32 LE). The checksum lets recovery tell a
/// damaged header (repair it, keep the records) from a file written by a
/// newer format (refuse to touch it).
pub(crate) const SEGMENT_HEADER_LEN: u64 = 16;
/// Record frame header: payload length (u32 LE) + CRC32C of payload (u32 LE).
pub(crate) const FRAME_HEADER_LEN: u64 = 8;
/// Ack log entry: record index (u32 LE) + CRC32C of those four bytes.
pub(crate) const ACK_ENTRY_LEN: u64 = 8;

/// Lock file content: the next segment sequence number (u64 LE) + CRC32C
/// of those eight bytes (u32 LE), so ids are not reused after every
/// segment has been deleted.
pub(crate) const SEQ_MARK_LEN: usize = 12;

pub(crate) fn seq_mark(next_seq: u64) -> [u8; SEQ_MARK_LEN] {
    let mut m = [0u8; SEQ_MARK_LEN];
    m[..8].copy_from_slice(&next_seq.to_le_bytes());
    let crc = crc32c::crc32c(&m[..8]);
    m[8..].copy_from_slice(&crc.to_le_bytes());
    m
}

/// `None` for an empty, short or damaged mark.
pub(crate) fn parse_seq_mark(m: &[u8]) -> Option<u64> {
    let seq: [u8; 8] = m.get(..8)?.try_into().ok()?;
    let crc: [u8; 4] = m.get(8..SEQ_MARK_LEN)?.try_into().ok()?;
    (crc32c::crc32c(&seq) == u32::from_le_bytes(crc)).then(|| u64::from_le_bytes(seq))
}

/// Chunk size used to stream payloads through the checksum during recovery,
/// so a corrupt length never turns into a huge allocation.
const SCAN_CHUNK: usize = 64 * 1024;

pub(crate) fn segment_file_name(seq: u64) -> String {
    format!("seg-{seq:020}.log")
}

pub(crate) fn ack_file_name(seq: u64) -> String {
    format!("seg-{seq:020}.ack")
}

/// A file of ours found in the queue directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    Segment(u64),
    Ack(u64),
}

/// Parses `seg-<20 digits>.log` / `seg-<20 digits>.ack`; anything else is
/// not ours and is left alone.
pub(crate) fn parse_file_name(name: &str) -> Option<FileKind> {
    let rest = name.strip_prefix("seg-")?;
    let (digits, ext) = rest.split_at_checked(20)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let seq: u64 = digits.parse().ok()?;
    match ext {
        ".log" => Some(FileKind::Segment(seq)),
        ".ack" => Some(FileKind::Ack(seq)),
        _ => None,
    }
}

pub(crate) fn segment_header() -> [u8; SEGMENT_HEADER_LEN as usize] {
    let mut h = [0u8; SEGMENT_HEADER_LEN as usize];
    h[..6].copy_from_slice(&MAGIC);
    h[6..8].copy_from_slice(&VERSION.to_le_bytes());
    // h[8..12] reserved, zero.
    let crc = crc32c::crc32c(&h[..12]);
    h[12..16].copy_from_slice(&crc.to_le_bytes());
    h
}

/// What a segment header says about its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeaderCheck {
    /// Our magic and version, checksum intact.
    Ok,
    /// Checksum mismatch: the header bytes are damaged. The records behind
    /// it carry their own checksums, so recovery repairs the header and
    /// still reads them.
    Damaged,
    /// An intact header of another format version.
    Unsupported(u16),
}

pub(crate) fn check_header(h: &[u8; SEGMENT_HEADER_LEN as usize]) -> HeaderCheck {
    let stored = u32::from_le_bytes([h[12], h[13], h[14], h[15]]);
    if crc32c::crc32c(&h[..12]) != stored || h[..6] != MAGIC {
        return HeaderCheck::Damaged;
    }
    let version = u16::from_le_bytes([h[6], h[7]]);
    if version == VERSION {
        HeaderCheck::Ok
    } else {
        HeaderCheck::Unsupported(version)
    }
}

/// Frame header for `payload`; the caller has checked that its length fits
/// in a `u32`.
pub(crate) fn frame_header(payload: &[u8]) -> [u8; FRAME_HEADER_LEN as usize] {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let mut h = [0u8; FRAME_HEADER_LEN as usize];
    h[..4].copy_from_slice(&len.to_le_bytes());
    h[4..].copy_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    h
}

pub(crate) fn parse_frame_header(h: [u8; FRAME_HEADER_LEN as usize]) -> (u32, u32) {
    (
        u32::from_le_bytes([h[0], h[1], h[2], h[3]]),
        u32::from_le_bytes([h[4], h[5], h[6], h[7]]),
    )
}

pub(crate) fn ack_entry(index: u32) -> [u8; ACK_ENTRY_LEN as usize] {
    let idx = index.to_le_bytes();
    let mut e = [0u8; ACK_ENTRY_LEN as usize];
    e[..4].copy_from_slice(&idx);
    e[4..].copy_from_slice(&crc32c::crc32c(&idx).to_le_bytes());
    e
}

/// `None` when the entry's checksum does not match (torn or damaged entry).
pub(crate) fn parse_ack_entry(e: [u8; ACK_ENTRY_LEN as usize]) -> Option<u32> {
    let idx = [e[0], e[1], e[2], e[3]];
    let crc = u32::from_le_bytes([e[4], e[5], e[6], e[7]]);
    (crc32c::crc32c(&idx) == crc).then(|| u32::from_le_bytes(idx))
}

/// Where an intact record sits in its segment file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordLoc {
    /// Offset of the frame header.
    pub(crate) offset: u64,
    /// Payload length.
    pub(crate) len: u32,
}

/// Why framing stopped before the end of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Damage {
    /// Fewer than eight bytes left: a frame header cut short.
    ShortHeader,
    /// The length runs past the end of the file: a torn write, or a damaged
    /// length field.
    BadLength(u32),
    /// The payload does not match its checksum.
    ChecksumMismatch,
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Damage::ShortHeader => f.write_str("frame header cut short"),
            Damage::BadLength(len) => {
                write!(f, "length {len} runs past the end of the file")
            }
            Damage::ChecksumMismatch => f.write_str("payload CRC32C mismatch"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scan {
    pub(crate) records: Vec<RecordLoc>,
    /// End of the last intact record: the file is cut here when damaged.
    pub(crate) valid_end: u64,
    pub(crate) damage: Option<Damage>,
}

/// Reads as much of `buf` as the reader has; short only at end of file.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Frames records from `reader`, positioned at `start`, in a file of
/// `file_len` bytes. Stops at the first record that cannot be trusted:
/// after a bad length nothing later can be framed reliably, and the format
/// has no sync marker to search for, so the scan does not guess.
pub(crate) fn scan_records(mut reader: impl Read, start: u64, file_len: u64) -> io::Result<Scan> {
    let mut records = Vec::new();
    let mut pos = start;
    let mut chunk = vec![0u8; SCAN_CHUNK];
    let damage = loop {
        if pos >= file_len {
            break None;
        }
        if records.len() >= u32::MAX as usize {
            // Record indices are u32; our writer never gets here.
            break Some(Damage::BadLength(0));
        }
        let mut h = [0u8; FRAME_HEADER_LEN as usize];
        if file_len - pos < FRAME_HEADER_LEN || read_full(&mut reader, &mut h)? < h.len() {
            break Some(Damage::ShortHeader);
        }
        let (len, want_crc) = parse_frame_header(h);
        let body_start = pos + FRAME_HEADER_LEN;
        if u64::from(len) > file_len - body_start {
            break Some(Damage::BadLength(len));
        }
        let mut left = len as usize;
        let mut crc = 0u32;
        let mut short = false;
        while left > 0 {
            let n = left.min(chunk.len());
            let got = read_full(&mut reader, &mut chunk[..n])?;
            crc = crc32c::crc32c_append(crc, &chunk[..got]);
            if got < n {
                short = true;
                break;
            }
            left -= n;
        }
        if short {
            // The file shrank under us (it should not: we hold the lock).
            break Some(Damage::BadLength(len));
        }
        if crc != want_crc {
            break Some(Damage::ChecksumMismatch);
        }
        records.push(RecordLoc { offset: pos, len });
        pos = body_start + u64::from(len);
    };
    Ok(Scan {
        records,
        valid_end: pos.min(file_len),
        damage,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut v = frame_header(payload).to_vec();
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(segment_file_name(7), "seg-00000000000000000007.log");
        assert_eq!(
            parse_file_name(&segment_file_name(u64::MAX)),
            Some(FileKind::Segment(u64::MAX))
        );
        assert_eq!(parse_file_name(&ack_file_name(3)), Some(FileKind::Ack(3)));
        for bad in [
            "seg-1.log",
            "seg-99999999999999999999.log",
            "seg-0000000000000000000x.log",
            "seg-00000000000000000001.tmp",
            "lock",
            "seg-00000000000000000001.log.bak",
        ] {
            assert_eq!(parse_file_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn header_checks() {
        let h = segment_header();
        assert_eq!(check_header(&h), HeaderCheck::Ok);
        for i in 0..h.len() {
            let mut d = h;
            d[i] ^= 0x10;
            assert_eq!(check_header(&d), HeaderCheck::Damaged, "byte {i}");
        }
        let mut v2 = h;
        v2[6..8].copy_from_slice(&2u16.to_le_bytes());
        let crc = crc32c::crc32c(&v2[..12]);
        v2[12..].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(check_header(&v2), HeaderCheck::Unsupported(2));
    }

    #[test]
    fn seq_marks() {
        assert_eq!(parse_seq_mark(&seq_mark(77)), Some(77));
        assert_eq!(parse_seq_mark(&[]), None);
        let mut m = seq_mark(77);
        m[3] ^= 1;
        assert_eq!(parse_seq_mark(&m), None);
    }

    #[test]
    fn ack_entries() {
        assert_eq!(parse_ack_entry(ack_entry(42)), Some(42));
        assert_eq!(parse_ack_entry([0; 8]), None);
        let mut e = ack_entry(42);
        e[0] ^= 1;
        assert_eq!(parse_ack_entry(e), None);
    }

    #[test]
    fn scan_stops_at_damage() {
        let mut file = frame(b"one");
        file.extend(frame(b""));
        let good_end = file.len() as u64;
        let mut bad = frame(b"three");
        bad[9] ^= 0xff;
        file.extend(bad);
        file.extend(frame(b"four"));
        let scan = scan_records(&file[..], 0, file.len() as u64).unwrap();
        assert_eq!(scan.records.len(), 2);
        assert_eq!(scan.records[1], RecordLoc { offset: 11, len: 0 });
        assert_eq!(scan.valid_end, good_end);
        assert_eq!(scan.damage, Some(Damage::ChecksumMismatch));
    }

    #[test]
    fn scan_torn_tail() {
        let mut file = frame(b"intact");
        let end = file.len() as u64;
        file.extend(&frame(b"torn record")[..12]);
        let scan = scan_records(&file[..], 0, file.len() as u64).unwrap();
        assert_eq!(scan.records.len(), 1);
        assert_eq!(scan.valid_end, end);
        assert_eq!(scan.damage, Some(Damage::BadLength(11)));
        file.truncate(end as usize + 3);
        let scan = scan_records(&file[..], 0, file.len() as u64).unwrap();
        assert_eq!(scan.damage, Some(Damage::ShortHeader));
    }
}

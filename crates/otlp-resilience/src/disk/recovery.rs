//! Recovery on open: frame every segment, cut it at the first damaged
//! record, apply its ack log, and drop what holds nothing to deliver.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::format::{
    ack_file_name, check_header, parse_ack_entry, parse_file_name, parse_seq_mark, scan_records,
    segment_header, FileKind, HeaderCheck, ACK_ENTRY_LEN, LOCK_FILE, SEGMENT_HEADER_LEN,
    SEQ_MARK_LEN,
};
use super::{
    exhausted, remove_file_logged, DiskError, DiskQueueConfig, DiskStats, FsyncPolicy, Inner,
    RecordId, RecoveryReport, Segment, Slot, State,
};

impl Inner {
    pub(super) fn recover(
        dir: PathBuf,
        config: DiskQueueConfig,
        mut lock: File,
    ) -> Result<(Inner, RecoveryReport), DiskError> {
        let mut mark = Vec::new();
        let lock_path = dir.join(LOCK_FILE);
        (&mut lock)
            .take(SEQ_MARK_LEN as u64)
            .read_to_end(&mut mark)
            .map_err(DiskError::io("read", &lock_path))?;
        let stored_next_seq = parse_seq_mark(&mark).unwrap_or(0);
        let mut report = RecoveryReport::default();
        let mut seg_seqs = BTreeSet::new();
        let mut ack_seqs = BTreeSet::new();
        for entry in fs::read_dir(&dir).map_err(DiskError::io("list", &dir))? {
            let entry = entry.map_err(DiskError::io("list", &dir))?;
            let name = entry.file_name();
            match name.to_str().and_then(parse_file_name) {
                Some(FileKind::Segment(seq)) => {
                    seg_seqs.insert(seq);
                }
                Some(FileKind::Ack(seq)) => {
                    ack_seqs.insert(seq);
                }
                None => {}
            }
        }
        let max_seq = seg_seqs.iter().chain(&ack_seqs).copied().max();
        let durable = config.fsync != FsyncPolicy::Never;

        let mut segments = BTreeMap::new();
        for &seq in &seg_seqs {
            if let Some(seg) = recover_segment(&dir, seq, durable, &mut report)? {
                segments.insert(seq, seg);
            }
        }
        for seq in ack_seqs.difference(&seg_seqs) {
            let path = dir.join(ack_file_name(*seq));
            remove_file_logged(&path);
        }

        let mut stats = DiskStats {
            corrupted: report.corrupted_records,
            ..DiskStats::default()
        };
        for seg in segments.values() {
            stats.disk_bytes += seg.size;
            for slot in seg.unacked() {
                stats.queued_records += 1;
                stats.queued_bytes += u64::from(slot.len);
            }
        }
        report.segments = segments.len() as u64;
        report.records_recovered = stats.queued_records;
        report.bytes_recovered = stats.queued_bytes;

        // New records go to a new segment: the newest old one may end where
        // recovery cut it, and its ack log may hold entries for indices
        // past the cut that must never match new records.
        let next_seq = match max_seq {
            None => 0,
            Some(seq) => seq.checked_add(1).ok_or_else(|| exhausted(&dir))?,
        }
        .max(stored_next_seq);
        report.first_new_segment = next_seq;

        if report.corrupted_records > 0 || report.repaired_headers > 0 {
            tracing::warn!(
                dir = %dir.display(),
                corrupted_records = report.corrupted_records,
                truncated_bytes = report.truncated_bytes,
                repaired_headers = report.repaired_headers,
                records_recovered = report.records_recovered,
                "disk queue recovered with damage"
            );
        }
        let inner = Inner {
            dir,
            config,
            segments,
            lock,
            active: None,
            next_seq,
            active_dirty: false,
            active_poisoned: false,
            dir_dirty: false,
            cursor: RecordId {
                segment: 0,
                index: 0,
            },
            nacked: BTreeSet::new(),
            reader: None,
            last_sync: Instant::now(),
            scratch: Vec::new(),
            stats,
            space_freed: false,
            evicted: Vec::new(),
        };
        Ok((inner, report))
    }
}

/// Recovers one segment file; `None` if it holds nothing left to deliver
/// (its files are then deleted).
fn recover_segment(
    dir: &Path,
    seq: u64,
    durable: bool,
    report: &mut RecoveryReport,
) -> Result<Option<Segment>, DiskError> {
    let mut seg = Segment::new(dir, seq, Vec::new(), 0);
    let path = seg.path.clone();
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .map_err(DiskError::io("open", &path))?;
    let file_len = file.metadata().map_err(DiskError::io("stat", &path))?.len();
    if file_len < SEGMENT_HEADER_LEN {
        // Created, but the header never fully reached the disk: no records.
        if file_len > 0 {
            tracing::warn!(segment = %path.display(), bytes = file_len,
                "disk queue: segment with a torn header removed");
            report.truncated_bytes += file_len;
        }
        drop(file);
        if remove_file_logged(&path) {
            remove_file_logged(&seg.ack_path);
        }
        return Ok(None);
    }
    let mut header = [0u8; SEGMENT_HEADER_LEN as usize];
    file.read_exact(&mut header)
        .map_err(DiskError::io("read", &path))?;
    let mut changed = false;
    match check_header(&header) {
        HeaderCheck::Ok => {}
        HeaderCheck::Unsupported(version) => {
            return Err(DiskError::UnsupportedVersion { path, version });
        }
        HeaderCheck::Damaged => {
            tracing::warn!(segment = %path.display(),
                "disk queue: damaged segment header rewritten; records are checked one by one");
            report.repaired_headers += 1;
            file.seek(SeekFrom::Start(0))
                .and_then(|_| file.write_all(&segment_header()))
                .map_err(DiskError::io("repair header of", &path))?;
            changed = true;
        }
    }
    file.seek(SeekFrom::Start(SEGMENT_HEADER_LEN))
        .map_err(DiskError::io("seek in", &path))?;
    let scan = scan_records(
        BufReader::with_capacity(64 * 1024, &mut file),
        SEGMENT_HEADER_LEN,
        file_len,
    )
    .map_err(DiskError::io("read", &path))?;
    if let Some(damage) = scan.damage {
        let cut = file_len - scan.valid_end;
        tracing::warn!(
            segment = %path.display(),
            offset = scan.valid_end,
            cut_bytes = cut,
            kept_records = scan.records.len(),
            "disk queue: {damage}; segment cut at the damage point"
        );
        report.corrupted_records += 1;
        report.truncated_bytes += cut;
        file.set_len(scan.valid_end)
            .map_err(DiskError::io("truncate", &path))?;
        changed = true;
    }
    if changed && durable {
        file.sync_all().map_err(DiskError::io("fsync", &path))?;
    }
    drop(file);
    seg.size = scan.valid_end;
    seg.slots = scan
        .records
        .iter()
        .map(|r| Slot {
            offset: r.offset,
            len: r.len,
            state: State::Pending,
        })
        .collect();
    load_acks(&mut seg, report)?;
    if seg.fully_acked() {
        if remove_file_logged(&path) {
            remove_file_logged(&seg.ack_path);
        }
        return Ok(None);
    }
    Ok(Some(seg))
}

/// Applies the segment's ack log, if any, and cuts a torn last entry so
/// that entries appended later stay aligned.
fn load_acks(seg: &mut Segment, report: &mut RecoveryReport) -> Result<(), DiskError> {
    let path = seg.ack_path.clone();
    let mut file = match OpenOptions::new().read(true).write(true).open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(DiskError::io("open", &path)(e)),
    };
    let len = file.metadata().map_err(DiskError::io("stat", &path))?.len();
    let whole = len - len % ACK_ENTRY_LEN;
    {
        let mut reader = BufReader::new(&mut file);
        for _ in 0..whole / ACK_ENTRY_LEN {
            let mut e = [0u8; ACK_ENTRY_LEN as usize];
            reader
                .read_exact(&mut e)
                .map_err(DiskError::io("read", &path))?;
            match parse_ack_entry(e) {
                Some(index) => {
                    // Indices past the records are acks of records cut by
                    // recovery: nothing left to skip.
                    if let Some(slot) = seg.slots.get_mut(index as usize) {
                        if slot.state != State::Acked {
                            slot.state = State::Acked;
                            seg.acked += 1;
                        }
                    }
                }
                None => report.ignored_ack_entries += 1,
            }
        }
    }
    if whole != len {
        file.set_len(whole)
            .map_err(DiskError::io("truncate", &path))?;
    }
    seg.ack_len = whole;
    Ok(())
}

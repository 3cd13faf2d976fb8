use std::sync::Arc;

use super::format::{parse_file_name, FileKind};
use super::*;

fn config(segment_size: u64, max_bytes: u64, overflow: Overflow) -> DiskQueueConfig {
    DiskQueueConfig::builder()
        .with_segment_size(segment_size)
        .with_max_bytes(max_bytes)
        .with_fsync(FsyncPolicy::Never)
        .with_overflow(overflow)
        .build()
        .unwrap()
}

fn small() -> DiskQueueConfig {
    config(128, 1 << 30, Overflow::DropNewest)
}

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    v
}

fn payload(i: usize) -> Vec<u8> {
    format!("record-{i:04}-{}", "x".repeat(i % 7)).into_bytes()
}

fn drain(q: &DiskQueue) -> Vec<(RecordId, Bytes)> {
    std::iter::from_fn(|| q.next().unwrap()).collect()
}

fn flip(path: &Path, offset: u64) {
    let mut data = fs::read(path).unwrap();
    data[offset as usize] ^= 0x5a;
    fs::write(path, data).unwrap();
}

#[test]
fn fifo_ack_and_stats() {
    let dir = tempfile::tempdir().unwrap();
    let (q, report) = DiskQueue::open(dir.path(), small()).unwrap();
    assert_eq!(report, RecoveryReport::default());
    assert!(q.next().unwrap().is_none());
    let ids: Vec<_> = (0..10).map(|i| q.push(&payload(i)).unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    let s = q.stats();
    assert_eq!((s.queued_records, s.pushed), (10, 10));
    assert_eq!(
        s.queued_bytes,
        (0..10).map(|i| payload(i).len() as u64).sum::<u64>()
    );
    let got = drain(&q);
    assert_eq!(got.len(), 10);
    for (i, (id, bytes)) in got.iter().enumerate() {
        assert_eq!(*id, ids[i]);
        assert_eq!(&bytes[..], &payload(i)[..]);
    }
    assert_eq!(q.stats().in_flight, 10);
    for (id, _) in &got {
        assert!(q.ack(*id).unwrap());
        assert!(!q.ack(*id).unwrap(), "second ack of {id}");
    }
    let s = q.stats();
    assert_eq!((s.queued_records, s.queued_bytes, s.in_flight), (0, 0, 0));
    assert_eq!(s.acked, 10);
    // Everything but the active segment is gone.
    assert_eq!(files(dir.path(), "log").len(), 1);
    assert_eq!(s.segments, 1);
    assert_eq!(s.disk_bytes, SEGMENT_HEADER_LEN + q_active_size(&q));
}

fn q_active_size(q: &DiskQueue) -> u64 {
    let inner = q.lock();
    inner.active_seg().unwrap().size - SEGMENT_HEADER_LEN
}

#[test]
fn segment_deleted_only_when_fully_acked() {
    let dir = tempfile::tempdir().unwrap();
    let (q, _) = DiskQueue::open(dir.path(), small()).unwrap();
    for i in 0..20 {
        q.push(&payload(i)).unwrap();
    }
    let got = drain(&q);
    let first_seg = got[0].0.segment();
    let in_first: Vec<_> = got
        .iter()
        .filter(|(id, _)| id.segment() == first_seg)
        .collect();
    assert!(in_first.len() > 1);
    let before = files(dir.path(), "log").len();
    // Ack the first segment backwards: the file survives until the last ack.
    for (id, _) in in_first[1..].iter().rev() {
        q.ack(*id).unwrap();
        assert_eq!(files(dir.path(), "log").len(), before);
    }
    q.ack(in_first[0].0).unwrap();
    assert_eq!(files(dir.path(), "log").len(), before - 1);
    assert!(!dir.path().join(ack_file_name(first_seg)).exists());
}

#[test]
fn nack_redelivers_before_newer() {
    let dir = tempfile::tempdir().unwrap();
    let (q, _) = DiskQueue::open(dir.path(), small()).unwrap();
    for i in 0..4 {
        q.push(&payload(i)).unwrap();
    }
    let (a, _) = q.next().unwrap().unwrap();
    let (b, _) = q.next().unwrap().unwrap();
    assert!(q.nack(b));
    assert!(!q.nack(b), "not in flight any more");
    assert!(q.nack(a));
    let order: Vec<_> = drain(&q).into_iter().map(|(id, _)| id.index()).collect();
    assert_eq!(order, [0, 1, 2, 3]);
}

#[test]
fn ack_by_push_id_skips_undelivered_record() {
    let dir = tempfile::tempdir().unwrap();
    let (q, _) = DiskQueue::open(dir.path(), small()).unwrap();
    let ids: Vec<_> = (0..3).map(|i| q.push(&payload(i)).unwrap()).collect();
    assert!(q.ack(ids[1]).unwrap());
    let got: Vec<_> = drain(&q).into_iter().map(|(id, _)| id).collect();
    assert_eq!(got, [ids[0], ids[2]]);
}

#[test]
fn restart_redelivers_unacked_in_order_and_skips_acked() {
    let dir = tempfile::tempdir().unwrap();
    let ids = {
        let (q, _) = DiskQueue::open(dir.path(), small()).unwrap();
        let ids: Vec<_> = (0..30).map(|i| q.push(&payload(i)).unwrap()).collect();
        let _ = drain(&q);
        // Out of order, across segments, leaving some in flight.
        for i in (0..30).filter(|i| i % 3 != 1).rev() {
            q.ack(ids[i]).unwrap();
        }
        ids
    };
    let (q, report) = DiskQueue::open(dir.path(), small()).unwrap();
    let expect: Vec<_> = (0..30).filter(|i| i % 3 == 1).collect();
    assert_eq!(report.records_recovered, expect.len() as u64);
    assert_eq!(report.corrupted_records, 0);
    let got = drain(&q);
    assert_eq!(got.len(), expect.len());
    for ((id, bytes), i) in got.iter().zip(&expect) {
        assert_eq!(*id, ids[*i]);
        assert_eq!(&bytes[..], &payload(*i)[..]);
    }
    // The new active segment comes after every old one.
    let id = q.push(b"new").unwrap();
    assert!(id > *ids.last().unwrap());
}

#[test]
fn corrupted_byte_keeps_intact_records_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(4096, 1 << 30, Overflow::DropNewest);
    {
        let (q, _) = DiskQueue::open(dir.path(), cfg.clone()).unwrap();
        for i in 0..10 {
            q.push(&payload(i)).unwrap();
        }
    }
    let seg = files(dir.path(), "log")[0].clone();
    let len_before = fs::metadata(&seg).unwrap().len();
    // Offset of record 6's payload: header + six frames.
    let off6 = SEGMENT_HEADER_LEN
        + (0..6)
            .map(|i| FRAME_HEADER_LEN + payload(i).len() as u64)
            .sum::<u64>();
    flip(&seg, off6 + FRAME_HEADER_LEN + 2);
    let (q, report) = DiskQueue::open(dir.path(), cfg).unwrap();
    assert_eq!(report.records_recovered, 6);
    assert_eq!(report.corrupted_records, 1);
    assert_eq!(report.truncated_bytes, len_before - off6);
    assert_eq!(fs::metadata(&seg).unwrap().len(), off6);
    assert_eq!(q.stats().corrupted, 1);
    let got: Vec<_> = drain(&q).into_iter().map(|(_, b)| b).collect();
    assert_eq!(
        got,
        (0..6).map(|i| Bytes::from(payload(i))).collect::<Vec<_>>()
    );
}

#[test]
fn damage_in_one_segment_leaves_later_segments() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (q, _) = DiskQueue::open(dir.path(), small()).unwrap();
        for i in 0..20 {
            q.push(&payload(i)).unwrap();
        }
    }
    let segs = files(dir.path(), "log");
    assert!(segs.len() > 3);
    // Break the length field of the first record of the second segment.
    flip(&segs[1], SEGMENT_HEADER_LEN + 3);
    let (q, report) = DiskQueue::open(dir.path(), small()).unwrap();
    assert_eq!(report.corrupted_records, 1);
    let got: Vec<_> = drain(&q).into_iter().map(|(id, _)| id.segment()).collect();
    let second = parse_seq(&segs[1]);
    assert!(!got.contains(&second));
    assert!(got.iter().any(|s| *s > second));
    assert!(got.iter().any(|s| *s < second));
}

fn parse_seq(p: &Path) -> u64 {
    match parse_file_name(p.file_name().unwrap().to_str().unwrap()) {
        Some(FileKind::Segment(s)) => s,
        other => panic!("{other:?}"),
    }
}

#[test]
fn torn_tail_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(4096, 1 << 30, Overflow::DropNewest);
    {
        let (q, _) = DiskQueue::open(dir.path(), cfg.clone()).unwrap();
        for i in 0..5 {
            q.push(&payload(i)).unwrap();
        }
    }
    let seg = files(dir.path(), "log")[0].clone();
    let len = fs::metadata(&seg).unwrap().len();
    let f = OpenOptions::new().write(true).open(&seg).unwrap();
    f.set_len(len - 3).unwrap();
    drop(f);
    let (q, report) = DiskQueue::open(dir.path(), cfg).unwrap();
    assert_eq!(report.records_recovered, 4);
    assert_eq!(report.corrupted_records, 1);
    assert_eq!(drain(&q).len(), 4);
}

#[test]
fn damaged_header_is_repaired_without_loss() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (q, _) = DiskQueue::open(dir.path(), small()).unwrap();
        for i in 0..3 {
            q.push(&payload(i)).unwrap();
        }
    }
    let seg = files(dir.path(), "log")[0].clone();
    flip(&seg, 2);
    let (q, report) = DiskQueue::open(dir.path(), small()).unwrap();
    assert_eq!(report.repaired_headers, 1);
    assert_eq!(report.corrupted_records, 0);
    assert_eq!(drain(&q).len(), 3);
    drop(q);
    let (_, report) = DiskQueue::open(dir.path(), small()).unwrap();
    assert_eq!(report.repaired_headers, 0, "header was rewritten");
}

#[test]
fn newer_format_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = segment_header();
    h[6..8].copy_from_slice(&9u16.to_le_bytes());
    let crc = crc32c::crc32c(&h[..12]);
    h[12..].copy_from_slice(&crc.to_le_bytes());
    let path = dir.path().join(segment_file_name(1));
    fs::write(&path, h).unwrap();
    let err = DiskQueue::open(dir.path(), small()).unwrap_err();
    assert!(
        matches!(err, DiskError::UnsupportedVersion { version: 9, .. }),
        "{err}"
    );
    assert!(path.exists(), "left untouched");
}

#[test]
fn ack_log_damage_only_redelivers() {
    let dir = tempfile::tempdir().unwrap();
    let ids = {
        let (q, _) =
            DiskQueue::open(dir.path(), config(4096, 1 << 30, Overflow::DropNewest)).unwrap();
        let ids: Vec<_> = (0..4).map(|i| q.push(&payload(i)).unwrap()).collect();
        for id in &ids[..3] {
            q.ack(*id).unwrap();
        }
        ids
    };
    let ack = files(dir.path(), "ack")[0].clone();
    flip(&ack, ACK_ENTRY_LEN + 1); // entry for record 1
    let mut data = fs::read(&ack).unwrap();
    data.extend_from_slice(&[1, 2, 3]); // torn trailing entry
    fs::write(&ack, data).unwrap();
    let cfg = config(4096, 1 << 30, Overflow::DropNewest);
    let (q, report) = DiskQueue::open(dir.path(), cfg.clone()).unwrap();
    assert_eq!(report.ignored_ack_entries, 1);
    assert_eq!(fs::metadata(&ack).unwrap().len(), 3 * ACK_ENTRY_LEN);
    let got: Vec<_> = drain(&q).into_iter().map(|(id, _)| id).collect();
    assert_eq!(got, [ids[1], ids[3]]);
    // Acks appended after the repair are read back.
    q.ack(ids[3]).unwrap();
    drop(q);
    let (q, _) = DiskQueue::open(dir.path(), cfg).unwrap();
    let got: Vec<_> = drain(&q).into_iter().map(|(id, _)| id).collect();
    assert_eq!(got, [ids[1]]);
}

#[test]
fn orphans_and_foreign_files() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(ack_file_name(3)), ack_entry(0)).unwrap();
    fs::write(dir.path().join(segment_file_name(5)), [1, 2, 3]).unwrap();
    fs::write(dir.path().join("notes.txt"), "keep me").unwrap();
    let (q, report) = DiskQueue::open(dir.path(), small()).unwrap();
    assert_eq!(report.truncated_bytes, 3);
    assert!(!dir.path().join(ack_file_name(3)).exists());
    assert!(!dir.path().join(segment_file_name(5)).exists());
    assert!(dir.path().join("notes.txt").exists());
    assert!(q.push(b"x").unwrap().segment() > 5);
}

#[test]
fn damage_after_open_is_skipped_on_read() {
    let dir = tempfile::tempdir().unwrap();
    let (q, _) = DiskQueue::open(dir.path(), small()).unwrap();
    let a = q.push(b"first").unwrap();
    q.push(b"second").unwrap();
    let seg = dir.path().join(segment_file_name(a.segment()));
    flip(&seg, SEGMENT_HEADER_LEN + FRAME_HEADER_LEN);
    let (_, bytes) = q.next().unwrap().unwrap();
    assert_eq!(&bytes[..], b"second");
    let s = q.stats();
    assert_eq!((s.corrupted, s.queued_records), (1, 1));
}

#[test]
fn second_open_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let (q, _) = DiskQueue::open(dir.path(), small()).unwrap();
    let err = DiskQueue::open(dir.path(), small()).unwrap_err();
    assert!(matches!(&err, DiskError::Locked { dir: d } if d == dir.path()));
    assert!(err.to_string().contains("already in use"), "{err}");
    drop(q);
    DiskQueue::open(dir.path(), small()).unwrap();
}

#[test]
fn drop_newest_rejects_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let (q, _) = DiskQueue::open(dir.path(), config(128, 512, Overflow::DropNewest)).unwrap();
    let mut ok = 0;
    let err = loop {
        match q.push(&[7; 40]) {
            Ok(_) => ok += 1,
            Err(e) => break e,
        }
    };
    assert!(
        matches!(err, DiskError::Full { max_bytes: 512, .. }),
        "{err}"
    );
    let s = q.stats();
    assert!(s.disk_bytes <= 512);
    assert_eq!((s.dropped_full, s.queued_records), (1, ok));
    // Acking a sealed segment's records frees its space.
    let got = drain(&q);
    for (id, _) in got.iter().take(2) {
        q.ack(*id).unwrap();
    }
    q.push(&[7; 40]).unwrap();
}

#[test]
fn fully_acked_active_segment_is_reclaimed() {
    let dir = tempfile::tempdir().unwrap();
    // One segment as large as the budget: only reclaiming the active one
    // can make room.
    let (q, _) = DiskQueue::open(dir.path(), config(512, 512, Overflow::DropNewest)).unwrap();
    while q.push(&[1; 40]).is_ok() {}
    for (id, _) in drain(&q) {
        q.ack(id).unwrap();
    }
    q.push(&[1; 40]).unwrap();
    assert_eq!(q.stats().segments, 1);
}

#[test]
fn drop_oldest_evicts_whole_segments() {
    let dir = tempfile::tempdir().unwrap();
    let (q, _) = DiskQueue::open(dir.path(), config(128, 512, Overflow::DropOldest)).unwrap();
    let evicted = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = std::sync::Arc::clone(&evicted);
    assert!(q.on_evict(move |ids| seen.lock().unwrap().extend_from_slice(ids)));
    assert!(!q.on_evict(|_| {}), "one hook only");
    let ids: Vec<_> = (0..40).map(|_| q.push(&[3; 40]).unwrap()).collect();
    let s = q.stats();
    assert!(s.disk_bytes <= 512);
    assert!(s.dropped_oldest > 0);
    assert_eq!(s.dropped_oldest + s.queued_records, 40);
    // The hook was told exactly which records went: the oldest ones.
    let evicted = evicted.lock().unwrap().clone();
    assert_eq!(evicted.len() as u64, s.dropped_oldest);
    assert_eq!(evicted, ids[..evicted.len()]);
    // Whatever is left is the newest records, in order.
    let got: Vec<_> = drain(&q).into_iter().map(|(id, _)| id).collect();
    assert_eq!(got, ids[ids.len() - got.len()..]);
    assert!(!q.ack(ids[0]).unwrap(), "dropped");
}

#[test]
fn drop_oldest_evicts_in_flight_records() {
    let dir = tempfile::tempdir().unwrap();
    let (q, _) = DiskQueue::open(dir.path(), config(512, 512, Overflow::DropOldest)).unwrap();
    let first = q.push(&[3; 100]).unwrap();
    assert_eq!(q.next().unwrap().unwrap().0, first);
    for _ in 0..10 {
        q.push(&[3; 100]).unwrap();
    }
    let s = q.stats();
    assert_eq!(s.in_flight, 0);
    assert!(!q.ack(first).unwrap());
    assert!(!q.nack(first));
}

#[test]
fn record_too_large() {
    let dir = tempfile::tempdir().unwrap();
    let (q, _) = DiskQueue::open(dir.path(), config(128, 512, Overflow::DropOldest)).unwrap();
    let max = 512 - SEGMENT_HEADER_LEN - FRAME_HEADER_LEN;
    let err = q.push(&vec![0; max as usize + 1]).unwrap_err();
    assert!(matches!(err, DiskError::RecordTooLarge { max: m, .. } if m == max));
    // The largest record fits, alone in its segment.
    let id = q.push(&vec![0; max as usize]).unwrap();
    assert_eq!(q.next().unwrap().unwrap().0, id);
}

#[test]
fn block_sync_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let deadline = Duration::from_millis(50);
    let (q, _) =
        DiskQueue::open(dir.path(), config(128, 512, Overflow::Block { deadline })).unwrap();
    while q.push(&[0; 40]).is_ok() {}
    let err = q.push(&[0; 40]).unwrap_err();
    assert!(matches!(err, DiskError::FullTimeout { .. }), "{err}");
    assert_eq!(q.stats().dropped_deadline, 2);
}

#[test]
fn block_sync_wakes_on_ack() {
    let dir = tempfile::tempdir().unwrap();
    let deadline = Duration::from_secs(30);
    let (q, _) =
        DiskQueue::open(dir.path(), config(128, 512, Overflow::Block { deadline })).unwrap();
    let q = Arc::new(q);
    let mut ids = Vec::new();
    loop {
        let before = q.stats().disk_bytes;
        if before + 48 + SEGMENT_HEADER_LEN > 512 {
            break;
        }
        ids.push(q.push(&[0; 40]).unwrap());
    }
    let consumer = {
        let q = Arc::clone(&q);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            for (id, _) in drain(&q) {
                q.ack(id).unwrap();
            }
        })
    };
    q.push(&[0; 40]).unwrap();
    consumer.join().unwrap();
    assert_eq!(q.stats().dropped_deadline, 0);
}

/// Lets every other task on this (one-thread) runtime run until it waits.
async fn settle() {
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn block_async_waits_for_ack_then_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let deadline = Duration::from_secs(5);
    let (q, _) =
        DiskQueue::open(dir.path(), config(128, 512, Overflow::Block { deadline })).unwrap();
    let q = Arc::new(q);
    let mut first = Vec::new();
    while q.stats().disk_bytes + 48 + SEGMENT_HEADER_LEN <= 512 {
        first.push(q.push_async(&[0; 40]).await.unwrap());
    }
    let pusher = {
        let q = Arc::clone(&q);
        tokio::spawn(async move { q.push_async(&[1; 40]).await })
    };
    // Lets the pusher run until it waits for space (the test's runtime has
    // one thread): it cannot finish without an ack, and its 5 s deadline is
    // far off.
    settle().await;
    assert!(!pusher.is_finished());
    for id in first {
        q.ack(id).unwrap();
    }
    pusher.await.unwrap().unwrap();

    // And with nobody acking, the deadline fires.
    let dir = tempfile::tempdir().unwrap();
    let deadline = Duration::from_millis(30);
    let (q, _) =
        DiskQueue::open(dir.path(), config(128, 512, Overflow::Block { deadline })).unwrap();
    let err = loop {
        if let Err(e) = q.push_async(&[0; 40]).await {
            break e;
        }
    };
    assert!(matches!(err, DiskError::FullTimeout { .. }), "{err}");
    assert_eq!(q.stats().dropped_deadline, 1);
}

#[tokio::test]
async fn next_async_wakes_on_push_and_nack() {
    let dir = tempfile::tempdir().unwrap();
    let (q, _) = DiskQueue::open(dir.path(), small()).unwrap();
    let q = Arc::new(q);
    let consumer = {
        let q = Arc::clone(&q);
        tokio::spawn(async move { q.next_async().await })
    };
    settle().await;
    assert!(!consumer.is_finished());
    let id = q.push(b"hello").unwrap();
    let (got, bytes) = consumer.await.unwrap().unwrap();
    assert_eq!((got, &bytes[..]), (id, &b"hello"[..]));

    let consumer = {
        let q = Arc::clone(&q);
        tokio::spawn(async move { q.next_async().await })
    };
    settle().await;
    assert!(!consumer.is_finished());
    assert!(q.nack(id));
    assert_eq!(consumer.await.unwrap().unwrap().0, id);
}

#[test]
fn fsync_policies_run() {
    for fsync in [
        FsyncPolicy::EveryRecord,
        FsyncPolicy::Interval(Duration::ZERO),
        FsyncPolicy::Interval(Duration::from_secs(3600)),
        FsyncPolicy::Never,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = DiskQueueConfig::builder()
            .with_segment_size(128)
            .with_fsync(fsync)
            .build()
            .unwrap();
        {
            let (q, _) = DiskQueue::open(dir.path(), cfg.clone()).unwrap();
            let ids: Vec<_> = (0..20).map(|i| q.push(&payload(i)).unwrap()).collect();
            for id in &ids[..10] {
                q.ack(*id).unwrap();
            }
            q.sync().unwrap();
            let inner = q.lock();
            assert!(!inner.active_dirty || matches!(fsync, FsyncPolicy::Never));
        }
        let (q, report) = DiskQueue::open(dir.path(), cfg).unwrap();
        assert_eq!(report.records_recovered, 10, "{fsync:?}");
        assert_eq!(drain(&q).len(), 10);
    }
}

#[test]
fn config_validation() {
    assert!(matches!(
        DiskQueueConfig::builder().with_segment_size(10).build(),
        Err(DiskConfigError::SegmentTooSmall { .. })
    ));
    assert!(matches!(
        DiskQueueConfig::builder()
            .with_segment_size(4096)
            .with_max_bytes(1024)
            .build(),
        Err(DiskConfigError::BudgetBelowSegment { .. })
    ));
    let c = DiskQueueConfig::default();
    assert_eq!(DiskQueueConfig::builder().build().unwrap(), c);
    assert_eq!(c.segment_size, 8 * 1024 * 1024);
}

mod garbage {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// No file content makes open panic, and the queue works afterwards.
        #[test]
        fn open_survives_arbitrary_files(
            seg in proptest::collection::vec(any::<u8>(), 0..600),
            ack in proptest::collection::vec(any::<u8>(), 0..64),
            valid_header in any::<bool>(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let mut seg = seg;
            if valid_header && seg.len() >= SEGMENT_HEADER_LEN as usize {
                seg[..SEGMENT_HEADER_LEN as usize].copy_from_slice(&segment_header());
            }
            fs::write(dir.path().join(segment_file_name(1)), &seg).unwrap();
            fs::write(dir.path().join(ack_file_name(1)), &ack).unwrap();
            match DiskQueue::open(dir.path(), small()) {
                Ok((q, _)) => {
                    while let Some((id, _)) = q.next().unwrap() {
                        q.ack(id).unwrap();
                    }
                    let id = q.push(b"after").unwrap();
                    prop_assert_eq!(q.next().unwrap().unwrap().0, id);
                }
                Err(DiskError::UnsupportedVersion { .. }) => {}
                Err(e) => prop_assert!(false, "{}", e),
            }
        }
    }
}

#[test]
fn ids_not_reused_after_every_segment_is_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let first = {
        let (q, _) = DiskQueue::open(dir.path(), small()).unwrap();
        let id = q.push(b"a").unwrap();
        q.ack(id).unwrap();
        q.push(&[0; 120]).unwrap(); // seals and deletes the first segment
        let (id2, _) = q.next().unwrap().unwrap();
        q.ack(id2).unwrap();
        id2
    };
    // Reopening deletes the last, fully acked segment: no segment is left.
    let (q, _) = DiskQueue::open(dir.path(), small()).unwrap();
    drop(q);
    let (q, _) = DiskQueue::open(dir.path(), small()).unwrap();
    assert!(files(dir.path(), "log").is_empty());
    assert!(q.push(b"b").unwrap() > first);
}

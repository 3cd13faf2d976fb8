//! Model-based tests of `otlp_resilience::disk::DiskQueue`: random
//! sequences of push / next / ack / nack / restart / byte corruption are run
//! against the queue and against a plain in-memory model (a Vec in id order
//! plus an in-flight flag), and every answer is compared.
//!
//! Restarts here drop and reopen the queue in-process, and every push and
//! ack reaches the OS before returning, so the documented duplicate window
//! is empty: a record acked is never delivered again unless its ack-log
//! entry is corrupted, which the model reproduces.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use otlp_resilience::disk::{
    DiskError, DiskQueue, DiskQueueConfig, FsyncPolicy, Overflow, RecordId,
};
use proptest::prelude::*;

const SEGMENT_HEADER: usize = 16;
const FRAME_HEADER: usize = 8;
const ACK_ENTRY: usize = 8;

/// No regression files: failures print their minimal input instead.
/// `PROPTEST_CASES` raises the case count for a longer run.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(cases),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

#[derive(Debug, Clone)]
enum Op {
    Push(u16),
    Next,
    /// Ack the n-th in-flight record.
    Ack(usize),
    /// Ack the n-th queued record by its push id, delivered or not.
    AckQueued(usize),
    /// Ack a record acked before: must be refused.
    AckStale(usize),
    Nack(usize),
    Sync,
    Restart,
    /// Flip a byte of a segment file, then restart.
    CorruptSegment(usize, u64),
    /// Flip a byte of an intact ack-log entry, then restart.
    CorruptAck(usize, usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u16..150).prop_map(Op::Push),
        5 => Just(Op::Next),
        4 => any::<usize>().prop_map(Op::Ack),
        1 => any::<usize>().prop_map(Op::AckQueued),
        1 => any::<usize>().prop_map(Op::AckStale),
        2 => any::<usize>().prop_map(Op::Nack),
        1 => Just(Op::Sync),
        1 => Just(Op::Restart),
        1 => (any::<usize>(), any::<u64>()).prop_map(|(f, o)| Op::CorruptSegment(f, o)),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(f, e)| Op::CorruptAck(f, e)),
    ]
}

fn fsync() -> impl Strategy<Value = FsyncPolicy> {
    prop_oneof![
        Just(FsyncPolicy::Never),
        Just(FsyncPolicy::EveryRecord),
        Just(FsyncPolicy::Interval(Duration::ZERO)),
        Just(FsyncPolicy::Interval(Duration::from_secs(3600))),
    ]
}

#[derive(Debug)]
struct Entry {
    id: RecordId,
    payload: Vec<u8>,
    in_flight: bool,
}

#[derive(Debug, Default)]
struct Model {
    /// Unacked records, in id (= push) order.
    queue: Vec<Entry>,
    /// Acked records still on disk (their ack could be lost to corruption).
    acked: BTreeMap<RecordId, Vec<u8>>,
    last_id: Option<RecordId>,
    pushes: u32,
}

impl Model {
    fn payload(&mut self, len: u16) -> Vec<u8> {
        self.pushes += 1;
        let mut p = self.pushes.to_le_bytes().to_vec();
        p.resize(4 + len as usize, (self.pushes % 251) as u8);
        p
    }

    fn in_flight(&self) -> Vec<usize> {
        (0..self.queue.len())
            .filter(|&i| self.queue[i].in_flight)
            .collect()
    }

    fn insert(&mut self, id: RecordId, payload: Vec<u8>) {
        let at = self.queue.partition_point(|e| e.id < id);
        self.queue.insert(
            at,
            Entry {
                id,
                payload,
                in_flight: false,
            },
        );
    }
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

fn seq_of(path: &Path) -> u64 {
    let name = path.file_stem().unwrap().to_str().unwrap();
    name.strip_prefix("seg-").unwrap().parse().unwrap()
}

/// Frame boundaries of an intact segment, by an independent walk.
fn frames(data: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut pos = SEGMENT_HEADER;
    while pos + FRAME_HEADER <= data.len() {
        let len = u32::from_le_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
        let end = pos + FRAME_HEADER + len;
        assert!(end <= data.len(), "segment not intact before corruption");
        out.push((pos, end));
        pos = end;
    }
    assert_eq!(pos, data.len(), "segment not intact before corruption");
    out
}

fn valid_ack_entry(e: &[u8]) -> Option<u32> {
    let idx: [u8; 4] = e[..4].try_into().unwrap();
    let crc = u32::from_le_bytes(e[4..8].try_into().unwrap());
    (crc32c::crc32c(&idx) == crc).then(|| u32::from_le_bytes(idx))
}

struct Harness {
    dir: tempfile::TempDir,
    config: DiskQueueConfig,
    queue: Option<DiskQueue>,
    model: Model,
}

impl Harness {
    fn q(&self) -> &DiskQueue {
        self.queue.as_ref().unwrap()
    }

    /// Reopens and checks the recovery report against the model.
    fn restart(&mut self, corrupted: u64, repaired: u64) -> Result<(), TestCaseError> {
        self.queue = None;
        let (q, report) = DiskQueue::open(self.dir.path(), self.config.clone()).unwrap();
        self.queue = Some(q);
        for e in &mut self.model.queue {
            e.in_flight = false;
        }
        prop_assert_eq!(report.corrupted_records, corrupted);
        prop_assert_eq!(report.repaired_headers, repaired);
        prop_assert_eq!(report.records_recovered, self.model.queue.len() as u64);
        prop_assert_eq!(
            report.bytes_recovered,
            self.model
                .queue
                .iter()
                .map(|e| e.payload.len() as u64)
                .sum::<u64>()
        );
        Ok(())
    }

    fn check_stats(&self) -> Result<(), TestCaseError> {
        let s = self.q().stats();
        prop_assert_eq!(s.queued_records, self.model.queue.len() as u64);
        prop_assert_eq!(s.in_flight, self.model.in_flight().len() as u64);
        Ok(())
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match *op {
            Op::Push(len) => {
                let payload = self.model.payload(len);
                let id = self.q().push(&payload).unwrap();
                prop_assert!(self.model.last_id < Some(id), "ids grow");
                self.model.last_id = Some(id);
                self.model.insert(id, payload);
            }
            Op::Next => {
                let got = self.q().next().unwrap();
                let want = self.model.queue.iter_mut().find(|e| !e.in_flight);
                match (want, got) {
                    (None, None) => {}
                    (Some(want), Some((id, bytes))) => {
                        prop_assert_eq!(id, want.id);
                        prop_assert_eq!(&bytes[..], &want.payload[..]);
                        want.in_flight = true;
                    }
                    (want, got) => prop_assert!(false, "model {:?}, queue {:?}", want, got),
                }
            }
            Op::Ack(k) | Op::AckQueued(k) => {
                let candidates = match op {
                    Op::Ack(_) => self.model.in_flight(),
                    _ => (0..self.model.queue.len()).collect(),
                };
                if candidates.is_empty() {
                    return Ok(());
                }
                let e = self.model.queue.remove(candidates[k % candidates.len()]);
                prop_assert!(self.q().ack(e.id).unwrap());
                self.model.acked.insert(e.id, e.payload);
            }
            Op::AckStale(k) => {
                if let Some((&id, _)) = self
                    .model
                    .acked
                    .iter()
                    .nth(k % self.model.acked.len().max(1))
                {
                    prop_assert!(!self.q().ack(id).unwrap());
                }
            }
            Op::Nack(k) => {
                let in_flight = self.model.in_flight();
                if in_flight.is_empty() {
                    return Ok(());
                }
                let at = in_flight[k % in_flight.len()];
                prop_assert!(self.q().nack(self.model.queue[at].id));
                self.model.queue[at].in_flight = false;
            }
            Op::Sync => self.q().sync().unwrap(),
            Op::Restart => self.restart(0, 0)?,
            Op::CorruptSegment(f, off) => {
                let segs = files(self.dir.path(), "log");
                if segs.is_empty() {
                    return Ok(());
                }
                self.queue = None;
                let path = &segs[f % segs.len()];
                let seq = seq_of(path);
                let mut data = fs::read(path).unwrap();
                let off = (off % data.len() as u64) as usize;
                let hit = frames(&data).iter().position(|&(s, e)| s <= off && off < e);
                data[off] ^= 0x5a;
                fs::write(path, &data).unwrap();
                let (corrupted, repaired) = match hit {
                    None => (0, 1),
                    Some(index) => {
                        // That record and every later one in the segment.
                        let cut =
                            |id: &RecordId| id.segment() == seq && id.index() as usize >= index;
                        self.model.queue.retain(|e| !cut(&e.id));
                        self.model.acked.retain(|id, _| !cut(id));
                        (1, 0)
                    }
                };
                self.restart(corrupted, repaired)?;
            }
            Op::CorruptAck(f, k) => {
                let acks = files(self.dir.path(), "ack");
                if acks.is_empty() {
                    return Ok(());
                }
                self.queue = None;
                let path = &acks[f % acks.len()];
                let seq = seq_of(path);
                let mut data = fs::read(path).unwrap();
                prop_assert_eq!(data.len() % ACK_ENTRY, 0);
                let valid: Vec<(usize, u32)> = data
                    .chunks(ACK_ENTRY)
                    .enumerate()
                    .filter_map(|(i, e)| valid_ack_entry(e).map(|idx| (i, idx)))
                    .collect();
                if let Some(&(entry, index)) = valid.get(k % valid.len().max(1)) {
                    data[entry * ACK_ENTRY + k % ACK_ENTRY] ^= 0x5a;
                    fs::write(path, &data).unwrap();
                    // The ack is lost: the record comes back, if still on disk.
                    let id = self
                        .model
                        .acked
                        .keys()
                        .find(|id| id.segment() == seq && id.index() == index)
                        .copied();
                    if let Some(id) = id {
                        let payload = self.model.acked.remove(&id).unwrap();
                        self.model.insert(id, payload);
                    }
                }
                self.restart(0, 0)?;
            }
        }
        self.check_stats()
    }
}

proptest! {
    #![proptest_config(config(160))]

    #[test]
    fn disk_queue_matches_model(
        segment_size in prop_oneof![Just(64u64), Just(200), Just(4096)],
        fsync in fsync(),
        ops in proptest::collection::vec(op(), 1..80),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let config = DiskQueueConfig::builder()
            .with_segment_size(segment_size)
            .with_fsync(fsync)
            .build()
            .unwrap();
        let (queue, _) = DiskQueue::open(dir.path(), config.clone()).unwrap();
        let mut h = Harness { dir, config, queue: Some(queue), model: Model::default() };
        for op in &ops {
            h.apply(op)?;
        }
        // After a last restart everything unacked comes back, in order, once.
        h.restart(0, 0)?;
        let mut delivered = Vec::new();
        while let Some((id, bytes)) = h.q().next().unwrap() {
            delivered.push((id, bytes.to_vec()));
        }
        let want: Vec<_> = h.model.queue.iter().map(|e| (e.id, e.payload.clone())).collect();
        prop_assert_eq!(delivered, want);
    }
}

#[derive(Debug, Clone)]
enum BudgetOp {
    Push(u16),
    Next,
    Ack(usize),
    Nack(usize),
    Restart,
}

fn budget_op() -> impl Strategy<Value = BudgetOp> {
    prop_oneof![
        6 => (0u16..120).prop_map(BudgetOp::Push),
        4 => Just(BudgetOp::Next),
        3 => any::<usize>().prop_map(BudgetOp::Ack),
        1 => any::<usize>().prop_map(BudgetOp::Nack),
        1 => Just(BudgetOp::Restart),
    ]
}

proptest! {
    #![proptest_config(config(128))]

    /// Under a small budget the queue never exceeds it, drops are counted,
    /// `DropOldest` drops whole oldest segments, and what is left is
    /// delivered exactly as the model says.
    #[test]
    fn budget_overflow_matches_model(
        drop_oldest in any::<bool>(),
        ops in proptest::collection::vec(budget_op(), 1..120),
    ) {
        let max_bytes = 1000;
        let overflow = if drop_oldest { Overflow::DropOldest } else { Overflow::DropNewest };
        let config = DiskQueueConfig::builder()
            .with_segment_size(200)
            .with_max_bytes(max_bytes)
            .with_fsync(FsyncPolicy::Never)
            .with_overflow(overflow)
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut q = Some(DiskQueue::open(dir.path(), config.clone()).unwrap().0);
        let mut model = Model::default();
        for op in &ops {
            let queue = q.as_ref().unwrap();
            match *op {
                BudgetOp::Push(len) => {
                    let payload = model.payload(len);
                    let before = queue.stats();
                    let result = queue.push(&payload);
                    let after = queue.stats();
                    prop_assert!(after.disk_bytes <= max_bytes);
                    match result {
                        Ok(id) => {
                            let dropped = (after.dropped_oldest - before.dropped_oldest) as usize;
                            prop_assert!(drop_oldest || dropped == 0);
                            let gone: Vec<Entry> = model.queue.drain(..dropped).collect();
                            if let (Some(last), Some(next)) = (gone.last(), model.queue.first()) {
                                prop_assert!(last.id.segment() < next.id.segment(), "whole segments");
                            }
                            model.insert(id, payload);
                        }
                        Err(DiskError::Full { .. }) => {
                            prop_assert!(!drop_oldest);
                            prop_assert_eq!(after.dropped_full, before.dropped_full + 1);
                        }
                        Err(e) => prop_assert!(false, "{}", e),
                    }
                }
                BudgetOp::Next => {
                    let want = model.queue.iter_mut().find(|e| !e.in_flight);
                    match (want, queue.next().unwrap()) {
                        (None, None) => {}
                        (Some(want), Some((id, bytes))) => {
                            prop_assert_eq!(id, want.id);
                            prop_assert_eq!(&bytes[..], &want.payload[..]);
                            want.in_flight = true;
                        }
                        (want, got) => prop_assert!(false, "model {:?}, queue {:?}", want, got),
                    }
                }
                BudgetOp::Ack(k) => {
                    let in_flight = model.in_flight();
                    if !in_flight.is_empty() {
                        let e = model.queue.remove(in_flight[k % in_flight.len()]);
                        prop_assert!(queue.ack(e.id).unwrap());
                    }
                }
                BudgetOp::Nack(k) => {
                    let in_flight = model.in_flight();
                    if !in_flight.is_empty() {
                        let e = &mut model.queue[in_flight[k % in_flight.len()]];
                        prop_assert!(queue.nack(e.id));
                        e.in_flight = false;
                    }
                }
                BudgetOp::Restart => {
                    drop(q.take());
                    let (queue, report) = DiskQueue::open(dir.path(), config.clone()).unwrap();
                    prop_assert_eq!(report.records_recovered, model.queue.len() as u64);
                    q = Some(queue);
                    for e in &mut model.queue {
                        e.in_flight = false;
                    }
                }
            }
            let s = q.as_ref().unwrap().stats();
            prop_assert_eq!(s.queued_records, model.queue.len() as u64);
            prop_assert!(s.disk_bytes <= max_bytes);
        }
    }
}

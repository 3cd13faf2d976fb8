//! A durable on-disk FIFO queue of opaque records (encoded OTLP batches)
//! with at-least-once delivery, in the spirit of the OpenTelemetry
//! Collector's persistent queue and Vector's disk buffer.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use otlp_resilience::disk::{DiskQueue, DiskQueueConfig, FsyncPolicy};
//!
//! let dir = tempfile::tempdir()?;
//! let config = DiskQueueConfig::builder()
//!     .with_fsync(FsyncPolicy::EveryRecord)
//!     .build()?;
//! let (queue, _report) = DiskQueue::open(dir.path(), config.clone())?;
//! queue.push(b"batch 1")?;
//! queue.push(b"batch 2")?;
//! let (id, batch) = queue.next()?.expect("a record is queued");
//! assert_eq!(&batch[..], b"batch 1");
//! queue.ack(id)?; // delivered: never handed out again
//!
//! drop(queue); // a crash would do the same
//! let (queue, report) = DiskQueue::open(dir.path(), config)?;
//! assert_eq!(report.records_recovered, 1);
//! assert_eq!(&queue.next()?.expect("redelivered").1[..], b"batch 2");
//! # Ok(()) }
//! ```
//!
//! # Delivery
//!
//! [`DiskQueue::push`] appends a record and returns its [`RecordId`].
//! [`DiskQueue::next`] hands out the oldest record that is neither acked nor
//! in flight; several records may be in flight at once. [`DiskQueue::ack`]
//! marks one delivered (acks may come in any order);
//! [`DiskQueue::nack`] makes an in-flight record available again, ahead of
//! newer ones. After a restart every record not acked is handed out again,
//! oldest first: duplicates are possible, losses are not (short of disk
//! damage, see below, or records dropped by the overflow policy).
//! [`DiskQueue::next_async`] waits for a record.
//!
//! # On-disk format
//!
//! The directory holds a `lock` file (held with an exclusive OS file lock
//! while a [`DiskQueue`] is open, so a second open in this or any other
//! process fails with [`DiskError::Locked`]) and, per segment:
//!
//! * `seg-<20-digit sequence>.log`: a 16-byte header (magic `OTLPDQ`,
//!   version `u16` LE = 1, 4 reserved zero bytes, CRC32C of the first 12
//!   bytes as `u32` LE) followed by records, each
//!   `[u32 LE payload length][u32 LE CRC32C of payload][payload]`.
//!   A record is appended to the newest segment unless that would take it
//!   past `segment_size`, in which case a new segment is started (a record
//!   larger than `segment_size` gets one of its own). The first push after
//!   an open starts a new segment, so a segment is never appended to after
//!   recovery may have cut it.
//! * `seg-<same sequence>.ack`: the ack log of that segment, one 8-byte
//!   entry per acked record: `[u32 LE record index][u32 LE CRC32C of those
//!   four bytes]`. Acks may be out of order; a restart skips every record
//!   whose entry is intact.
//!
//! The `lock` file also holds the next segment number (`u64` LE + CRC32C),
//! so record ids are not reused even after every segment was deleted.
//!
//! A segment's files are deleted once every record in it is acked and it is
//! not the segment being written, the `.log` first so that a crash in
//! between leaves an orphan ack log (removed on open) rather than a segment
//! that would be delivered again.
//!
//! # Durability and the loss window
//!
//! Each push and ack reaches the operating system (`write(2)`, no user-space
//! buffer) before it returns, so a crash of the process loses nothing, and
//! an ack returned `Ok(true)` is never redelivered after a process restart.
//! [`FsyncPolicy`] decides what an OS crash or power loss may take:
//!
//! * `EveryRecord`: nothing acknowledged. `push` returns only after the
//!   record is fsynced (a new segment's directory entry too), `ack` only
//!   after its ack entry is. Records in flight are redelivered.
//! * `Interval(d)`: records pushed, and acks made, after the last completed
//!   fsync. An fsync runs in the first push or ack at least `d` after the
//!   previous fsync, in [`DiskQueue::sync`], on drop, and when a segment is
//!   sealed. With steady traffic that is about `d` of records; after a burst
//!   followed by silence, the burst until the next push, ack or `sync()`.
//!   Lost acks mean duplicates, never losses.
//! * `Never`: whatever the kernel had not written back (about 30 s by
//!   default on Linux).
//!
//! If `push` returns an I/O error the record may nonetheless be queued (the
//! write succeeded, the fsync did not): retrying it can duplicate it, as
//! at-least-once delivery allows. After a failed fsync the segment is
//! sealed and writing continues in a new one.
//!
//! # Recovery
//!
//! [`DiskQueue::open`] reads the segments in order and frames their
//! records. The first record that cannot be trusted (a frame header cut
//! short, a length running past the end of the file, a CRC mismatch) ends
//! that segment: every intact record before it is kept, the file is
//! truncated there, the cut is logged with `tracing::warn!` and counted in
//! the [`RecoveryReport`], and the following segments are still read.
//! Records *after* a damaged one in the same segment are cut too: the
//! format has no sync marker, and a guess at where the next frame starts
//! could hand out bytes that were never a record (a payload may itself
//! contain valid-looking frames). Correctness wins over cleverness; a
//! smaller `segment_size` bounds what one damaged byte can take. A damaged
//! segment *header* costs nothing: the records carry their own checksums, so
//! the header is rewritten and the records read. A damaged ack entry is
//! ignored, so its record is delivered again.
//!
//! No file content makes `open` panic; I/O errors while reading are
//! returned rather than treated as damage, so a flaky disk never makes the
//! queue throw data away.
//!
//! # Disk budget
//!
//! `max_bytes` bounds the segment files together. Acked records keep their
//! bytes until their whole segment is acked and deleted; an active segment
//! whose records are all acked is sealed and deleted as soon as a push
//! needs its space. When a record does not fit, [`Overflow`] decides:
//! reject it, delete the oldest segments whole, or wait for acks.
//! Every dropped record is counted by reason in [`DiskStats`].

mod config;
mod error;
mod format;
mod recovery;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::future::Future;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::Notify;

pub use config::{DiskConfigError, DiskQueueConfig, DiskQueueConfigBuilder, FsyncPolicy, Overflow};
pub use error::DiskError;

use format::{
    ack_entry, ack_file_name, frame_header, parse_frame_header, segment_file_name, segment_header,
    seq_mark, ACK_ENTRY_LEN, FRAME_HEADER_LEN, LOCK_FILE, SEGMENT_HEADER_LEN,
};

/// Identifies a queued record: its segment and its index in that segment.
/// Ids grow in push order and stay valid across restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordId {
    segment: u64,
    index: u32,
}

impl RecordId {
    /// Sequence number of the segment file holding the record.
    pub fn segment(&self) -> u64 {
        self.segment
    }

    /// Position of the record in its segment, from 0.
    pub fn index(&self) -> u32 {
        self.index
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.segment, self.index)
    }
}

/// What [`DiskQueue::open`] found on disk.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveryReport {
    /// Intact records not yet acked: they will be delivered again.
    pub records_recovered: u64,
    /// Payload bytes of those records.
    pub bytes_recovered: u64,
    /// Damage points found: torn or corrupted records, one per segment at
    /// most, since a segment is cut at its first damaged record.
    pub corrupted_records: u64,
    /// Bytes cut from segments at damage points (including any intact
    /// records that followed a damaged one in the same segment).
    pub truncated_bytes: u64,
    /// Segment files kept because they hold unacked records.
    pub segments: u64,
    /// Segment headers found damaged and rewritten (no records lost).
    pub repaired_headers: u64,
    /// Ack log entries that failed their checksum; their records, if any,
    /// are delivered again.
    pub ignored_ack_entries: u64,
    /// The segment the first record pushed after this open goes to: every
    /// record in a lower segment was found on disk (see
    /// [`is_recovered`](Self::is_recovered)).
    pub first_new_segment: u64,
}

impl RecoveryReport {
    /// Whether `id` is a record found on disk at this open, rather than one
    /// pushed since.
    pub fn is_recovered(&self, id: RecordId) -> bool {
        id.segment < self.first_new_segment
    }
}

/// A snapshot of a [`DiskQueue`]'s counters, from [`DiskQueue::stats`].
/// Drop and corruption counters count since this open.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DiskStats {
    /// Records not yet acked, in flight or not.
    pub queued_records: u64,
    /// Payload bytes of those records.
    pub queued_bytes: u64,
    /// Records handed out by `next` and neither acked nor nacked.
    pub in_flight: u64,
    /// Bytes of all segment files (what `max_bytes` bounds).
    pub disk_bytes: u64,
    /// Segment files, including the one being written.
    pub segments: u64,
    /// Records pushed.
    pub pushed: u64,
    /// Records acked.
    pub acked: u64,
    /// Records rejected under [`Overflow::DropNewest`].
    pub dropped_full: u64,
    /// Records rejected after the [`Overflow::Block`] deadline.
    pub dropped_deadline: u64,
    /// Unacked records deleted under [`Overflow::DropOldest`].
    pub dropped_oldest: u64,
    /// Records found damaged: at recovery (damage points) or when read back
    /// for delivery (then skipped).
    pub corrupted: u64,
}

/// A durable FIFO queue of records in a directory; see the
/// [module docs](self) for the format and guarantees.
///
/// All methods take `&self`; share it between producer and consumer tasks
/// with an `Arc`. File I/O runs on the calling thread under an internal
/// mutex: from async code, call `push`, `next`, `ack` and `sync` on a
/// blocking thread (`spawn_blocking`) and wait for records with
/// [`record_available`](Self::record_available), as the exporters do.
pub struct DiskQueue {
    inner: Mutex<Inner>,
    /// Signalled when space may have been freed (sync `push` under `Block`).
    space_cv: Condvar,
    /// Same, for `push_async`.
    space: Notify,
    /// Signalled when a record may have become available.
    records: Notify,
    /// Told about records deleted unsent to make room.
    on_evict: std::sync::OnceLock<EvictHook>,
    dir: PathBuf,
    config: DiskQueueConfig,
}

type EvictHook = Box<dyn Fn(&[RecordId]) + Send + Sync>;

impl fmt::Debug for DiskQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiskQueue")
            .field("dir", &self.dir)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl DiskQueue {
    /// Opens (creating if needed) the queue in `dir`, locks it, and recovers
    /// every segment found there.
    ///
    /// Fails with [`DiskError::Locked`] if another `DiskQueue` has `dir`
    /// open, and with [`DiskError::UnsupportedVersion`] if a segment was
    /// written by another format version.
    pub fn open(
        dir: impl AsRef<Path>,
        config: DiskQueueConfig,
    ) -> Result<(DiskQueue, RecoveryReport), DiskError> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(DiskError::io("create directory", &dir))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(DiskError::io("open lock file", &lock_path))?;
        // std's advisory file lock (Rust 1.89+): no dependency, and it
        // works on every platform std supports.
        let locked = lock.try_lock();
        match locked {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(DiskError::Locked { dir }),
            Err(TryLockError::Error(e)) => {
                return Err(DiskError::io("lock", &lock_path)(e));
            }
        }
        let (inner, report) = Inner::recover(dir.clone(), config.clone(), lock)?;
        let queue = DiskQueue {
            inner: Mutex::new(inner),
            space_cv: Condvar::new(),
            space: Notify::new(),
            records: Notify::new(),
            on_evict: std::sync::OnceLock::new(),
            dir,
            config,
        };
        Ok((queue, report))
    }

    /// The queue directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The configuration the queue was opened with.
    pub fn config(&self) -> &DiskQueueConfig {
        &self.config
    }

    /// Appends a record, applying the fsync policy, and returns its id.
    ///
    /// When the record does not fit in `max_bytes`: under `DropNewest` it
    /// fails with [`DiskError::Full`]; under `DropOldest` the oldest
    /// segments are deleted; under `Block` this blocks the thread until an
    /// ack frees space or the deadline passes ([`DiskError::FullTimeout`]);
    /// from async code use [`push_async`](Self::push_async) instead.
    /// A record that could never fit fails with
    /// [`DiskError::RecordTooLarge`].
    pub fn push(&self, record: &[u8]) -> Result<RecordId, DiskError> {
        let mut inner = self.lock();
        let result = match self.config.overflow {
            Overflow::Block { deadline } => {
                let until = Instant::now() + deadline;
                loop {
                    match inner.try_push(record, false) {
                        Ok(Pushed::Queued(id)) => break Ok(id),
                        Ok(Pushed::NoSpace { .. }) => {}
                        Err(e) => break Err(e),
                    }
                    let now = Instant::now();
                    if now >= until {
                        inner.stats.dropped_deadline += 1;
                        break Err(DiskError::FullTimeout { deadline });
                    }
                    inner = self
                        .space_cv
                        .wait_timeout(inner, until - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
            }
            // Under DropOldest a push runs out of space only if eviction
            // could not free enough, which the size check rules out; should
            // it happen anyway, it is reported like DropNewest.
            Overflow::DropNewest | Overflow::DropOldest => {
                let evict = self.config.overflow == Overflow::DropOldest;
                match inner.try_push(record, evict) {
                    Ok(Pushed::Queued(id)) => Ok(id),
                    Ok(Pushed::NoSpace { needed }) => {
                        inner.stats.dropped_full += 1;
                        let max_bytes = self.config.max_bytes;
                        Err(DiskError::Full {
                            needed,
                            free: max_bytes.saturating_sub(inner.stats.disk_bytes),
                            max_bytes,
                        })
                    }
                    Err(e) => Err(e),
                }
            }
        };
        self.finish(inner);
        if result.is_ok() {
            self.records.notify_waiters();
        }
        result
    }

    /// Like [`push`](Self::push), but under [`Overflow::Block`] waits for
    /// space asynchronously (needs a tokio runtime with the time driver).
    /// Under the other policies it is `push`.
    pub async fn push_async(&self, record: &[u8]) -> Result<RecordId, DiskError> {
        let Overflow::Block { deadline } = self.config.overflow else {
            return self.push(record);
        };
        let until = tokio::time::Instant::now() + deadline;
        loop {
            // Registered before the attempt, so an ack between the attempt
            // and the await still wakes us.
            let mut freed = pin!(self.space.notified());
            freed.as_mut().enable();
            match self.try_push_once(record)? {
                Pushed::Queued(id) => {
                    self.records.notify_waiters();
                    return Ok(id);
                }
                Pushed::NoSpace { .. } => {}
            }
            if tokio::time::timeout_at(until, freed).await.is_err() {
                self.lock().stats.dropped_deadline += 1;
                return Err(DiskError::FullTimeout { deadline });
            }
        }
    }

    /// Hands out the oldest record that is neither acked nor in flight, and
    /// marks it in flight; `None` when there is none right now.
    ///
    /// A record whose bytes no longer match their checksum when read back is
    /// skipped and counted in [`DiskStats::corrupted`].
    pub fn next(&self) -> Result<Option<(RecordId, Bytes)>, DiskError> {
        let mut inner = self.lock();
        let result = inner.next();
        self.finish(inner);
        result
    }

    /// Waits until a record is available, then hands it out like
    /// [`next`](Self::next). Cancel-safe: a record is only marked in flight
    /// when this returns it.
    pub async fn next_async(&self) -> Result<(RecordId, Bytes), DiskError> {
        loop {
            let mut available = pin!(self.records.notified());
            available.as_mut().enable();
            if let Some(record) = self.next()? {
                return Ok(record);
            }
            available.await;
        }
    }

    /// Marks a record delivered, in any order. Returns `Ok(false)` if the
    /// id is not queued (already acked, dropped, or cut by recovery). The
    /// ack is appended to the segment's ack log (fsynced per the policy);
    /// on an error the record stays unacked.
    pub fn ack(&self, id: RecordId) -> Result<bool, DiskError> {
        let mut inner = self.lock();
        let result = inner.ack(id);
        self.finish(inner);
        result
    }

    /// Makes an in-flight record available again: the next `next` hands it
    /// out before any newer record. Returns `false` if `id` was not in
    /// flight. Retry pacing is the caller's.
    pub fn nack(&self, id: RecordId) -> bool {
        let released = self.lock().nack(id);
        if released {
            self.records.notify_waiters();
        }
        released
    }

    /// Registers interest in new records now; the future completes once a
    /// record may have become available since this call (a push, a nack).
    /// Call it before a [`next`](Self::next) that may return `None`, then
    /// await it: no record pushed in between is missed.
    pub fn record_available(&self) -> impl Future<Output = ()> + Send + '_ {
        let mut notified = Box::pin(self.records.notified());
        notified.as_mut().enable();
        notified
    }

    /// Calls `hook` with the ids of the records deleted unsent to make room
    /// (under [`Overflow::DropOldest`]), after each push that deleted some,
    /// so that a caller who knows what each record held can count what was
    /// lost. In-flight records may be among them. Only the first hook set
    /// is kept; returns `false` if one was already set.
    pub fn on_evict(&self, hook: impl Fn(&[RecordId]) + Send + Sync + 'static) -> bool {
        self.on_evict.set(Box::new(hook)).is_ok()
    }

    /// Forces everything written so far (records, acks, new files) to
    /// stable storage, whatever the fsync policy.
    pub fn sync(&self) -> Result<(), DiskError> {
        self.lock().sync_all()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> DiskStats {
        let inner = self.lock();
        let mut stats = inner.stats.clone();
        stats.segments = inner.segments.len() as u64;
        stats
    }

    fn try_push_once(&self, record: &[u8]) -> Result<Pushed, DiskError> {
        let mut inner = self.lock();
        let attempt = inner.try_push(record, false);
        self.finish(inner);
        attempt
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Inner stays consistent at every await-free step, so a panic on
        // another thread while holding the lock does not poison the data.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Releases the lock, reports evicted records and wakes blocked pushers
    /// if space was freed.
    fn finish(&self, mut inner: MutexGuard<'_, Inner>) {
        let freed = std::mem::take(&mut inner.space_freed);
        let evicted = std::mem::take(&mut inner.evicted);
        drop(inner);
        if !evicted.is_empty() {
            if let Some(hook) = self.on_evict.get() {
                hook(&evicted);
            }
        }
        if freed {
            self.space_cv.notify_all();
            self.space.notify_waiters();
        }
    }
}

impl Drop for DiskQueue {
    fn drop(&mut self) {
        let inner = self.inner.get_mut().unwrap_or_else(PoisonError::into_inner);
        if inner.config.fsync != FsyncPolicy::Never {
            if let Err(e) = inner.sync_all() {
                tracing::warn!(error = %e, "disk queue: final fsync on close failed");
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Pending,
    InFlight,
    Acked,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    offset: u64,
    len: u32,
    state: State,
}

#[derive(Debug)]
struct Segment {
    path: PathBuf,
    ack_path: PathBuf,
    slots: Vec<Slot>,
    /// Length of the segment file.
    size: u64,
    acked: usize,
    in_flight: usize,
    /// Append handle on the ack log, opened on the first ack.
    ack_file: Option<File>,
    /// Length of the ack log: where a failed append is cut back to.
    ack_len: u64,
    ack_dirty: bool,
}

impl Segment {
    fn new(dir: &Path, seq: u64, slots: Vec<Slot>, size: u64) -> Self {
        Segment {
            path: dir.join(segment_file_name(seq)),
            ack_path: dir.join(ack_file_name(seq)),
            slots,
            size,
            acked: 0,
            in_flight: 0,
            ack_file: None,
            ack_len: 0,
            ack_dirty: false,
        }
    }

    fn fully_acked(&self) -> bool {
        self.acked == self.slots.len()
    }

    fn unacked(&self) -> impl Iterator<Item = &Slot> {
        self.slots.iter().filter(|s| s.state != State::Acked)
    }

    /// Appends an ack entry for `index` to the ack log.
    fn write_ack(
        &mut self,
        index: u32,
        fsync: FsyncPolicy,
        dir: &Path,
        dir_dirty: &mut bool,
    ) -> Result<(), DiskError> {
        let file = match &mut self.ack_file {
            Some(file) => file,
            slot @ None => {
                let file = OpenOptions::new()
                    .append(true)
                    .create(true)
                    .open(&self.ack_path)
                    .map_err(DiskError::io("create ack log", &self.ack_path))?;
                match fsync {
                    FsyncPolicy::EveryRecord => {
                        if let Err(e) = sync_dir(dir) {
                            // A lost ack log only means duplicates.
                            tracing::warn!(error = %e, dir = %dir.display(),
                                "disk queue: fsync of directory failed");
                        }
                    }
                    FsyncPolicy::Interval(_) => *dir_dirty = true,
                    FsyncPolicy::Never => {}
                }
                slot.insert(file)
            }
        };
        if let Err(e) = file.write_all(&ack_entry(index)) {
            // Cut a partial entry back out so later entries stay aligned.
            if let Err(e) = file.set_len(self.ack_len) {
                tracing::warn!(error = %e, path = %self.ack_path.display(),
                    "disk queue: could not cut a failed ack entry; later acks of this segment may be redelivered");
            }
            return Err(DiskError::io("append to ack log", &self.ack_path)(e));
        }
        self.ack_len += ACK_ENTRY_LEN;
        match fsync {
            FsyncPolicy::EveryRecord => {
                if let Err(e) = file.sync_data() {
                    // The entry is with the OS; only a power loss could
                    // drop it, which costs a duplicate, not data.
                    tracing::warn!(error = %e, path = %self.ack_path.display(),
                        "disk queue: fsync of ack log failed");
                }
            }
            FsyncPolicy::Interval(_) => self.ack_dirty = true,
            FsyncPolicy::Never => {}
        }
        Ok(())
    }
}

enum Pushed {
    Queued(RecordId),
    NoSpace { needed: u64 },
}

struct Inner {
    dir: PathBuf,
    config: DiskQueueConfig,
    segments: BTreeMap<u64, Segment>,
    /// Holds the OS lock on `dir/lock` (released when dropped) and the
    /// next segment number.
    lock: File,
    /// The segment being written (always in `segments` too) and its
    /// append handle. Created by the first push after open, so an open
    /// alone adds nothing to the disk.
    active: Option<(u64, File)>,
    /// Sequence number of the next segment: above every file ever seen.
    next_seq: u64,
    active_dirty: bool,
    /// An append or fsync failed on the active segment: seal it and write
    /// to a new one on the next push.
    active_poisoned: bool,
    /// A new file's directory entry still needs an fsync (Interval).
    dir_dirty: bool,
    /// Next record never handed out since open.
    cursor: RecordId,
    /// Records released by `nack`, all before `cursor`: handed out first.
    nacked: BTreeSet<RecordId>,
    /// Cached read handle for the segment last read by `next`.
    reader: Option<(u64, File)>,
    last_sync: Instant,
    /// Frame assembly buffer, so a record is one `write(2)`.
    scratch: Vec<u8>,
    stats: DiskStats,
    /// Set when a segment was deleted or became reclaimable.
    space_freed: bool,
    /// Unacked records deleted by eviction, reported by `finish`.
    evicted: Vec<RecordId>,
}

/// Largest scratch buffer kept between pushes.
const SCRATCH_KEEP: usize = 1 << 20;

impl Inner {
    fn active_seq(&self) -> Option<u64> {
        self.active.as_ref().map(|(seq, _)| *seq)
    }

    fn active_seg(&self) -> Option<&Segment> {
        self.segments.get(&self.active_seq()?)
    }

    fn needs_roll(&self, frame: u64) -> bool {
        let Some(seg) = self.active_seg() else {
            return true;
        };
        self.active_poisoned
            || (!seg.slots.is_empty()
                && (seg.size + frame > self.config.segment_size
                    || seg.slots.len() >= u32::MAX as usize))
    }

    /// Bytes a record frame of `frame` bytes adds to the disk, counting
    /// the header of a new segment if it needs one.
    fn needed(&self, frame: u64) -> u64 {
        frame
            + if self.needs_roll(frame) {
                SEGMENT_HEADER_LEN
            } else {
                0
            }
    }

    fn fits(&self, frame: u64) -> bool {
        self.stats.disk_bytes + self.needed(frame) <= self.config.max_bytes
    }

    fn try_push(&mut self, record: &[u8], evict: bool) -> Result<Pushed, DiskError> {
        let max = self
            .config
            .max_bytes
            .saturating_sub(SEGMENT_HEADER_LEN + FRAME_HEADER_LEN)
            .min(u64::from(u32::MAX));
        if record.len() as u64 > max {
            return Err(DiskError::RecordTooLarge {
                len: record.len(),
                max,
            });
        }
        let frame = FRAME_HEADER_LEN + record.len() as u64;
        if !self.fits(frame) {
            // An active segment whose records are all acked only waits for
            // a successor before it can be deleted.
            if self
                .active_seg()
                .is_some_and(|s| !s.slots.is_empty() && s.fully_acked())
            {
                self.roll()?;
            }
            if evict {
                while !self.fits(frame) && self.evict_oldest()? {}
            }
            if !self.fits(frame) {
                return Ok(Pushed::NoSpace {
                    needed: self.needed(frame),
                });
            }
        }
        if self.needs_roll(frame) {
            self.roll()?;
        }
        self.append(record, frame)
    }

    fn append(&mut self, record: &[u8], frame: u64) -> Result<Pushed, DiskError> {
        let (Some((seq, file)), segments) = (&mut self.active, &mut self.segments) else {
            return Err(missing_active(&self.dir));
        };
        let Some(seg) = segments.get_mut(seq) else {
            return Err(missing_active(&self.dir));
        };
        let id = RecordId {
            segment: *seq,
            index: seg.slots.len() as u32,
        };
        let offset = seg.size;
        self.scratch.clear();
        self.scratch.extend_from_slice(&frame_header(record));
        self.scratch.extend_from_slice(record);
        let written = file.write_all(&self.scratch);
        if self.scratch.capacity() > SCRATCH_KEEP {
            self.scratch = Vec::new();
        }
        if let Err(e) = written {
            // Take a partial frame back out so later records stay framed;
            // failing that, continue in a new segment (recovery will cut
            // the torn tail of this one).
            if file.set_len(offset).is_err() {
                self.active_poisoned = true;
            }
            return Err(DiskError::io("append to", &seg.path)(e));
        }
        seg.slots.push(Slot {
            offset,
            len: record.len() as u32,
            state: State::Pending,
        });
        seg.size += frame;
        self.stats.disk_bytes += frame;
        self.stats.queued_records += 1;
        self.stats.queued_bytes += record.len() as u64;
        self.stats.pushed += 1;
        self.active_dirty = true;
        match self.config.fsync {
            FsyncPolicy::EveryRecord => self.sync_all()?,
            FsyncPolicy::Interval(every) => self.sync_if_due(every)?,
            FsyncPolicy::Never => {}
        }
        Ok(Pushed::Queued(id))
    }

    /// Deletes the oldest segment (sealing the active one first if it is
    /// the oldest). `false` when nothing is left to delete.
    fn evict_oldest(&mut self) -> Result<bool, DiskError> {
        let Some(&oldest) = self.segments.keys().next() else {
            return Ok(false);
        };
        if Some(oldest) != self.active_seq() {
            self.remove_segment(oldest, true);
            return Ok(true);
        }
        if self.active_seg().is_some_and(|s| s.slots.is_empty()) {
            return Ok(false);
        }
        self.roll()?;
        Ok(true)
    }

    /// Seals the active segment and starts the next one.
    fn roll(&mut self) -> Result<(), DiskError> {
        let durable = self.config.fsync != FsyncPolicy::Never;
        if let Some((old, file)) = &self.active {
            if durable && self.active_dirty && !self.active_poisoned {
                let path = self.dir.join(segment_file_name(*old));
                file.sync_data().map_err(DiskError::io("fsync", &path))?;
                self.active_dirty = false;
            }
        }
        let seq = self.next_seq;
        let next_seq = seq.checked_add(1).ok_or_else(|| exhausted(&self.dir))?;
        let (file, seg) = create_segment(&self.dir, seq, durable)?;
        self.next_seq = next_seq;
        self.store_next_seq(durable);
        self.stats.disk_bytes += seg.size;
        self.segments.insert(seq, seg);
        let old = self.active.replace((seq, file)).map(|(old, _)| old);
        self.active_dirty = false;
        self.active_poisoned = false;
        if let Some(old) = old {
            if self.segments.get(&old).is_some_and(Segment::fully_acked) {
                self.remove_segment(old, false);
            }
        }
        Ok(())
    }

    /// Records the next segment number in the lock file, so that ids stay
    /// unique even once every segment is deleted. Best effort: should it be
    /// lost, the only risk is a reused id for a record pushed after all
    /// older ones were acked.
    fn store_next_seq(&mut self, durable: bool) {
        let lock = &mut self.lock;
        let result = lock
            .seek(SeekFrom::Start(0))
            .and_then(|_| lock.write_all(&seq_mark(self.next_seq)))
            .and_then(|()| if durable { lock.sync_data() } else { Ok(()) });
        if let Err(e) = result {
            tracing::warn!(error = %e, dir = %self.dir.display(),
                "disk queue: could not record the next segment number");
        }
    }

    /// Forgets a segment and deletes its files. `evicted`: its unacked
    /// records count as dropped.
    fn remove_segment(&mut self, seq: u64, evicted: bool) {
        let Some(seg) = self.segments.remove(&seq) else {
            return;
        };
        let mut unacked = 0u64;
        for (index, slot) in seg.slots.iter().enumerate() {
            if slot.state == State::Acked {
                continue;
            }
            unacked += 1;
            self.stats.queued_bytes -= u64::from(slot.len);
            if evicted {
                self.evicted.push(RecordId {
                    segment: seq,
                    index: index as u32,
                });
            }
        }
        self.stats.queued_records -= unacked;
        self.stats.in_flight -= seg.in_flight as u64;
        self.stats.disk_bytes = self.stats.disk_bytes.saturating_sub(seg.size);
        if evicted && unacked > 0 {
            self.stats.dropped_oldest += unacked;
            tracing::warn!(
                segment = %seg.path.display(),
                records = unacked,
                "disk queue over budget: dropped the oldest segment"
            );
        }
        self.nacked.retain(|id| id.segment != seq);
        if self.reader.as_ref().is_some_and(|(s, _)| *s == seq) {
            self.reader = None;
        }
        self.space_freed = true;
        let Segment {
            path,
            ack_path,
            ack_file,
            ..
        } = seg;
        drop(ack_file);
        // The log first: should we stop in between, an orphan ack log is
        // removed on open, while a log without its acks would be
        // delivered again.
        if remove_file_logged(&path) {
            remove_file_logged(&ack_path);
        }
    }

    fn next(&mut self) -> Result<Option<(RecordId, Bytes)>, DiskError> {
        loop {
            let id = match self.nacked.pop_first() {
                Some(id) => id,
                None => match self.advance_cursor() {
                    Some(id) => id,
                    None => return Ok(None),
                },
            };
            let Some(seg) = self.segments.get_mut(&id.segment) else {
                continue;
            };
            let Some(slot) = seg.slots.get_mut(id.index as usize) else {
                continue;
            };
            if slot.state != State::Pending {
                continue;
            }
            slot.state = State::InFlight;
            let slot = *slot;
            seg.in_flight += 1;
            self.stats.in_flight += 1;
            match read_record(&mut self.reader, id.segment, &seg.path, slot) {
                Ok(Some(bytes)) => return Ok(Some((id, bytes))),
                Ok(None) => {
                    tracing::warn!(
                        segment = %seg.path.display(),
                        record = %id,
                        "disk queue: record damaged on disk since it was written; skipped"
                    );
                    self.stats.corrupted += 1;
                    self.mark_acked(id);
                }
                Err(e) => {
                    // Leave it first in line for the next attempt.
                    if let Some(s) = seg.slots.get_mut(id.index as usize) {
                        s.state = State::Pending;
                    }
                    seg.in_flight -= 1;
                    self.stats.in_flight -= 1;
                    self.nacked.insert(id);
                    return Err(e);
                }
            }
        }
    }

    /// The next never-handed-out pending record, moving the cursor past it.
    fn advance_cursor(&mut self) -> Option<RecordId> {
        loop {
            let (&seq, seg) = self.segments.range(self.cursor.segment..).next()?;
            if seq != self.cursor.segment {
                self.cursor = RecordId {
                    segment: seq,
                    index: 0,
                };
            }
            while let Some(slot) = seg.slots.get(self.cursor.index as usize) {
                let id = self.cursor;
                self.cursor.index += 1;
                if slot.state == State::Pending {
                    return Some(id);
                }
            }
            if Some(seq) == self.active_seq() {
                return None;
            }
            self.cursor = RecordId {
                segment: seq + 1,
                index: 0,
            };
        }
    }

    fn ack(&mut self, id: RecordId) -> Result<bool, DiskError> {
        let fsync = self.config.fsync;
        let Some(seg) = self.segments.get_mut(&id.segment) else {
            return Ok(false);
        };
        match seg.slots.get(id.index as usize) {
            Some(slot) if slot.state != State::Acked => {}
            _ => return Ok(false),
        }
        seg.write_ack(id.index, fsync, &self.dir, &mut self.dir_dirty)?;
        self.mark_acked(id);
        self.stats.acked += 1;
        if let FsyncPolicy::Interval(every) = fsync {
            // The ack itself is written; a failed fsync here concerns
            // earlier pushes, whose callers have their answer already.
            if let Err(e) = self.sync_if_due(every) {
                tracing::warn!(error = %e, "disk queue: periodic fsync failed");
            }
        }
        Ok(true)
    }

    /// Marks a record acked in memory and deletes its segment once the
    /// segment is done.
    fn mark_acked(&mut self, id: RecordId) {
        let Some(seg) = self.segments.get_mut(&id.segment) else {
            return;
        };
        let Some(slot) = seg.slots.get_mut(id.index as usize) else {
            return;
        };
        let prev = slot.state;
        if prev == State::Acked {
            return;
        }
        slot.state = State::Acked;
        seg.acked += 1;
        if prev == State::InFlight {
            seg.in_flight -= 1;
            self.stats.in_flight -= 1;
        } else {
            self.nacked.remove(&id);
        }
        self.stats.queued_records -= 1;
        self.stats.queued_bytes -= u64::from(slot.len);
        if seg.fully_acked() {
            if Some(id.segment) == self.active_seq() {
                // Reclaimable by the next push that needs the space.
                self.space_freed = true;
            } else {
                self.remove_segment(id.segment, false);
            }
        }
    }

    fn nack(&mut self, id: RecordId) -> bool {
        let Some(seg) = self.segments.get_mut(&id.segment) else {
            return false;
        };
        let Some(slot) = seg.slots.get_mut(id.index as usize) else {
            return false;
        };
        if slot.state != State::InFlight {
            return false;
        }
        slot.state = State::Pending;
        seg.in_flight -= 1;
        self.stats.in_flight -= 1;
        self.nacked.insert(id);
        true
    }

    fn sync_if_due(&mut self, every: Duration) -> Result<(), DiskError> {
        if self.last_sync.elapsed() >= every {
            self.sync_all()?;
        }
        Ok(())
    }

    fn sync_all(&mut self) -> Result<(), DiskError> {
        if let (Some((seq, file)), true) = (&self.active, self.active_dirty) {
            if let Err(e) = file.sync_data() {
                // After a failed fsync the kernel may have dropped the dirty
                // pages; do not trust this file with more records.
                self.active_poisoned = true;
                let path = self.dir.join(segment_file_name(*seq));
                return Err(DiskError::io("fsync", &path)(e));
            }
            self.active_dirty = false;
        }
        for seg in self.segments.values_mut().filter(|s| s.ack_dirty) {
            if let Some(file) = &seg.ack_file {
                if let Err(e) = file.sync_data() {
                    tracing::warn!(error = %e, path = %seg.ack_path.display(),
                        "disk queue: fsync of ack log failed");
                }
            }
            seg.ack_dirty = false;
        }
        if self.dir_dirty {
            sync_dir(&self.dir).map_err(DiskError::io("fsync directory", &self.dir))?;
            self.dir_dirty = false;
        }
        self.last_sync = Instant::now();
        Ok(())
    }
}

fn exhausted(dir: &Path) -> DiskError {
    DiskError::Io {
        op: "allocate a segment number in",
        path: dir.to_path_buf(),
        source: io::Error::other("segment sequence numbers exhausted"),
    }
}

fn missing_active(dir: &Path) -> DiskError {
    DiskError::Io {
        op: "find the active segment in",
        path: dir.to_path_buf(),
        source: io::Error::other("internal error: active segment missing"),
    }
}

/// Creates segment `seq` with its header; `durable`: fsync it and the
/// directory so the new file survives a power loss.
fn create_segment(dir: &Path, seq: u64, durable: bool) -> Result<(File, Segment), DiskError> {
    let seg = Segment::new(dir, seq, Vec::new(), SEGMENT_HEADER_LEN);
    let mut file = OpenOptions::new()
        .append(true)
        .create_new(true)
        .open(&seg.path)
        .map_err(DiskError::io("create segment", &seg.path))?;
    file.write_all(&segment_header())
        .map_err(DiskError::io("write header of", &seg.path))?;
    if durable {
        file.sync_data()
            .map_err(DiskError::io("fsync", &seg.path))?;
        sync_dir(dir).map_err(DiskError::io("fsync directory", dir))?;
    }
    Ok((file, seg))
}

/// Reads and checks one record; `Ok(None)` if it no longer matches its
/// frame or checksum.
fn read_record(
    cache: &mut Option<(u64, File)>,
    seq: u64,
    path: &Path,
    slot: Slot,
) -> Result<Option<Bytes>, DiskError> {
    if cache.as_ref().is_none_or(|(s, _)| *s != seq) {
        let file = File::open(path).map_err(DiskError::io("open", path))?;
        *cache = Some((seq, file));
    }
    let Some((_, file)) = cache.as_mut() else {
        return Ok(None);
    };
    let read = |file: &mut File| -> io::Result<Option<Bytes>> {
        file.seek(SeekFrom::Start(slot.offset))?;
        let mut h = [0u8; FRAME_HEADER_LEN as usize];
        file.read_exact(&mut h)?;
        let (len, crc) = parse_frame_header(h);
        if len != slot.len {
            return Ok(None);
        }
        let mut buf = vec![0u8; len as usize];
        file.read_exact(&mut buf)?;
        Ok((crc32c::crc32c(&buf) == crc).then(|| Bytes::from(buf)))
    };
    match read(file) {
        Ok(r) => Ok(r),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => {
            *cache = None;
            Err(DiskError::io("read", path)(e))
        }
    }
}

/// Removes a file, treating "already gone" as done. `false` (and a
/// warning) if it is still there.
fn remove_file_logged(path: &Path) -> bool {
    match fs::remove_file(path) {
        Ok(()) => true,
        Err(e) if e.kind() == io::ErrorKind::NotFound => true,
        Err(e) => {
            tracing::warn!(error = %e, path = %path.display(), "disk queue: could not delete file");
            false
        }
    }
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    // Windows has no directory fsync; NTFS journals metadata.
    Ok(())
}

use std::time::Duration;

use super::format::{FRAME_HEADER_LEN, SEGMENT_HEADER_LEN};

/// When [`DiskQueue`](super::DiskQueue) forces written data to stable
/// storage with `fsync` (`File::sync_data`).
///
/// Every push and ack is handed to the operating system before the call
/// returns, so a crash of the *process* (panic, `SIGKILL`, OOM kill) loses
/// nothing under any policy. The policy only decides what an *operating
/// system* crash or power loss can take:
///
/// | policy | records that can be lost | acks that can be lost (redelivered) |
/// |---|---|---|
/// | `EveryRecord` | none whose `push` returned `Ok` | none whose `ack` returned `Ok(true)` |
/// | `Interval(d)` | those pushed after the last completed fsync | those made after it |
/// | `Never` | whatever the OS had not yet written back | likewise |
///
/// With `Interval(d)` an fsync runs inside the `push` or `ack` that finds at
/// least `d` has passed since the previous one, and in
/// [`DiskQueue::sync`](super::DiskQueue::sync) and on drop. Under steady
/// traffic that bounds the window to about `d` of records; if traffic stops
/// right after a burst, the burst stays unsynced until the next push/ack,
/// `sync()` or drop. Call `sync()` from a timer for a wall-clock bound.
/// With `Never` the bound is the kernel's writeback (about 30 s on a default
/// Linux).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FsyncPolicy {
    /// fsync after every push and every ack, before the call returns.
    EveryRecord,
    /// fsync when at least this long has passed since the last fsync,
    /// checked on push and ack, plus on [`DiskQueue::sync`](super::DiskQueue::sync)
    /// and on drop.
    Interval(Duration),
    /// Never fsync; leave write-back to the operating system.
    Never,
}

/// What a push does when the record does not fit in the disk budget
/// (`max_bytes`): the queue-wide [`Overflow`](crate::queue::Overflow)
/// policy, applied on disk as follows.
///
/// - `DropNewest` rejects the new record with
///   [`DiskError::Full`](super::DiskError::Full), counted in
///   `DiskStats::dropped_full` (what the OpenTelemetry Collector's sending
///   queue does, and the default);
/// - `DropOldest` deletes the oldest segments, whole, until the record fits;
///   their unacked records (in flight or not) are counted in
///   `DiskStats::dropped_oldest`;
/// - `Block { deadline }` waits for the consumer to free space by acking, up
///   to `deadline`, then fails with
///   [`DiskError::FullTimeout`](super::DiskError::FullTimeout) (counted in
///   `DiskStats::dropped_deadline`); use
///   [`DiskQueue::push_async`](super::DiskQueue::push_async) from async code,
///   [`DiskQueue::push`](super::DiskQueue::push) blocks the thread.
pub use crate::queue::Overflow;

/// Settings of a [`DiskQueue`](super::DiskQueue); build with
/// [`DiskQueueConfig::builder`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DiskQueueConfig {
    /// A new segment file is started when appending would take the current
    /// one past this many bytes (a single larger record gets a segment of
    /// its own). Space is reclaimed a whole segment at a time. Default
    /// 8 MiB.
    pub segment_size: u64,
    /// Budget in bytes for all segment files together (headers and frames
    /// included; the small ack logs, 8 bytes per acked record, are not).
    /// Acked records keep using space until their whole segment is acked.
    /// Default 1 GiB.
    pub max_bytes: u64,
    /// When data is forced to disk. Default `Interval(1 s)`.
    pub fsync: FsyncPolicy,
    /// What to do when a record does not fit. Default `DropNewest`.
    pub overflow: Overflow,
}

impl Default for DiskQueueConfig {
    fn default() -> Self {
        Self {
            segment_size: 8 * 1024 * 1024,
            max_bytes: 1024 * 1024 * 1024,
            fsync: FsyncPolicy::Interval(Duration::from_secs(1)),
            overflow: Overflow::DropNewest,
        }
    }
}

impl DiskQueueConfig {
    /// Smallest accepted `segment_size`, in bytes.
    pub const MIN_SEGMENT_SIZE: u64 = SEGMENT_HEADER_LEN + FRAME_HEADER_LEN + 40;

    /// A builder starting from the defaults.
    pub fn builder() -> DiskQueueConfigBuilder {
        DiskQueueConfigBuilder {
            config: Self::default(),
        }
    }
}

/// Builder for [`DiskQueueConfig`].
#[derive(Debug, Clone)]
pub struct DiskQueueConfigBuilder {
    config: DiskQueueConfig,
}

impl DiskQueueConfigBuilder {
    /// Segment file size in bytes; see [`DiskQueueConfig::segment_size`].
    pub fn with_segment_size(mut self, bytes: u64) -> Self {
        self.config.segment_size = bytes;
        self
    }

    /// Disk budget in bytes; see [`DiskQueueConfig::max_bytes`].
    pub fn with_max_bytes(mut self, bytes: u64) -> Self {
        self.config.max_bytes = bytes;
        self
    }

    /// The fsync policy.
    pub fn with_fsync(mut self, fsync: FsyncPolicy) -> Self {
        self.config.fsync = fsync;
        self
    }

    /// The overflow policy.
    pub fn with_overflow(mut self, overflow: Overflow) -> Self {
        self.config.overflow = overflow;
        self
    }

    /// Checks the settings.
    pub fn build(self) -> Result<DiskQueueConfig, DiskConfigError> {
        let c = self.config;
        if c.segment_size < DiskQueueConfig::MIN_SEGMENT_SIZE {
            return Err(DiskConfigError::SegmentTooSmall {
                segment_size: c.segment_size,
                min: DiskQueueConfig::MIN_SEGMENT_SIZE,
            });
        }
        // Space comes back a segment at a time; a budget below one segment
        // could only ever hold part of one and never free it.
        if c.max_bytes < c.segment_size {
            return Err(DiskConfigError::BudgetBelowSegment {
                max_bytes: c.max_bytes,
                segment_size: c.segment_size,
            });
        }
        Ok(c)
    }
}

/// An invalid [`DiskQueueConfig`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DiskConfigError {
    /// `segment_size` is below [`DiskQueueConfig::MIN_SEGMENT_SIZE`].
    #[error("disk queue segment_size of {segment_size} bytes is below the minimum of {min} bytes")]
    SegmentTooSmall {
        /// The configured size.
        segment_size: u64,
        /// The minimum.
        min: u64,
    },
    /// `max_bytes` is smaller than one segment.
    #[error(
        "disk queue max_bytes ({max_bytes}) must be at least segment_size ({segment_size}): \
         space is reclaimed a whole segment at a time"
    )]
    BudgetBelowSegment {
        /// The configured budget.
        max_bytes: u64,
        /// The configured segment size.
        segment_size: u64,
    },
}

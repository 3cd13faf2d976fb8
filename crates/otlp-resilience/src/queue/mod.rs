//! A bounded in-memory queue for encoded batches, with an explicit policy
//! for what happens when it is full.
//!
//! [`BoundedQueue`] sits between the code that produces batches and the
//! exporter tasks that send them: many producers, many consumers, limits in
//! telemetry items and in bytes. When a push does not fit, the
//! [`Overflow`] policy decides:
//!
//! * [`DropNewest`](Overflow::DropNewest) refuses the new batch — what the
//!   OpenTelemetry Collector's sending queue does; the data already waiting
//!   is older and closer to being sent.
//! * [`DropOldest`](Overflow::DropOldest) evicts from the front until the
//!   new batch fits — keeps the freshest telemetry, for dashboards that care
//!   about "now".
//! * [`Block`](Overflow::Block) makes [`BoundedQueue::push_async`] wait for
//!   consumers to free space, up to a deadline, then drop the batch —
//!   backpressure for producers that can afford to wait.
//!
//! The drop policies never wait and never block a thread:
//! [`BoundedQueue::push`] is a plain function holding a mutex for a few
//! pointer moves. Waiting (consumers for items, `Block` producers for space)
//! parks the task on a [`tokio::sync::Notify`], registered before the state
//! is checked so no wake-up is lost; there is no polling loop.
//!
//! # Counting what is lost
//!
//! A batch of 512 spans dropped is 512 spans lost, not "1". Queued values
//! implement [`Weighted`], which reports both a size in bytes (for the byte
//! limit) and a number of telemetry items (spans, data points, log records;
//! for the item limit and for [`QueueStats`]). Every dropped batch is
//! counted by reason, in items, so `queued + sent + dropped` adds up to what
//! was produced.
//!
//! The on-disk queue in [`crate::disk`] offers the same three policies;
//! [`Overflow`] is defined here so that both can be configured with one
//! type.

mod bounded;
mod error;

use std::time::Duration;

pub use bounded::{BoundedQueue, BoundedQueueBuilder};
pub use error::{ConfigError, QueueError};

/// What a queue does when a new batch does not fit. Shared by the in-memory
/// [`BoundedQueue`] and the on-disk queue; each documents how it applies the
/// policy (units, what "space is freed" means for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Overflow {
    /// Drop the new batch and keep what is queued. The default, as in the
    /// OpenTelemetry Collector.
    #[default]
    DropNewest,
    /// Drop the oldest queued batches until the new one fits.
    DropOldest,
    /// Wait for consumers to free space, up to `deadline`, then drop the new
    /// batch.
    Block {
        /// Longest a push waits for space.
        deadline: Duration,
    },
}

/// A value with a size, as the queue limits and stats see it.
///
/// ```
/// use otlp_resilience::queue::Weighted;
///
/// struct EncodedBatch { bytes: bytes::Bytes, spans: u32 }
///
/// impl Weighted for EncodedBatch {
///     fn weight(&self) -> usize { self.bytes.len() }
///     fn items(&self) -> u64 { u64::from(self.spans) }
/// }
/// ```
pub trait Weighted {
    /// Size in bytes, counted against the byte limit.
    fn weight(&self) -> usize;

    /// Telemetry items (spans, data points, log records) in the value,
    /// counted against the item limit and in the drop statistics.
    fn items(&self) -> u64;
}

/// Opaque bytes: their length, as one item.
impl Weighted for bytes::Bytes {
    fn weight(&self) -> usize {
        self.len()
    }

    fn items(&self) -> u64 {
        1
    }
}

/// Opaque bytes: their length, as one item.
impl Weighted for Vec<u8> {
    fn weight(&self) -> usize {
        self.len()
    }

    fn items(&self) -> u64 {
        1
    }
}

/// What a successful push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PushOutcome {
    /// The batch was queued.
    Queued,
    /// The queue was full under [`Overflow::DropNewest`]: the batch was
    /// dropped (and counted in [`QueueStats::dropped_newest`]).
    DroppedNewest,
    /// The batch was queued after evicting the oldest batches under
    /// [`Overflow::DropOldest`] (counted in [`QueueStats::dropped_oldest`]).
    DroppedOldest {
        /// Batches evicted.
        batches: usize,
        /// Items in them.
        items: u64,
    },
    /// No space freed up within the [`Overflow::Block`] deadline: the batch
    /// was dropped (and counted in [`QueueStats::dropped_timeout`]).
    DroppedTimeout,
}

impl PushOutcome {
    /// Whether the pushed batch is now in the queue.
    pub fn is_queued(&self) -> bool {
        matches!(self, Self::Queued | Self::DroppedOldest { .. })
    }
}

/// A snapshot of a queue's contents and losses. Drop counts are in
/// telemetry items ([`Weighted::items`]), cumulative since the queue was
/// created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct QueueStats {
    /// Batches waiting.
    pub queued_batches: usize,
    /// Items waiting (sum of [`Weighted::items`]).
    pub queued_items: u64,
    /// Bytes waiting (sum of [`Weighted::weight`]).
    pub queued_bytes: usize,
    /// Items dropped on arrival because the queue was full.
    pub dropped_newest: u64,
    /// Items evicted to make room for newer ones.
    pub dropped_oldest: u64,
    /// Items dropped after waiting for space past the block deadline.
    pub dropped_timeout: u64,
    /// Most items ever waiting at once (a high-water mark, for sizing the
    /// limits).
    pub peak_items: u64,
    /// Most bytes ever waiting at once.
    pub peak_bytes: usize,
}

impl QueueStats {
    /// All items dropped, whatever the reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_newest + self.dropped_oldest + self.dropped_timeout
    }
}

#[cfg(test)]
mod tests;

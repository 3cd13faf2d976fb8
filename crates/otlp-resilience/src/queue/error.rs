//! Errors of the in-memory queue.

/// Why [`BoundedQueue::push`](super::BoundedQueue::push) did not take an
/// item. The item is handed back, so the caller can route it elsewhere (to
/// the disk queue, say); none of these count as drops in
/// [`QueueStats`](super::QueueStats).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError<T> {
    /// The queue was closed.
    #[error("queue is closed")]
    Closed(T),
    /// The item alone exceeds `max_items` or `max_bytes`; it could never be
    /// queued, whatever the policy.
    #[error("item of {weight} bytes / {items} items exceeds the queue's limits")]
    TooLarge {
        /// The item.
        item: T,
        /// Its [`Weighted::weight`](super::Weighted::weight).
        weight: usize,
        /// Its [`Weighted::items`](super::Weighted::items).
        items: u64,
    },
    /// The queue is full, the policy is [`Overflow::Block`](super::Overflow::Block)
    /// and the synchronous [`push`](super::BoundedQueue::push) cannot wait:
    /// use [`push_async`](super::BoundedQueue::push_async).
    #[error("queue is full (use push_async to wait for space)")]
    Full(T),
}

impl<T> QueueError<T> {
    /// The item that was not queued.
    pub fn into_inner(self) -> T {
        match self {
            Self::Closed(item) | Self::Full(item) | Self::TooLarge { item, .. } => item,
        }
    }
}

/// A [`BoundedQueue`](super::BoundedQueue) setting that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Neither `max_items` nor `max_bytes` is set: the queue would be
    /// unbounded.
    #[error("a bounded queue needs max_items, max_bytes or both")]
    Unbounded,
    /// A limit of zero would refuse every item.
    #[error("queue limit {0} must be greater than zero")]
    ZeroLimit(&'static str),
}

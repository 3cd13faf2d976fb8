//! The queue itself.

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::pin::pin;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;
use tokio::time::Instant;

use super::{ConfigError, Overflow, PushOutcome, QueueError, QueueStats, Weighted};

/// A bounded multi-producer, multi-consumer queue; see the
/// [module documentation](super).
///
/// Share it behind an `Arc`. Limits are in telemetry items
/// ([`Weighted::items`]) and bytes ([`Weighted::weight`]); a batch is
/// admitted when both sums stay within their limits.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use bytes::Bytes;
/// use otlp_resilience::queue::{BoundedQueue, Overflow, PushOutcome};
///
/// let queue = BoundedQueue::builder()
///     .with_max_bytes(8)
///     .with_overflow(Overflow::DropOldest)
///     .build()?;
/// queue.push(Bytes::from_static(b"abcd"))?;
/// queue.push(Bytes::from_static(b"efgh"))?;
/// let outcome = queue.push(Bytes::from_static(b"ij"))?;
/// assert_eq!(outcome, PushOutcome::DroppedOldest { batches: 1, items: 1 });
/// assert_eq!(queue.pop().await.as_deref(), Some(&b"efgh"[..]));
/// queue.close();
/// assert_eq!(queue.pop().await.as_deref(), Some(&b"ij"[..]));
/// assert_eq!(queue.pop().await, None);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct BoundedQueue<T> {
    max_items: Option<u64>,
    max_bytes: Option<usize>,
    overflow: Overflow,
    state: Mutex<State<T>>,
    /// Consumers wait here for a batch (or for the close).
    not_empty: Notify,
    /// `Block` producers wait here for space (or for the close).
    not_full: Notify,
}

#[derive(Debug)]
struct State<T> {
    entries: VecDeque<Entry<T>>,
    items: u64,
    bytes: usize,
    closed: bool,
    dropped_newest: u64,
    dropped_oldest: u64,
    dropped_timeout: u64,
    peak_items: u64,
    peak_bytes: usize,
}

/// A value with its size taken once, on push, so the sums stay right even
/// if `Weighted` answered differently later.
#[derive(Debug)]
struct Entry<T> {
    value: T,
    weight: usize,
    items: u64,
}

/// What to do with a batch that does not fit.
#[derive(Clone, Copy)]
enum WhenFull {
    DropNewest,
    DropOldest,
    /// Hand it back (synchronous push under `Block`, or still waiting).
    Refuse,
    /// The block deadline has passed.
    DropTimedOut,
}

enum Offer<T> {
    Done(PushOutcome),
    Closed(T),
    Full(Entry<T>),
}

impl<T: Weighted> BoundedQueue<T> {
    /// Starts a queue configuration: set `max_items`, `max_bytes` or both;
    /// the overflow policy defaults to [`Overflow::DropNewest`].
    pub fn builder() -> BoundedQueueBuilder<T> {
        BoundedQueueBuilder {
            max_items: None,
            max_bytes: None,
            overflow: Overflow::default(),
            _items: PhantomData,
        }
    }

    /// Adds a batch without waiting. Under the drop policies a full queue
    /// drops a batch (which one, the outcome says); under
    /// [`Overflow::Block`] it returns [`QueueError::Full`] with the batch.
    pub fn push(&self, value: T) -> Result<PushOutcome, QueueError<T>> {
        let when_full = match self.overflow {
            Overflow::DropNewest => WhenFull::DropNewest,
            Overflow::DropOldest => WhenFull::DropOldest,
            Overflow::Block { .. } => WhenFull::Refuse,
        };
        match self.offer(self.entry(value)?, when_full) {
            Offer::Done(outcome) => Ok(outcome),
            Offer::Closed(value) => Err(QueueError::Closed(value)),
            Offer::Full(entry) => Err(QueueError::Full(entry.value)),
        }
    }

    /// Adds a batch, waiting for space under [`Overflow::Block`]: up to the
    /// deadline, after which the batch is dropped and counted
    /// ([`PushOutcome::DroppedTimeout`]). Under the drop policies this is
    /// [`push`](Self::push) and never waits. Waiting suspends the task, not
    /// the thread; producers are not served in a strict order.
    pub async fn push_async(&self, value: T) -> Result<PushOutcome, QueueError<T>> {
        let Overflow::Block { deadline } = self.overflow else {
            return self.push(value);
        };
        // `None`: a deadline too far away to represent, i.e. wait forever.
        let deadline = Instant::now().checked_add(deadline);
        let mut entry = self.entry(value)?;
        loop {
            // Registered before looking, so space freed in between wakes us.
            let mut space = pin!(self.not_full.notified());
            space.as_mut().enable();
            entry = match self.offer(entry, WhenFull::Refuse) {
                Offer::Done(outcome) => return Ok(outcome),
                Offer::Closed(value) => return Err(QueueError::Closed(value)),
                Offer::Full(entry) => entry,
            };
            let timed_out = match deadline {
                Some(deadline) => tokio::time::timeout_at(deadline, space).await.is_err(),
                None => {
                    space.await;
                    false
                }
            };
            if timed_out {
                return match self.offer(entry, WhenFull::DropTimedOut) {
                    Offer::Done(outcome) => Ok(outcome),
                    Offer::Closed(value) => Err(QueueError::Closed(value)),
                    // `DropTimedOut` never hands the entry back.
                    Offer::Full(entry) => Err(QueueError::Full(entry.value)),
                };
            }
        }
    }

    /// Takes the oldest batch, waiting for one if the queue is empty.
    /// Returns `None` once the queue is closed and drained.
    pub async fn pop(&self) -> Option<T> {
        loop {
            let mut pushed = pin!(self.not_empty.notified());
            pushed.as_mut().enable();
            match self.take() {
                Ok(value) => return Some(value),
                Err(true) => return None,
                Err(false) => pushed.await,
            }
        }
    }

    /// Takes the oldest batch if there is one, without waiting.
    pub fn try_pop(&self) -> Option<T> {
        self.take().ok()
    }

    /// Refuses further pushes and wakes everyone waiting. Queued batches
    /// can still be popped; [`pop`](Self::pop) returns `None` after the
    /// last one. Producers waiting under `Block` get
    /// [`QueueError::Closed`] back with their batch.
    pub fn close(&self) {
        self.lock().closed = true;
        self.not_empty.notify_waiters();
        self.not_full.notify_waiters();
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Batches waiting.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether no batch is waiting.
    pub fn is_empty(&self) -> bool {
        self.lock().entries.is_empty()
    }

    /// Bytes waiting (sum of [`Weighted::weight`]).
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Telemetry items waiting (sum of [`Weighted::items`]).
    pub fn items(&self) -> u64 {
        self.lock().items
    }

    /// Contents and drop counters, read at one instant.
    pub fn stats(&self) -> QueueStats {
        let state = self.lock();
        QueueStats {
            queued_batches: state.entries.len(),
            queued_items: state.items,
            queued_bytes: state.bytes,
            dropped_newest: state.dropped_newest,
            dropped_oldest: state.dropped_oldest,
            dropped_timeout: state.dropped_timeout,
            peak_items: state.peak_items,
            peak_bytes: state.peak_bytes,
        }
    }

    /// The item limit, if any.
    pub fn max_items(&self) -> Option<u64> {
        self.max_items
    }

    /// The byte limit, if any.
    pub fn max_bytes(&self) -> Option<usize> {
        self.max_bytes
    }

    /// The overflow policy.
    pub fn overflow(&self) -> Overflow {
        self.overflow
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // Nothing panics while the lock is held except user `Drop` code,
        // which runs after it is released; recover rather than propagate.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sizes the value (outside the lock) and rejects one that could never
    /// fit.
    fn entry(&self, value: T) -> Result<Entry<T>, QueueError<T>> {
        let (weight, items) = (value.weight(), value.items());
        if self.max_items.is_some_and(|max| items > max)
            || self.max_bytes.is_some_and(|max| weight > max)
        {
            return Err(QueueError::TooLarge {
                item: value,
                weight,
                items,
            });
        }
        Ok(Entry {
            value,
            weight,
            items,
        })
    }

    fn fits(&self, state: &State<T>, entry: &Entry<T>) -> bool {
        self.max_items
            .is_none_or(|max| state.items.saturating_add(entry.items) <= max)
            && self
                .max_bytes
                .is_none_or(|max| state.bytes.saturating_add(entry.weight) <= max)
    }

    fn offer(&self, entry: Entry<T>, when_full: WhenFull) -> Offer<T> {
        // Dropped batches are freed after the lock is released: their `Drop`
        // is the caller's code and may take time.
        let mut garbage = Vec::new();
        let outcome = {
            let mut state = self.lock();
            if state.closed {
                return Offer::Closed(entry.value);
            }
            let mut outcome = PushOutcome::Queued;
            if !self.fits(&state, &entry) {
                match when_full {
                    WhenFull::Refuse => return Offer::Full(entry),
                    WhenFull::DropNewest => {
                        state.dropped_newest += entry.items;
                        garbage.push(entry);
                        return Offer::Done(PushOutcome::DroppedNewest);
                    }
                    WhenFull::DropTimedOut => {
                        state.dropped_timeout += entry.items;
                        garbage.push(entry);
                        return Offer::Done(PushOutcome::DroppedTimeout);
                    }
                    WhenFull::DropOldest => {
                        let mut items = 0;
                        // Terminates: `entry` alone fits the limits.
                        while !self.fits(&state, &entry) {
                            let Some(old) = state.entries.pop_front() else {
                                break;
                            };
                            state.items -= old.items;
                            state.bytes -= old.weight;
                            items += old.items;
                            garbage.push(old);
                        }
                        state.dropped_oldest += items;
                        outcome = PushOutcome::DroppedOldest {
                            batches: garbage.len(),
                            items,
                        };
                    }
                }
            }
            state.items += entry.items;
            state.bytes += entry.weight;
            state.peak_items = state.peak_items.max(state.items);
            state.peak_bytes = state.peak_bytes.max(state.bytes);
            state.entries.push_back(entry);
            outcome
        };
        self.not_empty.notify_one();
        drop(garbage);
        Offer::Done(outcome)
    }

    /// The front value, or `Err(closed)` if there is none.
    fn take(&self) -> Result<T, bool> {
        let (entry, more) = {
            let mut state = self.lock();
            let Some(entry) = state.entries.pop_front() else {
                return Err(state.closed);
            };
            state.items -= entry.items;
            state.bytes -= entry.weight;
            (entry, !state.entries.is_empty())
        };
        if more {
            // Pass the baton: a consumer woken for an item someone else took
            // must not leave this one waiting next to a non-empty queue.
            self.not_empty.notify_one();
        }
        if matches!(self.overflow, Overflow::Block { .. }) {
            // Every blocked producer re-checks: the one at the front may
            // need more space than was freed while a later one fits.
            self.not_full.notify_waiters();
        }
        Ok(entry.value)
    }
}

/// Builds a [`BoundedQueue`]; see [`BoundedQueue::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct BoundedQueueBuilder<T> {
    max_items: Option<u64>,
    max_bytes: Option<usize>,
    overflow: Overflow,
    _items: PhantomData<fn() -> T>,
}

impl<T: Weighted> BoundedQueueBuilder<T> {
    /// Most telemetry items ([`Weighted::items`]) queued at once; above 0.
    pub fn with_max_items(mut self, max: u64) -> Self {
        self.max_items = Some(max);
        self
    }

    /// Most bytes ([`Weighted::weight`]) queued at once; above 0.
    pub fn with_max_bytes(mut self, max: usize) -> Self {
        self.max_bytes = Some(max);
        self
    }

    /// What a push does when the batch does not fit.
    pub fn with_overflow(mut self, overflow: Overflow) -> Self {
        self.overflow = overflow;
        self
    }

    /// Checks the limits and creates an empty, open queue.
    pub fn build(self) -> Result<BoundedQueue<T>, ConfigError> {
        match (self.max_items, self.max_bytes) {
            (None, None) => return Err(ConfigError::Unbounded),
            (Some(0), _) => return Err(ConfigError::ZeroLimit("max_items")),
            (_, Some(0)) => return Err(ConfigError::ZeroLimit("max_bytes")),
            _ => {}
        }
        Ok(BoundedQueue {
            max_items: self.max_items,
            max_bytes: self.max_bytes,
            overflow: self.overflow,
            state: Mutex::new(State {
                entries: VecDeque::new(),
                items: 0,
                bytes: 0,
                closed: false,
                dropped_newest: 0,
                dropped_oldest: 0,
                dropped_timeout: 0,
                peak_items: 0,
                peak_bytes: 0,
            }),
            not_empty: Notify::new(),
            not_full: Notify::new(),
        })
    }
}

//! Model-based test of `BoundedQueue`: random push / pop / close sequences
//! run against the queue and against a `VecDeque` model; contents, order,
//! outcomes and every counter must agree after each step.

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::FutureExt;
use otlp_resilience::queue::{
    BoundedQueue, Overflow, PushOutcome, QueueError, QueueStats, Weighted,
};
use proptest::prelude::*;

#[derive(Debug, Clone, PartialEq)]
struct Batch {
    id: usize,
    weight: usize,
    items: u64,
}

impl Weighted for Batch {
    fn weight(&self) -> usize {
        self.weight
    }
    fn items(&self) -> u64 {
        self.items
    }
}

#[derive(Debug, Clone)]
enum Op {
    Push {
        weight: usize,
        items: u64,
    },
    TryPop,
    /// The async `pop`, polled once: must be ready unless empty and open.
    Pop,
    Close,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0usize..=40, 0u64..=12).prop_map(|(weight, items)| Op::Push { weight, items }),
        3 => Just(Op::TryPop),
        2 => Just(Op::Pop),
        1 => Just(Op::Close),
    ]
}

fn overflow() -> impl Strategy<Value = Overflow> {
    prop_oneof![
        Just(Overflow::DropNewest),
        Just(Overflow::DropOldest),
        Just(Overflow::Block {
            deadline: Duration::from_secs(1)
        }),
    ]
}

fn limits() -> impl Strategy<Value = (Option<u64>, Option<usize>)> {
    (
        proptest::option::of(1u64..=30),
        proptest::option::of(1usize..=100),
    )
        .prop_filter("at least one limit", |(i, b)| i.is_some() || b.is_some())
}

/// The queue's specification, written the obvious way.
#[derive(Default)]
struct Model {
    max_items: Option<u64>,
    max_bytes: Option<usize>,
    overflow: Overflow,
    queue: VecDeque<Batch>,
    closed: bool,
    stats: QueueStats,
}

impl Model {
    fn fits(&self, b: &Batch) -> bool {
        let items: u64 = self.queue.iter().map(|q| q.items).sum::<u64>() + b.items;
        let bytes: usize = self.queue.iter().map(|q| q.weight).sum::<usize>() + b.weight;
        self.max_items.is_none_or(|m| items <= m) && self.max_bytes.is_none_or(|m| bytes <= m)
    }

    fn push(&mut self, b: Batch) -> Result<PushOutcome, QueueError<Batch>> {
        if self.max_items.is_some_and(|m| b.items > m)
            || self.max_bytes.is_some_and(|m| b.weight > m)
        {
            return Err(QueueError::TooLarge {
                weight: b.weight,
                items: b.items,
                item: b,
            });
        }
        if self.closed {
            return Err(QueueError::Closed(b));
        }
        let mut outcome = PushOutcome::Queued;
        if !self.fits(&b) {
            match self.overflow {
                Overflow::DropNewest => {
                    self.stats.dropped_newest += b.items;
                    return Ok(PushOutcome::DroppedNewest);
                }
                Overflow::Block { .. } => return Err(QueueError::Full(b)),
                _ => {
                    let (mut batches, mut items) = (0, 0);
                    while !self.fits(&b) {
                        let old = self.queue.pop_front().expect("a lone batch fits");
                        batches += 1;
                        items += old.items;
                    }
                    self.stats.dropped_oldest += items;
                    outcome = PushOutcome::DroppedOldest { batches, items };
                }
            }
        }
        self.queue.push_back(b);
        // The high-water marks: what is queued right after a push.
        let now = self.stats();
        self.stats.peak_items = self.stats.peak_items.max(now.queued_items);
        self.stats.peak_bytes = self.stats.peak_bytes.max(now.queued_bytes);
        Ok(outcome)
    }

    fn stats(&self) -> QueueStats {
        let mut stats = self.stats;
        stats.queued_batches = self.queue.len();
        stats.queued_items = self.queue.iter().map(|b| b.items).sum();
        stats.queued_bytes = self.queue.iter().map(|b| b.weight).sum();
        stats
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn bounded_queue_matches_model(
        (max_items, max_bytes) in limits(),
        overflow in overflow(),
        ops in proptest::collection::vec(op(), 1..200),
    ) {
        let mut builder = BoundedQueue::builder().with_overflow(overflow);
        if let Some(m) = max_items {
            builder = builder.with_max_items(m);
        }
        if let Some(m) = max_bytes {
            builder = builder.with_max_bytes(m);
        }
        let queue = builder.build().unwrap();
        let mut model = Model { max_items, max_bytes, overflow, ..Model::default() };

        for (id, op) in ops.into_iter().enumerate() {
            match op {
                Op::Push { weight, items } => {
                    let b = Batch { id, weight, items };
                    prop_assert_eq!(queue.push(b.clone()), model.push(b));
                }
                Op::TryPop => prop_assert_eq!(queue.try_pop(), model.queue.pop_front()),
                Op::Pop => {
                    let expected = match model.queue.pop_front() {
                        Some(b) => Some(Some(b)),
                        None if model.closed => Some(None),
                        None => None,
                    };
                    prop_assert_eq!(queue.pop().now_or_never(), expected);
                }
                Op::Close => {
                    queue.close();
                    model.closed = true;
                }
            }
            prop_assert_eq!(queue.stats(), model.stats());
            prop_assert_eq!(queue.len(), model.queue.len());
            prop_assert_eq!(queue.is_closed(), model.closed);
        }

        // Whatever is left comes out in order, then the closed queue ends.
        queue.close();
        let rest: Vec<_> = std::iter::from_fn(|| queue.try_pop()).collect();
        prop_assert_eq!(rest, Vec::from(model.queue));
        prop_assert_eq!(queue.pop().now_or_never(), Some(None));
    }
}

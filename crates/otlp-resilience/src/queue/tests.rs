use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;

use super::*;

/// A batch of `items` spans taking `weight` bytes.
#[derive(Debug, Clone, PartialEq)]
struct Batch {
    id: u32,
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

fn batch(id: u32, weight: usize, items: u64) -> Batch {
    Batch { id, weight, items }
}

fn queue(
    max_items: Option<u64>,
    max_bytes: Option<usize>,
    overflow: Overflow,
) -> BoundedQueue<Batch> {
    let mut builder = BoundedQueue::builder().with_overflow(overflow);
    if let Some(max) = max_items {
        builder = builder.with_max_items(max);
    }
    if let Some(max) = max_bytes {
        builder = builder.with_max_bytes(max);
    }
    builder.build().unwrap()
}

fn ids(queue: &BoundedQueue<Batch>) -> Vec<u32> {
    std::iter::from_fn(|| queue.try_pop())
        .map(|b| b.id)
        .collect()
}

#[test]
fn drop_newest_counts_dropped_spans() {
    let q = queue(Some(100), None, Overflow::DropNewest);
    assert_eq!(q.push(batch(1, 10, 60)), Ok(PushOutcome::Queued));
    assert_eq!(q.push(batch(2, 10, 50)), Ok(PushOutcome::DroppedNewest));
    assert_eq!(q.push(batch(3, 10, 40)), Ok(PushOutcome::Queued));
    let stats = q.stats();
    assert_eq!(
        (stats.queued_batches, stats.queued_items, stats.queued_bytes),
        (2, 100, 20)
    );
    assert_eq!((stats.dropped_newest, stats.dropped()), (50, 50));
    assert_eq!(ids(&q), [1, 3]);
}

#[test]
fn peaks_remember_the_fullest_moment() {
    let q = queue(Some(100), None, Overflow::DropNewest);
    q.push(batch(1, 10, 60)).unwrap();
    q.push(batch(2, 30, 30)).unwrap();
    assert_eq!(ids(&q), [1, 2]);
    q.push(batch(3, 5, 20)).unwrap();
    let stats = q.stats();
    assert_eq!((stats.queued_items, stats.queued_bytes), (20, 5));
    assert_eq!((stats.peak_items, stats.peak_bytes), (90, 40));
}

#[test]
fn drop_oldest_evicts_until_the_bytes_fit() {
    let q = queue(None, Some(100), Overflow::DropOldest);
    for id in 0..4 {
        assert_eq!(q.push(batch(id, 25, 10)), Ok(PushOutcome::Queued));
    }
    assert_eq!(
        q.push(batch(4, 60, 7)),
        Ok(PushOutcome::DroppedOldest {
            batches: 3,
            items: 30
        })
    );
    assert_eq!((q.len(), q.bytes(), q.items()), (2, 85, 17));
    assert_eq!(q.stats().dropped_oldest, 30);
    assert_eq!(ids(&q), [3, 4]);
}

#[test]
fn oversized_batches_are_handed_back() {
    let q = queue(Some(10), Some(100), Overflow::DropOldest);
    q.push(batch(1, 1, 1)).unwrap();
    let error = q.push(batch(2, 101, 1)).unwrap_err();
    assert!(matches!(
        error,
        QueueError::TooLarge {
            weight: 101,
            items: 1,
            ..
        }
    ));
    assert_eq!(error.into_inner().id, 2);
    assert!(matches!(
        q.push(batch(3, 1, 11)),
        Err(QueueError::TooLarge { .. })
    ));
    assert_eq!(
        (q.len(), q.stats().dropped()),
        (1, 0),
        "nothing evicted, nothing counted"
    );
}

#[test]
fn sync_push_under_block_refuses_when_full() {
    let q = queue(
        Some(1),
        None,
        Overflow::Block {
            deadline: Duration::from_secs(1),
        },
    );
    q.push(batch(1, 1, 1)).unwrap();
    assert_eq!(
        q.push(batch(2, 1, 1)),
        Err(QueueError::Full(batch(2, 1, 1)))
    );
    assert_eq!(q.stats().dropped(), 0);
}

#[tokio::test(start_paused = true)]
async fn block_waits_for_space() {
    let q = Arc::new(queue(
        Some(2),
        None,
        Overflow::Block {
            deadline: Duration::from_secs(5),
        },
    ));
    q.push(batch(1, 1, 2)).unwrap();
    let producer = tokio::spawn({
        let q = Arc::clone(&q);
        async move { q.push_async(batch(2, 1, 1)).await }
    });
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!producer.is_finished());
    assert_eq!(q.pop().await, Some(batch(1, 1, 2)));
    assert_eq!(producer.await.unwrap(), Ok(PushOutcome::Queued));
    assert_eq!(q.try_pop(), Some(batch(2, 1, 1)));
}

#[tokio::test(start_paused = true)]
async fn block_drops_after_the_deadline() {
    let q = queue(
        Some(2),
        None,
        Overflow::Block {
            deadline: Duration::from_secs(5),
        },
    );
    q.push(batch(1, 1, 2)).unwrap();
    let start = tokio::time::Instant::now();
    assert_eq!(
        q.push_async(batch(2, 1, 2)).await,
        Ok(PushOutcome::DroppedTimeout)
    );
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    assert_eq!(q.stats().dropped_timeout, 2);
    assert_eq!(ids(&q), [1]);
}

#[tokio::test(start_paused = true)]
async fn a_small_waiting_batch_is_not_stuck_behind_a_big_one() {
    let q = Arc::new(queue(
        None,
        Some(10),
        Overflow::Block {
            deadline: Duration::from_secs(60),
        },
    ));
    q.push(batch(0, 6, 1)).unwrap();
    q.push(batch(1, 4, 1)).unwrap();
    let big = tokio::spawn({
        let q = Arc::clone(&q);
        async move { q.push_async(batch(2, 9, 1)).await }
    });
    let small = tokio::spawn({
        let q = Arc::clone(&q);
        async move { q.push_async(batch(3, 5, 1)).await }
    });
    tokio::task::yield_now().await;
    // 6 bytes freed: enough for the small one only.
    assert_eq!(q.try_pop().map(|b| b.id), Some(0));
    assert_eq!(small.await.unwrap(), Ok(PushOutcome::Queued));
    assert!(!big.is_finished());
    q.close();
    assert_eq!(big.await.unwrap(), Err(QueueError::Closed(batch(2, 9, 1))));
}

#[tokio::test(start_paused = true)]
async fn pop_waits_and_close_ends_it_after_draining() {
    let q = Arc::new(queue(Some(10), None, Overflow::DropNewest));
    let consumer = tokio::spawn({
        let q = Arc::clone(&q);
        async move {
            let mut got = Vec::new();
            while let Some(b) = q.pop().await {
                got.push(b.id);
            }
            got
        }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    q.push(batch(1, 1, 1)).unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    q.push(batch(2, 1, 1)).unwrap();
    q.push(batch(3, 1, 1)).unwrap();
    q.close();
    assert_eq!(
        q.push(batch(4, 1, 1)),
        Err(QueueError::Closed(batch(4, 1, 1)))
    );
    assert_eq!(consumer.await.unwrap(), [1, 2, 3]);
    assert!(q.is_closed() && q.is_empty());
}

#[test]
fn pop_on_an_empty_open_queue_is_pending() {
    let q = queue(Some(1), None, Overflow::DropNewest);
    assert_eq!(q.pop().now_or_never(), None);
    q.close();
    assert_eq!(q.pop().now_or_never(), Some(None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_producers_and_consumers_lose_nothing_uncounted() {
    let q = Arc::new(queue(Some(64), Some(4096), Overflow::DropOldest));
    let producers: Vec<_> = (0..4u32)
        .map(|p| {
            let q = Arc::clone(&q);
            tokio::spawn(async move {
                for i in 0..2000u32 {
                    q.push(batch(
                        p * 10_000 + i,
                        1 + (i as usize % 50),
                        1 + u64::from(i % 3),
                    ))
                    .unwrap();
                    if i % 64 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..3)
        .map(|_| {
            let q = Arc::clone(&q);
            tokio::spawn(async move {
                let mut items = 0;
                while let Some(b) = q.pop().await {
                    items += b.items;
                }
                items
            })
        })
        .collect();
    for p in producers {
        p.await.unwrap();
    }
    q.close();
    let mut consumed = 0;
    for c in consumers {
        consumed += c.await.unwrap();
    }
    let produced: u64 = (0..2000u64).map(|i| 1 + i % 3).sum::<u64>() * 4;
    assert_eq!(consumed + q.stats().dropped_oldest, produced);
}

#[test]
fn invalid_limits_are_rejected() {
    let b = BoundedQueue::<Batch>::builder;
    assert_eq!(b().build().unwrap_err(), ConfigError::Unbounded);
    assert_eq!(
        b().with_max_items(0).build().unwrap_err(),
        ConfigError::ZeroLimit("max_items")
    );
    assert_eq!(
        b().with_max_bytes(0).build().unwrap_err(),
        ConfigError::ZeroLimit("max_bytes")
    );
}

use super::ConcurrencyLimit;
use std::sync::Arc;
use tokio::sync::Semaphore;
use tower::Layer;

/// Wraps services in a [`ConcurrencyLimit`]; every service it wraps shares
/// its slots.
#[derive(Debug, Clone)]
pub struct ConcurrencyLimitLayer {
    slots: Arc<Semaphore>,
    max: usize,
}

impl ConcurrencyLimitLayer {
    /// At most `max` calls at once (a `max` of zero is raised to one:
    /// no call could ever run).
    pub fn new(max: usize) -> Self {
        let max = max.max(1);
        ConcurrencyLimitLayer {
            slots: Arc::new(Semaphore::new(max)),
            max,
        }
    }

    /// Calls running now.
    pub fn in_use(&self) -> usize {
        self.max - self.slots.available_permits()
    }
}

impl<S> Layer<S> for ConcurrencyLimitLayer {
    type Service = ConcurrencyLimit<S>;

    fn layer(&self, inner: S) -> ConcurrencyLimit<S> {
        ConcurrencyLimit {
            inner,
            slots: Arc::clone(&self.slots),
        }
    }
}

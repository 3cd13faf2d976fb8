//! The [`tower::Layer`] that adds retries to a service.

use std::sync::Arc;

use tower::Layer;

use super::{Retrier, Retry, RetryPolicy, RetryStats, Shared};

/// Wraps services in [`Retry`]. Every service made by one layer (and every
/// clone of it) draws on one retry budget and reports into one
/// [`RetryStats`]: clone the layer for an endpoint, build a new one for an
/// independent endpoint.
///
/// ```
/// use otlp_resilience::retry::{RetryLayer, RetryPolicy};
/// use tower::ServiceBuilder;
/// # #[derive(Debug)] struct Unavailable;
/// # impl otlp_core::Retryable for Unavailable {
/// #     fn is_retryable(&self) -> bool { true }
/// #     fn retry_after(&self) -> Option<std::time::Duration> { None }
/// # }
///
/// let layer = RetryLayer::new(RetryPolicy::default());
/// let stats = layer.stats();
/// let _service = ServiceBuilder::new()
///     .layer(layer)
///     .service_fn(|request: u32| async move { Ok::<_, Unavailable>(request) });
/// assert_eq!(stats.retries(), 0);
/// ```
#[derive(Debug, Clone)]
pub struct RetryLayer {
    shared: Arc<Shared>,
}

impl RetryLayer {
    /// A layer that retries by `policy`, with a fresh budget and counters.
    pub fn new(policy: RetryPolicy) -> Self {
        Self {
            shared: Arc::new(Shared::new(policy)),
        }
    }

    /// The counters of every service this layer wraps.
    pub fn stats(&self) -> RetryStats {
        self.shared.stats.clone()
    }

    /// The layer's decisions, budget and counters, for code that makes its
    /// attempts itself.
    pub fn retrier(&self) -> Retrier {
        Retrier::from_shared(Arc::clone(&self.shared))
    }
}

impl<S> Layer<S> for RetryLayer {
    type Service = Retry<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Retry::from_shared(inner, Arc::clone(&self.shared))
    }
}

//! The [`tower::Layer`] that puts a circuit breaker in front of a service.

use std::sync::Arc;

use tower::Layer;

use super::state::Shared;
use super::{Breaker, BreakerConfig, BreakerHandle};

/// Wraps services in [`Breaker`]. Every service made by one layer (and by
/// its clones) shares one breaker, which is what you want for one endpoint.
#[derive(Debug, Clone)]
pub struct BreakerLayer {
    shared: Arc<Shared>,
}

impl BreakerLayer {
    /// A layer with a fresh, closed breaker.
    pub fn new(config: BreakerConfig) -> Self {
        Self {
            shared: Arc::new(Shared::new(config)),
        }
    }

    /// A handle to watch the breaker.
    pub fn handle(&self) -> BreakerHandle {
        BreakerHandle {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S> Layer<S> for BreakerLayer {
    type Service = Breaker<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Breaker::from_shared(inner, Arc::clone(&self.shared))
    }
}

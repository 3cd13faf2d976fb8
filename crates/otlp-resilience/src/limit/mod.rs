//! A concurrency limit: at most `n` calls of the wrapped service in flight
//! at once, shared by every service the same [`ConcurrencyLimitLayer`]
//! wraps (and by their clones).
//!
//! Unlike tower's `ConcurrencyLimit`, the slot is taken when the call
//! starts, not in `poll_ready`, and given back the moment the call's
//! future ends. A caller that drives one request at a time and waits
//! between attempts (a batch waiting for its next retry) holds no slot
//! while it waits, and a service cloned per request (`oneshot`) cannot
//! reserve a slot it never uses.
//!
//! ```
//! use otlp_resilience::limit::ConcurrencyLimitLayer;
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let layer = ConcurrencyLimitLayer::new(4);
//! let service = layer.layer(service_fn(|n: u32| async move { Ok::<_, std::io::Error>(n * 2) }));
//! assert_eq!(service.clone().oneshot(21).await.unwrap(), 42);
//! assert_eq!(layer.in_use(), 0);
//! # }
//! ```

mod layer;
#[cfg(test)]
mod tests;

pub use layer::ConcurrencyLimitLayer;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::Semaphore;
use tower::{Service, ServiceExt};

/// The future of a [`ConcurrencyLimit`] call.
pub type LimitFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

/// Wraps a service so that at most the layer's number of calls run at
/// once; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct ConcurrencyLimit<S> {
    inner: S,
    slots: Arc<Semaphore>,
}

impl<S, R> Service<R> for ConcurrencyLimit<S>
where
    S: Service<R> + Clone + Send + 'static,
    S::Future: Send,
    S::Response: Send + 'static,
    S::Error: Send + 'static,
    R: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = LimitFuture<S::Response, S::Error>;

    /// Always ready: the slot is waited for inside the call.
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: R) -> Self::Future {
        let slots = Arc::clone(&self.slots);
        let inner = self.inner.clone();
        Box::pin(async move {
            // The semaphore is never closed, so this always gets a slot.
            let _slot = slots.acquire_owned().await;
            inner.oneshot(request).await
        })
    }
}

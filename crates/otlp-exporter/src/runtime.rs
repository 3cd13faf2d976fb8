//! Where export I/O runs.
//!
//! The SDK calls exporters from its own worker threads (and blocks on the
//! returned future there), from a tokio runtime, or from any other executor.
//! Our clients need tokio's reactor, so each exporter keeps a handle to the
//! runtime it was built in, or, when built outside of any, a small runtime
//! of its own; every request is spawned there and the SDK's future merely
//! waits for its result.

use crate::BuildError;
use std::future::Future;
use std::sync::Arc;
use tokio::runtime::Handle;
use tokio::task::JoinError;

#[derive(Debug, Clone)]
pub(crate) struct Runtime {
    handle: Handle,
    /// Present when we created the runtime; shut down when the last clone
    /// goes away.
    _owned: Option<Arc<Owned>>,
}

#[derive(Debug)]
struct Owned(Option<tokio::runtime::Runtime>);

impl Drop for Owned {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which panics inside an async context;
        // shutting down in the background never does.
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

impl Runtime {
    pub(crate) fn current_or_own() -> Result<Self, BuildError> {
        if let Ok(handle) = Handle::try_current() {
            return Ok(Runtime {
                handle,
                _owned: None,
            });
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("otlp-exporter")
            .enable_all()
            .build()
            .map_err(BuildError::Runtime)?;
        Ok(Runtime {
            handle: rt.handle().clone(),
            _owned: Some(Arc::new(Owned(Some(rt)))),
        })
    }

    pub(crate) fn enter<R>(&self, f: impl FnOnce() -> R) -> R {
        let _guard = self.handle.enter();
        f()
    }

    /// Runs `f` on this runtime: inline when the caller is already on it
    /// (no task, no cross-thread wake-up), else as a task awaited from
    /// wherever the caller is.
    pub(crate) async fn run<F>(&self, f: F) -> Result<F::Output, JoinError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let on_this_runtime = Handle::try_current().is_ok_and(|h| h.id() == self.handle.id());
        if on_this_runtime {
            Ok(f.await)
        } else {
            self.handle.spawn(f).await
        }
    }
}

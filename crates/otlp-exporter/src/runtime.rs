//! Where export I/O runs.
//!
//! The SDK calls exporters from its own worker threads (and blocks on the
//! returned future there), from a tokio runtime, or from any other executor.
//! Our clients need tokio's reactor, so each exporter (and span processor)
//! runs a one-worker tokio runtime of its own: the queue's dispatcher, the
//! senders and the transport's connection live there, whatever the
//! application runs on. A batch's request and answer then stay on one
//! thread instead of waking several of the application's workers, and the
//! exporter keeps working while the application's runtime shuts down or is
//! blocked (a flush waiting on that runtime's only thread would otherwise
//! wait forever).

use crate::BuildError;
use std::future::Future;
use std::sync::Arc;
use tokio::runtime::Handle;

#[derive(Debug, Clone)]
pub(crate) struct Runtime {
    handle: Handle,
    /// Shuts the runtime down when the last clone goes away.
    _owned: Arc<Owned>,
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
    /// Starts the runtime and its thread.
    pub(crate) fn new() -> Result<Self, BuildError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("otlp-exporter")
            .enable_all()
            .build()
            .map_err(BuildError::Runtime)?;
        Ok(Runtime {
            handle: rt.handle().clone(),
            _owned: Arc::new(Owned(Some(rt))),
        })
    }

    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }

    pub(crate) fn enter<R>(&self, f: impl FnOnce() -> R) -> R {
        let _guard = self.handle.enter();
        f()
    }

    /// Runs `f` in the background on this runtime.
    pub(crate) fn spawn_detached<F>(&self, f: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(self.handle.spawn(f));
    }
}

//! Where export I/O runs.
//!
//! The SDK calls exporters from its own worker threads (and blocks on the
//! returned future there), from a tokio runtime, or from any other executor.
//! Our clients need tokio's reactor, so each exporter keeps a handle to the
//! multi-threaded runtime it was built in, or, when built outside of one, a
//! small runtime of its own; the queue's dispatcher and senders run there,
//! and the SDK's export call only encodes and queues.

use crate::BuildError;
use std::future::Future;
use std::sync::Arc;
use tokio::runtime::{Handle, RuntimeFlavor};

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
        // A current-thread runtime only runs our tasks while its one thread
        // polls; an SDK flush blocking that thread would wait forever. Such
        // callers get a runtime of our own.
        if let Ok(handle) = Handle::try_current() {
            if handle.runtime_flavor() != RuntimeFlavor::CurrentThread {
                return Ok(Runtime {
                    handle,
                    _owned: None,
                });
            }
        }
        Runtime::own()
    }

    /// A runtime of our own: one worker thread, on which all of an
    /// exporter's tasks (compression, the transport's connection, the
    /// senders) run, off the application's threads and runtime.
    pub(crate) fn own() -> Result<Self, BuildError> {
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

    /// Runs `f` in the background on this runtime.
    pub(crate) fn spawn_detached<F>(&self, f: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(self.handle.spawn(f));
    }
}

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
//!
//! Several exporters can share one such runtime, an [`ExportThread`]: the
//! `otlp` facade's three signals and its push API run on one thread, and
//! those whose settings resolve alike send through one transport client,
//! so through one connection (gRPC) or one connection pool (HTTP) to the
//! collector.

use crate::env::{ClientKey, Resolved, Settings};
use crate::BuildError;
use otlp_core::Signal;
use otlp_transport::client::OtlpClient;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::runtime::Handle;

/// A thread that sends for several exporters, and the transport clients
/// they share. Give one to each builder with
/// [`with_export_thread`](crate::ExporterBuilder::with_export_thread):
/// their senders then run on this thread instead of one thread each, and
/// exporters whose connection settings (protocol, endpoints, headers,
/// timeout, TLS) resolve alike share one client and its connections.
///
/// The thread (a one-worker tokio runtime) stops once the last exporter
/// and the last clone of this handle are gone.
///
/// ```no_run
/// use otlp_exporter::{ExportThread, OtlpLogExporter, OtlpSpanExporter};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let thread = ExportThread::new()?;
/// let spans = OtlpSpanExporter::builder()
///     .with_endpoint("http://localhost:4318")
///     .with_export_thread(&thread)
///     .build()?;
/// let logs = OtlpLogExporter::builder()
///     .with_endpoint("http://localhost:4318")
///     .with_export_thread(&thread)
///     .build()?; // same thread, same client as `spans`
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ExportThread {
    runtime: Runtime,
    clients: Arc<Mutex<Vec<(ClientKey, OtlpClient)>>>,
}

impl ExportThread {
    /// Starts the thread.
    pub fn new() -> Result<Self, BuildError> {
        Ok(ExportThread {
            runtime: Runtime::new()?,
            clients: Arc::default(),
        })
    }

    /// Runs `future` on this thread. The returned future resolves with its
    /// output and can be awaited anywhere (in a tokio runtime or any other
    /// executor); `None` if the thread stopped before `future` finished.
    /// The future is started at once, whether or not the result is
    /// awaited.
    pub fn run<F>(&self, future: F) -> impl Future<Output = Option<F::Output>> + Send + 'static
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let task = self.runtime.handle().spawn(future);
        async move { task.await.ok() }
    }

    pub(crate) fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The client for `signal` as `cfg` says: one already made for the same
    /// key, or a new one.
    pub(crate) fn client(
        &self,
        signal: Signal,
        cfg: &Resolved,
        settings: &Settings,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<OtlpClient, BuildError> {
        let key = ClientKey::new(signal, cfg, settings, env);
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        let cached = |clients: &[(ClientKey, OtlpClient)], key: &ClientKey| {
            clients
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, c)| c.clone())
        };
        if let Some(client) = cached(&clients, &key) {
            return Ok(client);
        }
        let (key, client) = self.runtime.enter(|| key.build_for(signal))?;
        if let Some(client) = cached(&clients, &key) {
            return Ok(client);
        }
        clients.push((key, client.clone()));
        Ok(client)
    }
}

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

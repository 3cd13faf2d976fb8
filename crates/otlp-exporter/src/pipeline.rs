//! What every exporter does with a batch: encode once, compress once, send.

use crate::runtime::Runtime;
use crate::BuildError;
use bytes::Bytes;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use otlp_compression::{Compression, Compressor};
use otlp_core::{Encoder, Signal};
use otlp_transport::client::{OtlpClient, Payload};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError, RwLock};
use std::time::Instant;

use crate::stats::ExportStats;

use crate::env::Resolved;

/// How many request buffers an exporter keeps for reuse.
const SPARE_BUFFERS: usize = 2;

#[derive(Debug)]
pub(crate) struct Pipeline {
    signal: Signal,
    pub(crate) encoder: RwLock<Encoder>,
    compression: Compression,
    /// Reused compression context and the buffer the request is encoded
    /// into before compression.
    compressor: Mutex<(Compressor, Vec<u8>)>,
    client: OtlpClient,
    runtime: Runtime,
    /// Size of the last request, to allocate the next one right first time.
    last_len: AtomicUsize,
    /// Request buffers to reuse (see [`Pipeline::buffer`]).
    spare: Mutex<Vec<Vec<u8>>>,
    shut_down: AtomicBool,
    pub(crate) stats: ExportStats,
}

impl Pipeline {
    pub(crate) fn new(signal: Signal, cfg: Resolved) -> Result<Self, BuildError> {
        let runtime = Runtime::current_or_own()?;
        let mut client = OtlpClient::builder(cfg.protocol)
            .with_endpoint(cfg.url.clone())
            .with_headers(cfg.headers)
            .with_timeout(cfg.timeout)
            .with_tls(cfg.tls);
        if cfg.protocol != otlp_transport::Protocol::Grpc {
            client = client.with_signal_endpoint(signal, cfg.url);
        }
        // The client may spawn connection tasks; give it the runtime.
        let client = runtime.enter(|| client.build())?;
        Ok(Pipeline {
            signal,
            encoder: RwLock::new(Encoder::new(cfg.protocol.format())),
            compression: cfg.compression,
            compressor: Mutex::new((Compressor::new(cfg.compression)?, Vec::new())),
            client,
            runtime,
            last_len: AtomicUsize::new(0),
            spare: Mutex::new(Vec::new()),
            shut_down: AtomicBool::new(false),
            stats: ExportStats::default(),
        })
    }

    /// Encodes (and compresses) one request with `encode`.
    pub(crate) fn prepare(
        &self,
        encode: impl FnOnce(&Encoder, &mut Vec<u8>),
    ) -> Result<Payload, OTelSdkError> {
        if self.shut_down.load(Ordering::Relaxed) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        let encoder = self.encoder.read().unwrap_or_else(PoisonError::into_inner);
        let hint = self.last_len.load(Ordering::Relaxed);
        let algorithm = self.compression.algorithm();
        let (body, uncompressed) = if algorithm == otlp_compression::Algorithm::None {
            // Encode straight into the buffer that becomes the request body.
            let mut out = self.buffer(hint);
            encode(&encoder, &mut out);
            let len = out.len();
            (out, len)
        } else {
            let mut guard = self
                .compressor
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let (compressor, scratch) = &mut *guard;
            encode(&encoder, scratch);
            let mut out = self.buffer(hint);
            compressor
                .compress(scratch, &mut out)
                .map_err(|e| OTelSdkError::InternalFailure(e.to_string()))?;
            (out, scratch.len())
        };
        self.stats.record_encoded(uncompressed, body.len());
        self.last_len.store(body.len(), Ordering::Relaxed);
        Ok(Payload::new(Bytes::from(body), algorithm))
    }

    /// A request buffer: a spare one whose request has been answered, or a
    /// new one sized like the last request. Reusing buffers saves a large
    /// allocation, its page faults and the allocator's clean-up per batch.
    fn buffer(&self, hint: usize) -> Vec<u8> {
        let spare = self
            .spare
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let mut buf = spare.unwrap_or_default();
        buf.clear();
        buf.reserve(hint + hint / 8);
        buf
    }

    /// Takes a request body back once nothing else holds it.
    fn recycle(&self, body: Bytes) {
        if let Ok(body) = body.try_into_mut() {
            let mut spare = self.spare.lock().unwrap_or_else(PoisonError::into_inner);
            if spare.len() < SPARE_BUFFERS {
                spare.push(Vec::from(body));
            }
        }
    }

    /// Sends a prepared request on the exporter's runtime, so that the SDK
    /// may call us from any thread or executor.
    /// `items` is the number of spans, data points or records in it.
    pub(crate) async fn send(&self, payload: Payload, items: u64) -> OTelSdkResult {
        let client = self.client.clone();
        let signal = self.signal;
        let body = payload.body.clone();
        let (result, latency) = self
            .runtime
            .run(async move {
                let started = Instant::now();
                let result = client.export(signal, payload).await;
                (result, started.elapsed())
            })
            .await
            .map_err(|e| OTelSdkError::InternalFailure(format!("export task failed: {e}")))?;
        self.recycle(body);
        match result {
            Ok(response) => {
                let rejected = u64::try_from(response.rejected_items).unwrap_or(0);
                self.stats.record_success(items, rejected, latency);
                if response.is_partial_success() {
                    tracing::warn!(
                        signal = %signal,
                        rejected = response.rejected_items,
                        message = %response.error_message,
                        "OTLP receiver accepted the export partially"
                    );
                }
                Ok(())
            }
            Err(e) => {
                self.stats.record_failure(items, latency);
                Err(OTelSdkError::InternalFailure(format!(
                    "{signal} export to {} failed: {e}",
                    self.client.endpoint(signal)
                )))
            }
        }
    }

    pub(crate) fn shutdown(&self) -> OTelSdkResult {
        if self.shut_down.swap(true, Ordering::Relaxed) {
            Err(OTelSdkError::AlreadyShutdown)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::{resolve, Settings};
    use otlp_transport::receiver::{ReceivedRequest, Receiver, Reply};

    #[test]
    fn answered_request_buffers_are_reused() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let receiver = rt.block_on(async {
            Receiver::builder()
                .with_http_addr("127.0.0.1:0".parse().unwrap())
                .serve(async |_r: ReceivedRequest| Reply::Accept)
                .await
                .unwrap()
        });
        let settings = Settings {
            endpoint: Some(format!("http://{}", receiver.http_addr().unwrap())),
            ..Settings::default()
        };
        let cfg = resolve(Signal::Traces, &settings, &|_| None).unwrap();
        let pipeline = rt
            .block_on(async { Pipeline::new(Signal::Traces, cfg) })
            .unwrap();
        let payload = pipeline
            .prepare(|_, out| out.extend_from_slice(&[0u8; 1000]))
            .unwrap();
        let ptr = payload.body.as_ptr();
        rt.block_on(pipeline.send(payload, 0)).unwrap_err();
        // The receiver refused the bytes, but the request was answered: its
        // buffer is back, and the next request is built in it.
        let next = pipeline.prepare(|_, out| out.push(1)).unwrap();
        assert_eq!(next.body.as_ptr(), ptr);
        rt.block_on(receiver.shutdown());
    }
}

//! The sending side of SRT: one stream per client, frames encoded per
//! attempt against what the receiver has acknowledged.
//!
//! A payload marked [`Algorithm::Srt`] holds a plain OTLP protobuf
//! `ExportTraceServiceRequest`. Until the receiver has announced SRT (see
//! [`crate::srt`]) it goes out as OTLP + zstd; after that each attempt
//! encodes it anew as a frame, so a retry after a lost answer, a receiver
//! restart or a resync never resends a frame made against a state the
//! receiver may not hold. The encoder learns the outcome of every frame:
//! acknowledged (its dictionary entries may be referred to from now on),
//! rejected (forgotten), or refused with a resync (a fresh state).

use bytes::Bytes;
use otlp_compression::{Compression, Compressor};
use otlp_srt::{FrameId, SrtConfig, SrtEncoder};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use super::{BuildError, ExportError};

pub(crate) struct SrtSession {
    /// Whether the receiver has said it decodes SRT.
    offered: AtomicBool,
    state: Mutex<State>,
}

struct State {
    encoder: SrtEncoder,
    /// OTLP + zstd, until the receiver offers SRT (or for a receiver that
    /// never will).
    fallback: Compressor,
}

impl SrtSession {
    pub(crate) fn new(config: SrtConfig) -> Result<Self, BuildError> {
        let level = config.level;
        let zstd = Compression::zstd()
            .with_level(level)
            .map_err(|e| BuildError::Srt(Box::new(e)))?;
        let fallback = Compressor::new(zstd).map_err(|e| BuildError::Srt(Box::new(e)))?;
        Ok(SrtSession {
            offered: AtomicBool::new(false),
            state: Mutex::new(State {
                encoder: SrtEncoder::new(config),
                fallback,
            }),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn is_offered(&self) -> bool {
        self.offered.load(Ordering::Relaxed)
    }

    /// The receiver announced SRT.
    pub(crate) fn offer(&self) {
        self.offered.store(true, Ordering::Relaxed);
    }

    /// The receiver refused an SRT frame as something it does not know (a
    /// stock receiver now answers at that address): back to OTLP + zstd,
    /// and a new stream should it offer SRT again.
    pub(crate) fn withdraw(&self, frame: FrameId) {
        self.offered.store(false, Ordering::Relaxed);
        let mut state = self.state();
        state.encoder.reject(frame);
        state.encoder.reset();
    }

    pub(crate) fn encode(&self, otlp: &[u8]) -> Result<(FrameId, Bytes), ExportError> {
        let mut out = Vec::with_capacity(otlp.len() / 4);
        let frame = self.state().encoder.encode(otlp, &mut out).map_err(|e| {
            ExportError::InvalidPayload {
                reason: e.to_string(),
            }
        })?;
        Ok((frame, Bytes::from(out)))
    }

    pub(crate) fn compress(&self, otlp: &[u8]) -> Result<Bytes, ExportError> {
        let mut out = Vec::with_capacity(otlp.len() / 4);
        self.state()
            .fallback
            .compress(otlp, &mut out)
            .map_err(|e| ExportError::InvalidPayload {
                reason: e.to_string(),
            })?;
        Ok(Bytes::from(out))
    }

    pub(crate) fn acknowledge(&self, frame: FrameId) {
        self.state().encoder.acknowledge(frame);
    }

    pub(crate) fn reject(&self, frame: FrameId) {
        self.state().encoder.reject(frame);
    }

    pub(crate) fn reset_for(&self, frame: FrameId) {
        self.state().encoder.reset_for(frame);
    }
}

/// A frame sent and not yet answered: rejected if dropped unsettled (the
/// export was cancelled), so the encoder never waits on it.
pub(crate) struct Pending<'a> {
    session: &'a SrtSession,
    frame: FrameId,
    settled: bool,
}

impl<'a> Pending<'a> {
    pub(crate) fn new(session: &'a SrtSession, frame: FrameId) -> Self {
        Pending {
            session,
            frame,
            settled: false,
        }
    }

    /// The frame, for the caller to report its outcome.
    pub(crate) fn settle(mut self) -> FrameId {
        self.settled = true;
        self.frame
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.session.reject(self.frame);
        }
    }
}

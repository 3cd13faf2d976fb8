//! Delivery that survives outages and crashes: retry with a budget, a
//! circuit breaker, a concurrency limit, a bounded in-memory queue with an explicit overflow
//! policy, a durable on-disk queue, and rendezvous hashing to keep each
//! key (a trace id) on one of several endpoints ([`balance`]).
//!
//! The retry, breaker and concurrency-limit middleware are [`tower`] layers over any service
//! whose error implements [`otlp_core::Retryable`]; the queues hold encoded
//! batches as opaque bytes.
#![forbid(unsafe_code)]

pub mod balance;
pub mod breaker;
pub mod disk;
pub mod limit;
pub mod queue;
pub mod retry;

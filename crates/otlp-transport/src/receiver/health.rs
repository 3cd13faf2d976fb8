//! The receiver's health, as load balancers and clients with several
//! endpoints ask for it: the gRPC health checking protocol
//! (`grpc.health.v1.Health/Check`) on the gRPC port, and `GET /health` on
//! the HTTP port.

#[cfg(feature = "grpc")]
use prost::Message;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[cfg(feature = "grpc")]
/// The gRPC method of a health check.
pub(crate) const GRPC_CHECK_PATH: &str = "/grpc.health.v1.Health/Check";
/// The HTTP path of a health check.
pub const HTTP_HEALTH_PATH: &str = "/health";

#[cfg(feature = "grpc")]
/// The services a gRPC health check may name: the server as a whole (`""`)
/// and each OTLP service it serves.
const SERVICES: [&str; 5] = [
    "",
    "opentelemetry.proto.collector.trace.v1.TraceService",
    "opentelemetry.proto.collector.metrics.v1.MetricsService",
    "opentelemetry.proto.collector.logs.v1.LogsService",
    "opentelemetry.proto.collector.profiles.v1development.ProfilesService",
];

/// Sets what the receiver answers to health checks: serving (the default)
/// or not. Requests are still received while it says it is not serving;
/// the answer tells balancers to send elsewhere, for example before a
/// planned shutdown. Cloning it gives another handle to the same state.
#[derive(Debug, Clone)]
pub struct HealthHandle {
    serving: Arc<AtomicBool>,
}

impl HealthHandle {
    pub(super) fn new() -> Self {
        HealthHandle {
            serving: Arc::new(AtomicBool::new(true)),
        }
    }

    /// Answers health checks with `SERVING` (true) or `NOT_SERVING`.
    pub fn set_serving(&self, serving: bool) {
        self.serving.store(serving, Ordering::Relaxed);
    }

    /// What health checks are answered with now.
    pub fn is_serving(&self) -> bool {
        self.serving.load(Ordering::Relaxed)
    }
}

#[cfg(feature = "grpc")]
/// `grpc.health.v1.HealthCheckRequest` (the client's health checks send it
/// too).
#[derive(Clone, PartialEq, Message)]
pub(crate) struct HealthCheckRequest {
    #[prost(string, tag = "1")]
    pub service: String,
}

#[cfg(feature = "grpc")]
/// `grpc.health.v1.HealthCheckResponse`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct HealthCheckResponse {
    /// `SERVING` = 1, `NOT_SERVING` = 2.
    #[prost(int32, tag = "1")]
    pub status: i32,
}

#[cfg(feature = "grpc")]
pub(crate) const SERVING: i32 = 1;
#[cfg(feature = "grpc")]
const NOT_SERVING: i32 = 2;

#[cfg(feature = "grpc")]
/// The answer to a check of `service`; `None` for a service this
/// receiver does not serve (the protocol's `NOT_FOUND`).
pub(super) fn check(health: &HealthHandle, service: &str) -> Option<HealthCheckResponse> {
    SERVICES.contains(&service).then(|| HealthCheckResponse {
        status: if health.is_serving() {
            SERVING
        } else {
            NOT_SERVING
        },
    })
}

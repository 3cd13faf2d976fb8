//! What a retry policy needs to know about a failed attempt.

use std::time::Duration;

/// An error that may be worth retrying. Transports implement it for their
/// errors; resilience layers decide with it, without knowing the transport.
pub trait Retryable {
    /// Whether the same request may succeed if sent again later (the OTLP
    /// specification's retryable codes: gRPC UNAVAILABLE, HTTP 503, a
    /// refused connection, ...).
    fn is_retryable(&self) -> bool;

    /// The delay the server asked for before the next attempt (HTTP
    /// `Retry-After`, gRPC `RetryInfo`), if any.
    fn retry_after(&self) -> Option<Duration>;
}

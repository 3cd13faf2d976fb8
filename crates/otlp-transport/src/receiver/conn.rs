//! Connection hygiene: a cap on open connections, and closing connections
//! that do not use their slot.
//!
//! - **Header-read timeout.** A connection must start a request within the
//!   timeout of being accepted (whatever the protocol: a header slowloris
//!   trickling one byte every few seconds, or an HTTP/2 client that never
//!   opens a stream). Over HTTP/1.1, hyper's own timer also runs from the
//!   moment the connection waits for its next request head, so an idle
//!   HTTP/1.1 keep-alive connection is closed after this timeout as well.
//! - **Idle timeout.** A connection with no request in flight for that
//!   long is closed, like the Collector's `max_connection_idle`: what
//!   counts is requests, not bytes, so keep-alive pings do not keep an
//!   unused HTTP/2 connection open. (Over HTTP/1.1 the header-read timeout
//!   above is the shorter bound between requests.)
//! - **Connection cap.** Beyond it, new connections are closed as soon as
//!   they are accepted; the refusals (and accept errors, such as running
//!   out of file descriptors) are logged at most once per
//!   [`LOG_INTERVAL`], with a count.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How often a repeated accept-side problem is logged at most.
pub(super) const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// A warning logged at most once per [`LOG_INTERVAL`], saying how many
/// times it happened since it was last logged.
#[derive(Debug, Default)]
pub(super) struct ThrottledLog {
    last: Mutex<Option<Instant>>,
    suppressed: AtomicU64,
}

impl ThrottledLog {
    /// Records one occurrence; calls `log` with the occurrences since the
    /// last call of `log` when the interval has passed.
    pub(super) fn note(&self, log: impl FnOnce(u64)) {
        let count = self.suppressed.fetch_add(1, Ordering::Relaxed) + 1;
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if last.is_none_or(|at| now.duration_since(at) >= LOG_INTERVAL) {
            *last = Some(now);
            self.suppressed.fetch_sub(count, Ordering::Relaxed);
            log(count);
        }
    }
}

/// What the connection's watchdog needs to know about its requests.
#[derive(Debug)]
pub(super) struct Activity {
    opened: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds after `opened` when the last request ended, plus one;
    /// 0 while no request has started yet.
    last_end: AtomicU64,
}

impl Activity {
    pub(super) fn new() -> Self {
        Activity {
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_end: AtomicU64::new(0),
        }
    }

    /// Marks a request as started; it ends when the guard is dropped.
    pub(super) fn start(&self) -> RequestGuard<'_> {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        // A started request counts as "a request has begun" even before it
        // ends, so `last_end` is set now too.
        self.touch();
        RequestGuard(self)
    }

    fn touch(&self) {
        let ms = self.opened.elapsed().as_millis();
        let ms = u64::try_from(ms).unwrap_or(u64::MAX - 1) + 1;
        self.last_end.store(ms, Ordering::SeqCst);
    }

    /// How long until the connection should be closed, counting from now:
    /// `None` while a request is in flight. Without any request yet the
    /// header-read timeout applies, after one the idle timeout.
    pub(super) fn remaining(&self, header_read: Duration, idle: Duration) -> Option<Duration> {
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let (since, limit) = match self.last_end.load(Ordering::SeqCst) {
            0 => (Duration::ZERO, header_read),
            ms => (Duration::from_millis(ms - 1), idle),
        };
        let quiet = self.opened.elapsed().saturating_sub(since);
        Some(limit.saturating_sub(quiet))
    }
}

/// Ends a request on [`Activity`] when dropped.
pub(super) struct RequestGuard<'a>(&'a Activity);

impl Drop for RequestGuard<'_> {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_run_only_while_no_request_is_in_flight() {
        let activity = Activity::new();
        let (header, idle) = (Duration::from_secs(5), Duration::from_secs(60));
        assert!(activity.remaining(header, idle).unwrap() <= header);
        let guard = activity.start();
        assert_eq!(activity.remaining(header, idle), None);
        drop(guard);
        let left = activity.remaining(header, idle).unwrap();
        assert!(left > header && left <= idle, "{left:?}");
    }

    #[test]
    fn throttled_log_counts_what_it_did_not_log() {
        let log = ThrottledLog::default();
        let mut logged = Vec::new();
        for _ in 0..3 {
            log.note(|n| logged.push(n));
        }
        assert_eq!(logged, [1]);
        *log.last.lock().unwrap() = Some(Instant::now() - LOG_INTERVAL);
        log.note(|n| logged.push(n));
        assert_eq!(logged, [1, 3]);
    }
}

//! Why a send failed, in one line.
//!
//! The exporters deliver in the background and retry, so the SDK never
//! sees a network error: the exporter counts it and logs it with
//! `tracing`. [`ErrorCapture`] is a minimal `tracing` subscriber that keeps
//! those warnings (only from our crates, only WARN and above) so the
//! command can name the cause. When nothing at all was delivered,
//! [`probe`] tells "the endpoint cannot be reached" (a usage problem: wrong
//! address, collector down) from "it answered, but refused the data".

use std::fmt;
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::subscriber::Interest;
use tracing::{span, Event, Level, Metadata, Subscriber};

/// At most this many warnings are kept per run: the first ones name the
/// cause, the rest repeat it.
const KEEP: usize = 32;

static CAPTURED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Installs the capture as the process's subscriber (once; later calls do
/// nothing).
pub(crate) fn install() {
    let _ = tracing::subscriber::set_global_default(ErrorCapture);
}

/// Forgets what was captured, at the start of a run.
pub(crate) fn reset() {
    CAPTURED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clear();
}

/// The errors captured since the last [`reset`], oldest first.
pub(crate) fn captured() -> Vec<String> {
    CAPTURED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

/// Keeps the `error` field of WARN and ERROR events from `otlp_*` crates.
struct ErrorCapture;

impl Subscriber for ErrorCapture {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if self.enabled(metadata) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.is_event()
            && *metadata.level() <= Level::WARN
            && metadata.target().starts_with("otlp_")
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::WARN)
    }

    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        // Spans are never enabled; an id is still required.
        span::Id::from_u64(1)
    }

    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}

    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = ErrorField(None);
        event.record(&mut fields);
        if let Some(error) = fields.0 {
            let mut captured = CAPTURED.lock().unwrap_or_else(PoisonError::into_inner);
            if captured.len() < KEEP {
                captured.push(error);
            }
        }
    }

    fn enter(&self, _: &span::Id) {}

    fn exit(&self, _: &span::Id) {}
}

struct ErrorField(Option<String>);

impl Visit for ErrorField {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "error" {
            self.0 = Some(format!("{value:?}"));
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "error" {
            self.0 = Some(value.to_owned());
        }
    }
}

/// Tries a TCP connection to `endpoint`'s host and port (80 or 443 by
/// scheme when none is given; no scheme means https, as for the exporter).
/// `Err` names why it failed: "connection refused", "connection timed
/// out", "cannot resolve ...".
pub(crate) fn probe(endpoint: &str, timeout: Duration) -> Result<(), String> {
    let (https, rest) = match endpoint.split_once("://") {
        Some((scheme, rest)) => (scheme.eq_ignore_ascii_case("https"), rest),
        None => (true, endpoint),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let has_port = match authority.rfind(']') {
        Some(close) => authority[close..].contains(':'),
        None => authority.contains(':'),
    };
    let address = if has_port {
        authority.to_owned()
    } else {
        format!("{authority}:{}", if https { 443 } else { 80 })
    };
    let addrs = address
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {authority}: {e}"))?;
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(_) => return Ok(()),
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            "connection refused".to_owned()
        }
        Some(e) if e.kind() == std::io::ErrorKind::TimedOut => {
            format!("connection timed out after {timeout:?}")
        }
        Some(e) => e.to_string(),
        None => format!("{authority} has no address"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn probe_tells_open_from_closed() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let open = format!("http://{}/v1/traces", listener.local_addr().unwrap());
        assert_eq!(probe(&open, Duration::from_secs(5)), Ok(()));
        drop(listener);
        assert_eq!(
            probe(&open, Duration::from_secs(5)),
            Err("connection refused".to_owned())
        );
    }

    #[test]
    fn warnings_from_our_crates_are_captured() {
        install();
        reset();
        tracing::warn!(target: "otlp_exporter::delivery", error = %"boom", "export failed");
        tracing::warn!(target: "hyper", error = %"not ours", "ignored");
        tracing::info!(target: "otlp_exporter", error = %"too quiet", "ignored");
        assert_eq!(captured(), ["boom"]);
    }
}

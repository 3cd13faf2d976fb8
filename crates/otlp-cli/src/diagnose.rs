//! Why a send failed, in one line, when nothing at all was delivered.
//!
//! The exporters deliver in the background and retry, so the SDK never
//! sees a network error; the exporter's stats keep the last one
//! (`StatsSnapshot::last_error`). When nothing at all was delivered,
//! [`probe`] tells "the endpoint cannot be reached" (a usage problem: wrong
//! address, collector down) from "it answered, but refused the data".

use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

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
}

//! Exporting to several endpoints: which endpoints ([`Resolver`], or a
//! static list), how batches are spread over them ([`Routing`]), and how an
//! endpoint is known to be healthy ([`HealthCheck`]).
//!
//! # Design
//!
//! Each endpoint has a delivery of its own (client, circuit breaker, retry,
//! bounded queue, stats), exactly the one a single-endpoint exporter has.
//! A router above them holds the membership (from the configuration or the
//! last DNS answer) and the ring: the members that are healthy (passing
//! their active health checks, their breaker not open), or all members
//! when none is.
//!
//! **Routing by trace id** uses rendezvous hashing
//! ([`otlp_resilience::balance::Rendezvous`]): a membership change moves
//! only the traces of the endpoint that left or joined. The span processor
//! (and the span exporter) keep one batch per pair *(owner, next owner)*
//! of the traces' rankings, so spans are partitioned by endpoint as they
//! are encoded, never decoded and re-encoded. A batch goes to its pair's
//! owner while it is in the ring, else whole to the next owner, which is
//! where every one of its traces goes next; with both gone, to the
//! highest-ranked member in the ring for the batch's first trace.
//!
//! **Failover without loss.** When an endpoint leaves the ring while
//! another is in it, what is queued for it, and each batch of it that
//! fails from then on (or is waiting to be retried), is handed whole to
//! the router, which queues it at the batch's next owner. Nothing is
//! dropped for it, and a batch reaches two endpoints only when its request
//! to the first went out and no answer came back (a timeout, or a
//! connection broken after sending): those items are counted as
//! [`possible_duplicates`](crate::StatsSnapshot::possible_duplicates).
//!
//! **Accounting.** Each endpoint has its own [`ExportStats`](crate::ExportStats)
//! ([`ExportStats::endpoints`](crate::ExportStats::endpoints)); every
//! booking there is also booked in the exporter's total, so that
//! accepted = exported + dropped + queued + in flight holds for the total
//! at every moment, and for each endpoint with its handed-on items added.
//!
//! **One endpoint costs nothing more.** An exporter with one endpoint has
//! no router: the same delivery as before, and no ring lookup per span.

pub(crate) mod dns;
pub(crate) mod router;

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

pub use otlp_transport::client::HealthProbe;

/// How batches are spread over several endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Routing {
    /// Spans and log records by trace id (every span and log record of a
    /// trace at one endpoint, for tail sampling or span-to-metrics); log
    /// records without a trace id, and metrics, by `service.name` as with
    /// [`Service`](Self::Service). The default.
    #[default]
    TraceId,
    /// By the resource's `service.name` (every item of a service at one
    /// endpoint); a resource without one is keyed by its other attributes.
    Service,
    /// Each batch to the next endpoint in the ring, in turn (stateless
    /// receivers).
    RoundRobin,
    /// Each batch to the endpoint with the fewest items queued and in
    /// flight (stateless receivers of unequal speed).
    LeastPending,
}

impl Routing {
    /// The name [`FromStr`] reads: `trace-id`, `service`, `round-robin`,
    /// `least-pending`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Routing::TraceId => "trace-id",
            Routing::Service => "service",
            Routing::RoundRobin => "round-robin",
            Routing::LeastPending => "least-pending",
        }
    }
}

impl fmt::Display for Routing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A routing, resolver or health check that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
#[error("{value:?} is not a valid {what}: {expected}")]
pub struct ParseError {
    /// What was being parsed.
    pub what: &'static str,
    /// The text given.
    pub value: String,
    /// What would have been accepted.
    pub expected: &'static str,
}

impl FromStr for Routing {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "trace-id" | "traceid" | "trace_id" => Ok(Routing::TraceId),
            "service" | "service.name" | "resource" => Ok(Routing::Service),
            "round-robin" | "roundrobin" | "round_robin" => Ok(Routing::RoundRobin),
            "least-pending" | "leastpending" | "least_pending" => Ok(Routing::LeastPending),
            _ => Err(ParseError {
                what: "routing",
                value: s.to_owned(),
                expected: "trace-id, service, round-robin or least-pending",
            }),
        }
    }
}

/// How often an endpoint is asked for its health unless configured.
pub const DEFAULT_HEALTH_INTERVAL: Duration = Duration::from_secs(5);
/// How often a DNS name is resolved again unless configured.
pub const DEFAULT_RESOLVE_INTERVAL: Duration = Duration::from_secs(30);

/// Active health checks of each endpoint, at an interval: an endpoint that
/// answers "not serving", or does not answer, leaves the ring until it
/// answers "serving" again. (Passively, an endpoint whose circuit breaker
/// is open is out of the ring too, with or without these.)
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HealthCheck {
    /// What is asked.
    pub probe: HealthProbe,
    /// How often (each check is bounded by the export timeout).
    pub interval: Duration,
}

impl HealthCheck {
    /// The gRPC health checking protocol (`grpc.health.v1.Health/Check`,
    /// for the server as a whole), for OTLP/gRPC endpoints; `otlp
    /// receive` and the OpenTelemetry Collector's health extension serve
    /// it.
    pub fn grpc() -> Self {
        HealthCheck {
            probe: HealthProbe::Grpc {
                service: String::new(),
            },
            interval: DEFAULT_HEALTH_INTERVAL,
        }
    }

    /// `GET path` on each endpoint's host and port, for OTLP/HTTP
    /// endpoints: a 2xx answer is healthy (`otlp receive` serves
    /// [`HTTP_HEALTH_PATH`](otlp_transport::receiver::HTTP_HEALTH_PATH)).
    pub fn http(path: impl Into<String>) -> Self {
        HealthCheck {
            probe: HealthProbe::Http { path: path.into() },
            interval: DEFAULT_HEALTH_INTERVAL,
        }
    }

    /// How often each endpoint is checked (default 5 s). A failed export
    /// also brings the next check forward.
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }
}

/// Endpoints from a DNS name, resolved again at an interval: every A and
/// AAAA address becomes an endpoint (`scheme://address:port`), as a
/// Kubernetes headless service answers with its ready pods. Membership
/// changes apply while running: a new address joins the ring, one no
/// longer answered leaves it (and hands on what was queued for it). An
/// answer with no address, or a failed lookup, keeps the endpoints as they
/// were.
///
/// Parsed from `dns:///name:port` or `dns://SERVER:PORT/name:port` (the
/// gRPC name syntax; `SERVER` is the name server to ask).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Resolver {
    /// The name to resolve.
    pub host: String,
    /// The port of every endpoint.
    pub port: u16,
    /// `http` (the default) or `https`.
    pub scheme: String,
    /// How often the name is resolved again.
    pub interval: Duration,
    /// The name server to ask; `None` for the system's (`/etc/resolv.conf`).
    pub name_server: Option<SocketAddr>,
}

impl Resolver {
    /// `host` resolved with the system's name servers every 30 s, each
    /// address an `http://` endpoint on `port`.
    pub fn dns(host: impl Into<String>, port: u16) -> Self {
        Resolver {
            host: host.into(),
            port,
            scheme: "http".to_owned(),
            interval: DEFAULT_RESOLVE_INTERVAL,
            name_server: None,
        }
    }

    /// How often the name is resolved again (default 30 s).
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Asks this name server (UDP, then TCP) instead of the system's.
    pub fn with_name_server(mut self, server: SocketAddr) -> Self {
        self.name_server = Some(server);
        self
    }

    /// `https` endpoints (TLS settings as configured; the certificate must
    /// name the address, as the endpoint is an IP address).
    pub fn with_https(mut self, https: bool) -> Self {
        self.scheme = if https { "https" } else { "http" }.to_owned();
        self
    }

    /// The endpoint URL the address `ip` becomes: `scheme://ip:port`.
    pub fn endpoint_for(&self, ip: std::net::IpAddr) -> String {
        format!("{}://{}", self.scheme, SocketAddr::new(ip, self.port))
    }
}

impl FromStr for Resolver {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ParseError {
            what: "DNS endpoint",
            value: s.to_owned(),
            expected: "dns:///name:port or dns://server:port/name:port",
        };
        let rest = s.trim().strip_prefix("dns:").ok_or_else(bad)?;
        let (server, target) = match rest.strip_prefix("//") {
            Some(rest) => {
                let (authority, target) = rest.split_once('/').ok_or_else(bad)?;
                let server = match authority {
                    "" => None,
                    a => Some(
                        a.parse::<SocketAddr>()
                            .or_else(|_| {
                                a.parse::<std::net::IpAddr>()
                                    .map(|ip| SocketAddr::new(ip, 53))
                            })
                            .map_err(|_| bad())?,
                    ),
                };
                (server, target)
            }
            None => (None, rest),
        };
        let (host, port) = target.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        if host.is_empty() || port == 0 {
            return Err(bad());
        }
        let mut resolver = Resolver::dns(host, port);
        resolver.name_server = server;
        Ok(resolver)
    }
}

/// Where the endpoints of an exporter with several come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Members {
    Static(Vec<String>),
    Dns(Resolver),
}

/// The multi-endpoint settings of a builder.
#[derive(Debug, Clone, Default)]
pub(crate) struct RouteSettings {
    pub(crate) members: Option<Members>,
    pub(crate) routing: Option<Routing>,
    pub(crate) health: Option<HealthCheck>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routings_parse_by_name() {
        for r in [
            Routing::TraceId,
            Routing::Service,
            Routing::RoundRobin,
            Routing::LeastPending,
        ] {
            assert_eq!(r.as_str().parse::<Routing>(), Ok(r));
        }
        let e = "random".parse::<Routing>().unwrap_err();
        assert!(e.to_string().contains("round-robin"), "{e}");
    }

    #[test]
    fn dns_names_parse_with_and_without_a_server() {
        let r: Resolver = "dns:///collector.obs.svc:4317".parse().unwrap();
        assert_eq!(
            (r.host.as_str(), r.port, r.name_server),
            ("collector.obs.svc", 4317, None)
        );
        let r: Resolver = "dns://127.0.0.1:5353/otel:4318".parse().unwrap();
        assert_eq!(r.name_server, Some("127.0.0.1:5353".parse().unwrap()));
        assert_eq!(
            r.endpoint_for("10.0.0.7".parse().unwrap()),
            "http://10.0.0.7:4318"
        );
        assert_eq!(
            r.endpoint_for("::1".parse().unwrap()),
            "http://[::1]:4318",
            "IPv6 addresses are bracketed"
        );
        for bad in [
            "dns:///nohost",
            "http://x:1",
            "dns:///x:0",
            "dns://nonsense/x:1",
            "dns:///:4317",
        ] {
            assert!(bad.parse::<Resolver>().is_err(), "{bad}");
        }
    }
}

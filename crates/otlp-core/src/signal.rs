//! The OTLP signals and the two payload formats.

use std::fmt;
use std::str::FromStr;

/// One of the telemetry signals OTLP carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Signal {
    /// Spans (`ExportTraceServiceRequest`).
    Traces,
    /// Metric data points (`ExportMetricsServiceRequest`).
    Metrics,
    /// Log records (`ExportLogsServiceRequest`).
    Logs,
    /// Profiles (`ExportProfilesServiceRequest` of
    /// `opentelemetry.proto.profiles.v1development`, OTLP's development
    /// signal; the Collector accepts it with
    /// `--feature-gates=+service.profilesSupport`).
    Profiles,
}

impl Signal {
    /// All signals, in a fixed order ([`Signal::index`]).
    pub const ALL: [Signal; 4] = [
        Signal::Traces,
        Signal::Metrics,
        Signal::Logs,
        Signal::Profiles,
    ];

    /// The stable signals, which the OpenTelemetry SDKs produce: traces,
    /// metrics and logs.
    pub const STABLE: [Signal; 3] = [Signal::Traces, Signal::Metrics, Signal::Logs];

    /// The signal's name as the OpenTelemetry environment variables and
    /// OTLP/HTTP paths spell it: `traces`, `metrics`, `logs` or `profiles`.
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
            Signal::Profiles => "profiles",
        }
    }

    /// The OTLP/HTTP request path, e.g. `/v1/traces`
    /// (`/v1development/profiles` for profiles).
    pub fn http_path(self) -> &'static str {
        match self {
            Signal::Traces => "/v1/traces",
            Signal::Metrics => "/v1/metrics",
            Signal::Logs => "/v1/logs",
            Signal::Profiles => "/v1development/profiles",
        }
    }

    /// The OTLP/gRPC method path, e.g.
    /// `/opentelemetry.proto.collector.trace.v1.TraceService/Export`.
    pub fn grpc_path(self) -> &'static str {
        match self {
            Signal::Traces => "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            Signal::Metrics => "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
            Signal::Logs => "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
            Signal::Profiles => {
                "/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export"
            }
        }
    }

    /// The signal's position in [`Signal::ALL`], for per-signal arrays.
    pub fn index(self) -> usize {
        match self {
            Signal::Traces => 0,
            Signal::Metrics => 1,
            Signal::Logs => 2,
            Signal::Profiles => 3,
        }
    }

    /// The unit the signal's items are counted in (partial success, limits,
    /// statistics): `spans`, `metric data points`, `log records` or
    /// `profiles`.
    pub fn item_unit(self) -> &'static str {
        match self {
            Signal::Traces => "spans",
            Signal::Metrics => "metric data points",
            Signal::Logs => "log records",
            Signal::Profiles => "profiles",
        }
    }

    /// The name of the rejected-item count in the signal's
    /// `Export*PartialSuccess`, as OTLP/JSON writes it (lowerCamelCase) and
    /// as the protobuf field is called (snake_case), e.g.
    /// `("rejectedSpans", "rejected_spans")`.
    pub fn rejected_field(self) -> (&'static str, &'static str) {
        match self {
            Signal::Traces => ("rejectedSpans", "rejected_spans"),
            Signal::Metrics => ("rejectedDataPoints", "rejected_data_points"),
            Signal::Logs => ("rejectedLogRecords", "rejected_log_records"),
            Signal::Profiles => ("rejectedProfiles", "rejected_profiles"),
        }
    }

    /// The signal served at an OTLP/HTTP path, if any.
    pub fn from_http_path(path: &str) -> Option<Signal> {
        Signal::ALL.into_iter().find(|s| s.http_path() == path)
    }

    /// The signal served at an OTLP/gRPC method path, if any.
    pub fn from_grpc_path(path: &str) -> Option<Signal> {
        Signal::ALL.into_iter().find(|s| s.grpc_path() == path)
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown signal, protocol or format name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{value}`; expected one of: {expected}")]
pub struct ParseError {
    what: &'static str,
    value: String,
    expected: &'static str,
}

impl ParseError {
    /// A parse error for `value`, which is not a valid `what`.
    pub fn new(what: &'static str, value: &str, expected: &'static str) -> Self {
        ParseError {
            what,
            value: value.to_owned(),
            expected,
        }
    }
}

impl FromStr for Signal {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "traces" | "trace" | "spans" => Ok(Signal::Traces),
            "metrics" => Ok(Signal::Metrics),
            "logs" => Ok(Signal::Logs),
            "profiles" => Ok(Signal::Profiles),
            _ => Err(ParseError::new(
                "signal",
                s,
                "traces, metrics, logs, profiles",
            )),
        }
    }
}

/// How an OTLP message is serialized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// Binary protobuf (`application/x-protobuf`, and the gRPC payload).
    Protobuf,
    /// The OTLP/JSON mapping (`application/json`).
    Json,
}

impl Format {
    /// The HTTP `Content-Type` of this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Protobuf => "application/x-protobuf",
            Format::Json => "application/json",
        }
    }

    /// The format of an HTTP `Content-Type` value (parameters such as
    /// `; charset=utf-8` are ignored), or `None` for any other media type.
    pub fn from_content_type(value: &str) -> Option<Format> {
        let media = value.split(';').next().unwrap_or("").trim();
        if media.eq_ignore_ascii_case("application/x-protobuf")
            || media.eq_ignore_ascii_case("application/protobuf")
        {
            Some(Format::Protobuf)
        } else if media.eq_ignore_ascii_case("application/json") {
            Some(Format::Json)
        } else {
            None
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Protobuf => "protobuf",
            Format::Json => "json",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_round_trip() {
        for s in Signal::ALL {
            assert_eq!(Signal::from_http_path(s.http_path()), Some(s));
            assert_eq!(Signal::from_grpc_path(s.grpc_path()), Some(s));
            assert_eq!(s.as_str().parse::<Signal>(), Ok(s));
        }
        assert_eq!(Signal::from_http_path("/v1/profiles"), None);
        assert_eq!(
            Signal::from_http_path("/v1development/profiles"),
            Some(Signal::Profiles)
        );
        for (i, s) in Signal::ALL.into_iter().enumerate() {
            assert_eq!(s.index(), i);
        }
        assert!("spanz".parse::<Signal>().is_err());
    }

    #[test]
    fn content_types() {
        assert_eq!(
            Format::from_content_type("application/json; charset=utf-8"),
            Some(Format::Json)
        );
        assert_eq!(
            Format::from_content_type("Application/X-Protobuf"),
            Some(Format::Protobuf)
        );
        assert_eq!(Format::from_content_type("text/plain"), None);
    }
}

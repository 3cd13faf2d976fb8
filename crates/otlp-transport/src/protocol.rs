use otlp_core::{Format, ParseError, Signal};
use std::fmt;
use std::str::FromStr;

/// The OTLP transport protocol, as `OTEL_EXPORTER_OTLP_PROTOCOL` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Protocol {
    /// OTLP/gRPC (`grpc`), port 4317 by convention.
    Grpc,
    /// OTLP/HTTP with binary protobuf bodies (`http/protobuf`), port 4318.
    HttpProtobuf,
    /// OTLP/HTTP with JSON bodies (`http/json`), port 4318.
    HttpJson,
}

impl Protocol {
    /// The payload format this protocol carries.
    pub fn format(self) -> Format {
        match self {
            Protocol::Grpc | Protocol::HttpProtobuf => Format::Protobuf,
            Protocol::HttpJson => Format::Json,
        }
    }

    /// The name used by `OTEL_EXPORTER_OTLP_PROTOCOL`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::HttpProtobuf => "http/protobuf",
            Protocol::HttpJson => "http/json",
        }
    }

    /// Whether this build of the crate can send and serve the protocol:
    /// `grpc` needs the `grpc` feature, `http/protobuf` and `http/json` the
    /// `http` feature (both on by default).
    pub const fn is_supported(self) -> bool {
        match self {
            Protocol::Grpc => cfg!(feature = "grpc"),
            Protocol::HttpProtobuf | Protocol::HttpJson => cfg!(feature = "http"),
        }
    }

    /// The crate feature that compiles the protocol in: `grpc` or `http`.
    pub const fn feature(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::HttpProtobuf | Protocol::HttpJson => "http",
        }
    }

    /// The conventional default endpoint for this protocol.
    pub fn default_endpoint(self) -> &'static str {
        match self {
            Protocol::Grpc => "http://localhost:4317",
            Protocol::HttpProtobuf | Protocol::HttpJson => "http://localhost:4318",
        }
    }

    /// Where exports of `signal` go, given a base endpoint such as
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`: for OTLP/HTTP the base with the
    /// signal's path appended (`http://host:4318/v1/traces`; a trailing `/`
    /// of the base is dropped), for OTLP/gRPC the base itself (the signal
    /// picks the service, not the path).
    pub fn signal_url(self, base: &str, signal: Signal) -> String {
        let base = base.trim();
        match self {
            Protocol::Grpc => base.to_owned(),
            Protocol::HttpProtobuf | Protocol::HttpJson => {
                format!("{}{}", base.trim_end_matches('/'), signal.http_path())
            }
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Protocol {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "grpc" => Ok(Protocol::Grpc),
            "http/protobuf" | "http" => Ok(Protocol::HttpProtobuf),
            "http/json" => Ok(Protocol::HttpJson),
            _ => Err(ParseError::new(
                "protocol",
                s,
                "grpc, http/protobuf, http/json",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_urls() {
        let http = Protocol::HttpJson;
        assert_eq!(
            http.signal_url(" http://c:4318/ ", Signal::Logs),
            "http://c:4318/v1/logs"
        );
        assert_eq!(
            http.signal_url("http://c:4318/otlp", Signal::Traces),
            "http://c:4318/otlp/v1/traces"
        );
        assert_eq!(
            Protocol::Grpc.signal_url("http://c:4317", Signal::Metrics),
            "http://c:4317"
        );
    }

    #[test]
    fn parse() {
        assert_eq!("grpc".parse(), Ok(Protocol::Grpc));
        assert_eq!("HTTP/JSON".parse(), Ok(Protocol::HttpJson));
        let err = "udp".parse::<Protocol>().unwrap_err().to_string();
        assert!(
            err.contains("udp") && err.contains("http/protobuf"),
            "{err}"
        );
    }
}

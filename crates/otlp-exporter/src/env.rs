//! Settings from code and from the `OTEL_EXPORTER_OTLP_*` environment
//! variables, resolved into one configuration.
//!
//! Precedence, highest first: what the builder was given in code, the
//! signal-specific variable (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), the
//! general variable (`OTEL_EXPORTER_OTLP_ENDPOINT`), the default. A value
//! that cannot be understood is an error naming the variable, never silently
//! replaced by a default: a typo in `OTEL_EXPORTER_OTLP_PROTOCOL` should not
//! send telemetry somewhere else.
//!
//! [`ClientKey`] turns the result into a transport client. The exporters
//! and [`ExporterBuilder::build_client`](crate::ExporterBuilder::build_client)
//! (which the `otlp` facade's push API uses) both go through it, so
//! anything built from the same settings sends to the same place, and
//! exporters on one [`ExportThread`](crate::ExportThread) whose settings
//! resolve alike share one client.

use crate::BuildError;
use opentelemetry_sdk::metrics::Temporality;
use otlp_compression::Compression;
use otlp_core::Signal;
use otlp_transport::client::{OtlpClient, TlsConfig};
use otlp_transport::Protocol;
use std::path::PathBuf;
use std::time::Duration;

/// The default export timeout (`OTEL_EXPORTER_OTLP_TIMEOUT`'s default);
/// the transport client's own default, so that both agree.
pub use otlp_transport::client::DEFAULT_TIMEOUT;

/// The longest export timeout accepted (from the environment or code): one
/// hour. Longer ones would in effect never end (`u64::MAX` milliseconds
/// overflows every deadline).
pub const MAX_TIMEOUT: Duration = Duration::from_secs(3600);

/// Headers the protocol sets itself; configuring them breaks requests.
fn is_reserved_header(name: &str) -> bool {
    name.starts_with(':')
        || ["content-length", "content-type", "te", "host"]
            .iter()
            .any(|reserved| name.eq_ignore_ascii_case(reserved))
}

/// What the builder was given in code; `None` means "not set".
#[derive(Debug, Clone, Default)]
pub(crate) struct Settings {
    pub(crate) endpoint: Option<String>,
    pub(crate) protocol: Option<Protocol>,
    pub(crate) compression: Option<Compression>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) tls: Option<TlsConfig>,
}

/// The resolved configuration of one exporter.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub(crate) protocol: Protocol,
    /// The full URL to send to (for HTTP, including the signal path).
    pub(crate) url: String,
    pub(crate) compression: Compression,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) timeout: Duration,
    pub(crate) tls: TlsConfig,
}

pub(crate) fn var_name(signal: Option<Signal>, key: &str) -> String {
    match signal {
        Some(s) => format!(
            "OTEL_EXPORTER_OTLP_{}_{key}",
            s.as_str().to_ascii_uppercase()
        ),
        None => format!("OTEL_EXPORTER_OTLP_{key}"),
    }
}

/// Looks up a variable: the signal-specific one, then the general one.
/// Empty values count as unset, as the specification asks.
fn lookup(
    env: &dyn Fn(&str) -> Option<String>,
    signal: Signal,
    key: &str,
) -> Option<(String, String)> {
    [Some(signal), None].into_iter().find_map(|s| {
        let name = var_name(s, key);
        env(&name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .map(|v| (name, v))
    })
}

fn invalid(name: &str, value: &str, reason: impl std::fmt::Display) -> BuildError {
    BuildError::InvalidEnv {
        name: name.to_owned(),
        value: value.to_owned(),
        reason: reason.to_string(),
    }
}

/// An endpoint given in code: the signal path is added (as to
/// `OTEL_EXPORTER_OTLP_ENDPOINT`, [`Protocol::signal_url`]) to a URL whose
/// path is empty or `/`; a URL with a path of its own is used as it is.
fn http_url(base: &str, signal: Signal, protocol: Protocol) -> String {
    let after_scheme = base.split_once("://").map_or(base, |(_, rest)| rest);
    match after_scheme.find('/') {
        Some(i) if !after_scheme[i..].trim_end_matches('/').is_empty() => base.to_owned(),
        _ => protocol.signal_url(base, signal),
    }
}

fn parse_bool(name: &str, value: &str) -> Result<bool, BuildError> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid(name, value, "expected true or false")),
    }
}

/// Parses `OTEL_EXPORTER_OTLP_HEADERS`: `key1=value1,key2=value2`, values
/// percent-decoded (W3C Baggage format).
pub(crate) fn parse_headers(name: &str, value: &str) -> Result<Vec<(String, String)>, BuildError> {
    value
        .split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|pair| {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| invalid(name, value, format!("`{pair}` is not key=value")))?;
            let v = percent_decode(v.trim())
                .ok_or_else(|| invalid(name, value, format!("bad percent-encoding in `{v}`")))?;
            Ok((k.trim().to_owned(), v))
        })
        .collect()
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

pub(crate) fn resolve(
    signal: Signal,
    settings: &Settings,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Resolved, BuildError> {
    let protocol = match settings.protocol {
        Some(p) => p,
        None => match lookup(env, signal, "PROTOCOL") {
            Some((name, v)) => v.parse().map_err(|e| invalid(&name, &v, e))?,
            None => Protocol::HttpProtobuf,
        },
    };

    let insecure = match lookup(env, signal, "INSECURE") {
        Some((name, v)) => Some(parse_bool(&name, &v)?),
        None => None,
    };
    // A gRPC endpoint may come without a scheme; INSECURE picks one.
    let with_scheme = |url: String| {
        if url.contains("://") {
            url
        } else if insecure == Some(true) {
            format!("http://{url}")
        } else {
            format!("https://{url}")
        }
    };
    let is_http = protocol != Protocol::Grpc;
    let signal_var = var_name(Some(signal), "ENDPOINT");
    let url = if let Some(e) = &settings.endpoint {
        let e = with_scheme(e.clone());
        if is_http {
            http_url(&e, signal, protocol)
        } else {
            e
        }
    } else if let Some(v) = env(&signal_var).filter(|v| !v.trim().is_empty()) {
        // Signal-specific endpoints are used as they are.
        with_scheme(v.trim().to_owned())
    } else if let Some(v) = env(&var_name(None, "ENDPOINT")).filter(|v| !v.trim().is_empty()) {
        protocol.signal_url(&with_scheme(v.trim().to_owned()), signal)
    } else {
        protocol.signal_url(protocol.default_endpoint(), signal)
    };

    let compression = match settings.compression {
        Some(c) => c,
        None => match lookup(env, signal, "COMPRESSION") {
            Some((name, v)) => v.parse().map_err(|e| invalid(&name, &v, e))?,
            None => Compression::none(),
        },
    };

    let in_range = |t: Duration| !t.is_zero() && t <= MAX_TIMEOUT;
    let timeout = match settings.timeout {
        Some(t) if in_range(t) => t,
        Some(t) => {
            return Err(BuildError::TimeoutOutOfRange {
                timeout: t,
                max: MAX_TIMEOUT,
            })
        }
        None => match lookup(env, signal, "TIMEOUT") {
            Some((name, v)) => {
                let ms = v
                    .trim()
                    .parse::<u64>()
                    .map_err(|_| invalid(&name, &v, "expected milliseconds"))?;
                let t = Duration::from_millis(ms);
                if !in_range(t) {
                    let max = MAX_TIMEOUT.as_millis();
                    return Err(invalid(
                        &name,
                        &v,
                        format!("expected 1 to {max} milliseconds"),
                    ));
                }
                t
            }
            None => DEFAULT_TIMEOUT,
        },
    };

    // Headers: general, then signal-specific, then code; later ones win.
    let mut headers: Vec<(String, String)> = Vec::new();
    for s in [None, Some(signal)] {
        let name = var_name(s, "HEADERS");
        if let Some(v) = env(&name).filter(|v| !v.trim().is_empty()) {
            merge(&mut headers, parse_headers(&name, &v)?);
        }
    }
    merge(&mut headers, settings.headers.clone());
    if let Some((name, _)) = headers.iter().find(|(name, _)| is_reserved_header(name)) {
        return Err(BuildError::ReservedHeader { name: name.clone() });
    }

    let tls = match &settings.tls {
        Some(t) => t.clone(),
        None => {
            let mut tls = TlsConfig::new();
            if let Some((_, path)) = lookup(env, signal, "CERTIFICATE") {
                tls = tls.with_ca_pem_file(PathBuf::from(path));
            }
            let cert = lookup(env, signal, "CLIENT_CERTIFICATE");
            let key = lookup(env, signal, "CLIENT_KEY");
            match (cert, key) {
                (Some((_, c)), Some((_, k))) => {
                    tls = tls.with_client_identity_pem_files(PathBuf::from(c), PathBuf::from(k));
                }
                (None, None) => {}
                (Some((name, v)), None) | (None, Some((name, v))) => {
                    return Err(invalid(
                        &name,
                        &v,
                        "CLIENT_CERTIFICATE and CLIENT_KEY must be set together",
                    ))
                }
            }
            if let Some(insecure) = insecure {
                tls = tls.with_insecure(insecure);
            }
            tls
        }
    };

    Ok(Resolved {
        protocol,
        url,
        compression,
        headers,
        timeout,
        tls,
    })
}

/// The metric temporality `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`
/// asks for (`cumulative`, `delta` or `lowmemory`); cumulative if unset.
pub(crate) fn temporality(env: &dyn Fn(&str) -> Option<String>) -> Result<Temporality, BuildError> {
    const VAR: &str = "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE";
    let Some(v) = env(VAR).filter(|v| !v.trim().is_empty()) else {
        return Ok(Temporality::Cumulative);
    };
    match v.trim().to_ascii_lowercase().as_str() {
        "cumulative" => Ok(Temporality::Cumulative),
        "delta" => Ok(Temporality::Delta),
        "lowmemory" => Ok(Temporality::LowMemory),
        _ => Err(invalid(VAR, &v, "expected cumulative, delta or lowmemory")),
    }
}

/// The zstd level of SRT frames when none is configured (zstd's default).
const DEFAULT_SRT_LEVEL: i32 = 3;

/// What a transport client is made of. Exporters whose settings resolve to
/// the same key can share one client, and so its connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClientKey {
    protocol: Protocol,
    /// Where each signal goes (in [`Signal::ALL`] order); `None` for a
    /// signal whose settings differ, which this client does not send.
    urls: [Option<String>; Signal::ALL.len()],
    headers: Vec<(String, String)>,
    timeout: Duration,
    tls: TlsConfig,
    /// The zstd level of SRT frames: the traces' compression level when
    /// traces are sent with SRT.
    srt_level: i32,
}

impl ClientKey {
    /// The client `signal` sends through, as `cfg` says. The other signals,
    /// resolved from the same `settings`, are added where they agree on
    /// everything but the URL, so that an exporter of each signal built
    /// from one builder's settings gets the same key (one that cannot be
    /// resolved is left out: its own exporter reports the error).
    pub(crate) fn new(
        signal: Signal,
        cfg: &Resolved,
        settings: &Settings,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Self {
        let urls = Signal::ALL.map(|other| {
            if other == signal {
                return Some(cfg.url.clone());
            }
            resolve(other, settings, env).ok().and_then(|o| {
                let alike = o.protocol == cfg.protocol
                    && o.headers == cfg.headers
                    && o.timeout == cfg.timeout
                    && o.tls == cfg.tls;
                alike.then_some(o.url)
            })
        });
        let traces = match signal {
            Signal::Traces => Some(cfg.compression),
            _ => resolve(Signal::Traces, settings, env)
                .ok()
                .map(|o| o.compression),
        };
        let srt_level = traces
            .filter(|c| c.algorithm() == otlp_compression::Algorithm::Srt)
            .and_then(|c| c.level())
            .unwrap_or(DEFAULT_SRT_LEVEL);
        ClientKey {
            protocol: cfg.protocol,
            urls,
            headers: cfg.headers.clone(),
            timeout: cfg.timeout,
            tls: cfg.tls.clone(),
            srt_level,
        }
    }

    /// Builds the client for `signal`. If the transport refuses the
    /// settings, the other signals' URLs it refuses on their own are left
    /// out and it tries again: a bad endpoint of another signal fails that
    /// signal's exporter, not this one. Returns the key actually built.
    pub(crate) fn build_for(self, signal: Signal) -> Result<(ClientKey, OtlpClient), BuildError> {
        match self.build() {
            Ok(client) => Ok((self, client)),
            Err(e) => {
                let narrowed = self.without_bad_urls(signal);
                if narrowed == self {
                    return Err(e);
                }
                let client = narrowed.build()?;
                Ok((narrowed, client))
            }
        }
    }

    fn without_bad_urls(&self, signal: Signal) -> ClientKey {
        let mut key = self.clone();
        for (other, url) in Signal::ALL.into_iter().zip(&mut key.urls) {
            if other == signal || url.is_none() {
                continue;
            }
            let alone = OtlpClient::builder(self.protocol)
                .with_signal_endpoint(other, url.clone().unwrap_or_default())
                .build();
            if alone.is_err() {
                *url = None;
            }
        }
        key
    }

    /// Builds the client. No connection is made until the first export.
    fn build(&self) -> Result<OtlpClient, BuildError> {
        let mut client = OtlpClient::builder(self.protocol)
            .with_headers(self.headers.clone())
            .with_timeout(self.timeout)
            .with_tls(self.tls.clone());
        #[cfg(feature = "srt")]
        {
            let srt = otlp_transport::client::SrtConfig::default()
                .with_level(self.srt_level)
                .map_err(|e| {
                    BuildError::Transport(otlp_transport::client::BuildError::Srt(Box::new(e)))
                })?;
            client = client.with_srt(srt);
        }
        // Each URL is complete (for HTTP, with the signal's path): used as
        // it is.
        for (signal, url) in Signal::ALL.into_iter().zip(&self.urls) {
            if let Some(url) = url {
                client = client.with_signal_endpoint(signal, url.clone());
            }
        }
        Ok(client.build()?)
    }
}

fn merge(into: &mut Vec<(String, String)>, from: Vec<(String, String)>) {
    for (k, v) in from {
        match into.iter_mut().find(|(x, _)| x.eq_ignore_ascii_case(&k)) {
            Some(slot) => slot.1 = v,
            None => into.push((k, v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn signals_that_resolve_alike_share_a_client_key() {
        let settings = Settings {
            endpoint: Some("http://collector:4318".into()),
            ..Settings::default()
        };
        let key = |signal, vars: &[(&str, &str)]| {
            let env = env(vars);
            let cfg = resolve(signal, &settings, &env).unwrap();
            ClientKey::new(signal, &cfg, &settings, &env)
        };
        let traces = key(Signal::Traces, &[]);
        assert_eq!(traces, key(Signal::Metrics, &[]));
        assert_eq!(traces, key(Signal::Logs, &[]));
        assert_eq!(
            traces.urls[2].as_deref(),
            Some("http://collector:4318/v1/logs")
        );

        // Logs carry a header of their own: they need a client of their own.
        let vars = [("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "tenant=a")];
        let traces = key(Signal::Traces, &vars);
        let logs = key(Signal::Logs, &vars);
        assert_eq!(traces, key(Signal::Metrics, &vars));
        assert_ne!(traces, logs);
        assert_eq!(traces.urls[2], None);
        assert_eq!((logs.urls[0].as_ref(), logs.urls[1].as_ref()), (None, None));

        // A logs endpoint the transport refuses fails only the logs client
        // (checked where the default protocol is compiled in).
        if !Protocol::HttpProtobuf.is_supported() {
            return;
        }
        let env = env(&[("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://bad host/")]);
        let key = |signal| {
            let settings = Settings::default();
            let cfg = resolve(signal, &settings, &env).unwrap();
            ClientKey::new(signal, &cfg, &settings, &env)
        };
        let (built, _) = key(Signal::Traces).build_for(Signal::Traces).unwrap();
        assert_eq!(built.urls[2], None);
        assert!(built.urls[1].is_some());
        assert!(key(Signal::Logs).build_for(Signal::Logs).is_err());
    }

    #[test]
    fn temporality_preference() {
        let var = "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE";
        assert_eq!(temporality(&env(&[])).unwrap(), Temporality::Cumulative);
        assert_eq!(
            temporality(&env(&[(var, " Delta ")])).unwrap(),
            Temporality::Delta
        );
        let e = temporality(&env(&[(var, "sometimes")])).unwrap_err();
        assert!(e.to_string().contains(var), "{e}");
    }

    #[test]
    fn defaults() {
        let r = resolve(Signal::Traces, &Settings::default(), &env(&[])).unwrap();
        assert_eq!(r.protocol, Protocol::HttpProtobuf);
        assert_eq!(r.url, "http://localhost:4318/v1/traces");
        assert_eq!(r.timeout, DEFAULT_TIMEOUT);
        assert_eq!(r.compression, Compression::none());
    }

    #[test]
    fn timeouts_out_of_range_are_refused() {
        for v in ["18446744073709551615", "0", "3600001"] {
            let e = env(&[("OTEL_EXPORTER_OTLP_TIMEOUT", v)]);
            let err = resolve(Signal::Traces, &Settings::default(), &e).unwrap_err();
            assert!(
                err.to_string()
                    .contains("expected 1 to 3600000 milliseconds"),
                "{v}: {err}"
            );
        }
        let e = env(&[("OTEL_EXPORTER_OTLP_TIMEOUT", "3600000")]);
        let r = resolve(Signal::Traces, &Settings::default(), &e).unwrap();
        assert_eq!(r.timeout, MAX_TIMEOUT);
        let s = Settings {
            timeout: Some(Duration::from_secs(u64::MAX)),
            ..Settings::default()
        };
        assert!(matches!(
            resolve(Signal::Traces, &s, &env(&[])),
            Err(BuildError::TimeoutOutOfRange { .. })
        ));
    }

    #[test]
    fn reserved_headers_are_refused_by_name() {
        for (var, header) in [
            ("OTEL_EXPORTER_OTLP_HEADERS", "content-length=5"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
                "a=1,Content-Type=text/plain",
            ),
            ("OTEL_EXPORTER_OTLP_HEADERS", "TE=trailers"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "host=example.com"),
            ("OTEL_EXPORTER_OTLP_HEADERS", ":authority=x"),
        ] {
            let e = env(&[(var, header)]);
            match resolve(Signal::Traces, &Settings::default(), &e) {
                Err(BuildError::ReservedHeader { name }) => {
                    assert!(header.contains(&name), "{header}: {name}")
                }
                other => panic!("{header}: {other:?}"),
            }
        }
        let s = Settings {
            headers: vec![("Host".into(), "x".into())],
            ..Settings::default()
        };
        assert!(matches!(
            resolve(Signal::Traces, &s, &env(&[])),
            Err(BuildError::ReservedHeader { name }) if name == "Host"
        ));
        let e = env(&[("OTEL_EXPORTER_OTLP_HEADERS", "x-content-length=5,hosted=1")]);
        assert!(resolve(Signal::Traces, &Settings::default(), &e).is_ok());
    }

    #[test]
    fn general_endpoint_gets_signal_path_signal_endpoint_does_not() {
        let e = env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
            (
                "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
                "http://logs:9999/custom",
            ),
        ]);
        let s = Settings::default();
        assert_eq!(
            resolve(Signal::Metrics, &s, &e).unwrap().url,
            "http://collector:4318/v1/metrics"
        );
        assert_eq!(
            resolve(Signal::Logs, &s, &e).unwrap().url,
            "http://logs:9999/custom"
        );
    }

    #[test]
    fn code_wins_over_env() {
        let e = env(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4318"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "500"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        ]);
        let s = Settings {
            protocol: Some(Protocol::Grpc),
            endpoint: Some("http://code:4317".into()),
            timeout: Some(Duration::from_secs(3)),
            ..Settings::default()
        };
        let r = resolve(Signal::Traces, &s, &e).unwrap();
        assert_eq!(r.protocol, Protocol::Grpc);
        assert_eq!(r.url, "http://code:4317");
        assert_eq!(r.timeout, Duration::from_secs(3));
        assert_eq!(r.compression, Compression::gzip());
        let r = resolve(Signal::Traces, &Settings::default(), &e).unwrap();
        assert_eq!(r.protocol, Protocol::HttpJson);
        assert_eq!(r.timeout, Duration::from_millis(500));
    }

    #[test]
    fn code_endpoint_with_path_is_used_as_is() {
        let s = Settings {
            endpoint: Some("http://h:1/custom/traces".into()),
            ..Settings::default()
        };
        assert_eq!(
            resolve(Signal::Traces, &s, &env(&[])).unwrap().url,
            "http://h:1/custom/traces"
        );
        let s = Settings {
            endpoint: Some("http://h:1".into()),
            ..Settings::default()
        };
        assert_eq!(
            resolve(Signal::Logs, &s, &env(&[])).unwrap().url,
            "http://h:1/v1/logs"
        );
    }

    #[test]
    fn signal_specific_beats_general() {
        let e = env(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "collector:4317"),
            ("OTEL_EXPORTER_OTLP_TRACES_INSECURE", "true"),
        ]);
        let r = resolve(Signal::Traces, &Settings::default(), &e).unwrap();
        assert_eq!(r.protocol, Protocol::Grpc);
        assert_eq!(r.url, "http://collector:4317");
        let r = resolve(Signal::Logs, &Settings::default(), &e).unwrap();
        assert_eq!(r.protocol, Protocol::HttpJson);
    }

    #[test]
    fn headers_merge_and_decode() {
        let e = env(&[
            ("OTEL_EXPORTER_OTLP_HEADERS", "a=1, b=two%20words"),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "A=3"),
        ]);
        let s = Settings {
            headers: vec![("c".into(), "code".into())],
            ..Settings::default()
        };
        let r = resolve(Signal::Traces, &s, &e).unwrap();
        assert_eq!(
            r.headers,
            vec![
                ("a".into(), "3".into()),
                ("b".into(), "two words".into()),
                ("c".into(), "code".into())
            ]
        );
    }

    #[test]
    fn srt_is_an_extension_value_of_the_compression_variable() {
        let e = env(&[("OTEL_EXPORTER_OTLP_COMPRESSION", "srt")]);
        let r = resolve(Signal::Traces, &Settings::default(), &e).unwrap();
        assert_eq!(r.compression, Compression::srt());
    }

    #[test]
    fn bad_values_are_errors_naming_the_variable() {
        for (k, v) in [
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "udp"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "lz4"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "10s"),
            ("OTEL_EXPORTER_OTLP_INSECURE", "yes"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "novalue"),
            ("OTEL_EXPORTER_OTLP_CLIENT_KEY", "/k.pem"),
        ] {
            let err = resolve(Signal::Traces, &Settings::default(), &env(&[(k, v)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(k) && err.contains(v), "{err}");
        }
    }
}

//! Where the push API sends: the builder's settings, else the standard
//! `OTEL_EXPORTER_OTLP_*` variables, resolved per signal.
//!
//! The SDK exporters resolve the same variables inside `otlp-exporter`,
//! which keeps that resolution private. Pushed records must go where the
//! SDK's go, so this follows the same rules, in the same order: code, then
//! the signal's variable (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, used as
//! given), then the general one (`OTEL_EXPORTER_OTLP_ENDPOINT`, with the
//! signal's path added for HTTP), then the default. A value that cannot be
//! understood is an error naming the variable. Once `otlp-exporter` exposes
//! its resolved settings this copy should go.

use crate::client::Settings;
use crate::BuildError;
use otlp_compression::Compression;
use otlp_core::Signal;
use otlp_transport::client::TlsConfig;
use otlp_transport::Protocol;
use std::path::PathBuf;
use std::time::Duration;

/// The resolved settings of one signal's push client.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub(crate) protocol: Protocol,
    /// The full URL: for HTTP including the signal's path.
    pub(crate) url: String,
    pub(crate) compression: Compression,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) timeout: Duration,
    pub(crate) tls: TlsConfig,
}

fn var_name(signal: Option<Signal>, key: &str) -> String {
    match signal {
        Some(s) => format!(
            "OTEL_EXPORTER_OTLP_{}_{key}",
            s.as_str().to_ascii_uppercase()
        ),
        None => format!("OTEL_EXPORTER_OTLP_{key}"),
    }
}

/// The signal's variable, else the general one; empty counts as unset.
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

/// A base URL whose path is empty or `/` gets the signal's path; one with a
/// path of its own is used as given.
fn http_url(base: &str, signal: Signal) -> String {
    let after_scheme = base.split_once("://").map_or(base, |(_, rest)| rest);
    match after_scheme.find('/') {
        Some(i) if !after_scheme[i..].trim_end_matches('/').is_empty() => base.to_owned(),
        _ => format!("{}{}", base.trim_end_matches('/'), signal.http_path()),
    }
}

/// `key1=value1,key2=value2`, values percent-decoded (W3C Baggage format).
fn parse_headers(name: &str, value: &str) -> Result<Vec<(String, String)>, BuildError> {
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
            out.push(u8::from_str_radix(s.get(i + 1..i + 3)?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Later pairs replace earlier ones with the same (case-insensitive) name.
fn merge(into: &mut Vec<(String, String)>, from: Vec<(String, String)>) {
    for (k, v) in from {
        match into.iter_mut().find(|(x, _)| x.eq_ignore_ascii_case(&k)) {
            Some(slot) => slot.1 = v,
            None => into.push((k, v)),
        }
    }
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
        Some((name, v)) => match v.to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => return Err(invalid(&name, &v, "expected true or false")),
        },
        None => None,
    };
    let with_scheme = |url: String| match (url.contains("://"), insecure) {
        (true, _) => url,
        (false, Some(true)) => format!("http://{url}"),
        (false, _) => format!("https://{url}"),
    };
    let is_http = protocol != Protocol::Grpc;
    let url = if let Some(endpoint) = &settings.endpoint {
        let endpoint = with_scheme(endpoint.clone());
        match is_http {
            true => http_url(&endpoint, signal),
            false => endpoint,
        }
    } else if let Some(v) =
        env(&var_name(Some(signal), "ENDPOINT")).filter(|v| !v.trim().is_empty())
    {
        with_scheme(v.trim().to_owned())
    } else if let Some(v) = env(&var_name(None, "ENDPOINT")).filter(|v| !v.trim().is_empty()) {
        let base = with_scheme(v.trim().to_owned());
        match is_http {
            true => format!("{}{}", base.trim_end_matches('/'), signal.http_path()),
            false => base,
        }
    } else if is_http {
        format!("{}{}", protocol.default_endpoint(), signal.http_path())
    } else {
        protocol.default_endpoint().to_owned()
    };

    let compression = match settings.compression {
        Some(c) => c,
        None => match lookup(env, signal, "COMPRESSION") {
            Some((name, v)) => v.parse().map_err(|e| invalid(&name, &v, e))?,
            None => Compression::none(),
        },
    };
    let timeout = match settings.timeout {
        Some(t) => t,
        None => match lookup(env, signal, "TIMEOUT") {
            Some((name, v)) => Duration::from_millis(
                v.parse::<u64>()
                    .map_err(|_| invalid(&name, &v, "expected milliseconds"))?,
            ),
            None => otlp_exporter::DEFAULT_TIMEOUT,
        },
    };

    let mut headers = Vec::new();
    for s in [None, Some(signal)] {
        let name = var_name(s, "HEADERS");
        if let Some(v) = env(&name).filter(|v| !v.trim().is_empty()) {
            merge(&mut headers, parse_headers(&name, &v)?);
        }
    }
    merge(&mut headers, settings.headers.clone());

    let tls = match &settings.tls {
        Some(tls) => tls.clone(),
        None => {
            let mut tls = TlsConfig::new();
            if let Some((_, path)) = lookup(env, signal, "CERTIFICATE") {
                tls = tls.with_ca_pem_file(PathBuf::from(path));
            }
            match (
                lookup(env, signal, "CLIENT_CERTIFICATE"),
                lookup(env, signal, "CLIENT_KEY"),
            ) {
                (Some((_, cert)), Some((_, key))) => {
                    tls = tls.with_client_identity_pem_files(cert, key);
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
    fn defaults() {
        let r = resolve(Signal::Logs, &Settings::default(), &env(&[])).unwrap();
        assert_eq!(r.protocol, Protocol::HttpProtobuf);
        assert_eq!(r.url, "http://localhost:4318/v1/logs");
        assert_eq!(r.compression, Compression::none());
        assert_eq!(r.timeout, otlp_exporter::DEFAULT_TIMEOUT);
    }

    #[test]
    fn code_wins_then_signal_then_general() {
        let e = env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://general:4318/"),
            ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://logs:9/custom"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "collector:4317"),
            ("OTEL_EXPORTER_OTLP_INSECURE", "true"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "1500"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "a=1,b=two%20words"),
            ("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "A=3"),
        ]);
        let s = Settings::default();
        let metrics = resolve(Signal::Metrics, &s, &e).unwrap();
        assert_eq!(metrics.url, "http://general:4318/v1/metrics");
        assert_eq!(metrics.compression, Compression::gzip());
        assert_eq!(metrics.timeout, Duration::from_millis(1500));
        assert_eq!(
            metrics.headers,
            [("a".into(), "3".into()), ("b".into(), "two words".into())]
        );
        assert_eq!(
            resolve(Signal::Logs, &s, &e).unwrap().url,
            "http://logs:9/custom"
        );
        let traces = resolve(Signal::Traces, &s, &e).unwrap();
        assert_eq!(traces.protocol, Protocol::Grpc);
        assert_eq!(traces.url, "http://collector:4317");

        let code = Settings {
            endpoint: Some("http://code:4318".into()),
            protocol: Some(Protocol::HttpJson),
            compression: Some(Compression::none()),
            timeout: Some(Duration::from_secs(2)),
            headers: vec![("b".into(), "code".into())],
            ..Settings::default()
        };
        let traces = resolve(Signal::Traces, &code, &e).unwrap();
        assert_eq!(traces.protocol, Protocol::HttpJson);
        assert_eq!(traces.url, "http://code:4318/v1/traces");
        assert_eq!(traces.compression, Compression::none());
        assert_eq!(traces.timeout, Duration::from_secs(2));
        assert_eq!(
            traces.headers,
            [("a".into(), "1".into()), ("b".into(), "code".into())]
        );
    }

    #[test]
    fn bad_values_name_the_variable() {
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

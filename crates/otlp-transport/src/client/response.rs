//! Reading what an OTLP server answered: `Export*ServiceResponse` partial
//! success, `google.rpc.Status` error bodies, `RetryInfo` and `Retry-After`.

use otlp_core::proto::collector::logs::v1::ExportLogsServiceResponse;
use otlp_core::proto::collector::metrics::v1::ExportMetricsServiceResponse;
use otlp_core::proto::collector::profiles::v1development::ExportProfilesServiceResponse;
use otlp_core::proto::collector::trace::v1::ExportTraceServiceResponse;
#[cfg(feature = "http")]
use otlp_core::Format;
use otlp_core::Signal;
use prost::Message;
#[cfg(feature = "http")]
use std::time::{Duration, SystemTime};

use super::ExportError;
#[cfg(feature = "http")]
use crate::rpc::RpcStatus;

/// A successful export: the server accepted the request, possibly only in part.
///
/// All zero and empty means full success. A partial success is never worth
/// retrying (the server already kept what it could), so it is an `Ok`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportResponse {
    /// How many items (spans, metric data points, log records or profiles)
    /// the server rejected. A negative count on the wire is an invalid response.
    pub rejected_items: u64,
    /// The server's explanation of the rejection, or a warning when nothing
    /// was rejected. Empty when none.
    pub error_message: String,
    /// The size of the body the server accepted, when the client encoded
    /// it itself: for an [`Algorithm::Srt`](otlp_compression::Algorithm::Srt)
    /// payload, the SRT frame or the OTLP + zstd body that was sent. `None`
    /// when the payload went as it was given.
    pub encoded_bytes: Option<usize>,
}

impl ExportResponse {
    /// Whether the server rejected some items or sent a warning.
    pub fn is_partial_success(&self) -> bool {
        self.rejected_items != 0 || !self.error_message.is_empty()
    }
}

/// Decodes a protobuf `Export{Trace,Metrics,Logs,Profiles}ServiceResponse`.
#[cfg(any(feature = "grpc", feature = "http"))]
pub(crate) fn decode_protobuf(signal: Signal, body: &[u8]) -> Result<ExportResponse, ExportError> {
    let invalid = |e: prost::DecodeError| ExportError::invalid(format!("{e}"));
    let (rejected_items, error_message) = match signal {
        Signal::Traces => ExportTraceServiceResponse::decode(body)
            .map_err(invalid)?
            .partial_success
            .map(|p| (p.rejected_spans, p.error_message)),
        Signal::Metrics => ExportMetricsServiceResponse::decode(body)
            .map_err(invalid)?
            .partial_success
            .map(|p| (p.rejected_data_points, p.error_message)),
        Signal::Logs => ExportLogsServiceResponse::decode(body)
            .map_err(invalid)?
            .partial_success
            .map(|p| (p.rejected_log_records, p.error_message)),
        Signal::Profiles => ExportProfilesServiceResponse::decode(body)
            .map_err(invalid)?
            .partial_success
            .map(|p| (p.rejected_profiles, p.error_message)),
        other => {
            return Err(ExportError::invalid(format!(
                "no response decoder for the {other} signal"
            )))
        }
    }
    .unwrap_or_default();
    Ok(ExportResponse {
        rejected_items: rejected_count(rejected_items)?,
        error_message,
        encoded_bytes: None,
    })
}

/// The wire's signed rejected count, refused when negative.
#[cfg(any(feature = "grpc", feature = "http"))]
fn rejected_count(n: i64) -> Result<u64, ExportError> {
    u64::try_from(n).map_err(|_| ExportError::invalid(format!("negative rejected item count {n}")))
}

/// Decodes an OTLP/JSON `Export*ServiceResponse`.
///
/// Read by hand rather than with opentelemetry-proto's serde derives, because
/// the protobuf JSON mapping writes int64 as a string (`"rejectedSpans":"5"`),
/// which those derives reject, and receivers may use either field casing.
#[cfg(feature = "http")]
pub(crate) fn decode_json(signal: Signal, body: &[u8]) -> Result<ExportResponse, ExportError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| ExportError::invalid(format!("{e}")))?;
    let Some(partial) = field(&value, "partialSuccess", "partial_success") else {
        return Ok(ExportResponse::default());
    };
    let (camel, snake) = signal.rejected_field();
    let rejected_items = match field(partial, camel, snake) {
        None => 0,
        Some(n) => n
            .as_i64()
            .or_else(|| n.as_str().and_then(|s| s.parse().ok()))
            .ok_or_else(|| ExportError::invalid(format!("`{camel}` is not an integer")))?,
    };
    let error_message = field(partial, "errorMessage", "error_message")
        .and_then(|m| m.as_str())
        .unwrap_or_default()
        .to_owned();
    Ok(ExportResponse {
        rejected_items: rejected_count(rejected_items)?,
        error_message,
        encoded_bytes: None,
    })
}

#[cfg(feature = "http")]
fn field<'a>(v: &'a serde_json::Value, camel: &str, snake: &str) -> Option<&'a serde_json::Value> {
    v.get(camel)
        .or_else(|| v.get(snake))
        .filter(|v| !v.is_null())
}

/// The message of an OTLP/HTTP error body: the `google.rpc.Status` message
/// when the body is one (protobuf or JSON, per `format`), else the body's
/// text, shortened.
#[cfg(feature = "http")]
pub(crate) fn error_message(format: Option<Format>, body: &[u8]) -> String {
    const MAX_TEXT: usize = 512;
    let status_message = match format {
        Some(Format::Protobuf) => RpcStatus::decode(body).ok().map(|s| s.message),
        Some(Format::Json) => serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("message")?.as_str().map(str::to_owned)),
        _ => None,
    };
    match status_message.filter(|m| !m.is_empty()) {
        Some(message) => message,
        None => {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            match text.char_indices().nth(MAX_TEXT) {
                Some((cut, _)) => format!("{}…", &text[..cut]),
                None => text.to_owned(),
            }
        }
    }
}

/// Parses `Retry-After` as delay-seconds or an HTTP-date (a date in the past
/// means "now").
#[cfg(feature = "http")]
pub(crate) fn parse_retry_after(value: &[u8], now: SystemTime) -> Option<Duration> {
    let value = std::str::from_utf8(value).ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use otlp_core::proto::collector::trace::v1::ExportTracePartialSuccess;

    #[test]
    #[cfg(any(feature = "grpc", feature = "http"))]
    fn protobuf_partial_success() {
        let body = ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: 3,
                error_message: "too old".into(),
            }),
        }
        .encode_to_vec();
        let r = decode_protobuf(Signal::Traces, &body).unwrap();
        assert_eq!((r.rejected_items, r.error_message.as_str()), (3, "too old"));
        assert!(r.is_partial_success());
        assert!(!decode_protobuf(Signal::Logs, b"")
            .unwrap()
            .is_partial_success());
        assert!(decode_protobuf(Signal::Traces, b"\xff\xff").is_err());
        let negative = ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: -1,
                error_message: String::new(),
            }),
        }
        .encode_to_vec();
        let e = decode_protobuf(Signal::Traces, &negative).unwrap_err();
        assert!(e.to_string().contains("negative"), "{e}");
    }

    #[test]
    #[cfg(feature = "http")]
    fn json_partial_success() {
        let r = decode_json(
            Signal::Metrics,
            br#"{"partialSuccess":{"rejectedDataPoints":"7","errorMessage":"dup"}}"#,
        )
        .unwrap();
        assert_eq!((r.rejected_items, r.error_message.as_str()), (7, "dup"));
        let r = decode_json(
            Signal::Logs,
            br#"{"partial_success":{"rejected_log_records":2}}"#,
        )
        .unwrap();
        assert_eq!(r.rejected_items, 2);
        assert_eq!(
            decode_json(Signal::Traces, b"{}").unwrap(),
            ExportResponse::default()
        );
        assert!(decode_json(
            Signal::Traces,
            br#"{"partialSuccess":{"rejectedSpans":"x"}}"#
        )
        .is_err());
        assert!(decode_json(Signal::Traces, b"<html>").is_err());
        assert!(decode_json(
            Signal::Traces,
            br#"{"partialSuccess":{"rejectedSpans":"-3"}}"#
        )
        .is_err());
    }

    #[test]
    #[cfg(feature = "http")]
    fn error_messages() {
        let status = RpcStatus {
            code: 3,
            message: "bad span".into(),
            details: vec![],
        };
        assert_eq!(
            error_message(Some(Format::Protobuf), &status.encode_to_vec()),
            "bad span"
        );
        assert_eq!(
            error_message(Some(Format::Json), br#"{"code":3,"message":"bad json"}"#),
            "bad json"
        );
        assert_eq!(error_message(None, b"  upstream down \n"), "upstream down");
        let long = "x".repeat(2000);
        assert_eq!(
            error_message(Some(Format::Json), long.as_bytes())
                .chars()
                .count(),
            513
        );
    }

    #[test]
    #[cfg(feature = "http")]
    fn retry_after() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(parse_retry_after(b"3", now), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after(b"Wed, 21 Oct 2015 07:28:10 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after(b"Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after(b"soon", now), None);
        assert_eq!(parse_retry_after(b"-1", now), None);
    }
}

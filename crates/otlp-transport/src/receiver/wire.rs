//! Bytes on the wire shared by both protocols: decompression, response
//! messages and the response body type.

use super::Refusal;
use crate::rpc::{Any, RpcStatus};
use bytes::Bytes;
use http::HeaderMap;
use http_body::{Frame, SizeHint};
use otlp_compression::{decompress, DecompressError, Encoding};
use otlp_core::proto::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use otlp_core::{Format, Signal};
use prost::Message;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tonic::Code;

/// Decompresses `message`, refusing output over `limit` bytes while it
/// inflates, so a bomb costs at most `limit` bytes of memory.
pub(super) fn inflate(encoding: Encoding, message: Bytes, limit: usize) -> Result<Bytes, Refusal> {
    if encoding == Encoding::Identity {
        return Ok(message);
    }
    let mut out = Vec::new();
    decompress(encoding, &message, limit, &mut out).map_err(|error| match error {
        DecompressError::TooLarge { limit } => Refusal::TooLarge { limit },
        error => Refusal::Invalid(format!("cannot decompress {encoding} body: {error}")),
    })?;
    Ok(out.into())
}

/// An `Export*ServiceResponse`, empty unless some items were rejected.
pub(super) fn export_response(
    signal: Signal,
    format: Format,
    partial: Option<(u64, &str)>,
) -> Bytes {
    let Some((rejected, message)) = partial else {
        return match format {
            Format::Json => Bytes::from_static(b"{}"),
            _ => Bytes::new(),
        };
    };
    let rejected = i64::try_from(rejected).unwrap_or(i64::MAX);
    match format {
        Format::Json => {
            let (field, _) = signal.rejected_field();
            let json = serde_json::json!({ "partialSuccess": { field: rejected, "errorMessage": message } });
            json.to_string().into()
        }
        // Protobuf (the receiver decodes no other format). The three
        // responses share one wire layout (`partial_success = 1` holding
        // `rejected_<items> = 1, error_message = 2`), so the trace type
        // encodes all of them.
        _ => ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: rejected,
                error_message: message.to_owned(),
            }),
        }
        .encode_to_vec()
        .into(),
    }
}

/// A `google.rpc.Status` in `format`, carrying a `google.rpc.RetryInfo`
/// detail (protobuf only) when the client is told when to retry.
pub(super) fn rpc_status(
    format: Format,
    code: Code,
    message: &str,
    retry_after: Option<Duration>,
) -> Bytes {
    match format {
        Format::Json => serde_json::json!({ "code": i32::from(code), "message": message })
            .to_string()
            .into(),
        _ => RpcStatus {
            code: code.into(),
            message: message.to_owned(),
            details: retry_after.map(Any::retry_info).into_iter().collect(),
        }
        .encode_to_vec()
        .into(),
    }
}

/// A response body: at most one chunk of data, then optional trailers. That
/// is every response the receiver sends, so it needs no boxing.
#[derive(Debug, Default)]
pub(super) struct ReplyBody {
    data: Option<Bytes>,
    trailers: Option<HeaderMap>,
}

impl ReplyBody {
    pub(super) fn new(data: Bytes, trailers: Option<HeaderMap>) -> Self {
        ReplyBody {
            data: (!data.is_empty()).then_some(data),
            trailers,
        }
    }
}

impl http_body::Body for ReplyBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let frame = match self.data.take() {
            Some(data) => Frame::data(data),
            None => match self.trailers.take() {
                Some(trailers) => Frame::trailers(trailers),
                None => return Poll::Ready(None),
            },
        };
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none() && self.trailers.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.data.as_ref().map_or(0, |data| data.len() as u64))
    }
}

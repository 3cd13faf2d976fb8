//! The few `google.rpc` / `google.protobuf` messages that OTLP error details
//! use: `google.rpc.Status` (OTLP/HTTP error bodies and gRPC
//! `grpc-status-details-bin`) and the `google.rpc.RetryInfo` detail it may
//! carry, with what those need.

use prost::Message;
use std::time::Duration;

/// The type URL of a `google.rpc.RetryInfo` packed in a `google.protobuf.Any`.
pub(crate) const RETRY_INFO_TYPE: &str = "type.googleapis.com/google.rpc.RetryInfo";

/// `google.rpc.Status`, as OTLP servers send it in error bodies and gRPC
/// servers in `grpc-status-details-bin`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<Any>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct Any {
    #[prost(string, tag = "1")]
    pub type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

/// `google.rpc.RetryInfo`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    pub retry_delay: Option<ProtoDuration>,
}

/// `google.protobuf.Duration`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct ProtoDuration {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

#[cfg(feature = "grpc")]
impl ProtoDuration {
    /// As a `Duration`; negative parts count as zero.
    pub(crate) fn to_std(&self) -> Duration {
        let secs = u64::try_from(self.seconds).unwrap_or(0);
        let nanos = u32::try_from(self.nanos).unwrap_or(0).min(999_999_999);
        Duration::new(secs, nanos)
    }
}

impl From<Duration> for ProtoDuration {
    /// Saturates seconds at `i64::MAX`.
    fn from(delay: Duration) -> Self {
        ProtoDuration {
            seconds: i64::try_from(delay.as_secs()).unwrap_or(i64::MAX),
            // Below 10^9, so it fits.
            nanos: delay.subsec_nanos() as i32,
        }
    }
}

#[cfg(feature = "grpc")]
impl RpcStatus {
    /// The delay of the first `RetryInfo` detail; negative delays count as zero.
    pub(crate) fn retry_delay(&self) -> Option<Duration> {
        let info = self
            .details
            .iter()
            .find(|d| d.type_url == RETRY_INFO_TYPE)?;
        let delay = RetryInfo::decode(info.value.as_slice()).ok()?.retry_delay?;
        Some(delay.to_std())
    }
}

impl Any {
    /// A `google.rpc.RetryInfo` detail telling the client to retry after `delay`.
    pub(crate) fn retry_info(delay: Duration) -> Any {
        Any {
            type_url: RETRY_INFO_TYPE.to_owned(),
            value: RetryInfo {
                retry_delay: Some(delay.into()),
            }
            .encode_to_vec(),
        }
    }
}

// Both tests read `RetryInfo` back, which only the gRPC client does.
#[cfg(all(test, feature = "grpc"))]
mod tests {
    use super::*;

    #[test]
    fn retry_info() {
        let info = RetryInfo {
            retry_delay: Some(ProtoDuration {
                seconds: 2,
                nanos: 500_000_000,
            }),
        };
        let status = RpcStatus {
            code: 14,
            message: "busy".into(),
            details: vec![Any {
                type_url: RETRY_INFO_TYPE.into(),
                value: info.encode_to_vec(),
            }],
        };
        assert_eq!(status.retry_delay(), Some(Duration::from_millis(2500)));
        let negative = RpcStatus {
            details: vec![Any {
                type_url: RETRY_INFO_TYPE.into(),
                value: RetryInfo {
                    retry_delay: Some(ProtoDuration {
                        seconds: -1,
                        nanos: -5,
                    }),
                }
                .encode_to_vec(),
            }],
            ..status.clone()
        };
        assert_eq!(negative.retry_delay(), Some(Duration::ZERO));
        assert_eq!(RpcStatus::default().retry_delay(), None);
    }

    #[test]
    fn retry_info_round_trips() {
        let status = RpcStatus {
            details: vec![Any::retry_info(Duration::from_millis(1500))],
            ..RpcStatus::default()
        };
        assert_eq!(status.retry_delay(), Some(Duration::from_millis(1500)));
    }
}

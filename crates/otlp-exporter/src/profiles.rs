//! [`OtlpProfileExporter`]: OTLP profiles requests, with the delivery of
//! the other exporters.

use crate::pipeline::Pipeline;
use crate::{BuildError, ExportStats, ExporterBuilder, FlushHandle};
use opentelemetry_sdk::error::OTelSdkResult;
use otlp_core::proto::collector::profiles::v1development::ExportProfilesServiceRequest;
use otlp_core::{ExportRequest, Format, Signal};
use prost::Message as _;
use std::time::Duration;

/// Sends OTLP profiles (`opentelemetry.proto.profiles.v1development`, the
/// signal OTLP is still developing), with the protocol, compression, retry,
/// circuit breaker, queue limits and persistence of the other exporters
/// (the same builder configures it).
///
/// The OpenTelemetry SDK has no profiles API: requests come whole, from a
/// profiler such as `otlp-ebpf`. Each request is one batch; its items are
/// its profiles. Over OTLP/HTTP it goes to `/v1development/profiles` (or
/// `OTEL_EXPORTER_OTLP_PROFILES_ENDPOINT`), over gRPC to the
/// `ProfilesService`.
///
/// ```no_run
/// use otlp_core::proto::collector::profiles::v1development::ExportProfilesServiceRequest;
/// use otlp_exporter::{OtlpProfileExporter, Protocol};
/// use std::time::Duration;
///
/// # async fn run(request: ExportProfilesServiceRequest) -> Result<(), Box<dyn std::error::Error>> {
/// let exporter = OtlpProfileExporter::builder()
///     .with_endpoint("http://localhost:4317")
///     .with_protocol(Protocol::Grpc)
///     .build()?;
/// exporter.export(&request).await?; // queued for delivery
/// exporter.shutdown(Duration::from_secs(5))?; // waits for delivery
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct OtlpProfileExporter {
    pipeline: Pipeline,
}

impl OtlpProfileExporter {
    /// A builder; see the [crate docs](crate) for the settings.
    pub fn builder() -> ExporterBuilder<OtlpProfileExporter> {
        ExporterBuilder::new()
    }

    /// Encodes, compresses and queues `request`; returns once it is
    /// queued (or refused, counted in [`stats`](Self::stats)).
    pub async fn export(&self, request: &ExportProfilesServiceRequest) -> OTelSdkResult {
        let items = profiles(request);
        self.pipeline
            .export(items, |encoder, out| {
                out.clear();
                match encoder.format() {
                    Format::Json => out.extend_from_slice(
                        ExportRequest::Profiles(request.clone())
                            .to_json()
                            .as_bytes(),
                    ),
                    // Protobuf; a `Vec` grows as needed, so this cannot fail.
                    _ => request.encode(out).unwrap_or_default(),
                }
            })
            .await
    }

    /// A handle to this exporter's counters (items are profiles).
    pub fn stats(&self) -> ExportStats {
        self.pipeline.stats.clone()
    }

    /// A handle to wait for this exporter's queue to drain.
    pub fn flush_handle(&self) -> FlushHandle {
        FlushHandle(self.pipeline.delivery.clone())
    }

    /// Stops taking requests and waits up to `timeout` for the queued
    /// ones to be delivered; an error names what was dropped.
    pub fn shutdown(&self, timeout: Duration) -> OTelSdkResult {
        self.pipeline.shutdown(timeout)
    }
}

impl ExporterBuilder<OtlpProfileExporter> {
    /// Builds the exporter.
    pub fn build(self) -> Result<OtlpProfileExporter, BuildError> {
        Ok(OtlpProfileExporter {
            pipeline: self.pipeline(Signal::Profiles)?,
        })
    }
}

/// The profiles in `request`, the unit OTLP counts them in.
fn profiles(request: &ExportProfilesServiceRequest) -> u64 {
    request
        .resource_profiles
        .iter()
        .flat_map(|rp| &rp.scope_profiles)
        .map(|sp| sp.profiles.len() as u64)
        .sum()
}

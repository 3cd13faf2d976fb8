//! What to send and how: the command's options, and the exporter settings
//! made from them.
//!
//! Settings the command line does not give are left to the exporter
//! builder, which reads the `OTEL_EXPORTER_OTLP_*` variables; the command
//! asks the builder what it resolved ([`Plan`]) instead of reading them
//! itself, so both always agree.

use crate::error::CliError;
use otlp_core::Signal;
use otlp_exporter::{
    BreakerConfig, BuildError, Compression, ExporterBuilder, HealthCheck, OtlpSpanExporter,
    Protocol, Resolver, RetryPolicy, Routing,
};
use std::path::PathBuf;
use std::time::Duration;

/// What to send, and how. `None` leaves a setting to the
/// `OTEL_EXPORTER_OTLP_*` variables, read by the exporter builder.
#[derive(Debug, Clone)]
pub(crate) struct SendOptions {
    /// One, several, or one `dns:///name:port`; none for the
    /// `OTEL_EXPORTER_OTLP_*` variables.
    pub(crate) endpoints: Vec<String>,
    pub(crate) protocol: Option<Protocol>,
    pub(crate) compression: Option<Compression>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) signal: Signal,
    pub(crate) count: u64,
    /// Items per second; `None` or 0 for as fast as possible.
    pub(crate) rate: Option<f64>,
    pub(crate) batch_size: usize,
    pub(crate) workers: usize,
    /// Keep the export queue on disk in this directory (one subdirectory
    /// per signal); `--timeout` is then the command's deadline.
    pub(crate) persist: Option<PathBuf>,
    /// With several endpoints: how batches are routed.
    pub(crate) routing: Option<Routing>,
    /// With several endpoints: how often their health is checked.
    pub(crate) health_interval: Duration,
    /// Traces: spans per trace.
    pub(crate) spans_per_trace: u64,
}

impl From<crate::SendArgs> for SendOptions {
    fn from(args: crate::SendArgs) -> Self {
        SendOptions {
            endpoints: args.export.endpoints,
            protocol: args.export.protocol,
            compression: args.export.compression,
            headers: args.export.headers,
            timeout: args.timeout,
            signal: args.signal,
            count: args.count,
            rate: args.rate,
            batch_size: args.batch_size,
            workers: args.workers,
            persist: args.persist,
            routing: args.routing,
            health_interval: args.health_interval,
            spans_per_trace: args.spans_per_trace,
        }
    }
}

/// One signal's send: the options, and what the exporter builder resolved
/// from them and the environment.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) options: SendOptions,
    /// Where items go, for messages: the endpoint as given on the command
    /// line, or else the URL the exporter resolved.
    pub(crate) target: String,
    /// How long a failed batch is retried: `--timeout`, or the export
    /// timeout the exporter resolved. With `--persist`, the command's
    /// deadline.
    pub(crate) retry_window: Duration,
    /// The protocol the exporter resolved (for the health check of
    /// several endpoints).
    pub(crate) protocol: Protocol,
}

impl Plan {
    /// Resolves the settings as the exporter will, refusing what cannot
    /// work (a malformed endpoint or variable, brotli over gRPC) before
    /// anything is generated.
    pub(crate) fn new(options: SendOptions) -> Result<Plan, CliError> {
        // The builder's type does not matter here: the settings are the
        // same for every exporter, and the signal is named.
        if options.routing.is_some() && !several(&options.endpoints) {
            return Err(CliError::Usage(
                "--routing needs several --endpoint (or a dns:/// one)".into(),
            ));
        }
        // With several endpoints, the settings other than the endpoints
        // (protocol, timeout), which every endpoint shares.
        let one = SendOptions {
            endpoints: match several(&options.endpoints) {
                true => Vec::new(),
                false => options.endpoints.clone(),
            },
            ..options.clone()
        };
        let resolved = settings(OtlpSpanExporter::builder(), &one)?
            .build_client(options.signal)
            .map_err(build_error)?;
        let target = match options.endpoints.as_slice() {
            [] => resolved.endpoint,
            list => list.join(", "),
        };
        Ok(Plan {
            target,
            retry_window: options.timeout.unwrap_or(resolved.timeout),
            protocol: resolved.protocol,
            options,
        })
    }

    /// The same send for another signal.
    pub(crate) fn for_signal(&self, signal: Signal) -> Result<Plan, CliError> {
        Plan::new(SendOptions {
            signal,
            ..self.options.clone()
        })
    }

    /// How long the final flush and shutdown may take: a few requests' worth.
    pub(crate) fn drain_budget(&self) -> Duration {
        self.retry_window * 3
    }

    /// The exporter builder with the command's settings, plus the retry
    /// window (the exporter would otherwise retry for minutes) and quicker
    /// recovery (see [`MAX_BACKOFF`]).
    pub(crate) fn configure<E>(
        &self,
        builder: ExporterBuilder<E>,
    ) -> Result<ExporterBuilder<E>, CliError> {
        let retry = RetryPolicy::builder()
            .with_max_elapsed_time(self.retry_window)
            .with_max_interval(MAX_BACKOFF)
            .build()
            .map_err(|e| CliError::Usage(e.to_string()))?;
        let breaker = BreakerConfig::builder()
            .with_open_duration(BREAKER_OPEN)
            .build()
            .map_err(|e| CliError::Usage(e.to_string()))?;
        let mut builder = settings(builder, &self.options)?
            .with_retry_policy(retry)
            .with_circuit_breaker(breaker);
        if several(&self.options.endpoints) {
            let check = match self.protocol {
                Protocol::Grpc => HealthCheck::grpc(),
                _ => HealthCheck::http(otlp_transport::receiver::HTTP_HEALTH_PATH),
            };
            builder = builder.with_health_check(check.with_interval(self.options.health_interval));
            if let Some(routing) = self.options.routing {
                builder = builder.with_routing(routing);
            }
        }
        Ok(builder)
    }
}

/// The longest pause between two attempts at a batch. The exporter's 30 s
/// suits a service that will run for days; a load generator wants to see
/// a recovered endpoint within seconds.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How long the circuit breaker stays open before probing the endpoint
/// again. The exporter's 10 s spares a struggling collector in production;
/// for the same reason as [`MAX_BACKOFF`], a load generator probes sooner.
const BREAKER_OPEN: Duration = Duration::from_secs(2);

/// Whether `endpoints` name several (a DNS name counts as several).
fn several(endpoints: &[String]) -> bool {
    endpoints.len() > 1 || endpoints.iter().any(|e| e.starts_with("dns:"))
}

/// Gives `builder` the `--endpoint`s: none (the `OTEL_*` variables), one
/// URL, several, or one `dns:///name:port`.
pub(crate) fn with_endpoints<E>(
    builder: ExporterBuilder<E>,
    endpoints: &[String],
) -> Result<ExporterBuilder<E>, CliError> {
    Ok(match endpoints {
        [] => builder,
        [dns] if dns.starts_with("dns:") => {
            let resolver: Resolver = dns.parse().map_err(|e: otlp_exporter::ParseError| {
                CliError::Usage(format!("--endpoint {e}"))
            })?;
            builder.with_resolver(resolver)
        }
        list if list.iter().any(|e| e.starts_with("dns:")) => {
            return Err(CliError::Usage(
                "a dns:/// --endpoint must be the only one".into(),
            ))
        }
        [one] => builder.with_endpoint(one.clone()),
        list => builder.with_endpoints(list.to_vec()),
    })
}

/// Applies the settings given on the command line, and only those.
fn settings<E>(
    builder: ExporterBuilder<E>,
    options: &SendOptions,
) -> Result<ExporterBuilder<E>, CliError> {
    let mut builder = with_endpoints(builder, &options.endpoints)?;
    if let Some(protocol) = options.protocol {
        builder = builder.with_protocol(protocol);
    }
    if let Some(compression) = options.compression {
        builder = builder.with_compression(compression);
    }
    if !options.headers.is_empty() {
        builder = builder.with_headers(options.headers.clone());
    }
    match (&options.persist, options.timeout) {
        (Some(dir), _) => {
            // --timeout is the command's deadline then, not a request's:
            // requests keep the exporter's (or OTEL_*_TIMEOUT's) timeout.
            builder = builder.with_persistent_queue(dir.clone());
        }
        (None, Some(timeout)) => builder = builder.with_timeout(timeout),
        (None, None) => {}
    }
    Ok(builder)
}

pub(crate) fn build_error(e: BuildError) -> CliError {
    match e {
        // A directory in use by another run, or unreadable: not a mistake
        // in the arguments.
        BuildError::PersistentQueue(_) => CliError::Failed(e.to_string()),
        // The exporter's message names its builder method; say it in the
        // command's words.
        BuildError::CompressionNotSupported {
            protocol: Protocol::Grpc,
            algorithm,
        } => CliError::Usage(format!(
            "{algorithm} compression is not supported by OTLP/gRPC; use none, gzip or zstd"
        )),
        _ => CliError::Usage(e.to_string()),
    }
}

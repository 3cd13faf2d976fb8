//! `otlp send`: generate telemetry with the OpenTelemetry SDK, export it
//! with our exporters, and report what the receiver accepted.
//!
//! # Why the generator waits for the exporter
//! The SDK's batch processors drop items when their queue is full, and a
//! metric stream merges series beyond its cardinality limit. A load
//! generator that quietly loses items measures nothing, so this one is
//! flow-controlled: item `i` is generated only once fewer than `window`
//! items are between the generator and a settled export (accepted by the
//! receiver or given up, as the exporter's [`ExportStats`](otlp_exporter::ExportStats) count them).
//! Everything in between (the SDK's queue, the exporter's queue, requests
//! in flight or being retried) is then at most `window` items, so no queue
//! can overflow and memory stays bounded however large `--count` is. The
//! counts are the exporter's own; [`Tracked`](flow::Tracked) only wraps it to see the
//! SDK's export calls.
//!
//! Metrics are pushed the same way: with delta temporality every series
//! recorded since the last collection is exported once, and a flusher
//! thread asks the periodic reader for a collection every `--batch-size`
//! recorded data points, so a request carries about that many points.
//!
//! # Layout
//! - [`options`]: the command's options, and the exporter settings made
//!   from them (the exporter builder resolves the `OTEL_*` variables);
//! - [`generate`]: the items themselves; [`signals`]: each signal's SDK
//!   pipeline and the one path that sends any of them;
//! - [`flow`]: the window, the exports it watches, and the shutdown;
//! - [`persist`]: `--persist` draining and its reasons;
//! - [`report`]: the summary and the one-line reason for a failure.
//!
//! # Giving up
//! The exporter retries failed batches in the background. A load generator
//! should not wait minutes for an endpoint that is not there, so retries
//! stop after `--timeout` (10 s by default), and once a batch has been
//! given up before anything was delivered, generating stops and the run
//! reports why (see [`crate::diagnose`]). An open circuit breaker is not
//! reason enough: it opens within seconds of an outage, and an endpoint
//! that is back within `--timeout` should get every item.
//!
//! # `--persist DIR`
//! With a persistent queue an item is safe once it is on disk: it leaves
//! the disk only when the endpoint accepted it, survives a crash, and is
//! sent first by the next run on the same directory. So the window then
//! counts items the queue has *taken*, not items delivered: a down
//! endpoint does not slow the generator, the disk absorbs the backlog, and
//! memory stays bounded by the SDK's queue. Delivery is retried for as long
//! as the command runs, and `--timeout` becomes the command's deadline:
//! it exits 0 once the disk queue is empty (everything generated, and
//! whatever an earlier run left, delivered), and 1 when the deadline
//! passes with batches still on disk. `--count 0` generates nothing and
//! only drains what earlier runs left, for every signal with a queue in DIR.

mod flow;
mod generate;
pub(crate) mod options;
mod persist;
mod report;
mod signals;

pub(crate) use options::{with_endpoints, SendOptions};
pub(crate) use report::SendReport;

use crate::error::CliError;
use crate::SendArgs;
use options::Plan;
use otlp_core::Signal;
use otlp_exporter::{OtlpLogExporter, OtlpMetricExporter, OtlpSpanExporter};
use signals::send;
use std::time::Instant;
use tokio::runtime::Handle;

/// `otlp send`.
pub(crate) fn command(args: SendArgs, runtime: &Handle) -> Result<(), CliError> {
    let options = SendOptions::from(args);
    if options.count > 0 {
        let report = run(&options, runtime)?;
        crate::outln(format_args!("{}", report.summary()));
        return report.outcome();
    }
    let Some(dir) = options.persist.clone() else {
        return Err(CliError::Usage(
            "--count 0 generates nothing; it only sends what a persistent queue holds, \
             so it needs --persist DIR"
                .into(),
        ));
    };
    let plan = Plan::new(options)?;
    let _entered = runtime.enter();
    let reports = persist::drain(&plan, &dir)?;
    if reports.is_empty() {
        crate::outln(format_args!("nothing queued in {}", dir.display()));
        return Ok(());
    }
    for report in &reports {
        crate::outln(format_args!("{}", report.summary()));
    }
    let failures: Vec<String> = reports
        .iter()
        .filter_map(|r| r.outcome().err())
        .map(|e| e.to_string())
        .collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(CliError::Failed(failures.join("; ")))
    }
}

/// Sends `options.count` items of `options.signal`; export requests run on
/// `runtime`.
pub(crate) fn run(options: &SendOptions, runtime: &Handle) -> Result<SendReport, CliError> {
    let plan = Plan::new(options.clone())?;
    // With a persistent queue, --timeout bounds the whole command.
    let deadline = options
        .persist
        .as_ref()
        .map(|_| Instant::now() + plan.retry_window);
    // Exporters built here send their requests on `runtime`.
    let _entered = runtime.enter();
    match options.signal {
        Signal::Traces => send::<OtlpSpanExporter>(&plan, deadline),
        Signal::Metrics => send::<OtlpMetricExporter>(&plan, deadline),
        Signal::Logs => send::<OtlpLogExporter>(&plan, deadline),
        other => Err(CliError::Usage(format!("cannot send {other}"))),
    }
}

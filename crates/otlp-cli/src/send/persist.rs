//! `--persist DIR`: draining what earlier runs left on disk
//! (`--count 0`), and saying why a run with a persistent queue did not
//! deliver everything.

use super::flow::Progress;
use super::options::Plan;
use super::report::first_endpoint;
use super::report::{exporter_error, SendReport};
use super::signals::{open, Generated};
use crate::diagnose;
use crate::error::CliError;
use otlp_core::Signal;
use otlp_exporter::{OtlpLogExporter, OtlpMetricExporter, OtlpSpanExporter};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

/// An exporter with a persistent queue, sending what it found on disk.
struct Queue {
    plan: Plan,
    progress: Progress,
    stop: Box<dyn FnOnce(Duration)>,
}

/// Builds the exporter of `plan`'s signal, which starts sending what its
/// queue holds at once. `deadline` is the command's.
fn queue<E: Generated>(plan: Plan, deadline: Instant) -> Result<Queue, CliError> {
    let exporter = open::<E>(&plan)?;
    Ok(Queue {
        progress: Progress::new(exporter.stats(), Some(deadline)),
        plan,
        stop: Box::new(move |timeout| {
            // Whatever is left stays on disk: nothing to report.
            let _ = exporter.stop(timeout);
        }),
    })
}

/// `--count 0`: sends what earlier runs left in `dir`, for every signal
/// with a queue there, until the queues are empty or the deadline passes.
/// No SDK is involved: the exporters send their recovered batches on
/// their own as soon as they are built.
pub(super) fn drain(plan: &Plan, dir: &Path) -> Result<Vec<SendReport>, CliError> {
    if !dir.is_dir() {
        return Err(CliError::Usage(format!(
            "--persist {}: no such directory (with --count 0 there must be a queue left by an earlier run)",
            dir.display()
        )));
    }
    let started = Instant::now();
    let deadline = started + plan.retry_window;
    let mut queues = Vec::new();
    // The signals `otlp send` makes, and so may have left a queue of.
    for signal in [Signal::Traces, Signal::Metrics, Signal::Logs] {
        if !dir.join(signal.as_str()).is_dir() {
            continue;
        }
        let plan = plan.for_signal(signal)?;
        let queue = match signal {
            Signal::Traces => queue::<OtlpSpanExporter>(plan, deadline)?,
            Signal::Metrics => queue::<OtlpMetricExporter>(plan, deadline)?,
            Signal::Logs => queue::<OtlpLogExporter>(plan, deadline)?,
            other => return Err(CliError::Usage(format!("cannot send {other}"))),
        };
        if queue.progress.backlog == 0 {
            // Emptied by an earlier run: nothing to report.
            (queue.stop)(Duration::ZERO);
            continue;
        }
        queues.push(queue);
    }
    // The exporter offers no event for an emptied disk queue, so look at
    // its counters now and then; a drain takes requests' time anyway.
    while Instant::now() < deadline && queues.iter().any(|q| q.progress.queued_on_disk() > 0) {
        thread::sleep(Duration::from_millis(20));
    }
    let mut reports = Vec::new();
    for queue in queues {
        // Stops the senders; whatever is left stays on disk.
        (queue.stop)(Duration::ZERO);
        reports.push(SendReport::new(
            &queue.plan,
            &queue.progress,
            0,
            started.elapsed(),
        ));
    }
    Ok(reports)
}

/// Fills in why a run with a persistent queue did not deliver everything.
/// Nothing the queue took is lost by stopping, so the endpoint being down
/// is not a usage error here: the batches wait on disk for the next run.
pub(super) fn explain(report: &mut SendReport, progress: &Progress, plan: &Plan) {
    let s = &report.stats;
    let disk = s.disk.unwrap_or_default();
    let deadline = plan.retry_window;
    let why = || {
        exporter_error(report, progress).or_else(|| {
            // The exporter keeps retrying quietly; ask the endpoint.
            let timeout = deadline.min(Duration::from_secs(5));
            diagnose::probe(first_endpoint(&report.target), timeout).err()
        })
    };
    let reason = if progress.aborted() {
        format!(
            "generating stopped after {} of {}: the persistent queue refused a batch ({})",
            report.generated,
            report.requested,
            progress
                .first_error()
                .as_deref()
                .unwrap_or("reason unknown")
        )
    } else if report.generated < report.requested {
        format!(
            "the {deadline:?} deadline passed after generating {} of {}",
            report.generated, report.requested
        )
    } else if disk.queued_batches > 0 {
        let cause = if s.items_exported == 0 { why() } else { None };
        match cause {
            Some(cause) => format!("the {deadline:?} deadline passed ({cause})"),
            None => format!("the {deadline:?} deadline passed"),
        }
    } else if s.items_accepted < report.generated {
        format!(
            "the export queue took {} of {} generated",
            s.items_accepted, report.generated
        )
    } else {
        let lost = [
            (
                s.dropped.rejected_by_receiver,
                "items rejected by the receiver",
            ),
            (
                s.dropped.export_failed + s.dropped.retry_expired,
                "items given up",
            ),
            (s.dropped.queue_full, "items refused by the full queue"),
            (s.dropped.shutdown, "items dropped at shutdown"),
            (s.dropped.encode_failed, "items not compressible"),
            (s.dropped.disk_error, "items lost to disk queue errors"),
            (disk.evicted_batches, "batches evicted from the disk"),
        ];
        let lost: Vec<String> = lost
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, what)| format!("{n} {what}"))
            .collect();
        let lost = lost.join(", ");
        match why() {
            Some(cause) if !lost.is_empty() => format!("{lost} ({cause})"),
            Some(cause) => cause,
            None => lost,
        }
    };
    report.reason = Some(reason);
}

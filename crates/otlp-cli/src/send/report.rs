//! How a run went: the summary `otlp send` prints, and the one-line reason
//! when not every item was accepted.

use super::flow::Progress;
use super::options::Plan;
use super::persist;
use crate::diagnose;
use crate::error::CliError;
use otlp_core::Signal;
use otlp_exporter::{BreakerState, DiskSnapshot, EndpointSnapshot, StatsSnapshot};
use std::path::PathBuf;
use std::time::Duration;

/// How a run went.
#[derive(Debug, Clone)]
pub(crate) struct SendReport {
    pub(crate) signal: Signal,
    pub(crate) requested: u64,
    /// Items handed to the SDK (fewer than requested if the run gave up).
    pub(crate) generated: u64,
    pub(crate) stats: StatsSnapshot,
    /// From the first generated item to the end of the providers' shutdown.
    pub(crate) elapsed: Duration,
    /// Why not every item was accepted (`None` when all were).
    pub(crate) reason: Option<String>,
    /// Nothing was delivered because the endpoint cannot be reached.
    pub(crate) unreachable: bool,
    /// Where the items went, for messages.
    pub(crate) target: String,
    /// The signal's persistent queue directory, with `--persist`.
    pub(crate) disk_dir: Option<PathBuf>,
    /// Batches an earlier run left on disk, found at the start.
    pub(crate) backlog: u64,
    /// Each endpoint, when there are several.
    pub(crate) endpoints: Vec<EndpointSnapshot>,
}

impl SendReport {
    /// The report of a finished run of `plan` that generated `generated`
    /// items in `elapsed`, with the reason filled in when not every item
    /// was accepted.
    pub(super) fn new(
        plan: &Plan,
        progress: &Progress,
        generated: u64,
        elapsed: Duration,
    ) -> SendReport {
        let options = &plan.options;
        let mut report = SendReport {
            signal: options.signal,
            requested: options.count,
            generated,
            stats: progress.stats.snapshot(),
            elapsed,
            reason: None,
            unreachable: false,
            target: plan.target.clone(),
            disk_dir: options
                .persist
                .as_ref()
                .map(|dir| dir.join(options.signal.as_str())),
            backlog: progress.backlog,
            endpoints: progress.stats.endpoints(),
        };
        if report.delivered_all() {
            return report;
        }
        if progress.durable() {
            persist::explain(&mut report, progress, plan);
        } else {
            explain(&mut report, progress, plan);
        }
        if options.endpoints.iter().any(|e| !e.contains("://")) {
            // TLS errors against a plaintext endpoint are the usual result.
            if let Some(reason) = &mut report.reason {
                reason.push_str(
                    "; the endpoint has no scheme, so https:// was assumed \
                     (write http:// for a plaintext endpoint)",
                );
            }
        }
        report
    }

    /// Whether the receiver accepted every requested item (and, with a
    /// persistent queue, everything found on disk).
    pub(crate) fn delivered_all(&self) -> bool {
        let s = &self.stats;
        let delivered = match s.disk {
            // Items found on disk are exported too, so `items_exported`
            // can exceed what was generated: every item the queue took is
            // delivered when the disk is empty and nothing was dropped.
            // A damaged record is not counted against the run: a crash in
            // the middle of a write leaves one, which the crashed run
            // never counted as queued.
            Some(disk) => {
                s.items_accepted == self.generated
                    && disk.queued_batches == 0
                    && disk.evicted_batches == 0
            }
            None => s.items_exported == self.requested,
        };
        self.generated == self.requested
            && delivered
            && s.dropped.total() == 0
            && s.export_errors == 0
    }

    pub(crate) fn items_per_second(&self) -> f64 {
        self.stats.items_exported as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub(crate) fn wire_bytes_per_item(&self) -> f64 {
        let s = &self.stats;
        // Bytes are counted as batches are encoded: those the queue took,
        // or refused (all counted as accepted).
        let encoded = s.items_accepted;
        s.bytes_sent as f64 / encoded.max(1) as f64
    }

    /// The failure as one line, or `Ok` if every item was accepted.
    pub(crate) fn outcome(&self) -> Result<(), CliError> {
        if self.delivered_all() {
            return Ok(());
        }
        let reason = self.reason.as_deref().unwrap_or("reason unknown");
        if let (Some(dir), Some(disk)) = (&self.disk_dir, self.stats.disk) {
            // Nothing is lost by stopping: say what waits for the next run.
            let left = if disk.queued_batches > 0 {
                format!(
                    "; {} batches ({} bytes) remain on disk in {} for the next run",
                    disk.queued_batches,
                    disk.queued_bytes,
                    dir.display()
                )
            } else {
                String::new()
            };
            return Err(CliError::Failed(format!(
                "{} {} delivered to {}{left}: {reason}",
                self.stats.items_exported,
                self.signal.item_unit(),
                self.target,
            )));
        }
        let message = format!(
            "{} of {} {} delivered to {}: {reason}",
            self.stats.items_exported,
            self.requested,
            self.signal.item_unit(),
            self.target,
        );
        Err(if self.unreachable {
            CliError::Unreachable(message)
        } else {
            CliError::Failed(message)
        })
    }

    /// The human-readable summary `otlp send` prints.
    pub(crate) fn summary(&self) -> String {
        let s = &self.stats;
        let ratio = if s.bytes_sent > 0 && s.bytes_sent != s.bytes_uncompressed {
            format!(
                " ({:.2}x smaller)",
                s.bytes_uncompressed as f64 / s.bytes_sent as f64
            )
        } else {
            String::new()
        };
        let pace = format!(
            "in {:.3} s ({:.0} items/s)",
            self.elapsed.as_secs_f64(),
            self.items_per_second()
        );
        let unit = self.signal.item_unit();
        let head = match (self.requested, self.backlog) {
            (0, backlog) => format!(
                "{} {unit} from {backlog} batches found on disk accepted by {} {pace}",
                s.items_exported, self.target
            ),
            (requested, 0) => format!(
                "{} of {requested} {unit} accepted by {} {pace}",
                s.items_exported, self.target
            ),
            (requested, backlog) => format!(
                "{} {unit} accepted by {} {pace}: {requested} requested, \
                 plus {backlog} batches found on disk",
                s.items_exported, self.target
            ),
        };
        let wire = if self.requested == 0 {
            // Recovered batches were encoded (and counted) by the run that
            // queued them.
            "batches as an earlier run encoded them".to_owned()
        } else {
            format!(
                "{} bytes ({:.1} B/item), {} bytes before compression{ratio}",
                s.bytes_sent,
                self.wire_bytes_per_item(),
                s.bytes_uncompressed
            )
        };
        let memory_bytes = s
            .queued_bytes
            .saturating_sub(s.disk.map_or(0, |d| d.queued_bytes));
        let mut queued = format!("{} items ({memory_bytes} bytes) in memory", s.queued_items);
        let mut lost_on_disk = String::new();
        if let (Some(dir), Some(disk)) = (&self.disk_dir, s.disk) {
            let DiskSnapshot {
                queued_batches,
                queued_bytes,
                evicted_batches,
                corrupted_batches,
                ..
            } = disk;
            queued.push_str(&format!(
                ", {queued_batches} batches ({queued_bytes} bytes) on disk in {}",
                dir.display()
            ));
            let crash = if corrupted_batches > 0 {
                " (a crash in the middle of a write leaves one)"
            } else {
                ""
            };
            lost_on_disk = format!(
                "; on disk {evicted_batches} batches evicted, \
                 {corrupted_batches} damaged records skipped{crash}"
            );
        }
        // Reasons that are rare are named only when they happened.
        let rare = [
            (s.dropped.shutdown, "at shutdown"),
            (s.dropped.encode_failed, "not compressible"),
            (s.dropped.disk_error, "by disk queue errors"),
        ];
        let rare: String = rare
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, why)| format!(", {n} {why}"))
            .collect();
        let mut endpoints = String::new();
        if !self.endpoints.is_empty() {
            endpoints.push_str(&format!(
                "\n  failover   {} items handed on from endpoints that left the ring, \
                 {} possible duplicates",
                s.rerouted_items, s.possible_duplicates
            ));
            for e in &self.endpoints {
                endpoints.push_str(&format!(
                    "\n  endpoint   {}: {} exported in {} requests, {} retries, {} dropped, \
                     {} queued, {}",
                    e.endpoint,
                    e.stats.items_exported,
                    e.stats.requests,
                    e.stats.retries,
                    e.stats.dropped.total(),
                    e.stats.queued_items + e.stats.in_flight_items,
                    endpoint_state(e),
                ));
            }
        }
        format!(
            "{head}\n  \
             items      {} generated, {} accepted into the export queue, {} exported\n  \
             dropped    {} rejected by the receiver, {} given up, {} by a full queue{rare}{lost_on_disk}\n  \
             requests   {} ok, {} given up, {} retries, {} requeued; \
             latency mean {:.1} ms, max {:.1} ms\n  \
             queued     {queued}\n  \
             breaker    {}\n  \
             wire       {wire}{endpoints}",
            self.generated,
            s.items_accepted,
            s.items_exported,
            s.dropped.rejected_by_receiver,
            // Refused for good, or still failing when the retry time ran out.
            s.dropped.export_failed + s.dropped.retry_expired,
            s.dropped.queue_full,
            s.requests,
            s.export_errors,
            s.retries,
            s.requeued,
            s.mean_latency.as_secs_f64() * 1e3,
            s.max_latency.as_secs_f64() * 1e3,
            breaker_state(s.breaker),
        )
    }
}

/// The first of the endpoints a target lists (several are joined with
/// `, `): the one a probe asks.
pub(super) fn first_endpoint(target: &str) -> &str {
    target.split(", ").next().unwrap_or(target)
}

/// Whether batches go to an endpoint now, and if not, why.
fn endpoint_state(e: &EndpointSnapshot) -> &'static str {
    match (e.in_ring, e.member, e.serving, e.stats.breaker) {
        (true, _, _, _) => "in the ring",
        (false, false, _, _) => "out of the ring (no longer in DNS)",
        (false, true, Some(false), _) => {
            "out of the ring (not serving, or not answering its health check)"
        }
        (false, true, _, BreakerState::Open) => "out of the ring (circuit breaker open)",
        (false, true, _, _) => "out of the ring",
    }
}

fn breaker_state(state: BreakerState) -> &'static str {
    match state {
        BreakerState::Closed => "closed",
        BreakerState::Open => "open (failing fast until the endpoint recovers)",
        BreakerState::HalfOpen => "half-open (probing the endpoint)",
    }
}

/// The cause from an exporter error, without the wrapping that repeats
/// the signal and the URL ("traces export to URL failed: connection to
/// URL failed: ..."). Connection refusals, the commonest case, are named
/// plainly.
fn short_reason(error: &str) -> String {
    let mut rest = error;
    for prefix in [" export to ", "connection to "] {
        if rest.contains(prefix) {
            if let Some((_, after)) = rest.split_once(" failed: ") {
                rest = after;
            }
        }
    }
    if rest.to_ascii_lowercase().contains("connection refused") {
        "connection refused".to_owned()
    } else {
        rest.to_owned()
    }
}

/// The exporter's own words for what went wrong: the first export call
/// the SDK saw fail (the exporter fails one only when its queue refuses
/// the batch), else the last failed attempt the exporter's stats keep.
/// The stats' error comes from below the circuit breaker, so it names the
/// cause rather than "circuit breaker is open".
pub(super) fn exporter_error(report: &SendReport, progress: &Progress) -> Option<String> {
    progress
        .first_error()
        .or_else(|| report.stats.last_error.as_ref().map(|e| e.message.clone()))
        .map(|e| short_reason(&e))
}

/// Fills in why not every item was delivered.
fn explain(report: &mut SendReport, progress: &Progress, plan: &Plan) {
    let s = &report.stats;
    if s.items_exported == 0 && report.generated > 0 {
        // Nothing got through: is the endpoint there at all?
        let timeout = plan.retry_window.min(Duration::from_secs(5));
        if let Err(why) = diagnose::probe(first_endpoint(&report.target), timeout) {
            report.reason = Some(why);
            report.unreachable = true;
            return;
        }
    }
    let settled = s.items_exported + s.dropped.total();
    let cause = exporter_error(report, progress);
    // A batch given up, or refused by the queue: its error is the reason.
    let failed = s.export_errors > 0 || progress.first_error().is_some();
    report.reason = Some(match cause {
        Some(cause) if failed => cause,
        _ if s.dropped.rejected_by_receiver > 0 => format!(
            "the receiver rejected {} in partial successes",
            s.dropped.rejected_by_receiver
        ),
        cause if settled < report.generated => {
            let unsent = format!(
                "{} still unsent when the {:?} shutdown budget ran out",
                report.generated - settled,
                plan.drain_budget()
            );
            // The retries were still going: the last attempt's error says why.
            match cause {
                Some(cause) => format!("{cause} ({unsent})"),
                None => unsent,
            }
        }
        Some(cause) => cause,
        None => format!("only {} of them were generated", report.generated),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use otlp_exporter::ExportStats;

    #[test]
    fn the_first_of_several_endpoints_is_probed() {
        assert_eq!(first_endpoint("http://a:1, http://b:2"), "http://a:1");
        assert_eq!(first_endpoint("http://a:1"), "http://a:1");
    }

    #[test]
    fn the_summary_counts_every_dropped_item() {
        let mut stats = ExportStats::default().snapshot();
        stats.items_accepted = 10;
        stats.dropped.retry_expired = 6;
        stats.dropped.export_failed = 1;
        stats.dropped.shutdown = 3;
        let report = SendReport {
            signal: Signal::Logs,
            requested: 10,
            generated: 10,
            stats,
            elapsed: Duration::from_secs(1),
            reason: Some("connection refused".into()),
            unreachable: false,
            target: "http://h:4318".into(),
            disk_dir: None,
            backlog: 0,
            endpoints: Vec::new(),
        };
        let summary = report.summary();
        assert!(
            summary.contains(
                "dropped    0 rejected by the receiver, 7 given up, 0 by a full queue, \
                 3 at shutdown\n"
            ),
            "{summary}"
        );
        let failure = report.outcome().unwrap_err().to_string();
        assert_eq!(
            failure,
            "0 of 10 log records delivered to http://h:4318: connection refused"
        );
    }

    #[test]
    fn reasons_lose_their_wrapping() {
        assert_eq!(
            short_reason(
                "connection to http://h:9/v1/traces failed: tcp connect error: \
                 Connection refused (os error 111)"
            ),
            "connection refused"
        );
        assert_eq!(
            short_reason("logs export to http://h/v1/logs failed: HTTP status 400 Bad Request: no"),
            "HTTP status 400 Bad Request: no"
        );
        assert_eq!(
            short_reason("export timed out after 1s"),
            "export timed out after 1s"
        );
    }
}

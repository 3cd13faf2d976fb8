//! An edge device that works offline: its exporters keep their queues on
//! disk, the collector is down, the program stops, and the data sent
//! while offline is delivered by the next run once the collector is back.
//!
//! ```sh
//! cargo run -p otlp-examples --example edge_offline
//! ```
//!
//! One run of the example is two runs of the device program:
//!
//! 1. The example runs itself again as a child process (the device's
//!    first run). Nothing listens at the collector's address: the spans,
//!    metric points and log records it makes are queued on disk, shutdown
//!    gives up waiting for delivery, and the process exits with its data
//!    still on disk.
//! 2. The example itself is the device's next run, on the same directory,
//!    with the collector still down; it records more. Then the collector
//!    (the embedded receiver, on the address the device was given) comes
//!    up, and the retries deliver both runs' data.
//!
//! Without `OTEL_EXPORTER_OTLP_ENDPOINT` it checks that every item of both
//! runs arrived, once.

use opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
use opentelemetry::KeyValue;
use otlp_examples::{ensure, ensure_metrics, Collector, Items, Telemetry};
use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

const SERVICE: &str = "edge-device";

/// Spans per run: one per sensor reading.
const READINGS: [&[f64]; 2] = [&[21.5, 21.7, 22.0, 22.4], &[22.9, 23.1]];

/// What one run of the device makes: a span per reading, one counter data
/// point, one log record.
fn expected(run: usize) -> Items {
    Items {
        spans: READINGS[run].len() as u64,
        metric_points: 1,
        log_records: 1,
    }
}

/// The device's work in run `run` (0 or 1).
fn record(telemetry: &Telemetry, run: usize) {
    let tracer = telemetry.tracer_provider.tracer("edge-device");
    let readings = telemetry
        .meter_provider
        .meter("edge-device")
        .u64_counter("sensor.readings")
        .build();
    for celsius in READINGS[run] {
        let mut span = tracer.start("read sensor");
        span.set_attribute(KeyValue::new("device.run", run as i64 + 1));
        span.set_attribute(KeyValue::new("sensor.celsius", *celsius));
        span.end();
        readings.add(1, &[KeyValue::new("device.run", run as i64 + 1)]);
    }
    let logger = telemetry.logger_provider.logger("edge-device");
    let mut log = logger.create_log_record();
    log.set_severity_number(Severity::Info);
    log.set_body(format!("run {}: {} readings taken", run + 1, READINGS[run].len()).into());
    logger.emit(log);
}

/// Accepted = exported + dropped + still queued, per signal.
fn print_accounts(telemetry: &Telemetry, run: usize) {
    for (signal, s) in ["spans", "metric points", "log records"]
        .iter()
        .zip(telemetry.stats())
    {
        let disk = s.disk.unwrap_or_default();
        println!(
            "run {}: {signal}: {} accepted, {} recovered from disk, {} exported, {} dropped, \
             {} batches on disk",
            run + 1,
            s.items_accepted,
            s.items_recovered,
            s.items_exported,
            s.dropped.total(),
            disk.queued_batches
        );
    }
}

/// The device's first run, in the child process: the collector is down.
fn first_run(dir: &Path, endpoint: Option<String>) -> Result<ExitCode, Box<dyn Error>> {
    let telemetry = Telemetry::with_persistent_queue(SERVICE, endpoint, dir)?;
    record(&telemetry, 0);
    // Nothing can be delivered: shutdown gives up after its timeout and
    // leaves the batches on disk.
    let timeout = Duration::from_secs(1);
    let spans = telemetry.tracer_provider.shutdown_with_timeout(timeout);
    let metrics = telemetry.meter_provider.shutdown();
    let logs = telemetry.logger_provider.shutdown_with_timeout(timeout);
    println!("run 1: shutdown with the collector down: {spans:?}, {metrics:?}, {logs:?}");
    print_accounts(&telemetry, 0);
    if Collector::external() {
        return Ok(ExitCode::SUCCESS);
    }
    let kept = telemetry
        .stats()
        .iter()
        .all(|s| s.items_exported == 0 && s.disk.is_some_and(|d| d.queued_batches > 0));
    Ok(if kept {
        ExitCode::SUCCESS
    } else {
        eprintln!("run 1: expected every signal's data on disk, undelivered");
        ExitCode::FAILURE
    })
}

fn main() -> Result<ExitCode, Box<dyn Error>> {
    let mut args = std::env::args_os().skip(1);
    if args.next().is_some_and(|a| a == "--first-run") {
        let dir = PathBuf::from(args.next().ok_or("--first-run needs a directory")?);
        let endpoint = args.next().map(|e| e.to_string_lossy().into_owned());
        return first_run(&dir, endpoint);
    }

    // The collector's address, while nothing listens there yet.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let endpoint = format!("http://{addr}");
    let dir = std::env::temp_dir().join(format!("otlp-edge-offline-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let result = run(&dir, addr, endpoint);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn run(
    dir: &Path,
    addr: std::net::SocketAddr,
    endpoint: String,
) -> Result<ExitCode, Box<dyn Error>> {
    println!(
        "the collector will be at {endpoint}; queues in {}",
        dir.display()
    );
    let status = std::process::Command::new(std::env::current_exe()?)
        .arg("--first-run")
        .arg(dir)
        .arg(&endpoint)
        .status()?;
    if !status.success() {
        eprintln!("the first run failed: {status}");
        return Ok(ExitCode::FAILURE);
    }

    // The next run: same directory, the collector still down at first.
    let telemetry = Telemetry::with_persistent_queue(SERVICE, Some(endpoint), dir)?;
    record(&telemetry, 1);
    std::thread::sleep(Duration::from_millis(500));
    println!("run 2: the collector comes back");
    let collector = Collector::start_at(addr)?;
    // The queued batches arrive as the retries reach the collector; this
    // run's metric point is read at shutdown (the reader's interval is a
    // minute), once the collector is back.
    let queued = Items {
        metric_points: 1,
        ..expected(0) + expected(1)
    };
    if !collector.wait_for(queued, Duration::from_secs(120)) {
        eprintln!("run 2: the queued data did not arrive within 120 s");
    }
    telemetry.shutdown()?;
    let expected = if Collector::external() {
        // A real collector was up for the first run, which delivered its
        // own data.
        expected(1)
    } else {
        expected(0) + expected(1)
    };
    print_accounts(&telemetry, 1);
    Ok(
        collector.finish_checked(expected, telemetry.exported(), |received| {
            for run in [1, 2] {
                let spans = received
                    .spans()
                    .into_iter()
                    .filter(|s| {
                        s.span.name == "read sensor"
                            && s.attribute("device.run") == Some(run.to_string())
                    })
                    .count();
                ensure(spans == READINGS[run - 1].len(), || {
                    format!("{spans} spans of run {run} arrived")
                })?;
                let body = format!("run {run}: {} readings taken", READINGS[run - 1].len());
                ensure(received.log_bodies().contains(&body.as_str()), || {
                    format!("the log record {body:?} did not arrive")
                })?;
            }
            ensure_metrics(received, &["sensor.readings"])
        }),
    )
}

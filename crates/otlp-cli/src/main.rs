//! `otlp`: a command-line OTLP receiver, load generator and demo, built on
//! this workspace's crates.
//!
//! ```text
//! otlp receive [--grpc ADDR] [--http ADDR] [--out FILE]
//! otlp send    [--endpoint URL ...] [--protocol P] [--compression C] [--signal S]
//!              [--count N] [--rate PER_S] [--batch-size B] [--workers W] [--timeout D]
//!              [--persist DIR] [--routing R] [--health-interval D] [--spans-per-trace K]
//! otlp demo    [--count N]
//! otlp profile [--pid PID ...] [--all] [--frequency HZ] [--duration D]
//!              [--interval D] [--endpoint URL] [--pprof FILE]
//! ```
//!
//! - **`receive`** serves OTLP/gRPC and OTLP/HTTP
//!   ([`otlp_transport::receiver`]), prints one line per request and, with
//!   `--out`, appends each request as one JSON object per line, the decoded
//!   request in OTLP/JSON under `"request"`. A request is answered only
//!   once its line is written, so whatever a sender saw accepted is in the
//!   file. `SIGINT`/`SIGTERM` stop it gracefully and print totals.
//! - **`send`** generates telemetry through the standard `opentelemetry` API
//!   and `opentelemetry_sdk` providers (batch span and log processors, a
//!   periodic metric reader) and exports it with [`otlp_exporter`]. The
//!   generator never lets a queue overflow: it waits for deliveries to
//!   catch up instead (see the `send` module), so every one of the N items
//!   reaches the exporter, and the exit status says whether the receiver
//!   accepted all N. Failed batches are retried for at most `--timeout`.
//!   With `--persist DIR` the export queue is kept on disk instead: the
//!   generator no longer waits for the endpoint, batches outlive the
//!   process and are sent first by the next run, and `--timeout` is the
//!   deadline of the whole command; `--count 0` only drains DIR.
//! - **`demo`** runs an embedded receiver and `send`'s code path over every
//!   protocol and compression, then prints what went over the wire.
//! - **`profile`** (Linux, as root or with `CAP_BPF` and `CAP_PERFMON`)
//!   samples the CPU stacks of some processes, or all, with the eBPF
//!   profiler of [`otlp_ebpf`], and exports each collection as an OTLP
//!   profiles request with [`otlp_exporter::OtlpProfileExporter`], and/or
//!   writes them all to a gzip'd pprof file.
//!
//! Settings not given on the command line come from the standard
//! `OTEL_EXPORTER_OTLP_*` variables, as the exporters read them.
//!
//! # Exit status
//! `0` success; `1` not every item was accepted by the receiver (with
//! `--persist`: the deadline passed with batches left on disk), or the
//! receiver could not run; `2` bad arguments, or an endpoint that could
//! not be reached at all (without `--persist`). Errors are one line on
//! stderr.
#![forbid(unsafe_code)]

mod demo;
mod diagnose;
mod error;
mod profile;
mod profiles_summary;
mod receive;
mod send;

use clap::{Args, Parser, Subcommand};
use error::CliError;
use otlp_core::Signal;
use otlp_exporter::{Compression, Protocol, Routing};
use otlp_transport::receiver;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// OTLP receiver, load generator and demo.
#[derive(Debug, Parser)]
#[command(name = "otlp", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Receive OTLP over gRPC and HTTP; print (and optionally record) every request.
    Receive(ReceiveArgs),
    /// Generate telemetry with the OpenTelemetry SDK and export it over OTLP.
    Send(SendArgs),
    /// Send every signal over every protocol and compression to an embedded
    /// receiver and print a table of the results.
    Demo(DemoArgs),
    /// Sample CPU stacks with eBPF (Linux) and export them as OTLP profiles
    /// or a pprof file.
    Profile(ProfileArgs),
}

/// Where and how `send` and `profile` export; what is not given comes
/// from the `OTEL_EXPORTER_OTLP_*` variables, as the exporter resolves them.
#[derive(Debug, Clone, Args)]
struct ExportArgs {
    /// Collector endpoint, e.g. http://localhost:4317 (gRPC) or
    /// http://localhost:4318 (HTTP; the signal's path is appended).
    /// Repeat it to send to several (see --routing), or give
    /// dns:///NAME:PORT for every address NAME resolves to, resolved again
    /// every 30 s (dns://SERVER:PORT/NAME:PORT asks that name server).
    #[arg(long = "endpoint", value_name = "URL")]
    endpoints: Vec<String>,
    /// grpc, http/protobuf or http/json.
    #[arg(long, value_name = "PROTOCOL")]
    protocol: Option<Protocol>,
    /// none, gzip, zstd, brotli, or srt (traces; OTLP + zstd to a receiver
    /// that does not offer it), optionally with a level (zstd:5).
    #[arg(long, value_name = "COMPRESSION")]
    compression: Option<Compression>,
    /// Request header (gRPC metadata) KEY=VALUE; repeatable.
    #[arg(long = "header", value_name = "KEY=VALUE", value_parser = parse_header)]
    headers: Vec<(String, String)>,
}

/// Arguments of `otlp profile`.
#[derive(Debug, Args)]
#[command(after_help = "\
Needs Linux 5.8 or later and root, or CAP_BPF and CAP_PERFMON. User stacks \
are walked by frame pointers: build the profiled programs with \
-fno-omit-frame-pointer (C, C++) or -C force-frame-pointers=yes (Rust).

Without --endpoint and --pprof, profiles go to OTEL_EXPORTER_OTLP_ENDPOINT \
(or its _PROFILES_ twin), else to the OpenTelemetry default endpoint. With \
--pprof alone, only the file is written. Over OTLP/HTTP profiles go to \
/v1development/profiles; a Collector accepts them with \
--feature-gates=+service.profilesSupport.

Stops after --duration, or on Ctrl-C or SIGTERM, after one last collection. \
Exit status: 0 when every collection was delivered (and the file written), \
1 when not, 2 for bad arguments.")]
struct ProfileArgs {
    /// A process to profile (all its threads); repeatable.
    #[arg(long = "pid", value_name = "PID", required_unless_present = "all", conflicts_with = "all", value_parser = |s: &str| parse_count::<u32>(s, 1, u32::MAX))]
    pids: Vec<u32>,
    /// Profile every process on the machine.
    #[arg(long)]
    all: bool,
    /// Samples per second on each CPU (1 to 10,000).
    #[arg(long, value_name = "HZ", default_value_t = otlp_ebpf::DEFAULT_FREQUENCY_HZ, value_parser = |s: &str| parse_count::<u64>(s, 1, otlp_ebpf::MAX_FREQUENCY_HZ))]
    frequency: u64,
    /// Stop after this long (e.g. 30s, 5m; 100ms to 30 days) [default: until interrupted].
    #[arg(long, value_name = "DURATION", value_parser = |s: &str| parse_duration_in(s, Duration::from_millis(100), 30 * 24 * HOUR))]
    duration: Option<Duration>,
    /// Time between collections, each exported as one request (100ms to 1h).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = |s: &str| parse_duration_in(s, Duration::from_millis(100), HOUR))]
    interval: Duration,
    #[command(flatten)]
    export: ExportArgs,
    /// Also write every sample to FILE as a gzip'd pprof profile.proto
    /// (the samples are kept in memory until the end).
    #[arg(long, value_name = "FILE")]
    pprof: Option<PathBuf>,
}

/// Arguments of `otlp receive`.
#[derive(Debug, Args)]
#[command(after_help = "Stops gracefully on Ctrl-C or SIGTERM and prints totals per signal.")]
struct ReceiveArgs {
    /// Address for OTLP/gRPC (port 0 picks a free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:4317")]
    grpc: SocketAddr,
    /// Address for OTLP/HTTP (port 0 picks a free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:4318")]
    http: SocketAddr,
    /// Append one JSON object per request to FILE: signal, transport,
    /// format, compression, items, wire_bytes, decoded_bytes, and the
    /// decoded request in OTLP/JSON under "request".
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Once listening, write the bound addresses to FILE as
    /// `grpc=ADDR` and `http=ADDR` lines (written whole, then renamed into place).
    #[arg(long, value_name = "FILE")]
    ready_file: Option<PathBuf>,
    /// Largest request accepted, in bytes, before and after decompression
    /// (1 to 2 GiB; KiB, MiB, GiB suffixes accepted).
    #[arg(long, value_name = "BYTES", default_value = "64MiB", value_parser = |s: &str| parse_size(s, 1, 2 * GIB))]
    max_message_size: usize,
    /// Most items (spans, data points, log records) per request, counted
    /// before decoding (1 to 100,000,000).
    #[arg(long, value_name = "N", default_value_t = receiver::DEFAULT_MAX_ITEMS, value_parser = |s: &str| parse_count::<usize>(s, 1, 100_000_000))]
    max_items: usize,
    /// Most memory one decoded request may take, estimated before decoding
    /// (1 KiB to 64 GiB).
    #[arg(long, value_name = "BYTES", default_value = "256MiB", value_parser = |s: &str| parse_size(s, KIB, 64 * GIB))]
    max_decoded_size: usize,
    /// Memory budget for all requests in flight together: bytes received,
    /// decompressed and decoded; beyond it requests get 503 / UNAVAILABLE
    /// (1 MiB to 1 TiB).
    #[arg(long, value_name = "BYTES", default_value = "1GiB", value_parser = |s: &str| parse_size(s, MIB, 1024 * GIB))]
    max_in_flight: usize,
    /// Close a connection that starts no request this long after it
    /// opened, or an HTTP/1.1 one whose next request head does not arrive
    /// within it, idle keep-alive included (100ms to 1h).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = |s: &str| parse_duration_in(s, Duration::from_millis(100), HOUR))]
    header_read_timeout: Duration,
    /// Close a connection with no request in flight for this long; bounds
    /// idle HTTP/2 (gRPC, h2c) connections (100ms to 1h).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = |s: &str| parse_duration_in(s, Duration::from_millis(100), HOUR))]
    idle_timeout: Duration,
    /// Most open connections per listener; more are closed at accept
    /// (1 to 1,000,000). Needs as many file descriptors (`ulimit -n`).
    #[arg(long, value_name = "N", default_value_t = receiver::DEFAULT_MAX_CONNECTIONS, value_parser = |s: &str| parse_count::<usize>(s, 1, 1_000_000))]
    max_connections: usize,
    /// Listen backlog (1 to 65535; the kernel may cap it at net.core.somaxconn).
    #[arg(long, value_name = "N", default_value_t = receiver::DEFAULT_BACKLOG, value_parser = |s: &str| parse_count::<u32>(s, 1, 65_535))]
    backlog: u32,
    /// Serve both listeners over TLS with the certificate chain in FILE
    /// (PEM, leaf first); needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Require client certificates signed by a CA in FILE (PEM): mutual
    /// TLS.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_client_ca: Option<PathBuf>,
    /// Require `authorization: Bearer TOKEN` on every export request, with
    /// a token listed in FILE as `TENANT TOKEN` lines (`#` comments); the
    /// tenant is printed and recorded with each request. Health checks
    /// need no token. Use with --tls-cert: tokens are secrets.
    #[arg(long, value_name = "FILE")]
    auth_tokens: Option<PathBuf>,
    /// Do not print a line per request (totals are still printed).
    #[arg(long, short)]
    quiet: bool,
    /// Send every request accepted on to URL (a Collector, or another
    /// `otlp receive`) through the exporters' queue and retries; a request
    /// that cannot be queued is answered 503 / UNAVAILABLE.
    #[arg(long, value_name = "URL")]
    forward: Option<String>,
    /// Protocol to forward with: grpc, http/protobuf or http/json
    /// (default grpc).
    #[arg(long, value_name = "PROTOCOL", requires = "forward")]
    forward_protocol: Option<Protocol>,
    /// Compression to forward with: none, gzip, zstd, brotli or srt, with
    /// an optional level (default zstd).
    #[arg(long, value_name = "COMPRESSION", requires = "forward")]
    forward_compression: Option<Compression>,
    /// Queue forwarded requests on disk in DIR (one subdirectory per
    /// signal) instead of memory, so they survive a restart.
    #[arg(long, value_name = "DIR", requires = "forward")]
    forward_persist: Option<PathBuf>,
    /// Run the processors configured in FILE (TOML: sampling, filter,
    /// attributes, redaction, span metrics) on the spans before they are
    /// forwarded; span metrics are forwarded as metrics.
    #[arg(long, value_name = "FILE", requires = "forward")]
    processors: Option<PathBuf>,
}

/// Arguments of `otlp send`.
#[derive(Debug, Args)]
#[command(after_help = "\
Flags that are not given fall back to OTEL_EXPORTER_OTLP_ENDPOINT, _PROTOCOL, \
_COMPRESSION, _HEADERS and _TIMEOUT (general or per signal), then to the \
OpenTelemetry defaults.

What --count counts:
  traces   N spans: HTTP server spans with 11 attributes and one event each.
  logs     N log records: access logs with severity, body, attributes and trace context.
  metrics  N data points: N distinct time series (half of a counter, half of a
           histogram, told apart by a series.id attribute), each recorded once
           and exported once with delta temporality; a view raises the
           cardinality limit so none overflow. --batch-size data points are
           collected per export.

With several --endpoint (or a dns:/// one), each endpoint has its own queue, \
retries and circuit breaker, and batches are routed by --routing. An endpoint \
that fails its health check (every --health-interval) or whose breaker opens \
leaves the ring: what was queued for it goes whole to the next owner of its \
traces, and it gets its share back once healthy. The summary then has a line \
per endpoint and counts possible duplicates (batches whose answer was lost \
in flight and were sent again). --persist works with one endpoint only.

With --persist DIR, batches wait in DIR (one subdirectory per signal) \
instead of memory: generating does not wait for the endpoint, a batch leaves \
the disk only once the endpoint accepted it (at-least-once: a crash can \
cause duplicates, not losses), and batches an earlier run left are sent \
first. --timeout is then the deadline of the whole command: it exits 0 once \
everything is delivered and the disk queue is empty, 1 when the deadline \
passes (what is left stays on disk for the next run). --count 0 --persist DIR \
generates nothing and only delivers what DIR holds, for every signal. One \
process at a time may use DIR.

Exit status: 0 when the receiver accepted all N items, 1 when it did not,
2 for bad arguments or an endpoint that could not be reached at all (with
--persist that is 1 too: the batches are safe on disk).")]
struct SendArgs {
    #[command(flatten)]
    export: ExportArgs,
    /// traces, metrics or logs.
    #[arg(long, default_value = "traces")]
    signal: Signal,
    /// How many items to send (see below for what an item is), 0 to
    /// 1,000,000,000,000; 0, with --persist, only sends what DIR holds.
    #[arg(long, short = 'n', default_value_t = 1000, value_parser = |s: &str| parse_count::<u64>(s, 0, MAX_COUNT))]
    count: u64,
    /// Items generated per second across all workers: 0 (as fast as
    /// possible) or 0.001 to 1,000,000,000.
    #[arg(long, value_name = "PER_S", value_parser = parse_rate)]
    rate: Option<f64>,
    /// Most items per export request (1 to 100,000).
    #[arg(long, value_name = "B", default_value_t = 512, value_parser = |s: &str| parse_count::<usize>(s, 1, MAX_BATCH_SIZE))]
    batch_size: usize,
    /// Threads generating telemetry in parallel (1 to 256).
    #[arg(long, value_name = "W", default_value_t = 1, value_parser = |s: &str| parse_count::<usize>(s, 1, 256))]
    workers: usize,
    /// Time allowed per export request, and for retrying a failed batch
    /// [default: 10s]; with --persist, the deadline of the whole command.
    /// E.g. 500ms, 10s, 1m (a bare number is seconds); 1ms to 1h.
    #[arg(long, value_name = "DURATION", value_parser = |s: &str| parse_duration_in(s, Duration::from_millis(1), HOUR))]
    timeout: Option<Duration>,
    /// Keep the export queue on disk in DIR, so that batches survive an
    /// unreachable endpoint and a crash (see below).
    #[arg(long, value_name = "DIR")]
    persist: Option<PathBuf>,
    /// With several endpoints, how batches are spread: trace-id (every
    /// span of a trace at one endpoint; logs and metrics by service.name)
    /// [default], service, round-robin or least-pending.
    #[arg(long, value_name = "ROUTING")]
    routing: Option<Routing>,
    /// With several endpoints, how often each one's health is checked
    /// (the gRPC health check, or GET /health over HTTP); one not serving
    /// gets no batches until it is again (100ms to 1h).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = |s: &str| parse_duration_in(s, Duration::from_millis(100), HOUR))]
    health_interval: Duration,
    /// Traces only: spans per trace (1 to 1000): an HTTP server span and
    /// its children, alternately a database query and a call to a
    /// downstream service. --count still counts spans.
    #[arg(long, value_name = "K", default_value_t = 1, value_parser = |s: &str| parse_count::<u64>(s, 1, 1000))]
    spans_per_trace: u64,
}

/// Arguments of `otlp demo`.
#[derive(Debug, Args)]
#[command(after_help = "\
Rows: OTLP/gRPC with none, gzip and zstd; OTLP/HTTP protobuf and JSON with none, \
gzip, zstd and brotli. Each row sends --count spans, --count metric data points \
and --count log records; `received` is counted by the embedded receiver. \
Exits 1 if any row received fewer or more items than it sent.")]
struct DemoArgs {
    /// Items per signal per row (1 to 1,000,000).
    #[arg(long, short = 'n', default_value_t = 10_000, value_parser = |s: &str| parse_count::<u64>(s, 1, 1_000_000))]
    count: u64,
    /// Most items per export request (1 to 100,000).
    #[arg(long, value_name = "B", default_value_t = 512, value_parser = |s: &str| parse_count::<usize>(s, 1, MAX_BATCH_SIZE))]
    batch_size: usize,
}

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;
const GIB: usize = 1024 * MIB;
const HOUR: Duration = Duration::from_secs(3600);
/// The most items one `send` generates.
const MAX_COUNT: u64 = 1_000_000_000_000;
/// The most items per export request.
const MAX_BATCH_SIZE: usize = 100_000;

/// Parses an integer from `min` to `max` (underscores allowed: 1_000).
fn parse_count<T>(s: &str, min: T, max: T) -> Result<T, String>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let digits = s.trim().replace('_', "");
    match digits.parse::<T>() {
        Ok(n) if n >= min && n <= max => Ok(n),
        _ => Err(format!("`{s}` is not a whole number from {min} to {max}")),
    }
}

/// Parses a size in bytes from `min` to `max`: a number with an optional
/// KiB, MiB or GiB suffix (K, M, G, KB, MB, GB mean the same).
fn parse_size(s: &str, min: usize, max: usize) -> Result<usize, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let unit_bytes = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => KIB,
        "m" | "mb" | "mib" => MIB,
        "g" | "gb" | "gib" => GIB,
        _ => usize::MAX,
    };
    let bytes = number
        .parse::<usize>()
        .ok()
        .filter(|_| unit_bytes != usize::MAX)
        .and_then(|n| n.checked_mul(unit_bytes));
    match bytes {
        Some(n) if n >= min && n <= max => Ok(n),
        _ => Err(format!(
            "`{s}` is not a size from {} to {} (e.g. 65536, 64KiB, 16MiB)",
            show_size(min),
            show_size(max)
        )),
    }
}

fn show_size(bytes: usize) -> String {
    for (unit, name) in [(GIB, "GiB"), (MIB, "MiB"), (KIB, "KiB")] {
        if bytes >= unit && bytes.is_multiple_of(unit) {
            return format!("{}{name}", bytes / unit);
        }
    }
    format!("{bytes} bytes")
}

/// Parses a rate: 0 (unlimited), or 0.001 to 1e9 items per second.
fn parse_rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if r == 0.0 || (1e-3..=1e9).contains(&r) => Ok(r),
        _ => Err(format!(
            "`{s}` is not a rate: 0 (as fast as possible) or 0.001 to 1000000000 per second"
        )),
    }
}

fn parse_header(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err("expected KEY=VALUE".into()),
    }
}

/// Parses `500ms`, `10s`, `1.5s`, `2m`; a bare number is seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let bad = || format!("`{s}` is not a duration; expected e.g. 500ms, 10s, 1m");
    let value: f64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit.trim() {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" | "min" => value * 60.0,
        _ => return Err(bad()),
    };
    match Duration::try_from_secs_f64(seconds) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => Err(format!("`{s}` must be a positive duration")),
    }
}

/// [`parse_duration`], from `min` to `max`.
fn parse_duration_in(s: &str, min: Duration, max: Duration) -> Result<Duration, String> {
    match parse_duration(s)? {
        d if d >= min && d <= max => Ok(d),
        _ => Err(format!(
            "`{}` is not a duration from {min:?} to {max:?}",
            s.trim()
        )),
    }
}

/// Prints a line on stdout; a closed stdout (`otlp ... | head -1`) is not
/// worth a panic, so failures are ignored.
pub(crate) fn outln(line: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stdout(), "{line}");
}

/// Prints a line on stderr, ignoring failure: there is nowhere else to say it.
pub(crate) fn errln(line: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    let command = match &cli.command {
        Command::Receive(_) => "receive",
        Command::Send(_) => "send",
        Command::Demo(_) => "demo",
        Command::Profile(_) => "profile",
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("otlp-io")
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            errln(format_args!(
                "otlp {command}: cannot start the async runtime: {e}"
            ));
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Receive(args) => runtime.block_on(receive::run(args)),
        Command::Send(args) => send::command(args, runtime.handle()),
        Command::Demo(args) => demo::run(args, &runtime),
        Command::Profile(args) => profile::command(args, runtime.handle()),
    };
    // Export threads the SDK may still run (after a timed-out shutdown)
    // must not keep the process alive.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            errln(format_args!("otlp {command}: {e}"));
            ExitCode::from(e.exit_code())
        }
    }
}

/// Prints clap's help or version as it is, and any other clap error as one
/// line (clap renders several: the error, a usage block and a hint).
fn usage_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        let _ = e.print();
        return ExitCode::from(CliError::USAGE);
    }
    let rendered = e.render().to_string();
    // The message is everything before the first blank line ("Usage:" and
    // the hint follow it), joined into one line.
    let message: Vec<&str> = rendered
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let message = message.join(" ");
    let message = message.strip_prefix("error: ").unwrap_or(&message);
    errln(format_args!("otlp: {message} (see otlp --help)"));
    ExitCode::from(CliError::USAGE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("10 parsecs").is_err());
        assert!(parse_duration("ms").is_err());
    }

    #[test]
    fn numbers_have_ranges() {
        assert_eq!(parse_count::<usize>("1_000", 1, 10_000), Ok(1000));
        assert!(parse_count::<usize>("18446744073709551615", 1, 100_000).is_err());
        assert!(parse_count::<usize>("0", 1, 100_000).is_err());
        assert!(parse_count::<u64>("-1", 0, 10).is_err());
        assert_eq!(parse_size("64MiB", 1, GIB), Ok(64 * MIB));
        assert_eq!(parse_size("4096", 1, GIB), Ok(4096));
        assert_eq!(parse_size("2k", 1, GIB), Ok(2048));
        assert!(parse_size("99999999999G", 1, GIB).is_err());
        assert!(parse_size("1TB", 1, GIB).is_err());
        assert!(parse_size("0", 1, GIB).is_err());
        assert!(parse_rate("1e-20").is_err());
        assert!(parse_rate("NaN").is_err());
        assert!(parse_rate("inf").is_err());
        assert_eq!(parse_rate("0"), Ok(0.0));
        assert_eq!(parse_rate("0.5"), Ok(0.5));
        assert!(parse_duration_in("2h", Duration::from_millis(1), HOUR).is_err());
        assert!(parse_duration_in("1e300", Duration::from_millis(1), HOUR).is_err());
        assert_eq!(
            parse_duration_in("1m", Duration::from_millis(1), HOUR),
            Ok(Duration::from_secs(60))
        );
    }

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}

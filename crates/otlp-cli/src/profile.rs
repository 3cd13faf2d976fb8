//! `otlp profile`: samples CPU stacks with the eBPF profiler (`otlp-ebpf`)
//! and exports each collection as an OTLP profiles request, writes them all
//! to a pprof file, or both.

use crate::error::CliError;
use crate::ProfileArgs;
use otlp_ebpf::{Collection, Error as ProfileError, Profiler};
use otlp_exporter::{BuildError, OtlpProfileExporter};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::runtime::Handle;

/// How long the exporter may take to deliver what is queued at the end.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// `otlp profile`.
pub(crate) fn command(args: ProfileArgs, runtime: &Handle) -> Result<(), CliError> {
    let mut builder = Profiler::builder()
        .with_frequency(args.frequency)
        .with_collect_interval(match args.duration {
            Some(d) => args.interval.min(d),
            None => args.interval,
        })
        .with_pids(args.pids.iter().copied());
    if args.all {
        builder = builder.with_all_processes();
    }
    builder
        .clone()
        .config()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    // Only `--pprof` given: the file is the whole output.
    let settings = &args.export;
    let export = !settings.endpoints.is_empty() || args.pprof.is_none();
    let exporter = if export {
        let _entered = runtime.enter();
        let mut exporter = OtlpProfileExporter::builder().with_headers(settings.headers.clone());
        exporter = crate::send::with_endpoints(exporter, &settings.endpoints)?;
        if let Some(protocol) = settings.protocol {
            exporter = exporter.with_protocol(protocol);
        }
        if let Some(compression) = settings.compression {
            exporter = exporter.with_compression(compression);
        }
        Some(exporter.build().map_err(build_error)?)
    } else {
        None
    };
    let mut profiler = builder.build().map_err(profiler_error)?;

    // Ctrl-C, SIGTERM or the end of --duration: drain once more and stop.
    let stop = Arc::new(AtomicBool::new(false));
    let stopper = Arc::clone(&stop);
    let duration = args.duration;
    runtime.spawn(async move {
        let until = async {
            match duration {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = until => {}
            _ = tokio::signal::ctrl_c() => {}
            () = terminated() => {}
        }
        stopper.store(true, Ordering::Relaxed);
    });

    let started = Instant::now();
    let mut merged: Option<Collection> = None;
    let (mut collections, mut samples, mut lost) = (0u64, 0u64, 0u64);
    loop {
        let collection = profiler
            .next_collection_or_stop(&stop)
            .map_err(profiler_error)?;
        collections += 1;
        samples += collection.sample_count();
        lost += collection.stats.lost_counts_full;
        crate::outln(format_args!(
            "collected {} samples of {} processes ({} lost to a full map)",
            collection.sample_count(),
            collection.processes.len(),
            collection.stats.lost_counts_full,
        ));
        if let Some(exporter) = &exporter {
            if !collection.processes.is_empty() {
                let request = collection.to_otlp_request();
                if let Err(e) = runtime.block_on(exporter.export(&request)) {
                    crate::errln(format_args!(
                        "otlp profile: a collection was not queued: {e}"
                    ));
                }
            }
        }
        if args.pprof.is_some() {
            merged = Some(match merged.take() {
                None => collection,
                Some(all) => merge(all, collection),
            });
        }
        if stop.load(Ordering::Relaxed) {
            break;
        }
    }
    drop(profiler);

    let mut failures = Vec::new();
    if let Some(path) = &args.pprof {
        let written = merged
            .as_ref()
            .map_or_else(|| Ok(Vec::new()), Collection::to_pprof_gzip)
            .and_then(|bytes| std::fs::write(path, bytes));
        if let Err(e) = written {
            failures.push(format!("cannot write {}: {e}", path.display()));
        }
    }
    let mut exported = String::new();
    if let Some(exporter) = exporter {
        let stats = exporter.stats();
        if let Err(e) = exporter.shutdown(SHUTDOWN_TIMEOUT) {
            failures.push(format!("profiles not delivered: {e}"));
        }
        let s = stats.snapshot();
        exported = format!(
            ", {} of {} profiles exported",
            s.items_exported, s.items_accepted
        );
        if s.items_exported < s.items_accepted && failures.is_empty() {
            failures.push(format!(
                "{} of {} profiles were not delivered",
                s.items_accepted - s.items_exported,
                s.items_accepted
            ));
        }
    }
    crate::outln(format_args!(
        "profiled for {:.1} s: {samples} samples in {collections} collections, {lost} lost{exported}",
        started.elapsed().as_secs_f64()
    ));
    if failures.is_empty() {
        Ok(())
    } else {
        Err(CliError::Failed(failures.join("; ")))
    }
}

/// `later`'s samples added to `all`'s, over both windows.
fn merge(mut all: Collection, later: Collection) -> Collection {
    all.end = later.end;
    all.processes.extend(later.processes);
    let (a, b) = (&mut all.stats, later.stats);
    a.samples += b.samples;
    a.lost_counts_full += b.lost_counts_full;
    a.lost_user_stacks += b.lost_user_stacks;
    a.lost_kernel_stacks += b.lost_kernel_stacks;
    a.lost_new_process_events += b.lost_new_process_events;
    all
}

fn profiler_error(e: ProfileError) -> CliError {
    match e {
        ProfileError::InvalidConfig(_) => CliError::Usage(e.to_string()),
        e => CliError::Failed(e.to_string()),
    }
}

fn build_error(e: BuildError) -> CliError {
    CliError::Usage(e.to_string())
}

/// Resolves on SIGTERM (never where there is none).
async fn terminated() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            term.recv().await;
            return;
        }
    }
    std::future::pending::<()>().await;
}

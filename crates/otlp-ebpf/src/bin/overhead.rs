//! Measures what the profiler costs the program it profiles.
//!
//!   cargo run --release -p otlp-ebpf --bin otlp-ebpf-overhead -- [SECONDS] [ROUNDS]
//!
//! Builds `testdata/burn.c` (a CPU-bound loop, with frame pointers) with
//! `cc`, then runs it SECONDS long (default 10) without the profiler, with it
//! at 19 Hz and at 99 Hz, ROUNDS times (default 3) in turn so that drifts in
//! machine load hit every mode alike, and prints the median throughput of
//! each mode: work units per second of wall time, and per second of the
//! program's own CPU time (what it got of the CPU varies with the machine's
//! other load; what it does with it, far less). While profiling it collects every 2 s (symbolization included)
//! and reads the BPF program's run time from the kernel
//! (`BPF_ENABLE_STATS`, as `kernel.bpf_stats_enabled`), to report the time
//! per program run. Needs root.

#[cfg(target_os = "linux")]
fn main() {
    if let Err(e) = linux::run() {
        eprintln!("otlp-ebpf-overhead: {e}");
        std::process::exit(1);
    }
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("otlp-ebpf-overhead: eBPF profiling needs Linux");
    std::process::exit(1);
}

#[cfg(target_os = "linux")]
mod linux {
    use std::error::Error;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};
    use std::time::Duration;

    use otlp_ebpf::Profiler;

    struct Run {
        units_per_sec: f64,
        units_per_cpu_sec: f64,
        bpf_ns_per_run: Option<f64>,
        /// BPF run time as a share of all CPUs' time while profiling.
        bpf_cpu_share: Option<f64>,
        /// The profiler's own CPU time (this process: collecting, reading
        /// maps, symbolizing) per second of profiling, as a share of one
        /// CPU.
        profiler_cpu_share: Option<f64>,
        samples: u64,
    }

    fn build_burn() -> Result<PathBuf, Box<dyn Error>> {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/burn.c");
        let exe = std::env::temp_dir().join(format!("otlp-ebpf-burn-{}", std::process::id()));
        let status = Command::new("cc")
            .args(["-O1", "-g", "-fno-omit-frame-pointer", "-o"])
            .arg(&exe)
            .arg(&src)
            .status()?;
        if !status.success() {
            return Err(format!("cc failed on {}", src.display()).into());
        }
        Ok(exe)
    }

    fn run_once(exe: &Path, seconds: u64, hz: Option<u64>) -> Result<Run, Box<dyn Error>> {
        let child = Command::new(exe)
            .arg(seconds.to_string())
            .stdout(Stdio::piped())
            .spawn()?;
        let pid = child.id();
        let mut samples = 0;
        let mut bpf_ns_per_run = None;
        let mut bpf_cpu_share = None;
        let mut profiler_cpu_share = None;
        if let Some(hz) = hz {
            let started = std::time::Instant::now();
            let cpu_started = process_cpu();
            let mut profiler = Profiler::builder()
                .with_pids([pid])
                .with_frequency(hz)
                .with_collect_interval(Duration::from_secs(2))
                .build()?;
            let pid_dir = PathBuf::from(format!("/proc/{pid}"));
            // Collect until the child exits (a zombie keeps /proc/PID until
            // it is waited for, so check its state).
            loop {
                let c = profiler.next_collection()?;
                samples += c.sample_count();
                let state = std::fs::read_to_string(pid_dir.join("stat")).unwrap_or_default();
                let zombie = state
                    .rsplit(')')
                    .next()
                    .is_some_and(|s| s.trim_start().starts_with('Z'));
                if state.is_empty() || zombie {
                    break;
                }
            }
            profiler_cpu_share =
                Some((process_cpu() - cpu_started).as_secs_f64() / started.elapsed().as_secs_f64());
            let (time, runs) = profiler.bpf_run_stats()?;
            if runs > 0 {
                bpf_ns_per_run = Some(time.as_nanos() as f64 / runs as f64);
                let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
                bpf_cpu_share = Some(time.as_secs_f64() / (started.elapsed().as_secs_f64() * cpus));
            }
        }
        let out = child.wait_with_output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let units_per_sec: f64 = text
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("unexpected output of burn: {text:?}"))?;
        let units_per_cpu_sec: f64 = text
            .split_whitespace()
            .rev()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("unexpected output of burn: {text:?}"))?;
        Ok(Run {
            units_per_sec,
            units_per_cpu_sec,
            bpf_ns_per_run,
            bpf_cpu_share,
            profiler_cpu_share,
            samples,
        })
    }

    /// This process's CPU time, every thread, user and system.
    fn process_cpu() -> Duration {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
        Duration::new(
            u64::try_from(t.tv_sec).unwrap_or(0),
            u32::try_from(t.tv_nsec).unwrap_or(0),
        )
    }

    fn median(mut v: Vec<f64>) -> f64 {
        v.sort_by(f64::total_cmp);
        let n = v.len();
        if n == 0 {
            return f64::NAN;
        }
        if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        }
    }

    pub(super) fn run() -> Result<(), Box<dyn Error>> {
        let mut args = std::env::args().skip(1);
        let seconds: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(10);
        let rounds: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(3);
        let exe = build_burn()?;
        // Keeps run-time accounting on while the fd is open.
        let _stats = aya::sys::enable_stats(aya::sys::Stats::RunTime)?;
        let modes: [(&str, Option<u64>); 3] =
            [("off", None), ("19 Hz", Some(19)), ("99 Hz", Some(99))];
        let mut results: Vec<Vec<Run>> = modes.iter().map(|_| Vec::new()).collect();
        for round in 0..rounds {
            for (i, (name, hz)) in modes.iter().enumerate() {
                let run = run_once(&exe, seconds, *hz)?;
                eprintln!(
                    "round {round} {name}: {:.1} units/s, {:.1} units/cpu-s, {} samples, bpf {:?} ns/run, share {:?}, profiler {:?} of a CPU",
                    run.units_per_sec, run.units_per_cpu_sec, run.samples, run.bpf_ns_per_run, run.bpf_cpu_share, run.profiler_cpu_share
                );
                results[i].push(run);
            }
        }
        let _ = std::fs::remove_file(&exe);
        let base = median(results[0].iter().map(|r| r.units_per_sec).collect());
        let cpu_base = median(results[0].iter().map(|r| r.units_per_cpu_sec).collect());
        println!(
            "| profiler | throughput (units/s, median of {rounds}) | change | units per CPU second (median) | change | samples per run | BPF time per program run | BPF share of CPU time | profiler process, share of one CPU |"
        );
        println!("|---|---|---|---|---|---|---|---|---|");
        for (i, (name, _)) in modes.iter().enumerate() {
            let tput = median(results[i].iter().map(|r| r.units_per_sec).collect());
            let per_cpu = median(results[i].iter().map(|r| r.units_per_cpu_sec).collect());
            let samples = median(results[i].iter().map(|r| r.samples as f64).collect());
            let bpf: Vec<f64> = results[i].iter().filter_map(|r| r.bpf_ns_per_run).collect();
            let bpf = if bpf.is_empty() {
                "-".to_owned()
            } else {
                format!("{:.0} ns", median(bpf))
            };
            let samples = if i == 0 {
                "-".to_owned()
            } else {
                format!("{samples:.0}")
            };
            let share: Vec<f64> = results[i].iter().filter_map(|r| r.bpf_cpu_share).collect();
            let share = if share.is_empty() {
                "-".to_owned()
            } else {
                format!("{:.3}%", median(share) * 100.0)
            };
            let profiler: Vec<f64> = results[i]
                .iter()
                .filter_map(|r| r.profiler_cpu_share)
                .collect();
            let profiler = if profiler.is_empty() {
                "-".to_owned()
            } else {
                format!("{:.3}%", median(profiler) * 100.0)
            };
            println!(
                "| {name} | {tput:.1} | {:+.2}% | {per_cpu:.1} | {:+.2}% | {samples} | {bpf} | {share} | {profiler} |",
                (tput / base - 1.0) * 100.0,
                (per_cpu / cpu_base - 1.0) * 100.0
            );
        }
        Ok(())
    }
}

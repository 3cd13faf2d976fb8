//! An eBPF CPU profiler for Linux whose output is OpenTelemetry profiles
//! (`opentelemetry.proto.profiles.v1development`) or pprof.
//!
//! A small BPF program (C, `bpf/profiler.bpf.c`) runs on a cpu-clock
//! software perf event on every online CPU, by default 19 times a second.
//! For each sample of a profiled process (a set of pids, or every process) it
//! records the user and kernel stacks with `bpf_get_stackid` and counts the
//! (process, user stack, kernel stack) triple in a bounded hash map. Every
//! collection (by default every 10 s) switches the program to a second set of
//! maps and drains the first, so nothing is lost to the drain; samples that
//! do not fit the bounded maps are counted ([`SampleStats`]).
//!
//! User stacks are symbolized with blazesym (function, file and line where
//! the binary has debug info) from file offsets in the process's mappings,
//! which are read when the program first sees the process: a process that
//! exits before the collection keeps its samples and symbols. Each mapping
//! carries its file offset and GNU build id, so a backend can symbolize
//! again later. Kernel stacks are symbolized from `/proc/kallsyms`.
//!
//! # Frame pointers
//! The kernel's `bpf_get_stackid` walks user stacks by frame pointers. Code
//! built without them (the default of most compilers at `-O2`, and of Rust's
//! standard library) yields truncated user stacks: the leaf function and
//! whatever frames still have a frame pointer. Build the profiled programs
//! with `-fno-omit-frame-pointer` (C, C++) or `-C force-frame-pointers=yes`
//! (Rust). Unwinding from `.eh_frame` tables is not implemented.
//!
//! # Requirements
//! Linux 5.8 or later, `CAP_BPF` and `CAP_PERFMON` (or `CAP_SYS_ADMIN`, e.g.
//! root). On other systems [`Profiler::builder`]`.build()` returns
//! [`Error::UnsupportedOs`]; everything else of the crate (the conversions)
//! works everywhere.
//!
//! # Example
//! ```no_run
//! use std::time::Duration;
//! use otlp_ebpf::Profiler;
//!
//! # fn main() -> Result<(), otlp_ebpf::Error> {
//! let mut profiler = Profiler::builder()
//!     .with_pids([1234])
//!     .with_frequency(19)
//!     .with_collect_interval(Duration::from_secs(10))
//!     .build()?;
//! let collection = profiler.next_collection()?; // waits 10 s, then drains
//! let otlp_body: Vec<u8> = collection.encode_otlp(); // ExportProfilesServiceRequest
//! let pprof_gz: Vec<u8> = collection.to_pprof_gzip()?; // for `go tool pprof`
//! # let _ = (otlp_body, pprof_gz);
//! # Ok(())
//! # }
//! ```
//!
//! The BPF object is compiled by `scripts/ebpf-object.sh` (clang `-O2 -g
//! -target bpf`) and committed beside its source, so building this crate
//! never needs clang.

mod error;
mod intern;
#[cfg(target_os = "linux")]
mod linux;
mod model;
mod otlp;
mod pprof;

use std::time::Duration;

pub use error::Error;
pub use model::{
    Collection, Frame, FrameKind, FunctionLine, Mapping, ProcessSamples, SampleStats, SampledStack,
};

/// Default sampling frequency per CPU: 19 Hz, off the beat of periodic work
/// that runs at round frequencies.
pub const DEFAULT_FREQUENCY_HZ: u64 = 19;
/// Default time between collections.
pub const DEFAULT_COLLECT_INTERVAL: Duration = Duration::from_secs(10);
/// Default capacity of the counts and stack maps (each of the two buffers).
///
/// The kernel allocates stack maps in full up front, 127 frames of 8 bytes
/// per entry: the two stack maps take about 33 MiB at this default;
/// [`ProfilerBuilder::with_max_stacks`] trades that against stacks lost to
/// a full map or a hash collision (counted in [`SampleStats`]).
pub const DEFAULT_MAX_STACKS: u32 = 16_384;
/// Most pids the filter takes.
pub const MAX_PIDS: usize = 1024;
/// Highest sampling frequency accepted.
pub const MAX_FREQUENCY_HZ: u64 = 10_000;

/// What to profile.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Target {
    /// These processes (all their threads).
    Pids(Vec<u32>),
    /// Every process on the machine.
    AllProcesses,
}

/// The profiler's settings, made by [`ProfilerBuilder`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProfilerConfig {
    /// What is profiled.
    pub target: Target,
    /// Samples per second on each CPU.
    pub frequency_hz: u64,
    /// Time between collections of [`Profiler::next_collection`].
    pub collect_interval: Duration,
    /// Capacity of the counts map and the stack map.
    pub max_stacks: u32,
}

/// Builds a [`Profiler`].
#[derive(Debug, Clone)]
pub struct ProfilerBuilder {
    pids: Vec<u32>,
    all: bool,
    frequency_hz: u64,
    collect_interval: Duration,
    max_stacks: u32,
}

impl ProfilerBuilder {
    /// Profiles these processes (adds to the ones given before).
    pub fn with_pids(mut self, pids: impl IntoIterator<Item = u32>) -> Self {
        self.pids.extend(pids);
        self
    }

    /// Profiles every process on the machine.
    pub fn with_all_processes(mut self) -> Self {
        self.all = true;
        self
    }

    /// Samples per second on each CPU (default 19).
    pub fn with_frequency(mut self, hz: u64) -> Self {
        self.frequency_hz = hz;
        self
    }

    /// Time between collections (default 10 s).
    pub fn with_collect_interval(mut self, interval: Duration) -> Self {
        self.collect_interval = interval;
        self
    }

    /// Capacity of the counts and stack maps (default 16384 each).
    pub fn with_max_stacks(mut self, max_stacks: u32) -> Self {
        self.max_stacks = max_stacks;
        self
    }

    /// Checks the settings.
    pub fn config(self) -> Result<ProfilerConfig, Error> {
        let target = match (self.all, self.pids.is_empty()) {
            (true, true) => Target::AllProcesses,
            (false, false) => Target::Pids(self.pids),
            (true, false) => {
                return Err(Error::InvalidConfig(
                    "give pids or all processes, not both".into(),
                ))
            }
            (false, true) => return Err(Error::InvalidConfig("give pids or all processes".into())),
        };
        if let Target::Pids(pids) = &target {
            if pids.len() > MAX_PIDS {
                return Err(Error::InvalidConfig(format!("at most {MAX_PIDS} pids")));
            }
            if pids.contains(&0) {
                return Err(Error::InvalidConfig("pid 0 is the idle task".into()));
            }
        }
        if !(1..=MAX_FREQUENCY_HZ).contains(&self.frequency_hz) {
            return Err(Error::InvalidConfig(format!(
                "frequency must be 1..={MAX_FREQUENCY_HZ} Hz, not {}",
                self.frequency_hz
            )));
        }
        if self.collect_interval.is_zero() {
            return Err(Error::InvalidConfig(
                "collect interval must not be zero".into(),
            ));
        }
        if !(16..=1 << 22).contains(&self.max_stacks) {
            return Err(Error::InvalidConfig(format!(
                "max stacks must be 16..=4194304, not {}",
                self.max_stacks
            )));
        }
        Ok(ProfilerConfig {
            target,
            frequency_hz: self.frequency_hz,
            collect_interval: self.collect_interval,
            max_stacks: self.max_stacks,
        })
    }

    /// Loads the BPF program and starts sampling.
    pub fn build(self) -> Result<Profiler, Error> {
        let config = self.config()?;
        #[cfg(target_os = "linux")]
        {
            Ok(Profiler {
                inner: linux::LinuxProfiler::start(config)?,
            })
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = config;
            Err(Error::UnsupportedOs {
                os: std::env::consts::OS,
            })
        }
    }
}

/// A running profiler; sampling stops when it is dropped.
pub struct Profiler {
    #[cfg(target_os = "linux")]
    inner: linux::LinuxProfiler,
    #[cfg(not(target_os = "linux"))]
    inner: std::convert::Infallible,
}

impl std::fmt::Debug for Profiler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profiler")
            .field("config", self.config())
            .finish_non_exhaustive()
    }
}

impl Profiler {
    /// A builder with the defaults: 19 Hz, collection every 10 s, and no
    /// target yet (give pids or all processes).
    pub fn builder() -> ProfilerBuilder {
        ProfilerBuilder {
            pids: Vec::new(),
            all: false,
            frequency_hz: DEFAULT_FREQUENCY_HZ,
            collect_interval: DEFAULT_COLLECT_INTERVAL,
            max_stacks: DEFAULT_MAX_STACKS,
        }
    }

    /// The settings it runs with.
    pub fn config(&self) -> &ProfilerConfig {
        #[cfg(target_os = "linux")]
        return self.inner.config();
        #[cfg(not(target_os = "linux"))]
        match self.inner {}
    }

    /// Waits until the collect interval has passed since the previous
    /// collection (reading the memory maps of newly seen processes
    /// meanwhile), then drains the maps.
    pub fn next_collection(&mut self) -> Result<Collection, Error> {
        #[cfg(target_os = "linux")]
        return self.inner.next_collection();
        #[cfg(not(target_os = "linux"))]
        match self.inner {}
    }

    /// Like [`next_collection`](Self::next_collection), but drains the maps
    /// early, within half a second, once `stop` is set (for example by a
    /// signal handler): the last collection of a profiler being stopped.
    pub fn next_collection_or_stop(
        &mut self,
        stop: &std::sync::atomic::AtomicBool,
    ) -> Result<Collection, Error> {
        #[cfg(target_os = "linux")]
        return self.inner.next_collection_or_stop(stop);
        #[cfg(not(target_os = "linux"))]
        {
            let _ = stop;
            match self.inner {}
        }
    }

    /// Drains the maps now: the samples since the previous collection.
    pub fn collect(&mut self) -> Result<Collection, Error> {
        #[cfg(target_os = "linux")]
        return self.inner.collect();
        #[cfg(not(target_os = "linux"))]
        match self.inner {}
    }

    /// Total run time and run count of the BPF program since it was loaded,
    /// as the kernel counts them while `kernel.bpf_stats_enabled` is 1 (both
    /// stay 0 otherwise).
    pub fn bpf_run_stats(&self) -> Result<(Duration, u64), Error> {
        #[cfg(target_os = "linux")]
        return self.inner.bpf_run_stats();
        #[cfg(not(target_os = "linux"))]
        match self.inner {}
    }
}

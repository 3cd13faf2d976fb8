use std::io;

/// Why the profiler could not start or collect.
///
/// The first four variants are the environment's answer to "can this machine
/// profile with eBPF?"; tests and tools report them as a reason to skip, with
/// the exception of [`Error::VerifierRejected`], which means the program
/// itself is wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The profiler needs Linux (eBPF and perf events).
    #[error("eBPF profiling is not supported on this OS ({os}); it needs Linux")]
    UnsupportedOs {
        /// `std::env::consts::OS` of the running program.
        os: &'static str,
    },

    /// The process lacks a capability it needs: `CAP_BPF` to load the program
    /// and create its maps, `CAP_PERFMON` to open system-wide perf events
    /// (`CAP_SYS_ADMIN` grants both).
    #[error("missing capability {capability} (or CAP_SYS_ADMIN): run as root or grant it")]
    MissingCapability {
        /// `"CAP_BPF"` or `"CAP_PERFMON"`.
        capability: &'static str,
        /// The failing system call's error, when the kernel (not the
        /// up-front capability check) refused.
        #[source]
        source: Option<io::Error>,
    },

    /// The kernel cannot attach BPF programs to perf events (built without
    /// `CONFIG_BPF_EVENTS`/`CONFIG_PERF_EVENTS`, or the cpu-clock event is
    /// missing).
    #[error("this kernel has no BPF perf events: {call} failed: {source}")]
    PerfEventsUnavailable {
        /// The system call that failed.
        call: &'static str,
        /// Its error.
        #[source]
        source: io::Error,
    },

    /// The kernel's verifier rejected the BPF program.
    #[error("the BPF verifier rejected the profiler program ({source}); verifier log:\n{log}")]
    VerifierRejected {
        /// The verifier's log.
        log: String,
        /// The error of the `BPF_PROG_LOAD` call.
        #[source]
        source: io::Error,
    },

    /// Loading the BPF object or creating its maps failed for another reason.
    #[error("loading the BPF object failed: {0}")]
    Load(#[source] Box<dyn std::error::Error + Send + Sync>),

    /// Reading or writing a BPF map failed.
    #[error("BPF map {map}: {source}")]
    Map {
        /// The map's name in the BPF object.
        map: &'static str,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// A setting is out of range.
    #[error("invalid profiler setting: {0}")]
    InvalidConfig(String),

    /// An I/O error outside BPF (reading `/proc`, writing a pprof file).
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

//! What one collection holds: symbolized stacks with their counts, per
//! process. Platform-independent, so the conversions to OTLP and pprof are
//! tested everywhere.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The samples taken between two collections.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Collection {
    /// When the collection window began (the previous collection, or the
    /// profiler's start).
    pub start: SystemTime,
    /// When the maps were drained.
    pub end: SystemTime,
    /// Sampling period: one sample stands for this much CPU time.
    pub period: Duration,
    /// The host the samples were taken on (`host.name`).
    pub host_name: String,
    /// Samples per process.
    pub processes: Vec<ProcessSamples>,
    /// Counters of the BPF program for this window.
    pub stats: SampleStats,
}

impl Collection {
    /// Creates a collection; used by the profiler and by tests of the
    /// conversions.
    pub fn new(
        start: SystemTime,
        end: SystemTime,
        period: Duration,
        host_name: String,
        processes: Vec<ProcessSamples>,
        stats: SampleStats,
    ) -> Self {
        Collection {
            start,
            end,
            period,
            host_name,
            processes,
            stats,
        }
    }

    /// Number of samples stored in the collection (the sum of the counts).
    pub fn sample_count(&self) -> u64 {
        self.processes
            .iter()
            .flat_map(|p| &p.stacks)
            .map(|s| s.count)
            .sum()
    }
}

/// Samples of one process.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProcessSamples {
    /// Process id (the thread group id; all threads count).
    pub pid: u32,
    /// Base name of the executable (`process.executable.name`); empty when
    /// the process had exited before it could be read.
    pub executable_name: String,
    /// Distinct stacks with their counts, heaviest first.
    pub stacks: Vec<SampledStack>,
}

impl ProcessSamples {
    /// Creates the samples of one process.
    pub fn new(pid: u32, executable_name: String, stacks: Vec<SampledStack>) -> Self {
        ProcessSamples {
            pid,
            executable_name,
            stacks,
        }
    }
}

/// One distinct stack and how often it was sampled.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SampledStack {
    /// Frames, leaf first: kernel frames (if the sample hit the kernel), then
    /// user frames.
    pub frames: Vec<Frame>,
    /// Number of samples.
    pub count: u64,
    /// Time of the latest of these samples.
    pub last_sample: SystemTime,
}

impl SampledStack {
    /// Creates a stack sample.
    pub fn new(frames: Vec<Frame>, count: u64, last_sample: SystemTime) -> Self {
        SampledStack {
            frames,
            count,
            last_sample,
        }
    }
}

/// Where a frame runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// User space code (`profile.frame.type` `native`).
    Native,
    /// Kernel code (`profile.frame.type` `kernel`).
    Kernel,
}

impl FrameKind {
    /// The `profile.frame.type` attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            FrameKind::Native => "native",
            FrameKind::Kernel => "kernel",
        }
    }
}

/// One frame of a stack.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Frame {
    /// Instruction address as the process (or kernel) saw it. For frames
    /// below the leaf it is a return address.
    pub address: u64,
    /// User or kernel.
    pub kind: FrameKind,
    /// The mapping the address lies in, when known.
    pub mapping: Option<Arc<Mapping>>,
    /// Functions at this address, innermost (inlined) first; the last one
    /// is the function the code was compiled into. Empty when unsymbolized.
    pub functions: Vec<FunctionLine>,
}

impl Frame {
    /// Creates a frame.
    pub fn new(
        address: u64,
        kind: FrameKind,
        mapping: Option<Arc<Mapping>>,
        functions: Vec<FunctionLine>,
    ) -> Self {
        Frame {
            address,
            kind,
            mapping,
            functions,
        }
    }

    /// The address as an offset into the mapped file, when the mapping is
    /// known: what a backend needs to symbolize later.
    pub fn file_offset(&self) -> Option<u64> {
        let mapping = self.mapping.as_ref()?;
        Some(self.address.checked_sub(mapping.start)? + mapping.file_offset)
    }
}

/// A mapped range of a process's (or the kernel's) address space.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Mapping {
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
    /// Offset in the file of the first address.
    pub file_offset: u64,
    /// Path of the file, or a pseudo name such as `[vdso]` or
    /// `[kernel.kallsyms]`.
    pub path: String,
    /// The ELF GNU build id, when the file has one.
    pub build_id: Option<Vec<u8>>,
}

impl Mapping {
    /// Creates a mapping.
    pub fn new(
        start: u64,
        end: u64,
        file_offset: u64,
        path: String,
        build_id: Option<Vec<u8>>,
    ) -> Self {
        Mapping {
            start,
            end,
            file_offset,
            path,
            build_id,
        }
    }

    /// The build id as lower-case hex.
    pub fn build_id_hex(&self) -> Option<String> {
        use std::fmt::Write;
        let id = self.build_id.as_ref()?;
        let mut hex = String::with_capacity(id.len() * 2);
        for byte in id {
            let _ = write!(hex, "{byte:02x}");
        }
        Some(hex)
    }
}

/// A function with the source position of the sampled address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct FunctionLine {
    /// Function name (demangled).
    pub name: String,
    /// Source file, where debug info has it.
    pub file: Option<String>,
    /// Source line, where debug info has it.
    pub line: Option<u32>,
}

impl FunctionLine {
    /// Creates a function line.
    pub fn new(name: String, file: Option<String>, line: Option<u32>) -> Self {
        FunctionLine { name, file, line }
    }
}

/// The BPF program's counters for one collection window. Every sample the
/// program took is either in the collection or counted here as lost:
/// `samples == collection.sample_count() + lost_counts_full` (up to samples
/// taken while the buffers were being switched, which land in the next
/// window).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SampleStats {
    /// Samples of profiled processes the program saw.
    pub samples: u64,
    /// Samples dropped because the counts map was full.
    pub lost_counts_full: u64,
    /// Samples kept without their user stack (stack map full or a hash
    /// collision in it).
    pub lost_user_stacks: u64,
    /// Samples kept without their kernel stack.
    pub lost_kernel_stacks: u64,
    /// New processes whose announcement was dropped (ring buffer full); their
    /// memory maps are then read at collection time.
    pub lost_new_process_events: u64,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Two processes sharing a binary: one stack with an inlined function,
    /// one that went through the kernel.
    pub(crate) fn sample_collection() -> Collection {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let end = start + Duration::from_secs(10);
        let app = Arc::new(Mapping::new(
            0x5000,
            0x9000,
            0x1000,
            "/usr/bin/app".into(),
            Some(vec![0xab, 0x01]),
        ));
        let kernel = Arc::new(Mapping::new(
            0xffff_8000_0000_0000,
            u64::MAX,
            0,
            "[kernel.kallsyms]".into(),
            None,
        ));
        let f = |name: &str, line| FunctionLine::new(name.into(), Some("app.c".into()), Some(line));
        let leaf = Frame::new(
            0x5100,
            FrameKind::Native,
            Some(app.clone()),
            vec![f("inlined", 3), f("work", 10)],
        );
        let caller = Frame::new(
            0x5200,
            FrameKind::Native,
            Some(app.clone()),
            vec![f("main", 20)],
        );
        let syscall = Frame::new(
            0xffff_8000_0000_1000,
            FrameKind::Kernel,
            Some(kernel),
            vec![FunctionLine::new("do_syscall_64".into(), None, None)],
        );
        let unknown = Frame::new(0x7777, FrameKind::Native, None, Vec::new());
        let t = end - Duration::from_secs(1);
        Collection::new(
            start,
            end,
            Duration::from_nanos(1_000_000_000 / 19),
            "host-a".into(),
            vec![
                ProcessSamples::new(
                    10,
                    "app".into(),
                    vec![
                        SampledStack::new(vec![leaf.clone(), caller.clone()], 7, t),
                        SampledStack::new(vec![syscall, caller.clone()], 2, t),
                    ],
                ),
                ProcessSamples::new(
                    11,
                    String::new(),
                    vec![SampledStack::new(vec![leaf, caller, unknown], 5, t)],
                ),
            ],
            SampleStats {
                samples: 14,
                ..Default::default()
            },
        )
    }

    #[test]
    fn file_offsets_and_build_ids() {
        let c = sample_collection();
        assert_eq!(c.sample_count(), 14);
        let leaf = &c.processes[0].stacks[0].frames[0];
        assert_eq!(leaf.file_offset(), Some(0x1100));
        assert_eq!(
            leaf.mapping
                .as_ref()
                .and_then(|m| m.build_id_hex())
                .as_deref(),
            Some("ab01")
        );
        let unknown = &c.processes[1].stacks[0].frames[2];
        assert_eq!(unknown.file_offset(), None);
    }
}

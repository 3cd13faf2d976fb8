//! The Linux profiler: loads the BPF program, attaches it to a cpu-clock
//! perf event on every online CPU, and drains its maps on each collection.

mod procmaps;
mod profiler;
mod symbolize;

pub(crate) use profiler::LinuxProfiler;

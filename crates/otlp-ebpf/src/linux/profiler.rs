use std::collections::{HashMap, HashSet};
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use aya::maps::{Array, HashMap as BpfHashMap, MapData, RingBuf, StackTraceMap};
use aya::programs::perf_event::{PerfEventConfig, PerfEventScope, SamplePolicy, SoftwareEvent};
use aya::programs::{PerfEvent, ProgramError};
use aya::{Ebpf, EbpfLoader};
use rustix::event::{poll, PollFd, PollFlags};
use rustix::time::{clock_gettime, ClockId, Timespec};

use super::procmaps::{BuildIds, ProcessInfo};
use super::symbolize::Symbols;
use crate::model::{Collection, Frame, FrameKind, ProcessSamples, SampleStats, SampledStack};
use crate::{Error, ProfilerConfig, Target};

/// The compiled program, built from `bpf/profiler.bpf.c` by
/// `scripts/ebpf-object.sh` and committed so that no build needs clang.
static OBJECT: &[u8] = aya::include_bytes_aligned!("../../bpf/profiler.bpf.o");

const PROGRAM: &str = "profile_cpu";
const COUNTS: [&str; 2] = ["counts_0", "counts_1"];
const STACKS: [&str; 2] = ["stacks_0", "stacks_1"];
const STAT_COUNT: usize = 5;

/// After switching buffers, programs that already read the old index may
/// still be writing into it on other CPUs for a few instructions; waiting
/// this long before draining it keeps those samples.
const SWITCH_GRACE: Duration = Duration::from_millis(5);

/// `struct sample_key`: pid, user stack id, kernel stack id.
type SampleKey = [u32; 3];
/// `struct sample_value`: count, last sample time (CLOCK_MONOTONIC ns).
type SampleValue = [u64; 2];

const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

fn has_capability(effective: u64, cap: u32) -> bool {
    effective & (1 << cap) != 0 || effective & (1 << CAP_SYS_ADMIN) != 0
}

/// Names the first missing capability from `/proc/self/status`, so that the
/// error says what to grant instead of a bare EPERM.
fn check_capabilities() -> Result<(), Error> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let effective = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or(0);
    for (cap, name) in [(CAP_BPF, "CAP_BPF"), (CAP_PERFMON, "CAP_PERFMON")] {
        if !has_capability(effective, cap) {
            return Err(Error::MissingCapability {
                capability: name,
                source: None,
            });
        }
    }
    Ok(())
}

fn is_permission(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc_errno::EPERM) | Some(libc_errno::EACCES)
    )
}

mod libc_errno {
    pub(super) const EPERM: i32 = 1;
    pub(super) const EACCES: i32 = 13;
}

/// Finds the io::Error at the root of an aya error.
fn root_io_error<'e>(mut e: &'e (dyn std::error::Error + 'static)) -> Option<&'e io::Error> {
    loop {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            return Some(io);
        }
        e = e.source()?;
    }
}

fn load_error(e: aya::EbpfError) -> Error {
    if let Some(io) = root_io_error(&e) {
        if is_permission(io) {
            let source = io::Error::from_raw_os_error(io.raw_os_error().unwrap_or(1));
            return Error::MissingCapability {
                capability: "CAP_BPF",
                source: Some(source),
            };
        }
    }
    Error::Load(Box::new(e))
}

fn program_load_error(e: ProgramError) -> Error {
    match e {
        ProgramError::LoadError {
            io_error,
            verifier_log,
        } => {
            let log = verifier_log.to_string();
            if log.trim().is_empty() && is_permission(&io_error) {
                Error::MissingCapability {
                    capability: "CAP_BPF",
                    source: Some(io_error),
                }
            } else {
                Error::VerifierRejected {
                    log,
                    source: io_error,
                }
            }
        }
        other => Error::Load(Box::new(other)),
    }
}

fn attach_error(e: ProgramError) -> Error {
    match e {
        ProgramError::SyscallError(aya::sys::SyscallError { call, io_error }) => {
            if is_permission(&io_error) {
                Error::MissingCapability {
                    capability: "CAP_PERFMON",
                    source: Some(io_error),
                }
            } else {
                Error::PerfEventsUnavailable {
                    call,
                    source: io_error,
                }
            }
        }
        other => Error::Load(Box::new(other)),
    }
}

fn map_error(map: &'static str) -> impl Fn(aya::maps::MapError) -> Error + use<> {
    move |e| Error::Map {
        map,
        source: Box::new(e),
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}

/// Offset to add to a CLOCK_MONOTONIC reading (bpf_ktime_get_ns) to get the
/// wall clock.
fn clock_reference(now: SystemTime) -> (Duration, SystemTime) {
    let mono = clock_gettime(ClockId::Monotonic);
    let mono = Duration::new(
        u64::try_from(mono.tv_sec).unwrap_or(0),
        u32::try_from(mono.tv_nsec).unwrap_or(0),
    );
    (mono, now)
}

fn ktime_to_system(ns: u64, (mono_now, now): (Duration, SystemTime)) -> SystemTime {
    let at = Duration::from_nanos(ns);
    if at <= mono_now {
        now.checked_sub(mono_now - at).unwrap_or(now)
    } else {
        now.checked_add(at - mono_now).unwrap_or(now)
    }
}

struct KnownProcess {
    /// `None` when the process was gone before its maps could be read.
    info: Option<ProcessInfo>,
    /// The collection at which the process was first found gone.
    gone_at: Option<u64>,
}

pub(crate) struct LinuxProfiler {
    ebpf: Ebpf,
    new_pids: RingBuf<MapData>,
    active: u32,
    processes: HashMap<u32, KnownProcess>,
    build_ids: BuildIds,
    symbols: Symbols,
    last_stats: [u64; STAT_COUNT],
    window_start: SystemTime,
    next_collection: Instant,
    collections: u64,
    config: ProfilerConfig,
    host_name: String,
}

impl LinuxProfiler {
    pub(crate) fn start(config: ProfilerConfig) -> Result<Self, Error> {
        check_capabilities()?;
        if let Target::Pids(pids) = &config.target {
            for pid in pids {
                if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                    return Err(Error::InvalidConfig(format!("no process with pid {pid}")));
                }
            }
        }
        let filter: u32 = matches!(config.target, Target::Pids(_)).into();
        let mut loader = EbpfLoader::new();
        loader.override_global("filter_pids", &filter, true);
        for name in COUNTS {
            loader.map_max_entries(name, config.max_stacks);
        }
        for name in STACKS {
            loader.map_max_entries(name, config.max_stacks);
        }
        let mut ebpf = loader.load(OBJECT).map_err(load_error)?;

        if let Target::Pids(pids) = &config.target {
            let map = ebpf
                .map_mut("pid_filter")
                .ok_or_else(|| missing("pid_filter"))?;
            let mut filter: BpfHashMap<_, u32, u8> =
                BpfHashMap::try_from(map).map_err(map_error("pid_filter"))?;
            for pid in pids {
                filter.insert(pid, 1, 0).map_err(map_error("pid_filter"))?;
            }
        }
        let new_pids = RingBuf::try_from(
            ebpf.take_map("new_pids")
                .ok_or_else(|| missing("new_pids"))?,
        )
        .map_err(map_error("new_pids"))?;

        let program: &mut PerfEvent = ebpf
            .program_mut(PROGRAM)
            .ok_or_else(|| missing(PROGRAM))?
            .try_into()
            .map_err(|e: ProgramError| Error::Load(Box::new(e)))?;
        program.load().map_err(program_load_error)?;
        let cpus =
            aya::util::online_cpus().map_err(|(_, source)| Error::PerfEventsUnavailable {
                call: "online_cpus",
                source,
            })?;
        for cpu in cpus {
            program
                .attach(
                    PerfEventConfig::Software(SoftwareEvent::CpuClock),
                    PerfEventScope::AllProcessesOneCpu { cpu },
                    SamplePolicy::Frequency(config.frequency_hz),
                    false,
                )
                .map_err(attach_error)?;
        }

        let now = SystemTime::now();
        Ok(LinuxProfiler {
            ebpf,
            new_pids,
            active: 0,
            processes: HashMap::new(),
            build_ids: BuildIds::default(),
            symbols: Symbols::new(),
            last_stats: [0; STAT_COUNT],
            window_start: now,
            next_collection: Instant::now() + config.collect_interval,
            collections: 0,
            host_name: host_name(),
            config,
        })
    }

    pub(crate) fn config(&self) -> &ProfilerConfig {
        &self.config
    }

    /// Reads the maps of processes the program announced since the last
    /// call, while they still run.
    fn read_new_processes(&mut self) {
        while let Some(item) = self.new_pids.next() {
            let Some(bytes) = item.get(..4) else { continue };
            let pid = u32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
            drop(item);
            if !self.processes.contains_key(&pid) {
                let info = ProcessInfo::read(pid, &mut self.build_ids);
                self.processes.insert(
                    pid,
                    KnownProcess {
                        info,
                        gone_at: None,
                    },
                );
            }
        }
    }

    /// Waits for the next collection time, reading new processes' maps as
    /// they are announced, then collects.
    pub(crate) fn next_collection(&mut self) -> Result<Collection, Error> {
        self.next_collection_or_stop(&AtomicBool::new(false))
    }

    /// [`next_collection`](Self::next_collection), drained early once
    /// `stop` is set (seen within half a second).
    pub(crate) fn next_collection_or_stop(
        &mut self,
        stop: &AtomicBool,
    ) -> Result<Collection, Error> {
        loop {
            self.read_new_processes();
            let now = Instant::now();
            if now >= self.next_collection || stop.load(Ordering::Relaxed) {
                break;
            }
            let wait = (self.next_collection - now).min(Duration::from_millis(500));
            let timeout = Timespec {
                tv_sec: i64::try_from(wait.as_secs()).unwrap_or(0),
                tv_nsec: i64::from(wait.subsec_nanos()),
            };
            let mut fds = [PollFd::new(&self.new_pids, PollFlags::IN)];
            match poll(&mut fds, Some(&timeout)) {
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(Error::Io(e.into())),
            }
        }
        self.next_collection += self.config.collect_interval;
        if self.next_collection < Instant::now() {
            self.next_collection = Instant::now() + self.config.collect_interval;
        }
        self.collect()
    }

    /// Drains the maps now.
    pub(crate) fn collect(&mut self) -> Result<Collection, Error> {
        self.read_new_processes();
        let drained = usize::from(self.active == 1);
        self.active ^= 1;
        {
            let map = self
                .ebpf
                .map_mut("active")
                .ok_or_else(|| missing("active"))?;
            let mut active: Array<_, u32> = Array::try_from(map).map_err(map_error("active"))?;
            active.set(0, self.active, 0).map_err(map_error("active"))?;
        }
        std::thread::sleep(SWITCH_GRACE);
        let end = SystemTime::now();
        let clock = clock_reference(end);
        self.collections += 1;

        let entries = self.drain_counts(COUNTS[drained])?;
        let stacks = self.drain_stacks(STACKS[drained], &entries)?;
        let stats = self.read_stats()?;

        let mut by_pid: HashMap<u32, Vec<(SampleKey, SampleValue)>> = HashMap::new();
        for (key, value) in entries {
            by_pid.entry(key[0]).or_default().push((key, value));
        }
        let mut processes = Vec::with_capacity(by_pid.len());
        for (pid, entries) in by_pid {
            processes.push(self.process_samples(pid, &entries, &stacks, clock));
        }
        processes.sort_by_key(|p| p.pid);
        self.forget_gone_processes()?;

        let start = std::mem::replace(&mut self.window_start, end);
        let period = Duration::from_nanos(1_000_000_000 / self.config.frequency_hz.max(1));
        Ok(Collection::new(
            start,
            end,
            period,
            self.host_name.clone(),
            processes,
            stats,
        ))
    }

    fn drain_counts(&mut self, name: &'static str) -> Result<Vec<(SampleKey, SampleValue)>, Error> {
        let map = self.ebpf.map_mut(name).ok_or_else(|| missing(name))?;
        let mut counts: BpfHashMap<_, SampleKey, SampleValue> =
            BpfHashMap::try_from(map).map_err(map_error(name))?;
        let entries: Vec<(SampleKey, SampleValue)> = counts
            .iter()
            .collect::<Result<_, _>>()
            .map_err(map_error(name))?;
        for (key, _) in &entries {
            match counts.remove(key) {
                Ok(()) | Err(aya::maps::MapError::KeyNotFound) => {}
                Err(e) => return Err(map_error(name)(e)),
            }
        }
        Ok(entries)
    }

    fn drain_stacks(
        &mut self,
        name: &'static str,
        entries: &[(SampleKey, SampleValue)],
    ) -> Result<HashMap<u32, Vec<u64>>, Error> {
        let map = self.ebpf.map_mut(name).ok_or_else(|| missing(name))?;
        let mut map = StackTraceMap::try_from(map).map_err(map_error(name))?;
        let wanted: HashSet<u32> = entries
            .iter()
            .flat_map(|(k, _)| [k[1], k[2]])
            .filter(|&id| i32::try_from(id).is_ok())
            .collect();
        let mut stacks = HashMap::with_capacity(wanted.len());
        for id in wanted {
            if let Ok(trace) = map.get(&id, 0) {
                stacks.insert(id, trace.frames().iter().map(|f| f.ip).collect());
            }
        }
        let ids: Vec<u32> = map.stack_ids().filter_map(Result::ok).collect();
        for id in ids {
            match map.remove(&id) {
                Ok(()) | Err(aya::maps::MapError::KeyNotFound) => {}
                Err(e) => return Err(map_error(name)(e)),
            }
        }
        Ok(stacks)
    }

    fn read_stats(&mut self) -> Result<SampleStats, Error> {
        let map = self.ebpf.map("stats").ok_or_else(|| missing("stats"))?;
        let array: Array<_, u64> = Array::try_from(map).map_err(map_error("stats"))?;
        let mut now = [0u64; STAT_COUNT];
        for (i, slot) in now.iter_mut().enumerate() {
            *slot = array
                .get(&u32::try_from(i).unwrap_or(0), 0)
                .map_err(map_error("stats"))?;
        }
        let d: Vec<u64> = now
            .iter()
            .zip(self.last_stats)
            .map(|(n, l)| n.wrapping_sub(l))
            .collect();
        self.last_stats = now;
        Ok(SampleStats {
            samples: d[0],
            lost_counts_full: d[1],
            lost_user_stacks: d[2],
            lost_kernel_stacks: d[3],
            lost_new_process_events: d[4],
        })
    }

    fn process_samples(
        &mut self,
        pid: u32,
        entries: &[(SampleKey, SampleValue)],
        stacks: &HashMap<u32, Vec<u64>>,
        clock: (Duration, SystemTime),
    ) -> ProcessSamples {
        let user_ips = |key: &SampleKey| stacks.get(&key[1]).map(Vec::as_slice).unwrap_or(&[]);
        // Read the maps of a process seen for the first time, or again when
        // it mapped new code (dlopen) since they were read.
        let known = self.processes.get(&pid).and_then(|p| p.info.as_ref());
        let stale = match known {
            None => true,
            Some(info) => entries
                .iter()
                .flat_map(|(k, _)| user_ips(k))
                .any(|&ip| info.mapping_of(ip).is_none()),
        };
        if stale {
            if let Some(info) = ProcessInfo::read(pid, &mut self.build_ids) {
                self.processes.insert(
                    pid,
                    KnownProcess {
                        info: Some(info),
                        gone_at: None,
                    },
                );
            } else {
                self.processes.entry(pid).or_insert(KnownProcess {
                    info: None,
                    gone_at: None,
                });
            }
        }
        let mut samples = Vec::with_capacity(entries.len());
        let known = self.processes.get(&pid).and_then(|p| p.info.as_ref());
        for (key, value) in entries {
            let mut frames = Vec::new();
            let kernel_ips = stacks.get(&key[2]).map(Vec::as_slice).unwrap_or(&[]);
            for (depth, &ip) in kernel_ips.iter().enumerate() {
                // Return addresses point after the call; symbolize the call.
                let lookup = if depth == 0 { ip } else { ip.saturating_sub(1) };
                let functions = self.symbols.kernel(lookup);
                let mapping = Some(self.symbols.kernel_mapping.clone());
                frames.push(Frame::new(ip, FrameKind::Kernel, mapping, functions));
            }
            for (depth, &ip) in user_ips(key).iter().enumerate() {
                let mapping = known.and_then(|info| info.mapping_of(ip)).cloned();
                let lookup = if depth == 0 { ip } else { ip.saturating_sub(1) };
                let functions = match &mapping {
                    Some(m) => match lookup.checked_sub(m.start) {
                        Some(delta) => self.symbols.user(&m.path, delta + m.file_offset),
                        None => Vec::new(),
                    },
                    None => Vec::new(),
                };
                frames.push(Frame::new(ip, FrameKind::Native, mapping, functions));
            }
            samples.push(SampledStack::new(
                frames,
                value[0],
                ktime_to_system(value[1], clock),
            ));
        }
        samples.sort_by_key(|s| std::cmp::Reverse(s.count));
        let executable_name = known.map(|i| i.executable_name.clone()).unwrap_or_default();
        ProcessSamples::new(pid, executable_name, samples)
    }

    /// Drops what is known of processes that were already gone at the
    /// previous collection (their last samples have been drained since), and
    /// lets the program announce their pid again if it is reused.
    fn forget_gone_processes(&mut self) -> Result<(), Error> {
        let generation = self.collections;
        let mut forget = Vec::new();
        for (&pid, known) in &mut self.processes {
            let alive = std::path::Path::new(&format!("/proc/{pid}")).exists();
            match (alive, known.gone_at) {
                (true, _) => known.gone_at = None,
                (false, None) => known.gone_at = Some(generation),
                (false, Some(at)) if at < generation => forget.push(pid),
                (false, Some(_)) => {}
            }
        }
        if forget.is_empty() {
            return Ok(());
        }
        let map = self
            .ebpf
            .map_mut("seen_pids")
            .ok_or_else(|| missing("seen_pids"))?;
        let mut seen: BpfHashMap<_, u32, u8> =
            BpfHashMap::try_from(map).map_err(map_error("seen_pids"))?;
        for pid in forget {
            self.processes.remove(&pid);
            match seen.remove(&pid) {
                Ok(()) | Err(aya::maps::MapError::KeyNotFound) => {}
                Err(e) => return Err(map_error("seen_pids")(e)),
            }
        }
        Ok(())
    }

    /// Cumulative BPF run time and run count of the program (needs
    /// `kernel.bpf_stats_enabled`, else both stay 0).
    pub(crate) fn bpf_run_stats(&self) -> Result<(Duration, u64), Error> {
        let program: &PerfEvent = self
            .ebpf
            .program(PROGRAM)
            .ok_or_else(|| missing(PROGRAM))?
            .try_into()
            .map_err(|e: ProgramError| Error::Load(Box::new(e)))?;
        let info = program.info().map_err(|e| Error::Load(Box::new(e)))?;
        Ok((info.run_time(), info.run_count()))
    }
}

fn missing(name: &str) -> Error {
    Error::Load(format!("the BPF object has no {name}").into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_bits() {
        assert!(has_capability(1 << CAP_BPF, CAP_BPF));
        assert!(!has_capability(1 << CAP_BPF, CAP_PERFMON));
        assert!(has_capability(1 << CAP_SYS_ADMIN, CAP_PERFMON));
        assert!(!has_capability(0, CAP_BPF));
    }

    #[test]
    fn verifier_rejection_keeps_its_log() {
        let e = program_load_error(ProgramError::LoadError {
            io_error: io::Error::from_raw_os_error(libc_errno::EACCES),
            verifier_log: aya_obj::VerifierLog::new("0: R1 invalid mem access 'scalar'".into()),
        });
        assert!(
            matches!(&e, Error::VerifierRejected { log, .. } if log.contains("invalid mem access")),
            "{e:?}"
        );
        assert!(
            e.to_string()
                .contains("verifier log:\n0: R1 invalid mem access"),
            "{e}"
        );
        // EPERM without a log is the kernel refusing to load at all.
        let e = program_load_error(ProgramError::LoadError {
            io_error: io::Error::from_raw_os_error(libc_errno::EPERM),
            verifier_log: aya_obj::VerifierLog::new(String::new()),
        });
        assert!(
            matches!(
                e,
                Error::MissingCapability {
                    capability: "CAP_BPF",
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn perf_event_errors_are_named() {
        let syscall = |errno| {
            ProgramError::SyscallError(aya::sys::SyscallError {
                call: "perf_event_open",
                io_error: io::Error::from_raw_os_error(errno),
            })
        };
        assert!(matches!(
            attach_error(syscall(libc_errno::EACCES)),
            Error::MissingCapability {
                capability: "CAP_PERFMON",
                ..
            }
        ));
        const ENOENT: i32 = 2;
        let e = attach_error(syscall(ENOENT));
        assert!(
            matches!(
                e,
                Error::PerfEventsUnavailable {
                    call: "perf_event_open",
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(e.to_string().contains("no BPF perf events"), "{e}");
    }

    #[test]
    fn ktime_converts_to_wall_clock() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let clock = (Duration::from_secs(50), now);
        assert_eq!(
            ktime_to_system(49_000_000_000, clock),
            now - Duration::from_secs(1)
        );
        assert_eq!(
            ktime_to_system(51_000_000_000, clock),
            now + Duration::from_secs(1)
        );
    }
}

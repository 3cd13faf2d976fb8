//! Profiles a child program that burns CPU in a known function called from
//! a known caller (built with frame pointers), and checks that the heaviest
//! stack of the OTLP profiles request names both, that the request accounts
//! for every sample, and that the pprof output parses with Go's pprof.
//!
//! Needs root (CAP_BPF + CAP_PERFMON). Without them the test prints why it
//! skips, unless OTLP_INTEROP_REQUIRED or OTLP_EBPF_REQUIRED is set: then it
//! fails. A verifier rejection always fails.

#![cfg(target_os = "linux")]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::profiles::v1development::ExportProfilesServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use otlp_ebpf::{Error, Profiler, ProfilerBuilder};
use prost::Message;

fn required() -> bool {
    ["OTLP_INTEROP_REQUIRED", "OTLP_EBPF_REQUIRED"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty() && s != "0"))
}

/// Builds testdata/burn.c with frame pointers, once for all tests of this
/// file (rebuilding it while another test runs it would fail with ETXTBSY).
fn build_child() -> PathBuf {
    static EXE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    EXE.get_or_init(|| {
        let exe = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("otlp-ebpf-burn");
        let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/burn.c");
        let status = Command::new("cc")
            .args(["-O1", "-g", "-fno-omit-frame-pointer", "-o"])
            .arg(&exe)
            .arg(&src)
            .status()
            .expect("run cc");
        assert!(status.success(), "cc failed to build {}", src.display());
        exe
    })
    .clone()
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the burning child and a profiler at 99 Hz collecting every 2 s;
/// `None` (after printing why) where eBPF profiling is not possible and not
/// required.
fn start(
    args: &[&str],
    target: impl FnOnce(ProfilerBuilder, u32) -> ProfilerBuilder,
) -> Option<(KillOnDrop, Profiler)> {
    let exe = build_child();
    let child = Command::new(&exe)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn");
    let child = KillOnDrop(child);
    let builder = Profiler::builder()
        .with_frequency(99)
        .with_collect_interval(Duration::from_secs(2));
    match target(builder, child.0.id()).build() {
        Ok(p) => Some((child, p)),
        Err(e @ (Error::MissingCapability { .. } | Error::PerfEventsUnavailable { .. }))
            if !required() =>
        {
            eprintln!("skipped: eBPF profiling is not possible here: {e}");
            None
        }
        Err(e) => panic!("profiler failed to start: {e}"),
    }
}

/// Decodes the request with the official Python opentelemetry-proto (the
/// interop venv's python, `OTLP_INTEROP_PYTHON`, as scripts/test.sh sets).
fn python_decodes(bytes: &[u8], pid: u32, collection: &otlp_ebpf::Collection) {
    let Some(python) = std::env::var_os("OTLP_INTEROP_PYTHON") else {
        assert!(
            !required(),
            "OTLP_INTEROP_PYTHON is not set (scripts/interop-venv.sh)"
        );
        eprintln!("skipped the Python check: OTLP_INTEROP_PYTHON is not set");
        return;
    };
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/decode_profiles.py");
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(bytes)
        .expect("write request");
    let out = child.wait_with_output().expect("python");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("reencoded-equal: True"), "{text}");
    let process = collection
        .processes
        .iter()
        .find(|p| p.pid == pid)
        .expect("child samples");
    let total: u64 = process.stacks.iter().map(|s| s.count).sum();
    let line = format!(
        "resource: pid={pid} exe=otlp-ebpf-burn samples={} total={total}",
        process.stacks.len()
    );
    assert!(text.contains(&line), "expected {line:?} in:\n{text}");
    let heaviest = text
        .lines()
        .skip_while(|l| *l != line)
        .nth(1)
        .unwrap_or_default();
    assert!(
        heaviest.contains("otlp_burn_cpu") && heaviest.contains("otlp_known_caller"),
        "{heaviest}"
    );
}

fn string(req: &ExportProfilesServiceRequest, i: i32) -> &str {
    let dict = req.dictionary.as_ref().expect("dictionary");
    &dict.string_table[usize::try_from(i).expect("index")]
}

#[test]
fn heaviest_stack_names_the_burning_function_and_its_caller() {
    let Some((child, mut profiler)) = start(&["120"], |b, pid| b.with_pids([pid])) else {
        return;
    };
    let pid = child.0.id();

    // Collect until one window has enough samples of the child (it shares
    // the CPUs with whatever else runs), or a generous deadline passes.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut collections = Vec::new();
    loop {
        let c = profiler.next_collection().expect("collect");
        let enough = c
            .processes
            .iter()
            .any(|p| p.pid == pid && p.stacks.iter().map(|s| s.count).sum::<u64>() >= 20);
        collections.push(c);
        if enough {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not 20 samples of the child in a window within 120 s"
        );
    }
    let collection = collections.last().expect("a collection").clone();

    // Decode the request's bytes as a peer would.
    let bytes = collection.encode_otlp();
    let req = ExportProfilesServiceRequest::decode(bytes.as_slice()).expect("decode");
    let dict = req.dictionary.as_ref().expect("dictionary");
    assert_eq!(dict.string_table[0], "");
    assert_eq!(dict.stack_table[0].location_indices.len(), 0);
    let rp = req
        .resource_profiles
        .iter()
        .find(|rp| {
            rp.resource.as_ref().is_some_and(|r| {
                r.attributes.iter().any(|kv| {
                    kv.key == "process.pid"
                        && kv.value.as_ref().and_then(|v| v.value.as_ref())
                            == Some(&Value::IntValue(i64::from(pid)))
                })
            })
        })
        .expect("the child's resource");
    let attrs = &rp.resource.as_ref().expect("resource").attributes;
    let attr = |key: &str| {
        attrs
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.clone()?.value)
    };
    assert_eq!(
        attr("process.executable.name"),
        Some(Value::StringValue("otlp-ebpf-burn".into()))
    );
    assert!(matches!(attr("host.name"), Some(Value::StringValue(h)) if !h.is_empty()));
    let profile = &rp.scope_profiles[0].profiles[0];
    assert_eq!(
        string(
            &req,
            profile.sample_type.expect("sample type").type_strindex
        ),
        "samples"
    );
    assert_eq!(profile.period, 1_000_000_000 / 99);
    let heaviest = profile
        .samples
        .iter()
        .max_by_key(|s| s.values[0])
        .expect("samples");
    assert_eq!(heaviest.timestamps_unix_nano.len(), 1);
    let stack = &dict.stack_table[usize::try_from(heaviest.stack_index).expect("index")];
    let mut names = Vec::new();
    let mut burn_location = None;
    for &li in &stack.location_indices {
        let location = &dict.location_table[usize::try_from(li).expect("index")];
        for line in &location.lines {
            let f = &dict.function_table[usize::try_from(line.function_index).expect("index")];
            let name = string(&req, f.name_strindex).to_owned();
            if name == "otlp_burn_cpu" {
                burn_location = Some(location.clone());
                assert!(
                    string(&req, f.filename_strindex).ends_with("burn.c"),
                    "file of {name}"
                );
                assert!(line.line > 0, "line of {name}");
            }
            names.push(name);
        }
    }
    let burn = names.iter().position(|n| n == "otlp_burn_cpu");
    let caller = names.iter().position(|n| n == "otlp_known_caller");
    assert!(
        matches!((burn, caller), (Some(b), Some(c)) if b < c),
        "heaviest stack (leaf first): {names:?}"
    );
    // The mapping gives the file offset and build id for later symbolization.
    let location = burn_location.expect("burn location");
    let mapping = &dict.mapping_table[usize::try_from(location.mapping_index).expect("index")];
    assert!(string(&req, mapping.filename_strindex).ends_with("otlp-ebpf-burn"));
    assert!((mapping.memory_start..mapping.memory_limit).contains(&location.address));
    assert!(mapping.attribute_indices.iter().any(|&ai| {
        let kv = &dict.attribute_table[usize::try_from(ai).expect("index")];
        string(&req, kv.key_strindex) == "process.executable.build_id.gnu"
    }));

    // Every sample is accounted for: once the child is gone and both
    // buffers are drained, stored + lost = taken.
    drop(child);
    collections.push(profiler.collect().expect("collect"));
    collections.push(profiler.collect().expect("collect"));
    // The pid filter kept everything else out.
    let pids: Vec<u32> = collections
        .iter()
        .flat_map(|c| &c.processes)
        .map(|p| p.pid)
        .collect();
    assert!(
        pids.iter().all(|&p| p == pid),
        "other processes sampled: {pids:?}"
    );
    let taken: u64 = collections.iter().map(|c| c.stats.samples).sum();
    let stored: u64 = collections.iter().map(|c| c.sample_count()).sum();
    let lost: u64 = collections.iter().map(|c| c.stats.lost_counts_full).sum();
    assert!(taken > 0);
    assert_eq!(
        stored + lost,
        taken,
        "stored {stored} + lost {lost} != taken {taken}"
    );

    // The official Python opentelemetry-proto decodes the same request to
    // the same content.
    python_decodes(&bytes, pid, &collection);

    // A pprof reader no one here wrote parses the pprof output.
    let pprof = collection.to_pprof_gzip().expect("pprof");
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("otlp-ebpf-child.pb.gz");
    std::fs::write(&path, pprof).expect("write pprof");
    match Command::new(go())
        .args(["tool", "pprof", "-top"])
        .arg(&path)
        .output()
    {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "go tool pprof failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                text.contains("otlp_burn_cpu"),
                "go tool pprof -top:\n{text}"
            );
            eprintln!("go tool pprof -top:\n{text}");
        }
        Err(e) if !required() => eprintln!("skipped the pprof check: go not found: {e}"),
        Err(e) => panic!("go tool pprof: {e}"),
    }
}

#[test]
fn whole_system_profile_includes_the_child() {
    let Some((child, mut profiler)) = start(&["120"], |b, _| b.with_all_processes()) else {
        return;
    };
    let pid = child.0.id();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let c = profiler.next_collection().expect("collect");
        assert_eq!(c.stats.lost_counts_full, 0);
        if let Some(p) = c
            .processes
            .iter()
            .find(|p| p.pid == pid && !p.stacks.is_empty())
        {
            assert_eq!(p.executable_name, "otlp-ebpf-burn");
            let names = heaviest_names(p);
            assert!(
                names.contains(&"otlp_burn_cpu"),
                "heaviest stack: {names:?}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the child never showed up in 120 s"
        );
    }
    drop(child);
}

/// Function names of a process's heaviest stack (stacks come sorted by
/// count), leaf first.
fn heaviest_names(p: &otlp_ebpf::ProcessSamples) -> Vec<&str> {
    p.stacks[0]
        .frames
        .iter()
        .flat_map(|f| &f.functions)
        .map(|f| f.name.as_str())
        .collect()
}

/// Go's command: on PATH, or where the official tarball installs it.
fn go() -> PathBuf {
    let installed = PathBuf::from("/usr/local/go/bin/go");
    let on_path = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("go").is_file()));
    if !on_path && installed.is_file() {
        installed
    } else {
        PathBuf::from("go")
    }
}

/// Process state letter from /proc/PID/stat (`Z` for a zombie).
fn state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(')').next()?.trim_start().chars().next()
}

#[test]
fn process_that_exits_before_the_collection_keeps_its_symbolized_samples() {
    // The child burns for 0.5 s once told to; the window is 5 s. A zombie
    // has no memory maps left, so symbols in the collection prove the maps
    // were read when the program first saw the process.
    let Some((mut child, mut profiler)) = start(&["0.5", "wait"], |b, pid| {
        b.with_pids([pid])
            .with_collect_interval(Duration::from_secs(5))
    }) else {
        return;
    };
    let pid = child.0.id();
    let mut stdin = child.0.stdin.take().expect("stdin");
    stdin.write_all(b"go\n").expect("start the child");
    drop(stdin);
    let c = profiler.next_collection().expect("collect");
    assert_eq!(
        state(pid),
        Some('Z'),
        "the child should have exited within the 5 s window"
    );
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{pid}/maps"))
            .ok()
            .as_deref(),
        Some("")
    );
    let p = c
        .processes
        .iter()
        .find(|p| p.pid == pid)
        .expect("the exited child's samples");
    assert_eq!(p.executable_name, "otlp-ebpf-burn");
    let names = heaviest_names(p);
    assert!(
        names.contains(&"otlp_burn_cpu") && names.contains(&"otlp_known_caller"),
        "heaviest stack of the exited child: {names:?}"
    );
    drop(child);
}

//! `otlp profile` end to end: it profiles a child program that burns CPU in
//! a known function called from a known caller (built with frame pointers)
//! and exports to our receiver, which decodes the OTLP profiles requests;
//! the heaviest stack names both functions, and the pprof file is written.
//!
//! Needs root (CAP_BPF + CAP_PERFMON) and a C compiler. Without the
//! capabilities the test prints why it skips, unless OTLP_INTEROP_REQUIRED
//! or OTLP_EBPF_REQUIRED is set: then it fails.

#![cfg(target_os = "linux")]

use otlp_core::proto::collector::profiles::v1development::ExportProfilesServiceRequest;
use otlp_core::ExportRequest;
use otlp_transport::receiver::Receiver;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};

const OTLP: &str = env!("CARGO_BIN_EXE_otlp");

fn required() -> bool {
    ["OTLP_INTEROP_REQUIRED", "OTLP_EBPF_REQUIRED"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty() && s != "0"))
}

mod support;
use support::KillOnDrop;

/// The burning program of otlp-ebpf's tests, built with frame pointers.
fn burn() -> PathBuf {
    let exe = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("otlp-cli-burn");
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../otlp-ebpf/testdata/burn.c");
    let status = Command::new("cc")
        .args(["-O1", "-g", "-fno-omit-frame-pointer", "-o"])
        .arg(&exe)
        .arg(&src)
        .status()
        .expect("run cc");
    assert!(status.success(), "cc failed to build {}", src.display());
    exe
}

/// The function names of the heaviest stack over all `requests`, leaf
/// first (weights summed per distinct stack of names).
fn heaviest_stack(requests: &[ExportProfilesServiceRequest]) -> Vec<String> {
    let mut weights: HashMap<Vec<String>, i64> = HashMap::new();
    for r in requests {
        let dict = r.dictionary.as_ref().expect("a dictionary");
        let name = |location: i32| -> String {
            let loc = &dict.location_table[location as usize];
            loc.lines
                .first()
                .map(|l| {
                    let f = &dict.function_table[l.function_index as usize];
                    dict.string_table[f.name_strindex as usize].clone()
                })
                .unwrap_or_default()
        };
        let samples = r
            .resource_profiles
            .iter()
            .flat_map(|rp| &rp.scope_profiles)
            .flat_map(|sp| &sp.profiles)
            .flat_map(|p| &p.samples);
        for s in samples {
            let stack = &dict.stack_table[s.stack_index as usize];
            let names = stack.location_indices.iter().map(|&l| name(l)).collect();
            *weights.entry(names).or_default() += s.values.first().copied().unwrap_or(1);
        }
    }
    weights
        .into_iter()
        .max_by_key(|(_, w)| *w)
        .map(|(names, _)| names)
        .unwrap_or_default()
}

#[test]
fn profile_exports_the_heaviest_stack_to_the_receiver() {
    let child = KillOnDrop(
        Command::new(burn())
            .arg("60")
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn"),
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (receiver, mut requests) = rt.block_on(async {
        Receiver::builder()
            .with_grpc_addr("127.0.0.1:0".parse().unwrap())
            .serve_channel(64)
            .await
            .unwrap()
    });
    let pprof = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("otlp-cli-profile.pb.gz");
    let _ = std::fs::remove_file(&pprof);
    let endpoint = format!("http://{}", receiver.grpc_addr().unwrap());
    let pid = child.0.id().to_string();
    let out = Command::new(OTLP)
        .args(["profile", "--pid", &pid, "--frequency", "99"])
        .args(["--duration", "3s", "--interval", "1s"])
        .args([
            "--endpoint",
            &endpoint,
            "--protocol",
            "grpc",
            "--compression",
            "zstd",
        ])
        .arg("--pprof")
        .arg(&pprof)
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .output()
        .expect("run otlp profile");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let unable = stderr.contains("missing capability") || stderr.contains("no BPF perf events");
    if !out.status.success() && unable && !required() {
        eprintln!("skipped: eBPF profiling is not possible here: {stderr}");
        return;
    }
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let mut got = Vec::new();
    while let Ok(r) = requests.try_recv() {
        match r.request {
            ExportRequest::Profiles(p) => got.push(p),
            other => panic!("not profiles: {other:?}"),
        }
    }
    assert!(!got.is_empty(), "no request arrived: {stdout}");
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        last.contains(&format!("{n} of {n} profiles exported", n = got.len())),
        "{stdout}"
    );
    let stack = heaviest_stack(&got);
    let at = |name: &str| stack.iter().position(|n| n == name);
    let (burn, caller) = (at("otlp_burn_cpu"), at("otlp_known_caller"));
    assert!(
        matches!((burn, caller), (Some(b), Some(c)) if b < c),
        "heaviest stack {stack:?}"
    );
    // The pprof file is gzip'd protobuf (its contents are checked by
    // otlp-ebpf's tests with Go's pprof).
    let bytes = std::fs::read(&pprof).expect("the pprof file");
    assert_eq!(&bytes[..2], b"\x1f\x8b", "not gzip");
    rt.block_on(receiver.shutdown());
}

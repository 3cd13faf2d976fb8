//! Without CAP_BPF or CAP_PERFMON (and CAP_SYS_ADMIN) the profiler names the
//! missing capability. The test re-runs itself with those capabilities
//! dropped from the bounding set (util-linux `setpriv`), so it needs root;
//! elsewhere it prints why it skips.

#![cfg(target_os = "linux")]

use std::process::Command;

use otlp_ebpf::{Error, Profiler};

const CHILD: &str = "OTLP_EBPF_CAPABILITY_CHILD";

/// Runs in the re-executed child only: prints the error it got.
#[test]
#[ignore = "run by missing_capability_is_named with capabilities dropped"]
fn child_start_profiler() {
    let Ok(expected) = std::env::var(CHILD) else {
        return;
    };
    match Profiler::builder().with_pids([std::process::id()]).build() {
        Err(Error::MissingCapability { capability, .. }) => {
            assert_eq!(capability, expected);
            println!("named: {capability}");
        }
        Err(e) => panic!("expected a missing {expected}, got: {e}"),
        Ok(_) => panic!("expected a missing {expected}, but the profiler started"),
    }
}

fn run_without(drop: &str, expected: &str) {
    let exe = std::env::current_exe().expect("test binary");
    let out = Command::new("setpriv")
        .args(["--bounding-set", drop, "--"])
        .arg(exe)
        .args([
            "--exact",
            "child_start_profiler",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD, expected)
        .output()
        .expect("run setpriv");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(&format!("named: {expected}")),
        "child without {drop}:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn missing_capability_is_named() {
    let root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .map(|u| u.split_whitespace().next() == Some("0"))
        })
        .unwrap_or(false);
    let setpriv = Command::new("setpriv").arg("--version").output().is_ok();
    if !root || !setpriv {
        let required = std::env::var_os("OTLP_INTEROP_REQUIRED").is_some()
            || std::env::var_os("OTLP_EBPF_REQUIRED").is_some();
        assert!(
            !required,
            "this test needs root and setpriv (root: {root}, setpriv: {setpriv})"
        );
        eprintln!("skipped: needs root and setpriv to drop capabilities (root: {root}, setpriv: {setpriv})");
        return;
    }
    run_without("-bpf,-sys_admin", "CAP_BPF");
    run_without("-perfmon,-sys_admin", "CAP_PERFMON");
}

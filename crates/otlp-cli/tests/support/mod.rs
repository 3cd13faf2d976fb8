//! What the `otlp` command's test binaries share: running the binary
//! without the test's `OTEL_*` settings, scratch directories, and child
//! processes that are killed when a test ends.
#![allow(dead_code)] // each test binary uses its own part

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

pub const OTLP: &str = env!("CARGO_BIN_EXE_otlp");

/// `otlp` with no `OTEL_*` settings leaking in from the test's environment.
pub fn otlp() -> Command {
    let mut cmd = Command::new(OTLP);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("OTEL_") {
            cmd.env_remove(name);
        }
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// A free port on 127.0.0.1, for a server started later or for one that
/// stops and starts again while a client keeps trying to reach it, or for
/// an address nothing listens on. It lies below the kernel's range of
/// ephemeral ports where the kernel says what that range is: a port from
/// that range can be taken in the meantime as the source port of an
/// outgoing connection (a client's own attempts to reach the closed port
/// included, which then connect to themselves) or by another test binding
/// port 0. Ports handed out here are not handed out again in this process.
pub fn low_port() -> u16 {
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let low = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .filter(|&low| low > 11_000);
    let mut given = GIVEN.lock().unwrap();
    if let Some(low) = low {
        // Start somewhere that depends on the process, so that two test
        // binaries running at once try different ports first.
        let span = 10_000u16;
        let start = (std::process::id() % u32::from(span)) as u16;
        for i in 0..span {
            let port = low - span + (start + i) % span;
            if !given.contains(&port) && TcpListener::bind(("127.0.0.1", port)).is_ok() {
                given.push(port);
                return port;
            }
        }
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    given.push(port);
    port
}

/// A fresh directory for one test's files.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("otlp-cli-{name}"));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Kills and reaps the child when dropped, so a failing test leaves no
/// process behind.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl KillOnDrop {
    pub fn wait_timeout(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "still running after {limit:?}");
            thread::sleep(Duration::from_millis(20));
        }
    }
}

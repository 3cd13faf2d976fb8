//! The queue directory lock holds across processes: this test binary
//! re-runs itself (filtered to the helper test below) while the parent has
//! the queue open.

use std::process::Command;

use otlp_resilience::disk::{DiskError, DiskQueue, DiskQueueConfig};

const DIR_ENV: &str = "OTLP_DISK_LOCK_TEST_DIR";
const EXPECT_ENV: &str = "OTLP_DISK_LOCK_TEST_EXPECT";

/// Helper run in the child process; does nothing when run normally.
#[test]
fn lock_child_helper() {
    let Ok(dir) = std::env::var(DIR_ENV) else {
        return;
    };
    let expect = std::env::var(EXPECT_ENV).unwrap();
    match (DiskQueue::open(&dir, DiskQueueConfig::default()), &*expect) {
        (Err(DiskError::Locked { .. }), "locked") => println!("CHILD-OK"),
        (Ok(_), "open") => println!("CHILD-OK"),
        (Err(e), _) => panic!("expected {expect}, got error: {e}"),
        (Ok(_), _) => panic!("expected {expect}, but the open succeeded"),
    }
}

fn run_child(dir: &std::path::Path, expect: &str) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "lock_child_helper", "--nocapture"])
        .env(DIR_ENV, dir)
        .env(EXPECT_ENV, expect)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("CHILD-OK"),
        "child ({expect}) failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn lock_conflict_across_processes() {
    let dir = tempfile::tempdir().unwrap();
    let (queue, _) = DiskQueue::open(dir.path(), DiskQueueConfig::default()).unwrap();
    queue.push(b"held").unwrap();
    run_child(dir.path(), "locked");
    drop(queue);
    run_child(dir.path(), "open");
}

//! `otlp send` to three `otlp receive` processes with routing by trace id:
//! every trace arrives whole at exactly one receiver; with one receiver killed
//! (SIGKILL) in the middle of the run and restarted later, every span
//! still arrives, the dead receiver's traces continue at one other
//! receiver, and the duplicates stay within what the sender counted as
//! possible duplicates, under 1 % of the spans.
//!
//! The `_at_test_scale` tests run with the workspace's tests (20,000 spans
//! in 2,000 traces); the `_200k_spans` ones are the full runs (200,000
//! spans in 20,000 traces at 20,000 spans/s), for a release build:
//! `cargo test --release -p otlp-cli --test failover -- --ignored`.

use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

mod support;
use support::{low_port, otlp, scratch, KillOnDrop};

/// An `otlp receive` recording to `DIR/out.jsonl`.
struct Receive {
    child: KillOnDrop,
    dir: PathBuf,
    grpc: String,
}

impl Receive {
    fn start_at(dir: &Path, grpc: &str) -> Receive {
        fs::create_dir_all(dir).unwrap();
        let ready = dir.join("ready");
        let child = otlp()
            .args([
                "receive",
                "--quiet",
                "--grpc",
                grpc,
                "--http",
                "127.0.0.1:0",
            ])
            .arg("--out")
            .arg(dir.join("out.jsonl"))
            .arg("--ready-file")
            .arg(&ready)
            .stdout(fs::File::create(dir.join("stdout")).unwrap())
            .stderr(fs::File::create(dir.join("stderr")).unwrap())
            .spawn()
            .unwrap();
        let mut child = KillOnDrop(child);
        let ready = poll(Duration::from_secs(20), || {
            ready.exists() || child.0.try_wait().unwrap().is_some()
        });
        let addrs = fs::read_to_string(dir.join("ready")).unwrap_or_default();
        assert!(
            ready && !addrs.is_empty(),
            "otlp receive did not start: {}",
            fs::read_to_string(dir.join("stderr")).unwrap_or_default()
        );
        let grpc = addrs
            .lines()
            .find_map(|l| l.strip_prefix("grpc="))
            .unwrap()
            .to_owned();
        Receive {
            child,
            dir: dir.to_owned(),
            grpc,
        }
    }

    fn lines(&self) -> usize {
        fs::read_to_string(self.dir.join("out.jsonl"))
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }

    /// Stops it with SIGTERM and returns what it recorded.
    fn stop(mut self) -> String {
        let pid = self.child.0.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        assert!(
            poll(Duration::from_secs(20), || self
                .child
                .0
                .try_wait()
                .unwrap()
                .is_some()),
            "otlp receive did not stop"
        );
        fs::read_to_string(self.dir.join("out.jsonl")).unwrap_or_default()
    }

    /// SIGKILL: no chance to finish anything.
    fn kill(mut self) -> PathBuf {
        self.child.0.kill().unwrap();
        self.child.0.wait().unwrap();
        self.dir.clone()
    }
}

/// Polls `ready` every 20 ms until it holds or `limit` passes; whether it
/// held.
fn poll(limit: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if ready() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// The (trace id, span id) of every span in recorded requests, in order.
fn spans(recorded: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in recorded.lines() {
        let line: Value = serde_json::from_str(line).expect("a JSON line");
        let mut n = 0;
        for rs in line["request"]["resourceSpans"].as_array().unwrap() {
            for ss in rs["scopeSpans"].as_array().unwrap() {
                for span in ss["spans"].as_array().unwrap() {
                    let id = |k: &str| span[k].as_str().unwrap().to_ascii_lowercase();
                    out.push((id("traceId"), id("spanId")));
                    n += 1;
                }
            }
        }
        assert_eq!(n, line["items"].as_u64().unwrap());
    }
    out
}

/// The number before `label` in `summary` ("12 possible duplicates").
fn number_before(summary: &str, label: &str) -> u64 {
    let at = summary
        .find(label)
        .unwrap_or_else(|| panic!("no {label:?} in {summary}"));
    summary[..at]
        .split_whitespace()
        .last()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number before {label:?} in {summary}"))
}

/// Three receivers, `count` spans in traces of `per_trace` at `rate`:
/// every trace at exactly one receiver, nothing lost or sent twice.
fn traces_stay_whole(name: &str, count: u64, per_trace: u64, rate: &str, batch: &str) {
    let dir = scratch(&format!("failover-{name}"));
    let receivers: Vec<Receive> = (0..3)
        .map(|i| Receive::start_at(&dir.join(format!("r{i}")), "127.0.0.1:0"))
        .collect();
    let mut args: Vec<String> = vec!["send".into()];
    for r in &receivers {
        args.extend(["--endpoint".into(), format!("http://{}", r.grpc)]);
    }
    args.extend(
        [
            "--protocol",
            "grpc",
            "--count",
            &count.to_string(),
            "--spans-per-trace",
            &per_trace.to_string(),
            "--rate",
            rate,
            "--batch-size",
            batch,
        ]
        .map(String::from),
    );
    let started = Instant::now();
    let out = otlp().args(&args).output().unwrap();
    let summary = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "otlp send: {}\n{summary}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let per_receiver: Vec<Vec<(String, String)>> =
        receivers.into_iter().map(|r| spans(&r.stop())).collect();
    let mut at: HashMap<&str, usize> = HashMap::new();
    let mut ids = HashSet::new();
    for (i, spans) in per_receiver.iter().enumerate() {
        for (trace, span) in spans {
            assert!(ids.insert((trace, span)), "span {span} twice");
            if let Some(other) = at.insert(trace.as_str(), i) {
                assert_eq!(other, i, "trace {trace} at receivers {other} and {i}");
            }
        }
    }
    assert_eq!(ids.len() as u64, count, "every span arrives once");
    assert_eq!(at.len() as u64, count / per_trace, "every trace arrives");
    let traces: Vec<usize> = (0..3)
        .map(|i| at.values().filter(|r| **r == i).count())
        .collect();
    assert!(traces.iter().all(|t| *t > 0), "{traces:?}");
    eprintln!(
        "{name}: {count} spans in {} traces, traces per receiver {traces:?}, done in {:?}\n{summary}",
        at.len(),
        started.elapsed()
    );
}

#[test]
fn traces_stay_whole_at_test_scale() {
    traces_stay_whole("whole-small", 20_000, 10, "5000", "64");
}

#[test]
#[ignore = "the full acceptance run; for a release build: cargo test --release -p otlp-cli --test failover -- --ignored"]
fn traces_stay_whole_200k_spans() {
    traces_stay_whole("whole-200k", 200_000, 10, "20000", "512");
}

fn failover(name: &str, count: u64, per_trace: u64, rate: &str, batch: &str) {
    let dir = scratch(&format!("failover-{name}"));
    // Receiver 0 is killed and started again on its address: a port the
    // sender's attempts while it is down cannot take.
    let receivers: Vec<Receive> = (0..3)
        .map(|i| {
            let at = if i == 0 {
                format!("127.0.0.1:{}", low_port())
            } else {
                "127.0.0.1:0".to_owned()
            };
            Receive::start_at(&dir.join(format!("r{i}")), &at)
        })
        .collect();
    let endpoints: Vec<String> = receivers
        .iter()
        .map(|r| format!("http://{}", r.grpc))
        .collect();
    let mut args: Vec<String> = vec!["send".into()];
    for e in &endpoints {
        args.extend(["--endpoint".into(), e.clone()]);
    }
    args.extend(
        [
            "--protocol",
            "grpc",
            "--routing",
            "trace-id",
            "--count",
            &count.to_string(),
            "--spans-per-trace",
            &per_trace.to_string(),
            "--rate",
            rate,
            "--batch-size",
            batch,
            "--health-interval",
            "200ms",
            "--timeout",
            "30s",
        ]
        .map(String::from),
    );
    let started = Instant::now();
    let stdout = dir.join("send.stdout");
    let stderr = dir.join("send.stderr");
    let mut send = KillOnDrop(
        otlp()
            .args(&args)
            .stdout(fs::File::create(&stdout).unwrap())
            .stderr(fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap(),
    );
    let output = || {
        format!(
            "{}{}",
            fs::read_to_string(&stdout).unwrap_or_default(),
            fs::read_to_string(&stderr).unwrap_or_default()
        )
    };

    // Up to a request per batch and endpoint pair (six pairs of three),
    // fewer in practice: kill receiver 0 about a third of the way through
    // its share, and restart it once the others have taken a good part of
    // the run without it.
    let batch_spans: u64 = batch.parse().unwrap();
    let expected_lines = (count * 6 / batch_spans) as usize;
    let mut receivers = receivers.into_iter();
    let victim = receivers.next().unwrap();
    let others: Vec<Receive> = receivers.collect();
    let victim_addr = victim.grpc.clone();
    let going = poll(Duration::from_secs(120), || {
        victim.lines() >= expected_lines / 12 && others.iter().all(|r| r.lines() >= 5)
    });
    assert!(going, "the run did not get going: {}", output());
    let victim_dir = victim.kill();
    let killed_at = started.elapsed();
    let before: usize = others.iter().map(Receive::lines).sum();
    let carried_on = poll(Duration::from_secs(120), || {
        others.iter().map(Receive::lines).sum::<usize>() >= before + expected_lines / 6
    });
    assert!(carried_on, "no progress without receiver 0: {}", output());
    let restarted = Receive::start_at(&dir.join("r0-restarted"), &victim_addr);
    let restarted_at = started.elapsed();

    let done = poll(Duration::from_secs(300), || {
        send.0.try_wait().unwrap().is_some()
    });
    assert!(done, "otlp send did not finish: {}", output());
    let status = send.0.wait().unwrap();
    let summary = output();
    assert!(status.success(), "otlp send: {status}\n{summary}");

    let mut recorded = vec![fs::read_to_string(victim_dir.join("out.jsonl")).unwrap_or_default()];
    recorded.extend(others.into_iter().map(Receive::stop));
    recorded.push(restarted.stop());
    // Receivers: 0 the killed one, 1 and 2 the others, 3 the killed one
    // restarted.
    let per_receiver: Vec<Vec<(String, String)>> = recorded.iter().map(|r| spans(r)).collect();
    let received: usize = per_receiver.iter().map(Vec::len).sum();
    let distinct: HashSet<&(String, String)> = per_receiver.iter().flatten().collect();
    assert_eq!(distinct.len() as u64, count, "every span arrives");
    let duplicates = (received - distinct.len()) as u64;

    let mut at: HashMap<&str, HashSet<usize>> = HashMap::new();
    for (i, spans) in per_receiver.iter().enumerate() {
        for (trace, _) in spans {
            at.entry(trace.as_str()).or_default().insert(i);
        }
    }
    assert_eq!(at.len() as u64, count / per_trace, "every trace arrives");
    let mut split = 0;
    for (trace, receivers) in &at {
        let elsewhere: Vec<&usize> = receivers.iter().filter(|r| **r == 1 || **r == 2).collect();
        assert!(
            elsewhere.len() <= 1,
            "trace {trace} at receivers {receivers:?}: a trace continues at one other receiver"
        );
        if receivers.len() > 1 {
            split += 1;
        }
    }
    let possible = number_before(&summary, "possible duplicates");
    let handed_on = number_before(&summary, "items handed on");
    eprintln!(
        "{name}: {count} spans in {} traces; receiver 0 killed at {killed_at:?}, restarted at \
         {restarted_at:?}; spans per receiver {:?}; {split} traces across the kill or the \
         restart; {handed_on} spans handed on; {duplicates} duplicates received, {possible} \
         counted as possible; done in {:?}\n{summary}",
        at.len(),
        per_receiver.iter().map(Vec::len).collect::<Vec<_>>(),
        started.elapsed(),
    );
    assert!(
        duplicates <= possible,
        "every duplicate was counted as possible: {duplicates} > {possible}"
    );
    assert!(
        possible * 100 < count,
        "possible duplicates under 1 %: {possible}"
    );
    assert!(
        per_receiver[1].len() + per_receiver[2].len() > 0 && !per_receiver[0].is_empty(),
        "every receiver had its share before the kill"
    );
}

#[test]
fn failover_at_test_scale() {
    failover("small", 20_000, 10, "5000", "64");
}

#[test]
#[ignore = "the full acceptance run; for a release build: cargo test --release -p otlp-cli --test failover -- --ignored"]
fn failover_200k_spans() {
    failover("200k", 200_000, 10, "20000", "512");
}

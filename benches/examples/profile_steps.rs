//! One of `processors_alone`'s steps or chains, run span by span over
//! fresh copies of the HTTP spans, for a profiler: only the chain's work is
//! timed, and, with a `perf` control pipe, only it is sampled (the copy of
//! the spans before each round and their freeing after it are left out,
//! which a profile of the criterion benchmark mixes in).
//!
//! ```sh
//! cargo build --release -p otlp-benches --example profile_steps
//! target/release/examples/profile_steps chain_keys 512 4000
//! # sampling only the chain:
//! mkfifo /tmp/perf.ctl /tmp/perf.ack
//! PERF_CTL=/tmp/perf.ctl PERF_ACK=/tmp/perf.ack perf record -D -1 \
//!     --control=fifo:/tmp/perf.ctl,/tmp/perf.ack -- \
//!     target/release/examples/profile_steps chain_keys 512 4000
//! ```
//!
//! Arguments: the step (a name of [`otlp_benches::steps_alone`]), the
//! spans per round (512) and the rounds (2000). Prints the mean time per
//! span of the timed parts (wall time, on the detected instruction set).

use otlp_simd::processor::SpanOutcome;
use std::fs::File;
use std::io::{Read as _, Write as _};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// `perf`'s control and acknowledgement pipes.
struct Control {
    ctl: File,
    ack: File,
}

impl Control {
    fn from_env() -> std::io::Result<Option<Control>> {
        let (Some(ctl), Some(ack)) = (std::env::var_os("PERF_CTL"), std::env::var_os("PERF_ACK"))
        else {
            return Ok(None);
        };
        let ctl = File::options().write(true).open(ctl)?;
        let ack = File::open(ack)?;
        Ok(Some(Control { ctl, ack }))
    }

    /// Sends `enable` or `disable` and waits for perf's `ack`.
    fn send(&mut self, command: &[u8]) -> std::io::Result<()> {
        self.ctl.write_all(command)?;
        let mut ack = [0u8; 5];
        self.ack.read_exact(&mut ack)
    }
}

fn main() -> ExitCode {
    let isa = otlp_simd::Isa::detect();
    let steps = otlp_benches::steps_alone(isa);
    let names: Vec<&str> = steps.iter().map(|(n, _)| *n).collect();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = || {
        eprintln!(
            "usage: profile_steps STEP [SPANS] [ROUNDS]\nSTEP: {}",
            names.join(", ")
        );
        ExitCode::from(2)
    };
    let Some(step) = args.first() else {
        return usage();
    };
    let number = |i: usize, default: usize| match args.get(i) {
        None => Some(default),
        Some(a) => a.parse::<usize>().ok().filter(|&n| n > 0),
    };
    let (Some(n), Some(rounds)) = (number(1, 512), number(2, 2000)) else {
        return usage();
    };
    let Some(chain) = steps.into_iter().find(|(name, _)| name == step) else {
        return usage();
    };
    let chain = match chain.1.span_chain() {
        Some(chain) => chain,
        None => {
            eprintln!("{step} does not run span by span");
            return ExitCode::FAILURE;
        }
    };
    let mut control = match Control::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("perf control pipes: {e}");
            return ExitCode::FAILURE;
        }
    };
    let spans = otlp_benches::http_spans(n);
    let (mut timed, mut kept) = (Duration::ZERO, 0usize);
    for _ in 0..rounds {
        let mut copy = spans.clone();
        if let Some(c) = control.as_mut() {
            if let Err(e) = c.send(b"enable\n") {
                eprintln!("perf control: {e}");
                return ExitCode::FAILURE;
            }
        }
        let start = Instant::now();
        for span in copy.iter_mut() {
            kept += usize::from(matches!(chain.on_end(span), SpanOutcome::Keep(_)));
        }
        timed += start.elapsed();
        if let Some(c) = control.as_mut() {
            if let Err(e) = c.send(b"disable\n") {
                eprintln!("perf control: {e}");
                return ExitCode::FAILURE;
            }
        }
        drop(copy);
    }
    let total = n * rounds;
    println!(
        "{step}: {n} spans x {rounds} rounds, {:?}: {:.1} ns a span, {:.1} % kept",
        isa,
        timed.as_nanos() as f64 / total as f64,
        100.0 * kept as f64 / total as f64
    );
    ExitCode::SUCCESS
}

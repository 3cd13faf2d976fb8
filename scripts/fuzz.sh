#!/usr/bin/env bash
# Fuzzes every decoder the OTLP receiver runs on untrusted input: gRPC
# framing, each decompressor, protobuf and OTLP/JSON for each signal, and
# SRT frames.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#   scripts/fuzz.sh --runs N [TARGET...]
#   scripts/fuzz.sh --build    # only install cargo-fuzz and build the targets
#
# With `--runs N` (what the test command uses) each target executes N
# inputs from a fixed random seed, starting from the seeds alone, so the
# run is the same on every machine and a failure reproduces; without it,
# each run explores further from where the last one stopped.
#
# Uses cargo-fuzz (libFuzzer) on the stable toolchain: with `-s none` it
# adds no sanitizer, so it needs none of nightly's `-Z` flags; coverage
# comes from `-Cpasses=sancov-module`, which stable rustc has. Each target
# starts from the seeds in fuzz/seeds (encodings of the test fixtures) and
# its corpus kept under target/fuzz, runs for SECONDS_PER_TARGET (default
# 20, FUZZ_SECONDS overrides), and a crash (a panic, an assertion of the
# target, a timeout or running out of memory) fails the script, leaving the
# input in target/fuzz/artifacts/<target>/. Reproduce one with
#   cargo fuzz run -s none --fuzz-dir fuzz -O TARGET target/fuzz/artifacts/TARGET/crash-...
# cargo-fuzz is installed under target/fuzz/tools when missing. From an
# empty target/fuzz the release build of the targets takes 4-7 minutes on 2
# cores (plus about 2 to install cargo-fuzz); then each target runs for its
# SECONDS_PER_TARGET.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

runs=""
build_only=""
if [ "${1:-}" = "--build" ]; then
    build_only=1
    shift
    seconds=""
elif [ "${1:-}" = "--runs" ]; then
    runs="${2:?--runs needs a count}"
    shift 2
    seconds=""
else
    seconds="${1:-${FUZZ_SECONDS:-20}}"
    shift || true
fi
jobs="${CARGO_BUILD_JOBS:-2}"
all=(grpc_framing decompress_gzip decompress_zstd decompress_brotli
     decompress_deflate decompress_snappy decompress_snappy_framed decompress_lz4
     protobuf_traces protobuf_metrics protobuf_logs
     json_traces json_metrics json_logs srt_decode)
targets=("${@:-${all[@]}}")

work="$PWD/target/fuzz"
mkdir -p "$work"
export PATH="$work/tools/bin:$PATH"
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install --locked -j "$jobs" --root "$work/tools" cargo-fuzz@0.13.2
fi
export CARGO_BUILD_JOBS="$jobs"
# One build for all targets.
cargo fuzz build -s none --fuzz-dir fuzz --target-dir "$work/build" -O
if [ -n "$build_only" ]; then
    exit 0
fi

for target in "${targets[@]}"; do
    artifacts="$work/artifacts/$target"
    if [ -n "$runs" ]; then
        corpus="$work/fixed-corpus/$target"
        rm -rf "$corpus"
        budget=(-runs="$runs" -seed=1)
        echo "fuzz: $target for $runs runs"
    else
        corpus="$work/corpus/$target"
        budget=(-max_total_time="$seconds")
        echo "fuzz: $target for ${seconds}s"
    fi
    mkdir -p "$corpus" "$artifacts"
    log="$work/$target.log"
    status=0
    cargo fuzz run -s none --fuzz-dir fuzz --target-dir "$work/build" -O "$target" \
        "$corpus" "fuzz/seeds/$target" -- \
        "${budget[@]}" -artifact_prefix="$artifacts/" \
        -rss_limit_mb=2048 -timeout=30 -max_len=1048576 -print_final_stats=1 \
        >"$log" 2>&1 || status=$?
    # libFuzzer's progress lines stay in the log; show the verdict and rate.
    grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::average_exec_per_sec|==[0-9]+==|SUMMARY|Test unit written|thread .* panicked)' "$log" || true
    if [ "$status" -ne 0 ]; then
        tail -n 40 "$log" >&2
        echo "fuzz: $target FAILED; the input is in $artifacts, the log in $log" >&2
        exit 1
    fi
done
echo "fuzz: ${#targets[@]} targets ran ${runs:+$runs runs}${seconds:+${seconds}s} each without a crash"

#!/usr/bin/env bash
# The project's test command: what a new user runs, and what CI runs.
#
#   scripts/test.sh
#
# On a fresh Debian/Ubuntu machine it installs what the tests need (a
# compiler toolchain and Go 1.26 are assumed; python3-venv comes from apt
# when missing), builds the Python venv with the official OpenTelemetry
# Python SDK, exporters, opentelemetry-proto and grpcio, builds the
# OpenTelemetry Collector and a Go SDK sender from the Go modules pinned in
# tests/collector (scripts/collector.sh, cached under target/), and runs
# every test of the workspace in one profile. The interop tests are
# required here: without Python or Go they fail instead of skipping.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# One build of everything: incremental compilation's caches would only
# double the target directory's size.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
jobs="${CARGO_BUILD_JOBS:-2}"

# The peers (the Python venv, the Go Collector and sender) and the fuzz
# targets' instrumented build do not depend on the workspace's build, so
# they run beside it, filling the time the compiler leaves cores idle
# (downloads, linking, tests waiting on processes). Each writes a log under
# target/test-logs; a failure shows it.
logs=target/test-logs
mkdir -p "$logs"
background() {  # NAME COMMAND...: runs COMMAND in the background at low priority
    local name="$1"
    shift
    nice -n 10 "$@" >"$logs/$name.out" 2>"$logs/$name.err" &
}
finish() {  # NAME PID: waits for a background job; its output if it failed
    if ! wait "$2"; then
        echo "test.sh: $1 failed:" >&2
        cat "$logs/$1.err" "$logs/$1.out" >&2
        exit 1
    fi
}
# First, as it may apt-get install clang (only one apt-get at a time).
scripts/ebpf-object.sh --check  # the committed BPF object matches its C source
background venv scripts/interop-venv.sh
venv=$!
background collector scripts/collector.sh
collector=$!

cargo test --workspace --all-targets --no-run -j "$jobs"

finish venv "$venv"
finish collector "$collector"
OTLP_INTEROP_PYTHON="$(tail -n 1 "$logs/venv.out")"; export OTLP_INTEROP_PYTHON
OTLP_INTEROP_COLLECTOR_DIR="$(tail -n 1 "$logs/collector.out")"; export OTLP_INTEROP_COLLECTOR_DIR
export OTLP_INTEROP_REQUIRED=1

background fuzz-build scripts/fuzz.sh --build
fuzz_build=$!
cargo test --workspace --all-targets -j "$jobs"
cargo test --workspace --doc -j "$jobs"
finish fuzz-build "$fuzz_build"
scripts/fuzz.sh --runs 200000  # every receiver decoder, from a fixed seed; a crash fails the run
scripts/feature-check.sh
scripts/aarch64-check.sh  # the NEON kernels against their scalar twins, under qemu

# The examples check themselves against an embedded receiver (they exit
# non-zero when something did not arrive); run them with no collector set.
for example in quickstart pick_and_mix push_api tracing_integration axum_service microservices edge_offline ai_inference blockchain_tx actix_service; do
    env -u OTEL_EXPORTER_OTLP_ENDPOINT \
        cargo run -q -j "$jobs" -p otlp-examples --example "$example"
done

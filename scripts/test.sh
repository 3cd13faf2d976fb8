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
jobs="${CARGO_BUILD_JOBS:-2}"

python="$(scripts/interop-venv.sh | tail -n 1)"
export OTLP_INTEROP_PYTHON="$python"
export OTLP_INTEROP_REQUIRED=1
OTLP_INTEROP_COLLECTOR_DIR="$(scripts/collector.sh | tail -n 1)"; export OTLP_INTEROP_COLLECTOR_DIR

scripts/ebpf-object.sh --check  # the committed BPF object matches its C source
cargo test --workspace --all-targets -j "$jobs"
cargo test --workspace --doc -j "$jobs"
scripts/fuzz.sh --runs 200000  # every receiver decoder, from a fixed seed; a crash fails the run
scripts/feature-check.sh

# The examples check themselves against an embedded receiver (they exit
# non-zero when something did not arrive); run them with no collector set.
for example in quickstart pick_and_mix push_api tracing_integration axum_service microservices edge_offline ai_inference blockchain_tx actix_service; do
    env -u OTEL_EXPORTER_OTLP_ENDPOINT \
        cargo run -q -j "$jobs" -p otlp-examples --example "$example"
done

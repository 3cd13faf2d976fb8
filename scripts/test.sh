#!/usr/bin/env bash
# The project's test command: what a new user runs, and what CI runs.
#
#   scripts/test.sh
#
# On a fresh Debian/Ubuntu machine it installs what the tests need (a
# compiler toolchain is assumed; python3-venv comes from apt when missing),
# builds the Python venv with the official OpenTelemetry Python SDK,
# exporters, opentelemetry-proto and grpcio for the interoperability tests,
# and runs every test of the workspace in one profile. The interop tests
# are required here: without Python they fail instead of skipping.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
jobs="${CARGO_BUILD_JOBS:-2}"

python="$(scripts/interop-venv.sh | tail -n 1)"
export OTLP_INTEROP_PYTHON="$python"
export OTLP_INTEROP_REQUIRED=1

cargo test --workspace --all-targets -j "$jobs"
cargo test --workspace --doc -j "$jobs"
scripts/feature-check.sh

# The examples check themselves against an embedded receiver (they exit
# non-zero when something did not arrive); run them with no collector set.
for example in quickstart pick_and_mix push_api; do
    env -u OTEL_EXPORTER_OTLP_ENDPOINT \
        cargo run -q -j "$jobs" -p otlp-examples --example "$example"
done

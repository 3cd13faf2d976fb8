#!/usr/bin/env bash
# Builds and tests the crates with optional protocols and codecs, each
# feature alone (`--no-default-features --features X`), so the code for a
# protocol or codec left out (`cfg(not(feature = ...))`) compiles and its
# tests run. The default builds are tested by scripts/test.sh.
#
#   scripts/feature-check.sh
#
# Only the unit tests run here (the integration tests need every protocol
# and codec they name), in the workspace's one target directory, so each
# combination rebuilds only the crates whose features change.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
jobs="${CARGO_BUILD_JOBS:-2}"

check() {
    local crate="$1"
    shift
    for feature in "$@"; do
        echo "== $crate --no-default-features --features $feature"
        cargo test -q -j "$jobs" -p "$crate" --lib --no-default-features --features "$feature"
    done
}

check otlp-compression gzip zstd brotli snappy lz4
check otlp-transport grpc http gzip zstd brotli srt
check otlp-exporter grpc http gzip zstd brotli srt dns processors
check otlp grpc http gzip zstd brotli processors ebpf

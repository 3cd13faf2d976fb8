#!/usr/bin/env bash
# Lints and tests otlp-simd for aarch64, where its NEON kernels run, on an
# x86-64 machine: cross-compiled for aarch64-unknown-linux-gnu and run under
# qemu user-mode emulation. The property tests hold every NEON kernel to its
# scalar twin there; nothing here measures speed.
#
#   scripts/aarch64-check.sh
#
# Installs what it needs when missing, and only then: qemu-user,
# gcc-aarch64-linux-gnu and libc6-dev-arm64-cross from apt (as root), and
# the Rust target through rustup. Then runs clippy (-D warnings) and the
# crate's tests for the target. On an aarch64 machine it runs them natively.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
jobs="${CARGO_BUILD_JOBS:-2}"

if [ "$(uname -m)" = aarch64 ]; then
    cargo clippy -p otlp-simd --all-targets -j "$jobs" -- -D warnings
    cargo test -p otlp-simd -j "$jobs"
    exit 0
fi

target=aarch64-unknown-linux-gnu
sysroot=/usr/aarch64-linux-gnu

if ! command -v qemu-aarch64 >/dev/null || ! command -v aarch64-linux-gnu-gcc >/dev/null \
    || [ ! -e "$sysroot/lib/crt1.o" ]; then
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        echo "aarch64-check: qemu-aarch64, aarch64-linux-gnu-gcc and the arm64 libc are needed" \
            "(apt-get install qemu-user gcc-aarch64-linux-gnu libc6-dev-arm64-cross)" >&2
        exit 1
    fi
    apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        qemu-user gcc-aarch64-linux-gnu libc6-dev-arm64-cross >&2
fi

if ! rustup target list --installed | grep -qx "$target"; then
    rustup target add "$target"
fi

export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER="${CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER:-aarch64-linux-gnu-gcc}"
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="${CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER:-qemu-aarch64 -L $sysroot}"

cargo clippy -p otlp-simd --all-targets -j "$jobs" --target "$target" -- -D warnings
cargo test -p otlp-simd -j "$jobs" --target "$target"

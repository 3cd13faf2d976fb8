#!/usr/bin/env bash
# Rebuilds the profiler's BPF object from its C source, or checks that the
# committed object is what the source compiles to.
#
#   scripts/ebpf-object.sh           # rebuild crates/otlp-ebpf/bpf/profiler.bpf.o
#   scripts/ebpf-object.sh --check   # fail if the committed object is stale
#
# The object is committed so that building the workspace never needs clang.
# It is compiled with Debian's clang (bookworm: clang 14) and the kernel UAPI
# and libbpf headers from Debian (libbpf-dev); apt installs them when they
# are missing. The output is reproducible: the debug info's compilation
# directory is fixed and source paths are relative, so the same clang gives
# the same bytes wherever the repository is checked out.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

src=crates/otlp-ebpf/bpf/profiler.bpf.c
obj=crates/otlp-ebpf/bpf/profiler.bpf.o

if ! command -v clang >/dev/null || ! command -v llvm-strip >/dev/null \
    || [ ! -e /usr/include/bpf/bpf_helpers.h ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "ebpf-object: clang, llvm and libbpf-dev are needed (apt-get install clang llvm libbpf-dev)" >&2
        exit 1
    fi
    apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q clang llvm libbpf-dev >&2
fi

multiarch="$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)"

build() {
    # -g keeps BTF, which the loader needs for the map definitions; DWARF
    # line info is dropped afterwards (llvm-strip -g keeps .BTF and .BTF.ext).
    clang -O2 -g -target bpf -Wall -Werror \
        -fdebug-compilation-dir=. -fdebug-prefix-map="$PWD"=. \
        -I "/usr/include/$multiarch" \
        -c "$src" -o "$1"
    llvm-strip -g "$1"
}

case "${1:-}" in
--check)
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    build "$tmp/profiler.bpf.o"
    if ! cmp -s "$tmp/profiler.bpf.o" "$obj"; then
        echo "ebpf-object: $obj is stale: run scripts/ebpf-object.sh and commit it" >&2
        exit 1
    fi
    echo "ebpf-object: $obj matches $src ($(clang --version | head -n 1))"
    ;;
"")
    build "$obj"
    echo "ebpf-object: wrote $obj"
    ;;
*)
    echo "usage: scripts/ebpf-object.sh [--check]" >&2
    exit 2
    ;;
esac

#!/usr/bin/env bash
# Builds the interoperability peers written in Go: an OpenTelemetry Collector
# distribution (core components, four contrib processors and a connector, pinned in
# tests/collector/go.mod) and a
# sender using the official OpenTelemetry Go SDK exporters
# (tests/collector/sender/go.mod).
#
#   scripts/collector.sh        # builds into target/collector/
#
# Needs Go (the version named in the go.mod files; the machine's Go is used,
# never a downloaded toolchain) and the Go module proxy. The module and
# build caches live under target/go/ so CI caches them with target/.
#
# Idempotent and fast when already done: a stamp holds the hash of every
# file under tests/collector/ and of `go version`; nothing is built while
# it matches. Progress goes to stderr; the last line on stdout is the
# directory holding `otelcol` and `otlp-go-sender`, for the test harness.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$repo_root/tests/collector"
out="${OTLP_INTEROP_COLLECTOR_DIR:-$repo_root/target/collector}"
stamp="$out/.sources.sha256"

log() { echo "collector: $*" >&2; }

if ! command -v go >/dev/null 2>&1; then
    log "no go on PATH; install Go 1.26 or newer (https://go.dev/dl/) to build the Collector and the Go SDK sender"
    exit 1
fi

want="$(
    {
        cd "$src"
        find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
        go version
    } | sha256sum | cut -d' ' -f1
)"

ready() {
    [[ -x "$out/otelcol" && -x "$out/otlp-go-sender" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]
}

if ready; then
    echo "$out"
    exit 0
fi

mkdir -p "$out"
# Test binaries may run this at the same time; let one build.
exec 9>"$out/.lock"
if command -v flock >/dev/null 2>&1; then
    flock 9
fi
if ready; then
    echo "$out"
    exit 0
fi

export GOMODCACHE="${GOMODCACHE:-$repo_root/target/go/mod}"
export GOCACHE="${GOCACHE:-$repo_root/target/go/cache}"
# go.sum pins every module; the machine's Go builds it.
# -modcacherw: the module cache is read-only by default, which makes
# `rm -rf target` fail.
export GOFLAGS="-mod=readonly -modcacherw -trimpath -buildvcs=false"
export GOTOOLCHAIN=local
export CGO_ENABLED=0

start=$SECONDS
rm -f "$stamp"
log "building otelcol (OpenTelemetry Collector v0.165.0 core components, contrib probabilisticsampler, redaction, attributes and filter processors, spanmetrics connector)"
(cd "$src" && go build -o "$out/otelcol.tmp" . && mv "$out/otelcol.tmp" "$out/otelcol")
log "building otlp-go-sender (OpenTelemetry Go SDK v1.47.0)"
(cd "$src/sender" && go build -o "$out/otlp-go-sender.tmp" . && mv "$out/otlp-go-sender.tmp" "$out/otlp-go-sender")
echo "$want" >"$stamp"
log "ready in $((SECONDS - start))s"
echo "$out"

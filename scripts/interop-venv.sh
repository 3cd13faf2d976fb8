#!/usr/bin/env bash
# Creates (or reuses) the Python venv that the interoperability tests in
# tests/interop/ run their peers in: the official OpenTelemetry Python SDK and
# exporters, opentelemetry-proto and grpcio, pinned in
# tests/interop/requirements.txt.
#
#   scripts/interop-venv.sh            # venv at target/interop-venv
#   OTLP_INTEROP_VENV=/tmp/v scripts/interop-venv.sh
#
# Idempotent and fast when already done: a stamp file in the venv holds the
# hash of requirements.txt (and the interpreter version), and nothing is
# installed while it matches. Progress goes to stderr; the last line on
# stdout is the venv's python, for the test harness to run.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
requirements="$repo_root/tests/interop/requirements.txt"
venv="${OTLP_INTEROP_VENV:-target/interop-venv}"
case "$venv" in
    /*) ;;
    *) venv="$repo_root/$venv" ;;
esac
python="$venv/bin/python"
stamp="$venv/.interop-requirements.sha256"
base_python="${OTLP_INTEROP_BASE_PYTHON:-python3}"

log() { echo "interop-venv: $*" >&2; }

if ! command -v "$base_python" >/dev/null 2>&1; then
    log "no $base_python on PATH; install Python 3.9 or newer"
    exit 1
fi

want="$(
    {
        sha256sum "$requirements" | cut -d' ' -f1
        "$base_python" -c 'import sys; print(sys.version)'
    } | sha256sum | cut -d' ' -f1
)"

# Fast path: nothing to do.
if [[ -x "$python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "$python"
    exit 0
fi

mkdir -p "$(dirname "$venv")"
# Test binaries may run this at the same time; let one build the venv.
exec 9>"$venv.lock"
if command -v flock >/dev/null 2>&1; then
    flock 9
fi
if [[ -x "$python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "$python"
    exit 0
fi

# Debian's python3 ships `venv` without `ensurepip` unless python3-venv is
# installed; install it only when it is missing.
if ! "$base_python" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [[ "$(id -u)" == 0 ]]; then
        log "installing python3-venv"
        apt-get update >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y python3-venv >&2
    else
        log "$base_python lacks ensurepip/venv and python3-venv cannot be installed here"
        exit 1
    fi
fi

log "creating $venv"
rm -rf "$venv"
"$base_python" -m venv "$venv" >&2
"$python" -m pip install --quiet --disable-pip-version-check --no-input \
    --requirement "$requirements" >&2
# Smoke test: the imports the peers need.
"$python" - >&2 <<'PY'
import brotli, grpc, zstandard  # noqa: F401
import opentelemetry.exporter.otlp.proto.grpc.trace_exporter  # noqa: F401
import opentelemetry.exporter.otlp.proto.http.trace_exporter  # noqa: F401
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc  # noqa: F401
PY
echo "$want" >"$stamp"
log "ready"
echo "$python"

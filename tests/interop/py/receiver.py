#!/usr/bin/env python3
"""An OTLP receiver built only from other people's code, for interop tests.

gRPC is served by grpcio with the servicers that opentelemetry-proto
generates; OTLP/HTTP by the standard library's ThreadingHTTPServer (HTTP/1.1,
keep-alive) on /v1/traces, /v1/metrics and /v1/logs, accepting
application/x-protobuf and application/json bodies with Content-Encoding
none, gzip, deflate, zstd or br.

Protocol with the test harness (tests/interop/src/lib.rs), one JSON object a
line on stdout:

    READY grpc=<port> http=<port>                        (once, after binding)
    {"transport": "grpc"|"http", "signal": "traces"|"metrics"|"logs",
     "format": "protobuf"|"json",
     "encoding": "none"|"gzip"|"deflate"|"zstd"|"br" (HTTP) or "unknown" (gRPC),
     "request_b64": "<decoded request, SerializeToString(deterministic=True)>"}
    {"transport": ..., "signal": ..., "error": "<why the request was refused>"}

Every accepted request gets a success reply: an empty Export*ServiceResponse
in the request's format. The receiver exits on stdin EOF or SIGTERM, so it
dies with the test process that spawned it.
"""

import argparse
import base64
import binascii
import io
import json
import os
import signal
import sys
import threading
import zlib
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import brotli
import grpc
import zstandard
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import (
    metrics_service_pb2,
    metrics_service_pb2_grpc,
)
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

# Largest body accepted, compressed or not: decompression is always capped.
MAX_BODY = 64 * 1024 * 1024

SIGNALS = {
    "traces": (
        trace_service_pb2.ExportTraceServiceRequest,
        trace_service_pb2.ExportTraceServiceResponse,
    ),
    "metrics": (
        metrics_service_pb2.ExportMetricsServiceRequest,
        metrics_service_pb2.ExportMetricsServiceResponse,
    ),
    "logs": (
        logs_service_pb2.ExportLogsServiceRequest,
        logs_service_pb2.ExportLogsServiceResponse,
    ),
}

# OTLP/JSON writes these bytes fields as hex, not base64 as proto3 JSON does.
HEX_ID_FIELDS = {"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"}

_out_lock = threading.Lock()


def emit(line):
    """Writes one line to stdout at once, even from many server threads."""
    with _out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def emit_request(transport, signal_name, fmt, encoding, request):
    raw = request.SerializeToString(deterministic=True)
    emit(
        json.dumps(
            {
                "transport": transport,
                "signal": signal_name,
                "format": fmt,
                "encoding": encoding,
                "request_b64": base64.b64encode(raw).decode("ascii"),
            }
        )
    )


def emit_error(transport, signal_name, error):
    emit(json.dumps({"transport": transport, "signal": signal_name, "error": str(error)}))


# ---------------------------------------------------------------- gRPC


def _grpc_encoding(context):
    # grpcio decompresses before the servicer runs and hides the
    # grpc-encoding header from invocation_metadata, so the encoding a
    # client used cannot be told here; "unknown" says so honestly.
    for key, value in context.invocation_metadata():
        if key == "grpc-encoding":
            return "none" if value == "identity" else value
    return "unknown"


def _servicer(base, signal_name):
    _, response_type = SIGNALS[signal_name]

    class Servicer(base):
        def Export(self, request, context):  # noqa: N802 (generated name)
            emit_request("grpc", signal_name, "protobuf", _grpc_encoding(context), request)
            return response_type()

    return Servicer()


def start_grpc(host, port):
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=8),
        options=[
            ("grpc.max_receive_message_length", MAX_BODY),
            ("grpc.max_send_message_length", MAX_BODY),
        ],
    )
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(
        _servicer(trace_service_pb2_grpc.TraceServiceServicer, "traces"), server
    )
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(
        _servicer(metrics_service_pb2_grpc.MetricsServiceServicer, "metrics"), server
    )
    logs_service_pb2_grpc.add_LogsServiceServicer_to_server(
        _servicer(logs_service_pb2_grpc.LogsServiceServicer, "logs"), server
    )
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot bind gRPC to {host}:{port}")
    server.start()
    return server, bound


# ---------------------------------------------------------------- HTTP


class BodyError(Exception):
    """A request body that cannot be read; answered with 400."""


class TooLarge(BodyError):
    """A body over MAX_BODY; answered with 413."""


def _zlib_capped(data, wbits):
    d = zlib.decompressobj(wbits=wbits)
    out = d.decompress(data, MAX_BODY + 1)
    if len(out) > MAX_BODY or d.unconsumed_tail:
        raise TooLarge("decompressed body over the size cap")
    return out


def _zstd_capped(data):
    reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data))
    out = reader.read(MAX_BODY + 1)
    if len(out) > MAX_BODY:
        raise TooLarge("decompressed body over the size cap")
    return out


def _brotli_capped(data):
    d = brotli.Decompressor()
    out = bytearray(d.process(data, output_buffer_limit=MAX_BODY + 1))
    while len(out) <= MAX_BODY and not d.is_finished() and not d.can_accept_more_data():
        out += d.process(b"", output_buffer_limit=MAX_BODY + 1 - len(out))
    if len(out) > MAX_BODY:
        raise TooLarge("decompressed body over the size cap")
    if not d.is_finished():
        raise BodyError("truncated brotli stream")
    return bytes(out)


def decompress(encoding, data):
    """Decodes a body by its Content-Encoding, with a size cap."""
    try:
        if encoding == "none":
            return data
        if encoding == "gzip":
            return _zlib_capped(data, 16 + zlib.MAX_WBITS)
        if encoding == "deflate":
            return _zlib_capped(data, zlib.MAX_WBITS)
        if encoding == "zstd":
            return _zstd_capped(data)
        if encoding == "br":
            return _brotli_capped(data)
    except BodyError:
        raise
    except Exception as e:  # each library has its own error type
        raise BodyError(f"bad {encoding} body: {e}") from e
    raise BodyError(f"unsupported Content-Encoding {encoding!r}")


def hex_ids_to_base64(value):
    """Rewrites OTLP/JSON hex ids as the base64 that json_format expects."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in HEX_ID_FIELDS and isinstance(item, str):
                try:
                    item = base64.b64encode(bytes.fromhex(item)).decode("ascii")
                except ValueError as e:
                    raise BodyError(f"{key} is not hex: {item!r}") from e
            else:
                item = hex_ids_to_base64(item)
            out[key] = item
        return out
    if isinstance(value, list):
        return [hex_ids_to_base64(item) for item in value]
    return value


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "otlp-interop-receiver"

    def log_message(self, format, *args):  # noqa: A002 (base class name)
        # stdout is the harness protocol; keep access logs out of it.
        pass

    def _reply(self, status, content_type, body):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            body = bytearray()
            while True:
                size_line = self.rfile.readline(1024)
                try:
                    size = int(size_line.split(b";")[0].strip(), 16)
                except ValueError as e:
                    raise BodyError("bad chunk size") from e
                if size == 0:
                    while self.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return bytes(body)
                if len(body) + size > MAX_BODY:
                    raise TooLarge("body over the size cap")
                body += self.rfile.read(size)
                self.rfile.readline(8)
        length = int(self.headers.get("Content-Length", "0"))
        if length > MAX_BODY:
            raise TooLarge("body over the size cap")
        return self.rfile.read(length)

    def do_POST(self):  # noqa: N802 (http.server name)
        path = self.path.split("?", 1)[0]
        signal_name = {"/v1/traces": "traces", "/v1/metrics": "metrics", "/v1/logs": "logs"}.get(path)
        try:
            body = self._read_body()
        except BodyError as e:
            self.close_connection = True
            emit_error("http", signal_name, e)
            self._reply(413 if isinstance(e, TooLarge) else 400, "text/plain", str(e).encode())
            return
        if signal_name is None:
            self._reply(404, "text/plain", b"unknown path\n")
            return
        request_type, response_type = SIGNALS[signal_name]
        media = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if media in ("application/x-protobuf", "application/protobuf"):
            fmt = "protobuf"
        elif media == "application/json":
            fmt = "json"
        else:
            emit_error("http", signal_name, f"unsupported Content-Type {media!r}")
            self._reply(415, "text/plain", b"unsupported content type\n")
            return
        encoding = self.headers.get("Content-Encoding", "").strip().lower() or "none"
        if encoding == "identity":
            encoding = "none"
        try:
            data = decompress(encoding, body)
            request = request_type()
            if fmt == "protobuf":
                request.ParseFromString(data)
            else:
                doc = hex_ids_to_base64(json.loads(data))
                json_format.ParseDict(doc, request, ignore_unknown_fields=True)
        except TooLarge as e:
            emit_error("http", signal_name, e)
            self._reply(413, "text/plain", str(e).encode())
            return
        except Exception as e:  # any decode failure is the client's
            emit_error("http", signal_name, e)
            self._reply(400, "text/plain", str(e).encode())
            return
        emit_request("http", signal_name, fmt, encoding, request)
        if fmt == "protobuf":
            self._reply(200, "application/x-protobuf", response_type().SerializeToString())
        else:
            self._reply(200, "application/json", json_format.MessageToJson(response_type()).encode())


def start_http(host, port):
    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    thread.start()
    return server, server.server_address[1]


# ---------------------------------------------------------------- main


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--grpc-port", type=int, default=0)
    parser.add_argument("--http-port", type=int, default=0)
    args = parser.parse_args()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    grpc_server, grpc_port = start_grpc(args.host, args.grpc_port)
    http_server, http_port = start_http(args.host, args.http_port)
    emit(f"READY grpc={grpc_port} http={http_port}")

    def watch_stdin():
        # os.read on the raw descriptor: a thread blocked in sys.stdin's
        # buffered reader holds its lock and aborts interpreter shutdown.
        try:
            while os.read(sys.stdin.fileno(), 4096):
                pass
        except OSError:
            pass
        stop.set()

    threading.Thread(target=watch_stdin, name="stdin", daemon=True).start()
    while not stop.wait(0.5):
        pass
    http_server.shutdown()
    grpc_server.stop(grace=1).wait()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Sends a fixed set of telemetry with the official OpenTelemetry Python SDK
and its official OTLP exporters, for interop tests.

    sender.py --endpoint URL --protocol grpc|http/protobuf \
              --compression none|gzip --signal traces|metrics|logs

For gRPC the endpoint is the server's base URL (http://127.0.0.1:4317); for
http/protobuf it is the base URL too, and the signal path (/v1/traces, ...)
is appended, as OTEL_EXPORTER_OTLP_ENDPOINT would be.

The telemetry goes through the SDK's own pipeline (BatchSpanProcessor,
PeriodicExportingMetricReader, BatchLogRecordProcessor) into the exporter.
For every request the exporter sends, one JSON line goes to stdout:

    {"signal": "traces", "request_b64": "<the Export*ServiceRequest bytes>"}

The bytes are captured where the exporter serializes them (the gRPC
exporter's `_translate_data`, whose result grpcio serializes with
SerializeToString; the HTTP exporter's `_client.export(serialized)`, before
compression). Both are internals of the pinned exporter version
(tests/interop/requirements.txt); the script fails loudly if they move.

Exits non-zero if any export failed.
"""

import argparse
import base64
import json
import math
import sys
import threading

from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.status import Status, StatusCode

# A fixed clock for spans and logs: 2024-01-02T03:04:05Z.
T0 = 1_704_164_645_000_000_000
MS = 1_000_000

TRACE_ID = 0x0102030405060708090A0B0C0D0E0F10
LINKED_TRACE_ID = 0xA1A2A3A4A5A6A7A8A9AAABACADAEAFB0
LINKED_SPAN_ID = 0xB1B2B3B4B5B6B7B8

RESOURCE = Resource(
    {
        "service.name": "interop-python-sender",
        "service.version": "1.2.3",
        "deployment.environment.name": "test",
    }
)

# One attribute of every OTLP AnyValue type span attributes can carry.
ALL_TYPES = {
    "attr.string": "hello ✓ wörld",
    "attr.empty_string": "",
    "attr.bool": True,
    "attr.int": -42,
    "attr.int_max": 2**63 - 1,
    "attr.double": 3.25,
    "attr.string_array": ["a", "b", ""],
    "attr.bool_array": [True, False],
    "attr.int_array": [1, -2, 3],
    "attr.double_array": [0.5, -1.5],
}


class FixedIds(IdGenerator):
    """Deterministic ids: one trace, span ids 1, 2, 3, ..."""

    def __init__(self):
        self._next = 0
        self._lock = threading.Lock()

    def generate_span_id(self):
        with self._lock:
            self._next += 1
            return 0x1000_0000_0000_0000 + self._next

    def generate_trace_id(self):
        return TRACE_ID


class Capture:
    """Records the bytes of every request the exporter sends."""

    def __init__(self, signal):
        self.signal = signal
        self.lock = threading.Lock()
        self.lines = []
        self.failures = []

    def record(self, raw):
        line = json.dumps({"signal": self.signal, "request_b64": base64.b64encode(raw).decode("ascii")})
        with self.lock:
            self.lines.append(line)

    def wrap_grpc(self, exporter):
        translate = exporter._translate_data  # noqa: SLF001 (pinned internals)

        def capturing(data):
            request = translate(data)
            # grpcio's generated stub serializes with SerializeToString.
            self.record(request.SerializeToString())
            return request

        exporter._translate_data = capturing
        return exporter

    def wrap_http(self, exporter):
        client = exporter._client  # noqa: SLF001 (pinned internals)
        send = client.export

        def capturing(serialized):
            self.record(bytes(serialized))
            return send(serialized)

        client.export = capturing
        return exporter

    def wrap_result(self, exporter):
        """Notes failed exports: processors swallow the result."""
        export = exporter.export

        def checked(*args, **kwargs):
            result = export(*args, **kwargs)
            if getattr(result, "name", "SUCCESS") != "SUCCESS":
                with self.lock:
                    self.failures.append(str(result))
            return result

        exporter.export = checked
        return exporter


def make_exporter(signal, protocol, endpoint, compression, capture):
    endpoint = endpoint.rstrip("/")
    if protocol == "grpc":
        from grpc import Compression

        comp = Compression.Gzip if compression == "gzip" else Compression.NoCompression
        if signal == "traces":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as E
        elif signal == "metrics":
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as E
        else:
            from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as E
        exporter = E(endpoint=endpoint, insecure=True, compression=comp, timeout=10)
        capture.wrap_grpc(exporter)
    else:
        from opentelemetry.exporter.otlp.proto.http import Compression

        comp = Compression.Gzip if compression == "gzip" else Compression.NoCompression
        url = f"{endpoint}/v1/{signal}"
        if signal == "traces":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as E
        elif signal == "metrics":
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as E
        else:
            from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as E
        exporter = E(endpoint=url, compression=comp, timeout=10)
        capture.wrap_http(exporter)
    return capture.wrap_result(exporter)


def send_traces(exporter):
    provider = TracerProvider(resource=RESOURCE, id_generator=FixedIds())
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=60_000))
    tracer = provider.get_tracer("interop.tracer", "0.1.0", schema_url="https://opentelemetry.io/schemas/1.24.0")
    other = provider.get_tracer("interop.other-scope", "9.9")

    linked = SpanContext(LINKED_TRACE_ID, LINKED_SPAN_ID, is_remote=True, trace_flags=TraceFlags(1))
    root = tracer.start_span(
        "GET /orders/{id}",
        kind=SpanKind.SERVER,
        attributes=ALL_TYPES,
        links=[Link(linked, {"link.reason": "retry-of", "link.n": 7})],
        start_time=T0,
    )
    root.add_event("cache.miss", {"cache.key": "order:17", "cache.hit": False}, timestamp=T0 + 1 * MS)
    root.add_event("no-attributes", timestamp=T0 + 2 * MS)
    ctx = trace.set_span_in_context(root)
    for i, kind in enumerate([SpanKind.INTERNAL, SpanKind.CLIENT, SpanKind.PRODUCER, SpanKind.CONSUMER]):
        child = tracer.start_span(
            f"child-{kind.name.lower()}",
            context=ctx,
            kind=kind,
            attributes={"child.index": i},
            start_time=T0 + (10 + i) * MS,
        )
        if kind == SpanKind.CLIENT:
            child.set_status(Status(StatusCode.ERROR, "upstream said no"))
            child.add_event(
                "exception",
                {"exception.type": "ValueError", "exception.message": "boom"},
                timestamp=T0 + 15 * MS,
            )
        child.end(end_time=T0 + (20 + i) * MS)
    ok = other.start_span("other-scope-ok", context=ctx, start_time=T0 + 30 * MS)
    ok.set_status(Status(StatusCode.OK))
    ok.end(end_time=T0 + 31 * MS)
    root.set_status(Status(StatusCode.ERROR, "root failed"))
    root.end(end_time=T0 + 50 * MS)

    provider.force_flush()
    provider.shutdown()


def send_metrics(exporter):
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=math.inf)
    provider = MeterProvider(resource=RESOURCE, metric_readers=[reader])
    meter = provider.get_meter("interop.meter", "0.1.0")

    requests = meter.create_counter("http.requests", unit="{request}", description="Requests served")
    requests.add(3, {"http.route": "/orders", "http.method": "GET"})
    requests.add(2, {"http.route": "/orders", "http.method": "POST"})
    requests.add(1, {"http.route": "/orders", "http.method": "GET"})

    bytes_sent = meter.create_counter("bytes.sent", unit="By")
    bytes_sent.add(1.5)

    in_flight = meter.create_up_down_counter("requests.in_flight")
    in_flight.add(5, {"pool": "a"})
    in_flight.add(-2, {"pool": "a"})
    in_flight.add(-1, {"pool": "b"})

    latency = meter.create_histogram(
        "http.latency",
        unit="ms",
        explicit_bucket_boundaries_advisory=[1.0, 5.0, 10.0, 50.0],
    )
    for v in (0.5, 2.0, 7.0, 7.5, 42.0, 100.0):
        latency.record(v, {"http.route": "/orders"})

    temperature = meter.create_gauge("room.temperature", unit="Cel")
    temperature.set(21.5, {"room": "kitchen"})
    temperature.set(19, {"room": "hall"})

    def observe(options: CallbackOptions):
        return [Observation(7, {"cpu": "0"}), Observation(9, {"cpu": "1"})]

    meter.create_observable_gauge("cpu.queue", callbacks=[observe])

    # One collection and export now; shutdown collects and exports once more.
    provider.force_flush()
    provider.shutdown()


def send_logs(exporter):
    provider = LoggerProvider(resource=RESOURCE)
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter, schedule_delay_millis=60_000))
    logger = provider.get_logger("interop.logger", "0.1.0")

    span_ctx = SpanContext(TRACE_ID, 0x1000_0000_0000_0001, is_remote=False, trace_flags=TraceFlags(1))
    in_span = trace.set_span_in_context(NonRecordingSpan(span_ctx))

    logger.emit(
        timestamp=T0,
        observed_timestamp=T0 + 1 * MS,
        context=in_span,
        severity_number=SeverityNumber.ERROR,
        severity_text="ERROR",
        body="payment failed",
        attributes={**ALL_TYPES, "attr.bytes": b"\x00\x01\xfe\xff", "attr.map": {"k": "v", "n": 1}},
        event_name="payment.failure",
    )
    logger.emit(
        timestamp=T0 + 2 * MS,
        observed_timestamp=T0 + 3 * MS,
        severity_number=SeverityNumber.INFO,
        severity_text="INFO",
        body={"message": "structured", "count": 3, "nested": {"list": [1, "two", 3.0, True]}},
    )
    logger.emit(
        timestamp=T0 + 4 * MS,
        observed_timestamp=T0 + 5 * MS,
        severity_number=SeverityNumber.DEBUG,
        body=12345,
    )

    provider.force_flush()
    provider.shutdown()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--protocol", choices=["grpc", "http/protobuf"], required=True)
    parser.add_argument("--compression", choices=["none", "gzip"], default="none")
    parser.add_argument("--signal", choices=["traces", "metrics", "logs"], required=True)
    args = parser.parse_args()

    capture = Capture(args.signal)
    exporter = make_exporter(args.signal, args.protocol, args.endpoint, args.compression, capture)
    {"traces": send_traces, "metrics": send_metrics, "logs": send_logs}[args.signal](exporter)

    for line in capture.lines:
        print(line)
    sys.stdout.flush()
    if capture.failures:
        print(f"sender: {len(capture.failures)} export(s) failed: {capture.failures}", file=sys.stderr)
        return 1
    if not capture.lines:
        print("sender: the exporter sent nothing", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

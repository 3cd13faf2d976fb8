"""Records a trace set from real instrumented programs, for the SRT corpus.

Two small Flask services, instrumented with the official OpenTelemetry
Python auto-instrumentation (Flask server spans, requests client spans,
sqlite3 database spans), run as separate processes with their own
resources; a load driver sends them a mix of requests with varied user
agents, including ones that fail. Each service writes what its SDK's batch
processor exports as OTLP ExportTraceServiceRequest messages, encoded by the
official opentelemetry-exporter-otlp-proto-common encoder, each prefixed
with its length (u32, little endian).

    python record.py all OUT_FILE [REQUESTS]

runs the whole recording (see benches/corpus/README.md).
"""

import os
import random
import socket
import sqlite3
import struct
import subprocess
import sys
import threading
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FileExporter:
    """A SpanExporter appending each batch as one length-prefixed request."""

    def __init__(self, path):
        self.file = open(path, "ab")
        self.lock = threading.Lock()

    def export(self, spans):
        from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
        from opentelemetry.sdk.trace.export import SpanExportResult

        body = encode_spans(spans).SerializeToString()
        with self.lock:
            self.file.write(struct.pack("<I", len(body)) + body)
            self.file.flush()
        return SpanExportResult.SUCCESS

    def shutdown(self):
        self.file.close()

    def force_flush(self, timeout_millis=30000):
        return True


def setup(service, out):
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create(
        {
            "service.name": service,
            "service.version": "1.4.2",
            "deployment.environment.name": "staging",
            "service.instance.id": f"{service}-{os.getpid()}",
        }
    )
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(FileExporter(out), max_export_batch_size=512))
    trace.set_tracer_provider(provider)
    return provider


def catalog(port, out):
    provider = setup("catalog", out)
    from flask import Flask, abort, jsonify
    from opentelemetry.instrumentation.flask import FlaskInstrumentor
    from opentelemetry.instrumentation.sqlite3 import SQLite3Instrumentor

    SQLite3Instrumentor().instrument()
    db_path = out + ".db"
    with sqlite3.connect(db_path) as db:
        db.execute("CREATE TABLE IF NOT EXISTS product (id INTEGER PRIMARY KEY, name TEXT, price REAL, stock INTEGER)")
        db.executemany(
            "INSERT OR REPLACE INTO product VALUES (?, ?, ?, ?)",
            [(i, f"product-{i}", round(1 + i * 0.37, 2), i % 17) for i in range(1, 501)],
        )
    app = Flask("catalog")
    FlaskInstrumentor().instrument_app(app)

    def conn():
        return sqlite3.connect(db_path)

    @app.get("/products/<int:pid>")
    def product(pid):
        with conn() as db:
            cur = db.cursor()
            cur.execute("SELECT id, name, price, stock FROM product WHERE id = ?", (pid,))
            row = cur.fetchone()
        if row is None:
            abort(404)
        return jsonify(id=row[0], name=row[1], price=row[2], stock=row[3])

    @app.get("/products")
    def products():
        with conn() as db:
            cur = db.cursor()
            cur.execute("SELECT id, name, price FROM product ORDER BY price LIMIT 20")
            rows = cur.fetchall()
        return jsonify([{"id": r[0], "name": r[1], "price": r[2]} for r in rows])

    @app.post("/reserve/<int:pid>")
    def reserve(pid):
        with conn() as db:
            cur = db.cursor()
            cur.execute("SELECT stock FROM product WHERE id = ?", (pid,))
            stock = cur.fetchone()
            if stock is None or stock[0] == 0:
                abort(409)
            cur.execute("UPDATE product SET stock = stock - 1 WHERE id = ?", (pid,))
        return jsonify(ok=True)

    serve(app, port, provider)


def frontend(port, catalog_port, out):
    provider = setup("frontend", out)
    import requests
    from flask import Flask, abort, jsonify
    from opentelemetry.instrumentation.flask import FlaskInstrumentor
    from opentelemetry.instrumentation.requests import RequestsInstrumentor

    RequestsInstrumentor().instrument()
    app = Flask("frontend")
    FlaskInstrumentor().instrument_app(app)
    base = f"http://127.0.0.1:{catalog_port}"
    session = requests.Session()

    @app.get("/")
    def home():
        return jsonify(session.get(f"{base}/products", timeout=5).json())

    @app.get("/item/<int:pid>")
    def item(pid):
        r = session.get(f"{base}/products/{pid}", timeout=5)
        if r.status_code == 404:
            abort(404)
        return jsonify(r.json())

    @app.post("/cart/<int:pid>")
    def cart(pid):
        r = session.get(f"{base}/products/{pid}", timeout=5)
        if r.status_code != 200:
            abort(r.status_code)
        r = session.post(f"{base}/reserve/{pid}", timeout=5)
        if r.status_code != 200:
            abort(500)
        return jsonify(reserved=pid)

    serve(app, port, provider)


def serve(app, port, provider):
    from werkzeug.serving import make_server

    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # Stops on a line (or end of input) on stdin, flushing the spans first.
    sys.stdin.readline()
    server.shutdown()
    provider.shutdown()


AGENTS = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "curl/8.5.0",
    "python-requests/2.34.2",
]


def drive(port, requests_total):
    import requests

    rng = random.Random(7)
    session = requests.Session()
    base = f"http://127.0.0.1:{port}"
    for _ in range(requests_total):
        headers = {"User-Agent": rng.choice(AGENTS)}
        roll = rng.random()
        if roll < 0.2:
            session.get(f"{base}/", headers=headers)
        elif roll < 0.75:
            pid = rng.randint(1, 540)  # ids past 500 are 404s
            session.get(f"{base}/item/{pid}", headers=headers)
        else:
            session.post(f"{base}/cart/{rng.randint(1, 520)}", headers=headers)


def wait_port(port):
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def main():
    mode = sys.argv[1]
    if mode == "catalog":
        catalog(int(sys.argv[2]), sys.argv[3])
    elif mode == "frontend":
        frontend(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    elif mode == "all":
        out = sys.argv[2]
        total = int(sys.argv[3]) if len(sys.argv) > 3 else 3000
        for path in (out + ".catalog", out + ".frontend", out + ".catalog.db"):
            if os.path.exists(path):
                os.remove(path)
        cport, fport = free_port(), free_port()
        me = [sys.executable, os.path.abspath(__file__)]
        cat = subprocess.Popen(me + ["catalog", str(cport), out + ".catalog"], stdin=subprocess.PIPE)
        front = subprocess.Popen(me + ["frontend", str(fport), str(cport), out + ".frontend"], stdin=subprocess.PIPE)
        wait_port(cport)
        wait_port(fport)
        drive(fport, total)
        for p in (front, cat):
            p.stdin.close()
            p.wait()
        # Interleave the two services' requests, as a gateway would see them.
        parts = [read_requests(out + ".frontend"), read_requests(out + ".catalog")]
        with open(out, "wb") as f:
            while any(parts):
                for part in parts:
                    if part:
                        body = part.pop(0)
                        f.write(struct.pack("<I", len(body)) + body)
        for path in (out + ".catalog", out + ".frontend", out + ".catalog.db"):
            os.remove(path)
    else:
        raise SystemExit(__doc__)


def read_requests(path):
    data = open(path, "rb").read()
    out, at = [], 0
    while at < len(data):
        (n,) = struct.unpack_from("<I", data, at)
        out.append(data[at + 4 : at + 4 + n])
        at += 4 + n
    return out


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""A /metrics endpoint for the Sentinel-vs-vmagent comparison (run.sh).

    metrics_server.py PORT SERIES

GET /metrics    SERIES gauges in the Prometheus text format, 100 metric
                names (bench_metric_00..99) with SERIES/100 label sets each
                (instance_id, path, code, idx); the values change on every
                scrape. Each complete answer is counted. While frozen it
                answers 503 and counts nothing.
GET /tiny       one gauge (the idle test), not counted.
GET /count      how many /metrics answers were sent since the last reset.
GET /freeze, /unfreeze, /reset   control; /reset also unfreezes.

Only loopback: it binds 127.0.0.1. Stops on SIGTERM/SIGINT.
"""
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(sys.argv[1])
SERIES = int(sys.argv[2])
NAMES = 100

# The sample lines without their values, grouped by metric name (the text
# format wants a family's lines together, after its HELP and TYPE).
families = []
for m in range(NAMES):
    name = f"bench_metric_{m:02d}"
    lines = []
    for i in range(m, SERIES, NAMES):
        lines.append(
            f'{name}{{instance_id="node-{(i // 100) % 1000:03d}",'
            f'path="/api/v{i % 7}/items",code="{("200", "404", "500")[i % 3]}",'
            f'idx="{i}"}} '
        )
    families.append((f"# HELP {name} Benchmark gauge {m}.\n# TYPE {name} gauge\n", lines))
# Values rotate through a fixed table so that each scrape differs without
# formatting floats on the hot path.
VALUES = [repr(((k * 7919 + 13) % 100_000) / 7.0) for k in range(4099)]

state = {"count": 0, "frozen": False}
lock = threading.Lock()


def body(scrape):
    out = []
    k = scrape * 31
    for head, lines in families:
        out.append(head)
        for line in lines:
            out.append(line)
            out.append(VALUES[k % len(VALUES)])
            out.append("\n")
            k += 1
    return "".join(out).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def reply(self, status, data, ctype="text/plain; version=0.0.4"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def do_GET(self):
        path = self.path.split("?")[0]
        if path == "/metrics":
            with lock:
                frozen, n = state["frozen"], state["count"]
            if frozen:
                self.reply(503, b"frozen\n")
                return
            try:
                self.reply(200, body(n))
            except OSError:
                return  # the client gave up: not a delivered scrape
            with lock:
                state["count"] += 1
        elif path == "/tiny":
            self.reply(200, b"# TYPE bench_tiny gauge\nbench_tiny 1\n")
        elif path == "/count":
            with lock:
                self.reply(200, f"{state['count']}\n".encode())
        elif path in ("/freeze", "/unfreeze", "/reset"):
            with lock:
                state["frozen"] = path == "/freeze"
                if path == "/reset":
                    state["count"] = 0
            self.reply(200, b"ok\n")
        else:
            self.reply(404, b"not found\n")

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
server.daemon_threads = True
signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
try:
    server.serve_forever()
except KeyboardInterrupt:
    pass

#!/usr/bin/env python3
"""Counter: a tiny HTTP service (stdlib only) to deploy with Pilothouse's local provider.

    python examples/counter/app.py --port 8081 --version 2.0.0

Endpoints: ``GET /health`` (200, or 503 with ``--fail-health``), ``GET /`` (JSON: name, version,
pid, ``PILOTHOUSE_CONFIG`` and this process's hit count), ``POST /increment`` (adds ``step``:
1 in version 1.x, ``config["step"]`` or 2 from version 2), ``GET /fail`` (500, to exercise error
counting), ``GET /sleep?ms=N`` (answers after N ms, to exercise latency). ``--crash`` exits at
once. ``--error-rate R`` (0..1, default 0) makes that share of ``GET /`` and ``/increment`` answer
500, evenly spread (a flaky release; ``/health`` still answers 200). Options also come from env:
``PORT``, ``APP_VERSION``, ``FAIL_HEALTH=1``, ``ERROR_RATE``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

NAME = "counter"


class State:
    def __init__(self, step: int) -> None:
        self.lock = threading.Lock()
        self.hits = 0
        self.total = 0
        self.step = step
        self.served = 0  # requests to / and /increment, for --error-rate


def make_handler(version: str, fail_health: bool, error_rate: float = 0.0):
    try:
        config = json.loads(os.environ.get("PILOTHOUSE_CONFIG") or "{}")
    except ValueError:
        config = {}
    step = 1 if version.startswith("1.") else int(config.get("step", 2))
    state = State(step)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = f"{NAME}/{version}"

        def log_message(self, fmt, *args):
            print(f"{self.address_string()} {fmt % args}", flush=True)

        def _json(self, status: int, payload: dict) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _handle(self) -> None:
            url = urlsplit(self.path)
            n = int(self.headers.get("Content-Length") or 0)
            if n:
                self.rfile.read(n)
            if url.path == "/health":
                self._json(503 if fail_health else 200, {"status": "failing" if fail_health else "ok"})
                return
            if url.path == "/fail":
                self._json(500, {"error": "failing on purpose", "version": version})
                return
            if url.path == "/sleep":
                ms = float(parse_qs(url.query).get("ms", ["100"])[0])
                time.sleep(ms / 1000)
                self._json(200, {"slept_ms": ms, "pid": os.getpid(), "version": version})
                return
            if error_rate and url.path in ("/", "/increment"):
                with state.lock:
                    state.served += 1
                    # the n-th request fails when n * rate crosses a whole number: exactly that share
                    failing = int(state.served * error_rate) > int((state.served - 1) * error_rate)
                if failing:
                    self._json(500, {"error": "flaky on purpose", "version": version, "pid": os.getpid()})
                    return
            with state.lock:
                if url.path == "/increment" and self.command == "POST":
                    state.total += state.step
                elif url.path not in ("/", "/increment"):
                    self._json(404, {"error": "not found", "path": url.path})
                    return
                state.hits += 1
                payload = {
                    "name": NAME,
                    "version": version,
                    "pid": os.getpid(),
                    "hits": state.hits,
                    "total": state.total,
                    "step": state.step,
                    "config": config,
                }
            self._json(200, payload)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8081")))
    parser.add_argument("--version", default=os.environ.get("APP_VERSION", "1.0.0"))
    parser.add_argument("--fail-health", action="store_true", default=os.environ.get("FAIL_HEALTH") == "1")
    parser.add_argument("--crash", action="store_true", help="exit at once with an error")
    parser.add_argument(
        "--error-rate",
        type=float,
        default=float(os.environ.get("ERROR_RATE") or 0),
        help="share (0..1) of GET / and /increment answering 500",
    )
    args = parser.parse_args(argv)
    if not 0 <= args.error_rate <= 1:
        parser.error("--error-rate must be between 0 and 1")

    if args.crash:
        print(f"{NAME} {args.version}: crashing on purpose (--crash)", file=sys.stderr, flush=True)
        return 3

    handler = make_handler(args.version, args.fail_health, args.error_rate)
    server = ThreadingHTTPServer((args.host, args.port), handler)
    server.daemon_threads = True

    def on_term(signum, frame):
        print(f"{NAME} {args.version}: signal {signum}, shutting down", flush=True)
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    print(f"{NAME} {args.version} pid={os.getpid()} listening on http://{args.host}:{args.port}", flush=True)
    server.serve_forever(poll_interval=0.2)
    server.server_close()
    print(f"{NAME} {args.version}: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Greeter: a tiny HTTP service (stdlib only) to deploy with Pilothouse's local provider.

    python examples/greeter/app.py --port 8080 --version 2.0.0

Endpoints: ``GET /health`` (200, or 503 with ``--fail-health``), ``GET /`` (JSON: name, version,
pid, the greeting and the ``PILOTHOUSE_CONFIG`` it got), ``/echo`` (any method: what it received),
``GET /metrics`` (Prometheus text: the requests this process answered).
Version 1.0.0 says "hello, world"; version 2.0.0 says "Hello, World!". ``--crash`` exits at once
(a broken release). Options also come from env: ``PORT``, ``APP_VERSION``, ``GREETING``,
``FAIL_HEALTH=1``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

NAME = "greeter"


def _config() -> dict:
    try:
        return json.loads(os.environ.get("PILOTHOUSE_CONFIG") or "{}")
    except ValueError:
        return {"_invalid": os.environ.get("PILOTHOUSE_CONFIG")}


def make_handler(version: str, fail_health: bool):
    greeting = os.environ.get("GREETING", "hello")
    config = _config()
    served = {"count": 0}
    served_lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = f"{NAME}/{version}"

        def log_message(self, fmt, *args):  # one line per request on stdout
            print(f"{self.address_string()} {fmt % args}", flush=True)

        def _json(self, status: int, payload: dict) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _body(self) -> bytes:
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

        def _handle(self) -> None:
            url = urlsplit(self.path)
            body = self._body()
            with served_lock:
                served["count"] += 1
            if url.path == "/metrics":
                text = (
                    "# HELP greeter_requests_total Requests this process answered.\n"
                    "# TYPE greeter_requests_total counter\n"
                    f'greeter_requests_total{{version="{version}"}} {served["count"]}\n'
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)
            elif url.path == "/health":
                if fail_health:
                    self._json(503, {"status": "failing", "version": version})
                else:
                    self._json(200, {"status": "ok", "version": version})
            elif url.path == "/echo":
                self._json(
                    200,
                    {
                        "method": self.command,
                        "path": url.path,
                        "query": parse_qs(url.query),
                        "headers": dict(self.headers.items()),
                        "body": body.decode(errors="replace"),
                        "pid": os.getpid(),
                        "version": version,
                    },
                )
            elif url.path == "/":
                who = parse_qs(url.query).get("name", ["world"])[0]
                if version.startswith("1."):
                    message = f"{greeting}, {who}"
                else:
                    message = f"{greeting.title()}, {who.title()}!"
                self._json(
                    200,
                    {
                        "name": NAME,
                        "version": version,
                        "pid": os.getpid(),
                        "message": message,
                        "config": config,
                    },
                )
            else:
                self._json(404, {"error": "not found", "path": url.path})

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    parser.add_argument("--version", default=os.environ.get("APP_VERSION", "1.0.0"))
    parser.add_argument("--fail-health", action="store_true", default=os.environ.get("FAIL_HEALTH") == "1")
    parser.add_argument("--crash", action="store_true", help="exit at once with an error")
    args = parser.parse_args(argv)

    if args.crash:
        print(f"{NAME} {args.version}: crashing on purpose (--crash)", file=sys.stderr, flush=True)
        return 3

    server = ThreadingHTTPServer((args.host, args.port), make_handler(args.version, args.fail_health))
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

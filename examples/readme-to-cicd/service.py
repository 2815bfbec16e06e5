"""The small HTTP server the readme-to-cicd services share (stdlib only).

Each service is one function ``handle(body: dict, version: str) -> dict`` behind ``POST /<route>``;
``GET /health`` answers 200 (503 with ``--fail-health``), ``GET /`` names the service and version.
A body that is not a JSON object is a 400; a handler's ValueError a 422 with its message.

    python examples/readme-to-cicd/parser/app.py --port 8080 --version 1.0.0
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 1_048_576
Handler = Callable[[dict, str], dict]


def make_handler(name: str, route: str, handle: Handler, version: str, fail_health: bool):
    class RequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = f"{name}/{version}"

        def log_message(self, fmt, *args):
            print(f"{self.address_string()} {fmt % args}", flush=True)

        def _json(self, status: int, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802
            if self.path == "/health":
                self._json(503 if fail_health else 200, {"status": "failing" if fail_health else "ok"})
            elif self.path == "/":
                self._json(200, {"name": name, "version": version, "pid": os.getpid(), "route": route})
            else:
                self._json(404, {"message": f"no route {self.path}"})

        def do_POST(self) -> None:  # noqa: N802
            if self.path.split("?")[0] != f"/{route}":
                self._json(404, {"message": f"no route {self.path}; POST /{route}"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._json(413, {"message": f"at most {MAX_BODY} bytes"})
                return
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                self._json(400, {"message": "the body is not JSON"})
                return
            if not isinstance(body, dict):
                self._json(400, {"message": "the body is a JSON object"})
                return
            try:
                self._json(200, handle(body, version))
            except ValueError as exc:
                self._json(422, {"message": str(exc)})

    return RequestHandler


def serve(name: str, route: str, handle: Handler, argv: list[str] | None = None) -> None:
    """Parse ``--port``/``--version``/``--fail-health``/``--crash`` and serve until SIGTERM."""
    parser = argparse.ArgumentParser(description=f"{name}: POST /{route}")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--version", default=os.environ.get("APP_VERSION", "1.0.0"))
    parser.add_argument("--fail-health", action="store_true")
    parser.add_argument("--crash", action="store_true", help="exit at once (a broken release)")
    args = parser.parse_args(argv)
    if args.crash:
        print(f"{name} {args.version}: crashing on purpose", flush=True)
        sys.exit(3)
    server = ThreadingHTTPServer(
        (args.host, args.port), make_handler(name, route, handle, args.version, args.fail_health)
    )
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    print(f"{name} {args.version} listening on {args.host}:{args.port}", flush=True)
    server.serve_forever()

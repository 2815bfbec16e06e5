"""Helpers of the HTTP task tests: a scripted HTTP server on 127.0.0.1 and a Running component
whose stable URL points at it."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler

from tests.support.httpservers import ThreadedServer


class Scripted(ThreadedServer):
    """Answers each request with the next (status, body) of ``script`` (the last one repeats) and
    records what it was sent."""

    def __init__(self, script: list[tuple[int, object]]) -> None:
        self.script = list(script)
        self.seen: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                outer.seen.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": self.rfile.read(length).decode(),
                    }
                )
                status, body = outer.script.pop(0) if len(outer.script) > 1 else outer.script[0]
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _answer  # noqa: N815

            def log_message(self, *args) -> None:
                pass

        super().__init__(Handler)


def running_component(services, name: str, url: str, environment: str = "development") -> None:
    """A Running component whose stable URL is ``url`` (as a finished deployment leaves it)."""
    from pilothouse.repositories.components import ComponentRepository

    spec = {
        "name": name,
        "provider": "local",
        "environment": environment,
        "version": "1.0.0",
        "target": {"command": ["true"]},
    }
    data = {
        "name": name,
        "spec": spec,
        "state": "Running",
        "version": "1.0.0",
        "replicas": 1,
        "url": url,
        "created_at": "2027-01-01T00:00:00Z",
        "updated_at": "2027-01-01T00:00:00Z",
    }
    ComponentRepository(services.store).create(data, {"type": "registered", "to": "Registered"})

"""The local HTTP gateway: routes from template.yaml, requests → payload-2.0 events → functions.

    gateway = LocalGateway(routes, pool)
    status, headers, body = gateway.handle("GET", "/v1/health", "", {}, b"")

:class:`GatewayServer` serves a gateway over real HTTP (threads); tests can call
:meth:`LocalGateway.handle` directly and go through the very same conversion.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from enum import Enum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from pilothouse.local.functions import FunctionPool
from pilothouse.local.template import HttpRoute
from pilothouse.runtime.events import http_event, http_result


class Match(Enum):
    NONE = 0
    PARTIAL = 1  # the path matches a route, the method does not → 405
    FULL = 2


@dataclass(frozen=True)
class RouteMatch:
    match: Match
    route: HttpRoute | None = None
    params: dict[str, str] | None = None
    allowed: tuple[str, ...] = ()


def _segments(path: str) -> list[str]:
    return [s for s in path.split("/") if s]


def _match_path(pattern: str, path: str) -> tuple[dict[str, str], int] | None:
    """Path parameters and a specificity score (literal segments count most), or None."""
    pat, segs = _segments(pattern), _segments(path)
    params: dict[str, str] = {}
    score = 0
    for i, p in enumerate(pat):
        if p.startswith("{") and p.endswith("+}"):
            if i >= len(segs):
                return None
            params[p[1:-2]] = "/".join(segs[i:])
            return params, score
        if i >= len(segs):
            return None
        if p.startswith("{") and p.endswith("}"):
            params[p[1:-1]] = unquote(segs[i])
        elif p == segs[i]:
            score += 1
        else:
            return None
    if len(pat) != len(segs):
        return None
    return params, score


class RouteTable:
    def __init__(self, routes: list[HttpRoute]) -> None:
        self.routes = routes

    def match(self, method: str, path: str) -> RouteMatch:
        candidates = []
        for route in self.routes:
            found = _match_path(route.path, path)
            if found is not None:
                candidates.append((found[1], route, found[0]))
        if not candidates:
            return RouteMatch(Match.NONE)
        candidates.sort(key=lambda c: -c[0])
        best_score = candidates[0][0]
        for score, route, params in candidates:
            if score == best_score and route.method in (method.upper(), "ANY"):
                return RouteMatch(Match.FULL, route, params)
        allowed = tuple(sorted({r.method for s, r, _ in candidates if s == best_score}))
        return RouteMatch(Match.PARTIAL, allowed=allowed)


def _problem(status: int, title: str, detail: str, headers: dict[str, str] | None = None):
    body = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail}).encode()
    return status, {"content-type": "application/problem+json", **(headers or {})}, body


class LocalGateway:
    def __init__(self, routes: list[HttpRoute], pool: FunctionPool, max_body_bytes: int = 10 * 1024 * 1024) -> None:
        self.table = RouteTable(routes)
        self.pool = pool
        self.max_body_bytes = max_body_bytes

    def handle(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        found = self.table.match(method, path)
        if found.match is Match.NONE:
            return _problem(404, "Not found", f"no route for {path}")
        if found.match is Match.PARTIAL:
            return _problem(405, "Method not allowed", f"{method} is not allowed on {path}",
                            {"allow": ", ".join(found.allowed)})
        if len(body) > self.max_body_bytes:
            return _problem(413, "Payload too large", f"the body exceeds {self.max_body_bytes} bytes")
        assert found.route is not None
        event = http_event(
            method, path, query=query, headers=headers, body=body,
            route_key=f"{found.route.method} {found.route.path}", path_parameters=found.params or None,
        )
        try:
            result = self.pool.invoke(found.route.function, event)
        except Exception as exc:  # what API Gateway answers when the integration fails
            import logging

            logging.getLogger(__name__).exception("function %s failed", found.route.function)
            return _problem(502, "Bad gateway", f"the function failed: {type(exc).__name__}")
        return http_result(result)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    gateway: LocalGateway  # set on the subclass made per server

    def _serve(self) -> None:
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k: v for k, v in self.headers.items()}
        status, out_headers, out = self.gateway.handle(self.command, path, query, headers, body)
        self.send_response(status)
        for k, v in out_headers.items():
            if k not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(k, v)
        self.send_header("content-length", str(len(out)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def log_message(self, format: str, *args: Any) -> None:  # quiet: functions log structured JSON
        pass


class GatewayServer:
    """A threaded HTTP server in front of a :class:`LocalGateway`."""

    def __init__(self, gateway: LocalGateway, host: str = "127.0.0.1", port: int = 0) -> None:
        handler = type("GatewayHandler", (_Handler,), {"gateway": gateway})
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="gateway", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread:
            self._thread.join(5)

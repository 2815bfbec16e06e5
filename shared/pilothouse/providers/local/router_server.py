"""The router's HTTP side: the threaded server that owns the stable port, the handler that reads a
client's request and writes the chosen backend's response, and the header rules between them
(hop-by-hop headers dropped, ``X-Forwarded-*`` added, the serving revision named in
``X-Pilothouse-Revision``).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pilothouse.providers.local.router import Router

__all__ = ["REVISION_HEADER", "BODY_METHODS", "ProxyServer", "Upstream", "error_response", "merge_headers"]

# Headers that concern one hop only (RFC 9110 section 7.6.1); never forwarded either way.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)

REVISION_HEADER = "X-Pilothouse-Revision"


@dataclass(frozen=True)
class Upstream:
    """A backend's whole response (or the router's own error), and the revision that served it."""

    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    revision: str | None


BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def merge_headers(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Fold repeated request headers into one comma-separated value (http.client takes a dict)."""
    merged: dict[str, tuple[str, str]] = {}
    for k, v in headers:
        key = k.lower()
        if key in merged:
            merged[key] = (merged[key][0], f"{merged[key][1]}, {v}")
        else:
            merged[key] = (k, v)
    return list(merged.values())


def error_response(status: int, error: str, revision: str | None, *, detail: str = "") -> Upstream:
    """The router's own JSON error response (``{"error", "status", "detail"?}``)."""
    payload = {"error": error, "status": status}
    if detail:
        payload["detail"] = detail[:300]
    body = json.dumps(payload).encode()
    return Upstream(
        status, http.client.responses.get(status, ""), [("Content-Type", "application/json")], body, revision
    )


class ProxyServer(ThreadingHTTPServer):
    """The router's listening socket: one thread per client connection, and the open connections
    tracked so that :meth:`close_connections` can drop them on close."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], router: Router) -> None:
        self.router = router
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, _ProxyHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._conns_lock:
            self._conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
        for sock in conns:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "pilothouse-router"
    server: ProxyServer

    def setup(self) -> None:
        self.timeout = self.server.router.idle_timeout
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _proxy(self) -> None:
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.send_error(400, "bad request body")
            return
        connection_tokens = {
            t.strip().lower() for t in (self.headers.get("Connection") or "").split(",") if t.strip()
        }
        out: list[tuple[str, str]] = []
        for k, v in self.headers.items():
            low = k.lower()
            if low in _HOP_BY_HOP or low in connection_tokens or low == "content-length":
                continue
            out.append((k, v))
        client = self.client_address[0]
        prior = self.headers.get("X-Forwarded-For")
        out = [(k, v) for k, v in out if k.lower() != "x-forwarded-for"]
        out.append(("X-Forwarded-For", f"{prior}, {client}" if prior else client))
        if self.headers.get("Host") and not self.headers.get("X-Forwarded-Host"):
            out.append(("X-Forwarded-Host", self.headers["Host"]))
        out.append(("X-Forwarded-Proto", "http"))
        if body or self.command in BODY_METHODS:
            out.append(("Content-Length", str(len(body))))

        up = self.server.router.forward(self.command, self.path, out, body)

        try:
            self.send_response_only(up.status, up.reason)
            upstream_length = None
            for k, v in up.headers:
                low = k.lower()
                if low == "content-length":
                    upstream_length = v
                    continue
                if low in _HOP_BY_HOP:
                    continue
                self.send_header(k, v)
            if up.revision is not None:
                self.send_header(REVISION_HEADER, up.revision)
            if self.command == "HEAD" and upstream_length is not None:
                self.send_header("Content-Length", upstream_length)
            else:
                self.send_header("Content-Length", str(len(up.body)))
            self.end_headers()
            if self.command != "HEAD" and up.status not in (204, 304) and up.status >= 200:
                self.wfile.write(up.body)
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _proxy

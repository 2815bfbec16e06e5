"""The router's HTTP side: the threaded server that owns the stable port, the handler that reads a
client's request and writes the chosen backend's response, and the header rules between them
(hop-by-hop headers dropped both ways, including those the other side names in ``Connection``;
``X-Forwarded-*`` added; the serving revision named in ``X-Pilothouse-Revision``).

A request body is read before it is forwarded, within limits: its framing must be unambiguous
(one numeric Content-Length, or chunked as the final transfer coding -- anything else is a 400 that
closes the connection, so nothing can be smuggled to a backend), at most ``max_body_bytes`` (413,
refused on the declared length before reading when it can be), and all of it within
``body_timeout`` (408). The router's own answers are RFC 9457 problem+json with a request id.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import re
import socket
import socketserver
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from pilothouse.errors import PROBLEM_BASE

if TYPE_CHECKING:
    from pilothouse.providers.local.router import Router

__all__ = [
    "BODY_METHODS",
    "REVISION_HEADER",
    "ProxyServer",
    "Upstream",
    "UpstreamPool",
    "error_response",
    "merge_headers",
]

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

_HEX = b"0123456789abcdefABCDEF"
# one header field line as RFC 9112 section 5 has it: a token, the colon right after it, a value
# without control characters but HTAB (no obsolete folding, bare CR or NUL), CRLF (or LF)
_FIELD_LINE = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[^\x00-\x08\x0a-\x1f\x7f]*\r?\n")


class _HeadReader:
    """Stands in for ``rfile`` while http.server reads a request head (its request line and header
    lines): every line must arrive before ``deadline`` (TimeoutError otherwise, however slowly the
    bytes trickle in), each wait at most ``idle`` seconds; the raw lines are kept in ``lines``."""

    def __init__(self, rfile: Any, sock: socket.socket, deadline: float, idle: float) -> None:
        self.rfile = rfile
        self.sock = sock
        self.deadline = deadline
        self.idle = idle
        self.lines: list[bytes] = []

    def readline(self, limit: int = -1) -> bytes:
        limit = limit if limit >= 0 else 65537
        line = bytearray()
        while len(line) < limit:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("the request head did not arrive in time")
            self.sock.settimeout(min(self.idle, remaining))
            available = self.rfile.peek(1)  # at most one read from the socket
            if not available:
                break
            end = available.find(b"\n", 0, limit - len(line))
            line += self.rfile.read(end + 1 if end >= 0 else min(len(available), limit - len(line)))
            if end >= 0:
                break
        self.lines.append(bytes(line))
        return bytes(line)


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
    """The router's own answer: RFC 9457 problem+json with a request id (in ``X-Request-Id`` and the
    body); ``error`` is kept as a short extension member."""
    title = http.client.responses.get(status, "Error")
    request_id = uuid.uuid4().hex
    payload = {
        "type": PROBLEM_BASE + title.lower().replace(" ", "-"),
        "title": title,
        "status": status,
        "detail": (detail or error)[:300],
        "error": error,
        "request_id": request_id,
    }
    headers = [("Content-Type", "application/problem+json"), ("X-Request-Id", request_id)]
    return Upstream(status, title, headers, json.dumps(payload).encode(), revision)


#: Methods a request may be sent again with after a kept-alive connection turned out closed.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class UpstreamPool:
    """Kept-alive connections to backends, at most ``max_idle`` idle ones per backend.

    A connection goes back after a response read to its end that does not close it; a backend
    taken out of the routing table has its idle connections closed (:meth:`discard`).
    """

    def __init__(self, timeout: float, max_idle: int = 16) -> None:
        self.timeout = timeout
        self.max_idle = max_idle
        self._idle: dict[str, list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()

    def take(self, url: str, host: str, port: int, *, reuse: bool) -> tuple[http.client.HTTPConnection, bool]:
        """An idle connection to ``url`` (``True``) when ``reuse`` allows, else a new unconnected one."""
        if reuse:
            with self._lock:
                idle = self._idle.get(url)
                if idle:
                    return idle.pop(), True
        return http.client.HTTPConnection(host, port, timeout=self.timeout), False

    def give(self, url: str, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(url, [])
            if len(idle) < self.max_idle:
                idle.append(conn)
                return
        conn.close()

    def discard(self, keep: set[str] | None = None) -> None:
        """Close the idle connections of every backend not in ``keep`` (all when None)."""
        with self._lock:
            gone = [u for u in self._idle if keep is None or u not in keep]
            conns = [c for u in gone for c in self._idle.pop(u)]
        for conn in conns:
            conn.close()


class RequestRefused(Exception):
    """The client's request cannot be forwarded; answer ``status`` and close the connection."""

    def __init__(self, status: int, error: str, detail: str = "") -> None:
        super().__init__(detail or error)
        self.status = status
        self.error = error
        self.detail = detail


def _connection_tokens(value: str | None) -> set[str]:
    return {t.strip().lower() for t in (value or "").split(",") if t.strip()}


class ProxyServer(ThreadingHTTPServer):
    """The router's listening socket: one thread per client connection, and the open connections
    tracked so that :meth:`close_connections` can drop them on close."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024  # the accept backlog: bursts of new connections wait, not time out

    def __init__(self, address: tuple[str, int], router: Router) -> None:
        self.router = router
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, _ProxyHandler)

    def server_bind(self) -> None:
        """Bind without ``HTTPServer.server_bind``'s reverse lookup of the host (``socket.getfqdn``):
        nothing reads ``server_name``, and the lookup cost ~2.5 ms of every router start here (a
        first deploy's), seconds where name resolution is slow."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

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
    # headers and body go out in separate writes: with Nagle on, each kept-alive answer waited for
    # the client's delayed ACK (~40 ms a request)
    disable_nagle_algorithm = True
    server: ProxyServer
    #: buffered (StreamRequestHandler's default ``rbufsize`` of -1), so it can ``peek``
    rfile: io.BufferedReader

    def setup(self) -> None:
        # typeshed declares ``timeout`` a ClassVar; socketserver reads it per instance in setup()
        self.timeout = self.server.router.idle_timeout  # type: ignore[misc]
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    # -- the router's own answers ------------------------------------------------------------------

    def _answer(self, up: Upstream, *, close: bool = False) -> None:
        """Write ``up`` to the client (the body left out for HEAD, 204, 304 and 1xx); ``close``
        ends the connection after it."""
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
            if close:
                self.send_header("Connection", "close")  # also sets close_connection
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

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """What http.server refuses by itself (bad request line, headers too long, unsupported
        method...) as problem+json too."""
        self.close_connection = True
        if getattr(self, "command", None) is None:
            self.command = ""
        if getattr(self, "request_version", "HTTP/0.9") == "HTTP/0.9":
            self.request_version = "HTTP/1.1"  # no HTTP/0.9 here: always a status line and headers
        self._answer(
            error_response(
                code, message or http.client.responses.get(code, "error"), None, detail=explain or ""
            ),
            close=True,
        )

    def _refuse(self, refused: RequestRefused) -> None:
        self.close_connection = True
        self._answer(error_response(refused.status, refused.error, None, detail=refused.detail), close=True)

    def handle_expect_100(self) -> bool:
        """Refuse a declared body over the limit before the client sends it."""
        try:
            self._declared_length()
        except RequestRefused as refused:
            self._refuse(refused)
            return False
        return super().handle_expect_100()

    # -- reading the request body --------------------------------------------------------------

    def handle_one_request(self) -> None:
        """Wait for a request up to the idle timeout; from its first byte, its head has
        ``head_timeout`` to arrive (read through a :class:`_HeadReader`)."""
        router = self.server.router
        real = self.rfile
        try:
            self.connection.settimeout(router.idle_timeout)
            if not real.peek(1):
                self.close_connection = True
                return
        except OSError:  # TimeoutError included: an idle connection
            self.close_connection = True
            return
        head = _HeadReader(real, self.connection, time.monotonic() + router.head_timeout, router.idle_timeout)
        self._head_lines = head.lines
        self.rfile = head  # type: ignore[assignment]
        try:
            super().handle_one_request()
        finally:
            self.rfile = real

    def parse_request(self) -> bool:
        """http.server's parsing of the head; then the body is read from the real stream."""
        try:
            return super().parse_request()
        finally:
            if isinstance(self.rfile, _HeadReader):
                self.rfile = self.rfile.rfile
                self.connection.settimeout(self.server.router.idle_timeout)

    def _check_fields(self) -> None:
        """Refuse header fields that backends could read differently: whitespace before the colon,
        obsolete line folding, a bare CR, NUL... (RFC 9112 section 5); Python's parser would quietly
        make something of them."""
        for line in getattr(self, "_head_lines", [])[1:-1]:  # the request line, the fields, a blank line
            if not _FIELD_LINE.fullmatch(line):
                name = line.split(b":", 1)[0][:40].decode("latin-1")
                raise RequestRefused(400, "bad request", f"malformed header field {name!r}")

    def _declared_length(self) -> int | None:
        """The body's length from its framing: a number, None for chunked; RequestRefused when the
        framing is malformed or ambiguous (RFC 9112 section 6) or declares too much."""
        self._check_fields()
        if self.headers.get_all("Transfer-Encoding") and self.headers.get_all("Content-Length"):
            raise RequestRefused(400, "bad request", "both Transfer-Encoding and Content-Length")
        codings = [
            t.strip().lower()
            for v in self.headers.get_all("Transfer-Encoding") or []
            for t in v.split(",")
            if t.strip()
        ]
        if codings:
            if codings[-1] != "chunked":
                raise RequestRefused(400, "bad request", "chunked must be the final transfer coding")
            return None
        values = {v.strip() for raw in self.headers.get_all("Content-Length") or [] for v in raw.split(",")}
        if not values:
            return 0
        if len(values) != 1 or not next(iter(values)).isdigit():
            raise RequestRefused(400, "bad request", "Content-Length must be one non-negative integer")
        length = int(values.pop())
        limit = self.server.router.max_body_bytes
        if length > limit:
            raise RequestRefused(413, "payload too large", f"the body exceeds {limit} bytes")
        return length

    def _read(self, n: int, deadline: float, *, line: bool = False) -> bytes:
        """Up to ``n`` bytes (or one line of at most ``n``), each wait bounded by what is left of
        ``deadline`` and by the idle timeout; 408 past the deadline, 400 on a closed connection."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RequestRefused(408, "request timeout", "the request body did not arrive in time")
        self.connection.settimeout(min(self.server.router.idle_timeout, remaining))
        try:
            data = self.rfile.readline(n) if line else self.rfile.read1(n)
        except TimeoutError:
            raise RequestRefused(408, "request timeout", "the request body did not arrive in time") from None
        if not data:
            raise RequestRefused(400, "bad request", "the connection closed before the body was complete")
        return data

    def _read_exact(self, n: int, deadline: float) -> bytes:
        parts: list[bytes] = []
        while n > 0:
            chunk = self._read(min(n, 65536), deadline)
            parts.append(chunk)
            n -= len(chunk)
        return b"".join(parts)

    def _read_chunked(self, limit: int, deadline: float) -> bytes:
        parts: list[bytes] = []
        size_so_far = 0
        while True:
            size_line = self._read(1024, deadline, line=True)
            digits = size_line.split(b";", 1)[0].strip()
            if not size_line.endswith(b"\n") or not digits or digits.strip(_HEX):
                raise RequestRefused(400, "bad request", "malformed chunk size")
            size = int(digits, 16)
            if size == 0:
                for _ in range(100):  # trailers, up to the blank line
                    if self._read(8192, deadline, line=True) in (b"\r\n", b"\n"):
                        return b"".join(parts)
                raise RequestRefused(400, "bad request", "too many trailer fields")
            size_so_far += size
            if size_so_far > limit:
                raise RequestRefused(413, "payload too large", f"the body exceeds {limit} bytes")
            parts.append(self._read_exact(size, deadline))
            if self._read(2, deadline, line=True) not in (b"\r\n", b"\n"):
                raise RequestRefused(400, "bad request", "a chunk is longer than its size says")

    def _read_body(self) -> bytes:
        router = self.server.router
        deadline = time.monotonic() + router.body_timeout
        try:
            length = self._declared_length()
            if length is None:
                return self._read_chunked(router.max_body_bytes, deadline)
            return self._read_exact(length, deadline) if length else b""
        finally:
            self.connection.settimeout(router.idle_timeout)

    # -- forwarding ------------------------------------------------------------------------------

    def _proxy(self) -> None:
        try:
            body = self._read_body()
        except RequestRefused as refused:
            self._refuse(refused)
            return
        except OSError:
            self.close_connection = True
            return
        connection_tokens = _connection_tokens(self.headers.get("Connection"))
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
        named = set()
        for k, v in up.headers:
            if k.lower() == "connection":
                named |= _connection_tokens(v)
        if named:  # what the backend names in Connection concerns its hop only
            up = Upstream(
                up.status,
                up.reason,
                [(k, v) for k, v in up.headers if k.lower() not in named],
                up.body,
                up.revision,
            )
        self._answer(up)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _proxy

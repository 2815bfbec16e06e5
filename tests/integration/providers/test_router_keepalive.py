"""The local router's connections to its backends: kept alive and reused where that is safe,
never an error when a backend closed one, none kept for a backend taken out of the table."""

from __future__ import annotations

import http.client
import time
from http.server import BaseHTTPRequestHandler

from tests.support.httpservers import ThreadedServer

from pilothouse.providers.local.router import Router


class _CountingBackend(ThreadedServer):
    """Counts the TCP connections it accepts; closes idle kept-alive ones after ``idle`` seconds."""

    def __init__(self, idle: float = 30.0) -> None:
        counter = self
        self.connections = 0
        self.open = 0

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = idle

            def setup(self) -> None:
                counter.connections += 1
                counter.open += 1
                super().setup()

            def finish(self) -> None:
                super().finish()
                counter.open -= 1

            def log_message(self, *args: object) -> None:
                pass

            def _handle(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(n)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_GET = do_POST = _handle

        super().__init__(Handler)


def _get_many(router: Router, n: int, method: str = "GET") -> list[int]:
    statuses = []
    for _ in range(n):
        conn = http.client.HTTPConnection("127.0.0.1", router.port, timeout=5)
        conn.request(method, "/", body=b"x" if method == "POST" else None)
        resp = conn.getresponse()
        resp.read()
        statuses.append(resp.status)
        conn.close()
    return statuses


def test_connections_to_backends_are_kept_alive_and_reused() -> None:
    """Given a backend behind the router
    When 20 GETs go through one after another (each on a new client connection)
    Then the backend saw one connection from the router, not 20."""
    backend = _CountingBackend()
    try:
        with Router() as router:
            router.set_backends({"r1": ([backend.url], 1.0)})
            assert _get_many(router, 20) == [200] * 20
        assert backend.connections == 1
    finally:
        backend.close()


def test_a_kept_alive_connection_the_backend_closed_is_not_an_error() -> None:
    """Given a backend that closes idle connections after 0.2 s
    When requests (GET and POST) come every 0.5 s
    Then every one is answered 200 (a stale connection is replaced, a POST never rides one)."""
    backend = _CountingBackend(idle=0.2)
    try:
        with Router() as router:
            router.set_backends({"r1": ([backend.url], 1.0)})
            statuses = []
            for method in ("GET", "POST", "GET", "POST", "GET"):
                statuses += _get_many(router, 1, method)
                time.sleep(0.5)
            assert statuses == [200] * 5
            assert router.stats("r1")["errors"] == 0
    finally:
        backend.close()


def test_a_backend_taken_out_of_the_table_keeps_no_connection_from_the_router() -> None:
    """Given a backend the router has kept-alive connections to
    When it is taken out of the routing table
    Then the router closes them (so the backend can stop without waiting for them)."""
    backend = _CountingBackend()
    try:
        with Router() as router:
            router.set_backends({"r1": ([backend.url], 1.0)})
            _get_many(router, 3)
            assert backend.open == 1

            router.set_backends({})

            deadline = time.monotonic() + 5
            while backend.open and time.monotonic() < deadline:
                time.sleep(0.02)
            assert backend.open == 0
    finally:
        backend.close()

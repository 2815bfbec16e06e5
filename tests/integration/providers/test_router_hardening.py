"""The local router under abuse: a busy port, bodies too large or too slow, malformed framing, slow
backends, hop-by-hop headers, bursts of connections.

Backends are tiny HTTP servers in threads of the test process; clients are raw sockets so what goes
on the wire is exactly what the test says. Everything listens on 127.0.0.1.
"""

from __future__ import annotations

import http.client
import json
import select
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from tests.support.httpservers import ThreadedServer

from pilothouse.providers.base import HealthCheck, ProviderError, Release
from pilothouse.providers.local import LocalProvider
from pilothouse.providers.local.router import Router, RouterError


class _Backend(ThreadedServer):
    """Records every request it gets; ``/slow`` answers after 3 s; ``/hop`` answers with a header
    named in its Connection header."""

    def __init__(self) -> None:
        backend = self
        self.seen: list[tuple[str, str, bytes]] = []

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _handle(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                backend.seen.append((self.command, self.path, body))
                if self.path == "/slow":
                    time.sleep(3)
                out = json.dumps({"path": self.path, "length": len(body)}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                if self.path == "/hop":
                    self.send_header("Connection", "keep-alive, X-Hop-Secret")
                    self.send_header("X-Hop-Secret", "for the router only")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_PUT = _handle

        super().__init__(Handler)


@pytest.fixture
def backend() -> Iterator[_Backend]:
    b = _Backend()
    yield b
    b.close()


@pytest.fixture
def router(backend: _Backend) -> Iterator[Router]:
    r = Router(backend_timeout=5.0).start()  # the default body limit: 10 MiB
    r.set_backends({"r1": ([backend.url], 1.0)})
    yield r
    r.close()


def _raw(router: Router, data: bytes, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", router.port), timeout=timeout) as sock:
        sock.sendall(data)
        resp = http.client.HTTPResponse(sock)
        resp.begin()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()


def _assert_problem(status: int, headers: dict[str, str], body: bytes, expected: int) -> dict:
    assert status == expected, (status, body[:300])
    assert headers["content-type"].startswith("application/problem+json"), headers
    problem = json.loads(body)
    assert problem["status"] == expected and problem["title"] and problem["type"]
    return problem


def _listening() -> socket.socket:
    other = socket.socket()
    other.bind(("127.0.0.1", 0))
    other.listen()
    return other


# -- a busy port --------------------------------------------------------------------------------


def test_a_busy_port_is_a_router_error_naming_it() -> None:
    """Given a port another process listens on
    When a router is started on it
    Then RouterError names the port and says another process uses it."""
    with _listening() as other:
        port = other.getsockname()[1]
        with pytest.raises(RouterError) as caught:
            Router(port=port).start()

    assert str(port) in str(caught.value)
    assert "in use by another process" in str(caught.value)


def test_deploying_on_a_busy_port_fails_with_that_reason_before_any_replica(tmp_path: Path) -> None:
    """Given a component whose stable port another process listens on
    When the local provider deploys it
    Then the deploy fails saying the port is in use by another process -- not as a failed health
    check: no replica was started."""
    with _listening() as other, LocalProvider(tmp_path / "data", poll_interval=0.05) as provider:
        port = other.getsockname()[1]
        release = Release(
            component="web",
            version="1.0.0",
            replicas=1,
            config={},
            target={"command": ["/bin/sh", "-c", "sleep 30"], "port": port, "grace_seconds": 1},
            health=HealthCheck(path="/health", timeout_seconds=2),
        )
        with pytest.raises(ProviderError) as caught:
            provider.deploy(release)

        assert f"port {port}" in str(caught.value) and "in use by another process" in str(caught.value)
        logs = tmp_path / "data" / "logs"
        assert not logs.exists() or not any(logs.rglob("*.log"))


# -- bodies -------------------------------------------------------------------------------------


def test_declared_oversize_body_is_413_before_it_is_sent(router: Router, backend: _Backend) -> None:
    """Given a router that takes bodies up to 10 MiB
    When a client declares 50 MB and starts sending
    Then 413 problem+json arrives before the body is all sent, and the backend saw nothing."""
    total = 50 * 1024 * 1024
    chunk = b"x" * 65536
    sent = 0
    with socket.create_connection(("127.0.0.1", router.port), timeout=10) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % total)
        sock.setblocking(False)
        deadline = time.monotonic() + 30
        while sent < total and time.monotonic() < deadline:
            readable, writable, _ = select.select([sock], [sock], [], 1.0)
            if readable:
                break
            if writable:
                try:
                    sent += sock.send(chunk)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    break
        sock.setblocking(True)
        sock.settimeout(10)
        resp = http.client.HTTPResponse(sock)
        resp.begin()
        _assert_problem(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read(), 413)

    assert sent < total
    assert backend.seen == []


def test_expect_100_continue_with_an_oversize_body_gets_413_not_continue(router: Router) -> None:
    """Given a client that declares 50 MB and waits for 100 Continue
    When the router reads its head
    Then it answers 413 problem+json at once (no 100 Continue), before any body byte."""
    with socket.create_connection(("127.0.0.1", router.port), timeout=5) as sock:
        sock.sendall(b"PUT / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 52428800\r\n\r\n")
        resp = http.client.HTTPResponse(sock)
        resp.begin()
        _assert_problem(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read(), 413)


def test_chunked_body_over_the_limit_is_413(router: Router, backend: _Backend) -> None:
    """Given a 10 MiB limit
    When a chunked body grows past it (one chunk claims 16 MiB)
    Then 413 problem+json, and the backend saw nothing."""
    status, headers, body = _raw(
        router, b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1000000\r\n" + b"z" * 1000
    )
    _assert_problem(status, headers, body, 413)
    assert backend.seen == []


@pytest.mark.parametrize(
    "framing",
    [
        b"Content-Length: abc\r\n",
        b"Content-Length: -1\r\n",
        b"Content-Length: 5\r\nContent-Length: 6\r\n",
        b"Transfer-Encoding: gzip\r\n",
    ],
)
def test_malformed_framing_is_400_and_nothing_is_smuggled(
    router: Router, backend: _Backend, framing: bytes
) -> None:
    """Given a request whose body length is malformed or ambiguous, followed by a second request
    When it reaches the router
    Then 400 problem+json, the connection closes, and the backend saw neither request."""
    smuggled = b"GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n"
    request = b"POST / HTTP/1.1\r\nHost: t\r\n" + framing + b"\r\nhello" + smuggled
    status, headers, body = _raw(router, request)
    _assert_problem(status, headers, body, 400)
    time.sleep(0.2)
    assert backend.seen == []


@pytest.mark.parametrize(
    "head",
    [
        b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",  # both framings at once
        b"Transfer-Encoding : chunked\r\n",  # whitespace before the colon
        b"X-Folded: a\r\n b\r\n",  # obsolete line folding
        b"X-Nul: a\x00b\r\n",
        b"X-Cr: a\rb\r\n",
    ],
)
def test_ambiguous_header_fields_are_400_and_never_forwarded(
    router: Router, backend: _Backend, head: bytes
) -> None:
    """Given a request with header fields backends may read differently (RFC 9112 sections 5 and 6)
    When it reaches the router
    Then 400 problem+json, and the backend saw nothing."""
    request = b"POST / HTTP/1.1\r\nHost: t\r\n" + head + b"\r\n0\r\n\r\n"
    _assert_problem(*_raw(router, request), 400)
    time.sleep(0.2)
    assert backend.seen == []


def test_bad_chunk_size_is_400_problem(router: Router, backend: _Backend) -> None:
    """Given a chunked body whose chunk size is not hex
    When it reaches the router
    Then 400 problem+json."""
    status, headers, body = _raw(
        router, b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"
    )
    _assert_problem(status, headers, body, 400)
    assert backend.seen == []


def test_a_body_trickling_in_is_dropped_after_the_body_timeout(backend: _Backend) -> None:
    """Given a router with a 1.5 s body timeout (and 1 s between reads)
    When a client sends its declared body one byte every 0.3 s
    Then the router answers 408 or closes within a few seconds, and serves others meanwhile."""
    with Router(body_timeout=1.5, idle_timeout=1.0) as router:
        router.set_backends({"r1": ([backend.url], 1.0)})
        with socket.create_connection(("127.0.0.1", router.port), timeout=5) as sock:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n")
            closed_at = None
            started = time.monotonic()
            got = b""
            while time.monotonic() - started < 8:
                try:
                    sock.sendall(b"a")
                except OSError:
                    closed_at = time.monotonic()
                    break
                readable, _, _ = select.select([sock], [], [], 0.3)
                if readable:
                    try:
                        got = sock.recv(65536)
                    except OSError:
                        got = b""
                    closed_at = time.monotonic()
                    break
            assert _raw(router, b"GET /other HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")[0] == 200

    assert closed_at is not None, "the router kept reading a body that never ends"
    assert got == b"" or got.startswith(b"HTTP/1.1 408"), got[:200]


def test_a_head_trickling_in_is_dropped_after_the_head_timeout(backend: _Backend) -> None:
    """Given a router with a 1 s head timeout (and 5 s between reads)
    When a client sends a header line every 0.3 s and never ends its head
    Then the router closes the connection within a few seconds, and serves others meanwhile."""
    with Router(head_timeout=1.0, idle_timeout=5.0) as router:
        router.set_backends({"r1": ([backend.url], 1.0)})
        with socket.create_connection(("127.0.0.1", router.port), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n")
            closed = False
            started = time.monotonic()
            for i in range(30):  # 9 s of trickling at most
                try:
                    sock.sendall(b"X-%d: a\r\n" % i)
                except OSError:
                    closed = True
                    break
                readable, _, _ = select.select([sock], [], [], 0.3)
                if readable:
                    try:
                        closed = sock.recv(65536) in (b"",) or True
                    except OSError:
                        closed = True
                    break
            took = time.monotonic() - started
            assert _raw(router, b"GET /other HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")[0] == 200

    assert closed, "the router kept reading a head that never ends"
    assert took < 8


# -- backends -----------------------------------------------------------------------------------


def test_a_backend_that_does_not_answer_in_time_is_504(backend: _Backend) -> None:
    """Given a router with a 0.5 s backend timeout
    When the backend takes 3 s
    Then the client gets 504 problem+json, counted as an error of the revision."""
    with Router(backend_timeout=0.5) as router:
        router.set_backends({"r1": ([backend.url], 1.0)})
        status, headers, body = _raw(router, b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")

        _assert_problem(status, headers, body, 504)
        assert headers["x-pilothouse-revision"] == "r1"
        assert router.stats("r1")["errors"] == 1


def test_headers_the_backend_names_in_connection_are_not_forwarded(router: Router) -> None:
    """Given a backend that answers ``Connection: keep-alive, X-Hop-Secret`` and that header
    When its answer goes through the router
    Then the client sees neither Connection's tokens nor X-Hop-Secret."""
    status, headers, _ = _raw(router, b"GET /hop HTTP/1.1\r\nHost: t\r\n\r\n")

    assert status == 200
    assert "x-hop-secret" not in headers


def test_no_backend_is_a_problem(backend: _Backend) -> None:
    """Given a router without backends
    When a request comes
    Then 502 problem+json (still saying ``error: no backend``)."""
    with Router() as router:
        problem = _assert_problem(*_raw(router, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"), 502)
    assert problem["error"] == "no backend"


def test_malformed_request_line_is_a_problem(router: Router) -> None:
    """Given the router
    When the request line is garbage
    Then 400 problem+json (not an HTML page)."""
    _assert_problem(*_raw(router, b"THIS IS NOT HTTP\r\n\r\n"), 400)


# -- connections --------------------------------------------------------------------------------


def test_a_burst_of_200_new_connections_is_all_answered(router: Router) -> None:
    """Given the router in front of one backend
    When 200 clients each open a fresh connection at the same moment
    Then every one is answered 200, and the listening socket queues at least 1024 connections."""
    if shutil.which("ss"):  # iproute2 shows the accept-queue capacity as Send-Q
        out = subprocess.run(
            ["ss", "-Hltn", f"sport = :{router.port}"], capture_output=True, text=True, check=True
        )
        assert int(out.stdout.split()[2]) >= 1024
    barrier = threading.Barrier(200)

    def one(_: int) -> int:
        barrier.wait()
        conn = http.client.HTTPConnection("127.0.0.1", router.port, timeout=20)
        try:
            conn.request("GET", "/")
            resp = conn.getresponse()
            resp.read()
            return resp.status
        finally:
            conn.close()

    with ThreadPoolExecutor(200) as pool:
        assert list(pool.map(one, range(200))) == [200] * 200


def test_a_component_deployed_on_a_busy_port_fails_with_that_reason(api, services, pool, cloud) -> None:
    """Given a registered component whose stable port another process listens on
    When it is deployed through the API (the real local provider)
    Then it ends Failed, its last error naming the port and saying it is in use by another process
    (the ASL error name is the deployment tasks' choice, see services/deployment_tasks.py)."""
    from tests.support.controlplane import drain
    from tests.support.specs import spec

    with _listening() as other:
        port = other.getsockname()[1]
        target = {"command": ["{python}", "examples/greeter/app.py", "--port", "{port}"], "port": port}
        status, _, body = api.post("/v1/components", spec("web", target=target))
        assert status == 201, body
        assert api.post("/v1/components/web/deploy")[0] == 202
        drain(services, pool, cloud)

        web = api.get("/v1/components/web")[2]

    assert web["state"] == "Failed", web
    assert f"port {port}" in web["last_error"]["reason"]
    assert "in use by another process" in web["last_error"]["reason"]
    assert "HealthCheckFailed" not in web["last_error"]["reason"], web["last_error"]

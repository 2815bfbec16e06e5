"""The local gateway under abuse: huge or endless bodies, bursts of connections, malformed requests.

The gateway serves a fake function pool (an echo) on 127.0.0.1 in this process; the clients are raw
sockets or http.client, so that what goes on the wire is exactly what the test says.
"""

from __future__ import annotations

import base64
import hashlib
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
from typing import Any

import psutil
import pytest

from pilothouse.embedded.gateway import GatewayServer, LocalGateway
from pilothouse.embedded.template import HttpRoute

MAX_BODY = 1024 * 1024


class EchoPool:
    """Stands in for the FunctionPool: answers what it got (method, body length and digest)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def invoke(self, name: str, event: dict[str, Any]) -> dict[str, Any]:
        self.events.append(event)
        raw = event.get("body") or ""
        body = base64.b64decode(raw) if event.get("isBase64Encoded") else raw.encode()
        return {
            "statusCode": 200,
            "headers": {"content-type": "application/json"},
            "body": json.dumps(
                {
                    "function": name,
                    "method": event["requestContext"]["http"]["method"],
                    "length": len(body),
                    "sha256": hashlib.sha256(body).hexdigest(),
                }
            ),
        }


ROUTES = [HttpRoute("Echo", "POST", "/echo"), HttpRoute("Hello", "GET", "/hello")]


@pytest.fixture
def server() -> Iterator[GatewayServer]:
    srv = GatewayServer(LocalGateway(ROUTES, EchoPool(), max_body_bytes=MAX_BODY), "127.0.0.1", 0)
    srv.start()
    yield srv
    srv.stop()


def _port(srv: GatewayServer) -> int:
    return int(srv.url.rsplit(":", 1)[1])


def _raw(srv: GatewayServer, data: bytes, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    """Send ``data`` as is on a fresh connection; parse the one response that comes back."""
    with socket.create_connection(("127.0.0.1", _port(srv)), timeout=timeout) as sock:
        sock.sendall(data)
        resp = http.client.HTTPResponse(sock)
        resp.begin()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()


def _assert_problem(status: int, headers: dict[str, str], body: bytes, expected: int) -> dict[str, Any]:
    assert status == expected, (status, body[:300])
    assert headers["content-type"].startswith("application/problem+json"), headers
    assert headers.get("x-request-id"), headers
    problem = json.loads(body)
    assert problem["status"] == expected
    assert problem["request_id"] == headers["x-request-id"]
    return problem


def test_oversize_body_is_refused_before_it_is_read(server: GatewayServer) -> None:
    """Given a gateway that accepts bodies up to 1 MiB
    When a client declares and starts sending a 50 MB body
    Then a 413 problem+json answer comes before the body is all sent, and the process did not
    grow by anything like the body's size."""
    total = 50 * 1024 * 1024
    proc = psutil.Process()
    before = peak = proc.memory_info().rss
    chunk = b"x" * 65536
    sent = 0
    with socket.create_connection(("127.0.0.1", _port(server)), timeout=10) as sock:
        sock.sendall(
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Length: %d\r\n\r\n" % total
        )
        sock.setblocking(False)
        deadline = time.monotonic() + 30
        while sent < total and time.monotonic() < deadline:
            readable, writable, _ = select.select([sock], [sock], [], 1.0)
            peak = max(peak, proc.memory_info().rss)
            if readable:
                break
            if writable:
                try:
                    sent += sock.send(chunk[: total - sent])
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:  # the server closed while we were sending
                    break
        sock.setblocking(True)
        sock.settimeout(10)
        resp = http.client.HTTPResponse(sock)
        resp.begin()
        headers = {k.lower(): v for k, v in resp.getheaders()}
        _assert_problem(resp.status, headers, resp.read(), 413)
    peak = max(peak, proc.memory_info().rss)

    assert sent < total, "the answer came only after the whole body was sent"
    assert peak - before < 20 * 1024 * 1024, f"grew by {(peak - before) / 1e6:.0f} MB"


def test_expect_100_continue_with_an_oversize_body_gets_413_not_continue(server: GatewayServer) -> None:
    """Given a client that declares 50 MB and waits for 100 Continue
    When the gateway reads its head
    Then it answers 413 problem+json at once (no 100 Continue), before any body byte."""
    with socket.create_connection(("127.0.0.1", _port(server)), timeout=5) as sock:
        sock.sendall(
            b"POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 52428800\r\n\r\n"
        )
        resp = http.client.HTTPResponse(sock)
        resp.begin()
        _assert_problem(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read(), 413)


def test_chunked_body_over_the_limit_is_refused(server: GatewayServer) -> None:
    """Given a 1 MiB limit
    When a chunked body grows past it
    Then 413 problem+json, and the function never ran."""
    chunk = b"y" * 65536
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(20)) + b"0\r\n\r\n"
    status, headers, out = _raw(
        server,
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Type: application/octet-stream\r\n\r\n" + body,
    )
    _assert_problem(status, headers, out, 413)


def test_chunked_body_arrives_intact(server: GatewayServer) -> None:
    """Given a client that sends a binary body in chunks (no Content-Length)
    When it reaches the function
    Then the function sees every byte, in order."""
    parts = [bytes(range(256)) * 40, b"\x00middle\xff", b"z" * 70000]
    conn = http.client.HTTPConnection("127.0.0.1", _port(server), timeout=5)
    conn.request(
        "POST",
        "/echo",
        body=iter(parts),
        encode_chunked=True,
        headers={"Transfer-Encoding": "chunked", "Content-Type": "application/octet-stream"},
    )
    resp = conn.getresponse()
    data = json.loads(resp.read())
    conn.close()

    whole = b"".join(parts)
    assert resp.status == 200
    assert (data["length"], data["sha256"]) == (len(whole), hashlib.sha256(whole).hexdigest())


def test_slow_loris_body_is_dropped_and_others_are_served() -> None:
    """Given a gateway with a 1 s body-read timeout
    When a client declares 100 bytes, sends 10 and then nothing
    Then its connection is answered 408 (or closed) within a few seconds, and while it waits other
    requests are answered."""
    srv = GatewayServer(LocalGateway(ROUTES, EchoPool()), "127.0.0.1", 0, body_timeout=1.0)
    srv.start()
    try:
        with socket.create_connection(("127.0.0.1", _port(srv)), timeout=10) as sock:
            sock.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n0123456789")
            others = [
                _raw(srv, b"GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")[0] for _ in range(5)
            ]
            assert others == [200] * 5
            got = b""
            try:
                while chunk := sock.recv(65536):
                    got += chunk
            except ConnectionResetError:
                pass
            # recv returned b"": the server closed the connection (the 10 s socket timeout did not fire)
        if got:
            status_line, _, rest = got.partition(b"\r\n")
            assert status_line.startswith(b"HTTP/1.1 408"), got[:200]
            assert b"application/problem+json" in rest
    finally:
        srv.stop()


def test_slow_headers_are_dropped() -> None:
    """Given a gateway with a 1 s head timeout
    When a client sends half a request line and then nothing
    Then the connection is closed within a few seconds."""
    srv = GatewayServer(LocalGateway(ROUTES, EchoPool()), "127.0.0.1", 0, head_timeout=1.0)
    srv.start()
    try:
        with socket.create_connection(("127.0.0.1", _port(srv)), timeout=10) as sock:
            sock.sendall(b"GET /hello HTTP/1.1\r\nHost: ")
            got = b""
            try:
                while chunk := sock.recv(65536):
                    got += chunk
            except ConnectionResetError:
                pass
        assert got == b"" or got.startswith(b"HTTP/1.1 408"), got[:200]
    finally:
        srv.stop()


def _listen_backlog(port: int) -> int:
    """The accept-queue capacity of the listening socket on ``port`` (``ss`` shows it as Send-Q);
    a large number where iproute2 is not installed (the burst below is the behaviour that counts)."""
    if shutil.which("ss") is None:
        return 1 << 30
    out = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[2])


def test_a_burst_of_200_new_connections_is_all_answered(server: GatewayServer) -> None:
    """Given the gateway
    When 200 clients open a fresh connection each at the same moment
    Then every one is answered 200, and the listening socket queues at least 1024 connections."""
    assert _listen_backlog(_port(server)) >= 1024
    barrier = threading.Barrier(200)

    def one(_: int) -> int:
        barrier.wait()
        conn = http.client.HTTPConnection("127.0.0.1", _port(server), timeout=20)
        try:
            conn.request("GET", "/hello")
            resp = conn.getresponse()
            resp.read()
            return resp.status
        finally:
            conn.close()

    with ThreadPoolExecutor(200) as pool:
        statuses = list(pool.map(one, range(200)))

    assert statuses == [200] * 200


def test_keep_alive_serves_many_requests_on_one_connection(server: GatewayServer) -> None:
    """Given one kept-alive connection
    When 20 requests (GET, POST with a body, HEAD) go over it
    Then each is answered on the same socket; HEAD has the GET's headers and no body."""
    conn = http.client.HTTPConnection("127.0.0.1", _port(server), timeout=5)
    conn.connect()
    sock = conn.sock
    for i in range(20):
        if i % 3 == 0:
            conn.request("POST", "/echo", body=b"a" * i, headers={"Content-Type": "text/plain"})
        elif i % 3 == 1:
            conn.request("GET", "/hello")
        else:
            conn.request("HEAD", "/hello")
        resp = conn.getresponse()
        body = resp.read()
        assert resp.status == 200
        if i % 3 == 2:
            assert body == b"" and int(resp.getheader("content-length")) > 0
        assert conn.sock is sock
    conn.close()


def test_pipelined_requests_with_and_without_bodies_keep_their_own_bodies(server: GatewayServer) -> None:
    """Given one connection that sends, without waiting, a GET (no body), a POST with a body, a
    POST that declares no body (neither Content-Length nor Transfer-Encoding) and a chunked POST
    When the gateway answers them
    Then four answers come back in order, each function saw exactly its own request's body."""
    requests = (
        b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
        b"POST /echo HTTP/1.1\r\nHost: t\r\n\r\n"
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", _port(server)), timeout=10) as sock:
        sock.sendall(requests)
        # one buffered reader for the four answers: answers that arrive together stay in its buffer
        # (a reader per answer, as http.client makes, would swallow the next one's bytes)
        reader = sock.makefile("rb")
        answers = []
        for _ in range(4):
            status, body = _read_answer(reader)
            assert status == 200, body
            answers.append(json.loads(body))
    assert [a["method"] for a in answers] == ["GET", "POST", "POST", "POST"]
    assert [a["length"] for a in answers] == [0, 5, 0, 3]
    assert answers[1]["sha256"] == hashlib.sha256(b"hello").hexdigest()
    assert answers[3]["sha256"] == hashlib.sha256(b"abc").hexdigest()


def _read_answer(reader: Any) -> tuple[int, bytes]:
    """One HTTP/1.1 answer from ``reader``: its status and body (Content-Length or chunked)."""
    status = int(reader.readline().split()[1])
    headers = {}
    while (line := reader.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        return status, reader.read(int(headers["content-length"]))
    body = b""
    while (size := int(reader.readline().strip(), 16)) > 0:
        body += reader.read(size)
        reader.readline()
    reader.readline()
    return status, body


def test_malformed_content_length_is_400_problem(server: GatewayServer) -> None:
    """Given a request whose Content-Length is not a number
    When it reaches the gateway
    Then the answer is 400 problem+json with a request id (not a dropped connection)."""
    request = b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\nhello"
    status, headers, body = _raw(server, request)
    _assert_problem(status, headers, body, 400)


def test_trace_is_405_problem(server: GatewayServer) -> None:
    """Given a route that allows GET
    When TRACE is sent to it
    Then 405 problem+json with an Allow header; the function never sees TRACE."""
    status, headers, body = _raw(server, b"TRACE /hello HTTP/1.1\r\nHost: t\r\n\r\n")
    _assert_problem(status, headers, body, 405)
    assert "GET" in headers["allow"]


def test_unknown_method_is_501_problem(server: GatewayServer) -> None:
    """Given the gateway
    When a method no one knows (BREW) is sent
    Then 501 Not Implemented problem+json (RFC 9110 section 9.1: an unrecognised method)."""
    status, headers, body = _raw(server, b"BREW /hello HTTP/1.1\r\nHost: t\r\n\r\n")
    _assert_problem(status, headers, body, 501)


def test_100kb_uri_is_414_problem(server: GatewayServer) -> None:
    """Given the gateway
    When the request target is 100 KB long
    Then 414 problem+json."""
    target = b"/hello?q=" + b"a" * 100_000
    status, headers, body = _raw(server, b"GET " + target + b" HTTP/1.1\r\nHost: t\r\n\r\n")
    _assert_problem(status, headers, body, 414)


def test_huge_headers_are_431_problem(server: GatewayServer) -> None:
    """Given the gateway
    When one header value is 200 KB long
    Then 431 problem+json."""
    request = b"GET /hello HTTP/1.1\r\nHost: t\r\nX-Big: " + b"b" * 200_000 + b"\r\n\r\n"
    status, headers, body = _raw(server, request)
    _assert_problem(status, headers, body, 431)


@pytest.mark.parametrize(
    ("request_bytes", "expected"),
    [
        (b"GET /nowhere HTTP/1.1\r\nHost: t\r\n\r\n", 404),
        (b"DELETE /hello HTTP/1.1\r\nHost: t\r\n\r\n", 405),
        (b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000\r\n\r\n", 413),
    ],
)
def test_every_gateway_error_is_a_problem_with_a_request_id(
    server: GatewayServer, request_bytes: bytes, expected: int
) -> None:
    """Given the gateway
    When a request has no route, a wrong method, or too big a body
    Then the answer is problem+json with X-Request-Id, and the same id and the path in the body."""
    status, headers, body = _raw(server, request_bytes)
    problem = _assert_problem(status, headers, body, expected)
    assert problem["instance"].startswith("/")


def test_stop_is_prompt_and_releases_the_port() -> None:
    """Given a started gateway with an idle keep-alive client connected
    When it is stopped
    Then stop returns within a few seconds and the port can be bound again at once."""
    srv = GatewayServer(LocalGateway(ROUTES, EchoPool()), "127.0.0.1", 0)
    srv.start()
    port = _port(srv)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/hello")
    conn.getresponse().read()

    started = time.monotonic()
    srv.stop()
    took = time.monotonic() - started

    assert took < 5, f"stop took {took:.1f} s"
    again = GatewayServer(LocalGateway(ROUTES, EchoPool()), "127.0.0.1", port)
    again.start()
    again.stop()
    conn.close()


def test_a_busy_port_raises_oserror_from_start() -> None:
    """Given a port another socket listens on
    When a gateway is started on it
    Then start() raises OSError (and no thread is left behind)."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        srv = GatewayServer(LocalGateway(ROUTES, EchoPool()), "127.0.0.1", other.getsockname()[1])
        with pytest.raises(OSError):
            srv.start()


def test_localhost_listens_on_ipv4_as_before() -> None:
    """Given a gateway started on the name ``localhost``
    When a client connects to 127.0.0.1 on its port
    Then it is answered (IPv4 is preferred, as http.server did)."""
    srv = GatewayServer(LocalGateway(ROUTES, EchoPool()), "localhost", 0)
    srv.start()
    try:
        status, _, _ = _raw(srv, b"GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        assert status == 200 and srv.url.startswith("http://127.0.0.1:")
    finally:
        srv.stop()


def test_slow_uploads_together_cannot_hold_more_than_the_body_budget() -> None:
    """Given a gateway whose connections together may hold 1.5 MiB of bodies
    When three clients each send 700 KB of a 1 MiB body and then stall
    Then the one that would pass the budget gets 503 problem+json with Retry-After at once, and the
    budget is given back when the others go away (a fresh request is served)."""
    srv = GatewayServer(
        LocalGateway(ROUTES, EchoPool(), max_body_bytes=MAX_BODY),
        "127.0.0.1",
        0,
        max_buffered_bytes=1536 * 1024,
    )
    srv.start()
    socks: list[socket.socket] = []
    try:
        head = (
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Length: %d\r\n\r\n" % MAX_BODY
        )
        answers = []
        for _ in range(3):
            sock = socket.create_connection(("127.0.0.1", _port(srv)), timeout=10)
            socks.append(sock)
            sock.sendall(head + b"x" * (700 * 1024))
            time.sleep(0.3)
            readable, _, _ = select.select([sock], [], [], 0.5)
            if readable:
                resp = http.client.HTTPResponse(sock)
                resp.begin()
                answers.append((resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()))
        assert len(answers) == 1, answers
        status, headers, body = answers[0]
        _assert_problem(status, headers, body, 503)
        assert headers["retry-after"]
        for sock in socks:
            sock.close()
        socks.clear()
        time.sleep(0.5)
        _assert_problem(*_raw(srv, b"GET /nowhere HTTP/1.1\r\nHost: t\r\n\r\n"), 404)
        status, _, _ = _raw(srv, b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello")
        assert status == 200
    finally:
        for sock in socks:
            sock.close()
        srv.stop()

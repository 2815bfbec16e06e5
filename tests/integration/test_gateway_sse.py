"""Server-sent events on the local gateway (the dashboard's live parts), over a real socket.

A stand-in function answers ``/ui/...`` with a fragment whose ETag is its content's, and 304 to a
matching If-None-Match; the stream sends a fragment only when it changed, passes the caller's
Authorization, ends on an error answer, and at most ``max_streams`` streams are open at once.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from pilothouse.embedded.gateway import GatewayServer, LocalGateway
from pilothouse.embedded.template import HttpRoute

ROUTES = [HttpRoute("Dashboard", "GET", "/{proxy+}")]


class FragmentPool:
    """Stands in for the FunctionPool: one fragment whose text the test changes."""

    def __init__(self) -> None:
        self.text = "<p>one</p>"
        self.auth: list[str | None] = []
        self.lock = threading.Lock()

    def invoke(self, name: str, event: dict[str, Any]) -> dict[str, Any]:
        headers = event.get("headers") or {}
        with self.lock:
            self.auth.append(headers.get("authorization"))
            text = self.text
        if headers.get("authorization") != "Bearer good":
            return {"statusCode": 401, "headers": {"content-type": "application/problem+json"}, "body": "{}"}
        etag = '"' + hashlib.sha256(text.encode()).hexdigest()[:12] + '"'
        if headers.get("if-none-match") == etag:
            return {"statusCode": 304, "headers": {"etag": etag}, "body": ""}
        return {"statusCode": 200, "headers": {"content-type": "text/html", "etag": etag}, "body": text}


@pytest.fixture
def pool() -> FragmentPool:
    return FragmentPool()


@pytest.fixture
def server(pool: FragmentPool) -> Iterator[GatewayServer]:
    srv = GatewayServer(LocalGateway(ROUTES, pool), "127.0.0.1", 0, max_streams=4, grace_seconds=1)
    srv.start()
    yield srv
    srv.stop()


def _events(lines: Iterator[str], count: int, timeout: float) -> list[tuple[str, str]]:
    """The next ``count`` named events of a stream's lines (name, joined data), within ``timeout`` s."""
    out: list[tuple[str, str]] = []
    name, data = "", []
    deadline = time.monotonic() + timeout
    for line in lines:
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            data.append(line[6:])
        elif line == "" and name:
            out.append((name, "\n".join(data)))
            name, data = "", []
            if len(out) >= count:
                return out
        if time.monotonic() > deadline:
            break
    return out


def _stream(server: GatewayServer, key: str = "good", path: str = "/ui/deployments/d1?part=live"):
    return httpx.stream(
        "GET",
        server.url + "/ui/stream",
        params={"path": path},
        headers={"Authorization": f"Bearer {key}"},
        timeout=httpx.Timeout(10.0, read=10.0),
    )


def test_a_fragment_is_sent_again_only_when_it_changed(server, pool):
    with _stream(server) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()
        first = _events(lines, 1, 5)
        assert first == [("fragment", "<p>one</p>")]
        time.sleep(1.5)  # unchanged for a tick or two: nothing is sent
        with pool.lock:
            pool.text = "<p>two</p>\n<p>lines</p>"
        assert _events(lines, 1, 5) == [("fragment", "<p>two</p>\n<p>lines</p>")]
    assert set(pool.auth) == {"Bearer good"}  # every re-request carried the caller's own key


def test_an_error_answer_ends_the_stream(server):
    with _stream(server, key="bad") as response:
        assert response.status_code == 200
        lines = response.iter_lines()
        events = _events(lines, 1, 5)
        assert events and events[0][0] == "problem" and events[0][1].startswith("401")
        assert [line for line in lines if line] == []  # and nothing follows


def test_a_stream_follows_only_dashboard_fragments(server):
    for path in ("/v1/api-keys", "/ui/stream", "http://elsewhere.example/ui/x"):
        with _stream(server, path=path) as response:
            assert response.status_code == 422, path


def test_at_most_max_streams_are_open_at_once_and_a_closed_one_frees_its_slot(server):
    # Given 8 clients opening a stream at the same moment, with room for 4
    barrier = threading.Barrier(8)
    statuses: list[int] = []
    release = threading.Event()

    def client() -> None:
        barrier.wait()
        with _stream(server) as response:
            statuses.append(response.status_code)
            if response.status_code == 200:
                _events(response.iter_lines(), 1, 5)
                release.wait(10)

    with ThreadPoolExecutor(8) as executor:
        futures = [executor.submit(client) for _ in range(8)]
        deadline = time.monotonic() + 15
        while len(statuses) < 8 and time.monotonic() < deadline:
            time.sleep(0.05)
        # Then exactly 4 stream and 4 are refused (503), none hangs
        assert sorted(statuses) == [200] * 4 + [503] * 4
        release.set()
        for f in futures:
            f.result(timeout=15)
    # When they have left, Then a new stream gets a slot (each leaves within one interval)
    deadline = time.monotonic() + 10
    while True:
        with _stream(server) as response:
            if response.status_code == 200:
                assert _events(response.iter_lines(), 1, 5)[0][0] == "fragment"
                break
        assert time.monotonic() < deadline, "the slots were never given back"
        time.sleep(0.2)

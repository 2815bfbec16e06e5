"""The local provider's router: forwarding, round robin, weighted revisions, failover, statistics.

Backends are tiny HTTP servers in threads of the test process; everything listens on 127.0.0.1.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pilothouse.providers.local.router import REVISION_HEADER, Router


class _Backend:
    """An HTTP server answering JSON about what it got; ``/status/<n>`` answers status n."""

    def __init__(self, name: str) -> None:
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _handle(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                status = 200
                if self.path.startswith("/status/"):
                    status = int(self.path.split("/")[2])
                payload = json.dumps(
                    {
                        "backend": backend.name,
                        "method": self.command,
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body.decode(),
                    }
                ).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Set-Cookie", "a=1")
                self.send_header("Set-Cookie", "b=2")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle

        self.name = name
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def backends() -> Iterator[list[_Backend]]:
    made = [_Backend(f"b{i}") for i in range(3)]
    yield made
    for b in made:
        b.close()


@pytest.fixture
def router() -> Iterator[Router]:
    r = Router(backend_timeout=5.0).start()
    yield r
    r.close()


def _get(
    router: Router,
    path: str = "/",
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict, http.client.HTTPResponse]:
    conn = http.client.HTTPConnection("127.0.0.1", router.port, timeout=5)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, (json.loads(data) if data else {}), resp
    finally:
        conn.close()


def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_forwards_method_path_query_headers_and_body(router: Router, backends: list[_Backend]) -> None:
    """Given a router with one backend
    When a POST with a query, a custom header and a body goes through it
    Then the backend gets them all, and the client gets its status, headers and body back."""
    router.set_backends({"r1": ([backends[0].url], 1.0)})

    status, data, resp = _get(
        router,
        "/things/7?x=1&y=two",
        "POST",
        b'{"k": 3}',
        {"X-Custom": "yes", "Content-Type": "application/json"},
    )

    assert status == 200
    assert data["method"] == "POST"
    assert data["path"] == "/things/7?x=1&y=two"
    assert data["body"] == '{"k": 3}'
    assert data["headers"]["x-custom"] == "yes"
    assert data["headers"]["x-forwarded-for"] == "127.0.0.1"
    assert resp.getheader(REVISION_HEADER) == "r1"
    assert resp.msg.get_all("Set-Cookie") == ["a=1", "b=2"]


def test_passes_backend_status_and_head(router: Router, backends: list[_Backend]) -> None:
    """Given a backend that answers 404 and HEAD requests
    When they go through the router
    Then the status comes back unchanged and HEAD has no body."""
    router.set_backends({"r1": ([backends[0].url], 1.0)})

    assert _get(router, "/status/404")[0] == 404
    status, data, resp = _get(router, "/", "HEAD")
    assert status == 200 and data == {}
    assert int(resp.getheader("Content-Length")) > 0


def test_round_robin_over_backends(router: Router, backends: list[_Backend]) -> None:
    """Given three backends of one revision
    When 30 requests go through the router
    Then each backend gets exactly 10."""
    router.set_backends({"r1": ([b.url for b in backends], 1.0)})

    seen = Counter(_get(router)[1]["backend"] for _ in range(30))

    assert seen == {"b0": 10, "b1": 10, "b2": 10}


def test_weighted_revisions_honour_the_ratio(router: Router, backends: list[_Backend]) -> None:
    """Given revision A (weight 90) and canary revision B (weight 10)
    When 200 requests go through
    Then B gets 10% of them and the statistics count them per revision."""
    router.set_backends({"A": ([backends[0].url, backends[1].url], 90), "B": ([backends[2].url], 10)})

    seen = Counter(_get(router)[1]["backend"] for _ in range(200))

    assert seen["b2"] == 20
    assert seen["b0"] + seen["b1"] == 180
    assert router.stats("A")["requests"] == 180
    assert router.stats("B")["requests"] == 20


def test_weight_zero_and_changing_weights(router: Router, backends: list[_Backend]) -> None:
    """Given a canary at weight 0
    When requests go through, then the canary is promoted to weight 1 and the old to 0
    Then the canary gets nothing first and everything after."""
    router.set_backends({"A": ([backends[0].url], 1), "B": ([backends[1].url], 0)})
    assert {_get(router)[1]["backend"] for _ in range(10)} == {"b0"}

    router.set_backends({"A": ([backends[0].url], 0), "B": ([backends[1].url], 1)})
    assert {_get(router)[1]["backend"] for _ in range(10)} == {"b1"}
    assert router.backends() == {"A": ([backends[0].url], 0.0), "B": ([backends[1].url], 1.0)}


def test_no_backend_gives_502_json(router: Router) -> None:
    """Given a router without backends
    When a request comes
    Then it answers 502 with a short JSON body."""
    status, data, _ = _get(router)

    assert status == 502
    assert data["error"] == "no backend"


def test_dead_backend_fails_over_then_502(router: Router, backends: list[_Backend]) -> None:
    """Given a revision whose first backend refuses connections
    When requests come
    Then they all reach the live backend; and with only dead backends they get 502, counted as errors."""
    router.set_backends({"r1": ([_dead_url(), backends[0].url], 1.0)})
    assert all(_get(router)[0] == 200 for _ in range(6))

    router.set_backends({"r2": ([_dead_url()], 1.0)})
    status, data, _ = _get(router)
    assert status == 502 and data["error"] == "no backend answered"
    assert router.stats("r2")["errors"] == 1


def test_stats_count_requests_errors_latency_and_reset(router: Router, backends: list[_Backend]) -> None:
    """Given one revision
    When 8 requests succeed and 2 answer 500
    Then stats say 10 requests, 2 errors, 10 latency samples with p50 <= p99; reset zeroes them."""
    router.set_backends({"r1": ([backends[0].url], 1.0)})
    for _ in range(8):
        _get(router)
    for _ in range(2):
        _get(router, "/status/500")

    st = router.stats("r1", samples=True)
    assert (st["requests"], st["errors"], st["samples"]) == (10, 2, 10)
    assert st["error_rate"] == pytest.approx(0.2)
    assert 0 < st["p50_ms"] <= st["p99_ms"]
    assert len(st["latencies_ms"]) == 10

    assert router.stats("r1", reset=True)["requests"] == 10
    assert router.stats("r1")["requests"] == 0
    assert router.stats("unknown") == {
        "revision": "unknown",
        "requests": 0,
        "errors": 0,
        "error_rate": 0.0,
        "samples": 0,
        "p50_ms": None,
        "p99_ms": None,
    }


def test_keep_alive_and_concurrent_load(router: Router, backends: list[_Backend]) -> None:
    """Given three backends
    When 16 clients each send 25 requests on one kept-alive connection at the same time
    Then all 400 answer 200 and the statistics count 400."""
    router.set_backends({"r1": ([b.url for b in backends], 1.0)})

    def client(_: int) -> list[int]:
        conn = http.client.HTTPConnection("127.0.0.1", router.port, timeout=10)
        statuses = []
        for i in range(25):
            conn.request("POST" if i % 2 else "GET", f"/?i={i}", body=b"x" * i if i % 2 else None)
            resp = conn.getresponse()
            resp.read()
            statuses.append(resp.status)
        conn.close()
        return statuses

    with ThreadPoolExecutor(16) as pool:
        results = [s for statuses in pool.map(client, range(16)) for s in statuses]

    assert results == [200] * 400
    assert router.stats("r1")["requests"] == 400


def test_chunked_request_body_is_forwarded(router: Router, backends: list[_Backend]) -> None:
    """Given a client sending a chunked body
    When it goes through the router
    Then the backend receives the whole body with a Content-Length."""
    router.set_backends({"r1": ([backends[0].url], 1.0)})
    conn = http.client.HTTPConnection("127.0.0.1", router.port, timeout=5)
    conn.request(
        "POST",
        "/",
        body=iter([b"hello ", b"world"]),
        encode_chunked=True,
        headers={"Transfer-Encoding": "chunked"},
    )
    data = json.loads(conn.getresponse().read())
    conn.close()

    assert data["body"] == "hello world"


def test_close_releases_the_port(backends: list[_Backend]) -> None:
    """Given a started router with a client connection open
    When it is closed
    Then its port refuses connections and can be bound again."""
    router = Router().start()
    router.set_backends({"r1": ([backends[0].url], 1.0)})
    conn = http.client.HTTPConnection("127.0.0.1", router.port, timeout=5)
    conn.request("GET", "/")
    conn.getresponse().read()
    port = router.port

    router.close()

    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    again = Router(port=port).start()
    assert again.port == port
    again.close()


def test_set_backends_rejects_bad_input(router: Router) -> None:
    """Given a router
    When given a non-http backend or a negative weight
    Then it raises ValueError."""
    with pytest.raises(ValueError):
        router.set_backends({"r": (["ftp://x:1"], 1)})
    with pytest.raises(ValueError):
        router.set_backends({"r": (["http://127.0.0.1:1"], -1)})


class _FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_window_counts_only_the_last_seconds(backends: list[_Backend]) -> None:
    """Given a router on a controllable clock
    When 3 requests (1 failing) are served at t=0 and 2 more (1 failing) at t=20
    Then a 10 s window at t=25 sees the last 2 only, a 30 s window sees all 5, and the cumulative
    stats are unaffected by windows."""
    clock = _FakeClock()
    with Router(backend_timeout=5.0, clock=clock) as router:
        router.set_backends({"r1": ([backends[0].url], 1.0)})
        _get(router)
        _get(router)
        _get(router, "/status/503")
        clock.now += 20
        _get(router)
        _get(router, "/status/500")
        clock.now += 5

        short = router.window("r1", 10)
        long = router.window("r1", 30)

    assert (short["requests"], short["errors"], short["error_rate"]) == (2, 1, 0.5)
    assert (long["requests"], long["errors"]) == (5, 2)
    assert long["error_rate"] == pytest.approx(0.4)
    assert 0 < long["p50_ms"] <= long["p99_ms"]
    assert not long["truncated"]
    assert router.stats("r1")["requests"] == 5


def test_window_without_requests_has_no_rates(router: Router) -> None:
    """Given a revision that served nothing (or is unknown)
    When its window is read
    Then 0 requests and None for error rate and percentiles; a non-positive window is refused."""
    router.set_backends({"r1": ([_dead_url()], 0)})

    for name in ("r1", "unknown"):
        w = router.window(name, 60)
        assert (w["requests"], w["errors"], w["error_rate"], w["p50_ms"], w["p99_ms"]) == (
            0,
            0,
            None,
            None,
            None,
        )
    with pytest.raises(ValueError):
        router.window("r1", 0)


def test_window_is_bounded_by_max_samples(backends: list[_Backend]) -> None:
    """Given a router keeping 3 samples per revision
    When 5 requests are served
    Then a long window counts the 3 latest and says it was truncated; cumulative stats say 5."""
    with Router(backend_timeout=5.0, max_samples=3) as router:
        router.set_backends({"r1": ([backends[0].url], 1.0)})
        for _ in range(5):
            _get(router)

        w = router.window("r1", 3600)
        assert (w["requests"], w["truncated"]) == (3, True)
        assert router.stats("r1")["requests"] == 5


def test_reset_clears_windows_and_prune_forgets_old_revisions(
    router: Router, backends: list[_Backend]
) -> None:
    """Given stats for revisions A (routed) and B (no longer routed)
    When stats are reset for A, and pruned keeping nothing extra
    Then A's window is empty, B's stats are gone, A is still known."""
    router.set_backends({"A": ([backends[0].url], 1), "B": ([backends[1].url], 1)})
    for _ in range(4):
        _get(router)
    router.set_backends({"A": ([backends[0].url], 1)})

    router.reset_stats("A")
    router.prune_stats(keep=[])

    assert router.window("A", 60)["requests"] == 0
    assert set(router.all_stats()) == {"A"}


def test_a_router_starts_without_a_name_lookup(monkeypatch, backends: list[_Backend]) -> None:
    """Given name resolution that would fail, a router still starts (no ``getfqdn`` of its host:
    nothing reads the server name, and a slow resolver delayed every first deploy) and forwards."""

    def no_lookup(*args: object) -> str:
        raise AssertionError("the router looked a name up")

    monkeypatch.setattr(socket, "getfqdn", no_lookup)
    monkeypatch.setattr(socket, "gethostbyaddr", no_lookup)
    router = Router(backend_timeout=5.0).start()
    try:
        router.set_backends({"r1": ([backends[0].url], 1.0)})
        conn = http.client.HTTPConnection("127.0.0.1", router.port, timeout=5)
        conn.request("GET", "/x")
        assert conn.getresponse().status == 200
        conn.close()
    finally:
        router.close()

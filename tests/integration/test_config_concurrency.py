"""Racing config writes and long polls on the real local gateway (issue 13)."""

from __future__ import annotations

import http.client
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from pilothouse.embedded.gateway import GatewayServer, LocalGateway
from tests.support.deploying import spec


@pytest.fixture(autouse=True)
def _fresh_cache():
    from pilothouse.services import config_watch

    config_watch.clear()
    yield
    config_watch.clear()


def test_racing_writes_from_one_version_land_once(api):
    """Given version 1, when 8 writers each send a change based on version 1 at once, then exactly
    one lands (version 2) and the others get 409; the history has no gap and no duplicate."""
    assert api.post("/v1/components", spec("web"))[0] == 201
    assert api.call("PUT", "/v1/components/web/config", {"values": {"n": 0}})[0] == 200
    barrier = threading.Barrier(8)

    def write(i: int) -> int:
        barrier.wait()
        return api.call("PUT", "/v1/components/web/config", {"values": {"n": i}, "base_version": 1})[0]

    with ThreadPoolExecutor(8) as pool:
        statuses = sorted(pool.map(write, range(1, 9)))
    assert statuses == [200] + [409] * 7, statuses
    versions = [v["version"] for v in api.get("/v1/components/web/config/versions")[2]["items"]]
    assert versions == [2, 1]


def test_racing_unconditional_writes_all_land_in_order(api):
    """Given 6 writers without base_version, each lands or is told to retry (409): never two with
    one number, never a gap."""
    api.post("/v1/components", spec("web"))
    barrier = threading.Barrier(6)

    def write(i: int) -> int:
        barrier.wait()
        return api.call("PUT", "/v1/components/web/config", {"values": {"n": i}})[0]

    with ThreadPoolExecutor(6) as pool:
        statuses = list(pool.map(write, range(6)))
    assert set(statuses) <= {200, 409} and 200 in statuses
    versions = [v["version"] for v in api.get("/v1/components/web/config/versions")[2]["items"]]
    assert versions == list(range(statuses.count(200), 0, -1))


def test_racing_first_versions_lose_with_a_version_conflict(api):
    """Given a component with no config version yet, when 20 writers set its config at once,
    then each loser gets the same 409 version-conflict as any lost race, not the store's raw
    "already exists" message."""
    api.post("/v1/components", spec("web"))
    barrier = threading.Barrier(20)

    def write(i: int) -> tuple[int, dict]:
        barrier.wait()
        status, _, body = api.call("PUT", "/v1/components/web/config", {"values": {"n": i}})
        return status, body

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(write, range(20)))
    assert 200 in [status for status, _ in answers]
    for status, body in answers:
        if status != 200:
            assert status == 409, body
            assert body["type"].endswith("version-conflict") and "already exists" not in body["detail"], body


def _get(url: str, path: str, key: str, timeout: float = 30) -> tuple[int, dict]:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {key}"})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"null")
    finally:
        conn.close()


def test_long_polls_do_not_hold_up_other_requests(api, cloud, pool, admin_key, services):
    """Given as many watches as a process holds at once, held on the real gateway, other
    requests (another component read, a config change) are answered while they wait, and the change
    releases every watch with the new version."""
    api.post("/v1/components", spec("web"))
    api.call("PUT", "/v1/components/web/config", {"values": {"n": 1}})
    server = GatewayServer(LocalGateway(cloud.routes, pool), "127.0.0.1", 0)
    server.start()
    try:
        watchers = services.settings.config_max_watchers
        assert watchers < pool.max_instances  # watches never hold every instance of the function
        with ThreadPoolExecutor(watchers) as ex:
            watches = [
                ex.submit(_get, server.url, "/v1/components/web/config?wait=20&after_version=1", admin_key)
                for _ in range(watchers)
            ]
            assert _get(server.url, "/v1/components/web", admin_key)[0] == 200
            assert not any(w.done() for w in watches)
            api.call("PUT", "/v1/components/web/config", {"values": {"n": 2}})
            answers = [w.result(timeout=15) for w in watches]
        assert all(status == 200 and body["version"] == 2 for status, body in answers), answers
    finally:
        server.stop()


def test_watches_over_the_cap_answer_429_at_once(api, services):
    """Given the cap of long polls a process holds, when 3 more watchers than the cap ask at once,
    then the cap's worth wait and the rest are answered at once with 429 and Retry-After; a change
    then releases every waiting one with the new version."""
    import time

    api.post("/v1/components", spec("web"))
    api.call("PUT", "/v1/components/web/config", {"values": {"n": 1}})
    cap = services.settings.config_max_watchers
    barrier = threading.Barrier(cap + 3)

    def watch(_: int) -> tuple[int, dict[str, str], float]:
        barrier.wait()
        started = time.monotonic()
        status, headers, _body = api.call("GET", "/v1/components/web/config", query="wait=20&after_version=1")
        return status, {k.lower(): v for k, v in headers.items()}, time.monotonic() - started

    with ThreadPoolExecutor(cap + 3) as ex:
        watches = [ex.submit(watch, i) for i in range(cap + 3)]
        deadline = time.monotonic() + 10
        while sum(w.done() for w in watches) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        refused = [w.result() for w in watches if w.done()]
        assert len(refused) == 3, refused
        assert all(status == 429 and int(h["retry-after"]) >= 1 and took < 5 for status, h, took in refused)
        api.call("PUT", "/v1/components/web/config", {"values": {"n": 2}})
        answers = [w.result(timeout=15) for w in watches]
    assert sorted(status for status, _, _ in answers) == [200] * cap + [429] * 3


def test_many_watchers_do_not_stall_the_gateway(api, cloud, pool, admin_key):
    """Given 40 viewers long-polling one component's config on the real gateway (32 workers),
    when the health endpoint is asked, then it answers within seconds, not after the polls end."""
    import time

    api.post("/v1/components", spec("web"))
    api.call("PUT", "/v1/components/web/config", {"values": {"n": 1}})
    server = GatewayServer(LocalGateway(cloud.routes, pool), "127.0.0.1", 0)
    server.start()
    try:
        with ThreadPoolExecutor(40) as ex:
            watches = [
                ex.submit(_get, server.url, "/v1/components/web/config?wait=15&after_version=1", admin_key)
                for _ in range(40)
            ]
            time.sleep(1)
            started = time.monotonic()
            status, _ = _get(server.url, "/v1/health", admin_key, timeout=10)
            assert status == 200 and time.monotonic() - started < 5
            api.call("PUT", "/v1/components/web/config", {"values": {"n": 2}})
            answers = [w.result(timeout=30) for w in watches]
        assert {status for status, _ in answers} <= {200, 429}
    finally:
        server.stop()


def test_readers_racing_a_writer_see_versions_only_move_forward(api):
    """Given readers polling a component's config (no environment given: its own, cached) while a
    writer lands 12 versions, then every answer is 200 with an ETag naming its own version and
    a body matching that version, each reader's versions never go back, and once the writer is
    done every reader sees the last version within the cache's lifetime."""
    import time

    assert api.post("/v1/components", spec("web"))[0] == 201
    assert api.call("PUT", "/v1/components/web/config", {"values": {"n": 0}})[0] == 200
    done = threading.Event()
    start = threading.Barrier(5)

    def read() -> list[int]:
        seen: list[int] = []
        start.wait()
        deadline = None
        while True:
            status, headers, body = api.get("/v1/components/web/config")
            assert status == 200, body
            etag = {k.lower(): v for k, v in headers.items()}["etag"]
            assert etag.startswith(f'"{body["version"]}-') and body["config"] == {"n": body["version"] - 1}
            assert not seen or body["version"] >= seen[-1], (seen[-1], body["version"])
            seen.append(body["version"])
            if done.is_set():
                deadline = deadline or time.monotonic() + 5
                if body["version"] == 13 or time.monotonic() > deadline:
                    return seen

    def write() -> None:
        start.wait()
        for n in range(1, 13):
            assert api.call("PUT", "/v1/components/web/config", {"values": {"n": n}})[0] == 200
        done.set()

    with ThreadPoolExecutor(5) as pool:
        readers = [pool.submit(read) for _ in range(4)]
        pool.submit(write).result(timeout=120)
        results = [r.result(timeout=120) for r in readers]
    assert all(seen[-1] == 13 for seen in results), [seen[-3:] for seen in results]

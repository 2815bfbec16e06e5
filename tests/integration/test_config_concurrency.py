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


def test_long_polls_do_not_hold_up_other_requests(api, cloud, pool, admin_key):
    """Given as many watches as the config function has instances, held on the real gateway, other
    requests (another component read, a config change) are answered while they wait, and the change
    releases every watch with the new version."""
    api.post("/v1/components", spec("web"))
    api.call("PUT", "/v1/components/web/config", {"values": {"n": 1}})
    server = GatewayServer(LocalGateway(cloud.routes, pool), "127.0.0.1", 0)
    server.start()
    try:
        watchers = pool.max_instances
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

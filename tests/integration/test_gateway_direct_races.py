"""The direct read path under racing requests: config reads over real HTTP while the config
changes and the reading key is revoked.

Every answer must be whole and its own (its ETag names the version its body holds, its request id
is its own and unique), and no read that starts after the revocation returns may succeed.
"""

from __future__ import annotations

import http.client
import json
import threading
import time

from pilothouse.embedded.functions import FunctionPool
from pilothouse.embedded.gateway import GatewayServer, LocalGateway
from tests.support.specs import spec

SCHEMA = {"type": "object", "properties": {"port": {"type": "integer", "default": 80}}}
READERS = 8
VERSIONS = 15


def test_racing_reads_see_whole_answers_and_the_revocation(cloud, services, admin_key, monkeypatch):
    """Given readers hammering GET /v1/components/web/config with a viewer's key through the
    gateway's direct path, when the config changes VERSIONS times and the key is then revoked,
    then each 200 holds the version its ETag names with that version's values, request ids never
    repeat, and every read begun after the revocation returned is a 401 problem."""
    monkeypatch.setenv("PILOTHOUSE_RESPONSE_VALIDATION", "false")
    from pilothouse.services import components, config
    from pilothouse.services.keys import create_key, revoke_key

    components.register(services, components.parse_spec(spec("web", config_schema=SCHEMA)), actor="t")
    secret, record = create_key(services, name="reader", role="viewer", created_by="t")
    served: list[int] = []
    from pilothouse.runtime import http_direct

    real = http_direct.DirectReads.serve

    def spy(self, request):
        result = real(self, request)
        if result is not None:
            served.append(result["statusCode"])
        return result

    monkeypatch.setattr(http_direct.DirectReads, "serve", spy)
    server = GatewayServer(LocalGateway(cloud.routes, FunctionPool(cloud.functions)), "127.0.0.1", 0)
    server.start()
    revoked_at = [float("inf")]
    stop = threading.Event()
    answers: list[tuple[float, int, dict[str, str], bytes]] = []
    lock = threading.Lock()
    failures: list[BaseException] = []
    reading = threading.Semaphore(0)  # one release per reader's first answer

    def reader() -> None:
        try:
            port = int(server.url.rsplit(":", 1)[1])
            auth = {"Authorization": f"Bearer {secret}"}
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            mine = []
            while not stop.is_set():
                started = time.monotonic()
                conn.request("GET", "/v1/components/web/config", headers=auth)
                resp = conn.getresponse()
                mine.append((started, resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()))
                if len(mine) == 1:
                    reading.release()
            conn.close()
            with lock:
                answers.extend(mine)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(READERS)]
    try:
        for t in threads:
            t.start()
        for _ in threads:  # every reader is reading before anything changes
            assert reading.acquire(timeout=30)
        for i in range(1, VERSIONS + 1):
            config.set_config(services, "web", values={"port": 1000 + i}, message=f"v{i}", actor="t")
            time.sleep(0.02)
        revoke_key(services, record["id"])
        revoked_at[0] = time.monotonic()
        time.sleep(0.3)
        stop.set()
        for t in threads:
            t.join(30)
    finally:
        stop.set()
        server.stop()
    assert not failures, failures
    ok = [a for a in answers if a[1] == 200]
    refused = [a for a in answers if a[1] == 401]
    assert ok and refused and len(ok) + len(refused) == len(answers), {a[1] for a in answers}
    assert len({json.loads(a[3])["version"] for a in ok}) >= 2  # the reads raced the changes
    for _, _, headers, body in ok:
        data = json.loads(body)
        version = data["version"]
        assert headers["etag"].startswith(f'"{version}-')
        assert data["config"]["port"] == (1000 + version if version else 80)
    for _, _, headers, body in refused:
        problem = json.loads(body)
        assert headers["content-type"] == "application/problem+json"
        assert problem["request_id"] == headers["x-request-id"]
        assert secret not in body.decode()
    assert all(a[1] == 401 for a in answers if a[0] > revoked_at[0])
    ids = [a[2]["x-request-id"] for a in answers]
    assert len(set(ids)) == len(ids)
    assert 200 in served and 401 in served  # the direct path answered both

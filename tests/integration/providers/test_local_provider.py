"""The local provider with real processes: the example services on 127.0.0.1, free ports.

Every replica started here carries a marker in its environment; a finalizer SIGKILLs whatever
still carries it, so nothing outlives a test even when it fails.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.processes import kill_marked, marked_pids

from pilothouse.providers.base import HealthCheck, Placement, ProviderError, Release
from pilothouse.providers.local import LocalProvider
from pilothouse.providers.local.identity import pid_alive
from pilothouse.providers.local.process import free_port

pytestmark = pytest.mark.slow  # real processes and servers

REPO = Path(__file__).resolve().parents[3]
SHARED = REPO / "shared"


@pytest.fixture
def mark() -> Iterator[str]:
    """A marker put in each replica's env; whatever still carries it at the end is killed."""
    value = uuid.uuid4().hex
    yield value
    kill_marked("PH_TEST_MARK", value)


@pytest.fixture
def provider(tmp_path: Path, mark: str) -> Iterator[LocalProvider]:
    p = LocalProvider(tmp_path / "data", poll_interval=0.05)
    yield p
    p.close()


def release(
    example: str,
    version: str,
    mark: str,
    *,
    replicas: int = 1,
    timeout: float = 10.0,
    config: dict[str, Any] | None = None,
    **target: Any,
) -> Release:
    spec = yaml.safe_load((REPO / "examples" / example / "component.yaml").read_text())
    tgt = dict(spec["target"])
    tgt["cwd"] = str(REPO)
    tgt["env"] = {**(tgt.get("env") or {}), "PH_TEST_MARK": mark}
    tgt["grace_seconds"] = 2
    tgt.update(target)
    return Release(
        component=spec["name"],
        version=version,
        target=tgt,
        config=config if config is not None else {"greeting_style": "plain"},
        health=HealthCheck(path=spec["health_check"]["path"], timeout_seconds=timeout),
        replicas=replicas,
    )


def get(url: str, path: str = "/") -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url + path, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def pids(placement: Placement) -> set[int]:
    return {r["pid"] for r in placement.details["replicas"]}


def port_closed(url: str) -> bool:
    port = int(url.rsplit(":", 1)[1])
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


def wait_dead(pid_set: set[int], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(pid_alive(p) for p in pid_set):
            return True
        time.sleep(0.05)
    return False


def test_deploy_one_replica_serves_through_the_stable_url(provider: LocalProvider, mark: str) -> None:
    """Given the greeter example at 1.0.0
    When it is deployed with one replica
    Then its URL answers with version 1.0.0, the replica's pid and the config it was given,
    and the placement records what restore needs."""
    placement = provider.deploy(release("greeter", "1.0.0", mark, config={"a": 1}))

    status, body = get(placement.url)

    assert status == 200
    assert body["name"] == "greeter" and body["version"] == "1.0.0"
    assert body["config"] == {"a": 1}
    assert body["message"] == "hello, world"
    assert placement.replicas == 1 and placement.version == "1.0.0"
    (rep,) = placement.details["replicas"]
    assert body["pid"] == rep["pid"]
    assert {"pid", "port", "version", "log", "started_at", "identity"} <= rep.keys()
    assert placement.url == f"http://127.0.0.1:{placement.details['stable_port']}"
    assert Path(rep["log"]).exists()


def test_scale_spreads_requests_and_shrinks(provider: LocalProvider, mark: str) -> None:
    """Given a deployed greeter
    When it is scaled to 3, then back to 1
    Then requests spread over 3 pids behind the same URL, and the 2 removed processes end."""
    rel = release("greeter", "1.0.0", mark)
    placement = provider.deploy(rel)

    bigger = provider.scale(placement, rel, 3)
    seen = {get(bigger.url)[1]["pid"] for _ in range(9)}

    assert bigger.url == placement.url and bigger.replicas == 3
    assert seen == pids(bigger)

    smaller = provider.scale(bigger, rel, 1)
    assert smaller.replicas == 1 and smaller.url == placement.url
    assert {get(smaller.url)[1]["pid"] for _ in range(4)} == pids(smaller)
    assert wait_dead(pids(bigger) - pids(smaller))


def replace_all(provider: LocalProvider, placement: Placement, rel: Release) -> Placement:
    """The all-at-once strategy's provider calls: start ``rel`` beside what serves (with as many
    replicas), wait until it is healthy, then make it the only revision."""
    prepared = provider.prepare(placement, dataclasses.replace(rel, replicas=placement.replicas))
    return provider.finalize(prepared, prepared.details["candidate"])


def test_update_switches_every_answer_to_the_new_version(provider: LocalProvider, mark: str) -> None:
    """Given the greeter at 1.0.0 with 2 replicas
    When it is updated to 2.0.0
    Then every answer on the same URL says 2.0.0 from 2 new processes and the old ones end."""
    placement = provider.deploy(release("greeter", "1.0.0", mark, replicas=2))

    updated = replace_all(provider, placement, release("greeter", "2.0.0", mark))
    answers = [get(updated.url)[1] for _ in range(6)]

    assert updated.url == placement.url
    assert updated.version == "2.0.0" and updated.replicas == 2
    assert {a["version"] for a in answers} == {"2.0.0"}
    assert {a["pid"] for a in answers} == pids(updated)
    assert not pids(updated) & pids(placement)
    assert wait_dead(pids(placement))


def test_update_to_a_crashing_version_keeps_the_old_one(provider: LocalProvider, mark: str) -> None:
    """Given the greeter at 1.0.0
    When it is updated to a version that exits at once
    Then ProviderError carries the reason and the crash's output, its placement is the old one,
    and the URL still answers 1.0.0."""
    placement = provider.deploy(release("greeter", "1.0.0", mark))

    with pytest.raises(ProviderError) as caught:
        replace_all(provider, placement, release("greeter", "3.0.0-broken", mark))

    err = caught.value
    assert "exited with code 3" in err.reason
    assert any("crashing on purpose" in line for line in err.logs)
    assert err.placement is not None and err.placement.version == "1.0.0"
    assert pids(err.placement) == pids(placement)
    assert get(placement.url)[1]["version"] == "1.0.0"
    assert marked_pids("PH_TEST_MARK", mark) == sorted(pids(placement))


def test_update_to_a_never_healthy_version_times_out(provider: LocalProvider, mark: str) -> None:
    """Given the counter at 1.0.0
    When it is updated to a version whose /health answers 503, with a 1 s health timeout
    Then ProviderError says it was not healthy in time, the new process is gone and 1.0.0 serves."""
    placement = provider.deploy(release("counter", "1.0.0", mark))

    with pytest.raises(ProviderError) as caught:
        replace_all(provider, placement, release("counter", "2.1.0-unhealthy", mark, timeout=1.0))

    assert "not healthy within 1s" in caught.value.reason
    assert "HTTP 503" in caught.value.reason
    assert caught.value.logs
    assert get(placement.url)[1]["version"] == "1.0.0"
    assert marked_pids("PH_TEST_MARK", mark) == sorted(pids(placement))


def test_failed_deploy_leaves_no_process(provider: LocalProvider, mark: str) -> None:
    """Given a release whose command exits at once, and one whose executable does not exist
    When each is deployed with 2 replicas
    Then each raises ProviderError and no replica process is left."""
    with pytest.raises(ProviderError) as caught:
        provider.deploy(release("greeter", "3.0.0-broken", mark, replicas=2))
    assert any("crashing on purpose" in line for line in caught.value.logs)

    with pytest.raises(ProviderError, match="cannot start"):
        provider.deploy(release("greeter", "1.0.0", mark, command=["/nonexistent/binary", "{port}"]))

    assert marked_pids("PH_TEST_MARK", mark) == []


def test_stop_closes_the_port_and_ends_the_processes(provider: LocalProvider, mark: str) -> None:
    """Given a greeter with 2 replicas
    When it is stopped
    Then the URL's port refuses connections and the processes are gone; stopping again is harmless."""
    placement = provider.deploy(release("greeter", "1.0.0", mark, replicas=2))

    provider.stop(placement)

    assert port_closed(placement.url)
    assert wait_dead(pids(placement), timeout=1.0)
    provider.stop(placement)


def test_stable_port_and_relative_command_in_cwd(provider: LocalProvider, mark: str) -> None:
    """Given a target with a fixed port and a command relative to its cwd
    When it is deployed
    Then the URL uses that port and the replica runs."""
    port = free_port()
    rel = release(
        "counter",
        "2.0.0",
        mark,
        port=port,
        cwd=str(REPO / "examples"),
        command=["{python}", "counter/app.py", "--port", "{port}"],
        config={"step": 5},
    )

    placement = provider.deploy(rel)

    assert placement.url == f"http://127.0.0.1:{port}"
    body = get(placement.url)[1]
    assert (body["version"], body["step"]) == ("2.0.0", 5)


def test_router_stats_count_requests_and_errors(provider: LocalProvider, mark: str) -> None:
    """Given a deployed counter
    When 5 requests succeed and 2 answer 500 through its URL
    Then the router's statistics for its revision say 7 requests and 2 errors."""
    placement = provider.deploy(release("counter", "1.0.0", mark))
    router = provider.router(placement)
    revision = placement.details["revision"]

    for _ in range(5):
        get(placement.url)
    for _ in range(2):
        assert get(placement.url, "/fail")[0] == 500

    stats = router.stats(revision)
    assert (stats["requests"], stats["errors"], stats["samples"]) == (7, 2, 7)
    assert stats["p99_ms"] >= stats["p50_ms"] > 0


def test_canary_weights_between_two_deployments_revisions(provider: LocalProvider, mark: str) -> None:
    """Given two deployments (1.0.0 and 2.0.0) of the greeter
    When the first one's router sends revision A weight 3 and the other's replica weight 1
    Then a quarter of its answers come from 2.0.0."""
    a = provider.deploy(release("greeter", "1.0.0", mark))
    b = provider.deploy(release("greeter", "2.0.0", mark))
    router = provider.router(a)
    a_urls = [r["url"] for r in a.details["replicas"]]
    b_urls = [r["url"] for r in b.details["replicas"]]

    router.set_backends({"A": (a_urls, 3), "B": (b_urls, 1)})
    versions = [get(a.url)[1]["version"] for _ in range(40)]

    assert versions.count("2.0.0") == 10
    assert router.stats("B")["requests"] == 10


def test_parallel_deploys_from_several_threads(provider: LocalProvider, mark: str) -> None:
    """Given three components
    When they are deployed at the same time from three threads
    Then each gets its own URL and serves."""
    results: dict[int, Placement] = {}

    def work(i: int) -> None:
        results[i] = provider.deploy(release("counter" if i % 2 else "greeter", "1.0.0", mark, replicas=2))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    assert len(results) == 3
    assert len({p.url for p in results.values()}) == 3
    assert all(get(p.url)[0] == 200 for p in results.values())
    assert len(marked_pids("PH_TEST_MARK", mark)) == 6


def test_close_stops_everything(tmp_path: Path, mark: str) -> None:
    """Given a provider running two components
    When it is closed
    Then every replica has ended, both ports are closed and further calls fail."""
    p = LocalProvider(tmp_path / "data")
    a = p.deploy(release("greeter", "1.0.0", mark))
    b = p.deploy(release("counter", "1.0.0", mark, replicas=2))

    p.close()

    assert marked_pids("PH_TEST_MARK", mark) == []
    assert port_closed(a.url) and port_closed(b.url)
    with pytest.raises(ProviderError):
        p.deploy(release("greeter", "1.0.0", mark))


_CONTROL_PLANE = """
import json, sys, time
from pathlib import Path
from pilothouse.providers.base import Release, HealthCheck
from pilothouse.providers.local import LocalProvider
rel = Release(**json.loads(sys.argv[2]))
rel = Release(component=rel.component, version=rel.version, target=rel.target, config=rel.config,
              health=HealthCheck(**rel.health), replicas=rel.replicas)
placement = LocalProvider(Path(sys.argv[1])).deploy(rel)
print(json.dumps(placement.to_dict()), flush=True)
time.sleep(60)
"""


def test_restore_adopts_live_replicas_after_a_control_plane_crash(tmp_path: Path, mark: str) -> None:
    """Given a control-plane process that deployed the greeter with 2 replicas and was then killed,
    and one of the 2 replicas that died too
    When a fresh provider restores the recorded placement
    Then it adopts the live replica (same pid), starts a replacement for the dead one, and serves
    again on the same URL; closing it stops them all."""
    rel = release("greeter", "1.0.0", mark, replicas=2)
    payload = {
        "component": rel.component,
        "version": rel.version,
        "target": rel.target,
        "config": rel.config,
        "health": rel.health.__dict__,
        "replicas": rel.replicas,
    }
    env = {**os.environ, "PYTHONPATH": str(SHARED)}
    cp = subprocess.Popen(
        [sys.executable, "-c", _CONTROL_PLANE, str(tmp_path / "data"), json.dumps(payload)],
        stdout=subprocess.PIPE,
        env=env,
        cwd=str(REPO),
    )
    try:
        line = cp.stdout.readline() if cp.stdout else b""
    finally:
        cp.kill()
        cp.wait()
    placement = Placement.from_dict(json.loads(line))
    survivor, victim = placement.details["replicas"]
    os.killpg(victim["pid"], signal.SIGKILL)
    assert wait_dead({victim["pid"]})
    assert port_closed(placement.url)

    fresh = LocalProvider(tmp_path / "data", poll_interval=0.05)
    try:
        restored = fresh.restore(placement, rel)

        assert restored.url == placement.url and restored.replicas == 2
        assert survivor["pid"] in pids(restored)
        assert victim["pid"] not in pids(restored)
        assert {get(restored.url)[1]["pid"] for _ in range(6)} == pids(restored)
        assert fresh.restore(restored, rel) == restored  # already managed: no change
    finally:
        fresh.close()
    assert wait_dead({survivor["pid"]}, timeout=1.0)
    assert marked_pids("PH_TEST_MARK", mark) == []


def test_restore_does_not_adopt_a_recycled_pid(provider: LocalProvider, mark: str, tmp_path: Path) -> None:
    """Given a placement whose recorded replica's pid now belongs to another process
    When it is restored
    Then that process is neither adopted nor signalled, and a new replica serves."""
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        rel = release("greeter", "1.0.0", mark)
        port = free_port()
        placement = Placement(
            url=f"http://127.0.0.1:{port}",
            version="1.0.0",
            replicas=1,
            details={
                "stable_port": port,
                "revision": "1.0.0+old",
                "replicas": [
                    {
                        "pid": other.pid,
                        "port": free_port(),
                        "version": "1.0.0",
                        "identity": "bogus",
                        "log": str(tmp_path / "gone.log"),
                        "started_at": 0,
                    }
                ],
            },
        )

        restored = provider.restore(placement, rel)

        assert other.pid not in pids(restored)
        assert other.poll() is None
        assert get(restored.url)[1]["version"] == "1.0.0"
    finally:
        other.kill()
        other.wait()


def test_operating_on_a_placement_unknown_to_this_provider_restores_it(tmp_path: Path, mark: str) -> None:
    """Given a placement made by one provider object that still runs
    When a second provider object (same machine) updates it after the first closed its router only
    Then the second adopts the replicas and performs the update on the same URL."""
    first = LocalProvider(tmp_path / "a", poll_interval=0.05)
    second = LocalProvider(tmp_path / "b", poll_interval=0.05)
    try:
        placement = first.deploy(release("greeter", "1.0.0", mark))
        first.router(placement).close()  # as if the first control plane died (its replicas live on)

        updated = replace_all(second, placement, release("greeter", "2.0.0", mark))

        assert updated.url == placement.url
        assert get(updated.url)[1]["version"] == "2.0.0"
    finally:
        second.close()
        first.close()


def test_no_failed_request_while_updating_and_scaling_under_load(provider: LocalProvider, mark: str) -> None:
    """Given the greeter with 2 replicas and 6 clients sending requests on kept-alive connections
    When it is updated to 2.0.0, scaled to 3 and back to 1 meanwhile
    Then every request gets a 200 (removed replicas are drained before they are stopped)."""
    placement = provider.deploy(release("greeter", "1.0.0", mark, replicas=2))
    port = placement.details["stable_port"]
    done = threading.Event()
    statuses: list[int | str] = []

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while not done.is_set():
            try:
                conn.request("GET", "/")
                resp = conn.getresponse()
                resp.read()
                statuses.append(resp.status)
            except (OSError, http.client.HTTPException) as exc:
                statuses.append(type(exc).__name__)
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.close()

    clients = [threading.Thread(target=client) for _ in range(6)]
    for t in clients:
        t.start()
    try:
        rel2 = release("greeter", "2.0.0", mark)
        current = replace_all(provider, placement, rel2)
        current = provider.scale(current, rel2, 3)
        current = provider.scale(current, rel2, 1)
        time.sleep(0.2)
    finally:
        done.set()
        for t in clients:
            t.join(10)

    assert len(statuses) > 50
    assert set(statuses) == {200}
    assert get(current.url)[1]["version"] == "2.0.0"


def test_close_during_a_deploy_cancels_it(tmp_path: Path, mark: str) -> None:
    """Given a deploy waiting for a version that never gets healthy (20 s timeout), in a thread
    When the provider is closed meanwhile
    Then the deploy fails at once with ProviderError and no replica is left."""
    p = LocalProvider(tmp_path / "data", poll_interval=0.05)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            p.deploy(release("counter", "2.1.0-unhealthy", mark, timeout=20.0))
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=work)
    t.start()
    deadline = time.monotonic() + 5
    while not marked_pids("PH_TEST_MARK", mark) and time.monotonic() < deadline:
        time.sleep(0.05)
    started = time.monotonic()
    p.close()
    t.join(10)

    assert time.monotonic() - started < 5
    assert len(errors) == 1 and isinstance(errors[0], ProviderError)
    assert marked_pids("PH_TEST_MARK", mark) == []

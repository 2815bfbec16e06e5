"""The local provider's revisions with real processes: rolling by replica counts, health of a
revision losing a replica, latency metrics, rollback to a scaled-down stable, adoption and restore
of a deployment caught mid-way by a control-plane crash.

Every replica carries a marker in its environment; whatever still carries it at the end is killed.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.processes import kill_marked, marked_pids

from pilothouse.providers.base import HealthCheck, Placement, ProviderError, Release
from pilothouse.providers.local import LocalProvider
from pilothouse.providers.local.identity import pid_alive

pytestmark = pytest.mark.slow  # real processes and servers

REPO = Path(__file__).resolve().parents[3]
SHARED = REPO / "shared"


@pytest.fixture
def mark() -> Iterator[str]:
    value = uuid.uuid4().hex
    yield value
    kill_marked("PH_TEST_MARK", value)


@pytest.fixture
def provider(tmp_path: Path, mark: str) -> Iterator[LocalProvider]:
    p = LocalProvider(tmp_path / "data", poll_interval=0.05, drain_seconds=3.0)
    yield p
    p.close()


def counter(version: str, mark: str, *, replicas: int = 1, timeout: float = 10.0) -> Release:
    spec = yaml.safe_load((REPO / "examples" / "counter" / "component.yaml").read_text())
    target = dict(spec["target"])
    target.update(cwd=str(REPO), grace_seconds=2, env={"PH_TEST_MARK": mark})
    return Release(
        component="counter",
        version=version,
        target=target,
        config={"step": 2},
        health=HealthCheck(path="/health", timeout_seconds=timeout),
        replicas=replicas,
    )


def get(placement: Placement, path: str = "/") -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", placement.details["stable_port"], timeout=10)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"{}")
    finally:
        conn.close()


def split(placement: Placement, n: int) -> Counter[str]:
    return Counter(get(placement)[1]["version"] for _ in range(n))


def weights(placement: Placement) -> dict[str, int]:
    return {rid: info["weight"] for rid, info in placement.details["revisions"].items()}


def pids_of(placement: Placement, revision: str) -> set[int]:
    return {r["pid"] for r in placement.details["replicas"] if r["revision"] == revision}


def wait_dead(pids: set[int], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while any(pid_alive(p) for p in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_rolling_traffic_follows_replica_counts_without_a_failed_request(
    provider: LocalProvider, mark: str
) -> None:
    """Given 1.0.0 with 2 replicas and light load, and 2.0.0 prepared with 0 replicas
    When replicas move one by one (candidate 1, stable 1, candidate 2, stable 0) and it is finalized
    Then the weights follow the replica counts (67/33, 50/50, 33/67, 0/100), the answers split so,
    and no request fails."""
    placement = provider.deploy(counter("1.0.0", mark, replicas=2))
    port = placement.details["stable_port"]
    statuses: list[int | str] = []
    done = threading.Event()

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
            time.sleep(0.003)
        conn.close()

    clients = [threading.Thread(target=client) for _ in range(3)]
    for t in clients:
        t.start()
    try:
        p = provider.prepare(placement, counter("2.0.0", mark, replicas=0))
        stable, cand = p.details["stable"], p.details["candidate"]
        assert weights(p) == {stable: 100, cand: 0}

        p = provider.set_replicas(p, cand, 1)
        assert weights(p) == {stable: 67, cand: 33}
        p = provider.set_replicas(p, stable, 1)
        assert weights(p) == {stable: 50, cand: 50}
        assert p.details["weights_source"] == "replicas"
        p = provider.set_replicas(p, cand, 2)
        p = provider.set_replicas(p, stable, 0)
        assert weights(p) == {stable: 0, cand: 100}
        final = provider.finalize(p, cand)
        time.sleep(0.2)
    finally:
        done.set()
        for t in clients:
            t.join(15)

    assert len(statuses) > 30
    assert set(statuses) == {200}
    assert final.replicas == 2 and split(final, 6) == {"2.0.0": 6}
    assert wait_dead(pids_of(placement, stable))


def test_after_a_shift_replica_changes_leave_the_weights(provider: LocalProvider, mark: str) -> None:
    """Given a candidate shifted to 10 %
    When the candidate is scaled to 3 replicas
    Then the weights stay 90/10 and answers split 9 to 1."""
    p = provider.prepare(provider.deploy(counter("1.0.0", mark)), counter("2.0.0", mark))
    stable, cand = p.details["stable"], p.details["candidate"]
    p = provider.shift(p, {stable: 90, cand: 10})

    p = provider.set_replicas(p, cand, 3)

    assert weights(p) == {stable: 90, cand: 10}
    assert split(p, 30) == {"1.0.0": 27, "2.0.0": 3}


def test_shift_and_finalize_refuse_a_revision_without_replicas(provider: LocalProvider, mark: str) -> None:
    """Given a candidate prepared with 0 replicas
    When traffic is shifted to it, or it is finalized
    Then ProviderError, and the stable keeps serving."""
    p = provider.prepare(provider.deploy(counter("1.0.0", mark)), counter("2.0.0", mark, replicas=0))
    stable, cand = p.details["stable"], p.details["candidate"]

    with pytest.raises(ProviderError, match="no replicas"):
        provider.shift(p, {stable: 50, cand: 50})
    with pytest.raises(ProviderError, match="no replicas"):
        provider.finalize(p, cand)
    assert split(p, 4) == {"1.0.0": 4}


def test_check_health_sees_a_dead_replica(provider: LocalProvider, mark: str) -> None:
    """Given a candidate with 2 replicas
    When one of its processes is killed
    Then its health says 1 of 2 failing (with which one), and the revision is unhealthy."""
    p = provider.prepare(provider.deploy(counter("1.0.0", mark)), counter("2.0.0", mark, replicas=2))
    cand = p.details["candidate"]
    victim = sorted(pids_of(p, cand))[0]

    os.killpg(victim, signal.SIGKILL)
    assert wait_dead({victim})
    health = provider.check_health(p, cand)

    assert (health.healthy, health.checked, health.failing) == (False, 2, 1)
    assert str(victim) in health.detail


def test_prepare_of_a_never_healthy_version_times_out_and_cleans_up(
    provider: LocalProvider, mark: str
) -> None:
    """Given 1.0.0 deployed
    When a version whose /health answers 503 is prepared with a 1 s timeout
    Then ProviderError says so with its logs, its process is gone and the stable alone serves."""
    placement = provider.deploy(counter("1.0.0", mark))

    with pytest.raises(ProviderError) as caught:
        provider.prepare(placement, counter("2.1.0-unhealthy", mark, timeout=1.0))

    assert "HTTP 503" in caught.value.reason and caught.value.logs
    assert sorted(marked_pids("PH_TEST_MARK", mark)) == sorted(
        pids_of(placement, placement.details["stable"])
    )
    assert caught.value.placement is not None
    assert weights(caught.value.placement) == {placement.details["stable"]: 100}


def test_metrics_p99_reflects_slow_answers(provider: LocalProvider, mark: str) -> None:
    """Given a candidate at 50 % and 20 requests to /sleep?ms=120
    When the candidate's metrics are read over 60 s
    Then it served about half of them and its p99 is at least 120 ms."""
    p = provider.prepare(provider.deploy(counter("1.0.0", mark)), counter("2.0.0", mark))
    stable, cand = p.details["stable"], p.details["candidate"]
    p = provider.shift(p, {stable: 50, cand: 50})
    for _ in range(20):
        assert get(p, "/sleep?ms=120")[0] == 200

    m = provider.read_metrics(p, cand, 60)

    assert m.requests == 10 and m.errors == 0 and m.error_rate == 0.0
    assert m.p99_ms is not None and m.p99_ms >= 120
    with pytest.raises(ProviderError):
        provider.read_metrics(p, "nope", 60)


def test_prepare_without_a_placement_and_a_second_prepare_replaces_the_candidate(
    provider: LocalProvider, mark: str
) -> None:
    """Given no deployment
    When 1.0.0 is prepared with no current placement, finalized, then 2.0.0 prepared twice
    Then the first candidate takes 100 % alone, and the second 2.0.0 candidate replaces the first
    (whose process ends) at 0 %."""
    first = provider.prepare(None, counter("1.0.0", mark))
    assert (first.details["stable"], weights(first)) == (None, {first.details["candidate"]: 100})
    assert split(first, 3) == {"1.0.0": 3}
    base = provider.finalize(first, first.details["candidate"])

    a = provider.prepare(base, counter("2.0.0", mark))
    b = provider.prepare(a, counter("2.0.0", mark))

    assert b.details["candidate"] != a.details["candidate"]
    assert set(b.details["revisions"]) == {base.details["stable"], b.details["candidate"]}
    assert wait_dead(pids_of(a, a.details["candidate"]))


def test_rollback_to_a_stable_scaled_to_zero_restarts_it(provider: LocalProvider, mark: str) -> None:
    """Given a rolling deployment that already scaled the stable to 0 (candidate serves)
    When it is rolled back to the stable
    Then the stable's replicas (its last count, 2) start again and serve 1.0.0 alone."""
    p = provider.prepare(provider.deploy(counter("1.0.0", mark, replicas=2)), counter("2.0.0", mark))
    stable, cand = p.details["stable"], p.details["candidate"]
    p = provider.set_replicas(p, stable, 0)
    assert split(p, 3) == {"2.0.0": 3}

    back = provider.rollback(p, stable)

    assert back.details["revisions"] == {
        stable: {"version": "1.0.0", "replicas": 2, "weight": 100, "health_path": "/health"}
    }
    assert split(back, 4) == {"1.0.0": 4}
    assert wait_dead(pids_of(p, cand))


def test_release_less_operations_adopt_an_unknown_placement(tmp_path: Path, mark: str) -> None:
    """Given a deployment mid-way (candidate at 30 %) whose provider object lost its router
    When a second provider object shifts the recorded placement
    Then it adopts both revisions' live replicas (same pids) and applies the weights; starting new
    replicas of them needs restore() with a release first."""
    first = LocalProvider(tmp_path / "a", poll_interval=0.05)
    second = LocalProvider(tmp_path / "b", poll_interval=0.05)
    try:
        p = first.prepare(first.deploy(counter("1.0.0", mark)), counter("2.0.0", mark))
        stable, cand = p.details["stable"], p.details["candidate"]
        p = first.shift(p, {stable: 70, cand: 30})
        first.router(p).close()

        shifted = second.shift(p, {stable: 20, cand: 80})

        assert {r["pid"] for r in shifted.details["replicas"]} == {r["pid"] for r in p.details["replicas"]}
        assert split(shifted, 10) == {"1.0.0": 2, "2.0.0": 8}
        with pytest.raises(ProviderError, match="restore"):
            second.set_replicas(shifted, cand, 2)
    finally:
        second.close()
        first.close()


_CONTROL_PLANE = """
import json, sys, time
from pathlib import Path
from pilothouse.providers.base import Release, HealthCheck
from pilothouse.providers.local import LocalProvider
def rel(data):
    data = json.loads(data)
    return Release(**{**data, "health": HealthCheck(**data["health"])})
p = LocalProvider(Path(sys.argv[1]))
placement = p.prepare(p.deploy(rel(sys.argv[2])), rel(sys.argv[3]))
placement = p.shift(placement, {placement.details["stable"]: 75, placement.details["candidate"]: 25})
print(json.dumps(placement.to_dict()), flush=True)
time.sleep(60)
"""


def _payload(r: Release) -> str:
    return json.dumps(
        {
            "component": r.component,
            "version": r.version,
            "target": r.target,
            "config": r.config,
            "health": r.health.__dict__,
            "replicas": r.replicas,
        }
    )


def test_restore_after_a_crash_mid_deployment_brings_back_both_revisions(tmp_path: Path, mark: str) -> None:
    """Given a control-plane process that deployed 1.0.0 (2 replicas), prepared 2.0.0, shifted 25 %
    and was killed, and one replica of the stable that died too
    When a fresh provider restores the recorded placement
    Then both revisions come back with their weights (the stable's dead replica replaced, the
    others adopted), answers split 3 to 1, and it can roll back."""
    v1, v2 = counter("1.0.0", mark, replicas=2), counter("2.0.0", mark)
    cp = subprocess.Popen(
        [sys.executable, "-c", _CONTROL_PLANE, str(tmp_path / "data"), _payload(v1), _payload(v2)],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(SHARED)},
        cwd=str(REPO),
    )
    try:
        line = cp.stdout.readline() if cp.stdout else b""
    finally:
        cp.kill()
        cp.wait()
    placement = Placement.from_dict(json.loads(line))
    stable, cand = placement.details["stable"], placement.details["candidate"]
    victim = sorted(pids_of(placement, stable))[0]
    os.killpg(victim, signal.SIGKILL)
    assert wait_dead({victim})

    fresh = LocalProvider(tmp_path / "data", poll_interval=0.05)
    try:
        restored = fresh.restore(placement, v1)

        assert weights(restored) == {stable: 75, cand: 25}
        assert restored.details["revisions"][stable]["replicas"] == 2
        assert victim not in pids_of(restored, stable)
        assert pids_of(placement, stable) - {victim} <= pids_of(restored, stable)
        assert pids_of(restored, cand) == pids_of(placement, cand)
        assert split(restored, 40) == {"1.0.0": 30, "2.0.0": 10}

        back = fresh.rollback(restored, stable)
        assert split(back, 4) == {"1.0.0": 4}
        assert wait_dead(pids_of(placement, cand))
    finally:
        fresh.close()
    assert marked_pids("PH_TEST_MARK", mark) == []

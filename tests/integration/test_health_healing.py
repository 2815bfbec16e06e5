"""Self-healing on real local processes (issue 11 §2): a replica SIGKILLed or hung is replaced by
the next health check and the component reports Healthy again; replicas a killed control plane
started but never recorded are reaped by the sweep.

Real greeter processes on 127.0.0.1; each carries a test marker so a finalizer kills what a
failing test leaves.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pilothouse.domain.components import ComponentSpec
from pilothouse.providers.local import LocalProvider
from pilothouse.services import components, health, health_sweep
from pilothouse.services.jobs import release_for
from pilothouse.settings import get_settings
from pilothouse.wiring import Services
from tests.support.processes import kill_marked, marked_pids
from tests.support.specs import spec

pytestmark = pytest.mark.slow  # real processes

REPO = Path(__file__).resolve().parents[2]
MARK_VAR = "PH_HEALTH_MARK"


@pytest.fixture
def mark() -> Iterator[str]:
    value = uuid.uuid4().hex
    yield value
    kill_marked(MARK_VAR, value)


@pytest.fixture
def local(env) -> Iterator[LocalProvider]:
    provider = LocalProvider(Path(env) / "data" / "processes", poll_interval=0.05)
    provider.owns_data_dir = True  # as `pilothouse dev` sets it once it holds the data dir's lock
    yield provider
    provider.close()


@pytest.fixture
def services(env, local) -> Services:
    return Services(get_settings(), providers={"local": local})


def running(services: Services, mark: str, name: str = "greeter", replicas: int = 2) -> dict:
    """Register and deploy ``name`` (the greeter example) with ``replicas`` real replicas, recorded
    Running as a finished deployment records it."""
    target = {
        "command": ["{python}", "examples/greeter/app.py", "--port", "{port}"],
        "cwd": str(REPO),
        "env": {MARK_VAR: mark},
        "grace_seconds": 2,
    }
    s = spec(name, target=target, health_check={"interval_seconds": 0.2, "timeout_seconds": 1})
    components.register(services, ComponentSpec.model_validate(s), actor="t")
    repo = components.repo(services)
    record = repo.require(name)
    placement = services.provider("local").deploy(
        release_for(record.data, version="1.0.0", replicas=replicas)
    )
    data = {
        **record.data,
        "state": "Running",
        "version": "1.0.0",
        "replicas": replicas,
        "placement": placement.to_dict(),
        "url": placement.url,
    }
    repo.update(record, data, {"type": "deploy.succeeded", "from": "Registered", "to": "Running"})
    return components.view(repo.require(name))


def serves(url: str) -> bool:
    with urllib.request.urlopen(url + "/", timeout=5) as resp:  # loopback: the component's router
        return resp.status == 200


def test_a_sigkilled_replica_is_replaced_and_the_component_is_healthy_again(services, mark):
    """Given greeter Running with two real replicas, checked Healthy
    When one replica is SIGKILLed and the next health check runs
    Then that replica is replaced by a new process (replica.replaced, reason exited), the component
    is still Running with two replicas, Healthy, and its stable URL serves."""
    c = running(services, mark)
    assert health.check(services, "greeter") == "Healthy"
    victim = c["placement"]["details"]["replicas"][0]
    os.kill(victim["pid"], signal.SIGKILL)
    killed_at = time.monotonic()
    time.sleep(0.3)  # the next sweep comes later: the kernel has delivered the signal by then
    outcome = health.check(services, "greeter")
    replaced_in = time.monotonic() - killed_at
    assert outcome == "Healthy+replaced 1", outcome
    c = components.view(components.get(services, "greeter"))
    assert c["state"] == "Running" and c["replicas"] == 2
    assert c["health"]["status"] == "Healthy"
    pids = {r["pid"] for r in c["health"]["replicas"]}
    assert victim["pid"] not in pids and len(pids) == 2
    assert {r["pid"] for r in c["placement"]["details"]["replicas"]} == pids
    (ev,) = [e for e in components.events(services, "greeter")[0] if e["type"] == "replica.replaced"]
    assert ev["reason"] == "exited" and ev["replica"]["pid"] == victim["pid"]
    assert ev["replacement"]["pid"] in pids
    assert serves(c["url"])
    print(f"\nreplacement of a SIGKILLed replica, check included: {replaced_in:.2f} s")


def test_a_hung_replica_is_replaced_once_past_its_unhealthy_threshold(services, mark):
    """Given greeter Running with two replicas, when one is SIGSTOPped (alive but answering
    nothing) and a check with time to confirm runs, then it is probed at the spec's interval until
    its threshold, counted unhealthy and replaced (reason unhealthy); the component ends Healthy."""
    c = running(services, mark)
    health.check(services, "greeter")
    victim = c["placement"]["details"]["replicas"][1]
    os.kill(victim["pid"], signal.SIGSTOP)
    try:
        outcome = health.check(services, "greeter", confirm_until=time.monotonic() + 20)
    finally:
        if marked_pids(MARK_VAR, mark) and victim["pid"] in marked_pids(MARK_VAR, mark):
            os.kill(victim["pid"], signal.SIGKILL)
    assert outcome == "Healthy+replaced 1", outcome
    (ev,) = [e for e in components.events(services, "greeter")[0] if e["type"] == "replica.replaced"]
    assert ev["reason"] == "unhealthy" and "GET /health" in ev["replica"]["last_error"]
    assert victim["pid"] not in marked_pids(MARK_VAR, mark)


_CONTROL_PLANE = """
import json, sys, time
from pathlib import Path
from pilothouse.providers.base import Release, HealthCheck
from pilothouse.providers.local import LocalProvider
provider = LocalProvider(Path(sys.argv[1]))
raw = json.loads(sys.argv[2])
raw["health"] = HealthCheck(**raw["health"])
provider.deploy(Release(**raw))
print("started", flush=True)
time.sleep(60)
"""


def test_replicas_a_killed_control_plane_never_recorded_are_reaped_by_the_sweep(services, local, mark):
    """Given greeter Running (recorded) and a control plane on the same data dir that started two
    replicas of ``ghost`` and was SIGKILLed before recording them
    When the health sweep runs
    Then both ghost replicas are stopped, ghost gets a replica.reaped event per replica, and
    greeter's replicas are untouched."""
    c = running(services, mark, replicas=1)
    components.register(services, ComponentSpec.model_validate(spec("ghost")), actor="t")
    kept = {r["pid"] for r in c["placement"]["details"]["replicas"]}
    rel = release_for(components.repo(services).require("greeter").data, version="1.0.0", replicas=2)
    payload = {
        "component": "ghost",
        "version": "1.0.0",
        "target": rel.target,
        "config": {},
        "health": rel.health.__dict__,
        "replicas": 2,
    }
    env = {**os.environ, "PYTHONPATH": str(REPO / "shared")}
    argv = [sys.executable, "-c", _CONTROL_PLANE, str(local.data_dir), json.dumps(payload)]
    cp = subprocess.Popen(argv, stdout=subprocess.PIPE, env=env, cwd=str(REPO))
    try:
        assert cp.stdout is not None and cp.stdout.readline() == b"started\n"
    finally:
        cp.kill()
        cp.wait()
    assert len(marked_pids(MARK_VAR, mark)) == 3

    assert health_sweep.sweep(services)["reaped"] == 2

    deadline = time.monotonic() + 5
    while set(marked_pids(MARK_VAR, mark)) != kept and time.monotonic() < deadline:
        time.sleep(0.05)
    assert set(marked_pids(MARK_VAR, mark)) == kept
    reaped = [e for e in components.events(services, "ghost")[0] if e["type"] == "replica.reaped"]
    assert len(reaped) == 2 and all(e["replica"]["pid"] not in kept for e in reaped)
    assert health_sweep.sweep(services)["reaped"] == 0  # nothing left to reap
    assert health.check(services, "greeter") == "Healthy"

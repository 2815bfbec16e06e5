"""Deploy request → Running on the real local provider (the greeter example), through the gateway's
converter, the worker threads and the durable workflow engine, measured against its floor in the
same run: spawning the greeter's process and polling its health directly (issue 9, rows 6 and 7).

    .venv/bin/python -m pytest tests/benchmarks/test_bench_deployments.py -m benchmark -s

A further row on the no-op provider shows what the control plane alone costs (queue hand-offs,
engine steps, store writes), with no process to start.
"""

from __future__ import annotations

import http.client
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pilothouse.embedded.worker import Worker
from pilothouse.providers.local.process import free_port
from pilothouse.repositories.components import ComponentRepository
from pilothouse.settings import get_settings
from pilothouse.wiring import Services, register_services
from tests.support.bench import report
from tests.support.fakes import RevisionFake

N = int(os.environ.get("BENCH_DEPLOYS", "7"))
ROOT = Path(__file__).resolve().parents[2]
GREETER = ROOT / "examples" / "greeter" / "app.py"
#: how often the benchmark looks (the anchor at its health, Pilothouse at the component's state)
LOOK_EVERY = 0.002

CANARY = {"type": "canary", "percentage": 10, "interval_seconds": 0}


def _median(samples: list[float]) -> float:
    return statistics.median(samples)


def _row(samples: list[float], anchor: float | None = None) -> str:
    text = f"median {_median(samples) * 1000:.0f} ms, max {max(samples) * 1000:.0f} ms"
    if anchor:
        text += f"  ({_median(samples) / anchor:.2f}x the anchor)"
    return text


def _healthy(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1.0)
    try:
        conn.request("GET", "/health")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def anchor_once(version: str = "1.0.0") -> float:
    """Spawn the greeter and poll its health directly until it answers 200: the floor of a deploy."""
    port = free_port()
    t = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, str(GREETER), "--port", str(port), "--version", version],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        while not _healthy(port):
            assert proc.poll() is None, "the greeter exited"
            time.sleep(LOOK_EVERY)
        return time.perf_counter() - t
    finally:
        proc.terminate()
        proc.wait(10)


def greeter(name: str) -> dict:
    return {
        "name": name,
        "provider": "local",
        "version": "1.0.0",
        "target": {
            "command": ["{python}", "examples/greeter/app.py", "--port", "{port}"],
            "versions": {
                "1.0.0": {"args": ["--version", "1.0.0"]},
                "2.0.0": {"args": ["--version", "2.0.0"]},
            },
            "grace_seconds": 2,
        },
        "health_check": {"path": "/health", "timeout_seconds": 20},
    }


def noop(name: str) -> dict:
    return {
        "name": name,
        "provider": "local",
        "version": "1.0.0",
        "target": {"command": ["{python}", "app.py", "--port", "{port}"]},
    }


def wait_running(services: Services, name: str, timeout: float = 30.0) -> str:
    """Look at the component's stored state every 2 ms: the store's change stamp (~10 us), and the
    record (a read, ~0.1 ms) only when something was written since. A GET through the gateway
    costs ~1 ms of the same GIL the worker needs, and would slow what it measures; so would reading
    the record every 2 ms while the replica starts and nothing changes."""
    components = ComponentRepository(services.store)
    deadline = time.monotonic() + timeout
    seen: object = object()
    while time.monotonic() < deadline:
        stamp = services.store.change_stamp()
        if stamp is None or stamp != seen:
            seen = stamp
            record = components.get(name)
            if record is not None and record.state in ("Running", "Failed"):
                return record.state
        time.sleep(LOOK_EVERY)
    raise AssertionError(f"{name} not done after {timeout}s")


def deploy_and_update(api, services: Services, make_spec, name: str) -> tuple[float, float]:
    """(register + deploy → Running, canary update to 2.0.0 → Running), in seconds."""
    assert api.post("/v1/components", make_spec(name))[0] == 201
    t = time.perf_counter()
    assert api.post(f"/v1/components/{name}/deploy")[0] == 202
    assert wait_running(services, name) == "Running"
    first = time.perf_counter() - t
    t = time.perf_counter()
    assert api.post(f"/v1/components/{name}/update", {"version": "2.0.0", "strategy": CANARY})[0] == 202
    assert wait_running(services, name) == "Running"
    canary = time.perf_counter() - t
    component = api.get(f"/v1/components/{name}")[2]
    assert component["version"] == "2.0.0", component
    return first, canary


@pytest.fixture
def start_worker(cloud, pool):
    workers: list[Worker] = []

    def start(services: Services) -> Worker:
        w = Worker(services.queue, cloud.queue_sources, pool)
        w.start()
        workers.append(w)
        return w

    yield start
    for w in workers:
        w.stop()


def test_deploy_to_running_against_spawn_and_poll(env, api, start_worker, monkeypatch):
    monkeypatch.delenv("PILOTHOUSE_STORE_TRANSACTION_SCOPE", raising=False)  # production's scope
    services = Services(get_settings())
    register_services(services)
    start_worker(services)
    anchor_once()  # warm the page cache for the interpreter and the greeter
    first, canary, anchors = [], [], []
    for i in range(N):
        anchors.append(anchor_once())
        f, c = deploy_and_update(api, services, greeter, f"greeter{i}")
        first.append(f)
        canary.append(c)
        assert api.post(f"/v1/components/greeter{i}/stop")[0] == 202
        wait_stopped(api, f"greeter{i}")
    anchor = _median(anchors)
    report(
        "deploy request → Running, greeter on the local provider, worker threads, SQLite",
        {
            "anchor: spawn the greeter + poll its health": _row(anchors),
            "all-at-once (first deploy) → Running": _row(first, anchor),
            "canary, one weight step → Running": _row(canary, anchor),
        },
    )


def wait_stopped(api, name: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while api.get(f"/v1/components/{name}")[2]["state"] != "Stopped":
        assert time.monotonic() < deadline, f"{name} did not stop"
        time.sleep(0.01)


def test_deploy_to_running_control_plane_only(env, api, start_worker, monkeypatch):
    """The same two deploys on a no-op provider: what is left is the control plane's own cost."""
    monkeypatch.delenv("PILOTHOUSE_STORE_TRANSACTION_SCOPE", raising=False)  # production's scope
    services = Services(get_settings(), providers={"local": RevisionFake()})
    register_services(services)
    start_worker(services)
    first, canary = [], []
    for i in range(N):
        f, c = deploy_and_update(api, services, noop, f"svc{i}")
        first.append(f)
        canary.append(c)
    report(
        "deploy request → Running, no-op provider (the control plane alone)",
        {"all-at-once (first deploy)": _row(first), "canary, one weight step": _row(canary)},
    )

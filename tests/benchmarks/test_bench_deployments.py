"""Deploy request → Running, through the gateway's converter, the worker threads and the durable
workflow engine, on a no-op provider (the seed asks < 1 s for the Deployment Manager)."""

from __future__ import annotations

import os
import statistics
import time

import pytest

from pilothouse.embedded.worker import Worker
from pilothouse.settings import get_settings
from pilothouse.wiring import Services, register_services
from tests.support.bench import report
from tests.support.fakes import RevisionFake

N = int(os.environ.get("BENCH_DEPLOYS", "5"))


def _median_max(samples: list[float]) -> str:
    return f"median {statistics.median(samples) * 1000:.0f} ms, max {max(samples) * 1000:.0f} ms"


@pytest.fixture
def services(env):
    """The services, on a no-op local provider."""
    s = Services(get_settings(), providers={"local": RevisionFake()})
    register_services(s)
    return s


@pytest.fixture
def worker(services, cloud, pool):
    w = Worker(services.queue, cloud.queue_sources, pool)
    w.start()
    yield w
    w.stop()


def spec(name):
    return {
        "name": name,
        "provider": "local",
        "version": "1.0.0",
        "target": {"command": ["{python}", "app.py", "--port", "{port}"]},
    }


def wait_running(api, name, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = api.get(f"/v1/components/{name}")[2]["state"]
        if state in ("Running", "Failed"):
            return state
        time.sleep(0.002)
    raise AssertionError(f"{name} not done after {timeout}s")


def test_deploy_to_running(api, worker):
    first, canary = [], []
    for i in range(N):
        name = f"svc{i}"
        api.post("/v1/components", spec(name))
        t = time.perf_counter()
        assert api.post(f"/v1/components/{name}/deploy")[0] == 202
        assert wait_running(api, name) == "Running"
        first.append(time.perf_counter() - t)
        t = time.perf_counter()
        body = {
            "version": "2.0.0",
            "strategy": {
                "type": "custom",
                "steps": [
                    {"kind": "set_weight", "weight": 10},
                    {"kind": "set_weight", "weight": 50},
                    {"kind": "set_weight", "weight": 100},
                ],
            },
        }
        assert api.post(f"/v1/components/{name}/update", body)[0] == 202
        assert wait_running(api, name) == "Running"
        canary.append(time.perf_counter() - t)
        assert api.get(f"/v1/components/{name}")[2]["version"] == "2.0.0"
    report(
        "deploy request → Running (no-op provider, worker threads, SQLite)",
        {
            "all-at-once (first deploy)": _median_max(first),
            "3-step canary, zero bake": _median_max(canary),
        },
    )

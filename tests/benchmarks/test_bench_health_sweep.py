"""The health sweep on a large fleet (issue 11 §2): 1,000 and 10,000 Running components.

Each fleet is seeded straight through the component repository on SQLite (local queue beside it)
with a no-op provider whose two replicas per component always answer: the figure is the control
plane's own cost (reads, fan-out, probe records, events), not the network's. A sweep is the
scheduled fan-out (one message per batch of ``health_batch_size`` components) and then
``BENCH_CONSUMERS`` consumers (threads here; Lambda invocations on AWS) handling the batches until
the queue is empty. Two sweeps are timed: the first (every component's health is recorded, with its
``component.health`` event) and a steady one (nothing changed: the probe records only).

The anchor, in the same run: one plain pass reading every component record
(``ComponentRepository.each``), the least any sweep over the fleet must do. The benchmark prints
each sweep's seconds, its ratio to the anchor and its share of the one-minute budget.

    .venv/bin/python -m pytest tests/benchmarks/test_bench_health_sweep.py -m benchmark -s

``BENCH_HEALTH_SIZES`` (default ``1000,10000``) and ``BENCH_CONSUMERS`` (default 4) change the run.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from pilothouse.clock import iso
from pilothouse.ports import Placement
from pilothouse.ports.providers import ReplicaProbe
from pilothouse.repositories.components import ComponentRepository
from pilothouse.services import health_sweep
from pilothouse.settings import Settings
from pilothouse.wiring import Services
from tests.support.bench import report

SIZES = [int(n) for n in os.environ.get("BENCH_HEALTH_SIZES", "1000,10000").split(",")]
CONSUMERS = int(os.environ.get("BENCH_CONSUMERS", "4"))
BUDGET_SECONDS = 60.0


class NoopProvider:
    """Every component has two replicas that always answer their health check."""

    name = "local"

    def probe_replicas(self, placement: Placement, timeout_seconds: float) -> list[ReplicaProbe]:
        return [
            ReplicaProbe(str(r["id"]), alive=True, ok=True, pid=r["pid"], port=r["port"], revision="1.0.0+b")
            for r in placement.details["replicas"]
        ]

    def replace_replicas(self, placement, release, replica_ids):  # never called: nothing fails
        raise AssertionError("no replica should need replacing")

    def reap_orphans(self, keep):
        return []

    def close(self) -> None:
        pass


def _record(i: int, now: float) -> dict:
    name = f"svc-{i:05d}"
    replicas = [{"id": f"{name}-r{k}", "pid": 10_000 + 2 * i + k, "port": 20_000 + k} for k in range(2)]
    return {
        "name": name,
        "spec": {
            "name": name,
            "provider": "local",
            "environment": "development",
            "version": "1.0.0",
            "target": {"command": ["{python}", "examples/greeter/app.py", "--port", "{port}"]},
            "health_check": {
                "path": "/health",
                "interval_seconds": 10.0,
                "timeout_seconds": 2.0,
                "healthy_threshold": 1,
                "unhealthy_threshold": 3,
            },
            "scaling": {"min": 1, "max": 3, "replicas": None},
            "config": {},
        },
        "state": "Running",
        "version": "1.0.0",
        "replicas": 2,
        "url": f"http://127.0.0.1:1/{name}",
        "placement": {"url": None, "version": "1.0.0", "replicas": 2, "details": {"replicas": replicas}},
        "last_error": None,
        "operation": None,
        "created_at": iso(now),
        "updated_at": iso(now),
        "created_by": "bench",
    }


def _services(data_dir: Path) -> Services:
    settings = Settings(store="sqlite", queue="local", data_dir=data_dir, health_batch_size=100)
    return Services(settings, providers={"local": NoopProvider()})


def _seed(services: Services, n: int) -> None:
    repo = ComponentRepository(services.store)
    now = time.time()
    for i in range(n):
        repo.create(_record(i, now), {"type": "registered", "from": None, "to": "Running", "actor": "bench"})


def _sweep(services: Services) -> tuple[float, float, dict]:
    """One sweep: (fan-out seconds, total seconds until every batch is handled, outcomes)."""
    started = time.perf_counter()
    fanned = health_sweep.sweep(services)
    fan_out = time.perf_counter() - started
    outcomes: dict[str, str] = {}
    lock = threading.Lock()

    def consume() -> None:
        queue = services.settings.health_queue
        while True:
            messages = services.queue.receive(queue, max_messages=1, wait_seconds=0)
            if not messages:
                return
            for m in messages:
                out = health_sweep.handle_message(services, m.body)
                services.queue.delete(queue, m.receipt_handle)
                with lock:
                    outcomes.update(out)

    threads = [threading.Thread(target=consume) for _ in range(CONSUMERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outcomes) == fanned["components"]
    return fan_out, time.perf_counter() - started, outcomes


@pytest.mark.parametrize("n", SIZES)
def test_health_sweep_over_a_large_fleet(tmp_path, n):
    """Given ``n`` Running components with healthy replicas, when two sweeps run, then every
    component is checked each time and recorded Healthy; the figures are printed against the anchor."""
    services = _services(tmp_path / "data")
    try:
        _seed(services, n)
        repo = ComponentRepository(services.store)
        started = time.perf_counter()
        assert sum(1 for _ in repo.each(page_size=500)) == n
        anchor = time.perf_counter() - started

        first_fan, first, outcomes = _sweep(services)
        assert set(outcomes.values()) == {"Healthy"}
        services.clock = _Later(services.clock, 60)  # the next minute: past every interval
        steady_fan, steady, outcomes = _sweep(services)
        assert set(outcomes.values()) == {"Healthy"}
        assert repo.require("svc-00000").data["health"]["status"] == "Healthy"
    finally:
        services.close()
    report(
        f"health sweep, {n:,} Running components, {CONSUMERS} consumers, batches of 100",
        {
            "anchor: read every record once": f"{anchor:.2f} s",
            "first sweep (health recorded + event)": (
                f"{first:.2f} s (fan-out {first_fan:.2f} s)  x{first / anchor:.1f} anchor, "
                f"{first / BUDGET_SECONDS:.0%} of the minute"
            ),
            "steady sweep (probe records only)": (
                f"{steady:.2f} s (fan-out {steady_fan:.2f} s)  x{steady / anchor:.1f} anchor, "
                f"{steady / BUDGET_SECONDS:.0%} of the minute"
            ),
        },
    )


class _Later:
    """The system clock moved ``offset`` seconds ahead."""

    def __init__(self, clock, offset: float) -> None:
        self._clock, self._offset = clock, offset

    def time(self) -> float:
        return self._clock.time() + self._offset

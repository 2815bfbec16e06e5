"""Self-healing end to end (issue 11 §2): the real ``pilothouse dev``, its scheduler running the
health sweep every minute, the health queue's worker, and real greeter replicas.

* SIGKILL one replica: the next sweep replaces it and the component reports Healthy again (the
  detection time, kill to ``replica.replaced``, is printed).
* SIGKILL ``pilothouse dev`` while the sweep is starting a replacement, start it again: no
  duplicate replica (exactly the recorded count runs), the half-started one is reaped, and the
  component is Healthy at the restarted control plane's first sweep.

A sweep is ``rate(1 minute)`` as in template.yaml; these run the control plane's clock faster
(``PILOTHOUSE_CLOCK_SCALE``), so its minute is 6 real s (the restart test's slow replacement, 4 s,
keeps its place within one sweep period as 40 s do within 60 s); the sweep's batches
confirm failing replicas for the real part of that period, and the restart continues the clock.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.e2e import ROOT, DevProcess, events_of, wait_at_rest
from tests.support.processes import replica_pids

pytestmark = pytest.mark.slow

SWEEP_WAIT = 150.0  # a sweep period to the first sweep, plus a loaded machine's (generous) slack
#: the control plane's clock scale: the health sweep every 60 / SCALE real s
SCALE = 10.0
#: the restart test's: a sweep every 6 s, the replacement slowed to 4 s (less than one period)
RESTART_SCALE, SLOW_REPLACEMENT = 10.0, "4"

# the greeter, started after a pause read from a file when it exists (a slow start on demand)
SLOW_START = (
    "import os, runpy, sys, time\n"
    "delay = sys.argv[1]\n"
    "time.sleep(float(open(delay).read()) if os.path.exists(delay) else 0)\n"
    "sys.argv = sys.argv[2:]\n"
    "runpy.run_path(sys.argv[0], run_name='__main__')\n"
)


def greeter(name: str, delay_file: Path) -> dict[str, Any]:
    return {
        "name": name,
        "provider": "local",
        "environment": "development",
        "version": "1.0.0",
        "target": {
            "command": [
                "{python}",
                "-c",
                SLOW_START,
                str(delay_file),
                "examples/greeter/app.py",
                "--port",
                "{port}",
            ],
            "cwd": str(ROOT),
            "grace_seconds": 1,
        },
        "health_check": {"path": "/health", "interval_seconds": 2, "timeout_seconds": 30},
        "scaling": {"min": 1, "max": 3},
    }


def deployed(client: httpx.Client, name: str, delay_file: Path, replicas: int = 2) -> dict[str, Any]:
    assert client.post("/v1/components", json=greeter(name, delay_file)).status_code == 201
    assert client.post(f"/v1/components/{name}/deploy", json={}).status_code == 202
    wait_at_rest(client, name, timeout=60, want="Running")
    if replicas != 1:
        assert client.post(f"/v1/components/{name}/scale", json={"replicas": replicas}).status_code in (
            200,
            202,
        )
    return wait_at_rest(client, name, timeout=60, want="Running")


def wait_for(check, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"not within {timeout}s: {what}")


def healthy_with(client: httpx.Client, name: str, count: int) -> dict[str, Any] | None:
    c = client.get(f"/v1/components/{name}").json()
    h = c["health"]
    ok = [r for r in h["replicas"] if r["healthy"]]
    return c if h["status"] == "Healthy" and len(ok) == count and c["state"] == "Running" else None


def test_a_sigkilled_replica_is_replaced_by_the_next_sweep(dev: DevProcess, tmp_path: Path):
    """Given greeter Running with two replicas under `pilothouse dev`
    When one replica is SIGKILLed
    Then the next health sweep replaces it (replica.replaced, reason exited) and greeter reports
    Healthy with two live replicas again, still Running, serving on its URL."""
    dev.clock_scale = SCALE
    running_dev = dev.start()
    client = running_dev.http()
    c = deployed(client, "greeter", tmp_path / "no-delay")
    victim = c["placement"]["details"]["replicas"][0]["pid"]
    os.kill(victim, signal.SIGKILL)
    killed = time.monotonic()

    replaced = wait_for(
        lambda: [e for e in events_of(client, "greeter") if e["type"] == "replica.replaced"],
        SWEEP_WAIT,
        "replica.replaced",
    )
    detected = time.monotonic() - killed  # real seconds to the event's being seen (polled every 0.25 s)
    assert replaced[0]["reason"] == "exited" and replaced[0]["replica"]["pid"] == victim
    c = wait_for(lambda: healthy_with(client, "greeter", 2), 30, "greeter Healthy with 2 replicas")
    pids = {r["pid"] for r in c["placement"]["details"]["replicas"]}
    assert victim not in pids and set(replica_pids(running_dev.data_dir / "processes")) == pids
    assert httpx.get(c["url"] + "/", timeout=10).status_code == 200
    period = 60 / SCALE
    print(
        f"\ndead replica detected and replaced {detected:.1f} s after the SIGKILL (sweep every {period:g} s)"
    )


def test_killing_dev_mid_replacement_leaves_no_duplicate_and_reaps_the_orphan(
    dev: DevProcess, tmp_path: Path
):
    """Given greeter Running with two replicas, one SIGKILLed, and replacements made slow (4 s, in a
    sweep period of 6 s)
    When `pilothouse dev` is SIGKILLed while the sweep is starting the replacement, and started again
    Then the half-started replica is stopped, exactly two replicas of greeter run (the survivor
    and one the restore started), each named by the placement, and greeter is Healthy."""
    delay = tmp_path / "delay"
    dev.clock_scale = RESTART_SCALE
    dev.start()
    client = dev.http()
    c = deployed(client, "greeter", delay)
    survivor, victim = (r["pid"] for r in c["placement"]["details"]["replicas"])
    delay.write_text(SLOW_REPLACEMENT)
    os.kill(victim, signal.SIGKILL)
    processes = dev.data_dir / "processes"
    # the sweep's replacement has been spawned (a third tagged process: the survivor, and the newcomer)
    newcomer = wait_for(
        lambda: set(replica_pids(processes)) - {survivor, victim},
        SWEEP_WAIT,
        "the sweep spawning a replacement",
    )
    dev.kill()
    assert set(replica_pids(processes)) >= {survivor} | newcomer  # replicas outlive the control plane
    delay.unlink()

    dev.start()
    client = dev.http()
    c = wait_for(lambda: healthy_with(client, "greeter", 2), SWEEP_WAIT, "greeter Healthy after the restart")
    recorded = {r["pid"] for r in c["placement"]["details"]["replicas"]}
    assert survivor in recorded and not recorded & newcomer
    assert wait_for(lambda: set(replica_pids(processes)) == recorded, 10, "only the recorded replicas run")

"""After a crash, ``pilothouse dev`` answers at once and restores its components in the background:
a component still being restored says so, and commands on it answer 409 with Retry-After."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support import processes
from tests.support.e2e import ROOT, DevProcess, wait_at_rest

pytestmark = pytest.mark.slow

SLOW_START = 8.0  # seconds a replica waits before it listens while the flag file exists


def replica_pids(data_dir: Path) -> list[int]:
    """Live processes tagged as replicas of ``data_dir``'s control plane."""
    return list(processes.replica_pids(data_dir / "processes"))


def slow_spec(flag: Path) -> dict:
    """The greeter, started through a shell that first sleeps while ``flag`` exists."""
    spec = yaml.safe_load((ROOT / "examples" / "greeter" / "component.yaml").read_text())
    script = (
        f"if [ -e '{flag}' ]; then sleep {SLOW_START}; fi; "
        "exec {python} examples/greeter/app.py --port {port}"
    )
    spec.update(name="slow", version="1.0.0")
    spec["target"] = {"command": ["sh", "-c", script], "grace_seconds": 2}
    spec["health_check"] = {"path": "/health", "timeout_seconds": 30}
    return spec


def test_the_api_answers_while_a_slow_restore_is_in_progress(dev: DevProcess, tmp_path: Path):
    """Given ``pilothouse dev`` with a component Running, SIGKILLed together with its replica, and
    a replica that now takes 8 s before it listens
    When ``pilothouse dev`` starts again on the same data dir
    Then health answers within seconds, long before the restore is done; the component's GET
    says ``restoring: true`` (still Running, same URL) and a scale answers 409 with Retry-After;
    once restored it serves on its URL again, ``restoring`` is false and commands are accepted."""
    # Given
    flag = tmp_path / "slow-start"
    dev.start()
    client = dev.http()
    assert client.post("/v1/components", json=slow_spec(flag)).status_code == 201
    assert client.post("/v1/components/slow/deploy", json={}).status_code == 202
    before = wait_at_rest(client, "slow", timeout=60, want="Running")
    dev.kill()
    for pid in replica_pids(dev.data_dir):
        os.kill(pid, signal.SIGKILL)
    flag.touch()

    # When
    started = time.monotonic()
    dev.start(wait_restored=False)
    client = dev.http()
    health_after = time.monotonic() - started
    body = client.get("/v1/components/slow").json()
    get_after = time.monotonic() - started
    scale = client.post("/v1/components/slow/scale", json={"replicas": 2})

    # Then
    assert body["restoring"] is True, body
    assert (body["state"], body["url"]) == ("Running", before["url"])
    assert scale.status_code == 409, scale.text
    assert scale.headers.get("Retry-After") and "being restored" in scale.json()["detail"]
    assert client.get("/v1/components").status_code == 200

    deadline = time.monotonic() + SLOW_START + 40
    while client.get("/v1/components/slow").json()["restoring"] and time.monotonic() < deadline:
        time.sleep(0.2)
    restored_after = time.monotonic() - started
    after = client.get("/v1/components/slow").json()
    assert (after["state"], after["restoring"], after["url"]) == ("Running", False, before["url"]), after
    assert httpx.get(after["url"], timeout=5).json()["version"] == "1.0.0"
    assert restored_after >= SLOW_START and health_after < restored_after - 4
    print(f"health after {health_after:.2f}s, GET after {get_after:.2f}s,", end=" ")
    print(f"restored after {restored_after:.2f}s", end=" ")
    flag.unlink()
    assert client.post("/v1/components/slow/scale", json={"replicas": 2}).status_code == 202
    assert wait_at_rest(client, "slow", timeout=60)["replicas"] == 2

    assert dev.interrupt() == 0
    assert replica_pids(dev.data_dir) == []

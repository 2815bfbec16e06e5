"""Crash safety of ``pilothouse dev`` and the local provider: SIGKILL at random moments under
deploy/update/scale/stop/retry traffic, again and again, on real example components.

A real ``pilothouse dev`` subprocess runs three components made from examples/ (two greeters and a
counter). A traffic thread sends random lifecycle commands over HTTP (good and broken versions,
scales, stops, retries, re-registrations) while the control plane's process group is SIGKILLed at
random moments and started again on the same data dir -- its replicas, in sessions of their own,
live through each kill. At the end, after a last restart:

* every replica process tagged with the data dir is known to a journal record, and is exactly a
  replica of a Running component's placement (no orphan, no component pointing at a dead pid);
* every component is settled: Registered, Running, Stopped or Failed -- none stuck in Deploying,
  Updating, Scaling or Stopping;
* no component lost its working version: a Running one serves on its URL the version it claims,
  and a Failed one that was Running before comes back Running on a retry;
* after a clean Ctrl-C, no replica of the data dir is left.

The seed comes from PILOTHOUSE_CRASH_SEED (default fixed) so a failing run can be replayed.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.support.e2e import ROOT, TRANSITIONAL, DevProcess
from tests.support.processes import replica_pids

pytestmark = pytest.mark.slow

SEED = int(os.environ.get("PILOTHOUSE_CRASH_SEED", "20261201"))
KILLS = int(os.environ.get("PILOTHOUSE_CRASH_KILLS", "4"))
SETTLE_TIMEOUT = 60.0
COMPONENTS = {"alpha": "greeter", "beta": "greeter", "gamma": "counter"}
VERSIONS = {"greeter": ["1.0.0", "2.0.0", "3.0.0-broken"], "counter": ["1.0.0", "2.0.0", "2.1.0-unhealthy"]}
BROKEN = {"3.0.0-broken", "2.1.0-unhealthy"}


def spec(name: str, example: str) -> dict[str, Any]:
    body = yaml.safe_load((ROOT / "examples" / example / "component.yaml").read_text())
    body["name"] = name
    body["target"]["grace_seconds"] = 1
    body["health_check"] = {"path": "/health", "timeout_seconds": 4}
    body["scaling"] = {"min": 1, "max": 3}
    return body


def tagged(data_dir: Path) -> dict[int, str]:
    """Live processes tagged as replicas of the data dir: pid -> replica id."""
    return replica_pids(data_dir / "processes")


def journal(data_dir: Path) -> dict[str, dict[str, Any]]:
    out = {}
    for path in (data_dir / "processes" / "replicas").glob("*.json"):
        with contextlib.suppress(OSError, ValueError):
            record = json.loads(path.read_text())
            out[record["id"]] = record
    return out


class Traffic:
    """Random lifecycle commands in a thread; connection errors (the control plane is down) and
    409s (a command the state does not allow) are part of the game."""

    def __init__(self, dev: DevProcess, rng: random.Random) -> None:
        self.dev, self.rng = dev, rng
        self.stopping = threading.Event()
        self.sent: list[tuple[str, str, int]] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Traffic:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join(30)

    def _run(self) -> None:
        with httpx.Client(
            base_url=self.dev.url, headers={"Authorization": f"Bearer {self.dev.admin_key}"}, timeout=10
        ) as client:
            while not self.stopping.is_set():
                name = self.rng.choice(sorted(COMPONENTS))
                with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
                    self._step(client, name)
                self.stopping.wait(self.rng.uniform(0.1, 0.5))

    def _step(self, client: httpx.Client, name: str) -> None:
        r = client.get(f"/v1/components/{name}")
        if r.status_code == 404:
            self._send(client, "register", "/v1/components", spec(name, COMPONENTS[name]))
            return
        state = r.json()["state"]
        example = COMPONENTS[name]
        if state == "Registered":
            self._send(client, "deploy", f"/v1/components/{name}/deploy", {})
        elif state == "Failed":
            self._send(client, "retry", f"/v1/components/{name}/retry", {})
        elif state == "Stopped":
            self._send(client, "deregister", f"/v1/components/{name}", None, method="DELETE")
        elif state == "Running":
            roll = self.rng.random()
            if roll < 0.45:
                current = r.json()["version"]
                version = self.rng.choice([v for v in VERSIONS[example] if v != current])
                self._send(client, "update", f"/v1/components/{name}/update", {"version": version})
            elif roll < 0.85:
                replicas = self.rng.randint(1, 3)
                self._send(client, "scale", f"/v1/components/{name}/scale", {"replicas": replicas})
            else:
                self._send(client, "stop", f"/v1/components/{name}/stop", {})

    def _send(self, client: httpx.Client, what: str, path: str, body: Any, method: str = "POST") -> None:
        r = client.request(method, path, json=body) if body is not None else client.request(method, path)
        self.sent.append((what, path, r.status_code))


def settled(client: httpx.Client, timeout: float) -> dict[str, dict[str, Any]]:
    """Every component once none is in a transitional state or being restored."""
    deadline = time.monotonic() + timeout
    while True:
        items = client.get("/v1/components", params={"limit": 100}).json()["items"]
        busy = [c for c in items if c["state"] in TRANSITIONAL or c.get("restoring")]
        if not busy:
            return {c["name"]: c for c in items}
        if time.monotonic() >= deadline:
            raise AssertionError(f"not settled after {timeout}s: {[(c['name'], c['state']) for c in busy]}")
        time.sleep(0.2)


def was_running(client: httpx.Client, name: str) -> bool:
    """Whether the component (this registration of it) was ever Running."""
    items = client.get(f"/v1/components/{name}/events", params={"limit": 500, "order": "asc"}).json()["items"]
    since_registered = []
    for e in items:
        if e["type"] == "registered":
            since_registered = []
        since_registered.append(e)
    return any(e.get("to") == "Running" for e in since_registered)


def placement_pids(component: dict[str, Any]) -> set[int]:
    placement = component.get("placement") or {}
    return {r["pid"] for r in (placement.get("details") or {}).get("replicas") or []}


def test_sigkill_at_random_moments_leaves_no_orphan_and_no_component_stuck_or_without_its_version(
    dev: DevProcess,
) -> None:
    """Given a ``pilothouse dev`` subprocess and random deploy/update/scale/stop/retry traffic on
    three example components
    When the control plane is SIGKILLed at random moments several times and started again
    Then every tagged replica is known to a record and belongs to a Running component, every
    component is settled, Running ones serve their version, a Failed one that had run comes back
    on retry, and a clean Ctrl-C leaves no replica behind."""
    rng = random.Random(SEED)
    started = time.monotonic()
    dev.start()
    with Traffic(dev, rng) as traffic:
        time.sleep(rng.uniform(3.0, 5.0))
        for _ in range(KILLS):
            dev.kill()
            time.sleep(rng.uniform(0.0, 0.5))
            dev.start(wait_restored=False)
            time.sleep(rng.uniform(1.0, 5.0))
    assert any(status == 202 for _what, _path, status in traffic.sent), traffic.sent
    dev.kill()
    dev.start()
    client = dev.http()
    components = settled(client, SETTLE_TIMEOUT)

    # no component stuck, none without its working version
    for name, c in components.items():
        assert c["state"] in {"Registered", "Running", "Stopped", "Failed"}, c
        if c["state"] == "Failed" and was_running(client, name):
            r = client.post(f"/v1/components/{name}/retry", json={})
            assert r.status_code == 202, r.text
    components = settled(client, SETTLE_TIMEOUT)
    for name, c in components.items():
        if c["state"] == "Failed":
            assert not was_running(client, name), f"{name} lost its working version: {c['last_error']}"
        if c["state"] == "Running":
            assert c["version"] not in BROKEN, c
            answer = httpx.get(c["url"], timeout=5).json()
            assert answer["version"] == c["version"], (name, answer, c["version"])

    # no orphan: every tagged replica is recorded, and is a replica of a Running component
    live = tagged(dev.data_dir)
    records = journal(dev.data_dir)
    assert set(live.values()) <= set(records), (live, sorted(records))
    expected = set().union(*(placement_pids(c) for c in components.values() if c["state"] == "Running"))
    assert set(live) == expected, {"tagged": live, "in placements": expected}

    # a clean stop leaves none
    assert dev.interrupt() == 0
    assert tagged(dev.data_dir) == {}
    took = time.monotonic() - started
    kinds = sorted({what for what, _path, status in traffic.sent if status == 202})
    print(
        f"seed {SEED}: {KILLS} kills, {len(traffic.sent)} commands ({kinds} accepted), {took:.1f}s", end=" "
    )

"""Crash safety of a system rollout: the real ``pilothouse dev`` is SIGKILLed while a system's
rollout is in flight, then started again on the same data dir; the rollout goes on from where its
durable execution was and ends with every member Running, each started once."""

from __future__ import annotations

import time

import pytest
import yaml

from tests.support.e2e import ROOT, DevProcess

pytestmark = pytest.mark.slow

PARTS = ("parser", "detector", "generator")


def _spec(part: str) -> dict:
    spec = yaml.safe_load((ROOT / f"examples/readme-to-cicd/{part}/component.yaml").read_text())
    spec["target"]["cwd"] = str(ROOT)
    return spec


def _rollout(api) -> dict:
    return api.get("/v1/systems/readme-to-cicd").json()["rollout"]


def test_sigkill_mid_rollout_then_restart_finishes_the_rollout(dev: DevProcess):
    """Given the readme-to-cicd system deploying (max_parallel 1), when the control plane is killed
    as soon as the first member is in progress and started again, then the same rollout ends
    succeeded, all three members Running on 1.0.0, and no member got a second deploy command."""
    dev.start()
    api = dev.http()
    for part in PARTS:
        assert api.post("/v1/components", json=_spec(part)).status_code == 201
    system = yaml.safe_load((ROOT / "examples/readme-to-cicd/system.yaml").read_text())
    system["max_parallel"] = 1
    assert api.post("/v1/systems", json=system).status_code == 201
    started = api.post("/v1/systems/readme-to-cicd/deploy", json={})
    assert started.status_code == 202, started.text
    rollout_id = started.json()["rollout"]["id"]
    deadline = time.monotonic() + 60
    while not any(m["step"] == "in_progress" for m in _rollout(api)["members"].values()):
        assert time.monotonic() < deadline, _rollout(api)
        time.sleep(0.05)
    dev.kill()
    dev.start()
    api = dev.http()
    deadline = time.monotonic() + 180
    while (rollout := _rollout(api))["status"] == "in_progress":
        assert time.monotonic() < deadline, rollout
        time.sleep(0.5)
    assert rollout["id"] == rollout_id and rollout["status"] == "succeeded", (
        rollout["members"],
        rollout.get("error"),
    )
    view = api.get("/v1/systems/readme-to-cicd").json()
    assert {m["name"]: (m["state"], m["version"]) for m in view["members"]} == {
        "rtc-parser": ("Running", "1.0.0"),
        "rtc-detector": ("Running", "1.0.0"),
        "rtc-generator": ("Running", "1.0.0"),
    }
    for name in view["version_set"]:
        events = api.get(f"/v1/components/{name}/events", params={"limit": 200}).json()["items"]
        assert [e["type"] for e in events].count("deploy.requested") == 1, (name, events)

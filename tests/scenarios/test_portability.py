"""Portability (issue 15 §3): one scenario, written once, on four backends.

Each mode runs a real ``pilothouse dev`` subprocess on 127.0.0.1 started from environment settings
only (``PILOTHOUSE_STORE/QUEUE/BLOBS`` and the SDKs' own connection and emulator variables; see
tests/support/scenario_modes.py): embedded (SQLite, local queue, local blobs), aws (DynamoDB, SQS,
S3 on a moto server), azure (Tables, Storage queues, Blob Storage on Azurite) and gcp (Firestore
emulator, GCS emulator, the Pub/Sub test server). The components are real local processes
(examples/counter) behind the local provider's router, and the test drives everything over HTTP
with an API key: the same steps and the same assertions in every mode.
"""

from __future__ import annotations

import concurrent.futures
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.support import processes
from tests.support.e2e import kill_marked, make_admin_key
from tests.support.scenario import ANALYSIS, ModeDev, Scenario, Traffic, only_version, summary
from tests.support.scenario_modes import MODES, settings_for

#: the machine may be loaded: a scenario takes minutes there (the default timeout is 300 s)
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

#: what each mode took, step by step (printed with -s)
DURATIONS: dict[str, dict[str, float]] = {}


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def dev(mode: str, tmp_path) -> Iterator[ModeDev]:
    """A control plane of ``mode`` (not yet started); killed with all it left behind at the end."""
    marker = uuid.uuid4().hex
    server = ModeDev(mode, settings_for(mode), tmp_path / "data", tmp_path, make_admin_key(), marker)
    try:
        yield server
    finally:
        for client in server.clients:
            client.close()
        server.kill()
        kill_marked(marker)
        processes.kill_replicas(server.data_dir / "processes")


def _user_strategy() -> dict[str, Any]:
    """The shipped plan workflow as a user registers it (its steps through ``strategy_step``)."""
    from pilothouse.services.strategy_workflows import user_strategy_definition

    return user_strategy_definition("deployment-plan")


def test_the_scenario(dev: ModeDev, mode: str):
    """Given a control plane of the mode, When a component goes through register → deploy → a
    canary with analysis → a bad version → scale → a user's strategy workflow with a Wait and an
    approval callback → stop → backup and restore, Then each step ends as it does in every mode."""
    scenario(dev, mode)


@pytest.mark.parametrize("mode", ["azure"], indirect=True)
def test_the_scenario_survives_a_sigkill_of_the_control_plane(dev: ModeDev, mode: str):
    """Given the scenario in azure mode, When the control plane's process group is SIGKILLed in the
    middle of the canary (its replicas live on, in sessions of their own) and started again on the
    same data dir and settings, Then the canary finishes and the next deployment (a bad version,
    rolled back) runs as without the kill (the steps after it are the plain scenario's: they run in
    ``test_the_scenario``, and repeating them here would only lengthen the suite)."""

    def kill_and_restart(s: Scenario, dep_id: str) -> None:
        s.wait_deployment(dep_id, lambda d: (d["current_step"] or 0) >= 1)
        dev.kill()
        dev.start(timeout=60)

    scenario(dev, f"{mode}+sigkill", mid_canary=kill_and_restart, through="rollback")


def scenario(
    dev: ModeDev,
    mode: str,
    mid_canary: Callable[[Scenario, str], None] | None = None,
    through: str = "backup",
) -> None:
    """The scenario's steps and assertions (``mid_canary`` runs while the canary is under way), up to
    the step ``through`` (``rollback``, or ``backup``: all of them)."""
    t0 = time.monotonic()
    with _timer(mode, "start"):
        dev.start(timeout=60)
    s = Scenario(dev)
    name = "counter"

    with _timer(mode, "register+deploy"):
        registered = s.register(name)
        assert registered["state"] == "Registered"
        s.accepted(name, "deploy")
        comp = s.at_rest(name)
    assert (comp["state"], comp["version"]) == ("Running", "1.0.0"), comp
    url = comp["url"]
    only_version(url, "1.0.0")

    # a canary of 2.0.0 under traffic, measured by an analysis: promoted
    steps = [
        {"kind": "set_weight", "weight": 30},
        {"kind": "pause", "seconds": 2},
        {"kind": "analysis", "analysis": ANALYSIS},
        {"kind": "set_weight", "weight": 100},
    ]
    with _timer(mode, "canary"), Traffic(url) as traffic:
        dep_id = s.deployment_of(
            s.command(name, "update", {"version": "2.0.0", "strategy": {"type": "custom", "steps": steps}})
        )
        if mid_canary is not None:
            mid_canary(s, dep_id)
        dep = s.wait_deployment(dep_id, {"succeeded", "rolled_back", "failed", "aborted"})
    assert dep["status"] == "succeeded", summary(dep)
    [measurement] = dep["analysis"]
    assert measurement["verdict"] == "pass" and measurement["metrics"]["requests"] >= ANALYSIS["min_requests"]
    assert traffic.seen[(200, "2.0.0")] and traffic.seen[(200, "1.0.0")], traffic.seen
    comp = s.at_rest(name)
    assert (comp["state"], comp["version"], comp["url"]) == ("Running", "2.0.0", url)
    only_version(url, "2.0.0")
    types = s.event_types(dep_id)
    assert types[0] == "created" and "analysis.pass" in types and types[-1] == "succeeded", types

    # a flaky version (60 % of its answers are 500): the analysis fails, it is rolled back
    bad_steps = [
        {"kind": "set_weight", "weight": 50},
        {"kind": "pause", "seconds": 2},
        {"kind": "analysis", "analysis": ANALYSIS},
    ]
    with _timer(mode, "rollback"), Traffic(url) as traffic:
        dep_id = s.deployment_of(
            s.command(
                name, "update", {"version": "2.2.0-flaky", "strategy": {"type": "custom", "steps": bad_steps}}
            )
        )
        dep = s.wait_deployment(dep_id, {"succeeded", "rolled_back", "failed", "aborted"})
    assert dep["status"] == "rolled_back", summary(dep)
    assert dep["analysis"][-1]["verdict"] == "fail", summary(dep)
    assert any("error rate" in r for r in dep["analysis"][-1]["reasons"]), summary(dep)
    assert traffic.seen[(500, "2.2.0-flaky")], traffic.seen
    comp = s.at_rest(name)
    assert (comp["state"], comp["version"], comp["url"]) == ("Running", "2.0.0", url)
    only_version(url, "2.0.0")
    assert s.event_types(dep_id)[-1] == "rolled_back"
    if through == "rollback":
        DURATIONS[mode]["total"] = time.monotonic() - t0
        return

    with _timer(mode, "scale"):
        s.accepted(name, "scale", {"replicas": 2})
        comp = s.at_rest(name)
    assert (comp["state"], comp["replicas"]) == ("Running", 2), comp
    only_version(url, "2.0.0")

    # a user's strategy workflow: two measurements with a Wait between them, then an approval
    # (the callback: the approve API sends the waiting task its token's success)
    r = s.api.post("/v1/workflows", json={"name": "my-release", "definition": _user_strategy()})
    assert r.status_code == 201, r.text
    release = [
        {"kind": "set_weight", "weight": 50},
        {
            "kind": "analysis",
            "analysis": {
                **ANALYSIS,
                "window_seconds": 1,
                "min_requests": 1,
                "measurements": 2,
                "interval_seconds": 1,
            },
        },
        {"kind": "approval"},
        {"kind": "set_weight", "weight": 100},
    ]
    with _timer(mode, "workflow+callback"), Traffic(url):
        dep_id = s.deployment_of(
            s.command(
                name,
                "update",
                {
                    "version": "1.0.0",
                    "strategy": {"type": "custom", "workflow": "my-release", "steps": release},
                },
            )
        )
        waiting = s.wait_deployment(dep_id, {"awaiting_approval"})
        assert waiting["waiting_for"] == "approval", summary(waiting)
        execution = waiting["execution"]
        described = s.api.get(f"/v1/workflows/my-release/executions/{execution}").json()
        assert described["status"] == "RUNNING" and any(t["callback"] for t in described["waiting_tasks"]), (
            described
        )
        approved = s.api.post(f"/v1/deployments/{dep_id}/approve", json={"comment": "ship it"})
        assert approved.status_code == 200, approved.text
        dep = s.wait_deployment(dep_id, {"succeeded", "rolled_back", "failed", "aborted"})
    assert dep["status"] == "succeeded" and dep["workflow"] == "my-release", summary(dep)
    done = s.execution("my-release", execution, until={"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
    assert done["status"] == "SUCCEEDED", done
    history = s.api.get(
        f"/v1/workflows/my-release/executions/{execution}/history", params={"limit": 1000}
    ).json()
    kinds = {e["type"] for e in history["events"]}
    assert {"WaitStateEntered", "TaskSucceeded"} <= kinds, sorted(kinds)
    comp = s.at_rest(name)
    assert (comp["state"], comp["version"], comp["replicas"]) == ("Running", "1.0.0", 2), comp
    only_version(url, "1.0.0")

    with _timer(mode, "stop"):
        s.accepted(name, "stop")
        comp = s.at_rest(name)
    assert comp["state"] == "Stopped", comp
    with pytest.raises(httpx.HTTPError):
        httpx.get(url, timeout=2).raise_for_status()

    # backup, a change, restore: the change is undone
    with _timer(mode, "backup+restore"):
        created = s.backup_run("/v1/backups")
        assert created["status"] == "succeeded", created
        backup_id = created["result"]["id"]
        s.register("extra")
        restored = s.backup_run(f"/v1/backups/{backup_id}/restore", {"force": True})
    assert restored["status"] == "succeeded", f"{json.dumps(restored)}\n{s.dev.log()[-30000:]}"
    assert s.api.get("/v1/components/extra").status_code == 404
    assert s.component(name)["state"] == "Stopped"
    listing = s.api.get("/v1/backups").json()
    assert [b["id"] for b in listing["items"]] == [backup_id]
    DURATIONS[mode]["total"] = time.monotonic() - t0
    print(f"{mode} scenario: " + "  ".join(f"{k} {v:.1f}s" for k, v in DURATIONS[mode].items()))


class _timer:
    def __init__(self, mode: str, step: str) -> None:
        self.mode, self.step = mode, step

    def __enter__(self) -> None:
        self.t0 = time.monotonic()

    def __exit__(self, *exc: object) -> None:
        took = DURATIONS.setdefault(self.mode, {})[self.step] = time.monotonic() - self.t0
        print(f"{self.mode} {self.step}: {took:.1f}s")


def test_racing_deploys_one_wins(dev: ModeDev, mode: str):
    """Given a registered component, When four deploys race, Then one is accepted and the others are
    409s (the store's conditional write decides), and the winner deploys."""
    dev.start(timeout=60)
    s = Scenario(dev)
    s.register("race")
    gate = threading.Barrier(4)

    def deploy(_: int) -> int:
        gate.wait(10)
        return s.command("race", "deploy").status_code

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = sorted(pool.map(deploy, range(4)))
    if mode == "gcp" and answers != [202, 409, 409, 409]:
        # @firestore-emulator/server ignores update_time preconditions and has no real transactions
        # (the store contract's racing conditional write is a non-strict xfail there for that reason)
        pytest.xfail(f"the Firestore emulator let racing conditional writes through: {answers}")
    assert answers == [202, 409, 409, 409], answers
    comp = s.at_rest("race")
    assert (comp["state"], comp["version"]) == ("Running", "1.0.0"), comp

"""The embedded executor announces each execution's end to the registered listeners; the deployment
manager, one of them, settles a deployment its workflow left unsettled, once however often told."""

from __future__ import annotations

import pytest

from pilothouse.services.execution_listeners import ExecutionEnded
from tests.support import deploying

# the shared deployment fixtures (manual clock, fake revision provider, drain)
services, provider, run = deploying.services, deploying.provider, deploying.run

FLOWS = {
    "SUCCEEDED": {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}},
    "FAILED": {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Boom", "Cause": "on purpose"}}},
    "ABORTED": {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": True}}},
}


@pytest.mark.parametrize("status", sorted(FLOWS))
def test_every_end_reaches_every_listener_even_past_a_failing_one(services, run, status):
    """Given a listener that raises registered before a probe, when an execution ends (succeeds,
    fails, is stopped), then the execution's end is stored all the same and the probe hears it
    once, with its workflow, name, ARN, status, error, cause and input."""
    heard: list[ExecutionEnded] = []

    def broken(s, ended):
        raise RuntimeError("listener bug")

    services.listeners.register("broken", broken)
    services.listeners.register("probe", lambda s, ended: heard.append(ended))
    orchestrator = services.orchestrator
    orchestrator.create_workflow("flow", FLOWS[status], actor="test")
    started = orchestrator.start("flow", name="e1", input={"n": 1}, actor="test")
    run()
    if status == "ABORTED":
        assert heard == []  # still waiting
        orchestrator.stop("flow", "e1", error="Manual", cause="ops")
        run()
    done = orchestrator.describe("flow", "e1")
    assert done["status"] == status
    assert heard == [
        ExecutionEnded(
            workflow="flow",
            name="e1",
            arn=started["execution_arn"],
            status=status,
            error=done["error"],
            cause=done["cause"],
            input={"n": 1},
        )
    ]
    assert (heard[0].error, heard[0].cause) == {
        "SUCCEEDED": (None, None),
        "FAILED": ("Boom", "on purpose"),
        "ABORTED": ("Manual", "ops"),
    }[status]


def test_an_end_announced_twice_rolls_the_deployment_back_once(services, provider, run, api):
    """Given a deployment whose workflow was stopped behind its back and rolled back, when the same
    end is announced again (a crash and a redelivery), then nothing more happens: no second
    rollback, no new event on the deployment."""
    spec = {
        "name": "web",
        "provider": "local",
        "environment": "development",
        "version": "1.0.0",
        "target": {"command": ["{python}", "app.py", "--port", "{port}"]},
        "scaling": {"min": 1, "max": 5},
    }
    assert api.post("/v1/components", spec)[0] == 201
    assert api.post("/v1/components/web/deploy")[0] == 202
    run()
    strategy = {"type": "custom", "steps": [{"kind": "set_weight", "weight": 50}, {"kind": "pause"}]}
    assert api.post("/v1/components/web/update", {"version": "2.0.0", "strategy": strategy})[0] == 202
    run()
    dep = api.get("/v1/deployments", query="component=web")[2]["items"][0]
    stopped = services.orchestrator.stop(dep["workflow"], dep["execution"], error="Manual", cause="ops")
    run()
    assert api.get(f"/v1/deployments/{dep['id']}")[2]["status"] == "rolled_back"
    events = api.get(f"/v1/deployments/{dep['id']}/events")[2]["items"]
    rollback = services.orchestrator.describe("pilothouse-break-glass-rollback", f"{dep['id']}-rollback")

    assert services.listeners.announce(services, ExecutionEnded.of(stopped)) == []
    run()
    assert api.get(f"/v1/deployments/{dep['id']}")[2]["status"] == "rolled_back"
    assert api.get(f"/v1/deployments/{dep['id']}/events")[2]["items"] == events
    assert services.orchestrator.describe(rollback["workflow"], rollback["name"]) == rollback

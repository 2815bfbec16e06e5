"""The gate before each plan step: a step that does work (prepare, set_weight, replicas, health,
analysis) passes it in its own task (``gated``); pauses and approvals still wait at the Gate state.
What a deployment shows is what the Gate state before every step gave: a pause holds the next step
at its gate until resumed, an abort requested while a step ran stops the next one, and every
started step says so."""

from __future__ import annotations

from pilothouse.repositories.deployments import DeploymentRepository
from tests.support import deploying
from tests.support.deploying import comp, deployment, running, update

# the shared deployment fixtures (manual clock, fake revision provider, drain)
services, provider, run = deploying.services, deploying.provider, deploying.run

PAUSE_THEN_SHIFT = {
    "type": "custom",
    "steps": [{"kind": "pause"}, {"kind": "set_weight", "weight": 50}, {"kind": "set_weight", "weight": 100}],
}


def events(api, dep):
    return [(e["type"], e.get("step")) for e in api.get(f"/v1/deployments/{dep['id']}/events")[2]["items"]]


def history(services, dep):
    items, _ = services.orchestrator.history(dep["workflow"], dep["execution"], limit=1000)
    return items


def test_every_step_of_an_all_at_once_deploy_is_started_then_done(api, run, provider, services):
    """Given a first deploy (prepare, set_weight 100, health)
    When it runs
    Then each step records step.started before its own outcome, as the Gate state did, and no
    callback task runs for a gate that holds nothing."""
    running(api, run)
    dep = deployment(api)
    assert events(api, dep) == [
        ("created", None),
        ("step.started", 0),
        ("prepared", 0),
        ("step.started", 1),
        ("traffic.shifted", 1),
        ("step.started", 2),
        ("health.passed", 2),
        ("finalized", None),
        ("succeeded", None),
    ]
    entered = [
        e["stateEnteredEventDetails"]["name"]
        for e in history(services, dep)
        if e["type"] == "TaskStateEntered"
    ]
    assert entered == ["Prepare", "ShiftTraffic", "CheckHealth", "Finalize"]


def test_a_pause_holds_the_next_work_step_at_its_gate_until_resumed(api, run, provider, services):
    """Given a deployment waiting in a pause until promoted, then paused
    When it is promoted
    Then the next step (a weight shift) does not start: the deployment is paused at its gate and
    the traffic does not move; once resumed the step runs and the deployment succeeds."""
    running(api, run)
    update(api, {"version": "2.0.0", "strategy": PAUSE_THEN_SHIFT})
    run()
    dep = deployment(api)
    assert dep["waiting_for"] == "pause"
    held = dict(dep["weights"])
    assert api.post(f"/v1/deployments/{dep['id']}/pause")[0] == 200
    assert api.post(f"/v1/deployments/{dep['id']}/promote", {})[0] == 200
    run()

    dep = deployment(api)
    assert (dep["status"], dep["waiting_for"]) == ("paused", "gate")
    assert dep["steps"][2]["status"] == "waiting" and dep["weights"] == held
    assert ("gate.waiting", 2) in events(api, dep) and ("step.started", 2) not in events(api, dep)

    assert api.post(f"/v1/deployments/{dep['id']}/resume")[0] == 200
    run()
    dep = deployment(api)
    assert dep["status"] == "succeeded" and [s["status"] for s in dep["steps"]] == ["succeeded"] * 4
    assert (comp(api)["state"], comp(api)["version"]) == ("Running", "2.0.0")
    assert ("traffic.shifted", 2) in events(api, dep)


def test_an_abort_requested_while_a_step_ran_stops_the_next_one(api, run, provider, services):
    """Given a deployment whose abort was requested while no gate held it (as when it lands while a
    step runs)
    When the next work step comes to its gate
    Then the step does not run and the deployment rolls back, aborted, with the reason given."""
    running(api, run)
    update(api, {"version": "2.0.0", "strategy": PAUSE_THEN_SHIFT})
    run()
    dep = deployment(api)

    def requested(d):
        d["abort_requested"] = {"by": "ops", "reason": "smells", "at": d["updated_at"]}
        return {"type": "abort.requested", "actor": "ops", "reason": "smells"}

    DeploymentRepository(services.store).change(dep["id"], requested)
    assert api.post(f"/v1/deployments/{dep['id']}/promote", {})[0] == 200
    run()

    dep = deployment(api)
    assert dep["status"] == "aborted" and dep["error"] == "Aborted: smells"
    assert ("step.started", 2) not in events(api, dep) and ("traffic.shifted", 2) not in events(api, dep)
    assert [s["status"] for s in dep["steps"]][2:] == ["skipped", "skipped"]
    assert (comp(api)["state"], comp(api)["version"]) == ("Running", "1.0.0")


def test_a_user_strategy_workflow_passes_its_gates_through_strategy_step(api, run, provider, services):
    """Given the plan workflow as a user registers it (steps through strategy_step, gated)
    When a deployment on it is paused at a pause and promoted
    Then its next step holds at the gate as the shipped workflow's does, and resumes."""
    from pilothouse.services.deployments import user_strategy_definition

    mine = {**user_strategy_definition("deployment-plan"), "Comment": "my strategy"}
    assert api.post("/v1/workflows", {"name": "my-strategy", "definition": mine})[0] == 201
    running(api, run)
    update(api, {"version": "2.0.0", "strategy": {**PAUSE_THEN_SHIFT, "workflow": "my-strategy"}})
    run()
    dep = deployment(api)
    assert dep["waiting_for"] == "pause"
    assert api.post(f"/v1/deployments/{dep['id']}/pause")[0] == 200
    assert api.post(f"/v1/deployments/{dep['id']}/promote", {})[0] == 200
    run()
    assert (deployment(api)["status"], deployment(api)["waiting_for"]) == ("paused", "gate")
    assert api.post(f"/v1/deployments/{dep['id']}/resume")[0] == 200
    run()
    assert deployment(api)["status"] == "succeeded"
    assert (comp(api)["state"], comp(api)["version"]) == ("Running", "2.0.0")

"""Upgrading to the one plan workflow: deployments an earlier release started on its per-strategy
workflows (``pilothouse-canary``, ...) keep running there, and their controls keep working."""

from __future__ import annotations

from pilothouse.services import deployments
from tests.support import deploying
from tests.support.deploying import comp, deployment, running, update

# the shared deployment fixtures (manual clock, fake revision provider, drain)
services, provider, run = deploying.services, deploying.provider, deploying.run

# the previous release's canary workflow: the plan definition under its own name and Comment
OLD_COMMENT = (
    "Canary / linear / custom steps (Argo Rollouts style): set-weight, pause for a duration or until "
    "promoted, analysis, approval; a failure anywhere rolls back to the stable revision. "
    "Input: {deployment_id, steps, capability}."
)
PAUSED = {"type": "custom", "steps": [{"kind": "set_weight", "weight": 50}, {"kind": "pause"}]}


def started_by_the_previous_release(api, run, services, monkeypatch, name="web"):
    """A deployment paused mid-way on ``pilothouse-canary``, as the previous release started it;
    then the upgrade (the strategy workflows' names are the plan workflow's again)."""
    definition = {**deployments.builtin_definition("deployment-plan"), "Comment": OLD_COMMENT}
    services.orchestrator.create_workflow(
        "pilothouse-canary", definition, description="built-in: canary", actor="system", shipped=True
    )
    real = deployments.ensure_workflow
    with monkeypatch.context() as m:
        m.setattr(
            deployments,
            "ensure_workflow",
            lambda s, n: "pilothouse-canary" if n == deployments.PLAN_WORKFLOW else real(s, n),
        )
        update(api, {"version": "2.0.0", "strategy": PAUSED}, name)
        run()
    dep = deployment(api, name)
    assert (dep["workflow"], dep["status"], dep["waiting_for"]) == ("pilothouse-canary", "paused", "pause")
    return dep


def test_a_deployment_of_the_old_naming_is_promoted_to_its_end_after_the_upgrade(
    api, run, provider, services, monkeypatch
):
    """Given a deployment the previous release started on pilothouse-canary, paused until promoted
    When, after the upgrade, it is promoted
    Then its execution goes on on pilothouse-canary and succeeds, and a new update runs on the
    plan workflow."""
    running(api, run)
    dep = started_by_the_previous_release(api, run, services, monkeypatch)

    assert api.post(f"/v1/deployments/{dep['id']}/promote", {})[0] == 200
    run()

    done = deployment(api)
    assert (done["status"], done["workflow"]) == ("succeeded", "pilothouse-canary")
    assert services.orchestrator.describe("pilothouse-canary", dep["execution"])["status"] == "SUCCEEDED"
    assert (comp(api)["state"], comp(api)["version"]) == ("Running", "2.0.0")
    update(api, {"version": "3.0.0", "strategy": "all-at-once"})
    run()
    assert (deployment(api)["workflow"], deployment(api)["status"]) == (
        "pilothouse-deployment-plan",
        "succeeded",
    )


def test_a_deployment_of_the_old_naming_can_be_stopped_and_redriven_after_the_upgrade(
    api, run, provider, services, monkeypatch
):
    """Given a deployment the previous release started on pilothouse-canary, paused mid-way
    When, after the upgrade, it is rolled back break-glass
    Then its old execution is stopped, the deployment ends rolled back on the old version, and the
    stopped execution can still be redriven (its workflow is still registered)."""
    running(api, run)
    dep = started_by_the_previous_release(api, run, services, monkeypatch)

    assert api.post(f"/v1/deployments/{dep['id']}/rollback", {"reason": "upgrade"})[0] == 200
    run()

    assert deployment(api)["status"] in ("rolled_back", "aborted")
    assert (comp(api)["state"], comp(api)["version"]) == ("Running", "1.0.0")
    stopped = services.orchestrator.describe("pilothouse-canary", dep["execution"])
    assert stopped["status"] == "ABORTED"
    redriven = services.orchestrator.redrive("pilothouse-canary", dep["execution"], actor="admin")
    assert redriven["status"] == "RUNNING"
    services.orchestrator.stop("pilothouse-canary", dep["execution"])

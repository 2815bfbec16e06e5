"""Jobs of operations an older release queued: a deploy, update or retry stored without a plan
(``_steps``) — that release ran them through the provider directly — becomes a deployment."""

from __future__ import annotations

from pilothouse.services import components
from tests.support import deploying
from tests.support.deploying import comp, running

# the shared deployment fixtures (manual clock, fake revision provider, drain)
services, provider, run = deploying.services, deploying.provider, deploying.run


def queued_by_the_older_release(services, params: dict) -> str:
    """The web component Updating with an operation as the older release wrote it, and its job."""
    record = components.get(services, "web")
    op = {
        "id": "0000000001000000001-0ldre1ea",
        "command": "update",
        "params": params,
        "requested_at": "2026-11-26T10:00:00Z",
        "requested_epoch": services.clock.time(),
        "requested_by": "admin",
        "request_id": "req-old",
        "attempt": 0,
        "lease_until": None,
    }
    components.repo(services).update(
        record, {**record.data, "state": "Updating", "operation": op}, {"type": "update.requested"}
    )
    components.enqueue_job(services, "web", op["id"])
    return op["id"]


def test_an_update_stored_without_a_plan_runs_as_a_deployment(api, run, provider, services):
    """Given a Running component and an update to 2.0.0 queued by the older release (no plan)
    When its job runs after the upgrade
    Then the update is planned (all-at-once, the component has no strategy) and runs as a
    deployment on the plan workflow, and the component ends Running 2.0.0; the provider's
    update was never asked for."""
    running(api, run)
    op_id = queued_by_the_older_release(services, {"version": "2.0.0"})
    run()

    dep = api.get(f"/v1/deployments/{op_id}")[2]
    assert (dep["id"], dep["status"], dep["workflow"]) == (op_id, "succeeded", "pilothouse-deployment-plan")
    assert dep["strategy"]["type"] == "all-at-once"
    assert (comp(api)["state"], comp(api)["version"]) == ("Running", "2.0.0")
    assert "update" not in {call[0] for call in provider.calls}
    types = [e["type"] for e in api.get("/v1/components/web/events")[2]["items"]]
    assert "update.planned" in types


def test_an_update_stored_with_a_strategy_that_no_longer_plans_fails_clearly(api, run, provider, services):
    """Given an update queued by the older release with a strategy today's planner refuses
    When its job runs
    Then the operation ends at once: the old version keeps serving (Running 1.0.0), and the
    component's last error says why; no deployment is made."""
    running(api, run)
    op_id = queued_by_the_older_release(services, {"version": "2.0.0", "strategy": {"type": "bogus"}})
    run()

    c = comp(api)
    assert (c["state"], c["version"]) == ("Running", "1.0.0")
    assert "without a plan" in c["last_error"]["reason"] and "strategy" in c["last_error"]["reason"]
    assert api.get(f"/v1/deployments/{op_id}")[0] == 404

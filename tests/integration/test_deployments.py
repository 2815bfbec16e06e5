"""Deployments as strategy workflows, on the embedded cloud with an in-memory revision provider."""

from __future__ import annotations

from tests.support import deploying
from tests.support.deploying import GOOD_ANALYSIS, comp, deployment, running, spec, update

# the shared deployment fixtures (manual clock, fake revision provider, drain)
services, provider, run = deploying.services, deploying.provider, deploying.run


def test_first_deploy_is_a_deployment_record(api, run, provider):
    """Given a registered component, a deploy runs the all-at-once workflow: the record shows each
    step, the component ends Running, the deployment succeeded."""
    running(api, run)
    dep = deployment(api)
    assert dep["status"] == "succeeded" and dep["from_version"] is None and dep["to_version"] == "1.0.0"
    assert [s["kind"] for s in dep["steps"]] == ["prepare", "set_weight", "health"]
    assert all(s["status"] == "succeeded" for s in dep["steps"])
    assert list(dep["weights"].values()) == [100]
    types = [e["type"] for e in api.get(f"/v1/deployments/{dep['id']}/events")[2]["items"]]
    assert types[0] == "created" and types[-1] == "succeeded"


def test_canary_with_bake_and_analysis_succeeds(api, run, provider, clock):
    running(api, run)
    update(
        api,
        {
            "version": "2.0.0",
            "strategy": {
                "type": "canary",
                "percentage": 20,
                "interval_seconds": 60,
                "analysis": GOOD_ANALYSIS,
            },
        },
    )
    run()
    dep = deployment(api)
    assert dep["status"] == "in_progress" and dep["weights"] == {k: v for k, v in dep["weights"].items()}
    assert sorted(dep["weights"].values()) == [20, 80]
    clock.advance(61)
    run()
    assert len(deployment(api)["analysis"]) == 1
    clock.advance(10)
    run()
    dep = deployment(api)
    assert dep["status"] == "succeeded", dep
    assert [m["verdict"] for m in dep["analysis"]] == ["pass", "pass"]
    web = comp(api)
    assert (web["state"], web["version"]) == ("Running", "2.0.0")


def test_failed_analysis_rolls_back_and_keeps_the_old_version(api, run, provider, clock):
    """Given a canary whose error rate is too high, the analysis fails, traffic goes back to 1.0.0,
    the deployment is rolled_back and the component stays Running on 1.0.0."""
    running(api, run)
    provider.metrics["2.0.0"] = {"requests": 100, "errors": 30}
    update(
        api,
        {
            "version": "2.0.0",
            "strategy": {
                "type": "canary",
                "percentage": 10,
                "interval_seconds": 0,
                "analysis": {"max_error_rate": 0.05},
            },
        },
    )
    run()
    dep = deployment(api)
    assert dep["status"] == "rolled_back", dep
    assert dep["analysis"][0]["verdict"] == "fail" and "error rate" in dep["analysis"][0]["reasons"][0]
    web = comp(api)
    assert (web["state"], web["version"]) == ("Running", "1.0.0")
    assert [c[0] for c in provider.calls][-1] == "rollback"
    events = [e["type"] for e in api.get("/v1/components/web/events")[2]["items"]]
    assert events[-1] == "update.reverted"


def test_unhealthy_candidate_rolls_back(api, run, provider):
    running(api, run)
    provider.unhealthy_versions.add("2.0.0")
    update(api, {"version": "2.0.0", "strategy": "blue-green"})
    run()
    assert deployment(api)["status"] == "rolled_back"
    assert comp(api)["version"] == "1.0.0"


def test_a_version_that_never_starts_rolls_back_with_its_output(api, run, provider):
    running(api, run)
    provider.broken_versions.add("3.0.0")
    update(api, {"version": "3.0.0", "strategy": "Canary10Percent5Minutes"})
    run()
    dep = deployment(api)
    assert dep["status"] == "rolled_back" and "boom" in dep["error"]
    assert dep["steps"][0]["status"] == "failed"
    assert comp(api)["state"] == "Running"


def test_blue_green_approval_gate(api, run, provider, services):
    """Given a blue-green deploy with approval, it waits; a deployer without the approve permission
    is refused, a key granted deployments:approve approves, and it completes."""
    running(api, run, deployment={"separate_approver": True})
    update(api, {"version": "2.0.0", "strategy": {"type": "blue-green", "approval": True}})
    run()
    dep = deployment(api)
    assert dep["status"] == "awaiting_approval" and dep["waiting_for"] == "approval"
    assert "token" not in dep["pending_token"]
    deployer = api.post("/v1/api-keys", {"name": "d", "role": "deployer"})[2]["key"]
    status, _, problem = api.post(f"/v1/deployments/{dep['id']}/approve", key=deployer)
    assert status == 403
    # the initiator (the admin key) may not approve its own deployment here
    status, _, problem = api.post(f"/v1/deployments/{dep['id']}/approve")
    assert status == 403 and "not to be who started" in problem["detail"]
    prod_only = api.post(
        "/v1/api-keys",
        {
            "name": "p",
            "role": "operator",
            "permissions": ["deployments:approve"],
            "environments": ["production"],
        },
    )[2]["key"]
    assert api.post(f"/v1/deployments/{dep['id']}/approve", key=prod_only)[0] == 403
    approver = api.post(
        "/v1/api-keys", {"name": "a", "role": "operator", "permissions": ["deployments:approve"]}
    )[2]["key"]
    status, _, body = api.post(f"/v1/deployments/{dep['id']}/approve", {"comment": "lgtm"}, key=approver)
    assert status == 200 and body["approvals"][0]["decision"] == "approved"
    run()
    assert deployment(api)["status"] == "succeeded" and comp(api)["version"] == "2.0.0"


def test_rejection_rolls_back(api, run, provider):
    running(api, run)
    update(api, {"version": "2.0.0", "strategy": {"type": "blue-green", "approval": True}})
    run()
    dep = deployment(api)
    assert api.post(f"/v1/deployments/{dep['id']}/reject", {"reason": "not now"})[0] == 200
    run()
    dep = deployment(api)
    assert dep["status"] == "rolled_back" and dep["approvals"][0]["decision"] == "rejected"
    assert comp(api)["version"] == "1.0.0"


def test_pause_until_promoted_and_promote(api, run, provider):
    running(api, run)
    steps = [
        {"kind": "set_weight", "weight": 25},
        {"kind": "pause"},
        {"kind": "set_weight", "weight": 50},
        {"kind": "pause"},
    ]
    update(api, {"version": "2.0.0", "strategy": {"type": "custom", "steps": steps}})
    run()
    dep = deployment(api)
    assert (
        dep["status"] == "paused"
        and dep["waiting_for"] == "pause"
        and sorted(dep["weights"].values()) == [25, 75]
    )
    assert api.post(f"/v1/deployments/{dep['id']}/promote")[0] == 200
    run()
    dep = deployment(api)
    assert dep["status"] == "paused" and sorted(dep["weights"].values()) == [50, 50]
    assert api.post(f"/v1/deployments/{dep['id']}/promote", {"full": True})[0] == 200
    run()
    assert deployment(api)["status"] == "succeeded" and comp(api)["version"] == "2.0.0"


def test_pause_resume_and_abort(api, run, provider, clock):
    running(api, run)
    update(
        api,
        {
            "version": "2.0.0",
            "strategy": {
                "type": "linear",
                "percentage": 25,
                "interval_seconds": 30,
                "analysis": {"no_data": "pass"},
            },
        },
    )
    run()
    dep = deployment(api)
    assert api.post(f"/v1/deployments/{dep['id']}/pause")[0] == 200
    clock.advance(31)
    run()
    dep = deployment(api)
    assert dep["status"] == "paused" and dep["waiting_for"] == "gate"
    held = sorted(dep["weights"].values())
    clock.advance(300)
    run()
    assert sorted(deployment(api)["weights"].values()) == held  # nothing moves while paused
    assert api.post(f"/v1/deployments/{dep['id']}/resume")[0] == 200
    run()
    assert deployment(api)["status"] == "in_progress"
    status, _, body = api.post(f"/v1/deployments/{dep['id']}/abort", {"reason": "smells"})
    assert status == 200
    clock.advance(31)
    run()
    dep = deployment(api)
    assert dep["status"] == "aborted" and dep["abort_requested"]["reason"] == "smells"
    assert (comp(api)["state"], comp(api)["version"]) == ("Running", "1.0.0")
    assert api.post(f"/v1/deployments/{dep['id']}/resume")[0] == 409


def test_break_glass_rollback_mid_way(api, run, provider):
    running(api, run)
    update(
        api,
        {
            "version": "2.0.0",
            "strategy": {
                "type": "custom",
                "steps": [{"kind": "set_weight", "weight": 50}, {"kind": "pause"}],
            },
        },
    )
    run()
    status, _, body = api.post("/v1/components/web/rollback")
    assert status == 202 and body["state"] == "Updating"
    assert deployment(api)["status"] == "rolling_back"
    run()
    dep = deployment(api)
    assert dep["status"] == "rolled_back"
    assert (comp(api)["state"], comp(api)["version"]) == ("Running", "1.0.0")


def test_break_glass_to_the_previous_version(api, run, provider):
    running(api, run)
    update(api, {"version": "2.0.0"})
    run()
    assert comp(api)["version"] == "2.0.0"
    status, _, body = api.post("/v1/components/web/rollback")
    assert status == 202
    run()
    assert comp(api)["version"] == "1.0.0"
    assert [s["kind"] for s in deployment(api)["steps"]] == ["prepare", "set_weight"]


def test_freeze_refuses_deploys_with_the_reason(api, run, provider):
    running(api, run)
    status, _, _ = api.post(
        "/v1/freezes", {"scope": "environment", "target": "development", "reason": "holiday freeze"}
    )
    assert status == 201
    status, _, problem = api.post("/v1/components/web/update", {"version": "2.0.0"})
    assert status == 409 and "holiday freeze" in problem["detail"]
    assert [f["target"] for f in api.get("/v1/freezes")[2]["items"]] == ["development"]
    assert api.delete("/v1/freezes/environment/development")[0] == 204
    assert api.post("/v1/components/web/update", {"version": "2.0.0"})[0] == 202


def test_rolling_replaces_batches(api, run, provider):
    running(api, run, scaling={"min": 1, "max": 5, "replicas": 3})
    update(api, {"version": "2.0.0", "strategy": {"type": "rolling", "batch_size": 1}})
    run()
    dep = deployment(api)
    assert dep["status"] == "succeeded", dep
    replicas = [c for c in provider.calls if c[0] == "replicas"]
    assert len(replicas) == 5  # stable 2, candidate 2, stable 1, candidate 3, stable 0
    assert comp(api)["replicas"] == 3


def test_recreate_failure_restarts_the_old_version(api, run, provider):
    running(api, run)
    provider.unhealthy_versions.add("2.0.0")
    update(api, {"version": "2.0.0", "strategy": "all-at-once"})
    run()
    assert deployment(api)["status"] == "rolled_back"
    calls = [c for c in provider.calls if c[0] == "replicas"]
    assert calls[0][2] == 0 and calls[-1][2] >= 1  # stopped, then brought back
    assert comp(api)["version"] == "1.0.0"


def test_no_data_can_pause_for_a_person(api, run, provider):
    running(api, run)
    provider.metrics["2.0.0"] = {"requests": 0, "errors": 0}
    update(
        api,
        {
            "version": "2.0.0",
            "strategy": {
                "type": "canary",
                "percentage": 10,
                "interval_seconds": 0,
                "analysis": {"no_data": "pause", "health": False},
            },
        },
    )
    run()
    dep = deployment(api)
    assert dep["status"] == "paused" and dep["analysis"][0]["verdict"] == "no_data"
    assert dep["analysis"][0]["no_data_policy"] == "pause"
    api.post(f"/v1/deployments/{dep['id']}/promote")
    run()
    assert deployment(api)["status"] == "succeeded"


def test_no_data_fail_policy_rolls_back(api, run, provider):
    running(api, run)
    provider.metrics["2.0.0"] = {"requests": 0, "errors": 0}
    update(
        api,
        {
            "version": "2.0.0",
            "strategy": {
                "type": "canary",
                "percentage": 10,
                "interval_seconds": 0,
                "analysis": {"no_data": "fail", "health": False},
            },
        },
    )
    run()
    assert deployment(api)["status"] == "rolled_back"


def test_bad_strategy_is_422_before_anything_changes(api, run, provider):
    running(api, run)
    status, _, problem = api.post("/v1/components/web/update", {"version": "2.0.0", "strategy": "Sideways"})
    assert status == 422 and problem["errors"][0]["field"].startswith("strategy")
    assert comp(api)["state"] == "Running"


def test_promotion_across_environments(api, run, provider):
    running(api, run, "web-dev")
    running(api, run, "web-stg", environment="staging")
    update(api, {"version": "2.0.0"}, name="web-dev")
    run()
    status, _, ex = api.post("/v1/promotions", {"source": "web-dev", "target": "web-stg"})
    assert status == 201, ex
    run()
    assert comp(api, "web-stg")["version"] == "2.0.0"
    done = api.get(f"/v1/workflows/pilothouse-promote-environment/executions/{ex['name']}")[2]
    assert done["status"] == "SUCCEEDED"
    status, _, problem = api.post("/v1/promotions", {"source": "web-dev", "target": "web-dev"})
    assert status == 422


def test_users_can_name_their_own_strategy_workflow(api, run, provider):
    """Given a workflow registered by a user (here: the shipped plan workflow as a user may write it, its
    steps through the public strategy_step, plus a Comment), a deploy request naming it runs it;
    the shipped definition itself, which calls internal functions, cannot be registered by a user."""
    from pilothouse.services.deployments import builtin_definition, user_strategy_definition

    shipped = builtin_definition("deployment-plan")
    assert api.post("/v1/workflows", {"name": "my-strategy", "definition": shipped})[0] == 422
    mine = {**user_strategy_definition("deployment-plan"), "Comment": "my strategy"}
    assert api.post("/v1/workflows", {"name": "my-strategy", "definition": mine})[0] == 201
    running(api, run)
    update(
        api,
        {
            "version": "2.0.0",
            "strategy": {
                "type": "custom",
                "workflow": "my-strategy",
                "steps": [{"kind": "set_weight", "weight": 100}],
            },
        },
    )
    run()
    dep = deployment(api)
    assert dep["workflow"] == "my-strategy" and dep["status"] == "succeeded"


def test_fractional_seconds_are_rounded_up_and_the_deployment_finishes(api, run, provider, clock):
    """Given a pause of 0.5 s and an analysis interval of 0.5 s (ASL takes whole seconds), the plan
    rounds them up and the deployment runs through."""
    running(api, run)
    update(
        api,
        {
            "version": "2.0.0",
            "strategy": {
                "type": "custom",
                "steps": [
                    {"kind": "set_weight", "weight": 20},
                    {"kind": "pause", "seconds": 0.5},
                    {"kind": "analysis", "analysis": {"measurements": 2, "interval_seconds": 0.5}},
                ],
            },
        },
    )
    run()
    dep = deployment(api)
    assert [s.get("seconds") for s in dep["steps"] if s["kind"] == "pause"] == [1]
    assert [s["analysis"]["interval_seconds"] for s in dep["steps"] if s["kind"] == "analysis"] == [1]
    for _ in range(5):
        clock.advance(1)
        run()
    assert deployment(api)["status"] == "succeeded"


def test_a_workflow_that_dies_uncaught_still_rolls_the_deployment_back(api, run, provider, services):
    """Given a deployment whose workflow is stopped behind its back, the deployment is rolled back
    rather than left in progress."""
    running(api, run)
    update(
        api,
        {
            "version": "2.0.0",
            "strategy": {
                "type": "custom",
                "steps": [{"kind": "set_weight", "weight": 50}, {"kind": "pause"}],
            },
        },
    )
    run()
    dep = deployment(api)
    assert api.post(f"/v1/workflows/{dep['workflow']}/executions/{dep['execution']}/stop", {})[0] == 200
    run()
    assert deployment(api)["status"] == "rolled_back"
    assert (comp(api)["state"], comp(api)["version"]) == ("Running", "1.0.0")


def test_a_name_registered_again_in_the_same_millisecond_keeps_both_histories(api, services):
    """Given a component registered and deregistered while the clock stands still (a fast script)
    When the same name is registered again
    Then it is created (201), and its events follow the first record's instead of colliding."""
    assert api.post("/v1/components", spec("again"))[0] == 201
    assert api.delete("/v1/components/again")[0] == 204
    assert api.post("/v1/components", spec("again"))[0] == 201
    types = [e["type"] for e in api.get("/v1/components/again/events", query="limit=10")[2]["items"]]
    assert sorted(types) == ["deregistered", "registered", "registered"]


def _open_steps(dep):
    """Steps of an ended deployment still waiting, running or pending, or ended without a time."""
    return [
        (s["index"], s["kind"], s["status"])
        for s in dep["steps"]
        if s["status"] not in ("succeeded", "failed", "skipped") or not s.get("finished_at")
    ]


def test_every_step_ends_with_a_time_whatever_answered_it(api, run, provider):
    """Given deployments answered by approve, reject, promote, promote --full, abort and break-glass
    When each has ended
    Then no step is left waiting or pending, and the answered step ended when it was answered."""
    running(api, run)
    update(api, {"version": "2.0.0", "strategy": {"type": "blue-green", "approval": True}})
    run()
    dep = deployment(api)
    approver = api.post(
        "/v1/api-keys", {"name": "a", "role": "operator", "permissions": ["deployments:approve"]}
    )[2]["key"]
    status, _, body = api.post(f"/v1/deployments/{dep['id']}/approve", key=approver)
    gate = next(s for s in body["steps"] if s["kind"] == "approval")
    assert status == 200 and gate["status"] == "succeeded" and gate["finished_at"]
    run()
    dep = deployment(api)
    assert dep["status"] == "succeeded" and _open_steps(dep) == []

    update(api, {"version": "1.0.0", "strategy": {"type": "blue-green", "approval": True}})
    run()
    dep = deployment(api)
    status, _, body = api.post(f"/v1/deployments/{dep['id']}/reject", {"reason": "not now"})
    gate = next(s for s in body["steps"] if s["kind"] == "approval")
    assert status == 200 and gate["status"] == "failed" and gate["finished_at"]
    run()
    dep = deployment(api)
    assert dep["status"] == "rolled_back" and _open_steps(dep) == []

    steps = [{"kind": "set_weight", "weight": 25}, {"kind": "pause"}, {"kind": "set_weight", "weight": 50}]
    steps += [{"kind": "pause"}, {"kind": "set_weight", "weight": 75}, {"kind": "pause"}]
    update(api, {"version": "1.0.0", "strategy": {"type": "custom", "steps": steps}})
    run()
    dep = deployment(api)
    status, _, body = api.post(f"/v1/deployments/{dep['id']}/promote")
    first_pause = next(s for s in body["steps"] if s["kind"] == "pause")
    assert status == 200 and first_pause["status"] == "succeeded" and first_pause["finished_at"]
    run()
    assert api.post(f"/v1/deployments/{dep['id']}/promote", {"full": True})[0] == 200
    run()
    dep = deployment(api)
    assert dep["status"] == "succeeded" and _open_steps(dep) == []
    assert [s["status"] for s in dep["steps"] if s["kind"] == "pause"] == [
        "succeeded",
        "succeeded",
        "skipped",
    ]

    update(api, {"version": "2.0.0", "strategy": {"type": "custom", "steps": steps}})
    run()
    dep = deployment(api)
    assert api.post(f"/v1/deployments/{dep['id']}/abort", {"reason": "smells"})[0] == 200
    run()
    dep = deployment(api)
    assert dep["status"] == "aborted" and _open_steps(dep) == []
    assert {s["status"] for s in dep["steps"][2:]} == {"skipped"}  # never carried out

    update(api, {"version": "2.0.0", "strategy": {"type": "custom", "steps": steps}})
    run()
    assert api.post("/v1/components/web/rollback")[0] == 202
    run()
    dep = deployment(api)
    assert dep["status"] == "rolled_back" and _open_steps(dep) == []


def test_a_rollback_is_recorded_as_a_rollback(api, run, provider):
    """Given a component updated to 2.0.0
    When it is rolled back (break-glass, no deployment in flight)
    Then the deployment and the component's events say rollback, not update."""
    running(api, run)
    update(api, {"version": "2.0.0"})
    run()
    assert api.post("/v1/components/web/rollback")[0] == 202
    run()
    dep = deployment(api)
    assert (dep["command"], dep["strategy"]["preset"], dep["to_version"]) == ("rollback", "rollback", "1.0.0")
    events = api.get("/v1/components/web/events", query="limit=100")[2]["items"]
    assert {"rollback.requested", "rollback.succeeded"} <= {e["type"] for e in events}
    assert comp(api)["version"] == "1.0.0"


def test_a_control_at_the_wrong_gate_says_what_the_deployment_waits_for(api, run, provider):
    running(api, run)
    update(api, {"version": "2.0.0", "strategy": {"type": "custom", "steps": [{"kind": "pause"}]}})
    run()
    dep = deployment(api)
    status, _, problem = api.post(f"/v1/deployments/{dep['id']}/approve")
    assert status == 409
    assert problem["waiting_for"] == "pause" and problem["answered_by"] == ["promote"]
    assert f"pilothouse deployments promote {dep['id']}" in problem["detail"]


def test_scaling_to_the_count_it_has_is_answered_without_a_transition(api, run, provider):
    running(api, run)
    before = api.get("/v1/components/web/events", query="limit=100")[2]["items"]
    status, _, body = api.post("/v1/components/web/scale", {"replicas": 1})
    assert status == 200 and body["state"] == "Running" and body["replicas"] == 1
    assert api.get("/v1/components/web/events", query="limit=100")[2]["items"] == before
    assert api.post("/v1/components/web/scale", {"replicas": 2})[0] == 202  # a real change still runs


def test_freezing_a_frozen_target_keeps_its_reason_unless_replaced(api, run, provider):
    body = {"scope": "environment", "target": "production", "reason": "end-of-year freeze"}
    status, _, first = api.post("/v1/freezes", body)
    assert status == 201
    status, _, again = api.post("/v1/freezes", {**body, "reason": "something else"})
    assert status == 200 and again == first  # the first reason, who and when stay
    status, _, replaced = api.post("/v1/freezes", {**body, "reason": "something else", "replace": True})
    assert status == 201 and replaced["reason"] == "something else"
    assert [f["reason"] for f in api.get("/v1/freezes")[2]["items"]] == ["something else"]


def test_a_failed_call_says_why_in_its_audit_record(api, run, provider):
    running(api, run)
    assert api.post("/v1/components/web/deploy")[0] == 409
    records = api.get("/v1/audit", query="limit=5")[2]["items"]
    failed = next(r for r in records if r["operation"] == "deploy_component" and r["status"] == 409)
    assert failed["outcome"] == "failure"
    assert "cannot deploy a component in state Running" in failed["detail"]

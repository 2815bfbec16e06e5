"""Deployment policies in CEL: stored, versioned, enforced before acceptance, audited, dry-run
(issue 18 §2), with the issue's four examples."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.support.specs import spec

PROD_CANARY = {
    "name": "prod-canary",
    "match": {"operations": ["deploy_component", "update_component"], "environments": ["production"]},
    "rule": "request.strategy.canary && request.strategy.analysis && request.strategy.approval",
    "message": "production deploys need a canary with analysis and an approval",
}
FRIDAY = {
    "name": "no-friday-afternoon",
    "type": "window",
    "match": {"operations": ["deploy_component", "update_component"], "environments": ["production"]},
    "rule": '!(local_time("Europe/Berlin").weekday == "Friday" && local_time("Europe/Berlin").hour >= 15)'
    " || request.break_glass",
    "message": "no deploys to production on Friday after 15:00 Europe/Berlin unless break-glass",
}
SRE_ROLLBACK = {
    "name": "sre-break-glass",
    "match": {"operations": ["rollback_component", "rollback_deployment"]},
    "rule": '"sre" in principal.groups',
    "message": "only group sre may use break-glass rollback",
}
DEV_REPLICAS = {
    "name": "dev-replicas",
    "match": {"operations": ["scale_component"], "environments": ["development"]},
    "rule": "request.replicas <= 10",
    "message": "replicas at most 10 in development",
}
CANARY_WITH_APPROVAL = {
    "type": "custom",
    "steps": [
        {"kind": "set_weight", "weight": 10},
        {"kind": "analysis"},
        {"kind": "approval"},
        {"kind": "set_weight", "weight": 100},
    ],
}


def _friday_afternoon_in_berlin(after: float) -> float:
    """The first Friday 16:30 Europe/Berlin (15:30 UTC in winter, 14:30 in summer) after ``after``."""
    from zoneinfo import ZoneInfo

    berlin = ZoneInfo("Europe/Berlin")
    day = datetime.fromtimestamp(after, berlin).replace(hour=16, minute=30, second=0, microsecond=0)
    while day.weekday() != 4 or day.timestamp() <= after:
        day += timedelta(days=1)
    return day.timestamp()


def _deny(api, method, path, body, policy, status=403, **kw):
    got, headers, problem = api.call(method, path, body, **kw)
    assert got == status, problem
    assert headers["content-type"] == "application/problem+json"
    assert problem["policy"] == policy["name"] and policy["message"] in problem["detail"]
    return problem


def test_crud_versions_and_permissions(api):
    """Given an admin, Then a policy is created (v1), updated (v2, history kept), guarded against
    a stale version, listed beside the built-in freeze policy, and deleted; a deployer may read
    policies but not write them; a rule that is not CEL is a 422 naming the rule."""
    status, _, created = api.post("/v1/policies", DEV_REPLICAS)
    assert status == 201 and created["version"] == 1
    assert api.post("/v1/policies", DEV_REPLICAS)[0] == 409
    change = {"match": DEV_REPLICAS["match"], "rule": "request.replicas <= 8", "expected_version": 1}
    status, _, updated = api.call("PUT", "/v1/policies/dev-replicas", change)
    assert status == 200 and updated["version"] == 2 and updated["rule"] == "request.replicas <= 8"
    status, _, problem = api.call("PUT", "/v1/policies/dev-replicas", {"rule": "true", "expected_version": 1})
    assert status == 409 and problem["version"] == 2
    got = api.get("/v1/policies/dev-replicas")[2]
    assert [h["version"] for h in got["history"]] == [1, 2]
    names = [p["name"] for p in api.get("/v1/policies")[2]["items"]]
    assert names == ["dev-replicas", "builtin-freeze"]
    status, _, problem = api.post(
        "/v1/policies", {**DEV_REPLICAS, "name": "bad", "rule": "request.replicas <="}
    )
    assert status == 422 and "rule" in problem["detail"], problem
    deployer = api.post("/v1/api-keys", {"name": "d", "role": "deployer"})[2]["key"]
    assert api.get("/v1/policies", key=deployer)[0] == 200
    assert api.post("/v1/policies", {**DEV_REPLICAS, "name": "x"}, key=deployer)[0] == 403
    assert api.delete("/v1/policies/dev-replicas")[0] == 204
    assert api.get("/v1/policies/dev-replicas")[0] == 404


def test_production_deploys_need_a_canary_with_analysis_and_approval(api):
    api.post("/v1/policies", PROD_CANARY)
    assert api.post("/v1/components", spec("shop", environment="production"))[0] == 201
    _deny(api, "POST", "/v1/components/shop/deploy", {"strategy": "all-at-once"}, PROD_CANARY)
    _deny(api, "POST", "/v1/components/shop/deploy", {"strategy": "Canary10Percent5Minutes"}, PROD_CANARY)
    assert api.post("/v1/components/shop/deploy", {"strategy": CANARY_WITH_APPROVAL})[0] == 202
    api.post("/v1/components", spec("dev"))
    assert api.post("/v1/components/dev/deploy", {"strategy": "all-at-once"})[0] == 202  # not production


def test_no_friday_afternoon_deploys_to_production_unless_break_glass(manual_services, clock, api):
    """Given the window policy and a clock on Friday 16:30 in Berlin, Then a production deploy is
    409 naming the policy, and passes with a Break-Glass header; on Thursday it passes."""
    api.post("/v1/policies", FRIDAY)
    api.post("/v1/components", spec("shop", environment="production"))
    api.post("/v1/components", spec("shop2", environment="production"))
    clock.set(_friday_afternoon_in_berlin(clock.time()))
    _deny(api, "POST", "/v1/components/shop/deploy", {}, FRIDAY, status=409)
    headers = {"Break-Glass": "INC-123 checkout down"}
    assert api.post("/v1/components/shop/deploy", {}, headers=headers)[0] == 202
    clock.advance(-86400)  # Thursday
    assert api.post("/v1/components/shop2/deploy", {})[0] == 202


def test_only_group_sre_may_use_break_glass_rollback(api):
    """Given the policy, Then an API key (no groups) is refused a rollback naming the policy, and
    a dry run shows an sre principal allowed and a dev principal denied."""
    api.post("/v1/policies", SRE_ROLLBACK)
    api.post("/v1/components", spec("web"))
    _deny(api, "POST", "/v1/components/web/rollback", {}, SRE_ROLLBACK)
    facts = [
        {"operation": "rollback_component", "environment": "production", "principal": {"groups": g}}
        for g in (["sre"], ["dev"])
    ]
    report = api.post("/v1/policies/test", {"requests": facts})[2]
    assert [r["denied_by"] for r in report["results"]] == [[], ["sre-break-glass"]]


def test_replicas_at_most_10_in_development(api):
    api.post("/v1/policies", DEV_REPLICAS)
    api.post("/v1/components", spec("web"))
    api.post("/v1/components", spec("prod", environment="production"))
    _deny(api, "POST", "/v1/components/web/scale", {"replicas": 12}, DEV_REPLICAS)
    assert api.post("/v1/components/web/scale", {"replicas": 5})[0] == 409  # allowed; Registered can't scale
    assert api.post("/v1/components/prod/scale", {"replicas": 12})[0] == 409  # other environment


def test_decisions_are_audited_and_audit_mode_only_records(api):
    """Given an enforcing and an audit-mode policy, Then the request's audit record lists both
    decisions; the audit-mode deny refuses nothing."""
    api.post("/v1/policies", DEV_REPLICAS)
    api.post(
        "/v1/policies",
        {**DEV_REPLICAS, "name": "dev-replicas-4", "rule": "request.replicas <= 4", "mode": "audit"},
    )
    api.post("/v1/components", spec("web"))
    assert api.post("/v1/components/web/scale", {"replicas": 6})[0] == 409  # passed both; Registered
    api.post("/v1/components/web/scale", {"replicas": 11})
    records = api.get("/v1/audit", query="operation=scale_component")[2]["items"]
    denied, allowed = records[0], records[1]
    assert {d["policy"]: d["decision"] for d in denied["policies"]} == {
        "dev-replicas": "deny",
        "dev-replicas-4": "deny",
    }
    assert {d["policy"]: d["decision"] for d in allowed["policies"]} == {
        "dev-replicas": "allow",
        "dev-replicas-4": "deny",
    }
    assert allowed["request"]["request"]["replicas"] == 6 and "config" not in allowed["request"]["request"]


def test_dry_run_over_past_requests(api):
    """Given past scale requests, When a new policy is tested against them, Then the report shows
    which it would have denied, and nothing is stored or refused."""
    api.post("/v1/components", spec("web"))
    for n in (3, 7, 9):
        api.post("/v1/components/web/scale", {"replicas": n})
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    candidate = {**DEV_REPLICAS, "rule": "request.replicas <= 5"}
    report = api.post("/v1/policies/test", {"policy": candidate, "since": today})[2]
    scaled = [r for r in report["results"] if r["operation"] == "scale_component"]
    assert [bool(r["denied_by"]) for r in scaled] == [False, True, True]
    assert api.get("/v1/policies")[2]["items"][0]["name"] == "builtin-freeze"


def test_freezes_count_as_a_built_in_policy(api):
    api.post("/v1/components", spec("web"))
    api.post("/v1/freezes", {"scope": "environment", "target": "development", "reason": "release"})
    facts = {"operation": "deploy_component", "environment": "development", "component": {"name": "web"}}
    report = api.post("/v1/policies/test", {"requests": [facts]})[2]
    assert report["results"][0]["denied_by"] == ["builtin-freeze"]


@pytest.mark.parametrize("rule", ["request.nothing.here == 1", "request.replicas / 0 == 1"])
def test_a_rule_that_fails_to_evaluate_denies(api, rule):
    api.post("/v1/policies", {**DEV_REPLICAS, "rule": rule})
    api.post("/v1/components", spec("web"))
    _deny(api, "POST", "/v1/components/web/scale", {"replicas": 1}, DEV_REPLICAS)


def test_racing_updates_of_one_version_leave_exactly_one_winner(services):
    """Given a policy at version 1, When 6 updates that all expect version 1 race, Then exactly one
    wins (version 2) and the others are 409; the history holds versions 1 and 2 only."""
    from concurrent.futures import ThreadPoolExecutor

    from pilothouse.errors import Conflict
    from pilothouse.services import policies

    policies.create(services, DEV_REPLICAS, actor="a")

    def update(n: int) -> str:
        body = {"match": DEV_REPLICAS["match"], "rule": f"request.replicas <= {n}"}
        try:
            policies.update(services, "dev-replicas", body, actor=f"u{n}", expected_version=1)
            return "won"
        except Conflict:
            return "409"

    with ThreadPoolExecutor(6) as pool:
        outcomes = list(pool.map(update, range(6)))
    assert outcomes.count("won") == 1, outcomes
    assert [v["version"] for v in policies.repo(services).versions("dev-replicas")] == [1, 2]

"""Workflows started by an OIDC user call the public operations with that user's grant, no more
(issue 18 §1): the role its verified token granted at the start, checked per environment, under
the deployment policies, lapsing after ``oidc_workflow_grant_seconds``; never the control plane's
own power, and no token kept anywhere."""

from __future__ import annotations

import json
import time

import pytest

from tests.support import deploying
from tests.support.oidc_issuer import LocalIssuer

# the shared deployment fixtures (manual clock, fake revision provider, drain)
services, provider, run = deploying.services, deploying.provider, deploying.run


def _task(resource: str, **params) -> dict:
    return {
        "StartAt": "T",
        "States": {"T": {"Type": "Task", "Resource": resource, "Parameters": params, "End": True}},
    }


SCALE = _task("scale_component", **{"name.$": "$.name", "replicas.$": "$.replicas"})
UPDATE = _task("update_component", **{"name.$": "$.name", "version": "2.0.0"})
LATER_SCALE = {
    "StartAt": "W",
    "States": {
        "W": {"Type": "Wait", "Seconds": 5, "Next": "T"},
        "T": {**SCALE["States"]["T"]},
    },
}


@pytest.fixture
def issuer(env, monkeypatch, loopback_only, clock):
    """Given a trusted local issuer: ``sre`` is deployer everywhere, ``ops`` operator everywhere,
    ``devs`` deployer in development only; grants last two hours. The manual clock reads real time
    (the tokens are minted on it)."""
    clock.set(time.time())
    with LocalIssuer() as iss:
        config = [
            {
                "issuer": iss.url,
                "audience": "pilothouse",
                "roles": [
                    {"value": "sre", "role": "deployer"},
                    {"value": "ops", "role": "operator"},
                    {"value": "devs", "role": "deployer", "environments": ["development"]},
                ],
            }
        ]
        monkeypatch.setenv("PILOTHOUSE_OIDC_ISSUERS", json.dumps(config))
        monkeypatch.setenv("PILOTHOUSE_OIDC_WORKFLOW_GRANT_SECONDS", "3600")
        yield iss


def _running(api, run, name, environment="development"):
    body = {
        "name": name,
        "provider": "local",
        "environment": environment,
        "version": "1.0.0",
        "target": {"command": ["{python}", "app.py", "--port", "{port}"]},
        "scaling": {"min": 1, "max": 5},
    }
    assert api.post("/v1/components", body)[0] == 201
    assert api.post(f"/v1/components/{name}/deploy")[0] == 202
    run()
    assert api.get(f"/v1/components/{name}")[2]["state"] == "Running"


def _start(api, workflow, payload, token, name):
    status, _, body = api.post(
        f"/v1/workflows/{workflow}/executions", {"name": name, "input": payload}, key=token
    )
    assert status == 201, body


def _execution(api, workflow, name):
    return api.get(f"/v1/workflows/{workflow}/executions/{name}")[2]


def _workflow(api, name, definition):
    status, _, body = api.post("/v1/workflows", {"name": name, "definition": definition})
    assert status == 201, body


def test_an_oidc_users_workflow_runs_public_operations_as_that_user(issuer, api, run, provider, services):
    """Given an sre user's token, When their workflow scales a component, Then it succeeds, the
    audit record names the OIDC principal, and no token is stored anywhere."""
    _running(api, run, "web")
    _workflow(api, "scale", SCALE)
    token = issuer.mint({"groups": ["sre"], "email": "ana@example.com"}, lifetime=600)
    _start(api, "scale", {"name": "web", "replicas": 3}, token, "ok")
    run()
    done = _execution(api, "scale", "ok")
    assert done["status"] == "SUCCEEDED", done
    assert api.get("/v1/components/web")[2]["replicas"] == 3
    audit = [a for a in api.get("/v1/audit", query="operation=scale_component")[2]["items"]]
    assert audit[0]["principal"] == f"oidc:{issuer.url}#user-1" and audit[0]["outcome"] == "success"
    assert "workflow task scale/ok" in audit[0]["detail"]
    dumped = json.dumps([i.data for i in services.store.scan_all("WORKFLOW_GRANT", "")])
    assert "ana@example.com" in dumped and token not in dumped and token.split(".")[2] not in dumped


def test_a_weaker_role_gets_no_more_through_a_workflow(issuer, api, run, provider, services):
    """Given a user who is operator everywhere and deployer in development only, When their
    workflows update a production and a development component, Then production fails with
    Pilothouse.Forbidden naming the environment (audited as denied), development succeeds; and an
    operator-only user's update fails for want of components:deploy."""
    _running(api, run, "dev")
    _running(api, run, "prod", environment="production")
    _workflow(api, "update", UPDATE)
    mixed = issuer.mint({"groups": ["ops", "devs"]}, lifetime=600)
    _start(api, "update", {"name": "prod"}, mixed, "to-prod")
    _start(api, "update", {"name": "dev"}, mixed, "to-dev")
    operator = issuer.mint({"sub": "user-2", "groups": ["ops"]}, lifetime=600)
    _start(api, "update", {"name": "dev"}, operator, "operator")
    run()
    refused = _execution(api, "update", "to-prod")
    assert (refused["status"], refused["error"]) == ("FAILED", "Pilothouse.Forbidden"), refused
    assert "production" in refused["cause"]
    assert _execution(api, "update", "to-dev")["status"] == "SUCCEEDED"
    weaker = _execution(api, "update", "operator")
    assert weaker["error"] == "Pilothouse.Forbidden" and "components:deploy" in weaker["cause"]
    assert api.get("/v1/components/prod")[2]["version"] == "1.0.0"
    denied = [
        a
        for a in api.get("/v1/audit", query="operation=update_component")[2]["items"]
        if a["outcome"] == "denied"
    ]
    assert {a["target"] for a in denied} == {"component:prod", "component:dev"}


def test_a_grant_lapses_and_a_forged_token_starts_nothing(issuer, api, run, provider, services, clock):
    """Given an sre user's execution whose task runs after its grant (one hour) lapsed, Then the
    task fails with Pilothouse.Forbidden saying the grant lapsed; a token signed by a key the issuer
    never published starts nothing (401) and writes no grant."""
    from tests.support.oidc_issuer import make_key

    _running(api, run, "web")
    _workflow(api, "later", LATER_SCALE)
    _start(
        api, "later", {"name": "web", "replicas": 4}, issuer.mint({"groups": ["sre"]}, lifetime=600), "late"
    )
    run()
    clock.advance(3700)
    run()
    late = _execution(api, "later", "late")
    assert (late["status"], late["error"]) == ("FAILED", "Pilothouse.Forbidden") and "lapsed" in late["cause"]
    assert api.get("/v1/components/web")[2]["replicas"] == 1

    issuer.keys["rogue"] = make_key("RS256", "rogue")  # not in the JWKS
    clock.set(time.time())
    forged = issuer.mint({"sub": "mallory", "groups": ["sre"]}, kid="rogue", lifetime=600)
    status, _, problem = api.post(
        "/v1/workflows/later/executions",
        {"name": "forged", "input": {"name": "web", "replicas": 5}},
        key=forged,
    )
    assert status == 401, problem
    assert services.store.get("WORKFLOW_GRANT", f"oidc:{issuer.url}#mallory") is None


def test_policies_apply_to_a_workflows_mutations(issuer, api, run, provider):
    """Given the policy "replicas at most 10 in development", When an sre user's workflow scales to
    12, Then the task fails with Pilothouse.Forbidden naming the policy and nothing changes."""
    api.post(
        "/v1/policies",
        {
            "name": "dev-replicas",
            "match": {"operations": ["scale_component"], "environments": ["development"]},
            "rule": "request.replicas <= 10",
            "message": "replicas at most 10 in development",
        },
    )
    _running(api, run, "web")
    _workflow(api, "scale", SCALE)
    _start(
        api, "scale", {"name": "web", "replicas": 12}, issuer.mint({"groups": ["sre"]}, lifetime=600), "big"
    )
    run()
    done = _execution(api, "scale", "big")
    assert (done["status"], done["error"]) == ("FAILED", "Pilothouse.Forbidden") and "dev-replicas" in done[
        "cause"
    ]
    assert api.get("/v1/components/web")[2]["replicas"] == 1
    [denied] = [
        a
        for a in api.get("/v1/audit", query="operation=scale_component")[2]["items"]
        if a["outcome"] == "denied"
    ]
    assert [(d["policy"], d["decision"]) for d in denied["policies"]] == [("dev-replicas", "deny")]
    assert denied["principal"] == f"oidc:{issuer.url}#user-1"


def _remap(monkeypatch, services, sre_role: str) -> None:
    """The settings' mapping of ``sre`` changed by the operator while executions run."""
    from pilothouse.domain.identity import RoleRule

    issuer = services.settings.oidc_issuers[0]
    roles = tuple(RoleRule(value=r.value, role=sre_role) if r.value == "sre" else r for r in issuer.roles)
    changed = issuer.model_copy(update={"roles": roles})
    monkeypatch.setattr(
        services, "settings", services.settings.model_copy(update={"oidc_issuers": (changed,)})
    )


def test_a_changed_role_mapping_reaches_running_workflows_only_downwards(
    issuer, api, run, provider, services, monkeypatch
):
    """Given an sre (deployer) user's execution waiting before its update, When the mapping of sre
    is lowered to viewer, Then its task is refused (Pilothouse.Forbidden, audited as denied); When
    it is raised to admin, Then the next execution's update succeeds and its tasks still act as a
    deployer at most (the starter's role)."""
    from pilothouse.domain.security import Role
    from pilothouse.services.workflow_grants import principal_of

    _running(api, run, "web")
    later_update = {
        "StartAt": "W",
        "States": {"W": {"Type": "Wait", "Seconds": 5, "Next": "T"}, "T": {**UPDATE["States"]["T"]}},
    }
    _workflow(api, "later-update", later_update)
    token = issuer.mint({"groups": ["sre"]}, lifetime=600)
    _start(api, "later-update", {"name": "web"}, token, "lowered")
    run()
    _remap(monkeypatch, services, "viewer")
    clock = services.clock
    clock.advance(10)
    run()
    lowered = _execution(api, "later-update", "lowered")
    assert (lowered["status"], lowered["error"]) == ("FAILED", "Pilothouse.Forbidden"), lowered
    assert api.get("/v1/components/web")[2]["version"] == "1.0.0"
    denied = [
        a
        for a in api.get("/v1/audit", query="operation=update_component")[2]["items"]
        if a["outcome"] == "denied"
    ]
    assert [a["principal"] for a in denied] == [f"oidc:{issuer.url}#user-1"]

    _remap(monkeypatch, services, "deployer")  # as it was: the next start is granted deployer
    _start(api, "later-update", {"name": "web"}, token, "raised")
    run()
    _remap(monkeypatch, services, "admin")
    clock.advance(10)
    run()
    assert _execution(api, "later-update", "raised")["status"] == "SUCCEEDED"
    assert principal_of(services, f"oidc:{issuer.url}#user-1").role == Role.DEPLOYER
    assert api.get("/v1/components/web")[2]["version"] == "2.0.0"

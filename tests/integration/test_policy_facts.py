"""Policy facts per resource type: the ``{name}`` route parameter of a system's (or an alert's,
a channel's...) operation is never looked up as a component, so a system named like a component
is judged with its own members' environment, never that component's (issue 18 §2, the name
collision an attacker could use to slip a production change past a production-only policy)."""

from __future__ import annotations

from pilothouse.domain.security import Permission, Principal, Role
from pilothouse.errors import Forbidden
from pilothouse.services.admission import check_environment_role, request_facts, resource_kind
from tests.support.specs import spec

PROD_NO_SYSTEM_DEPLOYS = {
    "name": "prod-systems-frozen",
    "match": {"operations": ["deploy_system", "deploy_component"], "environments": ["production"]},
    "rule": "false",
    "message": "no system deploys to production this week",
}


def _system(api, name: str, members: list[str]) -> None:
    status, _, body = api.post("/v1/systems", {"name": name, "components": [{"name": m} for m in members]})
    assert status == 201, body


def test_resource_kind_comes_from_the_route_not_the_parameter_name():
    assert resource_kind("update_component") == "component"
    assert resource_kind("put_component_config") in ("component", None)
    assert resource_kind("promote_system") == "system"
    assert resource_kind("create_system") == "system"
    for operation in ("delete_policy", "ack_alert", "delete_channel", "rotate_webhook_source", "nope"):
        assert resource_kind(operation) is None, operation


def test_a_production_system_named_like_a_development_component_is_judged_as_production(api):
    """Given a development component ``web`` and a system ``web`` of production members, When the
    system is deployed under a production-only policy, Then 403 naming the policy (judged on the
    system's members, not on the development component that shares its name)."""
    api.post("/v1/policies", PROD_NO_SYSTEM_DEPLOYS)
    assert api.post("/v1/components", spec("web"))[0] == 201  # development
    assert api.post("/v1/components", spec("pay", environment="production"))[0] == 201
    _system(api, "web", ["pay"])
    status, headers, problem = api.post("/v1/systems/web/deploy")
    assert status == 403, problem
    assert headers["content-type"] == "application/problem+json"
    assert problem["policy"] == "prod-systems-frozen"
    audit = api.get("/v1/audit", query="operation=deploy_system")[2]["items"][0]
    assert audit["status"] == 403
    assert [(d["policy"], d["decision"]) for d in audit["policies"]] == [("prod-systems-frozen", "deny")]


def test_a_development_system_named_like_a_production_component_is_not_judged_as_production(api):
    """Given a production component ``shop`` and a system ``shop`` of development members, Then the
    system deploys (202) under the production-only policy while the component ``shop`` is refused."""
    api.post("/v1/policies", PROD_NO_SYSTEM_DEPLOYS)
    assert api.post("/v1/components", spec("shop", environment="production"))[0] == 201
    assert api.post("/v1/components", spec("cart"))[0] == 201
    _system(api, "shop", ["cart"])
    assert api.post("/v1/systems/shop/deploy")[0] == 202
    assert api.post("/v1/components/shop/deploy", {})[0] == 403
    audit = api.get("/v1/audit", query="operation=deploy_system")[2]["items"][0]
    assert audit["request"]["system"] == {
        "name": "shop",
        "labels": {},
        "components": ["cart"],
        "environments": ["development"],
    }
    assert audit["request"]["environment"] == "development" and audit["request"]["component"] == {}


def test_cel_rules_see_the_system(api):
    """Given a rule over ``system.components``, Then it sees the system's members."""
    api.post(
        "/v1/policies",
        {
            "name": "no-legacy-in-systems",
            "match": {"operations": ["deploy_system"]},
            "rule": '!("legacy" in system.components)',
            "message": "retire legacy first",
        },
    )
    for name in ("legacy", "fresh"):
        api.post("/v1/components", spec(name))
    _system(api, "old", ["legacy", "fresh"])
    _system(api, "new", ["fresh"])
    assert api.post("/v1/systems/old/deploy")[2]["policy"] == "no-legacy-in-systems"
    assert api.post("/v1/systems/new/deploy")[0] == 202


def test_an_environment_limited_role_cannot_reach_production_through_a_name_collision(services):
    """Given a principal that is deployer in development only, a development component ``web`` and
    a system ``web`` of production members, Then deploying the system is refused (403) and the
    component's own deploy is allowed."""
    from pilothouse.domain.components import ComponentSpec
    from pilothouse.domain.systems import SystemSpec
    from pilothouse.services import components, systems

    components.register(services, ComponentSpec.model_validate(spec("web")), actor="t")
    components.register(
        services, ComponentSpec.model_validate(spec("pay", environment="production")), actor="t"
    )
    systems.create(
        services, SystemSpec.model_validate({"name": "web", "components": [{"name": "pay"}]}), actor="t"
    )
    dev = Principal(
        id="oidc:https://id.example#dev",
        name="dev",
        role=Role.VIEWER,
        kind="oidc",
        environment_roles=(("development", Role.DEPLOYER),),
    )
    facts = request_facts(services, dev, operation="deploy_system", params={"name": "web"}, body={})
    assert facts["environment"] == "production" and facts["system"]["components"] == ["pay"]
    try:
        check_environment_role(dev, Permission.COMPONENTS_DEPLOY, facts)
    except Forbidden as exc:
        assert "production" in exc.detail
    else:
        raise AssertionError("a development deployer was let deploy a production system")
    facts = request_facts(services, dev, operation="deploy_component", params={"name": "web"}, body={})
    check_environment_role(dev, Permission.COMPONENTS_DEPLOY, facts)  # development: allowed

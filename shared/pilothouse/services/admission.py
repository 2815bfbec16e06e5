"""Admission of a mutating request, after authentication and before the endpoint runs.

The HTTP guard asks :func:`admit` once per mutating request. It gathers the *facts* of the
request (who, which operation, which component and environment, which strategy, how many
replicas) and refuses it (403) when the principal's role does not hold the operation's permission
in the environment of what it changes (an OIDC group mapped to a role in some environments only).
Deployment policies (:mod:`pilothouse.services.policies`) are then evaluated over the same facts.

    >>> from pilothouse.domain.security import Principal, Role
    >>> p = Principal(id="oidc:x#u", name="u", role=Role.VIEWER, kind="oidc",
    ...               environment_roles=(("development", Role.DEPLOYER),))
    >>> describe_principal(p)["role"], describe_principal(p)["kind"]
    ('viewer', 'oidc')
"""

from __future__ import annotations

import functools
from typing import Any

from pilothouse.domain.security import Permission, Principal
from pilothouse.errors import Forbidden
from pilothouse.repositories.components import ComponentRepository
from pilothouse.repositories.deployments import DeploymentRepository
from pilothouse.services.context import ServiceContext


def describe_principal(principal: Principal) -> dict[str, Any]:
    """The principal as policies see it (no credential): id, kind, role, groups, issuer..."""
    return {
        "id": principal.id,
        "kind": principal.kind,
        "name": principal.name,
        "role": principal.role.label,
        "environment_roles": {env: role.label for env, role in principal.environment_roles},
        "groups": list(principal.groups),
        "issuer": principal.issuer or "",
        "subject": principal.subject or "",
        "email": principal.email or "",
        "permissions": sorted(principal.permissions),
    }


#: environments from the least to the most protected: a request touching several is judged as
#: one to the most protected of them
_ENVIRONMENT_ORDER = ("development", "staging", "production")


@functools.lru_cache(maxsize=512)
def resource_kind(operation: str) -> str | None:
    """What the ``{name}`` route parameter of ``operation`` names: ``component``, ``system`` or
    None (a policy, a channel, a webhook source, an alert...: never looked up as a component, so a
    system or an alert rule named like a component is never judged with that component's facts).

        >>> resource_kind("scale_component"), resource_kind("deploy_system"), resource_kind("ack_alert")
        ('component', 'system', None)

    Kept per operation name: the catalogue is fixed when the process starts.
    """
    from pilothouse.catalogue import entry

    if operation == "create_system":
        return "system"
    try:
        route = getattr(entry(operation).trigger, "route", "")
    except KeyError:
        return None
    for prefix, kind in (("/v1/components/{name}", "component"), ("/v1/systems/{name}", "system")):
        if route == prefix or route.startswith(prefix + "/"):
            return kind
    return None


def _component_facts(services: ServiceContext, name: str | None) -> dict[str, Any] | None:
    if not name:
        return None
    item = ComponentRepository(services.store).get(name)
    if item is None:
        return None
    spec = item.data.get("spec") or {}
    return {
        "name": name,
        "environment": spec.get("environment", ""),
        "provider": spec.get("provider", ""),
        "labels": dict(spec.get("labels") or {}),
        "state": item.data.get("state", ""),
        "version": item.data.get("version") or "",
        "replicas": item.data.get("replicas", 0),
    }


def _system_facts(services: ServiceContext, name: Any, body: dict[str, Any]) -> dict[str, Any] | None:
    """A system's facts: its name, labels, members and their environments (a system being
    created: the members its body names)."""
    from pilothouse.repositories.systems import SystemRepository

    if not isinstance(name, str) or not name:
        return None
    item = SystemRepository(services.store).get(name)
    spec = (item.data.get("spec") or {}) if item is not None else body
    raw = spec.get("components")
    members: list[Any] = raw if isinstance(raw, list) else []
    names = [str(m.get("name", "")) for m in members if isinstance(m, dict)]
    repo = ComponentRepository(services.store)
    environments = set()
    for member in names:
        record = repo.get(member) if member else None
        if record is not None:
            environments.add(str((record.data.get("spec") or {}).get("environment", "")))
    labels = spec.get("labels")
    return {
        "name": name,
        "labels": dict(labels) if isinstance(labels, dict) else {},
        "components": names,
        "environments": sorted(e for e in environments if e),
    }


def _most_protected(environments: list[str]) -> str:
    known = [e for e in _ENVIRONMENT_ORDER if e in environments]
    return known[-1] if known else (environments[0] if environments else "")


def request_facts(
    services: ServiceContext,
    principal: Principal,
    *,
    operation: str,
    params: dict[str, str],
    body: Any,
    break_glass: str | None = None,
) -> dict[str, Any]:
    """What a policy may look at: ``principal``, ``operation``, ``component``, ``environment``,
    ``request`` (the body, with ``strategy`` and ``replicas`` spelled out) and ``deployment``."""
    body = body if isinstance(body, dict) else {}
    kind = resource_kind(operation)
    component = _component_facts(services, params.get("name")) if kind == "component" else None
    system = None
    if kind == "system":
        system = _system_facts(services, params.get("name") or body.get("name"), body)
    deployment = None
    if params.get("deployment_id"):
        item = DeploymentRepository(services.store).get(params["deployment_id"])
        if item is not None:
            deployment = {
                "id": params["deployment_id"],
                "component": item.data.get("component", ""),
                "environment": item.data.get("environment", ""),
                "status": item.data.get("status", ""),
            }
            component = component or _component_facts(services, item.data.get("component"))
    if component is None and operation == "register_component":
        component = {
            "name": str(body.get("name", "")),
            "environment": str(body.get("environment", "development")),
            "provider": str(body.get("provider", "")),
            "labels": body.get("labels") if isinstance(body.get("labels"), dict) else {},
            "state": "",
            "version": str(body.get("version", "")),
            "replicas": 0,
        }
    environment = (component or deployment or {}).get("environment") or str(body.get("environment") or "")
    environments = [environment] if environment else []
    if system is not None:
        environments = list(system["environments"])
        if operation == "promote_system":  # what a promotion changes: the ``to`` system's members
            target = _system_facts(services, body.get("to"), {})
            environments = list((target or {}).get("environments") or [])
        environment = _most_protected(environments)
    return {
        "principal": describe_principal(principal),
        "operation": operation,
        "component": component or {},
        "system": system or {},
        "deployment": deployment or {},
        "environment": environment,
        "environments": environments,
        "request": {
            **body,
            **_strategy_facts(body),
            "break_glass": bool(break_glass),
            "break_glass_reason": (break_glass or "")[:300],
        },
    }


def _strategy_facts(body: dict[str, Any]) -> dict[str, Any]:
    """``strategy`` as a map (type, steps' kinds, analysis, approval) whatever its spelling."""
    raw = body.get("strategy")
    if raw is None:
        return {"strategy": {}}
    from pilothouse.domain.deployments import compile_plan, parse_strategy

    try:
        strategy = parse_strategy(raw)
        plan = compile_plan(strategy, replicas=max(1, int(body.get("replicas", 1) or 1)))
        kinds = [s["kind"] for s in plan]
    except Exception:  # the endpoint refuses a bad strategy with the field named; policies see it raw
        return {"strategy": {"type": str(raw) if isinstance(raw, str) else "", "steps": []}}
    return {
        "strategy": {
            "type": strategy.type,
            "preset": raw if isinstance(raw, str) else "",
            "steps": kinds,
            # traffic shifted in part before all of it: a canary (or linear, or custom weights)
            "canary": any(s["kind"] == "set_weight" and 0 < s.get("weight", 100) < 100 for s in plan),
            "analysis": "analysis" in kinds,
            "approval": "approval" in kinds,
        }
    }


def check_environment_role(principal: Principal, permission: Permission, facts: dict[str, Any]) -> None:
    """403 when the principal's role holds ``permission`` elsewhere but not in this environment."""
    if not principal.environment_roles:
        return  # the role holds everywhere and the guard checked it
    for environment in facts.get("environments") or [facts["environment"] or None]:
        if not principal.can_in(permission, environment):
            where = environment or "resources without an environment"
            raise Forbidden(
                f"{permission.value} is held in {', '.join(e for e, _ in principal.environment_roles)} "
                f"only, not for {where}",
                extra={"required_permission": permission.value, "environment": environment or ""},
            )


def admit(
    services: ServiceContext,
    principal: Principal,
    *,
    operation: str,
    permission: Permission,
    params: dict[str, str],
    body: Any,
    break_glass: str | None = None,
) -> dict[str, Any]:
    """Refuse (403/409) a mutating request its principal's environment roles or the deployment
    policies do not allow; answer what the audit record keeps of it: ``request`` (the facts it
    was judged on, less the body's other fields) and ``policies`` (each matching policy's decision).
    """
    from pilothouse.services import policies

    facts = request_facts(
        services, principal, operation=operation, params=params, body=body, break_glass=break_glass
    )
    check_environment_role(principal, permission, facts)
    decisions = policies.enforce(services, facts)
    return {"request": audit_facts(facts), "policies": decisions}


#: what the audit record keeps of a request's body (enough to replay it against a new policy)
KEPT_FIELDS = ("strategy", "replicas", "version", "break_glass", "break_glass_reason", "environment")


def audit_facts(facts: dict[str, Any]) -> dict[str, Any]:
    """The facts as the audit record keeps them: no config values, no other body field."""
    p = facts["principal"]
    return {
        "principal": {k: p[k] for k in ("id", "kind", "role", "environment_roles", "groups", "issuer")},
        "operation": facts["operation"],
        "component": facts["component"],
        "system": facts.get("system") or {},
        "deployment": facts["deployment"],
        "environment": facts["environment"],
        "request": {k: facts["request"][k] for k in KEPT_FIELDS if k in facts["request"]},
    }


def admit_task(
    services: ServiceContext,
    principal: Principal,
    *,
    operation: str,
    permission: Permission,
    mutating: bool,
    params: dict[str, str],
    body: dict[str, Any],
) -> list[dict[str, Any]]:
    """A workflow task's call of a public operation, judged as the same API request would be: the
    principal's role must hold ``permission`` in the environment of what it reads or changes, and
    a mutation must pass the deployment policies; their decisions (for the audit record)."""
    from pilothouse.services import policies

    if not params and not mutating:
        return []  # a listing: nothing environment-specific to judge
    facts = request_facts(services, principal, operation=operation, params=params, body=body)
    check_environment_role(principal, permission, facts)
    return policies.enforce(services, facts) if mutating else []

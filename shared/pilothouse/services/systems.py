"""The system manager: systems of components, their checked dependency graph, and their rollouts.

Deploying, updating, promoting or stopping a system records a *rollout* (each member's action,
from and to versions, step) and starts one execution of the shipped workflow ``system-rollout``,
which advances it (:mod:`pilothouse.services.system_rollouts`). One rollout runs at a time per
system: starting another while one is in progress is a 409.
"""

from __future__ import annotations

import uuid
from typing import Any

from pilothouse.clock import iso
from pilothouse.domain.deployments import CAPABILITY_FIELD, new_capability
from pilothouse.domain.systems import (
    ENVIRONMENT_ORDER,
    ROLLOUT_DONE,
    SystemChange,
    SystemSpec,
    base_name,
    find_cycle,
    waves,
    worst_health,
)
from pilothouse.errors import AlreadyExists, Conflict, ValidationFailed, VersionConflict
from pilothouse.repositories.systems import SystemRepository
from pilothouse.services.context import ServiceContext

WORKFLOW = "system-rollout"


def repo(services: ServiceContext) -> SystemRepository:
    return SystemRepository(services.store)


# -- the graph ------------------------------------------------------------------------------------


def _components(services: ServiceContext, spec: SystemSpec) -> dict[str, dict[str, Any]]:
    """The members' component records; 422 naming a member that is not registered."""
    from pilothouse.services import components

    found: dict[str, dict[str, Any]] = {}
    for i, member in enumerate(spec.components):
        record = components.repo(services).get(member.name)
        if record is None:
            raise ValidationFailed.field(f"components[{i}].name", f"no component is named {member.name!r}")
        found[member.name] = record.data
    return found


def graph_of(services: ServiceContext, spec: SystemSpec) -> dict[str, list[str]]:
    """The members' dependency graph (spec ``dependencies`` + ``depends_on``), checked: a dependency
    naming no registered component, environments that differ, or a cycle is a 422."""
    from pilothouse.services import components

    records = _components(services, spec)
    envs = {r["spec"]["environment"] for r in records.values()}
    if len(envs) > 1:
        raise ValidationFailed.field(
            "components",
            f"a system's components live in one environment; these are in {', '.join(sorted(envs))}",
        )
    graph: dict[str, list[str]] = {}
    for i, member in enumerate(spec.components):
        deps = list(
            dict.fromkeys([*records[member.name]["spec"].get("dependencies", []), *member.depends_on])
        )
        for dep in deps:
            if dep not in records and components.repo(services).get(dep) is None:
                raise ValidationFailed.field(
                    f"components[{i}]",
                    f"{member.name} depends on {dep!r}, which is not a registered component",
                )
        graph[member.name] = [d for d in deps if d in records]
    cycle = find_cycle(graph)
    if cycle:
        raise ValidationFailed.field("components", f"dependency cycle: {' → '.join(cycle)}")
    return graph


# -- records --------------------------------------------------------------------------------------


def create(services: ServiceContext, spec: SystemSpec, *, actor: str) -> dict[str, Any]:
    """Register a system (its graph checked)."""
    graph_of(services, spec)
    now = iso(services.clock.time())
    data = {
        "name": spec.name,
        "spec": spec.model_dump(mode="json"),
        "created_at": now,
        "updated_at": now,
        "created_by": actor,
    }
    try:
        repo(services).create(data)
    except AlreadyExists:
        raise AlreadyExists(f"a system named {spec.name!r} exists already", extra={"field": "name"}) from None
    return view(services, data)


def change(services: ServiceContext, name: str, change: SystemChange, *, actor: str) -> dict[str, Any]:
    """Change a system's members or settings (not while a rollout runs)."""
    item = repo(services).require(name)
    _not_rolling(item.data)
    merged = {**item.data["spec"], **change.model_dump(mode="json", exclude_none=True)}
    spec = SystemSpec.model_validate(merged)
    graph_of(services, spec)
    data = {**item.data, "spec": spec.model_dump(mode="json"), "updated_at": iso(services.clock.time())}
    try:
        repo(services).save(item, data)
    except VersionConflict:
        raise VersionConflict(f"system {name!r} changed meanwhile; read it again") from None
    return view(services, data)


def get(services: ServiceContext, name: str) -> dict[str, Any]:
    return view(services, repo(services).require(name).data)


def list_systems(services: ServiceContext, *, limit: int = 50, cursor: str | None = None):
    page = repo(services).page(limit=limit, cursor=cursor)
    return [view(services, i.data, members=False) for i in page.items], page.cursor


def delete(services: ServiceContext, name: str) -> None:
    """Forget a system (its components stay as they are); not while a rollout runs."""
    item = repo(services).require(name)
    _not_rolling(item.data)
    repo(services).delete_with_rollouts(item)


def _not_rolling(data: dict[str, Any]) -> None:
    rollout = data.get("rollout") or {}
    if rollout and rollout.get("status") not in ROLLOUT_DONE:
        raise Conflict(
            f"system {data['name']!r} has rollout {rollout['id']} in progress; wait for it to end",
            extra={"rollout": rollout["id"]},
        )


def view(services: ServiceContext, data: dict[str, Any], *, members: bool = True) -> dict[str, Any]:
    """A system as answered: spec, health (worst of its members'), version set, latest rollout."""
    from pilothouse.services import components

    out = {k: v for k, v in data.items()}
    if not members:
        return out
    version_set, healths, rows = {}, [], []
    environment = None
    for member in data["spec"]["components"]:
        record = components.repo(services).get(member["name"])
        comp = record.data if record is not None else {}
        health = ((comp.get("health") or {}) if isinstance(comp.get("health"), dict) else {}).get("status")
        healths.append(health)
        environment = environment or (comp.get("spec") or {}).get("environment")
        version_set[member["name"]] = comp.get("version")
        rows.append(
            {
                "name": member["name"],
                "state": comp.get("state", "Missing"),
                "version": comp.get("version"),
                "health": health or "Unknown",
                "url": comp.get("url"),
            }
        )
    out.update(environment=environment, health=worst_health(healths), version_set=version_set, members=rows)
    rollout = data.get("rollout")
    if rollout:
        item = repo(services).rollout(data["name"], rollout["id"])
        if item is not None:
            out["rollout"] = rollout_view(item.data)
    return out


def rollout_view(data: dict[str, Any]) -> dict[str, Any]:
    """A rollout as answered: its capability digests are never shown."""
    hidden = {"capabilities"}
    members = {
        n: {k: v for k, v in m.items() if k not in ("sent", "started_epoch", "after")}
        for n, m in data["members"].items()
    }
    return {**{k: v for k, v in data.items() if k not in hidden}, "members": members}


def rollouts(services: ServiceContext, name: str, *, limit: int = 20, cursor: str | None = None):
    repo(services).require(name)
    page = repo(services).rollouts(name, limit=limit, cursor=cursor)
    return [rollout_view(i.data) for i in page.items], page.cursor


# -- rollouts -------------------------------------------------------------------------------------


def _member_plan(
    spec: SystemSpec, comps: dict[str, dict[str, Any]], action: str, versions: dict[str, str]
) -> dict[str, dict[str, Any]]:
    from pilothouse.services import components

    plan: dict[str, dict[str, Any]] = {}
    for m in spec.components:
        comp = comps[m.name]
        state, current = comp["state"], comp.get("version")
        target = versions.get(m.name) or (comp["spec"]["version"] if action == "deploy" else None)
        step = "pending"
        if action == "stop":
            step = "pending" if state == "Running" else "unchanged"
        elif target is None or (state == "Running" and current == target):
            step = "unchanged"
        elif state not in ("Registered", "Running"):
            raise Conflict(
                f"{m.name} is {state}; a system {action} moves only Registered or Running components",
                extra={"component": m.name, "state": state},
            )
        if target is not None and step == "pending":
            components.check_version(comp["spec"], target, f"versions.{m.name}")
        plan[m.name] = {
            "action": "stop" if action == "stop" else ("deploy" if state == "Registered" else "update"),
            "from_state": state,
            "from_version": current,
            "to_version": None if action == "stop" else target,
            "strategy": m.strategy,
            "step": step,
        }
    return plan


def start_rollout(
    services: ServiceContext,
    name: str,
    action: str,
    *,
    actor: str,
    versions: dict[str, str] | None = None,
    max_parallel: int | None = None,
    source: str | None = None,
) -> dict[str, Any]:
    """Record a rollout of ``action`` and start the one execution that runs it."""
    from pilothouse.services.strategy_workflows import ensure_workflow

    for key in versions or {}:
        if key not in {m["name"] for m in repo(services).require(name).data["spec"]["components"]}:
            raise ValidationFailed.field(f"versions.{key}", f"{key} is not a component of system {name!r}")
    item = repo(services).require(name)
    _not_rolling(item.data)
    spec = SystemSpec.model_validate(item.data["spec"])
    graph = graph_of(services, spec)
    comps = _components(services, spec)
    order = waves(graph)
    if action == "stop":  # dependents first
        order = order[::-1]
        reverse: dict[str, list[str]] = {n: [] for n in graph}
        for n, deps in graph.items():
            for d in deps:
                reverse[d].append(n)
        graph = reverse
    members = _member_plan(spec, comps, action, versions or {})
    for n, member in members.items():
        member["after"] = graph[n]
    now = services.clock.time()
    rollout_id = f"sr-{int(now * 1000):013d}-{uuid.uuid4().hex[:6]}"
    capability, digest = new_capability()
    rollout: dict[str, Any] = {
        "id": rollout_id,
        "system": name,
        "action": action,
        "status": "in_progress",
        "waves": order,
        "max_parallel": max_parallel or spec.max_parallel,
        "members": members,
        "started_at": iso(now),
        "started_by": actor,
        "updated_at": iso(now),
        "capabilities": [digest],
        "execution": f"{name}-{rollout_id}",
        **({"source": source} if source else {}),
    }
    pointer = {"id": rollout_id, "action": action, "status": "in_progress", "started_at": iso(now)}
    data = {**item.data, "rollout": pointer, "updated_at": iso(now)}
    try:
        repo(services).start_rollout(item, data, rollout)
    except (VersionConflict, AlreadyExists):
        raise VersionConflict(
            f"system {name!r} changed while the {action} was being accepted; read it again"
        ) from None
    workflow = ensure_workflow(services, WORKFLOW)
    services.orchestrator.start(
        workflow,
        name=rollout["execution"],
        input={
            "system": name,
            "rollout_id": rollout_id,
            "poll_seconds": services.settings.system_poll_seconds,
            CAPABILITY_FIELD: capability,
        },
        actor=actor,
        trusted=True,
    )
    return view(services, data)


def promote(
    services: ServiceContext, name: str, to: str, *, actor: str, max_parallel: int | None = None
) -> dict[str, Any]:
    """Move every member's running version to its twin (same name, or ``<name>-<environment>``) in
    system ``to``, one environment further, as one rollout of ``to``."""
    from pilothouse.services import components

    src = repo(services).require(name).data
    dst = repo(services).require(to).data
    src_view, dst_view = view(services, src), view(services, dst)
    s_env, t_env = src_view["environment"], dst_view["environment"]
    if (
        s_env not in ENVIRONMENT_ORDER
        or t_env not in ENVIRONMENT_ORDER
        or (ENVIRONMENT_ORDER.index(t_env) != ENVIRONMENT_ORDER.index(s_env) + 1)
    ):
        raise ValidationFailed.field(
            "to", f"a promotion goes one environment on from {s_env}; {to} is in {t_env}"
        )
    twins = {base_name(m["name"]): m["name"] for m in dst["spec"]["components"]}
    versions: dict[str, str] = {}
    for member in src_view["members"]:
        twin = twins.get(base_name(member["name"]))
        if twin is None:
            raise ValidationFailed.field("to", f"{to} has no twin of {member['name']}")
        if member["state"] != "Running" or not member["version"]:
            raise Conflict(
                f"{member['name']} is {member['state']}; promote a system whose components all run"
            )
        components.check_version(components.get(services, twin).data["spec"], member["version"], "to")
        versions[twin] = member["version"]
    return start_rollout(
        services, to, "promote", actor=actor, versions=versions, max_parallel=max_parallel, source=name
    )

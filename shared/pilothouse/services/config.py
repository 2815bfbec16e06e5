"""The configuration manager: layered, validated, versioned config that reaches running components
as deployments (DESIGN §11, issue 13).

A component's config in an environment resolves from its schema's defaults < the shared sets it
includes < the environment's overrides < its own overrides (:mod:`pilothouse.domain.config_layers`).
Every change writes an immutable version (author, message, time) after the resolved config passed
the component's ``config_schema``; a change of a Running component's resolved config starts an
``update`` deployment with the component's strategy, and that deployment names the version. A
deployment that is rolled back writes a version restoring the config that ran before.
"""

from __future__ import annotations

import logging
from typing import Any

from pilothouse.clock import iso
from pilothouse.domain import config_layers as layers
from pilothouse.domain.lifecycle import Command
from pilothouse.errors import (
    AlreadyExists,
    Conflict,
    NotFound,
    PilothouseError,
    ValidationFailed,
    VersionConflict,
)
from pilothouse.ports import Item
from pilothouse.repositories.config import (
    ConfigRepository,
    component_scope,
    environment_scope,
    set_scope,
)
from pilothouse.services import components
from pilothouse.services.context import ServiceContext

log = logging.getLogger(__name__)

#: the kinds of shared scopes (``PUT /v1/config-sets/{name}``, ``PUT /v1/environments/{env}/config``)
SHARED_KINDS = ("set", "environment")
#: states in which a config change can start its deployment at once
ROLLOUT_STATES = ("Running",)
#: states in which the change is kept for the next deploy (written into the spec's config)
KEPT_STATES = ("Registered", "Stopped", "Failed")
#: states of a deployment in flight: a change is stored and queued, rolled out when it ends
QUEUED_STATES = ("Deploying", "Updating")


def repo(services: ServiceContext) -> ConfigRepository:
    return ConfigRepository(services.store)


def _shared_scope(kind: str, name: str) -> str:
    return set_scope(name) if kind == "set" else environment_scope(name)


def version_view(item: Item) -> dict[str, Any]:
    """The public shape of one version."""
    d = item.data
    out: dict[str, Any] = {
        k: d[k] for k in ("scope", "version", "kind", "author", "message", "created_at") if k in d
    }
    out.update(values=d["values"], includes=d.get("includes", []))
    if d.get("resolved") is not None:
        out.update(resolved=d["resolved"], sources=d.get("sources", {}))
    for key in ("restored_from", "deployment_id"):
        if d.get(key) is not None:
            out[key] = d[key]
    return out


def _layers(
    services: ServiceContext, environment: str, includes: list[str], values: dict[str, Any]
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The layers above the schema defaults, weakest first, and the versions they came from."""
    found: list[dict[str, Any]] = []
    sources: dict[str, int] = {}
    for i, name in enumerate(includes):
        latest = repo(services).latest(set_scope(name))
        if latest is None:
            raise ValidationFailed.field(f"includes[{i}]", f"no shared config set named {name!r}")
        found.append(latest.data["values"])
        sources[set_scope(name)] = latest.data["version"]
    env = repo(services).latest(environment_scope(environment))
    if env is not None:
        found.append(env.data["values"])
        sources[environment_scope(environment)] = env.data["version"]
    found.append(values)
    return found, sources


def resolve(
    services: ServiceContext,
    spec: dict[str, Any],
    environment: str,
    includes: list[str],
    values: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, int]]:
    """The resolved config (and its sources' versions); 422 naming each JSON path it breaks."""
    found, sources = _layers(services, environment, includes, values)
    resolved = layers.resolve(spec.get("config_schema"), found)
    _check_refs(resolved)
    _check_secrets_exist(services, resolved)
    errors = layers.validation_errors(spec.get("config_schema"), resolved)
    if errors:
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        raise ValidationFailed(f"the config does not match config_schema: {summary}", errors)
    return resolved, sources


def _check_refs(config: Any, path: tuple = ()) -> None:
    """A map with a ``$secret`` key is a well-formed reference (a name, maybe a version)."""
    if isinstance(config, dict):
        if layers.SECRET in config and not layers.is_secret_ref(config):
            raise ValidationFailed.field(
                layers.json_path(path),
                'a secret reference is {"$secret": "<name>"} with an optional "version"',
            )
        for key, value in config.items():
            _check_refs(value, (*path, key))
    elif isinstance(config, list):
        for i, value in enumerate(config):
            _check_refs(value, (*path, i))


def _check_secrets_exist(services: ServiceContext, config: dict[str, Any]) -> None:
    """Each referenced secret (and pinned version) exists: 422 naming the JSON path otherwise."""
    from pilothouse.repositories.secrets import SecretRepository

    errors = []
    for path, ref in layers.secret_refs(config):
        item = SecretRepository(services.store).get(ref[layers.SECRET])
        versions = {v["version"] for v in item.data["versions"]} if item else set()
        if item is None:
            errors.append(
                {"field": layers.json_path(path), "message": f"no secret named {ref[layers.SECRET]!r}"}
            )
        elif ref.get("version") and ref["version"] not in versions:
            message = f"secret {ref[layers.SECRET]!r} keeps no version {ref['version']}"
            errors.append({"field": layers.json_path(path), "message": message})
    if errors:
        raise ValidationFailed("; ".join(f"{e['field']}: {e['message']}" for e in errors), errors)


def current(services: ServiceContext, name: str, environment: str | None = None) -> dict[str, Any]:
    """The newest version of a component's config in an environment (its own environment by
    default); before any version, version 0: what the spec's config and the layers resolve to."""
    record = components.get(services, name)
    spec = record.data["spec"]
    env = environment or spec["environment"]
    latest = repo(services).latest(component_scope(name, env))
    if latest is not None:
        return version_view(latest)
    found, sources = _layers(services, env, [], spec.get("config") or {})
    resolved = layers.resolve(spec.get("config_schema"), found)
    return {
        "scope": component_scope(name, env),
        "version": 0,
        "kind": "spec",
        "values": spec.get("config") or {},
        "includes": [],
        "resolved": resolved,
        "sources": sources,
    }


def set_config(
    services: ServiceContext,
    name: str,
    *,
    values: dict[str, Any] | None,
    includes: list[str] | None = None,
    environment: str | None = None,
    merge: bool = False,
    message: str,
    actor: str,
    request_id: str | None = None,
    base_version: int | None = None,
    strategy: dict[str, Any] | None = None,
    kind: str = "set",
    restored_from: int | None = None,
) -> dict[str, Any]:
    """Write a new version of a component's config (its overrides and/or the sets it includes),
    validated against its schema, and roll it out. ``merge`` lays ``values`` over the current
    overrides instead of replacing them; ``base_version`` makes the write conditional (409 if
    another version landed since). Answers the version and its rollout."""
    record = components.get(services, name)
    spec = record.data["spec"]
    env = environment or spec["environment"]
    scope = component_scope(name, env)
    head = repo(services).head(scope)
    at = head.data["version"] if head else 0
    if base_version is not None and base_version != at:
        raise VersionConflict(
            f"the config of {name!r} in {env} is at version {at}, not {base_version}; read it again",
            extra={"field": "base_version", "version": at},
        )
    previous = repo(services).version(scope, at) if head else None
    before = previous.data if previous else {"values": spec.get("config") or {}, "includes": []}
    new_values = (
        layers.merge(before["values"], values or {})
        if merge
        else (values if values is not None else before["values"])
    )
    new_includes = list(includes) if includes is not None else list(before.get("includes", []))
    resolved, sources = resolve(services, spec, env, new_includes, new_values)
    own = env == spec["environment"]
    if own and record.state not in (*ROLLOUT_STATES, *KEPT_STATES, *QUEUED_STATES):
        raise Conflict(
            f"component {name!r} is {record.state}; change its config once the running command ends",
            extra={"state": record.state},
            headers={"Retry-After": "5"},
        )
    if (
        previous is not None
        and (new_values, new_includes) == (before["values"], before.get("includes", []))
        and (previous.data.get("resolved") == resolved)
    ):
        return {"changed": False, "version": version_view(previous), "deployment": None}
    written = _append(
        services,
        head,
        scope,
        values=new_values,
        includes=new_includes,
        resolved=resolved,
        sources=sources,
        kind=kind,
        actor=actor,
        message=message,
        request_id=request_id,
        restored_from=restored_from,
    )
    if own:
        rollout = _rollout(services, name, written, actor=actor, request_id=request_id, strategy=strategy)
    else:  # another environment's config: it reaches the component when promoted there
        rollout = None
        repo(services).done(scope, written.data["version"])
    return {"changed": True, "version": version_view(written), "deployment": rollout}


def _append(services: ServiceContext, head: Item | None, scope: str, *, actor: str, **fields: Any) -> Item:
    from pilothouse.services import config_watch

    data = {
        "scope": scope,
        "version": (head.data["version"] if head else 0) + 1,
        "values": fields["values"],
        "includes": fields.get("includes") or [],
        **({"resolved": fields["resolved"], "sources": fields["sources"]} if "resolved" in fields else {}),
        "kind": fields["kind"],
        "author": actor,
        "message": fields["message"],
        "created_at": iso(services.clock.time()),
        "request_id": fields.get("request_id"),
    }
    for key in ("restored_from", "deployment_id"):
        if fields.get(key) is not None:
            data[key] = fields[key]
    try:
        written = repo(services).append(head, data, data["created_at"])
    except (VersionConflict, AlreadyExists):  # AlreadyExists: another writer took version 1 first
        raise VersionConflict(
            f"another change of {scope} landed first; read it again", extra={"field": "base_version"}
        ) from None
    config_watch.changed(services, scope, data["version"])
    return written


def _rollout_now(
    services: ServiceContext,
    name: str,
    version: Item,
    *,
    actor: str,
    request_id: str | None,
    strategy: dict[str, Any] | None,
) -> dict[str, Any] | None:
    """Move the component to the version's resolved config: a deployment when it runs, the spec's
    config when it does not (its next deploy takes it). None when it already has that config.

    A deployment that cannot start now (another command won the race) leaves the version
    ``queued``: when the deployment in flight ends, :func:`deployment_ended` rolls the newest
    version out."""
    resolved = version.data["resolved"]
    for _ in range(10):
        record = components.get(services, name)
        if record.data["spec"].get("config") == resolved:
            return None
        if _newer_exists(services, version):
            return {"status": "superseded"}
        if record.state in ROLLOUT_STATES and not record.data.get("operation"):
            params: dict[str, Any] = {"config": resolved, "config_version": version.data["version"]}
            if strategy is not None:
                params["strategy"] = strategy
            try:
                answer = components.command(
                    services, name, Command.UPDATE, params, actor=actor, request_id=request_id
                )
            except PilothouseError as exc:
                return {"status": "queued", "reason": exc.detail}
            return {"operation_id": answer["operation"]["id"], "status": "started"}
        if record.state not in KEPT_STATES:
            return {"status": "queued", "reason": f"component is {record.state}"}
        data = {**record.data, "spec": {**record.data["spec"], "config": resolved}}
        event = {
            "type": "config.changed",
            "from": record.state,
            "to": record.state,
            "actor": actor,
            "request_id": request_id,
            "params": {"config_version": version.data["version"]},
        }
        try:
            components.repo(services).update(record, data, event)
        except VersionConflict:
            continue  # another writer changed the record: read it again
        return {"status": "kept_for_next_deploy"}
    return {"status": "queued", "reason": "the component kept changing"}


def _rollout(
    services: ServiceContext,
    name: str,
    version: Item,
    *,
    actor: str,
    request_id: str | None,
    strategy: dict[str, Any] | None,
) -> dict[str, Any] | None:
    """:func:`_rollout_now`, then the version's pending marker is settled unless it is queued."""
    outcome = _rollout_now(services, name, version, actor=actor, request_id=request_id, strategy=strategy)
    if outcome is None or outcome["status"] != "queued":
        repo(services).done(version.data["scope"], version.data["version"])
    return outcome


def sweep_pending(services: ServiceContext, *, older_than: float = 30.0) -> list[str]:
    """Roll out the versions whose writer did not (it died between storing and rolling out, or
    its change was queued behind a deployment that never told its end). Answers the scopes."""
    from pilothouse.clock import parse_iso

    done = []
    now = services.clock.time()
    for marker in repo(services).pending():
        if now - parse_iso(marker.data["at"]) < older_than:
            continue
        scope = marker.data["scope"]
        latest = repo(services).latest(scope)
        component, _, _env = scope.removeprefix("component:").rpartition("@")
        if latest is None or components.repo(services).get(component) is None:
            repo(services).done(scope, marker.data["version"])
            continue
        try:
            _rollout(services, component, latest, actor="system", request_id=None, strategy=None)
        except PilothouseError as exc:
            log.warning("config rollout of %s still owed: %s", scope, exc.detail)
            continue
        done.append(scope)
    return done


def _newer_exists(services: ServiceContext, version: Item) -> bool:
    head = repo(services).head(version.data["scope"])
    return head is not None and head.data["version"] > version.data["version"]


def history(
    services: ServiceContext, name: str, environment: str | None, *, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """A component's config versions, newest first."""
    spec = components.get(services, name).data["spec"]
    page = repo(services).page(
        component_scope(name, environment or spec["environment"]), limit=limit, cursor=cursor
    )
    return [version_view(i) for i in page.items], page.cursor


def version(services: ServiceContext, name: str, environment: str | None, number: int) -> dict[str, Any]:
    """One version of a component's config (404 naming it if there is none)."""
    spec = components.get(services, name).data["spec"]
    env = environment or spec["environment"]
    item = repo(services).version(component_scope(name, env), number)
    if item is None:
        raise NotFound(f"the config of {name!r} in {env} has no version {number}", extra={"field": "version"})
    return version_view(item)


def diff(services: ServiceContext, name: str, environment: str | None, old: int, new: int) -> dict[str, Any]:
    """What changed between two versions: in the resolved config and in the overrides."""
    a = version(services, name, environment, old)
    b = version(services, name, environment, new)
    return {
        "from": old,
        "to": new,
        "changes": layers.diff(a.get("resolved") or {}, b.get("resolved") or {}),
        "overrides": layers.diff(a["values"], b["values"]),
        "includes": {"from": a["includes"], "to": b["includes"]},
    }


def rollback(
    services: ServiceContext,
    name: str,
    environment: str | None,
    to: int,
    *,
    message: str | None,
    actor: str,
    request_id: str | None = None,
    strategy: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A new version with the content of version ``to`` (the history keeps every version)."""
    old = version(services, name, environment, to)
    return set_config(
        services,
        name,
        values=old["values"],
        includes=old["includes"],
        environment=environment,
        message=message or f"rollback to version {to}",
        actor=actor,
        request_id=request_id,
        strategy=strategy,
        kind="rollback",
        restored_from=to,
    )


def deployment_ended(services: ServiceContext, deployment: dict[str, Any], succeeded: bool) -> None:
    """An update deployment ended. If it rolled out a config version and did not succeed, and that
    version is still the newest, write a version restoring the config that runs (so the stored and
    served config is what runs). Then, if a newer version is waiting (written while the deployment
    ran), roll it out. A succeeded rollback to the previous revision writes a version restoring the
    config that revision ran with, unless a change was written while it ran: that one rolls out.
    Called by the deployment manager."""
    scope = component_scope(deployment["component"], deployment["environment"])
    head = repo(services).head(scope)
    if (
        succeeded
        and deployment.get("restores_config_version")
        and head is not None
        and head.data["version"] == deployment.get("config_head")
    ):  # no change was written while the rollback ran (one that was rolls out below)
        from pilothouse.services.config_restore import restore

        restore(services, deployment, head)
        return
    if head is None and not (succeeded and deployment.get("config") is not None):
        return
    number = deployment.get("config_version")
    if number and not succeeded and head is not None and head.data["version"] == number:
        _revert(services, deployment, head)
        return
    restoring = deployment.get("restores_config_version") is not None
    if succeeded and not number and not restoring and deployment.get("config") is not None:
        _record_update(services, deployment, head)
        return
    latest = repo(services).version(scope, head.data["version"]) if head is not None else None
    if latest is not None and latest.data.get("resolved") is not None:
        _rollout(services, deployment["component"], latest, actor="system", request_id=None, strategy=None)


def _record_update(services: ServiceContext, deployment: dict[str, Any], head: Item | None) -> None:
    """An ``update`` given a whole config (``POST /v1/components/{name}/update``) succeeded: the
    config it runs becomes a version (its overrides, no included sets), so history, diff and watch
    show what runs."""
    scope = component_scope(deployment["component"], deployment["environment"])
    latest = repo(services).version(scope, head.data["version"]) if head is not None else None
    if latest is not None and latest.data.get("resolved") == deployment["config"]:
        return
    try:
        _append(
            services,
            head,
            scope,
            values=deployment["config"],
            includes=[],
            resolved=deployment["config"],
            sources={},
            kind="update",
            actor=deployment.get("initiated_by") or "system",
            message=f"update deployment {deployment['id']}",
            deployment_id=deployment["id"],
        )
    except VersionConflict:
        return
    repo(services).done(scope, (head.data["version"] if head is not None else 0) + 1)


def _revert(services: ServiceContext, deployment: dict[str, Any], head: Item) -> None:
    scope, number = head.data["scope"], head.data["version"]
    record = components.repo(services).get(deployment["component"])
    running = record.data["spec"].get("config") if record else None
    before = None  # the newest version of what runs (else the one just before)
    for candidate in range(number - 1, max(0, number - 21), -1):
        item = repo(services).version(scope, candidate)
        if item is None:
            continue
        if before is None:
            before = item
        if item.data.get("resolved") == running:
            before = item
            break
    if before is None:
        return
    try:
        _append(
            services,
            head,
            scope,
            values=before.data["values"],
            includes=before.data.get("includes", []),
            resolved=before.data.get("resolved") or {},
            sources=before.data.get("sources", {}),
            kind="reverted",
            actor="system",
            message=f"deployment {deployment['id']} was {deployment.get('status') or 'rolled back'}",
            restored_from=before.data["version"],
            deployment_id=deployment["id"],
        )
    except VersionConflict:  # someone else wrote a newer version meanwhile: theirs stands
        return
    repo(services).done(scope, number + 1)  # it restores what runs: nothing to roll out

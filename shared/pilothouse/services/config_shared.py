"""Shared config scopes: named sets components include, and each environment's overrides.

A change of a shared scope is checked against every component it reaches first (their resolved
config must still match their schemas: 422 naming component and JSON path, nothing stored), then
stored as a version, then propagated: each component it reaches gets a version of its own (kind
``propagated``) and, when Running, the deployment that rolls it out.
"""

from __future__ import annotations

from typing import Any

from pilothouse.domain import config_layers as layers
from pilothouse.errors import NotFound, PilothouseError, ValidationFailed, VersionConflict
from pilothouse.repositories.config import component_scope, environment_scope, set_scope
from pilothouse.services import components, config
from pilothouse.services.context import ServiceContext


def scope_of(kind: str, name: str) -> str:
    return set_scope(name) if kind == "set" else environment_scope(name)


def get_shared(services: ServiceContext, kind: str, name: str, number: int | None = None) -> dict[str, Any]:
    """The newest (or the given) version of a shared scope."""
    scope = scope_of(kind, name)
    item = (
        config.repo(services).latest(scope)
        if number is None
        else config.repo(services).version(scope, number)
    )
    if item is None:
        what = f"version {number} of " if number is not None else ""
        raise NotFound(f"no {what}{kind} config {name!r}")
    return config.version_view(item)


def _reached(services: ServiceContext, kind: str, name: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(component, environment, its newest version's data) of each component the scope reaches."""
    out = []
    for head in config.repo(services).heads("component:"):
        component, _, env = head.data["scope"].removeprefix("component:").rpartition("@")
        if (kind == "set" and name in head.data.get("includes", [])) or (
            kind == "environment" and env == name
        ):
            latest = config.repo(services).version(head.data["scope"], head.data["version"])
            if latest is not None:
                out.append((component, env, latest.data))
    if kind == "environment":  # components in the environment without a version of their own yet
        known = {c for c, _, _ in out}
        for record in components.repo(services).all():
            spec = record.data["spec"]
            if spec["environment"] == name and record.name not in known:
                out.append((record.name, name, {"values": spec.get("config") or {}, "includes": []}))
    return out


def set_shared(
    services: ServiceContext,
    kind: str,
    name: str,
    *,
    values: dict[str, Any],
    merge: bool = False,
    message: str,
    actor: str,
    request_id: str | None = None,
    base_version: int | None = None,
) -> dict[str, Any]:
    """A new version of a shared scope, checked against every component it reaches, then
    propagated to them. Answers the version and each component's outcome."""
    scope = scope_of(kind, name)
    repo = config.repo(services)
    head = repo.head(scope)
    at = head.data["version"] if head else 0
    if base_version is not None and base_version != at:
        raise VersionConflict(
            f"{scope} is at version {at}, not {base_version}; read it again",
            extra={"field": "base_version", "version": at},
        )
    before = repo.version(scope, at) if head else None
    new_values = layers.merge(before.data["values"], values) if merge and before else values
    config._check_refs(new_values)
    reached = _reached(services, kind, name)
    errors = _check_reached(services, kind, name, new_values, reached)
    if errors:
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        raise ValidationFailed(f"the change breaks the config of components it reaches: {summary}", errors)
    if before is not None and before.data["values"] == new_values:
        return {"changed": False, "version": config.version_view(before), "components": []}
    written = config._append(
        services,
        head,
        scope,
        values=new_values,
        kind="set",
        actor=actor,
        message=message,
        request_id=request_id,
    )
    outcomes = []
    for component, env, _ in reached:
        try:
            answer = config.set_config(
                services,
                component,
                values=None,
                environment=env,
                message=f"{scope} version {written.data['version']}: {message}",
                actor=actor,
                request_id=request_id,
                kind="propagated",
            )
            outcomes.append(
                {
                    "component": component,
                    "environment": env,
                    "version": answer["version"]["version"],
                    "changed": answer["changed"],
                    "deployment": answer["deployment"],
                }
            )
        except PilothouseError as exc:  # e.g. a component in flight: its next change picks it up
            outcomes.append({"component": component, "environment": env, "error": exc.detail})
    return {"changed": True, "version": config.version_view(written), "components": outcomes}


def _check_reached(
    services: ServiceContext,
    kind: str,
    name: str,
    new_values: dict[str, Any],
    reached: list[tuple[str, str, dict[str, Any]]],
) -> list[dict[str, str]]:
    """Each reached component's resolved config with the new values in place, checked."""
    errors: list[dict[str, str]] = []
    for component, env, data in reached:
        record = components.repo(services).get(component)
        if record is None:
            continue
        found: list[dict[str, Any]] = []
        for included in data.get("includes", []):
            if kind == "set" and included == name:
                found.append(new_values)
            else:
                latest = config.repo(services).latest(set_scope(included))
                found.append(latest.data["values"] if latest else {})
        if kind == "environment":
            found.append(new_values)
        else:
            env_latest = config.repo(services).latest(environment_scope(env))
            if env_latest is not None:
                found.append(env_latest.data["values"])
        found.append(data["values"])
        schema = record.data["spec"].get("config_schema")
        for e in layers.validation_errors(schema, layers.resolve(schema, found)):
            errors.append(
                {"field": f"{component_scope(component, env)}:{e['field']}", "message": e["message"]}
            )
    return errors

"""The secret manager: write-only values, versioned, referenced from config (issue 13 §2).

A value goes to the configured backend (``services.secrets``: the built-in envelope-encrypted
store, Secrets Manager or SSM) and never comes back through the API: answers, events, audit
records and errors carry the secret's name and version only. Config references a secret as
``{"$secret": "name"}`` (optionally ``"version": n``); a reference is resolved only when a
deployment starts a revision (:func:`bind`), into environment variables of a local process or into
Powertools Parameters references a Lambda function resolves itself. Rotation writes a new version
and starts a deployment of every Running component whose config references the secret; the
version it replaced stays readable for ``settings.secret_retention_seconds``.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from typing import Any

from pilothouse.clock import iso
from pilothouse.domain.config_layers import SECRET, secret_refs
from pilothouse.domain.lifecycle import Command
from pilothouse.errors import (
    AlreadyExists,
    Conflict,
    NotFound,
    PilothouseError,
    ValidationFailed,
    VersionConflict,
)
from pilothouse.ports import Item, ProviderError, Release
from pilothouse.ports.secrets import SecretBackendError
from pilothouse.repositories.secrets import SecretRepository
from pilothouse.services import components
from pilothouse.services.context import ServiceContext

log = logging.getLogger(__name__)

NAME_PATTERN = r"^[a-z][a-z0-9-]{0,62}$"
#: the largest value (bytes of UTF-8), as Secrets Manager's limit
MAX_VALUE_BYTES = 64 * 1024


def repo(services: ServiceContext) -> SecretRepository:
    return SecretRepository(services.store)


def check_name(name: str) -> None:
    if not re.match(NAME_PATTERN, name):
        raise NotFound(f"no secret is named {name[:100]!r}")


def view(item: Item, now: float) -> dict[str, Any]:
    """A secret as the API shows it: metadata and versions, never a value."""
    d = item.data
    return {
        "name": d["name"],
        "description": d.get("description", ""),
        "backend": d["backend"],
        "current_version": d["current_version"],
        "versions": [{k: v for k, v in entry.items() if k != "ref"} for entry in _kept(d["versions"], now)][
            ::-1
        ],
        "created_at": d["created_at"],
        "created_by": d["created_by"],
        "updated_at": d["updated_at"],
    }


def _kept(versions: list[dict[str, Any]], now: float) -> list[dict[str, Any]]:
    return [v for v in versions if v.get("keep_until") is None or v["keep_until"] > now]


def _check_value(value: str, services: ServiceContext) -> None:
    # a backend may hold less (Key Vault: 25 KiB); it says so with ``max_value_bytes``
    limit = min(MAX_VALUE_BYTES, getattr(services.secrets, "max_value_bytes", MAX_VALUE_BYTES))
    if len(value.encode("utf-8")) > limit:
        raise ValidationFailed.field("value", f"at most {limit} bytes")
    if not value:
        raise ValidationFailed.field("value", "must not be empty")


def _put(services: ServiceContext, name: str, version: int, value: str) -> str:
    try:
        return services.secrets.put(name, version, value)
    except SecretBackendError as exc:
        raise PilothouseError(f"the secret backend refused: {exc}") from None


def create(
    services: ServiceContext, name: str, value: str, *, description: str, actor: str
) -> dict[str, Any]:
    """A new secret at version 1 (409 naming ``name`` if it exists)."""
    _check_value(value, services)
    if repo(services).get(name) is not None:
        raise AlreadyExists(f"a secret named {name!r} exists already; rotate it", extra={"field": "name"})
    now = services.clock.time()
    ref = _put(services, name, 1, value)
    at = iso(now)
    data = {
        "name": name,
        "description": description,
        "backend": services.secrets.name,
        "current_version": 1,
        "versions": [{"version": 1, "ref": ref, "created_at": at, "created_by": actor}],
        "created_at": at,
        "created_by": actor,
        "updated_at": at,
    }
    try:
        item = repo(services).create(data)
    except AlreadyExists:
        raise AlreadyExists(
            f"a secret named {name!r} exists already; rotate it", extra={"field": "name"}
        ) from None
    return view(item, now)


def require(services: ServiceContext, name: str) -> Item:
    check_name(name)
    item = repo(services).get(name)
    if item is None:
        raise NotFound(f"no secret named {name!r}")
    return item


def describe(services: ServiceContext, name: str) -> dict[str, Any]:
    return view(require(services, name), services.clock.time())


def list_secrets(
    services: ServiceContext, *, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    page = repo(services).page(limit=limit, cursor=cursor)
    now = services.clock.time()
    return [view(i, now) for i in page.items], page.cursor


def referencing(services: ServiceContext, name: str) -> list[str]:
    """The components whose config references the secret."""
    return sorted(
        r.name
        for r in components.repo(services).all()
        if any(ref[SECRET] == name for _, ref in secret_refs(r.data["spec"].get("config") or {}))
    )


def rotate(
    services: ServiceContext,
    name: str,
    value: str,
    *,
    actor: str,
    request_id: str | None = None,
    redeploy: bool = True,
) -> dict[str, Any]:
    """A new version of the secret; every Running component referencing it (without a pinned
    version) is redeployed so its next revision starts with the new value. Versions past their
    retention are dropped from the backend."""
    _check_value(value, services)
    item = require(services, name)
    now = services.clock.time()
    d = item.data
    number = d["current_version"] + 1
    ref = _put(services, name, number, value)
    keep_until = now + services.settings.secret_retention_seconds
    versions = [
        {**v, "superseded_at": iso(now), "keep_until": keep_until}
        if v["version"] == d["current_version"]
        else v
        for v in d["versions"]
    ]
    versions.append({"version": number, "ref": ref, "created_at": iso(now), "created_by": actor})
    expired = [v for v in versions if v.get("keep_until") is not None and v["keep_until"] <= now]
    data = {**d, "current_version": number, "versions": _kept(versions, now), "updated_at": iso(now)}
    try:
        written = repo(services).replace(item, data)
    except VersionConflict:
        services.secrets.forget(name, number, ref)
        raise VersionConflict(f"secret {name!r} changed meanwhile; rotate again") from None
    for old in expired:
        services.secrets.forget(name, old["version"], old["ref"])
    rollouts = _redeploy(services, name, number, actor=actor, request_id=request_id) if redeploy else []
    return {**view(written, now), "deployments": rollouts}


def _redeploy(
    services: ServiceContext, name: str, version: int, *, actor: str, request_id: str | None
) -> list[dict[str, Any]]:
    out = []
    for component in referencing(services, name):
        record = components.repo(services).get(component)
        if record is None:
            continue
        refs = [r for _, r in secret_refs(record.data["spec"].get("config") or {}) if r[SECRET] == name]
        if all(r.get("version") for r in refs):
            continue  # pinned to a version: rotation does not change what it runs
        if record.state != "Running":
            out.append({"component": component, "status": "next_deploy", "state": record.state})
            continue
        params = {
            "config": record.data["spec"]["config"],
            "secret_rotation": {"name": name, "version": version},
        }
        try:
            answer = components.command(
                services, component, Command.UPDATE, params, actor=actor, request_id=request_id
            )
            out.append(
                {"component": component, "status": "started", "operation_id": answer["operation"]["id"]}
            )
        except PilothouseError as exc:
            out.append({"component": component, "status": "not_started", "reason": exc.detail})
    return out


def delete(services: ServiceContext, name: str, *, actor: str) -> None:
    """Remove a secret and its values (409 naming the components whose config references it)."""
    item = require(services, name)
    users = referencing(services, name)
    if users:
        raise Conflict(
            f"secret {name!r} is referenced by the config of {', '.join(users)}; remove the references first",
            extra={"components": users},
        )
    try:
        repo(services).remove(item)
    except VersionConflict:
        raise VersionConflict(f"secret {name!r} changed meanwhile; try again") from None
    services.secrets.delete(name)


def env_name(path: tuple[str | int, ...]) -> str:
    """The environment variable of a reference at ``path``: ``("db", "password")`` → ``DB__PASSWORD``."""
    return "__".join(re.sub(r"[^A-Za-z0-9]", "_", str(p)).upper() for p in path)


def bind(services: ServiceContext, release: Release, provider: str) -> Release:
    """``release`` with its config's secret references resolved into ``secret_env``: the values
    for a local process, Powertools Parameters references for Lambda (a function resolves them at
    run time). ProviderError (the deployment fails, naming the secret) if one cannot be resolved."""
    refs = list(secret_refs(release.config or {}))
    if not refs:
        return release
    now = services.clock.time()
    env: dict[str, str] = {}
    for path, ref in refs:
        name = ref[SECRET]
        item = repo(services).get(name)
        if item is None:
            raise ProviderError(f"config {env_name(path)} references secret {name!r}, which does not exist")
        wanted = ref.get("version") or item.data["current_version"]
        entry = next((v for v in _kept(item.data["versions"], now) if v["version"] == wanted), None)
        if entry is None:
            raise ProviderError(f"version {wanted} of secret {name!r} is not kept any more")
        if provider == "aws-lambda":
            runtime = services.secrets.runtime_reference(name, wanted, entry["ref"])
            if runtime is None or not runtime.startswith(("ssm:", "secretsmanager:")):
                raise ProviderError(
                    f"secret {name!r} lives in the {services.secrets.name} backend, which a Lambda"
                    " function cannot read; use secret_backend secretsmanager or ssm"
                )
            env[env_name(path)] = runtime
            continue
        try:
            env[env_name(path)] = services.secrets.get(name, wanted, entry["ref"])
        except SecretBackendError as exc:
            raise ProviderError(str(exc)) from None
    return dataclasses.replace(release, secret_env=env)

"""Step Functions' view of a workflow: its type, role and published versions.

The workflow (:mod:`pilothouse.services.workflows`) stays the one definition; each of its versions
is what Step Functions calls a *revision*. ``PublishStateMachineVersion`` numbers revisions as
versions 1, 2, ... (publishing the revision the last version already has returns that version, as
Step Functions does); a deleted version's number is not given again. The record also holds the
state machine's aliases and tags (:mod:`pilothouse.services.state_machine_aliases`). Records are
changed by conditional writes, retried on a lost race.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, TypeVar

from pilothouse.errors import AlreadyExists, Conflict, VersionConflict
from pilothouse.repositories.state_machines import StateMachineRepository
from pilothouse.services.context import ServiceContext

DEFAULTS: dict[str, Any] = {
    "type": "STANDARD",
    "role_arn": None,
    "logging": {"level": "OFF", "includeExecutionData": False},
    "tracing": {"enabled": False},
    "versions": [],
    "aliases": {},
    "tags": {},
}
#: versions one state machine may have (Step Functions' quota)
MAX_VERSIONS = 1000
ATTEMPTS = 20
T = TypeVar("T")


def repo(services: ServiceContext) -> StateMachineRepository:
    return StateMachineRepository(services.store)


def get(services: ServiceContext, name: str) -> dict[str, Any]:
    """The record of ``name``, with the defaults for a workflow that has none."""
    item = repo(services).get(name)
    return {**DEFAULTS, **(item.data if item else {}), "name": name}


def record_new(services: ServiceContext, name: str, fields: dict[str, Any]) -> None:
    """The record of a workflow just created: what the caller gave, over the defaults. A record left
    by a workflow deleted through ``/v1/workflows`` is replaced."""
    data = {**DEFAULTS, **fields, "name": name, "versions": [], "aliases": {}}
    try:
        repo(services).create(name, data)
    except AlreadyExists:
        repo(services).put(name, data)


def change(services: ServiceContext, name: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Set ``fields`` on the record (created from the defaults if there is none)."""

    def set_fields(data: dict[str, Any]) -> dict[str, Any]:
        data.update(fields)
        data["name"] = name
        return data

    return mutate(services, name, set_fields)


def publish(
    services: ServiceContext, name: str, revision: int, *, description: str | None, now: float
) -> dict[str, Any]:
    """Publish ``revision`` (the workflow's version) as the next version; the last version if it has
    this revision already. Answers ``{"version", "revision", "description", "created_epoch"}``."""
    for _ in range(ATTEMPTS):
        item = repo(services).get(name)
        data = {**DEFAULTS, **(item.data if item else {}), "name": name}
        versions = list(data["versions"])
        if versions and versions[-1]["revision"] == revision:
            return versions[-1]
        if len(versions) >= MAX_VERSIONS:
            raise Conflict(f"state machine {name!r} has {MAX_VERSIONS} versions already (the quota)")
        # numbers are never reused, not even those of deleted versions (as on Step Functions)
        number = max(data.get("last_version", 0), versions[-1]["version"] if versions else 0) + 1
        data["last_version"] = number
        entry = {
            "version": number,
            "revision": revision,
            "description": description or "",
            "created_epoch": now,
        }
        data["versions"] = [*versions, entry]
        try:
            if item is None:
                repo(services).create(name, data)
            else:
                repo(services).put(name, data, if_version=item.version)
        except (VersionConflict, AlreadyExists):
            continue
        return entry
    raise Conflict(f"state machine {name!r} changed while publishing a version; retry")


def version(services: ServiceContext, name: str, number: int) -> dict[str, Any] | None:
    """Published version ``number`` of ``name`` (None if there is none)."""
    return next((v for v in get(services, name)["versions"] if v["version"] == number), None)


def forget(services: ServiceContext, name: str) -> None:
    """A deleted state machine's record goes with it."""
    repo(services).delete(name)


def mutate(services: ServiceContext, name: str, apply: Callable[[dict[str, Any]], T]) -> T:
    """Change the record of ``name`` with ``apply(data)`` (which changes ``data`` in place and answers
    what the caller gets; raising leaves the record as it was), under a conditional write retried on
    a lost race."""
    for _ in range(ATTEMPTS):
        item = repo(services).get(name)
        data = copy.deepcopy({**DEFAULTS, **(item.data if item else {}), "name": name})
        result = apply(data)
        try:
            if item is None:
                repo(services).create(name, data)
            else:
                repo(services).put(name, data, if_version=item.version)
        except (VersionConflict, AlreadyExists):
            continue
        return result
    raise Conflict(f"state machine {name!r} changed while updating it; retry")

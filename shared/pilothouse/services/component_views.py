"""A component as its readers see it: the view of its record, with the health sweep's latest probe
and the restoring mark. Its own module, with no pydantic model and none of the component
manager's writes, so that reading a component (``get_component``'s function) loads only this.
:mod:`pilothouse.services.components` names them all too.
"""

from __future__ import annotations

import functools
from typing import Any

from pilothouse.domain.lifecycle import State
from pilothouse.domain.records import public_operation
from pilothouse.repositories.components import ComponentRepository, Record
from pilothouse.services.context import ServiceContext

__all__ = ["SERVING_STATES", "get", "health_view", "repo", "view"]


def repo(services: ServiceContext) -> ComponentRepository:
    return ComponentRepository(services.store)


def get(services: ServiceContext, name: str) -> Record:
    """The component (NotFound if none), marked ``restoring`` while a restart brings it back."""
    from pilothouse.services import restoring
    from pilothouse.services.health_view import fresh

    return fresh(services, restoring.seen(services, repo(services).require(name)))


def view(record: Record) -> dict[str, Any]:
    """The public shape of a component."""
    d = record.data
    return {
        "name": d["name"],
        "state": d["state"],
        "allowed_commands": _allowed(d["state"]),
        "environment": d["spec"]["environment"],
        "provider": d["spec"]["provider"],
        "version": d.get("version"),
        "replicas": d.get("replicas", 0),
        "url": d.get("url"),
        "last_error": d.get("last_error"),
        "operation": public_operation(d["operation"]) if d.get("operation") else d.get("operation"),
        "restoring": bool(d.get("restoring")),
        "spec": d["spec"],
        "placement": d.get("placement"),
        "created_at": d["created_at"],
        "updated_at": d["updated_at"],
        "record_version": record.version,
        "health": health_view(d),
    }


#: the states in which a component's replicas serve (and the health sweep looks at them)
SERVING_STATES = frozenset({State.RUNNING.value, State.SCALING.value, State.UPDATING.value})


def health_view(d: dict[str, Any]) -> dict[str, Any]:
    """The component's health as views show it: what the sweep last found while it serves,
    ``Unknown`` (no replica) before the first sweep and in states where nothing serves."""
    health = d.get("health")
    if health and d["state"] in SERVING_STATES:
        return health
    return {"status": "Unknown", "since": None, "checked_at": None, "replicas": []}


def _allowed(state: str) -> list[str]:
    return list(_allowed_in(state))


@functools.lru_cache(maxsize=32)
def _allowed_in(state: str) -> tuple[str, ...]:
    """The commands a state allows (a fixed table: worked out once per state, not per view)."""
    from pilothouse.domain.lifecycle import allowed_commands

    return tuple(allowed_commands(State(state)))

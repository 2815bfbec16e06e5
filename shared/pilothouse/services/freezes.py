"""Freezes: a component or a whole environment refuses deployments, with a recorded reason."""

from __future__ import annotations

from typing import Any

from pilothouse.clock import iso
from pilothouse.errors import Conflict, NotFound, ValidationFailed
from pilothouse.ports import Item
from pilothouse.services.context import ServiceContext
from pilothouse.store.deployments import FREEZE


def _freeze_key(scope: str, target: str) -> str:
    if scope not in ("component", "environment"):
        raise ValidationFailed.field("scope", "component or environment")
    return f"{scope}:{target}"


def freeze(services: ServiceContext, scope: str, target: str, reason: str, *, actor: str) -> dict[str, Any]:
    data = {"scope": scope, "target": target, "reason": reason, "by": actor, "at": iso(services.clock.time())}
    services.store.put(Item(FREEZE, _freeze_key(scope, target), data))
    return data


def unfreeze(services: ServiceContext, scope: str, target: str) -> None:
    key = _freeze_key(scope, target)
    if services.store.get(FREEZE, key) is None:
        raise NotFound(f"{scope} {target!r} is not frozen")
    services.store.delete(FREEZE, key)


def list_freezes(services: ServiceContext) -> list[dict[str, Any]]:
    return [i.data for i in services.store.scan_all(FREEZE)]


def check_not_frozen(services: ServiceContext, component: str, environment: str) -> None:
    """409 with the recorded reason if the component or its environment is frozen."""
    for scope, target in (("component", component), ("environment", environment)):
        item = services.store.get(FREEZE, f"{scope}:{target}")
        if item is not None:
            d = item.data
            raise Conflict(
                f"{scope} {target!r} is frozen: {d['reason']} (by {d['by']} at {d['at']})",
                extra={"frozen": d},
            )

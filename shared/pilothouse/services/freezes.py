"""Freezes: a component or a whole environment refuses deployments, with a recorded reason."""

from __future__ import annotations

from typing import Any

from pilothouse.clock import iso
from pilothouse.errors import Conflict, NotFound, ValidationFailed
from pilothouse.repositories.deployments import FreezeRepository
from pilothouse.services.context import ServiceContext


def repo(services: ServiceContext) -> FreezeRepository:
    return FreezeRepository(services.store)


def _check_scope(scope: str) -> None:
    if scope not in ("component", "environment"):
        raise ValidationFailed.field("scope", "component or environment")


def freeze(
    services: ServiceContext, scope: str, target: str, reason: str, *, actor: str, replace: bool = False
) -> tuple[dict[str, Any], bool]:
    """Freeze ``target``; the freeze and whether this call made (or, with ``replace``, rewrote) it.
    A target frozen already keeps its freeze (its reason, who and when) unless ``replace``."""
    data = {"scope": scope, "target": target, "reason": reason, "by": actor, "at": iso(services.clock.time())}
    _check_scope(scope)
    if replace:
        repo(services).put(data)
        return data, True
    kept = repo(services).add(data)
    return (kept, False) if kept is not None else (data, True)


def unfreeze(services: ServiceContext, scope: str, target: str) -> None:
    _check_scope(scope)
    if repo(services).get(scope, target) is None:
        raise NotFound(f"{scope} {target!r} is not frozen")
    repo(services).delete(scope, target)


def list_freezes(services: ServiceContext) -> list[dict[str, Any]]:
    return repo(services).all()


def check_not_frozen(services: ServiceContext, component: str, environment: str) -> None:
    """409 with the recorded reason if the component or its environment is frozen."""
    for scope, target in (("component", component), ("environment", environment)):
        d = repo(services).get(scope, target)
        if d is not None:
            raise Conflict(
                f"{scope} {target!r} is frozen: {d['reason']} (by {d['by']} at {d['at']})",
                extra={"frozen": d},
            )

"""Rolling a component back to its previous revision brings back the config that revision ran
with (issue 13): which config version that was, and the version that restores it once the rollback
deployment succeeded (:func:`pilothouse.services.config.deployment_ended` calls :func:`restore`)."""

from __future__ import annotations

from typing import Any

from pilothouse.errors import VersionConflict
from pilothouse.ports import Item
from pilothouse.repositories.config import ConfigRepository, component_scope
from pilothouse.services.context import ServiceContext


def head_version(services: ServiceContext, name: str, environment: str) -> int:
    """The newest config version of the component in the environment (0: none yet)."""
    head = ConfigRepository(services.store).head(component_scope(name, environment))
    return int(head.data["version"]) if head else 0


def version_running(
    services: ServiceContext, name: str, environment: str, resolved: dict[str, Any] | None
) -> int | None:
    """The newest of the last 50 config versions of the component whose resolved config is
    ``resolved`` (what a revision ran with), or None."""
    scope = component_scope(name, environment)
    head = ConfigRepository(services.store).head(scope)
    if head is None or resolved is None:
        return None
    for number in range(head.data["version"], max(0, head.data["version"] - 50), -1):
        item = ConfigRepository(services.store).version(scope, number)
        if item is not None and item.data.get("resolved") == resolved:
            return number
    return None


def restore(services: ServiceContext, deployment: dict[str, Any], head: Item | None) -> None:
    from pilothouse.services import config

    """A rollback to the previous revision succeeded: a new version copies the config version that
    revision ran with, so history, watch and the next change start from what runs again."""
    scope = component_scope(deployment["component"], deployment["environment"])
    number = deployment["restores_config_version"]
    old = ConfigRepository(services.store).version(scope, number)
    if old is None or head is None:
        return
    if head.data["version"] == number or (
        (latest := ConfigRepository(services.store).version(scope, head.data["version"])) is not None
        and latest.data.get("resolved") == old.data.get("resolved")
    ):
        return  # what runs is the newest version already
    try:
        config._append(
            services,
            head,
            scope,
            values=old.data["values"],
            includes=old.data.get("includes", []),
            resolved=old.data.get("resolved") or {},
            sources=old.data.get("sources", {}),
            kind="rollback",
            actor=deployment.get("initiated_by") or "system",
            message=f"rollback deployment {deployment['id']} restored version {number}",
            restored_from=number,
            deployment_id=deployment["id"],
        )
    except VersionConflict:  # someone else wrote a newer version meanwhile: theirs stands
        return
    # the new version restores what runs: nothing to roll out
    ConfigRepository(services.store).done(scope, head.data["version"] + 1)

"""What is known of backups beyond their manifests: last verification and drill per backup, and
the backup events (a drill's RPO and RTO, failures, a missed RPO target). Events are also logged
(one JSON line each) and put on the event feed (:mod:`pilothouse.services.backup_alerts`), where
the default alert rules fire on a failed backup, a failed drill or a missed RPO target."""

from __future__ import annotations

import json
import logging
from typing import Any

from pilothouse.clock import iso
from pilothouse.repositories.backups import BackupRepository
from pilothouse.services.context import ServiceContext

log = logging.getLogger("pilothouse.backups")


def repo(ctx: ServiceContext) -> BackupRepository:
    return BackupRepository(ctx.store)


def of(ctx: ServiceContext, backup_id: str) -> dict[str, Any]:
    """The backup's last verification and drill (empty when never checked)."""
    status = repo(ctx).status(backup_id) or {}
    return {k: v for k, v in status.items() if k != "backup_id"}


def mark(ctx: ServiceContext, backup_id: str, **changes: Any) -> None:
    repo(ctx).mark(backup_id, changes)


def forget(ctx: ServiceContext, backup_id: str) -> None:
    repo(ctx).forget(backup_id)


def verified(ctx: ServiceContext) -> set[str]:
    """The ids whose last verification or drill succeeded."""
    return {
        backup_id
        for backup_id, s in repo(ctx).statuses().items()
        if s.get("verify_outcome") == "ok" or s.get("drill_outcome") == "ok"
    }


def event(
    ctx: ServiceContext, type_: str, *, outcome: str, backup_id: str | None = None, **detail: Any
) -> dict[str, Any]:
    """Record (and log) a backup event; answer it."""
    data: dict[str, Any] = {"type": type_, "at": iso(ctx.clock.time()), "outcome": outcome, "detail": detail}
    if backup_id:
        data["backup_id"] = backup_id
    recorded = repo(ctx).append_event(ctx.clock.time(), data)
    level = logging.INFO if outcome == "ok" else logging.WARNING
    log.log(level, json.dumps({"backup_event": recorded}, default=str))
    from pilothouse.services.backup_alerts import publish

    publish(ctx, recorded)  # on the event feed: notifications and the default alert rules
    return recorded


def events(ctx: ServiceContext, *, limit: int = 50) -> list[dict[str, Any]]:
    """The newest backup events first."""
    return repo(ctx).events(limit=limit)

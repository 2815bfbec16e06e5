"""Backup events on the event feed, and the alert rules that watch them by default.

Every backup event (:func:`pilothouse.services.backup_status.event`) also goes on the event feed
(:func:`pilothouse.services.event_feed.publish`) as one of :data:`FEED_TYPES`, so notification
channels and alert rules see it like any other event.

Three event rules are installed the first time a backup event is recorded (the setup of the
backups' side of a control plane; ``settings.backup_default_alerts`` false turns it off):

- ``backup-failed`` (critical): a backup failed; resolved by the next backup that succeeds;
- ``backup-drill-failed`` (critical): a drill failed; resolved by the next drill that succeeds;
- ``backup-rpo-missed`` (warning): the newest backup is older than ``backup_rpo_seconds`` (the
  backup sweep checks it every hour), or there is none; resolved by the next backup.

They are ordinary rules: an operator may change or delete them, and a deleted one stays deleted
(the installation is recorded once, in the ``BACKUPSETUP`` partition, and never repeated).
"""

from __future__ import annotations

import logging
from typing import Any

from pilothouse.clock import iso
from pilothouse.errors import AlreadyExists, PilothouseError
from pilothouse.repositories.backups import BackupRepository
from pilothouse.services.context import ServiceContext

log = logging.getLogger(__name__)

#: (backup event type, outcome) -> the feed's event type
FEED_TYPES: dict[tuple[str, str], str] = {
    ("backup", "ok"): "backup.succeeded",
    ("backup", "failed"): "backup.failed",
    ("drill", "ok"): "backup.drill.succeeded",
    ("drill", "failed"): "backup.drill.failed",
    ("rpo", "failed"): "backup.rpo.missed",
}

DEFAULT_RULES: tuple[dict[str, Any], ...] = (
    {
        "name": "backup-failed",
        "kind": "event",
        "severity": "critical",
        "description": "A backup of the control plane's store failed "
        "(built in; resolved by the next backup).",
        "events": ["backup.failed"],
        "resolve_on": ["backup.succeeded"],
        "resolve_after_minutes": None,
    },
    {
        "name": "backup-drill-failed",
        "kind": "event",
        "severity": "critical",
        "description": "A disaster-recovery drill failed: the backup did not restore as its manifest says "
        "(built in; resolved by the next drill that succeeds).",
        "events": ["backup.drill.failed"],
        "resolve_on": ["backup.drill.succeeded"],
        "resolve_after_minutes": None,
    },
    {
        "name": "backup-rpo-missed",
        "kind": "event",
        "severity": "warning",
        "description": "The newest backup is older than the recovery point objective, or there is none "
        "(built in; resolved by the next backup).",
        "events": ["backup.rpo.missed"],
        "resolve_on": ["backup.succeeded"],
        "resolve_after_minutes": None,
    },
)


def install_default_rules(ctx: ServiceContext) -> list[str]:
    """Create the default rules once per store (see the module's documentation); the names created
    now (empty when they were installed before, or the setting is off)."""
    if not ctx.settings.backup_default_alerts:
        return []
    repo = BackupRepository(ctx.store)
    if repo.setup_done("default-alert-rules"):
        return []
    from pilothouse.services import alerts

    created = []
    for rule in DEFAULT_RULES:
        try:
            alerts.create_rule(ctx, dict(rule), actor="system")
            created.append(rule["name"])
        except AlreadyExists:  # installed by a racing process, or a rule of that name existed
            continue
    repo.mark_setup(
        "default-alert-rules", {"rules": [r["name"] for r in DEFAULT_RULES], "at": iso(ctx.clock.time())}
    )
    return created


def publish(ctx: ServiceContext, recorded: dict[str, Any]) -> dict[str, Any] | None:
    """Put a recorded backup event on the feed (installing the default rules first); the feed's
    event, or None for a backup event of no feed type. A failure to publish is logged, not raised:
    the backup event itself is recorded and the backup or drill has its outcome already."""
    feed_type = FEED_TYPES.get((recorded["type"], recorded["outcome"]))
    if feed_type is None:
        return None
    from pilothouse.services import event_feed

    detail = {
        k: v for k, v in (recorded.get("detail") or {}).items() if isinstance(v, str | int | float | bool)
    }
    if recorded.get("backup_id"):
        detail["backup_id"] = recorded["backup_id"]
    detail["backup_event"] = recorded["id"]
    summary = f"{feed_type}" + (f" ({recorded['backup_id']})" if recorded.get("backup_id") else "")
    error = detail.get("error")
    if isinstance(error, str):
        summary += f": {error[:200]}"
    try:
        install_default_rules(ctx)
        return event_feed.publish(
            ctx,
            {"type": feed_type, "source": "backup", "summary": summary, "detail": detail},
            subject=f"backup:{recorded['type']}",
        )
    except PilothouseError:
        log.exception("backup event %s could not be put on the event feed", recorded["id"])
        return None

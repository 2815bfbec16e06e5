"""The scheduled side of backups: the backup sweep (hourly; a backup when the newest is older than
``settings.backup_interval_seconds``, daily by default), retention, and the drill sweep (daily; a
drill when the last one is older than ``settings.backup_drill_interval_seconds``, weekly by default).

Retention keeps the newest ``backup_keep_last`` and the newest backup of each of the last
``backup_keep_daily`` days, ``backup_keep_weekly`` ISO weeks and ``backup_keep_monthly`` months,
and never the newest verified backup; it deletes what falls out, and incomplete backups (chunks
without a manifest, from a process killed mid-backup) older than a day.
"""

from __future__ import annotations

from typing import Any

from pilothouse.domain import backups as dom
from pilothouse.services import backup_status, backups
from pilothouse.services.context import ServiceContext


def apply_retention(ctx: ServiceContext) -> dict[str, Any]:
    """Delete the backups retention lets go; answer what was deleted and why the rest is kept."""
    s = ctx.settings
    complete, incomplete = backups.backup_ids(ctx)
    verified = backup_status.verified(ctx)
    newest_verified = next((b for b in complete if b in verified), None)
    doomed, kept = dom.retention(
        [(b, dom.id_time(b)) for b in complete],
        keep_last=s.backup_keep_last,
        keep_daily=s.backup_keep_daily,
        keep_weekly=s.backup_keep_weekly,
        keep_monthly=s.backup_keep_monthly,
        protect=[newest_verified] if newest_verified else [],
    )
    for backup_id in doomed:
        backups.delete(ctx, backup_id)
    stale = [b for b in incomplete if ctx.clock.time() - dom.id_time(b) > backups.INCOMPLETE_GRACE_SECONDS]
    for backup_id in stale:
        backups.delete(ctx, backup_id)
    return {"deleted": doomed, "deleted_incomplete": stale, "kept": kept}


def after_backup(ctx: ServiceContext, summary: dict[str, Any]) -> None:
    """Record the backup as an event."""
    backup_status.event(
        ctx,
        "backup",
        outcome="ok",
        backup_id=summary["id"],
        items=summary["items"],
        bytes=summary["bytes"],
        trigger=summary.get("trigger", "manual"),
    )


def backup_sweep(ctx: ServiceContext) -> dict[str, Any]:
    """Take a backup if the newest is due, apply retention, check the RPO target."""
    from pilothouse.errors import PilothouseError
    from pilothouse.services.backup_drill import check_rpo

    complete, _ = backups.backup_ids(ctx)
    due = not complete or ctx.clock.time() - dom.id_time(complete[0]) >= ctx.settings.backup_interval_seconds
    out: dict[str, Any] = {"backup": None}
    if due:
        try:
            summary = backups.create(ctx, trigger="schedule")
            after_backup(ctx, summary)
            out["backup"] = summary["id"]
        except PilothouseError as exc:
            backup_status.event(ctx, "backup", outcome="failed", error=exc.detail, trigger="schedule")
            out["error"] = exc.detail
    out["retention"] = apply_retention(ctx)
    rpo = check_rpo(ctx)
    out["rpo"] = "missed" if rpo else "met"
    return out


def drill_sweep(ctx: ServiceContext) -> dict[str, Any]:
    """Drill the newest backup if the last drill is older than the drill interval."""
    from pilothouse.clock import parse_iso
    from pilothouse.errors import PilothouseError
    from pilothouse.services.backup_drill import drill

    drilled = [s["drilled_at"] for s in backup_status.repo(ctx).statuses().values() if s.get("drilled_at")]
    last = max(drilled, key=parse_iso) if drilled else None
    if last is not None and ctx.clock.time() - parse_iso(last) < ctx.settings.backup_drill_interval_seconds:
        return {"drill": None, "last": last}
    try:
        event = drill(ctx)
    except PilothouseError as exc:
        return {"drill": "failed", "error": exc.detail}
    return {"drill": event["outcome"], "event": event["id"]}

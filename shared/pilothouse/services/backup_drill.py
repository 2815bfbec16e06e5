"""Disaster-recovery drills: restore a backup into a scratch store and check it against its manifest.

A drill proves the backup restores, not merely that its bytes are intact: it runs the same restore
as a real one (verify, then load chunk by chunk) into a scratch store, then scans the scratch store
and compares each kind's item count and digest with the manifest. It records an event with the
RPO (the backup's age when the drill ran) and the RTO (how long the restore took); a failed drill,
or a newest backup older than ``settings.backup_rpo_seconds``, records a failure event.
"""

from __future__ import annotations

import time
from typing import Any

from pilothouse.clock import ManualClock, iso
from pilothouse.domain import backups as dom
from pilothouse.errors import PilothouseError
from pilothouse.services import backup_reader, backup_restore, backup_status, backups
from pilothouse.services.backups import item_line
from pilothouse.services.context import ServiceContext


def drill(ctx: ServiceContext, backup_id: str | None = None, *, progress: Any = None) -> dict[str, Any]:
    """Drill ``backup_id`` (the newest complete backup by default); answer the drill's event."""
    backup_id = dom.check_id(backup_id) if backup_id else backups.newest(ctx)
    rpo = max(0.0, ctx.clock.time() - dom.id_time(backup_id))
    began = time.monotonic()
    try:
        # the scratch store sees the world as at the backup's time: an item that expired since is
        # still compared (it is in the manifest's counts), though a real restore now would hide it
        with ctx.scratch_store(ManualClock(dom.id_time(backup_id))) as scratch:
            # as taken (no layout migration): the drill compares what it restored with the manifest
            result = backup_restore.restore(
                ctx,
                backup_id,
                store=scratch,
                reconcile_providers=False,
                migrate_layout=False,
                progress=progress,
            )
            rto = time.monotonic() - began
            found = dom.KindDigests()
            for item in scratch.scan(page_size=1000):
                if item.pk not in dom.BOOKKEEPING:
                    found.add(item.pk, item_line(item.pk, item.sk, item.version, item.expires_at, item.data))
        manifest = backup_reader.open_backup(ctx, backup_id).manifest
        mismatches = sorted(
            kind
            for kind in set(manifest.counts) | set(found.counts)
            if manifest.counts.get(kind) != found.counts.get(kind)
            or manifest.digests.get(kind) != found.digests().get(kind)
        )
    except PilothouseError as exc:
        backup_status.mark(ctx, backup_id, drilled_at=iso(ctx.clock.time()), drill_outcome="failed")
        backup_status.event(
            ctx, "drill", outcome="failed", backup_id=backup_id, error=exc.detail, rpo_seconds=round(rpo, 1)
        )
        raise PilothouseError(f"the drill of backup {backup_id} failed: {exc.detail}") from exc
    outcome = "ok" if not mismatches else "failed"
    backup_status.mark(ctx, backup_id, drilled_at=iso(ctx.clock.time()), drill_outcome=outcome)
    event = backup_status.event(
        ctx,
        "drill",
        outcome=outcome,
        backup_id=backup_id,
        rpo_seconds=round(rpo, 1),
        rto_seconds=round(rto, 3),
        items=found.total,
        items_expected=manifest.items,
        mismatched_kinds=mismatches,
        restore_seconds=result["seconds"],
    )
    check_rpo(ctx)
    if mismatches:
        raise PilothouseError(
            f"the drill of backup {backup_id} found other items than the manifest: {mismatches}"
        )
    return event


def check_rpo(ctx: ServiceContext) -> dict[str, Any] | None:
    """Record an ``rpo`` failure event when the newest backup is older than the RPO target (or there
    is none); answer the event, or None when the target is met."""
    complete, _ = backups.backup_ids(ctx)
    target = ctx.settings.backup_rpo_seconds
    if not complete:
        return backup_status.event(
            ctx, "rpo", outcome="failed", reason="no complete backup", target_seconds=target
        )
    age = ctx.clock.time() - dom.id_time(complete[0])
    if age <= target:
        return None
    return backup_status.event(
        ctx, "rpo", outcome="failed", backup_id=complete[0], age_seconds=round(age, 1), target_seconds=target
    )

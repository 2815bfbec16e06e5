"""Backup runs: a create, verify, restore or drill of backups, carried out asynchronously.

The API records a run (``queued``) and sends a job message (``{"kind": "backup-run",
"run_id": ...}``) on the jobs queue; the job worker (``run_job``) leases it (a conditional
write: a redelivered message for a run under way or finished does nothing), runs it, writes
its progress (items and bytes, at most twice a second) and its outcome. ``pilothouse backups ...
--wait`` polls the run and draws the progress bar.

A worker killed mid-run leaves it ``running`` with a lapsed lease, shown as ``interrupted``;
running the same command again starts a new run (a restore resumes where the killed one
stopped: see :mod:`pilothouse.services.backup_restore`). A run records its worker (host and
process id); a local control plane that starts again (``pilothouse dev`` after a crash) ends the
leases of the runs its dead predecessor held and hands them to the job worker again
(:func:`recover_local`): a backup, verification or drill runs again from the start, a restore
resumes, a forced restore ends ``interrupted`` (it is not replayed: see below; the same restore
requested again resumes).

Restores are never replayed behind the caller's back: a forced restore whose lease lapsed ends
``interrupted`` when its message comes back (it would clear the store again), and once a restore
run succeeds, every older restore run still queued or running ends (``interrupted``, error type
``superseded``); a restore run never starts once a newer one has succeeded.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from typing import Any

from pilothouse.clock import clock_seconds, iso
from pilothouse.domain import backups as dom
from pilothouse.errors import NotFound, PilothouseError, ValidationFailed, VersionConflict
from pilothouse.ports import Item
from pilothouse.repositories.backups import RUNS, BackupRepository, run_id
from pilothouse.services.context import ServiceContext

log = logging.getLogger(__name__)

KINDS = ("create", "verify", "restore", "drill")
LEASE_SECONDS = 900.0
PROGRESS_EVERY_SECONDS = 0.5
MESSAGE_KIND = "backup-run"


def _repo(ctx: ServiceContext) -> BackupRepository:
    return BackupRepository(ctx.store)


def public(ctx: ServiceContext, data: dict[str, Any]) -> dict[str, Any]:
    """The run as callers see it: a running one whose lease lapsed is ``interrupted``."""
    out = {k: v for k, v in data.items() if k != "lease_until"}
    lease = data.get("lease_until")
    if data.get("status") == "running" and lease is not None and lease < ctx.clock.time():
        out["status"] = "interrupted"
    return out


def start(
    ctx: ServiceContext,
    kind: str,
    *,
    requested_by: str,
    backup_id: str | None = None,
    force: bool = False,
    trigger: str = "manual",
) -> dict[str, Any]:
    """Record a run and hand it to the job worker; answer it (status ``queued``)."""
    if kind not in KINDS:
        raise ValidationFailed.field("kind", f"one of {', '.join(KINDS)}")
    if backup_id is not None:
        from pilothouse.services.backups import resolve

        backup_id = resolve(ctx, backup_id)
        if not ctx.blobs.exists(dom.manifest_key(backup_id)):
            raise NotFound(f"no complete backup {backup_id!r}")
    elif kind in ("verify", "restore"):
        raise ValidationFailed.field("backup_id", "required")
    now = ctx.clock.time()
    data: dict[str, Any] = {
        "id": run_id(now),
        "kind": kind,
        "status": "queued",
        "force": force,
        "trigger": trigger,
        "requested_by": requested_by,
        "requested_at": iso(now),
        "progress": {},
    }
    if backup_id is not None:
        data["backup_id"] = backup_id
    _repo(ctx).create_run(data)
    ctx.queue.send(ctx.settings.jobs_queue, json.dumps({"kind": MESSAGE_KIND, "run_id": data["id"]}))
    return public(ctx, data)


def get(ctx: ServiceContext, rid: str) -> dict[str, Any]:
    item = _repo(ctx).get_run(rid)
    if item is None:
        raise NotFound(f"no backup run {rid!r}")
    return public(ctx, item.data)


def list_runs(ctx: ServiceContext, *, limit: int = 20) -> list[dict[str, Any]]:
    return [public(ctx, i.data) for i in _repo(ctx).runs(limit=limit)]


def _lease(ctx: ServiceContext, item: Item) -> Item | None:
    data = item.data
    lapsed = data.get("status") == "running" and (data.get("lease_until") or 0) < ctx.clock.time()
    if data.get("status") != "queued" and not lapsed:
        return None
    if data.get("kind") == "restore":
        later = _later_finished_restore(ctx, item.sk)
        if later is not None:
            _end(ctx, item, "superseded", f"restore run {later} finished after this one was requested")
            return None
        if lapsed and data.get("force"):
            _end(
                ctx,
                item,
                "interrupted",
                "the worker stopped during this forced restore; it is not replayed: request it again",
            )
            return None
    now = ctx.clock.time()
    try:
        return _repo(ctx).replace_run(
            item,
            {
                **data,
                "status": "running",
                "started_at": iso(now),
                "lease_until": now + clock_seconds(ctx.clock, LEASE_SECONDS),
                "worker": _this_worker(),
            },
        )
    except VersionConflict:
        return None


def run(ctx: ServiceContext, rid: str) -> str:
    """Carry out a queued run (the job worker's entry point); answer what happened."""
    repo = _repo(ctx)
    item = repo.get_run(rid)
    if item is None:
        return f"backup run {rid}: unknown"
    leased = _lease(ctx, item)
    if leased is None:
        return f"backup run {rid}: {item.data.get('status')}, nothing to do"
    state = _Tracked(leased)

    def progress(p: dict[str, Any]) -> None:
        now = time.monotonic()
        if now - state.last < PROGRESS_EVERY_SECONDS:
            return
        state.last = now
        # a conflict: someone else wrote the record (a newer lease): leave it to them
        with contextlib.suppress(VersionConflict):
            state.item = repo.replace_run(state.item, {**state.item.data, "progress": p})

    data = leased.data
    try:
        result = _dispatch(ctx, data, progress)
        status, error = "succeeded", None
    except PilothouseError as exc:
        status, result = "failed", None
        error = {"type": exc.code, "status": exc.status, "detail": exc.detail}
    except Exception as exc:  # noqa: BLE001 - recorded on the run, not lost in a retry loop
        log.exception("backup run %s failed", rid)
        status, result = "failed", None
        error = {"type": "internal-error", "status": 500, "detail": type(exc).__name__}
    if data["kind"] == "create" and status == "failed":
        _record_failed_backup(ctx, data, error)
    for _ in range(5):
        current = state.item
        final = {
            **current.data,
            "status": status,
            "finished_at": iso(ctx.clock.time()),
            "lease_until": None,
            "result": result,
            "error": error,
        }
        if result is not None:
            final["progress"] = {**current.data.get("progress", {}), **_final_progress(result)}
        try:
            repo.replace_run(current, final)
            break
        except VersionConflict:
            fresh = repo.get_run(rid)
            if fresh is None:
                break
            state.item = fresh
    if data["kind"] == "restore" and status == "succeeded":
        _end_older_restores(ctx, rid)
    return f"backup run {rid} ({data['kind']}): {status}"


def _record_failed_backup(ctx: ServiceContext, data: dict[str, Any], error: dict[str, Any] | None) -> None:
    """A backup run that failed is a ``backup`` event (on the feed: the ``backup-failed`` alert)."""
    from pilothouse.services import backup_status

    try:
        backup_status.event(
            ctx,
            "backup",
            outcome="failed",
            error=(error or {}).get("detail", "failed"),
            trigger=data.get("trigger", "manual"),
            run=data["id"],
        )
    except Exception:  # noqa: BLE001 - the run's own outcome is written next whatever happens here
        log.exception("backup run %s: its failure event was not recorded", data["id"])


def _this_worker() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid()}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def recover_local(ctx: ServiceContext, *, limit: int = 200) -> list[str]:
    """At a local control plane's start: the runs still ``running`` under a lease held by a process
    of this host that is gone (killed with its control plane) are taken up again at once rather
    than when the lease would lapse: a forced restore ends ``interrupted`` (never replayed, as
    :func:`_lease` decides for a lapsed one), any other run is queued again and its job message
    sent (a backup, verification or drill starts over, a restore resumes). Answers their ids."""
    host, recovered = socket.gethostname(), []
    for item in _repo(ctx).runs(limit=limit):
        data, worker = item.data, item.data.get("worker") or {}
        if data.get("status") != "running" or worker.get("host") != host:
            continue
        pid = worker.get("pid")
        if not isinstance(pid, int) or pid == os.getpid() or _alive(pid):
            continue
        if data.get("kind") == "restore" and data.get("force"):
            _end(
                ctx,
                item,
                "interrupted",
                "the control plane was killed during this forced restore; it is not replayed: request it "
                "again (it resumes where it stopped)",
            )
            recovered.append(item.sk)
            continue
        try:
            _repo(ctx).replace_run(
                item, {**data, "status": "queued", "lease_until": None, "worker": None, "progress": {}}
            )
        except VersionConflict:  # taken up meanwhile
            continue
        ctx.queue.send(ctx.settings.jobs_queue, json.dumps({"kind": MESSAGE_KIND, "run_id": item.sk}))
        recovered.append(item.sk)
    return recovered


def _restore_runs(ctx: ServiceContext) -> Iterator[Item]:
    """The restore runs, newest first."""
    cursor: str | None = None
    while True:
        page = ctx.store.query(RUNS, limit=200, cursor=cursor, reverse=True)
        yield from (i for i in page.items if i.data.get("kind") == "restore")
        cursor = page.cursor
        if not cursor:
            return


def _later_finished_restore(ctx: ServiceContext, rid: str) -> str | None:
    """The id of a restore run requested after run ``rid`` that succeeded, if any."""
    for other in _restore_runs(ctx):
        if other.sk <= rid:
            return None
        if other.data.get("status") == "succeeded":
            return other.sk
    return None


def _end(ctx: ServiceContext, item: Item, reason: str, detail: str) -> None:
    """End a run that will not (or no longer) run: status ``interrupted``, the reason as its error."""
    data = {
        **item.data,
        "status": "interrupted",
        "finished_at": iso(ctx.clock.time()),
        "lease_until": None,
        "error": {"type": reason, "status": 409, "detail": detail},
    }
    # a conflict: someone else wrote the record since (a lease, an outcome): theirs stands
    with contextlib.suppress(VersionConflict):
        _repo(ctx).replace_run(item, data)


def _end_older_restores(ctx: ServiceContext, rid: str) -> None:
    """After restore run ``rid`` succeeded: the older restore runs still queued or running end."""
    for other in _restore_runs(ctx):
        if other.sk < rid and other.data.get("status") in ("queued", "running"):
            _end(ctx, other, "superseded", f"restore run {rid} finished after this one was requested")


class _Tracked:
    """The run's record as last written, and when progress was last written."""

    def __init__(self, item: Item) -> None:
        self.item = item
        self.last = 0.0


def _final_progress(result: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key in ("items", "bytes"):
        if isinstance(result.get(key), int):
            out[key] = result[key]
            out[f"{key}_total"] = result[key]
    return out


def _dispatch(ctx: ServiceContext, data: dict[str, Any], progress: Any) -> dict[str, Any]:
    kind, backup_id = data["kind"], data.get("backup_id")
    if kind == "create":
        from pilothouse.services import backup_schedule, backups

        summary = backups.create(ctx, trigger=data.get("trigger", "manual"), progress=progress)
        backup_schedule.after_backup(ctx, summary)
        return summary
    if kind == "verify":
        from pilothouse.services import backup_reader

        return backup_reader.verify(ctx, str(backup_id), progress=progress)
    if kind == "restore":
        from pilothouse.services import backup_restore

        return backup_restore.restore(ctx, str(backup_id), force=bool(data.get("force")), progress=progress)
    from pilothouse.services import backup_drill

    return backup_drill.drill(ctx, backup_id, progress=progress)

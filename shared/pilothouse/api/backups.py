"""Backup endpoints (admin): list, get, take, verify, restore, drill, delete; operations and events.

Taking, verifying, restoring and drilling answer 202 with a *backup run* the job worker carries
out; ``GET /v1/backup-runs/{run_id}`` follows its progress (what ``--wait`` polls).
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from pydantic import BaseModel, ConfigDict, Field

from pilothouse.api import lazy
from pilothouse.runtime.context import current
from pilothouse.runtime.http import json_response
from pilothouse.runtime.operations import operation

TAG = "backups"


def _backup(params: dict[str, str]) -> str:
    return f"backup:{params.get('backup_id')}"


class CreateBackupRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RestoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    force: bool = Field(default=False, description="replace a store that is not empty")


@operation(summary="List complete backups, newest first", tag=TAG, response="BackupPage")
def list_backups(limit: Annotated[int, lazy.Query(ge=1, le=500)] = 100) -> dict[str, Any]:
    from pilothouse.services import backups

    return backups.list_backups(current().services, limit=limit)


@operation(
    summary="A backup's manifest (no key material)",
    tag=TAG,
    resource=_backup,
    response="BackupAnswer",
    errors=(422,),  # a malformed backup id (the service's check of its form)
)
def get_backup(backup_id: str) -> dict[str, Any]:
    from pilothouse.services import backups

    return backups.get(current().services, backup_id)


@operation(summary="Take a backup now (a backup run)", tag=TAG, status=202, response="BackupRunAnswer")
def create_backup(request: CreateBackupRequest | None = None) -> Response[dict[str, Any]]:
    from pilothouse.services import backup_runs as ops

    ctx = current()
    op = ops.start(ctx.services, "create", requested_by=ctx.actor)
    ctx.resource = f"backup-run:{op['id']}"
    return json_response(op, 202)


@operation(
    summary="Check every chunk of a backup against its manifest (a backup run)",
    tag=TAG,
    status=202,
    resource=_backup,
    response="BackupRunAnswer",
)
def verify_backup(backup_id: str) -> Response[dict[str, Any]]:
    from pilothouse.services import backup_runs as ops

    ctx = current()
    return json_response(ops.start(ctx.services, "verify", requested_by=ctx.actor, backup_id=backup_id), 202)


@operation(
    summary="Restore a backup into this control plane's store (a backup run; force replaces)",
    tag=TAG,
    status=202,
    resource=_backup,
    response="BackupRunAnswer",
)
def restore_backup(backup_id: str, request: RestoreRequest | None = None) -> Response[dict[str, Any]]:
    from pilothouse.services import backup_runs as ops

    ctx = current()
    force = bool(request and request.force)
    op = ops.start(ctx.services, "restore", requested_by=ctx.actor, backup_id=backup_id, force=force)
    return json_response(op, 202)


@operation(
    summary="Drill: restore a backup (or `latest`) into a scratch store and compare (a backup run)",
    tag=TAG,
    status=202,
    resource=_backup,
    response="BackupRunAnswer",
)
def drill_backup(backup_id: str) -> Response[dict[str, Any]]:
    from pilothouse.services import backup_runs as ops

    ctx = current()
    return json_response(ops.start(ctx.services, "drill", requested_by=ctx.actor, backup_id=backup_id), 202)


@operation(
    summary="Delete a backup (its manifest first)", tag=TAG, resource=_backup, response="BackupDeleted"
)
def delete_backup(backup_id: str) -> dict[str, Any]:
    from pilothouse.services import backups

    return backups.delete(current().services, backup_id)


@operation(
    summary="A backup run: status, progress (items, bytes), result or error",
    tag=TAG,
    resource=lambda p: f"backup-run:{p.get('run_id')}",
    response="BackupRunAnswer",
)
def get_backup_run(run_id: str) -> dict[str, Any]:
    from pilothouse.services import backup_runs as ops

    return ops.get(current().services, run_id)


@operation(
    summary="Backup events, newest first: backups, drills (RPO, RTO), failures, missed RPO",
    tag=TAG,
    response="BackupEventPage",
)
def list_backup_events(limit: Annotated[int, lazy.Query(ge=1, le=500)] = 50) -> dict[str, Any]:
    from pilothouse.services import backup_status

    return {"items": backup_status.events(current().services, limit=limit)}


OPERATIONS = [
    list_backups,
    get_backup,
    create_backup,
    verify_backup,
    restore_backup,
    drill_backup,
    delete_backup,
    get_backup_run,
    list_backup_events,
]

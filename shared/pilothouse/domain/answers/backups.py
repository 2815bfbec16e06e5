"""Backups of the control plane and their runs (issue 12)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from pilothouse.domain.answers.core import Answer


class BackupAnswer(Answer):
    """A complete backup as its manifest describes it (no key material, no MAC)."""

    id: str
    created_at: str | None = None
    completed_at: str | None = None
    trigger: str | None = None
    store: str | None = None
    consistency: str | None = None
    at_rest: str | None = None
    items: int | None = None
    counts: dict[str, int] | None = None
    bytes: int | None = None
    raw_bytes: int | None = None
    chunks: int | None = None
    compression_ratio: float | None = None
    key_id: str | None = Field(default=None, description="the master key that wraps its data key")
    verified_at: str | None = None
    verify_outcome: str | None = None
    drilled_at: str | None = None
    drill_outcome: str | None = None


class BackupPage(Answer):
    items: list[BackupAnswer]
    total: int
    incomplete: list[str] = Field(description="backups without a manifest (never offered for restore)")


class BackupDeleted(Answer):
    id: str
    deleted_objects: int


class BackupRunAnswer(Answer):
    """A backup run: a create, verify, restore or drill carried out asynchronously."""

    id: str
    kind: str
    status: str = Field(description="queued, running, succeeded, failed, or interrupted (lease lapsed)")
    backup_id: str | None = None
    force: bool = False
    requested_by: str
    requested_at: str
    started_at: str | None = None
    finished_at: str | None = None
    progress: dict[str, Any] = Field(description="phase, items, bytes, chunks (and their totals)")
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


class BackupEvent(Answer):
    id: str
    type: str
    at: str
    outcome: str
    backup_id: str | None = None
    detail: dict[str, Any]


class BackupEventPage(Answer):
    items: list[BackupEvent]

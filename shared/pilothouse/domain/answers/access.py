"""Who may do what, and what they did: API keys, the audit log and its verification, policies."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from pilothouse.domain.answers.core import Answer


class ApiKeyAnswer(Answer):
    """An API key's record: never its secret nor its hash, only the prefix it starts with."""

    id: str
    name: str
    role: str
    prefix: str
    created_at: str
    created_by: str
    expires_at: str | None
    revoked_at: str | None
    permissions: list[str]
    environments: list[str]


class NewApiKeyAnswer(ApiKeyAnswer):
    """A new key's record and its secret, shown this once. A replay of the call with the same
    Idempotency-Key answers without it (the secret is not kept) and says so."""

    key: str | None = Field(default=None, description="the secret (absent from a replay)")
    secret_shown_once: bool | None = Field(default=None, description="true in a replay, which has no key")


class ApiKeyPage(Answer):
    items: list[ApiKeyAnswer]
    next_cursor: str | None


class AuditRecord(Answer):
    """One mutating call and its outcome (anonymous refusals are counted per operation and minute)."""

    at: str
    principal: str
    operation: str
    target: str | None
    request_id: str
    status: int
    outcome: str
    detail: str | None
    count: int | None = None
    last_at: str | None = None


class AuditPage(Answer):
    items: list[AuditRecord]
    next_cursor: str | None


class AuditProblem(Answer):
    """One break in the audit hash chain."""

    shard: str
    seq: int | None
    problem: str = Field(description="changed, deleted, reordered, inserted, head-missing or head-mismatch")
    detail: str


class AuditVerification(Answer):
    """What ``GET /v1/audit/verify`` found: ``ok`` when no record was deleted, changed or reordered."""

    ok: bool
    since: str | None
    days: int
    records: int
    problems: list[AuditProblem]


class AuditExportPage(Answer):
    """Audit records oldest first, in chain order (the CLI writes them as JSON Lines)."""

    items: list[AuditRecord]
    next_cursor: str | None


class PolicyAnswer(Answer):
    """A deployment policy as stored: its definition, version and who wrote it."""

    name: str
    description: str
    match: dict[str, Any]
    rule: str
    message: str
    type: str
    mode: str
    version: int
    created_at: str
    created_by: str
    updated_at: str
    updated_by: str


class PolicyList(Answer):
    items: list[dict[str, Any]]


class PolicyTestAnswer(Answer):
    """What the policies tried would decide on each request (``denied_by``: the policies refusing it)."""

    evaluated: int
    denied: int
    results: list[dict[str, Any]]

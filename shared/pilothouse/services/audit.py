"""The audit trail: one record per mutating call, whatever its outcome."""

from __future__ import annotations

import hashlib
from typing import Any

from pilothouse.clock import iso
from pilothouse.errors import Conflict
from pilothouse.repositories.audit import AuditRepository, record_sk
from pilothouse.services.context import ServiceContext


def repo(services: ServiceContext) -> AuditRepository:
    return AuditRepository(services.store)


def record(
    services: ServiceContext,
    *,
    principal: str,
    operation: str,
    target: str | None,
    request_id: str,
    status: int,
    detail: str | None = None,
    actor: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Append an audit record; ``status`` is the HTTP status the caller got; ``actor``: who an
    OIDC principal is (issuer, subject, e-mail, name).

    Refusals of callers who presented no valid credential (401, principal ``anonymous``) are
    counted into one record per operation and minute instead, so a flood of anonymous requests
    cannot grow the trail without bound; every other outcome gets a record of its own.
    """
    now = services.clock.time()
    if principal == "anonymous" and status == 401:
        return _count_refusal(
            services, operation=operation, target=target, request_id=request_id, now=now, detail=detail
        )
    data: dict[str, Any] = {
        "at": iso(now),
        "principal": principal,
        "operation": operation,
        "target": target,
        "request_id": request_id,
        "status": status,
        "outcome": "success" if status < 400 else ("denied" if status in (401, 403) else "failure"),
        "detail": detail,
    }
    if actor:
        data["actor"] = {k: v for k, v in actor.items() if v is not None}
    ttl = now + services.settings.audit_ttl_days * 86400
    repo(services).append(record_sk(now), data, expires_at=ttl)
    return data


def _count_refusal(
    services: ServiceContext,
    *,
    operation: str,
    target: str | None,
    request_id: str,
    now: float,
    detail: str | None = None,
) -> dict[str, Any]:
    """One record per operation, reason and minute for refusals of callers without a valid
    credential (the reason: the refusal's detail, e.g. "the token has expired").

    The record sits at the time of the minute's first refusal (so listings stay in time order); a
    pointer item per minute and operation finds it again, and each refusal bumps its count.
    """
    ttl = now + services.settings.audit_ttl_days * 86400
    reason = (detail or "no credential")[:300]
    counted = f"{operation}#{hashlib.sha256(reason.encode()).hexdigest()[:12]}" if detail else operation
    for _ in range(50):
        pointer = repo(services).refusal_pointer(counted, now)
        if pointer is None:
            sk = record_sk(now)
            data = {
                "at": iso(now),
                "principal": "anonymous",
                "operation": operation,
                "target": target,
                "request_id": request_id,
                "status": 401,
                "outcome": "denied",
                "count": 1,
                "last_at": iso(now),
                "detail": f"{reason} (requests without a valid credential, counted per operation, "
                "reason and minute)",
            }
            try:
                repo(services).start_refusal_count(counted, now, sk, data, expires_at=ttl)
                return data
            except Conflict:
                continue
        item = repo(services).get(pointer.data["sk"])
        if item is None:  # expired meanwhile: start a new one
            repo(services).drop_refusal_pointer(counted, now)
            continue
        data = {**item.data, "count": item.data.get("count", 1) + 1, "last_at": iso(now)}
        if data.get("target") != target:
            data["target"] = None  # several targets: the record names none
        try:
            repo(services).replace(item, data, expires_at=ttl)
            return data
        except Conflict:
            continue
    raise Conflict("the refusal counter is too contended")


def list_records(
    services: ServiceContext,
    *,
    limit: int = 50,
    cursor: str | None = None,
    principal: str | None = None,
    operation: str | None = None,
    target: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first, optionally filtered; the cursor continues after the last record returned."""
    out: list[dict[str, Any]] = []
    while True:
        page = repo(services).page(limit=limit, cursor=cursor)
        for item in page.items:
            d = item.data
            if principal and d["principal"] != principal:
                continue
            if operation and d["operation"] != operation:
                continue
            if target and d.get("target") != target:
                continue
            out.append(d)
        cursor = page.cursor
        if len(out) >= limit or cursor is None:
            return out, cursor

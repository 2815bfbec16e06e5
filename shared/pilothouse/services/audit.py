"""The audit trail: one record per mutating call, whatever its outcome."""

from __future__ import annotations

import uuid
from typing import Any

from pilothouse.clock import iso
from pilothouse.store.base import Item
from pilothouse.wiring import Services

PK = "AUDIT"


def record(
    services: Services,
    *,
    principal: str,
    operation: str,
    target: str | None,
    request_id: str,
    status: int,
    detail: str | None = None,
) -> dict[str, Any]:
    """Append an audit record; ``status`` is the HTTP status the caller got."""
    now = services.clock.time()
    data = {
        "at": iso(now),
        "principal": principal,
        "operation": operation,
        "target": target,
        "request_id": request_id,
        "status": status,
        "outcome": "success" if status < 400 else ("denied" if status in (401, 403) else "failure"),
        "detail": detail,
    }
    ttl = now + services.settings.audit_ttl_days * 86400
    # Sort keys are time-ordered to the microsecond; the random tail keeps simultaneous records apart.
    sk = f"{int(now * 1_000_000):017d}#{uuid.uuid4().hex[:8]}"
    services.store.put(Item(PK, sk, data, expires_at=ttl), if_absent=True)
    return data


def list_records(
    services: Services,
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
        page = services.store.query(PK, limit=limit, cursor=cursor, reverse=True)
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

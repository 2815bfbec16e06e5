"""Audit trail endpoint (admin)."""

from __future__ import annotations

from typing import Annotated, Any

from pilothouse.api import lazy
from pilothouse.runtime.context import current
from pilothouse.runtime.operations import operation
from pilothouse.services import audit as svc


@operation(summary="Audit records, newest first", tag="security", response="AuditPage")
def list_audit(
    limit: Annotated[int, lazy.Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, lazy.Query()] = None,
    principal: Annotated[str | None, lazy.Query()] = None,
    operation_name: Annotated[str | None, lazy.Query(alias="operation")] = None,
    target: Annotated[str | None, lazy.Query()] = None,
) -> dict[str, Any]:
    items, next_cursor = svc.list_records(
        current().services,
        limit=limit,
        cursor=cursor,
        principal=principal,
        operation=operation_name,
        target=target,
    )
    return {"items": items, "next_cursor": next_cursor}


@operation(
    summary="Check the audit hash chain: deleted, changed or reordered records",
    tag="security",
    response="AuditVerification",
)
def verify_audit(
    since: Annotated[str | None, lazy.Query(pattern=r"^\d{4}-\d{2}-\d{2}$")] = None,
) -> dict[str, Any]:
    from pilothouse.services import audit_verify

    return audit_verify.verify(current().services, since=since)


@operation(
    summary="Audit records oldest first, in chain order (for a SIEM)",
    tag="security",
    response="AuditExportPage",
)
def export_audit(
    since: Annotated[str | None, lazy.Query(pattern=r"^\d{4}-\d{2}-\d{2}$")] = None,
    limit: Annotated[int, lazy.Query(ge=1, le=1000)] = 500,
    cursor: Annotated[str | None, lazy.Query()] = None,
) -> dict[str, Any]:
    from pilothouse.services import audit_verify

    items, next_cursor = audit_verify.export(current().services, since=since, limit=limit, cursor=cursor)
    return {"items": items, "next_cursor": next_cursor}


OPERATIONS = [list_audit, verify_audit, export_audit]

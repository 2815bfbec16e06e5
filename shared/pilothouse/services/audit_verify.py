"""Checking the audit hash chain, and exporting the trail in chain order (JSON Lines for a SIEM).

:func:`verify` walks every day since a date: each record's hash, the links between records, the
sequence numbers against the day's head, and each day's anchor to the day before it, and reports
each deleted, changed, reordered or inserted record (:func:`pilothouse.domain.audit_chain.check_day`).
Days older than the retention expire as a whole and are not reported missing.
"""

from __future__ import annotations

import re
from typing import Any

from pilothouse.domain.audit_chain import check_day
from pilothouse.errors import ValidationFailed
from pilothouse.repositories.audit import seq_sk
from pilothouse.services.audit import _cursor, _uncursor, day_of, repo
from pilothouse.services.context import ServiceContext

DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MAX_PROBLEMS = 1000


def _since(value: str | None) -> str:
    if value is None:
        return ""
    if not DAY.match(value):
        raise ValidationFailed.field("since", "a day as YYYY-MM-DD (UTC)")
    return value


def _anchor_problem(services: ServiceContext, day: str, first: dict[str, Any]) -> dict[str, Any] | None:
    anchor = first.get("anchor")
    if not isinstance(anchor, dict):
        return None
    shard = str(anchor.get("shard", ""))
    retention_start = day_of(services.clock.time() - services.settings.audit_ttl_days * 86400)
    if shard <= retention_start:
        return None  # that day has expired by design
    item = repo(services).get(shard, seq_sk(int(anchor.get("seq", 0))))
    if item is None or item.data.get("hash") != anchor.get("hash"):
        return {
            "shard": shard,
            "seq": anchor.get("seq"),
            "problem": "deleted",
            "detail": f"the record {day} follows (its anchor) is gone or changed",
        }
    return None


def verify(services: ServiceContext, *, since: str | None = None) -> dict[str, Any]:
    """The chain's state since ``since`` (a UTC day; all days when None): ``ok``, how many days
    and records were checked, and the problems found (at most 1000)."""
    start = _since(since)
    days = sorted(d for d in repo(services).all_days() if d >= start)
    problems: list[dict[str, Any]] = []
    records = 0
    for day in days:
        items = repo(services).chain(day)
        records += len(items)
        head = repo(services).head(day)
        rows = [{**i.data, "_sk": i.sk} for i in items]
        problems.extend(check_day(day, rows, head.data if head else None))
        firsts = [r for r in rows if r.get("seq") == 1]
        anchored = _anchor_problem(services, day, firsts[0]) if firsts else None
        if anchored:
            problems.append(anchored)
        if len(problems) >= MAX_PROBLEMS:
            break
    return {
        "ok": not problems,
        "since": start or None,
        "days": len(days),
        "records": records,
        "problems": problems[:MAX_PROBLEMS],
    }


def export(
    services: ServiceContext, *, since: str | None = None, limit: int = 500, cursor: str | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """Records oldest first, day by day in chain order (records from before the chain first)."""
    start = _since(since)
    days = ["", *sorted(d for d in repo(services).all_days() if d >= start)]
    day, inner = _uncursor(cursor) if cursor else (days[0], None)
    index = days.index(day) if day in days else len(days)
    out: list[dict[str, Any]] = []
    while index < len(days) and len(out) < limit:
        day = days[index]
        page = repo(services).oldest_first(day, limit=limit - len(out), cursor=inner)
        out.extend(i.data for i in page.items)
        inner = page.cursor
        if inner is None:
            index += 1
    if index >= len(days):
        return out, None
    return out, _cursor(days[index], inner)

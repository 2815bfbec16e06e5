"""The audit trail: one record per mutating (or refused) call, whatever its outcome, appended to
the day's hash chain (:mod:`pilothouse.domain.audit_chain`, :mod:`pilothouse.repositories.audit`)."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from pilothouse.clock import iso
from pilothouse.domain.audit_chain import genesis, seal
from pilothouse.errors import BadRequest, Conflict
from pilothouse.ports import Item, Write
from pilothouse.repositories.audit import AuditRepository
from pilothouse.services.context import ServiceContext


def repo(services: ServiceContext) -> AuditRepository:
    return AuditRepository(services.store)


#: the last day :func:`day_of` spelled: (days since the epoch, its name)
_last_day: tuple[int | None, str] = (None, "")


def day_of(now: float) -> str:
    """The UTC day a record made at ``now`` belongs to (its shard); the day's name is spelled once
    per day (``time.gmtime`` floors ``now`` as ``//`` does).

    >>> day_of(86399.999), day_of(86400.0)
    ('1970-01-01', '1970-01-02')
    """
    global _last_day
    number = int(now // 86400)
    known = _last_day
    if known[0] == number:
        return known[1]
    name = time.strftime("%Y-%m-%d", time.gmtime(now))
    _last_day = (number, name)
    return name


# -- the head this process last saw ----------------------------------------------------------------
# Placing a record needs its day's chain head. Most of the time the head is the one this process
# wrote with its last record (or read), so that one is kept, per store, and the next record is
# placed on it without reading it again. A kept head that another process (or a racing thread)
# has moved since costs nothing in correctness: the head is written on the condition that its
# version is the one the record was placed on and the record's place on the condition that it is
# free, so the write fails and the record is placed again on the head read afresh (``record``
# retries with ``fresh``; ``InCommit.moved`` reads it), exactly as when a head read from the store
# moves before the write. That argument needs a head's version never to come back within its day:
# nothing deletes a head (a restore keeps the audit partitions as they are, and a head expires at
# the earliest a day after its day began: ``audit_ttl_days`` >= 1), and a kept head serves only its
# own day.
_heads: weakref.WeakKeyDictionary[Any, tuple[str, Item]] = weakref.WeakKeyDictionary()
_heads_lock = threading.Lock()


def _head(services: ServiceContext, day: str, *, fresh: bool) -> Item | None:
    """The day's chain head: the one this process last saw unless ``fresh`` (then read)."""
    if not fresh:
        known = _heads.get(services.store)
        if known is not None and known[0] == day:
            return known[1]
    head = repo(services).head(day)
    _saw(services, day, head, read=True)
    return head


def _saw(services: ServiceContext, day: str, head: Item | None, *, read: bool) -> None:
    """Keep ``head`` as the day's: a head read replaces what was kept (it is the store's word); one
    written only moves it forward (this process's threads may land theirs in another order)."""
    with _heads_lock:
        known = _heads.get(services.store)
        if head is None:
            if read and known is not None and known[0] == day:
                del _heads[services.store]
            return
        if read or known is None or known[0] < day or (known[0] == day and known[1].version < head.version):
            _heads[services.store] = (day, head)


def _placed(
    services: ServiceContext, data: dict[str, Any], day: str, *, fresh: bool = False
) -> tuple[dict[str, Any], Item | None]:
    """``data`` sealed at the next place of its day's chain, and the head it follows (the one this
    process last saw unless ``fresh``; see above)."""
    head = _head(services, day, fresh=fresh)
    if head is None:
        data = dict(data)
        latest = repo(services).latest_head()
        if latest is not None and latest[0] < day:  # the first record of a day anchors the day before
            before_day, before = latest
            data["anchor"] = {"shard": before_day, "seq": before.data["seq"], "hash": before.data["hash"]}
        return seal(data, day=day, seq=1, prev=genesis(day)), None
    return seal(data, day=day, seq=head.data["seq"] + 1, prev=head.data["hash"]), head


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
    request: dict[str, Any] | None = None,
    policies: list[dict[str, Any]] | None = None,
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
    data = _entry(now, principal, operation, target, request_id, status, detail, actor, request, policies)
    ttl = now + services.settings.audit_ttl_days * 86400
    for attempt in range(100):
        day = day_of(now)
        sealed, head = _placed(services, data, day, fresh=attempt > 0)
        try:
            _saw(services, day, repo(services).append(day, sealed, head, expires_at=ttl), read=False)
            return sealed
        except Conflict:  # another record took this place: follow the new head
            now = services.clock.time()
            continue
    raise Conflict("the audit chain is too contended; retry")


def _entry(
    now: float,
    principal: str,
    operation: str,
    target: str | None,
    request_id: str,
    status: int,
    detail: str | None,
    actor: dict[str, Any] | None,
    request: dict[str, Any] | None,
    policies: list[dict[str, Any]] | None,
) -> dict[str, Any]:
    """An audit record's fields before it is placed in its day's chain."""
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
    if request:
        data["request"] = request  # the facts policies judged it on (policies test replays them)
    if policies:
        data["policies"] = policies  # every matching policy's decision
    return data


class InCommit:
    """The audit record of a successful call, written in the transaction of the change the call
    makes (a :class:`pilothouse.repositories.derived.Rider`): one commit instead of two, and no
    change without its record. ``record`` is the record once it landed; until then (a store whose
    transactions stay in one partition, a change that failed) the caller appends it by itself
    with :func:`record`, as for any other call.

    The record says ``status`` (the call's answer when it succeeds) and what :func:`record` would
    say of it; its target is asked for when it is placed (an endpoint names it as it runs)."""

    def __init__(
        self,
        services: ServiceContext,
        *,
        principal: str,
        operation: str,
        target: Callable[[], str | None],
        request_id: str,
        status: int,
        actor: dict[str, Any] | None = None,
        request: dict[str, Any] | None = None,
        policies: list[dict[str, Any]] | None = None,
    ) -> None:
        self.services = services
        self.fields = (principal, operation, target, request_id, status, actor, request, policies)
        self.record: dict[str, Any] | None = None
        self._placed: tuple[str, dict[str, Any], Item | None] | None = None

    def writes(self) -> list[Write]:
        principal, operation, target, request_id, status, actor, request, policies = self.fields
        now = self.services.clock.time()
        data = _entry(now, principal, operation, target(), request_id, status, None, actor, request, policies)
        day = day_of(now)
        sealed, head = _placed(self.services, data, day)
        self._placed = (day, sealed, head)
        ttl = now + self.services.settings.audit_ttl_days * 86400
        return repo(self.services).append_writes(day, sealed, head, expires_at=ttl)

    def moved(self) -> bool:
        if self._placed is None:
            return False
        day, _, head = self._placed
        now = _head(self.services, day, fresh=True)  # and kept: the next writes() follow it
        return day != day_of(self.services.clock.time()) or (
            (now.version, now.data.get("hash")) if now else None
        ) != ((head.version, head.data.get("hash")) if head else None)

    def landed(self, written: Sequence[Item]) -> None:
        if self._placed is None:
            return
        day, self.record, _ = self._placed
        _saw(self.services, day, written[-1], read=False)  # append_writes puts the head last


def in_commit(services: ServiceContext, **fields: Any) -> AbstractContextManager[InCommit]:
    """While inside, the first change committed in one transaction carries this call's audit
    record (:class:`InCommit`, ``fields`` as it takes them)."""
    from pilothouse.repositories.derived import riding

    return riding(InCommit(services, **fields))


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
    for attempt in range(50):
        pointer = repo(services).refusal_pointer(counted, now)
        if pointer is None:
            day = day_of(now)
            data: dict[str, Any] = {
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
            sealed, head = _placed(services, data, day, fresh=attempt > 0)
            try:
                written = repo(services).start_refusal_count(counted, now, day, sealed, head, expires_at=ttl)
                _saw(services, day, written, read=False)
                return sealed
            except Conflict:
                continue
        pointed_day = str(pointer.data.get("day", ""))
        item = repo(services).get(pointed_day, pointer.data["sk"])
        if item is None:  # expired meanwhile: start a new one
            repo(services).drop_refusal_pointer(counted, now)
            continue
        # only count and last_at change (the hash leaves them out); the record names the first target
        data = {**item.data, "count": item.data.get("count", 1) + 1, "last_at": iso(now)}
        try:
            repo(services).replace(pointed_day, item, data, expires_at=ttl)
            return data
        except Conflict:
            continue
    raise Conflict("the refusal counter is too contended")


def _cursor(day: str, inner: str | None) -> str:
    return base64.urlsafe_b64encode(json.dumps({"d": day, "c": inner}).encode()).decode()


def _uncursor(cursor: str) -> tuple[str, str | None]:
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        day, inner = value["d"], value["c"]
        if not isinstance(day, str) or not (inner is None or isinstance(inner, str)):
            raise ValueError
        return day, inner
    except (ValueError, KeyError, TypeError):
        raise BadRequest("the cursor is not one this listing gave out", extra={"field": "cursor"}) from None


def shards(services: ServiceContext) -> list[str]:
    """The days that have records, newest first, then ``""`` (records from before the chain)."""
    return [*repo(services).all_days(), ""]


def list_records(
    services: ServiceContext,
    *,
    limit: int = 50,
    cursor: str | None = None,
    principal: str | None = None,
    operation: str | None = None,
    target: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first (day by day, each in chain order), optionally filtered; the cursor continues
    after the last record returned."""
    days = shards(services)
    day, inner = _uncursor(cursor) if cursor else (days[0], None)
    index = days.index(day) if day in days else len(days)
    out: list[dict[str, Any]] = []
    while index < len(days):
        day = days[index]
        if day:
            page = repo(services).page_day(day, limit=limit, cursor=inner)
        else:
            page = repo(services).page_legacy(limit=limit, cursor=inner)
        for item in page.items:
            d = item.data
            if principal and d["principal"] != principal:
                continue
            if operation and d["operation"] != operation:
                continue
            if target and d.get("target") != target:
                continue
            out.append(d)
        inner = page.cursor
        if inner is None:
            index, inner = index + 1, None
        if len(out) >= limit:
            break
    if index >= len(days):
        return out, None
    return out, _cursor(days[index], inner)

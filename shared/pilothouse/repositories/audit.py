"""The audit repository: hash-chained records sharded by day, each day's chain head beside its
records, and the counters of anonymous refusals.

=====================  ==================================  ==========================================
partition              sort key                            what
=====================  ==================================  ==========================================
``AUDIT#<YYYY-MM-DD>`` ``<seq, 12 digits>``                a record of that (UTC) day, in chain order
``AUDIT#<YYYY-MM-DD>`` ``HEAD``                            the day's chain head: last ``seq``, ``hash``
``AUDIT#<YYYY-MM-DD>`` ``ANON#<epoch minute>#<operation>`` pointer to the record counting refusals
``AUDIT-DAYS``         ``<YYYY-MM-DD>``                    a day that may have records (the day list)
``AUDIT``              ``<epoch µs, 17 digits>#<rand>``    records written before the chain (read only)
``AUDIT-HEAD``         ``<YYYY-MM-DD>``                    heads of the layout before 2026-12 (read
                                                           until ``pilothouse migrate`` moves them)
=====================  ==================================  ==========================================

One partition per day keeps no partition hot for long nor growing without bound. A record, its
day's head (and a refusal counter's pointer) are written in one transaction *inside the day's
partition* (every store commits that, Azure Tables included), the head conditionally (absent, or
at the version read), so of two racing appends one wins and the other retries with the new head:
the chain never forks. Where the store's transactions span partitions, the record of a call that
changes a component may ride in that change's transaction instead
(:meth:`AuditRepository.append_writes`, ``pilothouse.services.audit.InCommit``): the head is
conditioned the same way. Records' sort keys are 12-digit sequence numbers, so they all start with
``0`` (:data:`RECORD_PREFIX`; a day never holds 10^11 records) and sort before ``HEAD`` and
``ANON#``.

The day list (``AUDIT-DAYS``) is written *before* a day's first append, idempotently: a day listed
whose append then failed has no records and no head, which the readers skip and ``audit verify``
accepts, so no crash can leave a day with records that the list misses and no sweep is needed.
``get`` answers None for an unknown record.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from typing import Any

from pilothouse.domain.records import checked
from pilothouse.errors import AlreadyExists
from pilothouse.ports import Delete, Item, Page, Put, Store, Write

LEGACY_PK = "AUDIT"
DAYS_PK = "AUDIT-DAYS"
HEAD_SK = "HEAD"
#: every record's sort key starts with it (12-digit sequence numbers)
RECORD_PREFIX = "0"
#: the heads of the layout before the day partitions held them (read until migrated)
LEGACY_HEAD_PK = "AUDIT-HEAD"
#: refusal pointers of the layout before the day partitions held them (an hour's TTL; ignored)
LEGACY_ANON_PK = "AUDIT-ANON"


def day_pk(day: str) -> str:
    return f"AUDIT#{day}"


def seq_sk(seq: int) -> str:
    return f"{seq:012d}"


def record_sk(now: float) -> str:
    """The sort key of a record of the unchained (legacy) partition."""
    return f"{int(now * 1_000_000):017d}#{uuid.uuid4().hex[:8]}"


def refusal_sk(now: float, operation: str) -> str:
    return f"ANON#{int(now // 60)}#{operation}"


def minute_day(now: float) -> str:
    """The UTC day of the minute ``now`` falls in (where that minute's refusal pointers live)."""
    return time.strftime("%Y-%m-%d", time.gmtime(int(now // 60) * 60))


class AuditRepository:
    def __init__(self, store: Store) -> None:
        self.store = store

    # -- the chain ---------------------------------------------------------------------------------
    def head(self, day: str) -> Item | None:
        """The day's chain head (``data``: ``seq``, ``hash``), None before its first record. A day
        not yet migrated answers its head of the older layout: the next append writes the head
        into the day's partition on the condition that none is there (so racing appends still
        cannot fork the chain) and the old one is ignored from then on."""
        item = self.store.get(day_pk(day), HEAD_SK)
        if item is not None:
            return item
        legacy = self.store.get(LEGACY_HEAD_PK, day)
        return Item(day_pk(day), HEAD_SK, legacy.data, 0, legacy.expires_at) if legacy else None

    def latest_head(self) -> tuple[str, Item] | None:
        """The newest day that has records, and its head."""
        for day in self.all_days():
            found = self.head(day)
            if found is not None:
                return day, found
        return None

    def note_day(self, day: str, *, expires_at: float | None) -> None:
        """List ``day`` (before its first append; idempotent)."""
        with contextlib.suppress(AlreadyExists):
            self.store.put(Item(DAYS_PK, day, {"day": day}, expires_at=expires_at), if_absent=True)

    @staticmethod
    def _head_put(day: str, data: dict[str, Any], head: Item | None, expires_at: float | None) -> Put:
        new_head = Item(
            day_pk(day),
            HEAD_SK,
            checked("AuditChainHead", {"seq": data["seq"], "hash": data["hash"]}),
            expires_at=expires_at,
        )
        if head is None or head.version == 0:  # none yet, or the older layout's (see head())
            return Put(new_head, if_absent=True)
        return Put(new_head, if_version=head.version)

    def append(self, day: str, data: dict[str, Any], head: Item | None, *, expires_at: float) -> Item:
        """Write record ``data`` (its ``seq`` and ``hash`` set) and move the head to it, in one
        transaction of the day's partition, or raise Conflict when another record took that place
        first. Answers the day's new head."""
        return self.store.transact(self.append_writes(day, data, head, expires_at=expires_at))[-1]

    def append_writes(
        self, day: str, data: dict[str, Any], head: Item | None, *, expires_at: float
    ) -> list[Write]:
        """The writes of :meth:`append` (the day listed first when ``head`` is None), for a
        transaction that also carries others (a change and its audit record together): the
        record's, then the head's."""
        if head is None:
            self.note_day(day, expires_at=expires_at)
        record = Item(day_pk(day), seq_sk(data["seq"]), checked("AuditEntry", data), expires_at=expires_at)
        return [Put(record, if_absent=True), self._head_put(day, data, head, expires_at)]

    def get(self, day: str, sk: str) -> Item | None:
        return self.store.get(day_pk(day), sk) if day else self.store.get(LEGACY_PK, sk)

    def replace(self, day: str, item: Item, data: dict[str, Any], *, expires_at: float) -> None:
        """Replace ``item`` if unchanged since read (Conflict otherwise)."""
        pk = day_pk(day) if day else LEGACY_PK
        self.store.put(
            Item(pk, item.sk, checked("AuditEntry", data), expires_at=expires_at), if_version=item.version
        )

    def all_days(self) -> list[str]:
        """Every listed day, newest first (at most the retention's number; a listed day may have
        no records, see the module's docstring). Days of the older layout, not yet migrated, too."""
        days = {i.sk for i in self.store.scan_all(DAYS_PK)}
        days.update(i.sk for i in self.store.scan_all(LEGACY_HEAD_PK))
        return sorted(days, reverse=True)

    def page_day(self, day: str, *, limit: int, cursor: str | None) -> Page:
        """A day's records, newest first."""
        return self.store.query(day_pk(day), RECORD_PREFIX, limit=limit, cursor=cursor, reverse=True)

    def oldest_first(self, day: str, *, limit: int, cursor: str | None) -> Page:
        """A day's records in chain order (``""``: the records from before the chain, oldest first)."""
        if not day:
            return self.store.query(LEGACY_PK, limit=limit, cursor=cursor)
        return self.store.query(day_pk(day), RECORD_PREFIX, limit=limit, cursor=cursor)

    def chain(self, day: str) -> list[Item]:
        """Every item of a day's partition but its head and refusal pointers, in sort-key order
        (the chain's, unless someone moved one; a forged item with another key shows up too)."""
        return [
            i for i in self.store.scan_all(day_pk(day)) if i.sk != HEAD_SK and not i.sk.startswith("ANON#")
        ]

    # -- migration from the layout with a separate head partition -----------------------------------
    def migrate_heads(self) -> int:
        """Move every head of the older layout (``AUDIT-HEAD``) into its day's partition and list
        its day; idempotent and resumable (a head already in its day's partition, maybe moved on
        by appends since, wins). Answers how many heads it moved."""
        moved = 0
        for legacy in self.store.scan_all(LEGACY_HEAD_PK):
            day = legacy.sk
            self.note_day(day, expires_at=legacy.expires_at)
            with contextlib.suppress(AlreadyExists):
                self.store.put(
                    Item(day_pk(day), HEAD_SK, legacy.data, expires_at=legacy.expires_at), if_absent=True
                )
                moved += 1
            self.store.delete(LEGACY_HEAD_PK, day, if_version=legacy.version)
        return moved

    def page_legacy(self, *, limit: int, cursor: str | None) -> Page:
        """Records written before the chain existed, newest first."""
        return self.store.query(LEGACY_PK, limit=limit, cursor=cursor, reverse=True)

    # -- anonymous refusals --------------------------------------------------------------------------
    def refusal_pointer(self, operation: str, now: float) -> Item | None:
        """The pointer (``data["day"]``, ``data["sk"]``) to the record counting this minute's
        refusals of ``operation`` (it lives in the minute's day partition)."""
        return self.store.get(day_pk(minute_day(now)), refusal_sk(now, operation))

    def start_refusal_count(
        self,
        operation: str,
        now: float,
        day: str,
        data: dict[str, Any],
        head: Item | None,
        *,
        expires_at: float,
    ) -> Item:
        """Append the minute's counting record to the chain with its pointer, in one transaction
        of the day's partition (Conflict if either was taken meanwhile). ``day`` is the day of
        ``now`` (so of its minute). Answers the day's new head."""
        if minute_day(now) != day:
            raise ValueError("a refusal count starts in the day of its minute")
        if head is None:
            self.note_day(day, expires_at=expires_at)
        record = Item(day_pk(day), seq_sk(data["seq"]), checked("AuditEntry", data), expires_at=expires_at)
        pointer = {"day": day, "sk": seq_sk(data["seq"])}
        return self.store.transact(
            [
                Put(
                    Item(day_pk(day), refusal_sk(now, operation), pointer, expires_at=now + 3600),
                    if_absent=True,
                ),
                Put(record, if_absent=True),
                self._head_put(day, data, head, expires_at),
            ]
        )[-1]

    def drop_refusal_pointer(self, operation: str, now: float) -> None:
        self.store.transact([Delete(day_pk(minute_day(now)), refusal_sk(now, operation))])

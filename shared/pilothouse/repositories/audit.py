"""The audit repository: hash-chained records sharded by day, their chain heads, and the counters
of anonymous refusals.

=====================  ==================================  ==========================================
partition              sort key                            what
=====================  ==================================  ==========================================
``AUDIT#<YYYY-MM-DD>`` ``<seq, 12 digits>``                a record of that (UTC) day, in chain order
``AUDIT-HEAD``         ``<YYYY-MM-DD>``                    the day's chain head: last ``seq``, ``hash``
``AUDIT-ANON``         ``<epoch minute>#<operation>...``   pointer to the record counting refusals
``AUDIT``              ``<epoch µs, 17 digits>#<rand>``    records written before the chain (read only)
=====================  ==================================  ==========================================

One partition per day keeps no partition hot for long nor growing without bound; the head
partition lists the days (newest first). A record and its day's head are written in one
transaction, the head conditionally (absent, or at the version read), so of two racing appends one
wins and the other retries with the new head: the chain never forks. ``get`` answers None for an
unknown record.
"""

from __future__ import annotations

import uuid
from typing import Any

from pilothouse.domain.records import stored
from pilothouse.ports import Item, Page, Put, Store

LEGACY_PK = "AUDIT"
HEAD_PK = "AUDIT-HEAD"
ANON_PK = "AUDIT-ANON"


def day_pk(day: str) -> str:
    return f"AUDIT#{day}"


def seq_sk(seq: int) -> str:
    return f"{seq:012d}"


def record_sk(now: float) -> str:
    """The sort key of a record of the unchained (legacy) partition."""
    return f"{int(now * 1_000_000):017d}#{uuid.uuid4().hex[:8]}"


def refusal_sk(now: float, operation: str) -> str:
    return f"{int(now // 60)}#{operation}"


class AuditRepository:
    def __init__(self, store: Store) -> None:
        self.store = store

    # -- the chain ---------------------------------------------------------------------------------
    def head(self, day: str) -> Item | None:
        """The day's chain head (``data``: ``seq``, ``hash``), None before its first record."""
        return self.store.get(HEAD_PK, day)

    def latest_head(self) -> Item | None:
        """The head of the newest day that has records."""
        page = self.store.query(HEAD_PK, limit=1, reverse=True)
        return page.items[0] if page.items else None

    def append(self, day: str, data: dict[str, Any], head: Item | None, *, expires_at: float) -> None:
        """Write record ``data`` (its ``seq`` and ``hash`` set) and move the head to it, or raise
        Conflict when another record took that place first."""
        record = Item(day_pk(day), seq_sk(data["seq"]), stored("AuditEntry", data), expires_at=expires_at)
        new_head = Item(
            HEAD_PK,
            day,
            stored("AuditChainHead", {"seq": data["seq"], "hash": data["hash"]}),
            expires_at=expires_at,
        )
        self.store.transact(
            [
                Put(record, if_absent=True),
                Put(new_head, if_absent=True) if head is None else Put(new_head, if_version=head.version),
            ]
        )

    def get(self, day: str, sk: str) -> Item | None:
        return self.store.get(day_pk(day), sk) if day else self.store.get(LEGACY_PK, sk)

    def replace(self, day: str, item: Item, data: dict[str, Any], *, expires_at: float) -> None:
        """Replace ``item`` if unchanged since read (Conflict otherwise)."""
        pk = day_pk(day) if day else LEGACY_PK
        self.store.put(
            Item(pk, item.sk, stored("AuditEntry", data), expires_at=expires_at), if_version=item.version
        )

    def days(self, *, limit: int, cursor: str | None) -> Page:
        """The days' heads, newest first (``sk``: the day)."""
        return self.store.query(HEAD_PK, limit=limit, cursor=cursor, reverse=True)

    def all_days(self) -> list[str]:
        """Every day that has records, newest first (at most the retention's number of heads)."""
        return sorted((i.sk for i in self.store.scan_all(HEAD_PK)), reverse=True)

    def page_day(self, day: str, *, limit: int, cursor: str | None) -> Page:
        """A day's records, newest first."""
        return self.store.query(day_pk(day), limit=limit, cursor=cursor, reverse=True)

    def oldest_first(self, day: str, *, limit: int, cursor: str | None) -> Page:
        """A day's records in chain order (``""``: the records from before the chain, oldest first)."""
        return self.store.query(day_pk(day) if day else LEGACY_PK, limit=limit, cursor=cursor)

    def chain(self, day: str) -> list[Item]:
        """Every record of a day, in sort-key order (the chain's, unless someone moved one)."""
        return self.store.scan_all(day_pk(day))

    def page_legacy(self, *, limit: int, cursor: str | None) -> Page:
        """Records written before the chain existed, newest first."""
        return self.store.query(LEGACY_PK, limit=limit, cursor=cursor, reverse=True)

    # -- anonymous refusals --------------------------------------------------------------------------
    def refusal_pointer(self, operation: str, now: float) -> Item | None:
        """The pointer (``data["day"]``, ``data["sk"]``) to the record counting this minute's
        refusals of ``operation``."""
        return self.store.get(ANON_PK, refusal_sk(now, operation))

    def start_refusal_count(
        self,
        operation: str,
        now: float,
        day: str,
        data: dict[str, Any],
        head: Item | None,
        *,
        expires_at: float,
    ) -> None:
        """Append the minute's counting record to the chain with its pointer (Conflict if either
        was taken meanwhile)."""
        record = Item(day_pk(day), seq_sk(data["seq"]), stored("AuditEntry", data), expires_at=expires_at)
        new_head = Item(
            HEAD_PK,
            day,
            stored("AuditChainHead", {"seq": data["seq"], "hash": data["hash"]}),
            expires_at=expires_at,
        )
        pointer = {"day": day, "sk": seq_sk(data["seq"])}
        self.store.transact(
            [
                Put(
                    Item(ANON_PK, refusal_sk(now, operation), pointer, expires_at=now + 3600), if_absent=True
                ),
                Put(record, if_absent=True),
                Put(new_head, if_absent=True) if head is None else Put(new_head, if_version=head.version),
            ]
        )

    def drop_refusal_pointer(self, operation: str, now: float) -> None:
        self.store.delete(ANON_PK, refusal_sk(now, operation))

"""The audit repository: one record per mutating call, and the counters of anonymous refusals.

================  =================================  ==============================================
partition         sort key                           what
================  =================================  ==============================================
``AUDIT``         ``<epoch µs, 17 digits>#<rand>``   an audit record (expires after the retention)
``AUDIT-ANON``    ``<epoch minute>#<operation>``     the record counting that minute's refusals
================  =================================  ==============================================

``get`` answers None for an unknown record.
"""

from __future__ import annotations

import uuid
from typing import Any

from pilothouse.domain.records import stored
from pilothouse.ports import Item, Page, Put, Store

PK = "AUDIT"
ANON_PK = "AUDIT-ANON"


def record_sk(now: float) -> str:
    """Time-ordered to the microsecond; the random tail keeps simultaneous records apart."""
    return f"{int(now * 1_000_000):017d}#{uuid.uuid4().hex[:8]}"


def refusal_sk(now: float, operation: str) -> str:
    return f"{int(now // 60)}#{operation}"


class AuditRepository:
    def __init__(self, store: Store) -> None:
        self.store = store

    def append(self, sk: str, data: dict[str, Any], *, expires_at: float) -> None:
        self.store.put(Item(PK, sk, stored("AuditEntry", data), expires_at=expires_at), if_absent=True)

    def get(self, sk: str) -> Item | None:
        return self.store.get(PK, sk)

    def replace(self, item: Item, data: dict[str, Any], *, expires_at: float) -> None:
        """Replace ``item`` if unchanged since read (Conflict otherwise)."""
        self.store.put(
            Item(PK, item.sk, stored("AuditEntry", data), expires_at=expires_at), if_version=item.version
        )

    def refusal_pointer(self, operation: str, now: float) -> Item | None:
        """The pointer (``data["sk"]``) to the record counting this minute's refusals of ``operation``."""
        return self.store.get(ANON_PK, refusal_sk(now, operation))

    def start_refusal_count(
        self, operation: str, now: float, sk: str, data: dict[str, Any], *, expires_at: float
    ) -> None:
        """Write the minute's counting record and its pointer together (Conflict if one exists)."""
        self.store.transact(
            [
                Put(
                    Item(ANON_PK, refusal_sk(now, operation), {"sk": sk}, expires_at=now + 3600),
                    if_absent=True,
                ),
                Put(Item(PK, sk, stored("AuditEntry", data), expires_at=expires_at), if_absent=True),
            ]
        )

    def drop_refusal_pointer(self, operation: str, now: float) -> None:
        self.store.delete(ANON_PK, refusal_sk(now, operation))

    def page(self, *, limit: int, cursor: str | None) -> Page:
        """Newest first."""
        return self.store.query(PK, limit=limit, cursor=cursor, reverse=True)

"""Token buckets of the rate limiter.

==========  ======================================  =================================================
partition   sort key                                what
==========  ======================================  =================================================
``RATE``    ``<principal>#<operation class>``       ``tokens`` left at time ``at`` (expires when full)
==========  ======================================  =================================================

A bucket is written only if unchanged since read (its version), so two instances taking the last
token at once cannot both get it.
"""

from __future__ import annotations

from typing import Any

from pilothouse.domain.records import stored
from pilothouse.ports import Item, Store

PK = "RATE"


class RateBucketRepository:
    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, principal: str, operation_class: str) -> Item | None:
        return self.store.get(PK, f"{principal}#{operation_class}")

    def save(
        self,
        principal: str,
        operation_class: str,
        data: dict[str, Any],
        before: Item | None,
        *,
        expires_at: float,
    ) -> None:
        """Write the bucket if it is as read (absent, or at ``before``'s version); Conflict otherwise."""
        item = Item(
            PK, f"{principal}#{operation_class}", stored("RateBucketRecord", data), expires_at=expires_at
        )
        if before is None:
            self.store.put(item, if_absent=True)
        else:
            self.store.put(item, if_version=before.version)

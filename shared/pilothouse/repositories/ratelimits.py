"""Token buckets of the rate limiter.

==========  ======================================  =================================================
partition   sort key                                what
==========  ======================================  =================================================
``RATE``    ``<principal>#<operation class>``       ``tokens`` left at time ``at`` (expires when full)
==========  ======================================  =================================================

A bucket is written only if unchanged since read (its version), so two instances taking the last
token at once cannot both get it. Every authenticated request writes one, the first of a cold start
too: the record is checked here as ``stored_models.RateBucketRecord`` checks it (two numbers, no
other key), without loading the stored models (tests/unit/test_stored_records.py holds both to the
same verdicts).
"""

from __future__ import annotations

from typing import Any

from pilothouse.ports import Item, Store

PK = "RATE"
FIELDS = ("tokens", "at")


def bucket_record(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` once it is a bucket's record: ``tokens`` and ``at``, each an int or a float (not a
    bool, not text), nothing else; ValueError naming the key otherwise.

    >>> bucket_record({"tokens": 4.0, "at": 100.5})
    {'tokens': 4.0, 'at': 100.5}
    >>> bucket_record({"tokens": "4", "at": 100.5})
    Traceback (most recent call last):
    ...
    ValueError: RateBucketRecord.tokens: a number, not str
    """
    for key in data:
        if key not in FIELDS:
            raise ValueError(f"RateBucketRecord.{key}: not a field of the record")
    for key in FIELDS:
        if key not in data:
            raise ValueError(f"RateBucketRecord.{key}: missing")
        if type(data[key]) not in (int, float):
            raise ValueError(f"RateBucketRecord.{key}: a number, not {type(data[key]).__name__}")
    return data


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
        item = Item(PK, f"{principal}#{operation_class}", bucket_record(data), expires_at=expires_at)
        if before is None:
            self.store.put(item, if_absent=True)
        else:
            self.store.put(item, if_version=before.version)

"""Derived records: listing entries and indexes that copy a record of another partition.

A transaction stays inside one partition (``Store.transaction_scope``), so a record's listing
entry (a copy in a partition that lists every record of its kind) or index entry cannot be written
in the record's transaction. It is written after the commit instead, by :func:`sync`, which makes
it what the record calls for and is safe to run any number of times, from any process, in any
order: it reads the entry *first*, then the record, and writes the entry on the condition that it
is unchanged since read. A writer holding an older record therefore cannot put back an older copy
over a newer entry: whoever wrote the newer entry read the record after the older writer's commit.
One case is left: while the entry is *absent*, a writer whose record calls for none (a removed
record, a command that ended) finds nothing to do, and a slower writer may still add the entry its
older record called for. Such an entry names something that is no longer so; readers check the
record (the in-flight index drops the entry on read) and the dispatcher's reconcile of the marked
partition removes it; an entry is never missing for a record that calls for one.

A crash between the commit and the sync leaves the entry behind; the partition's dirty marker,
written before the commit, brings it to the event feed's dispatcher, which syncs it again
(:mod:`pilothouse.repositories.outbox`, ``pilothouse.services.event_feed.RECONCILERS``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pilothouse.errors import AlreadyExists, VersionConflict
from pilothouse.ports import Item, Store

ATTEMPTS = 20


def sync(store: Store, pk: str, sk: str, want_of: Callable[[], dict[str, Any] | None]) -> bool:
    """Make the derived item ``pk``/``sk`` hold what ``want_of()`` (it reads the record) answers,
    None: absent. Whether it wrote anything."""
    for _ in range(ATTEMPTS):
        current = store.get(pk, sk)
        want = want_of()
        if (current.data if current else None) == want:
            return False
        try:
            if want is None:
                store.delete(pk, sk, if_version=current.version if current else None)
            elif current is None:
                store.put(Item(pk, sk, want), if_absent=True)
            else:
                store.put(Item(pk, sk, want), if_version=current.version)
            return True
        except (AlreadyExists, VersionConflict):
            continue  # another writer synced it meanwhile: look again
    return False


def listing(data: dict[str, Any], version: int) -> dict[str, Any]:
    """The listing entry of a record at ``version``."""
    return {"record": data, "record_version": version}


def listed(item: Item) -> tuple[dict[str, Any], int]:
    """The record data and version a listing entry copies."""
    return item.data["record"], int(item.data["record_version"])

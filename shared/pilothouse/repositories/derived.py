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

Where a store's transactions span partitions (``transaction_scope`` ``"store"``: SQLite, DynamoDB,
Firestore; not Azure Tables, nor the test suite, which narrows every store to ``"partition"``),
:func:`commit` writes the marker and the entries in the record's own transaction instead, and no
sync follows: the entries are what the record as written calls for, and the record's condition
orders every transaction that writes them, so they cannot be older than their record. A sync that
runs meanwhile (the dispatcher's, for an older marker) reads the entry before the record, so it
either sees both or writes on a version that has moved and looks again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pilothouse.errors import AlreadyExists, VersionConflict
from pilothouse.ports import Delete, Item, Put, Store, Write

ATTEMPTS = 20
#: the most operations a transaction of the port holds
MAX_OPERATIONS = 25


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


def commit(
    store: Store,
    writes: Sequence[Write],
    *,
    marker: Put,
    derived: Sequence[tuple[str, str, dict[str, Any] | None]],
    reconcile: Callable[[], None],
) -> list[Item]:
    """Commit ``writes`` (a transaction of the record's partition) with the partition's dirty
    ``marker`` and the ``derived`` entries: (pk, sk, what the record as written calls for; None:
    absent). One transaction where the store's span partitions (see the module's docstring);
    otherwise the marker alone first, then ``writes``, then ``reconcile()``, which syncs the
    entries. Answers the items ``writes`` wrote, one per Put, in order."""
    steps: list[Write] = [
        Put(Item(pk, sk, want)) if want is not None else Delete(pk, sk) for pk, sk, want in derived
    ]
    if store.transaction_scope == "store" and len(writes) + len(steps) + 1 <= MAX_OPERATIONS:
        written = store.transact([*writes, *steps, marker])
        return written[: sum(isinstance(w, Put) for w in writes)]
    store.transact([marker])
    written = store.transact(writes)
    reconcile()
    return written
